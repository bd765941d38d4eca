#!/bin/bash
# Ending a space, as its owner and its members meet it: `coffre space
# terminate` makes it read-only on every endpoint and on the drive (reads
# and exports go on, every write is refused), only an owner may do it or
# take it back with `coffre space reactivate`; `coffred expire` leaves it
# alone during the grace and destroys it after, with a certificate that
# ssh-keygen and openssl verify, and no byte of the space (a marker in a
# name and in a content) anywhere in the data directory.
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"
require_fuse
require_cmd curl jq ssh-keygen openssl

MARK=zq7marker9k
server_init
user_add alice
user_add carol
space_create demo alice
space_create other alice
server_start
client_login alice alice
client_login carol carol
check "carol is an intervenant" cf alice member add demo carol --role intervenant
check "and joins" cf carol accept demo

client_mount alice demo
A=$(mnt_of alice)
mkdir "$A/Shared"
echo "content $MARK inside" >"$A/Shared/note-$MARK.txt"
echo "kept" >"$A/letter.txt"
check "the drive sends it" client_sync alice
check "carol may deposit in /Shared" cf alice grant "$A/Shared" carol deposit
client_umount alice
TA=$(token_of alice)
TC=$(token_of carol)
req() { api "$T/r.json" "$@"; }

# --- only an owner ends it -----------------------------------------------------
check_eq "carol (intervenant) may not terminate: exit 1" 1 \
	"$(cf carol space terminate demo >/dev/null 2>&1; echo $?)"
check_eq "with curl: 403" 403 "$(req POST /v1/spaces/demo/terminate -H "Authorization: Bearer $TC")"
check_eq "a stranger's space answers as absent (404)" 404 \
	"$(req POST /v1/spaces/nosuch/terminate -H "Authorization: Bearer $TA")"
cf alice space terminate demo >"$T/out" 2>&1
check_eq "alice terminates demo: exit 0" 0 "$?"
check "it says until when it may be taken back" grep -q "destroyed after 20" "$T/out"
check_eq "again: 409" 409 "$(req POST /v1/spaces/demo/terminate -H "Authorization: Bearer $TA")"
check "the space says so" sh -c '[ "$(curl -sS --cacert "$1" -H "Authorization: Bearer $2" "$3/v1/spaces/demo" | jq -r ".terminated_at != null and .destroyed_after != null")" = true ]' _ "$CACERT" "$TA" "$URL"
check "a ledger commit records it" sh -c 'git --git-dir "$1" log -1 --format=%s main | grep -qx "terminate space demo"' _ "$(ledger demo)"

# --- read-only everywhere --------------------------------------------------------
client_mount alice demo
check "the drive still reads" grep -q kept "$A/letter.txt"
check "a new file is refused" sh -c '! echo x >"$1/new.txt" 2>/dev/null' _ "$A"
check "an overwrite is refused" sh -c '! echo y >"$1/letter.txt" 2>/dev/null' _ "$A"
check "mkdir is refused" sh -c '! mkdir "$1/D" 2>/dev/null' _ "$A"
check "rm is refused" sh -c '! rm "$1/letter.txt" 2>/dev/null' _ "$A"
check "mv is refused" sh -c '! mv "$1/letter.txt" "$1/l2.txt" 2>/dev/null' _ "$A"
check_eq "and the letter is unchanged" kept "$(cat "$A/letter.txt")"
client_umount alice
check_eq "curl: a commit is refused (403)" 403 \
	"$(req POST /v1/spaces/demo/commits -H "Authorization: Bearer $TA" -d '{"ops":[{"op":"mkdir","path":"/X"}]}')"
check "saying the space is terminated" jq -e '.error.message | test("terminated")' "$T/r.json"
check_eq "a chunk upload (403)" 403 \
	"$(req PUT "/v1/spaces/demo/chunks/$(printf x | sha256sum | cut -c1-64)" -H "Authorization: Bearer $TA" --data-binary x)"
check_eq "a grant (403)" 403 \
	"$(req POST /v1/spaces/demo/grants -H "Authorization: Bearer $TA" -d '{"path":"/Shared","login":"carol","right":"read"}')"
check_eq "a listing still works (200)" 200 "$(req GET '/v1/spaces/demo/tree?path=/' -H "Authorization: Bearer $TA")"
check "and states no deposit right any more" jq -e '.rights == ["read"]' "$T/r.json"
check_eq "carol still reads /Shared (200)" 200 \
	"$(req GET '/v1/spaces/demo/tree?path=/Shared' -H "Authorization: Bearer $TC")"
check_eq "but carol's root stays hidden as before (a traverse, 200)" 200 \
	"$(req GET '/v1/spaces/demo/tree?path=/' -H "Authorization: Bearer $TC")"
check "without the letter" sh -c '! grep -q letter "$1"' _ "$T/r.json"
check "the owner exports it" cf alice export demo --out "$T/exp" --quiet
check "the export holds the note" grep -q "$MARK" "$T/exp/files/Shared/note-$MARK.txt"
check "the other space is untouched (a commit, 200)" sh -c \
	'[ "$(curl -sS -o /dev/null -w "%{http_code}" --cacert "$1" -H "Authorization: Bearer $2" -X POST -d "{\"ops\":[{\"op\":\"mkdir\",\"path\":\"/Y\"}]}" "$3/v1/spaces/other/commits")" = 200 ]' \
	_ "$CACERT" "$TA" "$URL"

# --- reactivated, then terminated for good -------------------------------------------
check_eq "carol may not reactivate (403)" 403 \
	"$(req POST /v1/spaces/demo/reactivate -H "Authorization: Bearer $TC")"
check "alice reactivates" cf alice space reactivate demo
check_eq "reactivating an active space: 409" 409 \
	"$(req POST /v1/spaces/demo/reactivate -H "Authorization: Bearer $TA")"
client_mount alice demo
check "writes work again" sh -c 'echo again >"$1/again.txt"' _ "$A"
check "and reach the server" client_sync alice
client_umount alice
check_eq "the journal has both" "space-terminate space-reactivate" \
	"$(index_sql "SELECT kind FROM events WHERE space = 'demo' AND kind LIKE 'space-%' ORDER BY seq" | tr '\n' ' ' | sed 's/ $//')"
check "alice terminates it again" cf alice space terminate demo

check "before: the marker is in the data directory (its name in the journal)" \
	test "$(index_sql "SELECT count(*) FROM events WHERE path LIKE '%$MARK%'")" -gt 0
"$COFFRED" expire "$D" >"$T/exp1" 2>&1
check_eq "coffred expire within the grace: exit 0" 0 "$?"
check "it destroys nothing" grep -q "^0 spaces destroyed, 0 failed" "$T/exp1"
check "the space is there" test -d "$D/spaces/demo"
LATER=$(date -u -d '+91 days' +%Y-%m-%dT%H:%M:%SZ)
check_eq "a bad --now: exit 1" 1 "$("$COFFRED" expire "$D" --now tomorrow >/dev/null 2>&1; echo $?)"
"$COFFRED" expire "$D" --now "$LATER" >"$T/exp2" 2>&1
check_eq "past the grace (--now +91 days): exit 0" 0 "$?"
check "it destroys demo, and demo only" sh -c 'grep -q "^destroyed demo " "$1" && grep -q "^1 spaces destroyed, 0 failed" "$1"' _ "$T/exp2"
CERT=$(sed -n 's/.*certificate \(.*\)$/\1/p' "$T/exp2")
check "the certificate is kept" test -s "$CERT"
check "it names the space, its owner, the dates and the ledger head" sh -c \
	'grep -qx "space demo" "$1" && grep -qx "owners alice" "$1" && grep -q "^terminated-at 20" "$1" && grep -Eq "^ledger-head [0-9a-f]{40}$" "$1" && grep -Eq "^chunks [1-9]" "$1"' _ "$CERT"
"$COFFRED" key export "$D" --allowed-signers >"$T/allowed_signers"
check "ssh-keygen verifies its signature" sh -c \
	'ssh-keygen -Y verify -f "$1" -I coffred@localhost -n coffre-statement -s "$2.sig" <"$2"' _ "$T/allowed_signers" "$CERT"
"$COFFRED" key export "$D" --tsa-ca >"$T/tsa-ca.pem"
check "openssl verifies its timestamp" \
	openssl ts -verify -data "$CERT" -in "$CERT.tsr" -CAfile "$T/tsa-ca.pem"
check "a changed certificate does not verify" sh -c \
	'sed "s/owners alice/owners mallory/" "$2" >"$3"; ! ssh-keygen -Y verify -f "$1" -I coffred@localhost -n coffre-statement -s "$2.sig" <"$3" 2>/dev/null' \
	_ "$T/allowed_signers" "$CERT" "$T/forged"
check "the space's directory is gone" test ! -e "$D/spaces/demo"
check_eq "no index row of it is left" "0 0 0 0" \
	"$(index_sql "SELECT count(*) FROM spaces WHERE name = 'demo'") $(index_sql "SELECT count(*) FROM members WHERE space = 'demo'") $(index_sql "SELECT count(*) FROM versions WHERE space = 'demo'") $(index_sql "SELECT count(*) FROM events WHERE space = 'demo'")"
check "no byte of it in the data directory (the marker)" \
	sh -c '! grep -rqa "$1" "$2"' _ "$MARK" "$D"
check_eq "its members get 404" 404 "$(req GET /v1/spaces/demo -H "Authorization: Bearer $TA")"
check "coffre spaces no longer lists it" sh -c '! "$1" --config "$2" spaces | grep -qw demo' _ "$COFFRE" "$(cfg_of alice)"
check "the other space lives on" sh -c '"$1" --config "$2" spaces | grep -qw other' _ "$COFFRE" "$(cfg_of alice)"
check "carol, left with no space, is closed" grep -q "^account carol closed: no space left" "$T/exp2"
check_eq "her password logs in no more (401)" 401 \
	"$(api "$T/r.json" POST /v1/login -d "{\"login\":\"carol\",\"password\":\"$(cat "$T/pw-carol")\"}")"
check_eq "and her session is ended (401)" 401 "$(req GET /v1/spaces -H "Authorization: Bearer $TC")"
check_eq "alice, who owns another space, is not" 200 \
	"$(api "$T/r.json" POST /v1/login -d "{\"login\":\"alice\",\"password\":\"$(cat "$T/pw-alice")\"}")"
check_eq "the destruction is an event of the server's chain" 1 \
	"$(index_sql "SELECT count(*) FROM events WHERE kind = 'space-destroyed'")"
check "a second expire finds nothing" sh -c '"$1" expire "$2" --now "$3" | grep -q "^0 spaces destroyed"' _ "$COFFRED" "$D" "$LATER"
check "fsck is clean" "$COFFRED" fsck "$D"
server_stop
done_testing
