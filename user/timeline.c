// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include "timeline.h"

int cmd_timeline(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "gilscope: timeline is not built yet\n");
	return 1;
}
