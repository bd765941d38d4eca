/*
 * Versions of a document: GET docs/ID/versions and docs/ID/versions/N.
 * Served from the index (one indexed query); a document the index does not
 * know (an index rebuilt or behind the ledger) is looked up in the ledger's
 * history instead, so no version is ever reported missing while it exists.
 */
#include "server/api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/manifest.h"
#include "common/path.h"
#include "server/access.h"
#include "server/index.h"
#include "server/policy.h"
#include "server/ledger.h"
#include "server/server.h"
#include "server/spaces.h"

struct ver_state {
	uint64_t want; /* 0: all */
	json_t *list;  /* all: the array */
	json_t *one;   /* want: the object */
	int failed;
};

static json_t *version_json(uint64_t version, uint64_t size, const char *sha,
			    const char *by, const char *at, const char *commit)
{
	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "version",
			 (json_int_t)version, "size", (json_int_t)size,
			 "sha256", sha, "deposited_by", by, "deposited_at", at,
			 "commit", commit);
}

/* Add "chunks" and "manifest" to a single version's object. */
static int add_detail(json_t *j, const struct manifest *m, const char *text)
{
	json_t *chunks = json_array();
	char hex[OBJ_ID_HEX_LEN + 1];

	if (!chunks)
		return -ENOMEM;
	for (size_t i = 0; i < m->nchunks; i++) {
		obj_id_to_hex(&m->chunks[i].id, hex);
		if (json_array_append_new(
			    chunks, json_pack("[s, I]", hex,
					      (json_int_t)m->chunks[i].size))) {
			json_decref(chunks);
			return -ENOMEM;
		}
	}
	json_object_set_new(j, "chunks", chunks);
	json_object_set_new(j, "manifest", json_string(text));
	return 0;
}

static int from_index(const struct index_version *v, void *arg)
{
	struct ver_state *vs = arg;
	json_t *j = version_json(v->version, v->size, v->sha256,
				 v->deposited_by, v->deposited_at, v->commit);

	if (!j)
		return -ENOMEM;
	if (!vs->want)
		return json_array_append_new(vs->list, j) ? -ENOMEM : 0;
	{
		struct manifest m;
		int rc;

		manifest_init(&m);
		rc = manifest_parse(&m, v->manifest, strlen(v->manifest));
		if (rc == 0)
			rc = add_detail(j, &m, v->manifest);
		manifest_release(&m);
		if (rc < 0) {
			json_decref(j);
			return err_set(
				rc,
				"stored manifest of version %llu is unreadable",
				(unsigned long long)v->version);
		}
	}
	vs->one = j;
	return 0;
}

static int from_ledger(const struct manifest *m, const char *commit, void *arg)
{
	struct ver_state *vs = arg;
	char sha[OBJ_ID_HEX_LEN + 1];
	struct buf text;
	json_t *j;
	int rc;

	if (vs->want && m->version != vs->want)
		return 0;
	obj_id_to_hex(&m->sha256, sha);
	j = version_json(m->version, m->size, sha, m->deposited_by,
			 m->deposited_at, commit);
	if (!j)
		return -ENOMEM;
	if (!vs->want)
		return json_array_append_new(vs->list, j) ? -ENOMEM : 0;
	buf_init(&text, 64u * 1024u * 1024u);
	rc = manifest_format(m, &text);
	if (rc == 0)
		rc = add_detail(j, m, text.data ? text.data : "");
	buf_release(&text);
	if (rc < 0) {
		json_decref(j);
		return rc;
	}
	json_decref(vs->one);
	vs->one = j;
	return 0;
}

/*
 * Owners read every document, filed or not.  Anyone else reads a document
 * through the folder it is filed in at the head; one they cannot read
 * there, or filed nowhere, does not exist for them.
 */
int api_doc_authorize(struct http_req *req)
{
	char path[PATH_MAX_LEN + 1];
	int rc;

	rc = authorize(&req->auth, req->space_name, NULL, AUTH_READ);
	if (rc < 0 || req->auth.role_id == POLICY_ROLE_OWNER)
		return rc;
	rc = access_doc_path(req->srv->ix, req->space, req->arg, path,
			     sizeof(path));
	if (rc == 0)
		rc = authorize(&req->auth, req->space_name, path, AUTH_READ);
	if (rc == 0 && req->auth.traverse)
		rc = -ENOENT;
	if (rc == -ENOENT || rc == -EACCES)
		return err_set(-ENOENT, "no such document '%s'", req->arg);
	return rc;
}

static int lookup(struct http_req *req, struct ver_state *vs)
{
	int rc;

	if (!doc_id_valid(req->arg)) {
		http_reply_error(req, 404, "not_found", -1,
				 "no such document '%s'", req->arg);
		return 1;
	}
	rc = api_doc_authorize(req);
	if (rc < 0)
		return rc;
	rc = index_versions(req->srv->ix, req->space_name, req->arg, vs->want,
			    from_index, vs);
	if (rc < 0)
		return rc;
	if (rc > 0)
		return 0;
	/* The index knows nothing of it: ask the ledger's history. */
	rc = ledger_versions(req->space->ledger, req->arg, from_ledger, vs);
	if (rc == -ENOENT)
		rc = 0;
	return rc;
}

int api_doc_versions(struct http_req *req)
{
	struct ver_state vs = { 0 };
	int rc;

	vs.list = json_array();
	if (!vs.list)
		return -ENOMEM;
	rc = lookup(req, &vs);
	if (rc) {
		json_decref(vs.list);
		return rc < 0 ? rc : 0;
	}
	if (json_array_size(vs.list) == 0) {
		json_decref(vs.list);
		return http_reply_error(req, 404, "not_found", -1,
					"no such document '%s'", req->arg);
	}
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:o}", "doc_id", req->arg,
					 "versions", vs.list));
}

int api_doc_version(struct http_req *req)
{
	struct ver_state vs = { .want = req->num };
	int rc;

	rc = lookup(req, &vs);
	if (rc) {
		json_decref(vs.one);
		return rc < 0 ? rc : 0;
	}
	if (!vs.one)
		return http_reply_error(req, 404, "not_found", -1,
					"no version %llu of document '%s'",
					(unsigned long long)req->num, req->arg);
	json_object_set_new(vs.one, "doc_id", json_string(req->arg));
	return http_reply_json(req, 200, vs.one);
}
