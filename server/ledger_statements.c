/*
 * Deposit statements in the ledger (see ledger.h): their own ref, like the
 * e-signatures, so stating a version never rewrites the documents' history
 * on main, yet every statement lies in a signed, timestamped commit that
 * fsck checks.  A statement once recorded is never replaced: the first one
 * made for a version is the one every later proof carries.  Written under
 * the apply lock.
 *
 * NEEDSWORK: the root tree holds one entry per document (no fanout), so
 * each batch rewrites a tree that grows with the space's documents; two
 * hex digits of fanout would bound it, as git's notes do.
 */
#include "server/ledger.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <git2/sys/mempack.h>

#include "common/err.h"
#include "server/ledger_i.h"

#define STMT_PATH_MAX 96
#define STMT_PACK_MIN 16 /* statements in one batch */

static const char *const leaf_ext[3] = { "txt", "sig", "tsr" };

static void stmt_path(char *out, const char *doc_id, uint64_t version,
		      const char *ext)
{
	snprintf(out, STMT_PATH_MAX, "%s/%llu.%s", doc_id,
		 (unsigned long long)version, ext);
}

/* 1 when the tree already holds the statement of (doc_id, version). */
static int has_statement(git_tree *root, const char *doc_id, uint64_t version)
{
	char path[STMT_PATH_MAX];
	git_tree_entry *te = NULL;
	int found;

	if (!root)
		return 0;
	stmt_path(path, doc_id, version, "txt");
	found = git_tree_entry_bypath(&te, root, path) == 0;
	git_tree_entry_free(te);
	return found;
}

/* The commit last names, in repo, unless last is zero (no statement). */
static int parent_of(git_repository *repo, const git_oid *last,
		     git_commit **out)
{
	if (git_oid_is_zero(last))
		return 0;
	return git_commit_lookup(out, repo, last);
}

int ledger_statements_add(struct ledger *lg, const struct ledger_statement *s,
			  size_t n, size_t *added)
{
	char(*paths)[STMT_PATH_MAX] = calloc(n * 3, sizeof(*paths));
	git_tree_update *upd = calloc(n * 3, sizeof(*upd));
	git_signature *who = NULL;
	git_commit *parent = NULL;
	git_tree *ptree = NULL, *tree = NULL;
	git_oid last, tree_id;
	git_repository *repo;
	size_t nu = 0, ns = 0;
	char msg[160];
	struct ledger_write w;
	int rc, packed;

	*added = 0;
	if (!paths || !upd) {
		free(paths);
		free(upd);
		return -ENOMEM;
	}
	rc = ledger_write_begin(lg, &w);
	if (rc < 0) {
		free(paths);
		free(upd);
		return rc;
	}
	/* Many statements: their blobs and trees go to disk as one pack, not
	 * as thousands of loose objects each fsynced.  A shared ledger has
	 * no disk of its own: its objects go to the index as written. */
	packed = n >= STMT_PACK_MIN && !lg->ix && ledger_pack_open(lg) == 0;
	repo = packed ? lg->prepo : lg->wrepo;
	memset(&last, 0, sizeof(last));
	rc = git_reference_name_to_id(&last, repo, LEDGER_STATEMENTS_REF);
	if (rc == 0) {
		rc = git_commit_lookup(&parent, repo, &last);
		if (rc == 0)
			rc = git_commit_tree(&ptree, parent);
	} else if (rc == GIT_ENOTFOUND) {
		rc = 0;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const void *data[3] = { s[i].text, s[i].sig, s[i].tsr };
		size_t len[3] = { s[i].text_len, s[i].sig_len, s[i].tsr_len };

		if (has_statement(ptree, s[i].doc_id, s[i].version))
			continue; /* the first statement stays */
		for (int k = 0; rc == 0 && k < 3; k++, nu++) {
			stmt_path(paths[nu], s[i].doc_id, s[i].version,
				  leaf_ext[k]);
			upd[nu].action = GIT_TREE_UPDATE_UPSERT;
			upd[nu].filemode = GIT_FILEMODE_BLOB;
			upd[nu].path = paths[nu];
			rc = git_blob_create_from_buffer(&upd[nu].id, repo,
							 data[k], len[k]);
		}
		ns++;
	}
	if (rc < 0)
		goto git;
	if (ns == 0)
		goto out;
	/* The first statement: updates need a base tree. */
	if (!ptree)
		rc = ledger_tree_single(repo, NULL, NULL, &ptree);
	if (rc == 0)
		rc = git_tree_create_updated(&tree_id, repo, ptree, nu, upd);
	if (rc < 0)
		goto git;
	if (packed) {
		rc = ledger_pack_write(lg);
		git_mempack_reset(lg->mempack);
		packed = 0;
		if (rc < 0)
			goto out;
		/* The commit goes through the on-disk repository. */
		repo = lg->wrepo;
		git_commit_free(parent);
		parent = NULL;
		rc = parent_of(repo, &last, &parent);
	}
	if (rc == 0)
		rc = git_tree_lookup(&tree, repo, &tree_id);
	if (rc == 0)
		rc = git_signature_now(&who, LEDGER_SERVER_NAME,
				       LEDGER_SERVER_EMAIL);
	if (rc < 0)
		goto git;
	/* The message names no path: it is only a count. */
	snprintf(msg, sizeof(msg), "state %zu version%s\n\nCoffre-Op: state\n",
		 ns, ns == 1 ? "" : "s");
	rc = ledger_side_commit(repo, LEDGER_STATEMENTS_REF, who, msg, tree,
				parent, parent ? &last : NULL, "coffre: state",
				"cannot record the deposit statements");
	if (rc == 0)
		*added = ns;
	goto out;
git:
	rc = ledger_git_err(rc, "cannot record the deposit statements");
out:
	/* What a failure left in memory never reaches the disk. */
	if (packed)
		git_mempack_reset(lg->mempack);
	rc = ledger_write_end(lg, &w, rc);
	git_signature_free(who);
	git_tree_free(tree);
	git_tree_free(ptree);
	git_commit_free(parent);
	free(upd);
	free(paths);
	return rc;
}

static int read_leaf(git_repository *repo, git_tree *root, const char *doc_id,
		     uint64_t version, int k, void **out, size_t *len)
{
	char path[STMT_PATH_MAX];
	git_tree_entry *te = NULL;
	git_blob *b = NULL;
	int rc;

	stmt_path(path, doc_id, version, leaf_ext[k]);
	rc = git_tree_entry_bypath(&te, root, path);
	if (rc == GIT_ENOTFOUND)
		return -ENOENT;
	if (rc == 0)
		rc = git_blob_lookup(&b, repo, git_tree_entry_id(te));
	git_tree_entry_free(te);
	if (rc < 0)
		return ledger_git_err(rc, "cannot read a deposit statement");
	*len = (size_t)git_blob_rawsize(b);
	/* One more byte: the text and the signature are used as strings. */
	*out = malloc(*len + 1);
	if (*out) {
		memcpy(*out, git_blob_rawcontent(b), *len);
		((char *)*out)[*len] = '\0';
	}
	git_blob_free(b);
	return *out ? 0 : -ENOMEM;
}

int ledger_statement_get(struct ledger *lg, const char *doc_id,
			 uint64_t version, struct ledger_statement_copy *out)
{
	void **dst[3] = { (void **)&out->text, (void **)&out->sig, &out->tsr };
	size_t *len[3] = { &out->text_len, &out->sig_len, &out->tsr_len };
	git_repository *repo;
	git_commit *c = NULL;
	git_tree *root = NULL;
	git_oid id;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ledger_repo_get(lg, &repo);
	if (rc < 0)
		return rc;
	rc = git_reference_name_to_id(&id, repo, LEDGER_STATEMENTS_REF);
	if (rc == GIT_ENOTFOUND) {
		rc = -ENOENT;
		goto out;
	}
	if (rc == 0)
		rc = git_commit_lookup(&c, repo, &id);
	if (rc == 0)
		rc = git_commit_tree(&root, c);
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot read the deposit statements");
		goto out;
	}
	for (int k = 0; rc == 0 && k < 3; k++)
		rc = read_leaf(repo, root, doc_id, version, k, dst[k], len[k]);
out:
	git_tree_free(root);
	git_commit_free(c);
	ledger_repo_put(lg, repo);
	if (rc < 0)
		ledger_statement_copy_release(out);
	return rc;
}

void ledger_statement_copy_release(struct ledger_statement_copy *s)
{
	free(s->text);
	free(s->sig);
	free(s->tsr);
	memset(s, 0, sizeof(*s));
}
