/*
 * Object ids: SHA-256 (OpenSSL EVP, which uses SHA-NI where present).
 */
#ifndef COFFRE_COMMON_HASH_H
#define COFFRE_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define OBJ_ID_LEN     32
#define OBJ_ID_HEX_LEN 64

struct obj_id {
	uint8_t b[OBJ_ID_LEN];
};

struct hash_ctx; /* opaque streaming SHA-256 */

void hash_buf(struct obj_id *out, const void *p, size_t n);
int hash_new(struct hash_ctx **out); /* 0 or -ENOMEM */
void hash_update(struct hash_ctx *h, const void *p, size_t n);
void hash_final(struct hash_ctx *h,
		struct obj_id *out); /* ctx reusable after hash_reset */
void hash_reset(struct hash_ctx *h);
void hash_free(struct hash_ctx *h);

/* The n bytes at p as 2n lowercase hex digits and a NUL (out: 2n + 1). */
void hex_encode(const void *p, size_t n, char *out);
/* n bytes from the 2n hex digits at hex; -EINVAL (no message) when one
 * is not a lowercase hex digit. */
int hex_decode(uint8_t *out, const char *hex, size_t n);
/* out must hold OBJ_ID_HEX_LEN + 1 bytes; lowercase hex. */
void obj_id_to_hex(const struct obj_id *id, char *out);
/* Exactly 64 lowercase hex digits, else -EINVAL. */
int obj_id_from_hex(struct obj_id *id, const char *hex);
int obj_id_cmp(const struct obj_id *a, const struct obj_id *b);
int obj_id_is_zero(const struct obj_id *id);

#endif /* COFFRE_COMMON_HASH_H */
