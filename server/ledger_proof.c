/*
 * The ledger's part of a proof of one version: the path of its manifest
 * in the commit that made it, the chain of commits from the space's root
 * to that commit with their timestamp notes, and a git bundle of them.
 *
 * The bundle is written by hand around a pack from libgit2's packbuilder:
 * the v2 format is a text header ("# v2 git bundle", one "OID REF" line
 * per ref, a blank line) followed by the pack, and it has no
 * prerequisites here because it starts at the root.
 *
 * The bundle carries the whole tree of every commit in it (every name,
 * manifest, chunk id and .coffre-access): it is built only for callers who
 * may read the whole space; the others get a deposit statement instead
 * (server/statement.c).
 */
#include "server/ledger.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "common/buf.h"
#include "common/err.h"
#include "server/ledger_i.h"

#define BUNDLE_MAX (1024u * 1024u * 1024u)

struct find {
	git_oid blob;
	char *path;
};

static int find_cb(const char *root, const git_tree_entry *te, void *arg)
{
	struct find *f = arg;

	if (git_tree_entry_type(te) != GIT_OBJECT_BLOB ||
	    !git_oid_equal(git_tree_entry_id(te), &f->blob))
		return 0;
	if (asprintf(&f->path, "/%s%s", root, git_tree_entry_name(te)) < 0)
		f->path = NULL;
	return 1; /* stop */
}

static int walk_chain(git_repository *repo, const git_oid *tip,
		      struct ledger_proof *p)
{
	git_revwalk *w = NULL;
	git_note *note;
	git_oid id;
	size_t cap = 0;
	int rc;

	rc = git_revwalk_new(&w, repo);
	if (rc == 0)
		rc = git_revwalk_push(w, tip);
	if (rc == 0)
		rc = git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL |
						    GIT_SORT_REVERSE);
	if (rc < 0) {
		git_revwalk_free(w);
		return ledger_git_err(rc, "cannot walk the ledger");
	}
	while ((rc = git_revwalk_next(&id, w)) == 0) {
		char hex[GIT_OID_HEX_LEN + 1];

		if (p->ncommits == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **a = realloc(p->commits, nc * sizeof(*a));
			char **b =
				a ? realloc(p->tokens, nc * sizeof(*b)) : NULL;

			if (a)
				p->commits = a;
			if (!b) {
				rc = -ENOMEM;
				break;
			}
			p->tokens = b;
			cap = nc;
		}
		git_oid_tostr(hex, sizeof(hex), &id);
		p->commits[p->ncommits] = strdup(hex);
		p->tokens[p->ncommits] = NULL;
		p->ncommits++;
		if (!p->commits[p->ncommits - 1]) {
			rc = -ENOMEM;
			break;
		}
		if (git_note_read(&note, repo, LEDGER_NOTES_TIMESTAMPS, &id) ==
		    0) {
			p->tokens[p->ncommits - 1] =
				strdup(git_note_message(note));
			git_note_free(note);
			if (!p->tokens[p->ncommits - 1]) {
				rc = -ENOMEM;
				break;
			}
		}
	}
	git_revwalk_free(w);
	if (rc == GIT_ITEROVER)
		return 0;
	return rc < 0 && rc != -ENOMEM ? ledger_git_err(rc, "cannot walk") : rc;
}

static int write_bundle(git_repository *repo, const git_oid *tip,
			struct ledger_proof *p)
{
	char hex[GIT_OID_HEX_LEN + 1];
	git_packbuilder *pb = NULL;
	git_revwalk *w = NULL;
	git_buf pack = { 0 };
	struct buf b;
	int rc;

	rc = git_packbuilder_new(&pb, repo);
	if (rc == 0)
		rc = git_revwalk_new(&w, repo);
	if (rc == 0)
		rc = git_revwalk_push(w, tip);
	if (rc == 0)
		rc = git_packbuilder_insert_walk(pb, w);
	if (rc == 0)
		rc = git_packbuilder_write_buf(&pack, pb);
	git_revwalk_free(w);
	git_packbuilder_free(pb);
	if (rc < 0) {
		git_buf_dispose(&pack);
		return ledger_git_err(rc, "cannot pack the proof's commits");
	}
	git_oid_tostr(hex, sizeof(hex), tip);
	buf_init(&b, BUNDLE_MAX);
	rc = buf_appendf(&b, "# v2 git bundle\n%s HEAD\n%s refs/heads/main\n\n",
			 hex, hex);
	if (rc == 0)
		rc = buf_append(&b, pack.ptr, pack.size);
	git_buf_dispose(&pack);
	if (rc < 0) {
		buf_release(&b);
		return err_set(rc, "the proof's bundle is too large");
	}
	p->bundle = buf_detach(&b, &p->bundle_len);
	return p->bundle ? 0 : -ENOMEM;
}

int ledger_proof_build(struct ledger *lg, const char *commit_hex,
		       const char *manifest, size_t manifest_len, int history,
		       struct ledger_proof *out)
{
	struct find f = { .path = NULL };
	git_repository *repo;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_oid id, head;
	int rc;

	memset(out, 0, sizeof(*out));
	if (git_oid_fromstr(&id, commit_hex) < 0)
		return err_set(-EINVAL, "bad commit id '%s'", commit_hex);
	rc = ledger_repo_get(lg, &repo);
	if (rc < 0)
		return rc;
	rc = ledger_head_oid(repo, &head);
	if (rc < 0)
		goto out;
	/* Only history on main is proof of anything. */
	if (!git_oid_equal(&id, &head) &&
	    git_graph_descendant_of(repo, &head, &id) != 1) {
		rc = err_set(-ENOENT, "commit %s is not on the ledger",
			     commit_hex);
		goto out;
	}
	rc = git_odb_hash(&f.blob, manifest, manifest_len, GIT_OBJECT_BLOB);
	if (rc == 0)
		rc = git_commit_lookup(&c, repo, &id);
	if (rc == 0)
		rc = git_commit_tree(&tree, c);
	if (rc == 0)
		rc = git_tree_walk(tree, GIT_TREEWALK_PRE, find_cb, &f);
	if (rc < 0 && rc != 1 && !f.path) {
		rc = ledger_git_err(rc, "cannot read the version's commit");
		goto out;
	}
	if (!f.path) {
		rc = err_set(-ENOENT, "commit %s does not hold the manifest",
			     commit_hex);
		goto out;
	}
	out->path = f.path;
	rc = history ? walk_chain(repo, &id, out) : 0;
	if (rc == 0 && history)
		rc = write_bundle(repo, &id, out);
out:
	git_tree_free(tree);
	git_commit_free(c);
	ledger_repo_put(lg, repo);
	if (rc < 0)
		ledger_proof_release(out);
	return rc;
}

void ledger_proof_release(struct ledger_proof *p)
{
	for (size_t i = 0; i < p->ncommits; i++) {
		free(p->commits[i]);
		free(p->tokens[i]);
	}
	free(p->commits);
	free(p->tokens);
	free(p->path);
	free(p->bundle);
	memset(p, 0, sizeof(*p));
}

/* The refs a whole-ledger bundle carries, those that exist. */
static const char *const bundle_refs[] = {
	"refs/heads/main",	  "refs/notes/timestamps",
	"refs/coffre/signatures", "refs/coffre/statements",
	"refs/coffre/events",
};

int ledger_bundle_all(struct ledger *lg, void **bundle, size_t *len,
		      char head_hex[GIT_OID_HEX_LEN + 1])
{
	char hex[GIT_OID_HEX_LEN + 1];
	git_repository *repo;
	git_packbuilder *pb = NULL;
	git_revwalk *w = NULL;
	git_buf pack = { 0 };
	git_oid id;
	struct buf b;
	int rc, n = 0;

	*bundle = NULL;
	*len = 0;
	rc = ledger_repo_get(lg, &repo);
	if (rc < 0)
		return rc;
	buf_init(&b, BUNDLE_MAX);
	rc = ledger_head_oid(repo, &id);
	if (rc == 0) {
		git_oid_tostr(head_hex, GIT_OID_HEX_LEN + 1, &id);
		rc = buf_appendf(&b, "# v2 git bundle\n%s HEAD\n", head_hex);
	}
	if (rc == 0)
		rc = git_packbuilder_new(&pb, repo);
	if (rc == 0)
		rc = git_revwalk_new(&w, repo);
	for (size_t i = 0;
	     rc == 0 && i < sizeof(bundle_refs) / sizeof(bundle_refs[0]); i++) {
		if (git_reference_name_to_id(&id, repo, bundle_refs[i]) < 0)
			continue; /* a ref not made yet */
		git_oid_tostr(hex, sizeof(hex), &id);
		rc = git_revwalk_push(w, &id);
		if (rc == 0)
			rc = buf_appendf(&b, "%s %s\n", hex, bundle_refs[i]);
		n++;
	}
	if (rc == 0)
		rc = buf_append(&b, "\n", 1);
	if (rc == 0 && n)
		rc = git_packbuilder_insert_walk(pb, w);
	if (rc == 0)
		rc = git_packbuilder_write_buf(&pack, pb);
	if (rc == 0)
		rc = buf_append(&b, pack.ptr, pack.size);
	git_buf_dispose(&pack);
	git_revwalk_free(w);
	git_packbuilder_free(pb);
	ledger_repo_put(lg, repo);
	if (rc < 0) {
		buf_release(&b);
		return rc == -E2BIG || rc == -ENOMEM ?
			       err_set(rc, "the ledger's bundle is too large") :
			       ledger_git_err(rc, "cannot bundle the ledger");
	}
	*bundle = buf_detach(&b, len);
	return *bundle ? 0 : -ENOMEM;
}
