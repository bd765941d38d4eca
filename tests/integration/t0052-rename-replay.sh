#!/bin/bash
# A queued rename over an existing file stays done across a kill of the
# mount: f=F1 and g=G1 synced; `echo F2 >>f; mv f g;
# echo NEW >f; sleep 0.3`; SIGKILL; after remount g shows F1F2, f shows
# NEW, sync succeeds, and the server ends with g = F1F2 and f = NEW.
. "$TESTLIB/common.sh"

demo_mounts a b

echo F1 >"$A/f.txt"
echo G1 >"$A/g.txt"
check "f and g synced" client_sync a
echo F2 >>"$A/f.txt"
mv "$A/f.txt" "$A/g.txt"
echo NEW >"$A/f.txt"
sleep 0.3
kill -KILL "${CLIENT_PID[a]}"
wait "${CLIENT_PID[a]}" 2>/dev/null
CLIENT_PID[a]=
fusermount3 -u -z "$A" 2>/dev/null
client_mount a demo
check_eq "after the kill, g shows F1F2" "$(printf 'F1\nF2')" "$(cat "$A/g.txt")"
check_eq "... and f shows NEW" NEW "$(cat "$A/f.txt")"
check "sync succeeds" client_sync a
check_eq "no error is reported" "" "$(xattr "$A" user.coffre.error)"
check "the other drive shows g = F1F2" wait_for sh -c \
	'[ "$(cat "$1/g.txt")" = "$(printf "F1\nF2")" ]' _ "$B"
check "... and f = NEW" wait_for sh -c '[ "$(cat "$1/f.txt")" = NEW ]' _ "$B"
check "F1F2 is a version of g" sh -c '
	for v in "$1"/.versions/g.txt/v*.txt; do
		[ "$(cat "$v")" = "$(printf "F1\nF2")" ] && exit 0
	done; exit 1' _ "$B"
done_testing
