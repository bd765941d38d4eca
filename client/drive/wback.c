/*
 * Write-behind workers (the contract is in wback.h).
 *
 * Each node with queued writes is either on the ready list or being run by
 * exactly one worker (wb_running), so its writes are applied one at a time
 * and in order; two nodes are applied in parallel by two workers.  wb->lock
 * is a leaf lock: nothing else is taken while it is held.  Every queued job
 * holds a reference to its node, dropped once the node no longer appears in
 * any of these structures.
 */
#include "client/drive/wback.h"
#include "client/drive/fs_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"

#define WBACK_THREADS	2
/* Job buffers of this size are kept for reuse (the drive's max_write), as
 * many as can be in flight: no malloc, no page faults per write. */
#define WBACK_JOB_CAP	(1024u * 1024)
#define WBACK_KEEP_JOBS (WBACK_MAX_INFLIGHT / WBACK_JOB_CAP + 1)

struct wb_job {
	struct wb_job *next;
	uint64_t off;
	size_t len, cap;
	uint8_t data[];
};

struct wback {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a node became ready, or stop */
	pthread_cond_t done; /* a job finished: room, or a node drained */
	struct node *ready_head, *ready_tail;
	size_t inflight;      /* bytes queued and not yet applied */
	struct wb_job *spare; /* WBACK_JOB_CAP buffers to reuse */
	size_t nspare;
	int stop;
	size_t nthreads;
	pthread_t th[WBACK_THREADS];
};

static void ready_push(struct wback *wb, struct node *n)
{
	n->wb_next = NULL;
	if (wb->ready_tail)
		wb->ready_tail->wb_next = n;
	else
		wb->ready_head = n;
	wb->ready_tail = n;
	n->wb_ready = 1;
	pthread_cond_signal(&wb->work);
}

static struct node *ready_pop(struct wback *wb)
{
	struct node *n = wb->ready_head;

	if (n) {
		wb->ready_head = n->wb_next;
		if (!wb->ready_head)
			wb->ready_tail = NULL;
		n->wb_next = NULL;
		n->wb_ready = 0;
	}
	return n;
}

static void unref_node(struct fs *fs, struct node *n)
{
	pthread_mutex_lock(&fs->lock);
	node_unref(fs, n);
	pthread_mutex_unlock(&fs->lock);
}

/* Apply one job to staging; after a failure the rest is dropped (the
 * content is torn already, and the error is what the writer will see). */
static void apply(struct fs *fs, struct node *n, struct wb_job *j, int err)
{
	size_t done = 0;
	ssize_t r = 0;

	if (err)
		return;
	/* a short write stopped at an error: the next call names it */
	pthread_mutex_lock(&n->lock);
	while (done < j->len) {
		r = content_write(fs, n, j->data + done, j->len - done,
				  j->off + done);
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	pthread_mutex_unlock(&n->lock);
	if (r == 0 && done < j->len)
		r = err_set(-EIO, "staging took no more bytes");
	if (r < 0) {
		log_warn("write to '%s' failed: %s", n->name, err_msg());
		pthread_mutex_lock(&fs->wb->lock);
		if (!n->wb_err)
			n->wb_err = (int)r;
		pthread_mutex_unlock(&fs->wb->lock);
	}
}

/* A job buffer for size bytes (wb->lock held, dropped to allocate). */
static struct wb_job *job_get(struct wback *wb, size_t size)
{
	struct wb_job *j = NULL;
	size_t cap = size > WBACK_JOB_CAP ? size : WBACK_JOB_CAP;

	if (size <= WBACK_JOB_CAP && wb->spare) {
		j = wb->spare;
		wb->spare = j->next;
		wb->nspare--;
		return j;
	}
	pthread_mutex_unlock(&wb->lock);
	j = malloc(sizeof(*j) + cap);
	pthread_mutex_lock(&wb->lock);
	if (j)
		j->cap = cap;
	return j;
}

/* wb->lock held. */
static void job_put(struct wback *wb, struct wb_job *j)
{
	if (j->cap == WBACK_JOB_CAP && wb->nspare < WBACK_KEEP_JOBS) {
		j->next = wb->spare;
		wb->spare = j;
		wb->nspare++;
	} else {
		free(j);
	}
}

static void *worker(void *arg)
{
	struct fs *fs = arg;
	struct wback *wb = fs->wb;

	pthread_mutex_lock(&wb->lock);
	for (;;) {
		struct node *n = ready_pop(wb);

		if (!n) {
			if (wb->stop)
				break;
			pthread_cond_wait(&wb->work, &wb->lock);
			continue;
		}
		n->wb_running = 1;
		while (n->wb_head) {
			struct wb_job *j = n->wb_head;
			int err = n->wb_err;

			n->wb_head = j->next;
			if (!n->wb_head)
				n->wb_tail = NULL;
			pthread_mutex_unlock(&wb->lock);
			apply(fs, n, j, err);
			pthread_mutex_lock(&wb->lock);
			wb->inflight -= j->len;
			job_put(wb, j);
			if (n->wb_head) {
				/* the node keeps the next job's reference */
				pthread_mutex_unlock(&wb->lock);
				unref_node(fs, n);
				pthread_mutex_lock(&wb->lock);
			}
			pthread_cond_broadcast(&wb->done);
		}
		n->wb_running = 0;
		pthread_cond_broadcast(&wb->done);
		/* the last job's reference: n is out of every list now */
		pthread_mutex_unlock(&wb->lock);
		unref_node(fs, n);
		pthread_mutex_lock(&wb->lock);
	}
	pthread_mutex_unlock(&wb->lock);
	return NULL;
}

int wback_start(struct fs *fs)
{
	struct wback *wb = calloc(1, sizeof(*wb));
	int rc;

	if (!wb)
		return err_set(-ENOMEM, "out of memory for write-behind");
	pthread_mutex_init(&wb->lock, NULL);
	pthread_cond_init(&wb->work, NULL);
	pthread_cond_init(&wb->done, NULL);
	fs->wb = wb;
	for (wb->nthreads = 0; wb->nthreads < WBACK_THREADS; wb->nthreads++) {
		rc = pthread_create(&wb->th[wb->nthreads], NULL, worker, fs);
		if (rc) {
			wback_stop(fs);
			return err_set(-rc, "cannot start write-behind: %s",
				       strerror(rc));
		}
	}
	return 0;
}

void wback_stop(struct fs *fs)
{
	struct wback *wb = fs->wb;
	size_t i;

	if (!wb)
		return;
	pthread_mutex_lock(&wb->lock);
	wb->stop = 1;
	pthread_cond_broadcast(&wb->work);
	pthread_mutex_unlock(&wb->lock);
	for (i = 0; i < wb->nthreads; i++)
		pthread_join(wb->th[i], NULL);
	while (wb->spare) {
		struct wb_job *j = wb->spare;

		wb->spare = j->next;
		free(j);
	}
	pthread_mutex_destroy(&wb->lock);
	pthread_cond_destroy(&wb->work);
	pthread_cond_destroy(&wb->done);
	free(wb);
	fs->wb = NULL;
}

int wback_write(struct fs *fs, struct node *n, const void *buf, size_t size,
		uint64_t off)
{
	struct wback *wb = fs->wb;
	struct wb_job *j;
	int err;

	pthread_mutex_lock(&wb->lock);
	err = n->wb_err;
	if (err) {
		pthread_mutex_unlock(&wb->lock);
		return err;
	}
	/* bounded memory: wait for room unless nothing is queued at all */
	while (wb->inflight && wb->inflight + size > WBACK_MAX_INFLIGHT)
		pthread_cond_wait(&wb->done, &wb->lock);
	wb->inflight += size; /* room taken before the copy */
	j = job_get(wb, size);
	if (!j) {
		wb->inflight -= size;
		pthread_cond_broadcast(&wb->done);
		pthread_mutex_unlock(&wb->lock);
		return err_set(-ENOMEM, "out of memory for a write");
	}
	pthread_mutex_unlock(&wb->lock);
	j->next = NULL;
	j->off = off;
	j->len = size;
	memcpy(j->data, buf, size);

	pthread_mutex_lock(&fs->lock);
	node_ref(n);
	if (n->lsize < off + size)
		n->lsize = off + size;
	n->wrote = 1;
	n->mtime_local = fs_now_ms() / 1000;
	pthread_mutex_unlock(&fs->lock);

	pthread_mutex_lock(&wb->lock);
	if (n->wb_tail)
		n->wb_tail->next = j;
	else
		n->wb_head = j;
	n->wb_tail = j;
	if (!n->wb_ready && !n->wb_running)
		ready_push(wb, n);
	pthread_mutex_unlock(&wb->lock);
	return 0;
}

int wback_drain(struct fs *fs, struct node *n)
{
	struct wback *wb = fs->wb;
	int err;

	if (!wb)
		return 0;
	pthread_mutex_lock(&wb->lock);
	while (n->wb_head || n->wb_running || n->wb_ready)
		pthread_cond_wait(&wb->done, &wb->lock);
	err = n->wb_err;
	pthread_mutex_unlock(&wb->lock);
	return err;
}

void wback_fail(struct fs *fs, struct node *n, int err)
{
	if (!fs->wb)
		return;
	pthread_mutex_lock(&fs->wb->lock);
	if (!n->wb_err)
		n->wb_err = err;
	pthread_mutex_unlock(&fs->wb->lock);
}

void wback_reset(struct fs *fs, struct node *n)
{
	if (!fs->wb)
		return;
	pthread_mutex_lock(&fs->wb->lock);
	n->wb_err = 0;
	pthread_mutex_unlock(&fs->wb->lock);
}
