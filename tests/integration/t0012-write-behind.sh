#!/bin/bash
# Large writes are answered before they are sealed into staging
# (client/drive/wback.c).  What a program sees must not change: a read after a
# write sees it, from the same or another descriptor; writes from two
# descriptors and a truncate between them land in the order they were made;
# the version deposited at close holds every byte; a write that cannot be
# stored (a full cache) is reported by close() and deposits nothing.
. "$TESTLIB/common.sh"

demo_mounts a b

# A model of the file next to the drive's: 1 MiB and odd-sized writes,
# reads from a second descriptor at once, a truncate, an extension.
cat >"$T/mix.py" <<'PY'
import os, sys
path, model = sys.argv[1], sys.argv[2]
MiB = 1 << 20
rnd = os.urandom(12 * MiB)
m = bytearray()
def put(buf, off):
    global m
    if len(m) < off + len(buf):
        m += b'\0' * (off + len(buf) - len(m))
    m[off:off + len(buf)] = buf
w = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
w2 = os.open(path, os.O_WRONLY)
r = os.open(path, os.O_RDONLY)
bad = 0
for i in range(8):
    buf = rnd[i * MiB:(i + 1) * MiB]
    os.pwrite(w, buf, i * MiB); put(buf, i * MiB)
    if os.pread(r, MiB, i * MiB) != buf:
        bad += 1
# the second descriptor overwrites across a block boundary, big and small
os.pwrite(w2, rnd[9 * MiB:9 * MiB + 300000], 1000001); put(rnd[9 * MiB:9 * MiB + 300000], 1000001)
os.pwrite(w2, b'x' * 5000, 1100000); put(b'x' * 5000, 1100000)
os.pwrite(w, rnd[10 * MiB:11 * MiB], 3 * MiB + 7); put(rnd[10 * MiB:11 * MiB], 3 * MiB + 7)
if os.pread(r, 400000, 1000000) != bytes(m[1000000:1400000]):
    bad += 1
os.ftruncate(w, 5 * MiB + 123); del m[5 * MiB + 123:]
os.pwrite(w, rnd[11 * MiB:12 * MiB], 7 * MiB); put(rnd[11 * MiB:12 * MiB], 7 * MiB)
if os.fstat(r).st_size != len(m):
    bad += 1
for fd in (w2, w, r):
    os.close(fd)
open(model, 'wb').write(m)
sys.exit(bad)
PY
check "reads at once see the writes made before them" \
	python3 "$T/mix.py" "$A/mix.bin" "$T/mix.model"
check "the file reads as the model after close" cmp "$T/mix.model" "$A/mix.bin"
check "coffre sync --wait" client_sync a
check_eq "one close, one version" 1 "$(xattr "$A/mix.bin" user.coffre.version)"
check_eq "the deposited version holds every byte" \
	"$(sha256_of "$T/mix.model")" "$(xattr "$A/mix.bin" user.coffre.sha256)"
check "the other drive reads the same bytes" wait_for cmp "$T/mix.model" "$B/mix.bin"

# dd with 1 MiB blocks and conv=fsync: the fsync waits for every block
head -c 24M /dev/urandom >"$T/dd.bin"
check "dd bs=1M conv=fsync" dd if="$T/dd.bin" of="$A/dd.bin" bs=1M conv=fsync status=none
check "dd's file reads back" cmp "$T/dd.bin" "$A/dd.bin"

# --- a write that cannot be stored -------------------------------------------
if small_tmpfs 6m; then
	check "coffre sync --wait" client_sync a
	client_umount a
	client_mount a demo "$T/small/cache"
	check "the drive on a 6 MiB cache shows the earlier file" \
		wait_for cmp "$T/mix.model" "$A/mix.bin"
	# 1 MiB writes: queued first, refused when the cache fills; the
	# program learns it at a later write or at close, never not at all
	python3 - "$A/mix.bin" >"$T/full.out" 2>&1 <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
try:
    for i in range(16):
        os.write(fd, os.urandom(1 << 20))
except OSError as e:
    print("write:", e.strerror)
try:
    os.close(fd)
    print("close: ok")
except OSError as e:
    print("close:", e.strerror)
PY
	sed 's/^/the program saw: /' "$T/full.out" | diag
	check "the full cache is reported (write or close)" \
		grep -q "No space left on device" "$T/full.out"
	check "... and close did not pretend success" \
		sh -c '! grep -q "close: ok" "$1" || grep -q "write: No space" "$1"' _ "$T/full.out"
	check "the failed content is dropped: the drive shows version 1 again" \
		wait_for cmp "$T/mix.model" "$A/mix.bin"
	client_sync a >/dev/null 2>&1
	check "no torn version reached the other drive" \
		wait_for cmp "$T/mix.model" "$B/mix.bin"
	check_eq "... the document is still at version 1" 1 \
		"$(xattr "$B/mix.bin" user.coffre.version)"
	client_umount a
	umount "$T/small"
else
	ok "# SKIP tmpfs cannot be mounted here"
fi
check "coffred fsck agrees" "$COFFRED" fsck "$D"
done_testing
