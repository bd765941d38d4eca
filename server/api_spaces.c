/*
 * GET /v1/spaces/SPACE: what a client needs to start working on a space,
 * including the chunker seed derived from the master key (so that chunk
 * boundaries reveal nothing across spaces).
 */
#include "server/api.h"

#include <errno.h>

#include <sodium.h>

#include "server/ledger.h"
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
