/*
 * Batch ids: a commit retried after a lost reply is applied once.
 *
 * A client may name a batch ("batch" in POST .../commits); every commit of
 * the batch then carries the trailer "Coffre-Batch: ID DIGEST", DIGEST the
 * SHA-256 of the batch's operations as the API received them.  The ledger
 * is the record: a reply lost because coffred died after moving the head is
 * found again after the restart, with nothing in the index to keep in step.
 *
 * Lookups go through a table in memory (login and id -> the batch's last
 * commit and digest), filled once per process by walking main's commit
 * messages, and brought up to main's head at each lookup by walking only
 * the commits since (another node's, in a shared ledger); both under the
 * ledger's write side, so two retries of one batch racing each other are
 * serialized: the second finds the first's commit.
 *
 * NEEDSWORK: the first lookup reads every commit of main once (about a
 * second per 100,000 commits) and the table keeps every batch id of the
 * space (about 200 bytes each).
 */
#include "server/ledger_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* FNV-1a: uthash's default (Jenkins) falls through its switch, which
 * clang -Wimplicit-fallthrough refuses; these tables are small. */
#define HASH_FUNCTION HASH_FNV
#include <uthash.h>

#include "common/err.h"
#include "common/manifest.h"
#include "common/path.h"

struct ledger_batch_seen {
	char key[LEDGER_BATCH_KEY_LEN]; /* "login id" */
	char digest[LEDGER_BATCH_DIGEST_LEN + 1];
	git_oid last;
	unsigned walk; /* the load() that found it */
	UT_hash_handle hh;
};

int ledger_batch_id_validate(const char *id)
{
	size_t n = strlen(id);

	if (n < 1 || n > LEDGER_BATCH_ID_MAX)
		return err_set(-EINVAL, "batch id must be 1..%d characters",
			       LEDGER_BATCH_ID_MAX);
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		      *p == '.' || *p == ':'))
			return err_set(
				-EINVAL,
				"batch id may hold only letters, digits and - _ . :");
	return 0;
}

static void make_key(char key[LEDGER_BATCH_KEY_LEN], const char *login,
		     const char *id)
{
	snprintf(key, LEDGER_BATCH_KEY_LEN, "%s %s", login, id);
}

/*
 * The value of trailer name in msg ("Name: value" at a line start), copied
 * into out (at most outlen - 1 bytes).  0 when absent.
 */
static int trailer(const char *msg, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = msg;

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *end;

		if (strncmp(p, name, nlen) != 0 || p[nlen] != ':' ||
		    p[nlen + 1] != ' ')
			continue;
		p += nlen + 2;
		end = strchr(p, '\n');
		if (!end)
			end = p + strlen(p);
		snprintf(out, outlen, "%.*s", (int)(end - p), p);
		return 1;
	}
	return 0;
}

/* "login id" and digest of the batch commit c names; 0 when none. */
static int commit_batch_key(git_commit *c, char key[LEDGER_BATCH_KEY_LEN],
			    char digest[LEDGER_BATCH_DIGEST_LEN + 1])
{
	char val[LEDGER_BATCH_ID_MAX + LEDGER_BATCH_DIGEST_LEN + 4];
	const git_signature *a = git_commit_author(c);
	const char *msg = git_commit_message(c), *sp;

	if (!msg || !a || !a->name ||
	    !trailer(msg, "Coffre-Batch", val, sizeof(val)))
		return 0;
	sp = strchr(val, ' ');
	if (!sp || strlen(sp + 1) != LEDGER_BATCH_DIGEST_LEN)
		return 0;
	snprintf(digest, LEDGER_BATCH_DIGEST_LEN + 1, "%s", sp + 1);
	snprintf(key, LEDGER_BATCH_KEY_LEN, "%s %.*s", a->name, (int)(sp - val),
		 val);
	return 1;
}

/*
 * Remember key's batch as ending at last.  A walk goes newest first, so
 * within one walk the first commit seen is the batch's last; a walk from a
 * later head (replace 1) has the word over what an earlier walk found.
 */
static int note(struct ledger *lg, const char *key, const char *digest,
		const git_oid *last, int replace, unsigned walk)
{
	struct ledger_batch_seen *s;

	HASH_FIND_STR(lg->batches, key, s);
	if (s && (!replace || s->walk == walk))
		return 0;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		snprintf(s->key, sizeof(s->key), "%s", key);
		HASH_ADD_STR(lg->batches, key, s);
	}
	snprintf(s->digest, sizeof(s->digest), "%s", digest);
	s->last = *last;
	s->walk = walk;
	return 0;
}

/*
 * Bring the table up to main's head: the first time, every commit of
 * main; later, only the commits after the head it was filled at (another
 * node may have moved main, or a batch not named went on top).  A head
 * that does not descend from it (it was never committed) starts over.
 */
static int load(struct ledger *lg, git_repository *repo)
{
	char key[LEDGER_BATCH_KEY_LEN], digest[LEDGER_BATCH_DIGEST_LEN + 1];
	git_revwalk *walk = NULL;
	unsigned walk_no;
	git_commit *c;
	git_oid id, head;
	int rc, since;

	rc = ledger_head_oid(repo, &head);
	if (rc == -ENOENT) {
		err_clear();
		ledger_batches_free(lg);
		memset(&lg->batches_head, 0, sizeof(lg->batches_head));
		lg->batches_loaded = 1;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (lg->batches_loaded && git_oid_equal(&head, &lg->batches_head))
		return 0;
	since = lg->batches_loaded && !git_oid_is_zero(&lg->batches_head) &&
		git_graph_descendant_of(repo, &head, &lg->batches_head) == 1;
	if (!since) {
		ledger_batches_free(lg);
		lg->batches_loaded = 0;
	}
	walk_no = ++lg->batches_walks;
	rc = git_revwalk_new(&walk, repo);
	if (rc == 0)
		rc = git_revwalk_push(walk, &head);
	if (rc == 0 && since)
		rc = git_revwalk_hide(walk, &lg->batches_head);
	while (rc == 0 && git_revwalk_next(&id, walk) == 0) {
		rc = git_commit_lookup(&c, repo, &id);
		if (rc < 0)
			break;
		if (commit_batch_key(c, key, digest))
			rc = note(lg, key, digest, &id, since, walk_no);
		git_commit_free(c);
	}
	git_revwalk_free(walk);
	if (rc < 0) {
		ledger_batches_free(lg);
		lg->batches_loaded = 0;
		return rc == -ENOMEM ?
			       rc :
			       ledger_git_err(rc, "cannot read the batch ids");
	}
	lg->batches_head = head;
	lg->batches_loaded = 1;
	return 0;
}

/* Under the apply lock: login's batch named id, or NULL (in *out). */
static int seen_get(struct ledger *lg, git_repository *repo, const char *login,
		    const char *id, struct ledger_batch_seen **out)
{
	char key[LEDGER_BATCH_KEY_LEN];
	int rc = load(lg, repo);

	*out = NULL;
	if (rc < 0)
		return rc;
	make_key(key, login, id);
	HASH_FIND_STR(lg->batches, key, *out);
	return 0;
}

int ledger_batch_find(struct ledger *lg, git_repository *repo,
		      const char *login, const struct ledger_batch *b,
		      git_oid *last)
{
	struct ledger_batch_seen *s;
	int rc = seen_get(lg, repo, login, b->id, &s);

	if (rc < 0)
		return rc;
	if (!s)
		return 0;
	if (strcmp(s->digest, b->digest) != 0)
		return err_set(
			-EEXIST,
			"batch '%s' was applied already, with other operations",
			b->id);
	*last = s->last;
	return 1;
}

int ledger_batch_note(struct ledger *lg, const char *login,
		      const struct ledger_batch *b, const git_oid *last)
{
	char key[LEDGER_BATCH_KEY_LEN];
	int rc;

	/* A shared ledger's commit is only kept once the index transaction
	 * ends: the next load() reads it from main instead. */
	if (lg->ix)
		return 0;
	make_key(key, login, b->id);
	rc = note(lg, key, b->digest, last, 1, ++lg->batches_walks);
	/* The table is as of last now, when it was as of its parent. */
	if (rc == 0 && lg->batches_loaded)
		lg->batches_head = *last;
	return rc;
}

int ledger_batch_applied(struct ledger *lg, const char *login, const char *id,
			 char digest[LEDGER_BATCH_DIGEST_LEN + 1])
{
	struct ledger_batch_seen *s = NULL;
	struct ledger_write w;
	int rc;

	rc = ledger_batch_id_validate(id);
	if (rc < 0)
		return rc;
	rc = ledger_write_begin(lg, &w);
	if (rc < 0)
		return rc;
	rc = seen_get(lg, lg->wrepo, login, id, &s);
	if (s)
		memcpy(digest, s->digest, LEDGER_BATCH_DIGEST_LEN + 1);
	rc = ledger_write_end(lg, &w, rc);
	return rc < 0 ? rc : s ? 1 : 0;
}

void ledger_batches_free(struct ledger *lg)
{
	struct ledger_batch_seen *s, *tmp;

	HASH_ITER(hh, lg->batches, s, tmp)
	{
		HASH_DEL(lg->batches, s);
		free(s);
	}
}

/* --- the results of a batch applied before, from its commits --- */

static int kind_of(const char *name, enum ledger_op_kind *k)
{
	static const char *const names[] = {
		[LEDGER_OP_MKDIR] = "mkdir", [LEDGER_OP_DEPOSIT] = "deposit",
		[LEDGER_OP_MOVE] = "move",   [LEDGER_OP_UNLINK] = "unlink",
		[LEDGER_OP_RMDIR] = "rmdir", [LEDGER_OP_CHMOD] = "chmod",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i])) {
			*k = (enum ledger_op_kind)i;
			return 0;
		}
	return -EBADMSG;
}

/*
 * A deposit's manifest: the one filed at path in c's tree when it is the
 * result's version; else (a later op of the same commit moved it on) only
 * the commit's time as deposit time, the result keeping doc id and version.  Moves answer
 * doc_id and version only, as they did the first time.
 */
static void result_manifest(git_repository *repo, git_commit *c,
			    const char *path, struct ledger_result *r)
{
	git_tree *tree = NULL;
	git_tree_entry *te = NULL;
	struct manifest m;
	int found = 0;

	manifest_init(&m);
	if (path && *path == '/' && git_commit_tree(&tree, c) == 0 &&
	    git_tree_entry_bypath(&te, tree, path + 1) == 0 &&
	    git_tree_entry_type(te) == GIT_OBJECT_BLOB &&
	    ledger_blob_manifest(repo, git_tree_entry_id(te), &m) == 0 &&
	    !strcmp(m.doc_id, r->doc_id) && m.version == r->version &&
	    ledger_manifest_copy(&r->manifest, &m) == 0)
		found = 1;
	/* Identity only in the result: an incomplete manifest must not
	 * reach the index (record() skips a manifest without version). */
	if (!found)
		rfc3339_utc((long long)git_commit_time(c),
			    r->manifest.deposited_at,
			    sizeof(r->manifest.deposited_at));
	manifest_release(&m);
	git_tree_entry_free(te);
	git_tree_free(tree);
}

/* Parse the trailers of one commit of the batch into res[*n...]. */
static int commit_results(git_repository *repo, git_commit *c,
			  struct ledger_result *res, size_t nops, size_t *n)
{
	char hex[GIT_OID_HEX_LEN + 1], path[PATH_MAX_LEN + 64];
	const char *p = git_commit_message(c);
	struct ledger_result *r = NULL;

	git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
	path[0] = 0;
	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *end = strchr(p, '\n');
		int len = (int)(end ? end - p : (long)strlen(p));
		char line[PATH_MAX_LEN + 64], kind[16];
		unsigned long long v;

		if (len >= (int)sizeof(line))
			continue;
		snprintf(line, sizeof(line), "%.*s", len, p);
		if (!strncmp(line, "Coffre-Op: ", 11)) {
			if (r && r->kind == LEDGER_OP_DEPOSIT)
				result_manifest(repo, c, path, r);
			if (*n >= nops)
				return err_set(
					-EBADMSG,
					"batch commit %s holds more operations than asked",
					hex);
			r = &res[(*n)++];
			if (sscanf(line + 11, "%15s", kind) != 1 ||
			    kind_of(kind, &r->kind) < 0)
				return err_set(
					-EBADMSG,
					"batch commit %s: bad trailer '%s'",
					hex, line);
			snprintf(path, sizeof(path), "%s",
				 line + 11 + strlen(kind) + 1);
			memcpy(r->commit, hex, sizeof(hex));
		} else if (r && !strncmp(line, "Coffre-To: ", 11)) {
			snprintf(path, sizeof(path), "%s", line + 11);
		} else if (r && !strncmp(line, "Coffre-Doc: ", 12)) {
			if (sscanf(line + 12, "%32s %llu", r->doc_id, &v) != 2)
				return err_set(
					-EBADMSG,
					"batch commit %s: bad trailer '%s'",
					hex, line);
			r->version = v;
		} else if (r && r->kind != LEDGER_OP_MKDIR &&
			   !strcmp(line, "Coffre-Class: confidential")) {
			r->sealed = 1;
		}
	}
	if (r && r->kind == LEDGER_OP_DEPOSIT)
		result_manifest(repo, c, path, r);
	return 0;
}

int ledger_batch_results(git_repository *repo, const git_oid *last,
			 struct ledger_result *res, size_t nops)
{
	char want[LEDGER_BATCH_KEY_LEN], key[LEDGER_BATCH_KEY_LEN];
	char digest[LEDGER_BATCH_DIGEST_LEN + 1];
	git_commit **chain = NULL, **nchain, *c = NULL;
	size_t nc = 0, n = 0;
	git_oid id = *last;
	int rc = 0;

	want[0] = 0;
	/* back from the last commit while the parents are of the batch */
	/* a batch is at most one commit per operation */
	while (nc < nops) {
		rc = git_commit_lookup(&c, repo, &id);
		if (rc < 0) {
			rc = ledger_git_err(rc, "cannot read a batch commit");
			goto out;
		}
		if (!commit_batch_key(c, key, digest) ||
		    (want[0] && strcmp(key, want))) {
			git_commit_free(c);
			break;
		}
		memcpy(want, key, sizeof(want));
		nchain = realloc(chain, (nc + 1) * sizeof(*chain));
		if (!nchain) {
			git_commit_free(c);
			rc = -ENOMEM;
			goto out;
		}
		chain = nchain;
		chain[nc++] = c;
		if (git_commit_parentcount(c) == 0)
			break;
		id = *git_commit_parent_id(c, 0);
	}
	for (size_t i = nc; i-- > 0 && rc == 0;)
		rc = commit_results(repo, chain[i], res, nops, &n);
	if (rc == 0 && n != nops)
		rc = err_set(-EBADMSG,
			     "batch commits hold %zu operations, not %zu", n,
			     nops);
out:
	for (size_t i = 0; i < nc; i++)
		git_commit_free(chain[i]);
	free(chain);
	return rc;
}
