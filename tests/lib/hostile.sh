# shellcheck shell=bash
# The world of the adversarial access tests (t0080-t0089): one space "demo"
# with every role, against a tree of public, restricted and confidential
# folders nested several deep, and the curl helpers to attack it.
#
#   alice owner            bob assistant          dan delegated assistant
#   carol intervenant (deposit on /Pub/Drop, read on /Dept/Open)
#   ivan intervenant without grants               tom trusted (/HR/2024)
#   rem a removed member   oscar owner of another space, "other"
#   bob: deposit on /Dept/Open; dan: read on /Dept/Open
#
#   /Pub (public) p.txt, Drop/, Deep/Deeper/q.txt
#   /Dept (restricted) d.txt
#   /Dept/Secret (confidential) plan.txt, Inner/x.txt
#   /Dept/Open (confidential) o.txt, Sub/s.txt, Sub/Vault (confidential) v.txt
#   /HR (restricted) 2024/pay.txt
#   /Conf (confidential) c.txt
#   root.txt
. "${TESTLIB:-$(dirname "$0")/../lib}/common.sh"

. "${TESTLIB:-$(dirname "$0")/../lib}/api.sh"

# dep PATH [HASH SIZE]: a deposit op of the content uploaded by world_build.
dep()
{
	echo "{\"op\": \"deposit\", \"path\": \"$1\", \"size\": ${3:-12}, \"sha256\": \"${2:-$H1}\", \"chunks\": [[\"${2:-$H1}\", ${3:-12}]]}"
}

mk()
{
	if [ -n "${2:-}" ]; then
		echo "{\"op\": \"mkdir\", \"path\": \"$1\", \"class\": \"$2\"}"
	else
		echo "{\"op\": \"mkdir\", \"path\": \"$1\"}"
	fi
}

mv_op()
{
	echo "{\"op\": \"move\", \"from\": \"$1\", \"to\": \"$2\"}"
}

# A secret content only alice deposits (in /Dept/Secret/plan.txt).
secret_content()
{
	printf 'the plan: sell the company\n' >"$T/secret"
	HS=$(sha256sum "$T/secret" | cut -c1-64)
	HS_SIZE=$(stat -c %s "$T/secret")
}

grant()
{
	req alice POST /v1/spaces/demo/grants \
		-d "{\"path\": \"$1\", \"login\": \"$2\", \"right\": \"$3\"}"
	[ "$CODE" = 200 ] || diag "grant $1 $2 $3: $CODE $BODY"
}

world_build()
{
	local u

	server_init
	for u in alice bob dan carol ivan tom rem oscar; do
		user_add $u
	done
	space_create demo alice
	space_create other oscar
	server_start
	for u in alice bob dan carol ivan tom rem oscar; do
		login $u
	done
	for u in bob:assistant dan:assistant carol:intervenant ivan:intervenant \
		tom:trusted rem:assistant; do
		req alice POST /v1/spaces/demo/members \
			-d "{\"login\": \"${u%%:*}\", \"role\": \"${u#*:}\"}"
		[ "$CODE" = 202 ] || diag "member $u: $CODE $BODY"
		# An added person is invited; they join by accepting.
		req "${u%%:*}" POST /v1/invitations/demo
		[ "$CODE" = 200 ] || diag "accept $u: $CODE $BODY"
	done
	req alice POST /v1/spaces/demo/delegation -d '{"login": "dan", "admin": true}'
	printf 'hello world\n' >"$T/f1"
	H1=$(sha256sum "$T/f1" | cut -c1-64)
	secret_content
	req alice PUT "/v1/spaces/demo/chunks/$H1" --data-binary "@$T/f1"
	req alice PUT "/v1/spaces/demo/chunks/$HS" --data-binary "@$T/secret"
	commit alice "[$(mk /Pub public), $(mk /Pub/Drop), $(mk /Pub/Deep),
		$(mk /Pub/Deep/Deeper), $(dep /Pub/p.txt), $(dep /Pub/Deep/Deeper/q.txt),
		$(mk /Dept), $(dep /Dept/d.txt),
		$(mk /Dept/Secret confidential), $(dep /Dept/Secret/plan.txt "$HS" "$HS_SIZE"),
		$(mk /Dept/Secret/Inner), $(dep /Dept/Secret/Inner/x.txt),
		$(mk /Dept/Open confidential), $(dep /Dept/Open/o.txt),
		$(mk /Dept/Open/Sub), $(dep /Dept/Open/Sub/s.txt),
		$(mk /Dept/Open/Sub/Vault confidential), $(dep /Dept/Open/Sub/Vault/v.txt),
		$(mk /HR), $(mk /HR/2024), $(dep /HR/2024/pay.txt),
		$(mk /Conf confidential), $(dep /Conf/c.txt), $(dep /root.txt)]"
	[ "$CODE" = 200 ] || { not_ok "the owner builds the tree: $CODE $BODY"; done_testing; }
	grant /Pub/Drop carol deposit
	grant /Dept/Open carol read
	grant /Dept/Open bob deposit
	grant /Dept/Open dan read
	grant /HR/2024 tom read
	req alice DELETE /v1/spaces/demo/members/rem
	[ "$CODE" = 200 ] || diag "remove rem: $CODE $BODY"
}
