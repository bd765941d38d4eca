/*
 * An index backend: the operations table behind index.h, in the manner of
 * sqlite3_vfs or libgit2's git_odb_backend.  The front end (index.c)
 * checks the table's version and forwards each call with the backend's
 * state; the backend holds every SQL statement of coffred.
 *
 * Contract (docs/architecture.md, "Index backends"):
 * - every operation returns 0 (or a count) or a negative errno, with
 *   err_set(): -ENOENT no such row, -EEXIST a duplicate key, -EBUSY a lock
 *   not had in time, -ENOSPC full, -EIO anything else;
 * - every operation runs on the calling thread's connection, inside the
 *   transaction that thread has open, if any (begin nests: see index.h);
 * - lock_space holds a named lock until the transaction ends, across
 *   processes and nodes (SQLite: begin already holds the one write lock;
 *   PostgreSQL: pg_advisory_xact_lock);
 * - event_insert is called with the chain's lock held and the head read
 *   in the same transaction, so sequence numbers come from the caller, not
 *   from a single writer; (chain, seq) stays unique (-EEXIST).
 * - callbacks get strings that live for the call only and must not use
 *   the index; a non-zero return stops the listing and is returned.
 *
 * A new operation goes at the end and bumps INDEX_OPS_VERSION; the front
 * end refuses a table older than it needs.
 */
#ifndef COFFRE_SERVER_INDEX_BACKEND_H
#define COFFRE_SERVER_INDEX_BACKEND_H

#include "server/events.h"
#include "server/index.h"
#include "server/invite.h"

#define INDEX_OPS_VERSION 7

struct index_ops {
	int version; /* INDEX_OPS_VERSION it was built for */
	const char *name;

	int (*open)(void **state, const char *where, int create);
	void (*close)(void *state);

	int (*begin)(void *s, struct index_txn **tx);
	int (*commit)(void *s, struct index_txn *tx);
	void (*rollback)(void *s, struct index_txn *tx);
	int (*lock_space)(void *s, struct index_txn *tx, const char *name);

	/* users and sessions */
	int (*user_add)(void *s, const char *login, const char *phone,
			const char *pwhash, int64_t now);
	int (*user_pwhash)(void *s, const char *login, char *out,
			   size_t outlen);
	int (*user_set_password)(void *s, const char *login, const char *pwhash,
				 const uint8_t keep[INDEX_TOKEN_HASH_LEN]);
	int (*token_add)(void *s, const uint8_t hash[INDEX_TOKEN_HASH_LEN],
			 const char *login, int64_t expires_at, int64_t now,
			 const char *address);
	int (*token_login)(void *s, const uint8_t hash[INDEX_TOKEN_HASH_LEN],
			   int64_t now, char *out, size_t outlen);
	int (*token_drop)(void *s, const uint8_t hash[INDEX_TOKEN_HASH_LEN]);
	int (*tokens_of)(void *s, const char *login,
			 const uint8_t current[INDEX_TOKEN_HASH_LEN],
			 int64_t now, index_token_cb cb, void *arg);
	int (*token_drop_id)(void *s, const char *login, const char *id);
	int (*tokens_drop_all)(void *s, const char *login,
			       const uint8_t keep[INDEX_TOKEN_HASH_LEN]);

	/* spaces, members, delegations, grants */
	int (*space_add)(void *s, const char *name, const char *kind,
			 const char *owner, int64_t now);
	int (*member_get)(void *s, const char *space, const char *login,
			  char *kind, size_t kindlen, char *role,
			  size_t rolelen);
	int (*spaces_of)(void *s, const char *login, index_space_cb cb,
			 void *arg);
	int (*member_access)(void *s, const char *space, const char *login,
			     char *role, size_t rolelen, int *admin);
	int (*members)(void *s, const char *space, index_member_cb cb,
		       void *arg);
	int (*member_put)(void *s, const char *space, const char *login,
			  const char *role, int replace);
	int (*member_drop)(void *s, const char *space, const char *login);
	int (*owners_count)(void *s, const char *space, int *n);
	int (*delegation_set)(void *s, const char *space, const char *login,
			      int on);
	int (*grants)(void *s, const char *space, const char *login,
		      size_t limit, index_grant_cb cb, void *arg);
	int (*grant_put)(void *s, const char *space, const char *path,
			 const char *login, const char *level, int replace);
	int (*grant_drop)(void *s, const char *space, const char *path,
			  const char *login);
	int (*grants_drop_all)(void *s, const char *space, const char *login);
	int (*grants_read_only)(void *s, const char *space, const char *login);
	int (*grants_count)(void *s, const char *space, const char *login,
			    int *n);
	int (*grant_elsewhere)(void *s, const char *space, const char *login,
			       const char *path, int *found);
	int (*grants_move)(void *s, const char *space, const char *from,
			   const char *to, int *n);
	int (*access_clear)(void *s, const char *space);

	/* versions */
	int (*version_put)(void *s, const char *space,
			   const struct index_version *v);
	int (*versions)(void *s, const char *space, const char *doc_id,
			uint64_t version, index_version_cb cb, void *arg);
	int (*versions_all)(void *s, const char *space, index_version_cb cb,
			    void *arg);
	/* the versions naming a chunk (version_chunks), rows read first */
	int (*chunk_versions)(void *s, const char *space, const char *chunk_hex,
			      index_chunk_cb cb, void *arg);
	int (*version_unseal)(void *s, const char *space, const char *doc_id,
			      uint64_t version);
	int (*sealed_any)(void *s, const char *space);

	/* event journal */
	int (*event_head)(void *s, struct index_txn *tx, const char *chain,
			  uint64_t *seq, char hash[65]);
	int (*event_insert)(void *s, struct index_txn *tx, const char *chain,
			    const struct events_row *r);
	int (*event_chain)(void *s, const char *chain, index_event_cb cb,
			   void *arg);
	int (*events_list)(void *s, const char *chain, const char *prefix,
			   int reads, uint64_t after, size_t limit,
			   index_event_cb cb, void *arg);
	int (*event_hash)(void *s, const char *chain, uint64_t seq,
			  char hash[65]);
	int (*doc_last_path)(void *s, const char *space, const char *doc_id,
			     uint64_t *seq, char *path, size_t pathlen);
	int (*folder_moves)(void *s, const char *space, uint64_t after,
			    index_move_cb cb, void *arg);

	/* invitations */
	int (*invite_put)(void *s, const char *space, const char *login,
			  const char *role, const char *by, int64_t now,
			  int max);
	int (*invite_get)(void *s, const char *space, const char *login,
			  char *role, size_t rolelen, char *by, size_t bylen);
	int (*invite_drop)(void *s, const char *space, const char *login);
	int (*invite_list)(void *s, const char *space, const char *login,
			   invite_cb cb, void *arg);

	/* login throttling */
	int (*throttle_get)(void *s, const char *key,
			    struct index_throttle_row *r);
	int (*throttle_put)(void *s, const char *key,
			    const struct index_throttle_row *r);
	int (*throttle_forget)(void *s, int64_t before, int64_t now);
	int (*throttle_count)(void *s, int64_t *n);
	int (*throttle_trim)(void *s, const char *keep1, const char *keep2,
			     int64_t now, int64_t n);
	int (*throttle_drop)(void *s, const char *key);
	int (*throttle_forgive)(void *s, const char *key, int lift);

	/* usage (version 3); version_put keeps the figures */
	int (*usage_get)(void *s, const char *space, struct index_usage *u);
	int (*quota_set)(void *s, const char *space, int64_t quota);
	int (*chunk_known)(void *s, const char *space, const char *chunk_hex);

	/* one-time codes and sign-up invitations (version 4) */
	int (*code_put)(void *s, const struct index_code *c, int64_t now,
			unsigned max);
	int (*code_get)(void *s, const char *purpose, const char *login,
			int64_t now, struct index_code *out);
	int (*code_tried)(void *s, const char *purpose, const char *login,
			  unsigned *tries);
	int (*code_drop)(void *s, const char *purpose, const char *login);
	int (*user_phone)(void *s, const char *login, char *out, size_t outlen);
	int (*signup_invite_put)(void *s, const char *hash_hex,
				 int64_t expires_at);
	int (*signup_invite_valid)(void *s, const char *hash_hex, int64_t now);
	int (*signup_invite_take)(void *s, const char *hash_hex, int64_t now);
	/* terminated spaces (version 4) */
	int (*space_terminate)(void *s, const char *space, const char *by,
			       int64_t at);
	int (*space_reactivate)(void *s, const char *space);
	int (*space_termination)(void *s, const char *space, int64_t *at,
				 char *by, size_t bylen);
	int (*spaces_terminated)(void *s, index_terminated_cb cb, void *arg);
	int (*space_drop)(void *s, const char *space);
	int (*user_freeze)(void *s, const char *login, int64_t at,
			   const char *mandate, const char *notary);
	int (*user_frozen)(void *s, const char *login);
	/* a space's ledger in the index (version 5) */
	int (*ledger_object_get)(void *s, const char *space, const char *oid,
				 index_object_cb cb, void *arg);
	int (*ledger_object_has)(void *s, const char *space, const char *oid);
	int (*ledger_object_put)(void *s, const char *space, const char *oid,
				 int type, const void *data, size_t len);
	int (*ledger_objects)(void *s, const char *space, index_name_cb cb,
			      void *arg);
	int (*ledger_ref_get)(void *s, const char *space, const char *name,
			      char *target, size_t len);
	int (*ledger_ref_set)(void *s, const char *space, const char *name,
			      const char *target, enum index_ref_mode mode,
			      const char *old);
	int (*ledger_ref_drop)(void *s, const char *space, const char *name,
			       const char *old);
	int (*ledger_refs)(void *s, const char *space, index_name_cb cb,
			   void *arg);
	int (*spaces_all)(void *s, index_name_cb cb, void *arg);
	/* a space's sealed chunk key (version 6) */
	int (*space_key_get)(void *s, const char *space, char *sealed,
			     size_t len);
	int (*space_key_set)(void *s, const char *space, const char *sealed);
	/* a ledger moved, told to every node (version 7): see index.h */
	int (*notify)(void *s, const char *space);
	int (*listen_open)(void *s, struct index_listener **out);
	int (*listen_wait)(void *s, struct index_listener *l, int wake_fd,
			   int timeout_ms, index_name_cb cb, void *arg);
	void (*listen_close)(void *s, struct index_listener *l);
};

extern const struct index_ops index_sqlite_ops; /* index_sqlite.c */
extern const struct index_ops index_pg_ops;	/* index_pg.c */

/* The table and state behind ix, for modules with an API of their own
 * over the index (invite.c). */
const struct index_ops *index_ops_of(struct index *ix, void **state);

#endif /* COFFRE_SERVER_INDEX_BACKEND_H */
