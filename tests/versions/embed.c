// SPDX-License-Identifier: GPL-2.0
/*
 * A program that runs Python through Debian's shared libpython (linked
 * with -l:libpython3.X.so.1 of a chroot, see tests/versions/matrix.py): the
 * interpreter is position-independent code loaded at a random address, the
 * case a PIE python executable would be.
 */
int Py_BytesMain(int argc, char **argv);

int main(int argc, char **argv)
{
	return Py_BytesMain(argc, argv);
}
