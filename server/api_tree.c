/*
 * GET tree and GET stat: folder listings in pages and single entries, read
 * from the ledger at its current head.  Listings are bounded by limit
 * (at most 1000) so a huge folder is never built whole in memory.
 */
#include "server/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/path.h"
#include "server/access.h"
#include "server/ledger.h"
#include "server/policy.h"
#include "server/server.h"
#include "server/spaces.h"

#define TREE_LIMIT_MAX 1000

/* JSON of one entry, as in docs/protocol.md; class: a folder's effective. */
static json_t *entry_json(const struct ledger_entry *e, enum folder_class class)
{
	const struct manifest *m = e->manifest;
	char sha[OBJ_ID_HEX_LEN + 1];
	json_t *j;

	if (e->is_dir) {
		j = json_pack("{s:s, s:s, s:s}", "name", e->name, "type", "dir",
			      "class", folder_class_name(class));
		/* stated only off the default 0755, as in .coffre-folder */
		if (j && e->has_mode)
			json_object_set_new(j, "mode", json_integer(e->mode));
		return j;
	}
	if (!m)
		return NULL;
	obj_id_to_hex(&m->sha256, sha);
	j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "name",
		      e->name, "type", "file", "doc_id", m->doc_id, "version",
		      (json_int_t)m->version, "size", (json_int_t)m->size,
		      "sha256", sha, "deposited_by", m->deposited_by,
		      "deposited_at", m->deposited_at);
	if (j && m->mtime)
		json_object_set_new(j, "mtime", json_integer(m->mtime));
	if (j && m->has_mode)
		json_object_set_new(j, "mode", json_integer(m->mode));
	if (j && m->nxattrs) {
		json_t *x = json_object();

		for (size_t i = 0; x && i < m->nxattrs; i++) {
			char *b64 = malloc(MANIFEST_B64_LEN(m->xattrs[i].len));

			if (!b64)
				break;
			manifest_b64_encode(m->xattrs[i].value,
					    m->xattrs[i].len, b64);
			json_object_set_new(x, m->xattrs[i].name,
					    json_string(b64));
			free(b64);
		}
		json_object_set_new(j, "xattrs", x);
	}
	return j;
}

/* The rights of a mask as the protocol spells them. */
static json_t *rights_json(unsigned rights)
{
	static const enum auth_right all[] = { AUTH_READ, AUTH_DEPOSIT,
					       AUTH_ORGANIZE, AUTH_ADMIN };
	json_t *a = json_array();

	for (size_t i = 0; a && i < sizeof(all) / sizeof(all[0]); i++)
		if (rights & POLICY_BIT(all[i]))
			json_array_append_new(
				a, json_string(policy_right_name(all[i])));
	return a;
}

struct list_state {
	json_t *entries;
	size_t shown;
	char seen[NAME_MAX_LEN + 1]; /* the last entry read, shown or not */
	char last[NAME_MAX_LEN + 1]; /* the last entry shown: the cursor */
	struct auth_ctx *auth;
	struct access_grants grants;
	const char *path;    /* the listed folder */
	struct policy_at at; /* where the caller stands on it */
	unsigned rights;     /* the caller's on it (files inherit them) */
	int traverse;	     /* listed only on the way to a grant */
};

/*
 * Only what the caller may see: documents of a folder they read, and
 * sub-folders they read or must cross to reach a grant.  The rest does not
 * exist for them, name included.
 */
static int list_cb(const struct ledger_entry *e, void *arg)
{
	struct list_state *ls = arg;
	char sub[PATH_MAX_LEN + 1];
	unsigned rights = ls->rights;
	int visible = !ls->traverse;
	enum folder_class class = e->class;
	json_t *j;

	snprintf(ls->seen, sizeof(ls->seen), "%s", e->name);
	if (e->is_dir) {
		snprintf(sub, sizeof(sub), "%s%s%s", ls->path,
			 strcmp(ls->path, "/") ? "/" : "", e->name);
		struct policy_at at;

		policy_descend(&ls->at, e->class,
			       access_grants_exact(&ls->grants, sub), &at);
		rights = auth_folder_rights(ls->auth, &ls->grants, sub, &at,
					    &visible);
		class = at.class;
	}
	if (!visible)
		return 0;
	/* The cursor names only what was shown, never a hidden entry. */
	snprintf(ls->last, sizeof(ls->last), "%s", e->name);
	ls->shown++;
	j = entry_json(e, class);
	if (j)
		json_object_set_new(j, "rights", rights_json(rights));
	if (!j || json_array_append_new(ls->entries, j))
		return err_set(-ENOMEM, "out of memory");
	return 0;
}

static int kind_cb(const struct ledger_entry *e, void *arg)
{
	(void)e;
	(void)arg;
	return 0;
}

/* The "path" query parameter, validated; NULL when a 400 was queued. */
static const char *query_path(struct http_req *req, int *rc)
{
	const char *path;

	*rc = 0;
	path = http_query(req, "path", rc);
	if (*rc < 0) {
		*rc = http_reply_error(req, 400, "bad_name", -1, "%s",
				       err_msg());
		return NULL;
	}
	if (!path)
		path = "/";
	*rc = path_validate(path);
	if (*rc < 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err_msg());
		*rc = http_reply_error(req, 400, "bad_name", -1, "bad path: %s",
				       why);
		return NULL;
	}
	return path;
}

static int parse_limit(const char *s, size_t *out)
{
	char *end;
	unsigned long v;

	if (!s) {
		*out = TREE_LIMIT_MAX;
		return 0;
	}
	if (*s < '0' || *s > '9' || strlen(s) > 5)
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (*end || v < 1 || v > TREE_LIMIT_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

int api_tree(struct http_req *req)
{
	char head[GIT_OID_HEX_LEN + 1] = "";
	struct list_state ls = { 0 };
	struct folder_meta fmeta = { .class = FOLDER_CLASS_RESTRICTED };
	const char *path, *after, *limit_s;
	size_t limit;
	int rc = 0, more = 0;
	json_t *j;

	path = query_path(req, &rc);
	if (!path)
		return rc;
	after = http_query(req, "after", &rc);
	limit_s = http_query(req, "limit", &rc);
	if (rc < 0)
		return http_reply_error(req, 400, "bad_request", -1, "%s",
					err_msg());
	if (after && (!*after || strlen(after) > NAME_MAX_LEN))
		return http_reply_error(req, 400, "bad_request", -1,
					"bad 'after' name");
	if (parse_limit(limit_s, &limit) < 0)
		return http_reply_error(req, 400, "bad_request", -1,
					"'limit' must be 1..%d",
					TREE_LIMIT_MAX);
	rc = authorize(&req->auth, req->space_name, path, AUTH_READ);
	if (rc < 0)
		return rc;
	/* An absent folder is answered now, with no more work than a
	 * hidden one's refusal above (bench/oracle_bench). */
	if (strcmp(path, "/") && ledger_stat_kind(req->space->ledger, path,
						  kind_cb, NULL) == -ENOENT)
		return http_reply_error(req, 404, "not_found", -1,
					"no such file or folder '%s'", path);
	err_clear();
	ls.auth = &req->auth;
	ls.path = path;
	ls.rights = req->auth.rights;
	ls.traverse = req->auth.traverse;
	rc = access_grants_load(req->srv->ix, req->space_name, req->auth.login,
				&ls.grants);
	if (rc < 0)
		return rc;
	rc = auth_place(&req->auth, req->space_name, path, &ls.grants, &ls.at);
	if (rc == -ENOTDIR) {
		access_grants_release(&ls.grants);
		return http_reply_error(req, 409, "conflict", -1,
					"'%s' is a file", path);
	}
	if (rc < 0 && rc != -ENOENT) {
		access_grants_release(&ls.grants);
		return rc;
	}
	ls.entries = json_array();
	if (!ls.entries) {
		access_grants_release(&ls.grants);
		return -ENOMEM;
	}
	/* A page holds limit shown entries: hidden ones are read past. */
	if (after)
		snprintf(ls.seen, sizeof(ls.seen), "%s", after);
	do {
		rc = ledger_list(req->space->ledger, path,
				 ls.seen[0] ? ls.seen : NULL, limit - ls.shown,
				 list_cb, &ls, &more, &fmeta, head);
	} while (rc == 0 && more && ls.shown < limit);
	access_grants_release(&ls.grants);
	if (rc == -ENOENT && !strcmp(path, "/")) {
		/* An empty space has no commit yet: its root is an empty folder. */
		rc = 0;
		more = 0;
	}
	if (rc < 0) {
		json_decref(ls.entries);
		if (rc == -ENOENT)
			return http_reply_error(req, 404, "not_found", -1,
						"no such file or folder '%s'",
						path);
		if (rc == -ENOTDIR)
			return http_reply_error(req, 409, "conflict", -1,
						"'%s' is a file", path);
		return rc;
	}
	j = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "path", path, "class",
		      folder_class_name(ls.at.class), "head",
		      head[0] ? json_string(head) : json_null(), "entries",
		      ls.entries, "next",
		      more && ls.last[0] ? json_string(ls.last) : json_null(),
		      "rights", rights_json(ls.rights));
	if (j && fmeta.has_mode) /* its own mode, off the default 0755 */
		json_object_set_new(j, "mode", json_integer(fmeta.mode));
	return http_reply_json(req, 200, j);
}

struct stat_state {
	json_t *j;
	enum folder_class class; /* a folder's effective class */
};

static int stat_cb(const struct ledger_entry *e, void *arg)
{
	struct stat_state *ss = arg;

	ss->j = entry_json(e, ss->class);
	return ss->j ? 0 : err_set(-ENOMEM, "out of memory");
}

int api_stat(struct http_req *req)
{
	struct stat_state ss = { NULL, FOLDER_CLASS_RESTRICTED };
	struct policy_at at;
	const char *path;
	int rc = 0;

	path = query_path(req, &rc);
	if (!path)
		return rc;
	rc = authorize(&req->auth, req->space_name, path, AUTH_READ);
	if (rc < 0)
		return rc;
	/* A folder's class is what it inherits, not only what it states;
	 * placed once found, so an absent path costs no walk. */
	rc = ledger_stat(req->space->ledger, path, stat_cb, &ss);
	if (rc == 0 && ss.j &&
	    !strcmp(json_string_value(json_object_get(ss.j, "type")), "dir") &&
	    auth_place(&req->auth, req->space_name, path, NULL, &at) == 0)
		json_object_set_new(ss.j, "class",
				    json_string(folder_class_name(at.class)));
	err_clear();
	if (rc == -ENOENT && !strcmp(path, "/")) {
		rc = 0;
		ss.j = json_pack("{s:s, s:s, s:s}", "name", "", "type", "dir",
				 "class",
				 folder_class_name(FOLDER_CLASS_RESTRICTED));
	}
	if (rc < 0) {
		json_decref(ss.j);
		if (rc == -ENOENT)
			return http_reply_error(req, 404, "not_found", -1,
						"no such file or folder '%s'",
						path);
		return rc;
	}
	if (!ss.j)
		return err_set(-EIO, "no entry for '%s'", path);
	if (!strcmp(path, "/"))
		json_object_set_new(ss.j, "name", json_string(""));
	json_object_set_new(ss.j, "path", json_string(path));
	json_object_set_new(ss.j, "rights", rights_json(req->auth.rights));
	return http_reply_json(req, 200, ss.j);
}
