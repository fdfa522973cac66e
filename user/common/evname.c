// SPDX-License-Identifier: GPL-2.0
#include <stddef.h>
#include "common/evname.h"
#include "gilscope.h"

/*
 * dump shows .name; the TRAILER's lost_<key> counts use .key where one is
 * given (two types, docs/session-format.md), else .name as well.
 */
static const struct {
	const char *name;
	const char *key;
} names[GS_EV_MAX] = {
	[GS_EV_SWITCH] = { .name = "switch" },
	[GS_EV_WAKING] = { .name = "waking" },
	[GS_EV_WAKEUP] = { .name = "wakeup" },
	[GS_EV_WAKEUP_NEW] = { .name = "wakeup_new" },
	[GS_EV_FORK] = { .name = "fork" },
	[GS_EV_EXEC] = { .name = "exec" },
	[GS_EV_EXIT] = { .name = "exit" },
	[GS_EV_SYS_ENTER] = { .name = "sys_enter" },
	[GS_EV_SYS_EXIT] = { .name = "sys_exit" },
	[GS_EV_GIL_TAKE] = { .name = "take_gil", .key = "gil_take" },
	[GS_EV_COND_SIGNAL] = { .name = "cond_signal" },
	[GS_EV_SWITCHNUM] = { .name = "switch_number", .key = "switchnum" },
	[GS_EV_LOCK_ACQUIRE] = { .name = "lock_acquire" },
	[GS_EV_LOCK_RELEASE] = { .name = "lock_release" },
	[GS_EV_ULOCK] = { .name = "user_lock" },
	[GS_EV_STACK] = { .name = "stack" },
	[GS_EV_EXEC_UNTRACED] = { .name = "exec_untraced" },
	[GS_EV_MAIN_HELD] = { .name = "main_held" },
	[GS_EV_RLOCK_WAIT] = { .name = "rlock_wait" },
};

const char *gs_event_name(unsigned int type)
{
	return type < GS_EV_MAX ? names[type].name : NULL;
}

const char *gs_event_key(unsigned int type)
{
	const char *key = type < GS_EV_MAX ? names[type].key : NULL;

	return key ? key : gs_event_name(type);
}
