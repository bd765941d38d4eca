/*
 * Anchors of the event journal in the ledger.  The journal (reads, logins,
 * failed accesses: events.h) lives in the index as a hash chain; a chain
 * alone cannot show that its tail was cut off or that it was rebuilt
 * whole.  So its head ("seq N" and the row's hash) is committed, signed
 * and timestamped like every ledger commit, on a ref of its own
 * (refs/coffre/events) that never touches the documents' tree on main.
 *
 * Written under the apply lock, so anchors and batches never race on the
 * repository handle or the notes ref.
 */
#include "server/ledger.h"

#include <errno.h>
#include <string.h>

#include <git2.h>

#include "common/err.h"
#include "server/ledger_i.h"

#define ANCHOR_BLOB "events"

/* 1 when the last anchor already says text. */
static int same_as_last(git_repository *repo, git_commit *last,
			const char *text)
{
	git_tree *tree = NULL;
	git_blob *blob = NULL;
	const git_tree_entry *te;
	int same = 0;

	if (git_commit_tree(&tree, last) < 0)
		return 0;
	te = git_tree_entry_byname(tree, ANCHOR_BLOB);
	if (te && git_blob_lookup(&blob, repo, git_tree_entry_id(te)) == 0)
		same = (size_t)git_blob_rawsize(blob) == strlen(text) &&
		       !memcmp(git_blob_rawcontent(blob), text, strlen(text));
	git_blob_free(blob);
	git_tree_free(tree);
	return same;
}

int ledger_anchor(struct ledger *lg, const char *text, int *written)
{
	git_signature *sig = NULL;
	git_commit *parent = NULL;
	git_tree *tree = NULL;
	git_oid blob, last;
	struct ledger_write w;
	git_repository *repo;
	int rc, have_last;

	if (written)
		*written = 0;
	rc = ledger_write_begin(lg, &w);
	if (rc < 0)
		return rc;
	repo = lg->wrepo;
	rc = git_reference_name_to_id(&last, repo, LEDGER_ANCHOR_REF);
	have_last = rc == 0;
	if (rc < 0 && rc != GIT_ENOTFOUND) {
		rc = ledger_git_err(rc, "cannot read the event anchor");
		goto out;
	}
	if (have_last && (rc = git_commit_lookup(&parent, repo, &last)) < 0) {
		rc = ledger_git_err(rc, "cannot read the event anchor");
		goto out;
	}
	if (have_last && same_as_last(repo, parent, text)) {
		rc = 0;
		goto out;
	}
	rc = git_blob_create_from_buffer(&blob, repo, text, strlen(text));
	if (rc == 0)
		rc = ledger_tree_single(repo, ANCHOR_BLOB, &blob, &tree);
	if (rc == 0)
		rc = git_signature_now(&sig, LEDGER_SERVER_NAME,
				       LEDGER_SERVER_EMAIL);
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot write the event anchor");
		goto out;
	}
	rc = ledger_side_commit(repo, LEDGER_ANCHOR_REF, sig,
				"anchor the event journal\n", tree, parent,
				&last, "coffre: anchor",
				"cannot move the event anchor");
	if (rc == 0 && written)
		*written = 1;
out:
	rc = ledger_write_end(lg, &w, rc);
	if (rc < 0 && written)
		*written = 0;
	git_signature_free(sig);
	git_tree_free(tree);
	git_commit_free(parent);
	return rc;
}
