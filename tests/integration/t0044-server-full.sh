#!/bin/bash
# A full disk on the server's side: coffred's DATADIR on an 8 MiB tmpfs.
# A deposit larger than the room left is refused with a clear error
# (507 no_space), no torn version reaches the ledger, the drive keeps the
# content and says why, and the ledger, chunk store and index stay
# consistent; once there is room again, the content goes out.
# cluster: no -- the disk that fills is under one node's data directory; a deployment keeps its chunks in RGW and its index in PostgreSQL
. "$TESTLIB/common.sh"

small_tmpfs 8m || skip_all "tmpfs cannot be mounted here"
D=$T/small/server
demo_mounts a

printf 'small\n' >"$T/small.txt"
cp "$T/small.txt" "$A/small.txt"
check "a small file fits" client_sync a
head -c 12M /dev/urandom >"$T/big"
check "a 12 MiB file is accepted by the drive" cp "$T/big" "$A/big.bin"
setfattr -n user.coffre.sync -v now "$A"
has_error() { [ -n "$(xattr "$A" user.coffre.error)" ]; }
check "the drive reports the server's refusal" wait_for has_error
check "... saying the server has no space" sh -c \
	'getfattr --only-values -n user.coffre.error "$1" | grep -qi "space"' _ "$A"
# The same refusal again, twice: sync --wait reports it each time instead
# of taking it for an old error and waiting out its timeout.
n0=$(xattr "$A" user.coffre.errors)
for round in second third; do
	out=$(timeout 60 "$COFFRE" --config "$(cfg_of a)" sync --wait \
		--timeout 40 "$A" 2>&1)
	rc=$?
	check "sync --wait fails on the $round identical refusal" test "$rc" = 1
	check "... saying the server has no space, not timing out" sh -c \
		'printf "%s" "$1" | grep -i space | grep -vq "timed out"' _ "$out"
done
check "user.coffre.errors counted the refusals met again ($n0 before)" \
	test "$(xattr "$A" user.coffre.errors)" -ge $((n0 + 2))
check "the content is still on the drive" cmp "$T/big" "$A/big.bin"
check "no version of it is in the ledger" sh -c \
	"! git --git-dir '$(ledger demo)' log --format=%B main | grep -q big.bin"
check "coffred fsck: consistent after the refusal" "$COFFRED" fsck "$D"
check "the small file is intact" cmp "$T/small.txt" "$A/small.txt"
done_testing
