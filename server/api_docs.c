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
	struct api_doc_standing st; /* the caller's, on the document */
	uint64_t want;		    /* 0: all */
	json_t *list;		    /* all: the array */
	json_t *one;		    /* want: the object */
	int known;		    /* the index knows the document */
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
	json_t *j;

	vs->known = 1;
	if (!api_doc_version_open(&vs->st, v->sealed))
		return 0; /* as absent */
	j = version_json(v->version, v->size, v->sha256, v->deposited_by,
			 v->deposited_at, v->commit);
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
	/* The ledger's history alone does not say which versions are
	 * sealed: taken as sealed, as the stricter answer. */
	if (!api_doc_version_open(&vs->st, 1))
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
 *
 * For them, a document the journal files nowhere is refused with the work
 * of a hidden one's refusal: its place is authorized, a stand-in path
 * here, so the time of a 404 does not tell a document hidden from one
 * that never was (bench/oracle_bench).  And the head is read for the
 * document's manifest only once its place is found readable.
 */
int api_doc_standing(struct http_req *req, const char *doc_id,
		     struct api_doc_standing *out)
{
	struct auth_ctx probe;
	char path[PATH_MAX_LEN + 1];
	enum folder_class class;
	int rc, owner;

	memset(out, 0, sizeof(*out));
	rc = authorize(&req->auth, req->space_name, NULL, AUTH_READ);
	if (rc < 0)
		return rc;
	out->role = req->auth.role_id;
	owner = out->role == POLICY_ROLE_OWNER;
	probe = req->auth;
	rc = owner ? access_doc_path(req->srv->ix, req->space, doc_id, path,
				     sizeof(path)) :
		     access_doc_place(req->srv->ix, req->space, doc_id, path,
				      sizeof(path));
	if (rc == -ENOENT && owner) {
		err_clear();
		return 0; /* filed nowhere: the owners' still */
	}
	if (rc == -ENOENT) {
		/* Two levels, as a document in a folder: "/ID/ID". */
		snprintf(path, sizeof(path), "/%.32s/%.32s", doc_id, doc_id);
		authorize(&probe, req->space_name, path, AUTH_READ);
		return err_set(-ENOENT, "no such document '%s'", doc_id);
	}
	if (rc == 0)
		rc = authorize(&probe, req->space_name, path, AUTH_READ);
	if (rc == 0 && probe.traverse)
		rc = -ENOENT;
	if (rc == 0 && !owner)
		rc = access_doc_filed(req->space, doc_id, path);
	if (rc == 0)
		rc = auth_class_of(&probe, req->space_name, path, &class);
	if (rc == -ENOENT || rc == -EACCES)
		return err_set(-ENOENT, "no such document '%s'", doc_id);
	if (rc < 0)
		return rc;
	out->filed = 1;
	out->confidential = class == FOLDER_CLASS_CONFIDENTIAL;
	snprintf(out->path, sizeof(out->path), "%s", path);
	return 0;
}

int api_doc_version_open(const struct api_doc_standing *st, int sealed)
{
	struct policy_at at = { .class = st->confidential ?
						 FOLDER_CLASS_CONFIDENTIAL :
						 FOLDER_CLASS_RESTRICTED };

	return access_version_open((enum policy_role)st->role, sealed,
				   st->filed ? &at : NULL);
}

int api_doc_authorize(struct http_req *req)
{
	struct api_doc_standing st;

	return api_doc_standing(req, req->arg, &st);
}

struct seal_of {
	int found, sealed;
};

static int seal_cb(const struct index_version *v, void *arg)
{
	struct seal_of *s = arg;

	s->found = 1;
	s->sealed = v->sealed;
	return 0;
}

int api_version_sealed(struct http_req *req, const char *doc_id,
		       uint64_t version)
{
	struct seal_of s = { 0 };
	int rc = index_versions(req->srv->ix, req->space_name, doc_id, version,
				seal_cb, &s);

	if (rc < 0)
		return rc;
	return s.found ? s.sealed : 1; /* unknown to the index: the stricter */
}

int api_version_open(struct http_req *req, const char *doc_id, uint64_t version)
{
	struct api_doc_standing st;
	int rc;

	rc = api_version_sealed(req, doc_id, version);
	if (rc < 0)
		return rc;
	if (req->auth.role_id == POLICY_ROLE_OWNER)
		return 1;
	{
		int sealed = rc;

		rc = api_doc_standing(req, doc_id, &st);
		if (rc == -ENOENT) {
			err_clear();
			return 0;
		}
		if (rc < 0)
			return rc;
		return api_doc_version_open(&st, sealed);
	}
}

static int known_cb(const struct index_version *v, void *arg)
{
	(void)v;
	(void)arg;
	return 1; /* one is enough */
}

static int lookup(struct http_req *req, struct ver_state *vs)
{
	int rc;

	if (!doc_id_valid(req->arg)) {
		http_reply_error(req, 404, "not_found", -1,
				 "no such document '%s'", req->arg);
		return 1;
	}
	rc = api_doc_standing(req, req->arg, &vs->st);
	if (rc < 0)
		return rc;
	rc = index_versions(req->srv->ix, req->space_name, req->arg, vs->want,
			    from_index, vs);
	if (rc < 0)
		return rc;
	if (vs->known)
		return 0;
	/* A version of a known document, not in the index: none. */
	if (vs->want && index_versions(req->srv->ix, req->space_name, req->arg,
				       0, known_cb, vs) > 0)
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

/*
 * POST docs/ID/versions/N/declassify: an owner opens a sealed version to
 * whoever reads the document where it is filed, on purpose and traced (a
 * ledger commit and an event).  Anyone else: 403 when they read the
 * version, 404 as for an absent one otherwise.
 */
int api_doc_declassify(struct http_req *req)
{
	struct api_doc_standing st;
	int rc, open;

	if (!doc_id_valid(req->arg))
		return http_reply_error(req, 404, "not_found", -1,
					"no such document '%s'", req->arg);
	rc = api_doc_standing(req, req->arg, &st);
	if (rc < 0)
		return rc;
	open = api_version_open(req, req->arg, req->num);
	if (open < 0)
		return open;
	if (!open)
		return http_reply_error(req, 404, "not_found", -1,
					"no version %llu of document '%s'",
					(unsigned long long)req->num, req->arg);
	if (st.role != POLICY_ROLE_OWNER)
		return http_reply_error(req, 403, "forbidden", -1,
					"only an owner declassifies a version");
	rc = access_declassify(req->space, req->srv->ix, req->auth.login,
			       req->arg, req->num, st.filed ? st.path : NULL);
	if (rc == -ENOENT)
		return http_reply_error(req, 404, "not_found", -1,
					"no version %llu of document '%s'",
					(unsigned long long)req->num, req->arg);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		space_changed(req->space); /* the head moved */
		api_changes_notify();
	}
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:I, s:b}", "doc_id", req->arg,
					 "version", (json_int_t)req->num,
					 "declassified", rc == 1));
}
