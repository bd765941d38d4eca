#!/bin/bash
# Nothing written is lost: a drive killed with SIGKILL right after close()
# delivers the file once restarted, and a drive whose server is down keeps
# serving cached files, accepts writes, and sends them when the server is
# back.
. "$TESTLIB/common.sh"

demo_logins a b
# A long settle delay: the deposit is still only queued when A is killed.
COFFRE_SETTLE_MS=600000 client_mount a demo
client_mount b demo
A=$(mnt_of a)
B=$(mnt_of b)

# --- SIGKILL after close -----------------------------------------------------
head -c 3M /dev/urandom >"$T/k1"
check "write a 3 MiB file into A" cp "$T/k1" "$A/killed.bin"
check_eq "it is pending" pending "$(xattr "$A/killed.bin" user.coffre.state)"
kill -KILL "${CLIENT_PID[a]}"
wait "${CLIENT_PID[a]}" 2>/dev/null
CLIENT_PID[a]=
fusermount3 -u -z "$A" 2>/dev/null
check "the killed mount is gone" sh -c '! mountpoint -q "$1"' _ "$A"
check "B has not seen the file" test ! -e "$B/killed.bin"
client_mount a demo
check "after restart A still shows the file" cmp "$T/k1" "$A/killed.bin"
check "sync" client_sync a
check_eq "it is synced" synced "$(xattr "$A/killed.bin" user.coffre.state)"
check "B sees it" wait_for test -f "$B/killed.bin"
check "B reads the same bytes" cmp "$T/k1" "$B/killed.bin"
check_eq "exactly one version was made" 1 "$(xattr "$B/killed.bin" user.coffre.version)"

# --- server down ---------------------------------------------------------------
# Drop the kernel's page cache of a file, so a read reaches the drive.
uncache()
{
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)' "$1"
}
read_uncached() { uncache "$1" && cmp "$2" "$1"; }

check "B reads the file once more before the server stops" \
	cmp "$T/k1" "$B/killed.bin"
url_before=$URL
server_stop
check "offline: A still lists the space" sh -c 'ls "$1" | grep -qx killed.bin' _ "$A"
check "offline: A still reads a file it uploaded (page cache dropped)" \
	read_uncached "$A/killed.bin" "$T/k1"
check "offline: B still reads a file it fetched (page cache dropped)" \
	read_uncached "$B/killed.bin" "$T/k1"
printf 'written while the server was down\n' >"$T/off"
check "offline: a new file can be written" cp "$T/off" "$A/offline.txt"
check "offline: it reads back" cmp "$T/off" "$A/offline.txt"
check_eq "offline: it is pending" pending "$(xattr "$A/offline.txt" user.coffre.state)"
check "offline: the mount is still alive" proc_alive "${CLIENT_PID[a]}"
sleep 2
check "offline: still there after a retry or two" cmp "$T/off" "$A/offline.txt"

server_start
check_eq "the server came back at the same URL (its port pinned)" \
	"$url_before" "$URL"
check "sync after the server is back" client_sync a
check_eq "the offline file is synced" synced "$(xattr "$A/offline.txt" user.coffre.state)"
check "B sees the offline file" wait_for test -f "$B/offline.txt"
check "B reads the same bytes" cmp "$T/off" "$B/offline.txt"
check "git fsck --strict passes" git --git-dir "$(ledger demo)" fsck --strict --no-progress

check "coffred fsck: chunks, ledger, index, signatures and timestamps agree" \
	"$COFFRED" fsck "$D"
done_testing
