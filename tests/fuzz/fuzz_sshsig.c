/*
 * SSH signatures (server/sshsig.c, sshsig_verify), as git keeps them in a
 * commit's gpgsig header of a ledger that may come from a backup or
 * another machine.  The input is the armored text; the key is fixed, the
 * signed data is "data".  FUZZ_WRITE_SEED=FILE writes a valid signature
 * of it (the seed of corpus/sshsig) and exits.
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "server/sshsig.h"
#include "tests/fuzz/fuzz.h"

static EVP_PKEY *key;
static const char signed_data[] = "data";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const unsigned char seed[32] = "coffre fuzz sshsig fixed key 32";
	const char *out = getenv("FUZZ_WRITE_SEED");
	struct buf sig;
	FILE *f;

	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
					   sizeof(seed));
	if (!key)
		exit(1);
	if (!out)
		return 0;
	buf_init(&sig, 1u << 20);
	if (sshsig_sign(key, "git", signed_data, strlen(signed_data), &sig) <
		    0 ||
	    !(f = fopen(out, "w")) ||
	    fwrite(sig.data, 1, sig.len, f) != sig.len || fclose(f))
		exit(1);
	exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	int rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	rc = sshsig_verify(key, "git", text, size, signed_data,
			   strlen(signed_data));
	if (rc != 0 && rc != -EBADMSG)
		abort(); /* the contract: 0 or -EBADMSG */
	free(text);
	return 0;
}
