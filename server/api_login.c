/*
 * POST /v1/login and GET /v1/spaces: the endpoints that are about the
 * caller rather than about one space.
 */
#include "server/api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/manifest.h"
#include "server/index.h"
#include "server/server.h"

int api_login(struct http_req *req)
{
	char token[AUTH_TOKEN_HEX_LEN + 1];
	char expires[32];
	const char *login, *password;
	struct index_event ev = { .kind = "login" };
	int64_t expires_at;
	int rc;

	if (api_json_string(req, req->json, "login", 1, LOGIN_MAX_LEN, &login,
			    -1) ||
	    api_json_string(req, req->json, "password", 1, AUTH_PASSWORD_MAX,
			    &password, -1))
		return 0;
	rc = auth_login(req->srv->ix, login, password, token, &expires_at);
	if (rc == -EACCES) {
		ev.kind = "login_failed";
		if (index_record(req->srv->ix, NULL, login, (int64_t)time(NULL),
				 NULL, 0, &ev, 1) < 0)
			log_warn("cannot record a failed login: %s", err_msg());
		return http_reply_error(req, 401, "unauthorized", -1,
					"wrong login or password");
	}
	if (rc < 0)
		return rc;
	snprintf(req->auth.login, sizeof(req->auth.login), "%s", login);
	if (index_record(req->srv->ix, NULL, login, (int64_t)time(NULL), NULL,
			 0, &ev, 1) < 0)
		log_warn("cannot record the login of '%s': %s", login,
			 err_msg());
	rfc3339_utc(expires_at, expires, sizeof(expires));
	rc = http_reply_json(req, 200,
			     json_pack("{s:s, s:s, s:s}", "token", token,
				       "login", login, "expires_at", expires));
	explicit_bzero(token, sizeof(token));
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
