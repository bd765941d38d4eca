#!/bin/bash
# coffred's HTTP API end to end, without a drive: login, spaces, chunks,
# commits, listings and versions with curl, then hostile input (bad and
# deep JSON, truncated and oversized bodies, '..' in paths, NUL in a query,
# wrong tokens, another user's space) and a clean stop on SIGTERM.
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"	# test_init: $T, $D, traps

require_cmd curl jq openssl sqlite3

TOKEN=
CODE=
BODY=

# req METHOD PATH [CURL ARGS...]: the status into CODE, the body into BODY.
req()
{
	local m=$1 p=$2
	shift 2
	local auth=()

	[ -n "$TOKEN" ] && auth=(-H "Authorization: Bearer $TOKEN")
	CODE=$(curl -sS --max-time 20 --cacert "$CACERT" -o "$T/body" \
		-w '%{http_code}' -X "$m" "${auth[@]}" "$@" "$URL$p" 2>>"$T/curl.log")
	BODY=$(tr -d '\0' <"$T/body" 2>/dev/null)
	rm -f "$T/body"
}

# jv FILTER: a field of the last body.
jv()
{
	printf '%s' "$BODY" | jq -r "$1" 2>/dev/null
}

# expect "title" STATUS [CODE]: one check of the last reply.
expect()
{
	local got="$CODE"

	[ $# -ge 3 ] && got="$CODE $(jv .error.code)"
	if [ $# -ge 3 ]; then
		check_eq "$1" "$2 $3" "$got" || echo "# body: $BODY"
	else
		check_eq "$1" "$2" "$got" || echo "# body: $BODY"
	fi
}

head_of()
{
	req GET /v1/spaces/demo
	jv .head
}

# --- the data directory -----------------------------------------------------
server_init
"$COFFRED" init "$D" >"$T/out" 2>&1
check_eq "init refuses an initialized data directory (exit 1)" 1 $?
check "init's message names the directory" grep -q "already initialized" "$T/out"
check "the certificate is a leaf for 127.0.0.1, issued by the TLS CA" \
	sh -c "openssl x509 -in '$D/tls/cert.pem' -noout -text | grep -q 'IP Address:127.0.0.1' &&
	       openssl x509 -in '$D/tls/cert.pem' -noout -text | grep -q 'CA:FALSE' &&
	       openssl verify -CAfile '$D/tls/ca.pem' -purpose sslserver '$D/tls/cert.pem'"
check_eq "the TLS key is private (0600)" 600 "$(stat -c %a "$D/tls/key.pem")"
check_eq "the master key is private (0600)" 600 "$(stat -c %a "$D/keys/master.key")"

user_add alice
user_add bob
space_create demo alice
space_create bobs bob
echo short >"$T/pw-short"
"$COFFRED" user add "$D" carol --phone +33612345678 --password-file "$T/pw-short" >"$T/out" 2>&1
check_eq "user add refuses a password under 8 characters" 1 $?
"$COFFRED" user add "$D" carol --phone 0612345678 --password-file "$T/pw-alice" >"$T/out" 2>&1
check_eq "user add refuses a phone number that is not E.164" 1 $?
"$COFFRED" user add "$D" alice --phone +33612345678 --password-file "$T/pw-alice" >"$T/out" 2>&1
check_eq "user add refuses a duplicate login" 1 $?
"$COFFRED" space create "$D" ../x --owner alice >"$T/out" 2>&1
check_eq "space create refuses a bad name" 1 $?
one_node && check_eq "space path prints the bare repository" "$(cd "$D" && pwd -P)/spaces/demo/ledger.git" "$(ledger demo)"

server_start

# --- login --------------------------------------------------------------------
req POST /v1/login -d "{\"login\": \"alice\", \"password\": \"$(cat "$T/pw-alice")\"}"
expect "login with the right password" 200
TOKEN=$(jv .token)
check_eq "the token is 64 hex digits" 1 "$(printf '%s' "$TOKEN" | grep -cE '^[0-9a-f]{64}$')"
check_eq "login answers an expiry" 1 "$(jv .expires_at | grep -cE '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$')"
GOOD=$TOKEN
TOKEN=
req POST /v1/login -d '{"login": "alice", "password": "not the password"}'
expect "a wrong password gets 401" 401 unauthorized
M1=$(jv .error.message)
req POST /v1/login -d '{"login": "nobody", "password": "not the password"}'
expect "an unknown login gets 401" 401 unauthorized
check_eq "and the same message as a wrong password" "$M1" "$(jv .error.message)"
req POST /v1/login -d '{"login": "alice"}'
expect "login without password gets 400" 400 bad_request
req GET /v1/spaces
expect "no token gets 401" 401 unauthorized
TOKEN=$(printf '%064d' 0)
req GET /v1/spaces
expect "a wrong token gets 401" 401 unauthorized
TOKEN=garbage
req GET /v1/spaces
expect "a malformed token gets 401" 401 unauthorized
TOKEN=$GOOD

# --- spaces ---------------------------------------------------------------
req GET /v1/spaces
expect "list my spaces" 200
check_eq "only the spaces I am a member of" "demo private owner" \
	"$(jv '[.spaces[] | .name, .kind, .role] | join(" ")')"
req GET /v1/spaces/demo
expect "space info" 200
check_eq "head is null or a commit id" 1 "$(jv .head | grep -cE '^(null|[0-9a-f]{40})$')"
check_eq "chunk_seed is 64 hex digits" 1 "$(jv .chunk_seed | grep -cE '^[0-9a-f]{64}$')"
req GET /v1/spaces/bobs
expect "another user's space is not found" 404 not_found
M1=$(jv .error.message | sed 's/bobs/X/')
req GET /v1/spaces/nosuch
expect "a missing space is not found" 404 not_found
check_eq "with the same message as another user's space" "$M1" "$(jv .error.message | sed 's/nosuch/X/')"
req GET /v1/spaces/demo/tree
expect "list the empty root" 200
check_eq "the empty root has no entries" "0 null" "$(jv '"\(.entries | length) \(.next)"')"
req DELETE /v1/spaces/demo
expect "an unknown method gets 405" 405 bad_method
req GET /v1/nothing/here
expect "an unknown path gets 404" 404 not_found

# --- chunks ---------------------------------------------------------------
printf 'hello world\n' >"$T/f1"
H1=$(sha256sum "$T/f1" | cut -c1-64)
head -c 300000 /dev/urandom >"$T/f2"
H2=$(sha256sum "$T/f2" | cut -c1-64)
req POST /v1/spaces/demo/chunks/missing -d "{\"chunks\": [\"$H1\", \"$H2\"]}"
expect "ask which chunks are missing" 200
check_eq "both are missing" "$H1 $H2" "$(jv '.missing | join(" ")')"
req PUT "/v1/spaces/demo/chunks/$H1" --data-binary "@$T/f1"
expect "upload a chunk" 201
check_eq "the upload answers id and size" "$H1 12" "$(jv '"\(.id) \(.size)"')"
req PUT "/v1/spaces/demo/chunks/$H1" --data-binary "@$T/f1"
expect "upload it again: 200" 200
req PUT "/v1/spaces/demo/chunks/$H2" --data-binary "@$T/f1"
expect "a body that does not hash to its id gets 422" 422 hash_mismatch
req PUT "/v1/spaces/demo/chunks/$H1" --data-binary "@$T/f2"
expect "a wrong body for a held chunk gets 422 too" 422 hash_mismatch
req POST /v1/spaces/demo/chunks/missing -d "{\"chunks\": [\"$H1\", \"$H2\"]}"
check_eq "the mismatched chunk was not kept" "$H2" "$(jv '.missing | join(" ")')"
req PUT "/v1/spaces/demo/chunks/$H2" -H "Transfer-Encoding: chunked" --data-binary "@$T/f2"
expect "an upload without Content-Length gets 413" 413 too_large
head -c $((4 * 1024 * 1024 + 1)) /dev/zero >"$T/big"
req PUT "/v1/spaces/demo/chunks/$H2" --data-binary "@$T/big"
expect "an upload over 4 MiB gets 413" 413 too_large
req PUT /v1/spaces/demo/chunks/nothex --data-binary "@$T/f1"
expect "a bad chunk id gets 400" 400 bad_request
req PUT "/v1/spaces/bobs/chunks/$H1" --data-binary "@$T/f1"
expect "uploading into another user's space is not found" 404 not_found

# A request that announces 300000 bytes, sends 1000 and hangs up.
{
	printf 'PUT /v1/spaces/demo/chunks/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n' "$H2"
	printf 'Authorization: Bearer %s\r\nContent-Length: 300000\r\n\r\n' "$TOKEN"
	head -c 1000 "$T/f2"
	sleep 1
} | timeout 10 openssl s_client -quiet -no_ign_eof -connect "127.0.0.1:$PORT" \
	-CAfile "$CACERT" >/dev/null 2>&1
check "the server survives a truncated upload" proc_alive "$SERVER_PID"
req POST /v1/spaces/demo/chunks/missing -d "{\"chunks\": [\"$H2\"]}"
check_eq "the truncated upload left nothing" "$H2" "$(jv '.missing | join(" ")')"
check "the aborted request is logged" wait_for grep -q "PUT /v1/spaces/demo/chunks/$H2 .*aborted" "$T/coffred.log"
req PUT "/v1/spaces/demo/chunks/$H2" --data-binary "@$T/f2"
expect "upload a 300 kB chunk" 201
req GET "/v1/spaces/demo/chunks/$H2"
expect "download it" 200
curl -sS --cacert "$CACERT" -H "Authorization: Bearer $TOKEN" -o "$T/f2.back" \
	"$URL/v1/spaces/demo/chunks/$H2"
check "the downloaded chunk is the uploaded one" cmp "$T/f2" "$T/f2.back"
req GET "/v1/spaces/demo/chunks/$(printf '%064d' 1)"
expect "an unknown chunk is not found" 404 not_found

# --- commits --------------------------------------------------------------
dep()	# dep PATH SIZE SHA CHUNK CHUNK_SIZE [EXTRA]
{
	printf '{"op": "deposit", "path": "%s", "size": %s, "sha256": "%s", "chunks": [["%s", %s]]%s}' \
		"$1" "$2" "$3" "$4" "$5" "${6:-}"
}
req POST /v1/spaces/demo/commits -d "{\"client\": \"t0010\", \"ops\": [{\"op\": \"mkdir\", \"path\": \"/A\"}, $(dep /A/f.txt 12 "$H1" "$H1" 12 ', "mtime": 1795773600')]}"
expect "commit a mkdir and a deposit" 200
HEAD1=$(jv .head)
check_eq "the commit answers its head" 1 "$(printf '%s' "$HEAD1" | grep -cE '^[0-9a-f]{40}$')"
check_eq "the deposit made version 1" "deposit 1 false" "$(jv '.results[1] | "\(.op) \(.version) \(.concurrent)"')"
DOC=$(jv '.results[1].doc_id')
check_eq "the deposit answers a doc id" 1 "$(printf '%s' "$DOC" | grep -cE '^[0-9a-f]{32}$')"
req POST /v1/spaces/demo/commits -d "{\"ops\": [$(dep /A/f.txt 300000 "$H2" "$H2" 300000 ', "base_version": 1')]}"
expect "deposit a second version" 200
check_eq "it is version 2, not concurrent" "2 false $DOC" "$(jv '.results[0] | "\(.version) \(.concurrent) \(.doc_id)"')"
req POST /v1/spaces/demo/commits -d "{\"ops\": [$(dep /A/f.txt 12 "$H1" "$H1" 12 ', "base_version": 1')]}"
expect "deposit from a stale base" 200
check_eq "it becomes version 3, concurrent" "3 true" "$(jv '.results[0] | "\(.version) \(.concurrent)"')"
req POST /v1/spaces/demo/commits -d "{\"ops\": [$(dep /A/f.txt 300000 "$H2" "$H2" 300000 ', "base_version": 3')]}"
expect "deposit version 4" 200
HEAD2=$(jv .head)
req POST /v1/spaces/demo/commits -d "{\"ops\": [$(dep /A/g.txt 12 "$H1" "$H1" 12), $(dep /A/h.txt 5 "$H1" "$(printf '%064d' 7)" 5)]}"
expect "a deposit of a chunk the server lacks gets 409" 409 chunk_missing
check_eq "the error names the failing op" 1 "$(jv .error.op)"
check_eq "a failed batch changes nothing" "$HEAD2" "$(head_of)"
req POST /v1/spaces/demo/commits -d "{\"ops\": [$(dep /A/h.txt 12 "$H2" "$H1" 12)]}"
expect "content that does not hash to sha256 gets 422" 422 hash_mismatch
req POST /v1/spaces/demo/commits -d '{"ops": [{"op": "mkdir", "path": "/A/f.txt"}]}'
expect "mkdir over a file gets 409" 409 conflict
req POST /v1/spaces/demo/commits -d "{\"ops\": [$(dep /Z/f.txt 12 "$H1" "$H1" 12)]}"
expect "a deposit in a missing folder gets 409" 409 conflict
req POST /v1/spaces/demo/commits -d '{"ops": [{"op": "mkdir", "path": "/B"}, {"op": "mkdir", "path": "/A/../etc"}]}'
expect "a path with '..' gets 400" 400 bad_name
check_eq "naming the op" 1 "$(jv .error.op)"
req POST /v1/spaces/demo/commits -d '{"ops": [{"op": "mkdir", "path": "/A/.coffre-folder"}]}'
expect "a reserved name gets 400" 400 bad_name
req POST /v1/spaces/demo/commits -d '{"ops": [{"op": "mkdir", "path": 12}]}'
expect "a path of the wrong type gets 400" 400 bad_request
check "the message names the field" sh -c "printf '%s' '$BODY' | grep -q path"
req POST /v1/spaces/demo/commits -d '{"ops": [{"op": "explode", "path": "/x"}]}'
expect "an unknown op gets 400" 400 bad_request
req POST /v1/spaces/demo/commits -d '{"ops": [{"op": "mkdir", "path": "/x"}'
expect "malformed JSON gets 400" 400 bad_request
req POST /v1/spaces/demo/commits -d '{"ops": [], "ops": []}'
expect "duplicate keys get 400" 400 bad_request
req POST /v1/spaces/demo/commits -d "{\"x\": $(printf '[%.0s' $(seq 20))$(printf ']%.0s' $(seq 20))}"
expect "JSON nested deeper than 16 gets 400" 400 bad_request
head -c $((33 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$T/huge"
req POST /v1/spaces/demo/commits --data-binary "@$T/huge"
expect "a JSON body over 32 MiB gets 413" 413 too_large
rm -f "$T/huge" "$T/big"
check_eq "none of these changed the head" "$HEAD2" "$(head_of)"

# --- reading the tree and versions -----------------------------------------
req GET '/v1/spaces/demo/tree?path=/A'
expect "list a folder" 200
check_eq "the folder lists the document at version 4" "f.txt file 4 300000 $H2 alice" \
	"$(jv '.entries[0] | "\(.name) \(.type) \(.version) \(.size) \(.sha256) \(.deposited_by)"')"
req GET '/v1/spaces/demo/tree?path=/&limit=1'
check_eq "the root lists /A" "A dir restricted" "$(jv '.entries[0] | "\(.name) \(.type) \(.class)"')"
req GET '/v1/spaces/demo/tree?path=/A/f.txt'
expect "listing a file gets 409" 409 conflict
req GET '/v1/spaces/demo/tree?path=/nope'
expect "listing a missing folder gets 404" 404 not_found
req GET '/v1/spaces/demo/tree?path=/A/..'
expect "listing '..' gets 400" 400 bad_name
req GET '/v1/spaces/demo/tree?path=/A%00/x'
expect "a NUL in the path gets 400" 400 bad_name
req GET '/v1/spaces/demo/tree?path=/A&limit=5000'
expect "a limit over 1000 gets 400" 400 bad_request
req GET '/v1/spaces/demo/stat?path=/A/f.txt'
expect "stat a document" 200
check_eq "stat answers path and doc id" "/A/f.txt $DOC" "$(jv '"\(.path) \(.doc_id)"')"
req GET "/v1/spaces/demo/docs/$DOC/versions"
expect "list the versions" 200
check_eq "four versions, oldest first" "1 12 $HEAD1,2 300000,3 12,4 300000 $HEAD2" \
	"$(jv '[.versions[] | "\(.version) \(.size)\(if .version == 1 or .version == 4 then " " + .commit else "" end)"] | join(",")')"
req GET "/v1/spaces/demo/docs/$DOC/versions/1"
expect "get version 1" 200
check_eq "with its chunks" "$H1 12" "$(jv '.chunks[0] | "\(.[0]) \(.[1])"')"
check "and its manifest text" sh -c "printf '%s' '$(jv .manifest)' | grep -q '^mtime 1795773600$'"
req GET "/v1/spaces/demo/docs/$DOC/versions/9"
expect "a missing version is not found" 404 not_found
req GET "/v1/spaces/demo/docs/$(printf '%032d' 0)/versions"
expect "a missing document is not found" 404 not_found
# The ledger is the authority: with the index's rows gone, versions still answer.
index_sql "DELETE FROM versions WHERE doc_id = '$DOC'"
check_eq "the index forgot the document's versions" 0 \
	"$(index_sql "SELECT count(*) FROM versions WHERE doc_id = '$DOC'")"
req GET "/v1/spaces/demo/docs/$DOC/versions"
expect "versions fall back to the ledger" 200
check_eq "the ledger's history gives the same four versions" "1 12 $HEAD1,2 300000,3 12,4 300000 $HEAD2" \
	"$(jv '[.versions[] | "\(.version) \(.size)\(if .version == 1 or .version == 4 then " " + .commit else "" end)"] | join(",")')"
req GET "/v1/spaces/demo/docs/$DOC/versions/1"
expect "and so does one version" 200
check "with its manifest text" sh -c "printf '%s' '$(jv .manifest)' | grep -q '^sha256 $H1$'"
req GET "/v1/spaces/bobs/docs/$DOC/versions"
expect "versions through another user's space are not found" 404 not_found

# --- the index is shared with other processes ------------------------------
user_add carol
TOKEN=
req POST /v1/login -d "{\"login\": \"carol\", \"password\": \"$(cat "$T/pw-carol")\"}"
expect "a user added while the server runs can log in" 200
TOKEN=$GOOD

space_create late alice
req GET /v1/spaces/late
expect "a space created while the server runs is served" 200
req GET /v1/spaces/demo/tree
check "keep-alive: two requests on one connection" sh -c "curl -sv --cacert '$CACERT' -H 'Authorization: Bearer $TOKEN' '$URL/v1/spaces' '$URL/v1/spaces' 2>&1 | grep -q 'Re-using existing connection'"
curl -s --cacert "$CACERT" --tlsv1.2 --tls-max 1.2 "$URL/v1/spaces" >/dev/null 2>&1
check_eq "TLS 1.2 is refused" 35 $?
pids=
for _ in 1 2 3 4 5 6; do
	curl -s --max-time 30 --cacert "$CACERT" -o /dev/null -w '%{http_code}\n' \
		"$URL/v1/login" \
		-d "{\"login\": \"bob\", \"password\": \"$(cat "$T/pw-bob")\"}" \
		>>"$T/logins" &
	pids="$pids $!"
done
# Only the curls: a bare `wait` would wait for coffred too.
wait $pids
check_eq "six logins at once all succeed" "200 200 200 200 200 200" "$(sort "$T/logins" | tr '\n' ' ' | sed 's/ $//')"
check_eq "the journal records logins; failed ones are counted by the throttle, not journaled" "1 1 0" \
	"$(index_sql "SELECT CASE WHEN count(*) > 0 THEN 1 ELSE 0 END FROM events WHERE kind = 'login' AND login = 'alice'") $(index_sql "SELECT CASE WHEN failures >= 2 THEN 1 ELSE 0 END FROM login_throttle WHERE key = 'a:127.0.0.1'") $(index_sql "SELECT count(*) FROM events WHERE kind LIKE 'login%failed'")"
check_eq "the journal records deposits with doc id and version" "1" \
	"$(index_sql "SELECT count(*) FROM events WHERE kind = 'deposit' AND doc_id = '$DOC' AND version = 4 AND login = 'alice' AND space = 'demo'")"
"$COFFRED" serve "$D" >"$T/out" 2>&1
check_eq "a second server on the same data directory is refused" 1 $?
check "saying another coffred serves it" grep -q "another coffred" "$T/out"
check "the ledger passes git fsck" git --git-dir "$(ledger demo)" fsck --strict
check "requests are logged with status and login" \
	grep -q "POST /v1/spaces/demo/commits 200 alice" "$T/coffred.log"
check "the server is still running" proc_alive "$SERVER_PID"

done_testing
