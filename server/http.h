/*
 * HTTP glue between libmicrohttpd and the API handlers: per-request state,
 * routing, authentication of the caller, body accumulation (JSON, capped)
 * or streaming (chunk uploads), replies, the access log, and the single
 * table that turns a negative errno into an HTTP status and a stable error
 * code (see docs/protocol.md).
 */
#ifndef COFFRE_SERVER_HTTP_H
#define COFFRE_SERVER_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <sys/types.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <microhttpd.h>
#include <jansson.h>

#include "common/buf.h"
#include "common/hash.h"
#include "server/auth.h"
#include "server/client_addr.h"

struct server;
struct chunkstore_writer;
struct hash_ctx;
struct space;

/*
 * JSON body limits, per route (http_route.body_max): a login fits in a few
 * KiB and most routes in HTTP_JSON_SMALL; a commit batch or a chunks/missing
 * list up to HTTP_JSON_MAX (a 100,000-chunk file is about 7.5 MiB of
 * commit).  A body announced over its limit is refused with 413 before any
 * of it is read; one sent chunked is refused as soon as it passes it.  Its
 * parse may allocate at most HTTP_JSON_PARSE_FACTOR times that limit
 * (json_budget.h): jansson spends up to 80 bytes per byte of "{},{},...".
 */
#define HTTP_JSON_LOGIN		 (4u * 1024u)
#define HTTP_JSON_SMALL		 (64u * 1024u)
#define HTTP_JSON_MAX		 (8u * 1024u * 1024u)
#define HTTP_JSON_PARSE_FACTOR	 4u
#define HTTP_JSON_DEPTH		 16
/*
 * A connection has HTTP_HANDSHAKE_TIMEOUT_S to finish its TLS handshake and
 * send a request's headers (libmicrohttpd 0.9.75 has no handshake timeout
 * of its own, so this is the daemon's connection timeout), then
 * HTTP_IDLE_TIMEOUT_S of inactivity from its first request on.
 */
#define HTTP_HANDSHAKE_TIMEOUT_S 5u
#define HTTP_IDLE_TIMEOUT_S	 60u
#define HTTP_HEADERS_MAX	 (16u * 1024u)
#define HTTP_URL_MAX		 1024

/* How an rc is read: the same errno means different things per endpoint. */
enum http_ctx {
	HTTP_CTX_ANY,	 /* reads and lookups */
	HTTP_CTX_COMMIT, /* ledger_apply: a missing parent is a conflict */
	HTTP_CTX_STORED, /* reading stored data: EBADMSG is corruption */
};

enum http_body {
	HTTP_BODY_NONE,
	HTTP_BODY_JSON,
	HTTP_BODY_CHUNK,
};

struct http_req;
typedef int (*http_handler)(struct http_req *req);

struct http_route {
	const char *method;
	const char *name; /* for the code, not the wire */
	enum http_body body;
	int in_space;	       /* path names a space */
	int open;	       /* no token asked: login, healthz */
	enum auth_right right; /* checked before the body is read */
	http_handler fn;
	size_t body_max; /* JSON bytes at most; 0: HTTP_JSON_SMALL */
	/* A route that changes something (not GET) is refused in a
	 * terminated space, but for one that says it may (reactivate). */
	int while_terminated;
};

struct http_req {
	struct server *srv;
	struct MHD_Connection *conn;
	const struct http_route *route;
	char method[8];
	char *url; /* path without query */
	char space_name[65];
	char arg[65];	     /* chunk id or doc id */
	uint64_t num;	     /* version number in .../versions/N */
	struct space *space; /* opened at the first call */
	struct auth_ctx auth;
	struct timespec start;

	/*
	 * The client (client_addr.h: the peer, or who a trusted proxy
	 * forwards for), found when the headers are in: its text for the
	 * access log, and its key for the throttle and sessions.
	 */
	struct client_addr client;
	char client_text[CLIENT_ADDR_TEXT_MAX];
	char client_key[CLIENT_ADDR_TEXT_MAX];

	/* Body. */
	struct buf body;	 /* JSON routes */
	json_t *json;		 /* parsed body (object) */
	uint64_t content_length; /* UINT64_MAX when absent */
	uint64_t received;
	struct obj_id chunk_id; /* chunk PUT */
	struct chunkstore_writer *writer;
	struct hash_ctx *verify; /* chunk PUT of a chunk already held */
	uint64_t discarded;

	/* Error found while the body was arriving: replied at the end. */
	unsigned fail_status;
	char fail_code[24];
	char fail_msg[512];

	unsigned status; /* status sent, 0 before */

	/*
	 * A handler that suspended the connection (a long poll) sets
	 * suspended and keeps its state in wait; the handler runs again when
	 * the connection is resumed.  wait_free(wait) runs with the request.
	 */
	int suspended;
	void *wait;
	void (*wait_free)(void *wait);
};

/* The access and completion callbacks given to MHD (see serve.c). */
enum MHD_Result http_access(void *cls, struct MHD_Connection *conn,
			    const char *url, const char *method,
			    const char *version, const char *upload_data,
			    size_t *upload_data_size, void **con_cls);
void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		    enum MHD_RequestTerminationCode toe);

/*
 * Replies.  Each queues the response and returns 0, or -EIO when MHD
 * refused it.  http_reply_json steals the reference to body.
 */
int http_reply_json(struct http_req *req, unsigned status, json_t *body);
int http_reply_bytes(struct http_req *req, unsigned status, void *data,
		     size_t len, const char *type); /* frees data */
/* op < 0: no "op" member. */
int http_reply_error(struct http_req *req, unsigned status, const char *code,
		     long op, const char *fmt, ...) PRINTF_LIKE(5, 6);
/* Map rc through the error table; message from err_msg(). */
int http_reply_rc(struct http_req *req, int rc, enum http_ctx ctx, long op);
/* The status and code an rc maps to. */
void http_rc_status(int rc, enum http_ctx ctx, unsigned *status,
		    const char **code);

/*
 * A query parameter, decoded; NULL when absent.  -EINVAL into *rc when it
 * holds a NUL byte (a hostile %00).
 */
const char *http_query(struct http_req *req, const char *name, int *rc);

#endif /* COFFRE_SERVER_HTTP_H */
