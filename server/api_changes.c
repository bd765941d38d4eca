/*
 * GET /v1/spaces/SPACE/changes?since=HEAD&timeout=S: the change feed, a
 * long poll.  It answers as soon as the space's head differs from since
 * (at once when it already does), or after timeout seconds with no change,
 * so a drive learns of another device's commit within a round trip
 * instead of listing its folders over and over.
 *
 * A waiting request must not hold a worker thread: libmicrohttpd's pool
 * threads each serve many connections, so a blocked handler would stall
 * the others.  The connection is suspended instead and put on a list; one
 * thread of this file resumes it when its space's generation moves
 * (space_changed(), after every applied batch, and api_changes_notify()
 * wakes the thread; another node's commit, told through the index, does
 * the same: change_listen.h), when its deadline passes, or, checked every
 * change_poll (coffred.conf, 1 s by default), when the head moved by
 * other means (an admin command in another process, another node when
 * the index cannot notify).  On resume the handler runs again and
 * answers.
 */
#include "server/api.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "server/ledger.h"
#include "server/server.h"
#include "server/policy.h"
#include "server/spaces.h"

#define CHANGES_TIMEOUT_MAX 25 /* below the client's 30 s low-speed abort */
#define CHANGES_PATHS_MAX   256
#define CHANGES_SLEEP_MS    60000 /* the longest the thread sleeps */

struct waiter {
	struct waiter *next;
	struct http_req *req;
	char since[GIT_OID_HEX_LEN + 1];
	uint64_t gen;
	int64_t deadline, checked; /* monotonic ms */
	int64_t poll_ms;	   /* head re-read; 0: only when told */
	int listed;		   /* on the list (protected by lock) */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct waiter *waiters; /* suspended connections */
static unsigned nwaiters;
static pthread_t timer;
static int timer_started, stopping, kicked, recheck;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Take w off the list and resume its connection (lock held). */
static void wake(struct waiter **pp)
{
	struct waiter *w = *pp;

	*pp = w->next;
	w->listed = 0;
	nwaiters--;
	MHD_resume_connection(w->req->conn);
}

static void *timer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (!stopping || waiters) {
		struct waiter **pp = &waiters;
		int64_t now = mono_ms(), next = now + CHANGES_SLEEP_MS;
		struct timespec until;

		int all = recheck;

		kicked = 0;
		recheck = 0;
		while (*pp) {
			struct waiter *w = *pp;
			char head[GIT_OID_HEX_LEN + 1] = "";
			int due = stopping || now >= w->deadline ||
				  space_change_gen(w->req->space) != w->gen;

			if (!due && (all || (w->poll_ms &&
					     now - w->checked >= w->poll_ms))) {
				int rc = ledger_head(w->req->space->ledger,
						     head);

				w->checked = now;
				due = rc == -ENOENT ? w->since[0] != '\0' :
				      rc < 0	    ? 1 :
						      strcmp(head, w->since) != 0;
			}
			if (due) {
				wake(pp);
				continue;
			}
			if (w->deadline < next)
				next = w->deadline;
			if (w->poll_ms && w->checked + w->poll_ms < next)
				next = w->checked + w->poll_ms;
			pp = &w->next;
		}
		if (stopping && !waiters)
			break;
		if (kicked)
			continue;
		clock_gettime(CLOCK_REALTIME, &until);
		next -= now;
		if (next < 1)
			next = 1;
		until.tv_sec += next / 1000;
		until.tv_nsec += (long)(next % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cond, &lock, &until);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

void api_changes_notify(void)
{
	pthread_mutex_lock(&lock);
	kicked = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

void api_changes_recheck(void)
{
	pthread_mutex_lock(&lock);
	kicked = recheck = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

void api_changes_stop(void)
{
	pthread_mutex_lock(&lock);
	stopping = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	if (timer_started)
		pthread_join(timer, NULL);
	timer_started = 0;
}

static void waiter_free(void *arg)
{
	struct waiter *w = arg;
	struct waiter **pp;

	/* a suspended request is not completed: it is off the list by now;
	 * this only guards against a future path that frees it earlier */
	pthread_mutex_lock(&lock);
	for (pp = &waiters; w->listed && *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			nwaiters--;
			break;
		}
	pthread_mutex_unlock(&lock);
	free(w);
}

static int parse_timeout(struct http_req *req, int *out)
{
	const char *s;
	char *end;
	long v;
	int rc = 0;

	*out = CHANGES_TIMEOUT_MAX;
	s = http_query(req, "timeout", &rc);
	if (rc < 0)
		return rc;
	if (!s)
		return 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || v < 0 || v > CHANGES_TIMEOUT_MAX)
		return err_set(-EINVAL, "timeout must be 0..%d seconds",
			       CHANGES_TIMEOUT_MAX);
	*out = (int)v;
	return 0;
}

/* Answer head and the changed folders the caller may read. */
static int reply_changes(struct http_req *req, const char *since)
{
	char head[GIT_OID_HEX_LEN + 1];
	char **paths = NULL;
	size_t n = 0;
	int all = 0, rc;
	json_t *arr, *j;

	rc = ledger_changes(req->space->ledger, since, head, &paths, &n,
			    CHANGES_PATHS_MAX, &all);
	if (rc < 0)
		return rc;
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		/* names of folders the caller cannot see must not leak: what
		 * authorize() refuses is left out (a removed folder's parent
		 * is in the list too, and its listing shows the removal) */
		struct policy_at at;

		/* ... and so is a folder gone since (moved or removed: it
		 * answers as absent; its parent, listed, shows it went), or
		 * the old name of a hidden folder would show through */
		if (arr &&
		    (req->auth.role_id == POLICY_ROLE_OWNER ||
		     auth_place(&req->auth, req->space_name, paths[i], NULL,
				&at) == 0) &&
		    authorize(&req->auth, req->space_name, paths[i],
			      AUTH_READ) == 0)
			json_array_append_new(arr, json_string(paths[i]));
		free(paths[i]);
	}
	free(paths);
	err_clear();
	j = json_pack("{s:o, s:o, s:b}", "head",
		      head[0] ? json_string(head) : json_null(), "changed",
		      arr ? arr : json_array(), "all", all);
	return http_reply_json(req, 200, j);
}

/* 1 when the head is not since any more. */
static int head_moved(struct http_req *req, const char *since, int *rc)
{
	char head[GIT_OID_HEX_LEN + 1];

	*rc = ledger_head(req->space->ledger, head);
	if (*rc == -ENOENT) {
		*rc = 0;
		head[0] = '\0';
	}
	return *rc == 0 && strcmp(head, since) != 0;
}

static int reply_none(struct http_req *req, const char *since)
{
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:[], s:b}", "head", since,
					 "changed", "all", 0));
}

/* Suspend req until its space changes or the timeout; 1 when suspended. */
static int suspend(struct http_req *req, const char *since, int timeout,
		   uint64_t gen)
{
	struct waiter *w = calloc(1, sizeof(*w));
	unsigned max = req->srv->cfg.max_connections / 2;
	int rc;

	if (!w)
		return -ENOMEM;
	memcpy(w->since, since, sizeof(w->since));
	w->req = req;
	w->gen = gen;
	w->checked = mono_ms();
	w->deadline = w->checked + (int64_t)timeout * 1000;
	w->poll_ms = req->srv->cfg.change_poll * 1000; /* set at start only */
	req->wait = w;
	req->wait_free = waiter_free;
	pthread_mutex_lock(&lock);
	/* at most half the connections wait: the rest stays for work */
	if (stopping || nwaiters >= (max ? max : 1)) {
		pthread_mutex_unlock(&lock);
		return 0;
	}
	if (!timer_started) {
		rc = pthread_create(&timer, NULL, timer_main, NULL);
		if (rc) {
			pthread_mutex_unlock(&lock);
			log_error("change feed: cannot start its thread: %s",
				  strerror(rc));
			return 0;
		}
		timer_started = 1;
	}
	/* suspended before listed, both under lock: the timer cannot resume
	 * a connection that is not suspended yet */
	MHD_suspend_connection(req->conn);
	w->next = waiters;
	waiters = w;
	w->listed = 1;
	nwaiters++;
	req->suspended = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	return 1;
}

int api_changes(struct http_req *req)
{
	struct waiter *w = req->wait;
	const char *since;
	uint64_t gen;
	int timeout, rc = 0;

	if (w) /* resumed: answer whatever the state is now */
		return head_moved(req, w->since, &rc) ?
			       reply_changes(req, w->since) :
		       rc < 0 ? rc :
				reply_none(req, w->since);
	rc = authorize(&req->auth, req->space_name, NULL, AUTH_READ);
	if (rc < 0)
		return rc;
	since = http_query(req, "since", &rc);
	if (rc < 0)
		return rc;
	if (since && since[0] && strlen(since) != GIT_OID_HEX_LEN)
		return err_set(-EINVAL, "since must be a 40-hex commit id");
	rc = parse_timeout(req, &timeout);
	if (rc < 0)
		return rc;
	if (!since || !since[0]) /* no starting point: the head, at once */
		return reply_changes(req, NULL);
	/* the generation before the head: a batch landing in between moves
	 * it, so the waiter is resumed at once rather than missing it */
	gen = space_change_gen(req->space);
	if (head_moved(req, since, &rc))
		return reply_changes(req, since);
	if (rc < 0)
		return rc;
	if (timeout > 0) {
		rc = suspend(req, since, timeout, gen);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	return reply_none(req, since);
}
