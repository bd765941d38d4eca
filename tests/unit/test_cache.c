/*
 * The chunk cache: put, read and get back; nothing in clear on disk;
 * eviction keeps the total under the bound and drops the least recently
 * used first, also across a reopen; a tampered file gives -EBADMSG and is
 * removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/store/cache.h"
#include "common/chunker.h"
#include "common/crypto.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "tests/lib/tap.h"

#define CHUNK (64u * 1024)

static char tmpdir[] = "/tmp/test_cache.XXXXXX";

/* Total bytes and number of files under DIR/chunks; the path of one file
 * in *one when asked. */
static uint64_t disk_usage(const char *dir, int *nfiles, char *one,
			   size_t onelen)
{
	char path[512];
	uint64_t total = 0;
	DIR *top, *sub;
	struct dirent *d, *f;

	*nfiles = 0;
	snprintf(path, sizeof(path), "%s/chunks", dir);
	top = opendir(path);
	if (!top)
		return 0;
	while ((d = readdir(top))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/chunks/%s", dir, d->d_name);
		sub = opendir(path);
		if (!sub)
			continue;
		while ((f = readdir(sub))) {
			struct stat sb;
			char fp[800];

			if (f->d_name[0] == '.')
				continue;
			snprintf(fp, sizeof(fp), "%s/%s", path, f->d_name);
			if (stat(fp, &sb) == 0) {
				total += (uint64_t)sb.st_size;
				(*nfiles)++;
				if (one)
					snprintf(one, onelen, "%s", fp);
			}
		}
		closedir(sub);
	}
	closedir(top);
	return total;
}

static void make_chunk(uint8_t *p, size_t n, int seed, struct obj_id *id)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7);
	snprintf((char *)p, n, "MARKER-cache-%d", seed);
	hash_buf(id, p, n);
}

static void test_cache_basic(const struct crypto_key *key)
{
	static uint8_t data[CHUNK], back[CHUNK];
	struct cache *c = NULL;
	struct obj_id id, absent;
	uint8_t *whole = NULL;
	size_t len = 0;
	char one[800] = "", *raw = NULL;
	size_t rawlen;
	int nfiles;

	is_int(cache_open(&c, tmpdir, key, 0), 0, "open unbounded");
	make_chunk(data, sizeof(data), 1, &id);
	make_chunk(back, 10, 2, &absent);
	is_int(cache_has(c, &id), 0, "not there yet");
	is_int(cache_put(c, &id, data, sizeof(data)), 0, "put");
	is_int(cache_put(c, &id, data, sizeof(data)), 0,
	       "put again: idempotent");
	is_int(cache_has(c, &id), 1, "there now");
	is_int(cache_read(c, &id, 1000, back, 5000), 5000, "read 5000 at 1000");
	ok(!memcmp(back, data + 1000, 5000), "same bytes");
	is_int(cache_read(c, &id, CHUNK - 10, back, 5000), 10,
	       "short read at the end");
	is_int(cache_read(c, &id, CHUNK + 10, back, 5000), 0,
	       "read past the end");
	is_int(cache_get(c, &id, &whole, &len), 0, "get");
	ok(len == CHUNK && whole && !memcmp(whole, data, CHUNK), "whole chunk");
	free(whole);
	is_int(cache_read(c, &absent, 0, back, 10), -ENOENT, "absent: -ENOENT");
	is_int(cache_put(c, &id, data, CHUNK_MAX + 1), -E2BIG,
	       "over CHUNK_MAX: -E2BIG");
	cache_free(c);

	is_int(disk_usage(tmpdir, &nfiles, one, sizeof(one)),
	       CHUNK + CRYPTO_SEAL_OVERHEAD, "one sealed file on disk");
	is_int(nfiles, 1, "one file");
	if (file_read_all(one, 1 << 20, &raw, &rawlen) == 0) {
		ok(!memmem(raw, rawlen, "MARKER-cache", 12),
		   "content is not in clear");
		free(raw);
	}
	{
		char hex[OBJ_ID_HEX_LEN + 1];

		obj_id_to_hex(&id, hex);
		ok(!strstr(one, hex), "the file name is not the chunk id");
	}

	c = NULL;
	is_int(cache_open(&c, tmpdir, key, 0), 0, "reopen");
	is_int(cache_has(c, &id), 1, "still there after reopen");
	is_int(cache_read(c, &id, 0, back, CHUNK), CHUNK, "read after reopen");
	ok(!memcmp(back, data, CHUNK), "same bytes after reopen");
	cache_free(c);
}

static void test_cache_tamper(const struct crypto_key *key)
{
	static uint8_t data[CHUNK], back[CHUNK];
	struct cache *c = NULL;
	struct obj_id id;
	char one[800] = "";
	int nfiles, fd;

	rm_rf(tmpdir);
	mkdir(tmpdir, 0700);
	is_int(cache_open(&c, tmpdir, key, 0), 0, "open");
	make_chunk(data, sizeof(data), 3, &id);
	is_int(cache_put(c, &id, data, sizeof(data)), 0, "put");
	cache_free(c); /* no decrypted copy left in memory */
	disk_usage(tmpdir, &nfiles, one, sizeof(one));
	fd = open(one, O_RDWR);
	if (fd >= 0) {
		uint8_t b;

		if (pread(fd, &b, 1, 5000) == 1) {
			b ^= 1;
			if (pwrite(fd, &b, 1, 5000) != 1)
				diag("cannot tamper");
		}
		close(fd);
	}
	c = NULL;
	is_int(cache_open(&c, tmpdir, key, 0), 0, "reopen");
	is_int(cache_read(c, &id, 0, back, 10), -EBADMSG,
	       "tampered file: -EBADMSG");
	ok(access(one, F_OK) < 0, "the tampered file is removed");
	is_int(cache_has(c, &id), 0, "and no longer cached");
	is_int(cache_read(c, &id, 0, back, 10), -ENOENT, "then -ENOENT");
	is_int(cache_put(c, &id, data, sizeof(data)), 0, "put it again");
	is_int(cache_read(c, &id, 0, back, CHUNK), CHUNK, "reads again");
	cache_free(c);

	/* A truncated (torn) file as well. */
	disk_usage(tmpdir, &nfiles, one, sizeof(one));
	if (truncate(one, 1000) < 0)
		diag("cannot truncate");
	c = NULL;
	is_int(cache_open(&c, tmpdir, key, 0), 0, "reopen");
	is_int(cache_get(c, &id, &(uint8_t *){ NULL }, &(size_t){ 0 }),
	       -EBADMSG, "torn file: -EBADMSG");
	ok(access(one, F_OK) < 0, "the torn file is removed");
	cache_free(c);
}

static void test_cache_eviction(const struct crypto_key *key)
{
	static uint8_t data[CHUNK], back[16];
	const uint64_t file = CHUNK + CRYPTO_SEAL_OVERHEAD;
	const uint64_t max = 5 * file + 100;
	struct cache *c = NULL;
	struct obj_id ids[10];
	int nfiles, kept;
	uint64_t used;

	rm_rf(tmpdir);
	mkdir(tmpdir, 0700);
	is_int(cache_open(&c, tmpdir, key, max), 0, "open bounded to 5 chunks");
	for (int i = 0; i < 5; i++) {
		make_chunk(data, sizeof(data), 10 + i, &ids[i]);
		cache_put(c, &ids[i], data, sizeof(data));
	}
	/* Use chunk 0 so chunk 1 becomes the least recently used. */
	is_int(cache_read(c, &ids[0], 0, back, sizeof(back)), sizeof(back),
	       "use chunk 0");
	make_chunk(data, sizeof(data), 15, &ids[5]);
	is_int(cache_put(c, &ids[5], data, sizeof(data)), 0, "put a sixth");
	used = disk_usage(tmpdir, &nfiles, NULL, 0);
	ok(used <= max, "disk use %llu stays under %llu",
	   (unsigned long long)used, (unsigned long long)max);
	is_int(nfiles, 5, "five files remain");
	is_int(cache_has(c, &ids[1]), 0, "the least recently used went first");
	ok(cache_has(c, &ids[0]) == 1 && cache_has(c, &ids[5]) == 1,
	   "the recently used and the new one stay");
	for (int i = 6; i < 10; i++) {
		make_chunk(data, sizeof(data), 10 + i, &ids[i]);
		cache_put(c, &ids[i], data, sizeof(data));
	}
	used = disk_usage(tmpdir, &nfiles, NULL, 0);
	ok(used <= max && nfiles == 5, "still bounded after more puts");
	kept = 0;
	for (int i = 5; i < 10; i++)
		kept += cache_has(c, &ids[i]);
	is_int(kept, 5, "the five newest are kept");
	cache_free(c);

	/* A reopen with a smaller bound evicts by file age. */
	c = NULL;
	is_int(cache_open(&c, tmpdir, key, 2 * file), 0, "reopen smaller");
	used = disk_usage(tmpdir, &nfiles, NULL, 0);
	ok(used <= 2 * file && nfiles == 2, "reopen evicts down to the bound");
	cache_free(c);
}

/* Reads of a chunk after the first come from the decrypted copy in memory:
 * spoiling the file after the first read does not disturb them. */
static void test_cache_memory(const struct crypto_key *key)
{
	uint8_t *data = malloc(CHUNK_MAX), *back = malloc(128 * 1024);
	struct cache *c = NULL;
	struct obj_id id;
	char one[800] = "";
	int nfiles, bad = 0;

	rm_rf(tmpdir);
	mkdir(tmpdir, 0700);
	is_int(cache_open(&c, tmpdir, key, 0), 0, "open");
	make_chunk(data, CHUNK_MAX, 40, &id);
	is_int(cache_put(c, &id, data, CHUNK_MAX), 0, "put a 4 MiB chunk");
	is_int(cache_read(c, &id, 0, back, 128 * 1024), 128 * 1024,
	       "first 128 KiB read");
	disk_usage(tmpdir, &nfiles, one, sizeof(one));
	if (truncate(one, 100) < 0)
		diag("cannot spoil the file");
	for (uint64_t off = 0; off < CHUNK_MAX; off += 128 * 1024)
		if (cache_read(c, &id, off, back, 128 * 1024) != 128 * 1024 ||
		    memcmp(back, data + off, 128 * 1024))
			bad++;
	is_int(bad, 0, "32 more reads served without reading the file again");
	cache_free(c);
	free(data);
	free(back);
}

struct worker {
	struct cache *c;
	unsigned seed;
	int wrong;
	int errors;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	static const size_t n = 32 * 1024;
	uint8_t *data = malloc(n), *back = malloc(n);

	for (int i = 0; i < 400; i++) {
		int k = (int)(rand_r(&w->seed) % 24);
		struct obj_id id;
		ssize_t r;

		make_chunk(data, n, 100 + k, &id);
		r = cache_read(w->c, &id, 0, back, n);
		if (r == -ENOENT) {
			if (cache_put(w->c, &id, data, n) < 0)
				w->errors++;
		} else if (r != (ssize_t)n) {
			w->errors++;
		} else if (memcmp(back, data, n)) {
			w->wrong++;
		}
	}
	free(data);
	free(back);
	return NULL;
}

static void test_cache_threads(const struct crypto_key *key)
{
	const uint64_t max = 6 * (32 * 1024 + CRYPTO_SEAL_OVERHEAD);
	struct cache *c = NULL;
	struct worker w[4];
	pthread_t th[4];
	int wrong = 0, errors = 0, nfiles;

	rm_rf(tmpdir);
	mkdir(tmpdir, 0700);
	is_int(cache_open(&c, tmpdir, key, max), 0, "open bounded to 6 chunks");
	for (int i = 0; i < 4; i++) {
		w[i].c = c;
		w[i].seed = (unsigned)i + 1;
		w[i].wrong = w[i].errors = 0;
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		wrong += w[i].wrong;
		errors += w[i].errors;
	}
	is_int(wrong, 0, "4 threads reading and putting: never wrong bytes");
	is_int(errors, 0, "no error but -ENOENT for evicted chunks");
	ok(disk_usage(tmpdir, &nfiles, NULL, 0) <= max,
	   "the bound holds under concurrency");
	cache_free(c);
}

int main(void)
{
	struct crypto_key key;

	if (crypto_init() < 0 || !mkdtemp(tmpdir))
		tap_skip_all("no crypto or no temp dir");
	crypto_key_new_random(&key);
	test_cache_basic(&key);
	test_cache_tamper(&key);
	test_cache_eviction(&key);
	test_cache_memory(&key);
	test_cache_threads(&key);
	crypto_key_release(&key);
	rm_rf(tmpdir);
	return tap_done();
}
