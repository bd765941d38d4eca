/*
 * Authenticated encryption and keys (libsodium).
 *
 * Small sealed objects use XChaCha20-Poly1305-IETF with a random 24-byte
 * nonce stored in front: sealed = nonce || ciphertext || tag, so a sealed
 * blob is CRYPTO_SEAL_OVERHEAD (40) bytes longer than the plaintext.  The
 * additional data (ad) binds a blob to its place (e.g. the chunk id or the
 * block number) so blobs cannot be swapped undetected.
 *
 * Keys live in sodium_malloc memory and are wiped on free.
 */
#ifndef COFFRE_COMMON_CRYPTO_H
#define COFFRE_COMMON_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_LEN	     32
#define CRYPTO_NONCE_LEN     24
#define CRYPTO_TAG_LEN	     16
#define CRYPTO_SEAL_OVERHEAD (CRYPTO_NONCE_LEN + CRYPTO_TAG_LEN)

struct crypto_key {
	uint8_t *k; /* CRYPTO_KEY_LEN bytes in sodium_malloc memory */
};

/* sodium_init once; 0 or -EIO.  Safe to call many times from any thread. */
int crypto_init(void);

int crypto_key_new_random(struct crypto_key *key);
int crypto_key_from_bytes(struct crypto_key *key, const uint8_t *b, size_t n);
/* Derive a subkey for a context string and id (crypto_kdf / BLAKE2b). */
int crypto_key_derive(struct crypto_key *out, const struct crypto_key *master,
		      const char *context, const char *id);
/* The same subkey into out (CRYPTO_KEY_LEN bytes the caller wipes), for
 * one that lives a moment: no guarded pages, whose mmap and munmap would
 * cost more than the derivation (a key per small staging file). */
int crypto_key_derive_bytes(uint8_t *out, const struct crypto_key *master,
			    const char *context, const char *id);
void crypto_key_release(struct crypto_key *key);

/* out must hold n + CRYPTO_SEAL_OVERHEAD bytes and not overlap in (-EINVAL). */
int crypto_seal(const struct crypto_key *key, const void *ad, size_t adlen,
		const void *in, size_t n, uint8_t *out);
/* in is a sealed blob of n bytes; out holds n - CRYPTO_SEAL_OVERHEAD.
 * -EBADMSG when the tag does not verify (tampered, wrong key, wrong ad).
 * out must not overlap in (-EINVAL). */
int crypto_open(const struct crypto_key *key, const void *ad, size_t adlen,
		const uint8_t *in, size_t n, uint8_t *out);

/* Keyed hash (BLAKE2b-256) used to name things on disk without revealing
 * them: 64 hex chars + NUL into out. */
void crypto_name_hex(const struct crypto_key *key, const void *in, size_t n,
		     char out[65]);

void crypto_random(void *p, size_t n);

/* Argon2id password hashing (crypto_pwhash_str, interactive limits). */
int crypto_password_hash(const char *password, char *out, size_t outlen);
int crypto_password_verify(const char *hash,
			   const char *password); /* 0 or -EACCES */

/* Constant-time compare, 0 when equal. */
int crypto_memcmp(const void *a, const void *b, size_t n);

#endif /* COFFRE_COMMON_CRYPTO_H */
