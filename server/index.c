/*
 * SQLite index of coffred.  Each thread gets its own connection (and its
 * own prepared statements) on its first call, so WAL readers run in
 * parallel and writers queue on SQLite's lock with a 5 s busy timeout, as
 * other processes (coffred user add, space create) do.  Every SQLite
 * failure becomes a negative errno here, at the call site, with the SQLite
 * message kept by err_set().
 */
#include "server/index.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "common/err.h"
#include "server/events.h"

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
	ST_VCHUNK_REFS,
	ST_VERSION_UNSEAL,
	ST_SEALED_ANY,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
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
	[ST_VCHUNK_REFS] =
		"SELECT c.doc_id, c.version, v.sealed FROM version_chunks c JOIN versions v ON v.space = c.space AND v.doc_id = c.doc_id AND v.version = c.version WHERE c.space = ?1 AND c.chunk = ?2 ORDER BY c.doc_id, c.version",
	[ST_VERSION_UNSEAL] =
		"UPDATE versions SET sealed = 0 WHERE space = ?1 AND doc_id = ?2 AND version = ?3 AND sealed = 1",
	[ST_SEALED_ANY] =
		"SELECT 1 FROM versions WHERE space = ?1 AND sealed = 1 LIMIT 1",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
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

/* One SQLite connection and its prepared statements, used by one thread. */
struct index_conn {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT];
	struct index_conn *next; /* protected by index->lock */
};

struct index {
	char *path;
	pthread_key_t key; /* the calling thread's struct index_conn */
	pthread_mutex_t lock;
	struct index_conn *conns; /* every connection; protected by lock */
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

static void conn_add(struct index *idx, struct index_conn *c)
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
static int conn_get(struct index *idx, struct index_conn **out)
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

int index_open(struct index **out, const char *path, int create)
{
	struct index *idx;
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
	/* The first connection creates or checks the schema. */
	rc = conn_open(path, create, &c);
	if (rc < 0) {
		index_free(idx);
		return rc;
	}
	conn_add(idx, c);
	*out = idx;
	return 0;
}

void index_free(struct index *idx)
{
	struct index_conn *c, *next;

	if (!idx)
		return;
	for (c = idx->conns; c; c = next) {
		next = c->next;
		conn_close(c);
	}
	pthread_setspecific(idx->key, NULL);
	pthread_key_delete(idx->key);
	pthread_mutex_destroy(&idx->lock);
	free(idx->path);
	free(idx);
}

int index_user_add(struct index *idx, const char *login, const char *phone,
		   const char *pwhash, int64_t now)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = conn_get(idx, &ix);
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

int index_user_pwhash(struct index *idx, const char *login, char *out,
		      size_t outlen)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = conn_get(idx, &ix);
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

int index_user_exists(struct index *ix, const char *login)
{
	char h[256];
	int rc = index_user_pwhash(ix, login, h, sizeof(h));

	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? rc : 1;
}

int index_token_add(struct index *idx, const uint8_t hash[INDEX_TOKEN_HASH_LEN],
		    const char *login, int64_t expires_at, int64_t now,
		    const char *address)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = conn_get(idx, &ix);
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

int index_token_login(struct index *idx,
		      const uint8_t hash[INDEX_TOKEN_HASH_LEN], int64_t now,
		      char *out, size_t outlen)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = conn_get(idx, &ix);
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

int index_token_drop(struct index *idx,
		     const uint8_t hash[INDEX_TOKEN_HASH_LEN])
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	rc = conn_get(idx, &ix);
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

int index_tokens_of(struct index *idx, const char *login,
		    const uint8_t current[INDEX_TOKEN_HASH_LEN], int64_t now,
		    index_token_cb cb, void *arg)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = conn_get(idx, &ix);
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

int index_token_drop_id(struct index *idx, const char *login, const char *id)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	rc = conn_get(idx, &ix);
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

int index_tokens_drop_all(struct index *idx, const char *login,
			  const uint8_t keep[INDEX_TOKEN_HASH_LEN])
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	rc = conn_get(idx, &ix);
	if (rc == 0)
		rc = stmt_get(ix, ST_TOKENS_DROP_ALL, &st);
	if (rc)
		return rc;
	bind_text(st, 1, login);
	bind_hash(st, 2, keep);
	rc = exec_count(ix, st, "revoke sessions", &n);
	return rc < 0 ? rc : n;
}

int index_user_set_password(struct index *idx, const char *login,
			    const char *pwhash,
			    const uint8_t keep[INDEX_TOKEN_HASH_LEN])
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc, n = 0, dropped = 0;

	rc = conn_get(idx, &ix);
	if (rc < 0)
		return rc;
	rc = simple(ix, ST_BEGIN, "begin a transaction");
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
		rc = simple(ix, ST_COMMIT, "commit");
	if (rc)
		simple(ix, ST_ROLLBACK, "roll back");
	return rc < 0 ? rc : dropped;
}

int index_space_add(struct index *idx, const char *name, const char *kind,
		    const char *owner, int64_t now)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = conn_get(idx, &ix);
	if (rc < 0)
		return rc;
	rc = simple(ix, ST_BEGIN, "begin a transaction");
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
	rc = simple(ix, ST_COMMIT, "commit");
	if (!rc)
		goto out;
rollback:
	simple(ix, ST_ROLLBACK, "roll back");
out:
	return rc;
}

int index_member_get(struct index *idx, const char *space, const char *login,
		     char *kind, size_t kindlen, char *role, size_t rolelen)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = conn_get(idx, &ix);
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

int index_spaces_of(struct index *idx, const char *login, index_space_cb cb,
		    void *arg)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = conn_get(idx, &ix);
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

/* The chunks a version's manifest names ("chunk HEX SIZE" lines). */
static int put_chunks(struct index_conn *ix, const char *space,
		      const struct index_version *v)
{
	sqlite3_stmt *st = NULL;
	const char *p = v->manifest;
	int rc = stmt_get(ix, ST_VCHUNK_PUT, &st);

	for (; rc == 0 && p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, "chunk ", 6) || strlen(p) < 6 + 64)
			continue;
		bind_text(st, 1, space);
		sqlite3_bind_text(st, 2, p + 6, 64, SQLITE_TRANSIENT);
		bind_text(st, 3, v->doc_id);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)v->version);
		rc = stmt_exec(ix, st, "record a version's chunks");
	}
	return rc;
}

static int put_version(struct index_conn *ix, const char *space,
		       const struct index_version *v)
{
	sqlite3_stmt *st = NULL;
	int rc = stmt_get(ix, ST_VERSION_PUT, &st);

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
	if (rc == 0)
		rc = put_chunks(ix, space, v);
	return rc;
}

int index_db(struct index *idx, struct sqlite3 **out)
{
	struct index_conn *ix;
	int rc = conn_get(idx, &ix);

	if (rc == 0)
		*out = ix->db;
	return rc;
}

int index_record(struct index *idx, const char *space, const char *login,
		 int64_t now, const struct index_version *versions,
		 size_t nversions, const struct index_event *events,
		 size_t nevents)
{
	struct index_conn *ix;
	int rc;

	rc = conn_get(idx, &ix);
	if (rc < 0)
		return rc;
	rc = simple(ix, ST_BEGIN, "begin a transaction");
	if (rc)
		goto out;
	for (size_t i = 0; !rc && i < nversions; i++)
		rc = put_version(ix, space, &versions[i]);
	for (size_t i = 0; !rc && i < nevents; i++)
		rc = events_append(idx, space, login, now, &events[i], NULL);
	if (!rc)
		rc = simple(ix, ST_COMMIT, "commit");
	if (rc)
		simple(ix, ST_ROLLBACK, "roll back");
out:
	return rc;
}

int index_versions(struct index *idx, const char *space, const char *doc_id,
		   uint64_t version, index_version_cb cb, void *arg)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int src, rc, n = 0;

	rc = conn_get(idx, &ix);
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

struct chunk_ref {
	char doc_id[40];
	uint64_t version;
	int sealed;
};

int index_chunk_versions(struct index *idx, const char *space,
			 const char *chunk_hex, index_chunk_cb cb, void *arg)
{
	struct chunk_ref *refs = NULL, *nr;
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 0;
	int src, rc;

	rc = conn_get(idx, &ix);
	if (rc == 0)
		rc = stmt_get(ix, ST_VCHUNK_REFS, &st);
	if (rc)
		return rc;
	bind_text(st, 1, space);
	bind_text(st, 2, chunk_hex);
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
			 (const char *)sqlite3_column_text(st, 0));
		refs[n].version = (uint64_t)sqlite3_column_int64(st, 1);
		refs[n].sealed = sqlite3_column_int(st, 2);
		n++;
	}
	if (!rc && src != SQLITE_DONE)
		rc = sql_fail(ix, src, "look up a chunk's versions");
	stmt_done(st);
	for (size_t i = 0; !rc && i < n; i++)
		rc = cb(refs[i].doc_id, refs[i].version, refs[i].sealed, arg);
	free(refs);
	return rc;
}

int index_version_unseal(struct index *idx, const char *space,
			 const char *doc_id, uint64_t version)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = conn_get(idx, &ix);
	if (rc == 0)
		rc = stmt_get(ix, ST_VERSION_UNSEAL, &st);
	if (rc)
		return rc;
	bind_text(st, 1, space);
	bind_text(st, 2, doc_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)version);
	rc = stmt_exec(ix, st, "unseal a version");
	return rc < 0 ? rc : sqlite3_changes(ix->db);
}

int index_sealed_any(struct index *idx, const char *space)
{
	struct index_conn *ix;
	sqlite3_stmt *st = NULL;
	int src, rc;

	rc = conn_get(idx, &ix);
	if (rc == 0)
		rc = stmt_get(ix, ST_SEALED_ANY, &st);
	if (rc)
		return rc;
	bind_text(st, 1, space);
	src = sqlite3_step(st);
	rc = src == SQLITE_ROW	? 1 :
	     src == SQLITE_DONE ? 0 :
				  sql_fail(ix, src, "look for sealed versions");
	stmt_done(st);
	return rc;
}
