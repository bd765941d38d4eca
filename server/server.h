/*
 * What a running coffred shares between its request threads: the data
 * directory, the configuration, the index and the open spaces.  Built by
 * serve.c before the HTTP daemon starts, torn down after it stops; the
 * fields never change while requests run, but for the settings a reload
 * (SIGHUP, reload.c) changes: read those through server_login_settings.
 */
#ifndef COFFRE_SERVER_SERVER_H
#define COFFRE_SERVER_SERVER_H

#include <pthread.h>
#include <stdint.h>

#include "server/config.h"

struct client_nets;
struct conn_limit;
struct index;
struct keys;
struct spaces;

struct server {
	const char *datadir;
	struct config cfg;
	struct index *ix;
	struct spaces *spaces;
	struct keys *keys; /* ledger, CA and TSA keys (keys.h) */
	/* Guards cfg's settings that a reload changes (reload.c). */
	pthread_mutex_t live_lock;
	/* Serializes the spaces users make, so that two at once cannot
	 * both pass spaces_per_user (api_spaces.c). */
	pthread_mutex_t create_lock;
	/* max_connections_per_address, with the trusted proxies exempt
	 * (conn_limit.h); told of a reload's trusted proxies. */
	struct conn_limit *limit;
};

/* The login settings now in force: the throttle's limits, a token's life. */
void server_login_settings(struct server *srv, unsigned *failures,
			   int64_t *lockout, int64_t *token_lifetime);

/* coffred.conf's spaces_per_user now in force (0: users make none). */
unsigned server_spaces_per_user(struct server *srv);

/* coffred.conf's signup and sms_command now in force (command: "" when
 * none; cap bytes). */
void server_signup_settings(struct server *srv, enum config_signup *mode,
			    char *command, size_t cap);

/* coffred.conf's termination_grace now in force, in seconds. */
int64_t server_termination_grace(struct server *srv);

/* coffred.conf's trusted_proxies now in force, copied into *out. */
void server_trusted_proxies(struct server *srv, struct client_nets *out);

/* coffred.conf's quota_default now in force (bytes, 0: unlimited). */
uint64_t server_quota_default(struct server *srv);

/*
 * Read coffred.conf again (SIGHUP, `systemctl reload coffred`).  The
 * login settings (token_lifetime, login_failures, login_lockout),
 * quota_default, spaces_per_user, signup, sms_command and trusted_proxies
 * change at once; a
 * change to any other key is logged as taking effect at the next restart
 * (sockets, threads, stores and keys are made once).  A file that
 * does not load changes nothing: the error is logged and coffred goes on
 * with what it has.  0 or the load's -errno.
 */
int server_reload(struct server *srv);

#endif /* COFFRE_SERVER_SERVER_H */
