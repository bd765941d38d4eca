#!/bin/bash
# A bounded crash-torture run (tests/torture/torture.py): random creates,
# overwrites, appends, truncates, renames, removals and folders on a real
# coffred and mount, with SIGKILLs of the mount, coffred or both at random
# moments.  The hard invariants of the drive's contract, one check each:
# every close that returned 0 is a version in the ledger, no version holds
# content never closed, none is duplicated, no rename comes undone, the
# ledger's head is the drive's tree, `coffred fsck` is clean.
#
# COFFRE_TORTURE_CYCLES (default 50) and COFFRE_TORTURE_SEED (default
# random, printed) change the run; a long run is the program itself:
#   tests/torture/torture.py --coffre build/client/coffre \
#       --coffred build/server/coffred --cycles 1000
TEST_BUDGET=${TEST_BUDGET:-540}	# the run itself, then the checks
. "$TESTLIB/common.sh"

require_cmd fusermount3

cycles=${COFFRE_TORTURE_CYCLES:-50}
seed=${COFFRE_TORTURE_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
torture=$(dirname "$TESTLIB")/torture/torture.py
mkdir -p "$T/torture"
timeout "$(budget_left 3000)" python3 "$torture" --coffre "$COFFRE" \
	--coffred "$COFFRED" --cycles "$cycles" --seed "$seed" \
	--workdir "$T/torture" >"$T/torture.out" 2>&1
st=$?
diag <"$T/torture.out"

# figure "LABEL": the first number after "LABEL: " in the report
figure()
{
	sed -n "s/^$1: \([0-9]*\).*/\1/p" "$T/torture.out" | head -1
}
check "the run ends with its figures (exit status $st)" sh -c '
	[ "$1" -le 1 ] && grep -q "^result: " "$2"' _ "$st" "$T/torture.out"
check "some contents were closed" test "$(figure 'closed contents')" -gt 0
check_eq "every close that returned 0 is a version in the ledger" 0 "$(figure missing)"
check_eq "no version holds content never closed" 0 "$(figure 'torn (versions holding content never closed)')"
# a commit retried after a kill between the server's commit and the
# drive's dequeue goes under its batch id: the server replays it
check_eq "no content deposited more often than closed" 0 \
	"$(figure 'duplicates (versions beyond the closes of their content)')"
check_eq "no rename undone after a remount" 0 "$(figure 'reverted renames (seen after a remount)')"
check "the ledger's head is the drive's tree after sync" \
	grep -q '^final tree differs from the drive in 0 paths; final sync ok' "$T/torture.out"
check "coffred fsck is clean" grep -qx 'fsck: clean' "$T/torture.out"
if [ $TAP_FAILED -gt 0 ]; then
	for f in "$T"/torture/*.log; do
		echo "# --- ${f##*/} (last 60 lines)"
		tail -n 60 "$f" | diag
	done
fi
done_testing
