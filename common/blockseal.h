/*
 * Bulk sealing of many equal-sized blocks under one key of their own:
 * AES-256-GCM (OpenSSL, AES-NI where the CPU has it); each context draws a
 * random 96-bit nonce base and counts blocks from it, so nonces never
 * repeat within a context and collide across contexts only as random
 * 96-bit values do.  sealed = nonce (12) || ciphertext || tag (16).
 *
 * Why not crypto_seal (XChaCha20-Poly1305): staging seals every 4 KiB block
 * a program writes, on the write path; AES-GCM with hardware AES is more
 * than twice as fast here.  GCM's randomly drawn 96-bit nonces are safe
 * for about 2^32 messages per key, so the key must be one per staging file
 * (crypto_key_derive with the file's random id): a file sees far fewer
 * block writes than that.
 *
 * A context is not thread-safe: one per user (staging serializes per file).
 */
#ifndef COFFRE_COMMON_BLOCKSEAL_H
#define COFFRE_COMMON_BLOCKSEAL_H

#include <stddef.h>
#include <stdint.h>

#define BLOCKSEAL_NONCE_LEN 12
#define BLOCKSEAL_TAG_LEN   16
#define BLOCKSEAL_OVERHEAD  (BLOCKSEAL_NONCE_LEN + BLOCKSEAL_TAG_LEN)

struct blockseal;
struct crypto_key;

int blockseal_new(struct blockseal **out, const struct crypto_key *key);
void blockseal_free(struct blockseal *bs);

/* out holds n + BLOCKSEAL_OVERHEAD bytes; its nonce is never all zero. */
int blockseal_seal(struct blockseal *bs, const void *ad, size_t adlen,
		   const void *in, size_t n, uint8_t *out);
/* in is n sealed bytes; out gets n - BLOCKSEAL_OVERHEAD.  -EBADMSG when
 * it does not authenticate. */
int blockseal_open(struct blockseal *bs, const void *ad, size_t adlen,
		   const uint8_t *in, size_t n, uint8_t *out);

#endif /* COFFRE_COMMON_BLOCKSEAL_H */
