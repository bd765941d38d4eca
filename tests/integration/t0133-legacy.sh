#!/bin/bash
# A notary's access after a death, as an operator runs it: `coffred legacy
# open` refuses while coffred serves, then freezes the deceased's account
# (no login, no session), gives the space she owned alone to the notary
# with every other access revoked but the trusted person's designated
# folder, leaves the space she shared with another owner as it was, and
# records each step with the mandate's reference.
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"
require_cmd curl jq git

REF="Me Dupont, acte 2026-1234"
server_init
for u in marie paul tina ivan bob nina; do
	user_add $u
done
space_create solo marie
space_create shared marie
server_start
server_pin_port # the same URL after the restart below
for u in marie paul tina ivan bob nina; do
	client_login $u $u
done
TM=$(token_of marie)
req() { local who=$1; shift; api "$T/r.json" "$@" -H "Authorization: Bearer $(token_of "$who")"; }
commit() { req marie POST "/v1/spaces/$1/commits" -d "$2"; }

check_eq "marie makes folders" 200 "$(commit solo '{"ops":[{"op":"mkdir","path":"/Volontes"},{"op":"mkdir","path":"/Docs"}]}')"
for m in "tina trusted" "ivan intervenant" "bob assistant"; do
	set -- $m
	check "marie adds $1 as $2" cf marie member add solo "$1" --role "$2"
	check "$1 joins" cf "$1" accept solo
done
check_eq "tina (trusted) reads /Volontes" 200 \
	"$(req marie POST /v1/spaces/solo/grants -d '{"path":"/Volontes","login":"tina","right":"read"}')"
check_eq "ivan deposits in /Docs" 200 \
	"$(req marie POST /v1/spaces/solo/grants -d '{"path":"/Docs","login":"ivan","right":"deposit"}')"
check "paul is a second owner of shared" cf marie member add shared paul --role owner
check "paul joins" cf paul accept shared
check "an invitation to solo is pending" cf marie member add solo nina --role intervenant
check_eq "ivan lists /Docs before" 200 "$(req ivan GET '/v1/spaces/solo/tree?path=/Docs')"

# --- the operator, with coffred running: refused, nothing changed ------------------
"$COFFRED" legacy open "$D" marie --mandate "$REF" --notary nina >"$T/out" 2>&1
check_eq "while coffred serves: exit 1" 1 "$?"
check "saying to stop it first" grep -q "stop it first" "$T/out"
check_eq "marie still lists her space" 200 "$(req marie GET /v1/spaces/solo)"
server_stop
check_eq "an unknown notary: exit 1" 1 \
	"$("$COFFRED" legacy open "$D" marie --mandate "$REF" --notary nobody >/dev/null 2>&1; echo $?)"
check_eq "the notary as the deceased: exit 1" 1 \
	"$("$COFFRED" legacy open "$D" marie --mandate "$REF" --notary marie >/dev/null 2>&1; echo $?)"
check_eq "a mandate of two lines: exit 1" 1 \
	"$("$COFFRED" legacy open "$D" marie --mandate "$(printf 'a\nb')" --notary nina >/dev/null 2>&1; echo $?)"
check_eq "no --notary: usage, exit 2" 2 \
	"$("$COFFRED" legacy open "$D" marie --mandate "$REF" >/dev/null 2>&1; echo $?)"
check_eq "and none of them froze marie" 0 "$(index_sql "SELECT count(*) FROM user_freezes")"
"$COFFRED" legacy open "$D" marie --mandate "$REF" --notary nina >"$T/out" 2>&1
check_eq "coffred stopped: exit 0" 0 "$?"
check "it says what it did" sh -c 'grep -q "account marie frozen" "$1" && grep -q "space solo: owned by marie alone, now by nina" "$1" && grep -q "space shared: 2 owners, left as it is" "$1"' _ "$T/out"
server_start

# --- the deceased's account --------------------------------------------------------
check_eq "marie's password no longer logs in (401)" 401 \
	"$(api "$T/r.json" POST /v1/login -d "{\"login\":\"marie\",\"password\":\"$(cat "$T/pw-marie")\"}")"
check "with the same words as a wrong password" jq -e '.error.message == "wrong login or password"' "$T/r.json"
check_eq "her session is ended (401)" 401 "$(api "$T/r.json" GET /v1/spaces -H "Authorization: Bearer $TM")"

# --- the space she owned alone -------------------------------------------------------
check_eq "nina is its owner" owner \
	"$(curl -sS --cacert "$CACERT" -H "Authorization: Bearer $(token_of nina)" "$URL/v1/spaces/solo" | jq -r .role)"
check_eq "its only owner" "nina" \
	"$(cf nina member list solo | awk '$2 == "owner" { print $1 }' | tr '\n' ' ' | sed 's/ $//')"
check_eq "nina reads all of it" 200 "$(req nina GET '/v1/spaces/solo/tree?path=/Docs')"
check_eq "tina keeps her designated folder (200)" 200 "$(req tina GET '/v1/spaces/solo/tree?path=/Volontes')"
check_eq "ivan's access is revoked (404, as a stranger's)" 404 "$(req ivan GET '/v1/spaces/solo/tree?path=/Docs')"
check_eq "bob's too" 404 "$(req bob GET /v1/spaces/solo)"
check "the pending invitation is withdrawn" sh -c '! "$1" --config "$2" invitations | grep -q solo' _ "$COFFRE" "$(cfg_of nina)"
cf nina member list solo >"$T/members"
check_eq "members now: nina and tina" "nina owner|tina trusted" \
	"$(awk '$1 != "grant" && $1 != "invited" { printf "%s%s %s", (n++ ? "|" : ""), $1, $2 }' "$T/members")"
check "tina's grant is kept" grep -Eq "^grant +tina +read +/Volontes$" "$T/members"
check "ivan's is gone" sh -c '! grep -q "ivan" "$1"' _ "$T/members"
check "the ledger commit carries the mandate" sh -c \
	'git --git-dir "$1" log -1 --format=%B main | grep -qxF "Coffre-Mandate: $2"' _ "$(ledger solo)" "$REF"
check_eq "an event per member removed, each naming the mandate" 3 \
	"$(index_sql "SELECT count(*) FROM events WHERE space = 'solo' AND kind = 'member-remove' AND detail LIKE '%mandate $REF%'")"
check_eq "and the notary's" 1 \
	"$(index_sql "SELECT count(*) FROM events WHERE space = 'solo' AND kind = 'legacy-open' AND detail LIKE 'mandate $REF:%'")"
check_eq "the account's freeze in the server's chain" 1 \
	"$(index_sql "SELECT count(*) FROM events WHERE space = '' AND kind = 'account-frozen' AND login = 'marie'")"

# --- the space she shared: as it was ---------------------------------------------------
check_eq "shared keeps both owners" "marie paul" \
	"$(cf paul member list shared | awk '$2 == "owner" { print $1 }' | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "and nina has nothing there (404)" 404 "$(req nina GET /v1/spaces/shared)"
check_eq "paul works on as before (200)" 200 "$(req paul GET '/v1/spaces/shared/tree?path=/')"
check "fsck is clean" "$COFFRED" fsck "$D"
server_stop
done_testing
