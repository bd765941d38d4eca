/*
 * Chunk endpoints: which chunks are missing, upload (streamed straight into
 * the chunk store, never buffered whole) and download.
 *
 * An upload of a chunk the store already holds is still hashed, so a wrong
 * body gets 422 as it would for a new chunk, but nothing is rewritten.
 */
#include "server/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chunker.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/path.h"
#include "server/access.h"
#include "server/chunkstore.h"
#include "server/index.h"
#include "server/policy.h"
#include "server/quota.h"
#include "server/server.h"
#include "server/spaces.h"

#define MISSING_MAX 100000

/*
 * Chunks through versions: a chunk exists for the caller only as part of
 * a version they may read (access_version_open: of a document they read
 * where it is filed at the head, and not sealed from them); owners read
 * every chunk.  Elsewhere it answers as absent: not served, "missing" to
 * chunks/missing, and an upload of it is answered as a new one (the store
 * deduplicates silently).  One indexed lookup finds the versions that
 * hold it; the rows come by document, so each document is placed once.
 */
struct chunk_probe {
	struct http_req *req;
	char doc[DOC_ID_HEX_LEN + 1];
	struct api_doc_standing st;
	int st_rc;
};

static int version_cb(const char *doc_id, uint64_t version, int sealed,
		      void *arg)
{
	struct chunk_probe *p = arg;

	(void)version;
	if (strcmp(p->doc, doc_id)) {
		snprintf(p->doc, sizeof(p->doc), "%s", doc_id);
		p->st_rc = api_doc_standing(p->req, doc_id, &p->st);
		if (p->st_rc == -ENOENT)
			err_clear();
	}
	if (p->st_rc == -ENOENT)
		return 0;
	if (p->st_rc < 0)
		return p->st_rc;
	return api_doc_version_open(&p->st, sealed);
}

/* 1 readable, 0 not, -errno; after authorize() on the space. */
static int chunk_readable(struct http_req *req, const char *hex)
{
	struct chunk_probe *p;
	int rc;

	if (req->auth.role_id == POLICY_ROLE_OWNER)
		return 1;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->req = req;
	rc = index_chunk_versions(req->srv->ix, req->space_name, hex,
				  version_cb, p);
	/* In no version: placed as a document filed nowhere would be, so
	 * that a chunk of hidden documents and one never stored cost the
	 * same (bench/oracle_bench). */
	if (rc == 0 && !p->doc[0]) {
		api_doc_standing(req, "00000000000000000000000000000000",
				 &p->st);
		err_clear();
	}
	free(p);
	return rc;
}

int api_chunks_missing(struct http_req *req)
{
	json_t *ids = json_object_get(req->json, "chunks");
	json_t *missing = NULL, *v;
	struct obj_id *id = NULL;
	unsigned char *held = NULL;
	size_t i, n;
	int rc;

	if (!json_is_array(ids))
		return http_reply_error(
			req, 400, "bad_request", -1,
			"field 'chunks' must be an array of chunk ids");
	n = json_array_size(ids);
	if (n > MISSING_MAX)
		return http_reply_error(req, 413, "too_large", -1,
					"at most %d chunk ids per request",
					MISSING_MAX);
	rc = authorize(&req->auth, req->space_name, NULL, AUTH_DEPOSIT);
	if (rc < 0)
		return rc;
	id = calloc(n ? n : 1, sizeof(*id));
	held = calloc(n ? n : 1, 1);
	missing = json_array();
	if (!id || !held || !missing) {
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(ids, i, v)
	{
		if (!json_is_string(v) ||
		    obj_id_from_hex(&id[i], json_string_value(v)) < 0) {
			rc = http_reply_error(
				req, 400, "bad_request", -1,
				"chunks[%zu] is not a chunk id (64 lowercase hex digits)",
				i);
			goto out;
		}
	}
	/* The store answers for the whole list at once (on S3 a stat is a
	 * round trip). */
	rc = chunkstore_has_many(req->space->chunks, id, n, held);
	json_array_foreach(ids, i, v)
	{
		int readable;

		if (rc < 0)
			break;
		/* Placed even when not held: one held for hidden documents
		 * only must cost what one never stored does. */
		readable = chunk_readable(req, json_string_value(v));
		if (readable < 0)
			rc = readable;
		else if (!(held[i] && readable) &&
			 json_array_append(missing, v))
			rc = -ENOMEM;
	}
	if (rc >= 0) {
		rc = http_reply_json(req, 200,
				     json_pack("{s:o}", "missing", missing));
		missing = NULL;
	}
out:
	json_decref(missing);
	free(held);
	free(id);
	return rc;
}

/*
 * A new chunk past the space's quota is refused before a byte of it is
 * stored (507 quota_exceeded): one that could not fit even alone.  A chunk
 * counts only once a version names it, so the commit checks the batch as
 * a whole (api_commits.c) and removes what it uploaded if refused.
 */
static int chunk_fits(struct http_req *req)
{
	struct index_usage u;
	int rc = index_usage_get(req->srv->ix, req->space_name, &u);

	return rc < 0 ? rc :
			quota_check(req->space_name, u.bytes,
				    req->content_length,
				    quota_in_force(req->srv, &u));
}

int api_chunk_put_begin(struct http_req *req)
{
	int rc, readable;

	if (obj_id_from_hex(&req->chunk_id, req->arg) < 0)
		return err_set(
			-EINVAL,
			"'%s' is not a chunk id (64 lowercase hex digits)",
			req->arg);
	if (req->content_length == UINT64_MAX)
		return err_set(-E2BIG,
			       "a chunk upload needs a Content-Length of 1..%u",
			       CHUNK_MAX);
	if (req->content_length > CHUNK_MAX)
		return err_set(-E2BIG, "chunk body of %llu bytes is over %u",
			       (unsigned long long)req->content_length,
			       CHUNK_MAX);
	if (req->content_length == 0)
		return err_set(-EINVAL, "empty chunk body");
	rc = authorize(&req->auth, req->space_name, NULL, AUTH_DEPOSIT);
	if (rc < 0)
		return rc;
	rc = chunkstore_has(req->space->chunks, &req->chunk_id);
	if (rc < 0)
		return rc;
	/* Placed whether held or not, and a chunk held only for documents
	 * the caller may not read is stored again as a new one would be
	 * (the quota checked, written, synced, put in place of the
	 * identical object): its upload answers as a new chunk's does, in
	 * status and in time, so it cannot tell the caller that the space
	 * holds a given content (docs/protocol.md, "Access"). */
	readable = chunk_readable(req, req->arg);
	if (readable < 0)
		return readable;
	if (rc == 1 && readable)
		return hash_new(&req->verify);
	rc = chunk_fits(req);
	if (rc < 0)
		return rc;
	return chunkstore_writer_new(req->space->chunks, &req->chunk_id,
				     &req->writer);
}

int api_chunk_put(struct http_req *req)
{
	struct obj_id got;
	int rc;

	if (req->received != req->content_length)
		return http_reply_error(
			req, 400, "bad_request", -1,
			"chunk body is %llu bytes, Content-Length said %llu",
			(unsigned long long)req->received,
			(unsigned long long)req->content_length);
	if (req->verify) {
		hash_final(req->verify, &got);
		if (obj_id_cmp(&got, &req->chunk_id))
			return http_reply_error(
				req, 422, "hash_mismatch", -1,
				"chunk body does not hash to '%s'", req->arg);
		/* held, and readable by the caller (api_chunk_put_begin) */
		return http_reply_json(req, 200,
				       json_pack("{s:s, s:I}", "id", req->arg,
						 "size",
						 (json_int_t)req->received));
	}
	rc = chunkstore_writer_finish(req->writer);
	req->writer = NULL; /* freed by finish, whatever its result */
	if (rc < 0)
		return rc; /* -EBADMSG: 422 hash_mismatch */
	return http_reply_json(req, 201,
			       json_pack("{s:s, s:I}", "id", req->arg, "size",
					 (json_int_t)req->received));
}

int api_chunk_get(struct http_req *req)
{
	struct obj_id id;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	if (obj_id_from_hex(&id, req->arg) < 0)
		return http_reply_error(
			req, 400, "bad_request", -1,
			"'%s' is not a chunk id (64 lowercase hex digits)",
			req->arg);
	rc = authorize(&req->auth, req->space_name, NULL, AUTH_READ);
	if (rc < 0)
		return rc;
	rc = chunk_readable(req, req->arg);
	if (rc < 0)
		return rc;
	rc = rc ? chunkstore_get(req->space->chunks, &id, &data, &len) :
		  -ENOENT;
	if (rc == -ENOENT)
		return http_reply_error(req, 404, "not_found", -1,
					"no chunk '%s'", req->arg);
	if (rc < 0)
		return http_reply_rc(req, rc, HTTP_CTX_STORED, -1);
	return http_reply_bytes(req, 200, data, len,
				"application/octet-stream");
}
