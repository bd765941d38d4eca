#!/bin/bash
# A user makes spaces of their own: `coffre space create NAME --kind KIND`
# makes a space they own with the kind's filing plan, listed by `coffre
# spaces`, mounted as any space; a taken name, a bad name, kind or plan are
# refused and change nothing; spaces_per_user (reloaded with SIGHUP) bounds
# how many a user may own, also when five creations race; 0 leaves spaces
# to the operator; with curl, no token, another user's token, a plan file.
. "$TESTLIB/common.sh"
require_cmd curl jq

server_init
user_add alice
user_add bob
space_create demo alice
server_start
server_pin_port
client_login alice alice
client_login bob bob

check_eq "coffre spaces: the space the operator made" "demo private owner" \
	"$(cf alice spaces | awk '{ print $1, $2, $3 }')"
check "coffre space create famille" sh -c "'$COFFRE' --config '$(cfg_of alice)' space create famille >'$T/out' 2>&1"
check "says its plan's folders" grep -q '10 folders' "$T/out"
check_eq "coffre spaces --json lists it, owned, private" "owner private" \
	"$(cf alice spaces --json | jq -r '.[] | select(.name == "famille") | "\(.role) \(.kind)"')"
client_mount alice famille
A=$(mnt_of alice)
check "the new space's drive shows its plan" test -d "$A/Dernières volontés" -a -d "$A/Banque"
check_eq "with its classes" confidential "$(xattr "$A/Santé" user.coffre.class)"
echo "bail" >"$T/bail.txt"
check "a deposit in it" cp "$T/bail.txt" "$A/Logement/bail.txt"
check "coffre sync --wait" client_sync alice
G=$(ledger famille)
check "is in its ledger" git --git-dir "$G" cat-file -e "main:Logement/bail.txt"
check_eq "the ledger's first commits: the owner, then the plan" \
	"member alice owner|batch of 10 operations" \
	"$(git --git-dir "$G" log --reverse --format=%s main | sed -n '2,3p' | paste -sd'|')"
check "--kind company --plan none --json" sh -c \
	"'$COFFRE' --config '$(cfg_of alice)' space create atelier --kind company --plan none --json >'$T/j'"
check_eq "the JSON answer" "atelier company owner 0" \
	"$(jq -r '"\(.name) \(.kind) \(.role) \(.folders)"' "$T/j")"

# refusals change nothing
h=$(git --git-dir "$G" rev-parse main)
cf bob space create famille >"$T/out" 2>&1
check_eq "a taken name: exit 1" 1 $?
check "says it exists" grep -q "already exists" "$T/out"
check_eq "and the space is as it was" "$h" "$(git --git-dir "$G" rev-parse main)"
check "bob is not a member of it" sh -c "! '$COFFRE' --config '$(cfg_of bob)' spaces | grep -q famille"
cf alice space create Famille >"$T/out" 2>&1
check_eq "an uppercase name: exit 1" 1 $?
cf alice space create ../x >"$T/out" 2>&1
check_eq "a path as a name: exit 1" 1 $?
cf alice space create z --kind family >"$T/out" 2>&1
check_eq "an unknown kind: exit 1" 1 $?
check "says which kinds" grep -q "private, company or association" "$T/out"
cf alice space create z --plan /etc/passwd >"$T/out" 2>&1
check_eq "a plan file from a user: usage error 2" 2 $?
check "no space z was made" test ! -e "$D/spaces/z"

# with curl: no token, a bad token, a plan path, a non-object
post() { # post OUT BODY [AUTH-ARGS...]: the status
	local out=$1 body=$2
	shift 2
	api "$out" POST /v1/spaces -H 'Content-Type: application/json' -d "$body" "$@"
}
check_eq "without a token: 401" 401 "$(post "$T/c" '{"name": "anon"}')"
check_eq "a forged token: 401" 401 "$(post "$T/c" '{"name": "anon"}' -H 'Authorization: Bearer AAAA')"
AB=(-H "Authorization: Bearer $(token_of bob)")
check_eq "a plan path over the API: 400" 400 "$(post "$T/c" '{"name": "p1", "plan": "/etc/passwd"}' "${AB[@]}")"
check_eq "a body that is not an object: 400" 400 "$(post "$T/c" '["x"]' "${AB[@]}")"
check_eq "a name over 64 bytes: 400" 400 "$(post "$T/c" "{\"name\": \"$(printf 'a%.0s' {1..65})\"}" "${AB[@]}")"
check "none of them made a space" sh -c "! ls '$D/spaces' | grep -qE '^(anon|p1)$'"

# spaces_per_user, reloaded
echo "spaces_per_user = 3" >>"$D/coffred.conf"
server_reload
reloaded 1
cf alice space create quatre >"$T/out" 2>&1
check_eq "alice owns 3 (demo, famille, atelier): the 4th is refused, exit 1" 1 $?
check "naming spaces_per_user" grep -q spaces_per_user "$T/out"
check "and not made" test ! -e "$D/spaces/quatre"
# five at once from bob, who owns none: three pass, two are refused
racers=()
for i in 1 2 3 4 5; do
	post "$T/race$i" "{\"name\": \"race$i\"}" "${AB[@]}" >"$T/race$i.st" &
	racers+=($!)
done
wait "${racers[@]}" # not a bare wait: coffred and the mounts are children too
check_eq "five creations at once: three made (201), two refused (403)" "201 201 201 403 403" \
	"$(for f in "$T"/race?.st; do cat "$f"; echo; done | sort | paste -sd' ')"
check_eq "bob owns three" 3 "$(cf bob spaces --json | jq '[.[] | select(.role == "owner")] | length')"
sed -i 's/^spaces_per_user = 3$/spaces_per_user = 0/' "$D/coffred.conf"
server_reload
reloaded 2
cf bob space create later >"$T/out" 2>&1
check_eq "spaces_per_user = 0: exit 1" 1 $?
check "the operator makes spaces here" grep -q "made by the operator" "$T/out"

check "coffred fsck" "$COFFRED" fsck "$D"
done_testing
