/*
 * libmicrohttpd glue.  MHD calls http_access() several times per request:
 * once when the headers are in (we route, authenticate, authorize and
 * check the announced size, and may answer at once), then once per piece
 * of body (JSON is accumulated in a capped buffer, a chunk upload is
 * streamed into the chunk store), then a last time with no data, when the
 * handler runs and replies.  MHD only lets us queue a reply on the first
 * and the last call, so an error met while the body arrives is remembered
 * in the request and sent at the end; the rest of the body is discarded.
 * http_completed() logs the request and frees its state, also when the
 * client went away mid-body (a truncated upload leaves nothing behind).
 */
#include "server/http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/chunker.h"
#include "common/err.h"
#include "common/log.h"
#include "common/path.h"
#include "server/api.h"
#include "server/chunkstore.h"
#include "server/json_budget.h"
#include "server/server.h"
#include "server/spaces.h"

/* Discarding more than this after an error closes the connection. */
#define HTTP_DISCARD_MAX (64u * 1024u * 1024u)

/*
 * The one table from negative errno to status and stable code.  Rows are
 * tried in order; a row for a specific context comes before the HTTP_CTX_ANY
 * row of the same rc.
 */
static const struct {
	int rc;
	int any_ctx; /* 1: row applies to every context */
	enum http_ctx ctx;
	unsigned status;
	const char *code;
} rc_table[] = {
	{ -ENOENT, 0, HTTP_CTX_COMMIT, 409, "conflict" },
	{ -ENOENT, 1, HTTP_CTX_ANY, 404, "not_found" },
	{ -EEXIST, 1, HTTP_CTX_ANY, 409, "conflict" },
	{ -ENOTEMPTY, 1, HTTP_CTX_ANY, 409, "conflict" },
	{ -ENOTDIR, 1, HTTP_CTX_ANY, 409, "conflict" },
	{ -EISDIR, 1, HTTP_CTX_ANY, 409, "conflict" },
	{ -ESTALE, 1, HTTP_CTX_ANY, 409, "conflict" },
	{ -EINVAL, 0, HTTP_CTX_COMMIT, 409, "conflict" },
	{ -EINVAL, 1, HTTP_CTX_ANY, 400, "bad_request" },
	{ -ENAMETOOLONG, 1, HTTP_CTX_ANY, 400, "bad_name" },
	{ -ENODATA, 1, HTTP_CTX_ANY, 409, "chunk_missing" },
	{ -EBADMSG, 0, HTTP_CTX_STORED, 500, "internal" },
	{ -EBADMSG, 1, HTTP_CTX_ANY, 422, "hash_mismatch" },
	{ -ENOSPC, 1, HTTP_CTX_ANY, 507, "no_space" },
	/* a space's quota (quota.h); the disk's own comes as -ENOSPC */
	{ -EDQUOT, 1, HTTP_CTX_ANY, 507, "quota_exceeded" },
	{ -E2BIG, 1, HTTP_CTX_ANY, 413, "too_large" },
	{ -EFBIG, 1, HTTP_CTX_ANY, 413, "too_large" },
	{ -EACCES, 1, HTTP_CTX_ANY, 403, "forbidden" },
	{ -EPERM, 1, HTTP_CTX_ANY, 403, "forbidden" },
	{ -EOPNOTSUPP, 1, HTTP_CTX_ANY, 405, "bad_method" },
	{ -EPROTO, 1, HTTP_CTX_ANY, 400, "bad_request" },
};

void http_rc_status(int rc, enum http_ctx ctx, unsigned *status,
		    const char **code)
{
	for (size_t i = 0; i < ARRAY_SIZE(rc_table); i++) {
		if (rc_table[i].rc != rc)
			continue;
		if (!rc_table[i].any_ctx && rc_table[i].ctx != ctx)
			continue;
		*status = rc_table[i].status;
		*code = rc_table[i].code;
		return;
	}
	*status = 500;
	*code = "internal";
}

static int queue(struct http_req *req, unsigned status,
		 struct MHD_Response *resp, const char *type)
{
	enum MHD_Result r;

	if (!resp)
		return err_set(-ENOMEM, "cannot build a response");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	r = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	if (r != MHD_YES)
		return err_set(-EIO, "cannot queue a response");
	req->status = status;
	return 0;
}

int http_reply_bytes(struct http_req *req, unsigned status, void *data,
		     size_t len, const char *type)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, data,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(data);
	return queue(req, status, resp, type);
}

int http_reply_json(struct http_req *req, unsigned status, json_t *body)
{
	static const char oom[] =
		"{\"error\": {\"code\": \"internal\", \"message\": \"out of memory\"}}";
	char *text;

	if (!body) {
		text = strdup(oom);
		if (!text)
			return err_set(-ENOMEM, "out of memory");
		return http_reply_bytes(req, 500, text, strlen(text),
					"application/json");
	}
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		return err_set(-ENOMEM, "cannot encode a reply");
	return http_reply_bytes(req, status, text, strlen(text),
				"application/json");
}

static int reply_error_msg(struct http_req *req, unsigned status,
			   const char *code, long op, const char *msg)
{
	json_t *err;

	err = json_pack("{s:s, s:s}", "code", code, "message", msg);
	if (err && op >= 0)
		json_object_set_new(err, "op", json_integer(op));
	return http_reply_json(req, status,
			       err ? json_pack("{s:o}", "error", err) : NULL);
}

int http_reply_error(struct http_req *req, unsigned status, const char *code,
		     long op, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return reply_error_msg(req, status, code, op, msg);
}

int http_reply_rc(struct http_req *req, int rc, enum http_ctx ctx, long op)
{
	unsigned status;
	const char *code;
	char msg[512];

	http_rc_status(rc, ctx, &status, &code);
	snprintf(msg, sizeof(msg), "%s", err_msg());
	if (status >= 500)
		log_error("%s %s: %s", req->method, req->url, msg);
	return reply_error_msg(req, status, code, op, msg);
}

const char *http_query(struct http_req *req, const char *name, int *rc)
{
	const char *v = NULL;
	size_t len = 0;

	if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND,
					  name, strlen(name), &v,
					  &len) != MHD_YES)
		return NULL;
	if (!v)
		v = "";
	if (strlen(v) != len)
		*rc = err_set(-EINVAL, "query parameter '%s' holds a NUL byte",
			      name);
	return v;
}

/* Remember an error met while the body arrives; the first one wins. */
static void req_fail(struct http_req *req, int rc, enum http_ctx ctx)
{
	const char *code;

	if (req->fail_status)
		return;
	http_rc_status(rc, ctx, &req->fail_status, &code);
	snprintf(req->fail_code, sizeof(req->fail_code), "%s", code);
	snprintf(req->fail_msg, sizeof(req->fail_msg), "%s", err_msg());
}

static void req_free(struct http_req *req)
{
	if (!req)
		return;
	if (req->wait && req->wait_free)
		req->wait_free(req->wait);
	if (req->writer)
		chunkstore_writer_abort(req->writer);
	hash_free(req->verify);
	json_decref(req->json);
	buf_release(&req->body);
	free(req->url);
	free(req);
}

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind,
				  const char *key, const char *value)
{
	size_t *total = cls;

	*total += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

static int parse_content_length(struct http_req *req)
{
	const char *cl;
	char *end;
	unsigned long long v;

	req->content_length = UINT64_MAX;
	cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!cl)
		return 0;
	errno = 0;
	v = strtoull(cl, &end, 10);
	if (errno || end == cl || *end || cl[0] == '-')
		return err_set(-EINVAL, "bad Content-Length");
	req->content_length = v;
	return 0;
}

static size_t json_max(const struct http_req *req)
{
	return req->route->body_max ? req->route->body_max : HTTP_JSON_SMALL;
}

/*
 * The X-Forwarded-For lines of a request, the last XFF_LINES_MAX of them
 * in order: the client's entry is on the right, and a walk that reaches
 * further left has passed CLIENT_ADDR_HOPS_MAX trusted entries anyway.
 */
#define XFF_LINES_MAX (CLIENT_ADDR_HOPS_MAX + 2)

struct xff_lines {
	const char *ring[XFF_LINES_MAX];
	size_t seen;
};

static enum MHD_Result xff_line(void *cls, enum MHD_ValueKind kind,
				const char *key, const char *value)
{
	struct xff_lines *x = cls;

	if (key && value && !strcasecmp(key, "X-Forwarded-For"))
		x->ring[x->seen++ % XFF_LINES_MAX] = value;
	return MHD_YES;
}

/*
 * Who the client is (client_addr_resolve): the peer, or, when the peer is
 * a trusted proxy, the client it forwards for.  0, or -EPROTO when a
 * trusted proxy sent a malformed X-Forwarded-For.
 */
static int req_client(struct http_req *req)
{
	struct client_nets trusted_now;
	const struct client_nets *trusted = &trusted_now;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct client_addr peer;
	struct xff_lines x = { .seen = 0 };
	const char *lines[XFF_LINES_MAX];
	size_t n = 0;
	int rc;

	server_trusted_proxies(req->srv, &trusted_now); /* reloadable */
	client_addr_from_sockaddr(&peer, ci ? ci->client_addr : NULL);
	if (client_nets_contains(trusted, &peer)) {
		MHD_get_connection_values(req->conn, MHD_HEADER_KIND, xff_line,
					  &x);
		n = x.seen < XFF_LINES_MAX ? x.seen : XFF_LINES_MAX;
		for (size_t i = 0; i < n; i++)
			lines[i] = x.ring[(x.seen - n + i) % XFF_LINES_MAX];
	}
	rc = client_addr_resolve(trusted, &peer, lines, n, &req->client);
	if (rc < 0)
		req->client = peer; /* the access log names the proxy */
	client_addr_format(&req->client, req->client_text,
			   sizeof(req->client_text));
	client_addr_key(&req->client, req->client_key, sizeof(req->client_key));
	return rc;
}

/* Work done once the headers are in.  0 to go on reading, or an error. */
static int req_begin(struct http_req *req, const char *url, const char *method)
{
	char why[256];
	size_t hdr = 0;
	int rc, client_rc;

	/* First, so that every answer, a 404 included, is logged with its
	 * client; a refusal waits for the body's length (below). */
	client_rc = req_client(req);
	if (client_rc < 0)
		snprintf(why, sizeof(why), "%s", err_msg());
	rc = api_route(req, url, method);
	if (rc < 0)
		return rc;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, sum_header, &hdr);
	if (hdr > HTTP_HEADERS_MAX)
		return err_set(-E2BIG, "request headers over %u bytes",
			       HTTP_HEADERS_MAX);
	rc = parse_content_length(req);
	if (rc < 0)
		return rc;
	/* Known to be malformed, the header is refused before anything is
	 * done: before the token, the body, the throttle. */
	if (client_rc < 0)
		return err_set(client_rc, "%s", why);
	/* Before authentication: a login too is refused unread. */
	if (req->route->body == HTTP_BODY_JSON &&
	    req->content_length != UINT64_MAX &&
	    req->content_length > json_max(req))
		return err_set(-E2BIG, "JSON body of %s over %zu bytes",
			       req->route->name, json_max(req));

	if (!req->route->open) {
		rc = auth_token_check(&req->auth,
				      MHD_lookup_connection_value(
					      req->conn, MHD_HEADER_KIND,
					      MHD_HTTP_HEADER_AUTHORIZATION));
		if (rc == -EACCES)
			return -EKEYREJECTED; /* 401, see reply_begin_error */
		if (rc < 0)
			return rc;
	}
	if (req->route->in_space) {
		if (ident_validate(req->space_name) < 0)
			return err_set(-ENOENT, "no such space '%s'",
				       req->space_name);
		rc = authorize(&req->auth, req->space_name, NULL,
			       req->route->right);
		if (rc < 0)
			return rc;
		/* A terminated space is read-only, for every write route
		 * (signatures, declassifications, grants...). */
		if (req->auth.read_only && strcmp(req->route->method, "GET") &&
		    !req->route->while_terminated)
			return err_set(
				-EACCES,
				"space '%s' is terminated: it is read-only (an owner may reactivate it)",
				req->space_name);
		rc = spaces_get(req->srv->spaces, req->space_name, &req->space);
		if (rc < 0)
			return rc;
	}

	switch (req->route->body) {
	case HTTP_BODY_JSON:
		buf_init(&req->body, json_max(req));
		break;
	case HTTP_BODY_CHUNK:
		return api_chunk_put_begin(req);
	case HTTP_BODY_NONE:
		if (req->content_length != UINT64_MAX &&
		    req->content_length > 0)
			return err_set(-EINVAL, "%s %s takes no body",
				       req->method, req->route->name);
		break;
	}
	return 0;
}

/* Feed one piece of body.  Errors are remembered for the last call. */
static void req_body(struct http_req *req, const char *data, size_t n)
{
	int rc = 0;

	if (req->fail_status) {
		req->discarded += n;
		return;
	}
	req->received += n;
	switch (req->route->body) {
	case HTTP_BODY_JSON:
		rc = buf_append(&req->body, data, n);
		if (rc == -E2BIG)
			rc = err_set(-E2BIG, "JSON body of %s over %zu bytes",
				     req->route->name, json_max(req));
		break;
	case HTTP_BODY_CHUNK:
		if (req->received > CHUNK_MAX) {
			rc = err_set(-E2BIG, "chunk body over %u bytes",
				     CHUNK_MAX);
		} else if (req->verify) {
			hash_update(req->verify, data, n);
		} else if (req->writer) {
			rc = chunkstore_writer_write(req->writer, data, n);
		}
		break;
	case HTTP_BODY_NONE:
		rc = err_set(-EINVAL, "%s %s takes no body", req->method,
			     req->route->name);
		break;
	}
	if (rc < 0) {
		if (req->writer) {
			chunkstore_writer_abort(req->writer);
			req->writer = NULL;
		}
		req_fail(req, rc, HTTP_CTX_ANY);
	}
}

static int json_depth_ok(json_t *j, int depth)
{
	const char *key;
	json_t *v;
	size_t i;

	if (depth > HTTP_JSON_DEPTH)
		return 0;
	if (json_is_object(j)) {
		json_object_foreach(
			j, key, v) if (!json_depth_ok(v, depth + 1)) return 0;
	} else if (json_is_array(j)) {
		json_array_foreach(
			j, i, v) if (!json_depth_ok(v, depth + 1)) return 0;
	}
	return 1;
}

/* Parse the accumulated JSON body.  0, or 1 when a 400 was queued. */
static int req_parse_json(struct http_req *req)
{
	json_error_t jerr;
	int over = 0;

	if (req->body.len == 0) {
		http_reply_error(req, 400, "bad_request", -1,
				 "missing JSON body");
		return 1;
	}
	req->json = json_budget_loadb(req->body.data, req->body.len,
				      JSON_REJECT_DUPLICATES,
				      json_max(req) * HTTP_JSON_PARSE_FACTOR,
				      &jerr, &over);
	if (!req->json && over) {
		http_reply_error(
			req, 413, "too_large", -1,
			"JSON body of %s too complex: its parse needs over %zu bytes",
			req->route->name,
			json_max(req) * HTTP_JSON_PARSE_FACTOR);
		return 1;
	}
	if (!req->json) {
		http_reply_error(req, 400, "bad_request", -1,
				 "malformed JSON at line %d column %d: %s",
				 jerr.line, jerr.column, jerr.text);
		return 1;
	}
	if (!json_is_object(req->json)) {
		http_reply_error(req, 400, "bad_request", -1,
				 "the JSON body must be an object");
		return 1;
	}
	if (!json_depth_ok(req->json, 1)) {
		http_reply_error(req, 400, "bad_request", -1,
				 "JSON nested deeper than %d levels",
				 HTTP_JSON_DEPTH);
		return 1;
	}
	buf_release(&req->body);
	return 0;
}

/* Reply to an error found by req_begin (the 401 case has its own rc). */
/*
 * Whether a body small enough to drain follows the headers: one announced
 * with a Content-Length up to HTTP_DISCARD_MAX, or sent chunked (draining
 * stops at HTTP_DISCARD_MAX anyway).
 */
static int req_body_follows(const struct http_req *req)
{
	const char *te;

	if (req->content_length != UINT64_MAX)
		return req->content_length > 0 &&
		       req->content_length <= HTTP_DISCARD_MAX;
	te = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_TRANSFER_ENCODING);
	return te != NULL;
}

static int reply_begin_error(struct http_req *req, int rc)
{
	if (rc == -EKEYREJECTED) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", err_msg());
		return http_reply_error(req, 401, "unauthorized", -1, "%s",
					msg);
	}
	return http_reply_rc(req, rc, HTTP_CTX_ANY, -1);
}

enum MHD_Result http_access(void *cls, struct MHD_Connection *conn,
			    const char *url, const char *method,
			    const char *version, const char *upload_data,
			    size_t *upload_data_size, void **con_cls)
{
	struct http_req *req = *con_cls;
	int rc;

	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*con_cls = req;
		req->srv = cls;
		req->conn = conn;
		req->auth.ix = req->srv->ix;
		req->auth.spaces = req->srv->spaces;
		clock_gettime(CLOCK_MONOTONIC, &req->start);
		/* Past the handshake: the connection may now sit idle. */
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
					  (unsigned int)HTTP_IDLE_TIMEOUT_S);
		snprintf(req->method, sizeof(req->method), "%s", method);
		req->url = strndup(url, HTTP_URL_MAX);
		if (!req->url)
			return MHD_NO;
		buf_init(&req->body, 0);
		err_clear();
		rc = req_begin(req, url, method);
		if (rc < 0 && rc != -EKEYREJECTED && req_body_follows(req)) {
			/* Answering now and closing while the client still
			 * sends makes it see a reset instead of our answer:
			 * read the rest (bounded), answer at the end. */
			req_fail(req, rc, HTTP_CTX_ANY);
			return MHD_YES;
		}
		if (rc < 0)
			return reply_begin_error(req, rc) ? MHD_NO : MHD_YES;
		return MHD_YES;
	}
	if (req->status) { /* answered at the first call: drop the body */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		req_body(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		if (req->discarded > HTTP_DISCARD_MAX)
			return MHD_NO;
		return MHD_YES;
	}

	/* The whole request is in. */
	err_clear();
	if (req->fail_status) {
		rc = http_reply_error(req, req->fail_status, req->fail_code, -1,
				      "%s", req->fail_msg);
		return rc ? MHD_NO : MHD_YES;
	}
	if (req->route->body == HTTP_BODY_JSON && req_parse_json(req))
		return req->status ? MHD_YES : MHD_NO;
	req->suspended = 0;
	rc = req->route->fn(req);
	if (rc < 0 && !req->status)
		rc = http_reply_rc(req, rc, HTTP_CTX_ANY, -1);
	return req->status || req->suspended ? MHD_YES : MHD_NO;
}

void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct http_req *req = *con_cls;
	struct timespec end;
	double ms;

	if (!req)
		return;
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (double)(end.tv_sec - req->start.tv_sec) * 1e3 +
	     (double)(end.tv_nsec - req->start.tv_nsec) / 1e6;
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_info("%s %s %u %s %s %.1fms", req->method,
			 req->url ? req->url : "-", req->status,
			 req->auth.login[0] ? req->auth.login : "-",
			 req->client_text[0] ? req->client_text : "-", ms);
	else
		log_info("%s %s %u %s %s %.1fms (aborted: %s)", req->method,
			 req->url ? req->url : "-", req->status,
			 req->auth.login[0] ? req->auth.login : "-",
			 req->client_text[0] ? req->client_text : "-", ms,
			 toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ?
				 "timeout" :
			 toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ?
				 "client went away" :
			 toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ?
				 "shutdown" :
				 "error");
	req_free(req);
	*con_cls = NULL;
}
