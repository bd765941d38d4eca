/*
 * E-signatures in the ledger (see ledger.h): their own ref, so signing a
 * version never rewrites the documents' history on main, yet every
 * signature is a signed, timestamped commit like any other, checked by
 * fsck and exported with proofs.  Written under the apply lock.
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

#define META_MAX 1024

int ledger_signature_add(struct ledger *lg, const char *doc_id,
			 uint64_t version, const struct ledger_signature *s)
{
	char base[160], p_cms[192], p_tsr[192], p_txt[192], meta[META_MAX],
		msg[256];
	git_tree_update upd[3];
	git_signature *who = NULL;
	git_commit *parent = NULL;
	git_tree *ptree = NULL, *tree = NULL;
	git_oid last, tree_id;
	git_repository *repo;
	struct ledger_write w;
	int rc, have_last;

	snprintf(base, sizeof(base), "%s/%llu/%s.%s", doc_id,
		 (unsigned long long)version, s->login, s->role);
	snprintf(p_cms, sizeof(p_cms), "%s.p7s", base);
	snprintf(p_tsr, sizeof(p_tsr), "%s.tsr", base);
	snprintf(p_txt, sizeof(p_txt), "%s.txt", base);
	snprintf(meta, sizeof(meta),
		 "login %s\nrole %s\nsigned-at %s\ncommit %s\n", s->login,
		 s->role, s->signed_at, s->commit);
	snprintf(msg, sizeof(msg),
		 "sign %s v%llu as %s\n\nCoffre-Op: sign\n"
		 "Coffre-Doc: %s %llu\nCoffre-Signer: %s %s\n",
		 doc_id, (unsigned long long)version, s->role, doc_id,
		 (unsigned long long)version, s->login, s->role);
	memset(upd, 0, sizeof(upd));
	for (int i = 0; i < 3; i++) {
		upd[i].action = GIT_TREE_UPDATE_UPSERT;
		upd[i].filemode = GIT_FILEMODE_BLOB;
	}
	upd[0].path = p_cms;
	upd[1].path = p_tsr;
	upd[2].path = p_txt;

	rc = ledger_write_begin(lg, &w);
	if (rc < 0)
		return rc;
	repo = lg->wrepo;
	rc = git_reference_name_to_id(&last, repo, LEDGER_SIGNATURES_REF);
	have_last = rc == 0;
	if (rc < 0 && rc != GIT_ENOTFOUND)
		goto git;
	if (have_last) {
		rc = git_commit_lookup(&parent, repo, &last);
		if (rc == 0)
			rc = git_commit_tree(&ptree, parent);
		if (rc < 0)
			goto git;
	}
	rc = git_blob_create_from_buffer(&upd[0].id, repo, s->cms, s->cms_len);
	if (rc == 0)
		rc = git_blob_create_from_buffer(&upd[1].id, repo, s->tsr,
						 s->tsr_len);
	if (rc == 0)
		rc = git_blob_create_from_buffer(&upd[2].id, repo, meta,
						 strlen(meta));
	/* The first signature: updates need a base tree. */
	if (rc == 0 && !ptree)
		rc = ledger_tree_single(repo, NULL, NULL, &ptree);
	if (rc == 0)
		rc = git_tree_create_updated(&tree_id, repo, ptree, 3, upd);
	if (rc == 0)
		rc = git_tree_lookup(&tree, repo, &tree_id);
	if (rc == 0)
		rc = git_signature_now(&who, LEDGER_SERVER_NAME,
				       LEDGER_SERVER_EMAIL);
	if (rc < 0)
		goto git;
	rc = ledger_side_commit(repo, LEDGER_SIGNATURES_REF, who, msg, tree,
				parent, &last, "coffre: sign",
				"cannot record the signature");
	goto out;
git:
	rc = ledger_git_err(rc, "cannot record the signature");
out:
	rc = ledger_write_end(lg, &w, rc);
	git_signature_free(who);
	git_tree_free(tree);
	git_tree_free(ptree);
	git_commit_free(parent);
	return rc;
}

/* Value of "key value" in a .txt, copied into out. */
static void meta_field(const char *text, size_t len, const char *key, char *out,
		       size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = text, *end = text + len, *e;

	out[0] = '\0';
	while (p < end) {
		e = memchr(p, '\n', (size_t)(end - p));
		if (!e)
			e = end;
		if ((size_t)(e - p) > klen && !strncmp(p, key, klen) &&
		    p[klen] == ' ') {
			snprintf(out, outlen, "%.*s", (int)(e - p - klen - 1),
				 p + klen + 1);
			return;
		}
		p = e + 1;
	}
}

static int blob_of(git_repository *repo, git_tree *dir, const char *name,
		   git_blob **out)
{
	const git_tree_entry *te = git_tree_entry_byname(dir, name);

	*out = NULL;
	if (!te || git_tree_entry_type(te) != GIT_OBJECT_BLOB)
		return -ENOENT;
	return git_blob_lookup(out, repo, git_tree_entry_id(te)) < 0 ? -EIO : 0;
}

static int list_dir(git_repository *repo, git_tree *dir, ledger_signature_cb cb,
		    void *arg)
{
	size_t n = git_tree_entrycount(dir);
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *name =
			git_tree_entry_name(git_tree_entry_byindex(dir, i));
		size_t len = strlen(name);
		char stem[160], leaf[192], login[80], role[32], at[40],
			commit[48];
		git_blob *cms = NULL, *tsr = NULL, *txt = NULL;
		struct ledger_signature s;

		if (len < 5 || strcmp(name + len - 4, ".txt") ||
		    len - 4 >= sizeof(stem))
			continue;
		snprintf(stem, sizeof(stem), "%.*s", (int)(len - 4), name);
		snprintf(leaf, sizeof(leaf), "%s.p7s", stem);
		rc = blob_of(repo, dir, leaf, &cms);
		snprintf(leaf, sizeof(leaf), "%s.tsr", stem);
		if (rc == 0)
			rc = blob_of(repo, dir, leaf, &tsr);
		if (rc == 0)
			rc = blob_of(repo, dir, name, &txt);
		if (rc == 0) {
			const char *t = git_blob_rawcontent(txt);
			size_t tl = (size_t)git_blob_rawsize(txt);

			meta_field(t, tl, "login", login, sizeof(login));
			meta_field(t, tl, "role", role, sizeof(role));
			meta_field(t, tl, "signed-at", at, sizeof(at));
			meta_field(t, tl, "commit", commit, sizeof(commit));
			s.login = login;
			s.role = role;
			s.signed_at = at;
			s.commit = commit;
			s.cms = git_blob_rawcontent(cms);
			s.cms_len = (size_t)git_blob_rawsize(cms);
			s.tsr = git_blob_rawcontent(tsr);
			s.tsr_len = (size_t)git_blob_rawsize(tsr);
			rc = cb(&s, arg);
		} else {
			rc = err_set(-EBADMSG, "signature '%s' is incomplete",
				     stem);
		}
		git_blob_free(cms);
		git_blob_free(tsr);
		git_blob_free(txt);
	}
	return rc;
}

int ledger_signatures_list(struct ledger *lg, const char *doc_id,
			   uint64_t version, ledger_signature_cb cb, void *arg)
{
	git_repository *repo;
	git_commit *c = NULL;
	git_tree *root = NULL, *dir = NULL;
	git_tree_entry *te = NULL;
	char path[96];
	git_oid id;
	int rc;

	snprintf(path, sizeof(path), "%s/%llu", doc_id,
		 (unsigned long long)version);
	rc = ledger_repo_get(lg, &repo);
	if (rc < 0)
		return rc;
	rc = git_reference_name_to_id(&id, repo, LEDGER_SIGNATURES_REF);
	if (rc == GIT_ENOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc == 0)
		rc = git_commit_lookup(&c, repo, &id);
	if (rc == 0)
		rc = git_commit_tree(&root, c);
	if (rc == 0) {
		rc = git_tree_entry_bypath(&te, root, path);
		if (rc == GIT_ENOTFOUND) {
			rc = 0;
			goto out;
		}
	}
	if (rc == 0)
		rc = git_tree_lookup(&dir, repo, git_tree_entry_id(te));
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot read the signatures");
		goto out;
	}
	rc = list_dir(repo, dir, cb, arg);
out:
	git_tree_entry_free(te);
	git_tree_free(dir);
	git_tree_free(root);
	git_commit_free(c);
	ledger_repo_put(lg, repo);
	return rc;
}
