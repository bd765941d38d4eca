#!/bin/bash
# The drive's edges: a reader sees a remote change without remounting,
# conflicting deposits become conflict copies, temporary files that die
# young never reach the server, rename flags, big folders (paged listings),
# many small files in few commits, and the operations the drive refuses.
. "$TESTLIB/common.sh"
require_cmd python3 mkfifo

demo_mounts a b
G=$(ledger demo)

# --- a remote change reaches an open-and-cached file --------------------
echo one >"$A/seen.txt"
check "sync" client_sync a
check "B reads v1" wait_for grep -qx one "$B/seen.txt"
echo two >"$A/seen.txt"
check "sync" client_sync a
check "B reads v2 without remounting" wait_for grep -qx two "$B/seen.txt"
check_eq "B: version 2" 2 "$(xattr "$B/seen.txt" user.coffre.version)"

# --- a deposit the server refuses is kept under a conflict name ---------
echo data >"$A/X"
check "B makes a folder X first" mkdir "$B/X"
check "sync B" client_sync b
# sync --wait of A may report the conflict (a new error) or finish first
client_sync a >/dev/null 2>&1
conflict_copy() {
	local f re='^X \(conflict [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{6}\)$'

	for f in "$B"/X\ \(conflict*; do
		[[ $(basename "$f") =~ $re ]] && return 0
	done
	return 1
}
check "B sees the conflict copy of A's file" wait_for conflict_copy
check_eq "the conflict copy holds A's bytes" data "$(cat "$B"/X\ \(conflict*)"
check "A reports the error on the root" \
	test -n "$(xattr "$A" user.coffre.error)"
check "A shows the folder X" wait_for test -d "$A/X"

# --- temporary files that die young never reach the server -------------
echo scratch >"$A/.scratch.tmp"
rm "$A/.scratch.tmp"
echo draft >"$A/draft.tmp"
mv "$A/draft.tmp" "$A/final.txt"
check "sync" client_sync a
check "B sees final.txt" wait_for test -f "$B/final.txt"
check "the removed temp file never reached the ledger" \
	sh -c "! git --git-dir '$G' log --format=%B | grep -q scratch"
check "the renamed temp name never reached the ledger" \
	sh -c "! git --git-dir '$G' log --format=%B | grep -q draft.tmp"
check_eq "final.txt was deposited once" 1 \
	"$(xattr "$A/final.txt" user.coffre.version)"

# --- rename flags ----------------------------------------------------------
echo p >"$A/p"
echo q >"$A/q"
renameat2() {
	python3 - "$@" <<'EOF'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
flags = {"noreplace": 1, "exchange": 2}[sys.argv[3]]
r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), flags)
sys.exit(0 if r == 0 else ctypes.get_errno())
EOF
}
renameat2 "$A/p" "$A/q" exchange
check_eq "RENAME_EXCHANGE is refused with EINVAL" 22 $?
renameat2 "$A/p" "$A/q" noreplace
check_eq "RENAME_NOREPLACE onto a file is refused with EEXIST" 17 $?
check "RENAME_NOREPLACE to a free name works" renameat2 "$A/p" "$A/p2" noreplace
check "both files are intact" sh -c "[ \"\$(cat '$A/p2')\" = p ] && [ \"\$(cat '$A/q')\" = q ]"

# --- refused operations ------------------------------------------------------
check "a hard link is refused" sh -c "! ln '$A/q' '$A/q.link' 2>/dev/null"
check "a symlink is refused" sh -c "! ln -s q '$A/q.sym' 2>/dev/null"
check "a fifo is refused" sh -c "! mkfifo '$A/fifo' 2>/dev/null"
check "an xattr outside user.* is refused" \
	sh -c "! setfattr -n trusted.other -v 1 '$A/q' 2>/dev/null"
check "a user.* xattr is kept (t0062)" \
	sh -c "setfattr -n user.other -v 1 '$A/q' && test \"\$(getfattr --only-values -n user.other '$A/q')\" = 1"
check "user.coffre.sync takes only now" \
	sh -c "! setfattr -n user.coffre.sync -v later '$A' 2>/dev/null"
check "chmod is accepted and remembered" \
	sh -c "chmod 600 '$A/q' && [ \$(stat -c %a '$A/q') = 600 ]"
check_eq "statfs: names up to 255 bytes" 255 "$(stat -f -c %l "$A")"
check_eq "a missing attribute is ENODATA" "No such attribute" \
	"$(getfattr -n user.coffre.nothing "$A/q" 2>&1 | sed -n 's/.*: //p')"

# --- a folder over one listing page ---------------------------------------
mkdir "$A/big"
for i in $(seq 1500); do : >"$A/big/f$i"; done
check "sync 1500 files" client_sync a
count_b() { [ "$(ls "$B/big" | wc -l)" = 1500 ]; }
check "B lists all 1500 names (paged listing)" wait_for count_b

# --- many small files: few commits, soon after the last close ------------
before=$(git --git-dir "$G" rev-list --count main)
for d in $(seq 50); do
	mkdir "$T/many/d$d" -p
	for f in $(seq 100); do echo "$d $f" >"$T/many/d$d/f$f"; done
done
check "cp -r of 5000 files in 50 folders" cp -r "$T/many" "$A/many"
start=$(date +%s)
check "sync" client_sync a
took=$(($(date +%s) - start))
after=$(git --git-dir "$G" rev-list --count main)
check "committed in at most 20 commits ($((after - before)))" \
	test $((after - before)) -le 20
# On a deployment each of the 5,000 chunks is an S3 PUT to an RGW that
# shares the machine's cores with PostgreSQL, two nodes and HAProxy: the
# bound says so rather than hide the figure (bench/ measures it).
limit=30
one_node || limit=90
check "committed within $limit s of the last close (${took}s)" test "$took" -le "$limit"
check "B holds the identical tree" wait_for diff -r "$T/many" "$B/many"
check "git fsck --strict passes" git --git-dir "$G" fsck --strict

# --- one drive per cache -------------------------------------------------
# A second mount on A's cache would take A's pending files for leftovers of
# a crash; it must be refused, and A must go on untouched.
echo pending >"$A/pending.txt"
mkdir -p "$T/second"
start=$(date +%s)
"$COFFRE" --config "$(cfg_of a)" mount demo "$T/second" --cache "$(cache_of a)" \
	--foreground >"$T/second.log" 2>&1
st=$?
check "a second mount on the same cache fails" test "$st" -ne 0
check "... saying the cache is in use" grep -q "in use by another coffre mount" "$T/second.log"
check "... after waiting at most about 10 s ($(($(date +%s) - start)) s)" \
	test $(($(date +%s) - start)) -le 15
check "... without mounting anything" sh -c '! mountpoint -q "$1"' _ "$T/second"
check_eq "A still holds its pending file" pending "$(cat "$A/pending.txt")"
check "A's pending file reaches B" wait_for test -f "$B/pending.txt"
# a remount right after `coffre umount` (which waits for the old process)
# finds the cache free
check "sync A" client_sync a
old=${CLIENT_PID[a]}
check "coffre umount A" "$COFFRE" --config "$(cfg_of a)" umount "$A"
client_mount a demo
check "A mounts again on its cache right after unmounting" mountpoint -q "$A"
wait_exit "$old" 30
check_eq "the old drive process exits 0" 0 "$?"
check_eq "and the new one reads the file" pending "$(cat "$A/pending.txt")"

done_testing
