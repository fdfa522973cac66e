// SPDX-License-Identifier: GPL-2.0
/*
 * The timeline's pieces without a kernel: the protobuf encoder byte for
 * byte (the examples of the protobuf encoding guide and a few of ours), and
 * the model on hand-made slices, hand-offs and scheduler events.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/json.h"
#include "views/pftrace.h"
#include "views/pftrace_pb.h"
#include "views/timeline_json.h"
#include "views/timeline_model.h"

#define T0 1000000000ull
#define PID 100
#define A 101
#define B 102

static void expect_bytes(const struct pb *b, const char *hex)
{
	char got[2048] = "";

	assert_false(b->failed);
	assert_int_equal(b->depth, 0);
	for (size_t i = 0; i < b->len && i * 3 + 3 < sizeof(got); i++)
		sprintf(got + strlen(got), "%s%02x", i ? " " : "", b->data[i]);
	assert_string_equal(got, hex);
}

static void test_varints(void **state)
{
	static const struct {
		uint64_t v;
		const char *hex;
	} cases[] = {
		{ 0, "00" },
		{ 1, "01" },
		{ 127, "7f" },
		{ 128, "80 01" },
		{ 150, "96 01" },
		{ 300, "ac 02" },
		{ 16383, "ff 7f" },
		{ 16384, "80 80 01" },
		{ UINT32_MAX, "ff ff ff ff 0f" },
		{ UINT64_MAX, "ff ff ff ff ff ff ff ff ff 01" },
	};
	struct pb b;

	(void)state;
	pb_init(&b);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pb_reset(&b);
		pb_varint(&b, cases[i].v);
		expect_bytes(&b, cases[i].hex);
	}
	pb_free(&b);
}

static void test_fields(void **state)
{
	struct pb b;

	(void)state;
	pb_init(&b);
	pb_uint(&b, 1, 150); /* the encoding guide's first example */
	expect_bytes(&b, "08 96 01");
	pb_reset(&b);
	pb_string(&b, 2, "testing");
	expect_bytes(&b, "12 07 74 65 73 74 69 6e 67");
	pb_reset(&b);
	pb_int(&b, 4, -2); /* int64: two's complement, ten bytes */
	expect_bytes(&b, "20 fe ff ff ff ff ff ff ff ff 01");
	pb_reset(&b);
	pb_fixed64(&b, 47, 0x0102030405060708ull); /* flow_ids: two-byte tag */
	expect_bytes(&b, "f9 02 08 07 06 05 04 03 02 01");
	pb_reset(&b);
	pb_double(&b, 5, 1.5);
	expect_bytes(&b, "29 00 00 00 00 00 00 f8 3f");
	pb_reset(&b);
	pb_uint(&b, 58, 3); /* timestamp_clock_id = MONOTONIC */
	expect_bytes(&b, "d0 03 03");
	pb_free(&b);
}

static void test_nested(void **state)
{
	struct pb b;
	char hex[4096];
	size_t n = 0;

	(void)state;
	pb_init(&b);
	pb_begin(&b, 3); /* the guide's embedded message example */
	pb_uint(&b, 1, 150);
	pb_end(&b);
	expect_bytes(&b, "1a 03 08 96 01");

	/* two levels, the inner empty */
	pb_reset(&b);
	pb_begin(&b, 1);
	pb_begin(&b, 8);
	pb_end(&b);
	pb_uint(&b, 2, 1);
	pb_end(&b);
	expect_bytes(&b, "0a 04 42 00 10 01");

	/* a body of 200 bytes needs a two-byte length: the body moves once */
	pb_reset(&b);
	pb_begin(&b, 1);
	for (int i = 0; i < 100; i++)
		pb_uint(&b, 1, (uint64_t)i);
	pb_end(&b);
	n += (size_t)sprintf(hex + n, "0a c8 01");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(hex + n, " 08 %02x", i);
	expect_bytes(&b, hex);
	pb_free(&b);
}

/* ------------------------------------------------------------- model */

struct fixture {
	struct analysis *an;
	struct an_thread *a, *b;
	struct tl_model m;
	const struct an_sink *sink;
};

static void slice(struct fixture *f, struct an_thread *t,
		  enum an_slice_kind kind, uint64_t from, uint64_t to)
{
	struct an_slice s = { .kind = kind, .cpu = -1, .sys_nr = -1 };

	if (kind == AN_SLICE_GIL_HELD)
		s.cpu = 0;
	if (kind == AN_SLICE_GIL_WAIT) {
		s.sys_nr = SYS_FUTEX;
		s.detail = 0xa563d0;
	}
	f->sink->slice(f->sink->ctx, t, &s, T0 + from, T0 + to);
}

static void sched_switch(struct fixture *f, uint64_t at, uint32_t prev,
			 uint32_t next)
{
	struct gs_event e = { .ts = T0 + at,
			      .type = GS_EV_SWITCH,
			      .tid = prev,
			      .tgid = prev ? PID : 0,
			      .cpu = 1 };

	e.arg[0] = next | (uint64_t)(next ? PID : 0) << 32;
	e.flags = (prev ? GS_F_PREV_TRACED : 0) | (next ? GS_F_NEXT_TRACED : 0);
	f->sink->event(f->sink->ctx, &e);
}

/*
 * Two threads pass the GIL back and forth:
 *   A: held [0,10) wait [10,30) held [30,50)
 *   B: wait [0,12) held [12,28) wait [28,50)
 * hand-offs A->B (10 -> 12) and B->A (28 -> 30); B's held slice takes the
 * GIL and passes it on, so both arrows are one chain in Chrome JSON.
 */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct an_process *p;

	f->an = an_new(T0);
	p = an_add_process(f->an, PID, 1, T0);
	f->a = an_add_thread(f->an, p, A, 'R', -1, 0, 0);
	f->b = an_add_thread(f->an, p, B, 'R', -1, 0, 0);
	f->a->end_ns = f->b->end_ns = T0 + 50;
	strcpy(f->a->name, "main");
	strcpy(f->b->name, "thread-1");
	tl_model_init(&f->m);
	f->sink = tl_model_sink(&f->m);

	slice(f, f->a, AN_SLICE_GIL_HELD, 0, 10);
	slice(f, f->b, AN_SLICE_GIL_WAIT, 0, 12);
	f->sink->handoff(f->sink->ctx, p, A, B, T0 + 10, T0 + 12, true);
	slice(f, f->a, AN_SLICE_GIL_WAIT, 10, 30);
	slice(f, f->b, AN_SLICE_GIL_HELD, 12, 28);
	f->sink->handoff(f->sink->ctx, p, B, A, T0 + 28, T0 + 30, false);
	slice(f, f->a, AN_SLICE_GIL_HELD, 30, 50);
	slice(f, f->b, AN_SLICE_GIL_WAIT, 28, 50);
	f->sink->counts(f->sink->ctx, p, T0 + 10, 1, 0);
	f->sink->counts(f->sink->ctx, p, T0 + 10, 1,
			0); /* no change: kept once */
	f->sink->counts(f->sink->ctx, p, T0 + 12, 1, 1);

	sched_switch(f, 12, A, B); /* A ran on CPU 1 since the session began */
	sched_switch(f, 28, B, 0); /* B ran 12..28, then idle */
	sched_switch(f, 30, 0, A); /* A until the end */
	assert_int_equal(tl_model_finish(&f->m, f->an, T0 + 50), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tl_model_free(&f->m);
	an_free(f->an);
	free(f);
	return 0;
}

static void test_lanes_and_slices(void **state)
{
	struct fixture *f = *state;
	struct tl_model *m = &f->m;

	assert_int_equal(m->n_lanes, 2);
	assert_ptr_equal(m->lanes[0].t, f->a);
	assert_int_equal(m->lanes[0].n, 3);
	assert_int_equal(m->lanes[1].first, 3);
	for (size_t i = 0; i < m->slices.n; i++) {
		const struct tl_slice *s = TL_SLICE(m, i);

		assert_int_equal(s->lane, i < 3 ? 0 : 1);
		if (i != 0 && i != 3)
			assert_int_equal(s->start, TL_SLICE(m, i - 1)->end);
	}
	assert_string_equal(tl_slice_name(TL_SLICE(m, 1)), "waiting for GIL");
	assert_string_equal(tl_code_name(AN_SLICE_BLOCKED + GS_R_LOCK),
			    "blocked: lock");
	assert_int_equal(tl_find_lane(m, PID, B, T0 + 20), 1);
	assert_int_equal(tl_find_lane(m, PID, 999, T0 + 20), TL_NONE);
	assert_int_equal(m->counts.n, 2);
}

static void test_handoffs_bind_to_slices(void **state)
{
	struct fixture *f = *state;
	struct tl_model *m = &f->m;
	const struct tl_handoff *h0 = TL_HANDOFF(m, 0), *h1 = TL_HANDOFF(m, 1);

	assert_int_equal(m->unbound_flows, 0);
	/* A's first held slice ends at the release, B's held begins at the take */
	assert_int_equal(h0->from_slice, 0);
	assert_int_equal(h0->to_slice, 4);
	assert_int_equal(h1->from_slice, 4);
	assert_int_equal(h1->to_slice, 2);
	assert_int_equal(TL_SLICE(m, 0)->flow_out, 1);
	assert_int_equal(TL_SLICE(m, 4)->flow_in, 1);
	assert_int_equal(TL_SLICE(m, 4)->flow_out, 2);
	assert_int_equal(TL_SLICE(m, 2)->flow_in, 2);
	/* B's slice is a step: one chain for both arrows */
	assert_int_equal(h0->chain, h1->chain);
}

static void test_cpu_lanes(void **state)
{
	struct fixture *f = *state;
	struct tl_model *m = &f->m;
	const struct tl_cpuseg *s;

	assert_int_equal(m->n_cpus, 1);
	assert_int_equal(m->cpus[0], 1);
	assert_int_equal(tl_cpu_row(m, 1), 0);
	assert_int_equal(tl_cpu_row(m, 0), -1);
	assert_int_equal(m->cpusegs.n, 3);
	s = TL_CPUSEG(m, 0);
	assert_int_equal(s->lane, 0);
	assert_int_equal(s->start, T0);
	assert_int_equal(s->end, T0 + 12);
	s = TL_CPUSEG(m, 1);
	assert_int_equal(s->lane, 1);
	assert_int_equal(s->end - s->start, 16);
	s = TL_CPUSEG(m, 2);
	assert_int_equal(s->lane, 0);
	assert_int_equal(s->end, T0 + 50);
}

static char *render(const struct tl_model *m, bool json, size_t *len)
{
	struct tl_info info = { .kernel = "6.1.0",
				.machine = "x86_64",
				.hostname = "",
				.command = "python3 x.py" };
	char *buf = NULL;
	FILE *out = open_memstream(&buf, len);

	assert_non_null(out);
	if (json)
		assert_int_equal(timeline_json_write(out, m, &info), 0);
	else
		assert_int_equal(pftrace_write(out, m, &info), 0);
	fclose(out);
	return buf;
}

static void test_json_events(void **state)
{
	struct fixture *f = *state;
	size_t len;
	char *s = render(&f->m, true, &len);

	/* B's held slice both takes and passes on the GIL */
	assert_non_null(strstr(s,
			       "\"tid\":102,\"cat\":\"thread_state\","
			       "\"name\":\"GIL held\",\"ts\":1000000.012,"
			       "\"dur\":0.016,\"bind_id\":1,\"flow_in\":true,"
			       "\"flow_out\":true"));
	assert_non_null(strstr(s, "\"gil_handoff\":\"forced\""));
	assert_non_null(strstr(s, "\"futex\":\"0xa563d0\""));
	assert_non_null(strstr(
		s, "\"name\":\"process_name\",\"args\":{\"name\":\"CPUs\"}"));
	free(s);
}

static void test_pftrace_starts_with_a_clock(void **state)
{
	struct fixture *f = *state;
	size_t len;
	char *s = render(&f->m, false, &len);

	/* Trace.packet, then trusted_packet_sequence_id 1, sequence_flags
	 * INCREMENTAL_STATE_CLEARED, clock_snapshot */
	assert_true(len > 16);
	assert_int_equal((uint8_t)s[0], 0x0a);
	assert_non_null(memmem(s, 16, "\x50\x01\x68\x01\x32", 5));
	free(s);
}

static void test_json_string_is_script_safe(void **state)
{
	char *buf = NULL;
	size_t len;
	FILE *out = open_memstream(&buf, &len);

	(void)state;
	json_put_string(out, "</script>\"\\\n", JSON_HTML_SAFE);
	tl_json_us(out, 1234567);
	fclose(out);
	assert_string_equal(buf,
			    "\"\\u003c/script\\u003e\\\"\\\\\\n\"1234.567");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varints),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_json_string_is_script_safe),
		cmocka_unit_test_setup_teardown(test_lanes_and_slices, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_handoffs_bind_to_slices,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_lanes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_json_events, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_pftrace_starts_with_a_clock, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
