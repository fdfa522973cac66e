/* SPDX-License-Identifier: GPL-2.0 */
/* An ordered list of key=value strings: the text records of the session file. */
#ifndef GS_KV_H
#define GS_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv_pair {
	char *key;
	char *val;
};

struct kv_list {
	struct kv_pair *items;
	size_t n, cap;
};

/* Set KEY (replacing an earlier value). Values may hold any byte but '\0'. */
int kv_set(struct kv_list *l, const char *key, const char *val);
int kv_setf(struct kv_list *l, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *kv_get(const struct kv_list *l, const char *key);
/* The value parsed as an unsigned number (decimal or 0x hex), or DEF. */
uint64_t kv_get_u64(const struct kv_list *l, const char *key, uint64_t def);
bool kv_has(const struct kv_list *l, const char *key);
/* Copy every pair of SRC into DST (SRC's values win). */
int kv_merge(struct kv_list *dst, const struct kv_list *src);
void kv_free(struct kv_list *l);

/* "key=value\n" lines, with '\\', '\n' and '=' in values escaped. */
char *kv_encode(const struct kv_list *l, size_t *len);
/* Parse what kv_encode wrote; -EINVAL on a malformed line. */
int kv_decode(struct kv_list *l, const char *buf, size_t len);

#endif /* GS_KV_H */
