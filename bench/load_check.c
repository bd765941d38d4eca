/*
 * load_check: what does a hostile client cost an honest one?
 *
 * One run starts a private coffred (127.0.0.1, port 0, a work dir removed
 * at the end), measures an honest user's request (a tree listing of the
 * space root, on a new connection each time, as a new visitor would) when
 * the server is idle, then again under each attack of load_attack.c, and
 * prints, for each, the server's peak RSS (VmHWM, reset before each
 * phase) and the honest user's p50 and p99 beside the idle baseline.
 *
 * This is a program to run by hand (see bench/README.md), not a test: it
 * asserts nothing, it shows figures.
 */
#include "load.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024u * 1024u)

struct honest {
	double ms[4096];
	size_t n;
	long failed;
};

struct phase_row {
	struct attack *a;
	struct honest h;
	long rss_kib;  /* at the start of the phase; < 0: not known */
	long peak_kib; /* < 0: not known */
	bool peak_reset;
	bool died;
	double secs;
	char answers[64];
};

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s,
			       (long)((s - (double)(time_t)s) * 1e9) };

	if (s > 0)
		nanosleep(&ts, NULL);
}

/* One tree listing every 50 ms for secs seconds, each on a new
 * connection; a failure counts with the time it took. */
static void honest_run(const struct load_srv *s, double secs, struct honest *h)
{
	double end = bench_now() + secs;

	h->n = 0;
	h->failed = 0;
	while (bench_now() < end && h->n < BENCH_ARRAY_SIZE(h->ms)) {
		double t0 = bench_now();
		long st = http_req(NULL, s, NULL,
				   "/v1/spaces/" LOAD_SPACE "/tree?path=/",
				   true, NULL, 0, 15, NULL, NULL, NULL, 0);

		h->ms[h->n++] = (bench_now() - t0) * 1000;
		if (st != 200)
			h->failed++;
		sleep_s(t0 + 0.05 - bench_now());
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile q (0..1] of the sorted samples. */
static double pct(const struct honest *h, double q)
{
	size_t k = (size_t)ceil(q * (double)h->n);

	if (!h->n)
		return NAN;
	return h->ms[k ? k - 1 : 0];
}

static void run_phase(struct load_srv *s, struct phase_row *r, double secs)
{
	struct attack *a = r->a;
	long kib;

	r->rss_kib = srv_rss_kib(s);
	r->peak_reset = srv_peak_reset(s) == 0;
	bench_note("%s ...", a->name);
	if (attack_start(a, s) < 0) {
		snprintf(r->answers, sizeof(r->answers), "could not start");
		attack_stop(a);
		return;
	}
	if (a->kind != ATTACK_NONE)
		sleep_s(1); /* let the attack take hold */
	honest_run(s, secs, &r->h);
	kib = proc_peak_rss_kib(s->pid);
	r->peak_kib = kib;
	attack_stop(a);
	r->secs = secs;
	if (a->kind == ATTACK_IDLE)
		snprintf(r->answers, sizeof(r->answers), "%ld connects",
			 atomic_load(&a->tally.requests));
	else if (a->kind != ATTACK_NONE)
		tally_summary(&a->tally, r->answers, sizeof(r->answers));
	qsort(r->h.ms, r->h.n, sizeof(r->h.ms[0]), cmp_double);
	sleep_s(2); /* the server settles before the next phase */
	if (!proc_alive(s->pid)) {
		r->died = true;
		cleanup_del_pid(s->pid);
		bench_note("coffred died during '%s': starting it again",
			   a->name);
		if (srv_start(s) < 0)
			exit(1);
	}
}

static void print_table(const struct phase_row *rows, size_t n)
{
	double base99 = pct(&rows[0].h, 0.99);

	printf("\n%-32s %8s  %-24s %9s %12s %10s %10s %7s %9s\n", "attack",
	       "requests", "answers (most frequent)", "RSS start", "peak RSS",
	       "honest p50", "honest p99", "x idle", "honest ko");
	for (size_t i = 0; i < n; i++) {
		const struct phase_row *r = &rows[i];
		char peak[32], req[32];
		double p99 = pct(&r->h, 0.99);

		if (r->peak_kib < 0)
			snprintf(peak, sizeof(peak), "%s",
				 r->died ? "died" : "?");
		else
			snprintf(peak, sizeof(peak), "%s%ld MiB",
				 r->died ? "died " : "", r->peak_kib / 1024);
		if (r->a->kind == ATTACK_NONE)
			snprintf(req, sizeof(req), "-");
		else
			snprintf(req, sizeof(req), "%ld",
				 atomic_load(&r->a->tally.requests));
		printf("%-32s %8s  %-24s %5ld MiB %12s %7.1f ms %7.1f ms %6.1fx %4ld/%-4zu\n",
		       r->a->name, req, r->a->kind ? r->answers : "-",
		       r->rss_kib / 1024, peak, pct(&r->h, 0.5), p99,
		       p99 / base99, r->h.failed, r->h.n);
	}
	if (!rows[0].peak_reset)
		printf("\n(peak RSS could not be reset between phases: each figure is the peak since the server started)\n");
	printf("\nhonest: GET tree of / on a new TLS connection every 50 ms; "
	       "a failure (no 200 within 15 s) counts with its time.\n");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: load_check [--seconds S] [--threads N] [--refs N] [--coffred PATH] [--keep]\n"
		"  --seconds S   honest measurement per phase (default 10)\n"
		"  --threads N   attacker threads for bodies and guesses (default 2)\n"
		"  --refs N      references of the repeated chunk (default 512)\n"
		"  --coffred P   the server binary (default: the build's)\n"
		"  --keep        keep the work dir (logs, data) at the end\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "refs", required_argument, NULL, 'r' },
		{ "coffred", required_argument, NULL, 'c' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct load_srv srv;
	static char coffred[BENCH_PATH_MAX];
	const char *commits = "/v1/spaces/" LOAD_SPACE "/commits";
	double secs = 10;
	int threads = 2, refs = 512, c;
	bool keep = false;
	const char *tmp = getenv("TMPDIR");

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			secs = atof(optarg);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'r':
			refs = atoi(optarg);
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
	if (secs <= 0 || threads < 1 || refs < 1) {
		usage(stderr);
		return 2;
	}
	if (!coffred[0] && bench_binary(coffred, "server/coffred") < 0)
		return 1;
	srv.coffred_bin = coffred;
	snprintf(srv.dir, sizeof(srv.dir), "%s/coffre-load.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(srv.dir))
		return bench_err(1, "cannot make a work dir: %s",
				 strerror(errno));
	if (cleanup_init(srv.dir, keep) < 0 ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	if (srv_setup(&srv) < 0)
		return 1;
	bench_note("coffred %s at %s (work dir %s)", coffred, srv.url, srv.dir);

	struct attack attacks[] = {
		{ .name = "none (idle baseline)", .kind = ATTACK_NONE },
		{ .name = "login, 4 MiB JSON bodies",
		  .kind = ATTACK_BODY,
		  .path = "/v1/login",
		  .size = 4 * MIB,
		  .threads = threads },
		{ .name = "login, 16 MiB JSON bodies",
		  .kind = ATTACK_BODY,
		  .path = "/v1/login",
		  .size = 16 * MIB,
		  .threads = threads },
		{ .name = "commits, 4 MiB JSON bodies",
		  .kind = ATTACK_BODY,
		  .path = commits,
		  .auth = true,
		  .size = 4 * MIB,
		  .threads = threads },
		{ .name = "commits, 16 MiB JSON bodies",
		  .kind = ATTACK_BODY,
		  .path = commits,
		  .auth = true,
		  .size = 16 * MIB,
		  .threads = threads },
		{ .name = "commit, 1 chunk named N times",
		  .kind = ATTACK_REPEAT,
		  .size = (size_t)refs,
		  .threads = threads },
		{ .name = "256 idle TCP sockets, no TLS",
		  .kind = ATTACK_IDLE,
		  .size = 256 },
		{ .name = "password guesses, full speed",
		  .kind = ATTACK_GUESS,
		  .threads = 2 * threads },
	};
	static struct phase_row rows[BENCH_ARRAY_SIZE(attacks)];
	char name[64];

	snprintf(name, sizeof(name), "commit, 1 chunk named %d times", refs);
	attacks[5].name = name;
	for (size_t i = 0; i < BENCH_ARRAY_SIZE(attacks); i++) {
		rows[i].a = &attacks[i];
		run_phase(&srv, &rows[i], secs);
	}
	print_table(rows, BENCH_ARRAY_SIZE(rows));
	if (attacks[7].tally.requests)
		printf("password guesses: %.0f per second over %.0f s, %ld answered 401\n",
		       (double)atomic_load(&attacks[7].tally.requests) /
			       (secs + 1),
		       secs + 1, atomic_load(&attacks[7].tally.n[401]));
	if (srv.starts > 1)
		printf("coffred had to be started %d times (it died under an attack; see its log)\n",
		       srv.starts);
	curl_global_cleanup();
	return 0;
}
