/*
 * The listener of change_listen.h: one thread, one connection of its own
 * to the index, woken by a pipe to stop.
 */
#include "server/change_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "server/api.h"
#include "server/index.h"
#include "server/spaces.h"

#define LISTEN_WAIT_MS	 30000 /* a wait; the stop pipe ends it sooner */
#define LISTEN_RETRY_MS	 1000  /* first pause after a lost connection */
#define LISTEN_RETRY_MAX 30000 /* the longest pause */

struct change_listen {
	struct index *ix;
	struct spaces *sp;
	int stop_pipe[2];	      /* written once to stop the thread */
	struct index_listener *first; /* opened by start, the thread's then */
	pthread_t thread;
};

static int heard(const char *space, const char *unused, void *arg)
{
	struct change_listen *l = arg;

	(void)unused;
	if (spaces_changed(l->sp, space))
		api_changes_notify();
	return 0;
}

/* 1 when told to stop, waiting at most ms for it. */
static int stopped(struct change_listen *l, int ms)
{
	struct pollfd p = { .fd = l->stop_pipe[0], .events = POLLIN };

	return poll(&p, 1, ms) > 0;
}

static void *listen_main(void *arg)
{
	struct change_listen *l = arg;
	struct index_listener *li = l->first;
	int retry = LISTEN_RETRY_MS, lost = 0, rc;

	while (!stopped(l, 0)) {
		if (!li) {
			rc = index_listen_open(l->ix, &li);
			if (rc < 0) {
				if (!lost)
					log_warn(
						"change feed: cannot hear the other nodes (%s); trying again, change_poll meanwhile",
						err_msg());
				lost = 1;
				if (stopped(l, retry))
					break;
				retry = retry * 2 > LISTEN_RETRY_MAX ?
						LISTEN_RETRY_MAX :
						retry * 2;
				continue;
			}
			if (lost) {
				log_info(
					"change feed: hearing the other nodes again");
				/* what was told meanwhile is lost: re-read */
				api_changes_recheck();
			}
			lost = 0;
			retry = LISTEN_RETRY_MS;
		}
		rc = index_listen_wait(l->ix, li, l->stop_pipe[0],
				       LISTEN_WAIT_MS, heard, l);
		if (rc < 0) {
			log_warn("change feed: %s", err_msg());
			index_listen_close(l->ix, li);
			li = NULL;
			lost = 1;
			if (stopped(l, retry))
				break;
		}
	}
	index_listen_close(l->ix, li);
	return NULL;
}

int change_listen_start(struct change_listen **out, struct index *ix,
			struct spaces *sp)
{
	struct change_listen *l;
	struct index_listener *probe = NULL;
	int rc;

	*out = NULL;
	/* an index that cannot notify says so at once, with no thread */
	rc = index_listen_open(ix, &probe);
	if (rc == -ENOTSUP) {
		err_clear();
		return 0;
	}
	/* any other failure: the thread says it and tries again */
	l = calloc(1, sizeof(*l));
	if (!l) {
		index_listen_close(ix, probe);
		return -ENOMEM;
	}
	l->ix = ix;
	l->sp = sp;
	l->first = probe;
	if (pipe2(l->stop_pipe, O_CLOEXEC) < 0) {
		rc = err_set(-errno, "change feed: pipe: %s", strerror(errno));
		index_listen_close(ix, probe);
		free(l);
		return rc;
	}
	rc = pthread_create(&l->thread, NULL, listen_main, l);
	if (rc != 0) {
		index_listen_close(ix, probe);
		close(l->stop_pipe[0]);
		close(l->stop_pipe[1]);
		free(l);
		return err_set(-rc,
			       "change feed: cannot start its listener: %s",
			       strerror(rc));
	}
	*out = l;
	return 0;
}

void change_listen_stop(struct change_listen *l)
{
	if (!l)
		return;
	if (write(l->stop_pipe[1], "", 1) < 0)
		log_warn("change feed: cannot stop the listener: %s",
			 strerror(errno));
	pthread_join(l->thread, NULL);
	close(l->stop_pipe[0]);
	close(l->stop_pipe[1]);
	free(l);
}
