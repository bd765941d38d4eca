/* Unit tests for common/hash: SHA-256 vectors, hex, streaming. */
#include "common/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "tests/lib/tap.h"

static const struct {
	const char *in;
	const char *hex;
} vectors[] = {
	{ "",
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ "abc",
	  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
};

static void test_hash_vectors(void)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	struct obj_id id;

	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
		hash_buf(&id, vectors[i].in, strlen(vectors[i].in));
		obj_id_to_hex(&id, hex);
		is_str(hex, vectors[i].hex, "SHA-256 of \"%.10s\"",
		       vectors[i].in);
	}
}

static void test_hash_million_a(void)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	struct hash_ctx *h;
	struct obj_id id;
	char a[1000];

	memset(a, 'a', sizeof(a));
	is_int(hash_new(&h), 0, "hash_new");
	for (int i = 0; i < 1000; i++)
		hash_update(h, a, sizeof(a));
	hash_final(h, &id);
	obj_id_to_hex(&id, hex);
	is_str(hex,
	       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	       "SHA-256 of one million 'a', streamed");
	hash_reset(h);
	hash_update(h, "abc", 3);
	hash_final(h, &id);
	obj_id_to_hex(&id, hex);
	is_str(hex, vectors[1].hex, "context reusable after reset");
	hash_free(h);
	hash_free(NULL);
}

static void test_hash_streaming(void)
{
	size_t n = 1 << 20, pos = 0, step = 1;
	struct obj_id one, streamed;
	struct hash_ctx *h;
	unsigned char *data = malloc(n);

	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	hash_buf(&one, data, n);
	hash_new(&h);
	/* Uneven pieces, including empty ones. */
	while (pos < n) {
		size_t k = step < n - pos ? step : n - pos;

		hash_update(h, data + pos, k);
		hash_update(h, data, 0);
		pos += k;
		step = step * 3 + 1;
	}
	hash_final(h, &streamed);
	ok(!obj_id_cmp(&one, &streamed), "streaming equals one-shot");
	hash_free(h);
	free(data);
}

static void test_hash_hex(void)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	struct obj_id id, back, zero;

	hash_buf(&id, "x", 1);
	obj_id_to_hex(&id, hex);
	is_int(obj_id_from_hex(&back, hex), 0, "from_hex of to_hex");
	ok(!obj_id_cmp(&id, &back), "hex round trip");
	is_int(obj_id_from_hex(&back, "abc"), -EINVAL, "short hex refused");
	hex[5] = 'A';
	is_int(obj_id_from_hex(&back, hex), -EINVAL, "uppercase refused");
	hex[5] = 'g';
	is_int(obj_id_from_hex(&back, hex), -EINVAL, "non-hex refused");
	obj_id_to_hex(&id, hex);
	{
		char longer[OBJ_ID_HEX_LEN + 2];

		memcpy(longer, hex, OBJ_ID_HEX_LEN);
		longer[OBJ_ID_HEX_LEN] = '0';
		longer[OBJ_ID_HEX_LEN + 1] = '\0';
		is_int(obj_id_from_hex(&back, longer), -EINVAL,
		       "65 digits refused");
	}
	ok(!obj_id_cmp(&id, &back), "refused input left the id unchanged");
	memset(&zero, 0, sizeof(zero));
	ok(obj_id_is_zero(&zero), "zero id");
	ok(!obj_id_is_zero(&id), "non-zero id");
	ok(obj_id_cmp(&zero, &id) < 0, "cmp orders bytes");
}

int main(void)
{
	test_hash_vectors();
	test_hash_million_a();
	test_hash_streaming();
	test_hash_hex();
	return tap_done();
}
