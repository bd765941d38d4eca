#!/bin/bash
# Sessions as an attacker holding a stolen token sees them: coffre logout
# revokes the token on the server (the same token then gets 401 from curl)
# and forgets session.json; coffre sessions lists a login's sessions and
# revokes one, the others or all; coffre passwd changes the password,
# revokes every other session and seals the signing key under the new
# password (coffre sign then opens it with the new one only); the token
# lifetime comes from coffred.conf; an index of the previous schema is
# migrated in place.
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"	# test_init: $T, $D, traps

require_cmd curl jq sqlite3

# status TOKEN PATH [METHOD]: the HTTP status of one request with TOKEN.
status()
{
	curl -sS --max-time 20 --cacert "$CACERT" -o /dev/null -w '%{http_code}' \
		-X "${3:-GET}" -H "Authorization: Bearer $1" "$URL$2"
}

# login_tok LOGIN PASSWORD-FILE: a fresh token from curl.
login_tok()
{
	curl -sS --max-time 20 --cacert "$CACERT" -X POST \
		-d "{\"login\": \"$1\", \"password\": \"$(cat "$2")\"}" \
		"$URL/v1/login" | jq -r .token
}

server_init
# (SQLite's schema: the index of one node; PostgreSQL's migrations are
# test_index's)
if one_node; then
	# A data directory of the previous schema (2): coffred must migrate it.
	sqlite3 "$D/index.db" "DROP TABLE space_usage; DROP TABLE version_chunks; ALTER TABLE versions DROP COLUMN sealed;
		DROP TABLE login_throttle; DROP TABLE invitations; DROP TABLE pending_codes;
		DROP TABLE signup_invites; DROP TABLE space_terminations; DROP TABLE user_freezes;
		DROP TABLE ledger_objects; DROP TABLE ledger_refs; DROP TABLE space_keys;
		DROP INDEX tokens_login; ALTER TABLE tokens DROP COLUMN address;
		ALTER TABLE tokens DROP COLUMN created_at; PRAGMA user_version = 2;" \
		>>"$T/sqlite.log" 2>&1
	check_eq "the index is made of schema 2 for the test" 2 \
		"$(sqlite3 "$D/index.db" 'PRAGMA user_version')"
fi
sed -i "s/^token_lifetime *=.*/token_lifetime = 2h/" "$D/coffred.conf"
user_add alice
space_create demo alice
if one_node; then
	check_eq "coffred migrates an index of schema 2 to 8" 8 \
		"$(sqlite3 "$D/index.db" 'PRAGMA user_version')"
	check "the migrated index has the new tables" \
		sqlite3 "$D/index.db" 'SELECT count(*) FROM login_throttle, invitations, version_chunks, space_usage, pending_codes, signup_invites, space_terminations, ledger_objects, ledger_refs, space_keys'
fi
server_start

# --- lifetime from coffred.conf ----------------------------------------------
curl -sS --cacert "$CACERT" -X POST -o "$T/login.json" \
	-d "{\"login\": \"alice\", \"password\": \"$(cat "$T/pw-alice")\"}" "$URL/v1/login"
exp=$(jq -r .expires_at <"$T/login.json")
left=$(($(date -d "$exp" +%s) - $(date +%s)))
check "token_lifetime = 2h gives tokens of two hours ($left s)" \
	test "$left" -gt 7000 -a "$left" -le 7200
STOLEN=$(jq -r .token <"$T/login.json")

# --- logout --------------------------------------------------------------------
client_login a alice
TOK_A=$(token_of a)
check_eq "the drive's token works" 200 "$(status "$TOK_A" /v1/spaces)"
cf a logout >"$T/out" 2>&1
check_eq "coffre logout succeeds" 0 $?
check "coffre logout removes session.json" test ! -e "$(cfg_of a)/session.json"
check_eq "the logged-out token gets 401 from curl" 401 "$(status "$TOK_A" /v1/spaces)"
check_eq "and 401 on a space too" 401 "$(status "$TOK_A" /v1/spaces/demo/tree?path=/)"
cf a logout >"$T/out" 2>&1
check_eq "coffre logout without a session fails (exit 1)" 1 $?
check "and says so" grep -q "not logged in" "$T/out"
check_eq "the other token still works" 200 "$(status "$STOLEN" /v1/spaces)"

# --- sessions: list and revoke one --------------------------------------------
client_login a alice
cf a sessions >"$T/sessions" 2>&1
check_eq "coffre sessions succeeds" 0 $?
check_eq "coffre sessions lists both live sessions" 2 "$(wc -l <"$T/sessions")"
check "coffre sessions marks this device's" grep -q "(this device)" "$T/sessions"
check "coffre sessions shows the address" grep -q "127.0.0.1" "$T/sessions"
stolen_id=$(grep -v "this device" "$T/sessions" | awk '{print $1}')
check "session ids are 16 hex digits" grep -Eq '^[0-9a-f]{16}$' <<<"$stolen_id"
curl -sS --cacert "$CACERT" -H "Authorization: Bearer $STOLEN" "$URL/v1/sessions" >"$T/api.json"
check_eq "GET /v1/sessions lists the same ids" \
	"$(awk '{print $1}' "$T/sessions" | sort | tr '\n' ' ')" \
	"$(jq -r '.sessions[].id' "$T/api.json" | sort | tr '\n' ' ')"
check_eq "GET /v1/sessions never shows a token" "" \
	"$(grep -o "$STOLEN" "$T/api.json")"
cf a sessions --revoke "$stolen_id" >"$T/out" 2>&1
check_eq "coffre sessions --revoke ID succeeds" 0 $?
check_eq "the revoked token gets 401" 401 "$(status "$STOLEN" /v1/spaces)"
check_eq "its reuse on DELETE /v1/sessions gets 401, revokes nothing" 401 \
	"$(status "$STOLEN" /v1/sessions DELETE)"
check_eq "this device's token still works" 200 "$(status "$(token_of a)" /v1/spaces)"
cf a sessions --revoke "$stolen_id" >"$T/out" 2>&1
check_eq "revoking it again fails (exit 1)" 1 $?
cf a sessions --revoke 'zz;drop' >"$T/out" 2>&1
check_eq "a malformed id is refused (exit 1)" 1 $?

# Another login's session cannot be revoked by id.
user_add bob
B1=$(login_tok bob "$T/pw-bob")
bob_id=$(curl -sS --cacert "$CACERT" -H "Authorization: Bearer $B1" "$URL/v1/sessions" | jq -r '.sessions[0].id')
check_eq "alice revoking bob's session by id gets 404" 404 \
	"$(status "$(token_of a)" "/v1/sessions/$bob_id" DELETE)"
check_eq "bob's token still works" 200 "$(status "$B1" /v1/spaces)"

# --- revoke the others, then all ---------------------------------------------
O1=$(login_tok alice "$T/pw-alice")
O2=$(login_tok alice "$T/pw-alice")
cf a sessions --revoke-others >"$T/out" 2>&1
check_eq "coffre sessions --revoke-others succeeds" 0 $?
check "and counts two" grep -q "^2 sessions revoked" "$T/out"
check_eq "the other tokens get 401" "401 401" \
	"$(status "$O1" /v1/spaces) $(status "$O2" /v1/spaces)"
check_eq "this device's stays" 200 "$(status "$(token_of a)" /v1/spaces)"
O3=$(login_tok alice "$T/pw-alice")
TOK_A=$(token_of a)
cf a sessions --revoke-all >"$T/out" 2>&1
check_eq "coffre sessions --revoke-all succeeds" 0 $?
check_eq "every token of alice gets 401" "401 401" \
	"$(status "$O3" /v1/spaces) $(status "$TOK_A" /v1/spaces)"
check "and this device forgot its session" test ! -e "$(cfg_of a)/session.json"

# --- passwd ------------------------------------------------------------------
client_login a alice
check "the login made a signing key" test -s "$(cfg_of a)/userkey.enc"
OTHER=$(login_tok alice "$T/pw-alice")
head -c 18 /dev/urandom | base64 | tr -d '\n/+=' >"$T/pw-new"
echo "not the password" >"$T/pw-wrong"
echo short >"$T/pw-short"
cf a passwd --password-file "$T/pw-wrong" --new-password-file "$T/pw-new" >"$T/out" 2>&1
check_eq "coffre passwd with a wrong old password fails (exit 1)" 1 $?
check "and says the password is wrong" grep -q "wrong password" "$T/out"
cf a passwd --password-file "$T/pw-alice" --new-password-file "$T/pw-short" >"$T/out" 2>&1
check_eq "coffre passwd refuses a new password under 8 bytes (exit 1)" 1 $?
check_eq "the other session survived the failed changes" 200 "$(status "$OTHER" /v1/spaces)"
cp "$(cfg_of a)/userkey.enc" "$T/userkey.before"
cf a passwd --password-file "$T/pw-alice" --new-password-file "$T/pw-new" >"$T/out" 2>&1
check_eq "coffre passwd succeeds" 0 $?
check "and counts the other session revoked" grep -q "1 other sessions revoked" "$T/out"
check_eq "the other session gets 401" 401 "$(status "$OTHER" /v1/spaces)"
check_eq "this device's session stays" 200 "$(status "$(token_of a)" /v1/spaces)"
check "the signing key file was sealed again" \
	sh -c "! cmp -s '$T/userkey.before' '$(cfg_of a)/userkey.enc'"
check_eq "the old password no longer logs in" 401 \
	"$(curl -sS --cacert "$CACERT" -o /dev/null -w '%{http_code}' -X POST \
		-d "{\"login\": \"alice\", \"password\": \"$(cat "$T/pw-alice")\"}" "$URL/v1/login")"
check "the new one does" test -n "$(login_tok alice "$T/pw-new" | grep -E '^[0-9a-f]{64}$')"

# The signing key opens with the new password, not the old one.
mkdir -p "$(mnt_of a)"
printf 'contrat\n' >"$T/doc.txt"
client_mount a demo
cp "$T/doc.txt" "$(mnt_of a)/doc.txt"
client_sync a
cf a sign "$(mnt_of a)/doc.txt" --as author --password-file "$T/pw-alice" >"$T/out" 2>&1
check_eq "coffre sign with the old password fails" 1 $?
cf a sign "$(mnt_of a)/doc.txt" --as author --password-file "$T/pw-new" >"$T/out" 2>&1
check_eq "coffre sign with the new password succeeds" 0 $? || diag <"$T/out"
client_umount a

# A password change and a logout are journaled in the server's chain.
check "the server journal holds the password change" \
	test "$(index_sql "SELECT count(*) FROM events WHERE space = '' AND kind = 'password' AND login = 'alice'")" = 1

server_stop
done_testing
