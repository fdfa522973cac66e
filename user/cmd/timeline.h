/* SPDX-License-Identifier: GPL-2.0 */
/* `gilscope timeline`: the session as a timeline (Perfetto, Chrome JSON, HTML). */
#ifndef GS_TIMELINE_H
#define GS_TIMELINE_H

/* argv[0] is "timeline"; returns the exit code. */
int cmd_timeline(int argc, char **argv);

#endif /* GS_TIMELINE_H */
