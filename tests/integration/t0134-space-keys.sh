#!/bin/bash
# Each space's chunks under a key of its own: a new space has chunks.key
# (sealed under the master key) and its chunks open with nothing else; a
# space from before, whose key derives from the master key, gets one with
# `coffred space rekey` (refused while coffred serves): every chunk is
# re-encrypted under new names, the old copies gone, the files read back
# byte for byte, fsck clean, and a second run has nothing to do.
# cluster: no -- it reads a space's key file in one node's data directory; a deployment keeps the keys sealed in the index (test_index, t0140)
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"
require_fuse

server_init
user_add alice
space_create fresh alice
space_create older alice
# A space of before: no key of its own (its chunks under the derived key).
rm "$D/spaces/older/chunks.key"
server_start
server_pin_port
client_login alice alice

check "a new space has its own key file" test -s "$D/spaces/fresh/chunks.key"
check_eq "readable by coffred only, 72 bytes (a 32-byte key sealed: nonce and tag)" "600 72" \
	"$(stat -c '%a %s' "$D/spaces/fresh/chunks.key")"
head -c 2000000 /dev/urandom >"$T/big.bin"
printf 'small one\n' >"$T/small.txt"
for sp in fresh older; do
	client_mount alice "$sp" "$T/cache-$sp"
	cp "$T/big.bin" "$T/small.txt" "$(mnt_of alice)/"
	check "deposits in $sp reach the server" client_sync alice
	client_umount alice
done
check "fsck is clean" "$COFFRED" fsck "$D"
server_stop
mv "$D/spaces/fresh/chunks.key" "$T/fresh.key"
check "without its key file, fresh's chunks do not open (fsck fails)" \
	sh -c '! "$1" fsck "$2" fresh >/dev/null 2>&1' _ "$COFFRED" "$D"
mv "$T/fresh.key" "$D/spaces/fresh/chunks.key"
check "with it back, they do" "$COFFRED" fsck "$D" fresh

# chunk files only (XX/62 hex), not the store's format marker
chunk_names() { find "$1" -mindepth 2 -type f -printf '%P\n' | grep -E '^[0-9a-f]{2}/[0-9a-f]{62}$' | sort; }
chunk_names "$D/spaces/older/chunks" >"$T/before"
check "older has chunks under its derived key" test -s "$T/before"
server_start
"$COFFRED" space rekey "$D" older >"$T/out" 2>&1
check_eq "coffred space rekey while coffred serves: exit 1" 1 "$?"
check "saying to stop it first" grep -q "stop it first" "$T/out"
server_stop
"$COFFRED" space rekey "$D" older >"$T/out" 2>&1
check_eq "coffred stopped: exit 0" 0 "$?"
n=$(wc -l <"$T/before")
check "it re-encrypted every chunk and removed the old copies" \
	grep -q "space older: a key of its own; $n chunks re-encrypted, $n old copies removed" "$T/out"
check "older has a key file now" test -s "$D/spaces/older/chunks.key"
chunk_names "$D/spaces/older/chunks" >"$T/after"
check_eq "as many chunks" "$n" "$(wc -l <"$T/after")"
check_eq "none under an old name" "" "$(comm -12 "$T/before" "$T/after")"
check "fsck is clean" "$COFFRED" fsck "$D"
"$COFFRED" space rekey "$D" older >"$T/out2" 2>&1
check "a second run has nothing to do" grep -q "has a key of its own already" "$T/out2"
check_eq "a space that does not exist: exit 1" 1 \
	"$("$COFFRED" space rekey "$D" nosuch >/dev/null 2>&1; echo $?)"
server_start
client_mount alice older "$T/cache-older2"
check "the big file reads back byte for byte" cmp "$T/big.bin" "$(mnt_of alice)/big.bin"
check "and the small one" cmp "$T/small.txt" "$(mnt_of alice)/small.txt"
client_umount alice
server_stop
done_testing
