/* Unit tests for common/chunker on deterministic pseudo-random data. */
#include "common/chunker.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/hash.h"
#include "common/err.h"
#include "tests/lib/tap.h"

#define MIB	 (1024u * 1024u)
#define MAX_CUTS 4096

struct cuts {
	size_t n;
	size_t len[MAX_CUTS];
};

static void fill(uint8_t *p, size_t n, uint8_t tag)
{
	uint8_t seed[randombytes_SEEDBYTES] = { tag };

	randombytes_buf_deterministic(p, n, seed);
}

static void chunk_all(const struct chunker *c, const uint8_t *d, size_t n,
		      struct cuts *out)
{
	size_t pos = 0;

	out->n = 0;
	while (pos < n && out->n < MAX_CUTS) {
		size_t len = chunker_next(c, d + pos, n - pos, 1);

		if (len == 0)
			break;
		out->len[out->n++] = len;
		pos += len;
	}
}

/* As a streaming caller would: never more than `window` bytes at hand. */
static void chunk_stream(const struct chunker *c, const uint8_t *d, size_t n,
			 size_t step, struct cuts *out)
{
	size_t pos = 0, have = 0;

	out->n = 0;
	while (pos < n && out->n < MAX_CUTS) {
		size_t len;

		if (have < n - pos && have < CHUNK_MAX) {
			have += step;
			if (have > n - pos)
				have = n - pos;
		}
		len = chunker_next(c, d + pos, have, pos + have == n);
		if (len == 0)
			continue;
		out->len[out->n++] = len;
		pos += len;
		have -= len;
	}
}

static int same_cuts(const struct cuts *a, const struct cuts *b)
{
	return a->n == b->n &&
	       !memcmp(a->len, b->len, a->n * sizeof(a->len[0]));
}

static void test_chunker_edges(const struct chunker *c)
{
	uint8_t *z = calloc(1, CHUNK_MAX + 10);

	is_int(chunker_next(c, z, 0, 0), 0, "n = 0 gives 0");
	is_int(chunker_next(c, z, 0, 1), 0, "n = 0 at eof gives 0");
	is_int(chunker_next(c, z, 100, 0), 0, "short and not eof: undecided");
	is_int(chunker_next(c, z, 100, 1), 100, "short at eof: the rest");
	is_int(chunker_next(c, z, CHUNK_MIN, 1), CHUNK_MIN, "MIN at eof");
	is_int(chunker_next(c, z, CHUNK_MAX - 1, 0), 0,
	       "zeros below MAX: undecided");
	is_int(chunker_next(c, z, CHUNK_MAX + 10, 0), CHUNK_MAX,
	       "zeros: forced cut at MAX");
	is_int(chunker_next(c, z, CHUNK_MAX + 10, 1), CHUNK_MAX,
	       "never more than MAX at eof");
	free(z);
}

static void test_chunker_random(const struct chunker *c,
				const struct chunker *c2)
{
	size_t n = 64 * MIB, total = 0, bad = 0;
	uint8_t *d = malloc(n);
	struct cuts *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	double avg;

	fill(d, n, 1);
	chunk_all(c, d, n, a);
	chunk_all(c, d, n, b);
	ok(a->n > 1 && same_cuts(a, b), "same seed, same cuts (%zu chunks)",
	   a->n);
	for (size_t i = 0; i < a->n; i++) {
		total += a->len[i];
		if (a->len[i] > CHUNK_MAX ||
		    (i + 1 < a->n && a->len[i] < CHUNK_MIN))
			bad++;
	}
	is_int(total, n, "chunks cover the data");
	is_int(bad, 0, "every chunk within [MIN, MAX] except the last");
	avg = (double)n / (double)a->n;
	diag("average chunk %.0f bytes", avg);
	ok(avg > 0.75 * MIB && avg < 1.5 * MIB, "average %.2f MiB near 1 MiB",
	   avg / MIB);

	chunk_all(c2, d, n, b);
	ok(!same_cuts(a, b), "another seed gives other cuts");

	chunk_stream(c, d, n, 300 * 1024, b);
	ok(same_cuts(a, b), "fed in 300 KiB pieces: same cuts");
	chunk_stream(c, d, n, 7 * MIB, b);
	ok(same_cuts(a, b), "fed in 7 MiB pieces: same cuts");
	free(a);
	free(b);
	free(d);
}

static void chunk_ids(const struct chunker *c, const uint8_t *d, size_t n,
		      struct obj_id *ids, size_t *count)
{
	size_t pos = 0;

	*count = 0;
	while (pos < n && *count < MAX_CUTS) {
		size_t len = chunker_next(c, d + pos, n - pos, 1);

		hash_buf(&ids[(*count)++], d + pos, len);
		pos += len;
	}
}

static void test_chunker_insert(const struct chunker *c)
{
	size_t n = 32 * MIB, mid = n / 2 + 12345, na, nb, fresh = 0;
	uint8_t *d = malloc(n), *e = malloc(n + 100);
	struct obj_id *ia = malloc(MAX_CUTS * sizeof(*ia));
	struct obj_id *ib = malloc(MAX_CUTS * sizeof(*ib));

	fill(d, n, 2);
	memcpy(e, d, mid);
	fill(e + mid, 100, 3);
	memcpy(e + mid + 100, d + mid, n - mid);
	chunk_ids(c, d, n, ia, &na);
	chunk_ids(c, e, n + 100, ib, &nb);
	for (size_t i = 0; i < nb; i++) {
		size_t j;

		for (j = 0; j < na; j++)
			if (!obj_id_cmp(&ib[i], &ia[j]))
				break;
		if (j == na)
			fresh++;
	}
	diag("%zu chunks before, %zu after, %zu new", na, nb, fresh);
	ok(fresh >= 1 && fresh <= 2,
	   "100 bytes inserted change at most 2 chunks");
	free(ia);
	free(ib);
	free(d);
	free(e);
}

int main(void)
{
	uint8_t s1[CHUNK_SEED_LEN] = { 1 }, s2[CHUNK_SEED_LEN] = { 2 };
	struct chunker *c = malloc(sizeof(*c)), *c2 = malloc(sizeof(*c2));
	struct chunker *c1b = malloc(sizeof(*c1b));

	chunker_init(c, s1);
	chunker_init(c1b, s1);
	chunker_init(c2, s2);
	ok(!memcmp(c->gear, c1b->gear, sizeof(c->gear)),
	   "gear table deterministic");
	ok(memcmp(c->gear, c2->gear, sizeof(c->gear)),
	   "gear table depends on seed");
	test_chunker_edges(c);
	test_chunker_random(c, c2);
	test_chunker_insert(c);
	free(c);
	free(c1b);
	free(c2);
	return tap_done();
}
