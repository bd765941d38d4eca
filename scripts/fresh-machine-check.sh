#!/bin/bash
# Prove the README's first command on a machine that has nothing installed:
# build a minimal Debian 12 root with debootstrap, copy a clean clone of this
# tree into it, and, chrooted there as root, run `scripts/demo.sh` exactly as
# a newcomer types it.  Then check that the mounted demo space answers `ls`
# and that a deposit round-trips: the file copied in reads back the same from
# the drive and from its first version, and the server's ledger holds it.
#
#   scripts/fresh-machine-check.sh            # needs root and debootstrap
#
# Environment:
#   FRESH_MIRROR   Debian mirror (default: the first one of this machine's
#                  apt sources, else http://deb.debian.org/debian)
#   FRESH_KEEP=1   keep the root in its temporary directory for a look
#
# Everything runs in a private mount namespace (unshare -m), so the bind
# mounts and the FUSE mount end with it whatever happens; the two daemons the
# demo starts are stopped by the demo itself, and killed by PID if not.
# Prints "fresh-machine: ok" and exits 0 when every check held.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)

die()
{
	echo "fresh-machine: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, bind mounts)"
command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
command -v unshare >/dev/null || die "unshare (util-linux) is missing"
[ -c /dev/fuse ] || die "/dev/fuse is missing on this machine"

mirror()
{
	local m

	if [ -n "${FRESH_MIRROR:-}" ]; then
		echo "$FRESH_MIRROR"
		return
	fi
	m=$(sed -n 's/^URIs:[[:space:]]*\(http[^ ]*debian\)[[:space:]]*$/\1/p' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
	[ -n "$m" ] || m=$(sed -n 's/^deb[[:space:]]\+\(http[^ ]*debian\)[[:space:]].*/\1/p' \
		/etc/apt/sources.list 2>/dev/null | head -n1)
	echo "${m:-http://deb.debian.org/debian}"
}

T=$(mktemp -d /var/tmp/coffre-fresh.XXXXXX)
R=$T/root
cleanup()
{
	local f p

	# The daemons of the demo, if the demo's own stop did not end them.
	for f in "$R/root/.local/share/coffre-demo/mount.pid" \
		"$R/root/.local/share/coffre-demo/coffred.pid"; do
		[ -s "$f" ] || continue
		p=$(tr -dc 0-9 <"$f")
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
	done
	if [ "${FRESH_KEEP:-}" = 1 ]; then
		echo "fresh-machine: root kept in $R"
	elif ! grep -q " $T/" /proc/mounts; then
		rm -rf "$T"
	else
		echo "fresh-machine: $T still has mounts; not removed" >&2
	fi
}
trap cleanup EXIT

M=$(mirror)
echo "fresh-machine: debootstrap bookworm (minbase) from $M"
debootstrap --variant=minbase bookworm "$R" "$M" >"$T/debootstrap.log" 2>&1 || {
	tail -n 20 "$T/debootstrap.log"
	die "debootstrap failed"
}

# A clean clone: what the newcomer has, nothing of this checkout's builds.
git clone -q --no-local "$ROOT" "$R/root/coffre"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
touch "$R/dev/fuse"

# The whole life of the chroot, in one private mount namespace.
cat >"$T/inside.sh" <<'INSIDE'
set -euo pipefail
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
cd /root/coffre
echo "fresh-machine: packages before: $(dpkg-query -W -f='${Package}\n' | wc -l)"
for p in gcc meson fusermount3 git; do
	if command -v "$p" >/dev/null; then
		echo "fresh-machine: $p is already installed: not a fresh machine" >&2
		exit 1
	fi
done
echo "fresh-machine: running scripts/demo.sh"
scripts/demo.sh
CFG=/root/.local/share/coffre-demo/client
SRV=/root/.local/share/coffre-demo/server
MNT=/root/coffre-demo
COFFRE=/root/coffre/build/client/coffre
COFFRED=/root/coffre/build/server/coffred
mountpoint -q "$MNT"
ls -l "$MNT"
[ -f "$MNT/Welcome.txt" ]
head -c 300000 /dev/urandom >/root/deposit.bin
cp /root/deposit.bin "$MNT/deposit.bin"
"$COFFRE" --config "$CFG" sync --wait "$MNT"
cmp /root/deposit.bin "$MNT/deposit.bin"
cmp /root/deposit.bin "$MNT/.versions/deposit.bin/v1.bin"
"$COFFRE" --config "$CFG" versions "$MNT/deposit.bin"
"$COFFRE" --config "$CFG" verify "$MNT/deposit.bin"
# Whole output first: grep -q stops reading at the first match, and git
# writing the rest would die of SIGPIPE under pipefail.
history=$(git --git-dir "$("$COFFRED" space path "$SRV" demo)" log --format='%an %s')
grep -q deposit.bin <<<"$history"
scripts/demo.sh stop
if mountpoint -q "$MNT"; then
	echo "fresh-machine: still mounted after scripts/demo.sh stop" >&2
	exit 1
fi
echo "fresh-machine: inside checks passed"
INSIDE

echo "fresh-machine: chroot $R"
unshare --mount --propagation private /bin/bash -euo pipefail -c '
	R=$1
	mount --rbind /proc "$R/proc"
	mount --rbind /sys "$R/sys"
	mount --bind /dev/fuse "$R/dev/fuse"
	cp "$2" "$R/root/inside.sh"
	chroot "$R" /usr/bin/env -i /bin/bash /root/inside.sh
' fresh "$R" "$T/inside.sh"
echo "fresh-machine: ok"
