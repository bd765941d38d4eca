/*
 * coffred.conf: the server's configuration, simple "key = value" lines in
 * DATADIR/coffred.conf.  Blank lines and lines starting with '#' are
 * ignored; an unknown key or a bad value is an error naming the line, so a
 * typo never silently falls back to a default.
 *
 * Keys:
 *   listen  = 127.0.0.1:8443   address and port (port 0: ephemeral);
 *                              IPv6 as [::1]:8443
 *   threads = 8                HTTP worker threads (1..64)
 *   max_connections = 256      open connections at most (1..10000)
 *   max_connections_per_address = 32   of which from one client address
 *                              (1..10000, at most max_connections)
 *   tsa_url = http://tsa.example/   an external RFC 3161 time-stamping
 *                              authority (http or https), asked through
 *                              libcurl; coffred's own TSA when absent or
 *                              unreachable (server/tsa.h)
 *   tsa_ca = /etc/tsa-ca.pem   the CA of that TSA's certificate (absolute
 *                              path; required with tsa_url)
 *   master_key = /etc/coffre/master.key   where the master key is, when
 *                              not in DATADIR/keys/master.key (absolute;
 *                              a systemd credential such as
 *                              /run/credentials/coffred.service/master.key)
 *   chunks = dir               where chunks live: DATADIR/spaces/NAME/
 *                              chunks (dir, the default) or an S3 bucket,
 *                              s3://HOST:PORT/BUCKET, objects SPACE/NAME
 *                              (server/chunk_s3.h)
 *   s3_key_file = /etc/coffre/s3.key   access key and secret, one a line,
 *                              mode 0600 (absolute; with chunks = s3://)
 *   token_lifetime = 30d       how long a login's token lasts (1m..365d)
 *   login_failures = 10        failed logins that lock a login (2..1000;
 *                              an address: 5 times as many), see throttle.h
 *   login_lockout = 15m        how long a lock lasts (1s..30d)
 *   index = sqlite             where the index lives: sqlite (DATADIR/
 *                              index.db, the default) or a PostgreSQL URL,
 *                              postgresql://USER@HOST:PORT/DB
 *   ledger = dir               where each space's ledger (its git
 *                              history) lives: dir, a bare repository in
 *                              DATADIR/spaces/NAME/ledger.git (the
 *                              default), or index, the index's own tables
 *                              (server/ledger_store.h), which every node
 *                              of a deployment shares; postgresql says
 *                              index and requires index = postgresql://
 *   quota_default = 10G        the bytes a space may hold when it has no
 *                              quota of its own (coffred space quota):
 *                              bytes or with K, M, G, T; 0 or absent:
 *                              unlimited (docs/protocol.md#usage)
 *   spaces_per_user = 5        the spaces a user may own that they made
 *                              themselves (POST /v1/spaces, `coffre space
 *                              create`): 0..1000, 0: only the operator
 *                              makes spaces (coffred space create)
 *   signup = closed            who may make an account (POST /v1/signup,
 *                              `coffre signup`): closed (the operator
 *                              only, the default), invite (with a code
 *                              from `coffred invite`) or open
 *   sms_command = /usr/local/bin/send-sms   the program that sends the
 *                              one-time codes of sign-up and password reset
 *                              (absolute): run with the E.164 number as its
 *                              one argument and the text on its standard
 *                              input, exit status 0 when sent
 *                              (server/signup.h)
 *   termination_grace = 90d    how long a terminated space stays, read
 *                              only, before `coffred expire` destroys it
 *                              (0s..3650d)
 *   change_poll = 1s           how often the change feed re-reads the
 *                              head of a space someone waits on, for moves
 *                              nobody told this process of (an admin
 *                              command; another node when the index
 *                              cannot notify): 0s (never: every writer
 *                              notifies) to 60s
 *   trusted_proxies = 127.0.0.1, 10.0.0.0/8   the proxies (addresses or
 *                              CIDR prefixes, comma or blank separated, at
 *                              most 32) whose X-Forwarded-For names the
 *                              client; none by default (server/client_addr.h)
 * Durations: a number with s, m, h or d (seconds without a unit).
 */
#ifndef COFFRE_SERVER_CONFIG_H
#define COFFRE_SERVER_CONFIG_H

#include <stdint.h>

#include "server/client_addr.h"

#define CONFIG_FILE_NAME	 "coffred.conf"
#define CONFIG_CHANGE_POLL	 1 /* seconds */
#define CONFIG_DEFAULT_LISTEN	 "127.0.0.1:8443"
#define CONFIG_HOST_MAX		 64
#define CONFIG_TSA_MAX		 512
#define CONFIG_PATH_MAX		 512
#define CONFIG_INDEX_MAX	 512
#define CONFIG_SPACES_PER_USER	 5
#define CONFIG_TERMINATION_GRACE (90 * 24 * 3600)

enum config_signup {
	CONFIG_SIGNUP_CLOSED,
	CONFIG_SIGNUP_INVITE,
	CONFIG_SIGNUP_OPEN,
};

/* "closed", "invite" or "open" */
const char *config_signup_name(enum config_signup s);

struct config {
	char host[CONFIG_HOST_MAX]; /* numeric address, no brackets */
	int ipv6;
	uint16_t port;
	unsigned threads;
	unsigned max_connections;
	unsigned max_per_address;
	char tsa_url[CONFIG_TSA_MAX];	   /* "" when none */
	char tsa_ca[CONFIG_TSA_MAX];	   /* "" when none */
	char master_key[CONFIG_PATH_MAX];  /* "": DATADIR/keys/master.key */
	char chunks[CONFIG_PATH_MAX];	   /* "": dir; else s3://HOST:PORT/B */
	char s3_key_file[CONFIG_PATH_MAX]; /* with chunks = s3://... */
	int64_t token_lifetime;		   /* seconds */
	unsigned login_failures;
	int64_t login_lockout;		    /* seconds */
	char index[CONFIG_INDEX_MAX];	    /* "": SQLite in DATADIR */
	int ledger_shared;		    /* ledger = index | postgresql */
	int ledger_pg;			    /* ledger = postgresql */
	struct client_nets trusted_proxies; /* none by default */
	uint64_t quota_default;		    /* bytes; 0: unlimited */
	unsigned spaces_per_user;	    /* 0: only the operator */
	enum config_signup signup;	    /* closed by default */
	int64_t termination_grace;	    /* seconds; 90 days by default */
	char sms_command[CONFIG_PATH_MAX];  /* "": none */
	int64_t change_poll;		    /* seconds; 0: never */
};

/* Defaults (listen 127.0.0.1:8443, 8 threads, 256 connections, 32 from
 * one address, tokens for 30 days, 10 failed logins lock for 15 minutes). */
void config_defaults(struct config *cfg);

/*
 * Parse "ADDR:PORT" (numeric IPv4 or [IPv6]) into cfg.  0 or -EINVAL with
 * err_set() saying why.
 */
int config_parse_listen(struct config *cfg, const char *s);

/* "sqlite" or a PostgreSQL URL into cfg->index; -EINVAL otherwise. */
int config_parse_index(struct config *cfg, const char *s);

/* "dir", "index" or "postgresql" into cfg; -EINVAL otherwise. */
int config_parse_ledger(struct config *cfg, const char *s);

/* Read DATADIR/coffred.conf over the defaults.  0, -ENOENT, -EINVAL. */
int config_load(struct config *cfg, const char *datadir);

/* Write DATADIR/coffred.conf atomically (mode 0644). */
int config_save(const struct config *cfg, const char *datadir);

#endif /* COFFRE_SERVER_CONFIG_H */
