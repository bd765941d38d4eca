/*
 * Login throttling in the index (see throttle.h).  Every decision runs in
 * one BEGIN IMMEDIATE transaction, so two threads or two processes never
 * both take the last free attempt of a key.
 */
#include "server/throttle.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "common/err.h"
#include "server/index.h"

static int db_fail(sqlite3 *db, const char *what)
{
	int src = sqlite3_errcode(db);

	return err_set(src == SQLITE_FULL ? -ENOSPC :
		       src == SQLITE_BUSY ? -EBUSY :
					    -EIO,
		       "throttle: cannot %s: %s", what, sqlite3_errmsg(db));
}

/* Run sql with up to three int64 and two text parameters, no rows. */
static int run(sqlite3 *db, const char *sql, const char *t1, const char *t2,
	       int64_t i3, int64_t i4, int64_t i5, const char *what)
{
	sqlite3_stmt *st = NULL;
	int src;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, what);
	sqlite3_bind_text(st, 1, t1, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t2, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, i3);
	sqlite3_bind_int64(st, 4, i4);
	sqlite3_bind_int64(st, 5, i5);
	src = sqlite3_step(st);
	sqlite3_finalize(st);
	return src == SQLITE_DONE ? 0 : db_fail(db, what);
}

struct key_row {
	int64_t failures, next_at, locked_until;
};

/* The row of key; all zeros when there is none. */
static int row_get(sqlite3 *db, const char *key, struct key_row *r)
{
	sqlite3_stmt *st = NULL;
	int src;

	memset(r, 0, sizeof(*r));
	if (sqlite3_prepare_v2(
		    db,
		    "SELECT failures, next_at, locked_until FROM login_throttle WHERE key = ?1",
		    -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "read a throttle row");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		r->failures = sqlite3_column_int64(st, 0);
		r->next_at = sqlite3_column_int64(st, 1);
		r->locked_until = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return src == SQLITE_ROW || src == SQLITE_DONE ?
		       0 :
		       db_fail(db, "read a throttle row");
}

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
static int row_fail(sqlite3 *db, const char *key, const struct key_row *r,
		    int64_t m, int64_t lockout, int64_t now, unsigned *count,
		    int *locks, int64_t *until)
{
	int64_t f = r->failures + 1, next = now + delay_after(f, m), locked = 0;

	*locks = f >= m;
	if (*locks) {
		locked = now + lockout;
		next = locked;
		*until = locked;
	}
	*count = f > UINT32_MAX ? UINT32_MAX : (unsigned)f;
	return run(
		db,
		"INSERT OR REPLACE INTO login_throttle(key, failures, last_at, next_at, locked_until) VALUES(?1, ?3, ?4, ?5, ?5 * (?2 IS NOT NULL))",
		key, *locks ? "" : NULL, f, now, next, "count a failure");
}

/* Keep the table under THROTTLE_ROWS_MAX rows (the keys in use stay). */
static int rows_bound(sqlite3 *db, const struct throttle_attempt *a,
		      int64_t now)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM login_throttle", -1,
			       &st, NULL) != SQLITE_OK)
		return db_fail(db, "count throttle rows");
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (n <= THROTTLE_ROWS_MAX)
		return 0;
	/* A tenth at once: the sort runs once per thousand new keys, not
	 * at each attempt of a flood. */
	return run(
		db,
		"DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle WHERE key NOT IN (?1, ?2) ORDER BY locked_until > ?3, last_at LIMIT ?4)",
		a->login_key, a->addr_key, now,
		n - THROTTLE_ROWS_MAX + THROTTLE_ROWS_MAX / 10, 0,
		"forget old throttle rows");
}

static int64_t wait_of(const struct key_row *r, int64_t now)
{
	int64_t w = r->locked_until > r->next_at ? r->locked_until : r->next_at;

	return w > now ? w - now : 0;
}

static int begin_locked(sqlite3 *db, const struct throttle_limits *lim,
			struct throttle_attempt *a, int64_t now,
			int64_t *retry_after)
{
	struct key_row lr, ar = { 0 };
	int64_t w;
	int rc;

	/* Forget keys a day quiet; this bounds the table in time. */
	rc = run(
		db,
		"DELETE FROM login_throttle WHERE last_at < ?3 AND locked_until <= ?4",
		NULL, NULL, now - THROTTLE_FORGET, now, 0,
		"forget old failures");
	if (rc == 0)
		rc = row_get(db, a->login_key, &lr);
	if (rc == 0 && a->addr_key[0])
		rc = row_get(db, a->addr_key, &ar);
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
	rc = row_fail(db, a->login_key, &lr, lim->failures, lim->lockout, now,
		      &a->login_failures, &a->login_locks, &a->locked_until);
	if (rc == 0 && a->addr_key[0])
		rc = row_fail(db, a->addr_key, &ar,
			      (int64_t)lim->failures * THROTTLE_ADDR_FACTOR,
			      lim->lockout, now, &a->addr_failures,
			      &a->addr_locks, &a->locked_until);
	if (rc == 0)
		rc = rows_bound(db, a, now);
	return rc;
}

int throttle_begin(struct index *ix, const struct throttle_limits *lim,
		   const char *login, const char *address, int64_t now,
		   struct throttle_attempt *a, int64_t *retry_after)
{
	sqlite3 *db;
	int rc;

	memset(a, 0, sizeof(*a));
	*retry_after = 0;
	snprintf(a->login_key, sizeof(a->login_key), "l:%s", login);
	if (address && *address)
		snprintf(a->addr_key, sizeof(a->addr_key), "a:%s", address);
	rc = index_db(ix, &db);
	if (rc < 0)
		return rc;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, "begin a transaction");
	rc = begin_locked(db, lim, a, now, retry_after);
	/* A refusal changes nothing worth keeping but the purge: commit. */
	if ((rc == 0 || rc == -EAGAIN) &&
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = db_fail(db, "commit");
	if (rc < 0 && rc != -EAGAIN)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int throttle_success(struct index *ix, const struct throttle_attempt *a)
{
	sqlite3 *db;
	int rc;

	rc = index_db(ix, &db);
	if (rc < 0)
		return rc;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, "begin a transaction");
	rc = run(db, "DELETE FROM login_throttle WHERE key = ?1", a->login_key,
		 NULL, 0, 0, 0, "forget a login's failures");
	/* The address keeps its other failures; this one is forgiven, and a
	 * lock it alone started is lifted. */
	if (rc == 0 && a->addr_key[0])
		rc = run(
			db,
			"UPDATE login_throttle SET failures = max(failures - 1, 0), next_at = ?4, locked_until = CASE WHEN ?5 THEN 0 ELSE locked_until END WHERE key = ?1",
			a->addr_key, NULL, 0, 0, a->addr_locks,
			"forgive an address");
	if (rc == 0 &&
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = db_fail(db, "commit");
	if (rc < 0)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}
