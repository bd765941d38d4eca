/*
 * The server index: SQLite in WAL mode (DATADIR/index.db) holding what must
 * be fast to look up or lives nowhere else: users, tokens, spaces, members,
 * the versions of every document (a cache of the ledger, rebuildable from
 * it) and the event journal.
 *
 * Thread-safety: every function may be called from any thread; each thread
 * uses its own connection, opened on its first call and closed by
 * index_free() (call it once no other thread uses the index).  Other
 * threads and processes (coffred user add, space create) may write at the
 * same time: WAL and a 5 s busy timeout serialize the writers.
 * Strings passed in are copied by SQLite; strings handed to callbacks live
 * for the callback only.
 */
#ifndef COFFRE_SERVER_INDEX_H
#define COFFRE_SERVER_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define INDEX_FILE_NAME	     "index.db"
#define INDEX_SCHEMA_VERSION 4
#define INDEX_TOKEN_HASH_LEN 32

struct index;
struct sqlite3;

/*
 * Open DATADIR's index.  create = 1 makes the schema in a new file (init);
 * create = 0 refuses a missing file or an unknown schema version.
 */
int index_open(struct index **out, const char *path, int create);
void index_free(struct index *ix);

/* Users.  -EEXIST for a duplicate login. */
int index_user_add(struct index *ix, const char *login, const char *phone,
		   const char *pwhash, int64_t now);
/* Copy the password hash of login into out; -ENOENT when unknown. */
int index_user_pwhash(struct index *ix, const char *login, char *out,
		      size_t outlen);
int index_user_exists(struct index *ix, const char *login); /* 1, 0, -errno */

/*
 * Tokens (sessions), stored by their SHA-256 only, with their time of
 * issue and the address that logged in (may be NULL).
 */
int index_token_add(struct index *ix, const uint8_t hash[INDEX_TOKEN_HASH_LEN],
		    const char *login, int64_t expires_at, int64_t now,
		    const char *address);
/* Revoke one token; -ENOENT when there was none. */
int index_token_drop(struct index *ix,
		     const uint8_t hash[INDEX_TOKEN_HASH_LEN]);

/* A live session as listed; id: 16 hex, the start of the token's hash. */
struct index_token {
	const char *id;
	int64_t created_at, expires_at; /* Unix s; created_at 0: unknown */
	const char *address;		/* may be NULL */
	int current;			/* the token given as current */
};
typedef int (*index_token_cb)(const struct index_token *t, void *arg);
/* Live sessions of login, oldest first.  A non-zero cb return stops. */
int index_tokens_of(struct index *ix, const char *login,
		    const uint8_t current[INDEX_TOKEN_HASH_LEN], int64_t now,
		    index_token_cb cb, void *arg);
/* Revoke login's session id; -ENOENT when login has none by that id. */
int index_token_drop_id(struct index *ix, const char *login, const char *id);
/* Revoke every token of login but keep (NULL: none kept); the count. */
int index_tokens_drop_all(struct index *ix, const char *login,
			  const uint8_t keep[INDEX_TOKEN_HASH_LEN]);
/*
 * Set login's password hash and revoke every token but keep, in one
 * transaction.  The count revoked, -ENOENT when no such user, or -errno.
 */
int index_user_set_password(struct index *ix, const char *login,
			    const char *pwhash,
			    const uint8_t keep[INDEX_TOKEN_HASH_LEN]);
/* Login of a live token into out; -ENOENT when unknown or expired. */
int index_token_login(struct index *ix,
		      const uint8_t hash[INDEX_TOKEN_HASH_LEN], int64_t now,
		      char *out, size_t outlen);

/* Create a space with owner as its first member (role owner), one
 * transaction.  -EEXIST if the space exists, -ENOENT if owner does not. */
int index_space_add(struct index *ix, const char *name, const char *kind,
		    const char *owner, int64_t now);
/* Kind and role of login in space; -ENOENT when space unknown or login
 * not a member (callers must not tell the two apart). */
int index_member_get(struct index *ix, const char *space, const char *login,
		     char *kind, size_t kindlen, char *role, size_t rolelen);

typedef int (*index_space_cb)(const char *name, const char *kind,
			      const char *role, void *arg);
/* Spaces login is a member of, by name.  A non-zero cb return stops. */
int index_spaces_of(struct index *ix, const char *login, index_space_cb cb,
		    void *arg);

struct index_version {
	const char *doc_id;
	uint64_t version;
	uint64_t size;
	const char *sha256; /* 64 hex */
	const char *deposited_by;
	const char *deposited_at; /* RFC 3339 */
	const char *commit;	  /* 40 hex */
	const char *manifest;	  /* text exactly as in the ledger */
	/* Deposited in a confidential folder and neither opened nor
	 * declassified since (docs/protocol.md#access).  Recording a
	 * version already known keeps the seal it has. */
	int sealed;
};

struct index_event {
	const char *kind;   /* "deposit", "mkdir", "login", ... */
	const char *path;   /* may be NULL */
	const char *doc_id; /* may be NULL */
	uint64_t version;   /* 0: none */
	const char *detail; /* may be NULL */
};

/*
 * Record a commit's versions and events in one transaction.  Versions
 * already known are replaced (the ledger is the authority).
 */
int index_record(struct index *ix, const char *space, const char *login,
		 int64_t now, const struct index_version *versions,
		 size_t nversions, const struct index_event *events,
		 size_t nevents);

typedef int (*index_version_cb)(const struct index_version *v, void *arg);
/*
 * Versions of a document in increasing order; version = 0 lists all, else
 * only that one.  Returns the number of rows seen (>= 0) or -errno.
 */
int index_versions(struct index *ix, const char *space, const char *doc_id,
		   uint64_t version, index_version_cb cb, void *arg);

/*
 * Chunks through versions: cb(doc_id, version, sealed, arg) for every
 * version whose manifest names the chunk (64 hex), by one indexed lookup,
 * until cb returns non-zero (that value is returned); 0 when none did.
 * The rows are read before the first call: cb may use the index.
 */
typedef int (*index_chunk_cb)(const char *doc_id, uint64_t version, int sealed,
			      void *arg);
int index_chunk_versions(struct index *ix, const char *space,
			 const char *chunk_hex, index_chunk_cb cb, void *arg);

/* Lift the seal of a version: 1 when it was sealed, 0 when not, -errno. */
int index_version_unseal(struct index *ix, const char *space,
			 const char *doc_id, uint64_t version);
/* 1 when some version of space is sealed, 0 when none, -errno. */
int index_sealed_any(struct index *ix, const char *space);

/*
 * The calling thread's SQLite connection, for modules that keep tables of
 * their own in the index (events.c, access.c).  Borrowed: valid until
 * index_free(), on this thread only.
 */
int index_db(struct index *ix, struct sqlite3 **out);

#endif /* COFFRE_SERVER_INDEX_H */
