#!/bin/sh
# Install the Debian 12 packages gilscope needs to build, run and test,
# when they are missing. Run as root.
set -eu

PACKAGES="make gcc clang clang-format libclang-rt-14-dev llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config libncurses-dev
libcmocka-dev python3 python3-pytest python3.11-dbg libpython3.11 util-linux procps chromium
bpftrace tmux man-db groff-base"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing; run this script as root (sudo)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done"
