/*
 * What the index backends (index_sqlite.c, index_pg.c) share and that
 * speaks no SQL: the registry of per-thread connections, the nesting of
 * transactions on one connection, and the reading of a manifest's chunk
 * lines.  Defined in index.c, the front end, so that both backends keep
 * one copy of it.
 */
#ifndef COFFRE_SERVER_INDEX_I_H
#define COFFRE_SERVER_INDEX_I_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "server/events.h"
#include "server/index.h"
#include "server/invite.h"

/*
 * The part of a backend's connection the registry and the nesting rule
 * use; the first member of every backend's connection struct, so that a
 * struct index_link * and that struct's address are one.
 */
struct index_link {
	struct index_link *next; /* protected by the registry's lock */
	int depth;		 /* nested begins; 0: autocommit */
	int doomed;		 /* an inner transaction rolled back */
};

/* Every connection of one backend state, each used by one thread. */
struct index_conns {
	pthread_key_t key; /* the calling thread's struct index_link */
	pthread_mutex_t lock;
	struct index_link *head;
};

/* 0 or a negative errno (the thread key could not be made). */
int index_conns_init(struct index_conns *r);
/* The calling thread's connection; NULL before it added one. */
struct index_link *index_conns_mine(struct index_conns *r);
/* Keep l as the calling thread's connection until index_conns_free(). */
void index_conns_add(struct index_conns *r, struct index_link *l);
/* Close every connection with close_fn, then release the registry. */
void index_conns_free(struct index_conns *r,
		      void (*close_fn)(struct index_link *l));

/*
 * Nesting (index.h): only the outermost begin and end reach the database,
 * and an inner rollback dooms the outer transaction.
 */
/* 1 when a transaction is open already: l is one level deeper. */
int index_txn_nest(struct index_link *l);
/* The outermost transaction was opened. */
void index_txn_opened(struct index_link *l);
/* 1 when an inner level ended (nothing for the database to do); an inner
 * rollback dooms the transaction. */
int index_txn_leave(struct index_link *l, int rollback);
/* 0 when the outermost transaction may commit, or -EIO with err_set()
 * when an inner part of it rolled back. */
int index_txn_check(const struct index_link *l);
/* The outermost transaction ended. */
void index_txn_closed(struct index_link *l);

/*
 * Each chunk a manifest names (its "chunk HEX SIZE" lines): cb gets the
 * 64 hex digits as a string.  cb's non-zero value stops and is returned.
 */
int index_manifest_chunks(const char *manifest,
			  int (*cb)(const char *hex, void *arg), void *arg);
/* The same with each chunk's size, the number after its hex digits. */
int index_manifest_chunk_sizes(const char *manifest,
			       int (*cb)(const char *hex, uint64_t size,
					 void *arg),
			       void *arg);

/* What one version adds to its space's usage (version_put). */
struct index_usage_delta {
	int64_t bytes, documents, versions;
};

/*
 * Where a backend's row readers put what they read: one struct per shape
 * of answer, whatever the database.
 */
/* A listing's callback and its argument; n counts the rows. */
/*
 * The tables that hold rows of a space ("space" the column, "name" in
 * spaces), in an order that deletes referencing rows first; NULL ends it.
 * The same in every backend: a space's destruction (space_drop).
 */
extern const char *const index_space_tables[];

/* Where space_termination's row goes (by may be NULL). */
struct termination_out {
	int64_t *at;
	char *by;
	size_t bylen;
};

struct index_fwd {
	union {
		index_token_cb token;
		index_space_cb space;
		index_member_cb member;
		index_grant_cb grant;
		index_version_cb version;
		index_event_cb event;
		index_move_cb move;
		invite_cb invite;
		index_terminated_cb terminated;
	} cb;
	void *arg;
	int n;
	int with_hashes; /* events: the chain's hashes too */
};

/* One text that must fit out (-EIO "bad value while trying to what"). */
struct index_text_out {
	char *out;
	size_t len;
	const char *what;
};

/* Two texts, cut to fit; b may be NULL (not wanted). */
struct index_two_out {
	char *a;
	size_t alen;
	char *b;
	size_t blen;
};

/* A sequence number and a text ("" for NULL), cut to fit. */
struct index_seq_out {
	uint64_t *seq;
	char *text;
	size_t len;
};

/* A role and whether it may administer access. */
struct index_access_out {
	char *role;
	size_t rolelen;
	int *admin;
};

#endif /* COFFRE_SERVER_INDEX_I_H */
