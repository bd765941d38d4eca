/*
 * POST /v1/spaces: a user makes a space of their own (api_space_create).
 * GET /v1/spaces/SPACE: what a client needs to start working on a space,
 * including the chunker seed derived from the master key (so that chunk
 * boundaries reveal nothing across spaces).
 */
#include "server/api.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "common/manifest.h"
#include "common/path.h"
#include "common/plan.h"
#include "server/access.h"
#include "server/index.h"
#include "server/ledger.h"
#include "server/policy.h"
#include "server/server.h"
#include "server/space_create.h"
#include "server/space_plan.h"
#include "server/spaces.h"

/* "terminated_at" and "destroyed_after" of a terminated space, into j. */
static void termination_json(struct http_req *req, json_t *j, int64_t at)
{
	char when[32], end[32];

	rfc3339_utc(at, when, sizeof(when));
	rfc3339_utc(at + server_termination_grace(req->srv), end, sizeof(end));
	json_object_set_new(j, "terminated_at", json_string(when));
	json_object_set_new(j, "destroyed_after", json_string(end));
}

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
	if (j && req->auth.read_only)
		termination_json(req, j, req->auth.terminated_at);
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
 * creations at once cannot both pass -- on every node: with a shared
 * ledger, the count and the creation are one index transaction holding
 * the lock ":spaces-of:LOGIN" (the node's mutex alone would let each node
 * make one more); a plan is "default" or "none" (a file is the
 * operator's, on the server's disk, never a caller's path).
 */
int api_space_create(struct http_req *req)
{
	const char *name, *kind, *plan_s;
	struct plan plan = { 0 };
	struct index_txn *tx = NULL;
	unsigned owned = 0, limit;
	int rc = 0;

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
	if (req->srv->cfg.ledger_shared) {
		char lock[80];

		snprintf(lock, sizeof(lock), ":spaces-of:%s", req->auth.login);
		rc = index_begin_locked(req->srv->ix, lock, &tx);
	}
	if (rc == 0)
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
				  req->auth.login, kind, &plan,
				  spaces_master(req->srv->spaces));
	if (tx && rc == 0)
		rc = index_commit(req->srv->ix, tx);
	else if (tx)
		index_rollback(req->srv->ix, tx);
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

/*
 * POST /v1/spaces/SPACE/terminate and /reactivate (owners): the space
 * becomes read-only for everyone, `coffred expire` destroys it once
 * termination_grace is over; until then an owner may reactivate it.
 * Each is a ledger commit (the tree unchanged: the proof that it was
 * asked, and what wakes every drive's change feed) before the index
 * row, and an event; a retry after a failure between them writes
 * another commit, nothing else.
 */
static int termination_change(struct http_req *req, int terminate)
{
	const char *op = terminate ? "terminate" : "reactivate";
	struct index_event ev = { .kind = terminate ? "space-terminate" :
						      "space-reactivate",
				  .path = "/" };
	int64_t now = (int64_t)time(NULL), at = 0;
	char msg[256], detail[96], end[32];
	json_t *j;
	int rc;

	if (req->auth.role_id != POLICY_ROLE_OWNER)
		return http_reply_error(req, 403, "forbidden", -1,
					"only an owner may %s the space", op);
	rc = index_space_termination(req->srv->ix, req->space_name, &at, NULL,
				     0);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (terminate == (rc == 0))
		return http_reply_error(
			req, 409, "conflict", -1,
			terminate ? "space '%s' is terminated already" :
				    "space '%s' is not terminated",
			req->space_name);
	err_clear();
	rfc3339_utc(now + server_termination_grace(req->srv), end, sizeof(end));
	snprintf(msg, sizeof(msg), "%s space %s\n\nCoffre-Op: %s\n", op,
		 req->space_name, op);
	rc = access_ledger_note(req->space->ledger, req->space_name,
				req->auth.login, msg);
	if (rc < 0)
		return rc;
	rc = terminate ? index_space_terminate(req->srv->ix, req->space_name,
					       req->auth.login, now) :
			 index_space_reactivate(req->srv->ix, req->space_name);
	if (rc < 0)
		return rc;
	if (terminate) {
		snprintf(detail, sizeof(detail), "destroyed after %s", end);
		ev.detail = detail;
	}
	if (index_record(req->srv->ix, req->space_name, req->auth.login, now,
			 NULL, 0, &ev, 1) < 0)
		log_warn("cannot record the %s of '%s': %s", op,
			 req->space_name, err_msg());
	log_info("space '%s' %s by %s", req->space_name,
		 terminate ? "terminated" : "reactivated", req->auth.login);
	j = json_pack("{s:s, s:s}", "space", req->space_name, "state",
		      terminate ? "terminated" : "active");
	if (j && terminate)
		termination_json(req, j, now);
	return http_reply_json(req, 200, j);
}

int api_space_terminate(struct http_req *req)
{
	return termination_change(req, 1);
}

int api_space_reactivate(struct http_req *req)
{
	return termination_change(req, 0);
}
