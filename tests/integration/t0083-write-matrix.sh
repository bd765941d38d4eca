#!/bin/bash
# Every state-changing endpoint of docs/protocol.md tried by every role:
# the exact status, and nothing changed when refused (ledger head, the
# tree, versions, members, grants, delegations, events).  Then case 7 for
# writes: an operation on what the caller may not see answers, status and
# words, as the same operation on an absent path, and changes nothing.
. "${TESTLIB:-$(dirname "$0")/../lib}/hostile.sh"

world_build
R=$(ledger demo)
# the owner last: what it may do would change what the others may
ROLES="bob dan carol ivan tom rem oscar alice"

# expected LOGIN SPEC: the status SPEC gives LOGIN ("alice=200 bob=403
# *=404": a login's own entry, else "*").
expected()
{
	local w
	for w in $2; do
		[ "${w%%=*}" = "$1" ] && { echo "${w#*=}"; return; }
	done
	for w in $2; do
		[ "${w%%=*}" = "*" ] && { echo "${w#*=}"; return; }
	done
}

# try TITLE SPEC METHOD PATH [BODY]: every role; BODY and PATH may name
# the role as @U.  A refusal must leave every state as it was.
try()
{
	local title=$1 spec=$2 m=$3 p=$4 body=${5:-} u want before after
	for u in $ROLES; do
		want=$(expected $u "$spec")
		before=$(state)
		if [ -n "$body" ]; then
			req $u "$m" "${p//@U/$u}" -d "${body//@U/$u}"
		else
			req $u "$m" "${p//@U/$u}"
		fi
		after=$(state)
		check_eq "$title: $u $want" "$want" "$CODE" || echo "# $BODY"
		case $want in
		2*) ;;
		*) check_eq "$title: $u: nothing changed" "$before" "$after" ;;
		esac
	done
}

ops()
{
	echo "{\"client\": \"t\", \"ops\": [$1]}"
}
C=/v1/spaces/demo/commits
NS='rem=404 oscar=404'

# --- commits: each operation, where each role stands differently ----------
try "mkdir in a restricted folder" "alice=200 bob=200 dan=200 carol=403 $NS *=409" \
	POST $C "$(ops "$(mk /Dept/New-@U)")"
try "mkdir inside a confidential folder" "alice=200 $NS *=409" \
	POST $C "$(ops "$(mk /Dept/Secret/New-@U)")"
try "mkdir stating confidential in a public folder" "alice=200 dan=200 bob=403 carol=403 ivan=403 $NS *=409" \
	POST $C "$(ops "$(mk /Pub/C-@U confidential)")"
try "deposit in a public folder" "alice=200 bob=200 dan=200 carol=403 ivan=403 $NS *=409" \
	POST $C "$(ops "$(dep /Pub/x-@U)")"
try "deposit in a folder granted for deposit" "alice=200 bob=200 dan=200 carol=200 ivan=403 $NS *=409" \
	POST $C "$(ops "$(dep /Pub/Drop/x-@U)")"
try "deposit in a confidential folder granted for read" "alice=200 bob=200 dan=403 carol=403 $NS *=409" \
	POST $C "$(ops "$(dep /Dept/Open/x-@U)")"
try "deposit in the trusted person's folder" "alice=200 bob=200 dan=200 tom=403 $NS *=409" \
	POST $C "$(ops "$(dep /HR/2024/x-@U)")"
try "move a confidential document out" "alice=200 $NS *=409" \
	POST $C "$(ops "$(mv_op /Dept/Secret/Inner/x.txt /Pub/out-@U)")"
commit alice "[$(dep /Dept/Secret/Inner/x.txt)]"
try "move a public document into a confidential folder" "alice=200 $NS carol=403 ivan=403 *=409" \
	POST $C "$(ops "$(mv_op /Pub/Deep/Deeper/q.txt /Conf/in-@U)")"
try "move a folder holding a confidential one" "alice=200 bob=403 dan=403 carol=403 $NS *=409" \
	POST $C "$(ops "$(mv_op /Dept/Open /Pub/Open-@U), $(mv_op /Pub/Open-@U /Dept/Open)")"
try "unlink a confidential document" "alice=200 $NS *=409" \
	POST $C "$(ops '{"op": "unlink", "path": "/Dept/Secret/plan.txt"}')"
commit alice "[$(dep /Dept/Secret/plan.txt "$HS" "$HS_SIZE")]"
try "rmdir a confidential folder (not empty)" "alice=409 bob=200 dan=200 carol=403 $NS *=409" \
	POST $C "$(ops '{"op": "rmdir", "path": "/Dept/Secret"}')"

# --- access changes ---------------------------------------------------------
try "class of a confidential folder" "alice=200 $NS *=404" \
	POST /v1/spaces/demo/class '{"path": "/Conf", "class": "confidential"}'
try "class of a restricted folder" "alice=200 dan=200 bob=403 tom=403 $NS *=404" \
	POST /v1/spaces/demo/class '{"path": "/HR", "class": "restricted"}'
try "grant inside a confidential folder" "alice=200 $NS *=404" \
	POST /v1/spaces/demo/grants '{"path": "/Dept/Secret", "login": "ivan", "right": "read"}'
req alice DELETE "/v1/spaces/demo/grants?path=/Dept/Secret&login=ivan"
try "grant on a public folder" "alice=200 dan=200 bob=403 carol=403 ivan=403 $NS *=404" \
	POST /v1/spaces/demo/grants '{"path": "/Pub", "login": "ivan", "right": "read"}'
req alice DELETE "/v1/spaces/demo/grants?path=/Pub&login=ivan"
try "revoke a grant on a confidential folder" "alice=200 bob=403 dan=403 carol=403 $NS *=404" \
	DELETE "/v1/spaces/demo/grants?path=/Dept/Open&login=carol"
grant /Dept/Open carol read
try "add an owner" "alice=202 $NS *=403" \
	POST /v1/spaces/demo/members '{"login": "zed", "role": "owner"}'
try "remove an owner" "alice=409 $NS *=403" \
	DELETE /v1/spaces/demo/members/alice
try "delegate administration" "alice=200 $NS *=403" \
	POST /v1/spaces/demo/delegation '{"login": "dan", "admin": true}'
try "declassify a sealed version" "alice=200 $NS *=404" \
	POST "/v1/spaces/demo/docs/$(index_sql "SELECT doc_id FROM versions WHERE sealed = 1 AND doc_id IN (SELECT doc_id FROM events WHERE path = '/Conf/c.txt')" | head -1)/versions/1/declassify"

# --- accounts: one's own only ------------------------------------------------
login alice # a second session; the first is the one to revoke
req alice GET /v1/sessions
ASESS=$(jv '[.sessions[] | select(.current | not)][0].id')
try "revoke another login's session" "alice=200 *=404" DELETE "/v1/sessions/$ASESS"
try "change a password with a wrong old one" "*=403" \
	POST /v1/password '{"old_password": "wrong-password", "new_password": "a new password"}'
try "accept an invitation never made" "*=404" POST /v1/invitations/other

# --- case 7 for writes: hidden against absent --------------------------------
# same_op TITLE LOGIN OP-ON-HIDDEN OP-ON-ABSENT: status and words alike (path
# aside), and the tree untouched.
same_op()
{
	local a b t0
	t0=$(git -C "$R" rev-parse 'main^{tree}')
	commit "$2" "[$3]"
	a="$CODE $(jv .error.code) $(jv .error.message | sed -e 's#/Dept/Secret#P#g' -e 's#/Conf#P#g')"
	check_eq "case 7: $1: $2: the hidden thing is untouched" "$t0" \
		"$(git -C "$R" rev-parse 'main^{tree}')"
	commit "$2" "[$4]"
	b="$CODE $(jv .error.code) $(jv .error.message | sed -e "s#/Dept/[A-Za-z]*-$2#P#g" -e "s#/Nothing-$2#P#g")"
	check_eq "case 7: $1: $2 gets what an absent one gets" "$b" "$a"
}
for u in bob dan carol ivan tom; do
	same_op "unlink a hidden folder" $u '{"op": "unlink", "path": "/Dept/Secret"}' \
		"{\"op\": \"unlink\", \"path\": \"/Dept/Nothing-$u\"}"
	same_op "rmdir a hidden folder" $u '{"op": "rmdir", "path": "/Dept/Secret"}' \
		"{\"op\": \"rmdir\", \"path\": \"/Dept/Nothing-$u\"}"
	same_op "rmdir a hidden top folder" $u '{"op": "rmdir", "path": "/Conf"}' \
		"{\"op\": \"rmdir\", \"path\": \"/Nothing-$u\"}"
	same_op "unlink a hidden document" $u '{"op": "unlink", "path": "/Dept/Secret/plan.txt"}' \
		"{\"op\": \"unlink\", \"path\": \"/Dept/Nothing-$u/plan.txt\"}"
	same_op "mkdir over a hidden folder" $u "$(mk /Dept/Secret)" "$(mk "/Dept/Made-$u")"
	same_op "move a hidden document" $u "$(mv_op /Dept/Secret/plan.txt /Pub/m-$u)" \
		"$(mv_op "/Dept/Nothing-$u/plan.txt" "/Pub/m-$u")"
	same_op "move into a hidden folder" $u "$(mv_op /Pub/p.txt /Dept/Secret/p.txt)" \
		"$(mv_op /Pub/p.txt "/Dept/Nothing-$u/p.txt")"
	same_op "deposit into a hidden folder" $u "$(dep /Dept/Secret/Inner/y.txt)" \
		"$(dep "/Dept/Nothing-$u/Inner/y.txt")"
done
req alice GET "/v1/spaces/demo/tree?path=/Dept/Secret"
check_eq "the owner still finds every hidden thing in place" "Inner New-alice plan.txt" \
	"$(jv '[.entries[].name] | join(" ")')"
req alice GET "/v1/spaces/demo/events?path=/Dept/Secret"
check_eq "an operation left undone journals nothing" "" \
	"$(jv '.events[] | select(.login != "alice") | .kind')"

done_testing
