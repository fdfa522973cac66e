#!/bin/sh
# Build (once) and cache Debian chroots holding the CPython versions gilscope
# supports, for `make test-versions` (docs/versions.md). Run as root.
#
#   sh scripts/chroots.sh [NAME ...]   build the named chroots (all if none)
#   sh scripts/chroots.sh --list       print "NAME DIR PYTHON..." per chroot
#
# Each chroot is `debootstrap --variant=minbase` of its suite plus the
# interpreters and their -dbg packages. A finished chroot has a stamp file
# and is not built again; remove its directory to rebuild it. The cache lives
# in $GILSCOPE_CHROOTS (default /var/cache/gilscope/chroots), outside the
# checkout, so that every clone on this machine shares it.
set -eu

CACHE=${GILSCOPE_CHROOTS:-/var/cache/gilscope/chroots}
MIRROR=${GILSCOPE_MIRROR:-http://deb.debian.org/debian}

# name  suite  interpreters (each also gets its -dbg package)
CHROOTS="bullseye bullseye python3.9
trixie trixie python3.13
sid sid python3.13 python3.14 python3.15"

list() {
	echo "$CHROOTS" | while read -r name suite pythons; do
		echo "$name $CACHE/$name $pythons"
	done
}

# Packages for the interpreters: each with its -dbg, and -nopie where the
# suite has it (sid and trixie build python PIE; -nopie is the other build).
packages_for() {
	for py in "$@"; do
		printf '%s %s-dbg ' "$py" "$py"
	done
}

build() {
	name=$1 suite=$2
	shift 2
	dir=$CACHE/$name
	if [ -f "$dir/.gilscope-ready" ]; then
		echo "chroots: $name ready in $dir"
		return 0
	fi
	echo "chroots: building $name ($suite: $*) in $dir"
	rm -rf "$dir"
	mkdir -p "$CACHE"
	opts=""
	[ "$suite" = sid ] && opts="--no-check-gpg"
	# shellcheck disable=SC2086
	debootstrap --variant=minbase $opts "$suite" "$dir" "$MIRROR" \
		>"$CACHE/$name.log" 2>&1 || {
		echo "chroots: debootstrap of $suite failed, see $CACHE/$name.log" >&2
		return 1
	}
	# shellcheck disable=SC2046
	chroot "$dir" sh -c "
		export DEBIAN_FRONTEND=noninteractive
		apt-get -o Acquire::Check-Valid-Until=false update -qq &&
		apt-get -o Acquire::Check-Valid-Until=false install -y -qq \
			--no-install-recommends $(packages_for "$@")" \
		>>"$CACHE/$name.log" 2>&1 || {
		echo "chroots: installing $* in $name failed, see $CACHE/$name.log" >&2
		return 1
	}
	for py in "$@"; do
		chroot "$dir" "/usr/bin/$py" -c 'import sys; print(sys.version)' \
			>>"$CACHE/$name.log" 2>&1 || {
			echo "chroots: $py does not run in $name" >&2
			return 1
		}
	done
	touch "$dir/.gilscope-ready"
	echo "chroots: $name ready in $dir"
}

if [ "${1:-}" = --list ]; then
	list
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "chroots: run as root (debootstrap and chroot need it)" >&2
	exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
	echo "chroots: installing debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

want="$*"
status=0
echo "$CHROOTS" | {
	while read -r name suite pythons; do
		if [ -n "$want" ] && ! echo " $want " | grep -q " $name "; then
			continue
		fi
		# shellcheck disable=SC2086
		build "$name" "$suite" $pythons || status=1
	done
	exit $status
}
