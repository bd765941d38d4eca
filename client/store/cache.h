/*
 * The local chunk cache: clean chunks fetched from or uploaded to the server,
 * encrypted at rest.  File DIR/chunks/XX/NAME where NAME is a keyed hash of
 * the chunk id (crypto_name_hex), content crypto_seal(key, ad = chunk id,
 * plaintext).  Neither the content nor the ids are readable without the key.
 *
 * Bounded: when the total exceeds max_bytes the least recently used chunks are
 * evicted (everything in this cache is clean: dirty data lives in staging).
 * A small in-memory LRU of decrypted chunks serves repeated reads.
 * Thread-safe.
 */
#ifndef COFFRE_CLIENT_CACHE_H
#define COFFRE_CLIENT_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/hash.h"

struct cache;
struct crypto_key;

/* max_bytes 0 = unbounded.  key is copied. */
int cache_open(struct cache **out, const char *dir,
	       const struct crypto_key *key, uint64_t max_bytes);
void cache_free(struct cache *c);

int cache_has(struct cache *c, const struct obj_id *id); /* 1/0/-errno */
/* Bytes of chunks on disk, and the bound (0: unbounded). */
void cache_usage(struct cache *c, uint64_t *used, uint64_t *max);
/* Store a chunk durably (temp + rename).  Idempotent. */
int cache_put(struct cache *c, const struct obj_id *id, const void *p,
	      size_t n);
/* 1 when chunk id is among the decrypted chunks in memory, else 0. */
int cache_in_memory(struct cache *c, const struct obj_id *id);
/* Decrypt chunk id from the disk into memory (as a read does): 0, or
 * -ENOENT when not cached, -EBADMSG (then removed). */
int cache_warm(struct cache *c, const struct obj_id *id);
/* cache_put, keeping the plaintext p (malloc'd, taken over, freed in any
 * case) among the decrypted chunks in memory: for a chunk just fetched
 * that a reader wants next, which then costs no decryption from disk. */
int cache_put_keep(struct cache *c, const struct obj_id *id, uint8_t *p,
		   size_t n);
/*
 * Copy up to len bytes at off within chunk id into buf; returns bytes copied
 * or -ENOENT when not cached, -EBADMSG when the file fails to authenticate
 * (it is then removed).
 */
ssize_t cache_read(struct cache *c, const struct obj_id *id, uint64_t off,
		   void *buf, size_t len);
/* Whole chunk into a malloc'd buffer. */
int cache_get(struct cache *c, const struct obj_id *id, uint8_t **out,
	      size_t *len);

#endif /* COFFRE_CLIENT_CACHE_H */
