#!/bin/bash
# An open file descriptor keeps reading the content it opened, as on a
# local file system: across a rename over its name (an editor saving by
# rename while a viewer holds the file), an unlink, a new version deposited
# from another device, and the commit of the pending content it opened.
# Each case is python3 doing what the issue's reproduction does, with no
# `sync --wait` between the steps where the case has none.
. "$TESTLIB/common.sh"
require_cmd python3

demo_mounts a b

# pyrun DIR SCRIPT ARGS...: run SCRIPT with os, sys, subprocess, time and
# d = DIR, the ARGS in sys.argv[2:]; prints its output on one line
pyrun() {
	local d=$1 s=$2
	shift 2
	python3 -c "import os, sys, subprocess, time
d = sys.argv[1]
def sync(mnt, cfg):
	os.setxattr(mnt, 'user.coffre.sync', b'now')
	subprocess.run([os.environ['COFFRE'], '--config', cfg, 'sync', '--wait',
		mnt], check=True, stdout=subprocess.DEVNULL)
$s" "$d" "$@" 2>&1 | tr '\n' ' ' | sed 's/ $//'
}

# --- case 6 as written: write a and b, fd = open(b), rename(a, b) ---------
out=$(pyrun "$A" '
open(d + "/a", "w").write("A" * 5000)
open(d + "/b", "w").write("B" * 3000)
fd = os.open(d + "/b", os.O_RDONLY)
os.rename(d + "/a", d + "/b")
got = os.pread(fd, 10000, 0)
print(len(got), got == b"B" * 3000)
os.close(fd)
print(open(d + "/b").read() == "A" * 5000)')
check_eq "pending files: the fd opened on b reads b after rename(a, b)" \
	"3000 True True" "$out"

# the same on documents already on the server
echo first >"$A/c1"
echo second >"$A/c2"
check "sync" client_sync a
out=$(pyrun "$A" '
fd = os.open(d + "/c2", os.O_RDONLY)
os.rename(d + "/c1", d + "/c2")
print(os.pread(fd, 100, 0))
os.close(fd)')
check_eq "deposited files: the fd reads the content it opened" \
	"b'second\\n'" "$out"
check "sync after the rename" client_sync a
check_eq "c2 is now c1's content" first "$(cat "$A/c2")"

# the rename lands while the fd is open, and the commit follows: still read
out=$(pyrun "$A" '
open(d + "/e1", "w").write("new" * 1000)
open(d + "/e2", "w").write("old" * 2000)
fd = os.open(d + "/e2", os.O_RDONLY)
os.rename(d + "/e1", d + "/e2")
sync(d, sys.argv[2])
print(os.pread(fd, 100000, 0) == b"old" * 2000)' "$(cfg_of a)")
check_eq "the fd reads its content after the rename is committed" True "$out"

# --- unlink ------------------------------------------------------------------
out=$(pyrun "$A" '
open(d + "/u1", "w").write("pending " * 100)
fd = os.open(d + "/u1", os.O_RDONLY)
os.unlink(d + "/u1")
print(os.pread(fd, 4, 0), os.path.exists(d + "/u1"))
os.close(fd)')
check_eq "a pending file unlinked while open still reads" "b'pend' False" "$out"
echo kept >"$A/u2"
check "sync" client_sync a
out=$(pyrun "$A" '
fd = os.open(d + "/u2", os.O_RDONLY)
os.unlink(d + "/u2")
print(os.pread(fd, 100, 0))
os.close(fd)')
check_eq "a deposited file unlinked while open still reads" "b'kept\\n'" "$out"

# --- a new version from another device -------------------------------------
head -c 300000 /dev/urandom >"$T/v1"
head -c 200000 /dev/urandom >"$T/v2"
cp "$T/v1" "$A/r.bin"
check "sync" client_sync a
check "B sees r.bin" wait_for cmp -s "$T/v1" "$B/r.bin"
out=$(pyrun "$B" '
import hashlib
fd = os.open(d + "/r.bin", os.O_RDONLY)
print(hashlib.sha256(os.pread(fd, 1 << 20, 0)).hexdigest())
subprocess.run(["cp", sys.argv[2], sys.argv[3] + "/r.bin"], check=True)
sync(sys.argv[3], sys.argv[4])
deadline = time.time() + 10
while time.time() < deadline:
	with open(d + "/r.bin", "rb") as f:
		if hashlib.sha256(f.read()).hexdigest() == sys.argv[5]:
			break
	time.sleep(0.2)
print(hashlib.sha256(os.pread(fd, 1 << 20, 0)).hexdigest())
os.close(fd)' "$T/v2" "$A" "$(cfg_of a)" "$(sha256sum <"$T/v2" | cut -d" " -f1)")
v1=$(sha256sum <"$T/v1" | cut -d" " -f1)
check_eq "B's fd keeps reading v1 after A deposits v2" "$v1 $v1" "$out"
check "B reads v2 by a new open" wait_for cmp -s "$T/v2" "$B/r.bin"

# --- the pending content it opened is committed meanwhile ------------------
# the commit retires p's staging file, and the next new file may reuse it
out=$(pyrun "$A" '
open(d + "/p", "w").write("P" * 7000)
fd = os.open(d + "/p", os.O_RDONLY)
sync(d, sys.argv[2])
for i in range(5):
	open(d + "/p%d" % i, "w").write("R" * 7000)
print(os.pread(fd, 100000, 0) == b"P" * 7000)' "$(cfg_of a)")
check_eq "an fd opened on pending content reads it after its commit" True "$out"

done_testing
