#!/bin/bash
# scripts/demo.sh, the newcomer's first command: it sets up a server, a user,
# a space and a mounted drive with a welcome file; run again it reuses all
# of it; `stop` unmounts and stops the server; a later start finds the data.
. "$TESTLIB/common.sh"

DEMO=$(cd "$TESTLIB/../.." && pwd)/scripts/demo.sh
export COFFRE_DEMO_DIR=$T/demo COFFRE_DEMO_MOUNT=$T/demo-mnt COFFRE_DEMO_PORT=0
export COFFRE COFFRED
M=$COFFRE_DEMO_MOUNT
MOUNTS+=("$M")

# Let cleanup stop what the script started if a check below fails.
track()
{
	local f

	for f in "$T/demo/coffred.pid" "$T/demo/mount.pid"; do
		[ -s "$f" ] && EXTRA_PIDS+=("$(cat "$f")")
	done
}

check "scripts/demo.sh sets everything up" "$DEMO"
track
check "the drive is mounted" mountpoint -q "$M"
check "Welcome.txt is in the drive" test -s "$M/Welcome.txt"
check_eq "Welcome.txt is synced" synced "$(xattr "$M/Welcome.txt" user.coffre.state)"
check_eq "Welcome.txt was deposited by demo" demo \
	"$(xattr "$M/Welcome.txt" user.coffre.deposited_by)"
check_eq "the password file is 0600" 600 "$(stat -c %a "$T/demo/demo.password")"
R=$("$COFFRED" space path "$T/demo/server" demo)
check "the ledger has demo's deposit" \
	sh -c 'git --git-dir "$1" log --format=%an main | grep -qx demo' _ "$R"
pid1=$(cat "$T/demo/coffred.pid")

"$DEMO" >"$T/demo2.out" 2>&1
check_eq "a second run exits 0" 0 "$?"
check "... reuses the running server" grep -q 'coffred already running' "$T/demo2.out"
check "... reuses the mount" grep -q 'already mounted' "$T/demo2.out"
check_eq "... same server pid" "$pid1" "$(cat "$T/demo/coffred.pid")"
check "status reports both" \
	sh -c '"$1" status | grep -q "coffred running" && "$1" status | grep -q mounted' _ "$DEMO"

check "scripts/demo.sh stop" "$DEMO" stop
check "the drive is unmounted" sh -c '! mountpoint -q "$1"' _ "$M"
gone() { ! proc_alive "$1"; }
check "the server is stopped" gone "$pid1"
check "the data is kept" test -d "$T/demo/server"

# After a stop, a start comes back on a new port with the same data.
check "scripts/demo.sh starts again" "$DEMO"
track
check "the drive is mounted again" mountpoint -q "$M"
check_eq "Welcome.txt is still version 1" 1 "$(xattr "$M/Welcome.txt" user.coffre.version)"
check "scripts/demo.sh stop again" "$DEMO" stop
check "the drive is unmounted" sh -c '! mountpoint -q "$1"' _ "$M"

done_testing
