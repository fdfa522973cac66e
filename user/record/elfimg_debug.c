// SPDX-License-Identifier: GPL-2.0
/*
 * elfimg's separate debug file: by build-id under /usr/lib/debug, else by
 * .gnu_debuglink in gdb's order; a candidate counts only with the image's
 * own build-id. Looked for under the traced program's root.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "record/elfimg_int.h"

static int try_debug_in(struct elfimg *img, const char *root, const char *path)
{
	char bid[sizeof(img->build_id)];
	struct elffile f;
	Elf_Scn *scn;
	GElf_Shdr sh;
	char *full;
	int err;

	if (asprintf(&full, "%s%s", root, path) < 0)
		return -ENOMEM;
	err = elffile_open(&f, root, path, false);
	if (err) {
		free(full);
		return err;
	}
	read_build_id(f.elf, bid);
	/* The debug file must be for this exact build, or its symbols are garbage. */
	err = -ENOENT;
	if (strcmp(bid, img->build_id))
		goto cleanup;
	scn = find_scn_type(f.elf, SHT_SYMTAB, &sh);
	if (!scn || symtab_load(&img->dsymtab, f.elf, scn))
		goto cleanup;
	img->debug_path = strdup(path);
	if (!img->debug_path) {
		memset(&img->dsymtab, 0, sizeof(img->dsymtab));
		err = -ENOMEM;
		goto cleanup;
	}
	img->debug_file = full;
	img->dbg = f;
	return 0;
cleanup:
	free(full);
	elffile_close(&f);
	return err;
}

/* A process in a chroot or container has its debug files in its own root
 * (img->root is /proc/PID/root). */
static int try_debug(struct elfimg *img, const char *path)
{
	return try_debug_in(img, img->root, path);
}

/* Name stored in .gnu_debuglink (NUL-terminated, followed by a CRC), or NULL. */
static const char *debuglink_name(const struct elfimg *img)
{
	Elf_Data *data;
	GElf_Shdr sh;
	Elf_Scn *scn;

	scn = find_scn_name(img->main.elf, ".gnu_debuglink", &sh);
	data = scn ? elf_getdata(scn, NULL) : NULL;
	if (!data || !data->d_size || !memchr(data->d_buf, '\0', data->d_size))
		return NULL;
	return data->d_buf;
}

static int try_debuglink(struct elfimg *img)
{
	const char *link = debuglink_name(img),
		   *slash = strrchr(img->path, '/');
	const char *dir = slash ? img->path : ".";
	int dirlen = slash ? (int)(slash - img->path) : 1;
	const char *sep = dir[0] == '/' ? "" : "/";
	char buf[PATH_MAX];
	int i, n;

	/* a name, not a path: never "..", never a directory */
	if (!link || !link[0] || strchr(link, '/') || !strcmp(link, ".") ||
	    !strcmp(link, ".."))
		return -ENOENT;
	/* gdb's order: next to the file, its .debug/, then the global debug dir. */
	for (i = 0; i < 3; i++) {
		if (i == 0)
			n = snprintf(buf, sizeof(buf), "%.*s/%s", dirlen, dir,
				     link);
		else if (i == 1)
			n = snprintf(buf, sizeof(buf), "%.*s/.debug/%s", dirlen,
				     dir, link);
		else
			n = snprintf(buf, sizeof(buf),
				     "/usr/lib/debug%s%.*s/%s", sep, dirlen,
				     dir, link);
		if (n > 0 && (size_t)n < sizeof(buf) && !try_debug(img, buf))
			return 0;
	}
	return -ENOENT;
}

static bool no_debuginfo;

void elfimg_no_debuginfo(bool off)
{
	no_debuginfo = off;
}

void find_debug(struct elfimg *img)
{
	const char *bid = img->build_id;
	char buf[PATH_MAX];

	/* Without a build-id there is no way to verify a candidate: don't guess. */
	if (!bid[0] || strlen(bid) < 4 || no_debuginfo)
		return;
	snprintf(buf, sizeof(buf), "/usr/lib/debug/.build-id/%.2s/%s.debug",
		 bid, bid + 2);
	if (!try_debug(img, buf))
		return;
	try_debuglink(img);
}
