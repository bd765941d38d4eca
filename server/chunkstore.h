/*
 * Chunk store of one space: content-addressed chunks, encrypted at rest.
 *
 * A chunk is named by the SHA-256 of its plaintext.  On disk it lives at
 * DIR/ab/cdef...(rest of hex) and is encrypted with a key derived from the
 * server master key and the space name (crypto_key_derive(master, "chunks",
 * space)), with libsodium's crypto_secretstream (XChaCha20-Poly1305) in
 * 64 KiB records, so bodies stream to disk and never sit whole in memory.
 * The chunk id is bound as additional data of the first record, so a file
 * moved under another name fails to open.  Writes follow temp + fsync +
 * rename + fsync(dir): a reader never sees a partial chunk.
 *
 * Thread-safe: any number of writers and readers at once (distinct temp
 * names; rename makes the last identical writer win harmlessly).
 */
#ifndef COFFRE_SERVER_CHUNKSTORE_H
#define COFFRE_SERVER_CHUNKSTORE_H

#include <stddef.h>
#include <stdint.h>
#include "common/hash.h"

struct chunkstore;
struct chunkstore_writer;
struct crypto_key;

/* dir is created when missing.  key is copied. */
int chunkstore_open(struct chunkstore **out, const char *dir,
		    const struct crypto_key *key);
void chunkstore_free(struct chunkstore *cs);

/* 1 if held, 0 if not, -errno on error. */
int chunkstore_has(struct chunkstore *cs, const struct obj_id *id);

/*
 * Streamed write of a chunk announced as id.  Feed bytes with _write in any
 * pieces, then _finish: it checks the size (<= CHUNK_MAX) and the hash
 * (-EBADMSG with a message on mismatch), and commits.  _abort (or _finish
 * failing) leaves nothing behind.  -ENOSPC passes through as is.
 */
int chunkstore_writer_new(struct chunkstore *cs, const struct obj_id *id,
			  struct chunkstore_writer **out);
int chunkstore_writer_write(struct chunkstore_writer *w, const void *p,
			    size_t n);
int chunkstore_writer_finish(struct chunkstore_writer *w); /* frees w */
void chunkstore_writer_abort(struct chunkstore_writer *w); /* frees w */

/*
 * Read a whole chunk into a malloc'd buffer (at most CHUNK_MAX bytes), after
 * checking its AEAD tags and its SHA-256 against id.  -ENOENT if absent,
 * -EBADMSG if corrupt.
 */
int chunkstore_get(struct chunkstore *cs, const struct obj_id *id,
		   uint8_t **out, size_t *len);

/* Size of a held chunk's plaintext, or -ENOENT. */
int chunkstore_size(struct chunkstore *cs, const struct obj_id *id,
		    uint64_t *size);

/*
 * Stream a held chunk's plaintext to cb in order, in pieces of at most
 * 64 KiB, checking each record's tag as it goes and the SHA-256 of the whole
 * at the end.  Pieces reach cb before the final hash check: on a non-zero
 * return the caller must drop what it got.  Never holds the chunk whole.
 * 0, -ENOENT if absent, -EBADMSG if corrupt, or cb's non-zero value.
 */
typedef int (*chunkstore_read_cb)(const void *p, size_t n, void *arg);
int chunkstore_read(struct chunkstore *cs, const struct obj_id *id,
		    chunkstore_read_cb cb, void *arg);

/* Decrypt and re-hash a held chunk without holding it whole (fsck).
 * 0, -ENOENT if absent, -EBADMSG if corrupt. */
int chunkstore_verify(struct chunkstore *cs, const struct obj_id *id);

/*
 * Call cb for the id of every chunk on disk (in no particular order; names
 * that are not chunk names are skipped).  A cb returning non-zero stops the
 * walk and that value is returned.  Chunks written during the walk may or
 * may not be seen.
 */
typedef int (*chunkstore_foreach_cb)(const struct obj_id *id, void *arg);
int chunkstore_foreach(struct chunkstore *cs, chunkstore_foreach_cb cb,
		       void *arg);

#endif /* COFFRE_SERVER_CHUNKSTORE_H */
