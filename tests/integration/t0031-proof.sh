#!/bin/bash
# `coffre verify` checks a version step by step, and `coffre proof` exports
# it for a third party: running the proof's own VERIFY.txt (stock git,
# ssh-keygen's format and openssl only) passes on a clean proof and fails
# on each tampered copy: one byte of the content, the manifest, a commit of
# the bundle rewritten, a token removed or taken from another commit.
. "$TESTLIB/common.sh"
require_cmd openssl base64

demo_mounts a

mkdir -p "$A/dossier"
printf 'contract, first draft\n' >"$A/dossier/contract.txt"
check "sync" client_sync a
head -c 1500000 /dev/urandom >"$T/v2"
cp "$T/v2" "$A/dossier/contract.txt"
check "sync" client_sync a
printf 'other\n' >"$A/other.txt"
check "sync" client_sync a

P=$A/dossier/contract.txt
check "alice signs v2 as author" \
	cf a sign "$P" --as author --password-file "$T/pw-alice"
check "alice signs v1 as recipient" \
	cf a sign "$P" --as recipient --version 1 --password-file "$T/pw-alice"
check "coffre verify passes on the current version" \
	sh -c '"$1" --config "$2" verify "$3" >"$4" 2>&1' _ "$COFFRE" "$(cfg_of a)" "$P" "$T/verify.out"
check "it prints each step with OK" \
	sh -c 'for s in "content -> manifest" "manifest -> ledger commit" "commit signatures" "timestamps"; do grep -q "^$s.* OK$" "$1" || exit 1; done' _ "$T/verify.out"
check "it checks alice's signature" grep -q "^signature alice (author) .* OK$" "$T/verify.out"
check "the server's keys are pinned in the config" \
	test -s "$(cfg_of a)/trust/allowed_signers"
check "coffre verify --version 1 passes" \
	cf a verify "$P" --version 1
# Progress on standard error: off when it is no terminal, forced on with
# --progress (one line per redraw then), the bytes of the version's size.
cf a verify "$P" >/dev/null 2>"$T/quiet.err"
check "no progress line when standard error is no terminal" \
	sh -c '! grep -q "^verify: " "$1"' _ "$T/quiet.err"
cf a verify "$P" --progress >/dev/null 2>"$T/progress.err"
check "--progress shows the bytes hashed of the version's size" \
	grep -Eq "^verify: [0-9.]+ [KMG]?i?B of [0-9.]+ [KMG]?i?B, " "$T/progress.err"
check "and coffre proof --progress too" sh -c \
	'"$1" --config "$2" proof "$3" --out "$4" --progress 2>&1 >/dev/null | grep -q "^proof: "' \
	_ "$COFFRE" "$(cfg_of a)" "$P" "$T/proof-progress"
check "--progress and --quiet together: usage (exit 2)" sh -c \
	'"$1" --config "$2" verify "$3" --progress --quiet >/dev/null 2>&1; [ $? -eq 2 ]' _ "$COFFRE" "$(cfg_of a)" "$P"
check "coffre verify --version 9 fails: no such version" \
	sh -c '! "$1" --config "$2" verify "$3" --version 9 2>/dev/null' _ "$COFFRE" "$(cfg_of a)" "$P"
check "coffre verify refuses a path off the drive" \
	sh -c '! "$1" --config "$2" verify "$3" 2>/dev/null' _ "$COFFRE" "$(cfg_of a)" "$T/v2"
cp "$(cfg_of a)/trust/allowed_signers" "$T/pinned"
sed -i 's/ssh-ed25519 AAAA/ssh-ed25519 AAAB/' "$(cfg_of a)/trust/allowed_signers"
check "coffre verify fails when the server's key is not the pinned one" \
	sh -c '! "$1" --config "$2" verify "$3" >"$4" && grep -q "differs from the one pinned" "$4"' \
	_ "$COFFRE" "$(cfg_of a)" "$P" "$T/verify2.out"
cp "$T/pinned" "$(cfg_of a)/trust/allowed_signers"

O=$T/proof
check "coffre proof --out DIR" cf a proof "$P" --out "$O"
for f in content manifest.txt ledger.bundle allowed_signers tsa-ca.pem VERIFY.txt; do
	check "the proof holds $f" test -s "$O/$f"
done
check "the content is the current version" cmp "$O/content" "$T/v2"
check "the proof's allowed_signers is the server's published one" \
	sh -c '"$1" key export "$2" --allowed-signers | cmp - "$3"' _ "$COFFRED" "$D" "$O/allowed_signers"
check "the proof's CA is the server's published one" \
	sh -c '"$1" key export "$2" --tsa-ca | cmp - "$3"' _ "$COFFRED" "$D" "$O/tsa-ca.pem"
check "git bundle verify accepts the bundle" \
	sh -c 'git init -q --bare "$1/empty.git" && git --git-dir="$1/empty.git" bundle verify "$2"' _ "$T" "$O/ledger.bundle"
check "sh VERIFY.txt passes on the clean proof" \
	sh -c 'sh "$1/VERIFY.txt" >"$2" 2>&1' _ "$O" "$T/verify-txt.out"
check "VERIFY.txt ends with 'all checks passed'" \
	grep -qx 'all checks passed' "$T/verify-txt.out"
check "VERIFY.txt runs git verify-commit, openssl ts -verify and openssl cms -verify" \
	sh -c 'grep -q "verify-commit" "$1" && grep -q "openssl ts -verify" "$1" && grep -q "openssl cms -verify" "$1"' _ "$O/VERIFY.txt"
check "the proof holds alice's signature and its token" \
	test -s "$O/signatures/alice.author.p7s" -a -s "$O/signatures/alice.author.tsr"
check "the cloned bundle's commits pass git verify-commit" \
	git --git-dir="$O/ledger.git" -c gpg.format=ssh \
	-c gpg.ssh.allowedSignersFile="$O/allowed_signers" verify-commit HEAD
check "coffre proof refuses a directory that is not empty" \
	sh -c '! "$1" --config "$2" proof "$3" --out "$4" 2>/dev/null' _ "$COFFRE" "$(cfg_of a)" "$P" "$O"
check "coffre proof --version 1" cf a proof "$P" --out "$T/proof1" --version 1
check "version 1's content is the first draft" \
	grep -qx 'contract, first draft' "$T/proof1/content"
check "sh VERIFY.txt passes on version 1's proof" sh "$T/proof1/VERIFY.txt"

# tampered NAME: a fresh copy of the clean proof to damage.
tampered() {
	rm -rf "${T:?}/$1"
	cp -a "$O" "$T/$1"
	rm -rf "$T/$1/ledger.git" "$T/$1/commits"
	echo "$T/$1"
}
X=$(tampered content)
python3 - "$X/content" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[12345] ^= 1
open(p, 'wb').write(b)
PY
check "VERIFY.txt fails when one byte of the content changed" \
	sh -c '! sh "$1/VERIFY.txt" >/dev/null 2>&1' _ "$X"

X=$(tampered manifest)
sed -i 's/^deposited-by alice$/deposited-by mallory/' "$X/manifest.txt"
check "VERIFY.txt fails when the manifest is edited" \
	sh -c '! sh "$1/VERIFY.txt" >/dev/null 2>&1' _ "$X"

X=$(tampered token)
C=$(sed -n 's/^C=//p' "$O/VERIFY.txt")
rm -f "$X/timestamps/$C.tsr"
check "VERIFY.txt fails when a token is missing" \
	sh -c '! sh "$1/VERIFY.txt" >/dev/null 2>&1' _ "$X"

X=$(tampered moved)
for other in "$O"/timestamps/*.tsr; do
	[ "$other" != "$O/timestamps/$C.tsr" ] && break
done
cp "$other" "$X/timestamps/$C.tsr"
check "VERIFY.txt fails when a token comes from another commit" \
	sh -c '! sh "$1/VERIFY.txt" >/dev/null 2>&1' _ "$X"

# A signature moved to another version: v1's recipient signature in v2's
# proof, under the name v2's check expects.
X=$(tampered sigmoved)
cp "$T/proof1/signatures/alice.recipient.p7s" "$X/signatures/alice.author.p7s"
cp "$T/proof1/signatures/alice.recipient.tsr" "$X/signatures/alice.author.tsr"
check "VERIFY.txt fails when a signature is moved from another version" \
	sh -c '! sh "$1/VERIFY.txt" >/dev/null 2>&1' _ "$X"

X=$(tampered sigtoken)
cp "$T/proof1/signatures/alice.recipient.tsr" "$X/signatures/alice.author.tsr"
check "VERIFY.txt fails when a signature's token is another's" \
	sh -c '! sh "$1/VERIFY.txt" >/dev/null 2>&1' _ "$X"

# A bundle whose tip commit was rewritten (message changed, signature kept).
X=$(tampered bundle)
git clone -q --bare "$O/ledger.bundle" "$T/rw.git"
new=$(git --git-dir="$T/rw.git" cat-file commit HEAD |
	sed 's/^Coffre-Client: /Coffre-Client: x/' |
	git --git-dir="$T/rw.git" hash-object -t commit -w --stdin)
git --git-dir="$T/rw.git" update-ref refs/heads/main "$new"
rm -f "$X/ledger.bundle"
git --git-dir="$T/rw.git" bundle create "$X/ledger.bundle" main 2>/dev/null
sed -i "s/$C/$new/g" "$X/VERIFY.txt"
cp "$O/timestamps/$C.tsr" "$X/timestamps/$new.tsr"
check "VERIFY.txt fails on a bundle with a rewritten commit" \
	sh -c '! sh "$1/VERIFY.txt" >/dev/null 2>&1' _ "$X"

client_umount a
server_stop
done_testing
