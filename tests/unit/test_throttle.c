/*
 * Login throttling (server/throttle.c) on a real index, with the clock
 * given by the test so the schedule is checked exactly: failures free up
 * to half the limit, then a doubling wait, a lock at the limit that holds
 * the right password out too, a new lock at each failure after it, a
 * success that forgives the login but not the address, keys forgotten
 * after a quiet day, and a table that stays under THROTTLE_ROWS_MAX rows
 * through 100,000 failures from as many logins and addresses.
 */
#include "server/throttle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/index.h"
#include "tests/lib/tap.h"

static struct index *ix;

static int64_t rows(void)
{
	int64_t n = -1;

	if (index_throttle_count(ix, &n) < 0)
		n = -1;
	return n;
}

/* One attempt at now: 0 checked, else the wait asked. */
static int64_t try(const struct throttle_limits *lim, const char *login,
		   const char *addr, int64_t now, struct throttle_attempt *a)
{
	int64_t wait = 0;
	int rc = throttle_begin(ix, lim, login, addr, now, a, &wait);

	if (rc == -EAGAIN)
		return wait;
	return rc < 0 ? -1 : 0;
}

int main(void)
{
	char dir[] = "/tmp/coffre-test-throttle.XXXXXX", path[128];
	const struct throttle_limits lim = { .failures = 10, .lockout = 900 };
	struct throttle_attempt a;
	int64_t t = 1000000, w;
	struct index_txn *tx;
	int i, good;

	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP cannot make a temporary directory\n");
		return 0;
	}
	snprintf(path, sizeof(path), "%s/index.db", dir);
	ok(index_open(&ix, path, 1) == 0, "open a new index");

	/* Five failures cost nothing, then 1, 2, 4, 8 s, then a lock. */
	for (i = 1, good = 1; i <= 5; i++)
		good &= try(&lim, "bob", "10.0.0.1", t, &a) == 0 &&
			a.login_failures == (unsigned)i;
	ok(good, "the first five failures of a login of limit 10 are free");
	for (i = 0; i < 4; i++) {
		int64_t want = (int64_t)1 << i;

		ok(try(&lim, "bob", "10.0.0.1", t, &a) == 0,
		   "failure %d is checked", 6 + i);
		w = try(&lim, "bob", "10.0.0.1", t + want - 1, &a);
		is_int(w, 1, "then a wait: %lld s left one second early",
		       (long long)want);
		t += want;
	}
	ok(try(&lim, "bob", "10.0.0.1", t, &a) == 0 && a.login_locks &&
		   a.login_failures == 10 && a.locked_until == t + 900,
	   "the tenth failure locks the login for the lockout");
	is_int(try(&lim, "bob", "10.0.0.2", t + 899, &a), 1,
	       "locked from another address too, to the last second");
	is_int(try(&lim, "bob", "10.0.0.1", t + 10, &a), 890,
	       "the wait is the rest of the lock");
	t += 900;
	ok(try(&lim, "bob", "10.0.0.1", t, &a) == 0 && a.login_locks,
	   "after the lock, the next failure locks again");
	t += 900;
	ok(try(&lim, "bob", "10.0.0.1", t, &a) == 0,
	   "an attempt after the second lock is checked");
	ok(throttle_success(ix, &a) == 0, "the right password forgives it");
	ok(try(&lim, "bob", "10.0.0.1", t, &a) == 0 && a.login_failures == 1,
	   "a success clears the login's count");
	is_int(a.addr_failures, 12,
	       "but not the address's (one valid account must not reset it)");

	/* An unknown login is throttled alike: the keys hold no existence. */
	for (i = 0, good = 1; i < 5; i++)
		good &= try(&lim, "nobody", "10.0.0.3", t, &a) == 0;
	ok(good && try(&lim, "nobody", "10.0.0.3", t, &a) == 0 &&
		   try(&lim, "nobody", "10.0.0.3", t, &a) == 1,
	   "any login name gets the same schedule");

	/* An address: five times the limit, over many logins. */
	t += 10;
	for (i = 0, good = 0; i < 200 && !a.addr_locks; i++) {
		char login[32];

		snprintf(login, sizeof(login), "guess%d", i);
		w = try(&lim, login, "10.9.9.9", t, &a);
		if (w > 0)
			t += w;
		else
			good++;
	}
	ok(a.addr_locks && a.addr_failures == 50 && good == 50,
	   "an address locks at its 50th failure (%d checked)", good);
	ok(try(&lim, "someone", "10.9.9.9", t + 1, &a) > 0,
	   "then refuses any login from it");
	ok(try(&lim, "someone", "10.9.9.8", t + 1, &a) == 0,
	   "another address is not concerned");

	/* A quiet day forgets. */
	t += THROTTLE_FORGET + 1000;
	ok(try(&lim, "bob", "10.0.0.1", t, &a) == 0 && a.login_failures == 1 &&
		   a.addr_failures == 1,
	   "a day without failure forgets a login and an address");

	/* 100,000 failures from as many logins and addresses. */
	/* In one outer transaction (each attempt's joins it): one fsync. */
	ok(index_begin(ix, &tx) == 0, "(the attempts share one transaction)");
	for (i = 0, good = 1; i < 100000; i++) {
		char login[32], addr[32];

		snprintf(login, sizeof(login), "u%d", i);
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		good &= try(&lim, login, addr, t + i / 100, &a) == 0;
	}
	ok(good, "100,000 fresh logins from fresh addresses are each checked");
	ok(index_commit(ix, tx) == 0, "(committed)");
	ok(rows() <= THROTTLE_ROWS_MAX,
	   "the table holds %lld rows (at most %d)", (long long)rows(),
	   THROTTLE_ROWS_MAX);

	index_free(ix);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		diag("cannot remove %s", dir);
	return tap_done();
}
