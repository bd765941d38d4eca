#!/bin/bash
# Build the Debian packages from a clean clone and try them as an
# administrator would on a machine that has nothing installed:
#
#   1. `dpkg-buildpackage -us -uc -b` in a clean clone of this tree;
#   2. `lintian` on the result: no error and no warning;
#   3. the exposure figure of `systemd-analyze security --offline=yes` for
#      coffred.service, which must stay under 2.0;
#   4. a minimal Debian 12 root (debootstrap), where `apt-get install
#      ./coffre_*.deb ./coffred_*.deb` installs both with their dependencies,
#      the programs run from PATH, the postinst made the coffred user and an
#      initialized /var/lib/coffred owned by it, and the installed coffred,
#      started as that user the way its unit starts it, serves a space that
#      the installed coffre mounts and deposits into.
#
#   scripts/package-check.sh      # needs root, dpkg-dev, debhelper, lintian, debootstrap
#
# FRESH_MIRROR names the Debian mirror (as for fresh-machine-check.sh).
# Prints "package-check: ok" and exits 0 when every check held.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)

die()
{
	echo "package-check: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot)"
for c in dpkg-buildpackage lintian debootstrap unshare systemd-analyze; do
	command -v "$c" >/dev/null || die "$c is missing (scripts/install-deps.sh)"
done
[ -c /dev/fuse ] || die "/dev/fuse is missing on this machine"

T=$(mktemp -d /var/tmp/coffre-pkg.XXXXXX)
R=$T/root
cleanup()
{
	local p

	if [ -s "$R/tmp/coffred.pid" ]; then
		p=$(tr -dc 0-9 <"$R/tmp/coffred.pid")
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
	fi
	if grep -q " $T/" /proc/mounts; then
		echo "package-check: $T still has mounts; not removed" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

echo "package-check: dpkg-buildpackage -us -uc -b in a clean clone"
git clone -q --no-local "$ROOT" "$T/src"
(cd "$T/src" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1 || {
	tail -n 40 "$T/build.log"
	die "dpkg-buildpackage failed"
}
ls "$T"/coffre_*.deb "$T"/coffred_*.deb >/dev/null

echo "package-check: lintian"
# lintian refuses to be run as root only by a warning on stderr.
lintian --fail-on error,warning "$T"/coffre_*_amd64.changes 2>"$T/lintian.err" |
	tee "$T/lintian.out" || {
	cat "$T/lintian.err"
	die "lintian reported an error or a warning"
}
if grep -q '^[EW]:' "$T/lintian.out"; then
	die "lintian reported an error or a warning"
fi

echo "package-check: systemd-analyze security --offline=yes coffred.service"
exposure=$(systemd-analyze security --offline=yes "$T/src/systemd/coffred.service" 2>&1 |
	sed -n 's/.*Overall exposure level for coffred.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || die "systemd-analyze printed no exposure figure"
echo "package-check: coffred.service exposure $exposure"
python3 -c "import sys; sys.exit(0 if float('$exposure') < 2.0 else 1)" ||
	die "coffred.service exposure $exposure is not under 2.0"

mirror=${FRESH_MIRROR:-$(sed -n 's/^URIs:[[:space:]]*\(http[^ ]*debian\)[[:space:]]*$/\1/p' \
	/etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}
echo "package-check: debootstrap bookworm (minbase) from $mirror"
debootstrap --variant=minbase bookworm "$R" "$mirror" >"$T/debootstrap.log" 2>&1 || {
	tail -n 20 "$T/debootstrap.log"
	die "debootstrap failed"
}
cp "$T"/coffre_*_amd64.deb "$T"/coffred_*_amd64.deb "$R/tmp/"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
touch "$R/dev/fuse"

cat >"$R/root/inside.sh" <<'INSIDE'
set -euo pipefail
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
for p in coffre coffred fusermount3; do
	if command -v "$p" >/dev/null; then
		echo "package-check: $p is already installed: not a clean root" >&2
		exit 1
	fi
done
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends /tmp/coffre_*_amd64.deb \
	/tmp/coffred_*_amd64.deb >/tmp/apt.log 2>&1 || { tail -n 30 /tmp/apt.log; exit 1; }
command -v coffre && command -v coffred
coffre --version
help=$(coffred --help 2>&1)
grep -q "^usage: coffred" <<<"$help"
getent passwd coffred >/dev/null
[ "$(stat -c '%U %a' /var/lib/coffred)" = "coffred 700" ]
[ "$(stat -c %U /var/lib/coffred/tls/cert.pem)" = coffred ]
[ -f /usr/share/bash-completion/completions/coffre ]
[ -f /lib/systemd/system/coffred.service ]
[ -f /usr/lib/systemd/user/coffre-mount@.service ]
# The configuration is the conffile, which the data directory links to.
grep -qx /etc/coffre/coffred.conf /var/lib/dpkg/info/coffred.conffiles
[ "$(readlink /var/lib/coffred/coffred.conf)" = /etc/coffre/coffred.conf ]
grep -q '^listen = 127.0.0.1:8443$' /etc/coffre/coffred.conf
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' /lib/systemd/system/coffred.service
# As the unit runs it, on any free port (8443 may be taken on this host):
# the administrator edits the conffile.
sed -i 's/^listen *=.*/listen = 127.0.0.1:0/' /etc/coffre/coffred.conf
printf 'correct horse battery staple\n' >/tmp/pw
chmod 0644 /tmp/pw
runuser -u coffred -- coffred user add /var/lib/coffred alice --phone +33612345678 \
	--password-file /tmp/pw
runuser -u coffred -- coffred space create /var/lib/coffred famille --owner alice
runuser -u coffred -- coffred serve /var/lib/coffred --port-file /tmp/port \
	>/tmp/coffred.log 2>&1 &
echo $! >/tmp/coffred.pid
for _ in $(seq 100); do [ -s /tmp/port ] && break; sleep 0.1; done
[ -s /tmp/port ] || { cat /tmp/coffred.log; exit 1; }
coffre login "https://127.0.0.1:$(cat /tmp/port)" alice --password-file /tmp/pw \
	--cacert /var/lib/coffred/tls/cert.pem
mkdir -p /root/Coffre
coffre mount famille /root/Coffre
echo "deposited from the packages" >/tmp/doc.txt
cp /tmp/doc.txt /root/Coffre/doc.txt
coffre sync --wait /root/Coffre
cmp /tmp/doc.txt /root/Coffre/.versions/doc.txt/v1.txt
coffre versions /root/Coffre/doc.txt
coffre umount /root/Coffre
kill -TERM "$(cat /tmp/coffred.pid)"
for _ in $(seq 100); do kill -0 "$(cat /tmp/coffred.pid)" 2>/dev/null || break; sleep 0.1; done
rm -f /tmp/coffred.pid
echo "package-check: installed packages work"
INSIDE

echo "package-check: install the packages in the clean root"
unshare --mount --propagation private /bin/bash -euo pipefail -c '
	R=$1
	mount --rbind /proc "$R/proc"
	mount --rbind /sys "$R/sys"
	mount --bind /dev/fuse "$R/dev/fuse"
	chroot "$R" /usr/bin/env -i /bin/bash /root/inside.sh
' pkg "$R"
echo "package-check: ok"
