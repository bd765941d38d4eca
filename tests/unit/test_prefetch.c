/*
 * The chunk read-ahead against fake fetches: every chunk asked for is
 * fetched once, in the order asked, cached ones are skipped, a chunk being
 * fetched makes a reader wait for that fetch (and not fetch it again),
 * one still queued is handed back to the reader, the queue's bound holds,
 * and freeing cuts a fetch short instead of waiting for it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/drive/prefetch.h"
#include "tests/lib/tap.h"

#define N 64

struct fake {
	atomic_int fetched[N]; /* times chunk i was fetched */
	atomic_int cached[N];
	atomic_int order[N];
	atomic_int norder;
	atomic_int gate;    /* fetches wait while it is 0 */
	atomic_int cut;	    /* fetches that saw the stop */
	atomic_int started; /* fetches begun */
};

static int idx(const struct manifest_chunk *c)
{
	return c->id.b[0];
}

static int fake_cached(void *arg, const struct manifest_chunk *c)
{
	struct fake *f = arg;

	return f->cached[idx(c)];
}

static void nap(void)
{
	struct timespec ts = { 0, 1000000 };

	nanosleep(&ts, NULL);
}

static int fake_fetch(void *arg, const struct manifest_chunk *c,
		      const int *stop)
{
	struct fake *f = arg;

	f->started++;
	while (!atomic_load(&f->gate)) {
		if (__atomic_load_n(stop, __ATOMIC_RELAXED)) {
			f->cut++;
			return -1;
		}
		nap();
	}
	f->order[f->norder++] = idx(c);
	f->fetched[idx(c)]++;
	f->cached[idx(c)] = 1;
	return 0;
}

/* Opens the gate a moment later, from another thread. */
static void *open_gate(void *arg)
{
	struct fake *f = arg;

	for (int i = 0; i < 50; i++)
		nap();
	f->gate = 1;
	return NULL;
}

static void chunks(struct manifest_chunk *c, int from, int n)
{
	memset(c, 0, (size_t)n * sizeof(*c));
	for (int i = 0; i < n; i++) {
		c[i].id.b[0] = (uint8_t)(from + i);
		c[i].size = 100;
	}
}

static int wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 5000 && atomic_load(v) != want; i++)
		nap();
	return atomic_load(v) == want;
}

int main(void)
{
	static struct fake f;
	struct prefetch_ops ops = { fake_cached, fake_fetch, &f };
	struct manifest_chunk c[N];
	struct prefetch *pf = NULL;
	int all = 1;

	/* one worker: the order is the order asked */
	is_int(prefetch_new(&pf, &ops, 1, 8), 0, "a read-ahead, one worker");
	f.cached[3] = 1;
	chunks(c, 0, 6);
	prefetch_ask(pf, c, 6);
	prefetch_ask(pf, c, 6); /* again: nothing more */
	f.gate = 1;
	ok(wait_for(&f.norder, 5), "the five not cached are fetched");
	for (int i = 0; i < 6; i++)
		all &= f.fetched[i] == (i == 3 ? 0 : 1);
	ok(all, "each once, the cached one never");
	ok(f.order[0] == 0 && f.order[1] == 1 && f.order[2] == 2 &&
		   f.order[3] == 4 && f.order[4] == 5,
	   "in the order asked");

	/* a chunk being fetched: the reader waits for it */
	f.gate = 0;
	chunks(c, 10, 1);
	prefetch_ask(pf, c, 1);
	for (int i = 0; i < 20; i++)
		nap(); /* the worker takes it and waits at the gate */
	{
		pthread_t opener;

		pthread_create(&opener, NULL, open_gate, &f);
		is_int(prefetch_claim(pf, &c[0]), 1,
		       "a chunk being fetched: the claim waits for it");
		pthread_join(opener, NULL);
	}
	is_int(f.fetched[10], 1, "... and it was fetched once, by the worker");

	/* queued behind a slow one: handed back to the reader */
	f.gate = 0;
	chunks(c, 20, 3);
	prefetch_ask(pf, c, 3);
	nap();
	is_int(prefetch_claim(pf, &c[2]), 0,
	       "a chunk still queued is the reader's to fetch");
	f.gate = 1;
	ok(wait_for(&f.fetched[21], 1), "the others go on");
	nap();
	is_int(f.fetched[22], 0, "the one handed back is not fetched");
	is_int(prefetch_claim(pf, &c[0]), 0, "a chunk done is not waited for");

	/* the queue's bound: 8 */
	f.gate = 0;
	chunks(c, 30, 20);
	prefetch_ask(pf, c, 20);
	f.gate = 1;
	for (int i = 0; i < 200; i++)
		nap();
	all = 0;
	for (int i = 30; i < 50; i++)
		all += f.fetched[i];
	is_int(all, 8, "only as many as the queue holds are fetched");

	/* freeing while a fetch hangs cuts it short */
	f.gate = 0;
	f.started = 0;
	chunks(c, 55, 2);
	prefetch_ask(pf, c, 2);
	ok(wait_for(&f.started, 1), "a fetch is under way");
	prefetch_free(pf);
	ok(f.cut >= 1, "a fetch under way saw the stop");
	prefetch_free(NULL);

	/* several workers: every chunk once */
	memset(&f, 0, sizeof(f));
	f.gate = 1;
	is_int(prefetch_new(&pf, &ops, 4, 64), 0, "four workers");
	chunks(c, 0, N);
	prefetch_ask(pf, c, N);
	ok(wait_for(&f.norder, N), "all fetched");
	for (int i = 0; i < N; i++)
		prefetch_claim(pf, &c[i]);
	all = 1;
	for (int i = 0; i < N; i++)
		all &= f.fetched[i] == 1;
	ok(all, "each exactly once");
	prefetch_free(pf);
	return tap_done();
}
