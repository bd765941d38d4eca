/*
 * The per-address connection limit (max_connections_per_address).
 * libmicrohttpd's own limit counts every peer alike, so behind a proxy it
 * would cap the proxy as a whole; this one exempts trusted proxy peers,
 * whose clients are only known once a request's headers are in, too late
 * to refuse a connection.  The proxy must then limit connections per
 * source itself (docs/cluster.md).  Without trusted proxies it counts
 * every peer, as libmicrohttpd's would; it is always the one in use so
 * that a reload can change the trusted proxies (conn_limit_set_trusted).
 *
 * Driven from libmicrohttpd's callbacks (serve.c): conn_limit_admit() from
 * the accept policy, before the connection exists, then
 * conn_limit_opened() and conn_limit_closed() from its start and close
 * notifications, which come in pairs.  An admission holds a place until
 * the connection starts, so a burst from one address over several worker
 * threads cannot slip past the limit; a connection that fails between
 * admission and start (out of memory, the total limit) never starts, and
 * its place is given back CONN_LIMIT_PENDING_MS later.
 *
 * Thread-safe: one mutex around a table of the addresses that hold
 * connections (at most max_connections of them, as many as
 * libmicrohttpd lets in, and those admitted a moment ago).
 */
#ifndef COFFRE_SERVER_CONN_LIMIT_H
#define COFFRE_SERVER_CONN_LIMIT_H

#include <stdint.h>

#define CONN_LIMIT_PENDING_MS 1000

struct client_addr;
struct client_nets;
struct conn_limit;

/*
 * A limit of per_address connections from each address not in trusted
 * (copied), for at most slots addresses at once.  0 or -ENOMEM.
 */
int conn_limit_new(struct conn_limit **out, const struct client_nets *trusted,
		   unsigned per_address, unsigned slots);
void conn_limit_free(struct conn_limit *lim);

/*
 * The trusted proxies from now on (a reload).  A connection keeps what it
 * was when it started: counted ones are uncounted at their close, exempt
 * ones are not.
 */
void conn_limit_set_trusted(struct conn_limit *lim,
			    const struct client_nets *trusted);

/*
 * 1: let a connection from a in; 0: refuse it (over the limit).  now_ms:
 * a monotonic clock in milliseconds.
 */
int conn_limit_admit(struct conn_limit *lim, const struct client_addr *a,
		     int64_t now_ms);

/*
 * A connection from a started.  1 when it is counted (call
 * conn_limit_closed() when it closes), 0 when not (a trusted proxy).
 */
int conn_limit_opened(struct conn_limit *lim, const struct client_addr *a);

/* A counted connection from a closed. */
void conn_limit_closed(struct conn_limit *lim, const struct client_addr *a);

/* Connections from a counted now, started or admitted (for tests). */
unsigned conn_limit_count(struct conn_limit *lim, const struct client_addr *a);

#endif /* COFFRE_SERVER_CONN_LIMIT_H */
