/*
 * Login throttling: a growing delay, then a lockout, per login and per
 * client address, kept in the index (table login_throttle), so that
 * password guessing costs time and ends, whatever the login (known or not:
 * the answer never tells them apart) and whoever asks.
 *
 * Each key ("l:LOGIN", "a:ADDRESS") counts failures.  With M the limit of
 * the key (cfg->login_failures for a login, THROTTLE_ADDR_FACTOR times it
 * for an address), the first M/2 failures cost nothing; after the f-th
 * failure beyond that the next attempt waits 2^(f - M/2 - 1) s (at most
 * THROTTLE_DELAY_MAX); the M-th failure locks the key for the lockout
 * time; once that is over each new failure locks it again, until a day
 * passes without failure (THROTTLE_FORGET) and the key is forgotten.  A
 * success forgets the login's failures (not the address's: one valid
 * account must not reset an attacker's address).
 *
 * An attempt is counted as a failure before the password is checked and
 * forgiven once it proves good, so parallel guesses cannot all slip
 * through before the first one is counted.
 *
 * The table is bounded: at most THROTTLE_ROWS_MAX rows, however many
 * logins and addresses an attacker tries; past it the oldest tenth is
 * forgotten (unlocked keys before locked ones).
 */
#ifndef COFFRE_SERVER_THROTTLE_H
#define COFFRE_SERVER_THROTTLE_H

#include <stdint.h>

struct index;

#define THROTTLE_ADDR_FACTOR 5
#define THROTTLE_DELAY_MAX   60
#define THROTTLE_FORGET	     (24 * 3600)
#define THROTTLE_ROWS_MAX    10000
#define THROTTLE_ADDR_MAX    64 /* address text, with the NUL */

struct throttle_limits {
	unsigned failures; /* M of a login, >= 2 */
	int64_t lockout;   /* seconds */
};

/* What throttle_begin() reserved, for throttle_end(). */
struct throttle_attempt {
	char login_key[96]; /* "l:" and a key of up to 93 bytes */
	char addr_key[THROTTLE_ADDR_MAX + 2];
	unsigned login_failures, addr_failures; /* counting this attempt */
	int login_locks, addr_locks; /* this attempt, if it fails, locks */
	int64_t locked_until;	     /* of the lock it would start */
};

/*
 * Reserve one attempt by login from address (may be "" when unknown) at
 * now.  0: go on and check the password, then call throttle_end().
 * -EAGAIN (err_set) when the login or the address must wait or is locked:
 * *retry_after gets the seconds to wait (>= 1).  Or -errno.
 */
int throttle_begin(struct index *ix, const struct throttle_limits *lim,
		   const char *login, const char *address, int64_t now,
		   struct throttle_attempt *a, int64_t *retry_after);

/* The attempt succeeded: forgive it (the login's failures all go). */
int throttle_success(struct index *ix, const struct throttle_attempt *a);

#endif /* COFFRE_SERVER_THROTTLE_H */
