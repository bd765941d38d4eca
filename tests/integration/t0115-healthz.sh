#!/bin/bash
# GET /healthz, what a load balancer's health check asks: no token needed,
# 200 "ok" while coffred reaches its stores, 503 naming the store (and
# nothing of its paths) when one is gone, 200 again once it is back.
# cluster: no -- it breaks one node's data directory; HAProxy's health checks on a node are tests/cluster/c0001's
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

# Chunks in an S3 bucket: the probe lists it.  A stand-in S3 endpoint
# answers an empty listing (200), then refuses (403), then is gone.
cat >"$T/fake_s3.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        mode = open(sys.argv[2]).read().strip()
        with open(sys.argv[3], "a") as log:
            log.write(self.path + "\n")
        if mode == "ok":
            body = (b'<?xml version="1.0" encoding="UTF-8"?>'
                    b'<ListBucketResult><IsTruncated>false</IsTruncated>'
                    b'</ListBucketResult>')
            self.send_response(200)
        else:
            body = b'<Error><Code>AccessDenied</Code></Error>'
            self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
echo ok >"$T/s3.mode"
python3 "$T/fake_s3.py" "$T/s3.port" "$T/s3.mode" "$T/s3.log" &
S3_PID=$!
EXTRA_PIDS+=("$S3_PID")
for ((i = 0; i < 100; i++)); do [ -s "$T/s3.port" ] && break; sleep 0.1; done
printf 'AKIDHEALTHZ\nsecret\n' >"$T/s3.key"
chmod 600 "$T/s3.key"
cp "$D/coffred.conf" "$T/coffred.conf.dir"
{
	echo "chunks = s3://127.0.0.1:$(cat "$T/s3.port")/coffre"
	echo "s3_key_file = $T/s3.key"
} >>"$D/coffred.conf"
server_start
check_eq "chunks in S3, the bucket answers: 200 ok" "200 ok" "$(hz)"
check "the probe listed the bucket under a prefix no space has" \
	grep -q 'list-type=2.*prefix=.healthz%2F\|list-type=2.*prefix=\.healthz/' "$T/s3.log"
echo refuse >"$T/s3.mode"
check_eq "the bucket refuses (403): 503 naming the chunk store" \
	"503 unavailable: chunk store" "$(hz)"
echo ok >"$T/s3.mode"
check_eq "it answers again: 200 ok" "200 ok" "$(hz)"
kill "$S3_PID"
wait "$S3_PID" 2>/dev/null
EXTRA_PIDS=()
check_eq "the store is gone: 503 naming the chunk store" \
	"503 unavailable: chunk store" "$(hz)"
check "the 503 names no host" sh -c '! grep -q "127.0.0.1" "$1"' _ "$T/hz.body"
server_stop
cp "$T/coffred.conf.dir" "$D/coffred.conf"
done_testing
