/*
 * The anchoring thread (see anchor.h).  It sleeps on a condition variable
 * so a stopping server wakes it at once; the last pass runs after the HTTP
 * daemon has stopped (serve.c stops us after MHD), so every event of the
 * run is anchored before the process exits.
 */
#include "server/anchor.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/log.h"
#include "server/events.h"
#include "server/ledger.h"
#include "server/server.h"
#include "server/spaces.h"

struct anchor {
	struct server *srv;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop; /* protected by lock */
	unsigned secs;
};

int anchor_text(char *out, size_t outlen, const char *space, uint64_t seq,
		const char *hash_hex, uint64_t server_seq,
		const char *server_hash_hex)
{
	if ((size_t)snprintf(out, outlen,
			     "coffre-events 1\nspace %s\nseq %llu\nhash %s\n"
			     "server-seq %llu\nserver-hash %s\n",
			     space, (unsigned long long)seq, hash_hex,
			     (unsigned long long)server_seq,
			     server_hash_hex) >= outlen)
		return err_set(-ENAMETOOLONG, "anchor text too long");
	return 0;
}

static int anchor_one(struct server *srv, const char *name, uint64_t sseq,
		      const char *shash)
{
	char text[512], hex[OBJ_ID_HEX_LEN + 1];
	struct obj_id hash;
	struct space *sp;
	uint64_t seq;
	int rc;

	rc = events_chain_head(srv->ix, name, &seq, &hash);
	if (rc < 0)
		return rc;
	if (seq == 0 && sseq == 0)
		return 0;
	obj_id_to_hex(&hash, hex);
	rc = anchor_text(text, sizeof(text), name, seq, hex, sseq, shash);
	if (rc == 0)
		rc = spaces_get(srv->spaces, name, &sp);
	if (rc == 0)
		rc = ledger_anchor(sp->ledger, text, NULL);
	return rc;
}

struct anchor_walk {
	struct server *srv;
	uint64_t sseq;
	char shex[OBJ_ID_HEX_LEN + 1];
};

static int anchor_each(const char *name, void *arg)
{
	struct anchor_walk *w = arg;
	int rc = anchor_one(w->srv, name, w->sseq, w->shex);

	if (rc < 0)
		log_warn("cannot anchor the events of '%s': %s", name,
			 err_msg());
	return rc;
}

int anchor_all(struct server *srv)
{
	struct anchor_walk w = { .srv = srv };
	struct obj_id shash;
	int rc;

	rc = events_chain_head(srv->ix, "", &w.sseq, &shash);
	if (rc < 0)
		return rc;
	obj_id_to_hex(&shash, w.shex);
	return spaces_each(srv->datadir, srv->ix, anchor_each, &w);
}

static void *anchor_main(void *arg)
{
	struct anchor *a = arg;
	struct timespec until;
	int stop = 0;

	while (!stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += a->secs;
		pthread_mutex_lock(&a->lock);
		while (!a->stop &&
		       pthread_cond_timedwait(&a->cond, &a->lock, &until) == 0)
			;
		stop = a->stop;
		pthread_mutex_unlock(&a->lock);
		anchor_all(a->srv);
	}
	return NULL;
}

int anchor_start(struct anchor **out, struct server *srv)
{
	const char *env = getenv("COFFRE_ANCHOR_SECS");
	struct anchor *a;
	char *end;
	long secs = ANCHOR_SECS_DEFAULT;
	int rc;

	*out = NULL;
	if (env) {
		secs = strtol(env, &end, 10);
		if (*end || secs < 1 || secs > 3600)
			return err_set(-EINVAL,
				       "COFFRE_ANCHOR_SECS must be 1..3600");
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->srv = srv;
	a->secs = (unsigned)secs;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	rc = pthread_create(&a->thread, NULL, anchor_main, a);
	if (rc != 0) {
		pthread_cond_destroy(&a->cond);
		pthread_mutex_destroy(&a->lock);
		free(a);
		return err_set(-rc, "cannot start the anchor thread: %s",
			       strerror(rc));
	}
	*out = a;
	return 0;
}

void anchor_stop(struct anchor *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = 1;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
