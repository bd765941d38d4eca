/*
 * The chunk store over a real S3 store (Ceph RGW from scripts/cluster.sh,
 * or any S3-compatible one): COFFRE_S3_URL=s3://HOST:PORT/BUCKET and
 * COFFRE_S3_KEY_FILE (access key and secret, one a line, 0600) name it;
 * without them the test is skipped, saying so.  Under a prefix of its own
 * it stores, reads, stats and lists chunks (pages of two names, so
 * ListObjectsV2's continuation is used), finds an absent one absent,
 * refuses a body that does not hash to its id without leaving an object,
 * and deletes what it wrote.
 */
#include "server/chunkstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "server/chunk_backend.h"
#include "server/chunk_s3.h"
#include "tests/lib/tap.h"

#define N 5

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static int put(struct chunkstore *cs, const struct obj_id *id, const uint8_t *p,
	       size_t n)
{
	struct chunkstore_writer *w;
	int rc = chunkstore_writer_new(cs, id, &w);

	if (rc < 0)
		return rc;
	rc = chunkstore_writer_write(w, p, n);
	if (rc < 0) {
		chunkstore_writer_abort(w);
		return rc;
	}
	return chunkstore_writer_finish(w);
}

static int count_cb(const char *name, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/*
 * A long list asked at once (many requests in flight): the N stored ids
 * spread among MANY ids never stored, each answered in its place.
 */
#define MANY 2000
static void check_has_many(struct chunkstore *cs, const struct obj_id *ids)
{
	static struct obj_id list[MANY];
	static unsigned char held[MANY];
	int wrong = 0, found = 0;

	for (int i = 0; i < MANY; i++) {
		if (i % 397 == 5 && i / 397 < N)
			list[i] = ids[i / 397];
		else
			hash_buf(&list[i], &i, sizeof(i));
		held[i] = 2;
	}
	is_int(chunkstore_has_many(cs, list, MANY, held), 0,
	       "has_many over %d ids", MANY);
	for (int i = 0; i < MANY; i++) {
		int want = i % 397 == 5 && i / 397 < N;

		wrong += held[i] != want;
		found += held[i] == 1;
	}
	is_int(wrong, 0, "...each id answered in its place");
	is_int(found, N, "...the %d stored ones held", N);
	is_int(chunkstore_has_many(cs, list, 0, held), 0,
	       "has_many over no id");
}

/* A store nobody answers for: the whole call fails, saying so. */
static void check_unreachable(const struct chunk_s3_config *good,
			      const struct crypto_key *k,
			      const struct obj_id *ids)
{
	struct chunk_s3_config cfg = *good;
	struct chunk_backend *be;
	struct chunkstore *cs;
	unsigned char held[N];

	/* Port 1 of the loopback: refused at once. */
	snprintf(cfg.host, sizeof(cfg.host), "127.0.0.1:1");
	if (chunk_s3_new(&be, &cfg) < 0 || chunkstore_new(&cs, be, k) < 0) {
		ok(0, "open a store at 127.0.0.1:1: %s", err_msg());
		return;
	}
	is_int(chunkstore_has_many(cs, ids, N, held), -EIO,
	       "has_many on an unreachable store: -EIO");
	ok(strstr(err_msg(), "cannot reach the S3 store") != NULL,
	   "...saying so: %s", err_msg());
	chunkstore_free(cs);
}

int main(void)
{
	const char *url = getenv("COFFRE_S3_URL");
	const char *key_file = getenv("COFFRE_S3_KEY_FILE");
	static uint8_t data[N][150000];
	struct chunk_s3_config cfg = { 0 };
	struct obj_id ids[N], bad;
	struct chunk_backend *be;
	struct chunkstore *cs;
	struct crypto_key k;
	char base[200];
	uint64_t size;
	uint8_t *got;
	size_t len;
	int n = 0;

	if (!url || !*url || !key_file || !*key_file) {
		printf("1..0 # SKIP no S3 store: set COFFRE_S3_URL=s3://HOST:PORT/BUCKET and COFFRE_S3_KEY_FILE (scripts/cluster.sh provides both)\n");
		return 0;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	crypto_init();
	snprintf(base, sizeof(base), "/tmp/coffre-test-s3.XXXXXX");
	if (!mkdtemp(base))
		return 1;
	is_int(chunk_s3_parse_url(&cfg, url), 0, "COFFRE_S3_URL parses");
	is_int(chunk_s3_read_key_file(&cfg, key_file), 0,
	       "COFFRE_S3_KEY_FILE reads");
	snprintf(cfg.prefix, sizeof(cfg.prefix), "test-%ld-%d/",
		 (long)time(NULL), (int)getpid());
	snprintf(cfg.spool_dir, sizeof(cfg.spool_dir), "%s/spool", base);
	cfg.max_keys = 2;
	crypto_key_new_random(&k);
	if (chunk_s3_new(&be, &cfg) < 0 || chunkstore_new(&cs, be, &k) < 0) {
		ok(0, "open the S3 chunk store: %s", err_msg());
		return tap_done();
	}
	for (int i = 0; i < N; i++) {
		fill(data[i], sizeof(data[i]), 300 + (uint32_t)i);
		hash_buf(&ids[i], data[i], sizeof(data[i]));
		is_int(chunkstore_has(cs, &ids[i]), 0, "chunk %d absent first",
		       i);
		if (!is_int(put(cs, &ids[i], data[i], sizeof(data[i])), 0,
			    "chunk %d stored", i))
			diag("%s", err_msg());
	}
	got = NULL;
	is_int(chunkstore_get(cs, &ids[2], &got, &len), 0, "chunk 2 read back");
	ok(got && len == sizeof(data[2]) && !memcmp(got, data[2], len),
	   "...byte for byte");
	free(got);
	is_int(chunkstore_size(cs, &ids[2], &size), 0, "chunk 2 stat");
	is_int((long long)size, (long long)sizeof(data[2]), "...its size");
	chunkstore_foreach(cs, count_cb, &n);
	is_int(n, N, "list, two names a page, finds all %d", N);
	hash_buf(&bad, "other", 5);
	is_int(put(cs, &bad, data[0], sizeof(data[0])), -EBADMSG,
	       "a body that does not hash to its id is refused");
	is_int(chunkstore_has(cs, &bad), 0, "...and nothing was sent");
	got = NULL;
	is_int(chunkstore_get(cs, &bad, &got, &len), -ENOENT,
	       "an absent chunk is -ENOENT (404)");
	check_has_many(cs, ids);
	check_unreachable(&cfg, &k, ids);
	for (int i = 0; i < N; i++)
		is_int(chunkstore_delete(cs, &ids[i]), 0, "chunk %d deleted",
		       i);
	n = 0;
	chunkstore_foreach(cs, count_cb, &n);
	is_int(n, 0, "nothing left under the test's prefix");
	chunkstore_free(cs);
	crypto_key_release(&k);
	rm_rf(base);
	curl_global_cleanup();
	return tap_done();
}
