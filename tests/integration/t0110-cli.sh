#!/bin/bash
# The command line as people expect it: `coffre CMD --help` and
# `coffre help CMD` for every command, options in any order around the
# words and `--` ending them, every command in the man page, and
# `coffre status`: online, then offline with changes queued (exit 1, says
# why), then back, in words and as JSON.
. "$TESTLIB/common.sh"

MAN=$TESTLIB/../../man/coffre.1
test_init
require_cmd jq

# --- help ------------------------------------------------------------------
"$COFFRE" help >"$T/help" 2>&1
check_eq "coffre help exits 0" 0 $?
mapfile -t CMDS < <(sed -n 's/^  \([a-z-][a-z-]*\)  .*/\1/p' "$T/help")
check "coffre help lists the commands (at least 20)" test "${#CMDS[@]}" -ge 20
bad=
for c in "${CMDS[@]}"; do
	"$COFFRE" "$c" --help >"$T/h1" 2>&1 || bad+=" $c(--help exit $?)"
	"$COFFRE" help "$c" >"$T/h2" 2>&1 || bad+=" $c(help exit $?)"
	grep -q "^usage: coffre \[--config DIR\] $c\b" "$T/h1" || bad+=" $c(usage)"
	cmp -s "$T/h1" "$T/h2" || bad+=" $c(differ)"
done
check_eq "every command answers --help and help CMD alike, exit 0" "" "$bad"
"$COFFRE" versions -h >"$T/h" 2>&1
check "-h is --help" grep -q '^usage: coffre \[--config DIR\] versions PATH' "$T/h"
"$COFFRE" versions --bogus x >/dev/null 2>"$T/e"
check_eq "an unknown option is a usage error (2)" 2 $?
"$COFFRE" help nosuch >/dev/null 2>&1
check_eq "help of an unknown command is a usage error (2)" 2 $?
"$COFFRE" --help >"$T/usage" 2>&1
check_eq "coffre --help exits 0" 0 $?
check "coffre --help shows every synopsis, status among them" \
	grep -q '^ *coffre \[--config DIR\] status \[MOUNTPOINT\] \[--json\]' "$T/usage"
if [ -f "$MAN" ]; then
	missing=
	for c in "${CMDS[@]}"; do
		grep -q "^\.B $c\b\|^\.B $c$\|^\.B \"$c\|^\.B ${c//-/\\\\-}\b" "$MAN" ||
			missing+=" $c"
	done
	check_eq "the man page describes every command" "" "$missing"
else
	not_ok "the man page is at $MAN"
fi

# coffred: the same for each of its commands
bad=
for c in init serve "user add" "space create" "space path" "key export" fsck; do
	# shellcheck disable=SC2086 # the command's words
	"$COFFRED" $c --help >"$T/h1" 2>&1 || bad+=" $c(--help exit $?)"
	# shellcheck disable=SC2086
	"$COFFRED" help $c >"$T/h2" 2>&1 || bad+=" $c(help exit $?)"
	grep -q "^usage: coffred $c " "$T/h1" || bad+=" $c(usage)"
	cmp -s "$T/h1" "$T/h2" || bad+=" $c(differ)"
done
check_eq "every coffred command answers --help and help CMD alike, exit 0" "" "$bad"
"$COFFRED" help nosuch >/dev/null 2>&1
check_eq "coffred help of an unknown command is a usage error (2)" 2 $?

# --- a drive ---------------------------------------------------------------
demo_mounts a
echo hello >"$A/note.txt"
check "sync" client_sync a
cat "$A/note.txt" >/dev/null

# options before, between or after the words; -- ends them
cf a log "$A/note.txt" --by alice >"$T/l1" 2>&1
check_eq "log PATH --by LOGIN" 0 $?
cf a log --by alice "$A/note.txt" >"$T/l2" 2>&1
check_eq "log --by LOGIN PATH" 0 $?
check "both orders print the same journal" cmp "$T/l1" "$T/l2"
check "which shows alice's deposit" grep -q 'alice .*deposit' "$T/l1"
cf a log --by alice -- "$A/note.txt" >"$T/l3" 2>&1
check_eq "log --by LOGIN -- PATH" 0 $?
check "prints the same" cmp "$T/l1" "$T/l3"
check "the read of note.txt reaches the journal" \
	wait_for sh -c '"$1" --config "$2" log "$3" --reads | grep -q "read v1"' \
	_ "$COFFRE" "$(cfg_of a)" "$A/note.txt"
cf a log "$A/note.txt" --reads >"$T/r1" 2>&1
cf a log --reads "$A/note.txt" >"$T/r2" 2>&1
check "log PATH --reads and log --reads PATH agree" cmp "$T/r1" "$T/r2"
cf a member list demo --role owner >/dev/null 2>&1
check_eq "member list with a --role it does not take is a usage error" 2 $?

# status, online: exit 0, in words and JSON
cf a status "$A" >"$T/s1" 2>&1
check_eq "status of an online drive in order exits 0" 0 $?
check "says online" grep -q '^  online$' "$T/s1"
check "names space, server and user" grep -q "^$A: space demo at $URL as alice$" "$T/s1"
check "no change queued" grep -q '^  queued: 0 changes, 0 B$' "$T/s1"
cf a status "$A" --json >"$T/j1"
check_eq "JSON: online" true "$(jq -r .online "$T/j1")"
check "JSON: a last sync time" jq -e '.last_sync | test("^[0-9-]+T[0-9:]+Z$")' "$T/j1"
check_eq "JSON: nothing needs attention" null "$(jq -r .needs_attention "$T/j1")"
check_eq "JSON: the mountpoint" "$A" "$(jq -r .mountpoint "$T/j1")"

# without MOUNTPOINT: every coffre drive, this one among them
cf a status --json >"$T/all"
check "status without MOUNTPOINT lists this drive" \
	jq -s -e --arg m "$A" 'any(.[]; .mountpoint == $m)' "$T/all"

# offline with a change queued: exit 1, and why
server_kill
head -c 300000 /dev/urandom >"$A/offline.bin"
wait_for sh -c '"$1" --config "$2" status "$3" --json | jq -e ".online == false and .queued.changes >= 1"' \
	_ "$COFFRE" "$(cfg_of a)" "$A" >/dev/null 2>&1
cf a status "$A" >"$T/s2" 2>&1
check_eq "status offline with a change queued exits 1" 1 $?
check "says offline since when" grep -q '^  offline since [0-9-]*T[0-9:]*Z$' "$T/s2"
check "counts the queued changes and bytes" \
	grep -Eq '^  queued: [1-9][0-9]* changes, 29[0-9]\.[0-9] KiB$' "$T/s2"
check "and says it needs attention" grep -q '^  needs attention: offline with changes queued$' "$T/s2"
cf a status "$A" --json >"$T/j2"
check_eq "JSON: offline" false "$(jq -r .online "$T/j2")"
check_eq "JSON: why" "offline with changes queued" "$(jq -r .needs_attention "$T/j2")"
check "JSON: the queued bytes" jq -e '.queued.bytes >= 300000' "$T/j2"

# back online: the queue drains, status is fine again
server_start
cf a sync --wait --progress --timeout 120 "$A" 2>"$T/progress"
check_eq "sync --wait --progress once the server is back: exit 0" 0 $?
check "--progress shows the changes and bytes left and the rate" \
	grep -Eq '^sync: [1-9][0-9]* changes, [0-9.]+ (B|KiB|MiB) left, [0-9.]+ (B|KiB|MiB)/s' "$T/progress"
head -c 1000 /dev/urandom >"$A/quiet.bin"
cf a sync --wait --timeout 120 "$A" 2>"$T/noprogress"
check_eq "without --progress and not on a terminal: silent" "" "$(cat "$T/noprogress")"
head -c 1000 /dev/urandom >"$A/quiet2.bin"
cf a sync --wait --progress --quiet --timeout 120 "$A" 2>"$T/quiet"
check_eq "--quiet after --progress: silent" "" "$(cat "$T/quiet")"
check "status is back to online, exit 0" wait_for sh -c '"$1" --config "$2" status "$3" | grep -q "^  online$"' \
	_ "$COFFRE" "$(cfg_of a)" "$A"
cf a status "$A" >/dev/null 2>&1
check_eq "and exits 0" 0 $?

# not a drive
mkdir -p "$T/plain"
cf a status "$T/plain" >/dev/null 2>"$T/e"
check_eq "status of a folder that is no drive exits 1" 1 $?
check "saying so" grep -q "not a coffre drive" "$T/e"

client_umount a
done_testing
