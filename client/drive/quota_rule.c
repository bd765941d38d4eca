/*
 * The drive's quota rule (quota.h), apart from the drive so that the unit
 * test walks it without a mount: no I/O, no locks.
 */
#include "client/drive/quota.h"

#include <errno.h>

int quota_decide(uint64_t stored, uint64_t quota, uint64_t queued, uint64_t add)
{
	uint64_t total;

	if (!quota || !add)
		return 0;
	if (__builtin_add_overflow(stored, queued, &total) ||
	    __builtin_add_overflow(total, add, &total))
		return -EDQUOT;
	return total > quota ? -EDQUOT : 0;
}
