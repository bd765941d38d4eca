/*
 * The PostgreSQL index backend (index_backend.h), through libpq: where is
 * a URL, postgresql://USER@HOST:PORT/DB.  Each thread gets its own
 * connection on its first call.  Every parameter goes as text (ints
 * printed here) and token hashes as hex, decoded by the server; results
 * are read whole before callbacks run, so a callback may use the index.
 * Named locks are transaction-level advisory locks, so several coffred
 * nodes on one database serialize access changes and event appends.
 */
#include "server/index_backend.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "common/hash.h"
#include "server/index_i.h"

/* The first key of every advisory lock coffred takes is 1129270854. */
#define PG_SCHEMA_VERSION 5

/*
 * Schema version 1, the SQLite schema version 4 in PostgreSQL's types.
 * Migrations go in pg_migrate[] (version v to v + 1); a new index gets the
 * schema then every migration, so old and new indexes end alike.
 */
static const char pg_schema[] =
	"CREATE TABLE users(login TEXT PRIMARY KEY, phone TEXT NOT NULL,"
	" pwhash TEXT NOT NULL, created_at BIGINT NOT NULL);"
	"CREATE TABLE tokens(hash BYTEA PRIMARY KEY,"
	" login TEXT NOT NULL REFERENCES users(login) ON DELETE CASCADE,"
	" expires_at BIGINT NOT NULL, created_at BIGINT NOT NULL DEFAULT 0,"
	" address TEXT);"
	"CREATE INDEX tokens_expiry ON tokens(expires_at);"
	"CREATE INDEX tokens_login ON tokens(login);"
	"CREATE TABLE spaces(name TEXT PRIMARY KEY, kind TEXT NOT NULL"
	" CHECK (kind IN ('private', 'company', 'association')),"
	" created_at BIGINT NOT NULL);"
	"CREATE TABLE members("
	" space TEXT NOT NULL REFERENCES spaces(name) ON DELETE CASCADE,"
	" login TEXT NOT NULL REFERENCES users(login) ON DELETE CASCADE,"
	" role TEXT NOT NULL, PRIMARY KEY(space, login));"
	"CREATE INDEX members_login ON members(login);"
	"CREATE TABLE versions(space TEXT NOT NULL REFERENCES spaces(name),"
	" doc_id TEXT NOT NULL, version BIGINT NOT NULL, size BIGINT NOT NULL,"
	" sha256 TEXT NOT NULL, deposited_by TEXT NOT NULL,"
	" deposited_at TEXT NOT NULL, \"commit\" TEXT NOT NULL,"
	" manifest TEXT NOT NULL, sealed INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(space, doc_id, version));"
	"CREATE TABLE version_chunks(space TEXT NOT NULL, chunk TEXT NOT NULL,"
	" doc_id TEXT NOT NULL, version BIGINT NOT NULL,"
	" PRIMARY KEY(space, chunk, doc_id, version));"
	"CREATE TABLE events(space TEXT NOT NULL, seq BIGINT NOT NULL,"
	" at BIGINT NOT NULL, login TEXT, kind TEXT NOT NULL, path TEXT,"
	" doc_id TEXT, version BIGINT, detail TEXT, prev_hash TEXT NOT NULL,"
	" hash TEXT NOT NULL, PRIMARY KEY(space, seq));"
	"CREATE INDEX events_path ON events(space, path);"
	"CREATE INDEX events_doc ON events(space, doc_id);"
	"CREATE TABLE grants("
	" space TEXT NOT NULL REFERENCES spaces(name) ON DELETE CASCADE,"
	" path TEXT NOT NULL, login TEXT NOT NULL,"
	" level TEXT NOT NULL CHECK (level IN ('read', 'deposit')),"
	" PRIMARY KEY(space, login, path));"
	"CREATE TABLE delegations("
	" space TEXT NOT NULL REFERENCES spaces(name) ON DELETE CASCADE,"
	" login TEXT NOT NULL, PRIMARY KEY(space, login));"
	"CREATE TABLE login_throttle(key TEXT PRIMARY KEY,"
	" failures BIGINT NOT NULL, last_at BIGINT NOT NULL,"
	" next_at BIGINT NOT NULL, locked_until BIGINT NOT NULL);"
	"CREATE INDEX login_throttle_last ON login_throttle(last_at);"
	"CREATE TABLE invitations("
	" space TEXT NOT NULL REFERENCES spaces(name) ON DELETE CASCADE,"
	" login TEXT NOT NULL, role TEXT NOT NULL, invited_by TEXT NOT NULL,"
	" at BIGINT NOT NULL, PRIMARY KEY(space, login));"
	"CREATE INDEX invitations_login ON invitations(login);";

/*
 * pg_migrate[v - 1] takes version v to v + 1.
 * 1 -> 2 (SQLite 4 -> 5): each space's usage (index.h), kept as versions
 * are recorded; computed once here for the spaces already there from
 * their versions and the "chunk HEX SIZE" lines of their manifests.
 */
static const char *const pg_migrate[] = {
	"CREATE TABLE space_usage(space TEXT PRIMARY KEY,"
	" bytes BIGINT NOT NULL DEFAULT 0, documents BIGINT NOT NULL DEFAULT 0,"
	" versions BIGINT NOT NULL DEFAULT 0, quota BIGINT);"
	"INSERT INTO space_usage(space, bytes, documents, versions)"
	" SELECT v.space, coalesce((SELECT sum(c.size) FROM (SELECT DISTINCT"
	"  w.space, m[1] AS chunk, m[2]::bigint AS size FROM versions w,"
	"  regexp_matches(w.manifest, '^chunk ([0-9a-f]{64}) ([0-9]+)', 'gn') m"
	"  WHERE w.space = v.space) c), 0),"
	" count(DISTINCT v.doc_id), count(*) FROM versions v GROUP BY v.space;"
	"UPDATE coffre_schema SET version = 2;",
	/* 2 -> 3 (SQLite 5 -> 6): one-time codes and sign-up invitations. */
	"CREATE TABLE pending_codes(purpose TEXT NOT NULL, login TEXT NOT NULL,"
	" phone TEXT NOT NULL, email TEXT NOT NULL, pwhash TEXT NOT NULL,"
	" invite TEXT NOT NULL, salt TEXT NOT NULL, code_hash TEXT NOT NULL,"
	" expires_at BIGINT NOT NULL, tries INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(purpose, login));"
	"CREATE INDEX pending_codes_expiry ON pending_codes(expires_at);"
	"CREATE TABLE signup_invites(hash TEXT PRIMARY KEY,"
	" expires_at BIGINT NOT NULL);"
	"CREATE TABLE space_terminations(space TEXT PRIMARY KEY"
	" REFERENCES spaces(name) ON DELETE CASCADE, at BIGINT NOT NULL,"
	" by TEXT NOT NULL);"
	"CREATE TABLE user_freezes(login TEXT PRIMARY KEY REFERENCES users(login)"
	" ON DELETE CASCADE, at BIGINT NOT NULL, mandate TEXT NOT NULL,"
	" notary TEXT NOT NULL);"
	"UPDATE coffre_schema SET version = 3;",
	/* 3 -> 4 (SQLite 6 -> 7): a space's ledger kept in the index. */
	"CREATE TABLE ledger_objects(space TEXT NOT NULL, oid TEXT NOT NULL,"
	" type INTEGER NOT NULL, data BYTEA NOT NULL, PRIMARY KEY(space, oid));"
	"CREATE TABLE ledger_refs(space TEXT NOT NULL, name TEXT NOT NULL,"
	" target TEXT NOT NULL, PRIMARY KEY(space, name));"
	"UPDATE coffre_schema SET version = 4;",
	/* 4 -> 5 (SQLite 7 -> 8): a space's own chunk key, sealed. */
	"CREATE TABLE space_keys(space TEXT PRIMARY KEY,"
	" sealed TEXT NOT NULL);"
	"UPDATE coffre_schema SET version = 5;",
};

struct pg_conn {
	struct index_link link; /* first: see index_i.h */
	PGconn *db;
};

struct pg {
	char *url;
	struct index_conns conns; /* every connection, one a thread */
};

static int pg_fail(PGconn *db, const PGresult *res, const char *what)
{
	const char *state =
		res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	int rc = -EIO;

	if (state && (!strcmp(state, "23505") || !strcmp(state, "23503")))
		rc = -EEXIST;
	else if (state && !strncmp(state, "53", 2))
		rc = -ENOSPC;
	else if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01") ||
			   !strcmp(state, "55P03")))
		rc = -EBUSY;
	return err_set(rc, "index: cannot %s: %s", what, PQerrorMessage(db));
}

/* Run sql with n text parameters; *out (may be NULL) gets the result. */
static int q(struct pg_conn *c, PGresult **out, const char *what,
	     const char *sql, int n, const char *const *p)
{
	PGresult *res;
	ExecStatusType st;
	int rc = 0;

	/* After an error PostgreSQL refuses every statement of the
	 * transaction, and its COMMIT rolls back without an error: doomed
	 * here, so the caller's commit fails instead of saying it held. */
	if (c->link.depth > 0 && c->link.doomed)
		return err_set(-EIO,
			       "index: the transaction failed and is undone");
	/* Without parameters, PQexec: it takes several commands (the schema). */
	res = n ? PQexecParams(c->db, sql, n, NULL, p, NULL, NULL, 0) :
		  PQexec(c->db, sql);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = pg_fail(c->db, res, what);
		if (c->link.depth > 0)
			c->link.doomed = 1;
	}
	if (rc == 0 && out)
		*out = res;
	else
		PQclear(res);
	return rc;
}

static int conn_open(const char *url, struct pg_conn **out)
{
	struct pg_conn *c = calloc(1, sizeof(*c));
	PGresult *res;

	if (!c)
		return -ENOMEM;
	c->db = PQconnectdb(url);
	if (PQstatus(c->db) != CONNECTION_OK) {
		int rc = err_set(-ECONNREFUSED, "index '%s': %s", url,
				 PQerrorMessage(c->db));

		PQfinish(c->db);
		free(c);
		return rc;
	}
	/* Notices are the server's business, not coffred's output. */
	res = PQexec(c->db, "SET client_min_messages = warning");
	PQclear(res);
	*out = c;
	return 0;
}

static int conn_get(struct pg *p, struct pg_conn **out)
{
	struct pg_conn *c = (struct pg_conn *)index_conns_mine(&p->conns);
	int rc;

	if (!c) {
		rc = conn_open(p->url, &c);
		if (rc < 0)
			return rc;
		index_conns_add(&p->conns, &c->link);
	}
	*out = c;
	return 0;
}

static int schema_check(struct pg_conn *c, const char *url, int create)
{
	PGresult *res = NULL;
	int rc, version = 0;

	rc = q(c, NULL, "lock the schema",
	       "SELECT pg_advisory_lock(1129270854, 0)", 0, NULL);
	if (rc < 0)
		return rc;
	rc = q(c, NULL, "begin", "BEGIN", 0, NULL);
	if (rc == 0)
		rc = q(c, &res, "read the schema version",
		       "SELECT to_regclass('coffre_schema') IS NOT NULL", 0,
		       NULL);
	if (rc == 0 && !strcmp(PQgetvalue(res, 0, 0), "t")) {
		PQclear(res);
		res = NULL;
		rc = q(c, &res, "read the schema version",
		       "SELECT max(version) FROM coffre_schema", 0, NULL);
		if (rc == 0)
			version = atoi(PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	if (rc == 0 && version == 0 && !create)
		rc = err_set(-ENOENT,
			     "no index at '%s' (not an initialized index?)",
			     url);
	if (rc == 0 && version == 0)
		rc = q(c, NULL, "create the schema", pg_schema, 0, NULL);
	if (rc == 0 && version == 0)
		rc = q(c, NULL, "create the schema",
		       "CREATE TABLE coffre_schema(version INTEGER NOT NULL);"
		       "INSERT INTO coffre_schema VALUES(1)",
		       0, NULL);
	if (rc == 0 && version > PG_SCHEMA_VERSION)
		rc = err_set(-EPROTO,
			     "index '%s' has schema version %d, expected %d",
			     url, version, PG_SCHEMA_VERSION);
	for (version = version ? version : 1;
	     rc == 0 && version < PG_SCHEMA_VERSION; version++)
		rc = q(c, NULL, "upgrade the schema", pg_migrate[version - 1],
		       0, NULL);
	if (rc == 0)
		rc = q(c, NULL, "commit the schema", "COMMIT", 0, NULL);
	else
		PQclear(PQexec(c->db, "ROLLBACK"));
	PQclear(PQexec(c->db, "SELECT pg_advisory_unlock(1129270854, 0)"));
	return rc;
}

static void conn_close(struct index_link *l)
{
	struct pg_conn *c = (struct pg_conn *)l;

	PQfinish(c->db);
	free(c);
}

static void pg_close(void *state)
{
	struct pg *p = state;

	if (!p)
		return;
	index_conns_free(&p->conns, conn_close);
	free(p->url);
	free(p);
}

static int pg_open(void **out, const char *url, int create)
{
	struct pg *p = calloc(1, sizeof(*p));
	struct pg_conn *c;
	int rc;

	if (!p)
		return -ENOMEM;
	p->url = strdup(url);
	if (!p->url || index_conns_init(&p->conns) < 0) {
		free(p->url);
		free(p);
		return -ENOMEM;
	}
	rc = conn_get(p, &c);
	if (rc == 0)
		rc = schema_check(c, url, create);
	if (rc < 0) {
		pg_close(p);
		return rc;
	}
	*out = p;
	return 0;
}

/*
 * --- running statements ---
 *
 * Every operation runs its statement through run_n() (no rows wanted),
 * pg_one() (at most one row) or pg_each() (a listing): the result is read
 * whole, failures become an errno with the server's message, and the
 * result is cleared in one place.
 */

/* Run sql on the calling thread's connection. */
static int run(void *state, PGresult **out, const char *what, const char *sql,
	       int n, const char *const *params)
{
	struct pg_conn *c;
	int rc = conn_get(state, &c);

	return rc < 0 ? rc : q(c, out, what, sql, n, params);
}

/* Run sql; *count (may be NULL) gets the rows it changed. */
static int run_n(void *state, const char *what, const char *sql, int n,
		 const char *const *params, int *count)
{
	PGresult *res = NULL;
	int rc = run(state, &res, what, sql, n, params);

	if (rc == 0 && count)
		*count = atoi(PQcmdTuples(res));
	PQclear(res);
	return rc;
}

/* pg_one() without a row. */
#define PG_NO_ROW 1

/* Reads row i of a result. */
typedef int (*pg_row_fn)(PGresult *res, int i, void *arg);

/* Read the first row with row(); PG_NO_ROW when there is none, which the
 * caller words (an error for some, a default for others). */
static int pg_one(void *state, const char *what, const char *sql, int n,
		  const char *const *params, pg_row_fn row, void *arg)
{
	PGresult *res = NULL;
	int rc = run(state, &res, what, sql, n, params);

	if (rc == 0)
		rc = PQntuples(res) > 0 ? row(res, 0, arg) : PG_NO_ROW;
	PQclear(res);
	return rc;
}

/* Each row to row() until it returns non-zero, which is returned; the
 * result is whole before the first call, so row may use the index. */
static int pg_each(void *state, const char *what, const char *sql, int n,
		   const char *const *params, pg_row_fn row, void *arg)
{
	PGresult *res = NULL;
	int rc = run(state, &res, what, sql, n, params);

	for (int i = 0; rc == 0 && i < PQntuples(res); i++)
		rc = row(res, i, arg);
	PQclear(res);
	return rc;
}

struct num {
	char s[24];
};

static struct num num(int64_t v)
{
	struct num n;

	snprintf(n.s, sizeof(n.s), "%" PRId64, v);
	return n;
}

static const char *val(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int64_t ival(PGresult *res, int row, int col)
{
	const char *s = val(res, row, col);

	return s ? strtoll(s, NULL, 10) : 0;
}

static int bval(PGresult *res, int row, int col)
{
	const char *s = val(res, row, col);

	return s && s[0] == 't';
}

static void hex_of(const uint8_t *h, char out[2 * INDEX_TOKEN_HASH_LEN + 1])
{
	hex_encode(h, INDEX_TOKEN_HASH_LEN, out);
}

/* --- rows --- */

static int row_none(PGresult *res, int i, void *arg)
{
	(void)res;
	(void)i;
	(void)arg;
	return 0;
}

static int row_int64(PGresult *res, int i, void *arg)
{
	*(int64_t *)arg = ival(res, i, 0);
	return 0;
}

static int row_text(PGresult *res, int i, void *arg)
{
	struct index_text_out *t = arg;
	const char *s = val(res, i, 0);

	if (!s || strlen(s) >= t->len)
		return err_set(-EIO, "index: bad value while trying to %s",
			       t->what);
	memcpy(t->out, s, strlen(s) + 1);
	return 0;
}

static int row_two(PGresult *res, int i, void *arg)
{
	struct index_two_out *t = arg;

	snprintf(t->a, t->alen, "%s", val(res, i, 0));
	if (t->b)
		snprintf(t->b, t->blen, "%s", val(res, i, 1));
	return 0;
}

static int row_seq_text(PGresult *res, int i, void *arg)
{
	struct index_seq_out *t = arg;

	*t->seq = (uint64_t)ival(res, i, 0);
	snprintf(t->text, t->len, "%s", val(res, i, 1) ? val(res, i, 1) : "");
	return 0;
}

/* --- transactions and locks --- */

static int pg_begin(void *state, struct index_txn **tx)
{
	struct pg_conn *c;
	int rc = conn_get(state, &c);

	if (rc < 0)
		return rc;
	if (!index_txn_nest(&c->link)) {
		rc = q(c, NULL, "begin a transaction", "BEGIN", 0, NULL);
		if (rc < 0)
			return rc;
		index_txn_opened(&c->link);
	}
	*tx = (struct index_txn *)c;
	return 0;
}

static void pg_rollback(void *state, struct index_txn *tx)
{
	struct pg_conn *c = (struct pg_conn *)tx;

	(void)state;
	if (index_txn_leave(&c->link, 1))
		return;
	PQclear(PQexec(c->db, "ROLLBACK"));
	index_txn_closed(&c->link);
}

static int pg_commit(void *state, struct index_txn *tx)
{
	struct pg_conn *c = (struct pg_conn *)tx;
	int rc;

	(void)state;
	if (index_txn_leave(&c->link, 0))
		return 0;
	rc = index_txn_check(&c->link);
	if (rc == 0) {
		PGresult *res = NULL;

		rc = q(c, &res, "commit", "COMMIT", 0, NULL);
		/* a transaction that failed answers COMMIT with ROLLBACK */
		if (rc == 0 && strcmp(PQcmdStatus(res), "COMMIT") != 0)
			rc = err_set(-EIO, "index: the transaction was undone");
		PQclear(res);
	}
	if (rc < 0)
		PQclear(PQexec(c->db, "ROLLBACK"));
	index_txn_closed(&c->link);
	return rc;
}

static int pg_lock_space(void *state, struct index_txn *tx, const char *name)
{
	struct pg_conn *c = (struct pg_conn *)tx;
	const char *p[] = { name };

	(void)state;
	if (c->link.depth == 0)
		return err_set(-EINVAL, "index: a lock outside a transaction");
	return q(c, NULL, "take a lock",
		 "SELECT pg_advisory_xact_lock(1129270854, hashtext($1::text))",
		 1, p);
}

/* --- users and sessions --- */

static int pg_user_add(void *s, const char *login, const char *phone,
		       const char *pwhash, int64_t now)
{
	struct num n = num(now);
	const char *p[] = { login, phone, pwhash, n.s };
	int rc = run_n(
		s, "add the user",
		"INSERT INTO users(login, phone, pwhash, created_at) VALUES($1, $2, $3, $4)",
		4, p, NULL);

	if (rc == -EEXIST)
		rc = err_set(-EEXIST, "user '%s' already exists", login);
	return rc;
}

static int pg_user_pwhash(void *s, const char *login, char *out, size_t outlen)
{
	struct index_text_out t = { out, outlen, "look up a user" };
	const char *p[] = { login };
	int rc = pg_one(s, t.what, "SELECT pwhash FROM users WHERE login = $1",
			1, p, row_text, &t);

	if (rc == PG_NO_ROW)
		rc = err_set(-ENOENT, "no user '%s'", login);
	return rc;
}

static int pg_tokens_drop_all(void *s, const char *login,
			      const uint8_t keep[INDEX_TOKEN_HASH_LEN])
{
	char hex[2 * INDEX_TOKEN_HASH_LEN + 1];
	const char *p[] = { login, keep ? hex : NULL };
	int rc, n = 0;

	if (keep)
		hex_of(keep, hex);
	rc = run_n(
		s, "revoke sessions",
		"DELETE FROM tokens WHERE login = $1 AND ($2::text IS NULL OR hash <> decode($2, 'hex'))",
		2, p, &n);
	return rc < 0 ? rc : n;
}

static int pg_user_set_password(void *s, const char *login, const char *pwhash,
				const uint8_t keep[INDEX_TOKEN_HASH_LEN])
{
	const char *p[] = { login, pwhash };
	struct index_txn *tx;
	int rc, n = 0, dropped = 0;

	rc = pg_begin(s, &tx);
	if (rc < 0)
		return rc;
	rc = run_n(s, "change a password",
		   "UPDATE users SET pwhash = $2 WHERE login = $1", 2, p, &n);
	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no user '%s'", login);
	/* The new password and the end of the other sessions, together. */
	if (rc == 0) {
		dropped = pg_tokens_drop_all(s, login, keep);
		rc = dropped < 0 ? dropped : 0;
	}
	if (rc == 0)
		rc = pg_commit(s, tx);
	else
		pg_rollback(s, tx);
	return rc < 0 ? rc : dropped;
}

static int pg_token_add(void *s, const uint8_t hash[INDEX_TOKEN_HASH_LEN],
			const char *login, int64_t expires_at, int64_t now,
			const char *address)
{
	char hex[2 * INDEX_TOKEN_HASH_LEN + 1];
	struct num e = num(expires_at), n = num(now),
		   t = num((int64_t)time(NULL));
	const char *p[] = { hex, login, e.s, n.s, address };
	const char *pp[] = { t.s };
	int rc;

	hex_of(hash, hex);
	rc = run_n(
		s, "store a token",
		"INSERT INTO tokens(hash, login, expires_at, created_at, address) VALUES(decode($1, 'hex'), $2, $3, $4, $5)",
		5, p, NULL);
	/* Expired tokens are useless: drop them while we are here. */
	if (rc == 0 &&
	    run_n(s, "drop expired tokens",
		  "DELETE FROM tokens WHERE expires_at <= $1", 1, pp, NULL) < 0)
		err_clear();
	return rc;
}

static int pg_token_login(void *s, const uint8_t hash[INDEX_TOKEN_HASH_LEN],
			  int64_t now, char *out, size_t outlen)
{
	char hex[2 * INDEX_TOKEN_HASH_LEN + 1];
	struct index_text_out t = { out, outlen, "look up a token" };
	struct num n = num(now);
	const char *p[] = { hex, n.s };
	int rc;

	hex_of(hash, hex);
	rc = pg_one(
		s, t.what,
		"SELECT login FROM tokens WHERE hash = decode($1, 'hex') AND expires_at > $2",
		2, p, row_text, &t);
	return rc == PG_NO_ROW ? -ENOENT : rc;
}

static int pg_token_drop(void *s, const uint8_t hash[INDEX_TOKEN_HASH_LEN])
{
	char hex[2 * INDEX_TOKEN_HASH_LEN + 1];
	const char *p[] = { hex };
	int rc, n = 0;

	hex_of(hash, hex);
	rc = run_n(s, "revoke a token",
		   "DELETE FROM tokens WHERE hash = decode($1, 'hex')", 1, p,
		   &n);
	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no such session");
	return rc;
}

static int row_token(PGresult *res, int i, void *arg)
{
	struct index_fwd *f = arg;
	struct index_token tk = {
		.id = val(res, i, 0),
		.created_at = ival(res, i, 1),
		.expires_at = ival(res, i, 2),
		.address = val(res, i, 3),
		.current = bval(res, i, 4),
	};

	return f->cb.token(&tk, f->arg);
}

static int pg_tokens_of(void *s, const char *login,
			const uint8_t current[INDEX_TOKEN_HASH_LEN],
			int64_t now, index_token_cb cb, void *arg)
{
	char hex[2 * INDEX_TOKEN_HASH_LEN + 1];
	struct index_fwd f = { .cb.token = cb, .arg = arg };
	struct num n = num(now);
	const char *p[] = { login, current ? hex : NULL, n.s };

	if (current)
		hex_of(current, hex);
	/* A session's id: the first 8 bytes of its token's SHA-256. */
	return pg_each(
		s, "list sessions",
		"SELECT encode(substring(hash from 1 for 8), 'hex'), created_at, expires_at, address, coalesce(hash = decode($2, 'hex'), false) FROM tokens WHERE login = $1 AND expires_at > $3 ORDER BY created_at, hash",
		3, p, row_token, &f);
}

static int pg_token_drop_id(void *s, const char *login, const char *id)
{
	const char *p[] = { login, id };
	int rc, n = 0;

	rc = run_n(
		s, "revoke a session",
		"DELETE FROM tokens WHERE login = $1 AND encode(substring(hash from 1 for 8), 'hex') = $2",
		2, p, &n);
	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no such session '%s'", id);
	return rc;
}

/* --- spaces and the access mirror --- */

static int pg_space_add(void *s, const char *name, const char *kind,
			const char *owner, int64_t now)
{
	struct num n = num(now);
	const char *p[] = { name, kind, n.s };
	const char *pm[] = { name, owner };
	struct index_txn *tx;
	int rc;

	rc = pg_begin(s, &tx);
	if (rc < 0)
		return rc;
	rc = run_n(
		s, "add the space",
		"INSERT INTO spaces(name, kind, created_at) VALUES($1, $2, $3)",
		3, p, NULL);
	if (rc == -EEXIST)
		rc = err_set(-EEXIST, "space '%s' already exists", name);
	if (rc == 0) {
		rc = run_n(
			s, "add the owner",
			"INSERT INTO members(space, login, role) VALUES($1, $2, 'owner')",
			2, pm, NULL);
		if (rc == -EEXIST) /* the foreign key on users(login) */
			rc = err_set(-ENOENT, "no user '%s'", owner);
	}
	if (rc == 0)
		return pg_commit(s, tx);
	pg_rollback(s, tx);
	return rc;
}

static int pg_member_get(void *s, const char *space, const char *login,
			 char *kind, size_t kindlen, char *role, size_t rolelen)
{
	struct index_two_out t = { kind, kindlen, role, rolelen };
	const char *p[] = { space, login };
	int rc = pg_one(
		s, "look up a member",
		"SELECT s.kind, m.role FROM members m JOIN spaces s ON s.name = m.space WHERE m.space = $1 AND m.login = $2",
		2, p, row_two, &t);

	if (rc == PG_NO_ROW)
		rc = err_set(-ENOENT, "no such space '%s'", space);
	return rc;
}

static int row_space(PGresult *res, int i, void *arg)
{
	struct index_fwd *f = arg;

	return f->cb.space(val(res, i, 0), val(res, i, 1), val(res, i, 2),
			   f->arg);
}

static int pg_spaces_of(void *s, const char *login, index_space_cb cb,
			void *arg)
{
	struct index_fwd f = { .cb.space = cb, .arg = arg };
	const char *p[] = { login };

	return pg_each(
		s, "list spaces",
		"SELECT s.name, s.kind, m.role FROM members m JOIN spaces s ON s.name = m.space WHERE m.login = $1 ORDER BY s.name COLLATE \"C\"",
		1, p, row_space, &f);
}

static int row_access(PGresult *res, int i, void *arg)
{
	struct index_access_out *t = arg;

	snprintf(t->role, t->rolelen, "%s", val(res, i, 0));
	*t->admin = bval(res, i, 1);
	return 0;
}

static int pg_member_access(void *s, const char *space, const char *login,
			    char *role, size_t rolelen, int *admin)
{
	struct index_access_out t = { role, rolelen, admin };
	const char *p[] = { space, login };
	int rc = pg_one(
		s, "look up a member",
		"SELECT m.role, d.login IS NOT NULL FROM members m LEFT JOIN delegations d ON d.space = m.space AND d.login = m.login WHERE m.space = $1 AND m.login = $2",
		2, p, row_access, &t);

	if (rc == PG_NO_ROW)
		rc = err_set(-ENOENT, "no such space '%s'", space);
	return rc;
}

static int row_member(PGresult *res, int i, void *arg)
{
	struct index_fwd *f = arg;

	return f->cb.member(val(res, i, 0), val(res, i, 1), bval(res, i, 2),
			    f->arg);
}

static int pg_members(void *s, const char *space, index_member_cb cb, void *arg)
{
	struct index_fwd f = { .cb.member = cb, .arg = arg };
	const char *p[] = { space };

	return pg_each(
		s, "list members",
		"SELECT m.login, m.role, d.login IS NOT NULL FROM members m LEFT JOIN delegations d ON d.space = m.space AND d.login = m.login WHERE m.space = $1 ORDER BY m.login COLLATE \"C\"",
		1, p, row_member, &f);
}

static int pg_member_put(void *s, const char *space, const char *login,
			 const char *role, int replace)
{
	const char *p[] = { space, login, role };

	return run_n(
		s, "update the access mirror",
		replace ?
			"INSERT INTO members(space, login, role) VALUES($1, $2, $3) ON CONFLICT (space, login) DO UPDATE SET role = EXCLUDED.role" :
			"INSERT INTO members(space, login, role) VALUES($1, $2, $3)",
		3, p, NULL);
}

static int pg_member_drop(void *s, const char *space, const char *login)
{
	const char *p[] = { space, login };
	int rc = run_n(s, "update the access mirror",
		       "DELETE FROM members WHERE space = $1 AND login = $2", 2,
		       p, NULL);

	if (rc == 0)
		rc = run_n(
			s, "update the access mirror",
			"DELETE FROM delegations WHERE space = $1 AND login = $2",
			2, p, NULL);
	if (rc == 0)
		rc = run_n(s, "update the access mirror",
			   "DELETE FROM grants WHERE space = $1 AND login = $2",
			   2, p, NULL);
	return rc;
}

/* The integer in the first cell of a query, 0 without a row. */
static int count(void *s, const char *what, const char *sql, int n,
		 const char *const *p, int64_t *out)
{
	int rc;

	*out = 0;
	rc = pg_one(s, what, sql, n, p, row_int64, out);
	return rc == PG_NO_ROW ? 0 : rc;
}

static int pg_owners_count(void *s, const char *space, int *n)
{
	const char *p[] = { space };
	int64_t v = 0;
	int rc = count(
		s, "count owners",
		"SELECT count(*) FROM members WHERE space = $1 AND role = 'owner'",
		1, p, &v);

	*n = (int)v;
	return rc;
}

static int pg_delegation_set(void *s, const char *space, const char *login,
			     int on)
{
	const char *p[] = { space, login };

	return run_n(
		s, "update the access mirror",
		on ? "INSERT INTO delegations(space, login) VALUES($1, $2) ON CONFLICT DO NOTHING" :
		     "DELETE FROM delegations WHERE space = $1 AND login = $2",
		2, p, NULL);
}

static int row_grant(PGresult *res, int i, void *arg)
{
	struct index_fwd *f = arg;

	return f->cb.grant(val(res, i, 0), val(res, i, 1), val(res, i, 2),
			   f->arg);
}

static int pg_grants(void *s, const char *space, const char *login,
		     size_t limit, index_grant_cb cb, void *arg)
{
	struct index_fwd f = { .cb.grant = cb, .arg = arg };
	struct num l = num(limit ? (int64_t)limit : INT64_MAX);
	const char *p[] = { space, login, l.s };
	const char *pa[] = { space, l.s };

	if (login)
		return pg_each(
			s, "read grants",
			"SELECT path, login, level FROM grants WHERE space = $1 AND login = $2 LIMIT $3",
			3, p, row_grant, &f);
	return pg_each(
		s, "read grants",
		"SELECT path, login, level FROM grants WHERE space = $1 ORDER BY path COLLATE \"C\", login COLLATE \"C\" LIMIT $2",
		2, pa, row_grant, &f);
}

static int pg_grant_put(void *s, const char *space, const char *path,
			const char *login, const char *level, int replace)
{
	const char *p[] = { space, path, login, level };

	return run_n(
		s, "update the access mirror",
		replace ?
			"INSERT INTO grants(space, path, login, level) VALUES($1, $2, $3, $4) ON CONFLICT (space, login, path) DO UPDATE SET level = EXCLUDED.level" :
			"INSERT INTO grants(space, path, login, level) VALUES($1, $2, $3, $4)",
		4, p, NULL);
}

static int pg_grant_drop(void *s, const char *space, const char *path,
			 const char *login)
{
	const char *p[] = { space, path, login };
	int n = 0;
	int rc = run_n(
		s, "update the access mirror",
		"DELETE FROM grants WHERE space = $1 AND path = $2 AND login = $3",
		3, p, &n);

	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "'%s' holds no grant on '%s'", login,
			     path);
	return rc;
}

static int pg_grants_drop_all(void *s, const char *space, const char *login)
{
	const char *p[] = { space, login };

	return run_n(s, "update the access mirror",
		     "DELETE FROM grants WHERE space = $1 AND login = $2", 2, p,
		     NULL);
}

static int pg_grants_read_only(void *s, const char *space, const char *login)
{
	const char *p[] = { space, login };

	return run_n(
		s, "update the access mirror",
		"UPDATE grants SET level = 'read' WHERE space = $1 AND login = $2",
		2, p, NULL);
}

static int pg_grants_count(void *s, const char *space, const char *login,
			   int *n)
{
	const char *p[] = { space, login };
	int64_t v = 0;
	int rc = count(
		s, "count grants",
		"SELECT count(*) FROM grants WHERE space = $1 AND login = $2",
		2, p, &v);

	*n = (int)v;
	return rc;
}

static int pg_grant_elsewhere(void *s, const char *space, const char *login,
			      const char *path, int *found)
{
	const char *p[] = { space, login, path };
	int64_t v = 0;
	int rc = count(
		s, "read grants",
		"SELECT count(*) FROM grants WHERE space = $1 AND login = $2 AND path <> $3",
		3, p, &v);

	*found = v != 0;
	return rc;
}

static int pg_grants_move(void *s, const char *space, const char *from,
			  const char *to, int *n)
{
	const char *p[] = { space, from, to };

	*n = 0;
	/* substr() rather than LIKE: names may hold '%' and '_'. */
	if (to)
		return run_n(
			s, "update the access mirror",
			"UPDATE grants SET path = $3::text || substr(path, length($2::text) + 1) WHERE space = $1 AND (path = $2::text OR substr(path, 1, length($2::text) + 1) = $2::text || '/')",
			3, p, n);
	return run_n(
		s, "update the access mirror",
		"DELETE FROM grants WHERE space = $1 AND (path = $2::text OR substr(path, 1, length($2::text) + 1) = $2::text || '/')",
		2, p, n);
}

static int pg_access_clear(void *s, const char *space)
{
	const char *p[] = { space };
	int rc = run_n(s, "update the access mirror",
		       "DELETE FROM members WHERE space = $1", 1, p, NULL);

	if (rc == 0)
		rc = run_n(s, "update the access mirror",
			   "DELETE FROM delegations WHERE space = $1", 1, p,
			   NULL);
	if (rc == 0)
		rc = run_n(s, "update the access mirror",
			   "DELETE FROM grants WHERE space = $1", 1, p, NULL);
	return rc;
}

/* --- versions --- */

struct vchunk {
	void *s;
	const char *space;
	const char *doc_id;
	const char *version;
	int64_t bytes; /* of the chunks no version of the space named before */
};

static int pg_chunk_known(void *s, const char *space, const char *hex)
{
	const char *p[] = { space, hex };
	int rc = pg_one(
		s, "look up a chunk",
		"SELECT 1 FROM version_chunks WHERE space = $1 AND chunk = $2 LIMIT 1",
		2, p, row_none, NULL);

	return rc == PG_NO_ROW ? 0 : rc < 0 ? rc : 1;
}

static int vchunk_put(const char *hex, uint64_t size, void *arg)
{
	struct vchunk *vc = arg;
	const char *cp[] = { vc->space, hex, vc->doc_id, vc->version };
	int known = pg_chunk_known(vc->s, vc->space, hex);

	if (known < 0)
		return known;
	if (!known)
		vc->bytes += (int64_t)size;
	return run_n(
		vc->s, "record a version's chunks",
		"INSERT INTO version_chunks(space, chunk, doc_id, version) VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
		4, cp, NULL);
}

/* -1: the document has no version yet; 0: not this one; 1: this one. */
static int row_seen(PGresult *res, int i, void *arg)
{
	const char *v = val(res, i, 0);

	*(int *)arg = !v ? -1 : v[0] == 't';
	return 0;
}

static int pg_version_put(void *s, const char *space,
			  const struct index_version *v)
{
	struct num ver = num((int64_t)v->version), size = num((int64_t)v->size);
	const char *p[] = { space,	     v->doc_id,
			    ver.s,	     size.s,
			    v->sha256,	     v->deposited_by,
			    v->deposited_at, v->commit,
			    v->manifest,     v->sealed ? "1" : "0" };
	const char *ps[] = { space, v->doc_id, ver.s };
	struct vchunk vc = { s, space, v->doc_id, ver.s, 0 };
	struct num bytes;
	int seen = -1;
	int rc;

	rc = pg_one(
		s, "look up a version",
		"SELECT bool_or(version = $3::bigint) FROM versions WHERE space = $1 AND doc_id = $2",
		3, ps, row_seen, &seen);
	/* A version recorded again keeps its seal (index.h). */
	if (rc == 0)
		rc = run_n(
			s, "record a version",
			"INSERT INTO versions(space, doc_id, version, size, sha256, deposited_by, deposited_at, \"commit\", manifest, sealed) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (space, doc_id, version) DO UPDATE SET size = EXCLUDED.size, sha256 = EXCLUDED.sha256, deposited_by = EXCLUDED.deposited_by, deposited_at = EXCLUDED.deposited_at, \"commit\" = EXCLUDED.\"commit\", manifest = EXCLUDED.manifest",
			10, p, NULL);
	/* the chunks its manifest names, and what they add to the usage */
	if (rc == 0)
		rc = index_manifest_chunk_sizes(v->manifest, vchunk_put, &vc);
	if (rc == 0 && seen != 1) {
		const char *pu[] = { space, (bytes = num(vc.bytes)).s,
				     seen < 0 ? "1" : "0" };

		rc = run_n(
			s, "count a version in the usage",
			"INSERT INTO space_usage(space, bytes, documents, versions) VALUES($1, $2, $3, 1) ON CONFLICT (space) DO UPDATE SET bytes = space_usage.bytes + EXCLUDED.bytes, documents = space_usage.documents + EXCLUDED.documents, versions = space_usage.versions + 1",
			3, pu, NULL);
	}
	return rc;
}

static int row_usage(PGresult *res, int i, void *arg)
{
	struct index_usage *u = arg;

	u->bytes = (uint64_t)ival(res, i, 0);
	u->documents = (uint64_t)ival(res, i, 1);
	u->versions = (uint64_t)ival(res, i, 2);
	u->quota = val(res, i, 3) ? ival(res, i, 3) : -1;
	return 0;
}

static int pg_usage_get(void *s, const char *space, struct index_usage *u)
{
	const char *p[] = { space };
	int rc;

	*u = (struct index_usage){ .quota = -1 };
	rc = pg_one(
		s, "read a space's usage",
		"SELECT bytes, documents, versions, quota FROM space_usage WHERE space = $1",
		1, p, row_usage, u);
	return rc == PG_NO_ROW ? 0 : rc;
}

static int pg_quota_set(void *s, const char *space, int64_t quota)
{
	struct num n = num(quota);
	const char *p[] = { space, quota < 0 ? NULL : n.s };

	return run_n(
		s, "set a space's quota",
		"INSERT INTO space_usage(space, quota) VALUES($1, $2) ON CONFLICT (space) DO UPDATE SET quota = EXCLUDED.quota",
		2, p, NULL);
}

/* A version row; the seal is column 8 when the query reads it. */
static int row_version(PGresult *res, int i, void *arg)
{
	struct index_fwd *f = arg;
	struct index_version v = {
		.doc_id = val(res, i, 0),
		.version = (uint64_t)ival(res, i, 1),
		.size = (uint64_t)ival(res, i, 2),
		.sha256 = val(res, i, 3),
		.deposited_by = val(res, i, 4),
		.deposited_at = val(res, i, 5),
		.commit = val(res, i, 6),
		.manifest = val(res, i, 7),
		.sealed = PQnfields(res) > 8 ? (int)ival(res, i, 8) : 0,
	};

	f->n++;
	return f->cb.version(&v, f->arg);
}

static int pg_versions(void *s, const char *space, const char *doc_id,
		       uint64_t version, index_version_cb cb, void *arg)
{
	struct index_fwd f = { .cb.version = cb, .arg = arg };
	struct num v = num((int64_t)version);
	const char *p[] = { space, doc_id, v.s };
	int rc;

	rc = pg_each(
		s, "list versions",
		version ?
			"SELECT doc_id, version, size, sha256, deposited_by, deposited_at, \"commit\", manifest, sealed FROM versions WHERE space = $1 AND doc_id = $2 AND version = $3" :
			"SELECT doc_id, version, size, sha256, deposited_by, deposited_at, \"commit\", manifest, sealed FROM versions WHERE space = $1 AND doc_id = $2 ORDER BY version",
		version ? 3 : 2, p, row_version, &f);
	return rc < 0 ? rc : f.n;
}

static int pg_versions_all(void *s, const char *space, index_version_cb cb,
			   void *arg)
{
	struct index_fwd f = { .cb.version = cb, .arg = arg };
	const char *p[] = { space };

	return pg_each(
		s, "read versions",
		"SELECT doc_id, version, size, sha256, deposited_by, deposited_at, \"commit\", manifest FROM versions WHERE space = $1",
		1, p, row_version, &f);
}

struct chunk_fwd {
	index_chunk_cb cb;
	void *arg;
};

static int row_chunk(PGresult *res, int i, void *arg)
{
	struct chunk_fwd *f = arg;

	return f->cb(val(res, i, 0), (uint64_t)ival(res, i, 1),
		     (int)ival(res, i, 2), f->arg);
}

static int pg_chunk_versions(void *s, const char *space, const char *chunk_hex,
			     index_chunk_cb cb, void *arg)
{
	struct chunk_fwd f = { cb, arg };
	const char *p[] = { space, chunk_hex };

	/* the result is whole before the first call: cb may use the index */
	return pg_each(
		s, "look up a chunk's versions",
		"SELECT c.doc_id, c.version, v.sealed FROM version_chunks c JOIN versions v ON v.space = c.space AND v.doc_id = c.doc_id AND v.version = c.version WHERE c.space = $1 AND c.chunk = $2 ORDER BY c.doc_id, c.version",
		2, p, row_chunk, &f);
}

static int pg_version_unseal(void *s, const char *space, const char *doc_id,
			     uint64_t version)
{
	struct num v = num((int64_t)version);
	const char *p[] = { space, doc_id, v.s };
	int n = 0;
	int rc = run_n(
		s, "unseal a version",
		"UPDATE versions SET sealed = 0 WHERE space = $1 AND doc_id = $2 AND version = $3 AND sealed = 1",
		3, p, &n);

	return rc < 0 ? rc : n;
}

static int pg_sealed_any(void *s, const char *space)
{
	const char *p[] = { space };
	int rc = pg_one(
		s, "look for sealed versions",
		"SELECT 1 FROM versions WHERE space = $1 AND sealed = 1 LIMIT 1",
		1, p, row_none, NULL);

	if (rc == PG_NO_ROW)
		return 0;
	return rc < 0 ? rc : 1;
}

/* --- event journal --- */

static int pg_event_head(void *s, struct index_txn *tx, const char *chain,
			 uint64_t *seq, char hash[65])
{
	struct index_seq_out t = { seq, hash, 65 };
	const char *p[] = { chain };
	int rc;

	(void)tx;
	*seq = 0;
	hash[0] = '\0';
	rc = pg_one(
		s, "read the chain head",
		"SELECT seq, hash FROM events WHERE space = $1 ORDER BY seq DESC LIMIT 1",
		1, p, row_seq_text, &t);
	return rc == PG_NO_ROW ? 0 : rc;
}

static int pg_event_insert(void *s, struct index_txn *tx, const char *chain,
			   const struct events_row *r)
{
	struct num seq = num((int64_t)r->seq), at = num(r->at),
		   ver = num((int64_t)r->version);
	const char *p[] = {
		chain,	   seq.s,	 at.s,	    r->login,
		r->kind,   r->path,	 r->doc_id, r->version ? ver.s : NULL,
		r->detail, r->prev_hash, r->hash
	};

	(void)tx;
	return run_n(
		s, "record an event",
		"INSERT INTO events(space, seq, at, login, kind, path, doc_id, version, detail, prev_hash, hash) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
		11, p, NULL);
}

static int row_event(PGresult *res, int i, void *arg)
{
	struct index_fwd *f = arg;
	struct events_row r = {
		.seq = (uint64_t)ival(res, i, 0),
		.at = ival(res, i, 1),
		.login = val(res, i, 2),
		.kind = val(res, i, 3),
		.path = val(res, i, 4),
		.doc_id = val(res, i, 5),
		.version = (uint64_t)ival(res, i, 6),
		.detail = val(res, i, 7),
		.prev_hash = f->with_hashes ? val(res, i, 8) : NULL,
		.hash = f->with_hashes ? val(res, i, 9) : NULL,
	};

	return f->cb.event(&r, f->arg);
}

static int pg_event_chain(void *s, const char *chain, index_event_cb cb,
			  void *arg)
{
	struct index_fwd f = { .cb.event = cb, .arg = arg, .with_hashes = 1 };
	const char *p[] = { chain };

	return pg_each(
		s, "read the chain",
		"SELECT seq, at, login, kind, path, doc_id, version, detail, prev_hash, hash FROM events WHERE space = $1 ORDER BY seq",
		1, p, row_event, &f);
}

static int pg_events_list(void *s, const char *chain, const char *prefix,
			  int reads, uint64_t after, size_t limit,
			  index_event_cb cb, void *arg)
{
	struct index_fwd f = { .cb.event = cb, .arg = arg };
	struct num a = num((int64_t)after), l = num((int64_t)limit);
	const char *p[] = { chain, a.s, prefix, reads ? "1" : "0", l.s };

	return pg_each(
		s, "list events",
		"SELECT seq, at, login, kind, path, doc_id, version, detail FROM events WHERE space = $1 AND seq > $2 AND path IS NOT NULL AND ($3::text = '/' OR path = $3::text OR substr(path, 1, length($3::text) + 1) = $3::text || '/') AND ((kind = 'read') = ($4::int <> 0)) ORDER BY seq LIMIT $5",
		5, p, row_event, &f);
}

static int row_hash(PGresult *res, int i, void *arg)
{
	if (!val(res, i, 0))
		return -ENOENT;
	snprintf(arg, 65, "%s", val(res, i, 0));
	return 0;
}

static int pg_event_hash(void *s, const char *chain, uint64_t seq,
			 char hash[65])
{
	struct num n = num((int64_t)seq);
	const char *p[] = { chain, n.s };
	int rc = pg_one(s, "read an event",
			"SELECT hash FROM events WHERE space = $1 AND seq = $2",
			2, p, row_hash, hash);

	return rc == PG_NO_ROW ? -ENOENT : rc;
}

static int pg_doc_last_path(void *s, const char *space, const char *doc_id,
			    uint64_t *seq, char *path, size_t pathlen)
{
	struct index_seq_out t = { seq, path, pathlen };
	const char *p[] = { space, doc_id };
	int rc;

	path[0] = '\0';
	*seq = 0;
	rc = pg_one(
		s, "read the journal",
		"SELECT seq, path FROM events WHERE space = $1 AND doc_id = $2 AND path IS NOT NULL AND kind IN ('deposit', 'move') ORDER BY seq DESC LIMIT 1",
		2, p, row_seq_text, &t);
	if (rc == PG_NO_ROW)
		rc = err_set(-ENOENT, "no such document '%s'", doc_id);
	return rc;
}

static int row_move(PGresult *res, int i, void *arg)
{
	struct index_fwd *f = arg;

	return f->cb.move(f->arg, val(res, i, 0), val(res, i, 1));
}

static int pg_folder_moves(void *s, const char *space, uint64_t after,
			   index_move_cb cb, void *arg)
{
	struct index_fwd f = { .cb.move = cb, .arg = arg };
	struct num a = num((int64_t)after);
	const char *p[] = { space, a.s };

	return pg_each(
		s, "read the journal",
		"SELECT path, detail FROM events WHERE space = $1 AND seq > $2 AND kind = 'move' AND doc_id IS NULL AND detail IS NOT NULL ORDER BY seq",
		2, p, row_move, &f);
}

/* --- invitations --- */

static int pg_invite_put(void *s, const char *space, const char *login,
			 const char *role, const char *by, int64_t now, int max)
{
	struct num n = num(now), m = num(max);
	const char *p[] = { space, login, role, by, n.s, m.s };
	int rc, changed_rows = 0;

	/* The cap and the insert in one statement. */
	rc = run_n(
		s, "invite",
		"INSERT INTO invitations(space, login, role, invited_by, at) SELECT $1, $2, $3, $4, $5::bigint WHERE (SELECT count(*) FROM invitations WHERE space = $1 AND login <> $2) < $6::int ON CONFLICT (space, login) DO UPDATE SET role = EXCLUDED.role, invited_by = EXCLUDED.invited_by, at = EXCLUDED.at",
		6, p, &changed_rows);
	if (rc == 0 && changed_rows == 0)
		rc = err_set(-E2BIG, "'%s' has %d invitations pending already",
			     space, max);
	return rc;
}

static int pg_invite_get(void *s, const char *space, const char *login,
			 char *role, size_t rolelen, char *by, size_t bylen)
{
	struct index_two_out t = { role, rolelen, by, bylen };
	const char *p[] = { space, login };
	int rc = pg_one(
		s, "read an invitation",
		"SELECT role, invited_by FROM invitations WHERE space = $1 AND login = $2",
		2, p, row_two, &t);

	if (rc == PG_NO_ROW)
		rc = err_set(-ENOENT, "no invitation to '%s'", space);
	return rc;
}

static int pg_invite_drop(void *s, const char *space, const char *login)
{
	const char *p[] = { space, login };
	int n = 0;
	int rc =
		run_n(s, "drop an invitation",
		      "DELETE FROM invitations WHERE space = $1 AND login = $2",
		      2, p, &n);

	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no invitation to '%s'", space);
	return rc;
}

static int row_invite(PGresult *res, int i, void *arg)
{
	struct index_fwd *f = arg;
	struct invite inv = {
		.space = val(res, i, 0),
		.login = val(res, i, 1),
		.role = val(res, i, 2),
		.by = val(res, i, 3),
		.at = ival(res, i, 4),
	};

	return f->cb.invite(&inv, f->arg);
}

static int pg_invite_list(void *s, const char *space, const char *login,
			  invite_cb cb, void *arg)
{
	struct index_fwd f = { .cb.invite = cb, .arg = arg };
	const char *p[] = { space, login };

	return pg_each(
		s, "list invitations",
		"SELECT space, login, role, invited_by, at FROM invitations WHERE ($1::text IS NULL OR space = $1::text) AND ($2::text IS NULL OR login = $2::text) ORDER BY space COLLATE \"C\", login COLLATE \"C\"",
		2, p, row_invite, &f);
}

/* --- login throttling --- */

static int row_throttle(PGresult *res, int i, void *arg)
{
	struct index_throttle_row *r = arg;

	r->failures = ival(res, i, 0);
	r->last_at = ival(res, i, 1);
	r->next_at = ival(res, i, 2);
	r->locked_until = ival(res, i, 3);
	return 0;
}

static int pg_throttle_get(void *s, const char *key,
			   struct index_throttle_row *r)
{
	const char *p[] = { key };
	int rc;

	memset(r, 0, sizeof(*r));
	rc = pg_one(
		s, "read a throttle row",
		"SELECT failures, last_at, next_at, locked_until FROM login_throttle WHERE key = $1",
		1, p, row_throttle, r);
	return rc == PG_NO_ROW ? 0 : rc;
}

static int pg_throttle_put(void *s, const char *key,
			   const struct index_throttle_row *r)
{
	struct num f = num(r->failures), l = num(r->last_at),
		   n = num(r->next_at), u = num(r->locked_until);
	const char *p[] = { key, f.s, l.s, n.s, u.s };

	return run_n(
		s, "count a failure",
		"INSERT INTO login_throttle(key, failures, last_at, next_at, locked_until) VALUES($1, $2, $3, $4, $5) ON CONFLICT (key) DO UPDATE SET failures = EXCLUDED.failures, last_at = EXCLUDED.last_at, next_at = EXCLUDED.next_at, locked_until = EXCLUDED.locked_until",
		5, p, NULL);
}

static int pg_throttle_forget(void *s, int64_t before, int64_t now)
{
	struct num b = num(before), n = num(now);
	const char *p[] = { b.s, n.s };

	return run_n(
		s, "forget old failures",
		"DELETE FROM login_throttle WHERE last_at < $1 AND locked_until <= $2",
		2, p, NULL);
}

static int pg_throttle_count(void *s, int64_t *n)
{
	return count(s, "count throttle rows",
		     "SELECT count(*) FROM login_throttle", 0, NULL, n);
}

static int pg_throttle_trim(void *s, const char *keep1, const char *keep2,
			    int64_t now, int64_t n)
{
	struct num t = num(now), c = num(n);
	const char *p[] = { keep1, keep2, t.s, c.s };

	return run_n(
		s, "forget old throttle rows",
		"DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle WHERE key NOT IN ($1, $2) ORDER BY locked_until > $3, last_at LIMIT $4)",
		4, p, NULL);
}

static int pg_throttle_drop(void *s, const char *key)
{
	const char *p[] = { key };

	return run_n(s, "forget a login's failures",
		     "DELETE FROM login_throttle WHERE key = $1", 1, p, NULL);
}

static int pg_throttle_forgive(void *s, const char *key, int lift)
{
	const char *p[] = { key, lift ? "1" : "0" };

	return run_n(
		s, "forgive an address",
		"UPDATE login_throttle SET failures = greatest(failures - 1, 0), next_at = 0, locked_until = CASE WHEN $2::int <> 0 THEN 0 ELSE locked_until END WHERE key = $1",
		2, p, NULL);
}

/* --- one-time codes and sign-up invitations --- */

static int pg_code_put(void *s, const struct index_code *c, int64_t now,
		       unsigned max)
{
	struct num n = num(now), e = num(c->expires_at), m = num(max);
	const char *pn[] = { n.s };
	const char *p[] = { c->purpose, c->login,  c->phone, c->email,
			    c->pwhash,	c->invite, c->salt,  c->code_hash,
			    e.s,	m.s };
	int rc, changed = 0;

	rc = run_n(s, "forget expired codes",
		   "DELETE FROM pending_codes WHERE expires_at <= $1::bigint",
		   1, pn, NULL);
	/* The cap and the insert in one statement. */
	if (rc == 0)
		rc = run_n(
			s, "keep a code",
			"INSERT INTO pending_codes(purpose, login, phone, email, pwhash, invite, salt, code_hash, expires_at, tries) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9::bigint, 0 WHERE (SELECT count(*) FROM pending_codes WHERE NOT (purpose = $1 AND login = $2)) < $10::int ON CONFLICT (purpose, login) DO UPDATE SET phone = EXCLUDED.phone, email = EXCLUDED.email, pwhash = EXCLUDED.pwhash, invite = EXCLUDED.invite, salt = EXCLUDED.salt, code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at, tries = 0",
			10, p, &changed);
	if (rc == 0 && changed == 0)
		rc = err_set(-E2BIG, "%u codes are pending already", max);
	return rc;
}

static int row_code(PGresult *res, int i, void *arg)
{
	struct index_code *c = arg;

	snprintf(c->purpose, sizeof(c->purpose), "%s", val(res, i, 0));
	snprintf(c->login, sizeof(c->login), "%s", val(res, i, 1));
	snprintf(c->phone, sizeof(c->phone), "%s", val(res, i, 2));
	snprintf(c->email, sizeof(c->email), "%s", val(res, i, 3));
	snprintf(c->pwhash, sizeof(c->pwhash), "%s", val(res, i, 4));
	snprintf(c->invite, sizeof(c->invite), "%s", val(res, i, 5));
	snprintf(c->salt, sizeof(c->salt), "%s", val(res, i, 6));
	snprintf(c->code_hash, sizeof(c->code_hash), "%s", val(res, i, 7));
	c->expires_at = ival(res, i, 8);
	c->tries = (unsigned)ival(res, i, 9);
	return 0;
}

static int pg_code_get(void *s, const char *purpose, const char *login,
		       int64_t now, struct index_code *out)
{
	struct num n = num(now);
	const char *p[] = { purpose, login, n.s };
	int rc = pg_one(
		s, "read a code",
		"SELECT purpose, login, phone, email, pwhash, invite, salt, code_hash, expires_at, tries FROM pending_codes WHERE purpose = $1 AND login = $2 AND expires_at > $3::bigint",
		3, p, row_code, out);

	if (rc == PG_NO_ROW)
		rc = err_set(-ENOENT, "no code pending");
	return rc;
}

static int row_uint(PGresult *res, int i, void *arg)
{
	*(unsigned *)arg = (unsigned)ival(res, i, 0);
	return 0;
}

static int pg_code_tried(void *s, const char *purpose, const char *login,
			 unsigned *tries)
{
	const char *p[] = { purpose, login };
	int rc = pg_one(
		s, "count a wrong code",
		"UPDATE pending_codes SET tries = tries + 1 WHERE purpose = $1 AND login = $2 RETURNING tries",
		2, p, row_uint, tries);

	if (rc == PG_NO_ROW)
		rc = err_set(-ENOENT, "no code pending");
	return rc;
}

static int pg_code_drop(void *s, const char *purpose, const char *login)
{
	const char *p[] = { purpose, login };

	return run_n(
		s, "drop a code",
		"DELETE FROM pending_codes WHERE purpose = $1 AND login = $2",
		2, p, NULL);
}

static int pg_user_phone(void *s, const char *login, char *out, size_t outlen)
{
	struct index_text_out t = { out, outlen, "read a user's phone" };
	const char *p[] = { login };
	int rc = pg_one(s, t.what, "SELECT phone FROM users WHERE login = $1",
			1, p, row_text, &t);

	if (rc == PG_NO_ROW)
		rc = err_set(-ENOENT, "no user '%s'", login);
	return rc;
}

static int pg_signup_invite_put(void *s, const char *hash_hex,
				int64_t expires_at)
{
	struct num e = num(expires_at);
	const char *p[] = { hash_hex, e.s };

	return run_n(
		s, "keep an invitation",
		"INSERT INTO signup_invites(hash, expires_at) VALUES($1, $2::bigint)",
		2, p, NULL);
}

static int pg_signup_invite_valid(void *s, const char *hash_hex, int64_t now)
{
	struct num n = num(now);
	const char *p[] = { hash_hex, n.s };
	unsigned c = 0;
	int rc = pg_one(
		s, "read an invitation",
		"SELECT count(*) FROM signup_invites WHERE hash = $1 AND expires_at > $2::bigint",
		2, p, row_uint, &c);

	return rc < 0 ? rc : c > 0;
}

static int pg_signup_invite_take(void *s, const char *hash_hex, int64_t now)
{
	struct num n = num(now);
	const char *p[] = { hash_hex, n.s };
	int changed = 0;
	int rc = run_n(
		s, "use an invitation",
		"DELETE FROM signup_invites WHERE hash = $1 AND expires_at > $2::bigint",
		2, p, &changed);

	if (rc == 0 && changed == 0)
		rc = err_set(-ENOENT, "no such invitation");
	return rc;
}

/* --- frozen accounts --- */

static int pg_user_freeze(void *s, const char *login, int64_t at,
			  const char *mandate, const char *notary)
{
	struct num a = num(at);
	const char *p[] = { login, a.s, mandate, notary };

	return run_n(
		s, "freeze an account",
		"INSERT INTO user_freezes(login, at, mandate, notary) VALUES($1, $2::bigint, $3, $4) ON CONFLICT (login) DO UPDATE SET at = EXCLUDED.at, mandate = EXCLUDED.mandate, notary = EXCLUDED.notary",
		4, p, NULL);
}

static int pg_user_frozen(void *s, const char *login)
{
	const char *p[] = { login };
	unsigned n = 0;
	int rc = pg_one(s, "read an account's freeze",
			"SELECT count(*) FROM user_freezes WHERE login = $1", 1,
			p, row_uint, &n);

	return rc < 0 ? rc : n > 0;
}

/* --- terminated spaces --- */

static int pg_space_terminate(void *s, const char *space, const char *by,
			      int64_t at)
{
	struct num a = num(at);
	const char *p[] = { space, a.s, by };
	int rc = run_n(
		s, "terminate a space",
		"INSERT INTO space_terminations(space, at, by) VALUES($1, $2::bigint, $3)",
		3, p, NULL);

	if (rc == -EEXIST)
		rc = err_set(-EEXIST, "space '%s' is terminated already",
			     space);
	return rc;
}

static int pg_space_reactivate(void *s, const char *space)
{
	const char *p[] = { space };
	int n = 0;
	int rc = run_n(s, "reactivate a space",
		       "DELETE FROM space_terminations WHERE space = $1", 1, p,
		       &n);

	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "space '%s' is not terminated", space);
	return rc;
}

static int row_termination(PGresult *res, int i, void *arg)
{
	struct termination_out *t = arg;

	if (t->at)
		*t->at = ival(res, i, 0);
	if (t->by)
		snprintf(t->by, t->bylen, "%s", val(res, i, 1));
	return 0;
}

static int pg_space_termination(void *s, const char *space, int64_t *at,
				char *by, size_t bylen)
{
	struct termination_out t = { at, by, bylen };
	const char *p[] = { space };
	int rc =
		pg_one(s, "read a space's termination",
		       "SELECT at, by FROM space_terminations WHERE space = $1",
		       1, p, row_termination, &t);

	return rc == PG_NO_ROW ? -ENOENT : rc;
}

static int row_terminated(PGresult *res, int i, void *arg)
{
	struct index_fwd *f = arg;

	return f->cb.terminated(val(res, i, 0), ival(res, i, 1), val(res, i, 2),
				f->arg);
}

static int pg_spaces_terminated(void *s, index_terminated_cb cb, void *arg)
{
	struct index_fwd f = { .cb.terminated = cb, .arg = arg };

	return pg_each(
		s, "list terminated spaces",
		"SELECT space, at, by FROM space_terminations ORDER BY at, space",
		0, NULL, row_terminated, &f);
}

/* Every row of a space, gone (the dead tuples stay until PostgreSQL's
 * vacuum reclaims them: see docs/lifecycle.md). */
static int pg_space_drop(void *s, const char *space)
{
	const char *p[] = { space };
	struct index_txn *tx;
	char sql[96];
	int rc = pg_begin(s, &tx);

	if (rc)
		return rc;
	for (size_t i = 0; rc == 0 && index_space_tables[i]; i++) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s = $1",
			 index_space_tables[i],
			 strcmp(index_space_tables[i], "spaces") ? "space" :
								   "name");
		rc = run_n(s, "delete a space's rows", sql, 1, p, NULL);
	}
	if (rc == 0)
		rc = pg_commit(s, tx);
	else
		pg_rollback(s, tx);
	return rc;
}

/* --- a space's ledger in the index --- */

/*
 * Objects travel as hex text (encode/decode in the statement): every
 * parameter here is text, and ledger objects are small (trees, manifests,
 * commits), so the doubling costs little.
 */
struct pg_object_out {
	index_object_cb cb;
	void *arg;
};

static int row_object(PGresult *res, int i, void *arg)
{
	struct pg_object_out *o = arg;
	const char *hex = val(res, i, 1);
	size_t n = hex ? strlen(hex) : 0;
	uint8_t *data = malloc(n / 2 + 1);
	int rc;

	if (!data)
		return -ENOMEM;
	rc = n % 2 || hex_decode(data, hex, n / 2) < 0 ?
		     err_set(-EIO, "index: a ledger object is not hex") :
		     o->cb((int)ival(res, i, 0), data, n / 2, o->arg);
	free(data);
	return rc;
}

static int pg_ledger_object_get(void *s, const char *space, const char *oid,
				index_object_cb cb, void *arg)
{
	const char *p[] = { space, oid };
	struct pg_object_out o = { cb, arg };
	int rc = pg_one(
		s, "read a ledger object",
		"SELECT type, encode(data, 'hex') FROM ledger_objects WHERE space = $1 AND oid = $2",
		2, p, row_object, &o);

	return rc == PG_NO_ROW ? err_set(-ENOENT, "no ledger object %s", oid) :
				 rc;
}

static int pg_ledger_object_has(void *s, const char *space, const char *oid)
{
	const char *p[] = { space, oid };
	int rc = pg_one(
		s, "look up a ledger object",
		"SELECT 1 FROM ledger_objects WHERE space = $1 AND oid = $2", 2,
		p, row_none, NULL);

	return rc == PG_NO_ROW ? 0 : rc < 0 ? rc : 1;
}

static int pg_ledger_object_put(void *s, const char *space, const char *oid,
				int type, const void *data, size_t len)
{
	struct num t = num(type);
	char *hex = malloc(2 * len + 1);
	int rc;

	if (!hex)
		return -ENOMEM;
	hex_encode(data, len, hex);
	{
		const char *p[] = { space, oid, t.s, hex };

		rc = run_n(
			s, "write a ledger object",
			"INSERT INTO ledger_objects(space, oid, type, data) VALUES($1, $2, $3, decode($4, 'hex')) ON CONFLICT(space, oid) DO NOTHING",
			4, p, NULL);
	}
	free(hex);
	return rc;
}

struct pg_names {
	index_name_cb cb;
	void *arg;
};

static int row_name(PGresult *res, int i, void *arg)
{
	struct pg_names *n = arg;

	return n->cb(val(res, i, 0), PQnfields(res) > 1 ? val(res, i, 1) : NULL,
		     n->arg);
}

static int pg_ledger_objects(void *s, const char *space, index_name_cb cb,
			     void *arg)
{
	const char *p[] = { space };
	struct pg_names n = { cb, arg };

	return pg_each(
		s, "list ledger objects",
		"SELECT oid FROM ledger_objects WHERE space = $1 ORDER BY oid",
		1, p, row_name, &n);
}

static int pg_ledger_ref_get(void *s, const char *space, const char *name,
			     char *target, size_t len)
{
	const char *p[] = { space, name };
	struct index_text_out t = { target, len, "read a ledger ref" };
	int rc = pg_one(
		s, "read a ledger ref",
		"SELECT target FROM ledger_refs WHERE space = $1 AND name = $2",
		2, p, row_text, &t);

	return rc == PG_NO_ROW ? err_set(-ENOENT, "no ledger ref %s", name) :
				 rc;
}

static int pg_ledger_ref_set(void *s, const char *space, const char *name,
			     const char *target, enum index_ref_mode mode,
			     const char *old)
{
	const char *p[] = { space, name, target, old };
	int n = 0, rc;

	switch (mode) {
	case INDEX_REF_CREATE:
		rc = run_n(
			s, "create a ledger ref",
			"INSERT INTO ledger_refs(space, name, target) VALUES($1, $2, $3)",
			3, p, NULL);
		return rc == -EEXIST ?
			       err_set(-EEXIST, "ledger ref %s exists", name) :
			       rc;
	case INDEX_REF_FORCE:
		return run_n(
			s, "write a ledger ref",
			"INSERT INTO ledger_refs(space, name, target) VALUES($1, $2, $3) ON CONFLICT(space, name) DO UPDATE SET target = excluded.target",
			3, p, NULL);
	case INDEX_REF_MATCH:
		break;
	}
	rc = run_n(
		s, "move a ledger ref",
		"UPDATE ledger_refs SET target = $3 WHERE space = $1 AND name = $2 AND target = $4",
		4, p, &n);
	if (rc == 0 && n == 0)
		rc = err_set(-ESTALE, "ledger ref %s moved meanwhile", name);
	return rc;
}

static int pg_ledger_ref_drop(void *s, const char *space, const char *name,
			      const char *old)
{
	const char *p[] = { space, name, old };
	int n = 0;
	int rc = run_n(
		s, "remove a ledger ref",
		"DELETE FROM ledger_refs WHERE space = $1 AND name = $2 AND ($3::text IS NULL OR target = $3)",
		3, p, &n);

	if (rc == 0 && n == 0)
		rc = old ? err_set(-ESTALE, "ledger ref %s moved meanwhile",
				   name) :
			   err_set(-ENOENT, "no ledger ref %s", name);
	return rc;
}

static int pg_ledger_refs(void *s, const char *space, index_name_cb cb,
			  void *arg)
{
	const char *p[] = { space };
	struct pg_names n = { cb, arg };

	return pg_each(
		s, "list ledger refs",
		"SELECT name, target FROM ledger_refs WHERE space = $1 ORDER BY name COLLATE \"C\"",
		1, p, row_name, &n);
}

static int pg_spaces_all(void *s, index_name_cb cb, void *arg)
{
	struct pg_names n = { cb, arg };

	return pg_each(
		s, "list spaces",
		"SELECT name, kind FROM spaces ORDER BY name COLLATE \"C\"", 0,
		NULL, row_name, &n);
}

static int pg_space_key_get(void *s, const char *space, char *sealed,
			    size_t len)
{
	const char *p[] = { space };
	struct index_text_out t = { sealed, len, "read a space's key" };
	int rc = pg_one(s, "read a space's key",
			"SELECT sealed FROM space_keys WHERE space = $1", 1, p,
			row_text, &t);

	return rc == PG_NO_ROW ?
		       err_set(-ENOENT, "space '%s' has no key", space) :
		       rc;
}

static int pg_space_key_set(void *s, const char *space, const char *sealed)
{
	const char *p[] = { space, sealed };

	return run_n(
		s, "write a space's key",
		"INSERT INTO space_keys(space, sealed) VALUES($1, $2) ON CONFLICT(space) DO UPDATE SET sealed = excluded.sealed",
		2, p, NULL);
}

/* --- a ledger moved: LISTEN/NOTIFY on one channel, the space as payload --- */

#define PG_CHANNEL "coffre_changes"

struct index_listener {
	struct pg_conn *c; /* a connection of its own, not a thread's */
};

static int pg_notify(void *s, const char *space)
{
	const char *p[] = { space };

	/* in a transaction, PostgreSQL sends it at commit, and not at all
	 * on a rollback: a listener never hears of a head that is not */
	return run_n(s, "tell the other nodes",
		     "SELECT pg_notify('" PG_CHANNEL "', $1)", 1, p, NULL);
}

static int pg_listen_open(void *state, struct index_listener **out)
{
	struct pg *p = state;
	struct index_listener *l = calloc(1, sizeof(*l));
	int rc;

	*out = NULL;
	if (!l)
		return -ENOMEM;
	rc = conn_open(p->url, &l->c);
	if (rc == 0)
		rc = q(l->c, NULL, "listen to the other nodes",
		       "LISTEN " PG_CHANNEL, 0, NULL);
	if (rc < 0) {
		if (l->c)
			conn_close(&l->c->link);
		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

static int pg_listen_wait(void *state, struct index_listener *l, int wake_fd,
			  int timeout_ms, index_name_cb cb, void *arg)
{
	struct pollfd fds[2] = { { .fd = PQsocket(l->c->db), .events = POLLIN },
				 { .fd = wake_fd, .events = POLLIN } };
	PGnotify *n;
	int rc = 0;

	(void)state;
	if (fds[0].fd < 0)
		return err_set(-EIO, "index: the listening connection is gone");
	if (poll(fds, wake_fd >= 0 ? 2 : 1, timeout_ms) < 0 && errno != EINTR)
		return err_set(-errno, "index: wait for the other nodes: %s",
			       strerror(errno));
	if ((fds[0].revents & (POLLIN | POLLERR | POLLHUP)) &&
	    !PQconsumeInput(l->c->db))
		return err_set(-EIO, "index: the listening connection: %s",
			       PQerrorMessage(l->c->db));
	if (PQstatus(l->c->db) != CONNECTION_OK)
		return err_set(-EIO, "index: the listening connection is lost");
	while ((n = PQnotifies(l->c->db)) != NULL) {
		if (rc == 0 && !strcmp(n->relname, PG_CHANNEL))
			rc = cb(n->extra, NULL, arg);
		PQfreemem(n);
	}
	return rc;
}

static void pg_listen_close(void *state, struct index_listener *l)
{
	(void)state;
	conn_close(&l->c->link);
	free(l);
}

const struct index_ops index_pg_ops = {
	.version = INDEX_OPS_VERSION,
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.lock_space = pg_lock_space,
	.user_add = pg_user_add,
	.user_pwhash = pg_user_pwhash,
	.user_set_password = pg_user_set_password,
	.token_add = pg_token_add,
	.token_login = pg_token_login,
	.token_drop = pg_token_drop,
	.tokens_of = pg_tokens_of,
	.token_drop_id = pg_token_drop_id,
	.tokens_drop_all = pg_tokens_drop_all,
	.space_add = pg_space_add,
	.member_get = pg_member_get,
	.spaces_of = pg_spaces_of,
	.member_access = pg_member_access,
	.members = pg_members,
	.member_put = pg_member_put,
	.member_drop = pg_member_drop,
	.owners_count = pg_owners_count,
	.delegation_set = pg_delegation_set,
	.grants = pg_grants,
	.grant_put = pg_grant_put,
	.grant_drop = pg_grant_drop,
	.grants_drop_all = pg_grants_drop_all,
	.grants_read_only = pg_grants_read_only,
	.grants_count = pg_grants_count,
	.grant_elsewhere = pg_grant_elsewhere,
	.grants_move = pg_grants_move,
	.access_clear = pg_access_clear,
	.version_put = pg_version_put,
	.versions = pg_versions,
	.versions_all = pg_versions_all,
	.chunk_versions = pg_chunk_versions,
	.version_unseal = pg_version_unseal,
	.sealed_any = pg_sealed_any,
	.event_head = pg_event_head,
	.event_insert = pg_event_insert,
	.event_chain = pg_event_chain,
	.events_list = pg_events_list,
	.event_hash = pg_event_hash,
	.doc_last_path = pg_doc_last_path,
	.folder_moves = pg_folder_moves,
	.invite_put = pg_invite_put,
	.invite_get = pg_invite_get,
	.invite_drop = pg_invite_drop,
	.invite_list = pg_invite_list,
	.throttle_get = pg_throttle_get,
	.throttle_put = pg_throttle_put,
	.throttle_forget = pg_throttle_forget,
	.throttle_count = pg_throttle_count,
	.throttle_trim = pg_throttle_trim,
	.throttle_drop = pg_throttle_drop,
	.throttle_forgive = pg_throttle_forgive,
	.usage_get = pg_usage_get,
	.quota_set = pg_quota_set,
	.chunk_known = pg_chunk_known,
	.code_put = pg_code_put,
	.code_get = pg_code_get,
	.code_tried = pg_code_tried,
	.code_drop = pg_code_drop,
	.user_phone = pg_user_phone,
	.signup_invite_put = pg_signup_invite_put,
	.signup_invite_valid = pg_signup_invite_valid,
	.signup_invite_take = pg_signup_invite_take,
	.space_terminate = pg_space_terminate,
	.space_reactivate = pg_space_reactivate,
	.space_termination = pg_space_termination,
	.spaces_terminated = pg_spaces_terminated,
	.space_drop = pg_space_drop,
	.user_freeze = pg_user_freeze,
	.user_frozen = pg_user_frozen,
	.ledger_object_get = pg_ledger_object_get,
	.ledger_object_has = pg_ledger_object_has,
	.ledger_object_put = pg_ledger_object_put,
	.ledger_objects = pg_ledger_objects,
	.ledger_ref_get = pg_ledger_ref_get,
	.ledger_ref_set = pg_ledger_ref_set,
	.ledger_ref_drop = pg_ledger_ref_drop,
	.ledger_refs = pg_ledger_refs,
	.spaces_all = pg_spaces_all,
	.space_key_get = pg_space_key_get,
	.space_key_set = pg_space_key_set,
	.notify = pg_notify,
	.listen_open = pg_listen_open,
	.listen_wait = pg_listen_wait,
	.listen_close = pg_listen_close,
};
