/*
 * Typed calls from the drive to coffred, on top of transport_json: space
 * info, folder listings (paged), the versions of a document, the chunk list
 * of one version, which chunks the server lacks, and commits.  Replies are
 * checked field by field; anything malformed is -EPROTO.
 */
#include "client/drive/fs_i.h"
#include "client/drive/rights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/drive/mount.h"
#include "client/store/transport.h"
#include "common/err.h"
#include "common/log.h"
#include "common/hash.h"
#include "common/path.h"

#define REMOTE_PATH_MAX	 (PATH_MAX_LEN * 3 + 1024)
#define LIST_MAX_ENTRIES 10000000u

/* transport_json for callers that need no error body: on failure *reply
 * is NULL (the body the transport parsed is released here). */
static int call(struct fs *fs, const char *method, const char *url,
		json_t *body, json_t **reply)
{
	int rc = transport_json(fs->t, method, url, body, reply);

	if (rc < 0) {
		json_decref(*reply);
		*reply = NULL;
	}
	return rc;
}

int remote_stat(struct fs *fs, const char *path, struct remote_meta *rm)
{
	char url[REMOTE_PATH_MAX];
	json_t *reply = NULL;
	char *epath = transport_escape(path);
	int rc;

	if (!epath)
		return -ENOMEM;
	if ((size_t)snprintf(url, sizeof(url), "/v1/spaces/%s/stat?path=%s",
			     fs->space, epath) >= sizeof(url)) {
		free(epath);
		return err_set(-ENAMETOOLONG, "path too long");
	}
	free(epath);
	rc = call(fs, "GET", url, NULL, &reply);
	if (rc == 0)
		rc = remote_meta_from_json(rm, reply);
	json_decref(reply);
	return rc;
}

int remote_space_info(struct fs *fs, uint8_t seed[CHUNK_SEED_LEN])
{
	char path[256];
	json_t *reply = NULL;
	const char *hex;
	struct obj_id id;
	int rc;

	snprintf(path, sizeof(path), "/v1/spaces/%s", fs->space);
	rc = call(fs, "GET", path, NULL, &reply);
	if (rc == 0) {
		offline_put(fs, "space", reply);
	} else if (rc == -ENOTCONN && (reply = offline_get(fs, "space"))) {
		log_warn("%s: working from the cache until the server is back",
			 err_msg());
		rc = 0;
	}
	if (rc < 0)
		goto out;
	hex = json_string_value(json_object_get(reply, "chunk_seed"));
	if (!hex || obj_id_from_hex(&id, hex) < 0) {
		rc = err_set(-EPROTO,
			     "server sent no valid chunk seed for '%s'",
			     fs->space);
		goto out;
	}
	memcpy(seed, id.b, CHUNK_SEED_LEN);
out:
	json_decref(reply);
	return rc;
}

/* The root's mode, from its own listing (it has no parent's): the
 * ledger's rules unless a chmod of it waits. */
static void root_mode_set(struct fs *fs, json_t *v)
{
	struct node *root = fs->root;

	pthread_mutex_lock(&fs->lock);
	root->rm.has_mode = json_is_integer(v) && json_integer_value(v) >= 0 &&
			    json_integer_value(v) <= 07777;
	root->rm.mode = root->rm.has_mode ? (uint32_t)json_integer_value(v) : 0;
	if (!root->mode_pending)
		root->has_mode = 0;
	pthread_mutex_unlock(&fs->lock);
}

static int list_page(struct fs *fs, const char *epath, const char *after,
		     struct rentry **out, size_t *n, size_t *alloc, char **next,
		     char *fclass)
{
	char url[REMOTE_PATH_MAX];
	char *eafter = NULL;
	json_t *reply = NULL, *ents, *e, *nx;
	size_t i;
	int rc;

	*next = NULL;
	if (after) {
		eafter = transport_escape(after);
		if (!eafter)
			return -ENOMEM;
	}
	snprintf(url, sizeof(url), "/v1/spaces/%s/tree?path=%s%s%s&limit=1000",
		 fs->space, epath, eafter ? "&after=" : "",
		 eafter ? eafter : "");
	free(eafter);
	rc = call(fs, "GET", url, NULL, &reply);
	if (rc < 0)
		return rc;
	remote_str_copy(fclass, 16, json_object_get(reply, "class"));
	if (!strcmp(epath, "%2F") || !strcmp(epath, "/")) {
		int known;
		unsigned r =
			rights_parse(json_object_get(reply, "rights"), &known);

		if (known)
			rights_root_set(fs, r);
		root_mode_set(fs, json_object_get(reply, "mode"));
	}
	ents = json_object_get(reply, "entries");
	if (!json_is_array(ents)) {
		rc = err_set(-EPROTO, "listing without entries");
		goto out;
	}
	json_array_foreach(ents, i, e)
	{
		const char *name =
			json_string_value(json_object_get(e, "name"));
		const char *type =
			json_string_value(json_object_get(e, "type"));
		struct rentry *r;

		if (!name || !type || name_validate(name) < 0) {
			rc = err_set(-EPROTO, "bad entry in a listing");
			goto out;
		}
		if (*n == *alloc) {
			size_t na = *alloc ? *alloc * 2 : 64;
			struct rentry *ne;

			if (na > LIST_MAX_ENTRIES) {
				rc = err_set(-E2BIG, "folder too large");
				goto out;
			}
			ne = realloc(*out, na * sizeof(*ne));
			if (!ne) {
				rc = -ENOMEM;
				goto out;
			}
			*out = ne;
			*alloc = na;
		}
		r = &(*out)[*n];
		remote_meta_from_json(&r->rm, e);
		r->is_dir = !strcmp(type, "dir");
		if (!r->is_dir && !doc_id_valid(r->rm.doc_id)) {
			rc = err_set(-EPROTO, "file '%s' without a document id",
				     name);
			goto out;
		}
		r->name = strdup(name);
		if (!r->name) {
			rc = -ENOMEM;
			goto out;
		}
		r->xattrs = json_object_get(e, "xattrs");
		r->xattrs = json_is_object(r->xattrs) ? json_incref(r->xattrs) :
							NULL;
		(*n)++;
	}
	nx = json_object_get(reply, "next");
	if (json_is_string(nx)) {
		*next = strdup(json_string_value(nx));
		if (!*next)
			rc = -ENOMEM;
	}
out:
	json_decref(reply);
	return rc;
}

int remote_list(struct fs *fs, const char *path, struct rentry **out, size_t *n,
		char *fclass)
{
	struct rentry *e = NULL;
	size_t cnt = 0, alloc = 0;
	char *epath, *after = NULL, *next = NULL;
	int rc;

	epath = transport_escape(path);
	if (!epath)
		return -ENOMEM;
	do {
		rc = list_page(fs, epath, after, &e, &cnt, &alloc, &next,
			       fclass);
		free(after);
		after = next;
		next = NULL;
	} while (rc == 0 && after);
	free(after);
	free(epath);
	if (rc < 0) {
		rentries_free(e, cnt);
		return rc;
	}
	offline_list_save(fs, path, e, cnt, fclass);
	*out = e;
	*n = cnt;
	return 0;
}

int remote_versions(struct fs *fs, const char *doc, struct remote_meta **out,
		    size_t *n)
{
	char url[256];
	json_t *reply = NULL, *vs, *v;
	struct remote_meta *r = NULL;
	size_t i, cnt;
	int rc;

	if (!doc_id_valid(doc))
		return -EINVAL;
	snprintf(url, sizeof(url), "/v1/spaces/%s/docs/%s/versions", fs->space,
		 doc);
	rc = call(fs, "GET", url, NULL, &reply);
	if (rc < 0)
		return rc;
	vs = json_object_get(reply, "versions");
	if (!json_is_array(vs)) {
		rc = err_set(-EPROTO, "versions reply without versions");
		goto out;
	}
	cnt = json_array_size(vs);
	r = calloc(cnt ? cnt : 1, sizeof(*r));
	if (!r) {
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(vs, i, v)
	{
		remote_meta_from_json(&r[i], v);
		memcpy(r[i].doc_id, doc, DOC_ID_HEX_LEN + 1);
		if (!r[i].version) {
			rc = err_set(-EPROTO, "version without a number");
			goto out;
		}
	}
	*out = r;
	*n = cnt;
	r = NULL;
out:
	free(r);
	json_decref(reply);
	return rc;
}

int remote_chunk_map(struct fs *fs, const char *doc, uint64_t version,
		     struct chunk_map **out)
{
	char url[256];
	json_t *reply = NULL, *cs, *c;
	struct manifest_chunk *mc = NULL;
	size_t i, cnt;
	uint64_t total = 0;
	json_t *sz;
	int rc;

	if (!doc_id_valid(doc))
		return -EINVAL;
	snprintf(url, sizeof(url), "/v1/spaces/%s/docs/%s/versions/%llu",
		 fs->space, doc, (unsigned long long)version);
	/* versions never change: the copy kept in CACHE/tree.db is as good
	 * as the server's, and saves a round trip on every first open */
	reply = offline_get(fs, url);
	if (reply) {
		rc = 0;
	} else {
		rc = call(fs, "GET", url, NULL, &reply);
		if (rc == 0)
			offline_put(fs, url, reply);
	}
	if (rc < 0)
		return rc;
	cs = json_object_get(reply, "chunks");
	sz = json_object_get(reply, "size");
	if (!json_is_array(cs) || !json_is_integer(sz) ||
	    json_integer_value(sz) < 0 ||
	    json_array_size(cs) > MANIFEST_MAX_CHUNKS) {
		rc = err_set(-EPROTO, "bad manifest of %s v%llu", doc,
			     (unsigned long long)version);
		goto out;
	}
	cnt = json_array_size(cs);
	mc = calloc(cnt ? cnt : 1, sizeof(*mc));
	if (!mc) {
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(cs, i, c)
	{
		const char *hex = json_string_value(json_array_get(c, 0));
		json_t *s = json_array_get(c, 1);

		if (!hex || obj_id_from_hex(&mc[i].id, hex) < 0 ||
		    !json_is_integer(s) || json_integer_value(s) <= 0 ||
		    json_integer_value(s) > CHUNK_MAX) {
			rc = err_set(-EPROTO, "bad chunk in manifest of %s",
				     doc);
			goto out;
		}
		mc[i].size = (uint32_t)json_integer_value(s);
		total += mc[i].size;
	}
	if (total != (uint64_t)json_integer_value(sz)) {
		rc = err_set(-EPROTO, "chunk sizes of %s v%llu do not add up",
			     doc, (unsigned long long)version);
		goto out;
	}
	rc = chunk_map_build(out, doc, version, mc, cnt);
out:
	free(mc);
	json_decref(reply);
	return rc;
}

int remote_missing(struct fs *fs, const struct obj_id *ids, size_t n,
		   uint8_t *missing)
{
	char url[256], hex[OBJ_ID_HEX_LEN + 1];
	json_t *body, *arr, *reply = NULL, *m, *v;
	size_t i, j = 0;
	int rc = 0;

	body = json_object();
	arr = json_array();
	if (!body || !arr) {
		json_decref(body);
		json_decref(arr);
		return -ENOMEM;
	}
	json_object_set_new(body, "chunks", arr);
	for (i = 0; i < n; i++) {
		obj_id_to_hex(&ids[i], hex);
		if (json_array_append_new(arr, json_string(hex)) < 0) {
			json_decref(body);
			return -ENOMEM;
		}
		missing[i] = 0;
	}
	snprintf(url, sizeof(url), "/v1/spaces/%s/chunks/missing", fs->space);
	rc = call(fs, "POST", url, body, &reply);
	json_decref(body);
	if (rc < 0)
		return rc;
	m = json_object_get(reply, "missing");
	if (!json_is_array(m)) {
		rc = err_set(-EPROTO, "missing-chunks reply without a list");
		goto out;
	}
	/* the answer is in request order: walk both lists together */
	json_array_foreach(m, i, v)
	{
		const char *s = json_string_value(v);

		if (!s) {
			rc = err_set(-EPROTO, "bad missing-chunks reply");
			goto out;
		}
		for (; j < n; j++) {
			obj_id_to_hex(&ids[j], hex);
			if (!strcmp(hex, s))
				break;
		}
		if (j == n) {
			rc = err_set(-EPROTO, "server named a chunk not asked");
			goto out;
		}
		missing[j++] = 1;
	}
out:
	json_decref(reply);
	return rc;
}

int remote_commit(struct fs *fs, json_t *body, json_t **reply, int *bad_op)
{
	char url[256];
	json_t *r = NULL, *op;
	int rc;

	*bad_op = -1;
	*reply = NULL;
	snprintf(url, sizeof(url), "/v1/spaces/%s/commits", fs->space);
	/* A batch of thousands is minutes of work on a loaded server: cut
	 * short, it would be sent again and queue behind itself. */
	rc = transport_json_patient(fs->t, "POST", url, body, &r);
	if (rc < 0) {
		op = json_object_get(json_object_get(r, "error"), "op");
		if (json_is_integer(op))
			*bad_op = (int)json_integer_value(op);
		json_decref(r);
		return rc;
	}
	if (!json_is_array(json_object_get(r, "results"))) {
		json_decref(r);
		return err_set(-EPROTO, "commit reply without results");
	}
	*reply = r;
	return 0;
}
