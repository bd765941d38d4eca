#!/bin/bash
# Install every Debian 12 package needed to build, test, benchmark and demo
# coffre.  This is the one list; debian/control's Build-Depends
# must stay in step with it.  Needs root (or sudo).
#
# --cluster adds CLUSTER_PACKAGES, what scripts/cluster.sh runs (PostgreSQL,
# Ceph, HAProxy): only scripts/test.sh --cluster needs them.  It combines
# with --list, --missing and --always (e.g. --cluster --missing).
set -euo pipefail

PACKAGES=(
	# build
	meson ninja-build pkg-config gcc libc6-dev
	libfuse3-dev libcurl4-openssl-dev libssl-dev libsodium-dev
	libsqlite3-dev libgit2-dev libmicrohttpd-dev libjansson-dev libpq-dev libexpat1-dev
	uthash-dev
	# run and test
	fuse3 git openssl curl ca-certificates attr rsync python3
	util-linux coreutils diffutils findutils sed xxd vim tar
	libglib2.0-bin # gio: GNOME Files' copy path (t0041)
	openssh-client jq sqlite3
	postgresql # the PostgreSQL index backend's tests
	fuse-overlayfs
	# tools the CI and developers use
	clang-format shellcheck
	debootstrap # scripts/fresh-machine-check.sh: a Debian 12 root with nothing installed
	dpkg-dev debhelper lintian fakeroot # scripts/package-check.sh: the .deb packages
	clang libclang-rt-14-dev # tests/fuzz: libFuzzer, ASan, UBSan
)

# A real deployment on one machine (scripts/cluster.sh, tests/cluster/).
CLUSTER_PACKAGES=(
	postgresql-15 postgresql-client-15
	ceph-mon ceph-osd radosgw ceph-common
	haproxy
	util-linux # runuser, setsid, flock
)
if [ "${1:-}" = --cluster ]; then
	PACKAGES+=("${CLUSTER_PACKAGES[@]}")
	shift
fi

installed()
{
	dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null |
		grep -q 'install ok installed'
}

# Print the packages that are not installed yet.  "a|b" is satisfied by
# either; a is the one installed when neither is.
missing()
{
	local p a alt found

	for p in "${PACKAGES[@]}"; do
		found=
		IFS='|' read -r -a alt <<<"$p"
		for a in "${alt[@]}"; do
			installed "$a" && found=1 && break
		done
		[ -n "$found" ] || echo "${alt[0]}"
	done
}

# Every package, the installed one of each "a|b" pair (else a).
missing_or_all()
{
	local p a alt pick

	for p in "${PACKAGES[@]}"; do
		IFS='|' read -r -a alt <<<"$p"
		pick=${alt[0]}
		for a in "${alt[@]}"; do
			installed "$a" && pick=$a && break
		done
		echo "$pick"
	done
}

case "${1:-}" in
--list)
	printf '%s\n' "${PACKAGES[@]}" | cut -d'|' -f1
	exit 0
	;;
--missing)
	missing
	exit 0
	;;
esac

# --always (CI): refresh and install the whole list even when nothing is
# missing; then a failing apt (mirror down) is only a warning.
always=
[ "${1:-}" = --always ] && always=1
todo=$(missing)
if [ -z "$todo" ] && [ -z "$always" ]; then
	echo "install-deps: all packages are installed"
	exit 0
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || {
		echo "install-deps: missing packages and not root (no sudo):" "${todo//$'\n'/ }" >&2
		exit 1
	}
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
if [ -n "$always" ] && [ -z "$todo" ]; then
	# shellcheck disable=SC2046
	$SUDO apt-get update -q && $SUDO apt-get install -y -q \
		--no-install-recommends --no-upgrade $(missing_or_all) ||
		echo "install-deps: warning: apt-get failed; every package is installed anyway" >&2
	exit 0
fi
$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $todo
