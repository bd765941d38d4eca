#!/bin/bash
# Every way programs overwrite a file makes exactly one new version, and
# every version stays readable, byte for byte, under .versions/NAME/.
. "$TESTLIB/common.sh"

demo_mounts a b
F=notes.txt
V=.versions/$F

b_version_is() { [ "$(xattr "$B/$F" user.coffre.version)" = "$1" ]; }

# step N TITLE: after a write into A, sync and check that B reaches version N
# holding exactly the expected bytes $T/sN.
step()
{
	check "$2: coffre sync --wait" client_sync a
	check "$2: A reads back the new content" cmp "$T/s$1" "$A/$F"
	check "$2: B reaches version $1" wait_for b_version_is "$1"
	check "$2: B reads the new content" cmp "$T/s$1" "$B/$F"
}

printf 'first draft\nx marks the spot\n' >"$T/s1"
check "v1: cp a new file into A" cp "$T/s1" "$A/$F"
step 1 "v1"

printf 'second draft, copied over\nx again\nand more x\n' >"$T/s2"
check "v2: cp over the file" cp "$T/s2" "$A/$F"
step 2 "v2"

sed s/x/y/ "$T/s2" >"$T/s3"
check "v3: sed -i (temp file + rename)" sed -i s/x/y/ "$A/$F"
step 3 "v3"

head -c 100000 /dev/urandom | base64 >"$T/s4"
check "v4: truncate and write in one open" sh -c 'cat "$1" >"$2"' _ "$T/s4" "$A/$F"
step 4 "v4"

for n in 1 2 3 4; do
	check "B: $V/v$n.txt is byte-identical to step $n" \
		wait_for cmp "$T/s$n" "$B/$V/v$n.txt"
done
check "B: $V/v5.txt does not exist" test ! -e "$B/$V/v5.txt"
check_eq "B: user.coffre.version is 4" 4 "$(xattr "$B/$F" user.coffre.version)"
check "A: $V/v1.txt resolves on the writing mount too" cmp "$T/s1" "$A/$V/v1.txt"
check "ls -a of the root does not list .versions" \
	sh -c '! ls -a "$1" | grep -qx .versions' _ "$B"
check "ls of .versions/$F lists nothing or the versions only" \
	sh -c 'ls -a "$1" | grep -v -x -e . -e .. -e "v[1-4].txt" | (! grep -q .)' \
	_ "$B/$V"

cf b versions "$B/$F" >"$T/versions.out" 2>"$T/versions.err"
check_eq "coffre versions exits 0" 0 "$?"
check_eq "coffre versions prints 4 lines" 4 "$(wc -l <"$T/versions.out")"
check_eq "coffre versions numbers them 1 to 4" "1 2 3 4" \
	"$(cut -f1 "$T/versions.out" | tr '\n' ' ' | sed 's/ $//')"
want=$(for n in 1 2 3 4; do sha256_of "$T/s$n"; done | tr '\n' ' ')
check_eq "coffre versions gives the SHA-256 of each step" "$want" \
	"$(cut -f5 "$T/versions.out" | tr '\n' ' ')"
check_eq "coffre versions gives the sizes of each step" \
	"$(for n in 1 2 3 4; do stat -c %s "$T/s$n"; done | tr '\n' ' ')" \
	"$(cut -f4 "$T/versions.out" | tr '\n' ' ')"
check "coffre versions names alice as depositor of each" \
	sh -c '! cut -f3 "$1" | grep -vqx alice' _ "$T/versions.out"

# Versions are read-only: opening one for writing fails with EROFS/EACCES.
check "opening $V/v1.txt for writing fails" \
	sh -c '! (exec 3>>"$1") 2>"$2"' _ "$B/$V/v1.txt" "$T/wr.err"
check "the error says read-only or permission denied" \
	grep -Eq 'Read-only file system|Permission denied' "$T/wr.err"
check "truncating $V/v2.txt fails" sh -c '! truncate -s 0 "$1"' _ "$B/$V/v2.txt"
check "removing $V/v1.txt fails" sh -c '! rm -f "$1"' _ "$B/$V/v1.txt"
check "v1 is unchanged after the attempts" cmp "$T/s1" "$B/$V/v1.txt"

# A plain `>` redirect truncates then writes: one new version, not an empty
# one followed by the content.
printf 'redirected content\n' >"$T/s5"
check "v5: echo > over the file" sh -c 'printf "redirected content\n" >"$1"' _ "$A/$F"
step 5 "v5"
cf b versions "$B/$F" >"$T/versions.out" 2>>"$T/versions.err"
check_eq "the redirect made exactly one version" 5 "$(wc -l <"$T/versions.out")"
check "no version is empty" sh -c '! cut -f4 "$1" | grep -qx 0' _ "$T/versions.out"

# An editor's save: write .NAME.tmp then mv over: one more version.
printf 'saved by an editor\n' >"$T/s6"
check "v6: write .$F.tmp then mv over" \
	sh -c 'cp "$1" "$2/.notes.txt.tmp" && mv "$2/.notes.txt.tmp" "$2/notes.txt"' \
	_ "$T/s6" "$A"
step 6 "v6"
check "B: $V/v6.txt is byte-identical" cmp "$T/s6" "$B/$V/v6.txt"
check "the temp name is gone from B" test ! -e "$B/.notes.txt.tmp"
cf b versions "$B/$F" >"$T/versions.out" 2>>"$T/versions.err"
check_eq "coffre versions prints 6 lines" 6 "$(wc -l <"$T/versions.out")"

done_testing
