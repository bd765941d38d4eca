#!/bin/bash
# `coffre export`: all my data, whenever I want, as a person would use it.
# An owner deposits through the drive (three saves of one file, a binary,
# a confidential folder, an e-signature), exports, and checks every
# version byte for byte, the journal, the ledger bundle with stock git and
# SHA256SUMS with sha256sum; an export killed mid-way leaves no torn file
# and a second run fetches only what is missing; an intervenant's export
# holds only their folder and no ledger, no confidential name anywhere;
# then the server's data directory is deleted and the export alone still
# holds every version and every event.
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"
require_fuse
require_cmd git sha256sum jq

server_init
user_add alice
user_add carol
space_create demo alice
server_start
client_login alice alice
client_login carol carol
check "carol is made an intervenant" cf alice member add demo carol --role intervenant
check "and joins" cf carol accept demo

client_mount alice demo
A=$(mnt_of alice)
mkdir -p "$T/orig"
mkdir "$A/Shared" "$A/Secret"
setfattr -n user.coffre.class -v confidential "$A/Secret"
for v in 1 2 3; do
	printf 'letter version %s\n' "$v" >"$T/orig/letter-v$v"
	cp "$T/orig/letter-v$v" "$A/letter.txt"
done
head -c 3000000 /dev/urandom >"$T/orig/photo.bin"
cp "$T/orig/photo.bin" "$A/Shared/photo.bin"
printf 'shared notes\n' >"$T/orig/notes.txt"
cp "$T/orig/notes.txt" "$A/Shared/notes.txt"
printf 'the secret plan\n' >"$T/orig/plan.txt"
cp "$T/orig/plan.txt" "$A/Secret/plan.txt"
head -c 24000000 /dev/urandom >"$T/orig/big.bin"
cp "$T/orig/big.bin" "$A/Shared/big.bin"
check "the drive sends it all" client_sync alice
check "carol may read /Shared" cf alice grant "$A/Shared" carol read
check "alice signs the letter" cf alice sign "$A/letter.txt" --as author \
	--password-file "$T/pw-alice"
client_umount alice

E=$T/export
check "coffre export as the owner" cf alice export demo --out "$E" --quiet
check_eq "the current letter at its path" "$(cat "$T/orig/letter-v3")" "$(cat "$E/files/letter.txt")"
for v in 1 2 3; do
	check "letter v$v under .versions, byte for byte" \
		cmp "$T/orig/letter-v$v" "$E/files/.versions/letter.txt/v$v.txt"
done
check "the photo" cmp "$T/orig/photo.bin" "$E/files/Shared/photo.bin"
check "the confidential plan (owners read it)" cmp "$T/orig/plan.txt" "$E/files/Secret/plan.txt"
check "the big file" cmp "$T/orig/big.bin" "$E/files/Shared/big.bin"
check_eq "versions.jsonl: one line per version (3 + 4 documents)" 7 "$(wc -l <"$E/versions.jsonl")"
check "each with its manifest and commit" \
	jq -e -s 'all(.manifest != null and (.commit | length) == 40)' "$E/versions.jsonl"
check "SHA256SUMS checks with sha256sum" sh -c 'cd "$1" && sha256sum --quiet -c SHA256SUMS' _ "$E"
check "the signature is in signatures.jsonl" \
	jq -e -s 'length == 1 and .[0].login == "alice" and .[0].role == "author" and (.[0].cms | length) > 100' "$E/signatures.jsonl"
check "git bundle verify ledger.bundle" git bundle verify -q "$E/ledger.bundle"
check "git clone --bare of it" git clone -q --bare "$E/ledger.bundle" "$T/ledger.git"
check_eq "its main is the server's" "$(git --git-dir "$(ledger demo)" rev-parse main)" \
	"$(git --git-dir "$T/ledger.git" rev-parse main)"
check "the keys that check it" test -s "$E/keys/allowed_signers"
check "git verify-commit with them" git --git-dir "$T/ledger.git" -c gpg.format=ssh \
	-c gpg.ssh.allowedSignersFile="$E/keys/allowed_signers" verify-commit main
check "VERIFY.txt says how" grep -q "sha256sum -c SHA256SUMS" "$E/VERIFY.txt"
EVENTS=$(index_sql "SELECT count(*) FROM events WHERE space = 'demo' AND kind <> 'read'")
check_eq "events.jsonl holds the journal's events" "$EVENTS" \
	"$(jq -s '[.[] | select(.kind != "read")] | length' "$E/events.jsonl")"

# --- resumed: only what is missing or not whole is fetched ----------------------
rm "$E/files/Shared/photo.bin"
printf 'torn' >"$E/files/.versions/letter.txt/v2.txt"
cf alice export demo --out "$E" --quiet >"$T/again" 2>&1
check_eq "a second run: exit 0" 0 "$?"
check "it fetched the two and kept the rest" grep -q "12 files, 2 fetched, 10 already there" "$T/again"
check "the photo is back" cmp "$T/orig/photo.bin" "$E/files/Shared/photo.bin"
check "v2 is whole again" cmp "$T/orig/letter-v2" "$E/files/.versions/letter.txt/v2.txt"

# --- killed mid-way: no torn file, and the next run completes ----------------------
K=$T/killed
# coffre itself in the background (not through a shell function), so
# that the kill reaches it
"$COFFRE" --config "$(cfg_of alice)" export demo --out "$K" --quiet >/dev/null 2>&1 &
kpid=$!
for ((i = 0; i < 100; i++)); do
	[ -n "$(find "$K/files" -name '*.part' 2>/dev/null)" ] && break
	sleep 0.02
done
kill -KILL "$kpid" 2>/dev/null
wait "$kpid" 2>/dev/null
bad=0
while read -r sum file; do
	[ -f "$K/$file" ] || continue
	[ "$(sha256sum <"$K/$file" | cut -d' ' -f1)" = "$sum" ] || bad=$((bad + 1))
done < <(jq -r '.sha256 + " " + .file' "$E/versions.jsonl")
check_eq "after a kill, every file there is whole (the rest is .part or absent)" 0 "$bad"
check "the next run completes it" cf alice export demo --out "$K" --quiet
check "and SHA256SUMS checks" sh -c 'cd "$1" && sha256sum --quiet -c SHA256SUMS' _ "$K"
check "no .part left" sh -c '[ -z "$(find "$1" -name "*.part")" ]' _ "$K"
# Another export holding the folder (its lock taken by flock(1) here).
flock "$K/.export.lock" sleep 3 &
lpid=$!
sleep 0.3
cf alice export demo --out "$K" --quiet >"$T/two" 2>&1
check_eq "an export into a folder another export holds: exit 1" 1 "$?"
check "saying the other one runs" grep -q "another export into .* is running" "$T/two"
wait "$lpid"

# --- an intervenant's export: what they read, nothing more ------------------------
C=$T/carol
check "coffre export as the intervenant" cf carol export demo --out "$C" --quiet
check "the shared photo" cmp "$T/orig/photo.bin" "$C/files/Shared/photo.bin"
check "no letter (at the root, not granted)" test ! -e "$C/files/letter.txt"
check "no ledger for a non-owner" test ! -e "$C/ledger.bundle"
check "VERIFY.txt says why" grep -q "no ledger" "$C/VERIFY.txt"
check "no confidential name anywhere in it" sh -c '! grep -rq -e Secret -e plan.txt -e "secret plan" "$1"' _ "$C"
check "nor the letter's name" sh -c '! grep -rq letter "$1"' _ "$C"
check_eq "with curl, carol's token gets 403 for the ledger" 403 \
	"$(api "$T/l.json" GET /v1/spaces/demo/ledger -H "Authorization: Bearer $(token_of carol)")"
check_eq "bad input: an unknown space, exit 1" 1 \
	"$(cf alice export nosuch --out "$T/x" --quiet >/dev/null 2>&1; echo $?)"
check_eq "no --out: usage, exit 2" 2 "$(cf alice export demo >/dev/null 2>&1; echo $?)"

# --- the server is gone: the export holds everything -------------------------------
server_stop
rm -rf "$D"
check "the data directory is deleted" test ! -e "$D"
for v in 1 2 3; do
	check "letter v$v survives in the export" \
		cmp "$T/orig/letter-v$v" "$E/files/.versions/letter.txt/v$v.txt"
done
for f in photo.bin big.bin notes.txt; do
	check "$f survives" cmp "$T/orig/$f" "$E/files/Shared/$f"
done
check "the plan survives" cmp "$T/orig/plan.txt" "$E/files/Secret/plan.txt"
check "SHA256SUMS still checks, offline" sh -c 'cd "$1" && sha256sum --quiet -c SHA256SUMS' _ "$E"
check "the ledger verifies offline" git bundle verify -q "$E/ledger.bundle"
check_eq "every event is in it" "$EVENTS" \
	"$(jq -s '[.[] | select(.kind != "read")] | length' "$E/events.jsonl")"
done_testing
