/*
 * The whole decision table of server/policy.c: every role x class x grant
 * x delegation x right, checked against a table written out here by hand
 * from the service's terms (docs/architecture.md, "Access").  Each row
 * gives the rights as letters: R read, D deposit, O organize, A admin;
 * one column without delegated administration, one with.
 */
#include "server/policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/tap.h"

#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))

struct row {
	const char *role, *class, *grant;
	const char *plain, *delegated;
};

static const struct row table[] = {
	/* owner: everything, everywhere */
	{ "owner", "public", "none", "RDOA", "RDOA" },
	{ "owner", "public", "read", "RDOA", "RDOA" },
	{ "owner", "public", "deposit", "RDOA", "RDOA" },
	{ "owner", "restricted", "none", "RDOA", "RDOA" },
	{ "owner", "restricted", "read", "RDOA", "RDOA" },
	{ "owner", "restricted", "deposit", "RDOA", "RDOA" },
	{ "owner", "confidential", "none", "RDOA", "RDOA" },
	{ "owner", "confidential", "read", "RDOA", "RDOA" },
	{ "owner", "confidential", "deposit", "RDOA", "RDOA" },
	/* assistant: owner's rights but admin (unless delegated) and
	 * confidential folders (unless opened) */
	{ "assistant", "public", "none", "RDO", "RDOA" },
	{ "assistant", "public", "read", "RDO", "RDOA" },
	{ "assistant", "public", "deposit", "RDO", "RDOA" },
	{ "assistant", "restricted", "none", "RDO", "RDOA" },
	{ "assistant", "restricted", "read", "RDO", "RDOA" },
	{ "assistant", "restricted", "deposit", "RDO", "RDOA" },
	{ "assistant", "confidential", "none", "", "" },
	{ "assistant", "confidential", "read", "R", "R" },
	{ "assistant", "confidential", "deposit", "RDO", "RDO" },
	/* intervenant: read on public; grants add read or deposit */
	{ "intervenant", "public", "none", "R", "R" },
	{ "intervenant", "public", "read", "R", "R" },
	{ "intervenant", "public", "deposit", "RD", "RD" },
	{ "intervenant", "restricted", "none", "", "" },
	{ "intervenant", "restricted", "read", "R", "R" },
	{ "intervenant", "restricted", "deposit", "RD", "RD" },
	{ "intervenant", "confidential", "none", "", "" },
	{ "intervenant", "confidential", "read", "R", "R" },
	{ "intervenant", "confidential", "deposit", "RD", "RD" },
	/* trusted person: read on the designated folder only */
	{ "trusted", "public", "none", "", "" },
	{ "trusted", "public", "read", "R", "R" },
	{ "trusted", "public", "deposit", "R", "R" },
	{ "trusted", "restricted", "none", "", "" },
	{ "trusted", "restricted", "read", "R", "R" },
	{ "trusted", "restricted", "deposit", "R", "R" },
	{ "trusted", "confidential", "none", "", "" },
	{ "trusted", "confidential", "read", "R", "R" },
	{ "trusted", "confidential", "deposit", "R", "R" },
	/* not a member: nothing */
	{ "none", "public", "none", "", "" },
	{ "none", "public", "read", "", "" },
	{ "none", "public", "deposit", "", "" },
	{ "none", "restricted", "none", "", "" },
	{ "none", "restricted", "read", "", "" },
	{ "none", "restricted", "deposit", "", "" },
	{ "none", "confidential", "none", "", "" },
	{ "none", "confidential", "read", "", "" },
	{ "none", "confidential", "deposit", "", "" },
};

static const struct {
	enum auth_right right;
	char letter;
} rights[] = {
	{ AUTH_READ, 'R' },
	{ AUTH_DEPOSIT, 'D' },
	{ AUTH_ORGANIZE, 'O' },
	{ AUTH_ADMIN, 'A' },
};

static enum policy_role role_of(const char *s)
{
	enum policy_role r = POLICY_ROLE_NONE;

	if (strcmp(s, "none") && policy_role_parse(s, &r) < 0)
		abort();
	return r;
}

static enum policy_grant grant_of(const char *s)
{
	enum policy_grant g = POLICY_GRANT_NONE;

	if (strcmp(s, "none") && policy_grant_parse(s, &g) < 0)
		abort();
	return g;
}

static void check_row(const struct row *w, int delegated)
{
	const char *want = delegated ? w->delegated : w->plain;
	struct policy_input in = {
		.role = role_of(w->role),
		.admin_delegated = delegated,
		.grant = grant_of(w->grant),
	};
	int can_read = strchr(want, 'R') != NULL;

	if (folder_class_parse(w->class, &in.class) < 0)
		abort();
	for (size_t i = 0; i < ARRAY_N(rights); i++) {
		int has = strchr(want, rights[i].letter) != NULL;
		int expect = has ? 0 : can_read ? -EACCES : -ENOENT;

		is_int(policy_decide(&in, rights[i].right), expect,
		       "%s %s grant=%s%s: %s", w->role, w->class, w->grant,
		       delegated ? " delegated" : "",
		       policy_right_name(rights[i].right));
	}
}

/*
 * Inheritance at check time: /HR confidential, /HR/2024 states
 * restricted, /HR/2024/Pay states confidential again; /Pub public.
 */
static void check_descend(void)
{
	struct policy_at root, hr, y, pay, pub;

	policy_at_root(FOLDER_CLASS_RESTRICTED, POLICY_GRANT_DEPOSIT, &root);
	policy_descend(&root, FOLDER_CLASS_CONFIDENTIAL, POLICY_GRANT_NONE,
		       &hr);
	ok(hr.class == FOLDER_CLASS_CONFIDENTIAL &&
		   hr.grant == POLICY_GRANT_NONE,
	   "a grant on / does not open a confidential folder below it");
	policy_descend(&hr, FOLDER_CLASS_RESTRICTED, POLICY_GRANT_NONE, &y);
	ok(y.class == FOLDER_CLASS_CONFIDENTIAL && y.grant == POLICY_GRANT_NONE,
	   "a restricted folder inside a confidential one is confidential");
	policy_descend(&hr, FOLDER_CLASS_PUBLIC, POLICY_GRANT_NONE, &y);
	ok(y.class == FOLDER_CLASS_CONFIDENTIAL, "so is a public one");
	policy_descend(&hr, FOLDER_CLASS_RESTRICTED, POLICY_GRANT_READ, &y);
	ok(y.grant == POLICY_GRANT_READ,
	   "a grant inside the confidential folder counts");
	policy_descend(&root, FOLDER_CLASS_CONFIDENTIAL, POLICY_GRANT_READ,
		       &hr);
	policy_descend(&hr, FOLDER_CLASS_RESTRICTED, POLICY_GRANT_NONE, &y);
	ok(y.grant == POLICY_GRANT_READ,
	   "a grant on the confidential folder covers its sub-folders");
	policy_descend(&y, FOLDER_CLASS_CONFIDENTIAL, POLICY_GRANT_NONE, &pay);
	ok(pay.class == FOLDER_CLASS_CONFIDENTIAL &&
		   pay.grant == POLICY_GRANT_NONE,
	   "but not a confidential folder nested in them");
	policy_descend(&root, FOLDER_CLASS_PUBLIC, POLICY_GRANT_NONE, &pub);
	ok(pub.class == FOLDER_CLASS_PUBLIC &&
		   pub.grant == POLICY_GRANT_DEPOSIT,
	   "elsewhere the own class and the grants above");
}

int main(void)
{
	enum policy_role r;
	enum policy_grant g;

	/* The table covers every combination once. */
	is_int((long long)ARRAY_N(table), 5 * 3 * 3,
	       "table has every role x class x grant");
	for (size_t i = 0; i < ARRAY_N(table); i++)
		for (int d = 0; d <= 1; d++)
			check_row(&table[i], d);

	check_descend();
	ok(policy_role_parse("admin", &r) == -EINVAL, "unknown role refused");
	ok(policy_role_parse(NULL, &r) == -EINVAL, "no role refused");
	ok(policy_grant_parse("organize", &g) == -EINVAL,
	   "organize is not a grant");
	ok(!strcmp(policy_role_name(POLICY_ROLE_INTERVENANT), "intervenant"),
	   "role names round-trip");
	return tap_done();
}
