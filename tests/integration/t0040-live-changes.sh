#!/bin/bash
# Live changes: what mount A deposits, moves, removes or versions shows in
# mount B within 2 seconds, without remounting, through the change feed (a
# long poll, not a listing every second); B's open file keeps reading the
# version it opened; with the feed disabled the drive still catches up.
. "$TESTLIB/common.sh"
require_cmd python3

demo_mounts a b

# seen_within SECONDS CMD...: CMD succeeds within SECONDS (polled every 50 ms).
seen_within()
{
	local max=$(($1 * 20)) i
	shift
	for ((i = 0; i < max; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}
holds() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }
gone() { ! test -e "$1"; }

# B lists its root first, so the feed has something to revalidate.
ls "$B" >/dev/null
mkdir -p "$A/Docs"
check "sync the folder" client_sync a
check "B shows the folder" seen_within 2 test -d "$B/Docs"
ls "$B/Docs" >/dev/null

echo one >"$A/Docs/live.txt"
check "sync A" client_sync a
check "a new file shows in B within 2 s" seen_within 2 holds "$B/Docs/live.txt" one

exec 3<"$B/Docs/live.txt"
check_eq "B opens version 1" one "$(head -n1 <&3)"
echo two >"$A/Docs/live.txt"
check "sync A" client_sync a
is_v2() { [ "$(xattr "$B/Docs/live.txt" user.coffre.version)" = 2 ]; }
check "a new version shows in B within 2 s" seen_within 2 is_v2
check_eq "B's open handle keeps reading version 1" one \
	"$(python3 -c 'import os; print(os.pread(3, 64, 0).decode().strip())')"
check "a new open in B reads version 2" holds "$B/Docs/live.txt" two
exec 3<&-

mv "$A/Docs/live.txt" "$A/moved.txt"
check "sync A" client_sync a
check "a move shows in B within 2 s" seen_within 2 holds "$B/moved.txt" two
check "the old name is gone from B" gone "$B/Docs/live.txt"

rm "$A/moved.txt"
check "sync A" client_sync a
check "an unlink shows in B within 2 s" seen_within 2 gone "$B/moved.txt"

rmdir "$A/Docs"
check "sync A" client_sync a
check "a removed folder goes from B within 2 s" seen_within 2 gone "$B/Docs"

# Not a busy poll: with nothing changing, B's repeated ls over 4 s lists
# the root from the server at most once (the feed vouches for the listing).
tree_gets() { grep -c 'GET /v1/spaces/demo/tree' "$T/coffred.log"; }
sleep 1.5
before=$(tree_gets)
for _ in 1 2 3 4 5 6 7 8; do ls "$B" >/dev/null; sleep 0.5; done
after=$(tree_gets)
check "an idle B does not list the server every second ($((after - before)) listings)" \
	test $((after - before)) -le 1

# The feed answers a long poll: since = head waits, a commit ends it.
TOK=$(token_of a)
api "$T/h.json" GET "/v1/spaces/demo/changes" \
	-H "Authorization: Bearer $TOK" >/dev/null
HEAD=$(json_get "$T/h.json" 'j["head"]')
check "changes without since answers the head" test ${#HEAD} -eq 40
start=$SECONDS
code=$(api "$T/w.json" GET "/v1/spaces/demo/changes?since=$HEAD&timeout=2" \
	-H "Authorization: Bearer $TOK")
check_eq "an unchanged space: 200 after the timeout" 200 "$code"
check "the long poll waited" test $((SECONDS - start)) -ge 1
check_eq "... with no change" "[]" "$(json_get "$T/w.json" 'json.dumps(j["changed"])')"
( sleep 1; mkdir "$A/Late"; setfattr -n user.coffre.sync -v now "$A" ) &
late=$!
code=$(api "$T/c.json" GET "/v1/spaces/demo/changes?since=$HEAD&timeout=20" \
	-H "Authorization: Bearer $TOK")
wait $late
check_eq "a commit ends the long poll" 200 "$code"
check "... naming the new head" test "$(json_get "$T/c.json" 'j["head"]')" != "$HEAD"
check "... and the changed folder /" \
	test "$(json_get "$T/c.json" '"/" in j["changed"]')" = True
code=$(api "$T/e.json" GET "/v1/spaces/demo/changes?since=nothex&timeout=1" \
	-H "Authorization: Bearer $TOK")
check_eq "a malformed since is 400" 400 "$code"
code=$(api "$T/e.json" GET "/v1/spaces/demo/changes?since=$HEAD&timeout=99" \
	-H "Authorization: Bearer $TOK")
check_eq "a timeout over 25 s is 400" 400 "$code"
code=$(api "$T/e.json" GET "/v1/spaces/demo/changes?since=$HEAD")
check_eq "no token: 401" 401 "$code"

# Without the feed, the drive falls back to revalidating listings.
client_umount b
COFFRE_NO_FEED=1 client_mount b demo
ls "$B" >/dev/null
echo three >"$A/fallback.txt"
check "sync A" client_sync a
check "without the feed, B still sees the file" wait_for holds "$B/fallback.txt" three

# Stopping coffred ends the long polls at once.
start=$SECONDS
server_stop
check "coffred stops within 5 s though drives are long-polling" \
	test $((SECONDS - start)) -le 5
done_testing
