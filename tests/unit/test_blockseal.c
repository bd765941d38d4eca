/* Unit tests for common/blockseal: AES-256-GCM block sealing. */
#include "common/blockseal.h"

#include <errno.h>
#include <string.h>

#include "common/crypto.h"
#include "tests/lib/tap.h"

#define BLK 4096

static int nonce_zero(const uint8_t *p)
{
	for (int i = 0; i < BLOCKSEAL_NONCE_LEN; i++)
		if (p[i])
			return 0;
	return 1;
}

int main(void)
{
	static uint8_t plain[BLK], out[BLK], a[BLK + BLOCKSEAL_OVERHEAD],
		b[BLK + BLOCKSEAL_OVERHEAD], t[BLK + BLOCKSEAL_OVERHEAD];
	struct blockseal *bs, *bs2, *other;
	struct crypto_key k, k2;
	int bad = 0;

	is_int(crypto_init(), 0, "init");
	is_int(crypto_key_new_random(&k), 0, "key");
	is_int(crypto_key_new_random(&k2), 0, "other key");
	is_int(blockseal_new(&bs, &k), 0, "context");
	is_int(blockseal_new(&bs2, &k), 0, "second context, same key");
	is_int(blockseal_new(&other, &k2), 0, "context, other key");
	memset(plain, 'm', sizeof(plain));
	memcpy(plain, "marker-in-block", 15);

	is_int(blockseal_seal(bs, "ad", 2, plain, BLK, a), 0, "seal");
	ok(!memmem(a, sizeof(a), "marker", 6),
	   "no plaintext in the sealed block");
	ok(!nonce_zero(a), "nonce is not all zero");
	is_int(blockseal_open(bs, "ad", 2, a, sizeof(a), out), 0, "open");
	ok(!memcmp(out, plain, BLK), "round trip");
	is_int(blockseal_open(bs2, "ad", 2, a, sizeof(a), out), 0,
	       "another context of the same key opens it");

	is_int(blockseal_seal(bs, "ad", 2, plain, BLK, b), 0, "seal again");
	ok(memcmp(a, b, BLOCKSEAL_NONCE_LEN), "each block its own nonce");
	ok(memcmp(a + BLOCKSEAL_NONCE_LEN, b + BLOCKSEAL_NONCE_LEN, 32),
	   "same plaintext, different ciphertext");
	is_int(blockseal_seal(bs2, "ad", 2, plain, BLK, b), 0,
	       "seal in the second context");
	ok(memcmp(a, b, BLOCKSEAL_NONCE_LEN),
	   "two contexts of one key start from different nonces");

	for (size_t i = 0; i < sizeof(a); i += 97) {
		memcpy(t, a, sizeof(t));
		t[i] ^= 0x20;
		if (blockseal_open(bs, "ad", 2, t, sizeof(t), out) != -EBADMSG)
			bad++;
	}
	is_int(bad, 0, "a flipped bit anywhere is refused");
	memset(out, 0x55, sizeof(out));
	t[BLOCKSEAL_NONCE_LEN] ^= 1;
	is_int(blockseal_open(bs, "ad", 2, t, sizeof(t), out), -EBADMSG,
	       "tampered block refused");
	ok(out[0] == 0 && out[BLK - 1] == 0,
	   "no unauthenticated plaintext is left in the output");
	is_int(blockseal_open(bs, "ax", 2, a, sizeof(a), out), -EBADMSG,
	       "other additional data refused (a block moved)");
	is_int(blockseal_open(other, "ad", 2, a, sizeof(a), out), -EBADMSG,
	       "other key refused");
	is_int(blockseal_open(bs, "ad", 2, a, BLOCKSEAL_OVERHEAD - 1, out),
	       -EBADMSG, "truncated block refused");
	is_int(blockseal_open(bs, "ad", 2, a, sizeof(a) - 1, out), -EBADMSG,
	       "a byte short refused");

	blockseal_free(bs);
	blockseal_free(bs2);
	blockseal_free(other);
	crypto_key_release(&k);
	crypto_key_release(&k2);
	return tap_done();
}
