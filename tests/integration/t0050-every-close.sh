#!/bin/bash
# Every close is a deposit: quick successive saves
# of one name each become a version, in order, exactly once, with no sync
# between them; a SIGKILL of the mount right after close() returns loses
# nothing, because the deposit is queued at FLUSH (what close(2) waits
# for), not at RELEASE; a file created or cut and closed with nothing
# written is deposited at that close too.
. "$TESTLIB/common.sh"

demo_mounts a b

# versions_are NAME CONTENT...: coffre versions of NAME on B lists exactly
# one version per CONTENT, in order, each holding that content.
versions_are()
{
	local name=$1 n=0 c
	shift
	[ "$(cf b versions "$B/$name" 2>/dev/null | wc -l)" = $# ] || return 1
	for c in "$@"; do
		n=$((n + 1))
		[ "$(cat "$B/.versions/$name/v$n.txt" 2>/dev/null)" = "$c" ] ||
			return 1
	done
}

# reap_mount: the mount of a, killed, reaped and its mountpoint released
reap_mount()
{
	wait "${CLIENT_PID[a]}" 2>/dev/null
	CLIENT_PID[a]=
	fusermount3 -u -z "$A" 2>/dev/null
}

kill_mount()
{
	kill -KILL "${CLIENT_PID[a]}"
	reap_mount
}

# --- case 1: quick successive saves do not collapse ------------------------
for x in a b c d; do echo $x >"$A/f.txt"; done
check "sync after four saves in a row" client_sync a
check "four saves in a row are four versions, a b c d in order" \
	wait_for versions_are f.txt a b c d

echo one >"$A/g.txt"
sleep 0.3
echo two >"$A/g.txt"
check "sync after two saves 0.3 s apart" client_sync a
check "two saves 0.3 s apart are two versions" wait_for versions_are g.txt one two

# appends reopen without O_TRUNC: each close deposits what it closed
printf 'l1\n' >"$A/h.txt"
printf 'l2\n' >>"$A/h.txt"
printf 'l3\n' >>"$A/h.txt"
check "sync after three appends" client_sync a
check "three appends in a row are three versions" \
	wait_for versions_are h.txt l1 "$(printf 'l1\nl2')" "$(printf 'l1\nl2\nl3')"

# one open, several writes, one close: one version
python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    for i in range(50):
        f.write("line %d\n" % i); f.flush()' "$A/one.txt"
check "sync after one open and fifty writes" client_sync a
check_eq "one open, many writes, one close: one version" 1 \
	"$(cf b versions "$B/one.txt" | wc -l)"

# a name that is not temporary, removed a moment after its close: its
# close was a deposit all the same
echo kept >"$A/brief.txt"
rm "$A/brief.txt"
check "sync after a save and a removal" client_sync a
check "a regular name's close is a deposit even when removed at once" sh -c \
	'"$COFFRE" --config "$1" log "$2" | grep "brief.txt" | grep -q deposit' \
	_ "$(cfg_of a)" "$A"

# --- case 8: SIGKILL right after close() returns ---------------------------
for i in 1 2 3 4 5; do
	head -c 100000 /dev/urandom >"$T/k$i"
	python3 -c '
import os, signal, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, open(sys.argv[2], "rb").read())
os.close(fd)
os.kill(int(sys.argv[3]), signal.SIGKILL)' "$A/k$i.bin" "$T/k$i" "${CLIENT_PID[a]}"
	reap_mount
	client_mount a demo
	check "kill $i right after close(): the file is there after remount" \
		cmp "$T/k$i" "$A/k$i.bin"
done
check "sync after the kills" client_sync a
check "every killed-after-close file reaches the other drive" wait_for sh -c '
	for i in 1 2 3 4 5; do cmp "$1/k$i" "$2/k$i.bin" || exit 1; done' _ "$T" "$B"
check "... each as exactly one version" sh -c '
	for i in 1 2 3 4 5; do
		[ "$(getfattr --only-values -n user.coffre.version "$1/k$i.bin")" = 1 ] || exit 1
	done' _ "$B"

# --- a file made and closed with nothing written, then SIGKILL -------------
# close() returned, so the empty file is deposited, even though a second
# descriptor of the same open file (as a forked child keeps it) holds off
# the RELEASE until after the kill.
echo old >"$A/cut.txt"
check "sync" client_sync a
python3 -c '
import os, signal, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
keep = os.dup(fd)           # the open file stays open past this close
os.close(fd)
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_TRUNC)
keep2 = os.dup(fd)
os.close(fd)
os.kill(int(sys.argv[3]), signal.SIGKILL)' "$A/empty.txt" "$A/cut.txt" "${CLIENT_PID[a]}"
reap_mount
client_mount a demo
check "a new file closed unwritten, then a kill: it is there after remount" test -e "$A/empty.txt"
check "empty" test ! -s "$A/empty.txt"
check_eq "a file cut by O_TRUNC and closed, then a kill: it is cut after remount" "" "$(cat "$A/cut.txt")"
check "sync after the kill" client_sync a
check "both reach the other drive" wait_for sh -c 'test -e "$1/empty.txt" && test ! -s "$1/cut.txt"' _ "$B"
check_eq "the new empty file is one version" 1 "$(cf b versions "$B/empty.txt" | wc -l)"
check "the cut file is a second version, empty" wait_for versions_are cut.txt old ""

# A shell's `>` closes a duplicate of the descriptor before the command
# writes: that first close, with nothing written yet, is no version of its
# own, whether the file is new or cut, for a builtin or a program.
echo one >"$A/sh1.txt"
printf 'two\n' >"$A/sh1.txt"
cat "$T/k1" >"$A/sh2.bin"
: >"$A/sh3.txt"
touch "$A/sh4.txt"
check "sync" client_sync a
check "echo then printf into a new name: two versions, no empty one" \
	wait_for versions_are sh1.txt one two
check_eq "cat into a new name: one version" 1 "$(cf b versions "$B/sh2.bin" | wc -l)"
check "with the content" cmp "$T/k1" "$B/sh2.bin"
check_eq "': >' a new name: one (empty) version" 1 "$(cf b versions "$B/sh3.txt" | wc -l)"
check_eq "touch a new name: one version" 1 "$(cf b versions "$B/sh4.txt" | wc -l)"
done_testing
