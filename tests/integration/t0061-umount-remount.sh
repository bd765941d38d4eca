#!/bin/bash
# `coffre umount` returns once the mount process has exited, within 2 s
# even with uploads pending (the queue is durable and resumes at the next
# mount), so `coffre umount; coffre mount` right after copying 1 GiB works,
# as a user types it, with no `sync --wait` in between.
. "$TESTLIB/common.sh"

not_alive() { ! proc_alive "$1"; }

demo_mounts a b
head -c 1G /dev/urandom >"$T/big"
sum=$(sha256sum <"$T/big" | cut -d" " -f1)

check "cp of 1 GiB" cp "$T/big" "$A/big.bin"
setfattr -n user.coffre.sync -v now "$A"
sleep 1 # the upload is under way
old=${CLIENT_PID[a]}
check "uploads are pending" test "$(xattr "$A" user.coffre.pending)" -gt 0
start=$(date +%s%N)
check "coffre umount" "$COFFRE" --config "$(cfg_of a)" umount "$A"
ms=$((($(date +%s%N) - start) / 1000000))
check "... within 2 s with uploads pending ($ms ms)" test "$ms" -le 2000
check "... and the mount process has exited" not_alive "$old"
wait "$old"
check_eq "... with status 0" 0 "$?"
CLIENT_PID[a]=
check "nothing mounted there" sh -c '! mountpoint -q "$1"' _ "$A"

# coffre mount, as a user runs it (it daemonizes)
check "coffre mount right after" "$COFFRE" --config "$(cfg_of a)" mount demo \
	"$A" --cache "$(cache_of a)"
check "mounted" mountpoint -q "$A"
pid=$(xattr "$A" user.coffre.pid)
EXTRA_PIDS+=("$pid")
check_eq "the file is there, pending, its bytes intact" "$sum" \
	"$(sha256sum <"$A/big.bin" | cut -d" " -f1)"
check "the upload resumes and completes" \
	timeout "$(budget_left "$SYNC_TIMEOUT")" "$COFFRE" \
	--config "$(cfg_of a)" sync --wait "$A"
check_eq "one version" 1 "$(xattr "$A/big.bin" user.coffre.version)"
check "B reads the same bytes" wait_for test -f "$B/big.bin"
check_eq "B's copy is byte-identical" "$sum" \
	"$(sha256sum <"$B/big.bin" | cut -d" " -f1)"
check "coffre umount again" "$COFFRE" --config "$(cfg_of a)" umount "$A"
check "... the daemon has exited" not_alive "$pid"
rm -f "$T/big"

done_testing
