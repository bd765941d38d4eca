#!/bin/bash
# Idle sockets do not deny service: from one address (127.0.0.2) an
# attacker opens 256 TCP connections and never says a word (no TLS hello);
# past max_connections_per_address (32) the server closes them at once,
# the others go at the handshake timeout (5 s), and meanwhile a user from
# another address (127.0.0.1) is served.  A connection that got through its
# handshake and a request may then sit idle for the longer idle timeout.
# cluster: no -- the connection limits per address are each node's; behind HAProxy they are HAProxy's (tests/cluster/c0001)
. "$TESTLIB/common.sh"
require_cmd curl python3

server_start
user_add alice
json=(-H "Content-Type: application/json")
python3 -c 'import json,sys; print(json.dumps({"login": "alice", "password": open(sys.argv[1]).read().strip()}))' \
	"$T/pw-alice" >"$T/login.json"
code=$(api "$T/r" POST /v1/login "${json[@]}" --data-binary "@$T/login.json")
check_eq "login" 200 "$code"
auth=(-H "Authorization: Bearer $(json_get "$T/r" 'j["token"]')")
check "the default configuration names the per-address limit" \
	grep -q '^max_connections_per_address = 32$' "$D/coffred.conf"

# The attacker: 256 silent sockets from 127.0.0.2.  It reports how many the
# server closed within a second, then (keeping the rest) waits for the
# rest to be closed and reports when.
cat >"$T/idle.py" <<'PY'
import select, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", port))
    socks.append(s)
t0 = time.monotonic()
def closed(s):
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(1) == b""
    except OSError:
        return True
time.sleep(1)
open_ = [s for s in socks if not closed(s)]
print("closed-at-once", n - len(open_), flush=True)
open(sys.argv[3], "w").write("ready\n")
while open_ and time.monotonic() - t0 < 60:
    time.sleep(0.2)
    open_ = [s for s in open_ if not closed(s)]
print("left-open", len(open_), "after", round(time.monotonic() - t0, 1), flush=True)
PY
python3 "$T/idle.py" "$PORT" 256 "$T/ready" >"$T/idle.out" 2>&1 &
idle_pid=$!
EXTRA_PIDS+=("$idle_pid")
check "the attacker's sockets are open" wait_for test -s "$T/ready"
check_eq "224 of its 256 sockets were closed at once (32 per address)" \
	"closed-at-once 224" "$(head -n 1 "$T/idle.out")"
code=$(api "$T/r" GET /v1/spaces "${auth[@]}" --max-time 4)
check_eq "meanwhile a user from 127.0.0.1 is served" 200 "$code"
code=$(api "$T/r" GET /v1/spaces "${auth[@]}" --max-time 4)
check_eq "... again" 200 "$code"
wait "$idle_pid"
sed -n 2p "$T/idle.out" | diag
check "the 32 silent sockets were all closed by the server within 60 s" \
	grep -q '^left-open 0 ' "$T/idle.out"

# TLS done, but no request: also bounded by the handshake timeout.
cat >"$T/quiet.py" <<'PY'
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
    t = time.monotonic()
    try:
        print("read", repr(s.recv(10)), "after", round(time.monotonic() - t, 1))
    except socket.timeout:
        print("still open after 60 s")
PY
python3 "$T/quiet.py" "$PORT" "$CACERT" >"$T/quiet" 2>&1
diag <"$T/quiet"
check "a TLS connection that sends no request is closed by the server" \
	grep -q "^read b'' after" "$T/quiet"

# After a request, a kept-alive connection may idle past the handshake
# timeout: a second request on it, 8 s later, still gets an answer.
cat >"$T/keep.py" <<'PY'
import socket, ssl, sys, time
port, cafile, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
req = ("GET /v1/spaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % token).encode()
with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        for i in range(2):
            if i:
                time.sleep(8)
            s.sendall(req)
            f = s.makefile("rb")
            status = f.readline().decode().strip()
            length = 0
            while True:
                line = f.readline().decode().strip()
                if not line:
                    break
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":")[1])
            f.read(length)
            print(status, flush=True)
PY
api "$T/r" POST /v1/login "${json[@]}" --data-binary "@$T/login.json" >/dev/null
tok=$(json_get "$T/r" 'j["token"]')
check "a kept-alive connection answers a request sent 8 s after the first" \
	sh -c 'python3 "$1" "$2" "$3" "$4" | grep -c "^HTTP/1.1 200" | grep -qx 2' _ \
	"$T/keep.py" "$PORT" "$CACERT" "$tok"

done_testing
