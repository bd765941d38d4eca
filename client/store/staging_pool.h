/*
 * Staging pool: what becomes of a staging file once its content no longer
 * needs it.  Deleting is split in two.  Retiring a name only records it, in
 * memory and under the pool's own small lock, so it is cheap enough for a
 * caller holding the drive's big lock; reaping, done later by a thread that
 * holds no lock of the drive, carries out the file-system work.
 *
 * A retired file that may be reused goes to a bounded list of free names
 * instead of being unlinked, and a new staging file is made by recycling
 * one of them (staging_recycle) rather than created.  On an ext4 without a
 * journal the inode allocator skips every inode freed in the last half
 * minute, reading inode tables as it goes: creating and unlinking one file
 * per document gets slower and slower when many small documents are saved.
 *
 * The pool lives only in memory: the free files carry no name any queued
 * deposit knows, so after a restart the startup sweep removes them.
 * Thread-safe.
 */
#ifndef COFFRE_CLIENT_STAGING_POOL_H
#define COFFRE_CLIENT_STAGING_POOL_H

#include <stddef.h>
#include <stdint.h>

/* Longest name the pool keeps (longer ones are only ever unlinked). */
#define STAGING_POOL_NAME_MAX  64
/* Largest content whose file is worth recycling: cutting a bigger file to
 * nothing costs about what unlinking it does. */
#define STAGING_POOL_REUSE_MAX (1024 * 1024)
/* Free files kept at most: enough for a folder of small files saved at
 * once.  They are empty (reaping cuts them), so they hold no disk space. */
#define STAGING_POOL_CAP       1024

struct staging_pool;

/* A pool for the staging files in dir, keeping at most cap free names. */
int staging_pool_new(struct staging_pool **out, const char *dir, size_t cap);
/* Reap what was retired, unlink every free file, and free the pool.
 * NULL does nothing. */
void staging_pool_free(struct staging_pool *sp);

/*
 * Record that the staging file name in the pool's dir is no longer needed.
 * With reuse, the caller promises that no handle on the file can be used
 * again (the file may be given to new content); without it the file is
 * unlinked.  No file-system call, except when out of memory (then the file
 * is unlinked at once).
 */
void staging_pool_retire(struct staging_pool *sp, const char *name, int reuse);
/* Carry out the retirements recorded so far: cut the reusable ones to
 * nothing and free their names while there is room, unlink the others.
 * Call it holding no lock of the drive. */
void staging_pool_reap(struct staging_pool *sp);
/* Take a free name into name (cap bytes, STAGING_POOL_NAME_MAX is enough):
 * 1 when one was taken, 0 when the pool has none.  The file is the
 * caller's: recycle it (staging_recycle) or retire it again. */
int staging_pool_take(struct staging_pool *sp, char *name, size_t cap);
/* Free names held now (for tests and logs). */
size_t staging_pool_count(struct staging_pool *sp);

#endif /* COFFRE_CLIENT_STAGING_POOL_H */
