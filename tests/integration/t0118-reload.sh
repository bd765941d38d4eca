#!/bin/bash
# `systemctl reload coffred` is SIGHUP: coffred reads coffred.conf again
# while it serves.  The login settings change at once (a token's lifetime,
# the throttle's limits); a change to a key set up once (listen, threads,
# stores) is logged as waiting for a restart; a file that does not load
# changes nothing and coffred goes on serving.
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"
require_cmd curl jq

server_init
user_add alice
server_start

# login: the token's lifetime in seconds, from the answer's expires_at.
lifetime()
{
	local pw exp
	pw=$(cat "$T/pw-alice")
	curl -sS --max-time 20 --cacert "$CACERT" -o "$T/login.json" -X POST \
		-d "{\"login\": \"alice\", \"password\": \"$pw\"}" "$URL/v1/login" ||
		return 1
	exp=$(jq -r .expires_at "$T/login.json")
	echo $(($(date -u -d "$exp" +%s) - $(date -u +%s)))
}
near() { [ "$1" -ge $(($2 - 120)) ] && [ "$1" -le $(($2 + 5)) ]; }

l=$(lifetime)
check "before: tokens last 30 days ($l s)" near "$l" 2592000
sed -i -e 's/^token_lifetime *=.*/token_lifetime = 1h/' \
	-e 's/^threads *=.*/threads = 3/' "$D/coffred.conf"
server_reload
reloaded 1
l=$(lifetime)
check "after SIGHUP: a new token lasts 1 hour ($l s)" near "$l" 3600
check "a changed threads waits for a restart, and the log says so" \
	grep -q "threads changed: it takes effect at the next restart" "$T/coffred.log"
check "coffred still serves" proc_alive "$SERVER_PID"

# A configuration that does not load changes nothing.
cp "$D/coffred.conf" "$T/good.conf"
echo "token_lifetim = 2h" >>"$D/coffred.conf"
server_reload
check "a bad key: the log says not reloaded" wait_for grep -q \
	"coffred.conf not reloaded, the running settings stay: .*unknown key 'token_lifetim'" \
	"$T/coffred.log"
check "coffred still serves" proc_alive "$SERVER_PID"
l=$(lifetime)
check "tokens still last 1 hour ($l s)" near "$l" 3600

# The throttle's limits change at once too.
cp "$T/good.conf" "$D/coffred.conf"
sed -i -e 's/^login_failures *=.*/login_failures = 2/' \
	-e 's/^login_lockout *=.*/login_lockout = 1h/' "$D/coffred.conf"
server_reload
reloaded 2
: >"$T/st"
for i in 1 2 3 4 5 6 7 8 9 10; do
	curl -sS --max-time 20 --cacert "$CACERT" -o /dev/null -w '%{http_code}\n' \
		-X POST -d "{\"login\": \"alice\", \"password\": \"wrong-$i\"}" \
		"$URL/v1/login" >>"$T/st"
done
check "with login_failures = 2, ten wrong passwords are soon refused with 429" \
	grep -q '^429$' "$T/st"
check_eq "at most 2 of them checked" 1 "$([ "$(grep -c '^401$' "$T/st")" -le 2 ] && echo 1)"
server_stop
done_testing
