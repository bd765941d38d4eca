#!/bin/bash
# A deposit that names the same chunk many times, sent with curl: each
# distinct chunk is read and decrypted once per batch, and a batch may
# repeat at most 1024 references, so 80 bytes of JSON per reference can no
# longer buy gigabytes of hashing without bound.  Content checks still
# hold on the repeated path (a wrong sha256 or size is refused).
. "$TESTLIB/common.sh"
require_cmd curl python3

server_start
user_add alice
space_create demo alice
S=/v1/spaces/demo
json=(-H "Content-Type: application/json")
python3 -c 'import json,sys; print(json.dumps({"login": "alice", "password": open(sys.argv[1]).read().strip()}))' \
	"$T/pw-alice" >"$T/login.json"
code=$(api "$T/r" POST /v1/login "${json[@]}" --data-binary "@$T/login.json")
check_eq "login" 200 "$code"
auth=(-H "Authorization: Bearer $(json_get "$T/r" 'j["token"]')")
R=$(ledger demo)

put_chunk()
{
	api "$T/r" PUT "$S/chunks/$(sha256sum "$1" | cut -c1-64)" "${auth[@]}" \
		-H "Content-Type: application/octet-stream" --data-binary "@$1"
}
head -c 4M /dev/urandom >"$T/x"
head -c 3000 /dev/urandom >"$T/y"
check_eq "upload a 4 MiB chunk X" 201 "$(put_chunk "$T/x")"
check_eq "upload a 3000-byte chunk Y" 201 "$(put_chunk "$T/y")"

# deposit PATH PATTERN [BADHASH]: a commit naming the chunks of PATTERN
# ("x*512", "xy*3", ...) in order; sha256 right unless BADHASH.
deposit()
{
	python3 - "$T" "$1" "$2" "${3:-}" >"$T/commit.json" <<'PY'
import hashlib, json, sys
t, path, pat, bad = sys.argv[1:5]
unit, times = pat.split("*")
data = {c: open(f"{t}/{c}", "rb").read() for c in set(unit)}
ids = {c: hashlib.sha256(d).hexdigest() for c, d in data.items()}
h = hashlib.sha256()
refs = []
size = 0
for _ in range(int(times)):
    for c in unit:
        h.update(data[c])
        refs.append([ids[c], len(data[c])])
        size += len(data[c])
digest = "0" * 64 if bad else h.hexdigest()
json.dump({"ops": [{"op": "deposit", "path": path, "size": size,
                    "sha256": digest, "chunks": refs}]}, sys.stdout)
PY
	api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" \
		-w '%{http_code} %{time_total}' --data-binary "@$T/commit.json"
}

head0=$(git --git-dir "$R" rev-parse main)
read -r -a _w <<<"$(deposit /zeros.bin 'x*1026')"; set -- "${_w[@]}"
check_eq "X named 1026 times (1025 repeats, over the cap): 413" 413 "$1"
check "... the message says why" grep -q 'repeat a chunk of the batch' "$T/r"
check_eq "... nothing was committed" "$head0" "$(git --git-dir "$R" rev-parse main)"

read -r -a _w <<<"$(deposit /big.bin 'x*512')"; set -- "${_w[@]}"
check_eq "X named 512 times (2 GiB from $(stat -c %s "$T/commit.json") bytes of JSON): 200" 200 "$1"
echo "a 2 GiB deposit of one repeated 4 MiB chunk took $2 s" | diag
check_eq "... its manifest names 512 chunks" 512 \
	"$(git --git-dir "$R" show main:big.bin | grep -c '^chunk ')"

read -r -a _w <<<"$(deposit /bad.bin 'x*300' bad)"; set -- "${_w[@]}"
check_eq "the same with a wrong sha256: 422" 422 "$1"
check_eq "... code hash_mismatch" hash_mismatch "$(json_get "$T/r" 'j["error"]["code"]')"

read -r -a _w <<<"$(deposit /xy.bin 'xyy*5')"; set -- "${_w[@]}"
check_eq "X and Y interleaved (X Y Y, five times): 200" 200 "$1"
check_eq "... size of xy.bin" $((5 * (4194304 + 6000))) \
	"$(git --git-dir "$R" show main:xy.bin | sed -n 's/^size //p')"

python3 - "$T" >"$T/commit.json" <<'PY'
import hashlib, json, sys
t = sys.argv[1]
y = open(f"{t}/y", "rb").read()
i = hashlib.sha256(y).hexdigest()
json.dump({"ops": [{"op": "deposit", "path": "/lie.bin", "size": 6002,
                    "sha256": hashlib.sha256(y + y).hexdigest(),
                    "chunks": [[i, 3000], [i, 3002]]}]}, sys.stdout)
PY
code=$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" --data-binary "@$T/commit.json")
check_eq "a repeated chunk announced with another size: 422" 422 "$code"

python3 - >"$T/commit.json" <<'PY'
import json, sys
refs = [["%064x" % (i // 2), 1] for i in range(2 * 1100)]
json.dump({"ops": [{"op": "deposit", "path": "/many.bin", "size": len(refs),
                    "sha256": "0" * 64, "chunks": refs}]}, sys.stdout)
PY
read -r -a _w <<<"$(api "$T/r" POST "$S/commits" "${auth[@]}" "${json[@]}" -w '%{http_code} %{time_total}' --data-binary "@$T/commit.json")"; set -- "${_w[@]}"
check_eq "1100 absent chunks named twice each: 413 before any chunk is looked up" 413 "$1"
check_eq "none of the refused batches committed" 2 \
	"$(git --git-dir "$R" rev-list --count "$head0"..main)"

done_testing
