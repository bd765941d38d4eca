/*
 * The filing plan a new space starts with (common/plan.h, docs/plans.md).
 *
 * `coffred space create ... --plan default|none|FILE`: default is the plan
 * of the space's kind, KIND.plan, looked up in $COFFRE_PLAN_DIR when set,
 * else in the directory coffred installs its plans to, else (a build run
 * from its tree) in the source tree's plans/.  The plan is read and checked
 * before anything is created, so a bad plan changes nothing.
 */
#ifndef COFFRE_SERVER_SPACE_PLAN_H
#define COFFRE_SERVER_SPACE_PLAN_H

#include "common/plan.h"
#include "server/index.h"
#include "server/ledger.h"

/* Read the plan spec names for a space of kind into p (empty for "none"). */
int space_plan_load(const char *spec, const char *kind, struct plan *p);

/*
 * Make p's folders in the ledger, one commit authored by login (the
 * space's first owner), signed and stamped as any other; then journal one
 * "mkdir" event per folder in ix (a failure there is only logged: the
 * ledger is the authority).  Nothing to do for an empty plan.
 */
int space_plan_apply(struct ledger *lg, const char *space, const char *login,
		     const char *kind, const struct plan *p);
void space_plan_journal(struct index *ix, const char *space, const char *login,
			const struct plan *p);

#endif /* COFFRE_SERVER_SPACE_PLAN_H */
