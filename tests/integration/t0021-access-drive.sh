#!/bin/bash
# Roles on the drive: an owner, an assistant and an intervenant mount one
# space holding public, restricted and confidential folders; each sees the
# tree the rules give them.  A cp without the deposit right fails at once
# with EACCES and leaves nothing behind; setfattr user.coffre.class needs
# the admin right.  A grant shows the folder on the intervenant's mount
# without remounting, a revoke takes it away; the owner sees the
# intervenant's deposit as theirs and their reads with `coffre log`.
. "$TESTLIB/common.sh"

server_init
for u in alice bob carol; do
	user_add $u
done
space_create demo alice
server_start
for u in alice bob carol; do
	client_login $u $u
done

check "coffre member add: an assistant" cf alice member add demo bob --role assistant
check "coffre member add: an intervenant" cf alice member add demo carol --role intervenant
check "coffre accept: bob joins" cf bob accept demo
check "coffre accept: carol joins" cf carol accept demo
check_eq "coffre member list" "alice owner|bob assistant|carol intervenant" \
	"$(cf alice member list demo | awk '{ printf "%s%s %s", (NR > 1 ? "|" : ""), $1, $2 }')"
check "an assistant cannot add members" sh -c "! '$COFFRE' --config '$(cfg_of bob)' member add demo carol --role owner 2>/dev/null"

client_mount alice demo
A=$(mnt_of alice)
echo public >"$T/p.txt"
echo restricted >"$T/r.txt"
echo secret >"$T/c.txt"
mkdir "$A/Public" "$A/Restricted" "$A/Confidential"
cp "$T/p.txt" "$A/Public/p.txt"
cp "$T/r.txt" "$A/Restricted/r.txt"
cp "$T/c.txt" "$A/Confidential/c.txt"
cp "$T/p.txt" "$A/root.txt"
check "the owner's tree reaches the server" client_sync alice
check "the owner classes a folder public with setfattr" \
	setfattr -n user.coffre.class -v public "$A/Public"
check "and another confidential" setfattr -n user.coffre.class -v confidential "$A/Confidential"
check_eq "the class shows on the drive" confidential "$(xattr "$A/Confidential" user.coffre.class)"
check "a bad class is refused" sh -c "! setfattr -n user.coffre.class -v secret '$A/Public' 2>/dev/null"

client_mount bob demo
client_mount carol demo
B=$(mnt_of bob)
C=$(mnt_of carol)

ls_of() { ls -A "$1" 2>&1 | tr '\n' ' ' | sed 's/ $//'; }
check_eq "the owner sees every folder" "Confidential Public Restricted root.txt" "$(ls_of "$A")"
check_eq "the assistant does not see the confidential folder" "Public Restricted root.txt" "$(ls_of "$B")"
check_eq "the intervenant sees the public folder only" "Public" "$(ls_of "$C")"
check "the intervenant reads a public document" cmp "$T/p.txt" "$C/Public/p.txt"
check "a hidden folder does not exist for the intervenant (ENOENT)" \
	sh -c "stat '$C/Restricted' 2>&1 | grep -q 'No such file or directory'"
check "a confidential document does not exist for the assistant" \
	sh -c "cat '$B/Confidential/c.txt' 2>&1 | grep -q 'No such file or directory'"

# --- refused at once, nothing left behind --------------------------------
out=$(cp "$T/r.txt" "$C/Public/new.txt" 2>&1)
check "cp into a folder without deposit fails" test -n "$out"
check "with EACCES" grep -q "Permission denied" <<<"$out"
check_eq "nothing is left in the folder" "p.txt" "$(ls_of "$C/Public")"
check_eq "nothing is queued" 0 "$(xattr "$C" user.coffre.pending)"
check "mkdir without organize fails with EACCES" \
	sh -c "mkdir '$C/Public/sub' 2>&1 | grep -q 'Permission denied'"
check "rm without organize fails with EACCES" \
	sh -c "rm -f '$C/Public/p.txt' 2>&1 | grep -q 'Permission denied'"
check "the document is still there" test -f "$C/Public/p.txt"
check "setfattr of a class without admin fails with EACCES" \
	sh -c "setfattr -n user.coffre.class -v public '$B/Restricted' 2>&1 | grep -q 'Permission denied'"
check "the class did not change" sh -c "git --git-dir '$(ledger demo)' show main:Restricted/.coffre-folder | grep -qx 'class restricted'"
check "mkdir, then a class without admin on a folder not yet sent: EACCES at once" \
	sh -c "mkdir '$B/Restricted/Fresh' && setfattr -n user.coffre.class -v confidential '$B/Restricted/Fresh' 2>&1 | grep -q 'Permission denied'"
check_eq "the new folder keeps the class it inherits" restricted "$(xattr "$B/Restricted/Fresh" user.coffre.class)"
check "the assistant deposits in a restricted folder" cp "$T/p.txt" "$B/Restricted/from-bob.txt"
check "and it reaches the server" client_sync bob
check "the folder reached the server restricted" sh -c "git --git-dir '$(ledger demo)' show main:Restricted/Fresh/.coffre-folder | grep -qx 'class restricted'"

# --- a grant shows the folder without remounting, a revoke hides it -------
check "coffre grant on a path of the owner's mount" cf alice grant "$A/Restricted" carol deposit
check "the folder appears on the intervenant's mount within seconds" wait_for test -d "$C/Restricted"
check "the intervenant deposits there" cp "$T/r.txt" "$C/Restricted/from-carol.txt"
check "and it reaches the server" client_sync carol
check "the owner sees the deposit" wait_for test -f "$A/Restricted/from-carol.txt"
check_eq "attributed to the intervenant" carol "$(xattr "$A/Restricted/from-carol.txt" user.coffre.deposited_by)"
check "the intervenant opens the owner's document" cmp "$T/r.txt" "$C/Restricted/r.txt"
check "and opens it again" cat "$C/Restricted/r.txt"
reads_seen() { cf alice log "$A/Restricted" --reads | grep -c "carol .*read v1  /Restricted/r.txt" | grep -qx 2; }
check "the owner lists the intervenant's two reads (coffre log --reads)" wait_for reads_seen
cf alice log "$A/Restricted" --reads >"$T/reads.txt" 2>&1
check "each read has the server's time and the drive's" \
	grep -qE '^20[0-9-]+T[0-9:]+Z  carol +read v1  /Restricted/r.txt  \(client time 20[0-9-]+T[0-9:]+Z\)$' "$T/reads.txt"
cf alice log "$A/Restricted" >"$T/log.txt" 2>&1
check "coffre log shows the grant by the owner" grep -qE " alice +grant +/Restricted  \(carol deposit\)" "$T/log.txt"
check "and the intervenant's deposit" grep -qE " carol +deposit +/Restricted/from-carol.txt v1" "$T/log.txt"
check_eq "coffre log --by lists what the intervenant deposited (besides joining)" "deposit /Restricted/from-carol.txt" \
	"$(cf alice log "$A" --by carol | awk '$3 != "member-accept" { print $3, $4 }')"
cf carol log "$C/Restricted" >"$T/log-carol.txt" 2>&1
check "the intervenant's log of the folder names nothing else" \
	sh -c "! grep -q -e Confidential -e root.txt '$T/log-carol.txt'"
check "an intervenant cannot list reads" sh -c "! '$COFFRE' --config '$(cfg_of carol)' log '$C/Restricted' --reads 2>/dev/null"

check "coffre revoke" cf alice revoke "$A/Restricted" carol
check "the folder leaves the intervenant's mount" wait_for sh -c "! test -e '$C/Restricted'"
check_eq "the intervenant's root is back to the public folder" "Public" "$(ls_of "$C")"

check "coffre delegate-admin" cf alice delegate-admin demo bob
check "the assistant may now class a folder" wait_for setfattr -n user.coffre.class -v public "$B/Restricted"
check "coffre delegate-admin --revoke" cf alice delegate-admin demo bob --revoke
check "the ledger passes git fsck" git --git-dir "$(ledger demo)" fsck --strict

done_testing
