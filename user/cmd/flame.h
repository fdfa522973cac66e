/* SPDX-License-Identifier: GPL-2.0 */
/* `gilscope flame`: flame graphs of a session (docs/flamegraphs.md). */
#ifndef GS_FLAME_H
#define GS_FLAME_H

int cmd_flame(int argc, char **argv);

#endif /* GS_FLAME_H */
