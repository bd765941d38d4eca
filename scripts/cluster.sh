#!/bin/bash
# A real coffre deployment on one machine, from Debian 12 packages only:
# PostgreSQL 15 (index), a one-node Ceph cluster with RGW (S3 chunk store),
# N coffred nodes and HAProxy ending TLS in front of them.  Everything
# listens on 127.0.0.1 and lives in DIR; see docs/cluster.md.
#
#   scripts/cluster.sh up DIR [--nodes N]   # start (first time: create)
#   scripts/cluster.sh status DIR           # exit 0 when all is running
#   scripts/cluster.sh down DIR             # stop what up started, by PID
#
# up writes DIR/env (shell-sourceable): COFFRE_URL, COFFRE_CACERT,
# COFFRE_PG_URL, PGPASSFILE, COFFRE_S3_URL, COFFRE_S3_KEY_FILE, the nodes'
# data directories, ports and PIDs, and the daemons' PIDs.  up is
# idempotent: what runs is left alone, what was created is reused, what is
# missing is created or started.  down touches nothing outside DIR and
# keeps the data: a later up starts on it again.
#
# The Debian packages: scripts/install-deps.sh --cluster.  coffred is
# $COFFRED, else build/server/coffred of this tree, else the one on PATH.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
WAIT_S=${CLUSTER_WAIT_S:-60} # the bound of every wait below

die()
{
	echo "cluster: $*" >&2
	exit 1
}

say()
{
	echo "cluster: $*"
}

usage()
{
	echo "usage: scripts/cluster.sh up DIR [--nodes N] | status DIR | down DIR" >&2
	exit 2
}

now()
{
	date +%s.%N
}

since()
{
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}

# --- processes ---------------------------------------------------------

# The PID in FILE (first line), or nothing.
pid_of()
{
	[ -s "$1" ] && head -n1 "$1" | tr -dc 0-9
}

# ours PID: alive, and started on DIR (its command line names DIR), so a
# PID reused by another program after a crash is never taken for ours.
ours()
{
	local pid=$1

	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$DIR/"
}

running()
{
	ours "$(pid_of "$1")"
}

# stop_pidfile NAME FILE: SIGTERM, 20 s, then SIGKILL.
stop_pidfile()
{
	local name=$1 file=$2 pid i

	pid=$(pid_of "$file")
	if ! ours "$pid"; then
		rm -f "$file"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name (pid $pid) did not stop in 20 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null
		sleep 0.5
	fi
	rm -f "$file"
	say "stopped $name (pid $pid)"
}

# wait_until WHAT LOG PIDFILE CMD...: run CMD every 0.05 s until it
# succeeds, for at most WAIT_S seconds; fail at once when the daemon of
# PIDFILE (if given) died.  On failure, the end of LOG.
wait_until()
{
	local what=$1 log=$2 pidfile=$3 end
	shift 3

	end=$(($(date +%s) + WAIT_S))
	while ! "$@" >/dev/null 2>&1; do
		# A daemon writes its PID file a moment after it forks.
		if [ -n "$pidfile" ] && { [ -s "$pidfile" ] ||
			[ "$(date +%s)" -ge $((end - WAIT_S + 5)) ]; } &&
			! running "$pidfile"; then
			[ -f "$log" ] && tail -n 20 "$log" | sed 's/^/  | /' >&2
			die "$what: the daemon exited (log: $log)"
		fi
		if [ "$(date +%s)" -ge "$end" ]; then
			[ -f "$log" ] && tail -n 20 "$log" | sed 's/^/  | /' >&2
			die "$what: not ready after $WAIT_S s (log: $log)"
		fi
		sleep 0.05
	done
}

# --- ports ---------------------------------------------------------------

# Ports are chosen once, free at that moment, and kept in DIR/ports so a
# later up serves at the same addresses (HAProxy's configuration, the
# nodes' certificates and coffred.conf name them).
ports_load()
{
	local n=$((5 + WANT_NODES))

	if [ ! -s "$DIR/ports" ]; then
		python3 - "$n" >"$DIR/ports.tmp" <<'EOF' || die "cannot pick free ports"
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
		mv "$DIR/ports.tmp" "$DIR/ports"
	fi
	read -r PG_PORT MON_PORT RGW_PORT HAPROXY_PORT _spare NODE_PORTS \
		<"$DIR/ports"
	# shellcheck disable=SC2206
	NODE_PORT=($NODE_PORTS)
	[ ${#NODE_PORT[@]} -ge "$NODES" ] ||
		die "$DIR was set up for ${#NODE_PORT[@]} node(s), not $NODES"
}

# --- checks --------------------------------------------------------------

require()
{
	local c missing=

	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
	done
	[ -z "$missing" ] ||
		die "missing:$missing (install them with scripts/install-deps.sh --cluster)"
}

find_coffred()
{
	if [ -n "${COFFRED:-}" ]; then
		:
	elif [ -x "$ROOT/build/server/coffred" ]; then
		COFFRED=$ROOT/build/server/coffred
	else
		COFFRED=$(command -v coffred) ||
			die "no coffred: build it (ninja -C build) or set COFFRED"
	fi
	[ -x "$COFFRED" ] || die "'$COFFRED' is not an executable"
	COFFRED=$(realpath "$COFFRED")
}

# What this coffred's init takes, from its usage text: the stores of issue
# 12 one by one (an index in PostgreSQL, chunks in S3, a shared ledger) and
# further nodes joining a first one.  Several nodes serve one safe only
# when all three are shared.
coffred_features()
{
	local text

	text=$("$COFFRED" 2>&1)
	HAS_INDEX=0 HAS_CHUNKS=0 HAS_LEDGER=0 HAS_JOIN=0
	grep -q -- '--index' <<<"$text" && HAS_INDEX=1
	grep -q -- '--chunks' <<<"$text" && HAS_CHUNKS=1
	grep -q -- '--ledger' <<<"$text" && HAS_LEDGER=1
	grep -q -- '--join' <<<"$text" && HAS_JOIN=1
	HAS_SHARED=0
	[ $HAS_INDEX$HAS_CHUNKS$HAS_LEDGER = 111 ] && HAS_SHARED=1
	STORES="index=$([ $HAS_INDEX = 1 ] && echo postgresql || echo sqlite)"
	STORES="$STORES chunks=$([ $HAS_CHUNKS = 1 ] && echo s3 || echo dir)"
	STORES="$STORES ledger=$([ $HAS_LEDGER = 1 ] && echo postgresql || echo dir)"
}

# --- PostgreSQL ---------------------------------------------------------

# PostgreSQL refuses to run as root: as root it runs as user postgres.
as_pg()
{
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_up()
{
	local pg=$DIR/pg pw

	if [ ! -f "$pg/data/PG_VERSION" ]; then
		rm -rf "$pg"
		mkdir -p "$pg/run"
		pw=$(openssl rand -hex 24)
		umask 077
		printf '%s\n' "$pw" >"$pg/pw"
		printf '127.0.0.1:%s:*:coffre:%s\n127.0.0.1:%s:*:postgres:%s\n' \
			"$PG_PORT" "$pw" "$PG_PORT" "$pw" >"$DIR/pgpass"
		umask 022
		if [ "$(id -u)" -eq 0 ]; then
			id postgres >/dev/null 2>&1 ||
				die "no user postgres (is postgresql-15 installed?)"
			chown -R postgres: "$pg"
			as_pg test -x "$pg" || die "user postgres cannot reach $pg: let it search every parent folder of $DIR"
		fi
		as_pg "$PGBIN/initdb" -D "$pg/data" -U postgres -E UTF8 \
			--no-sync --auth-local=peer --auth-host=scram-sha-256 \
			--pwfile="$pg/pw" >"$pg/initdb.log" 2>&1 ||
			{
				tail -n 20 "$pg/initdb.log" >&2
				die "initdb failed (log: $pg/initdb.log)"
			}
		# Loopback only, its own socket folder, password auth on TCP.
		cat >>"$pg/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$pg/run'
max_connections = 200
shared_buffers = 32MB
fsync = on
EOF
		rm -f "$pg/pw"
	fi
	if ! running "$pg/data/postmaster.pid"; then
		as_pg "$PGBIN/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" \
			-w -t "$WAIT_S" start >/dev/null 9>&- ||
			{
				tail -n 20 "$pg/postgres.log" >&2
				die "PostgreSQL did not start (log: $pg/postgres.log)"
			}
	fi
	# The role and database coffred uses (not a superuser).
	if ! PGPASSFILE=$DIR/pgpass psql -qtAX -h 127.0.0.1 -p "$PG_PORT" \
		-U coffre -d coffre -c 'select 1' >/dev/null 2>&1; then
		pw=$(sed -n 's/^[^:]*:[^:]*:[^:]*:coffre://p' "$DIR/pgpass")
		PGPASSFILE=$DIR/pgpass psql -qX -v ON_ERROR_STOP=1 \
			-h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
			-c "create role coffre login password '$pw'" \
			-c "create database coffre owner coffre" \
			>>"$pg/initdb.log" 2>&1 ||
			die "cannot create role and database coffre (log: $pg/initdb.log)"
	fi
	PG_PID=$(pid_of "$pg/data/postmaster.pid")
}

pg_down()
{
	local pg=$DIR/pg

	local pid i

	pid=$(pid_of "$pg/data/postmaster.pid")
	ours "$pid" || return 0
	as_pg "$PGBIN/pg_ctl" -D "$pg/data" -m fast -w -t 30 stop >/dev/null ||
		stop_pidfile postgres "$pg/data/postmaster.pid"
	# pg_ctl returns once the PID file is gone: the process ends after.
	for ((i = 0; i < 100; i++)); do
		ours "$pid" || break
		sleep 0.05
	done
	say "stopped postgres (pid $pid)"
}

# --- Ceph: one monitor, one BlueStore OSD on a sparse file, RGW ----------

ceph_conf()
{
	local c=$DIR/ceph

	cat >"$c/ceph.conf.tmp" <<EOF
# A one-node Ceph cluster for a coffre deployment on one machine
# (scripts/cluster.sh): no redundancy, small memory, fast to come up.
[global]
fsid = $1
mon host = v2:127.0.0.1:$MON_PORT
mon initial members = a
public network = 127.0.0.0/8
ms bind msgr1 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
run dir = $c/run
admin socket = $c/run/\$name.asok
pid file = $c/run/\$name.pid
log file = $c/log/\$name.log
mon data = $c/mon/\$name
osd data = $c/osd/\$name
rgw data = $c/rgw
# One OSD: every pool has one copy and few placement groups.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 4
osd pool default pgp num = 4
osd pool default pg autoscale mode = off
rgw rados pool pg num min = 4
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 2
# Proposals every 10 ms instead of 1 s: each map change at start is one.
paxos propose interval = 0.01
mon osd report timeout = 30

[mon]
keyring = \$mon_data/keyring

[osd]
keyring = \$osd_data/keyring
osd objectstore = bluestore
bluestore block path = \$osd_data/block.img
bluestore block create = true
bluestore block size = 10737418240
bluestore fsck on mkfs = false
bluestore cache autotune = false
bluestore cache size = 33554432
osd memory target = 268435456
osd op num shards = 1
osd op num threads per shard = 2

[client]
keyring = $c/\$name.keyring
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw thread pool size = 32
rgw enable usage log = false
EOF
	mv "$c/ceph.conf.tmp" "$c/ceph.conf"
}

ceph_cli()
{
	ceph -c "$DIR/ceph/ceph.conf" --connect-timeout 10 "$@"
}

ceph_create()
{
	local c=$DIR/ceph fsid osd_uuid k

	rm -rf "$c"
	mkdir -p "$c/run" "$c/log" "$c/mon" "$c/osd/osd.0" "$c/rgw"
	fsid=$(cat /proc/sys/kernel/random/uuid)
	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	ceph_conf "$fsid"
	{
		ceph-authtool -C "$c/mon.keyring" -g -n mon. --cap mon 'allow *'
		ceph-authtool -C "$c/client.admin.keyring" -g -n client.admin \
			--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *'
		ceph-authtool -C "$c/osd/osd.0/keyring" -g -n osd.0 \
			--cap mon 'allow profile osd' --cap mgr 'allow profile osd' \
			--cap osd 'allow *'
		ceph-authtool -C "$c/client.rgw.a.keyring" -g -n client.rgw.a \
			--cap mon 'allow rw' --cap osd 'allow rwx'
		# The monitor starts knowing every key: no auth command later.
		cp "$c/mon.keyring" "$c/mkfs.keyring"
		for k in client.admin.keyring osd/osd.0/keyring client.rgw.a.keyring; do
			ceph-authtool "$c/mkfs.keyring" --import-keyring "$c/$k"
		done
		monmaptool --create --addv a "[v2:127.0.0.1:$MON_PORT]" \
			--fsid "$fsid" "$c/monmap"
		ceph-mon -c "$c/ceph.conf" -i a --mkfs --monmap "$c/monmap" \
			--keyring "$c/mkfs.keyring"
	} >"$c/log/mkfs.log" 2>&1 || die "cannot create the Ceph monitor (log: $c/log/mkfs.log)"
	rm -f "$c/mkfs.keyring" "$c/monmap"
	echo "$osd_uuid" >"$c/osd/osd.0/uuid.want"
	# The OSD's mkfs (BlueStore on a sparse file, about 2 s) runs while
	# the monitor starts and registers it.
	ceph-osd -c "$c/ceph.conf" -i 0 --no-mon-config --mkfs \
		--osd-uuid "$osd_uuid" >"$c/log/osd-mkfs.log" 2>&1 9>&- &
	OSD_MKFS=$!
}

ceph_up()
{
	local c=$DIR/ceph t0 fresh=0

	t0=$(now)
	if [ ! -f "$c/created" ]; then
		ceph_create
		fresh=1
	fi
	if ! running "$c/run/mon.a.pid"; then
		ceph-mon -c "$c/ceph.conf" -i a >>"$c/log/daemons.log" 2>&1 9>&- ||
			die "ceph-mon did not start (log: $c/log/mon.a.log)"
	fi
	wait_until "ceph-mon" "$c/log/mon.a.log" "$c/run/mon.a.pid" \
		ceph_cli mon stat
	if [ $fresh = 1 ]; then
		ceph_cli osd new "$(cat "$c/osd/osd.0/uuid.want")" 0 \
			>>"$c/log/mkfs.log" 2>&1 ||
			die "cannot register osd.0 (log: $c/log/mkfs.log)"
		wait "$OSD_MKFS" ||
			die "ceph-osd --mkfs failed (log: $c/log/osd-mkfs.log)"
	fi
	if ! running "$c/run/osd.0.pid"; then
		ceph-osd -c "$c/ceph.conf" -i 0 >>"$c/log/daemons.log" 2>&1 9>&- ||
			die "ceph-osd did not start (log: $c/log/osd.0.log)"
	fi
	# RGW waits for the OSD by itself; it creates its pools at start.
	if ! running "$c/run/client.rgw.a.pid"; then
		radosgw -c "$c/ceph.conf" -n client.rgw.a \
			>>"$c/log/daemons.log" 2>&1 9>&- ||
			die "radosgw did not start (log: $c/log/client.rgw.a.log)"
	fi
	wait_until "radosgw" "$c/log/client.rgw.a.log" \
		"$c/run/client.rgw.a.pid" \
		curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/"
	touch "$c/created"
	CEPH_UP_S=$(since "$t0")
	MON_PID=$(pid_of "$c/run/mon.a.pid")
	OSD_PID=$(pid_of "$c/run/osd.0.pid")
	RGW_PID=$(pid_of "$c/run/client.rgw.a.pid")
	say "ceph (mon, osd, rgw) up in ${CEPH_UP_S} s"
}

# The S3 user and bucket coffred's chunk store uses.
s3_up()
{
	local s3=$DIR/s3 access secret code

	mkdir -p "$s3"
	if [ ! -s "$s3/key" ]; then
		access=$(tr -dc A-Z0-9 </dev/urandom | head -c 20)
		secret=$(tr -dc A-Za-z0-9 </dev/urandom | head -c 40)
		radosgw-admin -c "$DIR/ceph/ceph.conf" -n client.admin \
			user create --uid=coffre --display-name="coffre chunks" \
			--access-key="$access" --secret-key="$secret" \
			>"$s3/user.json" 2>"$s3/user.log" ||
			die "radosgw-admin user create failed (log: $s3/user.log)"
		(
			umask 077
			printf '%s\n%s\n' "$access" "$secret" >"$s3/key.tmp"
		)
		mv "$s3/key.tmp" "$s3/key"
	fi
	{
		read -r access
		read -r secret
	} <"$s3/key"
	# PUT /BUCKET, signed (SigV4).  curl 7.88 does not send the body's
	# hash, which RGW wants: the SHA-256 of the empty body.
	code=$(curl -sS -o "$s3/bucket.out" -w '%{http_code}' -X PUT \
		--aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		"http://127.0.0.1:$RGW_PORT/$BUCKET")
	case $code in
	200) ;;
	409) grep -q BucketAlreadyOwnedByYou "$s3/bucket.out" ||
		die "bucket $BUCKET: $(cat "$s3/bucket.out")" ;;
	*) die "cannot create bucket $BUCKET: HTTP $code $(cat "$s3/bucket.out")" ;;
	esac
}

ceph_down()
{
	local c=$DIR/ceph

	stop_pidfile radosgw "$c/run/client.rgw.a.pid"
	stop_pidfile ceph-osd "$c/run/osd.0.pid"
	stop_pidfile ceph-mon "$c/run/mon.a.pid"
}

# --- TLS: a CA of the deployment and HAProxy's certificate --------------

tls_up()
{
	local t=$DIR/tls

	[ -s "$t/haproxy.pem" ] && return 0
	mkdir -p "$t"
	(
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout "$t/ca-key.pem" -out "$t/ca.pem" -days 3650 \
			-subj "/CN=coffre cluster CA" \
			-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" &&
			openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
				-nodes -keyout "$t/key.pem" -out "$t/req.csr" \
				-subj "/CN=127.0.0.1" &&
			printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
				"basicConstraints=critical,CA:FALSE" \
				"keyUsage=critical,digitalSignature" \
				"extendedKeyUsage=serverAuth" >"$t/ext.cnf" &&
			openssl x509 -req -in "$t/req.csr" -CA "$t/ca.pem" \
				-CAkey "$t/ca-key.pem" -CAcreateserial -days 825 \
				-extfile "$t/ext.cnf" -out "$t/cert.pem" &&
			cat "$t/cert.pem" "$t/key.pem" >"$t/haproxy.pem"
	) >"$t/openssl.log" 2>&1 || die "cannot make the TLS CA (log: $t/openssl.log)"
	chmod 644 "$t/ca.pem" "$t/cert.pem"
}

# --- coffred nodes -------------------------------------------------------

node_dir()
{
	echo "$DIR/nodes/$1"
}

nodes_up()
{
	local i d opts

	mkdir -p "$DIR/nodes"
	for ((i = 1; i <= NODES; i++)); do
		d=$(node_dir "$i")
		if [ ! -f "$d/coffred.conf" ]; then
			opts=(--listen "127.0.0.1:${NODE_PORT[i - 1]}")
			if [ "$i" -gt 1 ] && [ "$HAS_JOIN" = 1 ]; then
				opts+=(--join "$(node_dir 1)")
			else
				# Each store coffred can put outside
				# DATADIR goes to the deployment's.
				[ "$HAS_INDEX" = 1 ] &&
					opts+=(--index "$COFFRE_PG_URL")
				[ "$HAS_CHUNKS" = 1 ] &&
					opts+=(--chunks "$COFFRE_S3_URL"
						--s3-key-file "$DIR/s3/key")
				[ "$HAS_LEDGER" = 1 ] &&
					opts+=(--ledger postgresql)
			fi
			PGPASSFILE=$DIR/pgpass "$COFFRED" init "$d" "${opts[@]}" \
				>>"$DIR/nodes/$i.log" 2>&1 ||
				{
					tail -n 5 "$DIR/nodes/$i.log" >&2
					die "coffred init of node $i failed (log: $DIR/nodes/$i.log)"
				}
		fi
		# HAProxy on 127.0.0.1 forwards for the clients: coffred keys
		# the login throttle on X-Forwarded-For from it only.
		grep -q '^trusted_proxies' "$d/coffred.conf" ||
			echo 'trusted_proxies = 127.0.0.1' >>"$d/coffred.conf"
		if ! running "$DIR/nodes/$i.pid"; then
			rm -f "$DIR/nodes/$i.port"
			PGPASSFILE=$DIR/pgpass setsid "$COFFRED" serve "$d" \
				--port-file "$DIR/nodes/$i.port" \
				>>"$DIR/nodes/$i.log" 2>&1 </dev/null 9>&- &
			echo $! >"$DIR/nodes/$i.pid"
		fi
	done
	for ((i = 1; i <= NODES; i++)); do
		wait_until "coffred node $i" "$DIR/nodes/$i.log" \
			"$DIR/nodes/$i.pid" test -s "$DIR/nodes/$i.port"
	done
}

nodes_down()
{
	local f

	for f in "$DIR"/nodes/*.pid; do
		[ -e "$f" ] || continue
		stop_pidfile "coffred $(basename "$f" .pid)" "$f"
	done
}

# --- HAProxy: TLS in front, health-checked nodes behind -----------------

haproxy_up()
{
	local h=$DIR/haproxy i old

	mkdir -p "$h"
	: >"$h/nodes-ca.pem"
	for ((i = 1; i <= NODES; i++)); do
		cat "$(node_dir "$i")/tls/ca.pem" >>"$h/nodes-ca.pem"
	done
	{
		cat <<EOF
# HAProxy of a coffre deployment (scripts/cluster.sh): TLS 1.3 in front,
# TLS to the coffred nodes, which it checks with GET /healthz.
global
	daemon
	pidfile $h/haproxy.pid
	stats socket $h/admin.sock mode 600 level admin
	ssl-default-bind-options ssl-min-ver TLSv1.3
	ssl-default-server-options ssl-min-ver TLSv1.3

defaults
	mode http
	timeout connect 5s
	timeout http-request 10s
	# Above the change feed's long poll (25 s) and a 4 MiB chunk upload.
	timeout client 120s
	timeout server 120s
	# A node that died mid-request is not retried: a commit is not
	# idempotent unless named; the client retries what it knows to be.
	retries 2

frontend coffre
	bind 127.0.0.1:$HAPROXY_PORT ssl crt $DIR/tls/haproxy.pem alpn http/1.1
	# coffred exempts HAProxy (trusted_proxies) from its connections per
	# address, so the limit per source is here: 32, as coffred's default.
	stick-table type ipv6 size 100k expire 60s store conn_cur
	tcp-request connection track-sc0 src
	tcp-request connection reject if { sc0_conn_cur gt 32 }
	# The client as coffred reads it: one X-Forwarded-For entry, the
	# source, replacing whatever the client sent (HAProxy is the edge;
	# behind another proxy, append instead and trust that one too).
	http-request set-header X-Forwarded-For %[src]
	default_backend coffred

backend coffred
	balance leastconn
	option httpchk GET /healthz
	http-check expect status 200
	default-server check inter 1s fall 2 rise 1 ssl verify required ca-file $h/nodes-ca.pem
EOF
		for ((i = 1; i <= NODES; i++)); do
			printf '\tserver node%d 127.0.0.1:%s\n' "$i" "${NODE_PORT[i - 1]}"
		done
	} >"$h/haproxy.cfg"
	haproxy -c -q -f "$h/haproxy.cfg" >"$h/check.log" 2>&1 ||
		{
			cat "$h/check.log" >&2
			die "bad HAProxy configuration ($h/haproxy.cfg)"
		}
	if running "$h/haproxy.pid" && cmp -s "$h/haproxy.cfg" "$h/haproxy.cfg.run"
	then
		: # running with this configuration
	else
		# Not running, or running with another node list: a new
		# HAProxy takes over the port (-sf: the old one finishes its
		# connections, then exits).
		old=$(pid_of "$h/haproxy.pid")
		ours "$old" || old=
		haproxy -f "$h/haproxy.cfg" ${old:+-sf "$old"} \
			>"$h/haproxy.log" 2>&1 9>&- ||
			{
				cat "$h/haproxy.log" >&2
				die "HAProxy did not start"
			}
		cp "$h/haproxy.cfg" "$h/haproxy.cfg.run"
	fi
	wait_until "haproxy" "$h/haproxy.log" "$h/haproxy.pid" \
		curl -sf -o /dev/null --cacert "$DIR/tls/ca.pem" \
		"https://127.0.0.1:$HAPROXY_PORT/healthz"
	HAPROXY_PID=$(pid_of "$h/haproxy.pid")
}

# --- env -----------------------------------------------------------------

write_env()
{
	local i dirs='' pids='' ports=''

	for ((i = 1; i <= NODES; i++)); do
		dirs="$dirs $(node_dir "$i")"
		pids="$pids $(pid_of "$DIR/nodes/$i.pid")"
		ports="$ports ${NODE_PORT[i - 1]}"
	done
	{
		echo "# Written by scripts/cluster.sh up; source it."
		printf 'export %s=%q\n' \
			COFFRE_URL "https://127.0.0.1:$HAPROXY_PORT" \
			COFFRE_CACERT "$DIR/tls/ca.pem" \
			COFFRE_PG_URL "$COFFRE_PG_URL" \
			PGPASSFILE "$DIR/pgpass" \
			COFFRE_S3_URL "$COFFRE_S3_URL" \
			COFFRE_S3_ENDPOINT "http://127.0.0.1:$RGW_PORT" \
			COFFRE_S3_BUCKET "$BUCKET" \
			COFFRE_S3_KEY_FILE "$DIR/s3/key" \
			COFFRE_SHARED_STORES "$HAS_SHARED" \
			COFFRE_NODE_STORES "$STORES" \
			COFFRE_NODES "$NODES" \
			COFFRE_DATADIR "$(node_dir 1)" \
			COFFRE_NODE_DATADIRS "${dirs# }" \
			COFFRE_NODE_PORTS "${ports# }" \
			COFFRE_NODE_PIDS "${pids# }" \
			COFFRE_HAPROXY_PID "$HAPROXY_PID" \
			COFFRE_HAPROXY_SOCKET "$DIR/haproxy/admin.sock" \
			COFFRE_PG_PID "$PG_PID" \
			CEPH_CONF "$DIR/ceph/ceph.conf" \
			COFFRE_CEPH_PIDS "$MON_PID $OSD_PID $RGW_PID" \
			COFFRE_CEPH_UP_S "${CEPH_UP_S:-}"
	} >"$DIR/env.tmp"
	mv "$DIR/env.tmp" "$DIR/env"
}

# --- commands ------------------------------------------------------------

cmd_up()
{
	local t0 note

	t0=$(now)
	require python3 openssl curl psql ceph ceph-mon ceph-osd ceph-authtool \
		monmaptool radosgw radosgw-admin haproxy
	[ -x "$PGBIN/initdb" ] || die "no PostgreSQL 15 (install them with scripts/install-deps.sh --cluster)"
	find_coffred
	coffred_features
	note=
	WANT_NODES=$NODES # ports for them all, for a later coffred that shares
	if [ "$HAS_SHARED" = 0 ] && [ "$NODES" -gt 1 ]; then
		# Two nodes on embedded stores would each hold their own
		# safe: one node until coffred has shared stores.
		note=" (this coffred does not share index, chunks and ledger: one node)"
		NODES=1
	fi
	mkdir -p "$DIR" || die "cannot create $DIR"
	DIR=$(realpath "$DIR")
	# PostgreSQL runs as another user: it must reach DIR.
	chmod go+x "$DIR"
	# The lock is this script's alone: no daemon inherits fd 9.
	exec 9>"$DIR/lock"
	flock -n 9 || die "another cluster.sh works on $DIR"
	ports_load
	BUCKET=coffre
	COFFRE_PG_URL=postgresql://coffre@127.0.0.1:$PG_PORT/coffre
	COFFRE_S3_URL=s3://127.0.0.1:$RGW_PORT/$BUCKET
	pg_up
	say "postgresql up on 127.0.0.1:$PG_PORT"
	ceph_up
	s3_up
	say "s3 bucket $BUCKET on http://127.0.0.1:$RGW_PORT"
	tls_up
	nodes_up
	say "$NODES coffred node(s) up, $STORES$note"
	haproxy_up
	write_env
	say "up in $(since "$t0") s: $DIR/env; COFFRE_URL=https://127.0.0.1:$HAPROXY_PORT"
}

cmd_down()
{
	[ -d "$DIR" ] || die "no such directory $DIR"
	DIR=$(realpath "$DIR")
	exec 9>"$DIR/lock"
	flock -w 30 9 || die "another cluster.sh works on $DIR"
	stop_pidfile haproxy "$DIR/haproxy/haproxy.pid"
	nodes_down
	ceph_down
	pg_down
	rm -f "$DIR/env"
}

cmd_status()
{
	local bad=0 name file f

	[ -d "$DIR" ] || die "no such directory $DIR"
	DIR=$(realpath "$DIR")
	set -- postgres "$DIR/pg/data/postmaster.pid" \
		ceph-mon "$DIR/ceph/run/mon.a.pid" \
		ceph-osd "$DIR/ceph/run/osd.0.pid" \
		radosgw "$DIR/ceph/run/client.rgw.a.pid"
	for f in "$DIR"/nodes/*.pid; do
		[ -e "$f" ] && set -- "$@" "coffred-$(basename "$f" .pid)" "$f"
	done
	set -- "$@" haproxy "$DIR/haproxy/haproxy.pid"
	while [ $# -gt 0 ]; do
		name=$1 file=$2
		shift 2
		if running "$file"; then
			printf '%-12s running  pid %s\n' "$name" "$(pid_of "$file")"
		else
			printf '%-12s stopped\n' "$name"
			bad=1
		fi
	done
	return $bad
}

[ $# -ge 2 ] || usage
CMD=$1
DIR=$2
shift 2
NODES=2
while [ $# -gt 0 ]; do
	case $1 in
	--nodes)
		[ $# -ge 2 ] && [[ $2 =~ ^[1-9]$ ]] || die "--nodes takes 1..9"
		NODES=$2
		shift 2
		;;
	*) usage ;;
	esac
done
case $CMD in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*) usage ;;
esac
