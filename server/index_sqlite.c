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
#include <unistd.h>
#include <time.h>

#include <sqlite3.h>

#include "common/err.h"
#include "server/index_i.h"

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
	ST_VERSION_SEEN,
	ST_CHUNK_KNOWN,
	ST_USAGE_ADD,
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
	/* NULL: no version of the document; 0 or 1: whether this one */
	[ST_VERSION_SEEN] =
		"SELECT max(version = ?3) FROM versions WHERE space = ?1 AND doc_id = ?2",
	[ST_CHUNK_KNOWN] =
		"SELECT 1 FROM version_chunks WHERE space = ?1 AND chunk = ?2 LIMIT 1",
	[ST_USAGE_ADD] =
		"INSERT INTO space_usage(space, bytes, documents, versions) VALUES(?1, ?2, ?3, 1) ON CONFLICT(space) DO UPDATE SET bytes = space_usage.bytes + excluded.bytes, documents = space_usage.documents + excluded.documents, versions = space_usage.versions + 1",
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
	/*
	 * 4 -> 5: each space's usage (index.h, struct index_usage), kept as
	 * versions are recorded; the figures of the spaces already there are
	 * computed once here from their versions and the "chunk HEX SIZE"
	 * lines of their manifests (a chunk's size is the same wherever it
	 * is named: it is content-addressed).  quota NULL: the default.
	 */
	"CREATE TABLE space_usage(\n"
	"  space TEXT PRIMARY KEY,\n"
	"  bytes INTEGER NOT NULL DEFAULT 0,\n"
	"  documents INTEGER NOT NULL DEFAULT 0,\n"
	"  versions INTEGER NOT NULL DEFAULT 0,\n"
	"  quota INTEGER);\n"
	"WITH RECURSIVE split(space, line, rest) AS (\n"
	"  SELECT space, '', manifest || char(10) FROM versions\n"
	"  UNION ALL SELECT space,\n"
	"    substr(rest, 1, instr(rest, char(10)) - 1),\n"
	"    substr(rest, instr(rest, char(10)) + 1) FROM split WHERE rest <> ''),\n"
	"chunks(space, chunk, size) AS (\n"
	"  SELECT DISTINCT space, substr(line, 7, 64), CAST(substr(line, 72) AS INTEGER)\n"
	"  FROM split WHERE substr(line, 1, 6) = 'chunk '),\n"
	"sums(space, bytes) AS (SELECT space, sum(size) FROM chunks GROUP BY space)\n"
	"INSERT INTO space_usage(space, bytes, documents, versions)\n"
	"  SELECT v.space, coalesce((SELECT bytes FROM sums WHERE sums.space = v.space), 0),\n"
	"    count(DISTINCT v.doc_id), count(*) FROM versions v GROUP BY v.space;\n"
	"PRAGMA user_version = 5;\n",
	/*
	 * 5 -> 6: one-time codes sent by SMS (sign-up, password reset) and
	 * sign-up invitations; only hashes of codes are kept (signup.h).
	 */
	"CREATE TABLE pending_codes(\n"
	"  purpose TEXT NOT NULL,\n"
	"  login TEXT NOT NULL,\n"
	"  phone TEXT NOT NULL,\n"
	"  email TEXT NOT NULL,\n"
	"  pwhash TEXT NOT NULL,\n"
	"  invite TEXT NOT NULL,\n"
	"  salt TEXT NOT NULL,\n"
	"  code_hash TEXT NOT NULL,\n"
	"  expires_at INTEGER NOT NULL,\n"
	"  tries INTEGER NOT NULL DEFAULT 0,\n"
	"  PRIMARY KEY(purpose, login));\n"
	"CREATE INDEX pending_codes_expiry ON pending_codes(expires_at);\n"
	"CREATE TABLE signup_invites(\n"
	"  hash TEXT PRIMARY KEY,\n"
	"  expires_at INTEGER NOT NULL);\n"
	/* spaces their owners terminated: read-only until reactivated or
	 * destroyed by `coffred expire` once the grace is over */
	"CREATE TABLE space_terminations(\n"
	"  space TEXT PRIMARY KEY REFERENCES spaces(name) ON DELETE CASCADE,\n"
	"  at INTEGER NOT NULL,\n"
	"  by TEXT NOT NULL);\n"
	/* accounts a notary's access froze (coffred legacy open) */
	"CREATE TABLE user_freezes(\n"
	"  login TEXT PRIMARY KEY REFERENCES users(login) ON DELETE CASCADE,\n"
	"  at INTEGER NOT NULL,\n"
	"  mandate TEXT NOT NULL,\n"
	"  notary TEXT NOT NULL);\n"
	"PRAGMA user_version = 6;\n",
	/*
	 * 6 -> 7: a space's ledger kept in the index rather than in a git
	 * repository on the node's disk (ledger = index in coffred.conf):
	 * its git objects by id and its refs (server/ledger_store.c).
	 */
	"CREATE TABLE ledger_objects(\n"
	"  space TEXT NOT NULL,\n"
	"  oid TEXT NOT NULL,\n"
	"  type INTEGER NOT NULL,\n"
	"  data BLOB NOT NULL,\n"
	"  PRIMARY KEY(space, oid)) WITHOUT ROWID;\n"
	"CREATE TABLE ledger_refs(\n"
	"  space TEXT NOT NULL,\n"
	"  name TEXT NOT NULL,\n"
	"  target TEXT NOT NULL,\n"
	"  PRIMARY KEY(space, name)) WITHOUT ROWID;\n"
	"PRAGMA user_version = 7;\n",
	/*
	 * 7 -> 8: a space's own chunk key, sealed under the master key, in
	 * the index when the ledgers are (every node reads it there).
	 */
	"CREATE TABLE space_keys(\n"
	"  space TEXT PRIMARY KEY,\n"
	"  sealed TEXT NOT NULL) WITHOUT ROWID;\n"
	"PRAGMA user_version = 8;\n",
};

/*
 * One SQLite connection and its prepared statements, used by one thread,
 * and the transaction that thread has open on it (link.depth > 0).
 */
struct index_conn {
	struct index_link link; /* first: see index_i.h */
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT];
};

struct sq {
	char *path;
	struct index_conns conns; /* every connection, one a thread */
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
	/* An I/O error or a full disk may make SQLite roll the whole
	 * transaction back by itself (a page spilled mid-transaction, say):
	 * what the caller runs next would then commit piece by piece,
	 * outside it and without its locks.  Doomed: refused until the
	 * caller's rollback (call_open), and its commit fails. */
	if (ix->db && ix->link.depth > 0 && sqlite3_get_autocommit(ix->db))
		ix->link.doomed = 1;
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

static void conn_close(struct index_link *l)
{
	struct index_conn *c = (struct index_conn *)l;

	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close(c->db);
	free(c);
}

/*
 * The calling thread's connection, opened on its first call.  Worker
 * threads live as long as the server, so connections are only closed by
 * index_free(), once no thread uses the index any more.
 */
static int conn_get(struct sq *idx, struct index_conn **out)
{
	struct index_conn *c =
		(struct index_conn *)index_conns_mine(&idx->conns);
	int rc;

	if (!c) {
		rc = conn_open(idx->path, 0, &c);
		if (rc < 0)
			return rc;
		index_conns_add(&idx->conns, &c->link);
	}
	*out = c;
	return 0;
}

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
	rc = index_conns_init(&idx->conns);
	if (rc < 0) {
		free(idx->path);
		free(idx);
		return err_set(rc, "cannot create a thread key");
	}
	pthread_mutex_init(&idx->writer, NULL);
	/* The first connection creates or checks the schema. */
	rc = conn_open(path, create, &c);
	if (rc < 0) {
		index_conns_free(&idx->conns, conn_close);
		pthread_mutex_destroy(&idx->writer);
		free(idx->path);
		free(idx);
		return rc;
	}
	index_conns_add(&idx->conns, &c->link);
	*out = idx;
	return 0;
}

static void sq_close(void *state)
{
	struct sq *idx = state;

	if (!idx)
		return;
	index_conns_free(&idx->conns, conn_close);
	pthread_mutex_destroy(&idx->writer);
	free(idx->path);
	free(idx);
}

/*
 * --- running statements ---
 *
 * Every operation below runs one statement the same way: the calling
 * thread's connection, the statement (kept prepared, or prepared for this
 * call), its parameters bound, then sq_exec() (no rows), sq_one() (at most
 * one row) or sq_each() (a listing), which step it, turn a failure into
 * an errno with the SQLite message and leave the statement ready again.
 */

/* A statement: one of stmt_sql[] kept prepared per connection, or sql
 * prepared for one call (the rarer ones: access changes, the journal's
 * lookups, invitations and throttling). */
struct sq_sql {
	enum index_stmt id;
	const char *text;
};
#define KEPT(i) ((struct sq_sql){ .id = (i) })
#define ONCE(s) ((struct sq_sql){ .id = ST_COUNT, .text = (s) })

/* The parameters ?1, ?2, ... in order, ended by SQ_END.  Text NULL binds
 * NULL, SKIP leaves a parameter unbound (NULL) or absent. */
enum sq_kind { SQ_END, SQ_TEXT, SQ_INT, SQ_HASH, SQ_BLOB, SQ_SKIP };
struct sq_arg {
	enum sq_kind kind;
	const char *t;
	sqlite3_int64 i;
	const uint8_t *h;
	size_t n; /* SQ_BLOB: bytes at h */
};
#define TXT(s)                            \
	{                                 \
		.kind = SQ_TEXT, .t = (s) \
	}
#define INT(v)                                          \
	{                                               \
		.kind = SQ_INT, .i = (sqlite3_int64)(v) \
	}
#define HASH(p)                           \
	{                                 \
		.kind = SQ_HASH, .h = (p) \
	}
#define BLOB(p, len)                                                   \
	{                                                              \
		.kind = SQ_BLOB, .h = (const uint8_t *)(p), .n = (len) \
	}
#define SKIP                    \
	{                       \
		.kind = SQ_SKIP \
	}
#define ARGS(...) ((const struct sq_arg[]){ __VA_ARGS__, { .kind = SQ_END } })

/* sq_one() without a row. */
#define SQ_NO_ROW 1

/* Reads the statement's current row. */
typedef int (*sq_row_fn)(sqlite3_stmt *st, void *arg);

struct sq_call {
	struct index_conn *c;
	sqlite3_stmt *st;
	int once; /* prepared for this call: finalized, not reset */
};

static void bind_arg(sqlite3_stmt *st, int i, const struct sq_arg *a)
{
	switch (a->kind) {
	case SQ_TEXT:
		if (a->t)
			sqlite3_bind_text(st, i, a->t, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, i);
		break;
	case SQ_INT:
		sqlite3_bind_int64(st, i, a->i);
		break;
	case SQ_BLOB:
		/* zero bytes are a blob too, never NULL (an empty git blob) */
		sqlite3_bind_blob64(st, i, a->n ? (const void *)a->h : "", a->n,
				    SQLITE_TRANSIENT);
		break;
	case SQ_HASH:
		if (a->h)
			sqlite3_bind_blob(st, i, a->h, INDEX_TOKEN_HASH_LEN,
					  SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, i);
		break;
	default:
		break;
	}
}

static int call_open(void *state, struct sq_sql q, const struct sq_arg *a,
		     struct sq_call *k)
{
	int rc = conn_get(state, &k->c);

	k->st = NULL;
	k->once = q.text != NULL;
	if (rc < 0)
		return rc;
	if (k->c->link.depth > 0 && k->c->link.doomed)
		return err_set(-EIO,
			       "index: the transaction failed and is undone");
	if (!k->once)
		rc = stmt_get(k->c, q.id, &k->st);
	else if (sqlite3_prepare_v2(k->c->db, q.text, -1, &k->st, NULL) !=
		 SQLITE_OK)
		rc = sql_fail(k->c, sqlite3_errcode(k->c->db),
			      "prepare a query");
	if (rc < 0)
		return rc;
	for (int i = 0; a && a[i].kind != SQ_END; i++)
		bind_arg(k->st, i + 1, &a[i]);
	return 0;
}

static void call_close(struct sq_call *k)
{
	if (k->once) {
		sqlite3_finalize(k->st);
	} else {
		sqlite3_reset(k->st);
		sqlite3_clear_bindings(k->st);
	}
}

/* Run a statement without rows; *changes (may be NULL) gets the rows it
 * changed. */
static int sq_exec(void *state, struct sq_sql q, const struct sq_arg *a,
		   const char *what, int *changes)
{
	struct sq_call k;
	int src, rc = call_open(state, q, a, &k);

	if (rc < 0)
		return rc;
	src = sqlite3_step(k.st);
	if (src != SQLITE_DONE)
		rc = sql_fail(k.c, src, what);
	else if (changes)
		*changes = sqlite3_changes(k.c->db);
	call_close(&k);
	return rc;
}

/* Read the first row with row(); SQ_NO_ROW when there is none, which the
 * caller words (a missing row is an error for some, a default for
 * others). */
static int sq_one(void *state, struct sq_sql q, const struct sq_arg *a,
		  const char *what, sq_row_fn row, void *arg)
{
	struct sq_call k;
	int src, rc = call_open(state, q, a, &k);

	if (rc < 0)
		return rc;
	src = sqlite3_step(k.st);
	if (src == SQLITE_ROW)
		rc = row(k.st, arg);
	else if (src == SQLITE_DONE)
		rc = SQ_NO_ROW;
	else
		rc = sql_fail(k.c, src, what);
	call_close(&k);
	return rc;
}

/* Each row to row(), which runs inside the statement (it must not use the
 * index); its non-zero value stops the listing and is returned. */
static int sq_each(void *state, struct sq_sql q, const struct sq_arg *a,
		   const char *what, sq_row_fn row, void *arg)
{
	struct sq_call k;
	int src, rc = call_open(state, q, a, &k);

	if (rc < 0)
		return rc;
	while ((src = sqlite3_step(k.st)) == SQLITE_ROW) {
		rc = row(k.st, arg);
		if (rc)
			break;
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = sql_fail(k.c, src, what);
	call_close(&k);
	return rc;
}

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* --- rows --- */

static int row_none(sqlite3_stmt *st, void *arg)
{
	(void)st;
	(void)arg;
	return 0;
}

static int row_int64(sqlite3_stmt *st, void *arg)
{
	*(int64_t *)arg = sqlite3_column_int64(st, 0);
	return 0;
}

static int row_text(sqlite3_stmt *st, void *arg)
{
	struct index_text_out *t = arg;
	const char *s = col(st, 0);

	if (!s || strlen(s) >= t->len)
		return err_set(-EIO, "index: bad value while trying to %s",
			       t->what);
	memcpy(t->out, s, strlen(s) + 1);
	return 0;
}

static int row_two(sqlite3_stmt *st, void *arg)
{
	struct index_two_out *t = arg;

	snprintf(t->a, t->alen, "%s", col(st, 0));
	if (t->b)
		snprintf(t->b, t->blen, "%s", col(st, 1));
	return 0;
}

static int row_seq_text(sqlite3_stmt *st, void *arg)
{
	struct index_seq_out *t = arg;

	*t->seq = (uint64_t)sqlite3_column_int64(st, 0);
	snprintf(t->text, t->len, "%s", col(st, 1) ? col(st, 1) : "");
	return 0;
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
	if (index_txn_nest(&c->link)) {
		*tx = (struct index_txn *)c;
		return 0;
	}
	pthread_mutex_lock(&idx->writer);
	rc = sq_exec(state, KEPT(ST_BEGIN), NULL, "begin a transaction", NULL);
	if (rc < 0) {
		pthread_mutex_unlock(&idx->writer);
		return rc;
	}
	index_txn_opened(&c->link);
	*tx = (struct index_txn *)c;
	return 0;
}

static void txn_end(struct sq *idx, struct index_conn *c)
{
	index_txn_closed(&c->link);
	pthread_mutex_unlock(&idx->writer);
}

static void sq_rollback(void *state, struct index_txn *tx)
{
	struct index_conn *c = (struct index_conn *)tx;

	if (index_txn_leave(&c->link, 1))
		return;
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	txn_end(state, c);
}

static int sq_commit(void *state, struct index_txn *tx)
{
	struct index_conn *c = (struct index_conn *)tx;
	int rc;

	if (index_txn_leave(&c->link, 0))
		return 0;
	rc = index_txn_check(&c->link);
	if (rc == 0)
		rc = sq_exec(state, KEPT(ST_COMMIT), NULL, "commit", NULL);
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
	return ((struct index_conn *)tx)->link.depth > 0 ?
		       0 :
		       err_set(-EINVAL, "index: a lock outside a transaction");
}

/* --- users and sessions --- */

static int sq_user_add(void *state, const char *login, const char *phone,
		       const char *pwhash, int64_t now)
{
	int rc = sq_exec(state, KEPT(ST_USER_ADD),
			 ARGS(TXT(login), TXT(phone), TXT(pwhash), INT(now)),
			 "add the user", NULL);

	if (rc == -EEXIST)
		rc = err_set(-EEXIST, "user '%s' already exists", login);
	return rc;
}

static int sq_user_pwhash(void *state, const char *login, char *out,
			  size_t outlen)
{
	struct index_text_out t = { out, outlen, "look up a user" };
	int rc = sq_one(state, KEPT(ST_USER_PWHASH), ARGS(TXT(login)), t.what,
			row_text, &t);

	if (rc == SQ_NO_ROW)
		rc = err_set(-ENOENT, "no user '%s'", login);
	return rc;
}

static int sq_token_add(void *state, const uint8_t hash[INDEX_TOKEN_HASH_LEN],
			const char *login, int64_t expires_at, int64_t now,
			const char *address)
{
	int rc = sq_exec(state, KEPT(ST_TOKEN_ADD),
			 ARGS(HASH(hash), TXT(login), INT(expires_at), INT(now),
			      TXT(address)),
			 "store a token", NULL);

	/* Expired tokens are useless: drop them while we are here. */
	if (rc == 0 &&
	    sq_exec(state, KEPT(ST_TOKEN_PURGE), ARGS(INT(time(NULL))),
		    "drop expired tokens", NULL) < 0)
		err_clear();
	return rc;
}

static int sq_token_login(void *state, const uint8_t hash[INDEX_TOKEN_HASH_LEN],
			  int64_t now, char *out, size_t outlen)
{
	struct index_text_out t = { out, outlen, "look up a token" };
	int rc = sq_one(state, KEPT(ST_TOKEN_LOGIN), ARGS(HASH(hash), INT(now)),
			t.what, row_text, &t);

	return rc == SQ_NO_ROW ? -ENOENT : rc;
}

static int sq_token_drop(void *state, const uint8_t hash[INDEX_TOKEN_HASH_LEN])
{
	int n = 0;
	int rc = sq_exec(state, KEPT(ST_TOKEN_DROP), ARGS(HASH(hash)),
			 "revoke a token", &n);

	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no such session");
	return rc;
}

static int row_token(sqlite3_stmt *st, void *arg)
{
	struct index_fwd *f = arg;
	struct index_token tk = {
		.id = col(st, 0),
		.created_at = sqlite3_column_int64(st, 1),
		.expires_at = sqlite3_column_int64(st, 2),
		.address = col(st, 3),
		.current = sqlite3_column_int(st, 4),
	};

	return f->cb.token(&tk, f->arg);
}

static int sq_tokens_of(void *state, const char *login,
			const uint8_t current[INDEX_TOKEN_HASH_LEN],
			int64_t now, index_token_cb cb, void *arg)
{
	struct index_fwd f = { .cb.token = cb, .arg = arg };

	return sq_each(state, KEPT(ST_TOKENS_OF),
		       ARGS(TXT(login), HASH(current), INT(now)),
		       "list sessions", row_token, &f);
}

static int sq_token_drop_id(void *state, const char *login, const char *id)
{
	int n = 0;
	int rc = sq_exec(state, KEPT(ST_TOKEN_DROP_ID),
			 ARGS(TXT(login), TXT(id)), "revoke a session", &n);

	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no such session '%s'", id);
	return rc;
}

static int sq_tokens_drop_all(void *state, const char *login,
			      const uint8_t keep[INDEX_TOKEN_HASH_LEN])
{
	int n = 0;
	int rc = sq_exec(state, KEPT(ST_TOKENS_DROP_ALL),
			 ARGS(TXT(login), HASH(keep)), "revoke sessions", &n);

	return rc < 0 ? rc : n;
}

static int sq_user_set_password(void *state, const char *login,
				const char *pwhash,
				const uint8_t keep[INDEX_TOKEN_HASH_LEN])
{
	struct index_txn *tx;
	int rc, n = 0, dropped = 0;

	rc = sq_begin(state, &tx);
	if (rc)
		return rc;
	rc = sq_exec(state, KEPT(ST_USER_SETPW), ARGS(TXT(login), TXT(pwhash)),
		     "change a password", &n);
	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no user '%s'", login);
	/* The new password and the end of the other sessions, together. */
	if (rc == 0)
		rc = sq_exec(state, KEPT(ST_TOKENS_DROP_ALL),
			     ARGS(TXT(login), HASH(keep)), "revoke sessions",
			     &dropped);
	if (rc == 0)
		rc = sq_commit(state, tx);
	else
		sq_rollback(state, tx);
	return rc < 0 ? rc : dropped;
}

/* --- spaces and the access mirror --- */

static int sq_space_add(void *state, const char *name, const char *kind,
			const char *owner, int64_t now)
{
	struct index_txn *tx;
	int rc;

	rc = sq_begin(state, &tx);
	if (rc)
		return rc;
	rc = sq_exec(state, KEPT(ST_SPACE_ADD),
		     ARGS(TXT(name), TXT(kind), INT(now)), "add the space",
		     NULL);
	if (rc == -EEXIST)
		rc = err_set(-EEXIST, "space '%s' already exists", name);
	if (rc == 0) {
		rc = sq_exec(state, KEPT(ST_MEMBER_ADD),
			     ARGS(TXT(name), TXT(owner), TXT("owner")),
			     "add the owner", NULL);
		if (rc == -EEXIST) /* the foreign key on users(login) */
			rc = err_set(-ENOENT, "no user '%s'", owner);
	}
	if (rc == 0)
		return sq_commit(state, tx);
	sq_rollback(state, tx);
	return rc;
}

static int sq_member_get(void *state, const char *space, const char *login,
			 char *kind, size_t kindlen, char *role, size_t rolelen)
{
	struct index_two_out t = { kind, kindlen, role, rolelen };
	int rc =
		sq_one(state, KEPT(ST_MEMBER_GET), ARGS(TXT(space), TXT(login)),
		       "look up a member", row_two, &t);

	if (rc == SQ_NO_ROW)
		rc = err_set(-ENOENT, "no such space '%s'", space);
	return rc;
}

static int row_space(sqlite3_stmt *st, void *arg)
{
	struct index_fwd *f = arg;

	return f->cb.space(col(st, 0), col(st, 1), col(st, 2), f->arg);
}

static int sq_spaces_of(void *state, const char *login, index_space_cb cb,
			void *arg)
{
	struct index_fwd f = { .cb.space = cb, .arg = arg };

	return sq_each(state, KEPT(ST_SPACES_OF), ARGS(TXT(login)),
		       "list spaces", row_space, &f);
}

static int row_access(sqlite3_stmt *st, void *arg)
{
	struct index_access_out *t = arg;

	snprintf(t->role, t->rolelen, "%s", col(st, 0));
	*t->admin = sqlite3_column_int(st, 1);
	return 0;
}

static int sq_member_access(void *state, const char *space, const char *login,
			    char *role, size_t rolelen, int *admin)
{
	struct index_access_out t = { role, rolelen, admin };
	int rc = sq_one(
		state,
		ONCE("SELECT m.role, d.login IS NOT NULL FROM members m LEFT JOIN delegations d ON d.space = m.space AND d.login = m.login WHERE m.space = ?1 AND m.login = ?2"),
		ARGS(TXT(space), TXT(login)), "look up a member", row_access,
		&t);

	if (rc == SQ_NO_ROW)
		rc = err_set(-ENOENT, "no such space '%s'", space);
	return rc;
}

static int row_member(sqlite3_stmt *st, void *arg)
{
	struct index_fwd *f = arg;

	return f->cb.member(col(st, 0), col(st, 1), sqlite3_column_int(st, 2),
			    f->arg);
}

static int sq_members(void *state, const char *space, index_member_cb cb,
		      void *arg)
{
	struct index_fwd f = { .cb.member = cb, .arg = arg };

	return sq_each(
		state,
		ONCE("SELECT m.login, m.role, d.login IS NOT NULL FROM members m LEFT JOIN delegations d ON d.space = m.space AND d.login = m.login WHERE m.space = ?1 ORDER BY m.login"),
		ARGS(TXT(space)), "list members", row_member, &f);
}

/* One change of the access mirror; *n (may be NULL) gets the rows. */
static int mirror(void *state, const char *sql, const struct sq_arg *a, int *n)
{
	return sq_exec(state, ONCE(sql), a, "update the access mirror", n);
}

/* The integer of a one-row query, 0 without a row. */
static int sq_count(void *state, const char *sql, const struct sq_arg *a,
		    const char *what, int64_t *out)
{
	int rc;

	*out = 0;
	rc = sq_one(state, ONCE(sql), a, what, row_int64, out);
	return rc == SQ_NO_ROW ? 0 : rc;
}

static int sq_member_put(void *state, const char *space, const char *login,
			 const char *role, int replace)
{
	return mirror(
		state,
		replace ?
			"INSERT OR REPLACE INTO members(space, login, role) VALUES(?1, ?2, ?3)" :
			"INSERT INTO members(space, login, role) VALUES(?1, ?2, ?3)",
		ARGS(TXT(space), TXT(login), TXT(role)), NULL);
}

static int sq_member_drop(void *state, const char *space, const char *login)
{
	int rc = mirror(state,
			"DELETE FROM members WHERE space = ?1 AND login = ?2",
			ARGS(TXT(space), TXT(login)), NULL);

	if (rc == 0)
		rc = mirror(
			state,
			"DELETE FROM delegations WHERE space = ?1 AND login = ?2",
			ARGS(TXT(space), TXT(login)), NULL);
	if (rc == 0)
		rc = mirror(
			state,
			"DELETE FROM grants WHERE space = ?1 AND login = ?2",
			ARGS(TXT(space), TXT(login)), NULL);
	return rc;
}

static int sq_owners_count(void *state, const char *space, int *n)
{
	int64_t v = 0;
	int rc = sq_count(
		state,
		"SELECT count(*) FROM members WHERE space = ?1 AND role = 'owner'",
		ARGS(TXT(space)), "count owners", &v);

	*n = (int)v;
	return rc;
}

static int sq_delegation_set(void *state, const char *space, const char *login,
			     int on)
{
	return mirror(
		state,
		on ? "INSERT OR IGNORE INTO delegations(space, login) VALUES(?1, ?2)" :
		     "DELETE FROM delegations WHERE space = ?1 AND login = ?2",
		ARGS(TXT(space), TXT(login)), NULL);
}

static int row_grant(sqlite3_stmt *st, void *arg)
{
	struct index_fwd *f = arg;

	return f->cb.grant(col(st, 0), col(st, 1), col(st, 2), f->arg);
}

static int sq_grants(void *state, const char *space, const char *login,
		     size_t limit, index_grant_cb cb, void *arg)
{
	struct index_fwd f = { .cb.grant = cb, .arg = arg };

	return sq_each(
		state,
		ONCE(login ? "SELECT path, login, level FROM grants WHERE space = ?1 AND login = ?2 LIMIT ?3" :
			     "SELECT path, login, level FROM grants WHERE space = ?1 ORDER BY path, login LIMIT ?3"),
		ARGS(TXT(space), TXT(login),
		     INT(limit ? (sqlite3_int64)limit : -1)),
		"read grants", row_grant, &f);
}

static int sq_grant_put(void *state, const char *space, const char *path,
			const char *login, const char *level, int replace)
{
	return mirror(
		state,
		replace ?
			"INSERT OR REPLACE INTO grants(space, path, login, level) VALUES(?1, ?2, ?3, ?4)" :
			"INSERT INTO grants(space, path, login, level) VALUES(?1, ?2, ?3, ?4)",
		ARGS(TXT(space), TXT(path), TXT(login), TXT(level)), NULL);
}

static int sq_grant_drop(void *state, const char *space, const char *path,
			 const char *login)
{
	int n = 0;
	int rc = mirror(
		state,
		"DELETE FROM grants WHERE space = ?1 AND path = ?2 AND login = ?3",
		ARGS(TXT(space), TXT(path), TXT(login)), &n);

	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "'%s' holds no grant on '%s'", login,
			     path);
	return rc;
}

static int sq_grants_drop_all(void *state, const char *space, const char *login)
{
	return mirror(state,
		      "DELETE FROM grants WHERE space = ?1 AND login = ?2",
		      ARGS(TXT(space), TXT(login)), NULL);
}

static int sq_grants_read_only(void *state, const char *space,
			       const char *login)
{
	return mirror(
		state,
		"UPDATE grants SET level = 'read' WHERE space = ?1 AND login = ?2",
		ARGS(TXT(space), TXT(login)), NULL);
}

static int sq_grants_count(void *state, const char *space, const char *login,
			   int *n)
{
	int64_t v = 0;
	int rc = sq_count(
		state,
		"SELECT count(*) FROM grants WHERE space = ?1 AND login = ?2",
		ARGS(TXT(space), TXT(login)), "count grants", &v);

	*n = (int)v;
	return rc;
}

static int sq_grant_elsewhere(void *state, const char *space, const char *login,
			      const char *path, int *found)
{
	int64_t v = 0;
	int rc = sq_count(
		state,
		"SELECT 1 FROM grants WHERE space = ?1 AND login = ?2 AND path != ?3",
		ARGS(TXT(space), TXT(login), TXT(path)), "read grants", &v);

	*found = v != 0;
	return rc;
}

static int sq_grants_move(void *state, const char *space, const char *from,
			  const char *to, int *n)
{
	*n = 0;
	/* substr() rather than LIKE: names may hold '%' and '_'. */
	if (to)
		return mirror(
			state,
			"UPDATE grants SET path = ?3 || substr(path, length(?2) + 1) WHERE space = ?1 AND (path = ?2 OR substr(path, 1, length(?2) + 1) = ?2 || '/')",
			ARGS(TXT(space), TXT(from), TXT(to)), n);
	return mirror(
		state,
		"DELETE FROM grants WHERE space = ?1 AND (path = ?2 OR substr(path, 1, length(?2) + 1) = ?2 || '/')",
		ARGS(TXT(space), TXT(from)), n);
}

static int sq_access_clear(void *state, const char *space)
{
	int rc = mirror(state, "DELETE FROM members WHERE space = ?1",
			ARGS(TXT(space)), NULL);

	if (rc == 0)
		rc = mirror(state, "DELETE FROM delegations WHERE space = ?1",
			    ARGS(TXT(space)), NULL);
	if (rc == 0)
		rc = mirror(state, "DELETE FROM grants WHERE space = ?1",
			    ARGS(TXT(space)), NULL);
	return rc;
}

/* --- versions --- */

struct vchunk {
	void *state;
	const char *space;
	const struct index_version *v;
	int64_t bytes; /* of the chunks no version of the space named before */
};

static int sq_chunk_known(void *state, const char *space, const char *hex)
{
	int rc = sq_one(state, KEPT(ST_CHUNK_KNOWN), ARGS(TXT(space), TXT(hex)),
			"look up a chunk", row_none, NULL);

	return rc == SQ_NO_ROW ? 0 : rc < 0 ? rc : 1;
}

static int vchunk_put(const char *hex, uint64_t size, void *arg)
{
	struct vchunk *vc = arg;
	int known = sq_chunk_known(vc->state, vc->space, hex);

	if (known < 0)
		return known;
	if (!known)
		vc->bytes += (int64_t)size;
	return sq_exec(vc->state, KEPT(ST_VCHUNK_PUT),
		       ARGS(TXT(vc->space), TXT(hex), TXT(vc->v->doc_id),
			    INT(vc->v->version)),
		       "record a version's chunks", NULL);
}

/* -1: the document has no version yet; 0: not this one; 1: this one. */
static int row_seen(sqlite3_stmt *st, void *arg)
{
	*(int *)arg = sqlite3_column_type(st, 0) == SQLITE_NULL ?
			      -1 :
			      sqlite3_column_int(st, 0) != 0;
	return 0;
}

static int sq_version_put(void *state, const char *space,
			  const struct index_version *v)
{
	struct vchunk vc = { state, space, v, 0 };
	int seen = -1;
	int rc = sq_one(state, KEPT(ST_VERSION_SEEN),
			ARGS(TXT(space), TXT(v->doc_id), INT(v->version)),
			"look up a version", row_seen, &seen);

	if (rc == 0)
		rc = sq_exec(state, KEPT(ST_VERSION_PUT),
			     ARGS(TXT(space), TXT(v->doc_id), INT(v->version),
				  INT(v->size), TXT(v->sha256),
				  TXT(v->deposited_by), TXT(v->deposited_at),
				  TXT(v->commit), TXT(v->manifest),
				  INT(v->sealed ? 1 : 0)),
			     "record a version", NULL);
	/* the chunks its manifest names, and what they add to the usage */
	if (rc == 0)
		rc = index_manifest_chunk_sizes(v->manifest, vchunk_put, &vc);
	if (rc == 0 && seen != 1)
		rc = sq_exec(state, KEPT(ST_USAGE_ADD),
			     ARGS(TXT(space), INT(vc.bytes),
				  INT(seen < 0 ? 1 : 0)),
			     "count a version in the usage", NULL);
	return rc;
}

static int row_usage(sqlite3_stmt *st, void *arg)
{
	struct index_usage *u = arg;

	u->bytes = (uint64_t)sqlite3_column_int64(st, 0);
	u->documents = (uint64_t)sqlite3_column_int64(st, 1);
	u->versions = (uint64_t)sqlite3_column_int64(st, 2);
	u->quota = sqlite3_column_type(st, 3) == SQLITE_NULL ?
			   -1 :
			   sqlite3_column_int64(st, 3);
	return 0;
}

static int sq_usage_get(void *state, const char *space, struct index_usage *u)
{
	int rc;

	*u = (struct index_usage){ .quota = -1 };
	rc = sq_one(
		state,
		ONCE("SELECT bytes, documents, versions, quota FROM space_usage WHERE space = ?1"),
		ARGS(TXT(space)), "read a space's usage", row_usage, u);
	return rc == SQ_NO_ROW ? 0 : rc;
}

static int sq_quota_set(void *state, const char *space, int64_t quota)
{
	return sq_exec(
		state,
		ONCE("INSERT INTO space_usage(space, quota) VALUES(?1, ?2) ON CONFLICT(space) DO UPDATE SET quota = excluded.quota"),
		ARGS(TXT(space), quota < 0 ? (struct sq_arg)SKIP :
					     (struct sq_arg)INT(quota)),
		"set a space's quota", NULL);
}

/* A version row; the seal is column 8 when the query reads it. */
static int row_version(sqlite3_stmt *st, void *arg)
{
	struct index_fwd *f = arg;
	struct index_version v = {
		.doc_id = col(st, 0),
		.version = (uint64_t)sqlite3_column_int64(st, 1),
		.size = (uint64_t)sqlite3_column_int64(st, 2),
		.sha256 = col(st, 3),
		.deposited_by = col(st, 4),
		.deposited_at = col(st, 5),
		.commit = col(st, 6),
		.manifest = col(st, 7),
		.sealed = sqlite3_column_count(st) > 8 ?
				  sqlite3_column_int(st, 8) :
				  0,
	};

	f->n++;
	return f->cb.version(&v, f->arg);
}

static int sq_versions(void *state, const char *space, const char *doc_id,
		       uint64_t version, index_version_cb cb, void *arg)
{
	struct index_fwd f = { .cb.version = cb, .arg = arg };
	int rc;

	if (version)
		rc = sq_each(state, KEPT(ST_VERSION_ONE),
			     ARGS(TXT(space), TXT(doc_id), INT(version)),
			     "list versions", row_version, &f);
	else
		rc = sq_each(state, KEPT(ST_VERSIONS),
			     ARGS(TXT(space), TXT(doc_id)), "list versions",
			     row_version, &f);
	return rc < 0 ? rc : f.n;
}

static int sq_versions_all(void *state, const char *space, index_version_cb cb,
			   void *arg)
{
	struct index_fwd f = { .cb.version = cb, .arg = arg };

	return sq_each(
		state,
		ONCE("SELECT doc_id, version, size, sha256, deposited_by, deposited_at, \"commit\", manifest FROM versions WHERE space = ?1"),
		ARGS(TXT(space)), "read versions", row_version, &f);
}

struct chunk_ref {
	char doc_id[40];
	uint64_t version;
	int sealed;
};

struct chunk_refs {
	struct chunk_ref *refs;
	size_t n, cap;
};

static int row_chunk_ref(sqlite3_stmt *st, void *arg)
{
	struct chunk_refs *r = arg;
	struct chunk_ref *nr;

	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 16;
		nr = realloc(r->refs, r->cap * sizeof(*r->refs));
		if (!nr)
			return -ENOMEM;
		r->refs = nr;
	}
	nr = &r->refs[r->n++];
	snprintf(nr->doc_id, sizeof(nr->doc_id), "%s", col(st, 0));
	nr->version = (uint64_t)sqlite3_column_int64(st, 1);
	nr->sealed = sqlite3_column_int(st, 2);
	return 0;
}

static int sq_chunk_versions(void *state, const char *space,
			     const char *chunk_hex, index_chunk_cb cb,
			     void *arg)
{
	struct chunk_refs r = { 0 };
	int rc;

	/* Read the rows first: the callback may use the index. */
	rc = sq_each(
		state,
		ONCE("SELECT c.doc_id, c.version, v.sealed FROM version_chunks c JOIN versions v ON v.space = c.space AND v.doc_id = c.doc_id AND v.version = c.version WHERE c.space = ?1 AND c.chunk = ?2 ORDER BY c.doc_id, c.version"),
		ARGS(TXT(space), TXT(chunk_hex)), "look up a chunk's versions",
		row_chunk_ref, &r);
	for (size_t i = 0; !rc && i < r.n; i++)
		rc = cb(r.refs[i].doc_id, r.refs[i].version, r.refs[i].sealed,
			arg);
	free(r.refs);
	return rc;
}

static int sq_version_unseal(void *state, const char *space, const char *doc_id,
			     uint64_t version)
{
	char v[24];
	int n = 0, rc;

	snprintf(v, sizeof(v), "%llu", (unsigned long long)version);
	rc = sq_exec(
		state,
		ONCE("UPDATE versions SET sealed = 0 WHERE space = ?1 AND doc_id = ?2 AND version = CAST(?3 AS INTEGER) AND sealed = 1"),
		ARGS(TXT(space), TXT(doc_id), TXT(v)), "unseal a version", &n);
	return rc < 0 ? rc : n;
}

static int sq_sealed_any(void *state, const char *space)
{
	int rc = sq_one(
		state,
		ONCE("SELECT 1 FROM versions WHERE space = ?1 AND sealed = 1 LIMIT 1"),
		ARGS(TXT(space)), "look for sealed versions", row_none, NULL);

	if (rc == SQ_NO_ROW)
		return 0;
	return rc < 0 ? rc : 1;
}

/* --- event journal --- */

static int sq_event_head(void *state, struct index_txn *tx, const char *chain,
			 uint64_t *seq, char hash[65])
{
	struct index_seq_out t = { seq, hash, 65 };
	int rc;

	(void)tx;
	*seq = 0;
	hash[0] = '\0';
	rc = sq_one(
		state,
		ONCE("SELECT seq, hash FROM events WHERE space = ?1 ORDER BY seq DESC LIMIT 1"),
		ARGS(TXT(chain)), "read the chain head", row_seq_text, &t);
	return rc == SQ_NO_ROW ? 0 : rc;
}

static int sq_event_insert(void *state, struct index_txn *tx, const char *chain,
			   const struct events_row *r)
{
	(void)tx;
	return sq_exec(
		state,
		ONCE("INSERT INTO events(space, seq, at, login, kind, path, doc_id, version, detail, prev_hash, hash) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
		ARGS(TXT(chain), INT(r->seq), INT(r->at), TXT(r->login),
		     TXT(r->kind), TXT(r->path), TXT(r->doc_id),
		     r->version ? (struct sq_arg)INT(r->version) :
				  (struct sq_arg)SKIP,
		     TXT(r->detail), TXT(r->prev_hash), TXT(r->hash)),
		"record an event", NULL);
}

static int row_event(sqlite3_stmt *st, void *arg)
{
	struct index_fwd *f = arg;
	struct events_row r = {
		.seq = (uint64_t)sqlite3_column_int64(st, 0),
		.at = sqlite3_column_int64(st, 1),
		.login = col(st, 2),
		.kind = col(st, 3),
		.path = col(st, 4),
		.doc_id = col(st, 5),
		.version = (uint64_t)sqlite3_column_int64(st, 6),
		.detail = col(st, 7),
		.prev_hash = f->with_hashes ? col(st, 8) : NULL,
		.hash = f->with_hashes ? col(st, 9) : NULL,
	};

	return f->cb.event(&r, f->arg);
}

static int sq_event_chain(void *state, const char *chain, index_event_cb cb,
			  void *arg)
{
	struct index_fwd f = { .cb.event = cb, .arg = arg, .with_hashes = 1 };

	return sq_each(
		state,
		ONCE("SELECT seq, at, login, kind, path, doc_id, version, detail, prev_hash, hash FROM events WHERE space = ?1 ORDER BY seq"),
		ARGS(TXT(chain)), "read the chain", row_event, &f);
}

static int sq_events_list(void *state, const char *chain, const char *prefix,
			  int reads, uint64_t after, size_t limit,
			  index_event_cb cb, void *arg)
{
	struct index_fwd f = { .cb.event = cb, .arg = arg };

	/* Under prefix: the path itself or PREFIX/...; '/' is everything.
	 * substr() rather than LIKE: names may hold '%' and '_'.  LIMIT
	 * keeps the listing to limit rows. */
	return sq_each(
		state,
		ONCE("SELECT seq, at, login, kind, path, doc_id, version, detail FROM events WHERE space = ?1 AND seq > ?2 AND path IS NOT NULL AND (?3 = '/' OR path = ?3 OR substr(path, 1, length(?3) + 1) = ?3 || '/') AND ((kind = 'read') = ?4) ORDER BY seq LIMIT ?5"),
		ARGS(TXT(chain), INT(after), TXT(prefix), INT(reads ? 1 : 0),
		     INT(limit)),
		"list events", row_event, &f);
}

static int row_hash(sqlite3_stmt *st, void *arg)
{
	if (!col(st, 0))
		return -ENOENT;
	snprintf(arg, 65, "%s", col(st, 0));
	return 0;
}

static int sq_event_hash(void *state, const char *chain, uint64_t seq,
			 char hash[65])
{
	int rc = sq_one(
		state,
		ONCE("SELECT hash FROM events WHERE space = ?1 AND seq = ?2"),
		ARGS(TXT(chain), INT(seq)), "read an event", row_hash, hash);

	return rc == SQ_NO_ROW ? -ENOENT : rc;
}

static int sq_doc_last_path(void *state, const char *space, const char *doc_id,
			    uint64_t *seq, char *path, size_t pathlen)
{
	struct index_seq_out t = { seq, path, pathlen };
	int rc;

	path[0] = '\0';
	*seq = 0;
	rc = sq_one(
		state,
		ONCE("SELECT seq, path FROM events WHERE space = ?1 AND doc_id = ?2 AND path IS NOT NULL AND kind IN ('deposit', 'move') ORDER BY seq DESC LIMIT 1"),
		ARGS(TXT(space), TXT(doc_id)), "read the journal", row_seq_text,
		&t);
	if (rc == SQ_NO_ROW)
		rc = err_set(-ENOENT, "no such document '%s'", doc_id);
	return rc;
}

static int row_move(sqlite3_stmt *st, void *arg)
{
	struct index_fwd *f = arg;

	return f->cb.move(f->arg, col(st, 0), col(st, 1));
}

static int sq_folder_moves(void *state, const char *space, uint64_t after,
			   index_move_cb cb, void *arg)
{
	struct index_fwd f = { .cb.move = cb, .arg = arg };

	return sq_each(
		state,
		ONCE("SELECT path, detail FROM events WHERE space = ?1 AND seq > ?2 AND kind = 'move' AND doc_id IS NULL AND detail IS NOT NULL ORDER BY seq"),
		ARGS(TXT(space), INT(after)), "read the journal", row_move, &f);
}

/* --- invitations --- */

static int sq_invite_put(void *state, const char *space, const char *login,
			 const char *role, const char *by, int64_t now, int max)
{
	int n = 0;
	/* The cap and the insert in one statement: no race between them. */
	int rc = sq_exec(
		state,
		ONCE("INSERT OR REPLACE INTO invitations(space, login, role, invited_by, at) SELECT ?1, ?2, ?3, ?4, ?5 WHERE (SELECT count(*) FROM invitations WHERE space = ?1 AND login <> ?2) < ?6"),
		ARGS(TXT(space), TXT(login), TXT(role), TXT(by), INT(now),
		     INT(max)),
		"invite", &n);

	if (rc == 0 && n == 0)
		rc = err_set(-E2BIG, "'%s' has %d invitations pending already",
			     space, max);
	return rc;
}

static int sq_invite_get(void *state, const char *space, const char *login,
			 char *role, size_t rolelen, char *by, size_t bylen)
{
	struct index_two_out t = { role, rolelen, by, bylen };
	int rc = sq_one(
		state,
		ONCE("SELECT role, invited_by FROM invitations WHERE space = ?1 AND login = ?2"),
		ARGS(TXT(space), TXT(login)), "read an invitation", row_two,
		&t);

	if (rc == SQ_NO_ROW)
		rc = err_set(-ENOENT, "no invitation to '%s'", space);
	return rc;
}

static int sq_invite_drop(void *state, const char *space, const char *login)
{
	int n = 0;
	int rc = sq_exec(
		state,
		ONCE("DELETE FROM invitations WHERE space = ?1 AND login = ?2"),
		ARGS(TXT(space), TXT(login)), "drop an invitation", &n);

	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no invitation to '%s'", space);
	return rc;
}

static int row_invite(sqlite3_stmt *st, void *arg)
{
	struct index_fwd *f = arg;
	struct invite inv = {
		.space = col(st, 0),
		.login = col(st, 1),
		.role = col(st, 2),
		.by = col(st, 3),
		.at = sqlite3_column_int64(st, 4),
	};

	return f->cb.invite(&inv, f->arg);
}

static int sq_invite_list(void *state, const char *space, const char *login,
			  invite_cb cb, void *arg)
{
	struct index_fwd f = { .cb.invite = cb, .arg = arg };

	return sq_each(
		state,
		ONCE("SELECT space, login, role, invited_by, at FROM invitations WHERE (?1 IS NULL OR space = ?1) AND (?2 IS NULL OR login = ?2) ORDER BY space, login"),
		ARGS(TXT(space), TXT(login)), "list invitations", row_invite,
		&f);
}

/* --- login throttling --- */

static int row_throttle(sqlite3_stmt *st, void *arg)
{
	struct index_throttle_row *r = arg;

	r->failures = sqlite3_column_int64(st, 0);
	r->last_at = sqlite3_column_int64(st, 1);
	r->next_at = sqlite3_column_int64(st, 2);
	r->locked_until = sqlite3_column_int64(st, 3);
	return 0;
}

static int sq_throttle_get(void *state, const char *key,
			   struct index_throttle_row *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	rc = sq_one(
		state,
		ONCE("SELECT failures, last_at, next_at, locked_until FROM login_throttle WHERE key = ?1"),
		ARGS(TXT(key)), "read a throttle row", row_throttle, r);
	return rc == SQ_NO_ROW ? 0 : rc;
}

static int sq_throttle_put(void *state, const char *key,
			   const struct index_throttle_row *r)
{
	return sq_exec(
		state,
		ONCE("INSERT OR REPLACE INTO login_throttle(key, failures, last_at, next_at, locked_until) VALUES(?1, ?2, ?3, ?4, ?5)"),
		ARGS(TXT(key), INT(r->failures), INT(r->last_at),
		     INT(r->next_at), INT(r->locked_until)),
		"count a failure", NULL);
}

static int sq_throttle_forget(void *state, int64_t before, int64_t now)
{
	return sq_exec(
		state,
		ONCE("DELETE FROM login_throttle WHERE last_at < ?3 AND locked_until <= ?4"),
		ARGS(SKIP, SKIP, INT(before), INT(now)), "forget old failures",
		NULL);
}

static int sq_throttle_count(void *state, int64_t *n)
{
	return sq_count(state, "SELECT count(*) FROM login_throttle", NULL,
			"count throttle rows", n);
}

static int sq_throttle_trim(void *state, const char *keep1, const char *keep2,
			    int64_t now, int64_t n)
{
	return sq_exec(
		state,
		ONCE("DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle WHERE key NOT IN (?1, ?2) ORDER BY locked_until > ?3, last_at LIMIT ?4)"),
		ARGS(TXT(keep1), TXT(keep2), INT(now), INT(n)),
		"forget old throttle rows", NULL);
}

static int sq_throttle_drop(void *state, const char *key)
{
	return sq_exec(state, ONCE("DELETE FROM login_throttle WHERE key = ?1"),
		       ARGS(TXT(key)), "forget a login's failures", NULL);
}

static int sq_throttle_forgive(void *state, const char *key, int lift)
{
	return sq_exec(
		state,
		ONCE("UPDATE login_throttle SET failures = max(failures - 1, 0), next_at = 0, locked_until = CASE WHEN ?3 THEN 0 ELSE locked_until END WHERE key = ?1"),
		ARGS(TXT(key), SKIP, INT(lift ? 1 : 0)), "forgive an address",
		NULL);
}

/* --- one-time codes and sign-up invitations --- */

static int sq_code_put(void *state, const struct index_code *c, int64_t now,
		       unsigned max)
{
	int n = 0;
	int rc = sq_exec(
		state, ONCE("DELETE FROM pending_codes WHERE expires_at <= ?1"),
		ARGS(INT(now)), "forget expired codes", NULL);

	/* The cap and the insert in one statement: no race between them. */
	if (rc == 0)
		rc = sq_exec(
			state,
			ONCE("INSERT OR REPLACE INTO pending_codes(purpose, login, phone, email, pwhash, invite, salt, code_hash, expires_at, tries) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0 WHERE (SELECT count(*) FROM pending_codes WHERE NOT (purpose = ?1 AND login = ?2)) < ?10"),
			ARGS(TXT(c->purpose), TXT(c->login), TXT(c->phone),
			     TXT(c->email), TXT(c->pwhash), TXT(c->invite),
			     TXT(c->salt), TXT(c->code_hash),
			     INT(c->expires_at), INT(max)),
			"keep a code", &n);
	if (rc == 0 && n == 0)
		rc = err_set(-E2BIG, "%u codes are pending already", max);
	return rc;
}

static int row_code(sqlite3_stmt *st, void *arg)
{
	struct index_code *c = arg;

	snprintf(c->purpose, sizeof(c->purpose), "%s", col(st, 0));
	snprintf(c->login, sizeof(c->login), "%s", col(st, 1));
	snprintf(c->phone, sizeof(c->phone), "%s", col(st, 2));
	snprintf(c->email, sizeof(c->email), "%s", col(st, 3));
	snprintf(c->pwhash, sizeof(c->pwhash), "%s", col(st, 4));
	snprintf(c->invite, sizeof(c->invite), "%s", col(st, 5));
	snprintf(c->salt, sizeof(c->salt), "%s", col(st, 6));
	snprintf(c->code_hash, sizeof(c->code_hash), "%s", col(st, 7));
	c->expires_at = sqlite3_column_int64(st, 8);
	c->tries = (unsigned)sqlite3_column_int64(st, 9);
	return 0;
}

static int sq_code_get(void *state, const char *purpose, const char *login,
		       int64_t now, struct index_code *out)
{
	int rc = sq_one(
		state,
		ONCE("SELECT purpose, login, phone, email, pwhash, invite, salt, code_hash, expires_at, tries FROM pending_codes WHERE purpose = ?1 AND login = ?2 AND expires_at > ?3"),
		ARGS(TXT(purpose), TXT(login), INT(now)), "read a code",
		row_code, out);

	if (rc == SQ_NO_ROW)
		rc = err_set(-ENOENT, "no code pending");
	return rc;
}

static int row_uint(sqlite3_stmt *st, void *arg)
{
	*(unsigned *)arg = (unsigned)sqlite3_column_int64(st, 0);
	return 0;
}

static int sq_code_tried(void *state, const char *purpose, const char *login,
			 unsigned *tries)
{
	int rc = sq_one(
		state,
		ONCE("UPDATE pending_codes SET tries = tries + 1 WHERE purpose = ?1 AND login = ?2 RETURNING tries"),
		ARGS(TXT(purpose), TXT(login)), "count a wrong code", row_uint,
		tries);

	if (rc == SQ_NO_ROW)
		rc = err_set(-ENOENT, "no code pending");
	return rc;
}

static int sq_code_drop(void *state, const char *purpose, const char *login)
{
	return sq_exec(
		state,
		ONCE("DELETE FROM pending_codes WHERE purpose = ?1 AND login = ?2"),
		ARGS(TXT(purpose), TXT(login)), "drop a code", NULL);
}

static int sq_user_phone(void *state, const char *login, char *out,
			 size_t outlen)
{
	struct index_text_out t = { out, outlen, "read a user's phone" };
	int rc = sq_one(state, ONCE("SELECT phone FROM users WHERE login = ?1"),
			ARGS(TXT(login)), t.what, row_text, &t);

	if (rc == SQ_NO_ROW)
		rc = err_set(-ENOENT, "no user '%s'", login);
	return rc;
}

static int sq_signup_invite_put(void *state, const char *hash_hex,
				int64_t expires_at)
{
	return sq_exec(
		state,
		ONCE("INSERT INTO signup_invites(hash, expires_at) VALUES(?1, ?2)"),
		ARGS(TXT(hash_hex), INT(expires_at)), "keep an invitation",
		NULL);
}

static int sq_signup_invite_valid(void *state, const char *hash_hex,
				  int64_t now)
{
	unsigned n = 0;
	int rc = sq_one(
		state,
		ONCE("SELECT count(*) FROM signup_invites WHERE hash = ?1 AND expires_at > ?2"),
		ARGS(TXT(hash_hex), INT(now)), "read an invitation", row_uint,
		&n);

	return rc < 0 ? rc : n > 0;
}

static int sq_signup_invite_take(void *state, const char *hash_hex, int64_t now)
{
	int n = 0;
	int rc = sq_exec(
		state,
		ONCE("DELETE FROM signup_invites WHERE hash = ?1 AND expires_at > ?2"),
		ARGS(TXT(hash_hex), INT(now)), "use an invitation", &n);

	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "no such invitation");
	return rc;
}

/* --- frozen accounts --- */

static int sq_user_freeze(void *state, const char *login, int64_t at,
			  const char *mandate, const char *notary)
{
	return sq_exec(
		state,
		ONCE("INSERT OR REPLACE INTO user_freezes(login, at, mandate, notary) VALUES(?1, ?2, ?3, ?4)"),
		ARGS(TXT(login), INT(at), TXT(mandate), TXT(notary)),
		"freeze an account", NULL);
}

static int sq_user_frozen(void *state, const char *login)
{
	unsigned n = 0;
	int rc = sq_one(
		state,
		ONCE("SELECT count(*) FROM user_freezes WHERE login = ?1"),
		ARGS(TXT(login)), "read an account's freeze", row_uint, &n);

	return rc < 0 ? rc : n > 0;
}

/* --- terminated spaces --- */

static int sq_space_terminate(void *state, const char *space, const char *by,
			      int64_t at)
{
	int rc = sq_exec(
		state,
		ONCE("INSERT INTO space_terminations(space, at, by) VALUES(?1, ?2, ?3)"),
		ARGS(TXT(space), INT(at), TXT(by)), "terminate a space", NULL);

	if (rc == -EEXIST)
		rc = err_set(-EEXIST, "space '%s' is terminated already",
			     space);
	return rc;
}

static int sq_space_reactivate(void *state, const char *space)
{
	int n = 0;
	int rc =
		sq_exec(state,
			ONCE("DELETE FROM space_terminations WHERE space = ?1"),
			ARGS(TXT(space)), "reactivate a space", &n);

	if (rc == 0 && n == 0)
		rc = err_set(-ENOENT, "space '%s' is not terminated", space);
	return rc;
}

static int row_termination(sqlite3_stmt *st, void *arg)
{
	struct termination_out *t = arg;

	if (t->at)
		*t->at = sqlite3_column_int64(st, 0);
	if (t->by)
		snprintf(t->by, t->bylen, "%s", col(st, 1));
	return 0;
}

static int sq_space_termination(void *state, const char *space, int64_t *at,
				char *by, size_t bylen)
{
	struct termination_out t = { at, by, bylen };
	int rc = sq_one(
		state,
		ONCE("SELECT at, by FROM space_terminations WHERE space = ?1"),
		ARGS(TXT(space)), "read a space's termination", row_termination,
		&t);

	return rc == SQ_NO_ROW ? -ENOENT : rc;
}

static int row_terminated(sqlite3_stmt *st, void *arg)
{
	struct index_fwd *f = arg;

	return f->cb.terminated(col(st, 0), sqlite3_column_int64(st, 1),
				col(st, 2), f->arg);
}

static int sq_spaces_terminated(void *state, index_terminated_cb cb, void *arg)
{
	struct index_fwd f = { .cb.terminated = cb, .arg = arg };

	return sq_each(
		state,
		ONCE("SELECT space, at, by FROM space_terminations WHERE at >= ?1 ORDER BY at, space"),
		ARGS(INT(0)), "list terminated spaces", row_terminated, &f);
}

/* Every row of a space, gone for good: SQLite's secure_delete zeroes the
 * freed bytes, and the checkpoint empties the write-ahead log that still
 * holds the old pages. */
static int sq_space_drop(void *state, const char *space)
{
	struct index_txn *tx;
	char sql[96];
	int rc;

	rc = sq_one(state, ONCE("PRAGMA secure_delete = ON"), ARGS(SKIP),
		    "zero what is deleted", row_none, NULL);
	if (rc == SQ_NO_ROW)
		rc = 0;
	if (rc == 0)
		rc = sq_begin(state, &tx);
	if (rc)
		return rc;
	for (size_t i = 0; rc == 0 && index_space_tables[i]; i++) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s = ?1",
			 index_space_tables[i],
			 strcmp(index_space_tables[i], "spaces") ? "space" :
								   "name");
		rc = sq_exec(state, ONCE(sql), ARGS(TXT(space)),
			     "delete a space's rows", NULL);
	}
	if (rc == 0)
		rc = sq_commit(state, tx);
	else
		sq_rollback(state, tx);
	/* A reader of the server's may hold the log a moment: again, a
	 * bounded number of times (the first column says busy). */
	for (int i = 0, busy = 1; rc == 0 && busy && i < 100; i++) {
		unsigned b = 0;

		rc = sq_one(state, ONCE("PRAGMA wal_checkpoint(TRUNCATE)"),
			    ARGS(SKIP), "empty the log", row_uint, &b);
		busy = rc == 0 && b != 0;
		if (busy)
			usleep(20000);
	}
	return rc == SQ_NO_ROW ? 0 : rc;
}

/* --- a space's ledger in the index --- */

struct sq_object_out {
	index_object_cb cb;
	void *arg;
};

static int row_object(sqlite3_stmt *st, void *arg)
{
	struct sq_object_out *o = arg;
	const void *data = sqlite3_column_blob(st, 1);

	/* an empty blob reads as NULL: callbacks get a pointer always */
	return o->cb(sqlite3_column_int(st, 0), data ? data : "",
		     (size_t)sqlite3_column_bytes(st, 1), o->arg);
}

static int sq_ledger_object_get(void *state, const char *space, const char *oid,
				index_object_cb cb, void *arg)
{
	struct sq_object_out o = { cb, arg };
	int rc = sq_one(
		state,
		ONCE("SELECT type, data FROM ledger_objects WHERE space = ?1 AND oid = ?2"),
		ARGS(TXT(space), TXT(oid)), "read a ledger object", row_object,
		&o);

	return rc == SQ_NO_ROW ? err_set(-ENOENT, "no ledger object %s", oid) :
				 rc;
}

static int sq_ledger_object_has(void *state, const char *space, const char *oid)
{
	int rc = sq_one(
		state,
		ONCE("SELECT 1 FROM ledger_objects WHERE space = ?1 AND oid = ?2"),
		ARGS(TXT(space), TXT(oid)), "look up a ledger object", row_none,
		NULL);

	return rc == SQ_NO_ROW ? 0 : rc < 0 ? rc : 1;
}

static int sq_ledger_object_put(void *state, const char *space, const char *oid,
				int type, const void *data, size_t len)
{
	return sq_exec(
		state,
		ONCE("INSERT INTO ledger_objects(space, oid, type, data) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(space, oid) DO NOTHING"),
		ARGS(TXT(space), TXT(oid), INT(type), BLOB(data, len)),
		"write a ledger object", NULL);
}

struct sq_names {
	index_name_cb cb;
	void *arg;
};

static int row_name(sqlite3_stmt *st, void *arg)
{
	struct sq_names *n = arg;

	return n->cb(col(st, 0),
		     sqlite3_column_count(st) > 1 ? col(st, 1) : NULL, n->arg);
}

static int sq_ledger_objects(void *state, const char *space, index_name_cb cb,
			     void *arg)
{
	struct sq_names n = { cb, arg };

	return sq_each(
		state,
		ONCE("SELECT oid FROM ledger_objects WHERE space = ?1 ORDER BY oid"),
		ARGS(TXT(space)), "list ledger objects", row_name, &n);
}

static int sq_ledger_ref_get(void *state, const char *space, const char *name,
			     char *target, size_t len)
{
	struct index_text_out t = { target, len, "read a ledger ref" };
	int rc = sq_one(
		state,
		ONCE("SELECT target FROM ledger_refs WHERE space = ?1 AND name = ?2"),
		ARGS(TXT(space), TXT(name)), "read a ledger ref", row_text, &t);

	return rc == SQ_NO_ROW ? err_set(-ENOENT, "no ledger ref %s", name) :
				 rc;
}

static int sq_ledger_ref_set(void *state, const char *space, const char *name,
			     const char *target, enum index_ref_mode mode,
			     const char *old)
{
	int changes = 0, rc;

	switch (mode) {
	case INDEX_REF_CREATE:
		rc = sq_exec(
			state,
			ONCE("INSERT INTO ledger_refs(space, name, target) VALUES(?1, ?2, ?3)"),
			ARGS(TXT(space), TXT(name), TXT(target)),
			"create a ledger ref", NULL);
		return rc == -EEXIST ?
			       err_set(-EEXIST, "ledger ref %s exists", name) :
			       rc;
	case INDEX_REF_FORCE:
		return sq_exec(
			state,
			ONCE("INSERT INTO ledger_refs(space, name, target) VALUES(?1, ?2, ?3) ON CONFLICT(space, name) DO UPDATE SET target = excluded.target"),
			ARGS(TXT(space), TXT(name), TXT(target)),
			"write a ledger ref", NULL);
	case INDEX_REF_MATCH:
		break;
	}
	rc = sq_exec(
		state,
		ONCE("UPDATE ledger_refs SET target = ?3 WHERE space = ?1 AND name = ?2 AND target = ?4"),
		ARGS(TXT(space), TXT(name), TXT(target), TXT(old)),
		"move a ledger ref", &changes);
	if (rc == 0 && changes == 0)
		rc = err_set(-ESTALE, "ledger ref %s moved meanwhile", name);
	return rc;
}

static int sq_ledger_ref_drop(void *state, const char *space, const char *name,
			      const char *old)
{
	int changes = 0;
	int rc = sq_exec(
		state,
		ONCE("DELETE FROM ledger_refs WHERE space = ?1 AND name = ?2 AND (?3 IS NULL OR target = ?3)"),
		ARGS(TXT(space), TXT(name), TXT(old)), "remove a ledger ref",
		&changes);

	if (rc == 0 && changes == 0)
		rc = old ? err_set(-ESTALE, "ledger ref %s moved meanwhile",
				   name) :
			   err_set(-ENOENT, "no ledger ref %s", name);
	return rc;
}

static int sq_ledger_refs(void *state, const char *space, index_name_cb cb,
			  void *arg)
{
	struct sq_names n = { cb, arg };

	return sq_each(
		state,
		ONCE("SELECT name, target FROM ledger_refs WHERE space = ?1 ORDER BY name"),
		ARGS(TXT(space)), "list ledger refs", row_name, &n);
}

static int sq_spaces_all(void *state, index_name_cb cb, void *arg)
{
	struct sq_names n = { cb, arg };

	return sq_each(state,
		       ONCE("SELECT name, kind FROM spaces ORDER BY name"),
		       NULL, "list spaces", row_name, &n);
}

static int sq_space_key_get(void *state, const char *space, char *sealed,
			    size_t len)
{
	struct index_text_out t = { sealed, len, "read a space's key" };
	int rc = sq_one(state,
			ONCE("SELECT sealed FROM space_keys WHERE space = ?1"),
			ARGS(TXT(space)), "read a space's key", row_text, &t);

	return rc == SQ_NO_ROW ?
		       err_set(-ENOENT, "space '%s' has no key", space) :
		       rc;
}

static int sq_space_key_set(void *state, const char *space, const char *sealed)
{
	return sq_exec(
		state,
		ONCE("INSERT INTO space_keys(space, sealed) VALUES(?1, ?2) ON CONFLICT(space) DO UPDATE SET sealed = excluded.sealed"),
		ARGS(TXT(space), TXT(sealed)), "write a space's key", NULL);
}

/* One node: nobody else to tell (index.h). */
static int sq_notify(void *state, const char *space)
{
	(void)state;
	(void)space;
	return 0;
}

static int sq_listen_open(void *state, struct index_listener **out)
{
	(void)state;
	*out = NULL;
	return err_set(-ENOTSUP, "index: SQLite has no other node to hear");
}

static int sq_listen_wait(void *state, struct index_listener *l, int wake_fd,
			  int timeout_ms, index_name_cb cb, void *arg)
{
	(void)state;
	(void)l;
	(void)wake_fd;
	(void)timeout_ms;
	(void)cb;
	(void)arg;
	return -ENOTSUP;
}

static void sq_listen_close(void *state, struct index_listener *l)
{
	(void)state;
	(void)l;
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
	.usage_get = sq_usage_get,
	.quota_set = sq_quota_set,
	.chunk_known = sq_chunk_known,
	.code_put = sq_code_put,
	.code_get = sq_code_get,
	.code_tried = sq_code_tried,
	.code_drop = sq_code_drop,
	.user_phone = sq_user_phone,
	.signup_invite_put = sq_signup_invite_put,
	.signup_invite_valid = sq_signup_invite_valid,
	.signup_invite_take = sq_signup_invite_take,
	.space_terminate = sq_space_terminate,
	.space_reactivate = sq_space_reactivate,
	.space_termination = sq_space_termination,
	.spaces_terminated = sq_spaces_terminated,
	.space_drop = sq_space_drop,
	.user_freeze = sq_user_freeze,
	.user_frozen = sq_user_frozen,
	.ledger_object_get = sq_ledger_object_get,
	.ledger_object_has = sq_ledger_object_has,
	.ledger_object_put = sq_ledger_object_put,
	.ledger_objects = sq_ledger_objects,
	.ledger_ref_get = sq_ledger_ref_get,
	.ledger_ref_set = sq_ledger_ref_set,
	.ledger_ref_drop = sq_ledger_ref_drop,
	.ledger_refs = sq_ledger_refs,
	.spaces_all = sq_spaces_all,
	.space_key_get = sq_space_key_get,
	.space_key_set = sq_space_key_set,
	.notify = sq_notify,
	.listen_open = sq_listen_open,
	.listen_wait = sq_listen_wait,
	.listen_close = sq_listen_close,
};
