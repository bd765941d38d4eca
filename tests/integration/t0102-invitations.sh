#!/bin/bash
# Adding a member, as a space owner probing which logins exist would try
# it with curl: a known and an unknown login get the same status, the same
# body and about the same time, and neither becomes a member.  The person
# sees the invitation at login and in `coffre invitations`, and joins with
# `coffre accept SPACE` (or refuses with `coffre decline`); nobody else can
# accept it; an owner withdraws it with `coffre member remove`; it lapses
# when its inviter loses the right to make it.
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"	# test_init: $T, $D, traps

require_cmd curl jq sqlite3 python3

CODE=
BODY=
declare -A TOK=()

# req LOGIN METHOD PATH [CURL ARGS...]: status into CODE, body into BODY.
req()
{
	local who=$1 m=$2 p=$3
	shift 3

	CODE=$(curl -sS --max-time 20 --cacert "$CACERT" -o "$T/body" \
		-w '%{http_code}' -X "$m" -H "Authorization: Bearer ${TOK[$who]}" \
		"$@" "$URL$p" 2>>"$T/curl.log")
	BODY=$(cat "$T/body" 2>/dev/null)
}

jv()
{
	printf '%s' "$BODY" | jq -cr "$1" 2>/dev/null
}

login()
{
	TOK[$1]=$(curl -sS --cacert "$CACERT" -X POST \
		-d "{\"login\": \"$1\", \"password\": \"$(cat "$T/pw-$1")\"}" \
		"$URL/v1/login" | jq -r .token)
}

# invite_time LOGIN: seconds one invitation of LOGIN takes, as curl sees it.
invite_time()
{
	curl -sS --max-time 20 --cacert "$CACERT" -o /dev/null -w '%{time_total}' \
		-X POST -H "Authorization: Bearer ${TOK[alice]}" \
		-d "{\"login\": \"$1\", \"role\": \"assistant\"}" \
		"$URL/v1/spaces/demo/members"
}

median()
{
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

server_init
for u in alice bob carol dave; do
	user_add $u
done
space_create demo alice
server_start
for u in alice bob carol dave; do
	login $u
done

# --- known and unknown logins answer alike ---------------------------------
req alice POST /v1/spaces/demo/members -d '{"login": "bob", "role": "assistant"}'
known="$CODE $(jv 'del(.login)')"
req alice POST /v1/spaces/demo/members -d '{"login": "ghost", "role": "assistant"}'
unknown="$CODE $(jv 'del(.login)')"
check_eq "a known login is invited: 202" "202" "${known%% *}"
check_eq "an unknown login gets the same status and body" "$known" "$unknown"
check_eq "the body names the invitation" '{"role":"assistant","status":"invited"}' "${known#* }"
for _ in $(seq 1 15); do
	invite_time bob >>"$T/t-known"
	echo >>"$T/t-known"
	invite_time ghost >>"$T/t-unknown"
	echo >>"$T/t-unknown"
done
mk=$(median <"$T/t-known")
mu=$(median <"$T/t-unknown")
check "and about the same time (median $mk s known, $mu s unknown)" \
	python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) < max(0.05, 0.5 * max(a, b)) else 1)" "$mk" "$mu"
check_eq "the invitation leaves the ledger alone (no member bob)" "" \
	"$(git -C "$(ledger demo)" show main:.coffre-access | grep bob)"
req bob GET /v1/spaces
check_eq "bob is no member before accepting" "[]" "$(jv '.spaces')"
req bob GET "/v1/spaces/demo/tree?path=/"
check_eq "and cannot list the space" 404 "$CODE"
req alice GET /v1/spaces/demo/members
check_eq "the owner sees both invitations pending" "bob:assistant ghost:assistant" \
	"$(jv '[.invited[] | .login + ":" + .role] | join(" ")')"
check_eq "the invitations are journaled, known or not" 32 \
	"$(index_sql "SELECT count(*) FROM events WHERE space = 'demo' AND kind = 'member-invite' AND login = 'alice'")"

# --- the invitee sees and accepts ----------------------------------------------
mkdir -p "$T/client-bob"
cf bob login "$URL" bob --password-file "$T/pw-bob" --cacert "$CACERT" >"$T/login.out" 2>&1
check "coffre login tells bob of the invitation" \
	grep -q "invited to demo as assistant by alice: coffre accept demo" "$T/login.out"
cf bob invitations >"$T/inv.out" 2>&1
check "coffre invitations lists it" grep -qE "^demo +assistant +invited by alice" "$T/inv.out"
req carol POST /v1/invitations/demo
check_eq "carol cannot accept bob's invitation" 404 "$CODE"
cf bob accept demo >"$T/acc.out" 2>&1
check_eq "coffre accept demo succeeds" 0 $?
check "and says the role" grep -q "you are assistant of demo" "$T/acc.out"
req bob GET /v1/spaces
check_eq "bob is now an assistant of demo" "demo:assistant" "$(jv '[.spaces[] | .name + ":" + .role] | join(" ")')"
check "the ledger holds the member" \
	sh -c "git -C '$(ledger demo)' show main:.coffre-access | grep -qx 'member bob assistant'"
check "the member commit is the inviter's" \
	sh -c "git -C '$(ledger demo)' log --format='%an|%s' main | grep -qx 'alice|member bob assistant'"
check_eq "the consent is bob's event" 1 \
	"$(index_sql "SELECT count(*) FROM events WHERE space = 'demo' AND kind = 'member-accept' AND login = 'bob'")"
cf bob accept demo >"$T/out" 2>&1
check_eq "accepting again fails: no invitation left" 1 $?

# A member's role changes at once (they consented already).
req alice POST /v1/spaces/demo/members -d '{"login": "bob", "role": "intervenant"}'
check_eq "changing a member's role: 200, status member" "200 member" "$CODE $(jv .status)"
req alice POST /v1/spaces/demo/members -d '{"login": "bob", "role": "assistant"}'

# --- declining, withdrawing ------------------------------------------------------
client_login alice alice
cf alice member add demo carol --role intervenant >"$T/add.out" 2>&1
check "coffre member add says the person is invited" grep -q "carol is invited to demo as intervenant" "$T/add.out"
client_login carol carol
cf carol decline demo >"$T/out" 2>&1
check_eq "coffre decline demo succeeds" 0 $?
req carol GET /v1/spaces
check_eq "carol did not join" "[]" "$(jv '.spaces')"
req alice GET /v1/spaces/demo/members
check_eq "only ghost's invitation is left" "ghost" "$(jv '[.invited[].login] | join(" ")')"
cf alice member remove demo ghost >"$T/out" 2>&1
check "coffre member remove withdraws an invitation" grep -q "invitation of ghost to demo withdrawn" "$T/out"
req alice GET /v1/spaces/demo/members
check_eq "no invitation is left" "0" "$(jv '.invited | length')"

# --- an invitation lapses with its inviter's right -------------------------------
req alice POST /v1/spaces/demo/delegation -d '{"login": "bob", "admin": true}'
req bob POST /v1/spaces/demo/members -d '{"login": "dave", "role": "owner"}'
check_eq "a delegated assistant cannot invite an owner" 403 "$CODE"
req bob POST /v1/spaces/demo/members -d '{"login": "dave", "role": "intervenant"}'
check_eq "but invites an intervenant" 202 "$CODE"
req alice POST /v1/spaces/demo/delegation -d '{"login": "bob", "admin": false}'
req dave POST /v1/invitations/demo
check_eq "once bob no longer administers, dave's invitation has lapsed" 404 "$CODE"
req dave GET /v1/spaces
check_eq "dave did not join" "[]" "$(jv '.spaces')"

server_stop
done_testing
