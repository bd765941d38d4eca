/*
 * The ledger repository kept in the index (server/ledger_store.c): libgit2
 * reads and writes objects and refs through it as through a directory,
 * and two repositories over one index -- two nodes serving one space --
 * never lose a commit: the second to move the head from the same parent
 * is refused (GIT_EMODIFIED) and succeeds once it starts from the new one.
 * Also: a repository for a space with no ledger is refused unless made,
 * two spaces never see each other's objects, ref listings honour globs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "common/err.h"
#include "server/index.h"
#include "server/ledger_store.h"
#include "tests/lib/tap.h"

/* A commit of one blob "f" = text on parent (NULL: a root commit). */
static int commit_one(git_repository *repo, const char *text,
		      const git_oid *parent, git_oid *out)
{
	git_treebuilder *tb = NULL;
	git_signature *sig = NULL;
	git_commit *p = NULL;
	git_tree *tree = NULL;
	git_oid blob, tid;
	int rc;

	rc = git_blob_create_from_buffer(&blob, repo, text, strlen(text));
	if (rc == 0)
		rc = git_treebuilder_new(&tb, repo, NULL);
	if (rc == 0)
		rc = git_treebuilder_insert(NULL, tb, "f", &blob,
					    GIT_FILEMODE_BLOB);
	if (rc == 0)
		rc = git_treebuilder_write(&tid, tb);
	if (rc == 0)
		rc = git_tree_lookup(&tree, repo, &tid);
	if (rc == 0)
		rc = git_signature_new(&sig, "t", "t@x", 1700000000, 0);
	if (rc == 0 && parent)
		rc = git_commit_lookup(&p, repo, parent);
	if (rc == 0)
		rc = git_commit_create(out, repo, NULL, sig, sig, NULL, text,
				       tree, p ? 1 : 0,
				       (const git_commit **)&p);
	git_commit_free(p);
	git_signature_free(sig);
	git_tree_free(tree);
	git_treebuilder_free(tb);
	return rc;
}

/* Move main from old (NULL: create it) to to. */
static int move_main(git_repository *repo, const git_oid *to,
		     const git_oid *old)
{
	git_reference *ref = NULL;
	int rc = old ? git_reference_create_matching(&ref, repo,
						     "refs/heads/main", to, 1,
						     old, "move") :
		       git_reference_create(&ref, repo, "refs/heads/main", to,
					    0, "create");

	git_reference_free(ref);
	return rc;
}

static int main_is(git_repository *repo, const git_oid *want)
{
	git_oid got;

	return git_reference_name_to_id(&got, repo, "refs/heads/main") == 0 &&
	       git_oid_equal(&got, want);
}

static int count_walk(git_repository *repo)
{
	git_revwalk *w = NULL;
	git_oid id;
	int n = 0;

	if (git_revwalk_new(&w, repo) < 0 ||
	    git_revwalk_push_ref(w, "refs/heads/main") < 0) {
		git_revwalk_free(w);
		return -1;
	}
	while (git_revwalk_next(&id, w) == 0)
		n++;
	git_revwalk_free(w);
	return n;
}

static int count_refs(git_repository *repo, const char *glob)
{
	git_reference_iterator *it = NULL;
	const char *name;
	int n = 0;

	if (git_reference_iterator_glob_new(&it, repo, glob) < 0)
		return -1;
	while (git_reference_next_name(&name, it) == 0)
		n++;
	git_reference_iterator_free(it);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/coffre-test-ledger-store.XXXXXX", path[256];
	git_repository *r1 = NULL, *r2 = NULL, *other = NULL;
	git_oid root, c1, c2, c2b;
	git_blob *blob = NULL;
	struct index *ix = NULL;
	git_reference *head = NULL;

	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP cannot make a temporary directory\n");
		return 0;
	}
	git_libgit2_init();
	snprintf(path, sizeof(path), "%s/index.db", dir);
	ok(index_open(&ix, path, 1) == 0, "an index");
	is_int(ledger_store_repo_open(&r1, ix, "s", 0), -ENOENT,
	       "no ledger for a space that has none, unless made");
	ok(ledger_store_repo_open(&r1, ix, "s", 1) == 0 &&
		   ledger_store_repo_open(&r2, ix, "s", 0) == 0,
	   "a ledger made, and opened by a second node");
	ok(git_reference_lookup(&head, r2, "HEAD") == 0 &&
		   git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
		   !strcmp(git_reference_symbolic_target(head),
			   "refs/heads/main"),
	   "its HEAD names main");
	git_reference_free(head);

	ok(commit_one(r1, "root\n", NULL, &root) == 0 &&
		   move_main(r1, &root, NULL) == 0,
	   "node 1 makes the first commit");
	ok(main_is(r2, &root), "node 2 sees it at once");
	is_int(git_blob_lookup(&blob, r2, &root), GIT_ENOTFOUND,
	       "a commit read as a blob is refused");
	git_blob_free(blob);
	blob = NULL;
	is_int(move_main(r2, &root, NULL), GIT_EEXISTS,
	       "creating main a second time is refused");

	/* Both nodes build on root; the first to move main wins. */
	ok(commit_one(r1, "one\n", &root, &c1) == 0 &&
		   commit_one(r2, "two\n", &root, &c2) == 0,
	   "both nodes commit on the same head");
	ok(move_main(r1, &c1, &root) == 0, "node 1 moves main first");
	is_int(move_main(r2, &c2, &root), GIT_EMODIFIED,
	       "node 2's move from the old head is refused");
	ok(main_is(r1, &c1) && main_is(r2, &c1),
	   "main names node 1's commit on both");
	ok(commit_one(r2, "two\n", &c1, &c2b) == 0 &&
		   move_main(r2, &c2b, &c1) == 0,
	   "node 2 applies again on the new head and moves main");
	is_int(count_walk(r1), 3, "no commit lost: root, one, two in line");

	{
		/* A signed commit reads back exactly what was signed, on
		 * another node: the signature header is parsed up to the
		 * end of the object, not beyond it. */
		static const char sig[] = "-----BEGIN SSH SIGNATURE-----\n"
					  "AAAA\n-----END SSH SIGNATURE-----";
		git_buf body = { 0 }, got_sig = { 0 }, got_body = { 0 };
		git_signature *who = NULL;
		git_commit *p = NULL;
		git_tree *tree = NULL;
		git_oid signed_id;
		int rc;

		rc = git_commit_lookup(&p, r1, &c2b);
		if (rc == 0)
			rc = git_commit_tree(&tree, p);
		if (rc == 0)
			rc = git_signature_new(&who, "t", "t@x", 1700000000, 0);
		if (rc == 0)
			rc = git_commit_create_buffer(&body, r1, who, who, NULL,
						      "signed\n", tree, 1,
						      (const git_commit **)&p);
		if (rc == 0)
			rc = git_commit_create_with_signature(
				&signed_id, r1, body.ptr, sig, "gpgsig");
		if (rc == 0)
			rc = git_commit_extract_signature(&got_sig, &got_body,
							  r2, &signed_id, NULL);
		ok(rc == 0 && got_sig.size == strlen(sig) &&
			   !memcmp(got_sig.ptr, sig, got_sig.size) &&
			   got_body.size == body.size &&
			   !memcmp(got_body.ptr, body.ptr, body.size),
		   "a signed commit gives back its signature and signed text");
		git_buf_dispose(&body);
		git_buf_dispose(&got_sig);
		git_buf_dispose(&got_body);
		git_signature_free(who);
		git_tree_free(tree);
		git_commit_free(p);
	}

	ok(git_reference_create(&head, r1, "refs/coffre/events", &root, 0,
				"x") == 0,
	   "a side ref");
	git_reference_free(head);
	is_int(count_refs(r2, "refs/heads/*"), 1, "a glob lists main alone");
	is_int(count_refs(r2, "refs/*"), 2, "refs/* lists both");

	ok(ledger_store_repo_open(&other, ix, "t", 1) == 0,
	   "a second space's ledger");
	{
		git_commit *c = NULL;

		ok(git_commit_lookup(&c, r1, &c1) == 0,
		   "the first space holds its commit");
		git_commit_free(c);
		c = NULL;

		is_int(git_commit_lookup(&c, other, &c1), GIT_ENOTFOUND,
		       "the second space does not see it");
		git_commit_free(c);
	}
	is_int(git_reference_lookup(&head, other, "refs/heads/main"),
	       GIT_ENOTFOUND, "nor its main");

	git_repository_free(other);
	git_repository_free(r2);
	git_repository_free(r1);
	index_free(ix);
	git_libgit2_shutdown();
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		diag("cannot clean %s", dir);
	return tap_done();
}
