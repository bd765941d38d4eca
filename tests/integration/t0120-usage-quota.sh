#!/bin/bash
# Per-space usage and quota: `coffre usage` against a walk of the server's
# chunk store (each chunk file's plaintext size, from its length: a 24-byte
# header and 17 bytes per record of at most 64 KiB), a copy counted once,
# versions and removals; `coffred fsck` checks the counters.  A quota:
# `cp` past it fails with "Disk quota exceeded", nothing of it on the
# server; raised, the next cp goes; a deposit a second mount queued
# before the space filled is held, not dropped, and goes once raised.
. "$TESTLIB/common.sh"

require_cmd python3 curl
demo_logins a b
client_mount a demo
# b sends its deposits 6 s after their close: time for a to fill the space
COFFRE_SETTLE_MS=6000 client_mount b demo
A=$(mnt_of a)
B=$(mnt_of b)

# The plaintext bytes of every chunk stored for the space (chunk_sizes:
# files of the chunk folder, or objects of the bucket), and their count.
walk() {
	chunk_sizes demo | python3 -c '
import sys
total = n = 0
for line in sys.stdin:
    c = int(line) - 24
    rec = (c + 65536 + 17 - 1) // (65536 + 17)
    total += c - rec * 17
    n += 1
print(total, n)'
}
usage_json() { cf a usage demo --json >"$T/usage.json"; }
figure() { json_get "$T/usage.json" "j['$1']"; }

head -c 3M /dev/urandom >"$T/f1"
head -c 100K /dev/urandom >"$T/f2"
cp "$T/f1" "$A/f1"
cp "$T/f2" "$A/f2"
check "two files deposited" client_sync a
usage_json
read -r wb wn < <(walk)
check_eq "usage: the bytes are the chunk files' plaintext sizes" "$wb" "$(figure bytes)"
check_eq "... which hold the two files" $((3 * 1024 * 1024 + 100 * 1024)) "$wb"
check_eq "usage: 2 documents" 2 "$(figure documents)"
check_eq "usage: 2 versions" 2 "$(figure versions)"
check_eq "usage: no quota" None "$(figure quota)"
bytes1=$wb

cp "$T/f1" "$A/f1-copy"
check "a copy of f1 deposited" client_sync a
usage_json
check_eq "dedup: the copy adds no byte" "$bytes1" "$(figure bytes)"
check_eq "... but a document and a version" "3 3" "$(figure documents) $(figure versions)"
read -r wb wn2 < <(walk)
check_eq "... and no chunk file" "$wn" "$wn2"

head -c 50K /dev/urandom >"$T/f2b"
cp "$T/f2b" "$A/f2"
rm "$A/f1-copy"
check "a new version of f2, f1-copy removed" client_sync a
usage_json
read -r wb wn < <(walk)
check_eq "usage after a version and a removal: the walk" "$wb" "$(figure bytes)"
check_eq "... the new version's bytes added, the removal lowering nothing" \
	$((bytes1 + 50 * 1024)) "$(figure bytes)"
check_eq "... 3 documents, 4 versions kept" "3 4" "$(figure documents) $(figure versions)"
check "coffre usage prints the figures" sh -c \
	'"$1" --config "$2" usage demo | grep -q "versions: 4"' _ "$COFFRE" "$(cfg_of a)"
"$COFFRED" fsck "$D" >"$T/fsck.out" 2>&1
check "coffred fsck clean, the counters checked" grep -q "demo: usage $wb bytes in $wn chunks, 3 documents, 4 versions; 0 chunks" "$T/fsck.out"

# --- a quota ---------------------------------------------------------------
stored=$(figure bytes)
quota=$((stored + 3 * 1024 * 1024))
check "coffred space quota refuses a bad size" sh -c '! "$1" space quota "$2" demo 12Q 2>/dev/null' _ "$COFFRED" "$D"
check "coffred space quota sets one" "$COFFRED" space quota "$D" demo $((quota / 1024))K
usage_json
check_eq "usage: the quota, the space's own" "$quota space" "$(figure quota) $(figure quota_from)"
TOK=$(token_of a)
head -c 4M /dev/urandom >"$T/c4"
id=$(sha256_of "$T/c4")
st=$(api "$T/put.json" PUT "/v1/spaces/demo/chunks/$id" \
	-H "Authorization: Bearer $TOK" --data-binary @"$T/c4")
check_eq "a chunk upload past the quota: 507" 507 "$st"
check_eq "... quota_exceeded" quota_exceeded "$(json_get "$T/put.json" "j['error']['code']")"
read -r wb2 wn2 < <(walk)
check_eq "... and not stored" "$wn" "$wn2"

# a commit past the quota through the API: two chunks that fit alone, not
# together; refused whole, and both chunk files removed
head -c 2M /dev/urandom >"$T/x1"
head -c 2M /dev/urandom >"$T/x2"
cat "$T/x1" "$T/x2" >"$T/x12"
for x in x1 x2; do
	api "$T/put.json" PUT "/v1/spaces/demo/chunks/$(sha256_of "$T/$x")" \
		-H "Authorization: Bearer $TOK" --data-binary @"$T/$x" >"$T/st.$x"
done
check_eq "two chunks that fit alone are uploaded" "201 201" "$(cat "$T/st.x1") $(cat "$T/st.x2")"
read -r wb2 wn2 < <(walk)
check_eq "... their files are there meanwhile" $((wn + 2)) "$wn2"
body=$(printf '{"ops": [{"op": "deposit", "path": "/x12", "size": %s, "sha256": "%s", "chunks": [["%s", 2097152], ["%s", 2097152]]}]}' \
	4194304 "$(sha256_of "$T/x12")" "$(sha256_of "$T/x1")" "$(sha256_of "$T/x2")")
st=$(api "$T/commit.json" POST /v1/spaces/demo/commits -H "Authorization: Bearer $TOK" \
	-H 'Content-Type: application/json' -d "$body")
check_eq "a commit naming both: 507" 507 "$st"
check_eq "... quota_exceeded" quota_exceeded "$(json_get "$T/commit.json" "j['error']['code']")"
check "... the message gives the figures" grep -q "$stored bytes stored + 4194304 new would pass its quota of $quota bytes" "$T/commit.json"
read -r wb2 wn2 < <(walk)
check_eq "... and neither chunk is kept" "$stored $wn" "$wb2 $wn2"
check "... no version of it" sh -c \
	"! git --git-dir '$(ledger demo)' log --format=%B main | grep -q x12"

# the drive learns the quota within 10 s, or at its next commit
touch "$A/marker"
check "a marker deposited (the drive reads the usage after it)" client_sync a
head -c 5M /dev/urandom >"$T/big"
cp "$T/big" "$A/big" 2>"$T/cp.err"
st=$?
check "cp of a file past the quota fails" test "$st" -ne 0
check "... with Disk quota exceeded" grep -q "Disk quota exceeded" "$T/cp.err"
check "the earlier files are intact" sh -c 'cmp "$1/f1" "$2/f1" && cmp "$1/f2b" "$2/f2"' _ "$T" "$A"
check "the drive syncs" client_sync a
check "no version of big in the ledger" sh -c \
	"! git --git-dir '$(ledger demo)' log --format=%B main | grep -q big"
usage_json
read -r wb wn2 < <(walk)
check_eq "nothing of it on the server: usage as before" "$stored" "$(figure bytes)"
check_eq "... and the walk agrees, no chunk file left" "$stored $wn" "$wb $wn2"
check "coffred fsck clean" "$COFFRED" fsck "$D"

check "the quota raised" "$COFFRED" space quota "$D" demo $((stored + 6 * 1024 * 1024))
rm -f "$A/big"
check "the next cp goes through" cp "$T/big" "$A/big"
check "... and is deposited" client_sync a
check "... byte for byte" cmp "$T/big" "$A/big"
usage_json
read -r wb wn < <(walk)
check_eq "usage follows: the walk" "$wb" "$(figure bytes)"
stored=$wb

# --- held: a second mount's deposit, refused by the server -----------------
check "the quota: 3 MiB left" "$COFFRED" space quota "$D" demo $((stored + 3 * 1024 * 1024))
sleep 11 # past the drives' usage reading, so both know the new quota
head -c 2M /dev/urandom >"$T/fromb"
head -c 2M /dev/urandom >"$T/froma"
check "b's file fits what b knows" cp "$T/fromb" "$B/fromb"
check "a's file too" cp "$T/froma" "$A/froma"
check "a's deposit goes first (b waits 6 s)" client_sync a
held() { cf b status "$B" | grep -q "held since"; }
check "b's deposit is refused and held: coffre status says why" wait_for held
cf b status "$B" >"$T/status.b"
check "... needs attention: the quota" grep -q "quota is exceeded" "$T/status.b"
check "... still queued, not dropped" test "$(xattr "$B" user.coffre.pending)" -ge 1
check "... and readable on b" cmp "$T/fromb" "$B/fromb"
check "the quota raised again" "$COFFRED" space quota "$D" demo none
check "b's held deposit goes through" client_sync b
check "... into the ledger" sh -c \
	"git --git-dir '$(ledger demo)' log --format=%B main | grep -q fromb"
check "a reads it" wait_for cmp "$T/fromb" "$A/fromb"
usage_json
read -r wb wn < <(walk)
check_eq "usage: the walk once everything is in" "$wb" "$(figure bytes)"
check_eq "... unlimited again" None "$(figure quota)"

# --- quota_default: for a space without a quota of its own -----------------
check "the space's own quota dropped" "$COFFRED" space quota "$D" demo default
echo "quota_default = 10M" >>"$D/coffred.conf"
kill -HUP "$SERVER_PID"
has_default() { usage_json && [ "$(figure quota_from)" = default ]; }
check "quota_default applies once coffred.conf is reloaded" wait_for has_default
check_eq "... 10M" 10485760 "$(figure quota)"
touch "$A/marker2"
check "a marker deposited (the drive reads the usage after it)" client_sync a
head -c 4M /dev/urandom >"$T/over"
check "a cp past quota_default fails too" sh -c '! cp "$1" "$2/over" 2>/dev/null' _ "$T/over" "$A"
check "coffred fsck clean at the end" "$COFFRED" fsck "$D"
client_umount a
client_umount b
done_testing
