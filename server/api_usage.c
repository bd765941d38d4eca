/*
 * GET /v1/spaces/SPACE/usage: what the space holds and the quota in force
 * (docs/protocol.md#usage), for any member: the drive reads it to refuse
 * a write past the quota before it is queued, `coffre usage` prints it.
 * The figures are the index's counters (index.h), read in one query.
 */
#include "server/api.h"

#include <errno.h>

#include "server/index.h"
#include "server/quota.h"
#include "server/server.h"

int api_usage(struct http_req *req)
{
	struct index_usage u;
	uint64_t quota;
	json_t *j;
	int rc;

	rc = authorize(&req->auth, req->space_name, NULL, AUTH_READ);
	if (rc < 0)
		return rc;
	rc = index_usage_get(req->srv->ix, req->space_name, &u);
	if (rc < 0)
		return rc;
	quota = quota_in_force(req->srv, &u);
	j = json_pack("{s:s, s:I, s:I, s:I, s:o, s:s}", "space",
		      req->space_name, "bytes", (json_int_t)u.bytes,
		      "documents", (json_int_t)u.documents, "versions",
		      (json_int_t)u.versions, "quota",
		      quota ? json_integer((json_int_t)quota) : json_null(),
		      "quota_from",
		      u.quota > 0  ? "space" :
		      u.quota == 0 ? "space-unlimited" :
		      quota	   ? "default" :
				     "none");
	return http_reply_json(req, 200, j);
}
