#!/bin/bash
# --json for scripts: every command that prints records prints,
# with --json, one JSON document on standard output that holds the same
# records as its text output, with the keys its man page lists; a man page
# for every command, reached as `man coffre-CMD` and `man coffre CMD`.
. "$TESTLIB/common.sh"

MANDIR=$TESTLIB/../../man
test_init
require_cmd jq

# --- man pages -------------------------------------------------------------
"$COFFRE" help >"$T/help" 2>&1
mapfile -t CMDS < <(sed -n 's/^  \([a-z-][a-z-]*\)  .*/\1/p' "$T/help")
check "coffre help lists the commands" test "${#CMDS[@]}" -ge 20
missing="" drift=""
for c in "${CMDS[@]}"; do
	page=$MANDIR/coffre-$c.1
	[ -f "$page" ] || { missing+=" $c"; continue; }
	# each usage line of `coffre CMD --help` is a SYNOPSIS line of the page
	# (the page says "coffre [\-\-config DIR] ...", as groff spells it)
	while read -r line; do
		syn=$(sed 's/-/\\-/g' <<<"$line")
		grep -qxF ".B coffre [\\-\\-config DIR] $syn" "$page" || drift+=" $c:'$line'"
	done < <("$COFFRE" "$c" --help | sed -n 's/^\(usage:\)\? *coffre \[--config DIR\] //p')
done
check_eq "a man page for every command" "" "$missing"
notinst=
for c in "${CMDS[@]}"; do
	grep -q "'$c'" "$MANDIR/meson.build" || notinst+=" $c"
done
check_eq "and each is installed (man/meson.build)" "" "$notinst"
check_eq "each page's SYNOPSIS is the command's usage" "" "$drift"
if command -v man >/dev/null; then
	MANPATH=$T/man
	mkdir -p "$MANPATH/man1"
	cp "$MANDIR"/coffre-*.1 "$MANDIR/coffre.1" "$MANPATH/man1/"
	MANWIDTH=80 MANPATH=$MANPATH man coffre log 2>/dev/null >"$T/man-log"
	check "man coffre log shows coffre-log's page" \
		grep -q 'coffre-log - ' "$T/man-log"
	MANWIDTH=80 MANPATH=$MANPATH man coffre-versions 2>/dev/null >"$T/man-v"
	check "man coffre-versions shows its page" grep -q 'coffre-versions - ' "$T/man-v"
	warn=
	for p in "$MANDIR"/*.[158]; do
		w=$(MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null)
		[ -z "$w" ] || warn+=" $(basename "$p"): $w"
	done
	check_eq "no man or groff warning on any page" "" "$warn"
fi

# --- records ---------------------------------------------------------------
server_init
user_add alice
user_add bob
space_create demo alice
server_start
client_login a alice
client_mount a demo
client_login b bob
A=$(mnt_of a)

printf 'v1\n' >"$A/deal.txt"
check "sync" client_sync a
printf 'v2, longer\n' >"$A/deal.txt"
check "sync" client_sync a
mkdir "$A/shared"
check "sync" client_sync a

# versions: [{version, deposited_at, deposited_by, size, sha256}]
cf a versions "$A/deal.txt" >"$T/vt"
cf a versions "$A/deal.txt" --json >"$T/vj"
check_eq "versions --json exits 0" 0 $?
check "versions --json is one JSON array" jq -e 'type == "array"' "$T/vj"
check_eq "the same records as the text" "$(cat "$T/vt")" \
	"$(jq -r '.[] | [.version, .deposited_at, .deposited_by, .size, .sha256] | @tsv' "$T/vj")"
check_eq "two versions, sizes as numbers" "3 11" "$(jq -r '[.[].size] | join(" ")' "$T/vj")"
cf a versions --json "$A/deal.txt" >"$T/vj2"
check "--json before PATH says the same" cmp "$T/vj" "$T/vj2"

# log: [{at, login, kind, path, version, detail}]
cf a log "$A/deal.txt" >"$T/lt"
cf a log "$A/deal.txt" --json >"$T/lj"
check_eq "log --json exits 0" 0 $?
check "log --json is one JSON array of events" jq -e 'type == "array" and length >= 2' "$T/lj"
check_eq "as many events as text lines" "$(wc -l <"$T/lt")" "$(jq length "$T/lj")"
check_eq "the same events, in order" \
	"$(awk '{print $1, $2, $3}' "$T/lt")" \
	"$(jq -r '.[] | "\(.at) \(.login) \(.kind)"' "$T/lj")"
check "every event has the documented keys" \
	jq -e 'all(.[]; has("at") and has("login") and has("kind") and has("path") and has("version") and has("detail"))' "$T/lj"
cat "$A/deal.txt" >/dev/null
check "the read reaches the journal" \
	wait_for sh -c '"$1" --config "$2" log "$3" --reads --json | jq -e "length >= 1" >/dev/null' \
	_ "$COFFRE" "$(cfg_of a)" "$A/deal.txt"
cf a log "$A/deal.txt" --reads --json >"$T/rj"
check "log --reads --json: reads with client_at" \
	jq -e 'all(.[]; .kind == "read" and has("client_at"))' "$T/rj"

# members, grants and invitations
cf a grant "$A/shared" bob read >/dev/null 2>&1 # bob is no member: refused
cf a member add demo bob --role assistant >/dev/null
check_eq "member add" 0 $?
cf a member list demo >"$T/mt"
cf a member list demo --json >"$T/mj"
check_eq "member list --json exits 0" 0 $?
check "member list --json: one object, members, grants, invited" \
	jq -e 'type == "object" and (.members | type) == "array" and (.grants | type) == "array" and (.invited | type) == "array"' "$T/mj"
check_eq "the same members as the text" \
	"$(grep -v '^grant \|^invited ' "$T/mt" | awk '{print $1, $2, ($3 == "admin")}')" \
	"$(jq -r '.members[] | "\(.login) \(.role) \(if .admin then 1 else 0 end)"' "$T/mj")"
check_eq "the invitation of bob" "bob assistant alice" \
	"$(jq -r '.invited[] | "\(.login) \(.role) \(.invited_by)"' "$T/mj")"
check_eq "the text shows it too" "1" "$(grep -c '^invited bob ' "$T/mt")"
cf a member remove demo bob --json >/dev/null 2>&1
check_eq "--json on member remove is a usage error" 2 $?

cf b invitations >"$T/it"
cf b invitations --json >"$T/ij"
check_eq "invitations --json exits 0" 0 $?
check_eq "invitations --json: [{space, role, invited_by, at}]" "demo assistant alice" \
	"$(jq -r '.[] | "\(.space) \(.role) \(.invited_by)"' "$T/ij")"
check_eq "the same invitation as the text" \
	"$(awk '{print $1, $2, $5}' "$T/it")" \
	"$(jq -r '.[] | "\(.space) \(.role) \(.invited_by)"' "$T/ij")"
cf b accept demo >/dev/null
cf a grant "$A/shared" bob read >/dev/null
check_eq "grant" 0 $?
cf a member list demo --json >"$T/mj"
check_eq "the grant in member list --json" "bob read /shared" \
	"$(jq -r '.grants[] | "\(.login) \(.right) \(.path)"' "$T/mj")"
cf a member list demo >"$T/mt"
check_eq "as in the text" "$(grep '^grant ' "$T/mt" | awk '{print $2, $3, $4}')" \
	"$(jq -r '.grants[] | "\(.login) \(.right) \(.path)"' "$T/mj")"
cf b invitations --json >"$T/ij"
check_eq "no invitation left: an empty array" "[]" "$(jq -c . "$T/ij")"

# sessions: [{id, created_at, expires_at, address, current}]
cf a sessions >"$T/st"
cf a sessions --json >"$T/sj"
check_eq "sessions --json exits 0" 0 $?
check_eq "the same sessions as the text" "$(awk '{print $1}' "$T/st")" \
	"$(jq -r '.[].id' "$T/sj")"
check_eq "one is this device's" 1 "$(jq '[.[] | select(.current)] | length' "$T/sj")"
cf a sessions --json --revoke-others >/dev/null 2>&1
check_eq "--json with --revoke-others is a usage error" 2 $?

# signatures: [{login, role, signed_at, commit, version}]
cf a sign "$A/deal.txt" --as author --password-file "$T/pw-alice" >/dev/null
check_eq "sign" 0 $?
cf a signatures "$A/deal.txt" >"$T/gt"
cf a signatures "$A/deal.txt" --json >"$T/gj"
check_eq "signatures --json exits 0" 0 $?
check_eq "the same signatures as the text" "$(cat "$T/gt")" \
	"$(jq -r '.[] | ["v\(.version)", .login, .role, .signed_at] | @tsv' "$T/gj")"
check_eq "one signature by alice as author of v2" "alice author 2" \
	"$(jq -r '.[] | "\(.login) \(.role) \(.version)"' "$T/gj")"
cf a signatures "$A/deal.txt" --version 1 --json >"$T/gj1"
check_eq "none of v1: an empty array" "[]" "$(jq -c . "$T/gj1")"

# text output is unchanged without --json: not JSON
check "versions without --json prints tab-separated lines" \
	sh -c '! jq -e . "$1" >/dev/null 2>&1' _ "$T/vt"

client_umount a
done_testing
