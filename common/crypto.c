/*
 * Thin, checked wrappers over libsodium: XChaCha20-Poly1305 sealing with a
 * random nonce in front, BLAKE2b key derivation and naming, Argon2id
 * password hashes.  XChaCha's 192-bit nonce makes random nonces safe for any
 * number of messages under one key, so no nonce state has to be kept.
 */
#include "common/crypto.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "common/banned.h"

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc;

static void sodium_start(void)
{
	sodium_rc = sodium_init() < 0 ? -EIO : 0;
}

int crypto_init(void)
{
	pthread_once(&sodium_once, sodium_start);
	if (sodium_rc < 0)
		return err_set(sodium_rc, "cannot initialise libsodium");
	return 0;
}

/* For void entry points: without a working libsodium nothing is safe. */
static void crypto_must_init(void)
{
	if (crypto_init() < 0) {
		fprintf(stderr, "fatal: cannot initialise libsodium\n");
		abort();
	}
}

static int key_alloc(struct crypto_key *key)
{
	int rc = crypto_init();

	key->k = NULL;
	if (rc < 0)
		return rc;
	key->k = sodium_malloc(CRYPTO_KEY_LEN);
	if (!key->k)
		return err_set(-ENOMEM,
			       "cannot allocate secure memory for a key");
	return 0;
}

int crypto_key_new_random(struct crypto_key *key)
{
	int rc = key_alloc(key);

	if (rc < 0)
		return rc;
	randombytes_buf(key->k, CRYPTO_KEY_LEN);
	return 0;
}

int crypto_key_from_bytes(struct crypto_key *key, const uint8_t *b, size_t n)
{
	int rc;

	key->k = NULL;
	if (n != CRYPTO_KEY_LEN)
		return err_set(-EINVAL, "a key is %d bytes, not %zu",
			       CRYPTO_KEY_LEN, n);
	rc = key_alloc(key);
	if (rc < 0)
		return rc;
	memcpy(key->k, b, CRYPTO_KEY_LEN);
	return 0;
}

int crypto_key_derive_bytes(uint8_t *out, const struct crypto_key *master,
			    const char *context, const char *id)
{
	static const uint8_t zero;
	crypto_generichash_state st;

	if (!master || !master->k || !context)
		return err_set(-EINVAL,
			       "key derivation needs a key and a context");
	/*
	 * BLAKE2b keyed with the master key over context || 0 || id.  The NUL
	 * separates the two strings, so ("ab", "c") and ("a", "bc") give
	 * different keys.
	 */
	crypto_generichash_init(&st, master->k, CRYPTO_KEY_LEN, CRYPTO_KEY_LEN);
	crypto_generichash_update(&st, (const uint8_t *)context,
				  strlen(context));
	crypto_generichash_update(&st, &zero, 1);
	if (id)
		crypto_generichash_update(&st, (const uint8_t *)id, strlen(id));
	crypto_generichash_final(&st, out, CRYPTO_KEY_LEN);
	sodium_memzero(&st, sizeof(st));
	return 0;
}

int crypto_key_derive(struct crypto_key *out, const struct crypto_key *master,
		      const char *context, const char *id)
{
	struct crypto_key k;
	int rc;

	if (out == master)
		return err_set(-EINVAL, "derive a subkey into a new key");
	if (!master || !master->k || !context) {
		out->k = NULL;
		return err_set(-EINVAL,
			       "key derivation needs a key and a context");
	}
	/* Derive into k and publish it whole: out is never half-written. */
	rc = key_alloc(&k);
	if (rc < 0) {
		out->k = NULL;
		return rc;
	}
	rc = crypto_key_derive_bytes(k.k, master, context, id);
	if (rc < 0) {
		crypto_key_release(&k);
		out->k = NULL;
		return rc;
	}
	*out = k;
	return 0;
}

void crypto_key_release(struct crypto_key *key)
{
	if (!key)
		return;
	sodium_free(key->k); /* wipes before unmapping; NULL is fine */
	key->k = NULL;
}

/* Whether [a, a + an) and [b, b + bn) share a byte. */
static int overlaps(const void *a, size_t an, const void *b, size_t bn)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return an && bn && x < y + bn && y < x + an;
}

int crypto_seal(const struct crypto_key *key, const void *ad, size_t adlen,
		const void *in, size_t n, uint8_t *out)
{
	unsigned long long clen = 0;

	crypto_must_init();
	if (!key || !key->k)
		return err_set(-EINVAL, "sealing without a key");
	if (n > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX ||
	    n > SIZE_MAX - CRYPTO_SEAL_OVERHEAD)
		return err_set(-E2BIG, "message too big to seal");
	/* The nonce is written first: in place it would clobber the input. */
	if (overlaps(in, n, out, n + CRYPTO_SEAL_OVERHEAD))
		return err_set(-EINVAL, "seal input and output overlap");
	randombytes_buf(out, CRYPTO_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + CRYPTO_NONCE_LEN,
						   &clen, in, n, ad, adlen,
						   NULL, out, key->k);
	return 0;
}

int crypto_open(const struct crypto_key *key, const void *ad, size_t adlen,
		const uint8_t *in, size_t n, uint8_t *out)
{
	unsigned long long mlen = 0;

	crypto_must_init();
	if (!key || !key->k)
		return err_set(-EINVAL, "opening without a key");
	if (n < CRYPTO_SEAL_OVERHEAD)
		return err_set(-EBADMSG, "sealed data too short (%zu bytes)",
			       n);
	if (overlaps(in, n, out, n - CRYPTO_SEAL_OVERHEAD))
		return err_set(-EINVAL, "open input and output overlap");
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    out, &mlen, NULL, in + CRYPTO_NONCE_LEN,
		    n - CRYPTO_NONCE_LEN, ad, adlen, in, key->k) != 0) {
		/* libsodium leaves out unspecified; never hand back garbage. */
		sodium_memzero(out, n - CRYPTO_SEAL_OVERHEAD);
		return err_set(
			-EBADMSG,
			"sealed data does not verify (tampered, wrong key or wrong place)");
	}
	return 0;
}

void crypto_name_hex(const struct crypto_key *key, const void *in, size_t n,
		     char out[65])
{
	uint8_t h[32];

	assert(key && key->k);
	crypto_must_init();
	crypto_generichash(h, sizeof(h), in, n, key->k, CRYPTO_KEY_LEN);
	sodium_bin2hex(out, 65, h, sizeof(h));
	sodium_memzero(h, sizeof(h));
}

void crypto_random(void *p, size_t n)
{
	crypto_must_init();
	randombytes_buf(p, n);
}

int crypto_password_hash(const char *password, char *out, size_t outlen)
{
	int rc = crypto_init();

	if (rc < 0)
		return rc;
	if (outlen < crypto_pwhash_STRBYTES)
		return err_set(-E2BIG, "password hash needs %d bytes",
			       crypto_pwhash_STRBYTES);
	if (crypto_pwhash_str(out, password, strlen(password),
			      crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return err_set(-ENOMEM, "out of memory hashing a password");
	return 0;
}

int crypto_password_verify(const char *hash, const char *password)
{
	char h[crypto_pwhash_STRBYTES];
	size_t len;
	int rc = crypto_init();

	if (rc < 0)
		return rc;
	/* A hash from storage must be a bounded, NUL-terminated string. */
	len = strnlen(hash, sizeof(h));
	if (len == sizeof(h))
		return err_set(-EACCES, "wrong password");
	memcpy(h, hash, len + 1);
	if (crypto_pwhash_str_verify(h, password, strlen(password)) != 0)
		return err_set(-EACCES, "wrong password");
	return 0;
}

int crypto_memcmp(const void *a, const void *b, size_t n)
{
	crypto_must_init();
	return sodium_memcmp(a, b, n) == 0 ? 0 : 1;
}
