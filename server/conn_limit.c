/*
 * The per-address connection limit (see conn_limit.h).  A plain array searched linearly: it holds
 * only addresses with an open or admitted connection, about
 * max_connections (256 by default) at most, and is searched once or twice
 * per connection, not per request.
 */
#include "server/conn_limit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/client_addr.h"

struct conn_slot {
	struct client_addr addr;
	unsigned open;	    /* started, not closed */
	unsigned pending;   /* admitted, not started yet */
	int64_t pending_at; /* of the last admission */
};

struct conn_limit {
	pthread_mutex_t lock;
	struct client_nets trusted; /* protected by lock: reloadable */
	unsigned per_address;
	struct conn_slot *slots; /* [0, used) in use; protected by lock */
	unsigned used, cap;
};

int conn_limit_new(struct conn_limit **out, const struct client_nets *trusted,
		   unsigned per_address, unsigned slots)
{
	struct conn_limit *lim = calloc(1, sizeof(*lim));

	/* Admitted connections the total limit then refuses hold slots for
	 * a moment too: room for twice the total. */
	slots = slots ? 2 * slots : 1;
	if (!lim || !(lim->slots = calloc(slots, sizeof(*lim->slots)))) {
		free(lim);
		return -ENOMEM;
	}
	pthread_mutex_init(&lim->lock, NULL);
	lim->trusted = *trusted;
	lim->per_address = per_address;
	lim->cap = slots;
	*out = lim;
	return 0;
}

void conn_limit_free(struct conn_limit *lim)
{
	if (!lim)
		return;
	pthread_mutex_destroy(&lim->lock);
	free(lim->slots);
	free(lim);
}

/* The slot of a, or NULL.  Called with lim->lock held. */
static struct conn_slot *slot_of(struct conn_limit *lim,
				 const struct client_addr *a)
{
	for (unsigned i = 0; i < lim->used; i++)
		if (lim->slots[i].addr.family == a->family &&
		    !memcmp(lim->slots[i].addr.bytes, a->bytes,
			    sizeof(a->bytes)))
			return &lim->slots[i];
	return NULL;
}

/* Free s when nothing holds it.  Called with lim->lock held. */
static void slot_release(struct conn_limit *lim, struct conn_slot *s)
{
	if (!s->open && !s->pending)
		*s = lim->slots[--lim->used];
}

/* Drop the slots only expired admissions hold.  With lim->lock held. */
static void sweep(struct conn_limit *lim, int64_t now_ms)
{
	for (unsigned i = lim->used; i-- > 0;) {
		struct conn_slot *s = &lim->slots[i];

		if (s->pending &&
		    now_ms - s->pending_at > CONN_LIMIT_PENDING_MS)
			s->pending = 0;
		slot_release(lim, s);
	}
}

void conn_limit_set_trusted(struct conn_limit *lim,
			    const struct client_nets *trusted)
{
	pthread_mutex_lock(&lim->lock);
	lim->trusted = *trusted;
	pthread_mutex_unlock(&lim->lock);
}

/* With lim->lock held. */
static int exempt(const struct conn_limit *lim, const struct client_addr *a)
{
	return !a->family || client_nets_contains(&lim->trusted, a);
}

int conn_limit_admit(struct conn_limit *lim, const struct client_addr *a,
		     int64_t now_ms)
{
	struct conn_slot *s;
	int ok = 1;

	pthread_mutex_lock(&lim->lock);
	if (exempt(lim, a)) {
		pthread_mutex_unlock(&lim->lock);
		return 1;
	}
	s = slot_of(lim, a);
	/* Admissions that never started (the connection failed before)
	 * are forgotten once their moment is over. */
	if (s && s->pending && now_ms - s->pending_at > CONN_LIMIT_PENDING_MS)
		s->pending = 0;
	if (!s && lim->used == lim->cap)
		sweep(lim, now_ms);
	if (!s && lim->used < lim->cap) {
		s = &lim->slots[lim->used++];
		memset(s, 0, sizeof(*s));
		s->addr = *a;
	}
	/* No free slot: let it in uncounted rather than refuse everyone
	 * (libmicrohttpd's total limit still holds). */
	if (s && s->open + s->pending >= lim->per_address) {
		ok = 0;
		slot_release(lim, s);
	} else if (s) {
		s->pending++;
		s->pending_at = now_ms;
	}
	pthread_mutex_unlock(&lim->lock);
	return ok;
}

int conn_limit_opened(struct conn_limit *lim, const struct client_addr *a)
{
	struct conn_slot *s;
	int counted = 0;

	pthread_mutex_lock(&lim->lock);
	if (exempt(lim, a)) {
		pthread_mutex_unlock(&lim->lock);
		return 0;
	}
	s = slot_of(lim, a);
	if (!s && lim->used < lim->cap) {
		/* Admitted uncounted, or its admission expired. */
		s = &lim->slots[lim->used++];
		memset(s, 0, sizeof(*s));
		s->addr = *a;
	}
	if (s) {
		if (s->pending)
			s->pending--;
		s->open++;
		counted = 1;
	}
	pthread_mutex_unlock(&lim->lock);
	return counted;
}

void conn_limit_closed(struct conn_limit *lim, const struct client_addr *a)
{
	struct conn_slot *s;

	pthread_mutex_lock(&lim->lock);
	s = slot_of(lim, a);
	if (s && s->open) {
		s->open--;
		slot_release(lim, s);
	}
	pthread_mutex_unlock(&lim->lock);
}

unsigned conn_limit_count(struct conn_limit *lim, const struct client_addr *a)
{
	struct conn_slot *s;
	unsigned n;

	pthread_mutex_lock(&lim->lock);
	s = slot_of(lim, a);
	n = s ? s->open + s->pending : 0;
	pthread_mutex_unlock(&lim->lock);
	return n;
}
