#!/bin/bash
# Every version is in the ledger: when one batch makes two versions of a
# document, or a version and then its removal, each version's manifest is
# filed in the tree of a commit on main (the batch becomes a chain of
# commits and the head moves once), the versions endpoint names that
# commit, and `coffred fsck` is clean.  Case 10 of the drive (h v1 synced;
# `echo v2 >h; rm h; sync --wait`) first, then the same batches sent with
# curl, and a failing batch that moves nothing.
. "$TESTLIB/common.sh"

require_cmd curl jq

demo_mounts a
LG=$(ledger demo)

# ledger_holds_versions DOC: every version of DOC (by the API) names a
# commit on main whose tree files that version's manifest, byte for byte.
ledger_holds_versions()
{
	ledgers_refresh # its git runs in python, not through the test's git
	python3 - "$URL" "$CACERT" "$TOKEN" "$LG" "$1" <<'PY'
import json, subprocess, sys
url, ca, tok, lg, doc = sys.argv[1:]
def get(p):
    out = subprocess.run(["curl", "-sS", "--cacert", ca, "-H",
                          "Authorization: Bearer " + tok, url + p],
                         check=True, capture_output=True).stdout
    return json.loads(out)
vs = get("/v1/spaces/demo/docs/%s/versions" % doc)["versions"]
if not vs:
    sys.exit("no versions")
for v in vs:
    full = get("/v1/spaces/demo/docs/%s/versions/%d" % (doc, v["version"]))
    blob = subprocess.run(["git", "--git-dir", lg, "hash-object", "--stdin"],
                          input=full["manifest"].encode(), check=True,
                          capture_output=True).stdout.decode().strip()
    c = v["commit"]
    if subprocess.run(["git", "--git-dir", lg, "merge-base", "--is-ancestor",
                       c, "main"]).returncode:
        sys.exit("v%d names %s, not on main" % (v["version"], c))
    tree = subprocess.run(["git", "--git-dir", lg, "ls-tree", "-r", c],
                          check=True, capture_output=True).stdout.decode()
    if blob not in tree:
        sys.exit("v%d: commit %s does not file its manifest" % (v["version"], c))
print(len(vs))
PY
}

ncommits()
{
	git --git-dir "$LG" rev-list --count main
}

# --- case 10, through the drive ------------------------------------------
echo v1 >"$A/h.txt"
check "h v1 is synced" client_sync a
DOC_H=$(xattr "$A/h.txt" user.coffre.doc_id)
echo v2 >"$A/h.txt"
rm "$A/h.txt"
check "echo v2 >h; rm h; sync --wait" client_sync a
client_umount a
server_stop
check "coffred fsck is clean after a version and its removal in one batch" \
	"$COFFRED" fsck "$D"
server_start
check "the ledger has h.txt's v2 manifest in some commit" sh -c '
	git --git-dir "$1" log -p main | grep -q "^+version 2\$"' _ "$LG"

# --- the same batches sent with curl -------------------------------------
api "$T/login" POST /v1/login -H 'Content-Type: application/json' \
	-d "{\"login\": \"alice\", \"password\": \"$(cat "$T/pw-alice")\"}" >/dev/null
TOKEN=$(jq -r .token "$T/login")
AUTH=(-H "Authorization: Bearer $TOKEN")
[ -n "$DOC_H" ] && check "h.txt: each version named by the API is filed in its commit" \
	ledger_holds_versions "$DOC_H"

# put NAME CONTENT: upload one chunk; sets DEP_NAME to a deposit body part.
declare -A SHA SIZE
put()
{
	printf '%s' "$2" >"$T/c-$1"
	SHA[$1]=$(sha256_of "$T/c-$1")
	SIZE[$1]=$(stat -c %s "$T/c-$1")
	api "$T/out" PUT "/v1/spaces/demo/chunks/${SHA[$1]}" "${AUTH[@]}" \
		--data-binary "@$T/c-$1" >/dev/null
}
dep()	# dep PATH NAME
{
	printf '{"op": "deposit", "path": "%s", "size": %s, "sha256": "%s", "chunks": [["%s", %s]]}' \
		"$1" "${SIZE[$2]}" "${SHA[$2]}" "${SHA[$2]}" "${SIZE[$2]}"
}
commit()	# commit OPS-JSON: status on stdout, body in $T/res
{
	api "$T/res" POST /v1/spaces/demo/commits "${AUTH[@]}" \
		-H 'Content-Type: application/json' \
		-d "{\"client\": \"t0070\", \"ops\": [$1]}"
}
for n in one two three four five; do put $n "content $n"; done

before=$(ncommits)
check_eq "three deposits of one new document in one batch" 200 \
	"$(commit "$(dep /x.txt one), $(dep /x.txt two), $(dep /x.txt three)")"
DOC_X=$(jq -r '.results[0].doc_id' "$T/res")
check_eq "they are versions 1, 2, 3" "1 2 3" "$(jq -r '[.results[].version] | join(" ")' "$T/res")"
check_eq "the batch is a chain of three commits" 3 "$(($(ncommits) - before))"
check_eq "the answer's head is the last of them" \
	"$(git --git-dir "$LG" rev-parse main)" "$(jq -r .head "$T/res")"
check_eq "x.txt: every version filed in its commit" 3 "$(ledger_holds_versions "$DOC_X")"
check_eq "git log of x.txt shows the three contents" 3 \
	"$(git --git-dir "$LG" log --format=%H main -- x.txt | wc -l)"

before=$(ncommits)
check_eq "a deposit and the unlink of its document in one batch" 200 \
	"$(commit "$(dep /y.txt one), {\"op\": \"unlink\", \"path\": \"/y.txt\"}")"
DOC_Y=$(jq -r '.results[0].doc_id' "$T/res")
check_eq "two commits" 2 "$(($(ncommits) - before))"
check_eq "y.txt: its version is filed in its commit" 1 "$(ledger_holds_versions "$DOC_Y")"
check "y.txt is gone at the head" sh -c '! git --git-dir "$1" cat-file -e main:y.txt 2>/dev/null' _ "$LG"

check_eq "a deposit under a temporary name saved by rename onto x.txt" 200 \
	"$(commit "$(dep /x.txt.tmp four), {\"op\": \"move\", \"from\": \"/x.txt.tmp\", \"to\": \"/x.txt\"}")"
DOC_T=$(jq -r '.results[0].doc_id' "$T/res")
check_eq "x.txt: four versions, each filed in its commit" 4 "$(ledger_holds_versions "$DOC_X")"
check_eq "the temporary document's version is filed too" 1 "$(ledger_holds_versions "$DOC_T")"

check_eq "a deposit, its folder moved, then a second version" 200 \
	"$(commit "{\"op\": \"mkdir\", \"path\": \"/F\"}, $(dep /F/a.txt one), {\"op\": \"move\", \"from\": \"/F\", \"to\": \"/G\"}, $(dep /G/a.txt five)")"
DOC_A=$(jq -r '.results[1].doc_id' "$T/res")
check_eq "a.txt: both versions filed in their commits" 2 "$(ledger_holds_versions "$DOC_A")"

before=$(ncommits)
check_eq "deposits of distinct documents" 200 \
	"$(commit "$(dep /p.txt one), $(dep /q.txt two), {\"op\": \"move\", \"from\": \"/p.txt\", \"to\": \"/r.txt\"}")"
check_eq "stay one commit" 1 "$(($(ncommits) - before))"

before=$(git --git-dir "$LG" rev-parse main)
check_eq "a batch whose last op fails after two versions of one document" 409 \
	"$(commit "$(dep /z.txt one), $(dep /z.txt two), {\"op\": \"rmdir\", \"path\": \"/G\"}")"
check_eq "names the failing op" 2 "$(jq -r .error.op "$T/res")"
check_eq "the head did not move" "$before" "$(git --git-dir "$LG" rev-parse main)"
check "z.txt does not exist" sh -c '! git --git-dir "$1" cat-file -e main:z.txt 2>/dev/null' _ "$LG"

check "git fsck --strict" git --git-dir "$LG" fsck --strict
check "every commit of main is signed" sh -c '
	for c in $(git --git-dir "$1" rev-list main); do
		git --git-dir "$1" cat-file commit "$c" | grep -q "^gpgsig " || exit 1
	done' _ "$LG"
server_stop
check "coffred fsck is clean" "$COFFRED" fsck "$D"
done_testing
