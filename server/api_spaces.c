/*
 * POST /v1/spaces: a user makes a space of their own (api_space_create).
 * GET /v1/spaces/SPACE: what a client needs to start working on a space,
 * including the chunker seed derived from the master key (so that chunk
 * boundaries reveal nothing across spaces).
 */
#include "server/api.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "common/path.h"
#include "common/plan.h"
#include "server/index.h"
#include "server/ledger.h"
#include "server/server.h"
#include "server/space_create.h"
#include "server/space_plan.h"
#include "server/spaces.h"

int api_space_info(struct http_req *req)
{
	char head[GIT_OID_HEX_LEN + 1];
	char seed[CHUNK_SEED_LEN * 2 + 1];
	json_t *j;
	int rc;

	rc = authorize(&req->auth, req->space_name, NULL, AUTH_READ);
	if (rc < 0)
		return rc;
	rc = ledger_head(req->space->ledger, head);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	sodium_bin2hex(seed, sizeof(seed), req->space->chunk_seed,
		       CHUNK_SEED_LEN);
	j = json_pack("{s:s, s:s, s:s, s:o, s:s}", "name", req->space_name,
		      "kind", req->auth.kind, "role", req->auth.role, "head",
		      rc == -ENOENT ? json_null() : json_string(head),
		      "chunk_seed", seed);
	return http_reply_json(req, 200, j);
}

/* index_spaces_of: count the spaces the caller owns. */
static int count_owned(const char *name, const char *kind, const char *role,
		       void *arg)
{
	(void)name;
	(void)kind;
	if (!strcmp(role, "owner"))
		++*(unsigned *)arg;
	return 0;
}

/*
 * POST /v1/spaces {"name", "kind", "plan"}: a user makes a space they own,
 * with the kind's filing plan (docs/protocol.md, "Spaces").  At most
 * spaces_per_user owned spaces, counted under one lock so that two
 * creations at once cannot both pass; a plan is "default" or "none" (a
 * file is the operator's, on the server's disk, never a caller's path).
 */
int api_space_create(struct http_req *req)
{
	const char *name, *kind, *plan_s;
	struct plan plan = { 0 };
	unsigned owned = 0, limit;
	int rc;

	if (api_json_string(req, req->json, "name", 1, 64, &name, -1) ||
	    api_json_string(req, req->json, "kind", 0, 16, &kind, -1) ||
	    api_json_string(req, req->json, "plan", 0, 16, &plan_s, -1))
		return 0;
	if (!kind)
		kind = "private";
	if (ident_validate(name) < 0)
		return http_reply_error(req, 400, "bad_request", -1,
					"field 'name': %s", err_msg());
	if (space_kind_check(kind) < 0)
		return http_reply_error(req, 400, "bad_request", -1,
					"field 'kind' must be private, "
					"company or association");
	if (plan_s && strcmp(plan_s, "default") && strcmp(plan_s, "none"))
		return http_reply_error(req, 400, "bad_request", -1,
					"field 'plan' must be default or none");
	limit = server_spaces_per_user(req->srv);
	if (!limit)
		return err_set(
			-EPERM,
			"spaces are made by the operator on this server");
	rc = space_plan_load(plan_s, kind, &plan);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&req->srv->create_lock);
	rc = index_spaces_of(req->srv->ix, req->auth.login, count_owned,
			     &owned);
	if (rc == 0 && owned >= limit)
		rc = err_set(-EPERM,
			     "you own %u spaces, the most this server lets a "
			     "user make (spaces_per_user)",
			     owned);
	/* the server's prover is installed: signed like every commit */
	if (rc == 0)
		rc = space_create(req->srv->datadir, req->srv->ix, name,
				  req->auth.login, kind, &plan);
	pthread_mutex_unlock(&req->srv->create_lock);
	if (rc == 0)
		rc = http_reply_json(req, 201,
				     json_pack("{s:s, s:s, s:s, s:I}", "name",
					       name, "kind", kind, "role",
					       "owner", "folders",
					       (json_int_t)plan.n));
	plan_release(&plan);
	return rc;
}
