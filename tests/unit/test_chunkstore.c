/*
 * Chunk store: streamed writes in odd pieces, reads back, and every way a
 * stored chunk can be damaged (flipped byte, truncation, renaming) failing
 * with -EBADMSG; refused writes leave nothing behind.
 */
#include "server/chunkstore.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/chunker.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "tests/lib/tap.h"

static char dir[256];

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Write p in pieces of growing odd sizes. */
static int put(struct chunkstore *cs, const struct obj_id *id, const uint8_t *p,
	       size_t n)
{
	struct chunkstore_writer *w;
	size_t off = 0, piece = 1;
	int rc;

	rc = chunkstore_writer_new(cs, id, &w);
	if (rc < 0)
		return rc;
	while (off < n) {
		size_t k = piece < n - off ? piece : n - off;

		rc = chunkstore_writer_write(w, p + off, k);
		if (rc < 0) {
			chunkstore_writer_abort(w);
			return rc;
		}
		off += k;
		piece = piece * 3 + 7;
	}
	return chunkstore_writer_finish(w);
}

/* Where the directory backend keeps id: its keyed name, fanned out. */
static char *path_of(struct chunkstore *cs, const struct obj_id *id)
{
	char hex[CHUNKSTORE_NAME_SIZE];
	char *p;

	chunkstore_name(cs, id, hex);
	if (asprintf(&p, "%s/%.2s/%s", dir, hex, hex + 2) < 0)
		abort();
	return p;
}

static int count_files(const char *d)
{
	struct dirent *de;
	DIR *dd = opendir(d);
	int n = 0;

	if (!dd)
		return -1;
	while ((de = readdir(dd)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dd);
	return n;
}

static int count_cb(const char *name, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void test_chunkstore_roundtrip(struct chunkstore *cs)
{
	static const size_t sizes[] = { 0,     1,      65535,	65536,
					65537, 131072, 1000003, CHUNK_MAX };
	uint8_t *data = malloc(CHUNK_MAX), *got;
	struct obj_id id;
	uint64_t sz;
	size_t len;

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		fill(data, sizes[i], (uint32_t)i + 1);
		hash_buf(&id, data, sizes[i]);
		is_int(chunkstore_has(cs, &id), 0, "size %zu: not held yet",
		       sizes[i]);
		is_int(put(cs, &id, data, sizes[i]), 0, "size %zu: written",
		       sizes[i]);
		is_int(chunkstore_has(cs, &id), 1, "size %zu: held", sizes[i]);
		is_int(chunkstore_get(cs, &id, &got, &len), 0,
		       "size %zu: read back", sizes[i]);
		ok(len == sizes[i] && memcmp(got, data, len) == 0,
		   "size %zu: same bytes", sizes[i]);
		free(got);
		is_int(chunkstore_size(cs, &id, &sz), 0, "size %zu: size",
		       sizes[i]);
		is_int(sz, sizes[i], "size %zu: size is right", sizes[i]);
		is_int(chunkstore_verify(cs, &id), 0, "size %zu: verifies",
		       sizes[i]);
	}
	/* Writing the same chunk again is harmless. */
	is_int(put(cs, &id, data, CHUNK_MAX), 0, "rewrite of a held chunk");
	free(data);
}

static void test_chunkstore_refusals(struct chunkstore *cs, char *tmpd)
{
	struct chunkstore_writer *w;
	uint8_t *data = malloc(CHUNK_MAX + 1);
	struct obj_id id, other;
	int before = 0, n = 0;

	chunkstore_foreach(cs, count_cb, &before);
	fill(data, 5000, 99);
	hash_buf(&id, data, 5000);
	data[100] ^= 1;
	is_int(put(cs, &id, data, 5000), -EBADMSG, "hash mismatch refused");
	is_int(chunkstore_has(cs, &id), 0, "mismatched chunk not held");
	is_int(count_files(tmpd), 0, "no temporary file left");

	fill(data, CHUNK_MAX + 1, 7);
	hash_buf(&other, data, CHUNK_MAX + 1);
	is_int(chunkstore_writer_new(cs, &other, &w), 0, "writer for too big");
	is_int(chunkstore_writer_write(w, data, CHUNK_MAX), 0,
	       "up to the limit accepted");
	is_int(chunkstore_writer_write(w, data, 1), -E2BIG,
	       "one byte over the limit: -E2BIG");
	ok(chunkstore_writer_finish(w) < 0, "finish after -E2BIG fails");
	is_int(chunkstore_has(cs, &other), 0, "too big chunk not held");
	is_int(count_files(tmpd), 0, "no temporary file left");

	is_int(chunkstore_writer_new(cs, &other, &w), 0, "writer to abort");
	is_int(chunkstore_writer_write(w, data, 10), 0, "some bytes");
	chunkstore_writer_abort(w);
	is_int(count_files(tmpd), 0, "abort leaves no temporary file");
	chunkstore_foreach(cs, count_cb, &n);
	is_int(n, before, "foreach sees no new chunk");
	free(data);
}

static void test_chunkstore_damage(struct chunkstore *cs)
{
	uint8_t data[200000], *got = NULL;
	struct obj_id a, b;
	struct stat st;
	size_t len;
	char *pa, *pb;
	FILE *f;
	int c;

	fill(data, sizeof(data), 1234);
	hash_buf(&a, data, sizeof(data));
	hash_buf(&b, data, sizeof(data) - 1);
	is_int(put(cs, &a, data, sizeof(data)), 0, "chunk a");
	is_int(put(cs, &b, data, sizeof(data) - 1), 0, "chunk b");
	pa = path_of(cs, &a);
	pb = path_of(cs, &b);

	/* Flip one byte in the middle of the second record. */
	f = fopen(pa, "r+b");
	fseek(f, 70000, SEEK_SET);
	c = fgetc(f);
	fseek(f, 70000, SEEK_SET);
	fputc(c ^ 0x40, f);
	fclose(f);
	is_int(chunkstore_get(cs, &a, &got, &len), -EBADMSG,
	       "flipped byte: -EBADMSG");
	ok(got == NULL, "no buffer on failure");
	is_int(chunkstore_verify(cs, &a), -EBADMSG, "verify sees it too");

	/* Drop the final record: the stream ends without its FINAL tag. */
	is_int(put(cs, &a, data, sizeof(data)), 0, "chunk a rewritten");
	is_int(chunkstore_get(cs, &a, &got, &len), 0, "a readable again");
	free(got);
	got = NULL;
	stat(pa, &st);
	truncate(pa, (off_t)(24 + 3 * (65536 + 17)));
	is_int(chunkstore_get(cs, &a, &got, &len), -EBADMSG,
	       "truncated at a record boundary: -EBADMSG");
	truncate(pa, st.st_size - 5);
	is_int(chunkstore_get(cs, &a, &got, &len), -EBADMSG,
	       "truncated mid-record: -EBADMSG");

	/* b's file under a's name. */
	rename(pb, pa);
	is_int(chunkstore_get(cs, &a, &got, &len), -EBADMSG,
	       "renamed file: -EBADMSG");
	is_int(chunkstore_get(cs, &b, &got, &len), -ENOENT,
	       "absent chunk: -ENOENT");
	free(pa);
	free(pb);
}

struct same {
	struct chunkstore *cs;
	const uint8_t *data;
	size_t n;
	struct obj_id id;
	int bad;
};

/* Several writers of the same chunk at once, with readers: all succeed. */
static void *same_writer(void *arg)
{
	struct same *s = arg;
	uint8_t *got;
	size_t len;

	for (int i = 0; i < 20; i++) {
		if (put(s->cs, &s->id, s->data, s->n) < 0)
			s->bad++;
		if (chunkstore_get(s->cs, &s->id, &got, &len) < 0 ||
		    len != s->n || memcmp(got, s->data, len) != 0)
			s->bad++;
		free(got);
	}
	return NULL;
}

static void test_chunkstore_threads(struct chunkstore *cs, const char *tmpd)
{
	static uint8_t data[300000];
	struct same s[4];
	pthread_t t[4];
	struct obj_id id;
	int bad = 0;

	fill(data, sizeof(data), 4242);
	hash_buf(&id, data, sizeof(data));
	for (int i = 0; i < 4; i++) {
		s[i] = (struct same){ cs, data, sizeof(data), id, 0 };
		pthread_create(&t[i], NULL, same_writer, &s[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		bad += s[i].bad;
	}
	is_int(bad, 0, "concurrent writers and readers of one chunk");
	is_int(count_files(tmpd), 0, "no temporary file left");
}

static void test_chunkstore_wrong_key(const char *d)
{
	struct crypto_key k;
	struct chunkstore *cs;
	uint8_t data[1000], *got = NULL;
	struct obj_id id;
	size_t len;

	fill(data, sizeof(data), 5);
	hash_buf(&id, data, sizeof(data));
	crypto_key_new_random(&k);
	is_int(chunkstore_open(&cs, d, &k), 0, "open with another key");
	/* Names are keyed: without the key nobody can tell it is held. */
	is_int(chunkstore_has(cs, &id), 0,
	       "another key does not even find the chunk");
	is_int(chunkstore_get(cs, &id, &got, &len), -ENOENT,
	       "another key cannot read it");
	chunkstore_free(cs);
	crypto_key_release(&k);
}

/* --- migration from plaintext names --- */

#define MIG_N 4

struct mig {
	uint8_t data[MIG_N][3000];
	struct obj_id id[MIG_N];
	char *old[MIG_N], *keyed[MIG_N];
};

static char *plain_path(const char *d, const struct obj_id *id)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	char *p;

	obj_id_to_hex(id, hex);
	if (asprintf(&p, "%s/%.2s/%s", d, hex, hex + 2) < 0)
		abort();
	return p;
}

static char *keyed_path(const char *d, struct chunkstore *cs,
			const struct obj_id *id)
{
	char name[CHUNKSTORE_NAME_SIZE], *p;

	chunkstore_name(cs, id, name);
	if (asprintf(&p, "%s/%.2s/%s", d, name, name + 2) < 0)
		abort();
	return p;
}

static char *under(const char *d, const char *leaf)
{
	char *p;

	if (asprintf(&p, "%s/%s", d, leaf) < 0)
		abort();
	return p;
}

static char *migrate_path(const char *d, struct chunkstore *cs,
			  const struct obj_id *id)
{
	char name[CHUNKSTORE_NAME_SIZE], *p;

	chunkstore_name(cs, id, name);
	if (asprintf(&p, "%s/migrate/%s", d, name) < 0)
		abort();
	return p;
}

static int exists_path(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

/*
 * A data directory as coffre wrote it before keyed names: the same sealed
 * files, each under its plaintext SHA-256, and no names marker.
 */
static void make_old_store(const char *d, const struct crypto_key *k,
			   struct mig *m)
{
	struct chunkstore *cs;
	char *marker = under(d, "names");

	rm_rf(d);
	if (chunkstore_open(&cs, d, k) < 0)
		abort();
	for (int i = 0; i < MIG_N; i++) {
		fill(m->data[i], sizeof(m->data[i]), 100 + (uint32_t)i);
		hash_buf(&m->id[i], m->data[i], sizeof(m->data[i]));
		if (put(cs, &m->id[i], m->data[i], sizeof(m->data[i])) < 0)
			abort();
		free(m->old[i]);
		free(m->keyed[i]);
		m->old[i] = plain_path(d, &m->id[i]);
		m->keyed[i] = keyed_path(d, cs, &m->id[i]);
		mkdir_p(m->old[i], 0700); /* then drop the leaf: its folder */
		rmdir(m->old[i]);
		if (rename(m->keyed[i], m->old[i]) < 0)
			abort();
	}
	unlink(marker);
	free(marker);
	chunkstore_free(cs);
}

/* Open d: every chunk readable, under its keyed name only. */
static int all_migrated(const char *d, const struct crypto_key *k,
			struct mig *m)
{
	struct chunkstore *cs;
	char *mdir = under(d, "migrate"), *marker = under(d, "names");
	int good = 1;

	if (chunkstore_open(&cs, d, k) < 0) {
		diag("open: %s", err_msg());
		free(mdir);
		free(marker);
		return 0;
	}
	for (int i = 0; i < MIG_N; i++) {
		uint8_t *got = NULL;
		size_t len = 0;

		if (chunkstore_get(cs, &m->id[i], &got, &len) != 0 ||
		    len != sizeof(m->data[i]) ||
		    memcmp(got, m->data[i], len) != 0 ||
		    exists_path(m->old[i]) || !exists_path(m->keyed[i])) {
			diag("chunk %d not migrated", i);
			good = 0;
		}
		free(got);
	}
	if (exists_path(mdir) || !exists_path(marker))
		good = 0;
	chunkstore_free(cs);
	free(mdir);
	free(marker);
	return good;
}

static void test_chunkstore_migration(const char *base)
{
	struct mig m = { 0 };
	struct crypto_key k;
	char *d = under(base, "old-chunks"), *p, *q;

	crypto_key_new_random(&k);
	make_old_store(d, &k, &m);
	ok(exists_path(m.old[0]) && !exists_path(m.keyed[0]),
	   "an old store: chunk files named by their plaintext SHA-256");
	ok(all_migrated(d, &k, &m),
	   "opening it renames every chunk to its keyed name, all readable");
	ok(all_migrated(d, &k, &m), "a second open changes nothing");

	/* Killed in phase 1: one chunk moved to migrate/, the rest not. */
	make_old_store(d, &k, &m);
	p = under(d, "migrate");
	mkdir(p, 0700);
	free(p);
	{
		/* The keyed names, from a store with the same key. */
		char *tmp = under(base, "namer");
		struct chunkstore *namer;

		if (chunkstore_open(&namer, tmp, &k) < 0)
			abort();
		q = migrate_path(d, namer, &m.id[0]);
		if (rename(m.old[0], q) < 0)
			abort();
		free(q);
		ok(all_migrated(d, &k, &m),
		   "killed in phase 1 (one chunk in migrate/): the next open finishes");

		/* Killed in phase 2: phase 1 done, half moved back. */
		make_old_store(d, &k, &m);
		p = under(d, "migrate");
		mkdir(p, 0700);
		for (int i = 0; i < MIG_N; i++) {
			q = migrate_path(d, namer, &m.id[i]);
			if (rename(m.old[i], q) < 0)
				abort();
			free(q);
		}
		q = under(p, ".moved");
		file_write_atomic(q, "1\n", 2, 0600);
		free(q);
		free(p);
		for (int i = 0; i < MIG_N / 2; i++) {
			q = migrate_path(d, namer, &m.id[i]);
			mkdir_p(m.keyed[i], 0700);
			rmdir(m.keyed[i]);
			if (rename(q, m.keyed[i]) < 0)
				abort();
			free(q);
		}
		ok(all_migrated(d, &k, &m),
		   "killed in phase 2 (half moved back): the next open finishes");
		chunkstore_free(namer);
		free(tmp);
	}
	for (int i = 0; i < MIG_N; i++) {
		free(m.old[i]);
		free(m.keyed[i]);
	}
	free(d);
	crypto_key_release(&k);
}

int main(void)
{
	char tmpd[300];
	struct crypto_key k;
	struct chunkstore *cs;
	uint8_t data[1000];
	struct obj_id id;
	int n = 0;

	char base[200];

	snprintf(base, sizeof(base), "/tmp/coffre-test-cs.XXXXXX");
	if (!mkdtemp(base))
		return 1;
	snprintf(dir, sizeof(dir), "%s/chunks", base);
	snprintf(tmpd, sizeof(tmpd), "%s/tmp", dir);
	crypto_init();
	crypto_key_new_random(&k);
	is_int(chunkstore_open(&cs, dir, &k), 0, "open creates the store");
	test_chunkstore_roundtrip(cs);
	test_chunkstore_refusals(cs, tmpd);
	test_chunkstore_damage(cs);
	test_chunkstore_threads(cs, tmpd);
	chunkstore_foreach(cs, count_cb, &n);
	ok(n >= 9, "foreach sees the chunks (%d)", n);

	fill(data, sizeof(data), 5);
	hash_buf(&id, data, sizeof(data));
	is_int(put(cs, &id, data, sizeof(data)), 0, "chunk for the key test");
	chunkstore_free(cs);
	crypto_key_release(&k);
	test_chunkstore_wrong_key(dir);
	test_chunkstore_migration(base);

	rm_rf(base);
	return tap_done();
}
