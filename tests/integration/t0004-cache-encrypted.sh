#!/bin/bash
# Nothing readable at rest on the client: neither a file's name nor its
# content appears in clear in the cache, staging, queue or config files,
# while the deposit is pending or after it was synced and read elsewhere.
. "$TESTLIB/common.sh"

demo_logins a b
# A long settle delay keeps A's deposit pending while we look at its cache.
COFFRE_SETTLE_MS=600000 client_mount a demo
client_mount b demo
A=$(mnt_of a)
B=$(mnt_of b)

name=secret-name-$RANDOM$RANDOM$RANDOM.txt
marker=SecretContentMarker$RANDOM$RANDOM$RANDOM
for ((i = 0; i < 20000; i++)); do echo "$marker"; done >"$T/content"
size=$(stat -c %s "$T/content")

# at_rest_clean DIR...: neither marker in any file below DIR, except the
# session file (it holds the login and URL, not user data).
at_rest_clean()
{
	! grep -r -a -l -F -e "$name" -e "$marker" --exclude=session.json "$@"
}

check "write the secret file into A" cp "$T/content" "$A/$name"
check "A reads it back" cmp "$T/content" "$A/$name"
check_eq "A: the deposit is pending (long settle delay)" pending \
	"$(xattr "$A/$name" user.coffre.state)"
check "A: user.coffre.pending on the root is at least 1" \
	test "$(xattr "$A" user.coffre.pending)" -ge 1
check "B does not see it yet" test ! -e "$B/$name"
check "the cache dir of A holds the pending data (staging/queue)" \
	test "$(du -sb "$(cache_of a)" | cut -f1)" -ge "$size"
check "pending: no name or content marker in A's cache dir" \
	at_rest_clean "$(cache_of a)"
check "pending: no marker in A's config dir" at_rest_clean "$(cfg_of a)"

check "sync now, then wait" client_sync a
check_eq "A: the deposit is synced" synced "$(xattr "$A/$name" user.coffre.state)"
check "B sees the file" wait_for test -f "$B/$name"
check "B reads the same bytes (its cache now holds them)" cmp "$T/content" "$B/$name"
doc=$(xattr "$B/$name" user.coffre.doc_id)
check "B's read journal (reads.db) does not name the document read" \
	sh -c '! grep -a -q -F -e "$1" "$2"/reads.db*' _ "$doc" "$(cache_of b)"
check "no document id in clear anywhere in B's cache dir" \
	sh -c '! grep -r -a -l -F -e "$1" "$2"' _ "$doc" "$(cache_of b)"
check "B's cache dir holds at least the file's size" \
	test "$(du -sb "$(cache_of b)" | cut -f1)" -ge "$size"

client_umount a
client_umount b
check "after unmount: no marker in A's cache dir" at_rest_clean "$(cache_of a)"
check "after unmount: no marker in B's cache dir" at_rest_clean "$(cache_of b)"
check "after unmount: no marker in the config dirs" \
	at_rest_clean "$(cfg_of a)" "$(cfg_of b)"
check "the session files are 0600" \
	test "$(stat -c %a "$(cfg_of a)/session.json")" = 600
check "the config dir is 0700" test "$(stat -c %a "$(cfg_of a)")" = 700
# The server keeps chunks encrypted at rest too (names live in the ledger
# and index by design, content does not).
check "no content marker anywhere in the server's data dir" \
	sh -c '! grep -r -a -l -F -e "$1" "$2"' _ "$marker" "$D"

done_testing
