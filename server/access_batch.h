/*
 * Authorizing a commit batch on the states it produces: each operation is
 * checked against the state the operations before it left (a view of the
 * batch half applied, ledger_apply_checked()), by the rule of access.h /
 * policy.h, never against the head alone.  A move needs organize on both
 * folders and on everything it carries (every folder below a moved one).
 * Grants follow the batch's folder moves and removals, as they will after
 * the commit.
 *
 * The check also settles the class of each new folder (see
 * access_batch_check), so owners go through it too.
 */
#ifndef COFFRE_SERVER_ACCESS_BATCH_H
#define COFFRE_SERVER_ACCESS_BATCH_H

#include <stddef.h>

#include "server/access.h"
#include "server/ledger.h"

struct access_batch {
	enum policy_role role;
	int admin;		     /* delegated administration */
	struct access_grants grants; /* the caller's; owned, rewritten */
	struct ledger_op *ops;	     /* the batch (mkdir classes set here) */
	const unsigned char *stated; /* per op: mkdir stated its class */
	int refused;		     /* the last refusal was the check's */
	/* per op (nops bytes, the caller's): set when the op touched what
	 * the caller may not see and was left undone, as for an absent
	 * path (LEDGER_CHECK_SKIP); it gets no event */
	unsigned char *skipped;
};

/*
 * ledger_check_fn over an access_batch: 0, LEDGER_CHECK_SKIP (an unlink,
 * rmdir or mkdir of what the caller may not see: answered as for an
 * absent path, nothing done), or -ENOENT (what the caller may
 * not read, worded as an absent path would be), -EACCES (seen, right
 * lacking), with err_set().  A mkdir without a stated class gets its
 * parent's effective class, but inside a confidential folder "restricted"
 * (confidential still, by inheritance, and opened by the same grants):
 * stating another class than that needs admin on the parent.
 */
int access_batch_check(void *arg, const struct ledger_view *v,
		       const struct ledger_op *op, size_t i);

void access_batch_release(struct access_batch *b);

#endif /* COFFRE_SERVER_ACCESS_BATCH_H */
