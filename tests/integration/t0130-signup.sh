#!/bin/bash
# Accounts people make themselves, as a newcomer and as an attacker would
# try it: `coffre signup` with the code read from the SMS the test gateway
# wrote (sms_command is a script writing each message to a file), wrong
# codes counted and the code void after 5, a taken login told only with
# the right code, numbers and requests throttled, signup = closed, invite
# and open switched by a reload, then `coffre password-reset` through the
# same channel: the old password and every session end.
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"
require_cmd curl jq sqlite3
[ "${COFFRE_INDEX:-sqlite}" = postgresql ] && require_cmd psql

mkdir -p "$T/sms"
# The test SMS gateway: one file per message, the number on its first
# line, the text after.  $T/sms-fail makes it fail as a gateway down.
cat >"$T/sms.sh" <<GATEWAY
#!/bin/sh
[ -e "$T/sms-fail" ] && exit 1
f="$T/sms/\$(date +%s%N)"
{ echo "\$1"; cat; } >"\$f.tmp" && mv "\$f.tmp" "\$f"
GATEWAY
chmod +x "$T/sms.sh"

server_init
user_add alice
server_start

sms_count() { find "$T/sms" -type f ! -name '*.tmp' | wc -l; }
last_sms() { find "$T/sms" -type f ! -name '*.tmp' | sort | tail -n1; }
code_of() { sed -n 's/.* is \([0-9]\{6\}\) .*/\1/p' "$1"; }
codes() { index_sql "SELECT count(*) FROM pending_codes"; }
reload()
{
	local n
	n=$(grep -c "coffred.conf reloaded" "$T/coffred.log")
	server_reload
	# every node says it (two log to coffred.log on a deployment)
	wait_for sh -c '[ "$(grep -c "coffred.conf reloaded" "$1")" -ge "$2" ]' _ "$T/coffred.log" "$((n + SERVER_NODES))"
}
post() { api "$T/r.json" POST "$1" -d "$2"; }
printf 'correct horse battery\n' >"$T/pw-bob"

# --- closed by default --------------------------------------------------------
check "the default configuration has no signup key (closed)" \
	sh -c '! grep -q "^signup" "$1"' _ "$D/coffred.conf"
"$COFFRE" --config "$T/c-bob" signup "$URL" bob --phone +33611111111 \
	--password-file "$T/pw-bob" --cacert "$CACERT" >"$T/out" 2>&1
check_eq "coffre signup on a closed server: exit 1" 1 "$?"
check "it says sign-up is closed" grep -q "sign-up is closed on this server" "$T/out"
check_eq "with curl: 403" 403 \
	"$(post /v1/signup '{"login":"bob","phone":"+33611111111","password":"correct horse"}')"
check_eq "and no SMS went" 0 "$(sms_count)"

# --- open, by a reload --------------------------------------------------------
printf 'signup = open\nsms_command = %s\n' "$T/sms.sh" >>"$D/coffred.conf"
check "SIGHUP reloads signup and sms_command" reload
"$COFFRE" --config "$T/c-bob" signup "$URL" bob --phone +33611111111 \
	--email bob@example.org --password-file "$T/pw-bob" --cacert "$CACERT" \
	>"$T/out" 2>&1
check_eq "coffre signup asks for a code: exit 0" 0 "$?"
check "it says where the code went, the number masked" \
	grep -q "a code was sent by SMS to +33.*11, valid until" "$T/out"
check "and how to confirm" grep -q "coffre signup $URL bob --code CODE" "$T/out"
check_eq "one SMS" 1 "$(sms_count)"
SMS=$(last_sms)
check_eq "to the number given" +33611111111 "$(head -n1 "$SMS")"
CODE=$(code_of "$SMS")
check "with a 6-digit code" test -n "$CODE"
check_eq "the index keeps its hash, not the code" "0 64" \
	"$(index_sql "SELECT count(*) FROM pending_codes WHERE code_hash LIKE '%$CODE%' OR salt LIKE '%$CODE%'") $(index_sql "SELECT length(code_hash) FROM pending_codes WHERE login = 'bob'")"
check_eq "no account yet: bob cannot log in (401)" 401 \
	"$(post /v1/login '{"login":"bob","password":"correct horse battery"}')"
WRONG=$(printf '%06d' $(((10#$CODE + 1) % 1000000)))
"$COFFRE" --config "$T/c-bob" signup "$URL" bob --code "$WRONG" \
	--cacert "$CACERT" >"$T/out" 2>&1
check_eq "a wrong code: exit 1" 1 "$?"
check "it says wrong or expired" grep -q "wrong or expired code" "$T/out"
"$COFFRE" --config "$T/c-bob" signup "$URL" bob --code "$CODE" \
	--password-file "$T/pw-bob" --cacert "$CACERT" >"$T/out" 2>&1
check_eq "the right code: exit 0" 0 "$?"
check "the account is made and bob logged in" \
	sh -c 'grep -q "account bob made" "$1" && grep -q "logged in as bob" "$1"' _ "$T/out"
check_eq "its session records the client's address" 127.0.0.1 \
	"$(index_sql "SELECT address FROM tokens WHERE login = 'bob'")"
check "bob's session works: coffre spaces" \
	"$COFFRE" --config "$T/c-bob" spaces
check "bob makes a space of his own" \
	"$COFFRE" --config "$T/c-bob" space create bobspace --plan none
check_eq "and logs in with his password (200)" 200 \
	"$(post /v1/login '{"login":"bob","password":"correct horse battery"}')"
check_eq "the code is used up: again, 403" 403 \
	"$(post /v1/signup/confirm "{\"login\":\"bob\",\"code\":\"$CODE\"}")"
check_eq "no code left pending" 0 "$(codes)"
check_eq "the sign-up is an event" 1 \
	"$(index_sql "SELECT count(*) FROM events WHERE kind = 'signup' AND login = 'bob'")"

# --- a taken login: the same answer, told only with the right code ----------
check_eq "a sign-up as alice (taken) is answered as any other (202)" 202 \
	"$(post /v1/signup '{"login":"alice","phone":"+33622222222","password":"mallory wants in"}')"
CODE=$(code_of "$(last_sms)")
check_eq "with the code, 409: taken" 409 \
	"$(post /v1/signup/confirm "{\"login\":\"alice\",\"code\":\"$CODE\"}")"
check_eq "alice's password is hers still (200)" 200 \
	"$(post /v1/login "{\"login\":\"alice\",\"password\":\"$(cat "$T/pw-alice")\"}")"
check_eq "the intruder's is refused (401)" 401 \
	"$(post /v1/login '{"login":"alice","password":"mallory wants in"}')"

# --- five wrong codes void it ----------------------------------------------------
post /v1/signup '{"login":"carol","phone":"+33633333333","password":"carol password"}' >/dev/null
CODE=$(code_of "$(last_sms)")
WRONG=$(printf '%06d' $(((10#$CODE + 7) % 1000000)))
: >"$T/st"
for i in 1 2 3 4 5; do
	post /v1/signup/confirm "{\"login\":\"carol\",\"code\":\"$WRONG\"}" >>"$T/st"
	echo >>"$T/st"
done
check_eq "5 wrong codes: 403 each" "403 403 403 403 403" "$(tr '\n' ' ' <"$T/st" | sed 's/ $//')"
sleep 2 # past the throttle's first delay
check_eq "then the right code is refused too: the code is void" 403 \
	"$(post /v1/signup/confirm "{\"login\":\"carol\",\"code\":\"$CODE\"}")"
check_eq "no account carol" 401 \
	"$(post /v1/login '{"login":"carol","password":"carol password"}')"

# --- an expired code ------------------------------------------------------------
post /v1/signup '{"login":"dave","phone":"+33644444444","password":"dave password"}' >/dev/null
CODE=$(code_of "$(last_sms)")
index_sql "UPDATE pending_codes SET expires_at = $(date +%s) - 1 WHERE login = 'dave'"
check_eq "a code past its 10 minutes: 403" 403 \
	"$(post /v1/signup/confirm "{\"login\":\"dave\",\"code\":\"$CODE\"}")"

# --- hostile input: refused, nothing sent -------------------------------------------
n=$(sms_count)
for body in \
	'{"login":"eve","phone":"0611111111","password":"eve password"}' \
	'{"login":"eve","phone":"+0611111111","password":"eve password"}' \
	'{"login":"eve","phone":"+3361111111a","password":"eve password"}' \
	'{"login":"eve","phone":"+3361111111111111","password":"eve password"}' \
	'{"login":"../eve","phone":"+33611111111","password":"eve password"}' \
	'{"login":"eve","phone":"+33611111111","password":"short"}' \
	'{"login":"eve","phone":"+33611111111","password":"eve password","email":"eve at example"}' \
	'{"login":"eve","phone":"+33611111111","password":"eve password","email":"a@b@c"}' \
	'{"login":"eve","password":"eve password"}' \
	'["eve"]' \
	'{"login":"eve","phone":"+33611111111","password":"eve password"'; do
	echo "$(post /v1/signup "$body") $body" >>"$T/bad"
done
check "every malformed request: 400" sh -c '! grep -v "^400 " "$1"' _ "$T/bad"
check_eq "an oversized one: 413" 413 \
	"$(post /v1/signup "{\"login\":\"eve\",\"phone\":\"+33611111111\",\"password\":\"$(head -c 8000 /dev/zero | tr '\0' x)\"}")"
check_eq "a code of letters: 403, nothing learnt" 403 \
	"$(post /v1/signup/confirm '{"login":"bob","code":"abcdef"}')"
check_eq "and none of them sent an SMS" "$n" "$(sms_count)"

# --- one number, many requests: throttled --------------------------------------
# Whatever the machine's speed: the first requests go, later ones wait
# (429) and at login_failures (10) counted the number is locked, so at most
# 10 SMS ever reach it.
: >"$T/st"
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	st=$(post /v1/signup "{\"login\":\"spam$i\",\"phone\":\"+33655555555\",\"password\":\"spam password\"}")
	echo "$st" >>"$T/st"
	[ "$st" = 429 ] && cp "$T/r.json" "$T/r429.json"
done
check "requests for one number are soon refused with 429" grep -q '^429$' "$T/st"
check "and a refusal says when to retry" jq -e '.error.retry_after >= 1' "$T/r429.json"
check "at most 10 SMS went to that number (login_failures)" sh -c \
	'[ "$(grep -lx "+33655555555" "$1"/* | wc -l)" -le 10 ]' _ "$T/sms"

# --- the gateway down: a clear error, nothing kept ----------------------------------
touch "$T/sms-fail"
c0=$(codes)
check_eq "a failing sms_command: 502" 502 \
	"$(post /v1/signup '{"login":"frank","phone":"+33666666666","password":"frank password"}')"
check "it says the SMS could not be sent" jq -e '.error.message | test("SMS could not be sent")' "$T/r.json"
check_eq "no code kept for it" "$c0" "$(codes)"
rm -f "$T/sms-fail"

# --- signup = invite ------------------------------------------------------------------
sed -i 's/^signup = open$/signup = invite/' "$D/coffred.conf"
check "reloaded as invite" reload
check_eq "without an invitation: 403" 403 \
	"$(post /v1/signup '{"login":"gina","phone":"+33677777777","password":"gina password"}')"
check "saying an invitation is needed" jq -e '.error.message | test("invitation")' "$T/r.json"
INVITE=$("$COFFRED" invite "$D" --days 2)
check "coffred invite prints a code" sh -c '[ ${#1} -eq 24 ]' _ "$INVITE"
check_eq "a made-up invitation: 403" 403 \
	"$(post /v1/signup '{"login":"gina","phone":"+33677777777","password":"gina password","invite":"AAAA-BBBB-CCCC-DDDD-EEEE"}')"
"$COFFRE" --config "$T/c-gina" signup "$URL" gina --phone +33677777777 \
	--password-file "$T/pw-bob" --invite "$(echo "$INVITE" | tr 'A-Z' 'a-z')" \
	--cacert "$CACERT" >"$T/out" 2>&1
check_eq "with it (typed in lower case): a code is sent" 0 "$?"
check_eq "the index keeps no invitation in clear" 0 \
	"$(index_sql "SELECT count(*) FROM signup_invites WHERE hash LIKE '%$INVITE%'")"
"$COFFRE" --config "$T/c-gina" signup "$URL" gina --code "$(code_of "$(last_sms)")" \
	--cacert "$CACERT" >"$T/out" 2>&1
check_eq "gina confirms and is logged in" 0 "$?"
check "without a password given, it says the signing key waits for a login" \
	grep -q "no signing key yet" "$T/out"
check_eq "the invitation is used up: another sign-up with it, 403" 403 \
	"$(post /v1/signup "{\"login\":\"hugo\",\"phone\":\"+33688888888\",\"password\":\"hugo password\",\"invite\":\"$INVITE\"}")"
check "coffred invite refuses 0 days" sh -c '! "$1" invite "$2" --days 0 2>/dev/null' _ "$COFFRED" "$D"

# --- password reset -----------------------------------------------------------------
n=$(sms_count)
"$COFFRE" password-reset "$URL" bob --cacert "$CACERT" >"$T/out" 2>&1
check_eq "coffre password-reset asks for a code: exit 0" 0 "$?"
check "a reset SMS reaches bob's number" \
	wait_for sh -c '[ "$(find "$1" -type f ! -name "*.tmp" | wc -l)" -gt "$2" ]' _ "$T/sms" "$n"
SMS=$(last_sms)
check_eq "to bob's number" +33611111111 "$(head -n1 "$SMS")"
check "saying it is a reset" grep -q "password reset code for bob" "$SMS"
"$COFFRE" password-reset "$URL" nobody --cacert "$CACERT" >"$T/out2" 2>&1
check_eq "an unknown login: the same exit status" 0 "$?"
check_eq "and the same words" "$(sed 's/bob/X/g; s/valid until .*/U/' "$T/out")" \
	"$(sed 's/nobody/X/g; s/valid until .*/U/' "$T/out2")"
sleep 1
check_eq "but no SMS for it" "$(($n + 1))" "$(sms_count)"
printf 'a brand new password\n' >"$T/pw-bob2"
"$COFFRE" password-reset "$URL" bob --code 000000 --password-file "$T/pw-bob2" \
	--cacert "$CACERT" >"$T/out" 2>&1
check_eq "a wrong reset code: exit 1" 1 "$?"
"$COFFRE" password-reset "$URL" bob --code "$(code_of "$SMS")" \
	--password-file "$T/pw-bob2" --cacert "$CACERT" >"$T/out" 2>&1
check_eq "the right one: exit 0" 0 "$?"
check "it says the sessions ended" grep -q "sessions ended" "$T/out"
check "bob's saved session no longer works" \
	sh -c '! "$1" --config "$2" spaces >/dev/null 2>&1' _ "$COFFRE" "$T/c-bob"
check_eq "the old password is refused (401)" 401 \
	"$(post /v1/login '{"login":"bob","password":"correct horse battery"}')"
check_eq "the new one works (200)" 200 \
	"$(post /v1/login '{"login":"bob","password":"a brand new password"}')"
check_eq "the reset is an event" 1 \
	"$(index_sql "SELECT count(*) FROM events WHERE kind = 'password-reset' AND login = 'bob'")"

# --- no gateway configured ---------------------------------------------------------
sed -i '/^sms_command/d; s/^signup = invite$/signup = open/' "$D/coffred.conf"
check "reloaded without sms_command" reload
check_eq "sign-up: 503" 503 \
	"$(post /v1/signup '{"login":"ivan","phone":"+33699999999","password":"ivan password"}')"
check_eq "password reset: 503" 503 "$(post /v1/password-reset '{"login":"bob"}')"
check "coffred still serves" proc_alive "$SERVER_PID"
check "fsck is clean" "$COFFRED" fsck "$D"
server_stop
done_testing
