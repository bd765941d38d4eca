#!/bin/bash
# The provable-history endpoints under hostile input: certificates,
# signatures and proofs refuse what is malformed, oversized, unknown or
# not the caller's with a clear status, and record nothing.
. "$TESTLIB/common.sh"
require_cmd curl openssl

server_init
user_add alice
user_add eve
space_create demo alice
server_start
client_login a alice
client_login e eve
client_mount a demo
A=$(mnt_of a)
printf 'content\n' >"$A/f.txt"
check "sync" client_sync a
doc=$(xattr "$A/f.txt" user.coffre.doc_id)
TA=$(token_of a)
TE=$(token_of e)
V=/v1/spaces/demo/docs/$doc/versions

st() { # OUT METHOD PATH TOKEN [curl args]
	local out=$1 m=$2 p=$3 tok=$4
	shift 4
	api "$out" "$m" "$p" ${tok:+-H "Authorization: Bearer $tok"} "$@"
}
json() { st "$T/r" POST "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3"; }

check_eq "POST /v1/certs without a token: 401" 401 "$(json /v1/certs "" '{"csr":"x"}')"
check_eq "POST /v1/certs with no csr: 400" 400 "$(json /v1/certs "$TA" '{}')"
check_eq "POST /v1/certs with a csr that is no CSR: 400" 400 "$(json /v1/certs "$TA" '{"csr":"hello"}')"
big=$(head -c 20000 /dev/zero | tr '\0' A)
check_eq "POST /v1/certs with a 20 KB csr: 400" 400 "$(json /v1/certs "$TA" "{\"csr\":\"$big\"}")"
openssl req -new -newkey ed25519 -nodes -keyout "$T/ed.key" -subj /CN=alice -out "$T/ed.csr" 2>/dev/null
check_eq "POST /v1/certs for an Ed25519 key: 400" 400 \
	"$(json /v1/certs "$TA" "$(python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read()}))' "$T/ed.csr")")"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/p.key" -subj /CN=root -out "$T/p.csr" 2>/dev/null
check_eq "POST /v1/certs for a P-256 key asking CN=root: 201" 201 \
	"$(json /v1/certs "$TE" "$(python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read()}))' "$T/p.csr")")"
check "...the certificate says CN=eve, the caller, not what was asked" \
	sh -c 'python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[\"certificate\"])" "$1" | openssl x509 -noout -subject | grep -q "CN *= *eve"' _ "$T/r"

check_eq "GET proof of version 1: 200" 200 "$(st "$T/r" GET "$V/1/proof" "$TA")"
check_eq "GET proof of version 2 (none): 404" 404 "$(st "$T/r" GET "$V/2/proof" "$TA")"
check_eq "GET proof of version 0: 404" 404 "$(st "$T/r" GET "$V/0/proof" "$TA")"
check_eq "GET proof of an unknown document: 404" 404 \
	"$(st "$T/r" GET "/v1/spaces/demo/docs/0123456789abcdef0123456789abcdef/versions/1/proof" "$TA")"
check_eq "GET proof with a bad document id: 404" 404 "$(st "$T/r" GET "/v1/spaces/demo/docs/nothex/versions/1/proof" "$TA")"
check_eq "GET proof as a non-member: 404 (the space does not exist for her)" 404 "$(st "$T/r" GET "$V/1/proof" "$TE")"
check_eq "GET proof without a token: 401" 401 "$(st "$T/r" GET "$V/1/proof" "")"
check_eq "POST proof: 405" 405 "$(st "$T/r" POST "$V/1/proof" "$TA")"
check_eq "GET an unknown word after the version: 404" 404 "$(st "$T/r" GET "$V/1/nope" "$TA")"

check_eq "POST signature without role: 400" 400 "$(json "$V/1/signatures" "$TA" '{"cms":"AAAA"}')"
check_eq "POST signature as witness: 400" 400 "$(json "$V/1/signatures" "$TA" '{"role":"witness","cms":"AAAA"}')"
check_eq "POST signature whose cms is not base64: 400" 400 "$(json "$V/1/signatures" "$TA" '{"role":"author","cms":"@@@"}')"
big=$(head -c 600000 /dev/zero | tr '\0' A)
printf '{"role":"author","cms":"%s"}' "$big" >"$T/big.json"
check_eq "POST signature of 450 KB: 400" 400 \
	"$(st "$T/r" POST "$V/1/signatures" "$TA" -H 'Content-Type: application/json' --data-binary @"$T/big.json")"
check_eq "POST signature that is no CMS: 422" 422 "$(json "$V/1/signatures" "$TA" '{"role":"author","cms":"AAAAAAAA"}')"
check_eq "POST signature for version 5 (none): 404" 404 "$(json "$V/5/signatures" "$TA" '{"role":"author","cms":"AAAAAAAA"}')"
check_eq "GET signatures: none yet" 200 "$(st "$T/r" GET "$V/1/signatures" "$TA")"
check "...an empty list" grep -q '"signatures": *\[\]' "$T/r"
R=$(ledger demo)
check "nothing was recorded on refs/coffre/signatures" \
	sh -c '! git --git-dir "$1" rev-parse -q --verify refs/coffre/signatures' _ "$R"

client_umount a
server_stop
check "coffred fsck passes" "$COFFRED" fsck "$D"
check "coffred fsck with too many arguments: usage (2)" \
	sh -c '"$1" fsck "$2" demo extra 2>/dev/null; test $? = 2' _ "$COFFRED" "$D"
check "coffred key export on a directory that is not a data directory: error" \
	sh -c '! "$1" key export "$2" --tsa-ca 2>/dev/null && test ! -e "$2/keys"' _ "$COFFRED" "$T/client-a"
done_testing
