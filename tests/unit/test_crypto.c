/* Unit tests for common/crypto: sealing, key derivation, passwords. */
#include "common/crypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "tests/lib/tap.h"

static void test_crypto_seal(void)
{
	static const char msg[] = "the content of a safe";
	uint8_t sealed[sizeof(msg) + CRYPTO_SEAL_OVERHEAD];
	uint8_t sealed2[sizeof(msg) + CRYPTO_SEAL_OVERHEAD];
	char out[sizeof(msg)];
	struct crypto_key k, other;

	is_int(crypto_key_new_random(&k), 0, "random key");
	is_int(crypto_key_new_random(&other), 0, "second random key");
	is_int(crypto_seal(&k, "ad", 2, msg, sizeof(msg), sealed), 0, "seal");
	ok(!memmem(sealed, sizeof(sealed), "safe", 4),
	   "no plaintext in sealed");
	is_int(crypto_open(&k, "ad", 2, sealed, sizeof(sealed), (uint8_t *)out),
	       0, "open");
	is_str(out, msg, "round trip");

	crypto_seal(&k, "ad", 2, msg, sizeof(msg), sealed2);
	ok(memcmp(sealed, sealed2, sizeof(sealed)), "fresh nonce each seal");

	for (size_t i = 0; i < sizeof(sealed); i += 7) {
		uint8_t t[sizeof(sealed)];
		int rc;

		memcpy(t, sealed, sizeof(t));
		t[i] ^= 0x01;
		rc = crypto_open(&k, "ad", 2, t, sizeof(t), (uint8_t *)out);
		if (rc != -EBADMSG) {
			is_int(rc, -EBADMSG, "tampered byte %zu refused", i);
			break;
		}
	}
	ok(1, "every tampered byte refused with -EBADMSG");
	is_int(crypto_open(&k, "ae", 2, sealed, sizeof(sealed), (uint8_t *)out),
	       -EBADMSG, "wrong ad refused");
	is_int(crypto_open(&k, NULL, 0, sealed, sizeof(sealed), (uint8_t *)out),
	       -EBADMSG, "missing ad refused");
	is_int(crypto_open(&other, "ad", 2, sealed, sizeof(sealed),
			   (uint8_t *)out),
	       -EBADMSG, "wrong key refused");
	is_int(crypto_open(&k, "ad", 2, sealed, CRYPTO_SEAL_OVERHEAD - 1,
			   (uint8_t *)out),
	       -EBADMSG, "too short refused");
	is_int(crypto_open(&k, "ad", 2, sealed, sizeof(sealed) - 1,
			   (uint8_t *)out),
	       -EBADMSG, "truncated refused");

	{
		uint8_t inplace[64 + CRYPTO_SEAL_OVERHEAD] = { 0 };

		is_int(crypto_seal(&k, NULL, 0, inplace, 64, inplace), -EINVAL,
		       "seal in place refused");
		is_int(crypto_seal(&k, NULL, 0, inplace + 8, 32, inplace),
		       -EINVAL, "overlapping seal refused");
		is_int(crypto_seal(&k, NULL, 0, inplace + 40, 16, inplace),
		       -EINVAL, "overlap at the end refused");
		is_int(crypto_open(&k, "ad", 2, sealed, sizeof(sealed),
				   sealed + CRYPTO_NONCE_LEN),
		       -EINVAL, "overlapping open refused");
		is_int(crypto_open(&k, "ad", 2, sealed, sizeof(sealed),
				   (uint8_t *)out),
		       0, "sealed blob untouched by the refusals");
	}

	/* Empty message. */
	is_int(crypto_seal(&k, NULL, 0, "", 0, sealed), 0, "seal empty");
	is_int(crypto_open(&k, NULL, 0, sealed, CRYPTO_SEAL_OVERHEAD,
			   (uint8_t *)out),
	       0, "open empty");

	crypto_key_release(&k);
	crypto_key_release(&k);
	ok(k.k == NULL, "release clears and is idempotent");
	crypto_key_release(&other);
}

static void test_crypto_derive(void)
{
	static const uint8_t raw[CRYPTO_KEY_LEN] = { 1, 2, 3 };
	struct crypto_key m, a1, a2, b, c1, c2;
	char n1[65], n2[65];

	is_int(crypto_key_from_bytes(&m, raw, 31), -EINVAL,
	       "31-byte key refused");
	is_int(crypto_key_from_bytes(&m, raw, sizeof(raw)), 0,
	       "key from bytes");
	is_int(crypto_key_derive(&a1, &m, "chunk", "space-a"), 0, "derive a");
	crypto_key_derive(&a2, &m, "chunk", "space-a");
	crypto_key_derive(&b, &m, "chunk", "space-b");
	crypto_key_derive(&c1, &m, "chunks", "pace-a");
	crypto_key_derive(&c2, &m, "chunk", "");
	ok(!memcmp(a1.k, a2.k, CRYPTO_KEY_LEN), "derive is deterministic");
	ok(memcmp(a1.k, b.k, CRYPTO_KEY_LEN), "distinct per id");
	ok(memcmp(a1.k, c1.k, CRYPTO_KEY_LEN), "context/id boundary matters");
	ok(memcmp(a1.k, m.k, CRYPTO_KEY_LEN) &&
		   memcmp(c2.k, m.k, CRYPTO_KEY_LEN),
	   "subkey differs from master");

	crypto_name_hex(&a1, "name", 4, n1);
	crypto_name_hex(&a2, "name", 4, n2);
	is_int(strlen(n1), 64, "name is 64 hex");
	is_str(n1, n2, "name_hex deterministic");
	crypto_name_hex(&b, "name", 4, n2);
	ok(strcmp(n1, n2), "name_hex depends on the key");
	crypto_name_hex(&a1, "namf", 4, n2);
	ok(strcmp(n1, n2), "name_hex depends on the input");

	ok(crypto_memcmp("abc", "abc", 3) == 0, "memcmp equal");
	ok(crypto_memcmp("abc", "abd", 3) != 0, "memcmp differ");

	crypto_key_release(&m);
	crypto_key_release(&a1);
	crypto_key_release(&a2);
	crypto_key_release(&b);
	crypto_key_release(&c1);
	crypto_key_release(&c2);
}

static void test_crypto_password(void)
{
	char h[128], h2[128], small[16];
	uint8_t r1[32], r2[32];

	is_int(crypto_password_hash("correct horse", h, sizeof(h)), 0, "hash");
	ok(!strncmp(h, "$argon2id$", 10), "Argon2id string");
	is_int(crypto_password_verify(h, "correct horse"), 0, "verify");
	is_int(crypto_password_verify(h, "correct horsf"), -EACCES,
	       "wrong password refused");
	is_int(crypto_password_verify("garbage", "correct horse"), -EACCES,
	       "garbage hash refused");
	crypto_password_hash("correct horse", h2, sizeof(h2));
	ok(strcmp(h, h2), "salted: two hashes differ");
	is_int(crypto_password_hash("x", small, sizeof(small)), -E2BIG,
	       "small output refused");

	crypto_random(r1, sizeof(r1));
	crypto_random(r2, sizeof(r2));
	ok(memcmp(r1, r2, sizeof(r1)), "random differs");
}

int main(void)
{
	is_int(crypto_init(), 0, "init");
	is_int(crypto_init(), 0, "init again");
	test_crypto_seal();
	test_crypto_derive();
	test_crypto_password();
	return tap_done();
}
