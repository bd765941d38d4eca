/*
 * The drive's quota rule, as a pure function (tests/unit/test_quota.c
 * walks its table).  The drive uploads after close, so the server's
 * refusal would come too late for the program that wrote: the write is
 * refused at once, with EDQUOT, when the bytes the server stores for the
 * space (GET usage, read at mount and after commits and changes), plus
 * the bytes of the deposits queued and not yet committed, plus what this
 * write adds would pass the quota.  Queued bytes are counted whole, before
 * dedup: the drive may refuse a little early, never let a file through
 * that the server could refuse for its size alone.
 */
#ifndef COFFRE_CLIENT_QUOTA_H
#define COFFRE_CLIENT_QUOTA_H

#include <stdint.h>

/*
 * 0 when stored + queued + add fit quota (0: unlimited; add 0 always
 * fits), -EDQUOT when they do not (sums that overflow do not fit).
 */
int quota_decide(uint64_t stored, uint64_t quota, uint64_t queued,
		 uint64_t add);

#endif /* COFFRE_CLIENT_QUOTA_H */
