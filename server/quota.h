/*
 * Per-space quotas (docs/protocol.md#usage): what a space may hold, and
 * the check a commit or a chunk upload passes before anything is stored.
 *
 * The figure checked is the space's usage in bytes (index.h, struct
 * index_usage): the plaintext sizes of the distinct chunks its versions
 * name.  A chunk the space holds already (dedup) adds nothing; a commit
 * adds the chunks of its deposits that no version names yet, each once.
 * The quota in force is the space's own (coffred space quota), else
 * coffred.conf's quota_default; 0 is unlimited.
 */
#ifndef COFFRE_SERVER_QUOTA_H
#define COFFRE_SERVER_QUOTA_H

#include <stddef.h>
#include <stdint.h>

struct index;
struct index_usage;
struct ledger_op;
struct server;
struct space;

/* The quota in force for a space whose usage is u (bytes, 0: none). */
uint64_t quota_in_force(struct server *srv, const struct index_usage *u);

/*
 * The pure rule: 0 when stored + add bytes fit quota (0: unlimited), else
 * -EDQUOT with err_set() giving the figures.  Adding nothing always fits,
 * so a space over its quota (lowered under it) still takes moves,
 * removals and deposits of content it holds.
 */
int quota_check(const char *space, uint64_t stored, uint64_t add,
		uint64_t quota);

/* The bytes the deposits of ops would add to space: the sizes of their
 * distinct chunks that no version of space names yet. */
int quota_batch_bytes(struct index *ix, const char *space,
		      const struct ledger_op *ops, size_t nops, uint64_t *out);

/*
 * After a batch was refused for its quota: remove from the chunk store the
 * chunks its deposits name that no version names (uploaded for it), so a
 * refused batch leaves nothing behind.  Failures are logged.  Called with
 * sp->usage_lock held, so no commit of the space runs meanwhile.
 */
void quota_batch_forget(struct space *sp, struct index *ix,
			const struct ledger_op *ops, size_t nops);

#endif /* COFFRE_SERVER_QUOTA_H */
