# shellcheck shell=bash
# The curl helpers of the tests that speak to coffred's HTTP API as a
# client would, about a space "demo" (t0020, and t0080-t0089 through
# hostile.sh).  Source it after common.sh; each user's token is in TOK
# once login() ran.
require_cmd curl jq sqlite3

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
	BODY=$(tr -d '\0' <"$T/body" 2>/dev/null)
	rm -f "$T/body"
}

jv()
{
	printf '%s' "$BODY" | jq -r "$1" 2>/dev/null
}

expect()
{
	check_eq "$1" "$2" "$CODE" || echo "# body: $BODY"
}

login()
{
	CODE=$(curl -sS --cacert "$CACERT" -o "$T/body" -w '%{http_code}' \
		-X POST -d "{\"login\": \"$1\", \"password\": \"$(cat "$T/pw-$1")\"}" \
		"$URL/v1/login")
	TOK[$1]=$(jq -r .token <"$T/body")
}

# names LOGIN PATH: the names listed to LOGIN in folder PATH, joined.
names()
{
	req "$1" GET "/v1/spaces/demo/tree?path=$2"
	if [ "$CODE" != 200 ]; then
		echo "HTTP $CODE"
		return
	fi
	jv '[.entries[].name] | join(" ")'
}

# A fingerprint of everything an endpoint could change.
state()
{
	git -C "$(ledger demo)" rev-parse refs/heads/main
	sqlite3 "$D/index.db" "SELECT count(*) FROM events; SELECT count(*) FROM versions;
		SELECT group_concat(login || ':' || role) FROM members WHERE space = 'demo';
		SELECT group_concat(login || ':' || path || ':' || level) FROM grants;
		SELECT group_concat(login) FROM delegations;"
}

commit()
{
	req "$1" POST /v1/spaces/demo/commits -d "{\"client\": \"t\", \"ops\": $2}"
}
