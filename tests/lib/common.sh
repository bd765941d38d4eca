# Shared library of the integration tests, sourced by tests/integration/*.sh.
#
# Each test runs its own coffred and its own FUSE mounts inside one private
# temporary directory, so tests never see each other's state.  Everything the
# library starts is recorded (mount points, PIDs) and torn down by cleanup(),
# installed as the EXIT/INT/TERM trap before anything starts: mounts are
# unmounted (lazily if busy), processes we started are stopped by PID, logs
# are printed as TAP diagnostics when a check failed, the directory goes.
#
# Output is TAP: `ok N - title`, `not ok N - title`, then `1..N` from
# done_testing.  A skip is `1..0 # SKIP reason` and exit 0 (under meson's
# TAP protocol exit 77 would be an error).  Every wait is bounded.
#
# Environment: COFFRE and COFFRED (the binaries under test), TESTLIB;
# COFFRE_INDEX=postgresql makes server_init start a PostgreSQL of the test's
# own (tests/lib/pg.sh, in $T/pg, stopped by cleanup) and init the data
# directory with --index on it; COFFRE_LEDGER=index puts every space's
# ledger in the index too (--ledger index, or postgresql on PostgreSQL);
# COFFRE_CLUSTER=DIR runs the test on two coffred nodes behind HAProxy,
# with stores of its own on the deployment scripts/cluster.sh made in DIR
# (tests/lib/cluster_mode.sh).

# shellcheck shell=bash
set -u

TEST_NAME=$(basename "$0" .sh)
WAIT_TIMEOUT=${WAIT_TIMEOUT:-10}	# seconds, for wait_for
SYNC_TIMEOUT=${SYNC_TIMEOUT:-120}	# seconds, for one `coffre sync --wait`
# Seconds for the whole test: once spent, waits give up at once, so a broken
# build fails in minutes instead of stacking timeouts (meson's is 600 s).
TEST_BUDGET=${TEST_BUDGET:-300}

TAP_N=0
TAP_FAILED=0
T=
D=
PORT=
SERVER_NODES=1		# coffred processes serving the test (2 on a deployment)
SERVER_PID=
SERVER_STOPPED=
declare -A CLIENT_PID=()
declare -a MOUNTS=()
declare -a EXTRA_PIDS=()	# started by a script we ran, not our children
declare -a TMPFS=()		# small tmpfs mounts (full-disk tests)
_CLEANED=
PG_DIR=			# the test's PostgreSQL, when COFFRE_INDEX=postgresql

skip_all()
{
	echo "1..0 # SKIP $*"
	exit 0
}

# True unless the test runs on several nodes (COFFRE_CLUSTER): guards a
# check of what only a node of its own has (its folders, its port).
one_node()
{
	[ -z "${COFFRE_CLUSTER:-}" ]
}

# Skip unless the FUSE device, fusermount3 and the given programs exist.
require_fuse()
{
	[ -c /dev/fuse ] || skip_all "no /dev/fuse"
	command -v fusermount3 >/dev/null 2>&1 || skip_all "no fusermount3"
	command -v mountpoint >/dev/null 2>&1 || skip_all "no mountpoint"
}

require_cmd()
{
	local c

	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "no $c"
	done
}

# A missing binary is a broken build, not a reason to skip.
require_binaries()
{
	if [ -z "${COFFRE:-}" ] || [ ! -x "$COFFRE" ] ||
		[ -z "${COFFRED:-}" ] || [ ! -x "$COFFRED" ]; then
		echo "not ok 1 - COFFRE and COFFRED name the binaries under test"
		echo "# COFFRE=${COFFRE:-} COFFRED=${COFFRED:-}"
		echo "1..1"
		exit 1
	fi
}

# --- TAP ------------------------------------------------------------------

ok()
{
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $*"
}

not_ok()
{
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $*"
}

# Print stdin as TAP diagnostics, bounded so a runaway log cannot flood.
diag()
{
	head -c 8000 | sed 's/^/# /'
}

# check "title" CMD...: one TAP line for the exit status of CMD.  The output
# of CMD is kept out of the TAP stream and shown as diagnostics on failure.
check()
{
	local title=$1 out rc
	shift
	ledgers_refresh
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		ok "$title"
	else
		not_ok "$title"
		echo "# failed (exit $rc): $*"
		[ -n "$out" ] && printf '%s\n' "$out" | diag
	fi
	return $rc
}

# check_eq "title" EXPECTED ACTUAL
check_eq()
{
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		printf '# expected: %s\n#      got: %s\n' "$2" "$3"
		return 1
	fi
}

# Seconds left of the test budget, at most $1.
budget_left()
{
	local left=$((TEST_BUDGET - SECONDS))

	[ $left -lt 1 ] && left=1
	[ $left -gt "$1" ] && left=$1
	echo $left
}

# wait_for CMD...: poll CMD every 0.1 s until it succeeds or WAIT_TIMEOUT
# seconds pass.  0 or 1.
wait_for()
{
	local i max=$(($(budget_left "$WAIT_TIMEOUT") * 10))

	for ((i = 0; i < max; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	"$@"
}

# Alive and not a zombie (an exited child stays a zombie until we wait).
proc_alive()
{
	local st

	kill -0 "$1" 2>/dev/null || return 1
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$st" != Z ] && [ "$st" != X ]
}

# Wait up to $2 seconds for process $1 (our child) to end; then reap it and
# return its exit status, or 124 if it is still running.
wait_exit()
{
	local pid=$1 i max=$(($2 * 10))

	for ((i = 0; i < max; i++)); do
		proc_alive "$pid" || break
		sleep 0.1
	done
	proc_alive "$pid" && return 124
	wait "$pid"
}

# --- teardown -------------------------------------------------------------

dump_logs()
{
	local f

	[ -n "$T" ] && [ -d "$T" ] || return 0
	for f in "$T"/*.log; do
		[ -s "$f" ] || continue
		echo "# --- ${f##*/} (last 100 lines)"
		tail -n 100 "$f" | diag
	done
}

cleanup()
{
	local rc=$? m name pid

	[ -n "$_CLEANED" ] && return
	_CLEANED=1
	trap - EXIT INT TERM
	set +e
	for m in "${MOUNTS[@]}"; do
		mountpoint -q "$m" 2>/dev/null || continue
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m"
	done
	for name in "${!CLIENT_PID[@]}"; do
		pid=${CLIENT_PID[$name]}
		[ -n "$pid" ] || continue
		if proc_alive "$pid"; then
			kill -TERM "$pid" 2>/dev/null
			wait_exit "$pid" 5 >/dev/null ||
				kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
	done
	for pid in "${EXTRA_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"
	done
	if [ -n "$SERVER_PID" ] && [ -z "$SERVER_STOPPED" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null
		wait_exit "$SERVER_PID" 10 >/dev/null ||
			kill -KILL "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	[ -n "$PG_DIR" ] && sh "$TESTLIB/pg.sh" stop "$PG_DIR"
	[ -n "${COFFRE_CLUSTER:-}" ] && cluster_cleanup
	if [ $TAP_FAILED -gt 0 ] || [ $rc -ne 0 ]; then
		dump_logs
	fi
	# after every process that used them has stopped
	for m in "${TMPFS[@]}"; do
		mountpoint -q "$m" 2>/dev/null || continue
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	if [ -n "$T" ] && [ -d "$T" ]; then
		# A lazily unmounted mount point may still be busy; never rm
		# through a live mount.
		for m in "${MOUNTS[@]}"; do
			mountpoint -q "$m" 2>/dev/null &&
				echo "# warning: $m still mounted, left in place"
		done
		rm -rf --one-file-system "$T"
	fi
	exit $rc
}

on_signal()
{
	echo "# interrupted"
	TAP_FAILED=$((TAP_FAILED + 1))
	exit 1
}

# Stop clients still mounted (with checks), stop the server (check: exit
# 0 on SIGTERM), print the plan, exit 1 when a check failed.
done_testing()
{
	local name

	for name in "${!CLIENT_PID[@]}"; do
		[ -n "${CLIENT_PID[$name]}" ] && client_umount "$name"
	done
	[ -n "$SERVER_PID" ] && [ -z "$SERVER_STOPPED" ] && server_stop
	echo "1..$TAP_N"
	[ $TAP_FAILED -eq 0 ] && exit 0
	exit 1
}

# Kill coffred with SIGKILL, as a crash would (server_start brings it back).
server_kill()
{
	[ -n "${COFFRE_CLUSTER:-}" ] && {
		cluster_server_stop KILL
		return
	}
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null
	SERVER_STOPPED=1
}

# Stop coffred with SIGTERM; a check that it exited 0 within 20 s.
server_stop()
{
	local st

	[ -n "${COFFRE_CLUSTER:-}" ] && {
		cluster_server_stop TERM
		return
	}
	kill -TERM "$SERVER_PID" 2>/dev/null
	wait_exit "$SERVER_PID" 20
	st=$?
	if [ $st -eq 124 ]; then
		kill -KILL "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	SERVER_STOPPED=1
	check_eq "coffred stops on SIGTERM with exit status 0" 0 "$st"
}

# --- setup ----------------------------------------------------------------

test_init()
{
	require_fuse
	require_binaries
	require_cmd getfattr setfattr git python3 sha256sum timeout
	T=$(mktemp -d "${TMPDIR:-/tmp}/coffre-$TEST_NAME.XXXXXX") || {
		echo "1..0 # SKIP cannot create a temporary directory"
		exit 0
	}
	trap cleanup EXIT
	trap on_signal INT TERM
	[ -n "${COFFRE_CLUSTER:-}" ] && cluster_mode_check
	D=$T/server
	SECONDS=0
}

# Create the data directory (once).
server_init()
{
	local index=() url st

	[ -d "$D" ] && return 0
	if [ -n "${COFFRE_CLUSTER:-}" ]; then
		cluster_server_init
		return 0
	fi
	if [ "${COFFRE_INDEX:-sqlite}" = postgresql ]; then
		chmod 755 "$T"
		PG_DIR=$T/pg
		url=$(sh "$TESTLIB/pg.sh" start "$PG_DIR" 2>"$T/pg.err")
		st=$?
		if [ $st -eq 77 ]; then
			PG_DIR=
			skip_all "$(cat "$T/pg.err")"
		fi
		if [ $st -ne 0 ] || [ -z "$url" ]; then
			not_ok "PostgreSQL starts: $(cat "$T/pg.err")"
			done_testing
		fi
		index=(--index "$url")
	fi
	if [ "${COFFRE_LEDGER:-dir}" = index ]; then
		if [ -n "$PG_DIR" ]; then
			index+=(--ledger postgresql)
		else
			index+=(--ledger index)
		fi
	fi
	if ! "$COFFRED" init "$D" --listen 127.0.0.1:0 "${index[@]}" \
		>>"$T/coffred.log" 2>&1
	then
		not_ok "coffred init"
		done_testing
	fi
	# Every command of the data directory then uses it, fsck included.
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
	[ -n "$PG_DIR" ] &&
		check "the index is the test's PostgreSQL, no index.db" \
			sh -c 'grep -qx "index = $1" "$2/coffred.conf" && ! test -e "$2/index.db"' _ "$url" "$D"
	[ "${COFFRE_LEDGER:-dir}" = index ] &&
		check "coffred.conf puts the ledgers in the index" \
			grep -Eqx "ledger = (index|postgresql)" "$D/coffred.conf"
	return 0
}

# Init if needed, then serve in the background; wait for the port file.
server_start()
{
	local i

	[ -n "${COFFRE_CLUSTER:-}" ] && {
		cluster_server_start
		return
	}
	server_init
	rm -f "$T/port"
	"$COFFRED" serve "$D" --port-file "$T/port" >>"$T/coffred.log" 2>&1 &
	SERVER_PID=$!
	SERVER_STOPPED=
	for ((i = 0; i < 200; i++)); do
		[ -s "$T/port" ] && break
		proc_alive "$SERVER_PID" || break
		sleep 0.1
	done
	PORT=$(tr -dc 0-9 <"$T/port" 2>/dev/null)
	if [ -z "$PORT" ] || ! proc_alive "$SERVER_PID"; then
		not_ok "coffred serve starts and writes its port"
		done_testing
	fi
	URL=https://127.0.0.1:$PORT
	# The server's TLS CA; a data directory older than it has only a
	# self-signed cert.pem, trusted as such.
	CACERT=$D/tls/ca.pem
	[ -f "$CACERT" ] || CACERT=$D/tls/cert.pem
}

# SIGHUP, as `systemctl reload coffred`: coffred reads coffred.conf again
# (on several nodes, every node, each with the configuration of $D).
server_reload()
{
	if [ -n "${COFFRE_CLUSTER:-}" ]; then
		cluster_server_reload
	else
		kill -HUP "$SERVER_PID"
	fi
}

# reloaded N: a check that the log says "coffred.conf reloaded" N times
# per node serving the test.
reloaded()
{
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
	check "coffred reloads (reload $1 of the test, on every node)" \
		wait_for sh -c '[ "$(grep -c "coffred.conf reloaded" "$1")" -ge "$2" ]' \
		_ "$T/coffred.log" "$(($1 * SERVER_NODES))"
}

# Pin the port the running server got in its configuration, so a restarted
# server is at the same URL.
server_pin_port()
{
	# the nodes' ports are chosen at init there, HAProxy's URL stays
	[ -n "${COFFRE_CLUSTER:-}" ] && return 0
	sed -i "s/^listen *=.*/listen = 127.0.0.1:$PORT/" "$D/coffred.conf"
}

# user_add LOGIN: password kept in $T/pw-LOGIN.
user_add()
{
	head -c 18 /dev/urandom | base64 | tr -d '\n/+=' >"$T/pw-$1"
	"$COFFRED" user add "$D" "$1" --phone +33612345678 \
		--password-file "$T/pw-$1" >>"$T/coffred.log" 2>&1 || {
		not_ok "coffred user add $1"
		done_testing
	}
}

# space_create SPACE OWNER [OPTION...]: an empty space (no filing plan)
# unless the options name one.
space_create()
{
	"$COFFRED" space create "$D" "$1" --owner "$2" --plan none "${@:3}" \
		>>"$T/coffred.log" 2>&1 || {
		not_ok "coffred space create $1"
		done_testing
	}
}

# index_sql QUERY: one query on the data directory's index, SQLite's or
# the test's PostgreSQL (psql, trust authentication), rows on stdout.
index_sql()
{
	local url
	url=$(sed -n 's/^index *= *\(postgres.*\)$/\1/p' "$D/coffred.conf")
	if [ -n "$url" ]; then
		psql -X -q -A -t "$url" -c "$1"
	else
		sqlite3 -cmd '.timeout 5000' "$D/index.db" "$1"
	fi
}

# chunk_sizes SPACE: the size of each stored chunk of SPACE, one a line:
# its files in the chunk folder (DIR/ab/<62 hex>, the fan-out), or on
# several nodes its objects in the bucket.
chunk_sizes()
{
	if [ -n "${COFFRE_CLUSTER:-}" ]; then
		cluster_chunk_sizes "$1"
	else
		find "$D/spaces/$1/chunks" -mindepth 2 -maxdepth 2 -type f \
			-path "*/[0-9a-f][0-9a-f]/*" -printf '%s\n'
	fi
}

# The bare git repository of a space: its folder, or, for a ledger kept
# in the index (no folder), a copy of it (coffred space clone) that stays
# as the ledger is: copied again, when its refs moved, before each check
# and each git command of the test, so stock git reads either kind alike.
# (The copies are found by name, $T/ledger-copy-SPACE.git: `ledger` runs
# in a command substitution, whose variables the test never sees.)
ledger()
{
	if grep -Eqx "ledger = (index|postgresql)" "$D/coffred.conf"; then
		ledger_refresh "$1" && echo "$T/ledger-copy-$1.git"
	else
		"$COFFRED" space path "$D" "$1"
	fi
}

# ledger_refresh SPACE: copy the ledger again if its refs moved.
ledger_refresh()
{
	local c=$T/ledger-copy-$1.git refs

	refs=$(index_sql "SELECT name || ' ' || target FROM ledger_refs WHERE space = '$1' ORDER BY name") ||
		return 1
	[ -d "$c" ] && [ "$refs" = "$(cat "$c.refs" 2>/dev/null)" ] && return 0
	rm -rf "$c.new"
	"$COFFRED" space clone "$D" "$1" "$c.new" >/dev/null || return 1
	rm -rf "$c"
	mv "$c.new" "$c"
	printf '%s' "$refs" >"$c.refs"
}

ledgers_refresh()
{
	local c s

	[ -n "$T" ] || return 0
	for c in "$T"/ledger-copy-*.git; do
		[ -d "$c" ] || continue
		s=${c##*/ledger-copy-}
		ledger_refresh "${s%.git}"
	done
	return 0
}

# git of the test's own shell: on a fresh copy of the ledgers it reads.
git()
{
	ledgers_refresh
	command git "$@"
}

# --- clients --------------------------------------------------------------

cfg_of()
{
	echo "$T/client-$1/config"
}

mnt_of()
{
	echo "$T/client-$1/mnt"
}

cache_of()
{
	echo "$T/client-$1/cache"
}

# coffre with the config dir of client NAME: cf NAME ARGS...
cf()
{
	local name=$1
	shift
	"$COFFRE" --config "$(cfg_of "$name")" "$@"
}

# client_login NAME LOGIN
client_login()
{
	mkdir -p "$T/client-$1"
	cf "$1" login "$URL" "$2" --password-file "$T/pw-$2" \
		--cacert "$CACERT" >>"$T/client-$1.log" 2>&1 || {
		not_ok "coffre login as $2 ($1)"
		done_testing
	}
}

# client_mount NAME SPACE [CACHE]: foreground mount in the background; waits
# for it.  CACHE defaults to the client's own cache dir.  Pass
# COFFRE_SETTLE_MS in the environment of the call to change the delay.
client_mount()
{
	local name=$1 mnt i pid cache=${3:-$(cache_of "$1")}

	mnt=$(mnt_of "$name")
	mkdir -p "$mnt" "$cache"
	MOUNTS+=("$mnt")
	"$COFFRE" --config "$(cfg_of "$name")" mount "$2" "$mnt" \
		--cache "$cache" --foreground \
		>>"$T/client-$name.log" 2>&1 &
	pid=$!
	CLIENT_PID[$name]=$pid
	for ((i = 0; i < 200; i++)); do
		mountpoint -q "$mnt" && return 0
		proc_alive "$pid" || break
		sleep 0.1
	done
	if proc_alive "$pid"; then
		not_ok "coffre mount $2 ($name) within 20 s"
	else
		wait "$pid"
		not_ok "coffre mount $2 ($name): exited with status $?"
		CLIENT_PID[$name]=
	fi
	done_testing
}

# small_tmpfs SIZE: a tmpfs of SIZE (e.g. 6m) on $T/small, unmounted at
# teardown, for full-disk tests; fails when tmpfs cannot be mounted here.
small_tmpfs()
{
	mkdir -p "$T/small" &&
		mount -t tmpfs -o size="$1" tmpfs "$T/small" 2>/dev/null &&
		TMPFS+=("$T/small")
}

# client_umount NAME: fusermount3 -u, then a check that the client process
# exited 0 (so sanitizer reports fail the test).
client_umount()
{
	local name=$1 mnt pid st

	mnt=$(mnt_of "$name")
	pid=${CLIENT_PID[$name]}
	if ! fusermount3 -u "$mnt" 2>>"$T/client-$name.log"; then
		sleep 1
		fusermount3 -u "$mnt" 2>>"$T/client-$name.log" ||
			fusermount3 -u -z "$mnt"
	fi
	wait_exit "$pid" 30
	st=$?
	if [ $st -eq 124 ]; then
		kill -TERM "$pid" 2>/dev/null
		wait_exit "$pid" 5 >/dev/null || kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	CLIENT_PID[$name]=
	check_eq "coffre mount ($name) exits 0 after unmount" 0 "$st"
}

# client_sync NAME: end the settle delays, then `coffre sync --wait`, bounded.
client_sync()
{
	local mnt

	mnt=$(mnt_of "$1")
	setfattr -n user.coffre.sync -v now "$mnt" 2>/dev/null
	timeout "$(budget_left "$SYNC_TIMEOUT")" "$COFFRE" --config "$(cfg_of "$1")" \
		sync --wait "$mnt"
}

# demo_logins CLIENT...: the usual start of a drive test.  User alice owns
# space demo, coffred serves it, and each CLIENT logs in as alice.
# server_init may come first, to add to the configuration.
demo_logins()
{
	local c

	server_init
	user_add alice
	space_create demo alice
	server_start
	# A server restarted by the test comes back at the same URL.
	server_pin_port
	for c in "$@"; do
		client_login "$c" alice
	done
}

# demo_mounts CLIENT...: demo_logins, then each CLIENT mounts demo.  A (and
# B) name the mounts of the first (and second) CLIENT.
demo_mounts()
{
	local c

	demo_logins "$@"
	for c in "$@"; do
		client_mount "$c" demo
	done
	# shellcheck disable=SC2034 # for the test that sourced this file
	A=$(mnt_of "$1")
	# shellcheck disable=SC2034
	[ $# -lt 2 ] || B=$(mnt_of "$2")
}

# data_copy NAME: a fresh copy of the server's data directory, to tamper
# with; prints its path.
data_copy()
{
	rm -rf "${T:?}/$1"
	cp -a "$D" "$T/$1"
	echo "$T/$1"
}

# fsck_fails DIR PATTERN: coffred fsck exits 1 and says PATTERN.
fsck_fails()
{
	local out st

	out=$("$COFFRED" fsck "$1" 2>&1)
	st=$?
	[ $st -eq 1 ] && grep -q -- "$2" <<<"$out" && return 0
	echo "exit $st"
	echo "$out"
	return 1
}

# --- helpers for checks ---------------------------------------------------

# xattr FILE NAME: the value, without newline; fails when absent.
xattr()
{
	getfattr --absolute-names --only-values -n "$2" -- "$1" 2>/dev/null
}

sha256_of()
{
	sha256sum <"$1" | cut -d' ' -f1
}

is_rfc3339_utc()
{
	[[ $1 =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]]
}

# The token client NAME got at login.
token_of()
{
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' \
		"$(cfg_of "$1")/session.json"
}

# api OUT METHOD PATH [curl args...]: the HTTP status on stdout, the body in
# OUT.  No Authorization header unless given in the args.
api()
{
	local out=$1 method=$2 path=$3
	shift 3
	curl -sS --path-as-is --max-time 60 --cacert "$CACERT" \
		-o "$out" -w '%{http_code}' -X "$method" "$@" "$URL$path"
}

# json_get FILE EXPR: evaluate a python expression over the parsed body `j`.
json_get()
{
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$1" "$2" 2>/dev/null
}

if [ -n "${COFFRE_CLUSTER:-}" ]; then
	# shellcheck source=tests/lib/cluster_mode.sh
	. "$TESTLIB/cluster_mode.sh"
fi

test_init
