// SPDX-License-Identifier: GPL-2.0
#include "common/reasons.h"

static const struct gs_reason_info reasons[GS_R_COUNT] = {
	[GS_R_GIL] = { "gil", "blocked: gil", "[GIL hand-off]", "#e377c2",
		       "asleep on the GIL" },
	[GS_R_SLEEP] = { "sleep", "blocked: sleep", "[sleep]", "#c7c7c7",
			 "asleep: time.sleep, timeouts" },
	[GS_R_INPUT] = { "input", "blocked: input", "[input]", "#bcbd22",
			 "reading the terminal or stdin" },
	[GS_R_NETWORK] = { "network", "blocked: network", "[network]",
			   "#17becf", "sockets, event loops" },
	[GS_R_IO] = { "io", "blocked: io", "[io]", "#1f77b4",
		      "files, pipes, disk" },
	[GS_R_LOCK] = { "lock", "blocked: lock", "[lock]", "#9467bd",
			"a lock, queue, join, condition" },
	[GS_R_OTHER] = { "other", "blocked: other", "[other]", "#8c564b",
			 "anything else" },
};

const struct gs_reason_info *reason_info(enum gs_reason r)
{
	return &reasons[(unsigned int)r < GS_R_COUNT ? r : GS_R_OTHER];
}

const char *reason_name(enum gs_reason r)
{
	return reason_info(r)->key;
}
