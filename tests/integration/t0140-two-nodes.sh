#!/bin/bash
# Two coffred nodes serve one space whose index and ledger are in one
# PostgreSQL (ledger = postgresql): both commit to it at the same moment
# and no commit is lost or forked -- every folder either node made is at
# the head both nodes read, the access change one node made meanwhile is
# in it too, and `coffred fsck` is clean on each node's data directory
# (one signed history, one event chain).  init --join refuses a first node
# whose chunks are not shared, and leaves nothing behind.
#
# Chunks stay in each node's own folder here (the deployment with S3 is
# scripts/cluster.sh's, tests/cluster/): the commits raced carry none.
# cluster: no -- it makes its two nodes itself, on a PostgreSQL of its own
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"	# test_init: $T, $D, traps
export COFFRE_INDEX=postgresql COFFRE_LEDGER=index
test_init
. "${TESTLIB:-$(dirname "$0")/../lib}/api.sh"	# req, login, commit
require_cmd psql

ROUNDS=15
server_init
check "coffred.conf says ledger = postgresql" \
	grep -qx "ledger = postgresql" "$D/coffred.conf"

# --- a further node must share every store ---------------------------------
"$COFFRED" init "$T/joined" --listen 127.0.0.1:0 --join "$D" \
	>"$T/join.out" 2>&1
check_eq "init --join refuses a first node with chunks of its own" 1 $?
check "...saying the stores must be shared" \
	grep -q "must be shared" "$T/join.out"
check "...and writes no configuration" test ! -e "$T/joined/coffred.conf"

user_add alice
user_add bob
space_create demo alice
server_start
URL1=$URL CACERT1=$CACERT

# --- node 2: the same index, ledger and keys; its own TLS and chunks ------
D2=$T/node2
url=$(sed -n 's/^index *= *//p' "$D/coffred.conf")
"$COFFRED" init "$D2" --listen 127.0.0.1:0 --index "$url" \
	--ledger postgresql >>"$T/coffred2.log" 2>&1
check_eq "a second node is made on the same index" 0 $?
cp "$D"/keys/*.pem "$D"/keys/master.key "$D2/keys/"
# Node 2 never re-reads a head on its own: its change feed answers only
# what PostgreSQL tells it (LISTEN/NOTIFY), which the feed check shows.
echo "change_poll = 0s" >>"$D2/coffred.conf"
"$COFFRED" serve "$D2" --port-file "$T/port2" >>"$T/coffred2.log" 2>&1 &
PID2=$!
EXTRA_PIDS+=("$PID2")
for ((i = 0; i < 200; i++)); do
	[ -s "$T/port2" ] && break
	proc_alive "$PID2" || break
	sleep 0.1
done
PORT2=$(tr -dc 0-9 <"$T/port2" 2>/dev/null)
check "node 2 serves" test -n "$PORT2"
URL2=https://127.0.0.1:$PORT2 CACERT2=$D2/tls/ca.pem

on_node()
{
	if [ "$1" = 1 ]; then URL=$URL1 CACERT=$CACERT1; else URL=$URL2 CACERT=$CACERT2; fi
}

on_node 1
login alice
on_node 2
req alice GET /v1/spaces/demo/tree?path=/
expect "node 2 serves the space node 1 made, with node 1's token" 200

# --- both nodes commit at once ----------------------------------------------
# Each request is its own curl, started together: the two nodes' commits
# meet on the space's lock and the head's compare-and-swap.
mkdir -p "$T/race"
pids=()
for ((i = 1; i <= ROUNDS; i++)); do
	for n in 1 2; do
		on_node "$n"
		curl -sS --max-time 60 --cacert "$CACERT" -o /dev/null \
			-w '%{http_code}\n' -X POST \
			-H "Authorization: Bearer ${TOK[alice]}" \
			-d "{\"client\": \"n$n\", \"ops\": [{\"op\": \"mkdir\", \"path\": \"/n$n-$i\"}]}" \
			"$URL/v1/spaces/demo/commits" >"$T/race/$n-$i" 2>>"$T/curl.log" &
		pids+=($!)
	done
	if [ "$i" = 5 ]; then
		on_node 2
		curl -sS --max-time 60 --cacert "$CACERT" -o /dev/null \
			-w '%{http_code}\n' -X POST \
			-H "Authorization: Bearer ${TOK[alice]}" \
			-d '{"login": "bob", "role": "intervenant"}' \
			"$URL/v1/spaces/demo/members" >"$T/race/member" 2>>"$T/curl.log" &
		pids+=($!)
	fi
done
for p in "${pids[@]}"; do
	wait "$p"
done
ok_codes=$(cat "$T"/race/[12]-* 2>/dev/null | grep -c '^200$')
check_eq "all $((2 * ROUNDS)) commits raced on two nodes are applied" \
	$((2 * ROUNDS)) "$ok_codes"
check_eq "the access change made on node 2 meanwhile is applied" 202 \
	"$(cat "$T/race/member" 2>/dev/null)"

want=$(for n in 1 2; do for ((i = 1; i <= ROUNDS; i++)); do echo "n$n-$i"; done; done | sort | tr '\n' ' ')
for n in 1 2; do
	on_node "$n"
	req alice GET /v1/spaces/demo/tree?path=/
	got=$(jv '[.entries[] | select(.type == "dir") | .name] | .[]' | grep '^n[12]-' | sort | tr '\n' ' ')
	check_eq "node $n reads every folder both nodes made at the head" "$want" "$got"
done
on_node 1
login bob
req bob GET /v1/invitations
check_eq "node 1 shows bob the invitation node 2 recorded" "demo intervenant" \
	"$(jv '.invitations[] | "\(.space) \(.role)"')"
req bob POST /v1/invitations/demo
expect "bob accepts it on node 1" 200
on_node 2
req alice GET /v1/spaces/demo/members
check "node 2 lists bob as a member, to its owner" \
	sh -c 'printf "%s" "$1" | jq -e ".members[] | select(.login == \"bob\" and .role == \"intervenant\")" >/dev/null' _ "$BODY"

# The change feed of node 2 answers a commit made on node 1: a waiter
# there is woken by the notification node 1's commit sent through
# PostgreSQL (node 2 has change_poll = 0s: nothing else would wake it
# before its 20 s timeout).
on_node 2
req alice GET /v1/spaces/demo/changes?since=
head=$(jv .head)
curl -sS --max-time 30 --cacert "$CACERT2" -o "$T/feed.json" \
	-H "Authorization: Bearer ${TOK[alice]}" \
	"$URL2/v1/spaces/demo/changes?since=$head&timeout=20" 2>>"$T/curl.log" &
feed=$!
sleep 1
on_node 1
t0=$SECONDS
commit alice '[{"op": "mkdir", "path": "/from-node-1"}]'
expect "a commit on node 1 while node 2's feed waits" 200
wait "$feed"
took=$((SECONDS - t0))
check "node 2's feed answers with node 1's new head" \
	sh -c 'test "$(jq -r .head "$1")" != "$2" && jq -e ".changed | index(\"/\")" "$1" >/dev/null' _ "$T/feed.json" "$head"
check "...in a few seconds, not at its 20 s timeout (took ${took} s)" \
	test "$took" -lt 10
check "node 2 heard the other node all along (no listener warning)" \
	sh -c 'test -s "$1" && ! grep -q "cannot hear the other nodes" "$1"' _ "$T/coffred2.log"

# One history: each node's fsck walks it from the head, every commit
# signed by the same ledger key, one event chain.
check "coffred fsck is clean on node 1's data directory" \
	"$COFFRED" fsck "$D"
check "coffred fsck is clean on node 2's data directory" \
	"$COFFRED" fsck "$D2"
check_eq "the space has no ledger folder on either node" "0 0" \
	"$(find "$D/spaces" "$D2/spaces" -name ledger.git | wc -l) $(find "$D2/spaces" -name ledger.git | wc -l)"

# Stock git reads it through a copy: coffred space clone, from either node.
"$COFFRED" space clone "$D2" demo "$T/copy.git" >"$T/clone.out" 2>&1
check_eq "space clone copies the shared ledger out (node 2)" "0 $T/copy.git" \
	"$? $(cat "$T/clone.out")"
check "git fsck --strict passes on the copy" \
	command git --git-dir "$T/copy.git" fsck --strict --no-progress
check_eq "the copy's main is the ledger's head" \
	"$(jq -r .head "$T/feed.json")" \
	"$(command git --git-dir "$T/copy.git" rev-list --max-count=1 --grep 'from-node-1' main)"
"$COFFRED" key export "$D" --allowed-signers >"$T/signers"
check "git verify-commit accepts the copy's head" \
	command git --git-dir "$T/copy.git" -c gpg.format=ssh \
	-c gpg.ssh.allowedSignersFile="$T/signers" verify-commit main
check_eq "every object of the shared ledger is in the copy" \
	"$(index_sql "SELECT count(*) FROM ledger_objects WHERE space = 'demo'")" \
	"$(command git --git-dir "$T/copy.git" count-objects -v | sed -n 's/^count: //p')"
"$COFFRED" space clone "$D" demo "$T/copy.git" >"$T/clone.out" 2>&1
check_eq "space clone refuses a folder that exists" 1 $?
"$COFFRED" space clone "$D" nope "$T/nope.git" >"$T/clone.out" 2>&1
check_eq "space clone refuses an unknown space" 1 $?
check "...saying so, and makes nothing" \
	sh -c 'grep -q "no such space" "$1" && test ! -e "$2"' _ "$T/clone.out" "$T/nope.git"

# The quota holds across nodes: with room for 3 documents of 2 KiB, 10
# deposits raced on two nodes make 3 versions and 7 refusals (507), never
# more, whatever node each lands on.  (Last: each node keeps the chunks
# sent to it in its own folder here, which fsck of the other would miss.)
"$COFFRED" space quota "$D" demo $((3 * 2048 + 1024)) >>"$T/coffred.log" 2>&1
used=$(index_sql "SELECT bytes FROM space_usage WHERE space = 'demo'")
"$COFFRED" space quota "$D" demo $((${used:-0} + 3 * 2048 + 1024)) >>"$T/coffred.log" 2>&1
mkdir -p "$T/quota"
pids=()
for ((i = 1; i <= 10; i++)); do
	n=$((i % 2 + 1))
	on_node "$n"
	head -c 2048 /dev/urandom >"$T/quota/doc-$i"
	h=$(sha256sum "$T/quota/doc-$i" | cut -d' ' -f1)
	curl -sS --max-time 30 --cacert "$CACERT" -o /dev/null -X PUT \
		-H "Authorization: Bearer ${TOK[alice]}" \
		--data-binary @"$T/quota/doc-$i" \
		"$URL/v1/spaces/demo/chunks/$h" 2>>"$T/curl.log"
	printf '%s %s\n' "$n" "$h" >"$T/quota/plan-$i"
done
for ((i = 1; i <= 10; i++)); do
	read -r n h <"$T/quota/plan-$i"
	on_node "$n"
	curl -sS --max-time 60 --cacert "$CACERT" -o /dev/null -w '%{http_code}\n' \
		-X POST -H "Authorization: Bearer ${TOK[alice]}" \
		-d "{\"client\": \"q\", \"ops\": [{\"op\": \"deposit\", \"path\": \"/q-$i.bin\", \"size\": 2048, \"sha256\": \"$h\", \"chunks\": [[\"$h\", 2048]]}]}" \
		"$URL/v1/spaces/demo/commits" >"$T/quota/code-$i" 2>>"$T/curl.log" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p"
done
check_eq "10 deposits raced on two nodes under a quota for 3: 3 made, 7 refused" \
	"3 7" "$(cat "$T"/quota/code-* | grep -c '^200$') $(cat "$T"/quota/code-* | grep -c '^507$')"
check_eq "the index counts 3 documents of them" 3 \
	"$(index_sql "SELECT count(DISTINCT doc_id) FROM versions WHERE space = 'demo'")"

kill -TERM "$PID2" 2>/dev/null
wait_exit "$PID2" 20
check_eq "node 2 stops on SIGTERM with exit status 0" 0 $?
server_stop
done_testing
