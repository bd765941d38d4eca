#!/bin/bash
# A drive that dies once the server has committed its batch, before its
# queue let go of it (COFFRE_FAULT=exit-after-commit: the process exits as
# a SIGKILL would, right after the server's answer), comes back showing the
# server's state at once, not the queued batch laid over it: a deposit
# another device replaced since reads as the newer content, a file another
# device removed since stays removed, and nothing is sent twice (no
# duplicate version, the journal and the ledger agree).  Offline at the
# restart, the batch is replayed as before and the server answers its retry
# with the first outcome.
. "$TESTLIB/common.sh"

demo_mounts a b

# die_after_commit CLIENT: remount CLIENT with the fault armed
die_after_commit() {
	client_umount "$1"
	COFFRE_FAULT=exit-after-commit client_mount "$1" demo
}
# died CLIENT: the mount exited by itself (the fault), then is cleaned up
died() {
	local pid=${CLIENT_PID[$1]} i
	for ((i = 0; i < 300; i++)); do
		proc_alive "$pid" || break
		sleep 0.1
	done
	proc_alive "$pid" && return 1
	wait "$pid" 2>/dev/null
	CLIENT_PID[$1]=
	fusermount3 -u -z "$(mnt_of "$1")" 2>/dev/null
	return 0
}
versions_of() {
	cf a versions "$A/$1" 2>/dev/null | wc -l
}
G=$(ledger demo)
head_of() { git --git-dir "$G" rev-parse main; }

echo F1 >"$A/f.txt"
echo X1 >"$A/x.txt"
check "coffre sync --wait" client_sync a
check "the second mount sees both" wait_for test -e "$B/f.txt" -a -e "$B/x.txt"

# 1. a deposit committed, then replaced on another device
die_after_commit a
h0=$(head_of)
echo F2 >"$A/f.txt"
check "the drive dies right after the server committed F2" died a
check "the ledger holds F2" test "$(git --git-dir "$G" show main:f.txt | sed -n 's/^sha256 //p')" = \
	"$(printf 'F2\n' | sha256sum | cut -d' ' -f1)"
check "the ledger moved" test "$(head_of)" != "$h0"
check "the other device reads F2" wait_for sh -c "grep -qx F2 '$B/f.txt'"
echo F3 >"$B/f.txt"
check "and saves F3" client_sync b
client_mount a demo
check_eq "at once after the restart: F3, the server's, not the queued F2" F3 "$(cat "$A/f.txt")"
check "the log says the batch was not sent again" \
	grep -q 'were committed before the restart: not sent again' "$T/client-a.log"
check "coffre sync --wait" client_sync a
check_eq "three versions, none twice" 3 "$(versions_of f.txt)"
check_eq "still F3" F3 "$(cat "$A/f.txt")"

# 2. a deposit committed, then the file removed on another device
die_after_commit a
echo X2 >"$A/x.txt"
check "the drive dies right after the server committed X2" died a
check "the other device sees X2" wait_for sh -c "grep -qx X2 '$B/x.txt'"
check "and removes the file" rm "$B/x.txt"
check "coffre sync --wait (b)" client_sync b
client_mount a demo
check "at once after the restart: the removed file stays removed" test ! -e "$A/x.txt"
check "coffre sync --wait" client_sync a
check "the ledger has no x.txt" sh -c "! git --git-dir '$G' cat-file -e main:x.txt 2>/dev/null"

# 3. offline at the restart: replayed as before, applied once
die_after_commit a
echo F4 >"$A/f.txt"
check "the drive dies right after the server committed F4" died a
server_stop
client_mount a demo
check_eq "offline, the queued F4 shows" F4 "$(cat "$A/f.txt")"
server_start
check "coffre sync --wait once the server is back" client_sync a
check_eq "F4 is one version (v4), not two" 4 "$(versions_of f.txt)"
check_eq "and current" F4 "$(cat "$A/f.txt")"

check "coffred fsck" "$COFFRED" fsck "$D"
done_testing
