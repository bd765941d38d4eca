/*
 * deposit_load: how many deposits a second, and how long each takes, as
 * nodes are added.
 *
 * N concurrent API clients (threads, each its own connection) deposit
 * small documents for a few seconds: a random 2 KiB body uploaded as one
 * chunk, then the commit that files it as a new document.  A deposit's
 * latency is both requests.  The same run measures, side by side:
 *
 *   embedded    one coffred on its default stores (SQLite, chunk folder,
 *               ledger folder), started by the bench, clients straight to it
 *   cluster/K   scripts/cluster.sh up --nodes K for K = 1, 2, 3: PostgreSQL,
 *               Ceph RGW, K coffred nodes sharing them, clients through
 *               HAProxy (TLS ended there)
 *
 * and prints deposits per second, p50 and p99 latency and failures.  The
 * cluster rows need scripts/install-deps.sh --cluster and root (PostgreSQL
 * runs as user postgres); without them only the embedded row is printed.
 * A program to run by hand (bench/README.md), not a test.
 */
#include "load.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOC_BYTES  2048
#define MAX_SAMPLE 200000
#define MAX_CLIENT 64

struct run {
	struct load_srv *srv;
	double until;
	atomic_long done, failed;
	pthread_mutex_t lock;
	double *ms; /* latencies, under lock */
	size_t n;
};

struct client {
	struct run *r;
	int id;
};

static void hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* One deposit on handle h: the chunk, then the commit naming it. */
static int deposit(void *h, const struct load_srv *s, int client, long seq)
{
	unsigned char doc[DOC_BYTES], md[32];
	char id[65], path[160], body[512];
	long st;

	if (getrandom(doc, sizeof(doc), 0) != (ssize_t)sizeof(doc))
		return -EIO;
	EVP_Digest(doc, sizeof(doc), md, NULL, EVP_sha256(), NULL);
	hex(md, sizeof(md), id);
	snprintf(path, sizeof(path), "/v1/spaces/%s/chunks/%s", LOAD_SPACE, id);
	st = http_req(h, s, "PUT", path, true, doc, sizeof(doc), 60, NULL, NULL,
		      NULL, 0);
	if (st != 200 && st != 201)
		return -EIO;
	/* One chunk: the whole's SHA-256 is the chunk's. */
	snprintf(
		body, sizeof(body),
		"{\"client\": \"load-%d\", \"ops\": [{\"op\": \"deposit\", \"path\": \"/c%d-%ld.bin\", \"size\": %d, \"sha256\": \"%s\", \"chunks\": [[\"%s\", %d]]}]}",
		client, client, seq, DOC_BYTES, id, id, DOC_BYTES);
	st = http_req(h, s, NULL, "/v1/spaces/" LOAD_SPACE "/commits", true,
		      body, strlen(body), 60, NULL, NULL, NULL, 0);
	return st == 200 ? 0 : -EIO;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct run *r = c->r;
	void *h = http_handle();
	long seq = 0;

	while (bench_now() < r->until) {
		double t0 = bench_now();
		int rc = deposit(h, r->srv, c->id, seq++);
		double ms = (bench_now() - t0) * 1000.0;

		if (rc < 0) {
			atomic_fetch_add(&r->failed, 1);
			continue;
		}
		atomic_fetch_add(&r->done, 1);
		pthread_mutex_lock(&r->lock);
		if (r->n < MAX_SAMPLE)
			r->ms[r->n++] = ms;
		pthread_mutex_unlock(&r->lock);
	}
	http_handle_free(h);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct load_row {
	char name[32];
	int measured;
	double rate, p50, p99;
	long done, failed;
	char why[160];
};

static void measure(struct load_srv *s, int clients, double secs,
		    struct load_row *row)
{
	struct run r = { .srv = s };
	struct client c[MAX_CLIENT];
	pthread_t tid[MAX_CLIENT];
	double t0;
	int started = 0;

	r.ms = calloc(MAX_SAMPLE, sizeof(double));
	if (!r.ms) {
		snprintf(row->why, sizeof(row->why), "out of memory");
		return;
	}
	pthread_mutex_init(&r.lock, NULL);
	t0 = bench_now();
	r.until = t0 + secs;
	for (int i = 0; i < clients; i++) {
		c[i] = (struct client){ &r, i };
		if (pthread_create(&tid[i], NULL, client_main, &c[i]) == 0)
			started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	qsort(r.ms, r.n, sizeof(double), cmp_double);
	row->measured = 1;
	row->done = atomic_load(&r.done);
	row->failed = atomic_load(&r.failed);
	row->rate = (double)row->done / (bench_now() - t0);
	row->p50 = r.n ? r.ms[r.n / 2] : 0;
	row->p99 = r.n ? r.ms[(r.n * 99) / 100] : 0;
	pthread_mutex_destroy(&r.lock);
	free(r.ms);
}

/* The value of "export KEY=VALUE" in the env file of a deployment. */
static int env_value(const char *file, const char *key, char *out, size_t len)
{
	char line[BENCH_PATH_MAX + 64];
	size_t klen = strlen(key);
	FILE *f = fopen(file, "r");
	int found = 0;

	if (!f)
		return -errno;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "export ", 7) ||
		    strncmp(line + 7, key, klen) || line[7 + klen] != '=')
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(out, len, "%s", line + 8 + klen);
		found = 1;
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

/* scripts/cluster.sh up/down DIR [--nodes K]; its exit code or -errno. */
static int cluster(const char *script, const char *verb, const char *dir,
		   int nodes, const char *log)
{
	char k[16];
	char *argv[] = { (char *)script,
			 (char *)verb,
			 (char *)dir,
			 (char *)"--nodes",
			 k,
			 NULL };

	snprintf(k, sizeof(k), "%d", nodes);
	if (nodes == 0)
		argv[3] = NULL;
	return proc_run(argv, log, log, 300);
}

/* A fresh deployment of K nodes, a user and a space, a token. */
static int cluster_target(struct load_srv *s, char *cdir, const char *script,
			  const char *work, int nodes, char *why, size_t wlen)
{
	char env[BENCH_PATH_MAX], log[BENCH_PATH_MAX], pgpass[BENCH_PATH_MAX];
	char *space[] = { (char *)s->coffred_bin, (char *)"space",
			  (char *)"create",	  s->data,
			  (char *)LOAD_SPACE,	  (char *)"--owner",
			  (char *)LOAD_LOGIN,	  (char *)"--plan",
			  (char *)"none",	  NULL };
	int rc;

	if (bench_path(s->dir, "%s/cluster-%d", work, nodes) < 0)
		return snprintf(why, wlen, "work dir path too long"),
		       -ENAMETOOLONG;
	if (mkdir(s->dir, 0755) < 0 && errno != EEXIST)
		return snprintf(why, wlen, "cannot make %.100s", s->dir),
		       -errno;
	bench_path(log, "%s/cluster.log", s->dir);
	bench_path(env, "%s/c/env", s->dir);
	rc = bench_path(cdir, "%s/c", s->dir);
	if (rc == 0)
		rc = bench_path(s->log, "%s/coffred-cli.log", s->dir);
	if (rc == 0)
		rc = cluster(script, "up", cdir, nodes, log);
	if (rc != 0) {
		snprintf(why, wlen, "cluster.sh up failed (%.100s)", log);
		return -EIO;
	}
	if (env_value(env, "COFFRE_URL", s->url, sizeof(s->url)) < 0 ||
	    env_value(env, "COFFRE_CACERT", s->cacert, sizeof(s->cacert)) < 0 ||
	    env_value(env, "COFFRE_DATADIR", s->data, sizeof(s->data)) < 0 ||
	    env_value(env, "PGPASSFILE", pgpass, sizeof(pgpass)) < 0) {
		snprintf(why, wlen, "%.100s lacks a value", env);
		return -EIO;
	}
	setenv("PGPASSFILE", pgpass, 1);
	if (srv_user_add(s, LOAD_LOGIN, s->password) < 0 ||
	    proc_run(space, log, log, 60) != 0 ||
	    srv_login(s, LOAD_LOGIN, s->password, s->token, sizeof(s->token)) <
		    0) {
		snprintf(why, wlen, "no user, space or token (%.100s)", log);
		return -EIO;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: deposit_load [--clients N] [--seconds S] [--nodes 0..3] [--coffred PATH] [--keep]\n"
		"  N API clients (default 8) deposit 2 KiB documents for S seconds (default 10)\n"
		"  on the embedded default, then on scripts/cluster.sh deployments of 1 to\n"
		"  --nodes coffred nodes (default 3; 0: the embedded row only)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "clients", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "nodes", required_argument, NULL, 'k' },
		{ "coffred", required_argument, NULL, 'c' },
		{ "keep", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct load_srv emb, cl[3];
	static char cdir[3][BENCH_PATH_MAX];
	static char coffred[BENCH_PATH_MAX], script[BENCH_PATH_MAX],
		work[BENCH_PATH_MAX];
	struct load_row rows[4] = { 0 };
	int clients = 8, max_nodes = 3, c;
	double secs = 10;
	bool keep = false;
	const char *tmp = getenv("TMPDIR");

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			clients = atoi(optarg);
			break;
		case 's':
			secs = atof(optarg);
			break;
		case 'k':
			max_nodes = atoi(optarg);
			break;
		case 'c':
			snprintf(coffred, sizeof(coffred), "%s", optarg);
			break;
		case 'K':
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
	if (clients < 1 || clients > MAX_CLIENT || secs <= 0 || max_nodes < 0 ||
	    max_nodes > 3) {
		usage(stderr);
		return 2;
	}
	if (!coffred[0] && bench_binary(coffred, "server/coffred") < 0)
		return 1;
	if (bench_binary(script, "../scripts/cluster.sh") < 0)
		snprintf(script, sizeof(script), "scripts/cluster.sh");
	snprintf(work, sizeof(work), "%s/coffre-deposit-load.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(work))
		return bench_err(1, "cannot make a work dir: %s",
				 strerror(errno));
	/* PostgreSQL runs as another user: it must reach the work dir. */
	chmod(work, 0755);
	if (cleanup_init(work, keep) < 0 ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;

	snprintf(rows[0].name, sizeof(rows[0].name), "embedded");
	emb.coffred_bin = coffred;
	bench_path(emb.dir, "%s/embedded", work);
	if (mkdir(emb.dir, 0700) == 0 && srv_setup(&emb) == 0) {
		measure(&emb, clients, secs, &rows[0]);
		proc_stop(emb.pid, 10);
	} else {
		snprintf(rows[0].why, sizeof(rows[0].why), "no server");
	}
	for (int k = 1; k <= max_nodes; k++) {
		struct load_srv *s = &cl[k - 1];
		struct load_row *row = &rows[k];

		snprintf(row->name, sizeof(row->name), "cluster/%d node%s", k,
			 k == 1 ? "" : "s");
		s->coffred_bin = coffred;
		setenv("COFFRED", coffred, 1);
		if (cluster_target(s, cdir[k - 1], script, work, k, row->why,
				   sizeof(row->why)) == 0)
			measure(s, clients, secs, row);
		if (cdir[k - 1][0])
			cluster(script, "down", cdir[k - 1], 0, NULL);
	}

	printf("deposit_load: %d clients, %.0f s each, %d-byte documents (chunk + commit)\n",
	       clients, secs, DOC_BYTES);
	printf("%-18s %12s %10s %10s %9s %9s\n", "target", "deposits/s",
	       "p50 ms", "p99 ms", "deposits", "failed");
	for (int i = 0; i <= max_nodes; i++) {
		if (!rows[i].measured) {
			printf("%-18s not measured: %s\n", rows[i].name,
			       rows[i].why);
			continue;
		}
		printf("%-18s %12.1f %10.1f %10.1f %9ld %9ld\n", rows[i].name,
		       rows[i].rate, rows[i].p50, rows[i].p99, rows[i].done,
		       rows[i].failed);
	}
	return 0;
}
