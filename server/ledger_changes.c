/*
 * What changed in a space between two commits, for the change feed: the
 * folders whose listing differs.  A changed entry A/B/f names folder
 * /A/B; a folder made, removed or reclassed (its .coffre-folder blob
 * changed) also names its parent, whose listing shows it; a change of
 * the root's .coffre-access (members, grants) may change any listing.  The diff is
 * libgit2's tree-to-tree walk, which skips unchanged subtrees by id, so it
 * costs what changed, not the size of the space.
 */
#include "server/ledger.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "common/err.h"
#include "server/ledger_i.h"

#define FOLDER_BLOB ".coffre-folder"
#define ACCESS_BLOB ".coffre-access"

struct changes {
	char **paths;
	size_t n, max;
	int all;
};

/* Add "/" + the first len bytes of p (a repository path), once. */
static int add_folder(struct changes *c, const char *p, size_t len)
{
	char *s;

	for (size_t i = 0; i < c->n; i++)
		if (strlen(c->paths[i]) == len + 1 &&
		    !memcmp(c->paths[i] + 1, p, len))
			return 0;
	if (c->n == c->max) {
		c->all = 1;
		return 0;
	}
	s = malloc(len + 2);
	if (!s)
		return -ENOMEM;
	s[0] = '/';
	memcpy(s + 1, p, len);
	s[len + 1] = '\0';
	c->paths[c->n++] = s;
	return 0;
}

/* The folder of repository path p, and its parent when p is the
 * folder's own blob. */
static int add_path(struct changes *c, const char *p)
{
	const char *slash = strrchr(p, '/');
	size_t dlen = slash ? (size_t)(slash - p) : 0;
	const char *leaf = slash ? slash + 1 : p;
	int rc;

	if (!p[0])
		return 0;
	/* members and grants changed: what each caller sees may change
	 * anywhere, not only where the blob lies */
	if (!strcmp(p, ACCESS_BLOB)) {
		c->all = 1;
		return 0;
	}
	rc = add_folder(c, p, dlen);
	if (rc < 0 || strcmp(leaf, FOLDER_BLOB) || dlen == 0)
		return rc;
	slash = memrchr(p, '/', dlen);
	return add_folder(c, p, slash ? (size_t)(slash - p) : 0);
}

static int each_delta(const git_diff_delta *d, float progress, void *arg)
{
	struct changes *c = arg;
	int rc;

	(void)progress;
	if (c->all)
		return 1; /* stop: the caller revalidates everything */
	rc = add_path(c, d->old_file.path ? d->old_file.path : "");
	if (rc == 0 && d->new_file.path &&
	    (!d->old_file.path || strcmp(d->old_file.path, d->new_file.path)))
		rc = add_path(c, d->new_file.path);
	return rc < 0 ? rc : 0;
}

static int commit_tree(git_repository *repo, const git_oid *id, git_tree **out)
{
	git_commit *commit;
	int rc = git_commit_lookup(&commit, repo, id);

	if (rc < 0)
		return rc;
	rc = git_commit_tree(out, commit);
	git_commit_free(commit);
	return rc;
}

int ledger_changes(struct ledger *lg, const char *since,
		   char head[GIT_OID_HEX_LEN + 1], char ***paths, size_t *n,
		   size_t max, int *all)
{
	struct changes c = { .max = max };
	git_repository *repo;
	git_tree *old_tree = NULL, *new_tree = NULL;
	git_diff *diff = NULL;
	git_oid head_oid, since_oid;
	int rc, grc;

	*paths = NULL;
	*n = 0;
	*all = 0;
	head[0] = '\0';
	c.paths = calloc(max ? max : 1, sizeof(*c.paths));
	if (!c.paths)
		return -ENOMEM;
	rc = ledger_repo_get(lg, &repo);
	if (rc < 0) {
		free(c.paths);
		return rc;
	}
	rc = ledger_head_oid(repo, &head_oid);
	if (rc == -ENOENT) {
		/* an empty ledger: nothing to list, whatever since says */
		*all = since && since[0];
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	git_oid_tostr(head, GIT_OID_HEX_LEN + 1, &head_oid);
	if (since && !strcmp(since, head))
		goto out;
	/* A since this ledger cannot diff from (unknown, or from a state
	 * before the first commit): everything may have changed. */
	if (!since || git_oid_fromstrp(&since_oid, since) < 0 ||
	    commit_tree(repo, &since_oid, &old_tree) < 0) {
		git_error_clear();
		c.all = 1;
		goto out;
	}
	grc = commit_tree(repo, &head_oid, &new_tree);
	if (grc == 0)
		grc = git_diff_tree_to_tree(&diff, repo, old_tree, new_tree,
					    NULL);
	if (grc < 0) {
		rc = ledger_git_err(grc, "cannot diff the ledger");
		goto out;
	}
	grc = git_diff_foreach(diff, each_delta, NULL, NULL, NULL, &c);
	/* 1: each_delta stopped the walk (c.all); -ENOMEM is its own */
	if (grc < 0) {
		rc = grc == -ENOMEM ?
			     -ENOMEM :
			     ledger_git_err(grc, "cannot walk the ledger diff");
		goto out;
	}
	git_error_clear();
out:
	git_diff_free(diff);
	git_tree_free(old_tree);
	git_tree_free(new_tree);
	ledger_repo_put(lg, repo);
	if (rc < 0 || c.all) {
		for (size_t i = 0; i < c.n; i++)
			free(c.paths[i]);
		free(c.paths);
		*all = *all || c.all;
		return rc;
	}
	*paths = c.paths;
	*n = c.n;
	return 0;
}
