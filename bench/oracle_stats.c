/*
 * The statistics of oracle_bench: medians and tails, Mann-Whitney's rank
 * test (no assumption on the shape of latencies, which are skewed), and a
 * noise band for a difference of medians measured on the run's own
 * samples, so a row is read against this machine at this moment.
 */
#include "oracle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void stats_sort(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
}

double stats_pct(const double *v, size_t n, double q)
{
	size_t k = (size_t)ceil(q * (double)n);

	if (!n)
		return NAN;
	return v[k ? k - 1 : 0];
}

size_t stats_rand(unsigned long long *s, size_t n)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (size_t)((*s * 2685821657736338717ULL) >> 11) % n;
}

struct ranked {
	double v;
	int from_a;
};

static int cmp_ranked(const void *a, const void *b)
{
	return cmp_double(&((const struct ranked *)a)->v,
			  &((const struct ranked *)b)->v);
}

double stats_mann_whitney(const double *a, size_t na, const double *b,
			  size_t nb)
{
	size_t n = na + nb, i = 0;
	struct ranked *r = malloc(n * sizeof(*r));
	double ra = 0, ties = 0, u, mu, sigma, z;

	if (!r || !na || !nb) {
		free(r);
		return NAN;
	}
	for (size_t k = 0; k < na; k++)
		r[k] = (struct ranked){ a[k], 1 };
	for (size_t k = 0; k < nb; k++)
		r[na + k] = (struct ranked){ b[k], 0 };
	qsort(r, n, sizeof(*r), cmp_ranked);
	while (i < n) {
		size_t j = i;
		double rank, t;

		while (j + 1 < n && r[j + 1].v == r[i].v)
			j++;
		rank = ((double)i + (double)j) / 2 + 1; /* mid-rank */
		for (size_t k = i; k <= j; k++)
			if (r[k].from_a)
				ra += rank;
		t = (double)(j - i + 1);
		ties += t * t * t - t;
		i = j + 1;
	}
	free(r);
	u = ra - (double)na * ((double)na + 1) / 2;
	mu = (double)na * (double)nb / 2;
	sigma = sqrt((double)na * (double)nb / 12 *
		     ((double)(n + 1) - ties / ((double)n * (double)(n - 1))));
	if (sigma <= 0)
		return 1;
	z = (fabs(u - mu) - 0.5) / sigma; /* continuity corrected */
	return z <= 0 ? 1 : erfc(z / sqrt(2));
}

static double median_of(double *v, size_t n)
{
	stats_sort(v, n);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double stats_noise_band(const double *a, size_t na, const double *b, size_t nb,
			int rounds, unsigned long long *seed)
{
	size_t n = na + nb, h = n / 2;
	double *pool = malloc(n * sizeof(*pool));
	double *d = malloc((size_t)rounds * sizeof(*d));
	double band = NAN;

	if (pool && d && h && rounds > 0) {
		for (int k = 0; k < rounds; k++) {
			memcpy(pool, a, na * sizeof(*a));
			memcpy(pool + na, b, nb * sizeof(*b));
			/* Fisher-Yates: the first h are one half */
			for (size_t i = n - 1; i > 0; i--) {
				size_t j = stats_rand(seed, i + 1);
				double t = pool[i];

				pool[i] = pool[j];
				pool[j] = t;
			}
			d[k] = fabs(median_of(pool, h) -
				    median_of(pool + h, n - h));
		}
		stats_sort(d, (size_t)rounds);
		band = stats_pct(d, (size_t)rounds, 0.95);
	}
	free(pool);
	free(d);
	return band;
}
