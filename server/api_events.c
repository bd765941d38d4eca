/*
 * The event journal over HTTP: GET events (what happened on a document or
 * folder, or who read it) and POST events/reads (consultations reported by
 * the drive in batches).  An event is shown only when its paths are
 * readable by the caller, so nothing hidden from them leaks by name.
 */
#include "server/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/manifest.h"
#include "common/path.h"
#include "server/access.h"
#include "server/events.h"
#include "server/index.h"
#include "server/policy.h"
#include "server/server.h"
#include "server/spaces.h"

#define READS_MAX 1000

struct list_state {
	struct http_req *req;
	json_t *events;
	uint64_t last;
	size_t seen;
	const char *by; /* only this author's events, or NULL */
};

/* May the caller read path (a document or a folder, now or as it was)? */
static int readable(struct http_req *req, const char *path)
{
	struct auth_ctx probe = req->auth;

	if (req->auth.role_id == POLICY_ROLE_OWNER)
		return 1;
	if (!path || path_validate(path) < 0) {
		err_clear();
		return 0;
	}
	if (authorize(&probe, req->space_name, path, AUTH_READ) < 0) {
		err_clear();
		return 0;
	}
	return !probe.traverse;
}

/* Is path an existing folder at the head (hidden or not)? */
static int folder_exists(struct http_req *req, const char *path)
{
	struct policy_at at;
	int rc = auth_place(&req->auth, req->space_name, path, NULL, &at);

	err_clear();
	return rc == 0;
}

/*
 * May the caller see a row?  Its place must exist now and be readable:
 * for a folder's own row (made, removed, moved, classed, granted) the
 * folder itself; for a document's, the folder holding it.  So the rows of
 * a folder renamed or removed stay hidden (only owners see them): who
 * could not read it then must not read its names, depositors or ids now.
 */
static int row_visible(struct http_req *req, const struct events_row *r,
		       const char *path)
{
	char folder[PATH_MAX_LEN + 1];
	int folder_row;

	if (req->auth.role_id == POLICY_ROLE_OWNER)
		return 1;
	if (!path || path_validate(path) < 0) {
		err_clear();
		return 0;
	}
	folder_row = !r->doc_id && strcmp(r->kind, "deposit") &&
		     strcmp(r->kind, "unlink") && strcmp(r->kind, "read");
	if (folder_row) {
		snprintf(folder, sizeof(folder), "%s", path);
	} else {
		const char *slash = strrchr(path, '/');
		size_t n = slash && slash != path ? (size_t)(slash - path) : 1;

		snprintf(folder, sizeof(folder), "%.*s", (int)n, path);
	}
	return folder_exists(req, folder) && readable(req, folder);
}

/* 1 when the caller may read the version a row names, 0 not, -errno. */
static int version_visible(struct http_req *req, const char *doc_id,
			   uint64_t version)
{
	struct auth_ctx saved = req->auth;
	int rc = api_version_sealed(req, doc_id, version);

	if (rc <= 0)
		return rc < 0 ? rc : 1; /* not sealed */
	rc = api_version_open(req, doc_id, version);
	req->auth = saved; /* the journal's own authorization stays */
	if (rc == 0)
		err_clear();
	return rc;
}

static int event_cb(const struct events_row *r, void *arg)
{
	struct list_state *ls = arg;
	char at[32];
	json_t *j;

	ls->last = r->seq;
	ls->seen++;
	if (ls->by && (!r->login || strcmp(ls->by, r->login)))
		return 0;
	/* A move names where it came from: both ends must be readable. */
	if (!row_visible(ls->req, r, r->path) ||
	    (!strcmp(r->kind, "move") && r->detail &&
	     !row_visible(ls->req, r, r->detail)))
		return 0;
	/* A row naming a version (its deposit, a read of it) is that
	 * version's metadata: the rule of versions decides. */
	if (ls->req->auth.role_id != POLICY_ROLE_OWNER && r->doc_id &&
	    r->version) {
		int open = version_visible(ls->req, r->doc_id, r->version);

		if (open <= 0)
			return open;
	}
	rfc3339_utc((long long)r->at, at, sizeof(at));
	j = json_pack("{s:I, s:s, s:s?, s:s, s:s?, s:s?, s:s?}", "seq",
		      (json_int_t)r->seq, "at", at, "login", r->login, "kind",
		      r->kind, "path", r->path, "doc_id", r->doc_id, "detail",
		      r->detail);
	if (j && r->version)
		json_object_set_new(j, "version",
				    json_integer((json_int_t)r->version));
	if (!j || json_array_append_new(ls->events, j))
		return -ENOMEM;
	return 0;
}

/*
 * The nearest folder above path the caller reads, into at: 0, or -ENOENT
 * when none.  Grants are loaded once and each folder placed, not
 * authorized afresh: a hidden path costs about what an absent one does.
 */
static int nearest_read(struct http_req *req, const char *path, char *at,
			size_t atlen)
{
	struct access_grants g;
	struct policy_at pl;
	int rc, visible;

	rc = access_grants_load(req->srv->ix, req->space_name, req->auth.login,
				&g);
	if (rc < 0)
		return rc;
	snprintf(at, atlen, "%s", path);
	rc = -ENOENT;
	while (strcmp(at, "/")) {
		char *slash = strrchr(at, '/');

		if (slash == at)
			slash[1] = '\0';
		else
			*slash = '\0';
		rc = auth_place(&req->auth, req->space_name, at, &g, &pl);
		if (rc == -ENOENT || rc == -ENOTDIR) {
			rc = -ENOENT;
			continue;
		}
		if (rc < 0)
			break;
		rc = auth_folder_rights(&req->auth, &g, at, &pl, &visible) &
				     POLICY_BIT(AUTH_READ) ?
			     0 :
			     -ENOENT;
		if (rc == 0)
			break;
	}
	access_grants_release(&g);
	return rc;
}

/*
 * The journal of path answers as that of an absent path when the caller
 * may not read path: decided by the nearest folder above it they read
 * (its rows are all left out), so hidden and absent answer alike.  With
 * reads, admin is needed on that folder.  *none: path is hidden (neither
 * read nor on the way to a grant), so no row at or below it can be shown.
 */
static int journal_access(struct http_req *req, const char *path, int reads,
			  int *none)
{
	char at[PATH_MAX_LEN + 1];
	int rc;

	*none = 0;
	rc = authorize(&req->auth, req->space_name, NULL, AUTH_READ);
	if (rc < 0)
		return rc;
	snprintf(at, sizeof(at), "%s", path);
	rc = authorize(&req->auth, req->space_name, at, AUTH_READ);
	if (rc == -ENOENT || (rc == 0 && req->auth.traverse)) {
		*none = rc == -ENOENT;
		rc = nearest_read(req, path, at, sizeof(at));
		if (rc == -ENOENT)
			return err_set(-ENOENT, "no such file or folder '%s'",
				       path);
	} else if (rc == 0) {
		/* The same walk for a path read (or absent under a folder
		 * read), its answer unused: a hidden path's costs what any
		 * other's does (bench/oracle_bench). */
		char unused[PATH_MAX_LEN + 1];

		(void)nearest_read(req, path, unused, sizeof(unused));
		err_clear();
	}
	if (rc < 0)
		return rc;
	err_clear();
	if (reads)
		return authorize(&req->auth, req->space_name, at, AUTH_ADMIN);
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s) {
		*out = 0;
		return 0;
	}
	if (*s < '0' || *s > '9' || strlen(s) > 19)
		return -EINVAL;
	*out = strtoull(s, &end, 10);
	return *end ? -EINVAL : 0;
}

int api_events_list(struct http_req *req)
{
	struct list_state ls = { .req = req };
	const char *path, *reads_s, *after_s;
	uint64_t after;
	int rc = 0, reads, none;

	path = http_query(req, "path", &rc);
	reads_s = http_query(req, "reads", &rc);
	after_s = http_query(req, "after", &rc);
	ls.by = http_query(req, "login", &rc);
	if (rc < 0)
		return http_reply_error(req, 400, "bad_request", -1, "%s",
					err_msg());
	if (!path)
		path = "/";
	if (path_validate(path) < 0)
		return http_reply_error(req, 400, "bad_name", -1,
					"bad path: %s", err_msg());
	if (parse_u64(after_s, &after) < 0)
		return http_reply_error(req, 400, "bad_request", -1,
					"'after' must be a sequence number");
	reads = reads_s && !strcmp(reads_s, "1");
	/* Consultations are the administrators' to see. */
	rc = journal_access(req, path, reads, &none);
	if (rc < 0)
		return rc;
	ls.events = json_array();
	if (!ls.events)
		return -ENOMEM;
	/* A hidden path's rows are not shown nor counted ("last", "more"
	 * would tell them), nor checked one by one: the query an absent path
	 * runs, past the journal's end, so it finds none. */
	rc = events_list(req->srv->ix, req->space_name, path, reads,
			 none ? (uint64_t)INT64_MAX : after, EVENTS_PAGE_MAX,
			 event_cb, &ls);
	if (rc < 0) {
		json_decref(ls.events);
		return rc;
	}
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:o, s:I, s:b}", "path", path,
					 "events", ls.events, "last",
					 (json_int_t)ls.last, "more",
					 ls.seen == EVENTS_PAGE_MAX));
}

/*
 * One consultation: the document must be readable by the caller where it
 * is filed now.  0 recorded, 1 skipped (no such document for them), or a
 * 400 queued (-1 returned after the reply).
 */
static int one_read(struct http_req *req, json_t *o, size_t i, int check,
		    int *skipped)
{
	char path[PATH_MAX_LEN + 1], detail[96];
	json_t *ver = json_object_get(o, "version");
	const char *doc_id, *client_at;
	struct auth_ctx probe = req->auth;
	struct index_event ev = { .kind = "read" };
	int rc;

	if (!json_is_object(o) ||
	    api_json_string(req, o, "doc_id", 1, DOC_ID_HEX_LEN, &doc_id,
			    (long)i) ||
	    api_json_string(req, o, "at", 1, 40, &client_at, (long)i))
		return -1;
	if (!json_is_integer(ver) || json_integer_value(ver) < 1) {
		http_reply_error(
			req, 400, "bad_request", (long)i,
			"reads[%zu]: 'version' must be a positive integer", i);
		return -1;
	}
	for (const char *p = client_at; *p; p++)
		if (!strchr("0123456789-:TZ.+", *p)) {
			http_reply_error(req, 400, "bad_request", (long)i,
					 "reads[%zu]: 'at' must be RFC 3339",
					 i);
			return -1;
		}
	if (check)
		return 0;
	rc = access_doc_path(req->srv->ix, req->space, doc_id, path,
			     sizeof(path));
	if (rc == 0)
		rc = authorize(&probe, req->space_name, path, AUTH_READ);
	if (rc == 0 && probe.traverse)
		rc = -ENOENT;
	if (rc == 0) {
		rc = version_visible(req, doc_id,
				     (uint64_t)json_integer_value(ver));
		rc = rc < 0 ? rc : rc ? 0 : -ENOENT;
	}
	if (rc == -ENOENT || rc == -EACCES) {
		err_clear();
		(*skipped)++;
		return 0;
	}
	if (rc < 0)
		return rc;
	snprintf(detail, sizeof(detail), "{\"client_at\":\"%s\"}", client_at);
	ev.path = path;
	ev.doc_id = doc_id;
	ev.version = (uint64_t)json_integer_value(ver);
	ev.detail = detail;
	return events_append(req->srv->ix, req->space_name, req->auth.login,
			     (int64_t)time(NULL), &ev, NULL);
}

int api_events_reads(struct http_req *req)
{
	json_t *reads = json_object_get(req->json, "reads"), *o;
	int skipped = 0, rc = 0;
	struct index_txn *tx;
	size_t i;

	if (!json_is_array(reads))
		return http_reply_error(req, 400, "bad_request", -1,
					"field 'reads' must be an array");
	if (json_array_size(reads) > READS_MAX)
		return http_reply_error(req, 413, "too_large", -1,
					"at most %d reads per batch",
					READS_MAX);
	/* Check the whole batch first: bad input records nothing. */
	json_array_foreach(reads, i, o)
	{
		if (one_read(req, o, i, 1, &skipped) < 0)
			return 0;
	}
	/* One transaction: a batch sent again after a failure is whole. */
	rc = index_begin(req->srv->ix, &tx);
	if (rc < 0)
		return rc;
	json_array_foreach(reads, i, o)
	{
		rc = one_read(req, o, i, 0, &skipped);
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = index_commit(req->srv->ix, tx);
	else
		index_rollback(req->srv->ix, tx);
	if (rc < 0)
		return rc;
	return http_reply_json(req, 200,
			       json_pack("{s:i, s:i}", "recorded",
					 (int)json_array_size(reads) - skipped,
					 "skipped", skipped));
}
