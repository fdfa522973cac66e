// SPDX-License-Identifier: GPL-2.0
#include <string.h>
#include "cmd/formats.h"
#include "common/strs.h"

const struct out_format *out_format_of(const struct out_format *v, size_t n,
				       const char *path)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < 3 && v[i].suffixes[k]; k++)
			if (ends_with_nocase(path, v[i].suffixes[k]))
				return &v[i];
	return NULL;
}

void out_formats_help(FILE *out, const struct out_format *v, size_t n)
{
	int width = 0;

	for (size_t i = 0; i < n; i++)
		if ((int)strlen(v[i].suffixes[0]) > width)
			width = strlen(v[i].suffixes[0]);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-*s  %s\n", width, v[i].suffixes[0],
			v[i].help);
}

void out_format_unknown(const struct out_format *v, size_t n, const char *path)
{
	fprintf(stderr, "gilscope: cannot tell the format of '%s': name it ",
		path);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s%s", v[i].suffixes[0],
			i + 2 < n ? ", " :
			i + 1 < n ? " or " :
				    "\n");
}
