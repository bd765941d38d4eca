/*
 * The access endpoints: members, delegation, grants and classes (see
 * docs/protocol.md, "Access").  Each change goes through access.h, which
 * makes it a ledger commit authored by the caller and an event.  Rights:
 * the route asks the space-level right (admin for members), the handler
 * asks authorize() on the folder in question; changes to owners and
 * delegation are for owners alone, so a delegated assistant cannot raise
 * itself or anyone above an assistant.
 */
#include "server/api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/path.h"
#include "server/access.h"
#include "server/events.h"
#include "server/index.h"
#include "server/invite.h"
#include "server/policy.h"
#include "server/server.h"
#include "server/spaces.h"

/* A member's login from the body or the URL: a valid ident. */
static int login_arg(struct http_req *req, const char *login)
{
	if (ident_validate(login) < 0)
		return http_reply_error(req, 400, "bad_request", -1,
					"bad login '%s'", login);
	return 0;
}

static int owner_only(struct http_req *req, const char *what)
{
	if (req->auth.role_id == POLICY_ROLE_OWNER)
		return 0;
	return err_set(-EACCES, "only an owner may %s", what);
}

/* The role login holds now, POLICY_ROLE_NONE when none. */
static enum policy_role role_now(struct http_req *req, const char *login)
{
	enum policy_role r = POLICY_ROLE_NONE;
	int admin;

	if (access_member(req->srv->ix, req->space_name, login, &r, &admin) <
	    0) {
		err_clear();
		return POLICY_ROLE_NONE;
	}
	return r;
}

static int member_cb(const char *login, enum policy_role role, int admin,
		     void *arg)
{
	return json_array_append_new(
		       arg, json_pack("{s:s, s:s, s:b}", "login", login, "role",
				      policy_role_name(role), "admin", admin)) ?
		       -ENOMEM :
		       0;
}

struct grants_state {
	struct http_req *req;
	json_t *grants;
};

/*
 * A grant is listed to whom may manage it: an owner, or a delegated
 * assistant with admin on its folder -- never one inside a confidential
 * folder, nor one whose path they may not read.
 */
static int grant_cb(const char *path, const char *login,
		    enum policy_grant level, void *arg)
{
	struct grants_state *gs = arg;

	if (gs->req->auth.role_id != POLICY_ROLE_OWNER) {
		struct auth_ctx probe = gs->req->auth;
		int rc = authorize(&probe, gs->req->space_name, path,
				   AUTH_ADMIN);

		if (rc == -ENOENT || rc == -EACCES) {
			err_clear();
			return 0;
		}
		if (rc < 0)
			return rc;
	}
	return json_array_append_new(gs->grants,
				     json_pack("{s:s, s:s, s:s}", "path", path,
					       "login", login, "right",
					       policy_grant_name(level))) ?
		       -ENOMEM :
		       0;
}

static int invited_cb(const struct invite *inv, void *arg)
{
	return json_array_append_new(arg,
				     json_pack("{s:s, s:s, s:s}", "login",
					       inv->login, "role", inv->role,
					       "invited_by", inv->by)) ?
		       -ENOMEM :
		       0;
}

int api_members_list(struct http_req *req)
{
	json_t *members = json_array(), *grants = json_array();
	struct grants_state gs = { req, grants };
	int rc = -ENOMEM;

	if (members && grants)
		rc = access_members(req->srv->ix, req->space_name, member_cb,
				    members);
	json_t *invited = json_array();

	if (rc == 0)
		rc = access_grants_all(req->srv->ix, req->space_name, grant_cb,
				       &gs);
	if (rc == 0)
		rc = invited ? invite_list(req->srv->ix, req->space_name, NULL,
					   invited_cb, invited) :
			       -ENOMEM;
	if (rc < 0) {
		json_decref(members);
		json_decref(grants);
		json_decref(invited);
		return rc;
	}
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:o, s:o, s:o}", "space",
					 req->space_name, "members", members,
					 "grants", grants, "invited", invited));
}

int api_member_add(struct http_req *req)
{
	struct index_event ev = { .kind = "member-invite", .path = "/" };
	const char *login, *role_s;
	enum policy_role role;
	char detail[96];
	int rc;

	if (api_json_string(req, req->json, "login", 1, 64, &login, -1) ||
	    api_json_string(req, req->json, "role", 1, 16, &role_s, -1))
		return 0;
	if (login_arg(req, login))
		return 0;
	if (policy_role_parse(role_s, &role) < 0)
		return http_reply_error(
			req, 400, "bad_request", -1,
			"field 'role' must be owner, assistant, intervenant or trusted");
	if (role == POLICY_ROLE_OWNER ||
	    role_now(req, login) == POLICY_ROLE_OWNER) {
		rc = owner_only(req, "add or change an owner");
		if (rc < 0)
			return rc;
	}
	/*
	 * A member changes role at once.  Anyone else is invited, whether an
	 * account by that name exists or not (the same work, the same
	 * answer), and joins only by accepting (api_invite.c).
	 */
	if (role_now(req, login) != POLICY_ROLE_NONE) {
		rc = access_member_set(req->space, req->srv->ix,
				       req->auth.login, login, role);
		if (rc < 0)
			return rc;
		return http_reply_json(
			req, 200,
			json_pack("{s:s, s:s, s:s}", "login", login, "role",
				  policy_role_name(role), "status", "member"));
	}
	snprintf(detail, sizeof(detail), "%s %s", login,
		 policy_role_name(role));
	ev.detail = detail;
	rc = invite_put(req->srv->ix, req->space_name, login,
			policy_role_name(role), req->auth.login,
			(int64_t)time(NULL));
	if (rc == 0)
		rc = events_append(req->srv->ix, req->space_name,
				   req->auth.login, (int64_t)time(NULL), &ev,
				   NULL);
	if (rc < 0)
		return rc;
	return http_reply_json(req, 202,
			       json_pack("{s:s, s:s, s:s}", "login", login,
					 "role", policy_role_name(role),
					 "status", "invited"));
}

int api_member_remove(struct http_req *req)
{
	int rc;

	if (login_arg(req, req->arg))
		return 0;
	/* Not a member: withdraw an invitation, if there is one. */
	if (role_now(req, req->arg) == POLICY_ROLE_NONE &&
	    invite_drop(req->srv->ix, req->space_name, req->arg) == 0)
		return http_reply_json(req, 200,
				       json_pack("{s:s, s:b}", "login",
						 req->arg, "withdrawn", 1));
	err_clear();
	if (role_now(req, req->arg) == POLICY_ROLE_OWNER) {
		rc = owner_only(req, "remove an owner");
		if (rc < 0)
			return rc;
	}
	rc = access_member_remove(req->space, req->srv->ix, req->auth.login,
				  req->arg);
	if (rc < 0)
		return rc;
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:b}", "login", req->arg,
					 "removed", 1));
}

int api_delegation(struct http_req *req)
{
	json_t *admin = json_object_get(req->json, "admin");
	const char *login;
	int rc;

	if (api_json_string(req, req->json, "login", 1, 64, &login, -1))
		return 0;
	if (login_arg(req, login))
		return 0;
	if (!json_is_boolean(admin))
		return http_reply_error(req, 400, "bad_request", -1,
					"field 'admin' must be true or false");
	rc = owner_only(req, "delegate administration");
	if (rc == 0)
		rc = access_delegate(req->space, req->srv->ix, req->auth.login,
				     login, json_is_true(admin));
	if (rc < 0)
		return rc;
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:b}", "login", login, "admin",
					 json_is_true(admin)));
}

/* A validated path from the body; 1 when a 400 was queued. */
static int body_path(struct http_req *req, const char **out)
{
	if (api_json_string(req, req->json, "path", 1, PATH_MAX_LEN, out, -1))
		return 1;
	if (path_validate(*out) < 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err_msg());
		http_reply_error(req, 400, "bad_name", -1, "bad path: %s", why);
		return 1;
	}
	return 0;
}

int api_grant(struct http_req *req)
{
	const char *path, *login, *right = NULL;
	enum policy_grant level = POLICY_GRANT_NONE;
	int rc, revoke = !strcmp(req->method, "DELETE");

	if (revoke) {
		rc = 0;
		path = http_query(req, "path", &rc);
		login = http_query(req, "login", &rc);
		if (rc < 0 || !path || !login)
			return http_reply_error(
				req, 400, "bad_request", -1,
				"'path' and 'login' are needed");
		if (path_validate(path) < 0)
			return http_reply_error(req, 400, "bad_name", -1,
						"bad path: %s", err_msg());
	} else {
		if (body_path(req, &path) ||
		    api_json_string(req, req->json, "login", 1, 64, &login,
				    -1) ||
		    api_json_string(req, req->json, "right", 1, 16, &right, -1))
			return 0;
		if (policy_grant_parse(right, &level) < 0)
			return http_reply_error(
				req, 400, "bad_request", -1,
				"field 'right' must be read or deposit");
	}
	if (login_arg(req, login))
		return 0;
	rc = authorize(&req->auth, req->space_name, path, AUTH_ADMIN);
	if (rc < 0)
		return rc;
	rc = access_grant(req->space, req->srv->ix, req->auth.login, path,
			  login, level);
	if (rc < 0)
		return rc;
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:s, s:s}", "path", path,
					 "login", login, "right",
					 policy_grant_name(level)));
}

int api_class(struct http_req *req)
{
	const char *path, *class_s;
	enum folder_class class;
	int rc;

	if (body_path(req, &path) ||
	    api_json_string(req, req->json, "class", 1, 16, &class_s, -1))
		return 0;
	if (folder_class_parse(class_s, &class) < 0)
		return http_reply_error(
			req, 400, "bad_request", -1,
			"field 'class' must be public, restricted or confidential");
	rc = authorize(&req->auth, req->space_name, path, AUTH_ADMIN);
	if (rc == 0 && req->auth.traverse)
		rc = err_set(-EACCES, "'%s': the admin right is needed", path);
	if (rc < 0)
		return rc;
	rc = access_class_set(req->space, req->srv->ix, req->auth.login, path,
			      class);
	if (rc == -ENOENT)
		return http_reply_error(req, 409, "conflict", -1,
					"'%s' is no folder", path);
	if (rc < 0)
		return rc;
	/* Out of confidential: the current versions open to the folder's
	 * readers, the older sealed ones stay sealed.  Committed already. */
	if (access_seal_open(req->space, req->srv->ix, path) < 0)
		log_error("space '%s': seals after the class of '%s': %s",
			  req->space_name, path, err_msg());
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:s}", "path", path, "class",
					 folder_class_name(class)));
}
