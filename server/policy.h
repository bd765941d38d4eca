/*
 * The access rules of a space, as one pure decision: given who the caller
 * is in the space (role, delegated administration), the class of the
 * folder in question and the strongest grant the caller holds on it or an
 * ancestor, which rights does the caller have there?  No I/O, no state:
 * auth.c gathers the inputs from the index and the ledger, and every
 * endpoint goes through it (see docs/architecture.md, "Access").
 *
 * A document has the rights of the folder holding it.
 */
#ifndef COFFRE_SERVER_POLICY_H
#define COFFRE_SERVER_POLICY_H

#include "common/manifest.h"
#include "server/auth.h"

enum policy_role {
	POLICY_ROLE_NONE, /* not a member */
	POLICY_ROLE_OWNER,
	POLICY_ROLE_ASSISTANT,
	POLICY_ROLE_INTERVENANT,
	POLICY_ROLE_TRUSTED,
};

enum policy_grant {
	POLICY_GRANT_NONE,
	POLICY_GRANT_READ,
	POLICY_GRANT_DEPOSIT, /* includes read */
};

/* Bit of a right in a rights mask. */
#define POLICY_BIT(right) (1u << (unsigned)(right))
#define POLICY_ALL                                          \
	(POLICY_BIT(AUTH_READ) | POLICY_BIT(AUTH_DEPOSIT) | \
	 POLICY_BIT(AUTH_ORGANIZE) | POLICY_BIT(AUTH_ADMIN))

struct policy_input {
	enum policy_role role;
	int admin_delegated;	 /* assistants only; ignored for others */
	enum folder_class class; /* effective class of the folder */
	enum policy_grant grant; /* strongest grant on the folder's ancestry */
};

/*
 * Where a caller stands on one folder, computed from "/" down, one folder
 * at a time, from what each folder states (its own class in
 * ".coffre-folder") and the caller's grant exactly on it:
 *
 * - A confidential folder makes its whole sub-tree confidential, whatever
 *   the sub-folders state (classes inherit at check time, so reclassing a
 *   folder or moving one in or out applies to everything under it at once).
 * - Elsewhere a folder's class is its own.
 * - A grant applies to its folder's sub-tree, except that it never opens
 *   a folder that states "confidential" below it: inside the sub-tree of
 *   such a folder only the grants on it or below it count.
 *
 * So a grant on /A never opens /A/Secret (confidential); a grant on
 * /A/Secret or /A/Secret/x does.  docs/protocol.md#access words the rule.
 */
struct policy_at {
	enum folder_class class; /* effective class */
	enum policy_grant grant; /* the grant that counts there */
};

/* The root: its own class and the caller's grant on "/". */
void policy_at_root(enum folder_class own, enum policy_grant grant_here,
		    struct policy_at *out);
/* A sub-folder of parent stating own, with the caller's grant on it. */
void policy_descend(const struct policy_at *parent, enum folder_class own,
		    enum policy_grant grant_here, struct policy_at *out);

/* The rights mask (POLICY_BIT of each enum auth_right held). */
unsigned policy_rights(const struct policy_input *in);

/*
 * May the caller use right?  0 yes; -ENOENT when the caller may not even
 * read the folder (it must not exist for them); -EACCES when they may
 * read it but lack right.  No message is set: the caller words it.
 */
int policy_decide(const struct policy_input *in, enum auth_right right);

/* "owner", "assistant", "intervenant", "trusted"; -EINVAL otherwise. */
int policy_role_parse(const char *s, enum policy_role *out);
const char *policy_role_name(enum policy_role r);
/* "read", "deposit"; -EINVAL otherwise. */
int policy_grant_parse(const char *s, enum policy_grant *out);
const char *policy_grant_name(enum policy_grant g);
/* "read", "deposit", "organize", "admin". */
const char *policy_right_name(enum auth_right r);

#endif /* COFFRE_SERVER_POLICY_H */
