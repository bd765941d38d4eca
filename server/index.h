/*
 * The server index: what must be fast to look up or lives nowhere else:
 * users, tokens, spaces, members, the versions of every document (a cache
 * of the ledger, rebuildable from it), the event journal, grants,
 * invitations and login throttling.  These functions speak the domain; a
 * backend (index_backend.h) holds the SQL: SQLite in WAL mode at
 * DATADIR/index.db (the default), or PostgreSQL.
 *
 * Thread-safety: every function may be called from any thread; each thread
 * uses its own connection, opened on its first call and closed by
 * index_free() (call it once no other thread uses the index).  Other
 * threads and processes (coffred user add, space create) may write at the
 * same time.  Strings passed in are copied; strings handed to callbacks
 * live for the callback only, and a callback must not use the index.
 *
 * Transactions: index_begin() opens one on the calling thread's
 * connection; every function called by that thread until index_commit()
 * or index_rollback() runs inside it.  A begin inside an open transaction
 * joins it: the inner commit only ends the nesting, an inner rollback
 * dooms the whole (the outer commit then fails and rolls back).
 */
#ifndef COFFRE_SERVER_INDEX_H
#define COFFRE_SERVER_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "common/manifest.h"

#define INDEX_FILE_NAME	     "index.db"
#define INDEX_SCHEMA_VERSION 8
#define INDEX_TOKEN_HASH_LEN 32

struct index;
struct index_txn;

/*
 * Open an index: where is the path of a SQLite file, or a PostgreSQL URL
 * (postgresql://USER@HOST:PORT/DB).  create = 1 makes the schema (init);
 * create = 0 refuses a missing file or an unknown schema version.  Both
 * bring an older schema up to date.
 */
int index_open(struct index **out, const char *where, int create);
/*
 * Open DATADIR's index: url NULL, "" or "sqlite" for DATADIR/index.db,
 * else a PostgreSQL URL (coffred.conf's index key).
 */
int index_open_datadir(struct index **out, const char *datadir, const char *url,
		       int create);
void index_free(struct index *ix);
/* "sqlite" or "postgresql". */
const char *index_backend_name(const struct index *ix);

/* Transactions (see above).  Commit: 0, or -errno and rolled back. */
int index_begin(struct index *ix, struct index_txn **tx);
int index_commit(struct index *ix, struct index_txn *tx);
void index_rollback(struct index *ix, struct index_txn *tx);
/*
 * Hold the lock of name (a space, "" for the server's chain, or a name
 * starting with ':' for the server's own tables) until tx ends: two
 * transactions holding one name never overlap, on any node.
 */
int index_lock_space(struct index *ix, struct index_txn *tx, const char *name);
/* index_begin then index_lock_space(name); on failure nothing is left
 * open and *tx is NULL. */
int index_begin_locked(struct index *ix, const char *name,
		       struct index_txn **tx);

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
 * already known are replaced (the ledger is the authority).  Each version
 * new to the index counts in the space's usage (index_usage_get) in the
 * same transaction: one more version, one more document when it is the
 * document's first, and the size of each chunk its manifest names that no
 * version of the space named before.
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

/* Every version of a space (any order), for fsck. */
int index_versions_all(struct index *ix, const char *space, index_version_cb cb,
		       void *arg);

/*
 * What a space holds (docs/protocol.md#usage), kept by index_record() as
 * versions come, never by a walk.  bytes: the plaintext sizes of the
 * distinct chunks the space's versions name, each counted once however
 * many versions or documents share it; versions: every version kept;
 * documents: every document with a version kept.  The ledger keeps every
 * version, so no figure ever goes down.
 */
struct index_usage {
	uint64_t bytes, documents, versions;
	/* the space's own quota: -1 none set (the server's default holds),
	 * 0 unlimited, else bytes */
	int64_t quota;
};
/* Zeros and quota -1 for a space that has recorded nothing yet. */
int index_usage_get(struct index *ix, const char *space, struct index_usage *u);
/* Set the space's own quota (see above); -1 drops it. */
int index_quota_set(struct index *ix, const char *space, int64_t quota);
/* 1 when some version of space names the chunk (64 hex), 0 when none. */
int index_chunk_known(struct index *ix, const char *space,
		      const char *chunk_hex);

/* --- access mirror (access.c); roles and levels as text --- */

/* Role and delegated administration of login; -ENOENT when no member. */
int index_member_access(struct index *ix, const char *space, const char *login,
			char *role, size_t rolelen, int *admin);
typedef int (*index_member_cb)(const char *login, const char *role, int admin,
			       void *arg);
/* Members of space by login. */
int index_members(struct index *ix, const char *space, index_member_cb cb,
		  void *arg);
/* Add login as role; replace = 0 refuses a member already there. */
int index_member_put(struct index *ix, const char *space, const char *login,
		     const char *role, int replace);
/* Remove login, its delegation and its grants. */
int index_member_drop(struct index *ix, const char *space, const char *login);
int index_owners_count(struct index *ix, const char *space, int *n);
/* Delegate administration to login (on = 1, idempotent) or take it back. */
int index_delegation_set(struct index *ix, const char *space, const char *login,
			 int on);
typedef int (*index_grant_cb)(const char *path, const char *login,
			      const char *level, void *arg);
/* Grants of login (NULL: every member's, by path then login), at most
 * limit rows (0: no limit). */
int index_grants(struct index *ix, const char *space, const char *login,
		 size_t limit, index_grant_cb cb, void *arg);
/* Grant level on path; replace = 0 refuses a grant already there. */
int index_grant_put(struct index *ix, const char *space, const char *path,
		    const char *login, const char *level, int replace);
/* Revoke the grant of login on path; -ENOENT when there was none. */
int index_grant_drop(struct index *ix, const char *space, const char *path,
		     const char *login);
/* Revoke every grant of login. */
int index_grants_drop_all(struct index *ix, const char *space,
			  const char *login);
/* Make every grant of login a read grant. */
int index_grants_read_only(struct index *ix, const char *space,
			   const char *login);
/* How many grants login holds; and whether one is on another path. */
int index_grants_count(struct index *ix, const char *space, const char *login,
		       int *n);
int index_grant_elsewhere(struct index *ix, const char *space,
			  const char *login, const char *path, int *found);
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
 * Grants on from and below it move to to (NULL: they go); *n gets how many
 * changed.
 */
int index_grants_move(struct index *ix, const char *space, const char *from,
		      const char *to, int *n);
/* Forget every member, delegation and grant of space (a reload follows). */
int index_access_clear(struct index *ix, const char *space);

/* --- event journal (events.c computes the hashes) --- */

struct events_row;
typedef int (*index_event_cb)(const struct events_row *r, void *arg);
/* Last seq and its hash (64 hex) of a chain; seq 0 and "" when empty. */
int index_event_head(struct index *ix, struct index_txn *tx, const char *chain,
		     uint64_t *seq, char hash[65]);
/* Insert a row (prev_hash and hash set) inside tx; -EEXIST on its seq. */
int index_event_insert(struct index *ix, struct index_txn *tx,
		       const char *chain, const struct events_row *r);
/* Every row of a chain by seq, prev_hash and hash included. */
int index_event_chain(struct index *ix, const char *chain, index_event_cb cb,
		      void *arg);
/* See events_list() (events.h). */
int index_events_list(struct index *ix, const char *chain, const char *prefix,
		      int reads, uint64_t after, size_t limit,
		      index_event_cb cb, void *arg);
/* The stored hash of row seq; -ENOENT when there is none. */
int index_event_hash(struct index *ix, const char *chain, uint64_t seq,
		     char hash[65]);
/* The last deposit or move of doc_id that names a path: its seq and path. */
int index_doc_last_path(struct index *ix, const char *space, const char *doc_id,
			uint64_t *seq, char *path, size_t pathlen);
/* Folder moves after seq, by seq: cb(arg, to, from). */
typedef int (*index_move_cb)(void *arg, const char *to, const char *from);
int index_folder_moves(struct index *ix, const char *space, uint64_t after,
		       index_move_cb cb, void *arg);

/* --- login throttling (throttle.c holds the rule) --- */

struct index_throttle_row {
	int64_t failures, last_at, next_at, locked_until;
};
/* The row of key; all zeros when there is none. */
int index_throttle_get(struct index *ix, const char *key,
		       struct index_throttle_row *r);
int index_throttle_put(struct index *ix, const char *key,
		       const struct index_throttle_row *r);
/* Forget keys quiet since before and not locked at now. */
int index_throttle_forget(struct index *ix, int64_t before, int64_t now);
int index_throttle_count(struct index *ix, int64_t *n);
/* Forget the n oldest keys but keep1 and keep2, unlocked (at now) first. */
int index_throttle_trim(struct index *ix, const char *keep1, const char *keep2,
			int64_t now, int64_t n);
int index_throttle_drop(struct index *ix, const char *key);
/* One failure of key forgiven; lift: its lock lifted too. */
int index_throttle_forgive(struct index *ix, const char *key, int lift);

/* --- invitations: see invite.h --- */

/*
 * --- one-time codes (signup.h) ---
 *
 * A code sent by SMS waits in the index for its confirmation, one row per
 * purpose and login: a sign-up (with the account it will make) or a
 * password reset.  Only the code's salted hash is kept.
 */
#define INDEX_CODE_SIGNUP "signup"
#define INDEX_CODE_RESET  "reset"
#define INDEX_HASH_HEX	  65 /* SHA-256 in hex, with the NUL */

struct index_code {
	char purpose[8]; /* INDEX_CODE_SIGNUP or INDEX_CODE_RESET */
	char login[LOGIN_MAX_LEN + 1];
	char phone[20];			/* E.164: '+' and at most 15 digits */
	char email[256];		/* "" when none */
	char pwhash[256];		/* sign-up: the password's hash */
	char invite[INDEX_HASH_HEX];	/* sign-up by invitation: its hash */
	char salt[33];			/* 16 random bytes, hex */
	char code_hash[INDEX_HASH_HEX]; /* SHA-256(salt, code) */
	int64_t expires_at;
	unsigned tries; /* wrong codes given so far */
};

/*
 * Keep c (replacing the row of its purpose and login), unless max rows
 * not yet expired at now are there already: -E2BIG then.  Expired rows go
 * first.
 */
int index_code_put(struct index *ix, const struct index_code *c, int64_t now,
		   unsigned max);
/* The row of purpose and login not expired at now, or -ENOENT. */
int index_code_get(struct index *ix, const char *purpose, const char *login,
		   int64_t now, struct index_code *out);
/* One more wrong code for it; *tries gets the count. */
int index_code_tried(struct index *ix, const char *purpose, const char *login,
		     unsigned *tries);
int index_code_drop(struct index *ix, const char *purpose, const char *login);
/* A user's phone number (-ENOENT: no such user). */
int index_user_phone(struct index *ix, const char *login, char *out,
		     size_t outlen);
/* Sign-up invitations (`coffred invite`): only their hashes are kept. */
int index_signup_invite_put(struct index *ix, const char *hash_hex,
			    int64_t expires_at);
/* 1 when hash_hex is an invitation not expired at now, else 0. */
int index_signup_invite_valid(struct index *ix, const char *hash_hex,
			      int64_t now);
/* Use it up: 0, or -ENOENT when it is not there (used or expired). */
int index_signup_invite_take(struct index *ix, const char *hash_hex,
			     int64_t now);

/*
 * --- terminated spaces ---
 *
 * A space its owner terminated (`coffre space terminate`) is read-only for
 * everyone until an owner reactivates it, or until `coffred expire`
 * destroys it once termination_grace is over.
 */
/* -EEXIST when it is terminated already. */
int index_space_terminate(struct index *ix, const char *space, const char *by,
			  int64_t at);
/* -ENOENT when it is not terminated. */
int index_space_reactivate(struct index *ix, const char *space);
/* 0 and *at (by: bylen bytes, may be NULL) when terminated, else -ENOENT. */
int index_space_termination(struct index *ix, const char *space, int64_t *at,
			    char *by, size_t bylen);
typedef int (*index_terminated_cb)(const char *space, int64_t at,
				   const char *by, void *arg);
/* Every terminated space, the oldest termination first. */
int index_spaces_terminated(struct index *ix, index_terminated_cb cb,
			    void *arg);

/*
 * An account frozen by a notary's access (coffred legacy open): it logs
 * in no more.  user_frozen: 1, 0 or -errno.
 */
int index_user_freeze(struct index *ix, const char *login, int64_t at,
		      const char *mandate, const char *notary);
int index_user_frozen(struct index *ix, const char *login);

/* Every row of a space (its destruction), in one transaction. */
int index_space_drop(struct index *ix, const char *space);

/*
 * A space's ledger kept in the index (server/ledger_store.c), for several
 * nodes serving one space (docs/architecture.md, "Ledger storage").
 * Objects are git objects by their id (40 hex), immutable: putting one
 * that is there already changes nothing.  Refs name a target: 40 hex, or
 * "ref: NAME" for a symbolic ref.
 */
/* cb gets the object's type (git_object_t) and bytes; -ENOENT if absent. */
typedef int (*index_object_cb)(int type, const void *data, size_t len,
			       void *arg);
int index_ledger_object_get(struct index *ix, const char *space,
			    const char *oid, index_object_cb cb, void *arg);
/* 1 if held, 0 if not. */
int index_ledger_object_has(struct index *ix, const char *space,
			    const char *oid);
int index_ledger_object_put(struct index *ix, const char *space,
			    const char *oid, int type, const void *data,
			    size_t len);
/* cb gets each object's id, sorted (value NULL: ids only). */
typedef int (*index_name_cb)(const char *name, const char *value, void *arg);
int index_ledger_objects(struct index *ix, const char *space, index_name_cb cb,
			 void *arg);
/* -ENOENT if there is no such ref; target gets at most len - 1 bytes. */
int index_ledger_ref_get(struct index *ix, const char *space, const char *name,
			 char *target, size_t len);
enum index_ref_mode {
	INDEX_REF_CREATE, /* only if absent, else -EEXIST */
	INDEX_REF_FORCE,  /* whatever it was */
	INDEX_REF_MATCH,  /* only if it names old now, else -ESTALE */
};
int index_ledger_ref_set(struct index *ix, const char *space, const char *name,
			 const char *target, enum index_ref_mode mode,
			 const char *old);
/* old NULL: whatever it names; else -ESTALE unless it names old. */
int index_ledger_ref_drop(struct index *ix, const char *space, const char *name,
			  const char *old);
/* Each ref (name, target), sorted by name. */
int index_ledger_refs(struct index *ix, const char *space, index_name_cb cb,
		      void *arg);
/* Every space's name, sorted (the spaces table: every node's list). */
int index_spaces_all(struct index *ix, index_name_cb cb, void *arg);

/*
 * A space's own chunk key, sealed under a key derived from the master key
 * (server/spaces.h), as hex: kept here when the ledgers are, so that every
 * node of a deployment reads the same key; a space's destruction removes
 * it with the rest.  get: -ENOENT when the space has none; sealed gets at
 * most len - 1 characters.  set: replaces one.
 */
int index_space_key_get(struct index *ix, const char *space, char *sealed,
			size_t len);
int index_space_key_set(struct index *ix, const char *space,
			const char *sealed);

/*
 * Telling every node that a space's ledger moved, so that their change
 * feeds answer at once rather than at their next re-read of the head.
 * notify: inside a transaction the word goes out when it commits (and
 * never when it rolls back); outside one, at once.  A backend with one
 * node (SQLite) has nobody to tell: notify does nothing and listen_open
 * answers -ENOTSUP.  A listener is a connection of its own, used by one
 * thread: listen_wait waits up to timeout_ms (or until wake_fd, when not
 * -1, is readable) and calls cb(space, NULL, arg) for each space told of
 * since the last call; 0, or -errno when the connection is lost (close
 * it and open another: what was told in between is lost, so re-read).
 */
struct index_listener;
int index_notify(struct index *ix, const char *space);
int index_listen_open(struct index *ix, struct index_listener **out);
int index_listen_wait(struct index *ix, struct index_listener *l, int wake_fd,
		      int timeout_ms, index_name_cb cb, void *arg);
void index_listen_close(struct index *ix, struct index_listener *l);

#endif /* COFFRE_SERVER_INDEX_H */
