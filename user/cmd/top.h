/* SPDX-License-Identifier: GPL-2.0 */
/*
 * `gilscope top [-p PID | -a] [-i SECONDS] [--light] [--once [--json]]`:
 * the recorder's probes and the analysis, live, with no session file
 * (docs/top.md).
 */
#ifndef GS_TOP_H
#define GS_TOP_H

int cmd_top(int argc, char **argv);

#endif /* GS_TOP_H */
