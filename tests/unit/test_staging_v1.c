/*
 * Staging files written in the first slot format (XChaCha20-Poly1305 under
 * the cache key, "COFFSTG1") by an earlier coffre must still open, read and
 * take writes: a deposit queued before an upgrade is not lost.  The file is
 * built here byte by byte from that format's description in staging.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/store/staging.h"
#include "common/crypto.h"
#include "common/fsutil.h"
#include "tests/lib/tap.h"

#define SLOT	 (STAGING_BLOCK + CRYPTO_SEAL_OVERHEAD)
#define HDR_SLOT 4096u
#define HDR_AD	 "coffre staging header v1"

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A v1 file of size bytes with blocks 0 and 2 written (a hole at 1). */
static int write_v1(const char *path, const struct crypto_key *k, uint64_t size,
		    const uint8_t *content)
{
	uint8_t plain[64] = { 0 }, hdr[64 + CRYPTO_SEAL_OVERHEAD];
	uint8_t id[16], ad[24], slot[SLOT], block[STAGING_BLOCK];
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);

	if (fd < 0)
		return -errno;
	crypto_random(id, sizeof(id));
	memcpy(plain, "COFFSTG1", 8);
	put_u64(plain + 8, size);
	memcpy(plain + 32, id, sizeof(id));
	crypto_seal(k, HDR_AD, sizeof(HDR_AD) - 1, plain, sizeof(plain), hdr);
	pwrite_full(fd, hdr, sizeof(hdr), 0);
	for (uint64_t b = 0; b < 3; b += 2) {
		memset(block, 0, sizeof(block));
		memcpy(block, content + b * STAGING_BLOCK,
		       size - b * STAGING_BLOCK < STAGING_BLOCK ?
			       size - b * STAGING_BLOCK :
			       STAGING_BLOCK);
		put_u64(ad, b);
		memcpy(ad + 8, id, sizeof(id));
		crypto_seal(k, ad, sizeof(ad), block, sizeof(block), slot);
		pwrite_full(fd, slot, sizeof(slot), HDR_SLOT + b * SLOT);
	}
	close(fd);
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/test_staging_v1.XXXXXX", path[64];
	static uint8_t want[3 * STAGING_BLOCK], got[3 * STAGING_BLOCK];
	uint64_t size = 2 * STAGING_BLOCK + 100;
	struct staging *st;
	struct crypto_key k;

	is_int(crypto_init(), 0, "init");
	is_int(crypto_key_new_random(&k), 0, "key");
	ok(mkdtemp(dir) != NULL, "temp dir");
	snprintf(path, sizeof(path), "%s/v1", dir);
	crypto_random(want, sizeof(want));
	memset(want + STAGING_BLOCK, 0, STAGING_BLOCK); /* the hole */
	memset(want + size, 0, sizeof(want) - size);
	is_int(write_v1(path, &k, size, want), 0, "a version 1 staging file");

	is_int(staging_open(&st, path, &k), 0, "it opens");
	is_int((int)staging_size(st), (int)size, "its size");
	is_int((int)staging_read(st, got, sizeof(got), 0, NULL, NULL),
	       (int)size, "it reads");
	ok(!memcmp(got, want, size), "every byte as written, hole as zeros");

	memset(want + 10, 'w', 5000); /* across blocks 0 and 1 */
	is_int((int)staging_write(st, want + 10, 5000, 10, NULL, NULL), 5000,
	       "it takes a write");
	staging_close(st);
	is_int(staging_open(&st, path, &k), 0, "it opens again");
	is_int((int)staging_read(st, got, sizeof(got), 0, NULL, NULL),
	       (int)size, "it reads again");
	ok(!memcmp(got, want, size), "old and new blocks read back");
	staging_close(st);

	unlink(path);
	rmdir(dir);
	crypto_key_release(&k);
	return tap_done();
}
