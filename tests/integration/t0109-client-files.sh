#!/bin/bash
# Where the client keeps its files, and who may read them: the default
# cache is $XDG_CACHE_HOME/coffre/SPACE (~/.cache/coffre/SPACE), not in
# the config directory that holds cache.key, and every file the client
# writes is 0600 (tree.db, reads.db and their WAL files included) even
# under umask 022.  A cache at the old place (CONFIG/cache/SPACE) is moved.
. "$TESTLIB/common.sh"

server_start
user_add alice
space_create demo alice
umask 022
H=$T/home
mkdir -p "$H"

# hm NAME ARGS...: coffre with HOME=$H and no --config (the default one).
hm()
{
	local name=$1
	shift
	env -u XDG_CONFIG_HOME -u XDG_CACHE_HOME -u COFFRE_CONFIG HOME="$H" ${XDG:+XDG_CACHE_HOME="$XDG"} \
		"$COFFRE" "$@"
}

# home_mount NAME [ARGS...]: mount demo on NAME's mount point, no --cache.
home_mount()
{
	local name=$1 mnt i
	shift
	mnt=$(mnt_of "$name")
	mkdir -p "$mnt"
	MOUNTS+=("$mnt")
	hm "$name" "$@" mount demo "$mnt" --foreground >>"$T/client-$name.log" 2>&1 &
	CLIENT_PID[$name]=$!
	for ((i = 0; i < 200; i++)); do
		mountpoint -q "$mnt" && return 0
		proc_alive "${CLIENT_PID[$name]}" || break
		sleep 0.1
	done
	return 1
}

# private_tree DIR: every file 0600, every folder 0700 (prints the others).
private_tree()
{
	find "$1" \( -type f ! -perm 600 \) -o \( -type d ! -perm 700 \) |
		sed 's/^/not private: /' | grep . && return 1
	return 0
}

XDG=
hm a login "$URL" alice --password-file "$T/pw-alice" --cacert "$CACERT" \
	>>"$T/client-a.log" 2>&1
check "login with the default config (HOME=$H)" test -s "$H/.config/coffre/session.json"
home_mount a
check "mount without --cache" mountpoint -q "$(mnt_of a)"
A=$(mnt_of a)
check "write a file" sh -c 'echo hello >"$1/hello.txt"' _ "$A"
check "read it back (a read is recorded in reads.db)" grep -q hello "$A/hello.txt"
check "sync" timeout 60 env HOME="$H" "$COFFRE" sync --wait "$A"
C=$H/.cache/coffre/demo
check "the cache is ~/.cache/coffre/demo" test -d "$C"
check "the config directory holds no cache" test ! -e "$H/.config/coffre/cache"
check "the config directory holds cache.key" test -f "$H/.config/coffre/cache.key"
check "tree.db, reads.db and a WAL file are in the cache" \
	sh -c 'test -f "$1/tree.db" && test -f "$1/reads.db" && ls "$1" | grep -q -- "-wal$"' _ "$C"
check "every cache file is 0600 and folder 0700 (umask 022)" private_tree "$C"
check "every config file is 0600 and folder 0700" private_tree "$H/.config/coffre"
client_umount a

# $XDG_CACHE_HOME wins over ~/.cache.
XDG=$T/xdg
home_mount a
check "mount with XDG_CACHE_HOME set" mountpoint -q "$(mnt_of a)"
check "the file is there" grep -q hello "$A/hello.txt"
check "the cache is \$XDG_CACHE_HOME/coffre/demo" test -f "$XDG/coffre/demo/tree.db"
check "... private too" private_tree "$XDG/coffre"
client_umount a
XDG=

# A cache at the old default place is moved, and its pending state with it.
rm -rf "$C"
mkdir -p "$H/.config/coffre/cache"
cp -a "$T/xdg/coffre/demo" "$H/.config/coffre/cache/demo"
home_mount a
check "mount with a cache left at CONFIG/cache/demo" mountpoint -q "$(mnt_of a)"
check "... the mount says it moved it" grep -q "moved the cache .*/.config/coffre/cache/demo to .*/.cache/coffre/demo" "$T/client-a.log"
check "... it is at ~/.cache/coffre/demo now" test -f "$C/tree.db"
check "... and gone from the config directory" test ! -e "$H/.config/coffre/cache/demo"
check "... the file is there" grep -q hello "$A/hello.txt"
client_umount a

# Another config directory gets a cache of its own.
hm b --config "$T/cfg2" login "$URL" alice --password-file "$T/pw-alice" \
	--cacert "$CACERT" >>"$T/client-b.log" 2>&1
home_mount b --config "$T/cfg2"
check "mount with --config DIR" mountpoint -q "$(mnt_of b)"
check "its cache is ~/.cache/coffre/demo@HASH" \
	sh -c 'ls -d "$1"/demo@* | grep -Eq "/demo@[0-9a-f]{16}$"' _ "$H/.cache/coffre"
client_umount b

done_testing
