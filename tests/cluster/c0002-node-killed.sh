#!/bin/bash
# Two coffred nodes behind HAProxy share one safe (index and ledger in
# PostgreSQL, chunks in Ceph RGW): a space made on node 2's data
# directory is served by both; two drives mounted through HAProxy write a
# stream of files while node 1 is killed with SIGKILL halfway; the drives
# carry on through node 2, every file closed becomes its version, each
# drive reads the other's files, and `coffred fsck` is clean on both data
# directories once node 1 is back.  TAP; run by scripts/test.sh --cluster.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER=$ROOT/scripts/cluster.sh
COFFRE=${COFFRE:-$ROOT/build/client/coffre}
COFFRED=${COFFRED:-$ROOT/build/server/coffred}
FILES=${CLUSTER_FILES:-30} # per drive
# shellcheck source=tests/lib/tap.sh
. "$ROOT/tests/lib/tap.sh"

for c in ceph-mon ceph-osd radosgw haproxy psql curl fusermount3; do
	command -v "$c" >/dev/null || {
		echo "1..0 # SKIP no $c (scripts/install-deps.sh --cluster)"
		exit 0
	}
done
[ "$(id -u)" -eq 0 ] || {
	echo "1..0 # SKIP needs root (PostgreSQL runs as user postgres)"
	exit 0
}
[ -x "$COFFRE" ] && [ -x "$COFFRED" ] || {
	echo "1..0 # SKIP no build (ninja -C build)"
	exit 0
}

T=$(mktemp -d "${TMPDIR:-/tmp}/coffre-cluster.XXXXXX") || exit 1
chmod 755 "$T"
C=$T/c
MOUNT_PIDS=()
cleanup()
{
	for m in "$T/ma" "$T/mb"; do
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null
	done
	for p in "${MOUNT_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	COFFRED=$COFFRED "$CLUSTER" down "$C" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

if COFFRED=$COFFRED "$CLUSTER" up "$C" --nodes 2 >"$T/up.log" 2>&1; then
	ok "cluster.sh up --nodes 2"
else
	not_ok "cluster.sh up --nodes 2"
	sed 's/^/# /' "$T/up.log"
	echo "1..$n"
	exit 1
fi
# shellcheck disable=SC1091
. "$C/env"
check_eq "two nodes on shared stores" "2 1" "$COFFRE_NODES $COFFRE_SHARED_STORES"
read -r N1 N2 <<<"$COFFRE_NODE_DATADIRS"
read -r PID1 _ <<<"$COFFRE_NODE_PIDS"

# Admin commands on either node's data directory.
head -c 18 /dev/urandom | base64 | tr -d '\n/+=' >"$T/pw"
check "user add on node 1's data directory" \
	"$COFFRED" user add "$N1" alice --phone +33612345678 --password-file "$T/pw"
check "space create on node 2's data directory" \
	"$COFFRED" space create "$N2" demo --owner alice --plan none

for d in a b; do
	check "drive $d logs in through HAProxy" \
		"$COFFRE" --config "$T/cfg-$d" login "$COFFRE_URL" alice \
		--password-file "$T/pw" --cacert "$COFFRE_CACERT"
	mkdir -p "$T/m$d"
	"$COFFRE" --config "$T/cfg-$d" mount demo "$T/m$d" \
		--cache "$T/cache-$d" --foreground >"$T/mount-$d.log" 2>&1 &
	MOUNT_PIDS+=($!)
done
for d in a b; do
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$T/m$d" && break
		sleep 0.1
	done
	check "drive $d is mounted" mountpoint -q "$T/m$d"
done

# The stream: each close a deposit; node 1 dies halfway.
killed=
for ((i = 1; i <= FILES; i++)); do
	echo "a $i $RANDOM" >"$T/ma/a-$i.txt"
	echo "b $i $RANDOM" >"$T/mb/b-$i.txt"
	if [ "$i" = $((FILES / 2)) ]; then
		kill -KILL "$PID1" && killed=1
	fi
done
check_eq "node 1 was killed mid-stream" 1 "$killed"
for d in a b; do
	check "drive $d sends everything through node 2" \
		"$COFFRE" --config "$T/cfg-$d" sync --wait "$T/m$d" --timeout 120 --quiet
done
# Each drive learns of the other's files through its change feed, whose
# connection may have been to the node that died: it reconnects, and the
# files appear, as they would to a person looking again.
for d in a b; do
	other=$([ $d = a ] && echo b || echo a)
	t0=$(date +%s)
	for ((try = 0; try < 60; try++)); do
		same=0
		for ((i = 1; i <= FILES; i++)); do
			cmp -s "$T/m$other/$d-$i.txt" "$T/m$d/$d-$i.txt" 2>/dev/null &&
				same=$((same + 1))
		done
		[ "$same" = "$FILES" ] && break
		sleep 0.5
	done
	check_eq "drive $other reads all $FILES files drive $d wrote (after $(($(date +%s) - t0)) s)" "$FILES" "$same"
done
docs=$(psql -w -qtAX "$COFFRE_PG_URL" -c "select count(distinct doc_id) from versions where space = 'demo'" 2>&1)
check_eq "every closed file is a version" $((2 * FILES)) "$docs"

check "cluster.sh up starts node 1 again" \
	env COFFRED="$COFFRED" "$CLUSTER" up "$C" --nodes 2
for d in "$N1" "$N2"; do
	check "coffred fsck is clean on node $(basename "$d")'s data directory" "$COFFRED" fsck "$d"
done
for d in a b; do
	fusermount3 -u "$T/m$d"
done
echo "1..$n"
[ "$failed" -eq 0 ]
