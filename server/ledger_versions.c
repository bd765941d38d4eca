/*
 * Every version of one document, found by walking the ledger's history.
 *
 * This is the slow path the index is rebuilt from: each commit's tree is
 * diffed with its parent's, and only the blobs that changed are read.  A
 * version that moved from folder to folder shows up as an added blob in
 * several commits; the oldest of them introduced it.
 */
#include "server/ledger.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "common/err.h"
#include "common/manifest.h"
#include "server/ledger_i.h"

struct found {
	struct manifest m;
	char commit[GIT_OID_HEX_LEN + 1];
};

struct walk {
	git_repository *repo;
	const char *doc_id;
	char needle[DOC_ID_HEX_LEN + 8];
	size_t nneedle;
	struct found *v;
	size_t n, alloc;
};

static int record(struct walk *w, struct manifest *m, const git_oid *commit)
{
	struct found *nv;
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->v[i].m.version == m->version)
			break;
	if (i == w->n) {
		if (w->n == w->alloc) {
			size_t na = w->alloc ? w->alloc * 2 : 16;

			nv = realloc(w->v, na * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			w->v = nv;
			w->alloc = na;
		}
		manifest_init(&w->v[w->n].m);
		w->n++;
	}
	/* The walk goes from new to old: a later sighting is an older one. */
	manifest_release(&w->v[i].m);
	w->v[i].m = *m;
	manifest_init(m);
	git_oid_tostr(w->v[i].commit, sizeof(w->v[i].commit), commit);
	return 0;
}

static int look_at_blob(struct walk *w, const git_diff_delta *d,
			const git_oid *commit)
{
	const char *base = strrchr(d->new_file.path, '/');
	struct manifest m;
	git_blob *blob;
	const char *text;
	size_t len;
	int rc;

	base = base ? base + 1 : d->new_file.path;
	if (strcmp(base, FOLDER_META_NAME) == 0 ||
	    strcmp(d->new_file.path, ".coffre-access") == 0)
		return 0;
	rc = git_blob_lookup(&blob, w->repo, &d->new_file.id);
	if (rc < 0)
		return ledger_git_err(rc, "cannot read a manifest");
	text = git_blob_rawcontent(blob);
	len = (size_t)git_blob_rawsize(blob);
	/* Most changed blobs are other documents: skip them unparsed. */
	if (!memmem(text, len, w->needle, w->nneedle)) {
		git_blob_free(blob);
		return 0;
	}
	manifest_init(&m);
	rc = manifest_parse(&m, text, len);
	git_blob_free(blob);
	if (rc < 0)
		return rc;
	if (strcmp(m.doc_id, w->doc_id) == 0)
		rc = record(w, &m, commit);
	manifest_release(&m);
	return rc;
}

static int look_at_commit(struct walk *w, const git_oid *oid)
{
	git_commit *commit = NULL, *parent = NULL;
	git_tree *tree = NULL, *ptree = NULL;
	git_diff *diff = NULL;
	size_t i, n;
	int rc;

	rc = git_commit_lookup(&commit, w->repo, oid);
	if (rc == 0)
		rc = git_commit_tree(&tree, commit);
	if (rc == 0 && git_commit_parentcount(commit) > 0) {
		rc = git_commit_parent(&parent, commit, 0);
		if (rc == 0)
			rc = git_commit_tree(&ptree, parent);
	}
	if (rc == 0)
		rc = git_diff_tree_to_tree(&diff, w->repo, ptree, tree, NULL);
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot walk the ledger history");
		goto out;
	}
	n = git_diff_num_deltas(diff);
	for (i = 0; i < n && rc == 0; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);

		if (d->status != GIT_DELTA_ADDED &&
		    d->status != GIT_DELTA_MODIFIED &&
		    d->status != GIT_DELTA_TYPECHANGE)
			continue;
		if (d->new_file.mode != GIT_FILEMODE_BLOB)
			continue;
		rc = look_at_blob(w, d, oid);
	}
out:
	git_diff_free(diff);
	git_tree_free(ptree);
	git_tree_free(tree);
	git_commit_free(parent);
	git_commit_free(commit);
	return rc;
}

static int by_version(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	return (x->m.version > y->m.version) - (x->m.version < y->m.version);
}

int ledger_versions(struct ledger *lg, const char *doc_id, ledger_version_cb cb,
		    void *arg)
{
	struct walk w = { .doc_id = doc_id };
	git_revwalk *walk = NULL;
	git_oid head, oid;
	size_t i;
	int rc;

	if (!doc_id || !doc_id_valid(doc_id))
		return err_set(-EINVAL, "bad document id");
	w.nneedle = (size_t)snprintf(w.needle, sizeof(w.needle), "doc %s\n",
				     doc_id);
	rc = ledger_repo_get(lg, &w.repo);
	if (rc < 0)
		return rc;
	rc = ledger_head_oid(w.repo, &head);
	if (rc < 0)
		goto out;
	rc = git_revwalk_new(&walk, w.repo);
	if (rc == 0)
		rc = git_revwalk_sorting(walk,
					 GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
	if (rc == 0)
		rc = git_revwalk_push(walk, &head);
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot walk the ledger history");
		goto out;
	}
	while ((rc = git_revwalk_next(&oid, walk)) == 0) {
		rc = look_at_commit(&w, &oid);
		if (rc < 0)
			goto out;
	}
	if (rc != GIT_ITEROVER) {
		rc = ledger_git_err(rc, "cannot walk the ledger history");
		goto out;
	}
	if (w.n == 0) {
		rc = err_set(-ENOENT, "no document '%s'", doc_id);
		goto out;
	}
	qsort(w.v, w.n, sizeof(*w.v), by_version);
	rc = 0;
	for (i = 0; i < w.n && rc == 0; i++)
		rc = cb(&w.v[i].m, w.v[i].commit, arg);
out:
	for (i = 0; i < w.n; i++)
		manifest_release(&w.v[i].m);
	free(w.v);
	git_revwalk_free(walk);
	ledger_repo_put(lg, w.repo);
	return rc;
}
