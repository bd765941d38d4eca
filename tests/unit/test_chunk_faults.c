/*
 * The chunk store over the memory backend with fault injection: every step
 * of a chunk put (begin, each write, fsync, rename, commit), then every step
 * of a deposit's chunk writes, fails in turn; after each failure the chunk
 * is absent or whole and verifiable, no put is left open, and a deposit
 * whose uploads failed is refused by the ledger (an atomic deposit, or
 * none) until the retry, which then files exactly the content.
 */
#include "server/chunkstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chunker.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "server/chunk_backend.h"
#include "server/chunk_mem.h"
#include "server/ledger.h"
#include "tests/lib/tap.h"

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Write p in pieces of 10000 bytes, as the HTTP layer streams a body. */
static int put(struct chunkstore *cs, const struct obj_id *id, const uint8_t *p,
	       size_t n)
{
	struct chunkstore_writer *w;
	size_t off = 0;
	int rc;

	rc = chunkstore_writer_new(cs, id, &w);
	if (rc < 0)
		return rc;
	while (off < n) {
		size_t k = n - off < 10000 ? n - off : 10000;

		rc = chunkstore_writer_write(w, p + off, k);
		if (rc < 0) {
			chunkstore_writer_abort(w);
			return rc;
		}
		off += k;
	}
	return chunkstore_writer_finish(w);
}

/* 1 when id is absent, or held whole: it reads back as data. */
static int absent_or_whole(struct chunkstore *cs, const struct obj_id *id,
			   const uint8_t *data, size_t n)
{
	uint8_t *got = NULL;
	size_t len = 0;
	int rc = chunkstore_has(cs, id);

	if (rc == 0)
		return chunkstore_get(cs, id, &got, &len) == -ENOENT;
	if (rc != 1 || chunkstore_verify(cs, id) != 0 ||
	    chunkstore_get(cs, id, &got, &len) != 0)
		return 0;
	rc = len == n && memcmp(got, data, n) == 0;
	free(got);
	return rc;
}

static const char *const kinds[] = { "put",    "write",	 "fsync",
				     "rename", "commit", "any step" };

/*
 * Walk N over every step of kind in one put of a 200000-byte chunk (four
 * records, so twenty writes at 10000 bytes).  Returns the number of steps.
 */
static unsigned long walk_put(enum chunk_mem_step kind, int *seen_whole)
{
	static uint8_t data[200000];
	struct chunk_backend *be;
	struct chunkstore *cs;
	struct crypto_key k;
	struct obj_id id;
	unsigned long n;
	int bad = 0, rc;

	fill(data, sizeof(data), 42);
	hash_buf(&id, data, sizeof(data));
	crypto_key_new_random(&k);
	if (chunk_mem_new(&be) < 0 || chunkstore_new(&cs, be, &k) < 0)
		abort();
	for (n = 1;; n++) {
		chunk_mem_fail(be, kind, n, -EIO);
		rc = put(cs, &id, data, sizeof(data));
		if (!chunk_mem_fired(be)) {
			/* N past the last step: the put went through. */
			if (rc != 0 ||
			    !absent_or_whole(cs, &id, data, sizeof(data)))
				bad++;
			break;
		}
		if (rc == 0) {
			diag("%s %lu: the put reported success", kinds[kind],
			     n);
			bad++;
		}
		if (!absent_or_whole(cs, &id, data, sizeof(data)) ||
		    chunk_mem_open_puts(be) != 0 || chunk_mem_count(be) > 1) {
			diag("%s %lu: something half-done", kinds[kind], n);
			bad++;
		}
		if (chunkstore_has(cs, &id) == 1) {
			*seen_whole = 1;
			chunkstore_delete(cs, &id);
		}
		/* The retry a client makes goes through. */
		chunk_mem_fail(be, kind, 0, 0);
		if (put(cs, &id, data, sizeof(data)) != 0 ||
		    chunkstore_verify(cs, &id) != 0)
			bad++;
		chunkstore_delete(cs, &id);
	}
	is_int(bad, 0,
	       "put: every %s failing in turn (%lu) leaves the chunk absent or whole, and the retry stores it",
	       kinds[kind], n - 1);
	chunkstore_free(cs);
	crypto_key_release(&k);
	return n - 1;
}

static void test_chunk_faults_put(void)
{
	unsigned long steps[CHUNK_MEM_NSTEPS];
	int whole = 0;

	for (int kind = 0; kind < CHUNK_MEM_NSTEPS; kind++)
		steps[kind] = walk_put((enum chunk_mem_step)kind, &whole);
	is_int(steps[CHUNK_MEM_PUT], 1, "a put begins once");
	is_int(steps[CHUNK_MEM_WRITE], 5,
	       "a 200000-byte chunk is five writes (header, four records)");
	is_int(steps[CHUNK_MEM_FSYNC], 1, "one fsync");
	is_int(steps[CHUNK_MEM_RENAME], 1, "one rename");
	is_int(steps[CHUNK_MEM_COMMIT], 1, "one commit");
	is_int(steps[CHUNK_MEM_ANY], 9, "nine steps in all");
	ok(whole, "a failure after the rename leaves the chunk whole");
}

/* A mismatching body never reaches the backend's commit. */
static void test_chunk_faults_mismatch(void)
{
	uint8_t data[100000];
	struct chunk_backend *be;
	struct chunkstore *cs;
	struct crypto_key k;
	struct obj_id id;

	fill(data, sizeof(data), 7);
	hash_buf(&id, data, sizeof(data) - 1);
	crypto_key_new_random(&k);
	if (chunk_mem_new(&be) < 0 || chunkstore_new(&cs, be, &k) < 0)
		abort();
	is_int(put(cs, &id, data, sizeof(data)), -EBADMSG,
	       "a body that does not hash to its id is refused");
	is_int(chunk_mem_steps(be, CHUNK_MEM_RENAME), 0,
	       "...before anything is published (no rename, as S3 needs)");
	is_int(chunk_mem_count(be), 0, "...and nothing is held");
	is_int(chunk_mem_open_puts(be), 0, "...and no put is left open");
	chunkstore_free(cs);
	crypto_key_release(&k);
}

/* A manifest's chunks damaged at rest are found. */
static void test_chunk_faults_damage(void)
{
	uint8_t data[150000], *got = NULL;
	char name[CHUNKSTORE_NAME_SIZE];
	struct chunk_backend *be;
	struct chunkstore *cs;
	struct crypto_key k;
	struct obj_id id;
	size_t len;

	fill(data, sizeof(data), 9);
	hash_buf(&id, data, sizeof(data));
	crypto_key_new_random(&k);
	if (chunk_mem_new(&be) < 0 || chunkstore_new(&cs, be, &k) < 0)
		abort();
	is_int(put(cs, &id, data, sizeof(data)), 0, "memory: a chunk");
	chunkstore_name(cs, &id, name);
	is_int(chunk_mem_corrupt(be, name, 80000), 0, "one bit flipped");
	is_int(chunkstore_get(cs, &id, &got, &len), -EBADMSG,
	       "memory: the flipped bit is found");
	chunkstore_free(cs);
	crypto_key_release(&k);
}

/* --- a deposit --- */

#define DEPOSIT_CHUNKS 3
#define CHUNK_BYTES    70000

struct deposit {
	uint8_t data[DEPOSIT_CHUNKS * CHUNK_BYTES];
	struct obj_id ids[DEPOSIT_CHUNKS];
};

/* Upload the chunks the store lacks, as the drive does; the first error. */
static int upload(struct chunkstore *cs, const struct deposit *d)
{
	for (int i = 0; i < DEPOSIT_CHUNKS; i++) {
		int rc = chunkstore_has(cs, &d->ids[i]);

		if (rc == 0)
			rc = put(cs, &d->ids[i], d->data + i * CHUNK_BYTES,
				 CHUNK_BYTES);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int commit(struct ledger *lg, struct chunkstore *cs, const char *path,
		  const struct deposit *d)
{
	struct ledger_result res;
	struct ledger_op op;
	char head[GIT_OID_HEX_LEN + 1];
	size_t failed = 0;
	int rc;

	memset(&op, 0, sizeof(op));
	memset(&res, 0, sizeof(res));
	op.kind = LEDGER_OP_DEPOSIT;
	op.path = strdup(path);
	manifest_init(&op.content);
	for (int i = 0; i < DEPOSIT_CHUNKS; i++)
		if (manifest_add_chunk(&op.content, &d->ids[i], CHUNK_BYTES) <
		    0)
			abort();
	op.content.size = sizeof(d->data);
	hash_buf(&op.content.sha256, d->data, sizeof(d->data));
	rc = ledger_apply(lg, cs, "demo", "alice", "test", &op, 1, &res,
			  &failed, head);
	if (rc == 0)
		ledger_result_release(&res);
	ledger_op_release(&op);
	return rc;
}

struct found {
	int n;
	struct manifest m;
};

static int stat_cb(const struct ledger_entry *e, void *arg)
{
	struct found *f = arg;

	f->n++;
	if (!e->manifest)
		return 0;
	f->m.size = e->manifest->size;
	for (size_t i = 0; i < e->manifest->nchunks; i++)
		if (manifest_add_chunk(&f->m, &e->manifest->chunks[i].id,
				       e->manifest->chunks[i].size) < 0)
			return -ENOMEM;
	return 0;
}

/* The content filed at path, read back through its manifest's chunks. */
static int filed_content(struct ledger *lg, struct chunkstore *cs,
			 const char *path, const struct deposit *d)
{
	struct found f = { 0 };
	size_t off = 0;
	int good;

	manifest_init(&f.m);
	if (ledger_stat(lg, path, stat_cb, &f) != 0 || f.n != 1)
		return 0;
	good = f.m.size == sizeof(d->data);
	for (size_t i = 0; good && i < f.m.nchunks; i++) {
		uint8_t *got = NULL;
		size_t len = 0;

		good = chunkstore_get(cs, &f.m.chunks[i].id, &got, &len) == 0 &&
		       off + len <= sizeof(d->data) &&
		       memcmp(got, d->data + off, len) == 0;
		off += len;
		free(got);
	}
	manifest_release(&f.m);
	return good && off == sizeof(d->data);
}

static void test_chunk_faults_deposit(const char *base)
{
	static struct deposit d;
	char repo[400], path[64], head0[GIT_OID_HEX_LEN + 1],
		head1[GIT_OID_HEX_LEN + 1];
	struct chunk_backend *be;
	struct chunkstore *cs;
	struct ledger *lg;
	struct crypto_key k;
	unsigned long n, nsteps = 0;
	int bad = 0, refused = 0, rc;

	snprintf(repo, sizeof(repo), "%s/demo.git", base);
	crypto_key_new_random(&k);
	if (chunk_mem_new(&be) < 0 || chunkstore_new(&cs, be, &k) < 0 ||
	    ledger_open(&lg, repo, 1) < 0)
		abort();
	for (n = 1;; n++) {
		/* New content each round, so every chunk is uploaded anew. */
		fill(d.data, sizeof(d.data), (uint32_t)n * 977u);
		for (int i = 0; i < DEPOSIT_CHUNKS; i++)
			hash_buf(&d.ids[i], d.data + i * CHUNK_BYTES,
				 CHUNK_BYTES);
		snprintf(path, sizeof(path), "/doc-%lu.bin", n);
		if (ledger_head(lg, head0) < 0)
			head0[0] = '\0';
		chunk_mem_fail(be, CHUNK_MEM_ANY, n, -EIO);
		rc = upload(cs, &d);
		if (!chunk_mem_fired(be)) {
			nsteps = n - 1;
			if (rc != 0 || commit(lg, cs, path, &d) != 0 ||
			    !filed_content(lg, cs, path, &d))
				bad++;
			break;
		}
		chunk_mem_fail(be, CHUNK_MEM_ANY, 0, 0);
		for (int i = 0; i < DEPOSIT_CHUNKS; i++)
			if (!absent_or_whole(cs, &d.ids[i],
					     d.data + i * CHUNK_BYTES,
					     CHUNK_BYTES)) {
				diag("step %lu: chunk %d half-done", n, i);
				bad++;
			}
		if (rc == 0 || chunk_mem_open_puts(be) != 0)
			bad++;
		/* A drive that committed anyway (a bug, or a hostile one)
		 * is refused when a chunk is missing, and nothing changes. */
		for (int i = 0; i < DEPOSIT_CHUNKS; i++)
			if (chunkstore_has(cs, &d.ids[i]) == 0) {
				if (commit(lg, cs, path, &d) != -ENODATA)
					bad++;
				if (ledger_head(lg, head1) < 0 ||
				    strcmp(head0, head1) != 0)
					bad++;
				refused++;
				break;
			}
		/* The retry uploads what is missing and files the content. */
		if (upload(cs, &d) != 0 || commit(lg, cs, path, &d) != 0 ||
		    !filed_content(lg, cs, path, &d)) {
			diag("step %lu: the retry failed: %s", n, err_msg());
			bad++;
		}
	}
	is_int(bad, 0,
	       "deposit: each of its %lu chunk-write steps failing in turn leaves every chunk absent or whole, no version, and the retry files the content",
	       nsteps);
	is_int(nsteps, DEPOSIT_CHUNKS * 7,
	       "three chunks of two records: seven steps each (put, header, two records, fsync, rename, commit)");
	ok(refused > 0, "a commit naming a chunk that failed is refused (%d)",
	   refused);
	ledger_free(lg);
	chunkstore_free(cs);
	crypto_key_release(&k);
}

int main(void)
{
	char base[200];

	snprintf(base, sizeof(base), "/tmp/coffre-test-faults.XXXXXX");
	if (!mkdtemp(base))
		return 1;
	crypto_init();
	test_chunk_faults_put();
	test_chunk_faults_mismatch();
	test_chunk_faults_damage();
	test_chunk_faults_deposit(base);
	rm_rf(base);
	return tap_done();
}
