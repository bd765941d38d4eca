/*
 * The ledger side of access changes: one commit that replaces the root
 * ".coffre-access" blob, or the ".coffre-folder" blob of one folder, and
 * nothing else.  It takes the ledger's apply lock like a batch does, so it
 * never races one; the batch code notices the moved head and reads its
 * tree again.  Commits are made (and signed, when a prover is installed)
 * by the same ledger_commit_create() as batches.
 */
#include "server/access.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "common/buf.h"
#include "common/err.h"
#include "server/ledger_i.h"

/* Build the new root tree from the head's with upd applied, commit it. */
static int commit_update(struct ledger *lg, const char *space, const char *by,
			 const char *folder, const git_tree_update *upd,
			 size_t nupd, const char *msg)
{
	git_signature *author = NULL, *committer = NULL;
	git_commit *parent = NULL;
	git_tree *ptree = NULL, *tree = NULL;
	git_tree_entry *te = NULL;
	git_reference *ref = NULL;
	git_repository *repo = lg->wrepo;
	git_oid head, tree_id, commit;
	char *email = NULL;
	int rc;

	if (asprintf(&email, "%s@%s.coffre", by, space) < 0)
		return -ENOMEM;
	rc = ledger_head_oid(repo, &head);
	if (rc < 0)
		goto out;
	rc = git_commit_lookup(&parent, repo, &head);
	if (rc == 0)
		rc = git_commit_tree(&ptree, parent);
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot read the head");
		goto out;
	}
	if (folder && *folder) {
		rc = git_tree_entry_bypath(&te, ptree, folder);
		if (rc < 0 || git_tree_entry_type(te) != GIT_OBJECT_TREE) {
			rc = err_set(-ENOENT, "no such folder '/%s'", folder);
			goto out;
		}
	}
	rc = nupd ? git_tree_create_updated(&tree_id, repo, ptree, nupd, upd) :
		    (tree_id = *git_tree_id(ptree), 0);
	if (rc == 0)
		rc = git_tree_lookup(&tree, repo, &tree_id);
	if (rc == 0)
		rc = git_signature_now(&author, by, email);
	if (rc == 0)
		rc = git_signature_now(&committer, LEDGER_SERVER_NAME,
				       LEDGER_SERVER_EMAIL);
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot write the access change");
		goto out;
	}
	rc = ledger_commit_create(&commit, repo, author, committer, msg, tree,
				  1, (const git_commit **)&parent);
	if (rc == 0)
		rc = ledger_commit_stamp(repo, &commit);
	if (rc < 0)
		goto out;
	rc = git_reference_create_matching(&ref, repo, LEDGER_REF, &commit, 1,
					   &head, "coffre: access");
	if (rc < 0)
		rc = ledger_git_err(rc, "cannot move the ledger head");
out:
	git_reference_free(ref);
	git_tree_entry_free(te);
	git_signature_free(author);
	git_signature_free(committer);
	git_tree_free(tree);
	git_tree_free(ptree);
	git_commit_free(parent);
	free(email);
	return rc;
}

int access_ledger_write(struct ledger *lg, const char *space, const char *by,
			const char *text, const char *msg)
{
	git_tree_update upd = { .action = GIT_TREE_UPDATE_UPSERT,
				.filemode = GIT_FILEMODE_BLOB,
				.path = ACCESS_FILE_NAME };
	struct ledger_write w;
	int rc;

	rc = ledger_write_begin(lg, &w);
	if (rc < 0)
		return rc;
	rc = git_blob_create_from_buffer(&upd.id, lg->wrepo, text,
					 strlen(text));
	if (rc < 0)
		rc = ledger_git_err(rc, "cannot write the access blob");
	else
		rc = commit_update(lg, space, by, NULL, &upd, 1, msg);
	return ledger_write_end(lg, &w, rc);
}

int access_ledger_note(struct ledger *lg, const char *space, const char *by,
		       const char *msg)
{
	struct ledger_write w;
	int rc;

	rc = ledger_write_begin(lg, &w);
	if (rc < 0)
		return rc;
	rc = commit_update(lg, space, by, NULL, NULL, 0, msg);
	return ledger_write_end(lg, &w, rc);
}

/* Folder ip's metadata at the head; -ENOENT (fm the default) when the
 * head has no such folder, which commit_update then refuses. */
static int folder_meta_now(struct ledger *lg, const char *ip,
			   struct folder_meta *fm)
{
	git_commit *head = NULL;
	git_tree *root = NULL;
	git_oid id;
	int rc;

	*fm = (struct folder_meta){ .class = FOLDER_CLASS_RESTRICTED };
	rc = ledger_head_oid(lg->wrepo, &id);
	if (rc == 0 && git_commit_lookup(&head, lg->wrepo, &id) < 0)
		rc = ledger_git_err(-1, "cannot read the head");
	if (rc == 0 && git_commit_tree(&root, head) < 0)
		rc = ledger_git_err(-1, "cannot read the head tree");
	if (rc == 0)
		rc = ledger_folder_meta_at(lg->wrepo, root, ip, fm);
	git_tree_free(root);
	git_commit_free(head);
	return rc;
}

int access_ledger_class(struct ledger *lg, const char *space, const char *by,
			const char *path, enum folder_class class,
			const char *msg)
{
	git_tree_update upd = { .action = GIT_TREE_UPDATE_UPSERT,
				.filemode = GIT_FILEMODE_BLOB };
	const char *ip = path + 1; /* a valid path starts with '/' */
	struct folder_meta fm;
	struct ledger_write w;
	char *meta = NULL;
	int rc;

	if (asprintf(&meta, "%s%s%s", ip, *ip ? "/" : "", FOLDER_META_NAME) < 0)
		return -ENOMEM;
	upd.path = meta;
	rc = ledger_write_begin(lg, &w);
	if (rc < 0)
		goto out;
	/* the folder keeps its mode bits: only the class changes */
	rc = folder_meta_now(lg, ip, &fm);
	fm.class = class;
	if (rc == 0 || rc == -ENOENT)
		rc = ledger_folder_meta_blob(lg->wrepo, &fm, &upd.id);
	if (rc == 0)
		rc = commit_update(lg, space, by, ip, &upd, 1, msg);
	rc = ledger_write_end(lg, &w, rc);
out:
	free(meta);
	return rc;
}

int access_ledger_read(struct ledger *lg, struct buf *out)
{
	git_repository *repo = NULL;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	git_blob *blob = NULL;
	const git_tree_entry *te;
	git_oid head;
	int rc;

	rc = ledger_repo_get(lg, &repo);
	if (rc < 0)
		return rc;
	rc = ledger_head_oid(repo, &head);
	if (rc < 0)
		goto out;
	rc = git_commit_lookup(&commit, repo, &head);
	if (rc == 0)
		rc = git_commit_tree(&tree, commit);
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot read the head");
		goto out;
	}
	te = git_tree_entry_byname(tree, ACCESS_FILE_NAME);
	if (!te || git_tree_entry_type(te) != GIT_OBJECT_BLOB) {
		rc = err_set(-ENOENT, "no %s in the ledger", ACCESS_FILE_NAME);
		goto out;
	}
	rc = git_blob_lookup(&blob, repo, git_tree_entry_id(te));
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot read " ACCESS_FILE_NAME);
		goto out;
	}
	rc = buf_append(out, git_blob_rawcontent(blob),
			(size_t)git_blob_rawsize(blob));
	if (rc < 0)
		rc = err_set(rc, "%s too large", ACCESS_FILE_NAME);
out:
	git_blob_free(blob);
	git_tree_free(tree);
	git_commit_free(commit);
	ledger_repo_put(lg, repo);
	return rc;
}
