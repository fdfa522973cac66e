// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include "common/outfile.h"

int write_atomically(const char *path, int (*write)(FILE *out, void *ctx),
		     void *ctx)
{
	char tmp[4096];
	FILE *out;
	int ret;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	out = fopen(tmp, "w");
	if (!out)
		return -errno;
	ret = write(out, ctx);
	/* a writer sees that its stream failed (-EIO), the stream says why
	 * (a full disk): one place for every format */
	if ((!ret || ret == -EIO) && (fflush(out) || ferror(out)))
		ret = errno ? -errno : -EIO;
	if (fclose(out) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}
