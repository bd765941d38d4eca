/*
 * The memory backend of the chunk store, for tests, with fault injection
 * in the spirit of SQLite's: it can be told to fail the N-th step of a
 * given kind, and counts the steps it has seen, so a test can walk N over
 * every step of a put or of a deposit and check after each failure that
 * nothing is half-done.
 *
 * The steps of a put mirror what the directory backend does:
 *   PUT     put_begin (the temporary file is created)
 *   WRITE   each put_write
 *   FSYNC   put_commit: the staged bytes are made durable
 *   RENAME  put_commit: the object is published, whole
 *   COMMIT  put_commit: the directory is made durable; failing here leaves
 *           the object published while the commit reports the error, as
 *           an fsync of the directory failing after rename(2) does
 * A failed step leaves the put unpublished except at COMMIT.
 *
 * Thread-safe: one mutex guards the objects and the counters.
 */
#ifndef COFFRE_SERVER_CHUNK_MEM_H
#define COFFRE_SERVER_CHUNK_MEM_H

#include <stddef.h>

struct chunk_backend;

enum chunk_mem_step {
	CHUNK_MEM_PUT,
	CHUNK_MEM_WRITE,
	CHUNK_MEM_FSYNC,
	CHUNK_MEM_RENAME,
	CHUNK_MEM_COMMIT,
	CHUNK_MEM_ANY, /* any of the above: the N-th step whatever its kind */
	CHUNK_MEM_NSTEPS
};

int chunk_mem_new(struct chunk_backend **out);

/*
 * Fail the n-th step of kind (counted from this call, 1-based) with err
 * (a negative errno); n = 0 disarms.  One fault is armed at a time, and
 * it fires once.
 */
void chunk_mem_fail(struct chunk_backend *be, enum chunk_mem_step kind,
		    unsigned long n, int err);
/* Steps of kind seen since chunk_mem_new (ANY: all of them). */
unsigned long chunk_mem_steps(struct chunk_backend *be,
			      enum chunk_mem_step kind);
/* 1 once the armed fault fired. */
int chunk_mem_fired(struct chunk_backend *be);
/* Objects held, and puts begun and not yet committed or aborted. */
size_t chunk_mem_count(struct chunk_backend *be);
size_t chunk_mem_open_puts(struct chunk_backend *be);
/* Flip one bit of a held object's stored bytes (tests of damage);
 * -ENOENT when absent. */
int chunk_mem_corrupt(struct chunk_backend *be, const char *name, size_t off);

#endif /* COFFRE_SERVER_CHUNK_MEM_H */
