/*
 * Reopening a staging file after a restart (client/store/staging.c,
 * staging_open): the sealed header, then the scan of the sparse file's
 * slots and the repair of what a crash left.  The input's first 64 bytes
 * are the header's plaintext, sealed here with the cache key as the
 * client does (so the fields past the authentication are what is fuzzed);
 * the rest is laid at the first slot.  A file that opens reads back at its
 * start and at its end.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "client/store/staging.h"
#include "common/crypto.h"
#include "common/err.h"
#include "tests/fuzz/fuzz.h"

#define HEADER_PLAIN 64u
#define HEADER_SLOT  4096u
#define HEADER_AD    "coffre staging header v1" /* as staging.c */

static struct crypto_key key;
static char path[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t k[CRYPTO_KEY_LEN] =
		"coffre fuzz staging key 32 bytes";

	if (crypto_init() < 0 || crypto_key_from_bytes(&key, k, sizeof(k)) < 0)
		exit(1);
	snprintf(path, sizeof(path), "%s/staging", fuzz_scratch());
	return 0;
}

static ssize_t zero_base(void *arg, uint64_t off, void *buf, size_t n)
{
	memset(buf, 0, n);
	return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t plain[HEADER_PLAIN] = { 0 };
	uint8_t sealed[HEADER_PLAIN + CRYPTO_SEAL_OVERHEAD];
	uint8_t out[2 * STAGING_BLOCK];
	struct staging *st;
	uint64_t n;
	int fd;

	memcpy(plain, data, size < HEADER_PLAIN ? size : HEADER_PLAIN);
	if (crypto_seal(&key, HEADER_AD, sizeof(HEADER_AD) - 1, plain,
			sizeof(plain), sealed) < 0)
		abort();
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || pwrite_full(fd, sealed, sizeof(sealed), 0) < 0 ||
	    (size > HEADER_PLAIN &&
	     pwrite_full(fd, data + HEADER_PLAIN, size - HEADER_PLAIN,
			 HEADER_SLOT) < 0))
		abort();
	close(fd);
	if (staging_open(&st, path, &key) == 0) {
		n = staging_size(st);
		/* a slot that fails to authenticate is an error, not a
		 * crash: the answers do not matter here */
		(void)staging_read(st, out, sizeof(out), 0, zero_base, NULL);
		(void)staging_read(st, out, sizeof(out),
				   n > sizeof(out) ? n - sizeof(out) : 0,
				   zero_base, NULL);
		staging_close(st);
	}
	err_clear();
	return 0;
}
