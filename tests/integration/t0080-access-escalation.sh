#!/bin/bash
# Escalation by a hostile member (issue cases 9, 3, 10, 11), with curl
# against the documented API: a batch is checked on the states it
# produces and a move on everything it carries; classes inherit when they
# are checked; only an owner opens a confidential folder; a role change
# keeps only the grants the new role may hold.  Every refusal changes
# nothing.
. "${TESTLIB:-$(dirname "$0")/../lib}/hostile.sh"

world_build

check_eq "the assistant lists the confidential folder opened to him, not /Dept/Secret" "Open d.txt" "$(names bob /Dept)"

# --- case 9: a batch is checked on the states it produces -----------------
BEFORE=$(state)
commit bob "[$(mv_op /Dept /Tmp), $(mv_op /Tmp/Secret/plan.txt /Pub/plan.txt), $(mv_op /Tmp /Dept)]"
check_eq "case 9: moving /Dept, which carries /Dept/Secret, is refused at op 0" \
	"403 0" "$CODE $(jv .error.op)"
check_eq "case 9: the refusal names no hidden folder" "" \
	"$(jv .error.message | grep -o Secret)"
commit bob "[$(mv_op /Dept /Tmp), $(dep /Tmp/Secret/plan.txt), $(mv_op /Tmp /Dept)]"
check_eq "case 9: no forged version into a confidential folder either" "403 0" \
	"$CODE $(jv .error.op)"
commit bob "[$(mv_op /Pub/Deep /Dept/Secret/Deep)]"
check_eq "moving into a hidden folder: as into an absent one" \
	"409 no such file or folder '/Dept/Secret/Deep'" "$CODE $(jv .error.message)"
commit bob "[$(mv_op /Pub/Deep /Nowhere/Deep)]"
check_eq "... which answers the same" \
	"409 no such file or folder '/Nowhere/Deep'" "$CODE $(jv .error.message)"
commit bob "[$(mv_op /Dept/Open /Pub/Open)]"
check_eq "moving /Dept/Open carries /Dept/Open/Sub/Vault, not opened to bob: 403" \
	"403 0" "$CODE $(jv .error.op)"
check_eq "refused batches changed nothing" "$BEFORE" "$(state)"
check_eq "plan.txt is still where it was" "200" \
	"$(req alice GET '/v1/spaces/demo/stat?path=/Dept/Secret/plan.txt'; echo "$CODE")"
check_eq "and nowhere public" "HTTP 404" "$(names bob /Tmp)"

# A move bob may make: /Dept/Open/Sub/s.txt out, then on the state the
# move left, the grant on /Dept/Open followed the folder it names.
commit bob "[$(mk /Dept/Open/Sub2), $(mv_op /Dept/Open/Sub/s.txt /Dept/Open/Sub2/s.txt), $(dep /Dept/Open/Sub2/n.txt)]"
expect "a batch on what bob may organize is accepted" 200
commit bob "[$(mv_op /Pub/Deep /Dept/Open/Deep), $(dep /Dept/Open/Deep/Deeper/new.txt)]"
expect "a folder moved into an opened confidential folder, then a deposit in it" 200
check_eq "case 3: the folder moved into a confidential folder is confidential" \
	confidential "$(req alice GET '/v1/spaces/demo/stat?path=/Dept/Open/Deep/Deeper'; jv .class)"
check_eq "case 3: ... and hidden from the intervenant who read it as public" \
	"HTTP 404" "$(names ivan /Dept/Open/Deep/Deeper)"
check_eq "case 3: ... and from the trusted person" "HTTP 404" "$(names tom /Dept/Open/Deep)"
commit alice "[$(mv_op /Dept/Open/Deep /Pub/Deep)]"
check_eq "moved back out, it is public again" "new.txt q.txt" "$(names ivan /Pub/Deep/Deeper)"

# --- case 3: classes inherit at check time --------------------------------
check_eq "before: the assistant lists /HR/2024" "pay.txt" "$(names bob /HR/2024)"
req alice POST /v1/spaces/demo/class -d '{"path": "/HR", "class": "confidential"}'
expect "the owner makes /HR confidential" 200
check_eq "case 3: /HR/2024 is confidential with it" confidential \
	"$(req alice GET '/v1/spaces/demo/stat?path=/HR/2024'; jv .class)"
check_eq "case 3: the assistant no longer lists /HR/2024" "HTTP 404" "$(names bob /HR/2024)"
check_eq "case 3: nor reads its document" 404 \
	"$(req bob GET '/v1/spaces/demo/stat?path=/HR/2024/pay.txt'; echo "$CODE")"
check_eq "case 3: /HR is gone from the assistant's root" "Dept Pub root.txt" "$(names bob /)"
check_eq "the trusted person's grant inside /HR still opens /HR/2024" "pay.txt" "$(names tom /HR/2024)"
commit bob "[$(mv_op /Pub/Drop /HR/Drop)]"
check_eq "the assistant cannot move into /HR now" 409 "$CODE"
req alice POST /v1/spaces/demo/class -d '{"path": "/HR", "class": "restricted"}'
check_eq "declassified, /HR/2024 is restricted again" "pay.txt" "$(names bob /HR/2024)"

# --- case 10: only an owner opens a confidential folder --------------------
req dan POST /v1/spaces/demo/grants -d '{"path": "/", "login": "ivan", "right": "deposit"}'
expect "the delegated assistant grants / to an intervenant" 200
req dan POST /v1/spaces/demo/grants -d '{"path": "/", "login": "dan", "right": "deposit"}'
expect "... and to himself" 200
check_eq "case 10: a grant on / opens no confidential folder to the intervenant" \
	"Dept HR Pub root.txt" "$(names ivan /)"
check_eq "case 10: ... nor below" "d.txt" "$(names ivan /Dept)"
check_eq "case 10: ... nor to the delegated assistant" "Open d.txt" "$(names dan /Dept)"
check_eq "case 10: /Conf stays hidden" "HTTP 404" "$(names dan /Conf)"
check_eq "case 10: a grant on /Dept/Open does not open /Dept/Open/Sub/Vault" \
	"" "$(names carol /Dept/Open/Sub)"
check_eq "... which does not exist for her" "HTTP 404" "$(names carol /Dept/Open/Sub/Vault)"
BEFORE=$(state)
req dan POST /v1/spaces/demo/grants -d '{"path": "/Dept/Open", "login": "ivan", "right": "read"}'
check_eq "case 10: a delegated assistant cannot grant inside a confidential folder he reads" 403 "$CODE"
req dan POST /v1/spaces/demo/grants -d '{"path": "/Dept/Secret", "login": "dan", "right": "deposit"}'
check_eq "case 10: nor on one he cannot read (as absent)" 404 "$CODE"
req dan POST /v1/spaces/demo/grants -d '{"path": "/Dept/Nothing", "login": "dan", "right": "deposit"}'
check_eq "... which is what an absent folder answers" 404 "$CODE"
req dan POST /v1/spaces/demo/class -d '{"path": "/Dept/Open", "class": "restricted"}'
check_eq "case 10: nor declassify a confidential folder" 403 "$CODE"
commit dan "[$(mk /Dept/Open/Sub/Pubbed public)]"
check_eq "nor state a class inside one" 403 "$CODE"
check_eq "refusals changed nothing" "$BEFORE" "$(state)"
req alice POST /v1/spaces/demo/grants -d '{"path": "/Dept/Secret", "login": "ivan", "right": "read"}'
expect "the owner opens /Dept/Secret to the intervenant" 200
check_eq "case 10: a grant on the confidential folder itself opens it" "Inner plan.txt" "$(names ivan /Dept/Secret)"
check_eq "... with its sub-folders" "x.txt" "$(names ivan /Dept/Secret/Inner)"

# --- case 11: a role change keeps only what the new role may hold ----------
req alice POST /v1/spaces/demo/members -d '{"login": "carol", "role": "trusted"}'
check_eq "case 11: an intervenant with two folders cannot become trusted" 409 "$CODE"
req alice DELETE "/v1/spaces/demo/grants?path=/Dept/Open&login=carol"
req alice POST /v1/spaces/demo/members -d '{"login": "carol", "role": "trusted"}'
expect "with one folder she can" 200
check_eq "case 11: her deposit grant became read" "carol:/Pub/Drop:read" \
	"$(index_sql "SELECT login || ':' || path || ':' || level FROM grants WHERE login = 'carol'")"
check "case 11: ... in the ledger's access file too" \
	sh -c "git -C '$(ledger demo)' show main:.coffre-access | grep -qx 'grant carol read /Pub/Drop'"
commit carol "[$(dep /Pub/Drop/x.txt)]"
check_eq "case 11: the trusted person deposits nothing" 403 "$CODE"
check_eq "case 11: she reads her folder" "" "$(names carol /Pub/Drop)"

done_testing
