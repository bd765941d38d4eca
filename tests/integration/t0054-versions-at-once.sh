#!/bin/bash
# A close is a version at once, with no sync between the
# steps: right after close(), before the server answers, .versions/NAME/
# holds v1..vN numbered as the server will number them, each readable, and
# the file carries its version, sha256, depositor and deposit time with
# state=pending; once the server has committed them the numbers and
# SHA-256 are the server's, state synced.  The same with coffred stopped.
# When another device takes the number first, the pending version is
# renumbered once committed and the journal says it was concurrent.  New
# folders show their class at once, and a class set before the folder is
# sent goes with its mkdir, offline too.
. "$TESTLIB/common.sh"

demo_mounts a

sha() { sha256sum | cut -d' ' -f1; }

# versions_at_once DIR NAME N CONTENT...: .versions/NAME lists v1..vN
# exactly, each holding its content.
versions_at_once()
{
	local dir=$1 name=$2 want n=0 c
	shift 2
	want=$(for ((i = 1; i <= $#; i++)); do echo "v$i.txt"; done)
	[ "$(ls "$dir/.versions/$name" 2>/dev/null)" = "$want" ] || return 1
	for c in "$@"; do
		n=$((n + 1))
		[ "$(cat "$dir/.versions/$name/v$n.txt" 2>/dev/null)" = "$c" ] ||
			return 1
	done
}

# --- as the issue wrote it: the default settle delay, a name without
# extension, ls right after the loop -----------------------------------------
for x in a b c d; do echo $x >"$A/f"; done
check_eq "ls .versions/f/ shows v1..v4 right after the loop" "v1 v2 v3 v4" \
	"$(ls "$A/.versions/f/" | tr '\n' ' ' | sed 's/ $//')"
check_eq "... each with its content" "a b c d" \
	"$(for v in 1 2 3 4; do cat "$A/.versions/f/v$v"; done | tr '\n' ' ' | sed 's/ $//')"
check_eq "... and f says version 4, sha256 of d, by alice" \
	"4 $(echo d | sha) alice" \
	"$(xattr "$A/f" user.coffre.version) $(xattr "$A/f" user.coffre.sha256) $(xattr "$A/f" user.coffre.deposited_by)"
check "coffre sync --wait" client_sync a
check_eq "the server has v1..v4 of f, v4 = d" "4 d" \
	"$(cf a versions "$A/f" | wc -l) $(cat "$A/.versions/f/v4")"

# --- online, before the settle delay ends ----------------------------------
# a long settle delay: nothing leaves the drive while we look
client_umount a
COFFRE_SETTLE_MS=60000 client_mount a demo

for x in a b c d; do echo $x >"$A/f.txt"; done
check "ls .versions/f.txt/ shows v1..v4 at once, each with its content" \
	versions_at_once "$A" f.txt a b c d
check_eq "the file says pending" pending "$(xattr "$A/f.txt" user.coffre.state)"
check_eq "user.coffre.version is 4 at once" 4 \
	"$(xattr "$A/f.txt" user.coffre.version)"
check_eq "user.coffre.sha256 is the content's at once" "$(echo d | sha)" \
	"$(xattr "$A/f.txt" user.coffre.sha256)"
check_eq "user.coffre.deposited_by is the depositor at once" alice \
	"$(xattr "$A/f.txt" user.coffre.deposited_by)"
at=$(xattr "$A/f.txt" user.coffre.deposited_at)
check "user.coffre.deposited_at is a time of the last minute" python3 -c "
import sys, datetime as d
t = d.datetime.strptime(sys.argv[1], '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=d.timezone.utc)
sys.exit(abs((d.datetime.now(d.timezone.utc) - t).total_seconds()) > 60)" "$at"
check_eq "v2 says version 2, its sha256, pending" \
	"2 $(echo b | sha) pending" \
	"$(xattr "$A/.versions/f.txt/v2.txt" user.coffre.version) $(xattr "$A/.versions/f.txt/v2.txt" user.coffre.sha256) $(xattr "$A/.versions/f.txt/v2.txt" user.coffre.state)"
check "a pending version is read-only" sh -c '! echo x >"$1" 2>/dev/null' _ \
	"$A/.versions/f.txt/v1.txt"

check "coffre sync --wait" client_sync a
check_eq "the server numbered them v1..v4" "1 2 3 4" \
	"$(cf a versions "$A/f.txt" | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"
check_eq "the server's SHA-256 of v4 is the one shown at once" \
	"$(echo d | sha)" \
	"$(cf a versions "$A/f.txt" | awk '$1 == 4' | grep -o '[0-9a-f]\{64\}')"
check_eq "the file says synced, version 4" "synced 4" \
	"$(xattr "$A/f.txt" user.coffre.state) $(xattr "$A/f.txt" user.coffre.version)"
check "after the commit .versions still shows v1..v4" \
	versions_at_once "$A" f.txt a b c d

# an existing document: the next closes are v5, v6 at once
echo e >"$A/f.txt"
echo f >"$A/f.txt"
check "two more closes: v1..v6 at once" \
	versions_at_once "$A" f.txt a b c d e f
check_eq "user.coffre.version is 6 at once" 6 \
	"$(xattr "$A/f.txt" user.coffre.version)"
check "coffre sync --wait" client_sync a
check_eq "the server has six versions" 6 "$(cf a versions "$A/f.txt" | wc -l)"

# --- offline: coffred stopped ----------------------------------------------
server_stop
for x in a b c d; do echo $x >"$A/g.txt"; done
check "offline: ls .versions/g.txt/ shows v1..v4 at once" \
	versions_at_once "$A" g.txt a b c d
check_eq "offline: version, sha256, depositor, state at once" \
	"4 $(echo d | sha) alice pending" \
	"$(xattr "$A/g.txt" user.coffre.version) $(xattr "$A/g.txt" user.coffre.sha256) $(xattr "$A/g.txt" user.coffre.deposited_by) $(xattr "$A/g.txt" user.coffre.state)"
echo g >"$A/f.txt"
check "offline: a known document's next close is v7 at once" \
	versions_at_once "$A" f.txt a b c d e f g
server_start
check "coffred back: coffre sync --wait" client_sync a
check_eq "the server numbered g.txt v1..v4" "1 2 3 4" \
	"$(cf a versions "$A/g.txt" | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"
check_eq "the server has seven versions of f.txt, v7 = g" "7 g" \
	"$(cf a versions "$A/f.txt" | wc -l) $(cat "$A/.versions/f.txt/v7.txt")"

# --- another device takes the number first: renumbered once committed ----
client_login b alice
COFFRE_SETTLE_MS=60000 client_mount b demo
B=$(mnt_of b)
echo one >"$A/r.txt"
check "r.txt v1 from A" client_sync a
b_has_one() { [ "$(cat "$B/r.txt" 2>/dev/null)" = one ]; }
check "B sees r.txt v1" wait_for b_has_one
echo from-b >"$B/r.txt"
check_eq "B shows its close as v2 at once" "2 pending" \
	"$(xattr "$B/r.txt" user.coffre.version) $(xattr "$B/r.txt" user.coffre.state)"
echo from-a >"$A/r.txt"
check "A deposits v2 first" client_sync a
check "B's deposit goes" client_sync b
check_eq "the server kept A's as v2 and B's as v3" "from-a from-b" \
	"$(cat "$B/.versions/r.txt/v2.txt") $(cat "$B/.versions/r.txt/v3.txt")"
check_eq "B's file now says version 3, synced" "3 synced" \
	"$(xattr "$B/r.txt" user.coffre.version) $(xattr "$B/r.txt" user.coffre.state)"
concurrent_logged() { cf b log "$B/r.txt" | grep -q concurrent; }
check "the journal says B's deposit was concurrent" concurrent_logged
client_umount b

# --- folders: their class at once, a class set before they are sent -------
folder_class() { git --git-dir "$(ledger demo)" show "main:$1/.coffre-folder" 2>/dev/null | sed -n 's/^class //p'; }

mkdir "$A/P"
check_eq "a new folder shows its class at once" restricted \
	"$(xattr "$A/P" user.coffre.class)"
check "mkdir D && setfattr -n user.coffre.class -v confidential D" sh -c \
	'mkdir "$1" && setfattr -n user.coffre.class -v confidential "$1"' _ "$A/D"
check_eq "D says confidential at once" confidential "$(xattr "$A/D" user.coffre.class)"
mkdir "$A/D/sub"
check_eq "a folder made in it shows confidential (inherited) at once" \
	confidential "$(xattr "$A/D/sub" user.coffre.class)"
check "coffre sync --wait" client_sync a
check_eq "the ledger files D as confidential" confidential "$(folder_class D)"
check_eq "and P as restricted" restricted "$(folder_class P)"
check "bad class refused" sh -c '! setfattr -n user.coffre.class -v secret "$1" 2>/dev/null' _ "$A/P"

server_stop
check "offline: mkdir E && setfattr -n user.coffre.class -v public E" sh -c \
	'mkdir "$1" && setfattr -n user.coffre.class -v public "$1"' _ "$A/E"
check_eq "offline: E says public at once" public "$(xattr "$A/E" user.coffre.class)"
server_start
check "coffred back: coffre sync --wait" client_sync a
check_eq "the ledger files E as public, sent with its mkdir" public "$(folder_class E)"

done_testing
