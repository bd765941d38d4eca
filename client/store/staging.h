/*
 * Staging file: the new content of a document being written, encrypted at
 * rest, copy-on-write over a base version.
 *
 * The logical file is a sequence of STAGING_BLOCK-byte blocks.  A block that
 * was written is stored sealed (crypto_seal, ad = block number) in its slot
 * of the sparse file DIR/NAME; a slot that was never written reads as the
 * base content (through the caller's base_read callback), or as zeros past
 * base_limit (the smallest size the file was ever truncated to: bytes past it
 * were cut and must not come back from the base).  So a 4 KiB write in the
 * middle of a 1 GiB file touches one slot and reads nothing.
 *
 * A sealed header slot at offset 0 keeps size and base_limit, rewritten on
 * every size change; writes are plain pwrite (they survive a SIGKILL of the
 * process); staging_sync() adds fsync for power-loss durability.
 * Not thread-safe by itself: the caller serializes per staging file.
 * The key passed to create, recycle or open is borrowed: it must outlive
 * the staging handle.
 */
#ifndef COFFRE_CLIENT_STAGING_H
#define COFFRE_CLIENT_STAGING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STAGING_BLOCK	     4096u
/* A layered file NAME reads through NAME.lower (staging_layer). */
#define STAGING_LOWER_SUFFIX ".lower"

struct staging;
struct crypto_key;

/* Read n bytes of the base version at off into buf; return bytes read (may
 * be short only at the base's end) or -errno. */
typedef ssize_t (*staging_base_read_fn)(void *arg, uint64_t off, void *buf,
					size_t n);

/* New staging file at path (must not exist) for a base of base_size bytes
 * (0 for a new document or an O_TRUNC open). */
int staging_create(struct staging **out, const char *path,
		   const struct crypto_key *key, uint64_t base_size);
/* Make the existing file at path (a retired staging file) a new, empty
 * staging file, as staging_create would: its old content is cut and a fresh
 * file id goes into the header, so no slot written before can authenticate
 * as part of the new content.  On failure the file is removed. */
int staging_recycle(struct staging **out, const char *path,
		    const struct crypto_key *key, uint64_t base_size);
/* A new staging file at path (must not exist) holding what src holds, on
 * the same base: src's written slots are copied in the kernel as they are
 * (the copy keeps src's file id, so they authenticate there), holes stay
 * holes.  For copy on write: src, a deposit's content, is never touched
 * again, and the copy takes the next writes.  Costs a copy of the blocks
 * written in src, nothing of its base. */
int staging_clone(struct staging **out, const char *path, struct staging *src);
/*
 * A new staging file at path (must not exist) whose content starts as all
 * of src's: its base is src itself, read through PATH.lower, a hard link
 * to src's file made here, so nothing is copied however large src is.
 * For copy on write over a deposit's content that is still queued: src,
 * sealed, must never be written again, and is kept alive by that second
 * name whatever becomes of its own (an unlink of it is harmless; cutting
 * it in place, as recycling does, is not: staging_pool checks the link
 * count).  src must not be layered itself (-EINVAL): a clone of a layered
 * file shares its lower (through a name of its own), so the depth stays
 * one.  Removing a layered file means removing NAME.lower too.  Reads of
 * src's own unwritten blocks still go to the caller's base function.
 */
int staging_layer(struct staging **out, const char *path, struct staging *src);
/* 1 when st reads through a lower file (staging_layer, or a clone of one). */
int staging_is_layered(const struct staging *st);
/* Reopen an existing staging file (after a restart). -EBADMSG if tampered. */
int staging_open(struct staging **out, const char *path,
		 const struct crypto_key *key);
void staging_close(struct staging *st);

uint64_t staging_size(const struct staging *st);
/* Returns bytes read (short at end of file) or -errno. */
ssize_t staging_read(struct staging *st, void *buf, size_t n, uint64_t off,
		     staging_base_read_fn base, void *arg);
/* Write n bytes at off (may extend).  A partial block not yet in staging is
 * completed from base first.  Returns n or -errno (-ENOSPC passes through). */
ssize_t staging_write(struct staging *st, const void *buf, size_t n,
		      uint64_t off, staging_base_read_fn base, void *arg);
int staging_truncate(struct staging *st, uint64_t size);
/* fsync, and for a layered file its lower and the directory too. */
int staging_sync(struct staging *st);
/* 1 when no block was written and size == base size (nothing changed). */
int staging_unchanged(const struct staging *st);

#endif /* COFFRE_CLIENT_STAGING_H */
