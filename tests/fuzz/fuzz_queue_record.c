/*
 * A record of the client's write-behind queue (client/store/queue.c, op_open):
 * the JSON of one operation, sealed under the cache key with its row
 * number.  The input is the plaintext, sealed here as queue.c seals it,
 * so what is fuzzed is the parse past the authentication.  A record that
 * opens is an operation the sync engine can run (op_check).
 */
#include "client/store/queue.c"
#include "tests/fuzz/fuzz.h"

static struct queue q;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t k[CRYPTO_KEY_LEN] =
		"coffre fuzz queue key, 32 bytes";

	if (crypto_init() < 0 ||
	    crypto_key_from_bytes(&q.key, k, sizeof(k)) < 0)
		exit(1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *blob = malloc(size + CRYPTO_SEAL_OVERHEAD), ad[8];
	struct queue_op op;

	if (!blob)
		return 0;
	seq_ad(7, ad);
	if (crypto_seal(&q.key, ad, sizeof(ad), data, size, blob) < 0)
		abort();
	if (op_open(&q, 7, blob, size + CRYPTO_SEAL_OVERHEAD, &op) == 0) {
		if (op_check(&op) < 0 || strlen(op.base_doc) > DOC_ID_HEX_LEN)
			abort();
		queue_op_release(&op);
	}
	err_clear();
	free(blob);
	return 0;
}
