#!/bin/bash
# The save patterns of real programs make exactly one new version under the
# right name, and their temporary names never reach the ledger: vim (backup
# by rename, then write), sed -i and Python's os.replace (temp + rename),
# rsync (hidden temp + rename; a second rsync -a sends nothing), gio copy and
# gio move (GNOME Files' copy path), cp --preserve=all, tar -x.
. "$TESTLIB/common.sh"
require_cmd vim sed rsync tar python3 gio

demo_mounts a
G=$(ledger demo)

ver() { xattr "$A/$1" user.coffre.version; }
# one_version NAME N CONTENT: after a sync, NAME is at version N holding CONTENT.
one_version()
{
	client_sync a >/dev/null || return 1
	[ "$(ver "$1")" = "$2" ] && [ "$(cat "$A/$1")" = "$3" ]
}

printf 'one\n' >"$A/vim.txt"
client_sync a
check "vim (backup by rename, then write) saves one version" sh -c \
	"vim -u NONE -N -E -s -c 'set nobackup writebackup backupcopy=no' -c '%s/one/two/' -c wq '$A/vim.txt' </dev/null"
check "... version 2 of vim.txt holds the edit" one_version vim.txt 2 two

printf 'one\n' >"$A/sed.txt"
client_sync a
check "sed -i" sed -i 's/one/two/' "$A/sed.txt"
check "... one new version" one_version sed.txt 2 two

printf 'one\n' >"$A/py.txt"
client_sync a
check "Python: write a temp file, os.replace onto the document" python3 -c '
import os, sys
d = sys.argv[1]
with open(os.path.join(d, ".py.txt.tmp"), "w") as f:
    f.write("two\n")
    f.flush(); os.fsync(f.fileno())
os.replace(os.path.join(d, ".py.txt.tmp"), os.path.join(d, "py.txt"))' "$A"
check "... one new version" one_version py.txt 2 two

mkdir -p "$T/src"
printf 'one\n' >"$T/src/rs.txt"
check "rsync -a" rsync -a "$T/src/" "$A/"
check "... version 1" one_version rs.txt 1 one
printf 'two\n' >"$T/src/rs.txt"
touch -d '2026-01-02 03:04:05' "$T/src/rs.txt"
check "rsync -a of an edit" rsync -a "$T/src/" "$A/"
check "... one new version" one_version rs.txt 2 two
check_eq "... the mtime rsync set is kept" \
	"$(stat -c %Y "$T/src/rs.txt")" "$(stat -c %Y "$A/rs.txt")"
rsync -a --stats "$T/src/" "$A/" >"$T/rsync2.log" 2>&1
check_eq "a second rsync -a transfers nothing" 0 \
	"$(sed -n 's/^Number of regular files transferred: //p' "$T/rsync2.log" | tr -d ,)"

printf 'gio one\n' >"$T/g1.txt"
printf 'gio two\n' >"$T/g2.txt"
check "gio copy a new file" gio copy "$T/g1.txt" "$A/gio.txt"
check "... version 1" one_version gio.txt 1 "gio one"
check "gio copy over it" gio copy "$T/g2.txt" "$A/gio.txt"
check "... one new version" one_version gio.txt 2 "gio two"
printf 'moved in\n' >"$T/gm.txt"
check "gio move a file into the drive" gio move "$T/gm.txt" "$A/gmove.txt"
check "... version 1" one_version gmove.txt 1 "moved in"
check "... and gone from where it was" test ! -e "$T/gm.txt"

printf 'preserved\n' >"$T/cp.txt"
chmod 640 "$T/cp.txt"
touch -d '2025-05-06 07:08:09' "$T/cp.txt"
check "cp --preserve=all" cp --preserve=all "$T/cp.txt" "$A/cp.txt"
check "... version 1" one_version cp.txt 1 preserved
check_eq "... the mtime is kept" "$(stat -c %Y "$T/cp.txt")" "$(stat -c %Y "$A/cp.txt")"

mkdir -p "$T/tarsrc/d/e"
printf 'a\n' >"$T/tarsrc/a.txt"
printf 'b\n' >"$T/tarsrc/d/b.txt"
printf 'c\n' >"$T/tarsrc/d/e/c.txt"
touch -d '2024-03-04 05:06:07' "$T/tarsrc/d/b.txt"
tar -C "$T/tarsrc" -cf "$T/x.tar" .
mkdir "$A/tar"
check "tar -x" tar -C "$A/tar" -xf "$T/x.tar"
check "... a.txt" one_version tar/a.txt 1 a
check "... d/b.txt" one_version tar/d/b.txt 1 b
check "... d/e/c.txt" one_version tar/d/e/c.txt 1 c
check_eq "... the mtime tar set is kept" \
	"$(stat -c %Y "$T/tarsrc/d/b.txt")" "$(stat -c %Y "$A/tar/d/b.txt")"

check "nothing pending" test "$(xattr "$A" user.coffre.pending)" = 0
git --git-dir "$G" log --format= --name-only main | sed 's|.*/||' | sort -u >"$T/names"
check_eq "only the documents' own names ever reached the ledger" \
	".coffre-access .coffre-folder a.txt b.txt c.txt cp.txt gio.txt gmove.txt py.txt rs.txt sed.txt vim.txt" \
	"$(tr '\n' ' ' <"$T/names" | sed 's/ $//')"
check "coffred fsck agrees" "$COFFRED" fsck "$D"
done_testing
