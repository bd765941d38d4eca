#!/bin/bash
# POSIX metadata as on a local file system, as python3 and coreutils use
# it: chmod 0 reads back 0, access() honours the mode bits, chmod moves
# ctime, utimensat keeps the atime it is given, open(O_TRUNC) moves mtime;
# user.* attributes (setfattr, cp -a, rsync -X) and modes are kept with the
# version, across a remount and on a second mount.
. "$TESTLIB/common.sh"
require_cmd python3

demo_mounts a

py() {
	python3 -c "import os, sys, time
d = sys.argv[1]
$1" "$A" 2>&1 | tr '\n' ' ' | sed 's/ $//'
}

echo hello >"$A/m.txt"
check "chmod 0" chmod 0 "$A/m.txt"
check_eq "chmod 0 reads back 0" 0 "$(stat -c %a "$A/m.txt")"
check "chmod 0640" chmod 0640 "$A/m.txt"
check_eq "chmod 0640 reads back 640" 640 "$(stat -c %a "$A/m.txt")"
check_eq "access(X_OK) is refused on a 0640 file" False \
	"$(py 'print(os.access(d + "/m.txt", os.X_OK))')"
chmod 0750 "$A/m.txt"
check_eq "access(X_OK) is granted on a 0750 file" True \
	"$(py 'print(os.access(d + "/m.txt", os.X_OK))')"
echo 'echo ran' >"$A/run.sh"
chmod 0644 "$A/run.sh"
check "a 0644 script does not run" sh -c '! "$1" 2>/dev/null' _ "$A/run.sh"
chmod 0755 "$A/run.sh"
check_eq "a 0755 script runs" ran "$("$A/run.sh" 2>&1)"
check "a folder chmod 0700 reads back 700" sh -c \
	'mkdir "$1" && chmod 0700 "$1" && test "$(stat -c %a "$1")" = 700' _ "$A/dir"

# ctime moves on chmod
out=$(py '
p = d + "/m.txt"
os.utime(p, (1000000000, 1000000000))
before = os.stat(p).st_ctime
time.sleep(1.1)
os.chmod(p, 0o600)
after = os.stat(p).st_ctime
print(after > before, after >= time.time() - 5)')
check_eq "chmod moves ctime" "True True" "$out"

# utimensat keeps both times it is given
out=$(py '
p = d + "/m.txt"
os.utime(p, ns=(1100000000 * 10**9, 1200000000 * 10**9))
st = os.stat(p)
print(int(st.st_atime), int(st.st_mtime))')
check_eq "utimensat keeps atime and mtime" "1100000000 1200000000" "$out"
check "touch -a -d keeps its atime" touch -a -d @1300000000 "$A/m.txt"
check_eq "... read back by stat" 1300000000 "$(stat -c %X "$A/m.txt")"
check_eq "... and the mtime is untouched" 1200000000 "$(stat -c %Y "$A/m.txt")"

# open(O_TRUNC) moves mtime, on a full file and on an empty one
out=$(py '
for name in ("m.txt", "empty"):
	p = d + "/" + name
	open(p, "a").close()
	os.utime(p, (1000000000, 1000000000))
	fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
	os.close(fd)
	print(os.stat(p).st_mtime > time.time() - 10)')
check_eq "open(O_TRUNC) moves mtime" "True True" "$out"

# a user's own extended attributes and the mode: kept with the version
#, readable after a remount and on a second mount
echo doc >"$A/x.txt"
check "setfattr -n user.test.note -v hello" setfattr -n user.test.note -v hello "$A/x.txt"
check_eq "getfattr reads it back at once" hello "$(xattr "$A/x.txt" user.test.note)"
check "a second attribute, an URL" setfattr -n user.xdg.origin.url -v https://example.org/a "$A/x.txt"
check "user.coffre.version cannot be set" sh -c '! setfattr -n user.coffre.version -v 9 "$1" 2>/dev/null' _ "$A/x.txt"
check "removing user.coffre.state changes nothing (rsync -X does)" sh -c \
	'setfattr -x user.coffre.state "$1" && test -n "$(getfattr --only-values -n user.coffre.state "$1")"' _ "$A/x.txt"
check "a value over 4 KiB is refused" sh -c \
	'! setfattr -n user.big -v "$(head -c 5000 /dev/zero | tr "\0" x)" "$1" 2>/dev/null' _ "$A/x.txt"
check "setfattr -x removes one" sh -c 'setfattr -n user.gone -v 1 "$1" && setfattr -x user.gone "$1" && ! getfattr -n user.gone "$1" 2>/dev/null' _ "$A/x.txt"
chmod 0751 "$A/x.txt"
echo src >"$T/src.txt"
setfattr -n user.xdg.origin.url -v https://example.org/b "$T/src.txt"
chmod 0705 "$T/src.txt"
check "cp -a of a file with an attribute and mode 705" cp -a "$T/src.txt" "$A/cp.txt"
mkdir -p "$T/rs"
echo rs >"$T/rs/r.txt"
setfattr -n user.test.note -v rsynced "$T/rs/r.txt"
if command -v rsync >/dev/null; then
	check "rsync -aX" rsync -aX "$T/rs/" "$A/rs/"
fi
check "coffre sync --wait" client_sync a
check_eq "the ledger's manifest of x.txt holds the attribute and the mode" \
	"mode 751 xattr user.test.note aGVsbG8=" \
	"$(git --git-dir "$(ledger demo)" show main:x.txt | grep -E '^(mode|xattr user.test)' | tr '\n' ' ' | sed 's/ $//')"
client_umount a
client_mount a demo
check_eq "after a remount: user.test.note" hello "$(xattr "$A/x.txt" user.test.note)"
check_eq "after a remount: user.xdg.origin.url" https://example.org/a "$(xattr "$A/x.txt" user.xdg.origin.url)"
check_eq "after a remount: chmod 0751 kept" 751 "$(stat -c %a "$A/x.txt")"
check_eq "after a remount: cp -a kept the attribute" https://example.org/b "$(xattr "$A/cp.txt" user.xdg.origin.url)"
check_eq "after a remount: cp -a kept the mode" 705 "$(stat -c %a "$A/cp.txt")"
if command -v rsync >/dev/null; then
	check_eq "after a remount: rsync -X kept the attribute" rsynced "$(xattr "$A/rs/r.txt" user.test.note)"
fi
check_eq "getfattr -d lists the user's attributes" 2 \
	"$(getfattr -d "$A/x.txt" 2>/dev/null | grep -c '^user\.\(test\|xdg\)')"
client_login b alice
client_mount b demo
B=$(mnt_of b)
check_eq "a second mount reads user.test.note" hello "$(xattr "$B/x.txt" user.test.note)"
check_eq "a second mount sees mode 751" 751 "$(stat -c %a "$B/x.txt")"
check "cp --preserve=all back out of the drive keeps it" sh -c \
	'cp --preserve=all "$1" "$2" && test "$(getfattr --only-values -n user.test.note "$2")" = hello' _ "$B/x.txt" "$T/out.txt"

done_testing
