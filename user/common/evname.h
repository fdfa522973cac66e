/* SPDX-License-Identifier: GPL-2.0 */
/* The names of the event types (enum gs_event_type, bpf/gilscope.h). */
#ifndef GS_EVNAME_H
#define GS_EVNAME_H

/* The name `gilscope dump` shows ("take_gil"); NULL for an unknown type. */
const char *gs_event_name(unsigned int type);

/*
 * The name in the TRAILER's lost_<name> keys ("gil_take",
 * docs/session-format.md); NULL for an unknown type.
 */
const char *gs_event_key(unsigned int type);

#endif /* GS_EVNAME_H */
