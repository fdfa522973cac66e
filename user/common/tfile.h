/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tfile - opening a file that the traced program controls (its interpreter,
 * its libraries and their debug files, reached through /proc/PID/root),
 * as root, without letting the program choose another file, stall the
 * recorder or make it read without bound:
 *
 * - inside ROOT, symbolic links are resolved as the process sees them
 *   (openat2 RESOLVE_IN_ROOT); a path that a plain path walk (what a uprobe
 *   attach by path does) resolves to another file, through a link that
 *   leads outside ROOT, is refused;
 * - only regular files are opened for reading: the path is opened with
 *   O_PATH first, so a FIFO or a device is never opened (no blocking open,
 *   no driver's open side effects);
 * - a file larger than TFILE_MAX_BYTES is refused.
 *
 * A refusal is said once per path on stderr, in one line:
 * "gilscope: skipped PATH: WHY".
 */
#ifndef GS_TFILE_H
#define GS_TFILE_H

#include <stdbool.h>
#include <sys/stat.h>

/* The largest file read: Debian's largest interpreter debug file
 * (python3.15d's libpython) is about 45 MB, libelf reads a file in pieces
 * bounded by its size. */
#define TFILE_MAX_BYTES (512ull << 20)

/*
 * Open ROOT + PATH for reading (ROOT NULL or "" for none). Returns a file
 * descriptor (O_RDONLY | O_CLOEXEC) and fills *ST, or -errno: -ENOENT, a
 * refusal (-EXDEV: a link leads outside ROOT; -EISDIR; -EINVAL: not a
 * regular file; -EFBIG: too large), or another open error.
 */
int tfile_open(const char *root, const char *path, struct stat *st);

/* Say one line about FULLPATH, once: "gilscope: skipped PATH: WHY". */
void tfile_skipped(const char *fullpath, const char *why);

/* No lines (fuzzers, unit tests that provoke refusals on purpose). */
void tfile_quiet(bool quiet);

#endif /* GS_TFILE_H */
