/*
 * RFC 3161 time-stamp responses (server/tsa.c, tsa_verify), as kept in
 * the ledger and sent back by an external TSA.  The keys are made afresh
 * in a scratch directory, so a seed's signature does not verify: the
 * parse and every check before the signature are what is fuzzed.
 * FUZZ_WRITE_SEED=FILE writes a response stamping "data" and exits.
 */
#include <errno.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "server/keys.h"
#include "server/tsa.h"
#include "tests/fuzz/fuzz.h"

static struct keys *keys;
static const char stamped[] = "data";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *out = getenv("FUZZ_WRITE_SEED");
	struct buf der;
	FILE *f;

	if (keys_load(&keys, fuzz_scratch()) < 0) {
		fprintf(stderr, "cannot make the keys: %s\n", err_msg());
		exit(1);
	}
	if (!out)
		return 0;
	buf_init(&der, 1u << 20);
	if (tsa_stamp(keys, stamped, strlen(stamped), &der) < 0 ||
	    !(f = fopen(out, "w")) ||
	    fwrite(der.data, 1, der.len, f) != der.len || fclose(f))
		exit(1);
	exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc = tsa_verify(keys, data, size, stamped, strlen(stamped));

	if (rc != 0 && rc != -EBADMSG && rc != -EIO)
		abort(); /* the contract: 0, -EBADMSG or -EIO */
	err_clear();
	return 0;
}
