#!/bin/sh
# Build (once) and cache Debian chroots holding the CPython versions gilscope
# supports, for `make test-versions` (docs/versions.md). Run as root.
#
#   sh scripts/chroots.sh [NAME ...]   build the named chroots (all if none)
#   sh scripts/chroots.sh --list       print "NAME DIR PYTHON..." per chroot
#
# Each chroot is `debootstrap --variant=minbase` of its suite plus the
# interpreters, their -dbg packages and the extra packages listed. A finished
# chroot has a stamp file naming its packages: it is not built again, and only
# packages missing from the stamp are installed. Remove its directory to
# rebuild it. The cache lives in $GILSCOPE_CHROOTS (default
# /var/cache/gilscope/chroots), outside the checkout, so that every clone on
# this machine shares it.
#
# Debian's python3.9, 3.13, 3.14 and 3.15 executables are all non-PIE
# (ET_EXEC, measured; the -nopie packages too). libpython3.14 (a shared
# library, loaded at a random address) with its -dbg package gives the
# matrix a position-independent interpreter: tests/versions/embed.c runs it.
set -eu

CACHE=${GILSCOPE_CHROOTS:-/var/cache/gilscope/chroots}
MIRROR=${GILSCOPE_MIRROR:-http://deb.debian.org/debian}

# name  suite  interpreters (each also gets its -dbg package)  [+extra ...]
CHROOTS="bullseye bullseye python3.9
trixie trixie python3.13
sid sid python3.13 python3.14 python3.15 +libpython3.14 +libpython3.14-dbg"

list() {
	echo "$CHROOTS" | while read -r name suite pythons; do
		echo "$name $CACHE/$name $(echo "$pythons" | tr ' ' '\n' |
			grep -v '^+' | tr '\n' ' ' | sed 's/ $//')"
	done
}

# Packages for the interpreters: each with its -dbg; +NAME as is.
packages_for() {
	for py in "$@"; do
		case $py in
		+*) printf '%s ' "${py#+}" ;;
		*) printf '%s %s-dbg ' "$py" "$py" ;;
		esac
	done
}

apt_install() {
	chroot "$1" sh -c "
		export DEBIAN_FRONTEND=noninteractive
		apt-get -o Acquire::Check-Valid-Until=false update -qq &&
		apt-get -o Acquire::Check-Valid-Until=false install -y -qq \
			--no-install-recommends $2"
}

build() {
	name=$1 suite=$2
	shift 2
	dir=$CACHE/$name
	stamp=$dir/.gilscope-ready
	pkgs=$(packages_for "$@")
	if [ -f "$stamp" ]; then
		missing=""
		for pkg in $pkgs; do
			grep -qx "$pkg" "$stamp" || missing="$missing $pkg"
		done
		# a stamp of the first version of this script listed nothing
		[ -s "$stamp" ] || missing=$(packages_for "$@" | tr ' ' '\n' |
			grep -v -e '^python3' -e '^$' | tr '\n' ' ')
		if [ -z "$missing" ]; then
			echo "chroots: $name ready in $dir"
			return 0
		fi
		echo "chroots: $name: installing $missing"
		apt_install "$dir" "$missing" >>"$CACHE/$name.log" 2>&1 || {
			echo "chroots: installing$missing in $name failed, see $CACHE/$name.log" >&2
			return 1
		}
		echo "$pkgs" | tr ' ' '\n' | grep -v '^$' >"$stamp"
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
	apt_install "$dir" "$pkgs" >>"$CACHE/$name.log" 2>&1 || {
		echo "chroots: installing $pkgs in $name failed, see $CACHE/$name.log" >&2
		return 1
	}
	for py in "$@"; do
		case $py in +*) continue ;; esac
		chroot "$dir" "/usr/bin/$py" -c 'import sys; print(sys.version)' \
			>>"$CACHE/$name.log" 2>&1 || {
			echo "chroots: $py does not run in $name" >&2
			return 1
		}
	done
	echo "$pkgs" | tr ' ' '\n' | grep -v '^$' >"$stamp"
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
