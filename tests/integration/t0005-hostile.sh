#!/bin/bash
# Bad input, through the drive or straight at the server, gets a clear error
# and changes nothing: the ledger head stays put and the server keeps serving.
. "$TESTLIB/common.sh"
require_cmd curl

demo_mounts a b
R=$(ledger demo)

check "set up d/ok.txt" sh -c 'mkdir "$1/d" && echo ok >"$1/d/ok.txt"' _ "$A"
check "sync" client_sync a
check "B sees d/ok.txt" wait_for test -f "$B/d/ok.txt"
head0=$(git --git-dir "$R" rev-parse main)
count0=$(git --git-dir "$R" rev-list --count main)

# --- through the drive ------------------------------------------------------
long=$(printf 'n%.0s' $(seq 256))
bad_utf8=$(printf 'bad\377\376name')
ctl=$(printf 'ctl\001name')

# fails_with MSG CMD...: CMD fails and its stderr matches MSG.
fails_with()
{
	local msg=$1
	shift
	! "$@" 2>"$T/err" && grep -Eq "$msg" "$T/err"
}

check "mkdir .versions fails" fails_with . mkdir "$A/.versions"
check "creating d/.versions fails" fails_with . touch "$A/d/.versions"
check "creating .coffre-folder fails" fails_with . touch "$A/.coffre-folder"
check "creating d/.coffre-folder fails" fails_with . touch "$A/d/.coffre-folder"
check "mkdir d/.coffre-folder fails" fails_with . mkdir "$A/d/.coffre-folder"
check "creating .coffre-access fails" fails_with . touch "$A/.coffre-access"
check "a 256-byte name fails with ENAMETOOLONG" \
	fails_with 'File name too long' touch "$A/d/$long"
check "a 256-byte folder name fails with ENAMETOOLONG" \
	fails_with 'File name too long' mkdir "$A/$long"
check "a name with invalid UTF-8 fails" fails_with . touch "$A/d/$bad_utf8"
check "a name with a control character fails" fails_with . touch "$A/d/$ctl"
check "renaming onto a reserved name fails" \
	fails_with . mv "$A/d/ok.txt" "$A/d/.coffre-folder"
check "a 255-byte name is fine" touch "$A/d/${long:1}"
check "sync" client_sync a
check "B sees the 255-byte name" wait_for test -e "$B/d/${long:1}"
check "the failed rename left ok.txt in place" test -f "$A/d/ok.txt"
check_eq "no sync error is reported" "" "$(xattr "$A" user.coffre.error)"
check_eq "B: the root lists only d" "d" "$(ls -A "$B")"
check_eq "B: d lists ok.txt and the 255-byte name" \
	"$(printf '%s\n' "${long:1}" ok.txt | sort)" "$(ls -A "$B/d" | sort)"
check "the ledger has no reserved or invalid name" \
	sh -c '! git --git-dir "$1" ls-tree -r --name-only main | grep -v "\.coffre-folder$" | grep -Evx "\.coffre-access|d/ok.txt|d/n{255}"' _ "$R"
check_eq "the ledger got one commit, the valid name" $((count0 + 1)) \
	"$(git --git-dir "$R" rev-list --count main)"
head0=$(git --git-dir "$R" rev-parse main)

# --- straight at the server -------------------------------------------------
tok=$(token_of a)
auth=(-H "Authorization: Bearer $tok")
json=(-H "Content-Type: application/json")
S=/v1/spaces/demo

code=$(api "$T/r" GET "$S/tree?path=/d/../etc" "${auth[@]}")
check_eq "a path with .. in a query: 400" 400 "$code"
check_eq "... code bad_name" bad_name "$(json_get "$T/r" 'j["error"]["code"]')"
check "... with a message" test -n "$(json_get "$T/r" 'j["error"]["message"]')"

code=$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" \
	--data '{"client":"t","ops":[{"op":"mkdir","path":"/d/../x"}]}')
check_eq "a commit with .. in a path: 400" 400 "$code"
check_eq "... code bad_name" bad_name "$(json_get "$T/r" 'j["error"]["code"]')"

code=$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" \
	--data '{"client":"t","ops":[{"op":"mkdir","path":"/.coffre-folder"}]}')
check_eq "a commit creating a reserved name: 400 bad_name" "400 bad_name" \
	"$code $(json_get "$T/r" 'j["error"]["code"]')"

code=$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" \
	--data '{"client":"t","ops":[{"op":"mkdir","path":"/.coffre-access"}]}')
check_eq "a commit creating .coffre-access: 400 bad_name" "400 bad_name" \
	"$code $(json_get "$T/r" 'j["error"]["code"]')"

code=$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" \
	--data '{"client":"t","ops":[')
check_eq "malformed JSON: 400" 400 "$code"
check_eq "... code bad_request" bad_request "$(json_get "$T/r" 'j["error"]["code"]')"

code=$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" \
	--data '{"client":"t","ops":[{"op":"frobnicate","path":"/x"}]}')
check_eq "an unknown operation: 400 bad_request" "400 bad_request" \
	"$code $(json_get "$T/r" 'j["error"]["code"]')"

deep=$(printf '[%.0s' $(seq 40))$(printf ']%.0s' $(seq 40))
code=$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" \
	--data "{\"client\":\"t\",\"ops\":[],\"x\":$deep}")
check "JSON nested 40 deep is refused (400 or 413)" \
	grep -Eqx '400|413' <<<"$code"

# Announce 1000 bytes, send 10, hang up.
cat >"$T/trunc.py" <<'PY'
import socket, ssl, sys
port, cafile, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw) as s:
        s.sendall(("POST /v1/spaces/demo/commits HTTP/1.1\r\n"
                   "Host: 127.0.0.1\r\n"
                   "Authorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\n"
                   "Content-Length: 1000\r\n\r\n" % token).encode())
        s.sendall(b'{"client":')
PY
check "a truncated body: the client can send it and hang up" \
	python3 "$T/trunc.py" "$PORT" "$CACERT" "$tok"
code=$(api "$T/r" GET "$S" "${auth[@]}")
check_eq "the server still answers after the truncated body" 200 "$code"

# Oversized: a JSON body over 32 MiB, a chunk over 4 MiB.
python3 -c 'import sys; sys.stdout.write("{\"client\":\"t\",\"ops\":[],\"pad\":\"" + "a" * (33 << 20) + "\"}")' >"$T/big.json"
code=$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" \
	--data-binary "@$T/big.json")
check_eq "a 33 MiB JSON body: 413" 413 "$code"
head -c 5M /dev/urandom >"$T/bigchunk"
bigid=$(sha256_of "$T/bigchunk")
code=$(api "$T/r" PUT "$S/chunks/$bigid" "${auth[@]}" \
	-H "Content-Type: application/octet-stream" --data-binary "@$T/bigchunk")
check_eq "a 5 MiB chunk: 413" 413 "$code"
code=$(api "$T/r" GET "$S" "${auth[@]}")
check_eq "the server still answers after the oversized bodies" 200 "$code"

# A chunk whose bytes do not hash to its id.
head -c 4096 /dev/urandom >"$T/c1"
head -c 4096 /dev/urandom >"$T/c2"
id2=$(sha256_of "$T/c2")
code=$(api "$T/r" PUT "$S/chunks/$id2" "${auth[@]}" \
	-H "Content-Type: application/octet-stream" --data-binary "@$T/c1")
check_eq "a chunk that does not match its id: 422" 422 "$code"
check_eq "... code hash_mismatch" hash_mismatch "$(json_get "$T/r" 'j["error"]["code"]')"
code=$(api "$T/r" POST "$S/chunks/missing" "${auth[@]}" "${json[@]}" \
	--data "{\"chunks\":[\"$id2\"]}")
check_eq "chunks/missing answers 200" 200 "$code"
check_eq "chunks/missing still lists the rejected chunk" "['$id2']" \
	"$(json_get "$T/r" 'j["missing"]')"
code=$(api "$T/r" GET "$S/chunks/$id2" "${auth[@]}")
check_eq "the rejected chunk cannot be fetched: 404" 404 "$code"
code=$(api "$T/r" PUT "$S/chunks/$id2" "${auth[@]}" \
	-H "Content-Type: application/octet-stream" --data-binary "@$T/c2")
check "the right bytes are then accepted (201)" test "$code" = 201
code=$(api "$T/r" GET "$S/chunks/$id2" "${auth[@]}")
check "... and served back" cmp "$T/c2" "$T/r"
code=$(api "$T/r" PUT "$S/chunks/not-a-hash" "${auth[@]}" --data-binary "@$T/c2")
check "a chunk id that is not 64 hex is refused (400 or 404)" \
	grep -Eqx '400|404' <<<"$code"

# A commit naming a chunk the server does not hold.
code=$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" \
	--data "{\"client\":\"t\",\"ops\":[{\"op\":\"deposit\",\"path\":\"/d/x\",\"size\":4096,\"sha256\":\"$(sha256_of "$T/c1")\",\"chunks\":[[\"$(sha256_of "$T/c1")\",4096]]}]}")
check_eq "a deposit of a missing chunk: 409 chunk_missing" "409 chunk_missing" \
	"$code $(json_get "$T/r" 'j["error"]["code"]')"
# A deposit whose announced sha256 is wrong.
code=$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" \
	--data "{\"client\":\"t\",\"ops\":[{\"op\":\"deposit\",\"path\":\"/d/x\",\"size\":4096,\"sha256\":\"$bigid\",\"chunks\":[[\"$id2\",4096]]}]}")
check_eq "a deposit whose sha256 does not match: 422 hash_mismatch" \
	"422 hash_mismatch" "$code $(json_get "$T/r" 'j["error"]["code"]')"
# An atomic batch: a good op then a failing one commits nothing.
code=$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" \
	--data '{"client":"t","ops":[{"op":"mkdir","path":"/new"},{"op":"rmdir","path":"/d"}]}')
check_eq "a batch whose 2nd op fails: 409 conflict" "409 conflict" \
	"$code $(json_get "$T/r" 'j["error"]["code"]')"
check_eq "... naming op 1" 1 "$(json_get "$T/r" 'j["error"]["op"]')"

# Authentication.
code=$(api "$T/r" GET /v1/spaces)
check_eq "no token: 401" 401 "$code"
check_eq "... code unauthorized" unauthorized "$(json_get "$T/r" 'j["error"]["code"]')"
code=$(api "$T/r" GET /v1/spaces -H "Authorization: Bearer $(printf '0%.0s' $(seq 64))")
check_eq "an unknown token: 401" 401 "$code"
code=$(api "$T/r" POST /v1/login "${json[@]}" --data '{"login":"alice","password":"wrong"}')
check_eq "a wrong password at /v1/login: 401" 401 "$code"

echo wrong-password >"$T/pw-wrong"
mkdir -p "$T/client-w"
cf w login "$URL" alice --password-file "$T/pw-wrong" --cacert "$CACERT" \
	>"$T/login.out" 2>"$T/login.err"
check_eq "coffre login with a wrong password exits 1" 1 "$?"
check "... with a clear message" \
	grep -Eiq 'password|unauthori|denied|login' "$T/login.err"
check "... and saves no session" test ! -e "$(cfg_of w)/session.json"
cf w login "$URL" alice --password-file "$T/pw-alice" >"$T/login.out" 2>"$T/login.err"
check "coffre login without --cacert refuses the self-signed certificate" \
	test $? -ne 0
check "... and saves no session" test ! -e "$(cfg_of w)/session.json"

# --- after all of it --------------------------------------------------------
check "the server is still running" proc_alive "$SERVER_PID"
code=$(api "$T/r" GET "$S/tree?path=/d" "${auth[@]}")
check_eq "the server still answers tree requests" 200 "$code"
check_eq "the ledger head is unchanged" "$head0" "$(git --git-dir "$R" rev-parse main)"
check "git fsck --strict passes" git --git-dir "$R" fsck --strict --no-progress
check_eq "B: the root still lists only d" "d" "$(ls -A "$B")"
check "the drive still works: a new file reaches B" \
	sh -c 'echo after >"$1/d/after.txt"' _ "$A"
check "sync" client_sync a
check "B sees it" wait_for test -f "$B/d/after.txt"

check "coffred fsck: chunks, ledger, index, signatures and timestamps agree" \
	"$COFFRED" fsck "$D"
done_testing
