#!/bin/bash
# The version counts a user meets: a file created and overwritten
# three times at full speed has v1..v4 under .versions; cp -a, rsync, tar -x,
# sed -i, vim and gio save each give the expected number of versions.
. "$TESTLIB/common.sh"
require_cmd vim sed rsync tar gio

demo_mounts a b

# count NAME: versions of NAME as the other drive lists them
count() { cf b versions "$B/$1" 2>/dev/null | wc -l; }
# has_versions NAME CONTENT...: .versions/NAME/v1..vN on B hold CONTENT...
has_versions()
{
	local name=$1 n=0 c ext
	shift
	ext=${name##*.}
	for c in "$@"; do
		n=$((n + 1))
		[ "$(cat "$B/.versions/$name/v$n.$ext" 2>/dev/null)" = "$c" ] ||
			return 1
	done
	[ ! -e "$B/.versions/$name/v$((n + 1)).$ext" ]
}

echo v1 >"$A/fast.txt"
echo v2 >"$A/fast.txt"
echo v3 >"$A/fast.txt"
echo v4 >"$A/fast.txt"
check "sync after a create and three overwrites" client_sync a
check ".versions shows v1..v4, each as written" \
	wait_for has_versions fast.txt v1 v2 v3 v4
check_eq "coffre versions lists four" 4 "$(count fast.txt)"

mkdir -p "$T/src/d"
for f in a b c; do echo "$f" >"$T/src/d/$f.txt"; done
check "cp -a of a folder" cp -a "$T/src/d" "$A/cpa"
check "sync" client_sync a
check "cp -a: one version of each file" wait_for sh -c '
	for f in a b c; do
		[ "$("$COFFRE" --config "$1" versions "$2/cpa/$f.txt" | wc -l)" = 1 ] || exit 1
	done' _ "$(cfg_of b)" "$B"

check "rsync -a of a folder" rsync -a "$T/src/d/" "$A/rs/"
echo changed >"$T/src/d/a.txt"
check "rsync -a again after a change" rsync -a "$T/src/d/" "$A/rs/"
check "sync" client_sync a
check_eq "rsync: two versions of the changed file" 2 "$(count rs/a.txt)"
check_eq "rsync: one version of an unchanged one" 1 "$(count rs/b.txt)"

tar -C "$T/src" -cf "$T/x.tar" d
mkdir "$A/tar"
check "tar -x" tar -C "$A/tar" -xf "$T/x.tar"
check "sync" client_sync a
# B counts through its own view: it learns of A's commit from its feed
check "B sees the extracted files" wait_for test -f "$B/tar/d/b.txt"
check_eq "tar -x: one version" 1 "$(count tar/d/b.txt)"

echo one >"$A/sed.txt"
check "sed -i right after the create" sed -i s/one/two/ "$A/sed.txt"
check_eq "at once, before any sync: .versions/sed.txt holds v1 and v2" \
	"v1.txt v2.txt" "$(ls "$A/.versions/sed.txt" | tr '\n' ' ' | sed 's/ $//')"
check_eq "v1 is the create's content" one "$(cat "$A/.versions/sed.txt/v1.txt")"
check_eq "v2 is sed's" two "$(cat "$A/.versions/sed.txt/v2.txt")"
check_eq "the file says version 2" 2 "$(xattr "$A/sed.txt" user.coffre.version)"
check "sync" client_sync a
check "sed -i: two versions, one and two" wait_for has_versions sed.txt one two

echo one >"$A/vim.txt"
check "vim saves right after the create" sh -c \
	"vim -u NONE -N -E -s -c '%s/one/two/' -c wq '$A/vim.txt' </dev/null"
check "sync" client_sync a
check "vim: two versions, one and two" wait_for has_versions vim.txt one two

echo one >"$A/gio.txt"
check "gio save right after the create" sh -c 'echo two | gio save "$1"' _ "$A/gio.txt"
check "sync" client_sync a
check "gio save: two versions, one and two" wait_for has_versions gio.txt one two

TEMP_RE='^(sed[A-Za-z0-9]{6}|\.goutputstream-.*|\..*\.sw.|.*~|4913|\..+\.[A-Za-z0-9]{6})$'
git --git-dir "$(ledger demo)" ls-tree -r --name-only main |
	sed 's|.*/||' | sort -u >"$T/head-names"
check "no temporary name in the ledger's tree" sh -c \
	'! grep -E "$2" "$1"' _ "$T/head-names" "$TEMP_RE"
git --git-dir "$(ledger demo)" log --format= --name-only main |
	sed 's|.*/||' | sort -u >"$T/names"
echo "names in the ledger's history: $(tr '\n' ' ' <"$T/names")" | diag
# A save by rename onto a name whose own deposit still waits (sed -i and
# vim right after the create, rsync's second run) is one deposit more of
# that name: the temporary name reaches no commit, not even one in the
# middle of a batch.
check "no temporary name in the ledger's history" sh -c \
	'! grep -E "$2" "$1"' _ "$T/names" "$TEMP_RE"
done_testing
