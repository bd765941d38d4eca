/*
 * quota_decide (client/drive/quota.h): the drive's rule for a write past the
 * space's quota, row by row: unlimited, room left, exactly full, one byte
 * over, queued deposits counted, a write adding nothing, and sums that
 * overflow.
 */
#include "client/drive/quota.h"

#include <errno.h>
#include <stdint.h>

#include "tests/lib/tap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

int main(void)
{
	static const struct {
		uint64_t stored, quota, queued, add;
		int want;
		const char *what;
	} rows[] = {
		{ 0, 0, 0, 1, 0, "no quota: unlimited" },
		{ UINT64_MAX, 0, UINT64_MAX, UINT64_MAX, 0,
		  "no quota: unlimited, whatever the figures" },
		{ 0, 100, 0, 100, 0, "an empty space takes its quota exactly" },
		{ 0, 100, 0, 101, -EDQUOT, "one byte over an empty space" },
		{ 60, 100, 0, 40, 0, "stored + write = quota fits" },
		{ 60, 100, 0, 41, -EDQUOT, "stored + write one over" },
		{ 60, 100, 30, 10, 0, "stored + queued + write = quota fits" },
		{ 60, 100, 30, 11, -EDQUOT, "queued deposits count" },
		{ 60, 100, 50, 1, -EDQUOT, "queued alone past the quota" },
		{ 150, 100, 0, 0, 0,
		  "a write adding nothing fits even over the quota" },
		{ 150, 100, 0, 1, -EDQUOT, "over the quota: nothing more" },
		{ UINT64_MAX, UINT64_MAX, 1, 1, -EDQUOT,
		  "stored + queued overflows: refused" },
		{ 1, UINT64_MAX, UINT64_MAX - 1, 1, -EDQUOT,
		  "the sum with the write overflows: refused" },
		{ 1, UINT64_MAX, UINT64_MAX - 2, 1, 0,
		  "the sum reaches UINT64_MAX exactly: fits" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		is_int(quota_decide(rows[i].stored, rows[i].quota,
				    rows[i].queued, rows[i].add),
		       rows[i].want, "%s", rows[i].what);
	return tap_done();
}
