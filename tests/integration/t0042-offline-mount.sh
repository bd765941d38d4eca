#!/bin/bash
# A drive mounts with coffred stopped: from its sealed copy of the tree it
# lists what it has seen, reads what it has cached, refuses what it never
# saw with EIO (never an empty folder), accepts new files and versions as
# pending; when coffred is back they go out by themselves, in order, and
# `coffre sync --wait` returns.  The copy of the tree shows no name at rest.
. "$TESTLIB/common.sh"

demo_mounts a b

head -c 2M /dev/urandom >"$T/big"
printf 'version one\n' >"$T/v1"
mkdir "$A/Dossiers"
cp "$T/big" "$A/Dossiers/releve-confidentiel.bin"
cp "$T/v1" "$A/notes-secretes.txt"
check "sync A" client_sync a
mkdir "$B/Jamais-vu"
printf 'x\n' >"$B/Jamais-vu/x.txt"
check "sync B" client_sync b
check "A lists the folder B made (not its content)" wait_for test -d "$A/Jamais-vu"
check "A reads its files once" cmp "$T/big" "$A/Dossiers/releve-confidentiel.bin"
client_umount a

check "the sealed tree copy shows no name at rest" sh -c \
	"! grep -rqa -e releve-confidentiel -e notes-secretes -e Dossiers -e Jamais-vu '$(cache_of a)'"

server_stop
client_mount a demo
check "offline: the drive mounted without the server" mountpoint -q "$A"
check "offline: ls shows the space" sh -c 'ls "$1" | grep -qx notes-secretes.txt' _ "$A"
check "offline: ls shows a folder it has listed" \
	sh -c 'ls "$1/Dossiers" | grep -qx releve-confidentiel.bin' _ "$A"
check "offline: a cached file reads back" cmp "$T/big" "$A/Dossiers/releve-confidentiel.bin"
check "offline: a folder never listed is EIO, not empty" sh -c \
	'ls "$1/Jamais-vu" 2>&1 >/dev/null | grep -q "Input/output error"' _ "$A"
printf 'written offline\n' >"$T/new"
printf 'version two, offline\n' >"$T/v2"
check "offline: a new file is written" cp "$T/new" "$A/Dossiers/nouveau.txt"
check "offline: a new version is written" cp "$T/v2" "$A/notes-secretes.txt"
check_eq "offline: the new file is pending" pending \
	"$(xattr "$A/Dossiers/nouveau.txt" user.coffre.state)"
check_eq "offline: the new version is pending" pending \
	"$(xattr "$A/notes-secretes.txt" user.coffre.state)"
check "offline: both read back" sh -c 'cmp "$1" "$2" && cmp "$3" "$4"' _ \
	"$T/new" "$A/Dossiers/nouveau.txt" "$T/v2" "$A/notes-secretes.txt"

server_start
check "back online: coffre sync --wait returns" client_sync a
check_eq "the new file is synced" synced "$(xattr "$A/Dossiers/nouveau.txt" user.coffre.state)"
check_eq "the new version is version 2" 2 "$(xattr "$A/notes-secretes.txt" user.coffre.version)"
check "B sees the offline file" wait_for cmp "$T/new" "$B/Dossiers/nouveau.txt"
check "B reads version 2" wait_for cmp "$T/v2" "$B/notes-secretes.txt"
check "A lists the folder it never saw, now that the server is back" \
	wait_for test -f "$A/Jamais-vu/x.txt"
check "coffred fsck agrees" "$COFFRED" fsck "$D"
done_testing
