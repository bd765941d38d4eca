/*
 * Chunk store of one space: content-addressed chunks, encrypted at rest,
 * over a storage backend (server/chunk_backend.h: a directory, memory for
 * tests, or an S3 bucket).
 *
 * A chunk is known by the SHA-256 of its plaintext (its id) and stored
 * under a keyed name, HMAC-SHA-256 of the id under a key derived from the
 * chunk key, so the store's names reveal nothing about its content.  It is
 * encrypted with the chunk key (crypto_key_derive(master, "chunks",
 * space)), with libsodium's crypto_secretstream (XChaCha20-Poly1305) in
 * 64 KiB records, so bodies stream and never sit whole in memory.  The
 * chunk id is bound as additional data of the first record, so an object
 * moved under another name fails to open.  An object appears whole or not
 * at all, and only once its hash matched: a reader never sees a partial
 * chunk.
 *
 * Thread-safe: any number of writers and readers at once (the last of two
 * identical writers wins harmlessly).
 */
#ifndef COFFRE_SERVER_CHUNKSTORE_H
#define COFFRE_SERVER_CHUNKSTORE_H

#include <stddef.h>
#include <stdint.h>
#include "common/hash.h"

struct chunkstore;
struct chunkstore_writer;
struct chunk_backend;
struct crypto_key;

/* A keyed name: 64 hex digits and a NUL. */
#define CHUNKSTORE_NAME_SIZE 65

/*
 * A store over be, which it takes in every case (freed on failure).  key is
 * copied.  When the backend keeps chunks under their old plaintext names
 * (a data directory made before keyed names), they are renamed first,
 * crash-safe (chunk_dir.c).
 */
int chunkstore_new(struct chunkstore **out, struct chunk_backend *be,
		   const struct crypto_key *key);
/* chunkstore_new over the directory backend; dir is created when
 * missing. */
int chunkstore_open(struct chunkstore **out, const char *dir,
		    const struct crypto_key *key);
void chunkstore_free(struct chunkstore *cs);

/* The name id is stored under. */
void chunkstore_name(const struct chunkstore *cs, const struct obj_id *id,
		     char out[CHUNKSTORE_NAME_SIZE]);

/* 1 if held, 0 if not, -errno on error. */
int chunkstore_has(struct chunkstore *cs, const struct obj_id *id);
/*
 * chunkstore_has for n ids at once: held[i] = 1 or 0; 0 or -errno (any
 * failure fails the whole call).  As fast as the backend can answer a
 * batch (S3: many requests in flight over kept connections).
 */
int chunkstore_has_many(struct chunkstore *cs, const struct obj_id *ids,
			size_t n, unsigned char *held);

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
 * Call cb for the name of every chunk held (in no particular order).  The
 * names are keyed: a chunk's id cannot be had from its name, only the name
 * from the id (chunkstore_name).  A cb returning non-zero stops the walk
 * and that value is returned.  Chunks written during the walk may or may
 * not be seen.
 */
typedef int (*chunkstore_foreach_cb)(const char *name, void *arg);
int chunkstore_foreach(struct chunkstore *cs, chunkstore_foreach_cb cb,
		       void *arg);

/* Remove a held chunk; -ENOENT if absent. */
int chunkstore_delete(struct chunkstore *cs, const struct obj_id *id);

/* Remove the chunk of that name (as chunkstore_foreach gives it). */
int chunkstore_delete_name(struct chunkstore *cs, const char *name);

#endif /* COFFRE_SERVER_CHUNKSTORE_H */
