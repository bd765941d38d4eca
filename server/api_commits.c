/*
 * POST /v1/spaces/SPACE/commits: parse a batch of operations, check every
 * field and path before anything is touched, hand the batch to the ledger
 * (which applies it atomically as one commit), then record the new versions
 * and the events in the index in one transaction and answer.
 *
 * The ledger is the authority: once its commit exists the batch is done.
 * If the index cannot record it afterwards, the answer is still a success
 * (a retry would make a duplicate version) and the failure is logged; the
 * versions endpoints fall back to the ledger for a document the index does
 * not know.
 *
 * A batch named by the client ("batch") is applied once: a retry after a
 * lost reply gets the first outcome again, read from the ledger, with
 * "replayed": true (see server/ledger_batches.c).  Its versions are
 * recorded again (the index may have missed them if coffred died between
 * the ledger commit and the reply); its events are not, as the journal may
 * hold them already and a chain cannot take them twice.
 */
#include "server/api.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/chunker.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/path.h"
#include "server/access.h"
#include "server/access_batch.h"
#include "server/index.h"
#include "server/ledger.h"
#include "server/quota.h"
#include "server/server.h"
#include "server/spaces.h"
#include "server/statement.h"

#define COMMIT_OPS_MAX		  10000
#define STATEMENTS_AT_DEPOSIT_MAX 256
#define COMMIT_CLIENT_MAX	  128
/*
 * Chunk references a batch may make, and how many of them may name a chunk
 * named before in the same batch.  The server hashes the content of every
 * reference to check each deposit's sha256: each distinct chunk is read
 * and decrypted once (ledger_apply keeps it), a repeated one costs its
 * bytes of hashing again.  1024 repeats let a file of 4 GiB of zeros (one
 * 4 MiB chunk named 1024 times) in and bound what 80 bytes of JSON per
 * reference can make the server hash.
 */
#define COMMIT_REFS_MAX		  (1u << 17)
#define COMMIT_REPEATS_MAX	  1024

static const char *const op_names[] = {
	[LEDGER_OP_MKDIR] = "mkdir", [LEDGER_OP_DEPOSIT] = "deposit",
	[LEDGER_OP_MOVE] = "move",   [LEDGER_OP_UNLINK] = "unlink",
	[LEDGER_OP_RMDIR] = "rmdir", [LEDGER_OP_CHMOD] = "chmod",
};

struct batch {
	struct ledger_op *ops;
	struct ledger_result *results;
	size_t nops;
};

static void batch_release(struct batch *b)
{
	for (size_t i = 0; i < b->nops; i++) {
		ledger_op_release(&b->ops[i]);
		ledger_result_release(&b->results[i]);
	}
	free(b->ops);
	free(b->results);
}

/* A validated path field, strdup'd into *out.  1 when a 400 was queued. */
static int op_path(struct http_req *req, json_t *o, const char *key, long i,
		   char **out)
{
	const char *p;
	char why[256];

	if (api_json_string(req, o, key, 1, PATH_MAX_LEN, &p, i))
		return 1;
	if (path_validate(p) < 0) {
		snprintf(why, sizeof(why), "%s", err_msg());
		http_reply_error(req, 400, "bad_name", i, "bad %s: %s", key,
				 why);
		return 1;
	}
	*out = strdup(p);
	if (!*out) {
		http_reply_error(req, 500, "internal", i, "out of memory");
		return 1;
	}
	return 0;
}

/* An integer field in [min, max]; absent gives *out = 0 when !required. */
static int op_int(struct http_req *req, json_t *o, const char *key,
		  int required, json_int_t min, json_int_t max, long i,
		  json_int_t *out)
{
	json_t *v = json_object_get(o, key);

	*out = 0;
	if (!v && !required)
		return 0;
	if (!v) {
		http_reply_error(req, 400, "bad_request", i,
				 "missing field '%s'", key);
		return 1;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		http_reply_error(req, 400, "bad_request", i,
				 "field '%s' must be an integer in %lld..%lld",
				 key, (long long)min, (long long)max);
		return 1;
	}
	*out = json_integer_value(v);
	return 0;
}

/*
 * The version's metadata a program set: "mode" (0..07777) and "xattrs",
 * {"user.NAME": "base64 value"}, within the bounds of common/manifest.h,
 * checked here and never taken on trust.  1 when an error was queued.
 */
static int parse_meta(struct http_req *req, json_t *o, long i,
		      struct manifest *m)
{
	static __thread uint8_t val[MANIFEST_XATTR_VALUE_MAX];
	json_t *x = json_object_get(o, "xattrs"), *v;
	json_int_t mode;
	const char *name;

	if (json_object_get(o, "mode")) {
		if (op_int(req, o, "mode", 1, 0, 07777, i, &mode))
			return 1;
		m->has_mode = 1;
		m->mode = (uint32_t)mode;
	}
	if (!x)
		return 0;
	if (!json_is_object(x)) {
		http_reply_error(req, 400, "bad_request", i,
				 "field 'xattrs' must be an object");
		return 1;
	}
	json_object_foreach(x, name, v)
	{
		long n = json_is_string(v) ?
				 manifest_b64_decode(json_string_value(v), val,
						     sizeof(val)) :
				 -EINVAL;
		int rc =
			n < 0 ? err_set(-EINVAL,
					"the value of '%.64s' is not base64 of at most %d bytes",
					name, MANIFEST_XATTR_VALUE_MAX) :
				manifest_set_xattr(m, name, val, (size_t)n);

		if (rc < 0) {
			http_reply_error(req, rc == -ENOMEM ? 500 : 400,
					 rc == -ENOMEM ? "internal" :
							 "bad_request",
					 i, "xattrs: %s", err_msg());
			return 1;
		}
	}
	return 0;
}

static int parse_deposit(struct http_req *req, json_t *o, long i,
			 struct ledger_op *op)
{
	const char *sha;
	json_t *chunks, *c;
	json_int_t size, base, mtime;
	size_t k;

	if (op_path(req, o, "path", i, &op->path) ||
	    op_int(req, o, "size", 1, 0, INT64_MAX, i, &size) ||
	    op_int(req, o, "base_version", 0, 0, INT64_MAX, i, &base) ||
	    op_int(req, o, "mtime", 0, INT64_MIN + 1, INT64_MAX, i, &mtime) ||
	    api_json_string(req, o, "sha256", 1, OBJ_ID_HEX_LEN, &sha, i))
		return 1;
	if (obj_id_from_hex(&op->content.sha256, sha) < 0) {
		http_reply_error(
			req, 400, "bad_request", i,
			"field 'sha256' must be 64 lowercase hex digits");
		return 1;
	}
	op->content.size = (uint64_t)size;
	op->content.mtime = mtime;
	if (parse_meta(req, o, i, &op->content))
		return 1;
	op->base_version = (uint64_t)base;
	chunks = json_object_get(o, "chunks");
	if (!json_is_array(chunks)) {
		http_reply_error(
			req, 400, "bad_request", i,
			"field 'chunks' must be an array of [id, size]");
		return 1;
	}
	if (json_array_size(chunks) > MANIFEST_MAX_CHUNKS) {
		http_reply_error(req, 413, "too_large", i, "too many chunks");
		return 1;
	}
	json_array_foreach(chunks, k, c)
	{
		json_t *id = json_array_get(c, 0), *sz = json_array_get(c, 1);
		struct obj_id cid;

		if (!json_is_array(c) || json_array_size(c) != 2 ||
		    !json_is_string(id) || !json_is_integer(sz) ||
		    obj_id_from_hex(&cid, json_string_value(id)) < 0 ||
		    json_integer_value(sz) < 1 ||
		    json_integer_value(sz) > CHUNK_MAX) {
			http_reply_error(
				req, 400, "bad_request", i,
				"chunks[%zu] must be [64 hex id, size 1..%u]",
				k, CHUNK_MAX);
			return 1;
		}
		if (manifest_add_chunk(&op->content, &cid,
				       (uint32_t)json_integer_value(sz)) < 0) {
			http_reply_error(req, 500, "internal", i,
					 "out of memory");
			return 1;
		}
	}
	return 0;
}

static int id_cmp(const void *a, const void *b)
{
	return obj_id_cmp(a, b);
}

/* The caps on the batch's chunk references.  1 when a 413 was queued. */
static int check_chunk_refs(struct http_req *req, const struct batch *b)
{
	struct obj_id *ids;
	size_t n = 0, k = 0, repeats = 0;

	for (size_t i = 0; i < b->nops; i++)
		n += b->ops[i].content.nchunks; /* each <= MANIFEST_MAX */
	if (n > COMMIT_REFS_MAX) {
		http_reply_error(req, 413, "too_large", -1,
				 "%zu chunk references, at most %u per batch",
				 n, COMMIT_REFS_MAX);
		return 1;
	}
	if (n < 2)
		return 0;
	ids = malloc(n * sizeof(*ids));
	if (!ids) {
		http_reply_error(req, 500, "internal", -1, "out of memory");
		return 1;
	}
	for (size_t i = 0; i < b->nops; i++)
		for (size_t j = 0; j < b->ops[i].content.nchunks; j++)
			ids[k++] = b->ops[i].content.chunks[j].id;
	qsort(ids, n, sizeof(*ids), id_cmp);
	for (size_t i = 1; i < n; i++)
		repeats += !obj_id_cmp(&ids[i - 1], &ids[i]);
	free(ids);
	if (repeats > COMMIT_REPEATS_MAX) {
		http_reply_error(
			req, 413, "too_large", -1,
			"%zu chunk references repeat a chunk of the batch, at most %u",
			repeats, COMMIT_REPEATS_MAX);
		return 1;
	}
	return 0;
}

/* Parse one op object into op.  1 when a 400 was queued. */
static int parse_op(struct http_req *req, json_t *o, long i,
		    struct ledger_op *op)
{
	const char *name, *class;
	json_int_t mode;

	if (!json_is_object(o)) {
		http_reply_error(req, 400, "bad_request", i,
				 "ops[%ld] must be an object", i);
		return 1;
	}
	if (api_json_string(req, o, "op", 1, 16, &name, i))
		return 1;
	if (!strcmp(name, "mkdir")) {
		op->kind = LEDGER_OP_MKDIR;
		op->class = FOLDER_CLASS_RESTRICTED;
		if (op_path(req, o, "path", i, &op->path) ||
		    api_json_string(req, o, "class", 0, 32, &class, i))
			return 1;
		if (class && folder_class_parse(class, &op->class) < 0) {
			http_reply_error(
				req, 400, "bad_request", i,
				"field 'class' must be public, restricted or confidential");
			return 1;
		}
		op->has_mode = json_object_get(o, "mode") != NULL;
		if (op_int(req, o, "mode", 0, 0, 07777, i, &mode))
			return 1;
		op->mode = (uint32_t)mode;
		return 0;
	}
	if (!strcmp(name, "chmod")) {
		op->kind = LEDGER_OP_CHMOD;
		op->has_mode = 1;
		if (op_path(req, o, "path", i, &op->path) ||
		    op_int(req, o, "mode", 1, 0, 07777, i, &mode))
			return 1;
		op->mode = (uint32_t)mode;
		return 0;
	}
	if (!strcmp(name, "deposit")) {
		op->kind = LEDGER_OP_DEPOSIT;
		return parse_deposit(req, o, i, op);
	}
	if (!strcmp(name, "move")) {
		op->kind = LEDGER_OP_MOVE;
		return op_path(req, o, "from", i, &op->from) ||
		       op_path(req, o, "to", i, &op->to);
	}
	if (!strcmp(name, "unlink") || !strcmp(name, "rmdir")) {
		op->kind = name[0] == 'u' ? LEDGER_OP_UNLINK : LEDGER_OP_RMDIR;
		return op_path(req, o, "path", i, &op->path);
	}
	http_reply_error(req, 400, "bad_request", i, "unknown op '%s'", name);
	return 1;
}

/*
 * The caller's standing in the space, for the check of every operation on
 * the state the ones before it leave (access_batch.h).
 */
static int batch_access(struct http_req *req, struct batch *b, json_t *jops,
			struct access_batch *ab)
{
	unsigned char *stated;
	int rc;

	/* A member of the space (anyone else: "no such space"). */
	rc = authorize(&req->auth, req->space_name, "/", AUTH_READ);
	if (rc < 0)
		return rc;
	stated = calloc(b->nops, 1);
	ab->skipped = calloc(b->nops, 1);
	if (!stated || !ab->skipped) {
		free(stated);
		return -ENOMEM;
	}
	for (size_t i = 0; i < b->nops; i++)
		stated[i] = b->ops[i].kind == LEDGER_OP_MKDIR &&
			    json_object_get(json_array_get(jops, i), "class");
	ab->role = (enum policy_role)req->auth.role_id;
	ab->admin = req->auth.admin_delegated;
	ab->ops = b->ops;
	ab->stated = stated;
	rc = access_grants_load(req->srv->ix, req->space_name, req->auth.login,
				&ab->grants);
	if (rc < 0) {
		free(stated);
		ab->stated = NULL;
	}
	return rc;
}

static json_t *result_json(const struct ledger_op *op,
			   const struct ledger_result *r)
{
	json_t *j = json_pack("{s:s}", "op", op_names[op->kind]);

	if (!j)
		return NULL;
	if (op->kind == LEDGER_OP_MOVE) {
		json_object_set_new(j, "from", json_string(op->from));
		json_object_set_new(j, "to", json_string(op->to));
	} else {
		json_object_set_new(j, "path", json_string(op->path));
	}
	if (r->doc_id[0])
		json_object_set_new(j, "doc_id", json_string(r->doc_id));
	if (r->version)
		json_object_set_new(j, "version",
				    json_integer((json_int_t)r->version));
	if (r->version && r->commit[0])
		json_object_set_new(j, "commit", json_string(r->commit));
	if (op->kind == LEDGER_OP_DEPOSIT) {
		json_object_set_new(j, "deposited_at",
				    json_string(r->manifest.deposited_at));
		json_object_set_new(j, "concurrent",
				    json_boolean(r->concurrent));
	}
	return j;
}

/* Record the batch's versions and events (versions only when replayed);
 * failures are only logged. */
static void record(struct http_req *req, const struct batch *b,
		   const unsigned char *skipped, const char *head, int replay)
{
	struct index_version *vs = calloc(b->nops, sizeof(*vs));
	struct index_event *evs = calloc(b->nops, sizeof(*evs));
	size_t ne = 0;
	char(*sha)[OBJ_ID_HEX_LEN + 1] = calloc(b->nops, sizeof(*sha));
	struct buf *texts = calloc(b->nops, sizeof(*texts));
	char(*conc)[48] = calloc(b->nops, sizeof(*conc));
	size_t nv = 0;
	int rc = -ENOMEM;

	if (!vs || !evs || !sha || !texts || !conc)
		goto out;
	for (size_t i = 0; i < b->nops; i++) {
		const struct ledger_op *op = &b->ops[i];
		const struct ledger_result *r = &b->results[i];
		const struct manifest *m = &r->manifest;

		buf_init(&texts[i], 64u * 1024u * 1024u);
		if (skipped && skipped[i])
			continue; /* nothing done: no event, no version */
		evs[ne].kind = op_names[op->kind];
		evs[ne].path = op->kind == LEDGER_OP_MOVE ? op->to : op->path;
		evs[ne].detail = op->kind == LEDGER_OP_MOVE ? op->from : NULL;
		evs[ne].doc_id = r->doc_id[0] ? r->doc_id : NULL;
		evs[ne].version = r->version;
		/* a deposit made on an older base: the journal says so, so
		 * `coffre log` shows both devices' versions for what they are */
		if (op->kind == LEDGER_OP_DEPOSIT && r->concurrent &&
		    r->version > 1) {
			snprintf(conc[i], sizeof(conc[i]),
				 "concurrent with v%llu",
				 (unsigned long long)(r->version - 1));
			evs[ne].detail = conc[i];
		}
		ne++;
		if (!m->version || !m->doc_id[0])
			continue;
		rc = manifest_format(m, &texts[i]);
		if (rc < 0)
			goto out;
		obj_id_to_hex(&m->sha256, sha[i]);
		vs[nv++] = (struct index_version){
			.doc_id = m->doc_id,
			.version = m->version,
			.size = m->size,
			.sha256 = sha[i],
			.deposited_by = m->deposited_by,
			.deposited_at = m->deposited_at,
			.commit = r->commit[0] ? r->commit : head,
			.manifest = texts[i].data ? texts[i].data : "",
			/* the check's, or the ledger's trailer on a replay */
			.sealed = replay ? r->sealed : op->sealed,
		};
	}
	rc = index_record(req->srv->ix, req->space_name, req->auth.login,
			  (int64_t)time(NULL), vs, nv, evs, replay ? 0 : ne);
out:
	if (rc < 0)
		log_error(
			"commit %s of space '%s' is in the ledger but not in the index: %s",
			head, req->space_name, err_msg());
	if (texts)
		for (size_t i = 0; i < b->nops; i++)
			buf_release(&texts[i]);
	free(texts);
	free(conc);
	free(sha);
	free(evs);
	free(vs);
}

/*
 * The deposit statement of each version the batch made (statement.h), so
 * its proof can be given to a reader of that document alone.  The batch
 * is committed already: a failure is logged, and the statements missing
 * are made on demand by the first proof asked for.  So are those of a
 * batch of more than STATEMENTS_AT_DEPOSIT_MAX versions (a tree copied in
 * by the thousand): each statement costs a signature and a token, about
 * a quarter of a millisecond, and the answer must not wait seconds on
 * them.
 */
/*
 * The deposit statements of the batch's new versions, each naming the
 * commit whose tree files it (a batch that deposits one document twice is
 * a chain of commits): one statement_record per run of results that share
 * a commit.
 */
static void state_run(struct http_req *req, const char *commit,
		      const char **paths, const char **texts, size_t n)
{
	int rc;

	if (!n)
		return;
	rc = statement_record(req->space->ledger, req->srv->keys,
			      req->space_name, &req->space->path_key, commit,
			      paths, texts, n, "at-deposit");
	if (rc < 0)
		log_error(
			"commit %s of space '%s': deposit statements not made: %s",
			commit, req->space_name, err_msg());
}

static void state_deposits(struct http_req *req, const struct batch *b)
{
	const char **paths = calloc(b->nops, sizeof(*paths));
	const char **texts = calloc(b->nops, sizeof(*texts));
	struct buf *bufs = calloc(b->nops, sizeof(*bufs));
	const char *commit = NULL;
	size_t n = 0, first = 0;
	int rc = -ENOMEM;

	size_t versions = 0;

	for (size_t i = 0; i < b->nops; i++)
		versions += b->results[i].manifest.version &&
			    b->results[i].manifest.doc_id[0];
	if (!versions || versions > STATEMENTS_AT_DEPOSIT_MAX) {
		rc = 0; /* none, or made on demand (see above) */
		goto out;
	}
	if (!paths || !texts || !bufs)
		goto out;
	rc = 0;
	for (size_t i = 0; rc == 0 && i < b->nops; i++) {
		const struct ledger_op *op = &b->ops[i];
		const struct manifest *m = &b->results[i].manifest;

		if (!m->version || !m->doc_id[0])
			continue;
		if (commit && strcmp(commit, b->results[i].commit)) {
			state_run(req, commit, paths + first, texts + first,
				  n - first);
			first = n;
		}
		commit = b->results[i].commit;
		buf_init(&bufs[n], 64u * 1024u * 1024u);
		rc = manifest_format(m, &bufs[n]);
		paths[n] = op->kind == LEDGER_OP_MOVE ? op->to : op->path;
		texts[n] = bufs[n].data;
		n++;
	}
	if (rc == 0 && commit)
		state_run(req, commit, paths + first, texts + first, n - first);
out:
	if (rc < 0)
		log_error("space '%s': deposit statements not made: %s",
			  req->space_name, err_msg());
	for (size_t i = 0; bufs && i < n; i++)
		buf_release(&bufs[i]);
	free(bufs);
	free(texts);
	free(paths);
}

/*
 * Grants are kept by path: after a folder moves or goes, move or drop its
 * grants, so a new folder at the old path inherits none.  The batch is
 * committed already: a failure here is logged, not answered.
 */
static void grants_follow(struct http_req *req, const struct batch *b)
{
	for (size_t i = 0; i < b->nops; i++) {
		const struct ledger_op *op = &b->ops[i];
		int rc = 0;

		if (op->kind == LEDGER_OP_MOVE && !b->results[i].doc_id[0])
			rc = access_folder_moved(req->space, req->srv->ix,
						 req->auth.login, op->from,
						 op->to);
		else if (op->kind == LEDGER_OP_RMDIR)
			rc = access_folder_moved(req->space, req->srv->ix,
						 req->auth.login, op->path,
						 NULL);
		if (rc < 0)
			log_error(
				"space '%s': grants of '%s' did not follow it: %s",
				req->space_name,
				op->kind == LEDGER_OP_MOVE ? op->from :
							     op->path,
				err_msg());
	}
}

/*
 * A document moved out of confidential folders, alone or in a folder,
 * opens its current version to its new readers (access_seal_open); the
 * earlier sealed ones stay sealed.  Committed already: failures logged.
 */
static void seals_follow(struct http_req *req, const struct batch *b)
{
	for (size_t i = 0; i < b->nops; i++) {
		const struct ledger_op *op = &b->ops[i];

		if (op->kind == LEDGER_OP_MOVE &&
		    access_seal_open(req->space, req->srv->ix, op->to) < 0)
			log_error(
				"space '%s': seals after the move to '%s': %s",
				req->space_name, op->to, err_msg());
	}
}

/*
 * The digest of a named batch: SHA-256 of its operations as compact JSON
 * with sorted keys, so a retry of the same operations matches whatever the
 * order of the keys in the client's encoder.
 */
static int ops_digest(json_t *ops, char out[OBJ_ID_HEX_LEN + 1])
{
	char *text = json_dumps(ops, JSON_COMPACT | JSON_SORT_KEYS);
	struct obj_id id;

	if (!text)
		return -ENOMEM;
	hash_buf(&id, text, strlen(text));
	free(text);
	obj_id_to_hex(&id, out);
	return 0;
}

/*
 * The space's quota (quota.h), checked before the ledger is touched, with
 * sp->usage_lock held.  Over it: 507 quota_exceeded, and the chunks
 * uploaded for the batch that no version names are removed, so nothing
 * of it stays.  1 when refused (the reply is queued), 0 when it fits.
 */
static int quota_refused(struct http_req *req, const struct batch *b)
{
	struct index_usage u;
	uint64_t quota, add = 0;
	char why[512];
	int rc;

	rc = index_usage_get(req->srv->ix, req->space_name, &u);
	quota = rc == 0 ? quota_in_force(req->srv, &u) : 0;
	if (rc == 0 && quota)
		rc = quota_batch_bytes(req->srv->ix, req->space_name, b->ops,
				       b->nops, &add);
	if (rc == 0)
		rc = quota_check(req->space_name, u.bytes, add, quota);
	if (rc == 0)
		return 0;
	/* err_msg() lives in the buffer the removal's messages rewrite */
	snprintf(why, sizeof(why), "%s", err_msg());
	if (rc == -EDQUOT) {
		quota_batch_forget(req->space, req->srv->ix, b->ops, b->nops);
		http_reply_error(req, 507, "quota_exceeded", -1, "%s", why);
	} else {
		http_reply_error(req, 500, "internal", -1, "%s", why);
	}
	return 1;
}

/*
 * A space whose ledger the index holds may be written by other nodes,
 * whose commits usage_lock does not hold back: there the whole commit,
 * from the quota check to the versions counted, is one index transaction
 * holding the space's lock (the ledger's own write joins it), so two
 * nodes never both fit in the room left, and the ledger commit and its
 * versions are kept together or not at all.  Nothing on a ledger of this
 * node's own (*tx NULL).
 */
static int shared_begin(struct http_req *req, struct index_txn **tx)
{
	*tx = NULL;
	if (!ledger_is_shared(req->space->ledger))
		return 0;
	return index_begin_locked(req->srv->ix, req->space_name, tx);
}

/* Commit (rc == 0) or roll back; a commit that fails undoes the ledger's
 * commit too, whose caches then follow main again. */
static int shared_end(struct http_req *req, struct index_txn *tx, int rc)
{
	if (!tx)
		return 0;
	if (rc < 0) {
		index_rollback(req->srv->ix, tx);
		return 0;
	}
	rc = index_commit(req->srv->ix, tx);
	if (rc < 0)
		ledger_forget(req->space->ledger);
	return rc;
}

int api_commits(struct http_req *req)
{
	char head[GIT_OID_HEX_LEN + 1], digest[OBJ_ID_HEX_LEN + 1];
	struct ledger_batch named = { .digest = digest };
	struct batch b = { 0 };
	struct access_batch ab = { 0 };
	struct index_txn *utx = NULL;
	const char *client, *batch_id;
	json_t *reply;
	json_t *ops, *o, *results;
	size_t i, failed = 0;
	int rc;

	if (api_json_string(req, req->json, "client", 0, COMMIT_CLIENT_MAX,
			    &client, -1) ||
	    api_json_string(req, req->json, "batch", 0, LEDGER_BATCH_ID_MAX,
			    &batch_id, -1))
		return 0;
	if (batch_id && ledger_batch_id_validate(batch_id) < 0)
		return http_reply_error(req, 400, "bad_request", -1,
					"field 'batch': %s", err_msg());
	ops = json_object_get(req->json, "ops");
	if (!json_is_array(ops) || json_array_size(ops) == 0)
		return http_reply_error(
			req, 400, "bad_request", -1,
			"field 'ops' must be a non-empty array");
	if (json_array_size(ops) > COMMIT_OPS_MAX)
		return http_reply_error(req, 413, "too_large", -1,
					"at most %d operations per batch",
					COMMIT_OPS_MAX);
	b.nops = json_array_size(ops);
	b.ops = calloc(b.nops, sizeof(*b.ops));
	b.results = calloc(b.nops, sizeof(*b.results));
	if (!b.ops || !b.results) {
		free(b.ops);
		free(b.results);
		return -ENOMEM;
	}
	for (i = 0; i < b.nops; i++) {
		manifest_init(&b.ops[i].content);
		manifest_init(&b.results[i].manifest);
	}
	rc = 0;
	json_array_foreach(ops, i, o)
	{
		if (parse_op(req, o, (long)i, &b.ops[i]))
			goto out;
	}
	if (check_chunk_refs(req, &b))
		goto out;
	rc = batch_access(req, &b, ops, &ab);
	if (rc < 0)
		goto out;
	named.id = batch_id;
	if (batch_id) {
		rc = ops_digest(ops, digest);
		if (rc < 0)
			goto out;
	}
	/* from the quota check until the versions are counted: no other
	 * commit of the space fits in the same room (quota.h) */
	pthread_mutex_lock(&req->space->usage_lock);
	rc = shared_begin(req, &utx);
	if (rc < 0) {
		pthread_mutex_unlock(&req->space->usage_lock);
		rc = http_reply_rc(req, rc, HTTP_CTX_COMMIT, -1);
		goto out;
	}
	if (quota_refused(req, &b)) {
		shared_end(req, utx, -1);
		pthread_mutex_unlock(&req->space->usage_lock);
		rc = 0;
		goto out;
	}
	rc = ledger_apply_batch(req->space->ledger, req->space->chunks,
				req->space_name, req->auth.login,
				client ? client : "", batch_id ? &named : NULL,
				b.ops, b.nops, b.results, &failed, head,
				access_batch_check, &ab);
	if (rc < 0) {
		shared_end(req, utx, rc);
		pthread_mutex_unlock(&req->space->usage_lock);
		/* What the caller may not read answers as what is absent. */
		rc = http_reply_rc(req, rc, HTTP_CTX_COMMIT,
				   failed == SIZE_MAX ? -1 : (long)failed);
		goto out;
	}
	record(req, &b, rc == 1 ? NULL : ab.skipped, head, rc == 1);
	{
		int erc = shared_end(req, utx, 0);

		if (erc < 0) {
			pthread_mutex_unlock(&req->space->usage_lock);
			rc = http_reply_rc(req, erc, HTTP_CTX_COMMIT, -1);
			goto out;
		}
	}
	pthread_mutex_unlock(&req->space->usage_lock);
	if (rc == 0) {
		state_deposits(req, &b);
		space_changed(req->space); /* wake the change feed */
		api_changes_notify();
		grants_follow(req, &b);
		seals_follow(req, &b);
	}
	results = json_array();
	for (i = 0; results && i < b.nops; i++)
		if (json_array_append_new(results, result_json(&b.ops[i],
							       &b.results[i])))
			break;
	reply = json_pack("{s:s, s:o}", "head", head, "results", results);
	if (reply && rc == 1)
		json_object_set_new(reply, "replayed", json_true());
	rc = http_reply_json(req, 200, reply);
out:
	free((void *)ab.stated);
	free(ab.skipped);
	access_batch_release(&ab);
	batch_release(&b);
	return rc;
}

/*
 * GET /v1/spaces/SPACE/batches/ID: whether the caller applied a batch
 * named ID (docs/protocol.md, "Commits").  Only the caller's own batches:
 * the key is login and id, so no member learns of another's.
 */
int api_batch_get(struct http_req *req)
{
	char digest[LEDGER_BATCH_DIGEST_LEN + 1];
	json_t *j;
	int rc;

	rc = authorize(&req->auth, req->space_name, NULL, AUTH_READ);
	if (rc < 0)
		return rc;
	rc = ledger_batch_applied(req->space->ledger, req->auth.login, req->arg,
				  digest);
	if (rc < 0)
		return rc == -EINVAL ? err_set(-ENOENT, "no such batch") : rc;
	j = rc ? json_pack("{s:s, s:b, s:s}", "id", req->arg, "applied", 1,
			   "digest", digest) :
		 json_pack("{s:s, s:b}", "id", req->arg, "applied", 0);
	return http_reply_json(req, 200, j);
}
