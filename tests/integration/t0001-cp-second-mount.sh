#!/bin/bash
# A file copied into one mount reaches a second mount of the same space,
# through the server, byte for byte and with its deposit metadata.
. "$TESTLIB/common.sh"

demo_mounts a b

head -c 8M /dev/urandom >"$T/big.bin"
sum=$(sha256_of "$T/big.bin")

check "cp of an 8 MiB file into mount A" cp "$T/big.bin" "$A/big.bin"
check "A reads back what was written" cmp "$T/big.bin" "$A/big.bin"
check "coffre sync --wait A" client_sync a
check_eq "A: user.coffre.state is synced after sync --wait" synced \
	"$(xattr "$A/big.bin" user.coffre.state)"
check_eq "A: user.coffre.pending on the root is 0" 0 \
	"$(xattr "$A" user.coffre.pending)"

check "B sees the file without remounting" wait_for test -f "$B/big.bin"
b_has_content() { [ "$(sha256_of "$B/big.bin")" = "$sum" ]; }
check "B reads the same SHA-256" wait_for b_has_content
check_eq "B: stat size is 8388608" 8388608 "$(stat -c %s "$B/big.bin")"
check_eq "B: ls -l shows size 8388608" 8388608 \
	"$(ls -l "$B" | awk '$NF == "big.bin" { print $5 }')"

check_eq "B: user.coffre.version is 1" 1 "$(xattr "$B/big.bin" user.coffre.version)"
check_eq "B: user.coffre.sha256 is the content hash" "$sum" \
	"$(xattr "$B/big.bin" user.coffre.sha256)"
check_eq "B: user.coffre.deposited_by is alice" alice \
	"$(xattr "$B/big.bin" user.coffre.deposited_by)"
at=$(xattr "$B/big.bin" user.coffre.deposited_at)
check "B: user.coffre.deposited_at is RFC 3339 UTC ($at)" is_rfc3339_utc "$at"
check_eq "B: user.coffre.state is synced" synced \
	"$(xattr "$B/big.bin" user.coffre.state)"
doc=$(xattr "$B/big.bin" user.coffre.doc_id)
check "B: user.coffre.doc_id is 32 hex ($doc)" \
	grep -Eqx '[0-9a-f]{32}' <<<"$doc"
check_eq "A and B agree on the document id" "$doc" \
	"$(xattr "$A/big.bin" user.coffre.doc_id)"
check_eq "A: user.coffre.space on the root is demo" demo \
	"$(xattr "$A" user.coffre.space)"

done_testing
