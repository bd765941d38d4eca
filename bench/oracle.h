/*
 * Internals of oracle_bench, the program that times what a caller may not
 * read against what does not exist (docs/protocol.md, "Access": a hidden
 * path answers as an absent one).
 *
 * oracle_setup.c  the space: an owner, an assistant, an intervenant, a
 *                 public folder, a confidential one with documents
 * oracle_stats.c  percentiles, the Mann-Whitney test, the noise band
 * oracle_bench.c  the cases, the interleaved timing and the table
 *
 * The private coffred and HTTPS are load_check's (load.h).  Not a public
 * header: only bench/ includes it.
 */
#ifndef COFFRE_BENCH_ORACLE_H
#define COFFRE_BENCH_ORACLE_H

#include <stddef.h>

#include "load.h"

#define ORACLE_ASSIST "assist"
#define ORACLE_INTER  "inter"

/* The callers, in the order of the table. */
enum oracle_who { WHO_ASSIST, WHO_INTER, WHO_OWNER, WHO_N };

struct oracle_space {
	struct load_srv srv;	   /* the owner's token in srv.token */
	struct load_srv as[WHO_N]; /* the same server, each caller's token */
	char password[WHO_N][40];
	char hidden_doc[33];   /* /Secret/plan.txt, three versions */
	char hidden_chunk[65]; /* the content of its version 1 */
	char public_chunk[65]; /* /Public/note.txt's, readable by all */
	char public_sha[65];
	size_t public_size;
};

/* srv.before_serve: the assistant and the intervenant, by the CLI. */
int oracle_users(struct load_srv *s);
/* Folders, documents, members and the grant, through the HTTP API. */
int oracle_populate(struct oracle_space *o);

/* ---- oracle_stats.c ---- */

/* Sort v (n values) in place. */
void stats_sort(double *v, size_t n);
/* Nearest-rank percentile q (0..1] of sorted v. */
double stats_pct(const double *v, size_t n, double q);
/* Two-sided p-value of Mann-Whitney's U for a and b (normal
 * approximation, ties corrected). */
double stats_mann_whitney(const double *a, size_t na, const double *b,
			  size_t nb);
/*
 * The noise band of a difference of medians at this sample size: a and b
 * (two samples of one same thing) pooled, split at random into two halves
 * rounds times; the 95th percentile of |median - median|.  seed: the
 * xorshift state.
 */
double stats_noise_band(const double *a, size_t na, const double *b, size_t nb,
			int rounds, unsigned long long *seed);
/* A xorshift64* draw in [0, n). */
size_t stats_rand(unsigned long long *seed, size_t n);

#endif /* COFFRE_BENCH_ORACLE_H */
