#!/bin/bash
# commit_bench.sh COFFRED [N] [OTHER_COFFRED]: the time of one commit of N
# deposits (default 2000, each a 1-byte file) against a fresh coffred, and
# the same with OTHER_COFFRED (for example a build from before a change) in
# the same run.  It measures what a batch costs the server: ledger, index,
# deposit statements.  Needs curl, python3 and bc.
set -eu

run()
{
	local c=$1 n=$2 t d p u k tok h s e
	t=$(mktemp -d "${TMPDIR:-/tmp}/coffre-commit-bench.XXXXXX")
	d=$t/data
	"$c" init "$d" --listen 127.0.0.1:0 >/dev/null 2>&1
	head -c 12 /dev/urandom | base64 >"$t/pw"
	"$c" user add "$d" alice --phone +33612345678 --password-file "$t/pw" >/dev/null 2>&1
	"$c" space create "$d" demo --owner alice --plan none >/dev/null 2>&1
	"$c" serve "$d" --port-file "$t/port" >"$t/log" 2>&1 &
	p=$!
	while [ ! -s "$t/port" ]; do sleep 0.1; done
	u=https://127.0.0.1:$(cat "$t/port")
	k=(--cacert "$d/tls/cert.pem" -sS)
	tok=$(curl "${k[@]}" -X POST -d "{\"login\":\"alice\",\"password\":\"$(cat "$t/pw")\"}" \
		"$u/v1/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
	printf x >"$t/chunk"
	h=$(sha256sum <"$t/chunk" | cut -d' ' -f1)
	curl "${k[@]}" -o /dev/null -X PUT --data-binary @"$t/chunk" \
		-H "Authorization: Bearer $tok" "$u/v1/spaces/demo/chunks/$h"
	python3 - "$n" "$h" >"$t/body" <<'PY'
import json, sys
n, h = int(sys.argv[1]), sys.argv[2]
ops = [{"op": "mkdir", "path": "/d"}] + [
    {"op": "deposit", "path": "/d/f%d" % i, "size": 1, "sha256": h,
     "chunks": [[h, 1]]} for i in range(n)]
print(json.dumps({"client": "bench", "ops": ops}))
PY
	s=$(date +%s.%N)
	st=$(curl "${k[@]}" -o /dev/null -w '%{http_code}' -X POST --data-binary @"$t/body" \
		-H "Authorization: Bearer $tok" "$u/v1/spaces/demo/commits")
	e=$(date +%s.%N)
	kill "$p"
	wait "$p" || true
	rm -rf "$t"
	printf '%-50s %6d deposits  HTTP %s  %.2f s\n' "$c" "$n" "$st" "$(echo "$e - $s" | bc)"
}

[ $# -ge 1 ] || { echo "usage: $0 COFFRED [N] [OTHER_COFFRED]" >&2; exit 2; }
run "$1" "${2:-2000}"
[ $# -lt 3 ] || run "$3" "${2:-2000}"
