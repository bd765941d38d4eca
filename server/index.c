/*
 * The index front end: picks the backend from where the index lives,
 * checks its operations table, and forwards each call with the backend's
 * state.  What is the same for every backend lives here: index_record()'s
 * one transaction, the nesting rule of events_append(), and what the
 * backends share without SQL (index_i.h).
 */
#include "server/index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "server/events.h"
#include "server/index_backend.h"
#include "server/index_i.h"

struct index {
	const struct index_ops *ops;
	void *state;
};

static int is_pg_url(const char *where)
{
	return !strncmp(where, "postgresql://", 13) ||
	       !strncmp(where, "postgres://", 11);
}

int index_open(struct index **out, const char *where, int create)
{
	const struct index_ops *ops = &index_sqlite_ops;
	struct index *ix;
	int rc;

	if (is_pg_url(where))
		ops = &index_pg_ops;
	if (ops->version < INDEX_OPS_VERSION)
		return err_set(-EPROTO,
			       "index backend %s has version %d, need %d",
			       ops->name, ops->version, INDEX_OPS_VERSION);
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	ix->ops = ops;
	rc = ops->open(&ix->state, where, create);
	if (rc < 0) {
		free(ix);
		return rc;
	}
	*out = ix;
	return 0;
}

int index_open_datadir(struct index **out, const char *datadir, const char *url,
		       int create)
{
	char path[4096];

	if (url && *url && strcmp(url, "sqlite"))
		return index_open(out, url, create);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", datadir,
			     INDEX_FILE_NAME) >= sizeof(path))
		return err_set(-ENAMETOOLONG, "data directory path too long");
	return index_open(out, path, create);
}

void index_free(struct index *ix)
{
	if (!ix)
		return;
	ix->ops->close(ix->state);
	free(ix);
}

const char *index_backend_name(const struct index *ix)
{
	return ix->ops->name;
}

/* --- shared by the backends (index_i.h) --- */

int index_conns_init(struct index_conns *r)
{
	int rc = -pthread_key_create(&r->key, NULL);

	if (rc < 0)
		return rc;
	pthread_mutex_init(&r->lock, NULL);
	r->head = NULL;
	return 0;
}

struct index_link *index_conns_mine(struct index_conns *r)
{
	return pthread_getspecific(r->key);
}

void index_conns_add(struct index_conns *r, struct index_link *l)
{
	pthread_mutex_lock(&r->lock);
	l->next = r->head;
	r->head = l;
	pthread_mutex_unlock(&r->lock);
	pthread_setspecific(r->key, l);
}

void index_conns_free(struct index_conns *r,
		      void (*close_fn)(struct index_link *l))
{
	struct index_link *l, *next;

	for (l = r->head; l; l = next) {
		next = l->next;
		close_fn(l);
	}
	r->head = NULL;
	pthread_setspecific(r->key, NULL);
	pthread_key_delete(r->key);
	pthread_mutex_destroy(&r->lock);
}

int index_txn_nest(struct index_link *l)
{
	if (l->depth == 0)
		return 0;
	l->depth++;
	return 1;
}

void index_txn_opened(struct index_link *l)
{
	l->depth = 1;
	l->doomed = 0;
}

int index_txn_leave(struct index_link *l, int rollback)
{
	if (l->depth <= 1)
		return 0;
	l->depth--;
	if (rollback)
		l->doomed = 1;
	return 1;
}

int index_txn_check(const struct index_link *l)
{
	if (l->doomed)
		return err_set(-EIO, "index: a part of the transaction failed");
	return 0;
}

void index_txn_closed(struct index_link *l)
{
	l->depth = 0;
	l->doomed = 0;
}

int index_manifest_chunks(const char *manifest,
			  int (*cb)(const char *hex, void *arg), void *arg)
{
	char hex[65];
	int rc = 0;

	for (const char *m = manifest; rc == 0 && m && *m;
	     m = strchr(m, '\n'), m = m ? m + 1 : NULL) {
		if (strncmp(m, "chunk ", 6) || strlen(m) < 6 + 64)
			continue;
		memcpy(hex, m + 6, 64);
		hex[64] = '\0';
		rc = cb(hex, arg);
	}
	return rc;
}

int index_manifest_chunk_sizes(const char *manifest,
			       int (*cb)(const char *hex, uint64_t size,
					 void *arg),
			       void *arg)
{
	char hex[65];
	int rc = 0;

	for (const char *m = manifest; rc == 0 && m && *m;
	     m = strchr(m, '\n'), m = m ? m + 1 : NULL) {
		uint64_t size = 0;
		const char *p = m + 6 + 64;

		if (strncmp(m, "chunk ", 6) || strlen(m) < 6 + 64 + 2 ||
		    *p != ' ')
			continue;
		for (p++; *p >= '0' && *p <= '9'; p++)
			size = size * 10 + (uint64_t)(*p - '0');
		memcpy(hex, m + 6, 64);
		hex[64] = '\0';
		rc = cb(hex, size, arg);
	}
	return rc;
}

const struct index_ops *index_ops_of(struct index *ix, void **state)
{
	*state = ix->state;
	return ix->ops;
}

int index_begin(struct index *ix, struct index_txn **tx)
{
	return ix->ops->begin(ix->state, tx);
}

int index_commit(struct index *ix, struct index_txn *tx)
{
	return ix->ops->commit(ix->state, tx);
}

void index_rollback(struct index *ix, struct index_txn *tx)
{
	ix->ops->rollback(ix->state, tx);
}

int index_lock_space(struct index *ix, struct index_txn *tx, const char *name)
{
	return ix->ops->lock_space(ix->state, tx, name ? name : "");
}

int index_begin_locked(struct index *ix, const char *name,
		       struct index_txn **tx)
{
	int rc = index_begin(ix, tx);

	if (rc == 0) {
		rc = index_lock_space(ix, *tx, name);
		if (rc < 0) {
			index_rollback(ix, *tx);
			*tx = NULL;
		}
	}
	return rc;
}

const char *const index_space_tables[] = {
	"version_chunks", "versions",	 "events",
	"grants",	  "delegations", "invitations",
	"members",	  "space_usage", "space_terminations",
	"ledger_objects", "ledger_refs", "space_keys",
	"spaces",	  NULL,
};

/* --- users and sessions --- */

int index_user_add(struct index *ix, const char *login, const char *phone,
		   const char *pwhash, int64_t now)
{
	return ix->ops->user_add(ix->state, login, phone, pwhash, now);
}

int index_user_pwhash(struct index *ix, const char *login, char *out,
		      size_t outlen)
{
	return ix->ops->user_pwhash(ix->state, login, out, outlen);
}

int index_user_exists(struct index *ix, const char *login)
{
	char h[256];
	int rc = index_user_pwhash(ix, login, h, sizeof(h));

	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? rc : 1;
}

int index_user_set_password(struct index *ix, const char *login,
			    const char *pwhash,
			    const uint8_t keep[INDEX_TOKEN_HASH_LEN])
{
	return ix->ops->user_set_password(ix->state, login, pwhash, keep);
}

int index_token_add(struct index *ix, const uint8_t hash[INDEX_TOKEN_HASH_LEN],
		    const char *login, int64_t expires_at, int64_t now,
		    const char *address)
{
	return ix->ops->token_add(ix->state, hash, login, expires_at, now,
				  address);
}

int index_token_login(struct index *ix,
		      const uint8_t hash[INDEX_TOKEN_HASH_LEN], int64_t now,
		      char *out, size_t outlen)
{
	return ix->ops->token_login(ix->state, hash, now, out, outlen);
}

int index_token_drop(struct index *ix, const uint8_t hash[INDEX_TOKEN_HASH_LEN])
{
	return ix->ops->token_drop(ix->state, hash);
}

int index_tokens_of(struct index *ix, const char *login,
		    const uint8_t current[INDEX_TOKEN_HASH_LEN], int64_t now,
		    index_token_cb cb, void *arg)
{
	return ix->ops->tokens_of(ix->state, login, current, now, cb, arg);
}

int index_token_drop_id(struct index *ix, const char *login, const char *id)
{
	return ix->ops->token_drop_id(ix->state, login, id);
}

int index_tokens_drop_all(struct index *ix, const char *login,
			  const uint8_t keep[INDEX_TOKEN_HASH_LEN])
{
	return ix->ops->tokens_drop_all(ix->state, login, keep);
}

/* --- spaces and the access mirror --- */

int index_space_add(struct index *ix, const char *name, const char *kind,
		    const char *owner, int64_t now)
{
	return ix->ops->space_add(ix->state, name, kind, owner, now);
}

int index_member_get(struct index *ix, const char *space, const char *login,
		     char *kind, size_t kindlen, char *role, size_t rolelen)
{
	return ix->ops->member_get(ix->state, space, login, kind, kindlen, role,
				   rolelen);
}

int index_spaces_of(struct index *ix, const char *login, index_space_cb cb,
		    void *arg)
{
	return ix->ops->spaces_of(ix->state, login, cb, arg);
}

int index_member_access(struct index *ix, const char *space, const char *login,
			char *role, size_t rolelen, int *admin)
{
	return ix->ops->member_access(ix->state, space, login, role, rolelen,
				      admin);
}

int index_members(struct index *ix, const char *space, index_member_cb cb,
		  void *arg)
{
	return ix->ops->members(ix->state, space, cb, arg);
}

int index_member_put(struct index *ix, const char *space, const char *login,
		     const char *role, int replace)
{
	return ix->ops->member_put(ix->state, space, login, role, replace);
}

int index_member_drop(struct index *ix, const char *space, const char *login)
{
	return ix->ops->member_drop(ix->state, space, login);
}

int index_owners_count(struct index *ix, const char *space, int *n)
{
	return ix->ops->owners_count(ix->state, space, n);
}

int index_delegation_set(struct index *ix, const char *space, const char *login,
			 int on)
{
	return ix->ops->delegation_set(ix->state, space, login, on);
}

int index_grants(struct index *ix, const char *space, const char *login,
		 size_t limit, index_grant_cb cb, void *arg)
{
	return ix->ops->grants(ix->state, space, login, limit, cb, arg);
}

int index_grant_put(struct index *ix, const char *space, const char *path,
		    const char *login, const char *level, int replace)
{
	return ix->ops->grant_put(ix->state, space, path, login, level,
				  replace);
}

int index_grant_drop(struct index *ix, const char *space, const char *path,
		     const char *login)
{
	return ix->ops->grant_drop(ix->state, space, path, login);
}

int index_grants_drop_all(struct index *ix, const char *space,
			  const char *login)
{
	return ix->ops->grants_drop_all(ix->state, space, login);
}

int index_grants_read_only(struct index *ix, const char *space,
			   const char *login)
{
	return ix->ops->grants_read_only(ix->state, space, login);
}

int index_grants_count(struct index *ix, const char *space, const char *login,
		       int *n)
{
	return ix->ops->grants_count(ix->state, space, login, n);
}

int index_grant_elsewhere(struct index *ix, const char *space,
			  const char *login, const char *path, int *found)
{
	return ix->ops->grant_elsewhere(ix->state, space, login, path, found);
}

int index_grants_move(struct index *ix, const char *space, const char *from,
		      const char *to, int *n)
{
	return ix->ops->grants_move(ix->state, space, from, to, n);
}

int index_access_clear(struct index *ix, const char *space)
{
	return ix->ops->access_clear(ix->state, space);
}

/* --- versions --- */

int index_record(struct index *ix, const char *space, const char *login,
		 int64_t now, const struct index_version *versions,
		 size_t nversions, const struct index_event *events,
		 size_t nevents)
{
	struct index_txn *tx;
	int rc;

	rc = index_begin(ix, &tx);
	if (rc < 0)
		return rc;
	for (size_t i = 0; !rc && i < nversions; i++)
		rc = ix->ops->version_put(ix->state, space, &versions[i]);
	for (size_t i = 0; !rc && i < nevents; i++)
		rc = events_append(ix, space, login, now, &events[i], NULL);
	if (rc == 0)
		return index_commit(ix, tx);
	index_rollback(ix, tx);
	return rc;
}

int index_versions(struct index *ix, const char *space, const char *doc_id,
		   uint64_t version, index_version_cb cb, void *arg)
{
	return ix->ops->versions(ix->state, space, doc_id, version, cb, arg);
}

int index_versions_all(struct index *ix, const char *space, index_version_cb cb,
		       void *arg)
{
	return ix->ops->versions_all(ix->state, space, cb, arg);
}

int index_chunk_versions(struct index *ix, const char *space,
			 const char *chunk_hex, index_chunk_cb cb, void *arg)
{
	return ix->ops->chunk_versions(ix->state, space, chunk_hex, cb, arg);
}

int index_version_unseal(struct index *ix, const char *space,
			 const char *doc_id, uint64_t version)
{
	return ix->ops->version_unseal(ix->state, space, doc_id, version);
}

int index_sealed_any(struct index *ix, const char *space)
{
	return ix->ops->sealed_any(ix->state, space);
}

/* --- event journal --- */

int index_event_head(struct index *ix, struct index_txn *tx, const char *chain,
		     uint64_t *seq, char hash[65])
{
	return ix->ops->event_head(ix->state, tx, chain, seq, hash);
}

int index_event_insert(struct index *ix, struct index_txn *tx,
		       const char *chain, const struct events_row *r)
{
	return ix->ops->event_insert(ix->state, tx, chain, r);
}

int index_event_chain(struct index *ix, const char *chain, index_event_cb cb,
		      void *arg)
{
	return ix->ops->event_chain(ix->state, chain, cb, arg);
}

int index_events_list(struct index *ix, const char *chain, const char *prefix,
		      int reads, uint64_t after, size_t limit,
		      index_event_cb cb, void *arg)
{
	return ix->ops->events_list(ix->state, chain, prefix, reads, after,
				    limit, cb, arg);
}

int index_event_hash(struct index *ix, const char *chain, uint64_t seq,
		     char hash[65])
{
	return ix->ops->event_hash(ix->state, chain, seq, hash);
}

int index_doc_last_path(struct index *ix, const char *space, const char *doc_id,
			uint64_t *seq, char *path, size_t pathlen)
{
	return ix->ops->doc_last_path(ix->state, space, doc_id, seq, path,
				      pathlen);
}

int index_folder_moves(struct index *ix, const char *space, uint64_t after,
		       index_move_cb cb, void *arg)
{
	return ix->ops->folder_moves(ix->state, space, after, cb, arg);
}

/* --- login throttling --- */

int index_throttle_get(struct index *ix, const char *key,
		       struct index_throttle_row *r)
{
	return ix->ops->throttle_get(ix->state, key, r);
}

int index_throttle_put(struct index *ix, const char *key,
		       const struct index_throttle_row *r)
{
	return ix->ops->throttle_put(ix->state, key, r);
}

int index_throttle_forget(struct index *ix, int64_t before, int64_t now)
{
	return ix->ops->throttle_forget(ix->state, before, now);
}

int index_throttle_count(struct index *ix, int64_t *n)
{
	return ix->ops->throttle_count(ix->state, n);
}

int index_throttle_trim(struct index *ix, const char *keep1, const char *keep2,
			int64_t now, int64_t n)
{
	return ix->ops->throttle_trim(ix->state, keep1, keep2, now, n);
}

int index_throttle_drop(struct index *ix, const char *key)
{
	return ix->ops->throttle_drop(ix->state, key);
}

int index_throttle_forgive(struct index *ix, const char *key, int lift)
{
	return ix->ops->throttle_forgive(ix->state, key, lift);
}

int index_usage_get(struct index *ix, const char *space, struct index_usage *u)
{
	return ix->ops->usage_get(ix->state, space, u);
}

int index_quota_set(struct index *ix, const char *space, int64_t quota)
{
	return ix->ops->quota_set(ix->state, space, quota);
}

int index_chunk_known(struct index *ix, const char *space,
		      const char *chunk_hex)
{
	return ix->ops->chunk_known(ix->state, space, chunk_hex);
}

/* --- one-time codes and sign-up invitations --- */

int index_code_put(struct index *ix, const struct index_code *c, int64_t now,
		   unsigned max)
{
	return ix->ops->code_put(ix->state, c, now, max);
}

int index_code_get(struct index *ix, const char *purpose, const char *login,
		   int64_t now, struct index_code *out)
{
	return ix->ops->code_get(ix->state, purpose, login, now, out);
}

int index_code_tried(struct index *ix, const char *purpose, const char *login,
		     unsigned *tries)
{
	return ix->ops->code_tried(ix->state, purpose, login, tries);
}

int index_code_drop(struct index *ix, const char *purpose, const char *login)
{
	return ix->ops->code_drop(ix->state, purpose, login);
}

int index_user_phone(struct index *ix, const char *login, char *out,
		     size_t outlen)
{
	return ix->ops->user_phone(ix->state, login, out, outlen);
}

int index_signup_invite_put(struct index *ix, const char *hash_hex,
			    int64_t expires_at)
{
	return ix->ops->signup_invite_put(ix->state, hash_hex, expires_at);
}

int index_signup_invite_valid(struct index *ix, const char *hash_hex,
			      int64_t now)
{
	return ix->ops->signup_invite_valid(ix->state, hash_hex, now);
}

int index_signup_invite_take(struct index *ix, const char *hash_hex,
			     int64_t now)
{
	return ix->ops->signup_invite_take(ix->state, hash_hex, now);
}

/* --- terminated spaces --- */

int index_space_terminate(struct index *ix, const char *space, const char *by,
			  int64_t at)
{
	return ix->ops->space_terminate(ix->state, space, by, at);
}

int index_space_reactivate(struct index *ix, const char *space)
{
	return ix->ops->space_reactivate(ix->state, space);
}

int index_space_termination(struct index *ix, const char *space, int64_t *at,
			    char *by, size_t bylen)
{
	return ix->ops->space_termination(ix->state, space, at, by, bylen);
}

int index_spaces_terminated(struct index *ix, index_terminated_cb cb, void *arg)
{
	return ix->ops->spaces_terminated(ix->state, cb, arg);
}

int index_space_drop(struct index *ix, const char *space)
{
	return ix->ops->space_drop(ix->state, space);
}

int index_user_freeze(struct index *ix, const char *login, int64_t at,
		      const char *mandate, const char *notary)
{
	return ix->ops->user_freeze(ix->state, login, at, mandate, notary);
}

int index_user_frozen(struct index *ix, const char *login)
{
	return ix->ops->user_frozen(ix->state, login);
}

/* --- a space's ledger in the index --- */

int index_ledger_object_get(struct index *ix, const char *space,
			    const char *oid, index_object_cb cb, void *arg)
{
	return ix->ops->ledger_object_get(ix->state, space, oid, cb, arg);
}

int index_ledger_object_has(struct index *ix, const char *space,
			    const char *oid)
{
	return ix->ops->ledger_object_has(ix->state, space, oid);
}

int index_ledger_object_put(struct index *ix, const char *space,
			    const char *oid, int type, const void *data,
			    size_t len)
{
	return ix->ops->ledger_object_put(ix->state, space, oid, type, data,
					  len);
}

int index_ledger_objects(struct index *ix, const char *space, index_name_cb cb,
			 void *arg)
{
	return ix->ops->ledger_objects(ix->state, space, cb, arg);
}

int index_ledger_ref_get(struct index *ix, const char *space, const char *name,
			 char *target, size_t len)
{
	return ix->ops->ledger_ref_get(ix->state, space, name, target, len);
}

int index_ledger_ref_set(struct index *ix, const char *space, const char *name,
			 const char *target, enum index_ref_mode mode,
			 const char *old)
{
	if (mode == INDEX_REF_MATCH && !old)
		return err_set(-EINVAL, "a ref matched against nothing");
	return ix->ops->ledger_ref_set(ix->state, space, name, target, mode,
				       old);
}

int index_ledger_ref_drop(struct index *ix, const char *space, const char *name,
			  const char *old)
{
	return ix->ops->ledger_ref_drop(ix->state, space, name, old);
}

int index_ledger_refs(struct index *ix, const char *space, index_name_cb cb,
		      void *arg)
{
	return ix->ops->ledger_refs(ix->state, space, cb, arg);
}

int index_spaces_all(struct index *ix, index_name_cb cb, void *arg)
{
	return ix->ops->spaces_all(ix->state, cb, arg);
}

int index_space_key_get(struct index *ix, const char *space, char *sealed,
			size_t len)
{
	return ix->ops->space_key_get(ix->state, space, sealed, len);
}

int index_space_key_set(struct index *ix, const char *space, const char *sealed)
{
	return ix->ops->space_key_set(ix->state, space, sealed);
}

int index_notify(struct index *ix, const char *space)
{
	return ix->ops->notify(ix->state, space);
}

int index_listen_open(struct index *ix, struct index_listener **out)
{
	*out = NULL;
	return ix->ops->listen_open(ix->state, out);
}

int index_listen_wait(struct index *ix, struct index_listener *l, int wake_fd,
		      int timeout_ms, index_name_cb cb, void *arg)
{
	return ix->ops->listen_wait(ix->state, l, wake_fd, timeout_ms, cb, arg);
}

void index_listen_close(struct index *ix, struct index_listener *l)
{
	if (l)
		ix->ops->listen_close(ix->state, l);
}
