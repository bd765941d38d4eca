#!/bin/bash
# Build the libFuzzer targets of tests/fuzz (clang, -Dfuzz=true, ASan and
# UBSan) in their own build directory, then run each target for a bounded
# time on a copy of its kept corpus (tests/fuzz/corpus/NAME).  Prints one
# TAP line per target ("ok N - fuzz NAME" or "not ok ..."), then
# "fuzz: N passed, N failed"; exits non-zero when a target crashed, leaked,
# hung or could not be built.
#
#   FUZZ_SECONDS  time per target (default 45)
#   FUZZ_JOBS     targets run at once (default 2)
#   FUZZ_DIR      build directory (default build-fuzz)
#   FUZZ_TARGETS  space-separated names to run (default: every corpus)
#
# A crashing input is kept as FUZZ_DIR/fuzz-out/NAME/crash-*; replay it with
# FUZZ_DIR/tests/fuzz/fuzz_NAME FILE.  New inputs found are kept in
# FUZZ_DIR/fuzz-out/NAME/corpus for the next run; the kept corpus is never
# written.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
FUZZ_DIR=${FUZZ_DIR:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-45}
FUZZ_JOBS=${FUZZ_JOBS:-2}
OUT=$FUZZ_DIR/fuzz-out

if [ -n "${FUZZ_TARGETS:-}" ]; then
	read -r -a targets <<<"$FUZZ_TARGETS"
else
	targets=()
	for d in tests/fuzz/corpus/*/; do
		targets+=("$(basename "$d")")
	done
fi
echo "1..${#targets[@]}"

build()
{
	local opts=(-Dfuzz=true '-Db_sanitize=address,undefined' -Db_lundef=false
		-Dwerror=true)

	mkdir -p "$OUT"
	if [ -f "$FUZZ_DIR/build.ninja" ]; then
		meson setup --reconfigure "$FUZZ_DIR" "${opts[@]}"
	else
		CC=clang meson setup "$FUZZ_DIR" "${opts[@]}"
	fi >"$OUT/setup.log" 2>&1 || { tail -n 20 "$OUT/setup.log"; return 1; }
	ninja -C "$FUZZ_DIR" "${targets[@]/#/tests/fuzz/fuzz_}" \
		>"$OUT/build.log" 2>&1 || { grep -E -A3 'error|FAILED' \
		"$OUT/build.log" | head -n 40; return 1; }
}

# run_one NAME: fuzz NAME; its result (0 or 1) into OUT/NAME/rc.
run_one()
{
	local name=$1 dir=$OUT/$1 bin=$FUZZ_DIR/tests/fuzz/fuzz_$1 rc

	mkdir -p "$dir/corpus" "$dir/tmp"
	rm -f "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*
	if [ ! -x "$bin" ]; then
		echo "no program $bin" >"$dir/log"
		echo 1 >"$dir/rc"
		return
	fi
	# -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a
	# parser that blows up memory on a small input fails too.
	TMPDIR=$dir/tmp \
		ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$dir/" "$dir/corpus" "tests/fuzz/corpus/$name" \
		>"$dir/log" 2>&1
	rc=$?
	rm -rf "$dir/tmp"
	echo $((rc != 0)) >"$dir/rc"
}

if ! build; then
	echo "not ok 1 - fuzz build (log: $OUT/build.log)"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi

running=0
for name in "${targets[@]}"; do
	if [ "$running" -ge "$FUZZ_JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
	run_one "$name" &
	running=$((running + 1))
done
wait

passed=0
failed=0
n=0
for name in "${targets[@]}"; do
	n=$((n + 1))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$name/log")
	if [ "$(cat "$OUT/$name/rc" 2>/dev/null)" = 0 ]; then
		echo "ok $n - fuzz $name (${runs:-?} runs in ${FUZZ_SECONDS} s)"
		passed=$((passed + 1))
	else
		echo "not ok $n - fuzz $name (log: $OUT/$name/log)"
		grep -E -m1 -A12 'ERROR:|runtime error|deadly signal|Test unit written' \
			"$OUT/$name/log" | sed 's/^/#   /'
		ls "$OUT/$name"/crash-* "$OUT/$name"/leak-* "$OUT/$name"/timeout-* \
			"$OUT/$name"/oom-* 2>/dev/null | sed 's/^/#   input: /'
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
