#!/bin/bash
# Bandwidth and a bounded cache: changing 4 KiB in the middle of a big file
# uploads at most two chunks (counted on the server); depositing content the
# space already holds uploads none; a drive with --cache-size 16M reads a
# 64 MiB file correctly, keeps its cache under the bound, and never evicts
# pending content.
. "$TESTLIB/common.sh"
require_cmd dd du

demo_logins a b
client_mount a demo
A=$(mnt_of a)
puts() { grep -c 'PUT /v1/spaces/demo/chunks/.* 201 ' "$T/coffred.log"; }

head -c 64M /dev/urandom >"$T/big"
cp "$T/big" "$A/big.bin"
check "sync the 64 MiB file" client_sync a
n0=$(puts)
check "its chunks were uploaded" test "$n0" -ge 16

cp "$T/big" "$T/big2"
head -c 4096 /dev/urandom | dd of="$T/big2" bs=4096 seek=$((32 * 256)) conv=notrunc status=none
dd if="$T/big2" of="$A/big.bin" bs=4096 skip=$((32 * 256)) seek=$((32 * 256)) count=1 \
	conv=notrunc status=none
check "sync the 4 KiB change" client_sync a
n1=$(puts)
check "the 4 KiB change uploaded at most two chunks ($((n1 - n0)))" test $((n1 - n0)) -le 2
check "... and made version 2" test "$(xattr "$A/big.bin" user.coffre.version)" = 2
check "... with the right bytes" cmp "$T/big2" "$A/big.bin"

cp "$T/big" "$A/again.bin"
check "sync a copy of content the space holds" client_sync a
n2=$(puts)
check_eq "it uploaded no chunk" 0 $((n2 - n1))
check "... and reads back" cmp "$T/big" "$A/again.bin"

# --- a bounded cache ----------------------------------------------------------
B=$(mnt_of b)
mkdir -p "$B" "$T/cache-b"
MOUNTS+=("$B")
COFFRE_SETTLE_MS=600000 "$COFFRE" --config "$(cfg_of b)" mount demo "$B" \
	--cache "$T/cache-b" --cache-size 16M --foreground >>"$T/client-b.log" 2>&1 &
# shellcheck disable=SC2034 # common.sh's teardown stops it
CLIENT_PID["b"]=$!
check "B mounts with --cache-size 16M" wait_for mountpoint -q "$B"
head -c 20M /dev/urandom >"$T/dirty"
check "B holds 20 MiB of pending content" cp "$T/dirty" "$B/dirty.bin"
check "B reads the 64 MiB file through a 16 MiB cache" cmp "$T/big2" "$B/big.bin"
check "... and the other one" cmp "$T/big" "$B/again.bin"
kib=$(du -sk "$T/cache-b/chunks" | cut -f1)
check "B's chunk cache stays near its bound (${kib} KiB)" test "$kib" -le $((24 * 1024))
check "the pending content was not evicted" cmp "$T/dirty" "$B/dirty.bin"
check "sync B" client_sync b
check "A reads B's content, byte-identical" wait_for cmp "$T/dirty" "$A/dirty.bin"
check "coffred fsck agrees" "$COFFRED" fsck "$D"
done_testing
