/*
 * SHA-256 object ids through OpenSSL's EVP interface, which picks SHA-NI or
 * the fastest assembly for the CPU.  The digest method is fetched once and
 * shared: an implicit fetch on every call would cost a provider lookup per
 * chunk.
 */
#include "common/hash.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "common/banned.h"

struct hash_ctx {
	EVP_MD_CTX *md;
};

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/*
 * SHA-256 from the default provider cannot fail short of a broken OpenSSL
 * install or memory exhaustion inside it; there is no sane way to go on
 * without object ids, so stop loudly.
 */
static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	if (!sha256_md) {
		fprintf(stderr, "fatal: OpenSSL has no SHA-256\n");
		abort();
	}
	return sha256_md;
}

static void hash_fail(const char *what)
{
	fprintf(stderr, "fatal: SHA-256 %s failed\n", what);
	abort();
}

void hash_buf(struct obj_id *out, const void *p, size_t n)
{
	unsigned int len = 0;

	if (!EVP_Digest(p, n, out->b, &len, sha256(), NULL) ||
	    len != OBJ_ID_LEN)
		hash_fail("digest");
}

int hash_new(struct hash_ctx **out)
{
	struct hash_ctx *h;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return err_set(-ENOMEM, "out of memory");
	h->md = EVP_MD_CTX_new();
	if (!h->md) {
		free(h);
		return err_set(-ENOMEM, "out of memory");
	}
	if (!EVP_DigestInit_ex2(h->md, sha256(), NULL)) {
		EVP_MD_CTX_free(h->md);
		free(h);
		return err_set(-ENOMEM, "cannot start SHA-256");
	}
	*out = h;
	return 0;
}

void hash_update(struct hash_ctx *h, const void *p, size_t n)
{
	if (n && !EVP_DigestUpdate(h->md, p, n))
		hash_fail("update");
}

void hash_final(struct hash_ctx *h, struct obj_id *out)
{
	unsigned int len = 0;

	if (!EVP_DigestFinal_ex(h->md, out->b, &len) || len != OBJ_ID_LEN)
		hash_fail("final");
}

void hash_reset(struct hash_ctx *h)
{
	if (!EVP_DigestInit_ex2(h->md, sha256(), NULL))
		hash_fail("init");
}

void hash_free(struct hash_ctx *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->md);
	free(h);
}

void hex_encode(const void *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int hex_decode(uint8_t *out, const char *hex, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_val(hex[2 * i]), lo = hex_val(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void obj_id_to_hex(const struct obj_id *id, char *out)
{
	hex_encode(id->b, OBJ_ID_LEN, out);
}

int obj_id_from_hex(struct obj_id *id, const char *hex)
{
	struct obj_id tmp;

	if (!hex || strnlen(hex, OBJ_ID_HEX_LEN + 1) != OBJ_ID_HEX_LEN)
		return err_set(-EINVAL, "an object id is 64 hex digits");
	if (hex_decode(tmp.b, hex, OBJ_ID_LEN) < 0)
		return err_set(-EINVAL,
			       "an object id is 64 lowercase hex digits");
	*id = tmp;
	return 0;
}

int obj_id_cmp(const struct obj_id *a, const struct obj_id *b)
{
	return memcmp(a->b, b->b, OBJ_ID_LEN);
}

int obj_id_is_zero(const struct obj_id *id)
{
	for (size_t i = 0; i < OBJ_ID_LEN; i++)
		if (id->b[i])
			return 0;
	return 1;
}
