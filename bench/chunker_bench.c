/*
 * chunker_bench: throughput of the content-defined chunker and of SHA-256,
 * the two passes every deposited byte goes through, next to memcpy on the
 * same data as the machine's memory-bandwidth baseline.  Each figure is the
 * best of several runs over the same buffer of random data (random so the
 * chunker finds cut points as it does on compressed or encrypted files).
 *
 * Usage: chunker_bench [SIZE_MIB [RUNS]]   (default 256 MiB, 3 runs)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/chunker.h"
#include "common/crypto.h"
#include "common/hash.h"

#define MIB (1024.0 * 1024.0)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_count(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max || s[0] == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

/* Sink for results so the compiler cannot drop the measured work. */
static volatile unsigned long sink;

static double run_memcpy(uint8_t *dst, const uint8_t *src, size_t n)
{
	double t = now();

	memcpy(dst, src, n);
	t = now() - t;
	sink += dst[n / 2] + dst[n - 1];
	return t;
}

static double run_chunker(const struct chunker *c, const uint8_t *d, size_t n,
			  size_t *nchunks)
{
	size_t pos = 0, k = 0;
	double t = now();

	while (pos < n) {
		pos += chunker_next(c, d + pos, n - pos, 1);
		k++;
	}
	t = now() - t;
	*nchunks = k;
	return t;
}

static double run_sha256(const uint8_t *d, size_t n)
{
	struct obj_id id;
	double t = now();

	hash_buf(&id, d, n);
	t = now() - t;
	sink += id.b[0];
	return t;
}

/* What a deposit does: find each cut, then hash that chunk. */
static double run_both(const struct chunker *c, const uint8_t *d, size_t n)
{
	struct obj_id id;
	size_t pos = 0;
	double t = now();

	while (pos < n) {
		size_t len = chunker_next(c, d + pos, n - pos, 1);

		hash_buf(&id, d + pos, len);
		sink += id.b[0];
		pos += len;
	}
	return now() - t;
}

static void row(const char *what, double secs, size_t n, double base)
{
	double mbs = (double)n / MIB / secs;

	printf("%-26s %10.0f %10.2f\n", what, mbs, mbs / base);
}

int main(int argc, char **argv)
{
	unsigned long mib = 256, runs = 3;
	double best[4] = { 1e30, 1e30, 1e30, 1e30 }, base;
	uint8_t seed[CHUNK_SEED_LEN];
	struct chunker c;
	uint8_t *src, *dst;
	size_t n, nchunks = 0;

	if ((argc > 1 && parse_count(argv[1], 65536, &mib) < 0) ||
	    (argc > 2 && parse_count(argv[2], 1000, &runs) < 0) || argc > 3) {
		fprintf(stderr, "usage: chunker_bench [SIZE_MIB [RUNS]]\n");
		return 2;
	}
	if (crypto_init() < 0) {
		fprintf(stderr, "chunker_bench: cannot initialise libsodium\n");
		return 1;
	}
	n = (size_t)mib << 20;
	src = malloc(n);
	dst = malloc(n);
	if (!src || !dst) {
		fprintf(stderr, "chunker_bench: cannot allocate 2 x %lu MiB\n",
			mib);
		return 1;
	}
	crypto_random(src, n);
	memset(dst, 0, n); /* fault the pages in before timing memcpy */
	crypto_random(seed, sizeof(seed));
	chunker_init(&c, seed);

	for (unsigned long r = 0; r < runs; r++) {
		double t;

		if ((t = run_memcpy(dst, src, n)) < best[0])
			best[0] = t;
		if ((t = run_chunker(&c, src, n, &nchunks)) < best[1])
			best[1] = t;
		if ((t = run_sha256(src, n)) < best[2])
			best[2] = t;
		if ((t = run_both(&c, src, n)) < best[3])
			best[3] = t;
	}

	base = (double)n / MIB / best[0];
	printf("chunker_bench: %lu MiB of random data, best of %lu runs, "
	       "%zu chunks (average %.0f KiB)\n",
	       mib, runs, nchunks, (double)n / (double)nchunks / 1024.0);
	printf("%-26s %10s %10s\n", "pass", "MB/s", "x memcpy");
	row("memcpy (baseline)", best[0], n, base);
	row("chunker (FastCDC)", best[1], n, base);
	row("sha256 (OpenSSL EVP)", best[2], n, base);
	row("chunker + sha256", best[3], n, base);
	free(src);
	free(dst);
	return 0;
}
