/*
 * Chunk read-ahead (see prefetch.h): a bounded list of chunks asked for,
 * each waiting or being fetched, under one mutex never held across a
 * fetch; a condition for the workers (work to do) and one for readers
 * (a fetch ended).
 */
#include "client/drive/prefetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"

#define PREFETCH_THREADS_MAX 16

struct slot {
	struct manifest_chunk c;
	int busy; /* a worker is fetching it */
};

struct prefetch {
	struct prefetch_ops ops;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	/* protected by lock: asked chunks, oldest first */
	struct slot *slots;
	size_t n, max;
	int stop;
	pthread_t th[PREFETCH_THREADS_MAX];
	unsigned nthreads;
};

/* Index of the slot holding id, or n. */
static size_t find(const struct prefetch *pf, const struct obj_id *id)
{
	size_t i;

	for (i = 0; i < pf->n; i++)
		if (!obj_id_cmp(&pf->slots[i].c.id, id))
			break;
	return i;
}

static void drop(struct prefetch *pf, size_t i)
{
	memmove(pf->slots + i, pf->slots + i + 1,
		(pf->n - i - 1) * sizeof(*pf->slots));
	pf->n--;
}

static void *worker(void *arg)
{
	struct prefetch *pf = arg;

	pthread_mutex_lock(&pf->lock);
	for (;;) {
		struct manifest_chunk c;
		size_t i;
		int rc;

		for (i = 0; i < pf->n && pf->slots[i].busy; i++)
			;
		if (pf->stop)
			break;
		if (i == pf->n) {
			pthread_cond_wait(&pf->work, &pf->lock);
			continue;
		}
		pf->slots[i].busy = 1;
		c = pf->slots[i].c;
		pthread_mutex_unlock(&pf->lock);
		rc = pf->ops.cached(pf->ops.arg, &c) == 1 ?
			     0 :
			     pf->ops.fetch(pf->ops.arg, &c, &pf->stop);
		if (rc < 0) /* the reader will fetch it and say why */
			log_debug("read-ahead of a chunk failed: %s",
				  err_msg());
		pthread_mutex_lock(&pf->lock);
		i = find(pf, &c.id);
		if (i < pf->n)
			drop(pf, i);
		pthread_cond_broadcast(&pf->done);
	}
	pthread_mutex_unlock(&pf->lock);
	return NULL;
}

int prefetch_new(struct prefetch **out, const struct prefetch_ops *ops,
		 unsigned threads, size_t queue_max)
{
	struct prefetch *pf = calloc(1, sizeof(*pf));

	*out = NULL;
	if (!pf || !(pf->slots = calloc(queue_max ? queue_max : 1,
					sizeof(*pf->slots)))) {
		free(pf);
		return err_set(-ENOMEM, "out of memory for read-ahead");
	}
	pf->ops = *ops;
	pf->max = queue_max;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->work, NULL);
	pthread_cond_init(&pf->done, NULL);
	if (threads > PREFETCH_THREADS_MAX)
		threads = PREFETCH_THREADS_MAX;
	for (; pf->nthreads < threads; pf->nthreads++)
		if (pthread_create(&pf->th[pf->nthreads], NULL, worker, pf))
			break;
	if (!pf->nthreads) {
		prefetch_free(pf);
		return err_set(-EAGAIN, "cannot start read-ahead threads");
	}
	*out = pf;
	return 0;
}

void prefetch_free(struct prefetch *pf)
{
	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	__atomic_store_n(&pf->stop, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&pf->work);
	pthread_mutex_unlock(&pf->lock);
	for (unsigned i = 0; i < pf->nthreads; i++)
		pthread_join(pf->th[i], NULL);
	pthread_cond_destroy(&pf->work);
	pthread_cond_destroy(&pf->done);
	pthread_mutex_destroy(&pf->lock);
	free(pf->slots);
	free(pf);
}

void prefetch_ask(struct prefetch *pf, const struct manifest_chunk *c, size_t n)
{
	int added = 0;

	for (size_t k = 0; k < n; k++) {
		/* outside the lock: it may look at the disk */
		if (pf->ops.cached(pf->ops.arg, &c[k]) == 1)
			continue;
		pthread_mutex_lock(&pf->lock);
		if (pf->n < pf->max && find(pf, &c[k].id) == pf->n) {
			pf->slots[pf->n].c = c[k];
			pf->slots[pf->n].busy = 0;
			pf->n++;
			added = 1;
		}
		pthread_mutex_unlock(&pf->lock);
	}
	if (added) {
		pthread_mutex_lock(&pf->lock);
		pthread_cond_broadcast(&pf->work);
		pthread_mutex_unlock(&pf->lock);
	}
}

int prefetch_claim(struct prefetch *pf, const struct manifest_chunk *c)
{
	int waited = 0;
	size_t i;

	pthread_mutex_lock(&pf->lock);
	while ((i = find(pf, &c->id)) < pf->n) {
		if (!pf->slots[i].busy) {
			drop(pf, i);
			break;
		}
		waited = 1;
		pthread_cond_wait(&pf->done, &pf->lock);
	}
	pthread_mutex_unlock(&pf->lock);
	return waited;
}
