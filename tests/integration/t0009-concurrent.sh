#!/bin/bash
# Two devices change the same file before either has synced: both versions
# are kept, the later commit becomes current, and both mounts agree.
. "$TESTLIB/common.sh"

demo_logins a b
# Long settle delays: both edits are made before either reaches the server.
COFFRE_SETTLE_MS=600000 client_mount a demo
COFFRE_SETTLE_MS=600000 client_mount b demo
A=$(mnt_of a)
B=$(mnt_of b)

printf 'original\n' >"$T/v1"
printf 'edited on A\n' >"$T/va"
printf 'edited on B, a little longer\n' >"$T/vb"

check "create f.txt in A" cp "$T/v1" "$A/f.txt"
check "sync A" client_sync a
version_is() { [ "$(xattr "$1/f.txt" user.coffre.version)" = "$2" ]; }
check "B sees version 1" wait_for version_is "$B" 1

check "edit on A" cp "$T/va" "$A/f.txt"
check "edit on B" cp "$T/vb" "$B/f.txt"
check_eq "A's edit is pending" pending "$(xattr "$A/f.txt" user.coffre.state)"
check_eq "B's edit is pending" pending "$(xattr "$B/f.txt" user.coffre.state)"
check "sync A" client_sync a
check "sync B" client_sync b

check "B reaches version 3" wait_for version_is "$B" 3
check "A reaches version 3" wait_for version_is "$A" 3
check "B: the later commit (B's) is current" cmp "$T/vb" "$B/f.txt"
same_on_a() { cmp -s "$T/vb" "$A/f.txt"; }
check "A: the later commit (B's) is current" wait_for same_on_a
check "A's edit is kept as version 2" cmp "$T/va" "$B/.versions/f.txt/v2.txt"
check "the original is kept as version 1" cmp "$T/v1" "$A/.versions/f.txt/v1.txt"
check_eq "coffre versions lists 3 versions" 3 "$(cf a versions "$A/f.txt" | wc -l)"
check "neither mount has anything pending" \
	test "$(xattr "$A" user.coffre.pending)$(xattr "$B" user.coffre.pending)" = 00

# The journal says which deposit was made on an older base.
api "$T/ev.json" GET "/v1/spaces/demo/events?path=/" \
	-H "Authorization: Bearer $(token_of a)" >/dev/null
check_eq "the event journal marks version 3 as concurrent with version 2" \
	"concurrent with v2" \
	"$(json_get "$T/ev.json" '[e["detail"] for e in j["events"] if e["kind"] == "deposit" and e["version"] == 3][0]')"
check_eq "... and only it" 1 \
	"$(json_get "$T/ev.json" 'sum(1 for e in j["events"] if (e["detail"] or "").startswith("concurrent"))')"
check "coffre log shows the concurrency" \
	sh -c "'$COFFRE' --config '$(cfg_of a)' log '$A/f.txt' 2>&1 | grep -q 'concurrent with v2'"

check "coffred fsck: chunks, ledger, index, signatures and timestamps agree" \
	"$COFFRED" fsck "$D"
done_testing
