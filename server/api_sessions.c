/*
 * The caller's own account: POST /v1/logout, GET and DELETE /v1/sessions,
 * DELETE /v1/sessions/ID and POST /v1/password (docs/protocol.md,
 * "Sessions").  A session is one token; revoking it deletes its hash from
 * the index, so the next request with it is 401.
 */
#include "server/api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/manifest.h"
#include "server/events.h"
#include "server/index.h"
#include "server/server.h"

#define SESSION_ID_HEX_LEN 16

int api_logout(struct http_req *req)
{
	int rc = index_token_drop(req->srv->ix, req->auth.token_hash);

	if (rc < 0)
		return rc;
	return http_reply_json(req, 200, json_pack("{s:i}", "revoked", 1));
}

static int session_cb(const struct index_token *tk, void *arg)
{
	char created[32], expires[32];
	json_t *o;

	rfc3339_utc(tk->expires_at, expires, sizeof(expires));
	o = json_pack("{s:s, s:s, s:s?, s:b}", "id", tk->id, "expires_at",
		      expires, "address", tk->address, "current", tk->current);
	if (o && tk->created_at > 0) {
		rfc3339_utc(tk->created_at, created, sizeof(created));
		json_object_set_new(o, "created_at", json_string(created));
	} else if (o) {
		json_object_set_new(o, "created_at", json_null());
	}
	return !o || json_array_append_new(arg, o) ? -ENOMEM : 0;
}

static int sessions_list(struct http_req *req)
{
	json_t *list = json_array();
	int rc;

	if (!list)
		return -ENOMEM;
	rc = index_tokens_of(req->srv->ix, req->auth.login,
			     req->auth.token_hash, (int64_t)time(NULL),
			     session_cb, list);
	if (rc < 0) {
		json_decref(list);
		return rc;
	}
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:o}", "login", req->auth.login,
					 "sessions", list));
}

int api_sessions(struct http_req *req)
{
	const char *others;
	int rc = 0, keep;

	if (!strcmp(req->method, "GET"))
		return sessions_list(req);
	others = http_query(req, "others", &rc);
	if (rc < 0)
		return http_reply_error(req, 400, "bad_request", -1, "%s",
					err_msg());
	keep = others && !strcmp(others, "1");
	rc = index_tokens_drop_all(req->srv->ix, req->auth.login,
				   keep ? req->auth.token_hash : NULL);
	if (rc < 0)
		return rc;
	return http_reply_json(req, 200, json_pack("{s:i}", "revoked", rc));
}

int api_session_revoke(struct http_req *req)
{
	size_t n = strlen(req->arg);
	int rc;

	/* Anything but 16 hex digits is no session of anyone's. */
	if (n != SESSION_ID_HEX_LEN ||
	    strspn(req->arg, "0123456789abcdef") != n)
		return err_set(-ENOENT, "no such session '%s'", req->arg);
	rc = index_token_drop_id(req->srv->ix, req->auth.login, req->arg);
	if (rc < 0)
		return rc;
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:i}", "id", req->arg,
					 "revoked", 1));
}

int api_password(struct http_req *req)
{
	char addr[THROTTLE_ADDR_MAX];
	const char *old, *new_password;
	struct index_event ev = { .kind = "password" };
	struct auth_attempt at;
	int rc;

	if (api_json_string(req, req->json, "old_password", 1,
			    AUTH_PASSWORD_MAX, &old, -1) ||
	    api_json_string(req, req->json, "new_password", 1,
			    AUTH_PASSWORD_MAX, &new_password, -1))
		return 0;
	api_attempt_init(req, &at, addr, sizeof(addr));
	rc = auth_password_change(&req->auth, old, new_password, &at);
	if (rc == -EINVAL)
		return http_reply_error(req, 400, "bad_request", -1, "%s",
					err_msg());
	if (rc == -EACCES || rc == -EAGAIN) {
		/* Throttled as a login: a stolen token does not help
		 * guessing the password. */
		return api_reply_password_failure(req, req->auth.login, rc, &at,
						  403);
	}
	if (rc < 0)
		return rc;
	if (events_append(req->srv->ix, NULL, req->auth.login,
			  (int64_t)time(NULL), &ev, NULL) < 0)
		log_warn("cannot record a password change: %s", err_msg());
	return http_reply_json(req, 200, json_pack("{s:i}", "revoked", rc));
}
