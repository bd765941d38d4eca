#!/bin/bash
# X-Forwarded-For and trusted_proxies, with curl as an attacker sends it
# and as HAProxy forwards it (docs/protocol.md, Login).
#
# Without trusted_proxies (the default) the header is ignored: an attacker
# rotating forged X-Forwarded-For values is locked out by its own address
# all the same, and naming another address locks nobody else out.  With
# trusted_proxies = 127.0.0.1, the client of a request from 127.0.0.1 is the
# right-most entry that is not a trusted proxy: two forwarded clients get
# two throttle buckets (one locked, the other logs in), a forged entry on
# the left changes nothing, a malformed header from the proxy is refused
# (400), a request without the header is the proxy's own; a peer that is
# not a trusted proxy still has its header ignored.  The trusted proxy is
# exempt from max_connections_per_address, other peers are not; a bad
# trusted_proxies entry stops coffred at start with a clear message.
# cluster: no -- it is one node trusting or not the proxy in front; behind the deployment's HAProxy that is set (docs/cluster.md)
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"	# test_init: $T, $D, traps

require_cmd curl jq sqlite3 python3

# login LOGIN PASSWORD [CURL ARGS]: the status; the body in $T/r.json.
login()
{
	local l=$1 p=$2
	shift 2
	curl -sS --max-time 20 --cacert "$CACERT" -o "$T/r.json" \
		-w '%{http_code}' -X POST "$@" \
		-d "{\"login\": \"$l\", \"password\": \"$p\"}" "$URL/v1/login"
}

# The address of the session just opened (login's token in $T/r.json).
session_address()
{
	curl -sS --max-time 20 --cacert "$CACERT" \
		-H "Authorization: Bearer $(jq -r .token "$T/r.json")" \
		"$URL/v1/sessions" | jq -r '.sessions[] | select(.current) | .address'
}

sql()
{
	sqlite3 -cmd '.timeout 5000' "$D/index.db" "$1"
}

# The address keys of the throttle table holding failures, one line.
address_keys()
{
	sql "SELECT key FROM login_throttle WHERE key LIKE 'a:%' AND failures > 0 ORDER BY key" |
		tr '\n' ' '
}

# lock_address OUT rotate|fixed [CURL ARGS]: wrong passwords, each for a
# login of its own (so no login locks first), until the address is locked
# (a 429 asking to wait over a minute), sleeping through the growing waits
# before.  rotate: each attempt with a new X-Forwarded-For.  The statuses
# go to OUT; 0 once locked, 1 when 40 attempts did not lock it.
lock_address()
{
	local out=$1 mode=$2 i st w xff
	shift 2

	: >"$out"
	for ((i = 1; i <= 40; i++)); do
		xff=()
		[ "$mode" = rotate ] && xff=(-H "X-Forwarded-For: 198.51.100.$i")
		st=$(login "guess-$mode-$i" wrong "${xff[@]}" "$@")
		echo "$st" >>"$out"
		[ "$st" = 429 ] || continue
		w=$(jq -r .error.retry_after "$T/r.json")
		[ "$w" -gt 60 ] && return 0
		sleep "$w"
	done
	return 1
}

# idle_sockets BIND N: open N silent TCP connections from address BIND;
# prints how many the server left open after a second.
idle_sockets()
{
	python3 "$TESTLIB/idle_sockets.py" "$PORT" "$1" "$2"
}

curl -sS --interface 127.0.0.2 --max-time 5 -o /dev/null "http://127.0.0.1:9" 2>"$T/iface" ||
	grep -q "Failed to connect\|Connection refused\|Couldn't connect" "$T/iface" ||
	skip_all "no second loopback address (curl --interface 127.0.0.2)"

server_init
sed -i -e 's/^login_failures *=.*/login_failures = 2/' \
	-e 's/^login_lockout *=.*/login_lockout = 1h/' "$D/coffred.conf"
user_add alice
server_start
PW=$(cat "$T/pw-alice")

# --- no trusted_proxies: X-Forwarded-For is the client's word -----------------
# shellcheck disable=SC2016 # $1 is the inner shell's
check "the default configuration trusts no proxy" \
	sh -c '! grep -q "^trusted_proxies" "$1"' _ "$D/coffred.conf"
check "an attacker at 127.0.0.2 rotating X-Forwarded-For is locked all the same" \
	lock_address "$T/rotate" rotate --interface 127.0.0.2
check_eq "exactly 10 guesses (5 x login_failures) were checked, whatever the headers" \
	10 "$(grep -c '^401$' "$T/rotate")"
check_eq "the throttle has one address bucket, the peer's; none for the forged ones" \
	"a:127.0.0.2 " "$(address_keys)"
check_eq "a new forged header does not let the right password in from 127.0.0.2" \
	429 "$(login alice "$PW" --interface 127.0.0.2 -H 'X-Forwarded-For: 203.0.113.250')"
check_eq "naming the locked address in the header locks out nobody else (127.0.0.3)" \
	200 "$(login alice "$PW" --interface 127.0.0.3 -H 'X-Forwarded-For: 127.0.0.2')"
check_eq "the session records the peer, not the header" 127.0.0.3 "$(session_address)"
check "the lock event names the peer" test "$(sql "SELECT count(*) FROM events WHERE kind = 'address-locked' AND detail LIKE '10 failed logins from 127.0.0.2;%'")" -eq 1
check "the access log names the peer" \
	grep -q "POST /v1/login 200 alice 127.0.0.3 " "$T/coffred.log"

# --- a bad trusted_proxies entry stops coffred at start -----------------------
server_stop
echo "trusted_proxies = 127.0.0.1, localhost" >>"$D/coffred.conf"
timeout 20 "$COFFRED" serve "$D" >"$T/bad.out" 2>&1
st=$?
check "coffred refuses to start with trusted_proxies naming a host name (exit $st)" \
	test "$st" -ne 0 -a "$st" -ne 124
check "and says which line and entry" \
	grep -q "coffred.conf line [0-9]*: trusted_proxies: 'localhost' is not a numeric IPv4 or IPv6 address" "$T/bad.out"
sed -i -e 's/^trusted_proxies *=.*/trusted_proxies = 10.0.0.1\/8/' "$D/coffred.conf"
timeout 20 "$COFFRED" serve "$D" >"$T/bad.out" 2>&1
check "or a prefix with host bits set" \
	grep -q "trusted_proxies: '10.0.0.1/8' has bits set past its prefix" "$T/bad.out"

# --- trusted_proxies = 127.0.0.1: HAProxy's X-Forwarded-For names the client ---
sed -i -e 's/^trusted_proxies *=.*/trusted_proxies = 127.0.0.1/' \
	-e 's/^max_connections_per_address *=.*/max_connections_per_address = 4/' \
	"$D/coffred.conf"
server_start
check "coffred says whom it trusts" grep -q "trusted proxies: 127.0.0.1 " "$T/coffred.log"

check "client 203.0.113.10 behind the proxy is locked out" \
	lock_address "$T/fixed" fixed -H 'X-Forwarded-For: 203.0.113.10'
check_eq "after exactly 10 checked guesses" 10 "$(grep -c '^401$' "$T/fixed")"
check_eq "the right password from 203.0.113.10 is refused (429)" \
	429 "$(login alice "$PW" -H 'X-Forwarded-For: 203.0.113.10')"
check_eq "client 203.0.113.20 behind the same proxy logs in" \
	200 "$(login alice "$PW" -H 'X-Forwarded-For: 203.0.113.20')"
check_eq "its session records 203.0.113.20" 203.0.113.20 "$(session_address)"
check "the access log names the forwarded client" \
	grep -q "POST /v1/login 200 alice 203.0.113.20 " "$T/coffred.log"
check "the lock event names the forwarded client" test "$(sql "SELECT count(*) FROM events WHERE kind = 'address-locked' AND detail LIKE '10 failed logins from 203.0.113.10;%'")" -eq 1
check_eq "the proxy's own address got no bucket" \
	"a:127.0.0.2 a:203.0.113.10 " "$(address_keys)"
check_eq "a forged entry left of the client changes nothing (429)" \
	429 "$(login alice "$PW" -H 'X-Forwarded-For: 203.0.113.20, 203.0.113.10')"
check_eq "two header lines are one list: the last line's entry counts (429)" \
	429 "$(login alice "$PW" -H 'X-Forwarded-For: 203.0.113.20' -H 'X-Forwarded-For: 203.0.113.10')"
check_eq "a trusted proxy's own entry on the right is skipped (429)" \
	429 "$(login alice "$PW" -H 'X-Forwarded-For: 203.0.113.10, 127.0.0.1')"
check_eq "IPv6 with brackets and a port, blanks around: another client (200)" \
	200 "$(login alice "$PW" -H 'X-Forwarded-For:  [2001:db8::7]:4711 ')"
check_eq "keyed by its /64" "2001:db8::/64" "$(session_address)"
check_eq "no header from the proxy: the proxy is the client (200)" \
	200 "$(login alice "$PW")"
check_eq "its session records 127.0.0.1" 127.0.0.1 "$(session_address)"
check_eq "HAProxy's health check (no header) is answered" \
	200 "$(curl -sS --cacert "$CACERT" -o /dev/null -w '%{http_code}' "$URL/healthz")"
check_eq "a malformed header from the trusted proxy is refused (400)" \
	400 "$(login alice "$PW" -H 'X-Forwarded-For: 203.0.113.10, not-an-address')"
check_eq "as bad_request, saying why" \
	"bad_request malformed X-Forwarded-For from the trusted proxy" \
	"$(jq -r '.error.code + " " + (.error.message | split(":")[0])' "$T/r.json")"
check_eq "an empty one too (400)" 400 "$(login alice "$PW" -H 'X-Forwarded-For;')"
check_eq "a guess behind a malformed header is refused (400)" \
	400 "$(login mallory wrong -H 'X-Forwarded-For: [::1')"
check_eq "before the throttle counts it: nothing changed" \
	"0 a:127.0.0.2 a:203.0.113.10 " \
	"$(sql "SELECT count(*) FROM login_throttle WHERE key = 'l:mallory'") $(address_keys)"
check "the access log names the proxy for it" \
	grep -q "POST /v1/login 400 - 127.0.0.1 " "$T/coffred.log"

# --- a peer that is not a trusted proxy: its header is ignored ------------------
check_eq "from 127.0.0.4, naming the locked 203.0.113.10 does not lock it out (200)" \
	200 "$(login alice "$PW" --interface 127.0.0.4 -H 'X-Forwarded-For: 203.0.113.10')"
check_eq "its session records the peer" 127.0.0.4 "$(session_address)"
check_eq "nor does a malformed header refuse it (200)" \
	200 "$(login alice "$PW" --interface 127.0.0.4 -H 'X-Forwarded-For: not-an-address')"
check_eq "127.0.0.2 stays locked whatever it forwards" \
	429 "$(login alice "$PW" --interface 127.0.0.2 -H 'X-Forwarded-For: 203.0.113.20')"

# --- the per-address connection limit exempts the trusted proxy only -----------
check_eq "12 idle connections from the trusted proxy all stay open" \
	12 "$(idle_sockets 127.0.0.1 12)"
check_eq "of 12 from another address, 4 (max_connections_per_address) stay open" \
	4 "$(idle_sockets 127.0.0.5 12)"
sleep 1
check_eq "closed connections give their places back: 4 open again" \
	4 "$(idle_sockets 127.0.0.5 4)"
check_eq "the proxy is served meanwhile" \
	200 "$(curl -sS --cacert "$CACERT" -o /dev/null -w '%{http_code}' "$URL/healthz")"

# --- a reload (SIGHUP) changes whom coffred trusts, without a restart ---------
sleep 1 # the places of the connections above are given back
sed -i -e 's/^trusted_proxies *=.*/trusted_proxies = 127.0.0.5/' "$D/coffred.conf"
kill -HUP "$SERVER_PID"
check "the log says whom it trusts now" \
	wait_for grep -q "trusted proxies now: 127.0.0.5$" "$T/coffred.log"
check "and no restart is asked for it" \
	sh -c '! grep -q "trusted_proxies changed" "$1"' _ "$T/coffred.log"
check_eq "the new proxy's X-Forwarded-For names the client (200)" \
	200 "$(login alice "$PW" --interface 127.0.0.5 -H 'X-Forwarded-For: 203.0.113.30')"
check "the access log names that client" \
	grep -q "POST /v1/login 200 alice 203.0.113.30 " "$T/coffred.log"
check_eq "its session records the client" 203.0.113.30 "$(session_address)"
check_eq "the old proxy's header is ignored now: the locked 203.0.113.10 is not its client (200)" \
	200 "$(login alice "$PW" -H 'X-Forwarded-For: 203.0.113.10')"
check_eq "its session records the peer" 127.0.0.1 "$(session_address)"
check_eq "12 idle connections from the new proxy all stay open" \
	12 "$(idle_sockets 127.0.0.5 12)"
check_eq "of 12 from the old proxy, 4 (max_connections_per_address) stay open" \
	4 "$(idle_sockets 127.0.0.1 12)"
sleep 1

# A list that does not parse changes nothing.
sed -i -e 's/^trusted_proxies *=.*/trusted_proxies = proxy.example/' "$D/coffred.conf"
kill -HUP "$SERVER_PID"
check "a bad list: the log says not reloaded" wait_for grep -q \
	"coffred.conf not reloaded, the running settings stay: .*trusted_proxies: 'proxy.example'" \
	"$T/coffred.log"
check_eq "127.0.0.5 is trusted still" \
	200 "$(login alice "$PW" --interface 127.0.0.5 -H 'X-Forwarded-For: 203.0.113.31')"
check_eq "its session records the client" 203.0.113.31 "$(session_address)"

# None again: every peer is its own client and counted.
sed -i -e '/^trusted_proxies *=/d' "$D/coffred.conf"
kill -HUP "$SERVER_PID"
check "the log says it trusts none now" \
	wait_for grep -q "trusted proxies now: none$" "$T/coffred.log"
check_eq "the header of 127.0.0.5 is ignored (200)" \
	200 "$(login alice "$PW" --interface 127.0.0.5 -H 'X-Forwarded-For: 203.0.113.32')"
check_eq "its session records the peer" 127.0.0.5 "$(session_address)"
check_eq "and of 12 idle connections from it, 4 stay open" \
	4 "$(idle_sockets 127.0.0.5 12)"
check "coffred still serves" proc_alive "$SERVER_PID"

server_stop
done_testing
