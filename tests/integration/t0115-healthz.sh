#!/bin/bash
# GET /healthz, what a load balancer's health check asks: no token needed,
# 200 "ok" while coffred reaches its stores, 503 naming the store (and
# nothing of its paths) when one is gone, 200 again once it is back.
. "$TESTLIB/common.sh"
require_cmd curl

server_start
# hz [CURL ARGS...]: "STATUS BODY" of GET /healthz.
hz()
{
	curl -sS --cacert "$CACERT" -o "$T/hz.body" -w '%{http_code}' "$@" \
		"$URL/healthz" >"$T/hz.code" 2>>"$T/curl.log"
	echo "$(cat "$T/hz.code") $(tr '\n' ' ' <"$T/hz.body" | sed 's/ $//')"
}

check_eq "healthy: 200 ok, without a token" "200 ok" "$(hz)"
check_eq "a bad token changes nothing" "200 ok" \
	"$(hz -H 'Authorization: Bearer 00')"
check "it is plain text" grep -q '^ok$' "$T/hz.body"
code=$(curl -sS --cacert "$CACERT" -o /dev/null -w '%{http_code}' \
	-X POST "$URL/healthz")
check_eq "POST /healthz: 405" 405 "$code"
code=$(curl -sS --cacert "$CACERT" -o /dev/null -w '%{http_code}' \
	"$URL/healthz/x")
check_eq "GET /healthz/x: 404" 404 "$code"
check "the probe leaves no file in the data directory" \
	sh -c '! ls -a "$1" | grep -q healthz' _ "$D"

# The folder holding the spaces' ledgers and chunk stores goes away (a
# volume unmounted), then comes back.
mv "$D/spaces" "$D/spaces.away"
got=$(hz)
check_eq "spaces folder gone: 503 naming the chunk store" \
	"503 unavailable: chunk store" "$got"
check "the 503 names no path" sh -c '! grep -q "/" "$1"' _ "$T/hz.body"
check "the log says why" grep -q "healthz: chunk store: cannot open '.*spaces'" \
	"$T/coffred.log"
mv "$D/spaces.away" "$D/spaces"
check_eq "back: 200 ok" "200 ok" "$(hz)"

# The data directory refuses writes: a read-only bind mount over it.
if mount --bind "$D" "$D" 2>/dev/null &&
	mount -o remount,bind,ro "$D" 2>/dev/null; then
	check_eq "data directory read-only: 503 naming it" \
		"503 unavailable: data directory" "$(hz)"
	umount "$D"
	check_eq "writable again: 200 ok" "200 ok" "$(hz)"
else
	mountpoint -q "$D" && umount "$D"
	ok "# SKIP no bind mount here (not root): read-only data directory"
fi
server_stop
done_testing
