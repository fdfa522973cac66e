// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "record/debugoffs.h"
#include "record/elfimg.h"

#define F(f) ((uint16_t)offsetof(struct py_debug_offsets, f))
#define RT(f) F(runtime_state.f)
#define IS(f) F(interpreter_state.f)
#define TS(f) F(thread_state.f)
#define FR(f) F(interpreter_frame.f)
#define CO(f) F(code_object.f)

/* Runs of fields in the same order in several versions. */
#define RUNTIME RT(size), RT(finalizing), RT(interpreters_head)
#define IS_HEAD IS(size), IS(id), IS(next), IS(threads_head)
#define IS_REST                                                                \
	IS(gc), IS(imports_modules), IS(sysdict), IS(builtins), IS(ceval_gil), \
		IS(gil_runtime_state), IS(gil_runtime_state_enabled),          \
		IS(gil_runtime_state_locked), IS(gil_runtime_state_holder)
#define IS_314                                                          \
	IS_HEAD, IS(threads_main), IS_REST, IS(code_object_generation), \
		IS(tlbc_generation)
#define TS_HEAD TS(size), TS(prev), TS(next), TS(interp), TS(current_frame)
#define TS_IDS \
	TS(thread_id), TS(native_thread_id), TS(datastack_chunk), TS(status)
#define FRAME                                                                  \
	FR(size), FR(previous), FR(executable), FR(instr_ptr), FR(localsplus), \
		FR(owner)
#define FRAME_314 FRAME, FR(stackpointer), FR(tlbc_index)
#define CODE                                                           \
	CO(size), CO(filename), CO(name), CO(qualname), CO(linetable), \
		CO(firstlineno), CO(argcount), CO(localsplusnames),    \
		CO(localspluskinds), CO(co_code_adaptive)
#define CODE_314 CODE, CO(co_tlbc)
#define TYPE                                                        \
	F(pyobject.size), F(pyobject.ob_type), F(type_object.size), \
		F(type_object.tp_name), F(type_object.tp_repr),     \
		F(type_object.tp_flags)
#define SEQ(o) F(o.size), F(o.ob_item), F(o.ob_size)
#define SET                                                          \
	F(set_object.size), F(set_object.used), F(set_object.table), \
		F(set_object.mask)
#define OBJECTS                                                                \
	F(dict_object.size), F(dict_object.ma_keys), F(dict_object.ma_values), \
		F(float_object.size), F(float_object.ob_fval),                 \
		F(long_object.size), F(long_object.lv_tag),                    \
		F(long_object.ob_digit), F(bytes_object.size),                 \
		F(bytes_object.ob_size), F(bytes_object.ob_sval)
#define UNICODE                                          \
	F(unicode_object.size), F(unicode_object.state), \
		F(unicode_object.length), F(unicode_object.asciiobject_size)
#define GC F(gc.size), F(gc.collecting)
#define GEN_TO_DEBUGGER                                                     \
	F(gen_object.size), F(gen_object.gi_name), F(gen_object.gi_iframe), \
		F(gen_object.gi_frame_state), F(llist_node.next),           \
		F(llist_node.prev), F(debugger_support.eval_breaker),       \
		F(debugger_support.remote_debugger_support),                \
		F(debugger_support.remote_debugging_enabled),               \
		F(debugger_support.debugger_pending_call),                  \
		F(debugger_support.debugger_script_path),                   \
		F(debugger_support.debugger_script_path_size)

/*
 * Field order after the 24-byte head (cookie, version, free_threaded), per
 * minor version, from the DWARF of Debian's builds (3.13.5, 3.13.18,
 * 3.14.10, 3.15.2; `ptype /o struct _Py_DebugOffsets`). Pre-releases of a
 * minor version had other layouts: a row applies from its `since`.
 */
static const uint16_t fields_313[] = {
	RUNTIME, IS_HEAD, IS_REST, TS_HEAD,	      TS_IDS,
	FRAME,	 CODE,	  TYPE,	   SEQ(tuple_object), SEQ(list_object),
	OBJECTS, UNICODE, GC,
};

static const uint16_t fields_314[] = {
	RUNTIME,
	IS_314,
	TS_HEAD,
	TS_IDS,
	FRAME_314,
	CODE_314,
	TYPE,
	SEQ(tuple_object),
	SEQ(list_object),
	SET,
	OBJECTS,
	UNICODE,
	GC,
	GEN_TO_DEBUGGER,
};

static const uint16_t fields_315[] = {
	RUNTIME,
	IS_314,
	TS_HEAD,
	TS(base_frame),
	TS(last_profiled_frame),
	TS(last_profiled_frame_seq),
	TS_IDS,
	TS(holds_gil),
	TS(gil_requested),
	TS(current_exception),
	TS(exc_state),
	F(err_stackitem.exc_value),
	FRAME_314,
	CODE_314,
	TYPE,
	F(type_object.tp_basicsize),
	F(type_object.tp_dictoffset),
	F(heap_type_object.size),
	F(heap_type_object.ht_cached_keys),
	SEQ(tuple_object),
	SEQ(list_object),
	SET,
	OBJECTS,
	UNICODE,
	F(unicode_object.compactunicodeobject_size),
	GC,
	F(gc.frame),
	F(gc.generation_stats_size),
	F(gc.generation_stats),
	GEN_TO_DEBUGGER,
};

#define ROW(minor, since, f)                              \
	{                                                 \
		minor, since, f, sizeof(f) / sizeof(f[0]) \
	}

static const struct layout {
	int minor;
	uint32_t since; /* first PY_VERSION_HEX with this layout */
	const uint16_t *fields;
	size_t n;
} layouts[] = {
	ROW(13, 0x030d00f0, fields_313),
	ROW(14, 0x030e00f0, fields_314),
	ROW(15, 0x030f00f0, fields_315),
};

#define HEAD_BYTES 24

static const struct layout *layout_of(uint32_t version)
{
	int minor = (version >> 16) & 0xff;

	if (version >> 24 != 3)
		return NULL;
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].minor == minor && version >= layouts[i].since)
			return &layouts[i];
	return NULL;
}

size_t pydo_layout_bytes(uint32_t version)
{
	const struct layout *l = layout_of(version);

	return l ? HEAD_BYTES + 8 * l->n : 0;
}

static uint64_t *field_at(struct py_debug_offsets *d, uint16_t off)
{
	return (uint64_t *)((char *)d + off);
}

/* Are the offsets of a group inside its structure of SIZE bytes? */
static bool inside(uint64_t size, const uint64_t *offs, size_t n)
{
	if (!pydo_has(size) || size == 0 || size > (1u << 24))
		return false;
	for (size_t i = 0; i < n; i++)
		if (pydo_has(offs[i]) && offs[i] >= size)
			return false;
	return true;
}

/* A layout read with the wrong row puts sizes where offsets belong and
 * the reverse: every group's offsets must lie inside its structure. */
static bool plausible(const struct py_debug_offsets *d)
{
	const uint64_t rt[] = { d->runtime_state.finalizing,
				d->runtime_state.interpreters_head,
				d->interpreter_state.size };
	const uint64_t is[] = { d->interpreter_state.id,
				d->interpreter_state.next,
				d->interpreter_state.threads_head,
				d->interpreter_state.ceval_gil,
				d->interpreter_state.gil_runtime_state,
				d->interpreter_state.gil_runtime_state_locked,
				d->interpreter_state.gil_runtime_state_holder };
	const uint64_t ts[] = { d->thread_state.prev, d->thread_state.next,
				d->thread_state.interp,
				d->thread_state.current_frame,
				d->thread_state.native_thread_id };
	const uint64_t fr[] = { d->interpreter_frame.previous,
				d->interpreter_frame.executable,
				d->interpreter_frame.instr_ptr,
				d->interpreter_frame.owner };
	const uint64_t co[] = { d->code_object.filename, d->code_object.name,
				d->code_object.qualname,
				d->code_object.linetable,
				d->code_object.firstlineno };
	const uint64_t un[] = { d->unicode_object.state,
				d->unicode_object.length };

	return inside(d->runtime_state.size, rt, 3) &&
	       inside(d->interpreter_state.size, is, 7) &&
	       inside(d->thread_state.size, ts, 5) &&
	       inside(d->interpreter_frame.size, fr, 4) &&
	       inside(d->code_object.size, co, 5) &&
	       inside(d->unicode_object.size, un, 2) &&
	       d->unicode_object.asciiobject_size <= d->unicode_object.size;
}

int pydo_parse(const void *buf, size_t len, struct py_debug_offsets *d,
	       char *err, size_t errlen)
{
	const unsigned char *b = buf;
	const struct layout *l;
	uint64_t version, ft;

	memset(d, 0xff, sizeof(*d)); /* every field PYDO_NONE */
	if (len < HEAD_BYTES || memcmp(b, PYDO_COOKIE, 8)) {
		snprintf(err, errlen, "no _Py_DebugOffsets (cookie %s)",
			 PYDO_COOKIE);
		return -ENOENT;
	}
	memcpy(&version, b + 8, 8);
	memcpy(&ft, b + 16, 8);
	d->version = version;
	d->free_threaded = ft != 0;
	l = layout_of((uint32_t)version);
	if (!l || version >> 32) {
		snprintf(
			err, errlen,
			"the layout of its _Py_DebugOffsets (version %u.%u, 0x%08llx) is not known",
			(unsigned)(version >> 24) & 0xff,
			(unsigned)(version >> 16) & 0xff,
			(unsigned long long)version);
		return -ENOTSUP;
	}
	if (len < HEAD_BYTES + 8 * l->n) {
		snprintf(err, errlen,
			 "_Py_DebugOffsets cut short (%zu of %zu bytes)", len,
			 HEAD_BYTES + 8 * l->n);
		return -EINVAL;
	}
	for (size_t i = 0; i < l->n; i++)
		memcpy(field_at(d, l->fields[i]), b + HEAD_BYTES + 8 * i, 8);
	if (!plausible(d)) {
		snprintf(
			err, errlen,
			"its _Py_DebugOffsets (0x%08llx) do not have the layout of 3.%d",
			(unsigned long long)version, l->minor);
		return -EINVAL;
	}
	return 0;
}

size_t pydo_write(const struct py_debug_offsets *d, void *buf, size_t len)
{
	const struct layout *l = layout_of((uint32_t)d->version);
	unsigned char *b = buf;
	uint64_t ft = d->free_threaded;

	if (!l || len < HEAD_BYTES + 8 * l->n)
		return 0;
	memcpy(b, PYDO_COOKIE, 8);
	memcpy(b + 8, &d->version, 8);
	memcpy(b + 16, &ft, 8);
	for (size_t i = 0; i < l->n; i++)
		memcpy(b + HEAD_BYTES + 8 * i, (const char *)d + l->fields[i],
		       8);
	return HEAD_BYTES + 8 * l->n;
}

/* Read as much of the table as READ gives (the newest layout's size at
 * most; a short read still parses an older, smaller one). */
int pydo_read_elf(const struct elfimg *img, uint64_t runtime_vaddr,
		  struct py_debug_offsets *d, char *err, size_t errlen)
{
	unsigned char buf[PYDO_MAX_BYTES];
	size_t len = sizeof(buf);

	while (len >= HEAD_BYTES &&
	       elfimg_read_vaddr(img, runtime_vaddr, buf, len))
		len /= 2;
	if (len < HEAD_BYTES)
		len = 0;
	return pydo_parse(buf, len, d, err, errlen);
}
