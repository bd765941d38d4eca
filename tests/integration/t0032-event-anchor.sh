#!/bin/bash
# The event journal is anchored in the ledger: while events arrive, coffred
# commits the head of each space's chain and of the server chain (logins)
# on refs/coffre/events, signed and timestamped like every ledger commit.
# `coffred fsck` then finds an event deleted (also the last one, which the
# hash chain alone cannot show), an event edited, and a server event cut.
. "$TESTLIB/common.sh"
require_cmd openssl sqlite3 base64

export COFFRE_ANCHOR_SECS=1
demo_mounts a
R=$(ledger demo)
G() { git --git-dir "$R" "$@"; }

printf 'one\n' >"$A/one.txt"
mkdir "$A/folder"
check "sync" client_sync a
printf 'two\n' >"$A/folder/two.txt"
check "sync" client_sync a

n=$(index_sql "SELECT max(seq) FROM events WHERE space = 'demo'")
check "the space's journal holds events" test "${n:-0}" -ge 2
anchored() {
	G show "$LEDGER_ANCHOR:events" 2>/dev/null | grep -qx "seq $1"
}
LEDGER_ANCHOR=refs/coffre/events
check "within a few seconds the chain head is anchored in the ledger" \
	wait_for anchored "$n"
hash=$(index_sql "SELECT hash FROM events WHERE space = 'demo' AND seq = $n")
check "the anchor names the space and the head's hash" \
	sh -c 'test -n "$2" && git --git-dir "$1" show refs/coffre/events:events | grep -qx "hash $2"' _ "$R" "$hash"
check "the anchor commit never touches main's tree" \
	sh -c '! git --git-dir "$1" ls-tree -r --name-only main | grep -qx events' _ "$R"

"$COFFRED" key export "$D" --allowed-signers >"$T/signers"
"$COFFRED" key export "$D" --tsa-ca >"$T/ca.pem"
check "git verify-commit accepts the anchor commit" \
	git --git-dir "$R" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/signers" \
	verify-commit refs/coffre/events
G cat-file commit refs/coffre/events >"$T/ac"
G notes --ref=timestamps show refs/coffre/events | base64 -d >"$T/ac.tsr"
check "openssl ts -verify accepts the anchor's timestamp" \
	openssl ts -verify -data "$T/ac" -in "$T/ac.tsr" -CAfile "$T/ca.pem"

# A later event moves the anchor forward, within the interval.
printf 'three\n' >"$A/three.txt"
check "sync" client_sync a
m=$(index_sql "SELECT max(seq) FROM events WHERE space = 'demo'")
check "a new event gets anchored too" wait_for anchored "$m"
check "anchors form a chain (one commit per change)" \
	test "$(G rev-list refs/coffre/events | wc -l)" -ge 2

client_umount a
server_stop
check "coffred fsck passes" "$COFFRED" fsck "$D"

# What follows tampers with copies of the data directory, which holds
# every store of one node only (a deployment's are PostgreSQL's and RGW's).
one_node || done_testing

last=$(sqlite3 "$D/index.db" "SELECT max(seq) FROM events WHERE space = 'demo'")

X=$(data_copy tail)
sqlite3 "$X/index.db" "DELETE FROM events WHERE space = 'demo' AND seq = $last"
check "fsck: the last event deleted is found through its anchor" \
	fsck_fails "$X" "event $last, anchored by commit .* is missing"

X=$(data_copy middle)
sqlite3 "$X/index.db" "DELETE FROM events WHERE space = 'demo' AND seq = 2"
check "fsck: an event deleted in the middle is found" fsck_fails "$X" "event chain breaks at event"

X=$(data_copy edit)
sqlite3 "$X/index.db" "UPDATE events SET login = 'mallory' WHERE space = 'demo' AND seq = 1"
check "fsck: an edited event is found" fsck_fails "$X" "event chain breaks at event 1"

X=$(data_copy srvchain)
slast=$(sqlite3 "$D/index.db" "SELECT max(seq) FROM events WHERE space = ''")
sqlite3 "$X/index.db" "DELETE FROM events WHERE space = '' AND seq = $slast"
check "fsck: the last server event (a login) deleted is found" \
	fsck_fails "$X" "server event $slast, anchored"

X=$(data_copy anchorx)
git --git-dir "$X/spaces/demo/ledger.git" notes --ref=timestamps remove refs/coffre/events 2>/dev/null
check "fsck: an anchor's removed timestamp is found" fsck_fails "$X" "no timestamp note"

done_testing
