#!/bin/bash
# E-signatures of document versions: the login makes a signing key sealed
# under the password and gets a certificate from coffred's CA; `coffre
# sign --as author|recipient` signs the version (detached CMS, CAdES-BES)
# and coffred checks, timestamps and records it in the ledger.  Stock
# `openssl cms -verify` accepts it with the CA, `openssl ts -verify` its
# token; a wrong password, another version's bytes or a signature moved to
# another version are refused.
. "$TESTLIB/common.sh"
require_cmd openssl base64

server_init
user_add alice
user_add bob
space_create demo alice
server_start
client_login a alice
client_mount a demo
A=$(mnt_of a)
R=$(ledger demo)
CA=$(cfg_of a)

check "login made a sealed signing key" test -s "$CA/userkey.enc"
check "the key file holds no PEM in clear" sh -c '! grep -q "PRIVATE KEY" "$1"' _ "$CA/userkey.enc"
check "login got a certificate for alice" \
	sh -c 'openssl x509 -in "$1" -noout -subject | grep -q "CN *= *alice"' _ "$CA/usercert.pem"
check "the certificate is issued by coffred's CA" \
	openssl verify -CAfile "$CA/user-ca.pem" -purpose smimesign "$CA/usercert.pem"
check "its key usage is digitalSignature and nonRepudiation" \
	sh -c 'openssl x509 -in "$1" -noout -ext keyUsage | grep -q "Digital Signature, Non Repudiation"' _ "$CA/usercert.pem"

printf 'the agreement, v1\n' >"$A/deal.txt"
check "sync" client_sync a
printf 'the agreement, v2 (final)\n' >"$A/deal.txt"
check "sync" client_sync a

check "coffre sign --as author" \
	cf a sign "$A/deal.txt" --as author --password-file "$T/pw-alice"
check "coffre sign --as recipient of version 1" \
	cf a sign "$A/deal.txt" --as recipient --version 1 --password-file "$T/pw-alice"
printf 'wrong\n' >"$T/badpw"
check "coffre sign with a wrong password fails and says so" \
	sh -c '! "$1" --config "$2" sign "$3" --as author --password-file "$4" 2>"$5" && grep -q "wrong password" "$5"' \
	_ "$COFFRE" "$CA" "$A/deal.txt" "$T/badpw" "$T/err"
check "coffre sign refuses a role other than author or recipient" \
	sh -c '! "$1" --config "$2" sign "$3" --as witness --password-file "$4" 2>/dev/null' \
	_ "$COFFRE" "$CA" "$A/deal.txt" "$T/pw-alice"

cf a signatures "$A/deal.txt" >"$T/sigs" 2>&1
check "coffre signatures lists alice as author of v2" grep -q $'^v2\talice\tauthor\t' "$T/sigs"
cf a signatures "$A/deal.txt" --version 1 >"$T/sigs1" 2>&1
check "coffre signatures --version 1 lists alice as recipient" grep -q $'^v1\talice\trecipient\t' "$T/sigs1"

# Stock tools on what the ledger holds.
G() { git --git-dir "$R" "$@"; }
doc=$(xattr "$A/deal.txt" user.coffre.doc_id)
check "the ledger records the signature on refs/coffre/signatures" \
	sh -c 'git --git-dir "$1" ls-tree -r --name-only refs/coffre/signatures | grep -qx "$2/2/alice.author.p7s"' _ "$R" "$doc"
G show "refs/coffre/signatures:$doc/2/alice.author.p7s" >"$T/sig.p7s"
G show "refs/coffre/signatures:$doc/2/alice.author.tsr" >"$T/sig.tsr"
cp "$A/deal.txt" "$T/deal-v2"
"$COFFRED" key export "$D" --tsa-ca >"$T/ca.pem"
check "openssl cms -verify accepts the signature of v2 with the CA" \
	openssl cms -verify -binary -inform DER -in "$T/sig.p7s" -content "$T/deal-v2" \
	-CAfile "$T/ca.pem" -purpose smimesign -out /dev/null
check "the signature is CAdES-BES (signing-certificate-v2) and names v2 as author" \
	sh -c 'openssl cms -cmsout -print -inform DER -in "$1" >"$2" && grep -q "id-smime-aa-signingCertificateV2" "$2" && grep -q "coffre-doc $3 version 2 sha256 .* as author" "$2"' \
	_ "$T/sig.p7s" "$T/sig.print" "$doc"
check "openssl ts -verify accepts the signature's timestamp" \
	openssl ts -verify -data "$T/sig.p7s" -in "$T/sig.tsr" -CAfile "$T/ca.pem"
printf 'the agreement, v1\n' >"$T/deal-v1"
check "openssl cms -verify refuses v1's bytes for v2's signature" \
	sh -c '! openssl cms -verify -binary -inform DER -in "$1" -content "$2" -CAfile "$3" -purpose smimesign -out /dev/null 2>/dev/null' \
	_ "$T/sig.p7s" "$T/deal-v1" "$T/ca.pem"
check "git verify-commit accepts the signature's ledger commit" \
	sh -c '"$1" key export "$2" --allowed-signers >"$3" && git --git-dir "$4" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$3" verify-commit refs/coffre/signatures' \
	_ "$COFFRED" "$D" "$T/signers" "$R"

# A signature moved to another version is refused by the server.
TOKEN=$(token_of a)
post_sig() { # VERSION ROLE FILE
	python3 -c 'import base64,json,sys; print(json.dumps({"role": sys.argv[1], "cms": base64.b64encode(open(sys.argv[2],"rb").read()).decode()}))' "$2" "$3" >"$T/body.json"
	api "$T/resp.json" POST "/v1/spaces/demo/docs/$doc/versions/$1/signatures" \
		-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		--data-binary @"$T/body.json"
}
check_eq "v2's signature posted for v1 is refused (422)" 422 "$(post_sig 1 author "$T/sig.p7s")"
check "...saying it names another version" grep -q "another version" "$T/resp.json"
check_eq "v2's author signature posted as recipient is refused (422)" 422 "$(post_sig 2 recipient "$T/sig.p7s")"
check_eq "the same signature posted again for v2 is accepted (201)" 201 "$(post_sig 2 author "$T/sig.p7s")"
printf 'garbage' >"$T/garbage"
check_eq "a non-CMS signature is refused (422)" 422 "$(post_sig 2 author "$T/garbage")"
client_login b bob
check_eq "bob is no member: no such space (404)" 404 \
	"$(TOKEN=$(token_of b) post_sig 2 author "$T/sig.p7s")"

# A version whose content is identical to another's: the binding still
# tells them apart.
printf 'the agreement, v1\n' >"$A/deal.txt"
check "sync (v3 = v1's bytes)" client_sync a
G show "refs/coffre/signatures:$doc/1/alice.recipient.p7s" >"$T/sig1.p7s"
check_eq "v1's signature posted for v3 (same bytes) is refused (422)" 422 "$(post_sig 3 recipient "$T/sig1.p7s")"

client_umount a
server_stop
check "coffred fsck passes with signatures" "$COFFRED" fsck "$D"
check "...and counts them" \
	sh -c '"$1" fsck "$2" demo | grep -q " [1-9][0-9]* signatures: ok"' _ "$COFFRED" "$D"

# In the ledger itself: v2's signature filed as v1's (in a copy of the
# data directory, which holds every store of one node only).
one_node || done_testing
rm -rf "$T/moved"
cp -a "$D" "$T/moved"
XR=$T/moved/spaces/demo/ledger.git
blob=$(git --git-dir="$XR" rev-parse "refs/coffre/signatures:$doc/2/alice.author.p7s")
GIT_INDEX_FILE=$T/idx git --git-dir="$XR" read-tree refs/coffre/signatures
GIT_INDEX_FILE=$T/idx git --git-dir="$XR" update-index --cacheinfo "100644,$blob,$doc/1/alice.recipient.p7s"
tree=$(GIT_INDEX_FILE=$T/idx git --git-dir="$XR" write-tree)
c=$(git --git-dir="$XR" commit-tree "$tree" -p refs/coffre/signatures -m tamper)
git --git-dir="$XR" update-ref refs/coffre/signatures "$c"
"$COFFRED" fsck "$T/moved" >"$T/fsck.out" 2>&1
check_eq "fsck fails on a signature moved to another version" 1 $?
check "...naming it" grep -q "signature $doc v1 by alice as recipient: .*another version" "$T/fsck.out"
check "...and the unsigned commit that moved it" grep -q "commit $c is not signed" "$T/fsck.out"
done_testing
