#!/bin/bash
# A folder's mode bits are kept as a local disk keeps them: in the ledger
# (a "mode" line of the folder's .coffre-folder), so mkdir -m, chmod and a
# chmod right before a SIGKILL of the mount all read back after a remount
# and on a second mount; a rename keeps the mode, a reclass keeps it, and
# a member without the organize right cannot change it.
. "$TESTLIB/common.sh"
require_cmd python3

demo_mounts a

mode_of() { stat -c %a "$1" 2>/dev/null; }
# meta_of FOLDER: the ledger's .coffre-folder of FOLDER ("" the root)
meta_of() {
	git --git-dir "$(ledger demo)" show "main:${1:+$1/}.coffre-folder" 2>/dev/null |
		tr '\n' ' ' | sed 's/ $//'
}

# the way a person does it: no sync between the steps
check "mkdir -m 0700" mkdir -m 0700 "$A/private"
check "mkdir then chmod 0750 at once" sh -c 'mkdir "$1" && chmod 0750 "$1"' _ "$A/team"
check "mkdir -p a/b, chmod 0711 on b" sh -c 'mkdir -p "$1/b" && chmod 0711 "$1/b"' _ "$A/deep"
mkdir "$A/plain"
check_eq "modes read back at once" "700 750 711 755" \
	"$(mode_of "$A/private") $(mode_of "$A/team") $(mode_of "$A/deep/b") $(mode_of "$A/plain")"
check "coffre sync --wait" client_sync a
check_eq "the ledger keeps mkdir -m 0700" "coffre-folder 1 class restricted mode 0700" "$(meta_of private)"
check_eq "the ledger keeps a chmod made before the folder was sent" \
	"coffre-folder 1 class restricted mode 0750" "$(meta_of team)"
check_eq "a folder at 0755 states no mode" "coffre-folder 1 class restricted" "$(meta_of plain)"

# a chmod of a folder on the server, then a rename, then SIGKILL at once
check "chmod 0705 a synced folder" chmod 0705 "$A/plain"
check "mv it" mv "$A/plain" "$A/renamed"
check_eq "the rename keeps the mode" 705 "$(mode_of "$A/renamed")"
check "chmod 0770 on a synced folder" chmod 0770 "$A/team"
kill -KILL "${CLIENT_PID[a]}"
wait "${CLIENT_PID[a]}" 2>/dev/null
CLIENT_PID[a]=
fusermount3 -u -z "$A" 2>/dev/null
client_mount a demo
check_eq "after a SIGKILL: the queued chmods read back" "705 770" \
	"$(mode_of "$A/renamed") $(mode_of "$A/team")"
check "coffre sync --wait after the remount" client_sync a
check_eq "the ledger holds the chmod that was queued at the kill" \
	"coffre-folder 1 class restricted mode 0770" "$(meta_of team)"
check_eq "and the one before the rename, under the new name" \
	"coffre-folder 1 class restricted mode 0705" "$(meta_of renamed)"

# back to the default; a reclass keeps the mode
check "chmod 0755 back" chmod 0755 "$A/renamed"
check "reclass private as confidential" setfattr -n user.coffre.class -v confidential "$A/private"
check "coffre sync --wait" client_sync a
check_eq "back to the default: no mode line" "coffre-folder 1 class restricted" "$(meta_of renamed)"
check_eq "a reclass keeps the mode" "coffre-folder 1 class confidential mode 0700" "$(meta_of private)"

check "chmod 0750 on the drive's root" chmod 0750 "$A"
check "coffre sync --wait" client_sync a
check_eq "the root's .coffre-folder keeps it" "coffre-folder 1 class restricted mode 0750" "$(meta_of "")"

# a clean remount and a second mount read the ledger's modes
client_umount a
client_mount a demo
check_eq "after a remount" "750 700 770 711 755" \
	"$(mode_of "$A") $(mode_of "$A/private") $(mode_of "$A/team") $(mode_of "$A/deep/b") $(mode_of "$A/renamed")"
client_login b alice
client_mount b demo
B=$(mnt_of b)
check_eq "a second mount sees them" "700 770 711 755" \
	"$(mode_of "$B/private") $(mode_of "$B/team") $(mode_of "$B/deep/b") $(mode_of "$B/renamed")"
check "a chmod on one mount" chmod 0750 "$A/deep/b"
check "coffre sync --wait" client_sync a
check "reaches the other within seconds" wait_for sh -c \
	'ls "$1" >/dev/null; test "$(stat -c %a "$1/b")" = 750' _ "$B/deep"

check "chmod 0755 on the root again" chmod 0755 "$A"

# the commit op as other members send it, with curl: what a member cannot
# see answers as what does not exist, and a right not held changes nothing
mkdir "$A/pub" && setfattr -n user.coffre.class -v public "$A/pub"
check "coffre sync --wait" client_sync a
user_add bob
user_add carol
check "an assistant is invited" cf a member add demo bob --role assistant
check "an intervenant is invited" cf a member add demo carol --role intervenant
client_login c bob
check "the assistant accepts" cf c accept demo
client_login d carol
check "the intervenant accepts" cf d accept demo
# chmod_as CLIENT OUT PATH MODE-JSON: the HTTP status of a one-op commit
chmod_as() {
	local mode=${4:+,\"mode\":$4}

	api "$T/$2" POST /v1/spaces/demo/commits -H "Authorization: Bearer $(token_of "$1")" \
		-H 'Content-Type: application/json' \
		--data "{\"ops\":[{\"op\":\"chmod\",\"path\":\"$3\"$mode}]}"
}
st=$(chmod_as c r1 /private 511)
st2=$(chmod_as c r2 /nosuch 511)
check_eq "assistant: chmod of a hidden folder is answered as of an absent one" \
	"200 200" "$st $st2"
check "and changes nothing" test "$(meta_of private)" = "coffre-folder 1 class confidential mode 0700"
st=$(chmod_as d r3 /team 511)
st2=$(chmod_as d r4 /nosuch 511)
check_eq "intervenant: a hidden folder and an absent one, one answer" \
	"$st2 $(json_get "$T/r4" 'j["error"]["code"]')" "$st $(json_get "$T/r3" 'j["error"]["code"]')"
check_eq "... a refusal" 403 "$st"
check_eq "intervenant: no organize right on a public folder it sees" 403 "$(chmod_as d r5 /pub 511)"
check_eq "... nothing changed" "coffre-folder 1 class public" "$(meta_of pub)"
check_eq "a mode out of range is a 400" 400 "$(chmod_as c r6 /team 4096)"
check_eq "a chmod without a mode is a 400" 400 "$(chmod_as c r7 /team)"
check_eq "a negative mode is a 400" 400 "$(chmod_as c r8 /team -1)"
check_eq "... nothing changed" "coffre-folder 1 class restricted mode 0770" "$(meta_of team)"
check_eq "the assistant may chmod a restricted folder" 200 "$(chmod_as c r9 /team 448)"
check_eq "... and the ledger says so" "coffre-folder 1 class restricted mode 0700" "$(meta_of team)"
check "the owner's drive shows it within seconds" wait_for sh -c \
	'ls "$1" >/dev/null; test "$(stat -c %a "$1/team")" = 700' _ "$A"

check "coffred fsck is clean" "$COFFRED" fsck "$D"

done_testing
