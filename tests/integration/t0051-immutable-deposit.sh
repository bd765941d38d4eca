#!/bin/bash
# A deposit is immutable from its close: a later
# open for writing copies on write and never touches the staging queued for
# upload, so a kill of the mount in the middle of that write keeps the
# closed content and never makes a version of the torn one; and a write
# to a document whose upload is in flight answers at once.
. "$TESTLIB/common.sh"

demo_mounts a b

# --- case 2: cp old m; overwrite starts within the settle window; SIGKILL --
head -c 11M /dev/urandom >"$T/old"
cp "$T/old" "$A/m.bin"
python3 -c '
import os, signal, sys
with open(sys.argv[1], "r+b") as f:
    for i in range(160):  # 10 MiB in 64 KiB pieces, then the kill
        f.write(os.urandom(65536)); f.flush()
    os.kill(int(sys.argv[2]), signal.SIGKILL)
    f.write(os.urandom(65536))' "$A/m.bin" "${CLIENT_PID[a]}" 2>/dev/null
wait "${CLIENT_PID[a]}" 2>/dev/null
CLIENT_PID[a]=
fusermount3 -u -z "$A" 2>/dev/null
client_mount a demo
check "after the kill, the drive shows the closed content" cmp "$T/old" "$A/m.bin"
check "sync after the kill" client_sync a
check_eq "coffre versions m.bin: one version" 1 "$(cf a versions "$A/m.bin" | wc -l)"
check_eq "... holding the closed content, not the torn one" \
	"$(sha256_of "$T/old")" "$(cf a versions "$A/m.bin" | cut -f5)"
check "the other drive reads the closed content" wait_for cmp "$T/old" "$B/m.bin"

# the same without a kill: both closes are versions, each as closed
head -c 3M /dev/urandom >"$T/p1"
cp "$T/p1" "$A/p.bin"
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(4096); f.write(b"X" * 8192)' "$A/p.bin"
cp "$T/p1" "$T/p2"
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(4096); f.write(b"X" * 8192)' "$T/p2"
check "the overwritten file reads as written" cmp "$T/p2" "$A/p.bin"
check "sync after a copy and an overwrite in place" client_sync a
check "v1 is the copy, byte for byte" wait_for cmp "$T/p1" "$B/.versions/p.bin/v1.bin"
check "v2 is the overwrite, byte for byte" cmp "$T/p2" "$B/.versions/p.bin/v2.bin"
check_eq "two versions" 2 "$(cf b versions "$B/p.bin" | wc -l)"

# --- case 5: a write while the upload is in flight answers at once ---------
# A large file is copied and, while the drive sends it, coffred is stopped
# (SIGSTOP): the upload hangs in flight.  A 4 KiB overwrite of the file must
# answer without waiting for that upload.
head -c 200M /dev/zero | tr '\0' 'a' >"$T/big"
cp "$T/big" "$A/big.bin"
setfattr -n user.coffre.sync -v now "$A"
sleep 1
kill -STOP "$SERVER_PID"
ms=$(timeout 120 python3 -c '
import os, sys, time
t = time.monotonic()
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, b"Z" * 4096, 1 << 20)
os.close(fd)
print(int((time.monotonic() - t) * 1000))' "$A/big.bin")
kill -CONT "$SERVER_PID"
echo "a 4 KiB overwrite of a 200 MiB file whose upload hangs took ${ms:-more than 120000} ms" | diag
check "the overwrite is done while the upload hangs in flight" test -n "$ms"
# Its time is a figure, not a check (a loaded machine makes any bound a
# coin toss).  The write goes to a staging file layered over the queued
# one (nothing of it is copied); the check below is that nothing of the
# 200 MiB was copied for it (the blocks of each file counted once, however
# many names it has: a lower is a second name of the queued file).
check "the write copied nothing of the queued content" test \
	"$(find "$(cache_of a)" -path '*/staging/*' -type f -printf '%i %b\n' |
		sort -u -k1,1 | awk '{s += $2} END {print s * 512}')" -lt $((300 * 1024 * 1024))
check "sync after the overwrite" client_sync a
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(1 << 20); f.write(b"Z" * 4096)' "$T/big"
check "the other drive reads the overwrite" wait_for cmp "$T/big" "$B/big.bin"
check_eq "two versions: the copy and the overwrite" 2 "$(cf b versions "$B/big.bin" | wc -l)"

# --- layered deposits across a kill of the mount --------------------------
# With the server stopped, a copy and then two overwrites in place, each
# closed: the second close's content reads through the first's queued
# staging, the third's through the same.  The mount is killed with all
# three queued; after the remount each is a version, byte for byte, and
# once sent no staging file (nor a second name of one) is left behind.
head -c 5M /dev/urandom >"$T/q1"
kill -STOP "$SERVER_PID"
cp "$T/q1" "$A/q.bin"
cp "$T/q1" "$T/q2"
for f in "$A/q.bin" "$T/q2"; do
	python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(1 << 20); f.write(b"Y" * 4096)' "$f"
done
cp "$T/q2" "$T/q3"
for f in "$A/q.bin" "$T/q3"; do
	python3 -c '
import sys
with open(sys.argv[1], "ab") as f:
    f.write(b"tail" * 3000)' "$f"
done
check "the drive reads the last close" cmp "$T/q3" "$A/q.bin"
check "the second close is readable at once in .versions" \
	cmp "$T/q2" "$A/.versions/q.bin/v2.bin"
kill -KILL "${CLIENT_PID[a]}"
wait "${CLIENT_PID[a]}" 2>/dev/null
CLIENT_PID[a]=
fusermount3 -u -z "$A" 2>/dev/null
kill -CONT "$SERVER_PID"
client_mount a demo
check "after the kill, the drive reads the last close" cmp "$T/q3" "$A/q.bin"
check "sync after the kill" client_sync a
check_eq "three versions" 3 "$(cf a versions "$A/q.bin" | wc -l)"
for v in 1 2 3; do
	check "v$v is the close it was, byte for byte" \
		wait_for cmp "$T/q$v" "$B/.versions/q.bin/v$v.bin"
done
check "no staging file keeps content once all is sent" test -z \
	"$(find "$(cache_of a)" -path '*/staging/*' -type f \( -size +0 -o -name '*.lower' \))"
done_testing
