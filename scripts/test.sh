#!/bin/bash
# Build coffre and run its whole test suite twice: a plain -Dwerror build,
# then an AddressSanitizer + UBSan build; then run the fuzz targets
# (tests/fuzz/run.sh, one result per target; COFFRE_SKIP_FUZZ=1 skips
# them).  The last line printed is "N passed, N failed" over all of it; the
# exit status is non-zero when anything failed (a build failure counts as
# one failure).
#
# Installs the Debian packages first when some are missing (as root, or
# through sudo), and always checks them when CI=true.  Build directories:
# build/, build-asan/ and build-fuzz/ (override with BUILD_DIR, ASAN_DIR
# and FUZZ_DIR).
#
# The cluster step, a run of its own: it installs the cluster packages
# (scripts/install-deps.sh --cluster), builds the plain build and runs
# tests/cluster/*.sh, each against a deployment of scripts/cluster.sh
# (PostgreSQL, Ceph RGW, HAProxy, coffred nodes), then, against one more
# deployment, the unit tests that need a real S3 store and the whole
# integration suite (COFFRE_CLUSTER: each test on two nodes behind HAProxy,
# with a database and a bucket of its own; tests/lib/cluster_mode.sh).
# scripts/test.sh --cluster runs that step alone, with the same closing
# line.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
BUILD_DIR=${BUILD_DIR:-build}
ASAN_DIR=${ASAN_DIR:-build-asan}
LOG_DIR=${LOG_DIR:-$BUILD_DIR-logs}
mkdir -p "$LOG_DIR"

# The cluster step: one result per TAP check of tests/cluster/*.sh, one
# per test of the suites run on a deployment; added to passed and failed.
cluster_step()
{
	local t log ok bad p0=$passed f0=$failed

	if [ "${CI:-}" = true ]; then
		scripts/install-deps.sh --cluster --always
	elif [ -n "$(scripts/install-deps.sh --cluster --missing)" ]; then
		scripts/install-deps.sh --cluster
	fi || {
		echo "=== cluster: the cluster packages could not be installed"
		failed=$((failed + 1))
		return
	}
	echo "=== cluster: build $BUILD_DIR"
	if ! { [ -f "$BUILD_DIR/build.ninja" ] ||
		meson setup "$BUILD_DIR" -Dwerror=true >"$LOG_DIR/setup-cluster.log" 2>&1; } ||
		! ninja -C "$BUILD_DIR" >"$LOG_DIR/build-cluster.log" 2>&1; then
		echo "=== cluster: build FAILED (logs in $LOG_DIR)"
		failed=$((failed + 1))
		return
	fi
	for t in tests/cluster/*.sh; do
		log=$LOG_DIR/cluster-$(basename "$t" .sh).log
		echo "=== cluster: $t"
		COFFRED=$PWD/$BUILD_DIR/server/coffred COFFRE=$PWD/$BUILD_DIR/client/coffre \
			timeout -k 30 "${CLUSTER_TIMEOUT:-900}" "$t" 2>&1 | tee "$log"
		ok=$(grep -c '^ok ' "$log")
		bad=$(grep -c '^not ok ' "$log")
		grep -q '^1\.\.' "$log" || bad=$((bad + 1)) # cut short
		passed=$((passed + ok))
		failed=$((failed + bad))
	done
	cluster_integration
	echo "=== cluster: $((passed - p0)) passed, $((failed - f0)) failed"
}

# The unit tests skipped without a real S3 store, against the deployment
# in $1 (its env names the store and the key file).
cluster_units()
{
	local log=$LOG_DIR/cluster-units.log ok fail

	echo "=== cluster: unit tests on the deployment's S3 store"
	(
		# shellcheck disable=SC1091
		. "$1/env" && meson test -C "$BUILD_DIR" --no-rebuild \
			--logbase cluster-units chunk_s3
	) 2>&1 | tee "$log"
	ok=$(summary_count "$log" 'Ok')
	fail=$(summary_count "$log" 'Fail')
	grep -q '^Ok:' "$log" || fail=$((fail + 1))
	passed=$((passed + ok))
	failed=$((failed + fail))
}

# The integration suite with every test on two nodes of a deployment.
cluster_integration()
{
	local dir log ok fail tout skip

	dir=$(mktemp -d /tmp/coffre-cluster-suite.XXXXXX) || {
		failed=$((failed + 1))
		return
	}
	log=$LOG_DIR/cluster-integration.log
	echo "=== cluster: the integration suite on two nodes behind HAProxy"
	if ! COFFRED=$PWD/$BUILD_DIR/server/coffred scripts/cluster.sh up "$dir" \
		--nodes 1 >"$LOG_DIR/cluster-suite-up.log" 2>&1; then
		tail -n 20 "$LOG_DIR/cluster-suite-up.log"
		echo "=== cluster: the deployment did not come up"
		failed=$((failed + 1))
	else
		cluster_units "$dir"
		COFFRE_CLUSTER=$dir timeout -k 60 "${RUN_TIMEOUT:-2100}" \
			meson test -C "$BUILD_DIR" --no-rebuild --suite integration \
			--logbase cluster-integration 2>&1 | tee "$log"
		ok=$(summary_count "$log" 'Ok')
		fail=$(summary_count "$log" 'Fail')
		tout=$(summary_count "$log" 'Timeout')
		skip=$(summary_count "$log" 'Skipped')
		grep -q '^Ok:' "$log" || fail=$((fail + 1))
		echo "=== cluster: integration suite: $ok passed, $((fail + tout)) failed, $skip skipped (not meaningful on two nodes; each says why)"
		passed=$((passed + ok))
		failed=$((failed + fail + tout))
	fi
	scripts/cluster.sh down "$dir" >>"$LOG_DIR/cluster-suite-up.log" 2>&1
	rm -rf "$dir"
}

# install-deps.sh does nothing when every package is there, and uses sudo
# when not run as root.
if [ "${CI:-}" = true ]; then
	scripts/install-deps.sh --always || exit 1
elif [ -n "$(scripts/install-deps.sh --missing)" ]; then
	scripts/install-deps.sh || exit 1
fi

passed=0
failed=0

# summary_count LOG LABEL: the number on meson's "LABEL:" summary line.
summary_count()
{
	local n

	n=$(sed -n "s/^$2:[[:space:]]*\([0-9][0-9]*\).*/\1/p" "$1" | tail -n1)
	echo "${n:-0}"
}

if [ "${1:-}" = --cluster ]; then
	cluster_step
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
fi

# run_suite DIR LABEL [meson options...]: configure, build, test.
run_suite()
{
	local dir=$1 label=$2 log ok xfail fail upass tout skip
	shift 2
	log=$LOG_DIR/test-$label.log

	echo "=== $label: configure $dir ($*)"
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >"$LOG_DIR/setup-$label.log" 2>&1
	else
		meson setup "$dir" "$@" >"$LOG_DIR/setup-$label.log" 2>&1
	fi || {
		tail -n 40 "$LOG_DIR/setup-$label.log"
		echo "=== $label: meson setup FAILED"
		failed=$((failed + 1))
		return
	}
	echo "=== $label: build"
	# Keep going past a broken target so every test that can run does;
	# the broken build itself counts as one failure, and so does each
	# test whose program could not be built (meson would refuse to run
	# any test at all).
	local runnable=()
	if ! ninja -C "$dir" -k 0 >"$LOG_DIR/build-$label.log" 2>&1; then
		grep -E -A3 'error|FAILED' "$LOG_DIR/build-$label.log" | head -n 60
		echo "=== $label: build FAILED (log: $LOG_DIR/build-$label.log)"
		failed=$((failed + 1))
		mapfile -t runnable < <(meson introspect --tests "$dir" |
			python3 -c 'import json, os, sys
for t in json.load(sys.stdin):
    ok = os.path.exists(t["cmd"][0])
    print(t["name"] if ok else "", end="\n" if ok else "")
    if not ok:
        print("unbuilt " + t["name"], file=sys.stderr)' 2>"$LOG_DIR/unbuilt-$label.txt")
		if [ -s "$LOG_DIR/unbuilt-$label.txt" ]; then
			sed 's/^/=== /' "$LOG_DIR/unbuilt-$label.txt"
			failed=$((failed + $(wc -l <"$LOG_DIR/unbuilt-$label.txt")))
		fi
		if [ ${#runnable[@]} -eq 0 ]; then
			echo "=== $label: no test could be built"
			return
		fi
	fi
	echo "=== $label: test"
	# A safety net for a hung build: each run is cut after RUN_TIMEOUT
	# seconds (default 35 min; a healthy run takes a few minutes), which
	# leaves no summary and so counts as a failure.
	timeout -k 60 "${RUN_TIMEOUT:-2100}" \
		meson test -C "$dir" --no-rebuild --print-errorlogs "${runnable[@]}" 2>&1 |
		tee "$log"
	ok=$(summary_count "$log" 'Ok')
	xfail=$(summary_count "$log" 'Expected Fail')
	fail=$(summary_count "$log" 'Fail')
	upass=$(summary_count "$log" 'Unexpected Pass')
	tout=$(summary_count "$log" 'Timeout')
	skip=$(summary_count "$log" 'Skipped')
	if ! grep -q '^Ok:' "$log"; then
		echo "=== $label: meson test printed no summary"
		failed=$((failed + 1))
		return
	fi
	if [ $((fail + upass + tout)) -gt 0 ] && [ -f "$dir/meson-logs/testlog.txt" ]; then
		# meson shows no stdout of a TAP test: print the failed checks
		# and their first diagnostics.
		echo "=== $label: failed checks (full log: $dir/meson-logs/testlog.txt)"
		awk '/^test:/ { t = $NF }
		     /^not ok/ { print t ": " $0; n = 4; next }
		     n > 0 && /^#/ { print "    " $0; n--; next }
		     { n = 0 }' "$dir/meson-logs/testlog.txt" | head -n 80
	fi
	echo "=== $label: $((ok + xfail)) passed, $((fail + upass + tout)) failed, $skip skipped"
	passed=$((passed + ok + xfail))
	failed=$((failed + fail + upass + tout))
}

# Style, reported but not counted: clang-format (.clang-format at the root)
# over the C sources, shellcheck over the shell scripts.
lint()
{
	local f n=0

	if command -v clang-format >/dev/null; then
		for f in $(git ls-files '*.c' '*.h' 2>/dev/null); do
			clang-format --dry-run --Werror "$f" >/dev/null 2>&1 ||
				{ n=$((n + 1)); echo "    $f"; }
		done
		echo "=== lint: $n C files differ from .clang-format"
	fi
	if command -v shellcheck >/dev/null; then
		n=$(shellcheck -S warning -x scripts/*.sh .ci/run \
			tests/lib/common.sh tests/integration/*.sh 2>/dev/null |
			grep -c '^In ')
		echo "=== lint: $n shellcheck warnings in the scripts"
	fi
}

# The README's first command on a machine with nothing installed
# (scripts/fresh-machine-check.sh: a debootstrapped Debian 12 root).  Runs
# in CI (CI=true) or when FRESH_MACHINE=1; FRESH_MACHINE=0 skips it.
fresh_machine()
{
	local want=${FRESH_MACHINE:-}

	[ -z "$want" ] && [ "${CI:-}" = true ] && want=1
	[ "$want" = 1 ] || return 0
	echo "=== fresh machine: scripts/demo.sh in a debootstrapped Debian 12"
	if scripts/fresh-machine-check.sh >"$LOG_DIR/fresh-machine.log" 2>&1; then
		echo "=== fresh machine: passed"
		passed=$((passed + 1))
	else
		tail -n 40 "$LOG_DIR/fresh-machine.log"
		echo "=== fresh machine: FAILED (log: $LOG_DIR/fresh-machine.log)"
		failed=$((failed + 1))
	fi
}

# The Debian packages, built from a clean clone, checked by lintian and
# installed in a clean Debian 12 root (scripts/package-check.sh).  Same
# switch as above: CI, or PACKAGE_CHECK=1; PACKAGE_CHECK=0 skips it.
package_check()
{
	local want=${PACKAGE_CHECK:-}

	[ -z "$want" ] && [ "${CI:-}" = true ] && want=1
	[ "$want" = 1 ] || return 0
	echo "=== packages: build, lintian, install in a clean Debian 12 root"
	if scripts/package-check.sh >"$LOG_DIR/package-check.log" 2>&1; then
		grep 'exposure' "$LOG_DIR/package-check.log" | sed 's/^/=== /'
		echo "=== packages: passed"
		passed=$((passed + 1))
	else
		tail -n 40 "$LOG_DIR/package-check.log"
		echo "=== packages: FAILED (log: $LOG_DIR/package-check.log)"
		failed=$((failed + 1))
	fi
}

lint
fresh_machine
package_check
run_suite "$BUILD_DIR" plain -Dwerror=true
run_suite "$ASAN_DIR" asan -Db_sanitize=address,undefined -Db_lundef=false \
	-Dwerror=true

# The libFuzzer targets (tests/fuzz/run.sh: clang, ASan + UBSan, a
# bounded time each), one pass or failure per target.  COFFRE_SKIP_FUZZ=1
# skips them (a developer's quick run); CI runs them.
fuzz()
{
	local log=$LOG_DIR/test-fuzz.log ok bad

	if [ "${COFFRE_SKIP_FUZZ:-0}" = 1 ]; then
		echo "=== fuzz: skipped (COFFRE_SKIP_FUZZ=1)"
		return
	fi
	echo "=== fuzz: ${FUZZ_SECONDS:-45} s per target"
	FUZZ_DIR=${FUZZ_DIR:-build-fuzz} tests/fuzz/run.sh 2>&1 | tee "$log"
	ok=$(grep -c '^ok ' "$log")
	bad=$(grep -c '^not ok ' "$log")
	if ! grep -q '^fuzz: ' "$log"; then
		bad=$((bad + 1)) # cut short: no summary
	fi
	passed=$((passed + ok))
	failed=$((failed + bad))
}

fuzz

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
