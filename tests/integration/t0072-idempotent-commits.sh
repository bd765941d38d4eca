#!/bin/bash
# A commit retried after a lost reply is applied once: a batch named by the
# client ("batch") and sent again gets the first outcome (same head, doc
# ids, versions and commits, "replayed": true) and changes nothing, also
# after coffred was killed, also when the index lost the batch's versions
# (coffred killed between the ledger commit and the reply), also when
# coffred is killed at random moments of the first attempt.  The same id
# with other operations is refused; a batch without id is a new batch.
# GET .../batches/ID says whether the caller applied a batch, and only theirs.
. "$TESTLIB/common.sh"

require_cmd curl jq sqlite3

demo_logins
LG=$(ledger demo)
api "$T/login" POST /v1/login -H 'Content-Type: application/json' \
	-d "{\"login\": \"alice\", \"password\": \"$(cat "$T/pw-alice")\"}" >/dev/null
AUTH=(-H "Authorization: Bearer $(jq -r .token "$T/login")")

declare -A SHA SIZE CHUNKS
# put NAME FILE: upload FILE in 4 MiB chunks
put()
{
	local i=0 part
	SHA[$1]=$(sha256_of "$2")
	SIZE[$1]=$(stat -c %s "$2")
	CHUNKS[$1]=
	split -b 4M -d "$2" "$T/part-$1-"
	for part in "$T/part-$1-"*; do
		api "$T/out" PUT "/v1/spaces/demo/chunks/$(sha256_of "$part")" \
			"${AUTH[@]}" --data-binary "@$part" >/dev/null
		CHUNKS[$1]+="${CHUNKS[$1]:+, }[\"$(sha256_of "$part")\", $(stat -c %s "$part")]"
		i=$((i + 1))
	done
}
dep()	# dep PATH NAME
{
	printf '{"op": "deposit", "path": "%s", "size": %s, "sha256": "%s", "chunks": [%s]}' \
		"$1" "${SIZE[$2]}" "${SHA[$2]}" "${CHUNKS[$2]}"
}
commit()	# commit OUT BODY-JSON: the status
{
	api "$1" POST /v1/spaces/demo/commits "${AUTH[@]}" \
		-H 'Content-Type: application/json' -d "$2"
}
nversions()	# nversions DOC
{
	api "$T/vs" GET "/v1/spaces/demo/docs/$1/versions" "${AUTH[@]}" >/dev/null
	jq '.versions | length' "$T/vs"
}
ncommits()
{
	git --git-dir "$LG" rev-list --count main
}
for n in one two three; do printf 'content %s\n' $n >"$T/$n"; put $n "$T/$n"; done

# --- without a batch id, today's behaviour: a second send is a new batch --
B0="{\"ops\": [$(dep /plain.txt one)]}"
check_eq "a commit without batch id" 200 "$(commit "$T/r1" "$B0")"
check_eq "sent again" 200 "$(commit "$T/r2" "$B0")"
check_eq "without an id, the second is a second version" 2 \
	"$(nversions "$(jq -r '.results[0].doc_id' "$T/r1")")"

# --- the same named batch twice ---------------------------------------------
B1="{\"client\": \"t0072\", \"batch\": \"b-0001\", \"ops\": [{\"op\": \"mkdir\", \"path\": \"/A\"}, $(dep /A/f.txt one), $(dep /A/f.txt two), {\"op\": \"move\", \"from\": \"/A/f.txt\", \"to\": \"/A/g.txt\"}]}"
check_eq "a named batch" 200 "$(commit "$T/n1" "$B1")"
DOC=$(jq -r '.results[1].doc_id' "$T/n1")
before=$(ncommits)
check_eq "the same batch sent again" 200 "$(commit "$T/n2" "$B1")"
check_eq "is answered as replayed" true "$(jq -r .replayed "$T/n2")"
check_eq "the first answer was not" null "$(jq -r .replayed "$T/n1")"
check_eq "with the first head" "$(jq -r .head "$T/n1")" "$(jq -r .head "$T/n2")"
check_eq "and the first results (ops, doc ids, versions, commits, deposit times)" \
	"$(jq -c '[.results[] | [.op, .doc_id, .version, .commit, .deposited_at]]' "$T/n1")" \
	"$(jq -c '[.results[] | [.op, .doc_id, .version, .commit, .deposited_at]]' "$T/n2")"
check_eq "no commit was made" "$before" "$(ncommits)"
check_eq "the document has two versions, not four" 2 "$(nversions "$DOC")"
check "the batch id is in the ledger, on each of its commits" sh -c '
	[ "$(git --git-dir "$1" log --format=%B main | grep -c "^Coffre-Batch: b-0001 [0-9a-f]\{64\}\$")" = 2 ]' _ "$LG"

# --- the same id, other operations ------------------------------------------
check_eq "the same id with other operations is refused" 409 \
	"$(commit "$T/c" "{\"batch\": \"b-0001\", \"ops\": [$(dep /A/h.txt three)]}")"
check "saying why" grep -q "applied already, with other operations" "$T/c"
check_eq "and changes nothing" "$before" "$(ncommits)"
check_eq "a bad batch id is refused" 400 \
	"$(commit "$T/c" "{\"batch\": \"b 1\", \"ops\": [$(dep /A/h.txt three)]}")"
check_eq "an over-long one too" 400 \
	"$(commit "$T/c" "{\"batch\": \"$(printf 'x%.0s' {1..65})\", \"ops\": [$(dep /A/h.txt three)]}")"
check_eq "and a batch id that is not a string" 400 \
	"$(commit "$T/c" "{\"batch\": 7, \"ops\": [$(dep /A/h.txt three)]}")"
check_eq "nothing changed" "$before" "$(ncommits)"

# --- a lost reply: coffred killed after the ledger commit -------------------
# (the index rows removed by hand are SQLite's: one node's own index; on
# a shared ledger the versions and the commit are one transaction)
if one_node; then
	# The state a kill between the ledger commit and the reply leaves: the
	# commit on main, its versions not in the index, no answer.  coffred
	# killed, the index rows of the batch removed, coffred back, the retry.
	B2="{\"batch\": \"b-0002\", \"ops\": [$(dep /A/k.txt one), $(dep /A/k.txt three)]}"
	check_eq "another named batch" 200 "$(commit "$T/k1" "$B2")"
	DOCK=$(jq -r '.results[0].doc_id' "$T/k1")
	server_kill
	# What the record would have written goes: the versions, the chunks they
	# name, and what they counted in the usage (recomputed at the next open,
	# from the versions left, by the migration that made the counters).
	sqlite3 "$D/index.db" "BEGIN; DELETE FROM versions WHERE doc_id = '$DOCK';
		DELETE FROM version_chunks WHERE doc_id = '$DOCK';
		DROP TABLE space_usage; DROP TABLE pending_codes; DROP TABLE signup_invites;
		DROP TABLE space_terminations; DROP TABLE user_freezes;
		DROP TABLE ledger_objects; DROP TABLE ledger_refs; DROP TABLE space_keys; PRAGMA user_version = 4; COMMIT;"
	server_start
	before=$(ncommits)
	check_eq "its retry after the restart" 200 "$(commit "$T/k2" "$B2")"
	check_eq "is replayed from the ledger" true "$(jq -r .replayed "$T/k2")"
	check_eq "with the first results" \
		"$(jq -c '[.head, (.results[] | [.doc_id, .version, .commit, .deposited_at])]' "$T/k1")" \
		"$(jq -c '[.head, (.results[] | [.doc_id, .version, .commit, .deposited_at])]' "$T/k2")"
	check_eq "no commit was made" "$before" "$(ncommits)"
	check_eq "the index holds the batch's versions again" 2 \
		"$(sqlite3 "$D/index.db" "SELECT count(*) FROM versions WHERE doc_id = '$DOCK'")"
fi

# --- coffred killed at random moments of the first attempt -------------------
head -c 20M /dev/urandom >"$T/big"
put big "$T/big"
for round in 1 2 3 4 5; do
	body="{\"batch\": \"r-$round\", \"ops\": [$(dep "/R$round.bin" big)]}"
	commit "$T/first" "$body" >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$((RANDOM % 10))"
	server_kill
	wait "$pid"
	server_start
	n=0
	until [ "$(commit "$T/retry" "$body" 2>/dev/null)" = 200 ] || [ $n -ge 20 ]; do
		n=$((n + 1)); sleep 0.2
	done
	check_eq "round $round: a retry answers" 200 "$(commit "$T/retry" "$body")"
	check_eq "round $round: one version whatever the kill hit" 1 \
		"$(nversions "$(jq -r '.results[0].doc_id' "$T/retry")")"
done
check_eq "five batches, five commits (plus the earlier)" 5 \
	"$(git --git-dir "$LG" log --format=%B main | grep -c '^Coffre-Batch: r-')"

# --- asking whether a batch was applied (a drive's restart does) ------------
batch_of()	# batch_of OUT ID [TOKEN-ARGS...]: the status of GET .../batches/ID
{
	local out=$1 id=$2
	shift 2
	api "$out" GET "/v1/spaces/demo/batches/$id" "${@:-${AUTH[@]}}"
}
check_eq "GET batches/b-0001" 200 "$(batch_of "$T/b1" b-0001)"
check_eq "says applied, with the digest of its ledger trailer" \
	"true $(git --git-dir "$LG" log --format=%B main | sed -n 's/^Coffre-Batch: b-0001 //p' | head -n1)" \
	"$(jq -r '"\(.applied) \(.digest)"' "$T/b1")"
check_eq "a batch never sent: applied false" "200 false" \
	"$(batch_of "$T/b2" b-9999) $(jq -r .applied "$T/b2")"
check_eq "a malformed id is 404" 404 "$(batch_of "$T/b3" 'b%201')"
user_add bob
user_add carol
client_login alice alice
client_login bob bob
client_login carol carol
cf alice member add demo bob --role assistant >/dev/null 2>&1
cf bob accept demo >/dev/null 2>&1
bob_auth=(-H "Authorization: Bearer $(token_of bob)")
carol_auth=(-H "Authorization: Bearer $(token_of carol)")
check_eq "another member asking for alice's batch: not theirs, applied false" "200 false" \
	"$(batch_of "$T/b4" b-0001 "${bob_auth[@]}") $(jq -r .applied "$T/b4")"
check "and no digest" test "$(jq -r .digest "$T/b4")" = null
check_eq "a non-member: 404, as for any space they are not in" 404 \
	"$(batch_of "$T/b5" b-0001 "${carol_auth[@]}")"

server_stop
check "coffred fsck is clean" "$COFFRED" fsck "$D"
done_testing
