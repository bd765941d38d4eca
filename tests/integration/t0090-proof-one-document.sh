#!/bin/bash
# The proof of a document given to a trusted person
# limited to one folder discloses that document alone.  The proof carries
# no git bundle (which held the whole tree: every name, every manifest
# with its chunk ids, .coffre-access), only the version's deposit
# statement, signed by the ledger key and timestamped; its VERIFY.txt
# checks it with stock ssh-keygen, openssl and coreutils, and fails on each
# tampered copy.  Owners still get the ledger's history.  A version
# deposited before statements existed gets one on demand, saying so, kept
# in the signed ledger and the same at the next proof.
. "$TESTLIB/common.sh"
require_cmd curl openssl ssh-keygen base64

demo_logins a
user_add tom
client_mount a demo
A=$(mnt_of a)

# The tree: the folder tom may read, a confidential one, a restricted one.
mkdir -p "$A/Dossier" "$A/Secret" "$A/Other"
printf 'contract, first draft\n' >"$A/Dossier/contract.txt"
check "sync" client_sync a
check "/Secret is confidential" setfattr -n user.coffre.class -v confidential "$A/Secret"
head -c 1500000 /dev/urandom >"$T/v2"
cp "$T/v2" "$A/Dossier/contract.txt"
head -c 600000 /dev/urandom >"$T/salaries"
printf 'alice 100\nbob 90\n' >>"$T/salaries"
cp "$T/salaries" "$A/Secret/salaries.txt"
printf 'the plan\n' >"$A/Other/plan.txt"
check "sync" client_sync a
check "tom is invited as a trusted person" cf a member add demo tom --role trusted
client_login b tom
check "tom accepts" cf b accept demo
check "limited to /Dossier" cf a grant "$A/Dossier" tom read

# What must not leak: the other documents' names, doc ids, chunk ids and
# manifests' hashes, and the access file's lines.
TA=$(token_of a)
secret_id=$(xattr "$A/Secret/salaries.txt" user.coffre.doc_id)
plan_id=$(xattr "$A/Other/plan.txt" user.coffre.doc_id)
check "the owner reads the hidden documents' ids" test -n "$secret_id" -a -n "$plan_id"
: >"$T/forbidden"
for id in "$secret_id" "$plan_id"; do
	api "$T/v.json" GET "/v1/spaces/demo/docs/$id/versions/1" \
		-H "Authorization: Bearer $TA" >/dev/null
	echo "$id" >>"$T/forbidden"
	json_get "$T/v.json" '"\n".join(c[0] for c in j["chunks"])' >>"$T/forbidden"
	json_get "$T/v.json" 'j["manifest"]' >"$T/m"
	sha256_of "$T/m" >>"$T/forbidden"
done
printf '%s\n' Secret salaries Other plan.txt coffre-access coffre-folder \
	"member alice" "grant tom" >>"$T/forbidden"
check "the secret's manifest names chunks" \
	test "$(wc -l <"$T/forbidden")" -ge 12

client_mount b demo
B=$(mnt_of b)
check "tom sees /Dossier only" test "$(ls "$B")" = Dossier
P=$B/Dossier/contract.txt
O=$T/proof
check "tom: coffre proof" cf b proof "$P" --out "$O"
check "the proof holds the statement, its signature and token" \
	test -s "$O/statement.txt" -a -s "$O/statement.sig" -a -s "$O/statement.tsr"
check "tom's proof holds no ledger bundle and no commit token" \
	test ! -e "$O/ledger.bundle" -a ! -e "$O/timestamps"

# leaks DIR: the forbidden strings found in any file under DIR (binary
# files included: tokens, signatures), and any git object, pack or bundle.
leaks()
{
	local w f
	while read -r w; do
		grep -rlaF -- "$w" "$1" | sed "s|^|$w in |"
	done <"$T/forbidden"
	find "$1" -type f | while read -r f; do
		case $(head -c 16 "$f" | tr -d '\0') in
		PACK* | "# v2 git bundle"* | "# v3 git bundle"*) echo "git data: $f" ;;
		esac
	done
	find "$1" -path '*objects/*' -o -name '*.pack' -o -name '*.idx' -o -name '*.git'
}

# git_leaks DIR: the forbidden strings in the objects of every git bundle
# under DIR (a bundle's pack is compressed: grep alone would not see them).
git_leaks()
{
	local f g n=0
	find "$1" -type f -name '*.bundle' | while read -r f; do
		n=$((n + 1))
		g=$T/unpacked-$n.git
		rm -rf "$g"
		git clone -q --bare "$f" "$g" 2>/dev/null || continue
		git --git-dir="$g" cat-file --batch-all-objects --batch >"$g.objects"
		grep -aFf "$T/forbidden" -o "$g.objects" | sort -u
	done
}
check_eq "no other name, doc id, chunk id, manifest or access line in tom's proof" \
	"" "$(leaks "$O")"
check "sh VERIFY.txt passes with stock tools" \
	sh -c 'sh "$1/VERIFY.txt" >"$2" 2>&1' _ "$O" "$T/verify-txt.out"
check "VERIFY.txt ends with 'all checks passed'" grep -qx 'all checks passed' "$T/verify-txt.out"
check "VERIFY.txt runs ssh-keygen -Y verify and openssl ts -verify on the statement" \
	sh -c 'grep -q "ssh-keygen -Y verify .* -n coffre-statement -s statement.sig <statement.txt" "$1" &&
		grep -q "openssl ts -verify -data statement.txt -in statement.tsr" "$1"' _ "$O/VERIFY.txt"
check_eq "nothing more after running it: still no leak" "" "$(leaks "$O")"
check "the proof's keys are the server's published ones" \
	sh -c '"$1" key export "$2" --allowed-signers | cmp - "$3/allowed_signers" &&
		"$1" key export "$2" --tsa-ca | cmp - "$3/tsa-ca.pem"' _ "$COFFRED" "$D" "$O"
st() { sed -n "s/^$1 //p" "$O/statement.txt"; }
S=$(sed -n 's/^S=//p' "$O/VERIFY.txt")
check "tom sees /Dossier: VERIFY.txt gives the path's salt" test "${#S}" = 64
check_eq "the statement commits to the path: SHA-256 of 'SALT PATH'" \
	"$(printf '%s %s' "$S" /Dossier/contract.txt | sha256sum | cut -d' ' -f1)" "$(st path-sha256)"
check_eq "and does not name it" "" "$(st path)"
check_eq "a statement of format 2" "coffre-statement 2" "$(head -n 1 "$O/statement.txt")"
check_eq "the document" "$(xattr "$P" user.coffre.doc_id)" "$(st doc)"
check_eq "the version" 2 "$(st version)"
check_eq "the content's sha256" "$(sha256_of "$T/v2")" "$(st sha256)"
check_eq "the depositor" alice "$(st deposited-by)"
check_eq "made at deposit" at-deposit "$(st made)"
check "the commit, which main holds" \
	git --git-dir="$(ledger demo)" merge-base --is-ancestor "$(st commit)" main
check "the statement is in the ledger, on refs/coffre/statements" \
	sh -c 'git --git-dir="$1" cat-file blob "refs/coffre/statements:$2/2.txt" | cmp - "$3"' \
	_ "$(ledger demo)" "$(st doc)" "$O/statement.txt"
check "its commit is signed by the ledger key" \
	git --git-dir="$(ledger demo)" -c gpg.format=ssh \
	-c gpg.ssh.allowedSignersFile="$O/allowed_signers" verify-commit refs/coffre/statements
check "the statements' commits name no path" \
	sh -c '! git --git-dir="$1" log --format=%B refs/coffre/statements | grep -q /' _ "$(ledger demo)"
check "a statement's signature is no git signature (namespaces apart)" \
	sh -c '! ssh-keygen -Y verify -f "$1/allowed_signers" -I coffred@localhost -n git -s "$1/statement.sig" <"$1/statement.txt" >/dev/null 2>&1' _ "$O"

# The server's answer itself, fetched as tom with curl.
TT=$(token_of b)
DOC=$(st doc)
check_eq "tom: GET proof, 200" 200 "$(api "$T/proof.json" GET \
	"/v1/spaces/demo/docs/$DOC/versions/2/proof" -H "Authorization: Bearer $TT")"
check_eq "the answer has no bundle and no chain" "False False" \
	"$(json_get "$T/proof.json" '"%s %s" % ("bundle" in j, "chain" in j)')"
mkdir -p "$T/answer"
cp "$T/proof.json" "$T/answer/"
check_eq "nor any forbidden string" "" "$(leaks "$T/answer")"
check_eq "tom: GET the secret's proof, 404 as for no document" 404 \
	"$(api "$T/r" GET "/v1/spaces/demo/docs/$secret_id/versions/1/proof" -H "Authorization: Bearer $TT")"
check_eq "with the same text as an unknown one" \
	"$(api "$T/r2" GET "/v1/spaces/demo/docs/0123456789abcdef0123456789abcdef/versions/1/proof" \
		-H "Authorization: Bearer $TT" >/dev/null; json_get "$T/r2" 'j["error"]["code"]')" \
	"$(json_get "$T/r" 'j["error"]["code"]')"

check "tom: coffre verify" sh -c '"$1" --config "$2" verify "$3" >"$4" 2>&1' \
	_ "$COFFRE" "$(cfg_of b)" "$P" "$T/verify.out"
check "it checks the statement step by step" \
	sh -c 'for s in "content -> manifest" "statement signature" "statement timestamp" "statement -> manifest"; do grep -q "^$s.* OK$" "$1" || exit 1; done' _ "$T/verify.out"
check "and says the history is for owners" grep -q "^ledger history .*owners only" "$T/verify.out"
sed -i 's/namespaces="git,coffre-statement"/namespaces="git"/' "$(cfg_of b)/trust/allowed_signers"
check "a key pinned before statements (namespace git only) still matches" cf b verify "$P"
check "tom: coffre proof --version 1" cf b proof "$P" --out "$T/proof1" --version 1
check "its VERIFY.txt passes" sh "$T/proof1/VERIFY.txt"

# tampered NAME: a fresh copy of tom's proof to damage.
tampered()
{
	rm -rf "${T:?}/$1"
	cp -a "$O" "$T/$1"
	echo "$T/$1"
}
fails() { ! sh "$1/VERIFY.txt" >/dev/null 2>&1; }
X=$(tampered content)
printf 'x' >>"$X/content"
check "VERIFY.txt fails on changed content" fails "$X"
X=$(tampered manifest)
sed -i 's/^deposited-by alice$/deposited-by mallory/' "$X/manifest.txt"
check "VERIFY.txt fails on an edited manifest" fails "$X"
X=$(tampered stmt)
sed -i 's/^deposited-by alice$/deposited-by mallory/' "$X/statement.txt"
check "VERIFY.txt fails on an edited statement" fails "$X"
X=$(tampered stmtv1)
cp "$T/proof1/statement.txt" "$T/proof1/statement.sig" "$T/proof1/statement.tsr" "$X/"
check "VERIFY.txt fails on version 1's statement (signed, but another version)" fails "$X"
X=$(tampered sig)
cp "$T/proof1/statement.sig" "$X/"
check "VERIFY.txt fails on another statement's signature" fails "$X"
X=$(tampered tsr)
cp "$T/proof1/statement.tsr" "$X/"
check "VERIFY.txt fails on another statement's token" fails "$X"
X=$(tampered key)
ssh-keygen -q -t ed25519 -N '' -f "$T/k" >/dev/null
echo "coffred@localhost namespaces=\"git,coffre-statement\" $(cut -d' ' -f1-2 "$T/k.pub")" >"$X/allowed_signers"
ssh-keygen -q -Y sign -f "$T/k" -n coffre-statement "$X/statement.txt" 2>/dev/null
mv "$X/statement.txt.sig" "$X/statement.sig"
check "VERIFY.txt, run against the server's published key, fails on a statement signed by another key" \
	sh -c 'cd "$1" && ! ssh-keygen -Y verify -f "$2" -I coffred@localhost -n coffre-statement -s statement.sig <statement.txt >/dev/null 2>&1' \
	_ "$X" "$O/allowed_signers"

# The owner's proof still carries the history, and passes.
check "alice: coffre proof" cf a proof "$A/Dossier/contract.txt" --out "$T/owner"
check "alice's proof has the ledger bundle" test -s "$T/owner/ledger.bundle"
# The searches find what they look for: the owner may read the whole space,
# and the objects of the bundle hold the hidden names, manifests and
# access lines that tom's proof left out.
check "the same search finds the bundle in the owner's proof" \
	sh -c 'test -n "$1"' _ "$(leaks "$T/owner")"
git_leaks "$T/owner" >"$T/owner-leaks"
check "and in its git objects: the secret's name, doc id, chunk ids, the access file" \
	sh -c 'for w in salaries Secret "$2" "$3" coffre-access "member alice"; do grep -qxF -- "$w" "$1" || { echo "missing $w"; exit 1; }; done' \
	_ "$T/owner-leaks" "$secret_id" "$(sed -n 2p "$T/forbidden")"
check_eq "tom's proof has no git object to search" "" "$(git_leaks "$O")"
check "and the same statement as tom's" cmp "$T/owner/statement.txt" "$O/statement.txt"
check "its VERIFY.txt passes (statement and history)" \
	sh -c 'sh "$1/VERIFY.txt" >"$2" 2>&1 && grep -q "ledger bundle" "$2" && grep -q "deposit statement" "$2"' \
	_ "$T/owner" "$T/owner.out"

# A document moved out of a confidential folder, as proofs meet it: a memo deposited in /Secret, then
# moved by alice into /Dossier, opens to tom there (the version current at
# the move).  Its proof must not tell him where it was deposited.
printf 'memo written while confidential\n' >"$A/Secret/memo.txt"
check "sync" client_sync a
check "alice moves the memo out of /Secret into /Dossier" mv "$A/Secret/memo.txt" "$A/Dossier/memo.txt"
check "sync" client_sync a
MEMO=$(xattr "$A/Dossier/memo.txt" user.coffre.doc_id)
check_eq "tom: GET the memo's proof, 200" 200 "$(api "$T/memo.json" GET \
	"/v1/spaces/demo/docs/$MEMO/versions/1/proof" -H "Authorization: Bearer $TT")"
check_eq "the answer gives tom neither the path nor its salt" "False False" \
	"$(json_get "$T/memo.json" '"%s %s" % ("path" in j, "path_salt" in j)')"
mkdir -p "$T/memo-answer"
cp "$T/memo.json" "$T/memo-answer/"
check_eq "and no forbidden string: /Secret is named nowhere" "" "$(leaks "$T/memo-answer")"
check "tom sees the memo in /Dossier" sh -c 'sleep 2; test -s "$1/Dossier/memo.txt" || { sleep 5; test -s "$1/Dossier/memo.txt"; }' _ "$B"
OM=$T/proof-memo
check "tom: coffre proof of the memo" cf b proof "$B/Dossier/memo.txt" --out "$OM"
check_eq "no forbidden string in that proof" "" "$(leaks "$OM")"
check "its VERIFY.txt passes, saying the path is not disclosed" \
	sh -c 'sh "$1/VERIFY.txt" >"$2" 2>&1 && grep -q "not disclosed to you" "$2" && grep -qx "all checks passed" "$2"' \
	_ "$OM" "$T/memo-verify.out"
check "tom: coffre verify of the memo passes" cf b verify "$B/Dossier/memo.txt"
check_eq "alice: GET the memo's proof, 200" 200 "$(api "$T/memo-a.json" GET \
	"/v1/spaces/demo/docs/$MEMO/versions/1/proof" -H "Authorization: Bearer $TA")"
check_eq "the owner gets where it was deposited" /Secret/memo.txt "$(json_get "$T/memo-a.json" 'j["path"]')"
check_eq "and a salt that opens the statement tom got to that path" \
	"$(json_get "$T/memo.json" 'j["statement"]["text"]' | sed -n 's/^path-sha256 //p')" \
	"$(printf '%s %s' "$(json_get "$T/memo-a.json" 'j["path_salt"]')" /Secret/memo.txt | sha256sum | cut -d' ' -f1)"
check "the same statement for both" test "$(json_get "$T/memo.json" 'j["statement"]["text"]')" = \
	"$(json_get "$T/memo-a.json" 'j["statement"]["text"]')"
check "a salt opens only its own path: /Dossier/memo.txt does not match" test \
	"$(json_get "$T/memo.json" 'j["statement"]["text"]' | sed -n 's/^path-sha256 //p')" != \
	"$(printf '%s %s' "$(json_get "$T/memo-a.json" 'j["path_salt"]')" /Dossier/memo.txt | sha256sum | cut -d' ' -f1)"

# A batch of more than 256 versions: statements on demand, not at deposit.
printf 'bulk\n' >"$T/bulk"
H=$(sha256_of "$T/bulk")
api "$T/r" PUT "/v1/spaces/demo/chunks/$H" -H "Authorization: Bearer $TA" \
	--data-binary @"$T/bulk" >/dev/null
python3 - "$H" >"$T/bulk.json" <<'PY'
import json, sys
h = sys.argv[1]
ops = [{"op": "mkdir", "path": "/Dossier/bulk"}] + [
    {"op": "deposit", "path": "/Dossier/bulk/f%d" % i, "size": 5, "sha256": h,
     "chunks": [[h, 5]]} for i in range(300)]
print(json.dumps({"client": "t0090", "ops": ops}))
PY
check_eq "alice commits 300 deposits in one batch" 200 "$(api "$T/bulk.out" POST \
	/v1/spaces/demo/commits -H "Authorization: Bearer $TA" --data-binary @"$T/bulk.json")"
BULK=$(json_get "$T/bulk.out" 'j["results"][1]["doc_id"]')
check "no statement was made for them at deposit" \
	sh -c '! git --git-dir="$1" cat-file -e "refs/coffre/statements:$2/1.txt" 2>/dev/null' _ "$(ledger demo)" "$BULK"
check_eq "tom: GET the proof of one, 200" 200 "$(api "$T/bulk-proof.json" GET \
	"/v1/spaces/demo/docs/$BULK/versions/1/proof" -H "Authorization: Bearer $TT")"
check_eq "its statement is made on demand" "made on-demand" \
	"$(json_get "$T/bulk-proof.json" 'j["statement"]["text"]' | grep '^made ')"

# A space from before statements: the ref removed while coffred is down
# (from a ledger folder: one node's own).
one_node || done_testing
client_umount b
client_umount a
server_stop
git --git-dir="$(ledger demo)" update-ref -d refs/coffre/statements
server_start
client_mount b demo
O=$T/proof-old
check "tom: coffre proof of a version with no statement" cf b proof "$P" --out "$O"
check_eq "its statement is made on demand, saying so" on-demand "$(st made)"
check "and dated when made" test -n "$(st made-at)"
check "VERIFY.txt passes" sh "$O/VERIFY.txt"
check_eq "no leak either" "" "$(leaks "$O")"
check "the statement is now in the ledger" \
	sh -c 'git --git-dir="$1" cat-file blob "refs/coffre/statements:$2/2.txt" | cmp - "$3"' \
	_ "$(ledger demo)" "$DOC" "$O/statement.txt"
sleep 1
check "tom: a second proof" cf b proof "$P" --out "$T/proof-again"
check "carries the same statement" cmp "$O/statement.txt" "$T/proof-again/statement.txt"
check "coffred fsck is clean" "$COFFRED" fsck "$D"
# fsck checks every statement: one edited in a copy of the data directory.
X=$(data_copy edited)
G=$("$COFFRED" space path "$X" demo)
blob=$(git --git-dir="$G" cat-file blob "refs/coffre/statements:$DOC/2.txt" |
	sed 's/^deposited-by alice$/deposited-by mallory/' |
	git --git-dir="$G" hash-object -w --stdin)
GIT_INDEX_FILE=$T/edited.idx git --git-dir="$G" read-tree refs/coffre/statements
GIT_INDEX_FILE=$T/edited.idx git --git-dir="$G" update-index --cacheinfo "100644,$blob,$DOC/2.txt"
tree=$(GIT_INDEX_FILE=$T/edited.idx git --git-dir="$G" write-tree)
c=$(git --git-dir="$G" -c user.name=m -c user.email=m@x commit-tree "$tree" -p refs/coffre/statements -m edit)
git --git-dir="$G" update-ref refs/coffre/statements "$c"
check "coffred fsck finds an edited statement" fsck_fails "$X" "statement of $DOC v2: signature"
check "and its unsigned commit" fsck_fails "$X" "commit $c is not signed"

client_umount b
server_stop
done_testing
