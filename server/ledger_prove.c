/*
 * Provable ledger commits: each commit is signed (a "gpgsig" header in the
 * SSH signature format, so stock `git verify-commit` checks it with
 * gpg.format=ssh) and gets an RFC 3161 timestamp token in the notes ref
 * refs/notes/timestamps.  The keys live in server/keys.c; the ledger only
 * sees the two callbacks of struct ledger_prover, so it stays testable
 * without them.
 *
 * The note is written before the head moves to the commit: a crash between
 * the two leaves a note on an unreferenced commit (harmless), never a
 * current commit without its token.
 *
 * NEEDSWORK: libgit2 keeps the notes tree flat (no fanout), so each note
 * rewrites a tree with one entry per commit: fine for tens of thousands
 * of commits, a cost to watch beyond.  Fanned-out note paths (as git's
 * own notes code does past 256 notes) would bound it.
 */
#include "server/ledger.h"

#include <errno.h>
#include <string.h>

#include <git2.h>
#include <git2/sys/commit.h>

#include "common/buf.h"
#include "common/err.h"
#include "server/ledger_i.h"

#define SIG_CAP	  (16u * 1024u)
#define TOKEN_CAP (128u * 1024u)

static struct ledger_prover prover;
static int have_prover;

void ledger_set_prover(const struct ledger_prover *p)
{
	if (p) {
		prover = *p;
		have_prover = 1;
	} else {
		memset(&prover, 0, sizeof(prover));
		have_prover = 0;
	}
}

int ledger_commit_create(git_oid *out, git_repository *repo,
			 const git_signature *author,
			 const git_signature *committer, const char *msg,
			 const git_tree *tree, size_t nparents,
			 const git_commit **parents)
{
	git_buf content = { 0 };
	struct buf sig;
	int rc;

	if (!have_prover || !prover.sign) {
		rc = git_commit_create(out, repo, NULL, author, committer, NULL,
				       msg, tree, nparents, parents);
		return rc < 0 ? ledger_git_err(rc, "cannot write the commit") :
				0;
	}
	rc = git_commit_create_buffer(&content, repo, author, committer, NULL,
				      msg, tree, nparents, parents);
	if (rc < 0)
		return ledger_git_err(rc, "cannot build the commit");
	buf_init(&sig, SIG_CAP);
	rc = prover.sign(prover.arg, content.ptr, content.size, &sig);
	if (rc == 0) {
		rc = git_commit_create_with_signature(out, repo, content.ptr,
						      sig.data, "gpgsig");
		if (rc < 0)
			rc = ledger_git_err(rc,
					    "cannot write the signed commit");
	}
	buf_release(&sig);
	git_buf_dispose(&content);
	return rc;
}

int ledger_commit_stamp(git_repository *repo, const git_oid *commit)
{
	git_signature *who = NULL;
	git_odb_object *obj = NULL;
	git_odb *odb = NULL;
	git_oid note;
	struct buf token;
	int rc;

	if (!have_prover || !prover.stamp)
		return 0;
	buf_init(&token, TOKEN_CAP);
	rc = git_repository_odb(&odb, repo);
	if (rc == 0)
		rc = git_odb_read(&obj, odb, commit);
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot read the commit to stamp");
		goto out;
	}
	/* The token covers exactly what `git cat-file commit C` prints. */
	rc = prover.stamp(prover.arg, git_odb_object_data(obj),
			  git_odb_object_size(obj), &token);
	if (rc < 0)
		goto out;
	rc = git_signature_now(&who, LEDGER_SERVER_NAME, LEDGER_SERVER_EMAIL);
	if (rc == 0)
		rc = git_note_create(&note, repo, LEDGER_NOTES_TIMESTAMPS, who,
				     who, commit, token.data, 1);
	if (rc < 0)
		rc = ledger_git_err(rc, "cannot write the timestamp note");
out:
	git_signature_free(who);
	git_odb_object_free(obj);
	git_odb_free(odb);
	buf_release(&token);
	return rc;
}
