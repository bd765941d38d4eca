#!/bin/bash
# Trees: nested folders, a 200-file rsync, an rsync that finds nothing to
# do, rsync's temporary names kept out of the ledger, folder moves and
# recursive removals seen by the other mount.
. "$TESTLIB/common.sh"
require_cmd rsync diff

demo_mounts a b
R=$(ledger demo)

check "mkdir -p of nested folders" mkdir -p "$A/n1/n2/n3/n4"
check "sync" client_sync a
check "B sees the nested folders" wait_for test -d "$B/n1/n2/n3/n4"
check "the empty leaf folder exists in the ledger" \
	sh -c 'git --git-dir "$1" ls-tree --name-only main:n1/n2/n3/n4 | grep -qx .coffre-folder' _ "$R"

# A 200-file tree in 10 folders, sizes 0 to about 64 KiB, plus an empty folder.
src=$T/src
for ((d = 0; d < 10; d++)); do
	mkdir -p "$src/d$d/sub"
	for ((f = 0; f < 20; f++)); do
		n=$((d * 20 + f))
		if ((f % 2)); then p=$src/d$d/sub; else p=$src/d$d; fi
		head -c $(((n * 7919) % 65536)) /dev/urandom >"$p/file-$n.dat"
	done
done
mkdir "$src/empty"
touch -d '2020-01-02 03:04:05' "$src/d0/file-0.dat"
check_eq "the source tree has 200 files" 200 "$(find "$src" -type f | wc -l)"

check "rsync -a of the tree into A" rsync -a "$src/" "$A/tree/"
check "A holds the identical tree" diff -r "$src" "$A/tree"
SYNC_TIMEOUT=300 check "sync" client_sync a
WAIT_TIMEOUT=60 check "B holds the identical tree" wait_for diff -r "$src" "$B/tree"
check_eq "B sees 200 files" 200 "$(find "$B/tree" -type f | wc -l)"
check "B sees the empty folder" test -d "$B/tree/empty"
check_eq "mtimes set by rsync are kept" \
	"$(stat -c %Y "$src/d0/file-0.dat")" "$(stat -c %Y "$B/tree/d0/file-0.dat")"

rsync -a --stats "$src/" "$A/tree/" >"$T/rsync2.out" 2>&1
check_eq "a second rsync -a exits 0" 0 "$?"
check "a second rsync -a transfers no file" \
	grep -q 'Number of regular files transferred: 0' "$T/rsync2.out"
check "sync" client_sync a
git --git-dir "$R" log --name-only --format= main >"$T/names" 2>&1
check "the ledger log lists the tree" grep -q '^tree/d9/sub/file-199.dat$' "$T/names"
check "no rsync temporary name ever reached the ledger" \
	sh -c '! grep -E "(^|/)\.[^/]+\.[A-Za-z0-9]{6}$" "$1"' _ "$T/names"
check_eq "one deposit per file, none for temporary names" 200 \
	"$(git --git-dir "$R" log --format=%B main | grep -c '^Coffre-Op: deposit /tree/')"

# A folder move and a recursive removal.
check "mv of a folder" mv "$A/tree/d3" "$A/moved-d3"
check "rm -r of a folder" rm -r "$A/tree/d4"
check "sync" client_sync a
check "B sees the moved folder" wait_for test -d "$B/moved-d3/sub"
check "B no longer lists the old folder" wait_for test ! -e "$B/tree/d3"
check "the moved folder is identical" diff -r "$src/d3" "$B/moved-d3"
check "B no longer lists the removed folder" wait_for test ! -e "$B/tree/d4"
check "A no longer lists the removed folder" test ! -e "$A/tree/d4"
doc=$(xattr "$B/moved-d3/file-60.dat" user.coffre.doc_id)
check "a moved file keeps its history" \
	sh -c 'git --git-dir "$1" log --format=%B main | grep -q "^Coffre-Doc: $2 1"' _ "$R" "$doc"
check "the removed files stay in history" \
	sh -c 'git --git-dir "$1" log --format=%H main -- tree/d4/file-80.dat | grep -q .' _ "$R"
check "git fsck --strict passes" git --git-dir "$R" fsck --strict --no-progress

# A renamed folder keeps its content in view before the server has the
# move, whether its content was synced or not, and rm -r right after the
# rename removes it all for good.
mkdir -p "$A/t3/a/b"
for i in 1 2 3; do echo $i >"$A/t3/a/f$i"; echo $i >"$A/t3/a/b/g$i"; done
want=$(cd "$A/t3" && ls -R . | tr '\n' ' ')
check "mv of a fresh folder" mv "$A/t3" "$A/t4"
check_eq "the fresh folder lists its content at once" "$want" \
	"$(cd "$A/t4" && ls -R . | tr '\n' ' ')"
check_eq "its nested file reads back" 3 "$(cat "$A/t4/a/b/g3")"
check "sync" client_sync a
check "mv of a synced folder" mv "$A/t4" "$A/t5"
check_eq "the synced folder lists its content at once" "$want" \
	"$(cd "$A/t5" && ls -R . | tr '\n' ' ')"
check_eq "its nested file reads back" 2 "$(cat "$A/t5/a/f2")"
check "rm -r right after the rename" rm -r "$A/t5"
check "the folder is gone" test ! -e "$A/t5"
check "sync" client_sync a
check "the folder stays gone after sync" test ! -e "$A/t5"
check "B never sees it back" wait_for test ! -e "$B/t5" -a ! -e "$B/t4"

check "coffred fsck: chunks, ledger, index, signatures and timestamps agree" \
	"$COFFRED" fsck "$D"
done_testing
