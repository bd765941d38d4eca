/*
 * The per-address connection limit for deployments behind trusted
 * proxies (see conn_limit.h).  A plain array searched linearly: it holds
 * only addresses with an open connection, at most max_connections (256 by
 * default), and is searched once per connection, not per request.
 */
#include "server/conn_limit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/client_addr.h"

struct conn_slot {
	struct client_addr addr;
	unsigned count;
};

struct conn_limit {
	pthread_mutex_t lock;
	const struct client_nets *trusted;
	unsigned per_address;
	struct conn_slot *slots; /* [0, used) in use; protected by lock */
	unsigned used, cap;
};

int conn_limit_new(struct conn_limit **out, const struct client_nets *trusted,
		   unsigned per_address, unsigned slots)
{
	struct conn_limit *lim = calloc(1, sizeof(*lim));

	if (!lim ||
	    !(lim->slots = calloc(slots ? slots : 1, sizeof(*lim->slots)))) {
		free(lim);
		return -ENOMEM;
	}
	pthread_mutex_init(&lim->lock, NULL);
	lim->trusted = trusted;
	lim->per_address = per_address;
	lim->cap = slots ? slots : 1;
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

int conn_limit_admit(struct conn_limit *lim, const struct client_addr *a)
{
	struct conn_slot *s;
	int ok;

	if (!a->family || client_nets_contains(lim->trusted, a))
		return 1;
	pthread_mutex_lock(&lim->lock);
	s = slot_of(lim, a);
	ok = !s || s->count < lim->per_address;
	pthread_mutex_unlock(&lim->lock);
	return ok;
}

int conn_limit_opened(struct conn_limit *lim, const struct client_addr *a)
{
	struct conn_slot *s;
	int counted = 0;

	if (!a->family || client_nets_contains(lim->trusted, a))
		return 0;
	pthread_mutex_lock(&lim->lock);
	s = slot_of(lim, a);
	if (!s && lim->used < lim->cap) {
		s = &lim->slots[lim->used++];
		s->addr = *a;
		s->count = 0;
	}
	/* No free slot cannot happen while libmicrohttpd holds the total
	 * under max_connections; if it did, the connection goes uncounted
	 * rather than refused. */
	if (s) {
		s->count++;
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
	if (s && --s->count == 0)
		*s = lim->slots[--lim->used];
	pthread_mutex_unlock(&lim->lock);
}

unsigned conn_limit_count(struct conn_limit *lim, const struct client_addr *a)
{
	struct conn_slot *s;
	unsigned n;

	pthread_mutex_lock(&lim->lock);
	s = slot_of(lim, a);
	n = s ? s->count : 0;
	pthread_mutex_unlock(&lim->lock);
	return n;
}
