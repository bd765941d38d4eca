/*
 * GET /healthz: whether this coffred can reach the stores it serves from,
 * for a load balancer's health checks (docs/protocol.md, "Health").  No
 * authentication, no body in; a short text body out.
 */
#ifndef COFFRE_SERVER_HEALTH_H
#define COFFRE_SERVER_HEALTH_H

#include <stddef.h>

struct http_req;
struct server;

/*
 * Probe every store srv serves from: the data directory (a file created,
 * synced and removed), the spaces folder that holds each space's ledger
 * and chunk store (opened and read), and the index (a read through it).
 * 0 when all answer; else the first failing rc, with err_set(), and the
 * store's name in what (a static string).  Thread-safe.
 */
int health_check(struct server *srv, const char **what);

/* The route's handler: 200 "ok", or 503 naming the store that failed. */
int api_healthz(struct http_req *req);

#endif /* COFFRE_SERVER_HEALTH_H */
