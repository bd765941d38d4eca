/*
 * Staging files against an in-memory model: random writes, reads and
 * truncates over a fake base of random bytes must read back exactly what the
 * model says, before and after a reopen; tampering is detected; nothing
 * written reaches the disk in clear.  A recycled staging file is new
 * content: empty, and deaf to the slots of its past; the pool of retired
 * files frees, keeps and unlinks them as it promises.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/store/staging.h"
#include "client/store/staging_pool.h"
#include "common/crypto.h"
#include "common/fsutil.h"
#include "tests/lib/tap.h"

#define MODEL_MAX  (3u * 1024 * 1024)
#define SLOT	   (STAGING_BLOCK + CRYPTO_SEAL_OVERHEAD)
#define HDR_SLOT   4096u
#define HDR_SEALED (64 + CRYPTO_SEAL_OVERHEAD)

struct fake_base {
	uint8_t *data;
	size_t size;
	unsigned calls;
};

static ssize_t base_read(void *arg, uint64_t off, void *buf, size_t n)
{
	struct fake_base *fb = arg;

	fb->calls++;
	if (off >= fb->size)
		return 0;
	if (fb->size - off < n)
		n = fb->size - (size_t)off;
	memcpy(buf, fb->data + off, n);
	return (ssize_t)n;
}

static uint64_t rnd(uint64_t n)
{
	uint64_t v;

	crypto_random(&v, sizeof(v));
	return n ? v % n : 0;
}

static char tmpdir[] = "/tmp/test_staging.XXXXXX";

static char *tpath(const char *name)
{
	static char p[256];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

/* Compare the whole staging content with the model. */
static int same_as_model(struct staging *st, const uint8_t *model,
			 uint64_t size, struct fake_base *fb)
{
	uint8_t *buf = malloc(size + 1);
	ssize_t r;
	int same;

	r = staging_read(st, buf, size + 1, 0, base_read, fb);
	same = r == (ssize_t)size && memcmp(buf, model, size) == 0;
	if (!same)
		diag("read %zd of %llu bytes", r, (unsigned long long)size);
	free(buf);
	return same;
}

static void test_staging_random(const struct crypto_key *key)
{
	struct fake_base fb = { 0 };
	struct staging *st = NULL;
	uint8_t *model = calloc(1, MODEL_MAX), *buf = malloc(MODEL_MAX);
	uint64_t size;
	int bad_read = 0, bad_write = 0, bad_trunc = 0, reopens = 0;

	fb.size = 1000 * 1000 + 123;
	fb.data = malloc(fb.size);
	crypto_random(fb.data, fb.size);
	memcpy(model, fb.data, fb.size);
	size = fb.size;
	is_int(staging_create(&st, tpath("random"), key, fb.size), 0,
	       "create over a base of %zu bytes", fb.size);
	ok(staging_unchanged(st), "a new staging file is unchanged");
	ok(same_as_model(st, model, size, &fb), "reads the base untouched");

	for (int i = 0; i < 3000; i++) {
		unsigned what = (unsigned)rnd(10);
		/* Past the end by up to three blocks, but inside the model:
		 * an offset beyond it would wrap the length below. */
		uint64_t span = size + 3 * STAGING_BLOCK;
		uint64_t off = rnd(span < MODEL_MAX ? span : MODEL_MAX);
		size_t n = rnd(4) == 0 ? (size_t)rnd(300000) :
					 (size_t)rnd(3 * STAGING_BLOCK) + 1;

		if (off + n > MODEL_MAX)
			n = MODEL_MAX - off;
		if (what < 5) {
			crypto_random(buf, n);
			if (staging_write(st, buf, n, off, base_read, &fb) !=
			    (ssize_t)n)
				bad_write++;
			if (off > size)
				memset(model + size, 0, off - size);
			memcpy(model + off, buf, n);
			if (off + n > size)
				size = off + n;
		} else if (what < 8) {
			ssize_t want =
				off >= size ?
					0 :
					(ssize_t)(size - off < n ? size - off :
								   n);
			ssize_t r =
				staging_read(st, buf, n, off, base_read, &fb);

			if (r != want || memcmp(buf, model + off, (size_t)want))
				bad_read++;
		} else if (what < 9) {
			uint64_t ns =
				rnd(4) == 0 ? rnd(MODEL_MAX) : rnd(size + 1);

			if (staging_truncate(st, ns) < 0)
				bad_trunc++;
			if (ns > size)
				memset(model + size, 0, ns - size);
			size = ns;
		} else if (rnd(20) == 0) {
			staging_close(st);
			st = NULL;
			if (staging_open(&st, tpath("random"), key) < 0)
				break;
			reopens++;
		}
		if (staging_size(st) != size) {
			diag("size %llu, model %llu after op %d",
			     (unsigned long long)staging_size(st),
			     (unsigned long long)size, i);
			break;
		}
	}
	ok(st != NULL, "every reopen works (%d reopens)", reopens);
	is_int(bad_write, 0, "every write returns its length");
	is_int(bad_read, 0, "every read matches the model");
	is_int(bad_trunc, 0, "every truncate works");
	if (st) {
		is_int(staging_size(st), size, "size matches the model");
		ok(same_as_model(st, model, size, &fb), "content matches");
		ok(!staging_unchanged(st), "changed after writes");
		staging_close(st);
	}
	st = NULL;
	is_int(staging_open(&st, tpath("random"), key), 0, "reopen");
	if (st) {
		is_int(staging_size(st), size, "size survives the reopen");
		ok(same_as_model(st, model, size, &fb),
		   "content survives the reopen");
		is_int(staging_sync(st), 0, "sync");
		staging_close(st);
	}
	free(fb.data);
	free(model);
	free(buf);
}

static void test_staging_truncate_extend(const struct crypto_key *key)
{
	struct fake_base fb = { 0 };
	struct staging *st = NULL;
	uint8_t buf[3 * STAGING_BLOCK], zero[3 * STAGING_BLOCK] = { 0 };
	uint8_t one[100];

	fb.size = 3 * STAGING_BLOCK;
	fb.data = malloc(fb.size);
	memset(fb.data, 0xab, fb.size);
	memset(one, 0xcd, sizeof(one));
	is_int(staging_create(&st, tpath("trunc"), key, fb.size), 0, "create");
	/* A written block and base blocks, cut mid-block, then extended. */
	is_int(staging_write(st, one, sizeof(one), STAGING_BLOCK + 10,
			     base_read, &fb),
	       sizeof(one), "write");
	is_int(staging_truncate(st, 20), 0, "truncate to 20 bytes");
	is_int(staging_truncate(st, sizeof(buf)), 0, "extend again");
	is_int(staging_read(st, buf, sizeof(buf), 0, base_read, &fb),
	       sizeof(buf), "read the whole file");
	ok(buf[0] == 0xab && buf[19] == 0xab, "bytes before the cut stay");
	ok(!memcmp(buf + 20, zero, sizeof(buf) - 20),
	   "bytes past the cut read as zeros, not base");
	/* Same with the cut inside a written block. */
	is_int(staging_write(st, one, sizeof(one), 0, base_read, &fb),
	       sizeof(one), "write block 0");
	is_int(staging_truncate(st, 50), 0, "cut inside a written block");
	is_int(staging_write(st, one, 1, 2 * STAGING_BLOCK, base_read, &fb), 1,
	       "extend with a write past the end");
	is_int(staging_read(st, buf, sizeof(buf), 0, base_read, &fb),
	       2 * STAGING_BLOCK + 1, "read");
	ok(buf[49] == 0xcd && !memcmp(buf + 50, zero, 2 * STAGING_BLOCK - 50),
	   "the gap after a write past the end reads as zeros");
	staging_close(st);
	free(fb.data);
}

static void test_staging_base_calls(const struct crypto_key *key)
{
	struct fake_base fb = { 0 };
	struct staging *st = NULL;
	uint8_t *buf;
	uint8_t x = 7;

	fb.size = 1 << 20;
	fb.data = malloc(fb.size);
	buf = malloc(fb.size);
	crypto_random(fb.data, fb.size);
	is_int(staging_create(&st, tpath("calls"), key, fb.size), 0, "create");
	is_int(staging_read(st, buf, fb.size, 0, base_read, &fb), fb.size,
	       "read 1 MiB of base");
	is_int(fb.calls, 1, "one base call for one unwritten run");
	is_int(staging_write(st, &x, 1, fb.size / 2, base_read, &fb), 1,
	       "write one byte in the middle");
	ok(!staging_unchanged(st), "no longer unchanged");
	fb.calls = 0;
	is_int(staging_read(st, buf, fb.size, 0, base_read, &fb), fb.size,
	       "read again");
	is_int(fb.calls, 2, "two base calls around the written block");
	ok(buf[fb.size / 2] == 7 && !memcmp(buf, fb.data, fb.size / 2) &&
		   !memcmp(buf + fb.size / 2 + 1, fb.data + fb.size / 2 + 1,
			   fb.size / 2 - 1),
	   "the written byte shows, base around it");
	fb.calls = 0;
	is_int(staging_write(st, buf, 4 * STAGING_BLOCK, 0, base_read, &fb),
	       4 * STAGING_BLOCK, "aligned full-block write");
	is_int(fb.calls, 0, "full blocks do not read the base");
	staging_close(st);
	free(fb.data);
	free(buf);
}

static int file_contains(const char *path, const void *needle, size_t n)
{
	char *data = NULL;
	size_t len = 0;
	int found = 0;

	if (file_read_all(path, 64u << 20, &data, &len) < 0)
		return -1;
	found = memmem(data, len, needle, n) != NULL;
	free(data);
	return found;
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b = 0;

	if (fd < 0)
		return;
	if (pread(fd, &b, 1, off) == 1) {
		b ^= 0x40;
		if (pwrite(fd, &b, 1, off) != 1)
			diag("cannot tamper");
	}
	close(fd);
}

static void test_staging_at_rest(const struct crypto_key *key)
{
	static const char marker[] = "coffre-staging-MARKER-5f0c9d";
	struct staging *st = NULL;
	uint8_t buf[64 * 1024];
	char *copy = NULL;
	size_t len;
	ssize_t r;

	for (size_t i = 0; i + sizeof(marker) <= sizeof(buf);
	     i += sizeof(marker))
		memcpy(buf + i, marker, sizeof(marker));
	is_int(staging_create(&st, tpath("rest"), key, 0), 0, "create empty");
	is_int(staging_write(st, buf, sizeof(buf), 0, NULL, NULL), sizeof(buf),
	       "write 64 KiB of markers");
	staging_close(st);
	is_int(file_contains(tpath("rest"), marker, sizeof(marker) - 1), 0,
	       "the marker does not appear in the staging file");

	/* A slot from another staging file fails, even at the same index. */
	is_int(staging_create(&st, tpath("other"), key, 0), 0, "create other");
	is_int(staging_write(st, buf, sizeof(buf), 0, NULL, NULL), sizeof(buf),
	       "write the other");
	staging_close(st);
	if (file_read_all(tpath("other"), 1 << 20, &copy, &len) == 0) {
		int fd = open(tpath("rest"), O_RDWR);

		if (fd >= 0) {
			if (pwrite(fd, copy + HDR_SLOT, SLOT, HDR_SLOT) != SLOT)
				diag("cannot swap slot");
			close(fd);
		}
		free(copy);
	}
	is_int(staging_open(&st, tpath("rest"), key), 0, "reopen");
	r = staging_read(st, buf, 100, 0, NULL, NULL);
	is_int(r, -EBADMSG, "a slot from another staging file: -EBADMSG");
	r = staging_read(st, buf, 100, STAGING_BLOCK, NULL, NULL);
	is_int(r, 100, "other blocks still read");
	staging_close(st);

	flip_byte(tpath("other"), HDR_SLOT + 3 * SLOT + 100);
	is_int(staging_open(&st, tpath("other"), key), 0, "open tampered");
	r = staging_read(st, buf, sizeof(buf), 0, NULL, NULL);
	is_int(r, -EBADMSG, "a tampered slot byte: -EBADMSG");
	r = staging_read(st, buf, STAGING_BLOCK, 3 * STAGING_BLOCK, NULL, NULL);
	is_int(r, -EBADMSG, "reading that block alone: -EBADMSG");
	staging_close(st);

	flip_byte(tpath("other"), 30);
	st = NULL;
	is_int(staging_open(&st, tpath("other"), key), -EBADMSG,
	       "a tampered header: open gives -EBADMSG");
	ok(st == NULL, "and no handle");
}

static int read_hdr(const char *path, uint8_t *hdr, size_t n)
{
	int fd = open(path, O_RDONLY), ok_ = 0;

	if (fd >= 0) {
		ok_ = pread(fd, hdr, n, 0) == (ssize_t)n;
		close(fd);
	}
	return ok_;
}

static int write_hdr(const char *path, const uint8_t *hdr, size_t n)
{
	int fd = open(path, O_RDWR), ok_ = 0;

	if (fd >= 0) {
		ok_ = pwrite(fd, hdr, n, 0) == (ssize_t)n;
		close(fd);
	}
	return ok_;
}

/*
 * A process killed between a write's data and its header update leaves
 * slots past the recorded size, or bytes past it in the last block.  Put
 * back an older header to make that state, and check that reopening cuts
 * them so a later extension reads zeros.
 */
static void test_staging_crash_repair(const struct crypto_key *key)
{
	uint8_t hdr[HDR_SEALED], buf[4 * STAGING_BLOCK];
	uint8_t zero[4 * STAGING_BLOCK] = { 0 };
	struct staging *st = NULL;
	struct stat sb;

	memset(buf, 0x5a, sizeof(buf));
	is_int(staging_create(&st, tpath("crash"), key, 0), 0, "create");
	staging_close(st);
	ok(read_hdr(tpath("crash"), hdr, sizeof(hdr)), "keep the empty header");
	is_int(staging_open(&st, tpath("crash"), key), 0, "open");
	is_int(staging_write(st, buf, sizeof(buf), 0, NULL, NULL), sizeof(buf),
	       "write 4 blocks");
	staging_close(st);
	ok(write_hdr(tpath("crash"), hdr, sizeof(hdr)),
	   "header of size 0 put back");
	is_int(staging_open(&st, tpath("crash"), key), 0, "reopen");
	is_int(staging_size(st), 0, "size is the header's");
	ok(stat(tpath("crash"), &sb) == 0 && sb.st_size <= HDR_SLOT,
	   "slots past the end are cut at open");
	is_int(staging_truncate(st, sizeof(buf)), 0, "extend to 4 blocks");
	memset(buf, 1, sizeof(buf));
	is_int(staging_read(st, buf, sizeof(buf), 0, NULL, NULL), sizeof(buf),
	       "read");
	ok(!memcmp(buf, zero, sizeof(buf)), "the cut slots read as zeros");
	staging_close(st);

	/* Bytes past size inside the last written block. */
	is_int(staging_open(&st, tpath("crash"), key), 0, "open");
	is_int(staging_truncate(st, 0), 0, "empty it");
	memset(buf, 0x5a, sizeof(buf));
	is_int(staging_write(st, buf, 100, 0, NULL, NULL), 100, "write 100");
	staging_close(st);
	ok(read_hdr(tpath("crash"), hdr, sizeof(hdr)), "keep the 100 header");
	is_int(staging_open(&st, tpath("crash"), key), 0, "open");
	is_int(staging_write(st, buf, STAGING_BLOCK, 0, NULL, NULL),
	       STAGING_BLOCK, "fill block 0");
	staging_close(st);
	ok(write_hdr(tpath("crash"), hdr, sizeof(hdr)),
	   "header of size 100 put back");
	is_int(staging_open(&st, tpath("crash"), key), 0, "reopen");
	is_int(staging_size(st), 100, "size 100");
	is_int(staging_truncate(st, STAGING_BLOCK), 0, "extend to one block");
	memset(buf, 1, sizeof(buf));
	is_int(staging_read(st, buf, STAGING_BLOCK, 0, NULL, NULL),
	       STAGING_BLOCK, "read");
	ok(buf[99] == 0x5a && !memcmp(buf + 100, zero, STAGING_BLOCK - 100),
	   "bytes past the old size read as zeros");
	staging_close(st);
}

/* The per-file block key comes from crypto_key_derive_bytes: it must be
 * the key crypto_key_derive gives, or files staged before would not open. */
static void test_staging_derive(const struct crypto_key *key)
{
	uint8_t k[CRYPTO_KEY_LEN];
	struct crypto_key sub;

	is_int(crypto_key_derive(&sub, key, "coffre staging blocks v2", "ab"),
	       0, "derive a subkey");
	is_int(crypto_key_derive_bytes(k, key, "coffre staging blocks v2",
				       "ab"),
	       0, "derive it into bytes");
	ok(!memcmp(k, sub.k, sizeof(k)), "the same key both ways");
	crypto_key_release(&sub);
}

static void test_staging_misc(const struct crypto_key *key)
{
	struct staging *st = NULL;
	struct crypto_key other;
	struct stat sb;

	is_int(staging_create(&st, tpath("misc"), key, 0), 0, "create");
	ok(stat(tpath("misc"), &sb) == 0 && (sb.st_mode & 0777) == 0600,
	   "staging file is 0600");
	staging_close(st);
	is_int(staging_create(&st, tpath("misc"), key, 0), -EEXIST,
	       "create over an existing file: -EEXIST");
	crypto_key_new_random(&other);
	is_int(staging_open(&st, tpath("misc"), &other), -EBADMSG,
	       "open with the wrong key: -EBADMSG");
	crypto_key_release(&other);
	is_int(staging_open(&st, tpath("nonexistent"), key), -ENOENT,
	       "open a missing file: -ENOENT");
}

static int exists(const char *name)
{
	struct stat sb;

	return stat(tpath(name), &sb) == 0;
}

static void test_staging_recycle(const struct crypto_key *key)
{
	uint8_t buf[3 * STAGING_BLOCK], old[SLOT];
	uint8_t zero[3 * STAGING_BLOCK] = { 0 };
	struct fake_base fb = { 0 };
	struct staging *st = NULL;
	struct stat sb;
	int fd;

	crypto_random(buf, sizeof(buf));
	is_int(staging_create(&st, tpath("rec"), key, 0), 0, "create");
	is_int(staging_write(st, buf, sizeof(buf), 0, NULL, NULL), sizeof(buf),
	       "write 3 blocks");
	staging_close(st);
	fd = open(tpath("rec"), O_RDONLY);
	ok(fd >= 0 && pread(fd, old, SLOT, HDR_SLOT + SLOT) == SLOT,
	   "keep the sealed slot of block 1");
	if (fd >= 0)
		close(fd);

	is_int(staging_recycle(&st, tpath("rec"), key, 0), 0, "recycle");
	is_int(staging_size(st), 0, "a recycled file is empty");
	ok(stat(tpath("rec"), &sb) == 0 && sb.st_size <= HDR_SLOT,
	   "its old slots are cut");
	is_int(staging_truncate(st, sizeof(buf)), 0, "extend to 3 blocks");
	memset(buf, 1, sizeof(buf));
	is_int(staging_read(st, buf, sizeof(buf), 0, NULL, NULL), sizeof(buf),
	       "read");
	ok(!memcmp(buf, zero, sizeof(buf)), "it reads zeros");
	staging_close(st);
	is_int(staging_open(&st, tpath("rec"), key), 0,
	       "it authenticates when reopened");
	is_int(staging_size(st), sizeof(buf), "with the new size");
	staging_close(st);

	/* The old slot put back where it was: another file id in its
	 * additional data, so it fails instead of reading as content. */
	fd = open(tpath("rec"), O_WRONLY);
	ok(fd >= 0 && pwrite(fd, old, SLOT, HDR_SLOT + SLOT) == SLOT,
	   "plant the old slot back");
	if (fd >= 0)
		close(fd);
	is_int(staging_open(&st, tpath("rec"), key), 0, "open");
	is_int(staging_read(st, buf, sizeof(buf), 0, NULL, NULL), -EBADMSG,
	       "the old slot cannot be read back: -EBADMSG");
	staging_close(st);

	/* Recycled over a base: unwritten blocks come from the base. */
	fb.size = 2 * STAGING_BLOCK;
	fb.data = malloc(fb.size);
	crypto_random(fb.data, fb.size);
	is_int(staging_recycle(&st, tpath("rec"), key, fb.size), 0,
	       "recycle over a base");
	ok(same_as_model(st, fb.data, fb.size, &fb), "it reads the base");
	staging_close(st);
	free(fb.data);

	is_int(staging_recycle(&st, tpath("gone"), key, 0), -ENOENT,
	       "recycle a missing file: -ENOENT");
	ok(!exists("gone"), "and nothing is left behind");
}

static void test_staging_pool(const struct crypto_key *key)
{
	static const char *names[] = { "a", "b", "c", "d" };
	struct staging_pool *sp = NULL;
	struct staging *st = NULL;
	char name[STAGING_POOL_NAME_MAX], first[STAGING_POOL_NAME_MAX];
	uint8_t buf[2 * STAGING_BLOCK] = { 1 };
	struct stat sb;
	int all = 1;

	is_int(staging_pool_new(&sp, tmpdir, 2), 0, "pool of 2");
	for (size_t i = 0; i < 4; i++) {
		all &= staging_create(&st, tpath(names[i]), key, 0) == 0;
		staging_close(st);
	}
	ok(all, "4 staging files");
	staging_pool_retire(sp, "a", 1);
	staging_pool_retire(sp, "b", 1);
	staging_pool_retire(sp, "c", 1);
	staging_pool_retire(sp, "d", 0);
	ok(exists("a") && exists("b") && exists("c") && exists("d"),
	   "retiring touches no file");
	is_int(staging_pool_count(sp), 0, "nor frees a name yet");
	staging_pool_reap(sp);
	is_int(staging_pool_count(sp), 2, "reap frees as many as fit");
	ok(exists("a") && exists("b"), "the free files stay");
	ok(!exists("c") && !exists("d"),
	   "past the cap or not reusable: unlinked");

	is_int(staging_pool_take(sp, name, sizeof(name)), 1, "take one");
	ok(!strcmp(name, "a") || !strcmp(name, "b"), "a free name");
	is_int(staging_recycle(&st, tpath(name), key, 0), 0,
	       "recycle the taken file");
	staging_close(st);
	memcpy(first, name, sizeof(first));
	is_int(staging_pool_take(sp, name, sizeof(name)), 1, "take another");
	is_int(staging_pool_take(sp, name, sizeof(name)), 0,
	       "an empty pool gives none");

	ok(mkdir(tpath("kept"), 0700) == 0, "kept/ folder");
	is_int(staging_create(&st, tpath("kept/e"), key, 0), 0,
	       "a staging file in kept/");
	staging_close(st);
	staging_pool_retire(sp, "kept/e", 1);
	staging_pool_reap(sp);
	is_int(staging_pool_count(sp), 0, "a name with a folder is not kept");
	ok(!exists("kept/e"), "it is unlinked");

	staging_pool_retire(sp, name, 1);
	staging_pool_reap(sp);
	is_int(staging_pool_count(sp), 1, "freed again");
	staging_pool_retire(sp, first, 0);
	staging_pool_free(sp);
	ok(!exists("a") && !exists("b"),
	   "freeing the pool unlinks what it held");
	staging_pool_free(NULL);

	/* A free file holds no disk space while it waits. */
	is_int(staging_pool_new(&sp, tmpdir, 10), 0, "another pool");
	all = staging_create(&st, tpath("a"), key, 0) == 0 &&
	      staging_write(st, buf, sizeof(buf), 0, NULL, NULL) ==
		      (ssize_t)sizeof(buf);
	staging_close(st);
	ok(all, "a staging file with content");
	staging_pool_retire(sp, "a", 1);
	staging_pool_reap(sp);
	ok(stat(tpath("a"), &sb) == 0 && sb.st_size == 0 && sb.st_blocks == 0,
	   "a free file is cut to nothing");
	staging_pool_free(sp);
	ok(!exists("a"), "freed");
}

/* A source staging file at name over fb's fresh random base (fb->data,
 * fb->size allocated here), with 3 blocks written at 5 blocks + 100 and cut
 * to 40 blocks + 7; model gets what it reads as. */
static struct staging *source_over_base(const struct crypto_key *key,
					const char *name, const char *what,
					struct fake_base *fb, uint8_t *model)
{
	uint8_t x[3 * STAGING_BLOCK];
	struct staging *src = NULL;

	fb->data = malloc(fb->size);
	crypto_random(fb->data, fb->size);
	memcpy(model, fb->data, fb->size);
	is_int(staging_create(&src, tpath(name), key, fb->size), 0,
	       "%s: create the source over a base", what);
	crypto_random(x, sizeof(x));
	is_int(staging_write(src, x, sizeof(x), 5 * STAGING_BLOCK + 100,
			     base_read, fb),
	       sizeof(x), "%s: write into the source", what);
	memcpy(model + 5 * STAGING_BLOCK + 100, x, sizeof(x));
	is_int(staging_truncate(src, 40 * STAGING_BLOCK + 7), 0,
	       "%s: cut the source", what);
	return src;
}

/* A clone holds what its source holds, over the same base; a write to the
 * clone leaves the source as it was; the clone reopens after a restart. */
static void test_staging_clone(const struct crypto_key *key)
{
	struct fake_base fb = { NULL, 64 * STAGING_BLOCK, 0 };
	uint8_t *model = malloc(fb.size), *orig = malloc(fb.size);
	uint8_t x[3 * STAGING_BLOCK];
	struct staging *src = NULL, *cl = NULL, *re = NULL;

	src = source_over_base(key, "csrc", "clone", &fb, model);
	memcpy(orig, model, fb.size);
	is_int(staging_clone(&cl, tpath("cclone"), src), 0, "clone it");
	ok(same_as_model(cl, model, 40 * STAGING_BLOCK + 7, &fb),
	   "the clone reads as the source");
	crypto_random(x, sizeof(x));
	is_int(staging_write(cl, x, sizeof(x), 6 * STAGING_BLOCK, base_read,
			     &fb),
	       sizeof(x), "write into the clone");
	memcpy(model + 6 * STAGING_BLOCK, x, sizeof(x));
	ok(same_as_model(cl, model, 40 * STAGING_BLOCK + 7, &fb),
	   "the clone reads its write");
	ok(same_as_model(src, orig, 40 * STAGING_BLOCK + 7, &fb),
	   "the source is untouched");
	is_int(staging_clone(&re, tpath("cclone"), src), -EEXIST,
	       "a clone never overwrites a file");
	staging_close(cl);
	is_int(staging_open(&re, tpath("cclone"), key), 0, "the clone reopens");
	ok(re && same_as_model(re, model, 40 * STAGING_BLOCK + 7, &fb),
	   "... with its content");
	staging_close(re);
	staging_close(src);
	free(fb.data);
	free(model);
	free(orig);
}

/* Make layer's lower a second name of other instead. */
static int replace_lower(const char *layer, const char *other)
{
	char lp[300];

	snprintf(lp, sizeof(lp), "%s" STAGING_LOWER_SUFFIX, tpath(layer));
	return unlink(lp) == 0 && link(tpath(other), lp) == 0 ? 0 : -1;
}

/*
 * A layered file reads all of its source, copies nothing of it, takes the
 * next writes while the source stays as it was, and outlives the source's
 * own name (unlinked, or retired to the pool, which must not cut it); a
 * clone of it shares its lower; it reopens after a restart, and a lower
 * swapped for another file fails to authenticate.
 */
static void test_staging_layer(const struct crypto_key *key)
{
	struct fake_base fb = { NULL, 64 * STAGING_BLOCK, 0 };
	uint8_t *model = malloc(fb.size + 2 * STAGING_BLOCK),
		*orig = malloc(fb.size);
	uint8_t x[3 * STAGING_BLOCK];
	struct staging *src = NULL, *ly = NULL, *re = NULL, *cl = NULL,
		       *other = NULL;
	struct staging_pool *sp = NULL;
	uint64_t size = 40 * STAGING_BLOCK + 7;
	struct stat sb;
	char lp[300];

	src = source_over_base(key, "lsrc", "layer", &fb, model);
	memcpy(orig, model, size);
	ok(!staging_is_layered(src), "a plain file is not layered");
	is_int(staging_layer(&ly, tpath("layer"), src), 0, "layer over it");
	ok(ly && staging_is_layered(ly), "the new file is layered");
	snprintf(lp, sizeof(lp), "%s" STAGING_LOWER_SUFFIX, tpath("layer"));
	ok(stat(lp, &sb) == 0 && sb.st_nlink == 2,
	   "its lower is a second name of the source's file");
	ok(stat(tpath("layer"), &sb) == 0 && sb.st_blocks <= 8,
	   "nothing of the source was copied");
	ok(same_as_model(ly, model, size, &fb), "it reads as the source");
	is_int(staging_unchanged(ly), 1, "unchanged until written");
	crypto_random(x, sizeof(x));
	is_int(staging_write(ly, x, sizeof(x), 39 * STAGING_BLOCK + 50,
			     base_read, &fb),
	       sizeof(x), "write across the source's end");
	memcpy(model + 39 * STAGING_BLOCK + 50, x, sizeof(x));
	size = 39 * STAGING_BLOCK + 50 + sizeof(x);
	ok(same_as_model(ly, model, size, &fb), "it reads its write");
	ok(same_as_model(src, orig, 40 * STAGING_BLOCK + 7, &fb),
	   "the source is untouched");
	is_int(staging_layer(&re, tpath("layer2"), ly), -EINVAL,
	       "a layered file is not layered again");
	ok(!exists("layer2"), "and leaves nothing behind");

	/* its clone shares the lower, through a name of its own */
	is_int(staging_clone(&cl, tpath("lclone"), ly), 0, "clone it");
	ok(cl && staging_is_layered(cl), "the clone is layered");
	ok(same_as_model(cl, model, size, &fb), "the clone reads the same");
	staging_close(cl);
	cl = NULL;

	/* the source's name goes, then its deposit is retired to the pool
	 * asking for reuse: the layer keeps its content */
	staging_close(src);
	is_int(staging_pool_new(&sp, tmpdir, 4), 0, "a pool");
	staging_pool_retire(sp, "lsrc", 1);
	staging_pool_reap(sp);
	is_int(staging_pool_count(sp), 0,
	       "a file with a second name is not taken for reuse");
	ok(!exists("lsrc"), "its own name is gone");
	ok(same_as_model(ly, model, size, &fb), "the layer still reads it");
	staging_close(ly);
	is_int(staging_open(&re, tpath("layer"), key), 0, "the layer reopens");
	ok(re && staging_is_layered(re) && same_as_model(re, model, size, &fb),
	   "... with its content, through its lower");
	staging_close(re);
	re = NULL;
	is_int(staging_open(&re, tpath("lclone"), key), 0,
	       "the clone reopens too");
	ok(re && same_as_model(re, model, size, &fb), "... the same");
	staging_close(re);
	re = NULL;

	/* a lower swapped for another staging file fails */
	is_int(staging_create(&other, tpath("lother"), key, 0), 0,
	       "another staging file");
	staging_close(other);
	is_int(replace_lower("lclone", "lother"), 0, "swap the clone's lower");
	is_int(staging_open(&re, tpath("lclone"), key), -EBADMSG,
	       "a swapped lower: -EBADMSG");
	snprintf(lp, sizeof(lp), "%s" STAGING_LOWER_SUFFIX, tpath("lclone"));
	unlink(lp);
	is_int(staging_open(&re, tpath("lclone"), key), -ENOENT,
	       "a missing lower: -ENOENT");

	/* retiring a layered file takes its lower's name with it */
	staging_pool_retire(sp, "layer", 1);
	staging_pool_retire(sp, "lclone", 0);
	staging_pool_retire(sp, "lother", 0);
	staging_pool_reap(sp);
	snprintf(lp, sizeof(lp), "%s" STAGING_LOWER_SUFFIX, tpath("layer"));
	ok(stat(lp, &sb) < 0 && errno == ENOENT,
	   "a retired layer's lower name is removed");
	is_int(staging_pool_count(sp), 1, "and the layer itself is reusable");
	staging_pool_free(sp);
	free(fb.data);
	free(model);
	free(orig);
}

int main(void)
{
	struct crypto_key key;

	if (crypto_init() < 0 || !mkdtemp(tmpdir))
		tap_skip_all("no crypto or no temp dir");
	crypto_key_new_random(&key);
	test_staging_base_calls(&key);
	test_staging_truncate_extend(&key);
	test_staging_at_rest(&key);
	test_staging_misc(&key);
	test_staging_derive(&key);
	test_staging_crash_repair(&key);
	test_staging_random(&key);
	test_staging_recycle(&key);
	test_staging_clone(&key);
	test_staging_layer(&key);
	test_staging_pool(&key);
	crypto_key_release(&key);
	rm_rf(tmpdir);
	return tap_done();
}
