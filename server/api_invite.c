/*
 * The invitee's side of adding a member (docs/protocol.md, "Access"):
 * GET /v1/invitations lists the caller's pending invitations, POST
 * /v1/invitations/SPACE accepts one (the caller becomes a member with the
 * role offered: the ledger commit and the member-add event are the
 * inviter's, who decided it, and an event member-accept is the caller's,
 * who consented), DELETE /v1/invitations/SPACE declines it.  An invitation
 * that is not the caller's, or a space that does not exist, is 404 alike.
 */
#include "server/api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/manifest.h"
#include "common/path.h"
#include "server/access.h"
#include "server/events.h"
#include "server/index.h"
#include "server/invite.h"
#include "server/policy.h"
#include "server/server.h"
#include "server/spaces.h"

static int add_invite(const struct invite *inv, void *arg)
{
	char at[32];

	rfc3339_utc(inv->at, at, sizeof(at));
	return json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:s}",
						    "space", inv->space, "role",
						    inv->role, "invited_by",
						    inv->by, "at", at)) ?
		       -ENOMEM :
		       0;
}

int api_invitations(struct http_req *req)
{
	json_t *list = json_array();
	int rc;

	if (!list)
		return -ENOMEM;
	rc = invite_list(req->srv->ix, NULL, req->auth.login, add_invite, list);
	if (rc < 0) {
		json_decref(list);
		return rc;
	}
	return http_reply_json(req, 200,
			       json_pack("{s:o}", "invitations", list));
}

/* May by still add someone as role to space (owner, or delegated)? */
static int inviter_may(struct http_req *req, const char *space, const char *by,
		       enum policy_role role)
{
	enum policy_role r = POLICY_ROLE_NONE;
	int admin = 0;

	if (access_member(req->srv->ix, space, by, &r, &admin) < 0) {
		err_clear();
		return 0;
	}
	if (r == POLICY_ROLE_OWNER)
		return 1;
	return r == POLICY_ROLE_ASSISTANT && admin && role != POLICY_ROLE_OWNER;
}

int api_invitation_answer(struct http_req *req)
{
	const char *space = req->arg;
	char role_s[AUTH_ROLE_MAX], by[LOGIN_MAX_LEN + 1], detail[96];
	struct index_event ev = { .kind = "member-accept", .path = "/" };
	enum policy_role role, now = POLICY_ROLE_NONE;
	struct space *sp;
	int rc, admin, accept = !strcmp(req->method, "POST");

	if (ident_validate(space) < 0)
		return err_set(-ENOENT, "no invitation to '%s'", space);
	rc = invite_get(req->srv->ix, space, req->auth.login, role_s,
			sizeof(role_s), by, sizeof(by));
	if (rc < 0)
		return rc;
	if (!accept) {
		rc = invite_drop(req->srv->ix, space, req->auth.login);
		if (rc < 0)
			return rc;
		return http_reply_json(req, 200,
				       json_pack("{s:s, s:b}", "space", space,
						 "declined", 1));
	}
	if (policy_role_parse(role_s, &role) < 0)
		return err_set(-EIO, "invitation to '%s': bad role '%s'", space,
			       role_s);
	rc = spaces_get(req->srv->spaces, space, &sp);
	if (rc == 0)
		rc = access_reconcile(sp, req->srv->ix);
	if (rc < 0)
		return rc;
	/* An invitation lapses with its inviter's right to make it. */
	if (!inviter_may(req, space, by, role)) {
		invite_drop(req->srv->ix, space, req->auth.login);
		return err_set(-ENOENT, "no invitation to '%s'", space);
	}
	/* A member already (the role changed meanwhile): nothing to join. */
	if (access_member(req->srv->ix, space, req->auth.login, &now, &admin) ==
	    0) {
		invite_drop(req->srv->ix, space, req->auth.login);
		return err_set(-EEXIST, "already a member of '%s'", space);
	}
	err_clear();
	rc = access_member_set(sp, req->srv->ix, by, req->auth.login, role);
	if (rc == 0)
		rc = invite_drop(req->srv->ix, space, req->auth.login);
	if (rc < 0)
		return rc;
	snprintf(detail, sizeof(detail), "%s %s", req->auth.login,
		 policy_role_name(role));
	ev.detail = detail;
	if (events_append(req->srv->ix, space, req->auth.login,
			  (int64_t)time(NULL), &ev, NULL) < 0)
		log_warn("cannot record an acceptance in '%s': %s", space,
			 err_msg());
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:s}", "space", space, "role",
					 policy_role_name(role)));
}
