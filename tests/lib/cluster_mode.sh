# The integration tests against a deployment of several nodes: sourced by
# common.sh when COFFRE_CLUSTER names the directory of a running
# `scripts/cluster.sh up` (its PostgreSQL and Ceph RGW are used; its own
# nodes and HAProxy are not).
#
# Each test then gets stores of its own on that deployment -- a database
# (owned by the deployment's role coffre) and a bucket -- and two coffred
# nodes on them ($D made with --index, --chunks s3:// and --ledger
# postgresql, $T/node2 with --join $D), behind an HAProxy of its own that
# ends TLS with the deployment's certificate, as scripts/cluster.sh's
# does.  URL and CACERT are HAProxy's, so every client request of the test
# goes through it to either node; admin commands run on $D.  The stores
# are dropped at the end of the test.
#
# A test that cannot mean anything there (it reads a node's own folders,
# counts connections per address on a node, ...) says so with a line
# "# cluster: no -- REASON" and is skipped with that reason; a check of
# one node's own files is guarded by one_node (common.sh).
# shellcheck shell=bash disable=SC2034 # URL, CACERT, ...: common.sh's

CLUSTER_DB=
SERVER_NODES=2
CLUSTER_BUCKET=
CLUSTER_HAPROXY_PID=
CLUSTER_NODE2_PID=
CLUSTER_NODE_PORTS=()
CLUSTER_HAPROXY_PORT=

cluster_mode_check()
{
	local why

	why=$(sed -n 's/^# cluster: no -- //p' "$0" | head -n 1)
	[ -z "$why" ] || skip_all "not with several nodes: $why"
	[ -s "$COFFRE_CLUSTER/env" ] ||
		skip_all "COFFRE_CLUSTER=$COFFRE_CLUSTER has no env (scripts/cluster.sh up it first)"
	# shellcheck disable=SC1091 # written by scripts/cluster.sh up
	. "$COFFRE_CLUSTER/env"
	[ "${COFFRE_SHARED_STORES:-0}" = 1 ] ||
		skip_all "the deployment's coffred has no shared stores"
	require_cmd haproxy psql curl
	export PGPASSFILE
}

# Free TCP ports on 127.0.0.1, one a line.
cluster_free_ports()
{
	python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

cluster_pg_port()
{
	printf '%s\n' "$COFFRE_PG_URL" | sed -n 's|.*@127\.0\.0\.1:\([0-9]*\)/.*|\1|p'
}

# psql as the deployment's superuser, on its maintenance database.
cluster_psql_admin()
{
	psql -qtAX -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(cluster_pg_port)" \
		-U postgres -d postgres -c "$1"
}

# S3 request METHOD PATH (signed, empty body): the HTTP status.
cluster_s3()
{
	local access secret
	{
		read -r access
		read -r secret
	} <"$COFFRE_S3_KEY_FILE"
	curl -sS -o "$T/s3.out" -w '%{http_code}' -X "$1" \
		--aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		"$COFFRE_S3_ENDPOINT/$2" 2>>"$T/s3.log"
}

# The size of each chunk object of space SPACE in the test's bucket, one
# a line (ListObjectsV2, page after page).
cluster_chunk_sizes()
{
	local token='' code

	while :; do
		code=$(cluster_s3 GET "$CLUSTER_BUCKET?list-type=2&prefix=$1%2F${token:+&continuation-token=$token}")
		[ "$code" = 200 ] || return 1
		python3 - "$T/s3.out" "$T/s3.token" <<'PY' || return 1
import re, sys, urllib.parse, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
for c in root.iter(ns + "Contents"):
    if re.fullmatch(r".*/[0-9a-f]{64}", c.find(ns + "Key").text):
        print(c.find(ns + "Size").text)
nxt = root.find(ns + "NextContinuationToken")
with open(sys.argv[2], "w") as f:
    f.write(urllib.parse.quote(nxt.text, safe="") if nxt is not None else "")
PY
		token=$(cat "$T/s3.token")
		[ -n "$token" ] || break
	done
}

# The test's stores and both nodes' data directories.
cluster_server_init()
{
	local tag url rgw code ports

	tag=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
	CLUSTER_DB=t_$tag
	CLUSTER_BUCKET=t-$tag
	if ! cluster_psql_admin "CREATE DATABASE $CLUSTER_DB OWNER coffre" \
		>>"$T/coffred.log" 2>&1; then
		CLUSTER_DB=
		not_ok "a database of the test's own on the deployment"
		done_testing
	fi
	code=$(cluster_s3 PUT "$CLUSTER_BUCKET")
	if [ "$code" != 200 ]; then
		CLUSTER_BUCKET=
		not_ok "a bucket of the test's own on the deployment (HTTP $code)"
		done_testing
	fi
	mapfile -t ports < <(cluster_free_ports 3)
	CLUSTER_NODE_PORTS=("${ports[0]}" "${ports[1]}")
	CLUSTER_HAPROXY_PORT=${ports[2]}
	url="postgresql://coffre@127.0.0.1:$(cluster_pg_port)/$CLUSTER_DB"
	rgw=${COFFRE_S3_ENDPOINT#http://}
	if ! "$COFFRED" init "$D" --listen "127.0.0.1:${ports[0]}" \
		--index "$url" --chunks "s3://$rgw/$CLUSTER_BUCKET" \
		--s3-key-file "$COFFRE_S3_KEY_FILE" --ledger postgresql \
		>>"$T/coffred.log" 2>&1 ||
		! "$COFFRED" init "$T/node2" --listen "127.0.0.1:${ports[1]}" \
			--join "$D" >>"$T/coffred2.log" 2>&1; then
		not_ok "coffred init of two nodes on the deployment's stores"
		done_testing
	fi
	# HAProxy forwards for the clients (scripts/cluster.sh does the same)
	echo 'trusted_proxies = 127.0.0.1' >>"$D/coffred.conf"
	echo 'trusted_proxies = 127.0.0.1' >>"$T/node2/coffred.conf"
}

cluster_haproxy_up()
{
	local h=$T/haproxy

	[ -n "$CLUSTER_HAPROXY_PID" ] && proc_alive "$CLUSTER_HAPROXY_PID" &&
		return 0
	mkdir -p "$h"
	cat "$D/tls/ca.pem" "$T/node2/tls/ca.pem" >"$h/nodes-ca.pem"
	cat >"$h/haproxy.cfg" <<EOF
global
	pidfile $h/haproxy.pid
	stats socket $h/admin.sock mode 600 level admin
	ssl-default-bind-options ssl-min-ver TLSv1.3
defaults
	mode http
	timeout connect 5s
	timeout http-request 10s
	timeout client 120s
	timeout server 120s
	# a node being restarted refuses the connection: try the other
	retries 3
	option redispatch 1
frontend coffre
	bind 127.0.0.1:$CLUSTER_HAPROXY_PORT ssl crt $COFFRE_CLUSTER/tls/haproxy.pem alpn http/1.1
	http-request set-header X-Forwarded-For %[src]
	default_backend coffred
backend coffred
	balance roundrobin
	option httpchk GET /healthz
	http-check expect status 200
	default-server check inter 250ms fall 2 rise 1 ssl verify required ca-file $h/nodes-ca.pem
	server node1 127.0.0.1:${CLUSTER_NODE_PORTS[0]}
	server node2 127.0.0.1:${CLUSTER_NODE_PORTS[1]}
EOF
	haproxy -f "$h/haproxy.cfg" -db >>"$T/haproxy.log" 2>&1 &
	CLUSTER_HAPROXY_PID=$!
}

# Both nodes UP in HAProxy's eyes (its admin socket), within 10 s.
cluster_wait_up()
{
	local i

	for ((i = 0; i < 100; i++)); do
		python3 - "$T/haproxy/admin.sock" <<'EOF' && return 0
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    s.sendall(b"show stat\n")
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except OSError:
    sys.exit(1)
up = [l for l in out.decode().splitlines()
      if l.startswith("coffred,node") and ",UP," in l]
sys.exit(0 if len(up) == 2 else 1)
EOF
		sleep 0.1
	done
	return 1
}

# One configuration for both, as a deployment has: what the test set in
# $D/coffred.conf goes to node 2 too, with node 2's own port.
cluster_conf_copy()
{
	sed "s/^listen *=.*/listen = 127.0.0.1:${CLUSTER_NODE_PORTS[1]}/" \
		"$D/coffred.conf" >"$T/node2/coffred.conf"
}

cluster_server_reload()
{
	cluster_conf_copy
	kill -HUP "$SERVER_PID" "$CLUSTER_NODE2_PID"
}

cluster_server_start()
{
	local i

	server_init
	cluster_conf_copy
	# Both log to coffred.log (appends of whole lines), so what a test
	# looks for there is found whichever node served the request.
	"$COFFRED" serve "$D" >>"$T/coffred.log" 2>&1 &
	SERVER_PID=$!
	"$COFFRED" serve "$T/node2" >>"$T/coffred.log" 2>&1 &
	CLUSTER_NODE2_PID=$!
	SERVER_STOPPED=
	cluster_haproxy_up
	if ! cluster_wait_up; then
		not_ok "two coffred nodes serve behind HAProxy"
		done_testing
	fi
	PORT=$CLUSTER_HAPROXY_PORT
	URL=https://127.0.0.1:$PORT
	CACERT=$COFFRE_CLUSTER/tls/ca.pem
}

# Stop both nodes (SIGTERM; each must exit 0) or kill them (SIGKILL).
cluster_server_stop()
{
	local sig=$1 st pid n=0

	for pid in "$SERVER_PID" "$CLUSTER_NODE2_PID"; do
		n=$((n + 1))
		[ -n "$pid" ] || continue
		kill "-$sig" "$pid" 2>/dev/null
		if [ "$sig" = KILL ]; then
			wait "$pid" 2>/dev/null
			continue
		fi
		wait_exit "$pid" 20
		st=$?
		if [ $st -eq 124 ]; then
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
		fi
		check_eq "coffred node $n stops on SIGTERM with exit status 0" 0 "$st"
	done
	CLUSTER_NODE2_PID=
	SERVER_STOPPED=1
}

# From cleanup(): nodes and HAProxy stopped, the test's stores dropped.
cluster_cleanup()
{
	local pid

	for pid in "$CLUSTER_NODE2_PID" "$CLUSTER_HAPROXY_PID"; do
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null
		wait_exit "$pid" 10 >/dev/null || kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	[ -n "$CLUSTER_DB" ] &&
		cluster_psql_admin "DROP DATABASE IF EXISTS $CLUSTER_DB WITH (FORCE)" \
			>/dev/null 2>&1
	# the bucket's objects stay until the deployment goes (RGW does not
	# remove a bucket that holds any)
	return 0
}
