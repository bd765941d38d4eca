#!/bin/bash
# Crashes lose nothing: the drive killed with SIGKILL right after close()
# and at random points of an upload delivers every closed file, byte for
# byte, once mounted again; coffred killed with SIGKILL during uploads and
# commits leaves ledger, chunk store and index consistent (`coffred fsck`),
# and the drives finish their uploads when it is back.  A full cache gives
# the writing program ENOSPC, never a torn version.
. "$TESTLIB/common.sh"

demo_mounts a b

kill_mount()
{
	kill -KILL "${CLIENT_PID[a]}"
	wait "${CLIENT_PID[a]}" 2>/dev/null
	CLIENT_PID[a]=
	fusermount3 -u -z "$A" 2>/dev/null
}

# --- the drive killed after close() and during uploads ---------------------
# delays after close(): at once, inside the settle delay, during the upload
for d in 0 0.4 0.9 1.2 1.5 2.2; do
	head -c 6M /dev/urandom >"$T/k-$d"
	cp "$T/k-$d" "$A/k-$d.bin"
	sleep "$d"
	kill_mount
	client_mount a demo
done
check "after the kills, every file is on the drive, byte-identical" sh -c '
	for d in 0 0.4 0.9 1.2 1.5 2.2; do cmp "$1/k-$d" "$2/k-$d.bin" || exit 1; done' _ "$T" "$A"
check "sync" client_sync a
check "every file reaches the other drive, byte-identical" wait_for sh -c '
	for d in 0 0.4 0.9 1.2 1.5 2.2; do cmp "$1/k-$d" "$2/k-$d.bin" || exit 1; done' _ "$T" "$B"
# A kill between the server's commit and the drive's dequeue leaves the
# deposit queued: the restarted drive sees the server holds it (below).
check "each was deposited exactly once" sh -c '
	for d in 0 0.4 0.9 1.2 1.5 2.2; do
		[ "$(getfattr --only-values -n user.coffre.version "$1/k-$d.bin")" = 1 ] || exit 1
	done' _ "$B"

# --- a deposit committed but still queued (killed between the two) --------
# The drive's queue as it was before the commit is put back, as a kill
# right after the server's answer would leave it: the restarted drive sees
# the server holds that content and does not make a second version.
client_umount a
COFFRE_SETTLE_MS=600000 client_mount a demo
head -c 3M /dev/urandom >"$T/twice"
cp "$T/twice" "$A/twice.bin"
client_umount a
cp -a "$(cache_of a)" "$T/cache-before"
client_mount a demo
check "the deposit is committed" client_sync a
client_umount a
rm -rf "$(cache_of a)"
cp -a "$T/cache-before" "$(cache_of a)"
client_mount a demo
check "the drive with the old queue syncs" client_sync a
check_eq "no second version was made" 1 "$(xattr "$B/twice.bin" user.coffre.version)"
check "the content is byte-identical" cmp "$T/twice" "$A/twice.bin"
check "the drive said why" grep -q "not sent again" "$T/client-a.log"

# --- coffred killed during uploads and commits ------------------------------
for round in 1 2 3; do
	for i in 1 2 3; do
		head -c 5M /dev/urandom >"$T/s-$round-$i"
		cp "$T/s-$round-$i" "$A/s-$round-$i.bin"
	done
	setfattr -n user.coffre.sync -v now "$A"
	sleep "0.$((RANDOM % 9 + 1))"
	server_kill
	check "round $round: coffred fsck finds ledger, chunks and index consistent after SIGKILL" \
		"$COFFRED" fsck "$D"
	server_start
done
# A kill in the middle of a ref update leaves git's lock file behind:
# coffred clears it when it starts instead of refusing every later commit.
# (a ledger folder's: a ledger kept in the index has no lock files)
if one_node; then
	server_kill
	: >"$("$COFFRED" space path "$D" demo)/refs/heads/main.lock"
	server_start
	check "coffred removes a ref lock left by a killed commit" \
		grep -Eq "removed [0-9]+ lock files? left by an interrupted commit" "$T/coffred.log"
fi
check "the drive finishes its uploads once coffred is back" client_sync a
check "every file reaches the other drive, byte-identical" wait_for sh -c '
	for f in "$1"/s-*; do cmp "$f" "$2/$(basename "$f").bin" || exit 1; done' _ "$T" "$B"
check "coffred fsck agrees at the end" "$COFFRED" fsck "$D"

# --- a full cache -------------------------------------------------------------
if small_tmpfs 8m; then
	client_umount a
	printf 'kept\n' >"$T/kept"
	cp "$T/kept" "$B/full.txt"
	client_sync b
	client_mount a demo "$T/small/cache"
	check "the drive on an 8 MiB cache shows the file" wait_for cmp "$T/kept" "$A/full.txt"
	head -c 20M /dev/urandom >"$T/huge"
	cp "$T/huge" "$A/full.txt" 2>"$T/cp.err"
	st=$?
	check "writing 20 MiB into an 8 MiB cache fails" test $st -ne 0
	check "... with ENOSPC" grep -q "No space left on device" "$T/cp.err"
	client_sync a >/dev/null 2>&1
	check "no torn version reached the server" wait_for cmp "$T/kept" "$B/full.txt"
	check_eq "... the document is still at version 1" 1 \
		"$(xattr "$B/full.txt" user.coffre.version)"
	client_umount a
	umount "$T/small"
else
	ok "# SKIP tmpfs cannot be mounted here"
fi
check "coffred fsck agrees" "$COFFRED" fsck "$D"
done_testing
