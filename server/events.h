/*
 * The event journal: who did what, when, per space, as a hash chain in the
 * index (table events).  Each row's hash is SHA-256(prev_hash || canonical
 * JSON of its other fields), the canonical JSON being jansson's compact
 * output with sorted keys of {"space", "seq", "at", "login", "kind",
 * "path", "doc_id", "version", "detail"} (absent values are null; version
 * 0 is null).  The first row of a chain has prev_hash all zeros.  Server
 * events that belong to no space (logins) form the chain of space "".
 *
 * Kinds: the commit operations ("deposit", "mkdir", "move", "unlink",
 * "rmdir"), "login", "login-failed", access changes ("member-add",
 * "member-remove", "grant", "revoke", "delegate-admin", "revoke-admin",
 * "class") and consultations ("read", detail {"client_at": RFC 3339}).
 *
 * Thread-safety: as the index.  An append holds the chain's lock
 * (index_lock_space()) from reading the head to its transaction's end, so
 * two appends to one chain never take the same seq, whichever backend and
 * however many writers.
 */
#ifndef COFFRE_SERVER_EVENTS_H
#define COFFRE_SERVER_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/hash.h"

struct index;
struct index_event;

#define EVENTS_PAGE_MAX 1000

/*
 * Append ev to the chain of space (NULL or "": the server chain) with time
 * at and author login (may be NULL).  Runs inside the calling thread's open
 * index transaction when there is one (the caller commits or rolls back),
 * else in a transaction of its own.  seq (may be NULL) gets the row's seq.
 */
int events_append(struct index *ix, const char *space, const char *login,
		  int64_t at, const struct index_event *ev, uint64_t *seq);

/* Last seq and hash of a chain; seq 0 and a zero hash when it is empty. */
int events_chain_head(struct index *ix, const char *space, uint64_t *seq,
		      struct obj_id *hash);

/*
 * Recompute the whole chain.  0 when every row links and hashes right;
 * -EBADMSG with *bad_seq the first bad row otherwise.
 */
int events_verify_chain(struct index *ix, const char *space, uint64_t *bad_seq);

/* One row, as read back; strings live for the callback only. */
struct events_row {
	uint64_t seq;
	int64_t at;
	const char *login, *kind, *path, *doc_id, *detail; /* may be NULL */
	uint64_t version;
	const char *prev_hash, *hash; /* 64 hex; NULL from events_list() */
};

typedef int (*events_cb)(const struct events_row *r, void *arg);

/*
 * Rows of space whose path is prefix or under it (prefix "/": all rows
 * with a path), by seq, after seq after, reads = 1 only "read" rows, 0
 * every other kind.  At most limit rows; a non-zero cb return stops.
 */
int events_list(struct index *ix, const char *space, const char *prefix,
		int reads, uint64_t after, size_t limit, events_cb cb,
		void *arg);

#endif /* COFFRE_SERVER_EVENTS_H */
