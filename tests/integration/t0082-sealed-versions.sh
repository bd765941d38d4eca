#!/bin/bash
# Case 6: a version stays as confidential as the folder it was deposited
# in.  Moving a document out of a confidential folder (alone, in its
# folder, or by reclassing the folder) opens the version current at the
# move and those after it, never the earlier ones; every endpoint that
# serves a version, its content or its metadata applies that one rule, for
# every role; an owner declassifies an older version on purpose, traced.
. "${TESTLIB:-$(dirname "$0")/../lib}/hostile.sh"

world_build

# put NAME TEXT: a content, uploaded by alice
put()
{
	printf '%s\n' "$2" >"$T/$1"
	req alice PUT "/v1/spaces/demo/chunks/$(sha256sum "$T/$1" | cut -c1-64)" \
		--data-binary "@$T/$1"
}
put v2 'the plan, second draft'
put v3 'the plan, as published'
H_v2=$(sha256sum "$T/v2" | cut -c1-64)
S_v2=$(stat -c %s "$T/v2")
H_v3=$(sha256sum "$T/v3" | cut -c1-64)
S_v3=$(stat -c %s "$T/v3")
ABSENT=$(printf 'never deposited\n' | sha256sum | cut -c1-64)

req alice GET "/v1/spaces/demo/stat?path=/Dept/Secret/plan.txt"
DOC=$(jv .doc_id)
commit alice "[$(dep /Dept/Secret/plan.txt "$H_v2" "$S_v2")]"
expect "alice deposits v2 of the secret plan" 200
R=$(ledger demo)
check "the ledger records v2's seal with its deposit" \
	sh -c "git -C '$R' log -1 --format=%B | grep -qx 'Coffre-Class: confidential'"
commit alice "[$(mv_op /Dept/Secret/plan.txt /Pub/plan.txt)]"
expect "alice moves the plan out to the public folder" 200
commit bob "[$(dep /Pub/plan.txt "$H_v3" "$S_v3")]"
expect "bob deposits v3 there" 200
check "a deposit in a public folder carries no seal" \
	sh -c "! git -C '$R' log -1 --format=%B | grep -q 'Coffre-Class'"
check_eq "the index keeps the seal of v1 only" "1:1 2:0 3:0" \
	"$(index_sql "SELECT version || ':' || sealed FROM versions WHERE doc_id = '$DOC' ORDER BY version" | tr '\n' ' ' | sed 's/ $//')"

# --- every role, every endpoint --------------------------------------------
req alice GET "/v1/spaces/demo/docs/$DOC/versions"
check_eq "the owner lists every version" "1 2 3" "$(jv '[.versions[].version] | join(" ")')"
for ep in "docs/$DOC/versions/1" "docs/$DOC/versions/1/proof" \
	"docs/$DOC/versions/1/signatures" "chunks/$HS"; do
	req alice GET "/v1/spaces/demo/$ep"
	expect "the owner: GET $ep" 200
done

req alice GET "/v1/spaces/demo/events?path=/"
check_eq "the owner's journal names v1's deposit" deposit \
	"$(jv ".events[] | select(.doc_id == \"$DOC\" and .version == 1) | .kind")"

# readers of /Pub: the plain and the delegated assistant, both intervenants
for u in bob dan carol ivan; do
	req $u GET "/v1/spaces/demo/tree?path=/Pub"
	check_eq "$u: /Pub lists the plan at v3" 3 "$(jv '.entries[] | select(.name == "plan.txt") | .version')"
	req $u GET "/v1/spaces/demo/docs/$DOC/versions"
	check_eq "case 6: $u lists v2 (current at the move) and v3, not v1" "2 3" \
		"$(jv '[.versions[].version] | join(" ")')"
	req $u GET "/v1/spaces/demo/docs/$DOC/versions/1"
	check_eq "case 6: $u: v1 answers as an absent version" \
		"404 no version 1 of document '$DOC'" "$CODE $(jv .error.message)"
	req $u GET "/v1/spaces/demo/docs/$DOC/versions/9"
	check_eq "... which is what v9 answers" \
		"404 no version 9 of document '$DOC'" "$CODE $(jv .error.message)"
	req $u GET "/v1/spaces/demo/docs/$DOC/versions/1/proof"
	check_eq "case 6: $u: the proof of v1 answers the same as the version" 404 "$CODE"
	req $u GET "/v1/spaces/demo/docs/$DOC/versions/2/proof"
	check_eq "case 6: $u: the proof of v2 is given, as v2 is" 200 "$CODE"
	req $u GET "/v1/spaces/demo/docs/$DOC/versions/1/signatures"
	expect "$u: signatures of v1" 404
	req $u GET "/v1/spaces/demo/chunks/$HS"
	check_eq "case 6: $u: v1's content" "404 no chunk '$HS'" "$CODE $(jv .error.message)"
	req $u GET "/v1/spaces/demo/chunks/$H_v2"
	expect "$u: v2's content" 200
	req $u POST /v1/spaces/demo/chunks/missing -d "{\"chunks\": [\"$HS\", \"$ABSENT\"]}"
	if [ "$u" = bob ] || [ "$u" = dan ] || [ "$u" = carol ]; then
		check_eq "case 6: $u: v1's chunk is missing, as an absent one" \
			"$HS $ABSENT" "$(jv '.missing | join(" ")')"
	fi
	req $u GET "/v1/spaces/demo/events?path=/"
	check_eq "case 6: $u's journal names no sealed version" "" \
		"$(jv ".events[] | select(.doc_id == \"$DOC\" and .version == 1) | .kind")"
	req $u POST /v1/spaces/demo/events/reads -d "{\"reads\": [{\"doc_id\": \"$DOC\", \"version\": 1, \"at\": \"2026-01-01T00:00:00Z\"}]}"
	check_eq "$u: a read of v1 is skipped as of no such document" "0 1" "$(jv .recorded) $(jv .skipped)"
	req $u POST "/v1/spaces/demo/docs/$DOC/versions/1/declassify"
	check_eq "$u cannot declassify v1: it does not exist for them" 404 "$CODE"
	req $u POST "/v1/spaces/demo/docs/$DOC/versions/2/declassify"
	check_eq "$u may not declassify a version they read" "403 forbidden" "$CODE $(jv .error.code)"
done
for u in tom rem oscar; do
	for ep in "docs/$DOC/versions" "docs/$DOC/versions/2" "docs/$DOC/versions/1/proof" \
		"chunks/$HS" "chunks/$H_v2"; do
		req $u GET "/v1/spaces/demo/$ep"
		check_eq "$u GET $ep: 404" 404 "$CODE"
	done
	req $u POST "/v1/spaces/demo/docs/$DOC/versions/1/declassify"
	check_eq "$u: declassify answers as for no document" 404 "$CODE"
done

# --- an owner declassifies v1, on purpose and traced -----------------------
S0=$(state)
HEAD0=$(git -C "$R" rev-parse main)
req alice POST "/v1/spaces/demo/docs/$DOC/versions/1/declassify"
check_eq "alice declassifies v1" "200 true" "$CODE $(jv .declassified)"
check_eq "one ledger commit, by alice, tree unchanged" \
	"alice $(git -C "$R" rev-parse "$HEAD0^{tree}")" \
	"$(git -C "$R" log -1 --format='%an %T' main)"
check "its message names the version" \
	sh -c "git -C '$R' log -1 --format=%B main | grep -qx 'Coffre-Doc: $DOC 1'"
check "the commit is signed like every other" \
	sh -c "git -C '$R' cat-file commit main | grep -q '^gpgsig '"
req alice GET "/v1/spaces/demo/events?path=/Pub"
check_eq "the journal has a declassify event by alice" "alice /Pub/plan.txt 1" \
	"$(jv '.events[] | select(.kind == "declassify") | "\(.login) \(.path) \(.version)"')"
for u in bob ivan; do
	req $u GET "/v1/spaces/demo/docs/$DOC/versions"
	check_eq "$u now lists v1 too" "1 2 3" "$(jv '[.versions[].version] | join(" ")')"
	req $u GET "/v1/spaces/demo/chunks/$HS"
	expect "$u now reads v1's content" 200
	req $u GET "/v1/spaces/demo/docs/$DOC/versions/1/proof"
	expect "$u now gets v1's proof" 200
done
HEAD1=$(git -C "$R" rev-parse main)
req alice POST "/v1/spaces/demo/docs/$DOC/versions/1/declassify"
check_eq "declassifying again does nothing" "200 false $HEAD1" \
	"$CODE $(jv .declassified) $(git -C "$R" rev-parse main)"
req alice POST "/v1/spaces/demo/docs/$DOC/versions/7/declassify"
expect "an absent version cannot be declassified" 404
check "state moved only by the one commit and its event" test "$S0" != "$(state)"

# --- reclassing a folder opens its current versions only -------------------
req alice GET "/v1/spaces/demo/stat?path=/Conf/c.txt"
CDOC=$(jv .doc_id)
commit alice "[$(dep /Conf/c.txt "$H_v2" "$S_v2")]"
req alice POST /v1/spaces/demo/class -d '{"path": "/Conf", "class": "restricted"}'
expect "alice reclasses /Conf restricted" 200
req bob GET "/v1/spaces/demo/docs/$CDOC/versions"
check_eq "case 6: after the reclass bob reads the current version, not the one before" "2" \
	"$(jv '[.versions[].version] | join(" ")')"
req bob GET "/v1/spaces/demo/events?path=/Conf"
check_eq "case 6: bob's journal of /Conf shows v2's deposit, not v1's" "2" \
	"$(jv "[.events[] | select(.doc_id == \"$CDOC\" and .kind == \"deposit\") | .version] | join(\" \")")"
req alice GET "/v1/spaces/demo/events?path=/Conf"
check_eq "... the owner's shows both" "1 2" \
	"$(jv "[.events[] | select(.doc_id == \"$CDOC\" and .kind == \"deposit\") | .version] | join(\" \")")"

# --- coffre declassify, through the owner's drive ---------------------------
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
	client_login a alice
	client_mount a demo
	out=$(cf a declassify "$(mnt_of a)/Conf/c.txt" --version 1 2>&1)
	check_eq "coffre declassify opens v1 of /Conf/c.txt" "$(mnt_of a)/Conf/c.txt v1: declassified" "$out"
	req bob GET "/v1/spaces/demo/docs/$CDOC/versions"
	check_eq "bob now reads both versions" "1 2" "$(jv '[.versions[].version] | join(" ")')"
	out=$(cf a declassify "$(mnt_of a)/Conf/c.txt" --version 1 2>&1)
	check_eq "a second time it says so" "$(mnt_of a)/Conf/c.txt v1: was not sealed" "$out"
	check_eq "coffre declassify without --version is a usage error" 2 \
		"$(cf a declassify "$(mnt_of a)/Conf/c.txt" >/dev/null 2>&1; echo $?)"
	client_umount a
else
	diag "no FUSE here: coffre declassify not tried through a drive"
fi

# --- a folder moved out carries its documents, and its confidential sub-folder stays so
req alice GET "/v1/spaces/demo/stat?path=/Dept/Open/Sub/s.txt"
SUBDOC=$(jv .doc_id)
req alice GET "/v1/spaces/demo/stat?path=/Dept/Open/Sub/Vault/v.txt"
VDOC=$(jv .doc_id)
commit bob "[$(dep /Dept/Open/Sub/s.txt "$H_v2" "$S_v2")]"
expect "bob (deposit grant on /Dept/Open) deposits v2 of s.txt" 200
commit bob "[$(mv_op /Dept/Open/Sub/s.txt /Dept/s.txt)]"
expect "bob moves it out to /Dept" 200
req dan GET "/v1/spaces/demo/docs/$SUBDOC/versions"
check_eq "case 6: dan (read grant on /Dept/Open, where v1 was) reads only v2 in /Dept" "2" \
	"$(jv '[.versions[].version] | join(" ")')"
req carol GET "/v1/spaces/demo/docs/$VDOC/versions"
expect "carol cannot read the vault's document" 404
commit alice "[$(mv_op /Dept/Open/Sub /Pub/Sub)]"
expect "alice moves /Dept/Open/Sub to /Pub" 200
req ivan GET "/v1/spaces/demo/docs/$VDOC/versions"
check_eq "the confidential sub-folder moved along stays closed to ivan" 404 "$CODE"
req alice GET "/v1/spaces/demo/docs/$VDOC/versions"
check_eq "... and its version stays sealed" "1" \
	"$(index_sql "SELECT sealed FROM versions WHERE doc_id = '$VDOC'")"

# --- the ledger knows the seal: a replay restores what the index lost ------
req alice POST /v1/spaces/demo/commits -d "{\"batch\": \"seal-1\", \"ops\": [$(dep /Dept/Secret/n.txt "$H_v3" "$S_v3")]}"
expect "alice deposits into a confidential folder, a named batch" 200
NDOC=$(jv '.results[0].doc_id')
index_sql "DELETE FROM versions WHERE doc_id = '$NDOC'"
req alice POST /v1/spaces/demo/commits -d "{\"batch\": \"seal-1\", \"ops\": [$(dep /Dept/Secret/n.txt "$H_v3" "$S_v3")]}"
check_eq "the replay is answered from the ledger" "200 true" "$CODE $(jv .replayed)"
check_eq "... and records the version again with its seal, read from the ledger" 1 \
	"$(index_sql "SELECT sealed FROM versions WHERE doc_id = '$NDOC'")"

done_testing
