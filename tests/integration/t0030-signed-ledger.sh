#!/bin/bash
# Provable ledger: every commit is signed by the server's Ed25519 key (stock
# `git verify-commit` with gpg.format=ssh, and `ssh-keygen -Y verify`) and
# timestamped by coffred's TSA (`openssl ts -verify` on the raw commit and
# the token kept in refs/notes/timestamps).  `coffred fsck` passes on the
# clean data directory and fails, naming the damage, on each tampered copy:
# one byte of a chunk changed, a commit rewritten, a note removed, a token
# moved to another commit, an event deleted.
. "$TESTLIB/common.sh"
require_cmd ssh-keygen openssl sqlite3 base64

demo_mounts a
R=$(ledger demo)
G() { git --git-dir "$R" "$@"; }

printf 'first version\n' >"$A/f.txt"
check "sync" client_sync a
printf 'second version\n' >"$A/f.txt"
head -c 700000 /dev/urandom >"$A/big.bin"
check "sync" client_sync a
client_umount a

check "coffred key export --allowed-signers" \
	sh -c '"$1" key export "$2" --allowed-signers >"$3"' _ "$COFFRED" "$D" "$T/signers"
check "the allowed-signers line names coffred@localhost, namespaces git and coffre-statement" \
	grep -Eq '^coffred@localhost namespaces="git,coffre-statement" ssh-ed25519 [A-Za-z0-9+/=]+$' "$T/signers"
check "coffred key export --tsa-ca" \
	sh -c '"$1" key export "$2" --tsa-ca >"$3"' _ "$COFFRED" "$D" "$T/ca.pem"
check "the CA is an X.509 certificate" openssl x509 -in "$T/ca.pem" -noout
check "key export refuses an unknown key" \
	sh -c '! "$1" key export "$2" --nope 2>/dev/null' _ "$COFFRED" "$D"

VC() {
	git --git-dir "$1" -c gpg.format=ssh \
		-c gpg.ssh.allowedSignersFile="$T/signers" verify-commit "$2"
}

# Every commit of main, the space's creation included.
G rev-list main >"$T/commits"
check "the ledger holds at least three commits" \
	test "$(wc -l <"$T/commits")" -ge 3
bad=0
while read -r c; do
	VC "$R" "$c" >/dev/null 2>&1 || { bad=1; echo "# verify-commit $c failed"; }
done <"$T/commits"
check_eq "git verify-commit passes on every commit" 0 $bad
check "git verify-commit says the signature is good" \
	sh -c 'git --git-dir "$1" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$2" verify-commit main 2>&1 | grep -q "Good \"git\" signature for coffred@localhost"' _ "$R" "$T/signers"

# ssh-keygen on its own: signature out of the header, signed data without it.
H=$(G rev-parse main)
G cat-file commit "$H" >"$T/raw"
awk '/^gpgsig /{s=1; sub(/^gpgsig /,""); print; next}
     s && /^ /{sub(/^ /,""); print; if ($0 ~ /END SSH SIGNATURE/) s=0; next}
     {s=0}' "$T/raw" >"$T/sig"
awk '/^gpgsig /{s=1; next} s && /^ /{next} {s=0; print}' "$T/raw" >"$T/signed"
check "ssh-keygen -Y verify accepts the commit signature" \
	sh -c 'ssh-keygen -Y verify -f "$1" -I coffred@localhost -n git -s "$2" <"$3"' \
	_ "$T/signers" "$T/sig" "$T/signed"
printf 'x' >>"$T/signed"
check "ssh-keygen -Y verify refuses changed data" \
	sh -c '! ssh-keygen -Y verify -f "$1" -I coffred@localhost -n git -s "$2" <"$3"' \
	_ "$T/signers" "$T/sig" "$T/signed"

# Timestamps.
bad=0
while read -r c; do
	G cat-file commit "$c" >"$T/c"
	G notes --ref=timestamps show "$c" 2>/dev/null | base64 -d >"$T/t.tsr"
	openssl ts -verify -data "$T/c" -in "$T/t.tsr" -CAfile "$T/ca.pem" \
		>/dev/null 2>&1 || { bad=1; echo "# ts -verify $c failed"; }
done <"$T/commits"
check_eq "openssl ts -verify accepts the token of every commit" 0 $bad
G cat-file commit "$H" >"$T/ch"
G notes --ref=timestamps show "$H" | base64 -d >"$T/th.tsr"
check "the head's token is over the SHA-256 of the raw commit" \
	sh -c 'openssl ts -verify -digest "$(sha256sum <"$1" | cut -d" " -f1)" -in "$2" -CAfile "$3"' \
	_ "$T/ch" "$T/th.tsr" "$T/ca.pem"
first=$(tail -n 1 "$T/commits")
G cat-file commit "$first" >"$T/c0"
check "openssl ts -verify refuses a token against another commit" \
	sh -c '! openssl ts -verify -data "$1" -in "$2" -CAfile "$3" >/dev/null 2>&1' \
	_ "$T/c0" "$T/th.tsr" "$T/ca.pem"
check "openssl ts -verify refuses a token with another CA" \
	sh -c '! openssl ts -verify -data "$1" -in "$2" -CAfile "$3" >/dev/null 2>&1' \
	_ "$T/ch" "$T/th.tsr" "$CACERT"

server_stop
check "coffred fsck passes on the clean data directory" \
	"$COFFRED" fsck "$D"
check "coffred fsck SPACE passes" "$COFFRED" fsck "$D" demo
check "coffred fsck refuses an unknown space" \
	sh -c '! "$1" fsck "$2" nope' _ "$COFFRED" "$D"

# What follows tampers with copies of the data directory, which holds
# every store of one node only (a deployment's are PostgreSQL's and RGW's).
one_node || done_testing

# One byte of a chunk.
X=$(data_copy chunk)
chunk=$(find "$X/spaces/demo/chunks" -type f -size +100k | head -n 1)
python3 - "$chunk" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 1
open(p, 'wb').write(b)
PY
check "fsck: one byte of a chunk changed is found" fsck_fails "$X" "chunk "
check "fsck: ...and the version holding it is named" fsck_fails "$X" "/big.bin"

# A commit rewritten (its message changed, its signature kept).
X=$(data_copy commit)
XR=$X/spaces/demo/ledger.git
new=$(git --git-dir "$XR" cat-file commit main | sed 's/^Coffre-Client: /Coffre-Client: x/' |
	git --git-dir "$XR" hash-object -t commit -w --stdin)
git --git-dir "$XR" update-ref refs/heads/main "$new"
check "git verify-commit refuses the rewritten commit" \
	sh -c '! git --git-dir "$1" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$2" verify-commit main 2>/dev/null' \
	_ "$XR" "$T/signers"
check "fsck: a rewritten commit is found" fsck_fails "$X" "signature"

# A note removed.
X=$(data_copy note)
git --git-dir "$X/spaces/demo/ledger.git" notes --ref=timestamps remove "$H" 2>/dev/null
check "fsck: a removed timestamp note is found" fsck_fails "$X" "no timestamp note"

# A token moved onto another commit.
X=$(data_copy moved)
git --git-dir "$X/spaces/demo/ledger.git" notes --ref=timestamps copy -f "$first" "$H" 2>/dev/null
check "fsck: a token moved to another commit is found" fsck_fails "$X" "time-stamp token does not verify"

# An event deleted from the journal.
X=$(data_copy event)
n=$(sqlite3 "$X/index.db" "SELECT count(*) FROM events WHERE space = 'demo'")
check "the journal of the space holds events" test "${n:-0}" -ge 2
sqlite3 "$X/index.db" "DELETE FROM events WHERE space = 'demo' AND seq = (SELECT min(seq) FROM events WHERE space = 'demo') + 1"
check "fsck: a deleted event is found" fsck_fails "$X" "event chain"

# An index row naming a commit the ledger does not hold.
X=$(data_copy index)
sqlite3 "$X/index.db" "UPDATE versions SET \"commit\" = '0123456789012345678901234567890123456789' WHERE space = 'demo'"
check "fsck: an indexed version missing from the ledger is found" \
	fsck_fails "$X" "not in the ledger"

done_testing
