#!/bin/bash
# The deployment of scripts/cluster.sh comes up, answers and goes away:
# PostgreSQL answers psql (with its password, only with it), RGW stores and
# returns an object signed with SigV4 and refuses a body that does not
# match its announced SHA-256, HAProxy answers /healthz over TLS 1.3 with
# the deployment's CA and takes a dead node out, every daemon listens on
# 127.0.0.1 only, up is idempotent, down stops everything, and an up after
# a down serves the same data.  Prints the bring-up time and the RSS of the
# Ceph daemons.  TAP; run by scripts/test.sh --cluster.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER=$ROOT/scripts/cluster.sh
# shellcheck source=tests/lib/tap.sh
. "$ROOT/tests/lib/tap.sh"

for c in ceph-mon ceph-osd radosgw haproxy psql curl ss; do
	command -v "$c" >/dev/null || {
		echo "1..0 # SKIP no $c (scripts/install-deps.sh --cluster)"
		exit 0
	}
done
[ "$(id -u)" -eq 0 ] || {
	echo "1..0 # SKIP needs root (PostgreSQL runs as user postgres)"
	exit 0
}

T=$(mktemp -d "${TMPDIR:-/tmp}/coffre-cluster.XXXXXX") || exit 1
chmod 755 "$T" # PostgreSQL runs as user postgres: it must reach T/c
C=$T/c
cleanup()
{
	"$CLUSTER" down "$C" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

start=$(date +%s.%N)
if "$CLUSTER" up "$C" >"$T/up.log" 2>&1; then
	ok "cluster.sh up"
else
	not_ok "cluster.sh up"
	sed 's/^/# /' "$T/up.log"
	echo "1..$n"
	exit 1
fi
up_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
sed 's/^/# /' "$T/up.log"
check "DIR/env is there" test -s "$C/env"
# shellcheck disable=SC1091
. "$C/env"
for v in COFFRE_URL COFFRE_CACERT COFFRE_PG_URL COFFRE_S3_URL \
	COFFRE_S3_KEY_FILE COFFRE_NODE_PORTS COFFRE_NODE_PIDS; do
	check "env sets $v" test -n "${!v:-}"
done
rss=0
for pid in $COFFRE_CEPH_PIDS; do
	r=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	diag "$(tr -d '\0' <"/proc/$pid/comm") pid $pid: RSS $((${r:-0} / 1024)) MiB"
	rss=$((rss + ${r:-0}))
done
diag "bring-up: ${up_s} s in all, ceph ${COFFRE_CEPH_UP_S} s; ceph daemons' RSS: $((rss / 1024)) MiB"

# Every daemon of the deployment listens on 127.0.0.1 only.
pids="$COFFRE_PG_PID $COFFRE_CEPH_PIDS $COFFRE_NODE_PIDS $COFFRE_HAPROXY_PID"
ss -Hltnp >"$T/ss.txt"
listens=
for pid in $pids; do
	grep "pid=$pid," "$T/ss.txt" | awk '{ print $4 }' >>"$T/listen.txt"
done
listens=$(sort -u "$T/listen.txt" | grep -vc '^127\.0\.0\.1:')
check "the daemons listen on some ports" test -s "$T/listen.txt"
check_eq "every one on 127.0.0.1 (ss -ltnp)" 0 "$listens"

# PostgreSQL: psql with the password file of env, and not without it.
check_eq "psql answers at COFFRE_PG_URL" 1 \
	"$(psql -w -qtAX "$COFFRE_PG_URL" -c 'select 1' 2>&1)"
check "psql without the password is refused" \
	sh -c '! PGPASSFILE=/dev/null psql -w -qtAX "$1" -c "select 1"' _ \
	"$COFFRE_PG_URL"
check_eq "the role coffre is no superuser" f \
	"$(psql -w -qtAX "$COFFRE_PG_URL" -c 'select rolsuper from pg_roles where rolname = current_user')"

# RGW: a signed PUT and GET (SigV4; curl does not send the body's hash).
{
	read -r s3_access
	read -r s3_secret
} <"$COFFRE_S3_KEY_FILE"
check_eq "the S3 key file is 0600" 600 "$(stat -c %a "$COFFRE_S3_KEY_FILE")"
head -c 100000 /dev/urandom >"$T/obj"
sha=$(sha256sum "$T/obj" | cut -d' ' -f1)
s3()
{
	curl -sS --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$s3_access:$s3_secret" "$@"
}
obj_url=$COFFRE_S3_ENDPOINT/$COFFRE_S3_BUCKET/test/obj
code=$(s3 -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$T/obj" \
	-H "x-amz-content-sha256: $sha" "$obj_url")
check_eq "S3 PUT (SigV4, x-amz-content-sha256): 200" 200 "$code"
code=$(s3 -o "$T/obj.back" -w '%{http_code}' \
	-H "x-amz-content-sha256: $(sha256sum </dev/null | cut -d' ' -f1)" \
	"$obj_url")
check_eq "S3 GET: 200" 200 "$code"
check "S3 GET returns the same bytes" cmp "$T/obj" "$T/obj.back"
bad=$(printf '%064d' 0)
code=$(s3 -o "$T/bad.out" -w '%{http_code}' -X PUT --data-binary @"$T/obj" \
	-H "x-amz-content-sha256: $bad" "$COFFRE_S3_ENDPOINT/$COFFRE_S3_BUCKET/test/bad")
check_eq "a body not matching its x-amz-content-sha256 is refused (400)" 400 "$code"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$obj_url")
check_eq "an unsigned GET is refused (403)" 403 "$code"

# HAProxy: TLS 1.3 with the deployment's CA, in front of healthy nodes.
hz()
{
	curl -sS --cacert "$COFFRE_CACERT" -o "$T/hz" -w "%{http_code}" \
		"$COFFRE_URL/healthz" 2>>"$T/curl.log"
	echo " $(cat "$T/hz" 2>/dev/null)"
}
check_eq "GET /healthz through HAProxy over TLS: 200 ok" "200 ok" "$(hz)"
check "TLS 1.2 is refused" sh -c '! curl -s -o /dev/null --tls-max 1.2 \
	--cacert "$1" "$2/healthz"' _ "$COFFRE_CACERT" "$COFFRE_URL"
check "the certificate is the deployment CA's, for 127.0.0.1" sh -c \
	'! curl -s -o /dev/null "$1/healthz"' _ "$COFFRE_URL"
check_eq "HAProxy balances COFFRE_NODES nodes" "$COFFRE_NODES" \
	"$(grep -c '^[[:space:]]*server node' "$C/haproxy/haproxy.cfg")"
diag "node stores: $COFFRE_NODE_STORES"
case " $COFFRE_NODE_STORES " in
*" chunks=s3 "*)
	check "node 1 keeps its chunks in the deployment's bucket" \
		grep -q "^chunks *= *$COFFRE_S3_URL" "$COFFRE_DATADIR/coffred.conf" ;;
esac
case " $COFFRE_NODE_STORES " in
*" index=postgresql "*)
	check "node 1 keeps its index in the deployment's PostgreSQL" \
		grep -q "^index *= *postgresql://" "$COFFRE_DATADIR/coffred.conf" ;;
esac
[ "$COFFRE_SHARED_STORES" = 1 ] ||
	diag "coffred does not share index, chunks and ledger yet: one node"
port1=${COFFRE_NODE_PORTS%% *}
code=$(curl -sS -o /dev/null -w '%{http_code}' \
	--cacert "$COFFRE_DATADIR/tls/ca.pem" "https://127.0.0.1:$port1/healthz")
check_eq "node 1 answers /healthz itself" 200 "$code"

# A person's deposit through HAProxy: a drive mounted at COFFRE_URL, a
# file copied in; with chunks in S3 its chunks land in the bucket.
COFFRE=${COFFRE:-$ROOT/build/client/coffre}
COFFRED_BIN=${COFFRED:-$ROOT/build/server/coffred}
mnt=$T/mnt
if [ -x "$COFFRE" ] && [ -c /dev/fuse ]; then
	printf 'correct horse battery\n' >"$T/pw"
	check "coffred user add on node 1" "$COFFRED_BIN" user add "$COFFRE_DATADIR" \
		alice --phone +33612345678 --password-file "$T/pw"
	check "coffred space create" "$COFFRED_BIN" space create "$COFFRE_DATADIR" \
		famille --owner alice
	check "coffre login through HAProxy" "$COFFRE" --config "$T/cfg" login \
		"$COFFRE_URL" alice --password-file "$T/pw" --cacert "$COFFRE_CACERT"
	mkdir -p "$mnt"
	"$COFFRE" --config "$T/cfg" mount famille "$mnt" --cache "$T/cache" \
		--foreground >"$T/mount.log" 2>&1 &
	mpid=$!
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$mnt" && break
		sleep 0.1
	done
	head -c 3000000 /dev/urandom >"$T/doc.bin"
	cp "$T/doc.bin" "$mnt/doc.bin"
	check "coffre sync --wait" timeout 60 "$COFFRE" --config "$T/cfg" sync --wait "$mnt"
	check "the deposit reads back" cmp "$T/doc.bin" "$mnt/doc.bin"
	fusermount3 -u "$mnt"
	wait "$mpid"
	check_eq "coffre mount exits 0" 0 "$?"
	case " $COFFRE_NODE_STORES " in
	*" chunks=s3 "*)
		s3 -o "$T/list.xml" -H "x-amz-content-sha256: $(sha256sum </dev/null | cut -d' ' -f1)" \
			"$COFFRE_S3_ENDPOINT/$COFFRE_S3_BUCKET?list-type=2"
		keys=$(grep -o '<Key>' "$T/list.xml" | wc -l)
		check "the chunks are objects in the bucket ($keys objects)" test "$keys" -gt 1 ;;
	esac

	# The client's address crosses HAProxy (docs/cluster.md): a forged
	# X-Forwarded-For is replaced by the source, which the node trusts;
	# the connections per source are HAProxy's to limit.
	check "node 1 trusts HAProxy's X-Forwarded-For" \
		grep -q '^trusted_proxies = 127.0.0.1$' "$COFFRE_DATADIR/coffred.conf"
	code=$(curl -sS --interface 127.0.0.2 --cacert "$COFFRE_CACERT" \
		-o "$T/login.json" -w '%{http_code}' -H 'X-Forwarded-For: 198.51.100.1' \
		-d '{"login": "alice", "password": "correct horse battery"}' \
		"$COFFRE_URL/v1/login")
	check_eq "a login from 127.0.0.2 with a forged X-Forwarded-For" 200 "$code"
	tok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/login.json")
	addr=$(curl -sS --cacert "$COFFRE_CACERT" -H "Authorization: Bearer $tok" \
		"$COFFRE_URL/v1/sessions" | python3 -c 'import json,sys
print([s["address"] for s in json.load(sys.stdin)["sessions"] if s["current"]][0])')
	check_eq "its session records 127.0.0.2, not HAProxy nor the forged entry" \
		127.0.0.2 "$addr"
	idle=$(python3 "$ROOT/tests/lib/idle_sockets.py" "${COFFRE_URL##*:}" 127.0.0.3 40)
	check_eq "of 40 idle connections from one source HAProxy keeps 32" 32 "$idle"
else
	diag "no coffre client or /dev/fuse: no deposit through HAProxy"
fi

# up again: nothing restarted, same URL.
url0=$COFFRE_URL pids0=$COFFRE_NODE_PIDS
check "cluster.sh up again" "$CLUSTER" up "$C"
# shellcheck disable=SC1091
. "$C/env"
check_eq "same URL" "$url0" "$COFFRE_URL"
check_eq "same node PIDs (nothing restarted)" "$pids0" "$COFFRE_NODE_PIDS"
check "status: everything running" "$CLUSTER" status "$C"

# A node killed: HAProxy's checks take it out (503 with one node, the
# others answering with more); up starts it again.
kill -KILL "${COFFRE_NODE_PIDS%% *}"
want="503"
[ "$COFFRE_NODES" -gt 1 ] && want="200"
got=
for ((i = 0; i < 60; i++)); do
	got=$(hz | head -n1 | cut -d' ' -f1)
	[ "$got" = "$want" ] && break
	sleep 0.1
done
check_eq "node 1 killed: /healthz through HAProxy says $want" "$want" "$got"
check "status says a daemon is stopped" sh -c '! "$1" status "$2"' _ \
	"$CLUSTER" "$C"
check "cluster.sh up starts it again" "$CLUSTER" up "$C"
for ((i = 0; i < 60; i++)); do
	got=$(hz)
	[ "$got" = "200 ok" ] && break
	sleep 0.1
done
check_eq "back in rotation: 200 ok" "200 ok" "$got"

# down: every process gone, nothing outside DIR touched.
# shellcheck disable=SC1091
. "$C/env"
pids="$COFFRE_PG_PID $COFFRE_CEPH_PIDS $COFFRE_NODE_PIDS $COFFRE_HAPROXY_PID"
start=$(date +%s.%N)
check "cluster.sh down" "$CLUSTER" down "$C"
diag "down in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
# A process that has exited but is not reaped yet (state Z) is gone.
alive_of()
{
	local pid

	for pid in "$@"; do
		[ -r "/proc/$pid/stat" ] &&
			[ "$(awk '{ print $3 }' "/proc/$pid/stat")" != Z ] &&
			echo "$pid"
	done | xargs
}
alive=$(alive_of $pids)
check_eq "every daemon it started is gone" "" "$alive"
check_eq "no process left running on DIR" "" "$(pgrep -f "$C/" | xargs)"
check "status: stopped" sh -c '! "$1" status "$2"' _ "$CLUSTER" "$C"
check "down again does nothing and succeeds" "$CLUSTER" down "$C"

# up on the same DIR: the data is still there.
check "cluster.sh up after down" "$CLUSTER" up "$C"
# shellcheck disable=SC1091
. "$C/env"
code=$(s3 -o "$T/obj.again" -w '%{http_code}' \
	-H "x-amz-content-sha256: $(sha256sum </dev/null | cut -d' ' -f1)" \
	"$obj_url")
check_eq "the object is still there after down and up" 200 "$code"
check "same bytes" cmp "$T/obj" "$T/obj.again"
check_eq "healthz after down and up" "200 ok" "$(hz)"
check "cluster.sh down" "$CLUSTER" down "$C"

echo "1..$n"
[ "$failed" -eq 0 ]
