/*
 * AES-256-GCM block sealing through OpenSSL's EVP interface (contract in
 * blockseal.h).  The key schedule is set once per context; each block only
 * sets a fresh nonce, which is what makes small blocks cheap.
 */
#include "common/blockseal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/banned.h"

struct blockseal {
	EVP_CIPHER_CTX *enc, *dec;
	uint8_t base[BLOCKSEAL_NONCE_LEN]; /* random, drawn once */
	uint64_t count;			   /* blocks sealed so far */
};

void blockseal_free(struct blockseal *bs)
{
	if (!bs)
		return;
	EVP_CIPHER_CTX_free(bs->enc);
	EVP_CIPHER_CTX_free(bs->dec);
	free(bs);
}

int blockseal_new(struct blockseal **out, const struct crypto_key *key)
{
	struct blockseal *bs = calloc(1, sizeof(*bs));

	*out = NULL;
	if (!bs)
		return err_set(-ENOMEM, "out of memory for a cipher");
	bs->enc = EVP_CIPHER_CTX_new();
	bs->dec = EVP_CIPHER_CTX_new();
	if (!bs->enc || !bs->dec ||
	    EVP_EncryptInit_ex(bs->enc, EVP_aes_256_gcm(), NULL, key->k,
			       NULL) != 1 ||
	    EVP_DecryptInit_ex(bs->dec, EVP_aes_256_gcm(), NULL, key->k,
			       NULL) != 1) {
		blockseal_free(bs);
		return err_set(-EIO, "cannot set up AES-256-GCM");
	}
	crypto_random(bs->base, sizeof(bs->base));
	*out = bs;
	return 0;
}

static int nonce_is_zero(const uint8_t *p)
{
	uint8_t acc = 0;

	for (int i = 0; i < BLOCKSEAL_NONCE_LEN; i++)
		acc |= p[i];
	return acc == 0;
}

int blockseal_seal(struct blockseal *bs, const void *ad, size_t adlen,
		   const void *in, size_t n, uint8_t *out)
{
	uint8_t *ct = out + BLOCKSEAL_NONCE_LEN;
	int len, fin;

	if (n > INT_MAX - BLOCKSEAL_OVERHEAD || adlen > INT_MAX)
		return err_set(-EINVAL, "block too large to seal");
	/*
	 * Nonce = random base XOR a block counter in its last 8 bytes:
	 * distinct within this context by construction, and as unlikely to
	 * meet another context's as two random 96-bit values, without a
	 * getrandom call per block.  An all-zero nonce marks a hole in
	 * staging files: never use it.
	 */
	do {
		uint64_t c = bs->count++;

		memcpy(out, bs->base, BLOCKSEAL_NONCE_LEN);
		for (int i = 0; i < 8; i++)
			out[4 + i] ^= (uint8_t)(c >> (8 * i));
	} while (nonce_is_zero(out));
	if (EVP_EncryptInit_ex(bs->enc, NULL, NULL, NULL, out) != 1 ||
	    (adlen &&
	     EVP_EncryptUpdate(bs->enc, NULL, &len, ad, (int)adlen) != 1) ||
	    EVP_EncryptUpdate(bs->enc, ct, &len, in, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(bs->enc, ct + len, &fin) != 1 ||
	    (size_t)len + (size_t)fin != n ||
	    EVP_CIPHER_CTX_ctrl(bs->enc, EVP_CTRL_GCM_GET_TAG,
				BLOCKSEAL_TAG_LEN, ct + n) != 1)
		return err_set(-EIO, "AES-256-GCM sealing failed");
	return 0;
}

int blockseal_open(struct blockseal *bs, const void *ad, size_t adlen,
		   const uint8_t *in, size_t n, uint8_t *out)
{
	const uint8_t *ct = in + BLOCKSEAL_NONCE_LEN;
	uint8_t tag[BLOCKSEAL_TAG_LEN];
	size_t clen;
	int len, fin;

	if (n < BLOCKSEAL_OVERHEAD || n > INT_MAX || adlen > INT_MAX)
		return -EBADMSG;
	clen = n - BLOCKSEAL_OVERHEAD;
	memcpy(tag, ct + clen, sizeof(tag));
	if (EVP_DecryptInit_ex(bs->dec, NULL, NULL, NULL, in) != 1 ||
	    (adlen &&
	     EVP_DecryptUpdate(bs->dec, NULL, &len, ad, (int)adlen) != 1) ||
	    EVP_DecryptUpdate(bs->dec, out, &len, ct, (int)clen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(bs->dec, EVP_CTRL_GCM_SET_TAG,
				BLOCKSEAL_TAG_LEN, tag) != 1 ||
	    EVP_DecryptFinal_ex(bs->dec, out + len, &fin) != 1) {
		/* never leave unauthenticated plaintext behind */
		memset(out, 0, clen);
		return -EBADMSG;
	}
	return 0;
}
