#!/bin/bash
# POSIX metadata as on a local file system, as python3 and coreutils use
# it: chmod 0 reads back 0, access() honours the mode bits, chmod moves
# ctime, utimensat keeps the atime it is given, open(O_TRUNC) moves mtime.
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

# a user's own extended attributes: not kept yet (issue 9, case 7)
echo doc >"$A/x.txt"
if setfattr -n user.test.note -v hi "$A/x.txt" 2>/dev/null &&
	[ "$(xattr "$A/x.txt" user.test.note)" = hi ]; then
	ok "user.test.note is kept"
else
	# an expected failure, in TAP's words: it does not fail the test
	TAP_N=$((TAP_N + 1))
	echo "not ok $TAP_N - user.test.note is kept # TODO user.* attributes are not stored yet"
fi

done_testing
