# shellcheck shell=bash
# TAP helpers of the tests that run without tests/lib/common.sh (the
# cluster tests, tests/cluster/): ok, not_ok, check, check_eq, diag.  The
# counters are n and failed; check keeps what a command printed in
# $T/check.log and shows its last lines when it fails.  The caller prints
# the plan ("1..$n") at its end.
n=0
failed=0

ok()
{
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok()
{
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}

# check TITLE CMD...: ok when CMD succeeds.
check()
{
	local title=$1
	shift
	if "$@" >>"$T/check.log" 2>&1; then
		ok "$title"
	else
		not_ok "$title"
		tail -n 5 "$T/check.log" | sed 's/^/# /'
	fi
}

check_eq()
{
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		echo "#   expected: $2"
		echo "#   got:      $3"
	fi
}

diag()
{
	echo "# $*"
}
