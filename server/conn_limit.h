/*
 * The per-address connection limit (max_connections_per_address) when
 * coffred.conf names trusted proxies.  libmicrohttpd's own limit counts
 * every peer alike, so behind a proxy it would cap the proxy as a whole;
 * this one exempts trusted proxy peers, whose clients are only known once
 * a request's headers are in, too late to refuse a connection.  The proxy
 * must then limit connections per source itself (docs/cluster.md).
 * Without trusted proxies coffred uses libmicrohttpd's limit, as ever.
 *
 * Driven from libmicrohttpd's callbacks (serve.c): conn_limit_admit() from
 * the accept policy, before the connection exists, then
 * conn_limit_opened() and conn_limit_closed() from its start and close
 * notifications, which come in pairs.  Counting at start rather than at
 * admission means a connection that fails in between leaves nothing
 * behind; the price is that each worker thread may admit one connection
 * of an address between another's check and count, so during a burst an
 * address may hold up to threads - 1 connections over the limit.
 *
 * Thread-safe: one mutex around a table of the addresses that hold
 * connections (at most max_connections of them, as many as
 * libmicrohttpd lets in).
 */
#ifndef COFFRE_SERVER_CONN_LIMIT_H
#define COFFRE_SERVER_CONN_LIMIT_H

struct client_addr;
struct client_nets;
struct conn_limit;

/*
 * A limit of per_address connections from each address not in trusted
 * (borrowed: it must outlive the limit), for at most slots addresses at
 * once.  0 or -ENOMEM.
 */
int conn_limit_new(struct conn_limit **out, const struct client_nets *trusted,
		   unsigned per_address, unsigned slots);
void conn_limit_free(struct conn_limit *lim);

/* 1: let a connection from a in; 0: refuse it (over the limit). */
int conn_limit_admit(struct conn_limit *lim, const struct client_addr *a);

/*
 * A connection from a started.  1 when it is counted (call
 * conn_limit_closed() when it closes), 0 when not (a trusted proxy).
 */
int conn_limit_opened(struct conn_limit *lim, const struct client_addr *a);

/* A counted connection from a closed. */
void conn_limit_closed(struct conn_limit *lim, const struct client_addr *a);

/* Connections from a counted now (for tests). */
unsigned conn_limit_count(struct conn_limit *lim, const struct client_addr *a);

#endif /* COFFRE_SERVER_CONN_LIMIT_H */
