/*
 * oracle_bench: does a path the caller may not read answer, in time too,
 * as one that does not exist?
 *
 * docs/protocol.md ("Access") has a hidden path answer as an absent one:
 * same status, same body.  The tests check statuses and bodies; this
 * measures the time.  One run starts a private coffred (127.0.0.1, port
 * 0, a work dir removed at the end), fills a space (oracle_setup.c), and
 * for each endpoint that takes a path or a document times, on one
 * keep-alive connection per caller, many requests for
 *   H   a hidden thing (under the confidential /Secret),
 *   A   an absent one of the same length at the same depth,
 *   A'  another absent one of that shape, the noise: A' - A is what a
 *       difference of medians looks like when there is none,
 * asked by an assistant, an intervenant and, as the baseline that shows
 * the bench can see a difference, the owner (for whom H is visible).
 * Every round sends the nine requests (3 callers x H, A, A') in a fresh
 * random order, after warm-up rounds, so drift spreads over all of them.
 *
 * A program to run by hand (bench/README.md), not a test: it asserts
 * nothing and exits 0 once it measured.
 */
#include "oracle.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SP	 "/v1/spaces/" LOAD_SPACE
#define BODY_MAX 4096

enum kind { K_HIDDEN, K_ABSENT, K_ABSENT2, K_N };

struct ocase {
	const char *name;
	const char *method; /* NULL: GET, or POST with a body */
	char url[256];	    /* one %s: the token */
	char body[1024];    /* one %s, or "" for none */
	const char *tok[K_N];
	bool owner; /* the owner's baseline too (no write for them) */
};

struct ocell {
	double *us;
	long status;
	char body[BODY_MAX];
};

static const char *const who_name[WHO_N] = { "assistant", "intervenant",
					     "owner" };

static void random_hex(unsigned long long *seed, char *out, size_t digits)
{
	for (size_t i = 0; i < digits; i++)
		out[i] = "0123456789abcdef"[stats_rand(seed, 16)];
	out[digits] = '\0';
}

/* fmt with its "%s" replaced by tok (no printf: fmt is data). */
static void fill(char *out, size_t outlen, const char *fmt, const char *tok)
{
	const char *at = strstr(fmt, "%s");

	if (!at) {
		snprintf(out, outlen, "%s", fmt);
		return;
	}
	snprintf(out, outlen, "%.*s%s%s", (int)(at - fmt), fmt, tok, at + 2);
}

/* One timed request; the answer into c->body the first time. */
static double timed(void *h, const struct load_srv *s, const struct ocase *oc,
		    const char *tok, struct ocell *c, bool keep)
{
	char url[512], body[1400], out[BODY_MAX];
	double t0;
	long st;

	fill(url, sizeof(url), oc->url, tok);
	if (oc->body[0])
		fill(body, sizeof(body), oc->body, tok);
	t0 = bench_now();
	st = http_req(h, s, oc->method, url, true, oc->body[0] ? body : NULL,
		      oc->body[0] ? strlen(body) : 0, 30, NULL, NULL, out,
		      sizeof(out));
	t0 = (bench_now() - t0) * 1e6;
	if (keep && !c->status) {
		c->status = st;
		snprintf(c->body, sizeof(c->body), "%s", out);
	}
	return t0;
}

/* The hidden answer with its token replaced by the absent one's. */
static bool same_body(const char *hidden, const char *absent, const char *th,
		      const char *ta)
{
	char out[2 * BODY_MAX];
	size_t o = 0, lh = strlen(th), la = strlen(ta);

	while (*hidden && o + la + 1 < sizeof(out)) {
		if (!strncmp(hidden, th, lh)) {
			memcpy(out + o, ta, la);
			o += la;
			hidden += lh;
		} else {
			out[o++] = *hidden++;
		}
	}
	out[o] = '\0';
	return !strcmp(out, absent);
}

struct orow {
	const struct ocase *oc;
	enum oracle_who who;
	struct ocell c[K_N];
};

static void run_case(struct oracle_space *o, void *h[WHO_N],
		     const struct ocase *oc, struct orow rows[WHO_N], int n,
		     int warm, unsigned long long *seed)
{
	struct {
		enum oracle_who w;
		enum kind k;
	} order[WHO_N * K_N];
	size_t m = 0;

	for (int w = 0; w < WHO_N; w++) {
		rows[w].oc = oc;
		rows[w].who = (enum oracle_who)w;
		if (w == WHO_OWNER && !oc->owner)
			continue;
		for (int k = 0; k < K_N; k++) {
			order[m].w = (enum oracle_who)w;
			order[m++].k = (enum kind)k;
			rows[w].c[k].us = calloc((size_t)n, sizeof(double));
			if (!rows[w].c[k].us)
				exit(bench_err(1, "out of memory"));
		}
	}
	for (int r = -warm; r < n; r++) {
		for (size_t i = m - 1; i > 0; i--) {
			size_t j = stats_rand(seed, i + 1);
			__typeof__(order[0]) t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		for (size_t i = 0; i < m; i++) {
			struct ocell *c = &rows[order[i].w].c[order[i].k];
			double us = timed(h[order[i].w], &o->as[order[i].w], oc,
					  oc->tok[order[i].k], c, r >= 0);

			if (r >= 0)
				c->us[r] = us;
		}
	}
}

static void print_row(struct orow *rw, int n, unsigned long long *seed)
{
	struct ocell *c = rw->c;
	double h50, h99, a50, a99, b50, band, p, d;
	char st[16], mark[40];
	bool same;

	if (!c[0].us) {
		printf("%-22s %-11s %s\n", rw->oc->name, who_name[rw->who],
		       "-      (would write: not timed)");
		return;
	}
	for (int k = 0; k < K_N; k++)
		stats_sort(c[k].us, (size_t)n);
	h50 = stats_pct(c[0].us, (size_t)n, 0.5);
	h99 = stats_pct(c[0].us, (size_t)n, 0.99);
	a50 = stats_pct(c[1].us, (size_t)n, 0.5);
	a99 = stats_pct(c[1].us, (size_t)n, 0.99);
	b50 = stats_pct(c[2].us, (size_t)n, 0.5);
	band = stats_noise_band(c[1].us, (size_t)n, c[2].us, (size_t)n, 200,
				seed);
	p = stats_mann_whitney(c[0].us, (size_t)n, c[1].us, (size_t)n);
	d = h50 - a50;
	same = c[0].status == c[1].status &&
	       same_body(c[0].body, c[1].body, rw->oc->tok[0], rw->oc->tok[1]);
	snprintf(st, sizeof(st), "%ld/%ld", c[0].status, c[1].status);
	mark[0] = '\0';
	if (fabs(d) > 3 * band && p < 0.001)
		snprintf(mark, sizeof(mark), "%s",
			 rw->who == WHO_OWNER ? "(visible: expected)" :
						"<< DIFFERS");
	else if (fabs(d) > band && p < 0.001 && rw->who != WHO_OWNER)
		snprintf(mark, sizeof(mark), "< slight");
	printf("%-22s %-11s %-8s %-5s %7.0f %7.0f %7.0f %7.0f %+7.0f %+7.0f %6.1f %8.1e  %s\n",
	       rw->oc->name, who_name[rw->who], st,
	       rw->who == WHO_OWNER ? "-" :
	       same		    ? "same" :
				      "DIFF",
	       h50, h99, a50, a99, d, b50 - a50, band, p, mark);
	if (!same && rw->who != WHO_OWNER)
		printf("    hidden: %.300s\n    absent: %.300s\n", c[0].body,
		       c[1].body);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: oracle_bench [--requests N] [--warmup N] [--seed N] [--only NAME] [--coffred PATH] [--keep]\n"
		"  --requests N  timed requests per caller, case and kind (default 400)\n"
		"  --warmup N    untimed rounds first (default 40)\n"
		"  --seed N      the order's random seed (default: the clock)\n"
		"  --only NAME   only the cases whose name starts with NAME\n"
		"  --coffred P   the server binary (default: the build's)\n"
		"  --keep        keep the work dir (logs, data) at the end\n");
}

/* The cases: one %s in url (and body) takes the token of each kind. */
static size_t make_cases(struct oracle_space *o, struct ocase *cs,
			 unsigned long long *seed)
{
	static char doc[2][33], chunk[2][65];
	static const char *const path[K_N] = { "/Secret/plan.txt",
					       "/Xecret/plan.txt",
					       "/Yecret/plan.txt" };
	static const char *const dir[K_N] = { "/Secret", "/Xecret", "/Yecret" };
	static const char *const inside[K_N] = { "/Secret/plan.txt",
						 "/Secret/plaX.txt",
						 "/Secret/plaY.txt" };
	const char *docs[K_N] = { o->hidden_doc, doc[0], doc[1] };
	const char *chunks[K_N] = { o->hidden_chunk, chunk[0], chunk[1] };
	size_t n = 0;

	for (int i = 0; i < 2; i++) {
		random_hex(seed, doc[i], 32);
		random_hex(seed, chunk[i], 64);
	}
#define CASE(nm, m, u, own, toks)                                \
	do {                                                     \
		cs[n] = (struct ocase){ .name = nm,              \
					.method = m,             \
					.owner = own };          \
		snprintf(cs[n].url, sizeof(cs[n].url), "%s", u); \
		memcpy(cs[n].tok, toks, sizeof(cs[n].tok));      \
		n++;                                             \
	} while (0)
	CASE("tree folder", NULL, SP "/tree?path=%s", true, dir);
	CASE("stat file", NULL, SP "/stat?path=%s", true, path);
	CASE("stat in /Secret", NULL, SP "/stat?path=%s", true, inside);
	CASE("events of file", NULL, SP "/events?path=%s", true, path);
	CASE("events of folder", NULL, SP "/events?path=%s", true, dir);
	CASE("versions", NULL, SP "/docs/%s/versions", true, docs);
	CASE("version 1", NULL, SP "/docs/%s/versions/1", true, docs);
	CASE("chunk read", NULL, SP "/chunks/%s", true, chunks);
	CASE("chunks/missing", NULL, SP "/chunks/missing", true, chunks);
	snprintf(cs[n - 1].body, sizeof(cs[n - 1].body),
		 "{\"chunks\": [\"%%s\"]}");
	CASE("proof v1", NULL, SP "/docs/%s/versions/1/proof", true, docs);
	CASE("signatures v1", NULL, SP "/docs/%s/versions/1/signatures", true,
	     docs);
	CASE("commit deposit onto", NULL, SP "/commits", false, path);
	snprintf(
		cs[n - 1].body, sizeof(cs[n - 1].body),
		"{\"client\": \"oracle\", \"ops\": [{\"op\": \"deposit\", \"path\": \"%%s\", \"size\": %zu, \"sha256\": \"%s\", \"chunks\": [[\"%s\", %zu]]}]}",
		o->public_size, o->public_sha, o->public_chunk, o->public_size);
	CASE("commit move onto", NULL, SP "/commits", false, path);
	snprintf(
		cs[n - 1].body, sizeof(cs[n - 1].body),
		"{\"client\": \"oracle\", \"ops\": [{\"op\": \"move\", \"from\": \"/Public/note.txt\", \"to\": \"%%s\"}]}");
#undef CASE
	return n;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "requests", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "seed", required_argument, NULL, 's' },
		{ "only", required_argument, NULL, 'o' },
		{ "coffred", required_argument, NULL, 'c' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct oracle_space o;
	static char coffred[BENCH_PATH_MAX];
	static struct ocase cases[16];
	static struct orow rows[16][WHO_N];
	unsigned long long seed = (unsigned long long)time(NULL) ^
				  ((unsigned long long)getpid() << 32);
	const char *tmp = getenv("TMPDIR"), *only = NULL;
	int n = 400, warm = 40, c;
	bool keep = false;
	void *h[WHO_N];
	double load[2] = { 0, 0 };
	size_t ncases;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'w':
			warm = atoi(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'o':
			only = optarg;
			break;
		case 'c':
			snprintf(coffred, sizeof(coffred), "%s", optarg);
			break;
		case 'k':
			keep = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (n < 10 || warm < 0 || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!seed)
		seed = 1;
	if (!coffred[0] && bench_binary(coffred, "server/coffred") < 0)
		return 1;
	o.srv.coffred_bin = coffred;
	o.srv.before_serve = oracle_users;
	o.srv.arg = &o;
	snprintf(o.srv.dir, sizeof(o.srv.dir), "%s/coffre-oracle.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(o.srv.dir))
		return bench_err(1, "cannot make a work dir: %s",
				 strerror(errno));
	if (cleanup_init(o.srv.dir, keep) < 0 ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	if (srv_setup(&o.srv) < 0 || oracle_populate(&o) < 0)
		return 1;
	bench_note("coffred %s at %s (work dir %s), seed %llu", coffred,
		   o.srv.url, o.srv.dir, seed);
	ncases = make_cases(&o, cases, &seed);
	for (int w = 0; w < WHO_N; w++)
		if (!(h[w] = http_handle()))
			return bench_err(1, "cannot make a curl handle");
	getloadavg(load, 1);
	for (size_t i = 0; i < ncases; i++) {
		if (only && strncmp(cases[i].name, only, strlen(only)))
			continue;
		bench_note("%s ...", cases[i].name);
		run_case(&o, h, &cases[i], rows[i], n, warm, &seed);
	}
	getloadavg(load + 1, 1);
	printf("\n%d timed requests per cell after %d warm-up rounds, one keep-alive TLS connection per caller; "
	       "times in microseconds, client side; load average %.2f before, %.2f after\n\n",
	       n, warm, load[0], load[1]);
	printf("%-22s %-11s %-8s %-5s %7s %7s %7s %7s %7s %7s %6s %8s\n",
	       "endpoint", "caller", "status", "body", "hid p50", "hid p99",
	       "abs p50", "abs p99", "H-A p50", "A'-A", "noise", "MW p");
	for (size_t i = 0; i < ncases; i++) {
		if (only && strncmp(cases[i].name, only, strlen(only)))
			continue;
		for (int w = 0; w < WHO_N; w++)
			print_row(&rows[i][w], n, &seed);
	}
	printf("\nhidden: under the confidential /Secret (the owner sees it); absent, absent': the same length and depth, nowhere.\n"
	       "body: the hidden answer, its path or id replaced by the absent one's, is the absent answer.\n"
	       "noise: 95th percentile of |median - median| over 200 random halvings of absent + absent'.\n"
	       "DIFFERS: |H-A| over 3x the noise and Mann-Whitney p < 0.001; slight: over the noise, p < 0.001.\n");
	for (int w = 0; w < WHO_N; w++)
		http_handle_free(h[w]);
	curl_global_cleanup();
	return 0;
}
