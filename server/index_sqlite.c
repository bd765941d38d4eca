/*
 * The SQLite index backend (index_backend.h), the default: DATADIR/index.db
 * in WAL mode.  Each thread gets its own connection (and its
 * own prepared statements) on its first call, so WAL readers run in
 * parallel and writers queue on SQLite's lock with a 5 s busy timeout, as
 * other processes (coffred user add, space create) do.  Every SQLite
 * failure becomes a negative errno here, at the call site, with the SQLite
 * message kept by err_set().
 */
#include "server/index_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "common/err.h"

enum index_stmt {
	ST_USER_ADD,
	ST_USER_PWHASH,
	ST_TOKEN_ADD,
	ST_TOKEN_LOGIN,
	ST_TOKEN_PURGE,
	ST_TOKEN_DROP,
	ST_TOKENS_OF,
	ST_TOKEN_DROP_ID,
	ST_TOKENS_DROP_ALL,
	ST_USER_SETPW,
	ST_SPACE_ADD,
	ST_MEMBER_ADD,
	ST_MEMBER_GET,
	ST_SPACES_OF,
	ST_VERSION_PUT,
	ST_VERSIONS,
	ST_VERSION_ONE,
	ST_VCHUNK_PUT,
	ST_BEGIN,
	ST_COMMIT,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_USER_ADD] =
		"INSERT INTO users(login, phone, pwhash, created_at) VALUES(?1, ?2, ?3, ?4)",
	[ST_USER_PWHASH] = "SELECT pwhash FROM users WHERE login = ?1",
	[ST_TOKEN_ADD] =
		"INSERT INTO tokens(hash, login, expires_at, created_at, address) VALUES(?1, ?2, ?3, ?4, ?5)",
	[ST_TOKEN_LOGIN] =
		"SELECT login FROM tokens WHERE hash = ?1 AND expires_at > ?2",
	[ST_TOKEN_PURGE] = "DELETE FROM tokens WHERE expires_at <= ?1",
	[ST_TOKEN_DROP] = "DELETE FROM tokens WHERE hash = ?1",
	/* A session's id: the first 8 bytes of its token's SHA-256. */
	[ST_TOKENS_OF] =
		"SELECT lower(hex(substr(hash, 1, 8))), created_at, expires_at, address, hash = ?2 FROM tokens WHERE login = ?1 AND expires_at > ?3 ORDER BY created_at, hash",
	[ST_TOKEN_DROP_ID] =
		"DELETE FROM tokens WHERE login = ?1 AND lower(hex(substr(hash, 1, 8))) = ?2",
	[ST_TOKENS_DROP_ALL] =
		"DELETE FROM tokens WHERE login = ?1 AND (?2 IS NULL OR hash <> ?2)",
	[ST_USER_SETPW] = "UPDATE users SET pwhash = ?2 WHERE login = ?1",
	[ST_SPACE_ADD] =
		"INSERT INTO spaces(name, kind, created_at) VALUES(?1, ?2, ?3)",
	[ST_MEMBER_ADD] =
		"INSERT INTO members(space, login, role) VALUES(?1, ?2, ?3)",
	[ST_MEMBER_GET] =
		"SELECT s.kind, m.role FROM members m JOIN spaces s ON s.name = m.space WHERE m.space = ?1 AND m.login = ?2",
	[ST_SPACES_OF] =
		"SELECT s.name, s.kind, m.role FROM members m JOIN spaces s ON s.name = m.space WHERE m.login = ?1 ORDER BY s.name",
	/* A version recorded again (a replayed batch, the ledger read back)
	 * keeps its seal: only an opening or a declassification lifts it. */
	[ST_VERSION_PUT] =
		"INSERT INTO versions(space, doc_id, version, size, sha256, deposited_by, deposited_at, \"commit\", manifest, sealed) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(space, doc_id, version) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, deposited_by = excluded.deposited_by, deposited_at = excluded.deposited_at, \"commit\" = excluded.\"commit\", manifest = excluded.manifest",
	[ST_VERSIONS] =
		"SELECT doc_id, version, size, sha256, deposited_by, deposited_at, \"commit\", manifest, sealed FROM versions WHERE space = ?1 AND doc_id = ?2 ORDER BY version",
	[ST_VERSION_ONE] =
		"SELECT doc_id, version, size, sha256, deposited_by, deposited_at, \"commit\", manifest, sealed FROM versions WHERE space = ?1 AND doc_id = ?2 AND version = ?3",
	[ST_VCHUNK_PUT] =
		"INSERT OR IGNORE INTO version_chunks(space, chunk, doc_id, version) VALUES(?1, ?2, ?3, ?4)",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
};

static const char schema_sql[] =
	"CREATE TABLE users(\n"
	"  login TEXT PRIMARY KEY,\n"
	"  phone TEXT NOT NULL,\n"
	"  pwhash TEXT NOT NULL,\n"
	"  created_at INTEGER NOT NULL);\n"
	"CREATE TABLE tokens(\n"
	"  hash BLOB PRIMARY KEY,\n"
	"  login TEXT NOT NULL REFERENCES users(login) ON DELETE CASCADE,\n"
	"  expires_at INTEGER NOT NULL);\n"
	"CREATE INDEX tokens_expiry ON tokens(expires_at);\n"
	"CREATE TABLE spaces(\n"
	"  name TEXT PRIMARY KEY,\n"
	"  kind TEXT NOT NULL CHECK (kind IN ('private', 'company', 'association')),\n"
	"  created_at INTEGER NOT NULL);\n"
	"CREATE TABLE members(\n"
	"  space TEXT NOT NULL REFERENCES spaces(name) ON DELETE CASCADE,\n"
	"  login TEXT NOT NULL REFERENCES users(login) ON DELETE CASCADE,\n"
	"  role TEXT NOT NULL,\n"
	"  PRIMARY KEY(space, login));\n"
	"CREATE INDEX members_login ON members(login);\n"
	"CREATE TABLE versions(\n"
	"  space TEXT NOT NULL REFERENCES spaces(name),\n"
	"  doc_id TEXT NOT NULL,\n"
	"  version INTEGER NOT NULL,\n"
	"  size INTEGER NOT NULL,\n"
	"  sha256 TEXT NOT NULL,\n"
	"  deposited_by TEXT NOT NULL,\n"
	"  deposited_at TEXT NOT NULL,\n"
	"  \"commit\" TEXT NOT NULL,\n"
	"  manifest TEXT NOT NULL,\n"
	"  PRIMARY KEY(space, doc_id, version));\n"
	"CREATE TABLE events(\n"
	"  space TEXT NOT NULL,\n" /* '' for server events: see events.h */
	"  seq INTEGER NOT NULL,\n"
	"  at INTEGER NOT NULL,\n"
	"  login TEXT,\n"
	"  kind TEXT NOT NULL,\n"
	"  path TEXT,\n"
	"  doc_id TEXT,\n"
	"  version INTEGER,\n"
	"  detail TEXT,\n"
	"  prev_hash TEXT NOT NULL,\n"
	"  hash TEXT NOT NULL,\n"
	"  PRIMARY KEY(space, seq));\n"
	"CREATE INDEX events_path ON events(space, path);\n"
	/* Access state mirrored from each ledger's .coffre-access (access.c). */
	"CREATE TABLE grants(\n"
	"  space TEXT NOT NULL REFERENCES spaces(name) ON DELETE CASCADE,\n"
	"  path TEXT NOT NULL,\n"
	"  login TEXT NOT NULL,\n"
	"  level TEXT NOT NULL CHECK (level IN ('read', 'deposit')),\n"
	"  PRIMARY KEY(space, login, path));\n"
	"CREATE TABLE delegations(\n"
	"  space TEXT NOT NULL REFERENCES spaces(name) ON DELETE CASCADE,\n"
	"  login TEXT NOT NULL,\n"
	"  PRIMARY KEY(space, login));\n"
	"PRAGMA user_version = 2;\n";

/*
 * Migrations: migrate_sql[v] takes a schema of version v + 2 to v + 3.  A
 * new index gets schema_sql then every migration, so old and new data
 * directories end with the same schema.
 */
static const char *const migrate_sql[] = {
	/* 2 -> 3: sessions, login throttling, invitations. */
	"ALTER TABLE tokens ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE tokens ADD COLUMN address TEXT;\n"
	"CREATE INDEX tokens_login ON tokens(login);\n"
	/* One row per login ("l:LOGIN") and per address ("a:ADDR"). */
	"CREATE TABLE login_throttle(\n"
	"  key TEXT PRIMARY KEY,\n"
	"  failures INTEGER NOT NULL,\n"
	"  last_at INTEGER NOT NULL,\n"
	"  next_at INTEGER NOT NULL,\n"
	"  locked_until INTEGER NOT NULL);\n"
	"CREATE INDEX login_throttle_last ON login_throttle(last_at);\n"
	/* No reference to users: a login unknown here is invited alike. */
	"CREATE TABLE invitations(\n"
	"  space TEXT NOT NULL REFERENCES spaces(name) ON DELETE CASCADE,\n"
	"  login TEXT NOT NULL,\n"
	"  role TEXT NOT NULL,\n"
	"  invited_by TEXT NOT NULL,\n"
	"  at INTEGER NOT NULL,\n"
	"  PRIMARY KEY(space, login));\n"
	"CREATE INDEX invitations_login ON invitations(login);\n"
	"PRAGMA user_version = 3;\n",
	/*
	 * 3 -> 4: the seal of a version deposited in a confidential folder
	 * (docs/protocol.md#access), and which versions hold each chunk, so
	 * a chunk's readers are found by one indexed lookup.  The versions
	 * already there get their chunks from their manifests' "chunk" lines.
	 */
	"ALTER TABLE versions ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;\n"
	"CREATE TABLE version_chunks(\n"
	"  space TEXT NOT NULL,\n"
	"  chunk TEXT NOT NULL,\n"
	"  doc_id TEXT NOT NULL,\n"
	"  version INTEGER NOT NULL,\n"
	"  PRIMARY KEY(space, chunk, doc_id, version)) WITHOUT ROWID;\n"
	"WITH RECURSIVE split(space, doc_id, version, line, rest) AS (\n"
	"  SELECT space, doc_id, version, '', manifest || char(10) FROM versions\n"
	"  UNION ALL SELECT space, doc_id, version,\n"
	"    substr(rest, 1, instr(rest, char(10)) - 1),\n"
	"    substr(rest, instr(rest, char(10)) + 1) FROM split WHERE rest <> '')\n"
	"INSERT OR IGNORE INTO version_chunks(space, chunk, doc_id, version)\n"
	"  SELECT space, substr(line, 7, 64), doc_id, version FROM split\n"
	"  WHERE substr(line, 1, 6) = 'chunk ';\n"
	"PRAGMA user_version = 4;\n",
};

/*
 * One SQLite connection and its prepared statements, used by one thread,
 * and the transaction that thread has open on it (depth > 0).
 */
struct index_conn {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT];
	int depth;		 /* nested begins; 0: autocommit */
	int doomed;		 /* an inner transaction rolled back */
	struct index_conn *next; /* protected by sq->lock */
};

struct sq {
	char *path;
	pthread_key_t key; /* the calling thread's struct index_conn */
	pthread_mutex_t lock;
	struct index_conn *conns; /* every connection; protected by lock */
	/*
	 * Held by the thread with a transaction open: the threads of this
	 * process queue here, without a time limit, rather than on SQLite's
	 * busy timeout (a transaction may span a signed, time-stamped ledger
	 * commit).  Other processes still queue on BEGIN IMMEDIATE.
	 */
	pthread_mutex_t writer;
};

static int sql_fail(struct index_conn *ix, int src, const char *what)
{
	int rc;

	switch (src & 0xff) {
	case SQLITE_FULL:
		rc = -ENOSPC;
		break;
	case SQLITE_CONSTRAINT:
		rc = -EEXIST;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		rc = -EBUSY;
		break;
	case SQLITE_NOMEM:
		rc = -ENOMEM;
		break;
	case SQLITE_CANTOPEN:
		rc = -ENOENT;
		break;
	default:
		rc = -EIO;
	}
	return err_set(rc, "index: cannot %s: %s", what,
		       ix->db ? sqlite3_errmsg(ix->db) : sqlite3_errstr(src));
}

/* Prepared statement for id of this thread's connection, reset and unbound. */
static int stmt_get(struct index_conn *ix, enum index_stmt id,
		    sqlite3_stmt **out)
{
	int src;

	if (!ix->stmt[id]) {
		src = sqlite3_prepare_v3(ix->db, stmt_sql[id], -1,
					 SQLITE_PREPARE_PERSISTENT,
					 &ix->stmt[id], NULL);
		if (src != SQLITE_OK)
			return sql_fail(ix, src, "prepare a statement");
	}
	*out = ix->stmt[id];
	return 0;
}

static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Run a statement without result rows. */
static int stmt_exec(struct index_conn *ix, sqlite3_stmt *st, const char *what)
{
	int src = sqlite3_step(st);
	int rc = 0;

	if (src != SQLITE_DONE)
		rc = sql_fail(ix, src, what);
	stmt_done(st);
	return rc;
}

static int simple(struct index_conn *ix, enum index_stmt id, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc = stmt_get(ix, id, &st);

	return rc ? rc : stmt_exec(ix, st, what);
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (!s)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int version = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return version;
}

/*
 * Create the schema (version 0) or bring an older one up to date, in one
 * transaction.  The version is read again under the write lock: another
 * process (coffred user add beside a running server) may have migrated
 * meanwhile.
 */
static int schema_upgrade(struct index_conn *c, const char *path)
{
	int src, version;

	src = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (src != SQLITE_OK)
		return sql_fail(c, src, "begin a schema upgrade");
	version = user_version(c->db);
	if (version == 0)
		src = sqlite3_exec(c->db, schema_sql, NULL, NULL, NULL);
	else if (version < 2)
		src = SQLITE_MISMATCH;
	for (version = version ? version : 2;
	     src == SQLITE_OK && version < INDEX_SCHEMA_VERSION; version++)
		src = sqlite3_exec(c->db, migrate_sql[version - 2], NULL, NULL,
				   NULL);
	if (src == SQLITE_OK)
		src = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		char why[256];
		int rc = sql_fail(c, src, "upgrade the schema");

		/* err_msg() lives in the buffer err_set() rewrites */
		snprintf(why, sizeof(why), "%s", err_msg());
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return err_set(rc, "index '%s': %s", path, why);
	}
	return 0;
}

/* Open and check one connection; create the schema when asked. */
static int conn_open(const char *path, int create, struct index_conn **out)
{
	struct index_conn *c;
	int src, rc, flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	sqlite3_stmt *st = NULL;
	int version = -1;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (create)
		flags |= SQLITE_OPEN_CREATE;
	src = sqlite3_open_v2(path, &c->db, flags, NULL);
	if (src != SQLITE_OK) {
		rc = sql_fail(c, src, "open the index");
		if (!create && src == SQLITE_CANTOPEN)
			rc = err_set(
				-ENOENT,
				"no index at '%s' (not an initialized data directory?)",
				path);
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 0);
	sqlite3_busy_timeout(c->db, 5000);
	src = sqlite3_exec(
		c->db,
		"PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
		NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		rc = sql_fail(c, src, "configure the index");
		goto fail;
	}
	src = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);
	if (src == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version < 0) {
		rc = sql_fail(c, src, "read the schema version");
		goto fail;
	}
	if ((version == 0 && create) ||
	    (version >= 2 && version < INDEX_SCHEMA_VERSION)) {
		rc = schema_upgrade(c, path);
		if (rc < 0)
			goto fail;
	} else if (version != INDEX_SCHEMA_VERSION) {
		rc = err_set(-EPROTO,
			     "index '%s' has schema version %d, expected %d",
			     path, version, INDEX_SCHEMA_VERSION);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	sqlite3_close(c->db);
	free(c);
	return rc;
}

static void conn_close(struct index_conn *c)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close(c->db);
	free(c);
}

static void conn_add(struct sq *idx, struct index_conn *c)
{
	pthread_mutex_lock(&idx->lock);
	c->next = idx->conns;
	idx->conns = c;
	pthread_mutex_unlock(&idx->lock);
	pthread_setspecific(idx->key, c);
}

/*
 * The calling thread's connection, opened on its first call.  Worker
 * threads live as long as the server, so connections are only closed by
 * index_free(), once no thread uses the index any more.
 */
static int conn_get(struct sq *idx, struct index_conn **out)
{
	struct index_conn *c = pthread_getspecific(idx->key);
	int rc;

	if (!c) {
		rc = conn_open(idx->path, 0, &c);
		if (rc < 0)
			return rc;
		conn_add(idx, c);
	}
	*out = c;
	return 0;
}

static void sq_close(void *state);

static int sq_open(void **out, const char *path, int create)
{
	struct sq *idx;
	struct index_conn *c;
	int rc;

	idx = calloc(1, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	idx->path = strdup(path);
	if (!idx->path) {
		free(idx);
		return -ENOMEM;
	}
	rc = -pthread_key_create(&idx->key, NULL);
	if (rc < 0) {
		free(idx->path);
		free(idx);
		return err_set(rc, "cannot create a thread key");
	}
	pthread_mutex_init(&idx->lock, NULL);
	pthread_mutex_init(&idx->writer, NULL);
	/* The first connection creates or checks the schema. */
	rc = conn_open(path, create, &c);
	if (rc < 0) {
		sq_close(idx);
		return rc;
	}
	conn_add(idx, c);
	*out = idx;
	return 0;
}

static void sq_close(void *state)
{
	struct sq *idx = state;
	struct index_conn *c, *next;

	if (!idx)
		return;
	for (c = idx->conns; c; c = next) {
		next = c->next;
		conn_close(c);
	}
	pthread_setspecific(idx->key, NULL);
	pthread_key_delete(idx->key);
	pthread_mutex_destroy(&idx->writer);
	pthread_mutex_destroy(&idx->lock);
	free(idx->path);
	free(idx);
}

/* --- transactions --- */

/* The handle is the thread's connection: one transaction per thread. */
static int sq_begin(void *state, struct index_txn **tx)
{
	struct sq *idx = state;
	struct index_conn *c;
	int rc = conn_get(idx, &c);

	if (rc < 0)
		return rc;
	if (c->depth > 0) {
		c->depth++;
		*tx = (struct index_txn *)c;
		return 0;
	}
	pthread_mutex_lock(&idx->writer);
	rc = simple(c, ST_BEGIN, "begin a transaction");
	if (rc < 0) {
		pthread_mutex_unlock(&idx->writer);
		return rc;
	}
	c->depth = 1;
	c->doomed = 0;
	*tx = (struct index_txn *)c;
	return 0;
}

static void txn_end(struct sq *idx, struct index_conn *c)
{
	c->depth = 0;
	c->doomed = 0;
	pthread_mutex_unlock(&idx->writer);
}

static void sq_rollback(void *state, struct index_txn *tx)
{
	struct index_conn *c = (struct index_conn *)tx;

	if (c->depth > 1) {
		c->depth--;
		c->doomed = 1;
		return;
	}
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	txn_end(state, c);
}

static int sq_commit(void *state, struct index_txn *tx)
{
	struct index_conn *c = (struct index_conn *)tx;
	int rc;

	if (c->depth > 1) {
		c->depth--;
		return 0;
	}
	if (c->doomed)
		rc = err_set(-EIO, "index: a part of the transaction failed");
	else
		rc = simple(c, ST_COMMIT, "commit");
	if (rc < 0)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	txn_end(state, c);
	return rc;
}

/*
 * BEGIN IMMEDIATE already holds the database's one write lock, and the
 * writer mutex the process's: every name is locked.
 */
static int sq_lock_space(void *state, struct index_txn *tx, const char *name)
{
	(void)state;
	(void)name;
	return ((struct index_conn *)tx)->depth > 0 ?
		       0 :
		       err_set(-EINVAL, "index: a lock outside a transaction");
}

static int sq_user_add(void *state, const char *login, const char *phone,
		       const char *pwhash, int64_t now)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = conn_get(state, &ix);
	if (rc < 0)
		return rc;
	rc = stmt_get(ix, ST_USER_ADD, &st);
	if (rc)
		goto out;
	bind_text(st, 1, login);
	bind_text(st, 2, phone);
	bind_text(st, 3, pwhash);
	sqlite3_bind_int64(st, 4, now);
	rc = stmt_exec(ix, st, "add the user");
	if (rc == -EEXIST)
		rc = err_set(-EEXIST, "user '%s' already exists", login);
out:
	return rc;
}

/* Copy column 0 of a one-row query into out; -ENOENT without a row. */
static int query_text(struct index_conn *ix, sqlite3_stmt *st, char *out,
		      size_t outlen, const char *what)
{
	int src = sqlite3_step(st);
	int rc = 0;

	if (src == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);

		if (!s || strlen(s) >= outlen)
			rc = err_set(-EIO,
				     "index: bad value while trying to %s",
				     what);
		else
			memcpy(out, s, strlen(s) + 1);
	} else if (src == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = sql_fail(ix, src, what);
	}
	stmt_done(st);
	return rc;
}

static int sq_user_pwhash(void *state, const char *login, char *out,
			  size_t outlen)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = conn_get(state, &ix);
	if (rc < 0)
		return rc;
	rc = stmt_get(ix, ST_USER_PWHASH, &st);
	if (!rc) {
		bind_text(st, 1, login);
		rc = query_text(ix, st, out, outlen, "look up a user");
		if (rc == -ENOENT)
			rc = err_set(-ENOENT, "no user '%s'", login);
	}
	return rc;
}

static int sq_token_add(void *state, const uint8_t hash[INDEX_TOKEN_HASH_LEN],
			const char *login, int64_t expires_at, int64_t now,
			const char *address)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = conn_get(state, &ix);
	if (rc < 0)
		return rc;
	rc = stmt_get(ix, ST_TOKEN_ADD, &st);
	if (!rc) {
		sqlite3_bind_blob(st, 1, hash, INDEX_TOKEN_HASH_LEN,
				  SQLITE_TRANSIENT);
		bind_text(st, 2, login);
		sqlite3_bind_int64(st, 3, expires_at);
		sqlite3_bind_int64(st, 4, now);
		bind_text(st, 5, address);
		rc = stmt_exec(ix, st, "store a token");
	}
	/* Expired tokens are useless: drop them while we are here. */
	if (!rc && !stmt_get(ix, ST_TOKEN_PURGE, &st)) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
		if (stmt_exec(ix, st, "drop expired tokens") < 0)
			err_clear();
	}
	return rc;
}

static int sq_token_login(void *state, const uint8_t hash[INDEX_TOKEN_HASH_LEN],
			  int64_t now, char *out, size_t outlen)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = conn_get(state, &ix);
	if (rc < 0)
		return rc;
	rc = stmt_get(ix, ST_TOKEN_LOGIN, &st);
	if (!rc) {
		sqlite3_bind_blob(st, 1, hash, INDEX_TOKEN_HASH_LEN,
				  SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, now);
		rc = query_text(ix, st, out, outlen, "look up a token");
	}
	return rc;
}

/* Run st (bound by the caller); rows it changed into *n. */
static int exec_count(struct index_conn *ix, sqlite3_stmt *st, const char *what,
		      int *n)
{
	int rc = stmt_exec(ix, st, what);

	if (rc == 0)
		*n = sqlite3_changes(ix->db);
	return rc;
}

static void bind_hash(sqlite3_stmt *st, int i,
		      const uint8_t hash[INDEX_TOKEN_HASH_LEN])
{
	if (hash)
		sqlite3_bind_blob(st, i, hash, INDEX_TOKEN_HASH_LEN,
				  SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static int sq_token_drop(void *state, const uint8_t hash[INDEX_TOKEN_HASH_LEN])
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	rc = conn_get(state, &ix);
	if (rc == 0)
		rc = stmt_get(ix, ST_TOKEN_DROP, &st);
	if (rc)
		return rc;
	bind_hash(st, 1, hash);
	rc = exec_count(ix, st, "revoke a token", &n);
	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no such session");
	return rc;
}

static int sq_tokens_of(void *state, const char *login,
			const uint8_t current[INDEX_TOKEN_HASH_LEN],
			int64_t now, index_token_cb cb, void *arg)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = conn_get(state, &ix);
	if (rc == 0)
		rc = stmt_get(ix, ST_TOKENS_OF, &st);
	if (rc)
		return rc;
	bind_text(st, 1, login);
	bind_hash(st, 2, current);
	sqlite3_bind_int64(st, 3, now);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		struct index_token tk = {
			.id = (const char *)sqlite3_column_text(st, 0),
			.created_at = sqlite3_column_int64(st, 1),
			.expires_at = sqlite3_column_int64(st, 2),
			.address = (const char *)sqlite3_column_text(st, 3),
			.current = sqlite3_column_int(st, 4),
		};

		rc = cb(&tk, arg);
		if (rc)
			break;
	}
	if (!rc && src != SQLITE_DONE)
		rc = sql_fail(ix, src, "list sessions");
	stmt_done(st);
	return rc;
}

static int sq_token_drop_id(void *state, const char *login, const char *id)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	rc = conn_get(state, &ix);
	if (rc == 0)
		rc = stmt_get(ix, ST_TOKEN_DROP_ID, &st);
	if (rc)
		return rc;
	bind_text(st, 1, login);
	bind_text(st, 2, id);
	rc = exec_count(ix, st, "revoke a session", &n);
	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no such session '%s'", id);
	return rc;
}

static int sq_tokens_drop_all(void *state, const char *login,
			      const uint8_t keep[INDEX_TOKEN_HASH_LEN])
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	rc = conn_get(state, &ix);
	if (rc == 0)
		rc = stmt_get(ix, ST_TOKENS_DROP_ALL, &st);
	if (rc)
		return rc;
	bind_text(st, 1, login);
	bind_hash(st, 2, keep);
	rc = exec_count(ix, st, "revoke sessions", &n);
	return rc < 0 ? rc : n;
}

static int sq_user_set_password(void *state, const char *login,
				const char *pwhash,
				const uint8_t keep[INDEX_TOKEN_HASH_LEN])
{
	struct index_conn *ix;
	struct index_txn *tx;
	sqlite3_stmt *st = NULL;
	int rc, n = 0, dropped = 0;

	rc = conn_get(state, &ix);
	if (rc < 0)
		return rc;
	rc = sq_begin(state, &tx);
	if (rc)
		return rc;
	rc = stmt_get(ix, ST_USER_SETPW, &st);
	if (rc == 0) {
		bind_text(st, 1, login);
		bind_text(st, 2, pwhash);
		rc = exec_count(ix, st, "change a password", &n);
	}
	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no user '%s'", login);
	/* The new password and the end of the other sessions, together. */
	if (rc == 0)
		rc = stmt_get(ix, ST_TOKENS_DROP_ALL, &st);
	if (rc == 0) {
		bind_text(st, 1, login);
		bind_hash(st, 2, keep);
		rc = exec_count(ix, st, "revoke sessions", &dropped);
	}
	if (rc == 0)
		rc = sq_commit(state, tx);
	else
		sq_rollback(state, tx);
	return rc < 0 ? rc : dropped;
}

static int sq_space_add(void *state, const char *name, const char *kind,
			const char *owner, int64_t now)
{
	struct index_conn *ix;
	struct index_txn *tx;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = conn_get(state, &ix);
	if (rc < 0)
		return rc;
	rc = sq_begin(state, &tx);
	if (rc)
		goto out;
	rc = stmt_get(ix, ST_SPACE_ADD, &st);
	if (rc)
		goto rollback;
	bind_text(st, 1, name);
	bind_text(st, 2, kind);
	sqlite3_bind_int64(st, 3, now);
	rc = stmt_exec(ix, st, "add the space");
	if (rc == -EEXIST)
		rc = err_set(-EEXIST, "space '%s' already exists", name);
	if (rc)
		goto rollback;
	rc = stmt_get(ix, ST_MEMBER_ADD, &st);
	if (rc)
		goto rollback;
	bind_text(st, 1, name);
	bind_text(st, 2, owner);
	bind_text(st, 3, "owner");
	rc = stmt_exec(ix, st, "add the owner");
	if (rc == -EEXIST) /* the foreign key on users(login) */
		rc = err_set(-ENOENT, "no user '%s'", owner);
	if (rc)
		goto rollback;
	rc = sq_commit(state, tx);
	goto out;
rollback:
	sq_rollback(state, tx);
out:
	return rc;
}

static int sq_member_get(void *state, const char *space, const char *login,
			 char *kind, size_t kindlen, char *role, size_t rolelen)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = conn_get(state, &ix);
	if (rc < 0)
		return rc;
	rc = stmt_get(ix, ST_MEMBER_GET, &st);
	if (rc)
		goto out;
	bind_text(st, 1, space);
	bind_text(st, 2, login);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		snprintf(kind, kindlen, "%s",
			 (const char *)sqlite3_column_text(st, 0));
		snprintf(role, rolelen, "%s",
			 (const char *)sqlite3_column_text(st, 1));
	} else if (src == SQLITE_DONE) {
		rc = err_set(-ENOENT, "no such space '%s'", space);
	} else {
		rc = sql_fail(ix, src, "look up a member");
	}
	stmt_done(st);
out:
	return rc;
}

static int sq_spaces_of(void *state, const char *login, index_space_cb cb,
			void *arg)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = conn_get(state, &ix);
	if (rc < 0)
		return rc;
	rc = stmt_get(ix, ST_SPACES_OF, &st);
	if (rc)
		goto out;
	bind_text(st, 1, login);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		rc = cb((const char *)sqlite3_column_text(st, 0),
			(const char *)sqlite3_column_text(st, 1),
			(const char *)sqlite3_column_text(st, 2), arg);
		if (rc)
			break;
	}
	if (!rc && src != SQLITE_DONE)
		rc = sql_fail(ix, src, "list spaces");
	stmt_done(st);
out:
	return rc;
}

static int sq_version_put(void *state, const char *space,
			  const struct index_version *v)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc = conn_get(state, &ix);

	if (rc == 0)
		rc = stmt_get(ix, ST_VERSION_PUT, &st);
	if (rc)
		return rc;
	bind_text(st, 1, space);
	bind_text(st, 2, v->doc_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)v->version);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)v->size);
	bind_text(st, 5, v->sha256);
	bind_text(st, 6, v->deposited_by);
	bind_text(st, 7, v->deposited_at);
	bind_text(st, 8, v->commit);
	bind_text(st, 9, v->manifest);
	sqlite3_bind_int(st, 10, v->sealed ? 1 : 0);
	rc = stmt_exec(ix, st, "record a version");
	if (rc)
		return rc;
	/* the chunks its manifest names ("chunk HEX SIZE" lines) */
	rc = stmt_get(ix, ST_VCHUNK_PUT, &st);
	for (const char *m = v->manifest; rc == 0 && m && *m;
	     m = strchr(m, '\n'), m = m ? m + 1 : NULL) {
		if (strncmp(m, "chunk ", 6) || strlen(m) < 6 + 64)
			continue;
		bind_text(st, 1, space);
		sqlite3_bind_text(st, 2, m + 6, 64, SQLITE_TRANSIENT);
		bind_text(st, 3, v->doc_id);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)v->version);
		rc = stmt_exec(ix, st, "record a version's chunks");
	}
	return rc;
}

static int sq_versions(void *state, const char *space, const char *doc_id,
		       uint64_t version, index_version_cb cb, void *arg)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int src, rc, n = 0;

	rc = conn_get(state, &ix);
	if (rc < 0)
		return rc;
	rc = stmt_get(ix, version ? ST_VERSION_ONE : ST_VERSIONS, &st);
	if (rc)
		goto out;
	bind_text(st, 1, space);
	bind_text(st, 2, doc_id);
	if (version)
		sqlite3_bind_int64(st, 3, (sqlite3_int64)version);
	/* The callback runs inside the statement: it must not use the index. */
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		struct index_version v = {
			.doc_id = (const char *)sqlite3_column_text(st, 0),
			.version = (uint64_t)sqlite3_column_int64(st, 1),
			.size = (uint64_t)sqlite3_column_int64(st, 2),
			.sha256 = (const char *)sqlite3_column_text(st, 3),
			.deposited_by =
				(const char *)sqlite3_column_text(st, 4),
			.deposited_at =
				(const char *)sqlite3_column_text(st, 5),
			.commit = (const char *)sqlite3_column_text(st, 6),
			.manifest = (const char *)sqlite3_column_text(st, 7),
			.sealed = sqlite3_column_int(st, 8),
		};

		n++;
		rc = cb(&v, arg);
		if (rc)
			break;
	}
	if (!rc && src != SQLITE_DONE)
		rc = sql_fail(ix, src, "list versions");
	stmt_done(st);
out:
	return rc < 0 ? rc : n;
}

/*
 * --- statements prepared per call ---
 *
 * Access changes, the journal's lookups, invitations and throttling are
 * rarer than the lookups above, so their statements are not kept.
 */

/* Prepare sql on the calling thread's connection. */
static int adhoc(void *state, struct index_conn **c, sqlite3_stmt **st,
		 const char *sql)
{
	int rc = conn_get(state, c);

	if (rc < 0)
		return rc;
	if (sqlite3_prepare_v2((*c)->db, sql, -1, st, NULL) != SQLITE_OK)
		return sql_fail(*c, sqlite3_errcode((*c)->db),
				"prepare a query");
	return 0;
}

/* Bind up to four text parameters (NULL binds NULL; extra ones are
 * ignored by SQLite as out of range). */
static void bind4(sqlite3_stmt *st, const char *a, const char *b, const char *c,
		  const char *d)
{
	bind_text(st, 1, a);
	bind_text(st, 2, b);
	bind_text(st, 3, c);
	bind_text(st, 4, d);
}

/* Step a statement without rows and finalize it; *n (may be NULL) gets
 * the rows it changed. */
static int adhoc_run(struct index_conn *c, sqlite3_stmt *st, const char *what,
		     int *n)
{
	int src = sqlite3_step(st), rc = 0;

	if (src != SQLITE_DONE)
		rc = sql_fail(c, src, what);
	else if (n)
		*n = sqlite3_changes(c->db);
	sqlite3_finalize(st);
	return rc;
}

/* Run sql with up to four text parameters. */
static int run_t(void *state, const char *what, int *n, const char *sql,
		 const char *a, const char *b, const char *c3, const char *d)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int rc = adhoc(state, &c, &st, sql);

	if (rc < 0)
		return rc;
	bind4(st, a, b, c3, d);
	return adhoc_run(c, st, what, n);
}

/* The integer in column 0 of a one-row query with text parameters. */
static int count_t(void *state, const char *what, int64_t *out, const char *sql,
		   const char *a, const char *b, const char *c3)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc = adhoc(state, &c, &st, sql);

	if (rc < 0)
		return rc;
	bind4(st, a, b, c3, NULL);
	src = sqlite3_step(st);
	*out = 0;
	if (src == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (src != SQLITE_DONE)
		rc = sql_fail(c, src, what);
	sqlite3_finalize(st);
	return rc;
}

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* Finish a listing: rc from the callback, or the step's failure. */
static int list_end(struct index_conn *c, sqlite3_stmt *st, int src, int rc,
		    const char *what)
{
	if (rc == 0 && src != SQLITE_DONE && src != SQLITE_ROW)
		rc = sql_fail(c, src, what);
	sqlite3_finalize(st);
	return rc;
}

/* --- access mirror --- */

static int sq_member_access(void *state, const char *space, const char *login,
			    char *role, size_t rolelen, int *admin)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = adhoc(
		state, &c, &st,
		"SELECT m.role, d.login IS NOT NULL FROM members m LEFT JOIN delegations d ON d.space = m.space AND d.login = m.login WHERE m.space = ?1 AND m.login = ?2");
	if (rc < 0)
		return rc;
	bind4(st, space, login, NULL, NULL);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		snprintf(role, rolelen, "%s", col(st, 0));
		*admin = sqlite3_column_int(st, 1);
	} else if (src == SQLITE_DONE) {
		rc = err_set(-ENOENT, "no such space '%s'", space);
	} else {
		rc = sql_fail(c, src, "look up a member");
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_members(void *state, const char *space, index_member_cb cb,
		      void *arg)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = adhoc(
		state, &c, &st,
		"SELECT m.login, m.role, d.login IS NOT NULL FROM members m LEFT JOIN delegations d ON d.space = m.space AND d.login = m.login WHERE m.space = ?1 ORDER BY m.login");
	if (rc < 0)
		return rc;
	bind4(st, space, NULL, NULL, NULL);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		rc = cb(col(st, 0), col(st, 1), sqlite3_column_int(st, 2), arg);
		if (rc)
			break;
	}
	return list_end(c, st, src, rc, "list members");
}

static int sq_member_put(void *state, const char *space, const char *login,
			 const char *role, int replace)
{
	return run_t(
		state, "update the access mirror", NULL,
		replace ?
			"INSERT OR REPLACE INTO members(space, login, role) VALUES(?1, ?2, ?3)" :
			"INSERT INTO members(space, login, role) VALUES(?1, ?2, ?3)",
		space, login, role, NULL);
}

static int sq_member_drop(void *state, const char *space, const char *login)
{
	int rc = run_t(state, "update the access mirror", NULL,
		       "DELETE FROM members WHERE space = ?1 AND login = ?2",
		       space, login, NULL, NULL);

	if (rc == 0)
		rc = run_t(
			state, "update the access mirror", NULL,
			"DELETE FROM delegations WHERE space = ?1 AND login = ?2",
			space, login, NULL, NULL);
	if (rc == 0)
		rc = run_t(state, "update the access mirror", NULL,
			   "DELETE FROM grants WHERE space = ?1 AND login = ?2",
			   space, login, NULL, NULL);
	return rc;
}

static int sq_owners_count(void *state, const char *space, int *n)
{
	int64_t v = 0;
	int rc = count_t(
		state, "count owners", &v,
		"SELECT count(*) FROM members WHERE space = ?1 AND role = 'owner'",
		space, NULL, NULL);

	*n = (int)v;
	return rc;
}

static int sq_delegation_set(void *state, const char *space, const char *login,
			     int on)
{
	return run_t(
		state, "update the access mirror", NULL,
		on ? "INSERT OR IGNORE INTO delegations(space, login) VALUES(?1, ?2)" :
		     "DELETE FROM delegations WHERE space = ?1 AND login = ?2",
		space, login, NULL, NULL);
}

static int sq_grants(void *state, const char *space, const char *login,
		     size_t limit, index_grant_cb cb, void *arg)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = adhoc(
		state, &c, &st,
		login ? "SELECT path, login, level FROM grants WHERE space = ?1 AND login = ?2 LIMIT ?3" :
			"SELECT path, login, level FROM grants WHERE space = ?1 ORDER BY path, login LIMIT ?3");
	if (rc < 0)
		return rc;
	bind4(st, space, login, NULL, NULL);
	sqlite3_bind_int64(st, 3, limit ? (sqlite3_int64)limit : -1);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		rc = cb(col(st, 0), col(st, 1), col(st, 2), arg);
		if (rc)
			break;
	}
	return list_end(c, st, src, rc, "read grants");
}

static int sq_grant_put(void *state, const char *space, const char *path,
			const char *login, const char *level, int replace)
{
	return run_t(
		state, "update the access mirror", NULL,
		replace ?
			"INSERT OR REPLACE INTO grants(space, path, login, level) VALUES(?1, ?2, ?3, ?4)" :
			"INSERT INTO grants(space, path, login, level) VALUES(?1, ?2, ?3, ?4)",
		space, path, login, level);
}

static int sq_grant_drop(void *state, const char *space, const char *path,
			 const char *login)
{
	int n = 0;
	int rc = run_t(
		state, "update the access mirror", &n,
		"DELETE FROM grants WHERE space = ?1 AND path = ?2 AND login = ?3",
		space, path, login, NULL);

	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "'%s' holds no grant on '%s'", login,
			     path);
	return rc;
}

static int sq_grants_drop_all(void *state, const char *space, const char *login)
{
	return run_t(state, "update the access mirror", NULL,
		     "DELETE FROM grants WHERE space = ?1 AND login = ?2",
		     space, login, NULL, NULL);
}

static int sq_grants_read_only(void *state, const char *space,
			       const char *login)
{
	return run_t(
		state, "update the access mirror", NULL,
		"UPDATE grants SET level = 'read' WHERE space = ?1 AND login = ?2",
		space, login, NULL, NULL);
}

static int sq_grants_count(void *state, const char *space, const char *login,
			   int *n)
{
	int64_t v = 0;
	int rc = count_t(
		state, "count grants", &v,
		"SELECT count(*) FROM grants WHERE space = ?1 AND login = ?2",
		space, login, NULL);

	*n = (int)v;
	return rc;
}

static int sq_grant_elsewhere(void *state, const char *space, const char *login,
			      const char *path, int *found)
{
	int64_t v = 0;
	int rc = count_t(
		state, "read grants", &v,
		"SELECT 1 FROM grants WHERE space = ?1 AND login = ?2 AND path != ?3",
		space, login, path);

	*found = v != 0;
	return rc;
}

static int sq_grants_move(void *state, const char *space, const char *from,
			  const char *to, int *n)
{
	*n = 0;
	/* substr() rather than LIKE: names may hold '%' and '_'. */
	if (to)
		return run_t(
			state, "update the access mirror", n,
			"UPDATE grants SET path = ?3 || substr(path, length(?2) + 1) WHERE space = ?1 AND (path = ?2 OR substr(path, 1, length(?2) + 1) = ?2 || '/')",
			space, from, to, NULL);
	return run_t(
		state, "update the access mirror", n,
		"DELETE FROM grants WHERE space = ?1 AND (path = ?2 OR substr(path, 1, length(?2) + 1) = ?2 || '/')",
		space, from, NULL, NULL);
}

static int sq_access_clear(void *state, const char *space)
{
	int rc = run_t(state, "update the access mirror", NULL,
		       "DELETE FROM members WHERE space = ?1", space, NULL,
		       NULL, NULL);

	if (rc == 0)
		rc = run_t(state, "update the access mirror", NULL,
			   "DELETE FROM delegations WHERE space = ?1", space,
			   NULL, NULL, NULL);
	if (rc == 0)
		rc = run_t(state, "update the access mirror", NULL,
			   "DELETE FROM grants WHERE space = ?1", space, NULL,
			   NULL, NULL);
	return rc;
}

/* --- versions --- */

static int sq_versions_all(void *state, const char *space, index_version_cb cb,
			   void *arg)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = adhoc(
		state, &c, &st,
		"SELECT doc_id, version, size, sha256, deposited_by, deposited_at, \"commit\", manifest FROM versions WHERE space = ?1");
	if (rc < 0)
		return rc;
	bind4(st, space, NULL, NULL, NULL);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		struct index_version v = {
			.doc_id = col(st, 0),
			.version = (uint64_t)sqlite3_column_int64(st, 1),
			.size = (uint64_t)sqlite3_column_int64(st, 2),
			.sha256 = col(st, 3),
			.deposited_by = col(st, 4),
			.deposited_at = col(st, 5),
			.commit = col(st, 6),
			.manifest = col(st, 7),
		};

		rc = cb(&v, arg);
		if (rc)
			break;
	}
	return list_end(c, st, src, rc, "read versions");
}

struct chunk_ref {
	char doc_id[40];
	uint64_t version;
	int sealed;
};

static int sq_chunk_versions(void *state, const char *space,
			     const char *chunk_hex, index_chunk_cb cb,
			     void *arg)
{
	struct chunk_ref *refs = NULL, *nr;
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 0;
	int src, rc;

	rc = adhoc(
		state, &c, &st,
		"SELECT c.doc_id, c.version, v.sealed FROM version_chunks c JOIN versions v ON v.space = c.space AND v.doc_id = c.doc_id AND v.version = c.version WHERE c.space = ?1 AND c.chunk = ?2 ORDER BY c.doc_id, c.version");
	if (rc < 0)
		return rc;
	bind4(st, space, chunk_hex, NULL, NULL);
	/* Read the rows first: the callback may use the index. */
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			nr = realloc(refs, cap * sizeof(*refs));
			if (!nr) {
				rc = -ENOMEM;
				break;
			}
			refs = nr;
		}
		snprintf(refs[n].doc_id, sizeof(refs[n].doc_id), "%s",
			 col(st, 0));
		refs[n].version = (uint64_t)sqlite3_column_int64(st, 1);
		refs[n].sealed = sqlite3_column_int(st, 2);
		n++;
	}
	rc = list_end(c, st, src, rc, "look up a chunk's versions");
	for (size_t i = 0; !rc && i < n; i++)
		rc = cb(refs[i].doc_id, refs[i].version, refs[i].sealed, arg);
	free(refs);
	return rc;
}

static int sq_version_unseal(void *state, const char *space, const char *doc_id,
			     uint64_t version)
{
	char v[24];
	int n = 0, rc;

	snprintf(v, sizeof(v), "%llu", (unsigned long long)version);
	rc = run_t(
		state, "unseal a version", &n,
		"UPDATE versions SET sealed = 0 WHERE space = ?1 AND doc_id = ?2 AND version = CAST(?3 AS INTEGER) AND sealed = 1",
		space, doc_id, v, NULL);
	return rc < 0 ? rc : n;
}

static int sq_sealed_any(void *state, const char *space)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc, found = 0;

	rc = adhoc(
		state, &c, &st,
		"SELECT 1 FROM versions WHERE space = ?1 AND sealed = 1 LIMIT 1");
	if (rc < 0)
		return rc;
	bind4(st, space, NULL, NULL, NULL);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		found = 1;
		src = SQLITE_DONE;
	}
	rc = list_end(c, st, src, 0, "look for sealed versions");
	return rc < 0 ? rc : found;
}

/* --- event journal --- */

static int sq_event_head(void *state, struct index_txn *tx, const char *chain,
			 uint64_t *seq, char hash[65])
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc;

	(void)tx;
	*seq = 0;
	hash[0] = '\0';
	rc = adhoc(
		state, &c, &st,
		"SELECT seq, hash FROM events WHERE space = ?1 ORDER BY seq DESC LIMIT 1");
	if (rc < 0)
		return rc;
	bind4(st, chain, NULL, NULL, NULL);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
		snprintf(hash, 65, "%s", col(st, 1) ? col(st, 1) : "");
	} else if (src != SQLITE_DONE) {
		rc = sql_fail(c, src, "read the chain head");
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_event_insert(void *state, struct index_txn *tx, const char *chain,
			   const struct events_row *r)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int rc;

	(void)tx;
	rc = adhoc(
		state, &c, &st,
		"INSERT INTO events(space, seq, at, login, kind, path, doc_id, version, detail, prev_hash, hash) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
	if (rc < 0)
		return rc;
	bind_text(st, 1, chain);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->seq);
	sqlite3_bind_int64(st, 3, r->at);
	bind_text(st, 4, r->login);
	bind_text(st, 5, r->kind);
	bind_text(st, 6, r->path);
	bind_text(st, 7, r->doc_id);
	if (r->version)
		sqlite3_bind_int64(st, 8, (sqlite3_int64)r->version);
	bind_text(st, 9, r->detail);
	bind_text(st, 10, r->prev_hash);
	bind_text(st, 11, r->hash);
	return adhoc_run(c, st, "record an event", NULL);
}

static struct events_row row_of(sqlite3_stmt *st, int with_hashes)
{
	return (struct events_row){
		.seq = (uint64_t)sqlite3_column_int64(st, 0),
		.at = sqlite3_column_int64(st, 1),
		.login = col(st, 2),
		.kind = col(st, 3),
		.path = col(st, 4),
		.doc_id = col(st, 5),
		.version = (uint64_t)sqlite3_column_int64(st, 6),
		.detail = col(st, 7),
		.prev_hash = with_hashes ? col(st, 8) : NULL,
		.hash = with_hashes ? col(st, 9) : NULL,
	};
}

static int sq_event_chain(void *state, const char *chain, index_event_cb cb,
			  void *arg)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = adhoc(
		state, &c, &st,
		"SELECT seq, at, login, kind, path, doc_id, version, detail, prev_hash, hash FROM events WHERE space = ?1 ORDER BY seq");
	if (rc < 0)
		return rc;
	bind4(st, chain, NULL, NULL, NULL);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		struct events_row r = row_of(st, 1);

		rc = cb(&r, arg);
		if (rc)
			break;
	}
	return list_end(c, st, src, rc, "read the chain");
}

static int sq_events_list(void *state, const char *chain, const char *prefix,
			  int reads, uint64_t after, size_t limit,
			  index_event_cb cb, void *arg)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int src = SQLITE_DONE, rc;

	/* Under prefix: the path itself or PREFIX/...; '/' is everything.
	 * substr() rather than LIKE: names may hold '%' and '_'. */
	rc = adhoc(
		state, &c, &st,
		"SELECT seq, at, login, kind, path, doc_id, version, detail FROM events WHERE space = ?1 AND seq > ?2 AND path IS NOT NULL AND (?3 = '/' OR path = ?3 OR substr(path, 1, length(?3) + 1) = ?3 || '/') AND ((kind = 'read') = ?4) ORDER BY seq LIMIT ?5");
	if (rc < 0)
		return rc;
	bind_text(st, 1, chain);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
	bind_text(st, 3, prefix);
	sqlite3_bind_int(st, 4, reads ? 1 : 0);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)limit);
	while (n < limit && (src = sqlite3_step(st)) == SQLITE_ROW) {
		struct events_row r = row_of(st, 0);

		n++;
		rc = cb(&r, arg);
		if (rc)
			break;
	}
	return list_end(c, st, src, rc, "list events");
}

static int sq_event_hash(void *state, const char *chain, uint64_t seq,
			 char hash[65])
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = adhoc(state, &c, &st,
		   "SELECT hash FROM events WHERE space = ?1 AND seq = ?2");
	if (rc < 0)
		return rc;
	bind_text(st, 1, chain);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW && col(st, 0))
		snprintf(hash, 65, "%s", col(st, 0));
	else if (src == SQLITE_ROW || src == SQLITE_DONE)
		rc = -ENOENT;
	else
		rc = sql_fail(c, src, "read an event");
	sqlite3_finalize(st);
	return rc;
}

static int sq_doc_last_path(void *state, const char *space, const char *doc_id,
			    uint64_t *seq, char *path, size_t pathlen)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc;

	path[0] = '\0';
	*seq = 0;
	rc = adhoc(
		state, &c, &st,
		"SELECT seq, path FROM events WHERE space = ?1 AND doc_id = ?2 AND path IS NOT NULL AND kind IN ('deposit', 'move') ORDER BY seq DESC LIMIT 1");
	if (rc < 0)
		return rc;
	bind4(st, space, doc_id, NULL, NULL);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
		snprintf(path, pathlen, "%s", col(st, 1));
	} else if (src == SQLITE_DONE) {
		rc = err_set(-ENOENT, "no such document '%s'", doc_id);
	} else {
		rc = sql_fail(c, src, "read the journal");
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_folder_moves(void *state, const char *space, uint64_t after,
			   index_move_cb cb, void *arg)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = adhoc(
		state, &c, &st,
		"SELECT path, detail FROM events WHERE space = ?1 AND seq > ?2 AND kind = 'move' AND doc_id IS NULL AND detail IS NOT NULL ORDER BY seq");
	if (rc < 0)
		return rc;
	bind_text(st, 1, space);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		rc = cb(arg, col(st, 0), col(st, 1));
		if (rc)
			break;
	}
	return list_end(c, st, src, rc, "read the journal");
}

/* --- invitations --- */

static int sq_invite_put(void *state, const char *space, const char *login,
			 const char *role, const char *by, int64_t now, int max)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	/* The cap and the insert in one statement: no race between them. */
	rc = adhoc(
		state, &c, &st,
		"INSERT OR REPLACE INTO invitations(space, login, role, invited_by, at) SELECT ?1, ?2, ?3, ?4, ?5 WHERE (SELECT count(*) FROM invitations WHERE space = ?1 AND login <> ?2) < ?6");
	if (rc < 0)
		return rc;
	bind4(st, space, login, role, by);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int(st, 6, max);
	rc = adhoc_run(c, st, "invite", &n);
	if (rc == 0 && n == 0)
		rc = err_set(-E2BIG, "'%s' has %d invitations pending already",
			     space, max);
	return rc;
}

static int sq_invite_get(void *state, const char *space, const char *login,
			 char *role, size_t rolelen, char *by, size_t bylen)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = adhoc(
		state, &c, &st,
		"SELECT role, invited_by FROM invitations WHERE space = ?1 AND login = ?2");
	if (rc < 0)
		return rc;
	bind4(st, space, login, NULL, NULL);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		snprintf(role, rolelen, "%s", col(st, 0));
		if (by)
			snprintf(by, bylen, "%s", col(st, 1));
	} else if (src == SQLITE_DONE) {
		rc = err_set(-ENOENT, "no invitation to '%s'", space);
	} else {
		rc = sql_fail(c, src, "read an invitation");
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_invite_drop(void *state, const char *space, const char *login)
{
	int n = 0;
	int rc =
		run_t(state, "drop an invitation", &n,
		      "DELETE FROM invitations WHERE space = ?1 AND login = ?2",
		      space, login, NULL, NULL);

	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no invitation to '%s'", space);
	return rc;
}

static int sq_invite_list(void *state, const char *space, const char *login,
			  invite_cb cb, void *arg)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = adhoc(
		state, &c, &st,
		"SELECT space, login, role, invited_by, at FROM invitations WHERE (?1 IS NULL OR space = ?1) AND (?2 IS NULL OR login = ?2) ORDER BY space, login");
	if (rc < 0)
		return rc;
	bind4(st, space, login, NULL, NULL);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		struct invite inv = {
			.space = col(st, 0),
			.login = col(st, 1),
			.role = col(st, 2),
			.by = col(st, 3),
			.at = sqlite3_column_int64(st, 4),
		};

		rc = cb(&inv, arg);
		if (rc)
			break;
	}
	return list_end(c, st, src, rc, "list invitations");
}

/* --- login throttling --- */

/* Run sql with two text and three integer parameters, no rows. */
static int run_ti(void *state, const char *what, const char *sql,
		  const char *t1, const char *t2, int64_t i3, int64_t i4,
		  int64_t i5)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int rc = adhoc(state, &c, &st, sql);

	if (rc < 0)
		return rc;
	bind_text(st, 1, t1);
	bind_text(st, 2, t2);
	sqlite3_bind_int64(st, 3, i3);
	sqlite3_bind_int64(st, 4, i4);
	sqlite3_bind_int64(st, 5, i5);
	return adhoc_run(c, st, what, NULL);
}

static int sq_throttle_get(void *state, const char *key,
			   struct index_throttle_row *r)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int src, rc;

	memset(r, 0, sizeof(*r));
	rc = adhoc(
		state, &c, &st,
		"SELECT failures, last_at, next_at, locked_until FROM login_throttle WHERE key = ?1");
	if (rc < 0)
		return rc;
	bind_text(st, 1, key);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		r->failures = sqlite3_column_int64(st, 0);
		r->last_at = sqlite3_column_int64(st, 1);
		r->next_at = sqlite3_column_int64(st, 2);
		r->locked_until = sqlite3_column_int64(st, 3);
	} else if (src != SQLITE_DONE) {
		rc = sql_fail(c, src, "read a throttle row");
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_throttle_put(void *state, const char *key,
			   const struct index_throttle_row *r)
{
	struct index_conn *c;
	sqlite3_stmt *st = NULL;
	int rc = adhoc(
		state, &c, &st,
		"INSERT OR REPLACE INTO login_throttle(key, failures, last_at, next_at, locked_until) VALUES(?1, ?2, ?3, ?4, ?5)");

	if (rc < 0)
		return rc;
	bind_text(st, 1, key);
	sqlite3_bind_int64(st, 2, r->failures);
	sqlite3_bind_int64(st, 3, r->last_at);
	sqlite3_bind_int64(st, 4, r->next_at);
	sqlite3_bind_int64(st, 5, r->locked_until);
	return adhoc_run(c, st, "count a failure", NULL);
}

static int sq_throttle_forget(void *state, int64_t before, int64_t now)
{
	return run_ti(
		state, "forget old failures",
		"DELETE FROM login_throttle WHERE last_at < ?3 AND locked_until <= ?4",
		NULL, NULL, before, now, 0);
}

static int sq_throttle_count(void *state, int64_t *n)
{
	return count_t(state, "count throttle rows", n,
		       "SELECT count(*) FROM login_throttle", NULL, NULL, NULL);
}

static int sq_throttle_trim(void *state, const char *keep1, const char *keep2,
			    int64_t now, int64_t n)
{
	return run_ti(
		state, "forget old throttle rows",
		"DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle WHERE key NOT IN (?1, ?2) ORDER BY locked_until > ?3, last_at LIMIT ?4)",
		keep1, keep2, now, n, 0);
}

static int sq_throttle_drop(void *state, const char *key)
{
	return run_ti(state, "forget a login's failures",
		      "DELETE FROM login_throttle WHERE key = ?1", key, NULL, 0,
		      0, 0);
}

static int sq_throttle_forgive(void *state, const char *key, int lift)
{
	return run_ti(
		state, "forgive an address",
		"UPDATE login_throttle SET failures = max(failures - 1, 0), next_at = 0, locked_until = CASE WHEN ?3 THEN 0 ELSE locked_until END WHERE key = ?1",
		key, NULL, lift ? 1 : 0, 0, 0);
}

const struct index_ops index_sqlite_ops = {
	.version = INDEX_OPS_VERSION,
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.lock_space = sq_lock_space,
	.user_add = sq_user_add,
	.user_pwhash = sq_user_pwhash,
	.user_set_password = sq_user_set_password,
	.token_add = sq_token_add,
	.token_login = sq_token_login,
	.token_drop = sq_token_drop,
	.tokens_of = sq_tokens_of,
	.token_drop_id = sq_token_drop_id,
	.tokens_drop_all = sq_tokens_drop_all,
	.space_add = sq_space_add,
	.member_get = sq_member_get,
	.spaces_of = sq_spaces_of,
	.member_access = sq_member_access,
	.members = sq_members,
	.member_put = sq_member_put,
	.member_drop = sq_member_drop,
	.owners_count = sq_owners_count,
	.delegation_set = sq_delegation_set,
	.grants = sq_grants,
	.grant_put = sq_grant_put,
	.grant_drop = sq_grant_drop,
	.grants_drop_all = sq_grants_drop_all,
	.grants_read_only = sq_grants_read_only,
	.grants_count = sq_grants_count,
	.grant_elsewhere = sq_grant_elsewhere,
	.grants_move = sq_grants_move,
	.access_clear = sq_access_clear,
	.version_put = sq_version_put,
	.versions = sq_versions,
	.versions_all = sq_versions_all,
	.chunk_versions = sq_chunk_versions,
	.version_unseal = sq_version_unseal,
	.sealed_any = sq_sealed_any,
	.event_head = sq_event_head,
	.event_insert = sq_event_insert,
	.event_chain = sq_event_chain,
	.events_list = sq_events_list,
	.event_hash = sq_event_hash,
	.doc_last_path = sq_doc_last_path,
	.folder_moves = sq_folder_moves,
	.invite_put = sq_invite_put,
	.invite_get = sq_invite_get,
	.invite_drop = sq_invite_drop,
	.invite_list = sq_invite_list,
	.throttle_get = sq_throttle_get,
	.throttle_put = sq_throttle_put,
	.throttle_forget = sq_throttle_forget,
	.throttle_count = sq_throttle_count,
	.throttle_trim = sq_throttle_trim,
	.throttle_drop = sq_throttle_drop,
	.throttle_forgive = sq_throttle_forgive,
};
