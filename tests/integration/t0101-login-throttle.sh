#!/bin/bash
# Password guessing against POST /v1/login with curl, as an attacker does
# it: 700 wrong passwords for one login are checked at most login_failures
# times, then refused with 429 (a growing wait, then a lock that holds the
# right password out too); parallel guesses do not slip through; an
# unknown login gets the same answers; guessing many logins from one
# address is slowed per address; the lock is an event the account's owner
# reads with `coffre log`; and the guesses add no journal rows.
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"	# test_init: $T, $D, traps

require_cmd curl jq sqlite3

# guess LOGIN PASSWORD [CURL ARGS]: the status; the body in $T/guess.json,
# and a refusal's (429) also in $T/refused.json: on a slow machine the
# growing wait may pass before the next guess, which is then checked, so
# the last answer of a run of guesses need not be a refusal.
guess()
{
	local l=$1 p=$2 st
	shift 2
	st=$(curl -sS --max-time 20 --cacert "$CACERT" -o "$T/guess.json" \
		-w '%{http_code}' -X POST "$@" \
		-d "{\"login\": \"$l\", \"password\": \"$p\"}" "$URL/v1/login")
	[ "$st" != 429 ] || cp "$T/guess.json" "$T/refused.json"
	echo "$st"
}

events_rows()
{
	index_sql 'SELECT count(*) FROM events'
}

server_init
sed -i -e 's/^login_failures *=.*/login_failures = 6/' \
	-e 's/^login_lockout *=.*/login_lockout = 1h/' "$D/coffred.conf"
user_add alice
user_add bob
space_create bobs bob
server_start

# bob's own drive, mounted before the attack (its token stays valid).
client_login b bob
client_mount b bobs

# --- 700 guesses for one login ---------------------------------------------
before=$(events_rows)
: >"$T/statuses"
for i in $(seq 1 700); do
	echo "$(guess bob "guess-$i")" >>"$T/statuses"
done
checked=$(grep -c '^401$' "$T/statuses")
refused=$(grep -c '^429$' "$T/statuses")
check "of 700 guesses at most 6 (login_failures) are checked ($checked)" \
	test "$checked" -ge 3 -a "$checked" -le 6
check_eq "every other guess is refused with 429" 700 $((checked + refused))
check_eq "the 429 answer's code is too_many" too_many "$(jq -r .error.code "$T/refused.json")"
check "and it says how long to wait" test "$(jq -r .error.retry_after "$T/refused.json")" -ge 1
# Until the lock, let the waits pass (the growing delay), then lock it.
for ((i = 0; i < 20 && checked < 6; i++)); do
	w=$(jq -r '.error.retry_after // 0' "$T/guess.json")
	[ "$w" -gt 10 ] && break
	sleep "$w"
	[ "$(guess bob "late-$i")" = 401 ] && checked=$((checked + 1))
done
check_eq "the sixth checked failure locks the login" 6 "$checked"
st=$(guess bob "$(cat "$T/pw-bob")")
check_eq "while locked, the right password is refused too (429)" 429 "$st"
w=$(jq -r .error.retry_after "$T/guess.json")
check "the lock lasts login_lockout (1h: $w s left)" test "$w" -gt 3500 -a "$w" -le 3600
after=$(events_rows)
check "700 guesses add no journal row per failure ($((after - before)) rows)" \
	test $((after - before)) -le 3
check_eq "failed logins are counted in one row per key" 1 \
	"$(index_sql "SELECT count(*) FROM login_throttle WHERE key = 'l:bob'")"

# --- the owner of the account sees the lock ----------------------------------
check_eq "the lock is in the server's journal" 1 \
	"$(index_sql "SELECT count(*) FROM events WHERE space = '' AND kind = 'login-locked' AND login = 'bob'")"
cf b log "$(mnt_of b)" >"$T/log" 2>&1
check "bob's coffre log shows login-locked" grep -q "bob .*login-locked" "$T/log"
check "with the count and the address" grep -q "6 failed logins, the last from 127.0.0.1" "$T/log"
client_umount b

# --- an unknown login answers alike ------------------------------------------
: >"$T/nobody"
rm -f "$T/refused.json" # the body compared below is nobody's
for i in $(seq 1 30); do
	echo "$(guess nobody "guess-$i")" >>"$T/nobody"
done
n401=$(grep -c '^401$' "$T/nobody")
check "an unknown login is throttled alike ($n401 checked of 30)" \
	test "$n401" -le 6 -a "$(grep -c '^429$' "$T/nobody")" -ge 24
check_eq "with the same 429 body" "too_many too many failed logins" \
	"$(jq -r '.error.code + " " + (.error.message | split(":")[0])' "$T/refused.json")"

# --- parallel guesses ------------------------------------------------------
pids=
for i in $(seq 1 40); do
	curl -s --max-time 30 --cacert "$CACERT" -o /dev/null -w '%{http_code}\n' \
		-d "{\"login\": \"carol\", \"password\": \"p$i\"}" "$URL/v1/login" \
		>>"$T/parallel" &
	pids="$pids $!"
done
wait $pids
n401=$(grep -c '^401$' "$T/parallel")
check "40 parallel guesses: at most 6 checked ($n401)" test "$n401" -le 6
# Past max_connections_per_address (32) a connection is closed at once
# (curl's 000): refused as well, before any password is checked.
check_eq "the others refused (429, or closed by the per-address limit)" 40 \
	$((n401 + $(grep -c '^429$' "$T/parallel") + $(grep -c '^000$' "$T/parallel")))

# --- one address, many logins -------------------------------------------------
# 127.0.0.2 is another address of the loopback: a second attacker.
if curl -sS --interface 127.0.0.2 --cacert "$CACERT" -o /dev/null "$URL/v1/spaces" 2>/dev/null; then
	: >"$T/spray"
	for i in $(seq 1 60); do
		echo "$(guess "user$i" "guess" --interface 127.0.0.2)" >>"$T/spray"
	done
	n401=$(grep -c '^401$' "$T/spray")
	check "60 logins tried once each from one address: slowed after 15 ($n401 checked)" \
		test "$n401" -ge 15 -a "$n401" -le 30
	check "an address's refusal is a 429 too" grep -q '^429$' "$T/spray"
	check_eq "alice from 127.0.0.3 logs in meanwhile" 200 \
		"$(guess alice "$(cat "$T/pw-alice")" --interface 127.0.0.3)"
else
	ok "# SKIP no second loopback address"
fi

server_stop
done_testing
