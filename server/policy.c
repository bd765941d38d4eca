/*
 * The decision table of the access rules (docs/architecture.md, "Access"),
 * written as code that reads like the service's terms, one role at a time.
 * tests/unit/test_policy.c walks every combination of the inputs against a
 * table of its own.
 */
#include "server/policy.h"

#include <errno.h>
#include <string.h>

#define R POLICY_BIT(AUTH_READ)
#define D POLICY_BIT(AUTH_DEPOSIT)
#define O POLICY_BIT(AUTH_ORGANIZE)
#define A POLICY_BIT(AUTH_ADMIN)

static enum policy_grant stronger(enum policy_grant a, enum policy_grant b)
{
	return a > b ? a : b;
}

void policy_at_root(enum folder_class own, enum policy_grant grant_here,
		    struct policy_at *out)
{
	out->class = own;
	out->grant = grant_here;
}

void policy_descend(const struct policy_at *parent, enum folder_class own,
		    enum policy_grant grant_here, struct policy_at *out)
{
	if (own == FOLDER_CLASS_CONFIDENTIAL) {
		/* Grants above a confidential folder stop at it. */
		out->class = FOLDER_CLASS_CONFIDENTIAL;
		out->grant = grant_here;
		return;
	}
	out->class = parent->class == FOLDER_CLASS_CONFIDENTIAL ?
			     FOLDER_CLASS_CONFIDENTIAL :
			     own;
	out->grant = stronger(parent->grant, grant_here);
}

/*
 * The owner's rights but administration, and confidential folders only
 * where an owner opened them (read only, or with deposit).  Delegated
 * administration stops at confidential folders: only an owner grants,
 * reclasses or declassifies there, so only an owner opens one.
 */
static unsigned assistant_rights(const struct policy_input *in)
{
	unsigned r;

	if (in->class != FOLDER_CLASS_CONFIDENTIAL)
		r = R | D | O;
	else if (in->grant == POLICY_GRANT_DEPOSIT)
		r = R | D | O;
	else if (in->grant == POLICY_GRANT_READ)
		r = R;
	else
		r = 0;
	/* Delegated administration covers what the assistant can see,
	 * outside confidential folders. */
	if (r && in->admin_delegated && in->class != FOLDER_CLASS_CONFIDENTIAL)
		r |= A;
	return r;
}

/* Read on public folders; more only folder by folder, never organize. */
static unsigned intervenant_rights(const struct policy_input *in)
{
	unsigned r = in->class == FOLDER_CLASS_PUBLIC ? R : 0;

	if (in->grant == POLICY_GRANT_READ)
		r |= R;
	else if (in->grant == POLICY_GRANT_DEPOSIT)
		r |= R | D;
	return r;
}

unsigned policy_rights(const struct policy_input *in)
{
	switch (in->role) {
	case POLICY_ROLE_OWNER:
		return R | D | O | A;
	case POLICY_ROLE_ASSISTANT:
		return assistant_rights(in);
	case POLICY_ROLE_INTERVENANT:
		return intervenant_rights(in);
	case POLICY_ROLE_TRUSTED:
		/* Read on the designated folder, whatever its class. */
		return in->grant != POLICY_GRANT_NONE ? R : 0;
	case POLICY_ROLE_NONE:
		break;
	}
	return 0;
}

int policy_decide(const struct policy_input *in, enum auth_right right)
{
	unsigned r = policy_rights(in);

	if (r & POLICY_BIT(right))
		return 0;
	return (r & R) ? -EACCES : -ENOENT;
}

static const char *const role_names[] = {
	[POLICY_ROLE_NONE] = "none",
	[POLICY_ROLE_OWNER] = "owner",
	[POLICY_ROLE_ASSISTANT] = "assistant",
	[POLICY_ROLE_INTERVENANT] = "intervenant",
	[POLICY_ROLE_TRUSTED] = "trusted",
};

int policy_role_parse(const char *s, enum policy_role *out)
{
	for (int i = POLICY_ROLE_OWNER; i <= POLICY_ROLE_TRUSTED; i++)
		if (s && !strcmp(s, role_names[i])) {
			*out = (enum policy_role)i;
			return 0;
		}
	return -EINVAL;
}

const char *policy_role_name(enum policy_role r)
{
	return (unsigned)r <= POLICY_ROLE_TRUSTED ? role_names[r] : "none";
}

int policy_grant_parse(const char *s, enum policy_grant *out)
{
	if (s && !strcmp(s, "read"))
		*out = POLICY_GRANT_READ;
	else if (s && !strcmp(s, "deposit"))
		*out = POLICY_GRANT_DEPOSIT;
	else
		return -EINVAL;
	return 0;
}

const char *policy_grant_name(enum policy_grant g)
{
	return g == POLICY_GRANT_DEPOSIT ? "deposit" :
	       g == POLICY_GRANT_READ	 ? "read" :
					   "none";
}

const char *policy_right_name(enum auth_right r)
{
	switch (r) {
	case AUTH_READ:
		return "read";
	case AUTH_DEPOSIT:
		return "deposit";
	case AUTH_ORGANIZE:
		return "organize";
	case AUTH_ADMIN:
		return "admin";
	}
	return "unknown";
}
