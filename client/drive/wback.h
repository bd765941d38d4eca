/*
 * Write-behind: large writes on the drive are answered once their bytes are
 * copied in memory, and sealed into staging by worker threads while the
 * kernel already sends the next write.
 *
 * Why: without the kernel's writeback cache (one close must be one version,
 * so every write reaches us at once), a writer waits for each WRITE reply.
 * Sealing each 4 KiB block (XChaCha20-Poly1305) on the FUSE thread then
 * adds its whole cost to the writer's time; here it overlaps the kernel's
 * copying of the next megabyte, on another core.
 *
 * The guarantees are those of a local file system's page cache:
 *   - reads, truncation, fsync, flush and the last release of a node wait
 *     until its queued writes are in staging (wback_drain), so a reader
 *     sees every byte written before, and a version holds every write made
 *     before the close;
 *   - writes to one node are applied in the order they were answered;
 *   - an error met by a queued write (a full cache: ENOSPC) is kept on the
 *     node and returned by its next write, flush (so close() reports it)
 *     and fsync; the writes after it are dropped, and the last release
 *     deposits nothing (see nameop_release_write);
 *   - at most WBACK_MAX_INFLIGHT bytes wait in memory: a writer beyond it
 *     waits for the workers.
 * A write smaller than WBACK_MIN_ASYNC is done at once by the FUSE thread
 * (after the node's queue drains): a 4 KiB change costs no copy and no
 * thread hop.
 */
#ifndef COFFRE_CLIENT_WBACK_H
#define COFFRE_CLIENT_WBACK_H

#include <stddef.h>
#include <stdint.h>

struct fs;
struct node;

#define WBACK_MIN_ASYNC	   (128u * 1024)
#define WBACK_MAX_INFLIGHT (4u * 1024 * 1024)

int wback_start(struct fs *fs);
/* Apply every queued write, then stop the workers. */
void wback_stop(struct fs *fs);

/* Queue a copy of buf for n at off (n->lsize and the change marks are
 * updated at once).  0 when queued, or the node's pending error. */
int wback_write(struct fs *fs, struct node *n, const void *buf, size_t size,
		uint64_t off);
/* Wait until n's queued writes are applied.  Returns the node's pending
 * write error, 0 when none (it stays set: see wback_reset). */
int wback_drain(struct fs *fs, struct node *n);
/* Keep err as n's pending write error unless one is kept already: a write
 * refused before it was queued (the quota) tears the content alike. */
void wback_fail(struct fs *fs, struct node *n, int err);
/* Forget n's pending write error (the last write handle is gone). */
void wback_reset(struct fs *fs, struct node *n);

#endif /* COFFRE_CLIENT_WBACK_H */
