/*
 * POST /v1/login and GET /v1/spaces: the endpoints that are about the
 * caller rather than about one space.
 */
#include "server/api.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/manifest.h"
#include "server/events.h"
#include "server/index.h"
#include "server/server.h"

void api_attempt_init(struct http_req *req, struct auth_attempt *at, char *addr,
		      size_t addrlen)
{
	/* The one client address of the request (http.c, client_addr.h). */
	snprintf(addr, addrlen, "%s", req->client_key);
	memset(at, 0, sizeof(*at));
	at->address = addr;
	/* a reload may change them: read under its lock */
	server_login_settings(req->srv, &at->limits.failures,
			      &at->limits.lockout, &at->ttl);
}

struct names {
	char (*v)[LOGIN_MAX_LEN + 1];
	size_t n, cap;
};

static int name_cb(const char *name, const char *kind, const char *role,
		   void *arg)
{
	struct names *ns = arg;

	if (ns->n == ns->cap)
		return 0; /* bounded: a login in more spaces is rare */
	snprintf(ns->v[ns->n++], sizeof(ns->v[0]), "%s", name);
	return 0;
}

#define LOCK_SPACES_MAX 256

/*
 * A failure that locked a login or an address: an event in the server's
 * chain, and for a known login one in each space it is a member of, where
 * the space's administrators read it (`coffre log`).  Locks of logins
 * nobody holds go to the server's chain and log only.
 */
static void record_lock(struct http_req *req, const char *login,
			const struct auth_attempt *at)
{
	struct names ns = { .v = calloc(LOCK_SPACES_MAX, sizeof(*ns.v)),
			    .cap = LOCK_SPACES_MAX };
	struct index_event ev = { .path = "/" };
	char until[32], detail[160];
	int64_t now = (int64_t)time(NULL);

	rfc3339_utc(at->th.locked_until, until, sizeof(until));
	/* A login nobody holds has no one to tell: the log only, so that
	 * guessing made-up logins adds no rows. */
	if (at->th.login_locks && index_user_exists(req->srv->ix, login) != 1) {
		err_clear();
		log_warn("unknown login '%s' locked after %u failures", login,
			 at->th.login_failures);
	} else if (at->th.login_locks) {
		snprintf(detail, sizeof(detail),
			 "%u failed logins, the last from %s; locked until %s",
			 at->th.login_failures,
			 at->address[0] ? at->address : "?", until);
		ev.kind = "login-locked";
		ev.detail = detail;
		log_warn("login '%s' locked: %s", login, detail);
		if (events_append(req->srv->ix, NULL, login, now, &ev, NULL) <
		    0)
			log_warn("cannot record a lock: %s", err_msg());
		/* The names first: the callback must not use the index. */
		if (!ns.v)
			ns.cap = 0;
		if (index_spaces_of(req->srv->ix, login, name_cb, &ns) < 0)
			log_warn("cannot list the spaces of '%s': %s", login,
				 err_msg());
		for (size_t i = 0; i < ns.n; i++)
			if (events_append(req->srv->ix, ns.v[i], login, now,
					  &ev, NULL) < 0)
				log_warn("cannot record a lock in '%s': %s",
					 ns.v[i], err_msg());
	}
	free(ns.v);
	if (at->th.addr_locks) {
		snprintf(detail, sizeof(detail),
			 "%u failed logins from %s; locked until %s",
			 at->th.addr_failures, at->address, until);
		ev.kind = "address-locked";
		ev.path = NULL;
		ev.detail = detail;
		log_warn("address %s locked: %s", at->address, detail);
		if (events_append(req->srv->ix, NULL, NULL, now, &ev, NULL) < 0)
			log_warn("cannot record a lock: %s", err_msg());
	}
}

int api_reply_password_failure(struct http_req *req, const char *login, int rc,
			       const struct auth_attempt *at, unsigned status)
{
	if (rc == -EAGAIN)
		return http_reply_json(req, 429,
				       json_pack("{s:{s:s, s:s, s:I}}", "error",
						 "code", "too_many", "message",
						 err_msg(), "retry_after",
						 (json_int_t)at->retry_after));
	if (rc == -EACCES) {
		if (at->th.login_locks || at->th.addr_locks)
			record_lock(req, login, at);
		if (status == 401)
			return http_reply_error(req, 401, "unauthorized", -1,
						"wrong login or password");
		return http_reply_error(req, status, "forbidden", -1,
					"wrong password");
	}
	return rc;
}

int api_login(struct http_req *req)
{
	char token[AUTH_TOKEN_HEX_LEN + 1];
	char addr[THROTTLE_ADDR_MAX];
	const char *login, *password;
	struct index_event ev = { .kind = "login" };
	struct auth_attempt at;
	int64_t expires_at;
	int rc;

	if (api_json_string(req, req->json, "login", 1, LOGIN_MAX_LEN, &login,
			    -1) ||
	    api_json_string(req, req->json, "password", 1, AUTH_PASSWORD_MAX,
			    &password, -1))
		return 0;
	api_attempt_init(req, &at, addr, sizeof(addr));
	/* Failures are counted by the throttle, not journaled one by one:
	 * a row each would grow without bound under guessing. */
	rc = auth_login(req->srv->ix, login, password, &at, token, &expires_at);
	if (rc < 0)
		return api_reply_password_failure(req, login, rc, &at, 401);
	snprintf(req->auth.login, sizeof(req->auth.login), "%s", login);
	if (index_record(req->srv->ix, NULL, login, (int64_t)time(NULL), NULL,
			 0, &ev, 1) < 0)
		log_warn("cannot record the login of '%s': %s", login,
			 err_msg());
	return api_reply_token(req, 200, token, login, expires_at);
}

int api_reply_token(struct http_req *req, unsigned status,
		    char token[AUTH_TOKEN_HEX_LEN + 1], const char *login,
		    int64_t expires_at)
{
	char expires[32];
	int rc;

	rfc3339_utc(expires_at, expires, sizeof(expires));
	rc = http_reply_json(req, status,
			     json_pack("{s:s, s:s, s:s}", "token", token,
				       "login", login, "expires_at", expires));
	explicit_bzero(token, AUTH_TOKEN_HEX_LEN + 1);
	return rc;
}

static int add_space(const char *name, const char *kind, const char *role,
		     void *arg)
{
	json_t *list = arg;

	return json_array_append_new(list,
				     json_pack("{s:s, s:s, s:s}", "name", name,
					       "kind", kind, "role", role)) ?
		       -ENOMEM :
		       0;
}

int api_spaces_list(struct http_req *req)
{
	json_t *list = json_array();
	int rc;

	if (!list)
		return -ENOMEM;
	rc = index_spaces_of(req->srv->ix, req->auth.login, add_space, list);
	if (rc < 0) {
		json_decref(list);
		return rc;
	}
	return http_reply_json(req, 200, json_pack("{s:o}", "spaces", list));
}
