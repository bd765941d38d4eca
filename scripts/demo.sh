#!/bin/bash
# A working coffre on this machine in one command: builds the tree, starts
# an embedded coffred on 127.0.0.1, creates the user "demo" and the space
# "demo", logs in and mounts the space as a drive, with a welcome file in it.
#
#   scripts/demo.sh          start (or reuse) everything
#   scripts/demo.sh status   say what is running
#   scripts/demo.sh stop     unmount the drive, stop the server
#
# Running it again reuses what exists: data, user, password, space, login,
# mount and server are created only when missing.  Nothing is ever deleted;
# to start over, stop and remove the data directory yourself.
#
# Overrides (environment):
#   COFFRE_DEMO_DIR    state: data, logs, pid files, password
#                      (default ~/.local/share/coffre-demo)
#   COFFRE_DEMO_MOUNT  where the drive is mounted (default ~/coffre-demo)
#   COFFRE_DEMO_PORT   server port (default 8443, or a free one if taken)
#   BUILD_DIR          meson build directory (default build)
#   COFFRE, COFFRED    use these binaries instead of building (as the
#                      integration tests do)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${COFFRE_DEMO_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/coffre-demo}
MNT=${COFFRE_DEMO_MOUNT:-$HOME/coffre-demo}
PORT_WANTED=${COFFRE_DEMO_PORT:-8443}
BUILD=$ROOT/${BUILD_DIR:-build}
SRV=$STATE/server		# coffred's data directory
CFG=$STATE/client		# coffre's config directory
PREBUILT=
if [ -n "${COFFRE:-}" ] && [ -n "${COFFRED:-}" ]; then
	PREBUILT=1
fi
COFFRED=${COFFRED:-$BUILD/server/coffred}
COFFRE=${COFFRE:-$BUILD/client/coffre}
LOGIN=demo
SPACE=demo

say()
{
	echo "demo: $*"
}

die()
{
	echo "demo: $*" >&2
	exit 1
}

# Alive and not a zombie.
alive()
{
	[ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null &&
		! grep -q '^[^ ]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null
}

pid_from()
{
	[ -s "$1" ] && tr -dc 0-9 <"$1"
}

server_pid()
{
	local p

	p=$(pid_from "$STATE/coffred.pid") || return 1
	alive "$p" && echo "$p"
}

mount_pid()
{
	local p

	p=$(pid_from "$STATE/mount.pid") || return 1
	alive "$p" && echo "$p"
}

# Wait up to $2 seconds for pid $1 to end.
wait_gone()
{
	local i

	for ((i = 0; i < $2 * 10; i++)); do
		alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

port_free()
{
	python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

do_stop()
{
	local p

	if mountpoint -q "$MNT" 2>/dev/null; then
		say "unmounting $MNT"
		"$COFFRE" --config "$CFG" umount "$MNT" 2>/dev/null ||
			fusermount3 -u "$MNT" || fusermount3 -u -z "$MNT"
	elif ! stat "$MNT" >/dev/null 2>&1 && grep -q " $MNT fuse" /proc/mounts; then
		fusermount3 -u -z "$MNT"	# a mount whose process died
	fi
	if p=$(mount_pid); then
		wait_gone "$p" 10 || { kill -TERM "$p"; wait_gone "$p" 5 || true; }
	fi
	rm -f "$STATE/mount.pid"
	if p=$(server_pid); then
		say "stopping coffred (pid $p)"
		kill -TERM "$p"
		wait_gone "$p" 20 || die "coffred (pid $p) did not stop; see $STATE/coffred.log"
	fi
	rm -f "$STATE/coffred.pid"
	say "stopped (data kept in $STATE)"
}

do_status()
{
	local p

	if p=$(server_pid); then
		say "coffred running, pid $p, https://127.0.0.1:$(cat "$STATE/port")"
	else
		say "coffred not running"
	fi
	if mountpoint -q "$MNT" 2>/dev/null; then
		say "space $SPACE mounted at $MNT"
	else
		say "not mounted"
	fi
}

build()
{
	if [ -n "$PREBUILT" ]; then
		[ -x "$COFFRE" ] && [ -x "$COFFRED" ] ||
			die "COFFRE and COFFRED must name the binaries"
		return
	fi
	if [ -n "$("$ROOT/scripts/install-deps.sh" --missing)" ]; then
		"$ROOT/scripts/install-deps.sh"
	fi
	if [ ! -f "$BUILD/build.ninja" ]; then
		say "configuring $BUILD"
		meson setup "$BUILD" "$ROOT" -Dwerror=true >/dev/null
	fi
	say "building"
	ninja -C "$BUILD" server/coffred client/coffre >/dev/null ||
		die "build failed: run 'ninja -C $BUILD' to see why"
}

start_server()
{
	local p i port

	if [ ! -f "$SRV/tls/cert.pem" ]; then
		port=$PORT_WANTED
		port_free "$port" || port=0
		say "creating the server data directory $SRV (port ${port/#0/any free})"
		"$COFFRED" init "$SRV" --listen "127.0.0.1:$port"
	fi
	if p=$(server_pid); then
		say "coffred already running (pid $p)"
		return
	fi
	rm -f "$STATE/port"
	nohup "$COFFRED" serve "$SRV" --port-file "$STATE/port" \
		>>"$STATE/coffred.log" 2>&1 </dev/null &
	p=$!
	echo "$p" >"$STATE/coffred.pid"
	for ((i = 0; i < 100; i++)); do
		[ -s "$STATE/port" ] && break
		alive "$p" || die "coffred exited; see $STATE/coffred.log"
		sleep 0.1
	done
	[ -s "$STATE/port" ] || die "coffred wrote no port in 10 s; see $STATE/coffred.log"
	say "coffred started (pid $p, log $STATE/coffred.log)"
}

make_user_and_space()
{
	local pw=$STATE/$LOGIN.password tmp

	if [ ! -s "$pw" ]; then
		tmp=$pw.new
		(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '\n/+=' >"$tmp")
		"$COFFRED" user add "$SRV" "$LOGIN" --phone +33600000000 \
			--password-file "$tmp" || { rm -f "$tmp"; die "cannot create user $LOGIN"; }
		mv "$tmp" "$pw"
		say "user $LOGIN created; password saved in $pw (0600)"
	fi
	if ! "$COFFRED" space path "$SRV" "$SPACE" >/dev/null 2>&1; then
		"$COFFRED" space create "$SRV" "$SPACE" --owner "$LOGIN" --kind private
		say "space $SPACE created"
	fi
}

login()
{
	local url

	url=https://127.0.0.1:$(cat "$STATE/port")
	if [ -s "$CFG/session.json" ] && grep -qF "\"$url\"" "$CFG/session.json"; then
		return
	fi
	say "logging in to $url as $LOGIN"
	"$COFFRE" --config "$CFG" login "$url" "$LOGIN" \
		--password-file "$STATE/$LOGIN.password" --cacert "$SRV/tls/ca.pem"
}

mount_space()
{
	local p i

	if mountpoint -q "$MNT" 2>/dev/null; then
		say "already mounted at $MNT"
		return
	fi
	# A mount left behind by a process that died answers ENOTCONN.
	grep -q " $MNT fuse" /proc/mounts && fusermount3 -u -z "$MNT"
	mkdir -p "$MNT"
	nohup "$COFFRE" --config "$CFG" mount "$SPACE" "$MNT" --foreground \
		>>"$STATE/mount.log" 2>&1 </dev/null &
	p=$!
	echo "$p" >"$STATE/mount.pid"
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$MNT" && break
		alive "$p" || die "coffre mount exited; see $STATE/mount.log"
		sleep 0.1
	done
	mountpoint -q "$MNT" || die "not mounted after 10 s; see $STATE/mount.log"
	say "space $SPACE mounted at $MNT (log $STATE/mount.log)"
}

welcome()
{
	[ -e "$MNT/Welcome.txt" ] && return
	cat >"$STATE/Welcome.txt" <<'TXT'
Welcome to coffre, your digital safe.

Everything you put in this drive is deposited in the safe: every change of a
file becomes a new version, and every version stays readable. The folders
are the filing plan of a private space (docs/plans.md); Santé and Dernières
volontés are confidential. Try:

  cp ~/some.pdf .          deposit a document
  ls -l                    list the space
  ls .versions/NAME/       the versions of NAME (hidden, reachable by path)
  getfattr -d NAME         who deposited it, when, its SHA-256, its version
  coffre verify NAME       check it against the signed, timestamped history
TXT
	cp "$STATE/Welcome.txt" "$MNT/Welcome.txt"
	"$COFFRE" --config "$CFG" sync --wait "$MNT"
	say "Welcome.txt deposited"
}

case "${1:-start}" in
stop)
	do_stop
	exit 0
	;;
status)
	do_status
	exit 0
	;;
start) ;;
*)
	die "usage: scripts/demo.sh [start|status|stop]"
	;;
esac

mkdir -p "$STATE"
chmod 700 "$STATE"
# build installs the packages (fuse3 among them) on a machine that has
# none, so FUSE is checked after it, not before.
build
if ! command -v fusermount3 >/dev/null; then
	die "fusermount3 is missing: install the Debian package fuse3 (scripts/install-deps.sh)"
fi
if [ ! -c /dev/fuse ]; then
	die "FUSE is not available: /dev/fuse is missing (in a container, pass --device /dev/fuse)"
fi
start_server
make_user_and_space
login
mount_space
welcome

cat <<EOF

coffre is running.
  drive:   $MNT   (space "$SPACE", user "$LOGIN")
  server:  https://127.0.0.1:$(cat "$STATE/port")   data in $SRV
  logs:    $STATE/coffred.log  $STATE/mount.log

Try:
  cp /etc/os-release $MNT/
  ls -l $MNT
  echo changed >> $MNT/Welcome.txt; $COFFRE --config $CFG sync --wait $MNT
  ls $MNT/.versions/Welcome.txt/          # v1.txt v2.txt, read-only
  getfattr -d $MNT/Welcome.txt            # version, sha256, deposited_by/at
  $COFFRE --config $CFG versions $MNT/Welcome.txt
  $COFFRE --config $CFG verify $MNT/Welcome.txt      # content -> signed, timestamped commit
  $COFFRE --config $CFG log $MNT/Welcome.txt --reads # who deposited and read it
  git --git-dir "\$($COFFRED space path $SRV $SPACE)" log --format='%h %an %s'

Stop:  scripts/demo.sh stop
EOF
