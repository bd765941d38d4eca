/*
 * Where the chunk store keeps its objects: a versioned table of operations
 * in the manner of libgit2's git_odb_backend, under the front end of
 * server/chunkstore.c.
 *
 * The front end does everything that is the same whatever the storage:
 * sealing (secretstream, the chunk id bound as additional data), the
 * SHA-256 check of what is written and read, streaming, and the keyed
 * names.  A backend only stores opaque objects under names of 64 lowercase
 * hex digits and never sees a plaintext byte or a chunk id.
 *
 * Contract of every backend:
 *   - an object appears whole or not at all: put_commit publishes it
 *     atomically (a directory renames a synced temporary file; S3 sends one
 *     PUT), put_abort leaves nothing, and a put whose commit failed may
 *     have published the object only whole;
 *   - the front end calls put_commit only after it checked the content's
 *     hash, so a backend that cannot rename (S3) writes nothing before;
 *   - absent is -ENOENT for get, stat and del; every other failure is a
 *     negative errno with err_set() saying why;
 *   - thread-safe: any number of puts, gets and lists at once.
 *
 * A backend table is owned by whoever holds it: chunkstore_new() takes it,
 * and its free() releases state.
 */
#ifndef COFFRE_SERVER_CHUNK_BACKEND_H
#define COFFRE_SERVER_CHUNK_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#define CHUNK_BACKEND_VERSION 2
/* An object's name: 64 lowercase hex digits. */
#define CHUNK_NAME_LEN	      64

typedef int (*chunk_backend_read_cb)(const void *p, size_t n, void *arg);
typedef int (*chunk_backend_list_cb)(const char *name, void *arg);

struct chunk_backend {
	unsigned version; /* CHUNK_BACKEND_VERSION */
	const char *kind; /* "dir", "memory", "s3": for messages */
	void *state;

	/* A put: begin, write any number of times, then commit or abort
	 * (either frees *put). */
	int (*put_begin)(void *state, const char *name, void **put);
	int (*put_write)(void *put, const void *p, size_t n);
	int (*put_commit)(void *put);
	void (*put_abort)(void *put);

	/* The stored bytes of name, in order, in pieces to cb; cb's non-zero
	 * value stops the read and is returned. */
	int (*get)(void *state, const char *name, chunk_backend_read_cb cb,
		   void *arg);
	/* The stored size of name. */
	int (*stat)(void *state, const char *name, uint64_t *size);
	/* Every name held, in no order; cb's non-zero value stops and is
	 * returned.  Objects put during the walk may or may not be seen. */
	int (*list)(void *state, chunk_backend_list_cb cb, void *arg);
	int (*del)(void *state, const char *name);

	/*
	 * Optional (NULL: the front end stats each name in turn): for each
	 * of the n names, held[i] = 1 when the object is there, 0 when not.
	 * For a store where one stat is a network round trip (S3), so that
	 * a long list costs a few round trips' time, not one per name.  Any
	 * failure fails the whole call.  Since version 2.
	 */
	int (*stat_many)(void *state, const char *const *names, size_t n,
			 unsigned char *held);

	/*
	 * Optional (NULL when the backend has no old layout): bring objects
	 * stored under old names to their new names, crash-safe and at most
	 * once at a time, before any other call.  rename_fn gives the new
	 * name of an old one (64 hex into out).  *moved counts the objects
	 * moved.  See chunk_dir.c.
	 */
	int (*migrate)(void *state,
		       void (*rename_fn)(const char *old_name, char *out,
					 void *arg),
		       void *arg, unsigned long *moved);

	void (*free)(void *state);
};

/* 1 when s is a valid object name (64 lowercase hex digits). */
int chunk_name_valid(const char *s);

/*
 * The directory backend: objects at DIR/ab/<62 hex> (the layout coffre has
 * always used), each written to DIR/tmp/ then fsynced, renamed and the
 * directory fsynced.  dir is created when missing.
 */
int chunk_dir_new(struct chunk_backend **out, const char *dir);

void chunk_backend_free(struct chunk_backend *be);

#endif /* COFFRE_SERVER_CHUNK_BACKEND_H */
