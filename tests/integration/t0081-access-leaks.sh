#!/bin/bash
# Confidentiality against a hostile member (issue cases 2, 4, 7), with curl:
# chunks exist only through documents the caller may read; the listing's
# cursor never names a hidden entry; a hidden thing answers as an absent
# one, status and text.  Then every read endpoint of docs/protocol.md tried
# by every role on a confidential document: none answers anything but 404.
. "${TESTLIB:-$(dirname "$0")/../lib}/hostile.sh"

world_build

# --- case 2: chunks through documents --------------------------------------
req alice GET "/v1/spaces/demo/chunks/$HS"
expect "the owner reads the chunk of plan.txt" 200
for u in bob dan carol ivan tom; do
	req $u GET "/v1/spaces/demo/chunks/$HS"
	check_eq "case 2: $u cannot read a chunk only confidential documents hold" \
		"404 no chunk '$HS'" "$CODE $(jv .error.message)"
done
ABSENT=$(printf 'never deposited\n' | sha256sum | cut -c1-64)
req bob GET "/v1/spaces/demo/chunks/$ABSENT"
check_eq "... which is what an absent chunk answers" "404 no chunk '$ABSENT'" \
	"$CODE $(jv .error.message)"
for u in bob carol; do
	req $u GET "/v1/spaces/demo/chunks/$H1"
	expect "$u reads a chunk of a document they may read" 200
done
req tom GET "/v1/spaces/demo/chunks/$H1"
expect "the trusted person reads the chunk of /HR/2024/pay.txt" 200
for u in rem oscar; do
	req $u GET "/v1/spaces/demo/chunks/$H1"
	expect "$u (no member) reads no chunk" 404
done
req bob POST /v1/spaces/demo/chunks/missing -d "{\"chunks\": [\"$HS\", \"$H1\", \"$ABSENT\"]}"
check_eq "case 2: chunks/missing says a confidential chunk is missing" \
	"$HS $ABSENT" "$(jv '.missing | join(" ")')"
req alice POST /v1/spaces/demo/chunks/missing -d "{\"chunks\": [\"$HS\", \"$H1\", \"$ABSENT\"]}"
check_eq "... to the owner it is held" "$ABSENT" "$(jv '.missing | join(" ")')"
req bob PUT "/v1/spaces/demo/chunks/$HS" --data-binary "@$T/secret"
check_eq "case 2: uploading it is answered as a new chunk" 201 "$CODE"
req bob PUT "/v1/spaces/demo/chunks/$H1" --data-binary "@$T/f1"
check_eq "a chunk bob may read is answered as held" 200 "$CODE"
req bob GET "/v1/spaces/demo/chunks/$HS"
expect "case 2: the upload opened nothing" 404
check_eq "the owner still reads the confidential chunk, byte for byte" 200 \
	"$(curl -sS --max-time 20 --cacert "$CACERT" -o "$T/secret.back" \
		-w '%{http_code}' -H "Authorization: Bearer ${TOK[alice]}" \
		"$URL/v1/spaces/demo/chunks/$HS")"
check "... the very bytes, stored again in their place" cmp "$T/secret" "$T/secret.back"
check "coffred fsck is clean after the chunk was stored again" "$COFFRED" fsck "$D"
commit bob "[$(dep /Dept/guess.txt "$HS" "$HS_SIZE")]"
expect "bob deposits the same content himself (deduplicated on the server)" 200
req bob GET "/v1/spaces/demo/chunks/$HS"
expect "now it is his document's chunk: he reads it" 200
commit alice '[{"op": "unlink", "path": "/Dept/guess.txt"}]'
req bob GET "/v1/spaces/demo/chunks/$HS"
expect "a chunk of a document filed nowhere is the owner's only" 404

# --- case 4: the cursor names no hidden entry ------------------------------
commit alice "[$(mk /Dept/A), $(mk /Dept/B confidential), $(mk /Dept/C confidential), $(mk /Dept/D)]"
CUR= ; PAGES= ; LEAK=
for _ in $(seq 20); do
	req bob GET "/v1/spaces/demo/tree?path=/Dept&limit=1${CUR:+&after=$CUR}"
	PAGES="$PAGES $(jv '[.entries[].name] | join(",")')"
	CUR=$(jv '.next // empty')
	case " $CUR " in *" B "*|*" C "*|*Secret*) LEAK="$LEAK $CUR" ;; esac
	[ -n "$CUR" ] || break
done
check_eq "case 4: paging by one lists only what bob may see" " A D Open d.txt" "$PAGES"
check_eq "case 4: no cursor named a hidden folder" "" "$LEAK"
req carol GET "/v1/spaces/demo/tree?path=/Dept&limit=1"
check_eq "case 4: a page of one after hidden entries still holds one" \
	"Open Open" "$(jv '[.entries[].name] | join(",")') $(jv .next)"
req carol GET "/v1/spaces/demo/tree?path=/Dept&limit=1&after=Open"
check_eq "case 4: the next page reads past the hidden rest and ends" \
	"0 null" "$(jv '.entries | length') $(jv .next)"

# --- case 7: hidden answers as absent --------------------------------------
same()
{
	local title=$1 hidden=$2 absent=$3 u=$4 m=$5
	shift 5
	local a b
	req "$u" "$m" "${hidden}" "$@"
	a="$CODE $(jv .error.code) $(jv .error.message | sed "s#/Dept/Secret#PATH#g")"
	req "$u" "$m" "${absent}" "$@"
	b="$CODE $(jv .error.code) $(jv .error.message | sed "s#/Dept/Nothing#PATH#g")"
	check_eq "case 7: $title" "$b" "$a"
}
for u in bob dan carol ivan tom; do
	same "$u: tree of a hidden folder" "/v1/spaces/demo/tree?path=/Dept/Secret" \
		"/v1/spaces/demo/tree?path=/Dept/Nothing" $u GET
	same "$u: stat of a hidden document" "/v1/spaces/demo/stat?path=/Dept/Secret/plan.txt" \
		"/v1/spaces/demo/stat?path=/Dept/Nothing/plan.txt" $u GET
	same "$u: tree below a hidden folder" "/v1/spaces/demo/tree?path=/Dept/Secret/Inner" \
		"/v1/spaces/demo/tree?path=/Dept/Nothing/Inner" $u GET
done
req bob POST /v1/spaces/demo/commits -d "{\"ops\": [$(dep /Dept/Secret/x.txt)]}"
check_eq "case 7: deposit into a hidden folder" "409 no such file or folder '/Dept/Secret/x.txt'" \
	"$CODE $(jv .error.message)"
req bob POST /v1/spaces/demo/commits -d "{\"ops\": [$(dep /Dept/Nothing/x.txt)]}"
check_eq "... an absent one (same words, path aside)" "409 no such file or folder '/Dept/Nothing/x.txt'" \
	"$CODE $(jv .error.message)"

# --- every read endpoint, every role, on a confidential document -----------
req alice GET "/v1/spaces/demo/stat?path=/Dept/Secret/plan.txt"
SDOC=$(jv .doc_id)
for u in bob dan carol ivan tom rem oscar; do
	for ep in "stat?path=/Dept/Secret/plan.txt" "tree?path=/Dept/Secret" \
		"docs/$SDOC/versions" "docs/$SDOC/versions/1" "docs/$SDOC/versions/1/proof" \
		"docs/$SDOC/versions/1/signatures" "chunks/$HS"; do
		req $u GET "/v1/spaces/demo/$ep"
		check_eq "$u GET $ep: 404" 404 "$CODE"
		check_eq "$u GET $ep: no secret in the answer" "" \
			"$(printf '%s' "$BODY" | grep -o -e 'sell the company' -e manifest -e deposited -e '"chunks"' -e '"path"' | head -1)"
	done
	req $u GET "/v1/spaces/demo/tree?path=/Dept"
	check_eq "$u: /Dept lists no Secret" "" "$(printf '%s' "$BODY" | grep -o Secret | head -1)"
done

# --- case 8: members shows a delegated assistant no confidential grant -----
req alice GET /v1/spaces/demo/members
check_eq "the owner sees every grant" \
	"/Dept/Open:bob /Dept/Open:carol /Dept/Open:dan /HR/2024:tom /Pub/Drop:carol" \
	"$(jv '[.grants[] | "\(.path):\(.login)"] | sort | join(" ")')"
req dan GET /v1/spaces/demo/members
check_eq "case 8: the delegated assistant sees no grant inside a confidential folder" \
	"/HR/2024:tom /Pub/Drop:carol" "$(jv '[.grants[] | "\(.path):\(.login)"] | sort | join(" ")')"
req bob GET /v1/spaces/demo/members
expect "a plain assistant lists no members" 403

# --- case 7 and 5: the journal ---------------------------------------------
# "last" and "more" too: counting the hidden rows would tell they exist.
for u in bob dan ivan; do
	req $u GET "/v1/spaces/demo/events?path=/Dept/Secret"
	a="$CODE $(jv '.events | length') $(jv .last) $(jv .more)"
	req $u GET "/v1/spaces/demo/events?path=/Dept/Nothing"
	check_eq "case 7: $u: the journal of a hidden folder answers as an absent one's" \
		"$CODE $(jv '.events | length') $(jv .last) $(jv .more)" "$a"
	req $u GET "/v1/spaces/demo/events?path=/Dept/Secret/plan.txt"
	a="$CODE $(jv '.events | length') $(jv .last) $(jv .more)"
	req $u GET "/v1/spaces/demo/events?path=/Dept/Nothing/plan.txt"
	check_eq "case 7: $u: the journal of a hidden document answers as an absent one's" \
		"$CODE $(jv '.events | length') $(jv .last) $(jv .more)" "$a"
done
req bob GET /v1/spaces/demo/changes
SINCE=$(jv .head)
commit alice "[$(mv_op /Dept/Secret /Dept/S2), {\"op\": \"unlink\", \"path\": \"/Conf/c.txt\"}, {\"op\": \"rmdir\", \"path\": \"/Conf\"}]"
expect "the owner renames /Dept/Secret and removes /Conf" 200
for u in bob dan carol ivan tom; do
	req $u GET "/v1/spaces/demo/events?path=/"
	check_eq "case 5: $u's journal names nothing of the renamed or removed confidential folders" "" \
		"$(printf '%s' "$BODY" | jq -r '.events[]? | "\(.path) \(.detail) \(.doc_id)"' |
			grep -e Secret -e S2 -e plan.txt -e Conf -e "$SDOC" | head -1)"
	req $u GET "/v1/spaces/demo/events?path=/Dept/Secret"
	check_eq "case 5: $u: the old path's journal holds nothing" "0" "$(jv '.events | length // 0')"
	req $u GET "/v1/spaces/demo/changes?since=$SINCE&timeout=0"
	check_eq "case 5: $u's change feed names no renamed or removed confidential folder" "" \
		"$(jv '.changed[]?' | grep -e Secret -e S2 -e Conf | head -1)"
done
req alice GET "/v1/spaces/demo/events?path=/Dept/Secret"
check "the owner still reads the old folder's journal" test "$(jv '.events | length')" -gt 0

done_testing
