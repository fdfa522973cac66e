// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/kv.h"

static struct kv_pair *kv_find(const struct kv_list *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->items[i].key, key))
			return &l->items[i];
	return NULL;
}

int kv_set(struct kv_list *l, const char *key, const char *val)
{
	struct kv_pair *p = kv_find(l, key);
	char *v = strdup(val);

	if (!v)
		return -ENOMEM;
	if (p) {
		free(p->val);
		p->val = v;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct kv_pair *items = realloc(l->items, cap * sizeof(*items));

		if (!items)
			goto nomem;
		l->items = items;
		l->cap = cap;
	}
	l->items[l->n].key = strdup(key);
	if (!l->items[l->n].key)
		goto nomem;
	l->items[l->n++].val = v;
	return 0;
nomem:
	free(v);
	return -ENOMEM;
}

int kv_setf(struct kv_list *l, const char *key, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return kv_set(l, key, buf);
}

const char *kv_get(const struct kv_list *l, const char *key)
{
	struct kv_pair *p = kv_find(l, key);

	return p ? p->val : NULL;
}

uint64_t kv_get_u64(const struct kv_list *l, const char *key, uint64_t def)
{
	const char *v = kv_get(l, key);
	char *end;
	uint64_t x;

	if (!v || !*v)
		return def;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || *end)
		return def;
	return x;
}

bool kv_has(const struct kv_list *l, const char *key)
{
	return kv_find(l, key) != NULL;
}

int kv_merge(struct kv_list *dst, const struct kv_list *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int err = kv_set(dst, src->items[i].key, src->items[i].val);

		if (err)
			return err;
	}
	return 0;
}

void kv_free(struct kv_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].val);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

static size_t escaped_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += (*s == '\\' || *s == '\n' || *s == '=') ? 2 : 1;
	return n;
}

static char *put_escaped(char *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '=') {
			*out++ = '\\';
			*out++ = *s;
		} else if (*s == '\n') {
			*out++ = '\\';
			*out++ = 'n';
		} else {
			*out++ = *s;
		}
	}
	return out;
}

char *kv_encode(const struct kv_list *l, size_t *len)
{
	size_t total = 1;
	char *buf, *p;

	for (size_t i = 0; i < l->n; i++)
		total += escaped_len(l->items[i].key) +
			 escaped_len(l->items[i].val) + 2;
	buf = malloc(total);
	if (!buf)
		return NULL;
	p = buf;
	for (size_t i = 0; i < l->n; i++) {
		p = put_escaped(p, l->items[i].key);
		*p++ = '=';
		p = put_escaped(p, l->items[i].val);
		*p++ = '\n';
	}
	*p = '\0';
	*len = p - buf;
	return buf;
}

/* Unescape [s, e) into out; stop at an unescaped '=' if STOP_AT_EQ. */
static const char *take_field(const char *s, const char *e, char *out,
			      bool stop_at_eq)
{
	while (s < e) {
		if (*s == '\\' && s + 1 < e) {
			*out++ = s[1] == 'n' ? '\n' : s[1];
			s += 2;
			continue;
		}
		if (stop_at_eq && *s == '=')
			break;
		*out++ = *s++;
	}
	*out = '\0';
	return s;
}

int kv_decode(struct kv_list *l, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	int err = 0;

	while (p < end && !err) {
		const char *eol = memchr(p, '\n', end - p);
		size_t n;
		char *key, *val;
		const char *q;

		if (!eol)
			eol = end;
		n = eol - p;
		key = malloc(n + 1);
		val = malloc(n + 1);
		if (!key || !val) {
			err = -ENOMEM;
		} else {
			q = take_field(p, eol, key, true);
			if (q >= eol || *q != '=' || !*key ||
			    memchr(p, '\0', n))
				err = -EINVAL;
			else
				take_field(q + 1, eol, val, false);
			if (!err)
				err = kv_set(l, key, val);
		}
		free(key);
		free(val);
		p = eol + 1;
	}
	return err;
}
