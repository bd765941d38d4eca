/*
 * Read-ahead of chunks from the server.  A sequential read of a document
 * whose chunks are not in the local cache would wait, chunk after chunk,
 * for one round trip, one TLS decryption, one hash check and one cache
 * write each, on one core.  Once a read misses, the chunks after it are
 * handed to a few worker threads that fetch them into the cache while the
 * reader consumes the ones before, so the network, the server and the
 * checks of several chunks overlap.
 *
 * The prefetcher knows nothing of the drive: it is given, at creation, a
 * function that tells whether a chunk is cached and one that fetches a
 * chunk into the cache.  Thread-safe.
 */
#ifndef COFFRE_CLIENT_PREFETCH_H
#define COFFRE_CLIENT_PREFETCH_H

#include <stddef.h>

#include "common/manifest.h"

struct prefetch;

struct prefetch_ops {
	/* 1 when c is in the cache already (then it is not fetched). */
	int (*cached)(void *arg, const struct manifest_chunk *c);
	/* Fetch c into the cache; give up soon once *stop turns non-zero. */
	int (*fetch)(void *arg, const struct manifest_chunk *c,
		     const int *stop);
	void *arg;
};

/* threads workers, at most queue_max chunks waiting. */
int prefetch_new(struct prefetch **out, const struct prefetch_ops *ops,
		 unsigned threads, size_t queue_max);
/* Stop the workers (a fetch under way is cut short) and free.  NULL: no-op. */
void prefetch_free(struct prefetch *pf);
/* Ask for the n chunks at c to be fetched, in order, skipping those cached,
 * queued or being fetched; those past the queue's room are left out. */
void prefetch_ask(struct prefetch *pf, const struct manifest_chunk *c,
		  size_t n);
/*
 * The reader needs c now.  If a worker is fetching it, wait for the end of
 * that fetch and return 1 (look in the cache again: a failed fetch leaves
 * it out).  If it only waits in the queue, take it out and return 0, as
 * when it is not asked for: the reader fetches it itself.
 */
int prefetch_claim(struct prefetch *pf, const struct manifest_chunk *c);

#endif /* COFFRE_CLIENT_PREFETCH_H */
