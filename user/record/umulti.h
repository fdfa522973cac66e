/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Attach one BPF program to many offsets of a file with a single
 * uprobe_multi link (kernel 6.6+). One link per program instead of one perf
 * event per offset matters: tearing down each uprobe perf event waits for an
 * RCU grace period (~0.1 s here), so 70 probes took 10 s to detach.
 * libbpf 1.1 predates these links, hence the raw bpf() call.
 */
#ifndef GS_UMULTI_H
#define GS_UMULTI_H

#include <stdbool.h>
#include <stdint.h>

#define GS_BPF_TRACE_UPROBE_MULTI 48
#define GS_BPF_F_UPROBE_MULTI_RETURN 1

/* Returns the link's fd (closing it detaches) or -errno. */
int uprobe_multi_attach(int prog_fd, const char *path, const uint64_t *offsets,
			const uint64_t *cookies, int n, bool retprobe);

#endif /* GS_UMULTI_H */
