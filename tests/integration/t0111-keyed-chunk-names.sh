#!/bin/bash
# At rest, a chunk's file is named by a keyed hash of its
# SHA-256, so someone reading the data directory cannot confirm that a file
# they know is held.  A data directory written before (chunk files named by
# their plaintext SHA-256, no chunks/names) keeps working: coffred renames
# them at the first open of the space, reads them back and fsck is clean.
# Also: coffred init refuses an S3 store it cannot use, writing nothing.
# cluster: no -- it reads one node's chunk folder; a deployment's chunks are objects in RGW, keyed the same way (test_chunk_s3)
. "$TESTLIB/common.sh"
require_cmd curl python3 sha256sum

server_start
server_pin_port
user_add alice
space_create demo alice
S=/v1/spaces/demo
json=(-H "Content-Type: application/json")
python3 -c 'import json,sys; print(json.dumps({"login": "alice", "password": open(sys.argv[1]).read().strip()}))' \
	"$T/pw-alice" >"$T/login.json"
login()
{
	code=$(api "$T/r" POST /v1/login "${json[@]}" --data-binary "@$T/login.json")
	check_eq "login" 200 "$code"
	auth=(-H "Authorization: Bearer $(json_get "$T/r" 'j["token"]')")
}
login
head -c 300000 /dev/urandom >"$T/doc"
H=$(sha256sum "$T/doc" | cut -c1-64)
code=$(api "$T/r" PUT "$S/chunks/$H" "${auth[@]}" \
	-H "Content-Type: application/octet-stream" --data-binary "@$T/doc")
check_eq "a 300 KB chunk uploaded" 201 "$code"
printf '{"ops": [{"op": "deposit", "path": "/known.bin", "size": 300000, "sha256": "%s", "chunks": [["%s", 300000]]}]}' \
	"$H" "$H" >"$T/commit.json"
code=$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" --data-binary "@$T/commit.json")
check_eq "deposited as /known.bin" 200 "$code"

C=$D/spaces/demo/chunks
check_eq "one chunk file on disk" 1 "$(find "$C" -mindepth 2 -path "$C/??/*" -type f | wc -l)"
check "no file of the chunk store is named by the content's SHA-256" \
	sh -c '! find "$1" -name "*${2#??}*" | grep -q .' _ "$C" "$H"
check "no file name holds it either way round" \
	sh -c '! find "$1" | grep -q "$2"' _ "$C" "${H:0:16}"
check "the store is marked keyed (chunks/names)" test -f "$C/names"

get_doc()
{
	api "$T/got" GET "$S/chunks/$H" "${auth[@]}"
}
check_eq "the chunk reads back" 200 "$(get_doc)"
check "...byte for byte" cmp -s "$T/doc" "$T/got"
server_stop

# The same directory as coffred wrote it before keyed names.
f=$(find "$C" -mindepth 2 -path "$C/??/*" -type f)
mkdir -p "$C/${H:0:2}"
mv "$f" "$C/${H:0:2}/${H:2}"
rm -f "$C/names"
check "an old layout: the chunk named by its plaintext SHA-256" \
	test -f "$C/${H:0:2}/${H:2}"
server_start
login
check_eq "after an upgrade the old chunk reads back" 200 "$(get_doc)"
check "...byte for byte" cmp -s "$T/doc" "$T/got"
check "...and its plaintext name is gone" test ! -e "$C/${H:0:2}/${H:2}"
check "...renamed to the keyed name" test "$(find "$C" -mindepth 2 -path "$C/??/*" -type f)" = "$f"
check "...the store marked keyed, no migration left" \
	sh -c 'test -f "$1/names" && test ! -e "$1/migrate"' _ "$C"
check "the log says how many chunks were renamed" \
	grep -q "1 chunks renamed to keyed names" "$T/coffred.log"
server_stop
check "coffred fsck is clean after the upgrade" "$COFFRED" fsck "$D"

# fsck alone upgrades an old directory too.
f=$(find "$C" -mindepth 2 -path "$C/??/*" -type f)
mv "$f" "$C/${H:0:2}/${H:2}"
rm -f "$C/names"
check "coffred fsck on an old layout renames and checks it" "$COFFRED" fsck "$D"
check "...the chunk under its keyed name" test -f "$f"

# An S3 store coffred init cannot use: clear errors, nothing written.
printf 'AKEY\nSECRET\n' >"$T/s3.key"
chmod 644 "$T/s3.key"
check "init refuses a key file others can read" \
	sh -c '! "$1" init "$2" --chunks s3://127.0.0.1:9/bucket --s3-key-file "$3" 2>"$4" && grep -q "chmod 600" "$4"' \
	_ "$COFFRED" "$T/s3a" "$T/s3.key" "$T/err"
chmod 600 "$T/s3.key"
check "init refuses a store it cannot reach" \
	sh -c '! "$1" init "$2" --chunks s3://127.0.0.1:9/bucket --s3-key-file "$3" 2>"$4" && grep -q "cannot reach the S3 store" "$4"' \
	_ "$COFFRED" "$T/s3b" "$T/s3.key" "$T/err"
check "init refuses --chunks s3:// without a key file" \
	sh -c '! "$1" init "$2" --chunks s3://127.0.0.1:9/bucket 2>/dev/null' _ "$COFFRED" "$T/s3c"
check "init refuses a malformed store URL" \
	sh -c '! "$1" init "$2" --chunks s3://nohost --s3-key-file "$3" 2>/dev/null' _ "$COFFRED" "$T/s3d" "$T/s3.key"
check "...and none of them wrote anything" \
	sh -c 'for d in s3a s3b s3c s3d; do test ! -e "$1/$d" || exit 1; done' _ "$T"
printf 'chunks = s3://127.0.0.1:9/bucket\n' >>"$D/coffred.conf"
check "coffred.conf with chunks = s3:// but no s3_key_file is refused" \
	sh -c '! "$1" fsck "$2" >/dev/null 2>"$3" && grep -q "go together" "$3"' _ "$COFFRED" "$D" "$T/err"
done_testing
