/*
 * Login throttling in the index (see throttle.h).  Every decision runs in
 * one index transaction holding the lock ":throttle", so two threads, two
 * processes or two nodes never both take the last free attempt of a key.
 */
#include "server/throttle.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "server/index.h"

#define THROTTLE_LOCK ":throttle"

/* Seconds the attempt after the f-th failure waits, M the key's limit. */
static int64_t delay_after(int64_t f, int64_t m)
{
	int64_t half = m / 2, d;

	if (f <= half)
		return 0;
	d = f - half - 1 >= 6 ? 64 : (int64_t)1 << (f - half - 1);
	return d > THROTTLE_DELAY_MAX ? THROTTLE_DELAY_MAX : d;
}

/* Count one more failure of key (limit m); *locks when it locks it. */
static int row_fail(struct index *ix, const char *key,
		    const struct index_throttle_row *r, int64_t m,
		    int64_t lockout, int64_t now, unsigned *count, int *locks,
		    int64_t *until)
{
	int64_t f = r->failures + 1, next = now + delay_after(f, m), locked = 0;

	*locks = f >= m;
	if (*locks) {
		locked = now + lockout;
		next = locked;
		*until = locked;
	}
	*count = f > UINT32_MAX ? UINT32_MAX : (unsigned)f;
	return index_throttle_put(ix, key,
				  &(struct index_throttle_row){
					  .failures = f,
					  .last_at = now,
					  .next_at = next,
					  .locked_until = locked,
				  });
}

/* Keep the table under THROTTLE_ROWS_MAX rows (the keys in use stay). */
static int rows_bound(struct index *ix, const struct throttle_attempt *a,
		      int64_t now)
{
	int64_t n = 0;
	int rc = index_throttle_count(ix, &n);

	if (rc < 0 || n <= THROTTLE_ROWS_MAX)
		return rc;
	/* A tenth at once: the sort runs once per thousand new keys, not
	 * at each attempt of a flood. */
	return index_throttle_trim(ix, a->login_key, a->addr_key, now,
				   n - THROTTLE_ROWS_MAX +
					   THROTTLE_ROWS_MAX / 10);
}

static int64_t wait_of(const struct index_throttle_row *r, int64_t now)
{
	int64_t w = r->locked_until > r->next_at ? r->locked_until : r->next_at;

	return w > now ? w - now : 0;
}

static int begin_locked(struct index *ix, const struct throttle_limits *lim,
			struct throttle_attempt *a, int64_t now,
			int64_t *retry_after)
{
	struct index_throttle_row lr, ar = { 0 };
	int64_t w;
	int rc;

	/* Forget keys a day quiet; this bounds the table in time. */
	rc = index_throttle_forget(ix, now - THROTTLE_FORGET, now);
	if (rc == 0)
		rc = index_throttle_get(ix, a->login_key, &lr);
	if (rc == 0 && a->addr_key[0])
		rc = index_throttle_get(ix, a->addr_key, &ar);
	if (rc < 0)
		return rc;
	w = wait_of(&lr, now);
	if (wait_of(&ar, now) > w)
		w = wait_of(&ar, now);
	if (w > 0) {
		*retry_after = w;
		return err_set(-EAGAIN,
			       "too many failed logins: try again in %lld s",
			       (long long)w);
	}
	rc = row_fail(ix, a->login_key, &lr, lim->failures, lim->lockout, now,
		      &a->login_failures, &a->login_locks, &a->locked_until);
	if (rc == 0 && a->addr_key[0])
		rc = row_fail(ix, a->addr_key, &ar,
			      (int64_t)lim->failures * THROTTLE_ADDR_FACTOR,
			      lim->lockout, now, &a->addr_failures,
			      &a->addr_locks, &a->locked_until);
	if (rc == 0)
		rc = rows_bound(ix, a, now);
	return rc;
}

/* A transaction holding the throttle's lock. */
static int throttle_txn(struct index *ix, struct index_txn **tx)
{
	return index_begin_locked(ix, THROTTLE_LOCK, tx);
}

int throttle_begin(struct index *ix, const struct throttle_limits *lim,
		   const char *login, const char *address, int64_t now,
		   struct throttle_attempt *a, int64_t *retry_after)
{
	struct index_txn *tx;
	int rc;

	memset(a, 0, sizeof(*a));
	*retry_after = 0;
	snprintf(a->login_key, sizeof(a->login_key), "l:%s", login);
	if (address && *address)
		snprintf(a->addr_key, sizeof(a->addr_key), "a:%s", address);
	rc = throttle_txn(ix, &tx);
	if (rc < 0)
		return rc;
	rc = begin_locked(ix, lim, a, now, retry_after);
	/* A refusal changes nothing worth keeping but the purge: commit. */
	if (rc == 0 || rc == -EAGAIN) {
		int crc = index_commit(ix, tx);

		if (crc < 0)
			rc = crc;
	} else {
		index_rollback(ix, tx);
	}
	return rc;
}

int throttle_success(struct index *ix, const struct throttle_attempt *a)
{
	struct index_txn *tx;
	int rc;

	rc = throttle_txn(ix, &tx);
	if (rc < 0)
		return rc;
	rc = index_throttle_drop(ix, a->login_key);
	/* The address keeps its other failures; this one is forgiven, and a
	 * lock it alone started is lifted. */
	if (rc == 0 && a->addr_key[0])
		rc = index_throttle_forgive(ix, a->addr_key, a->addr_locks);
	if (rc == 0)
		return index_commit(ix, tx);
	index_rollback(ix, tx);
	return rc;
}
