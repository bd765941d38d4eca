/*
 * A space's ledger copied out, as it is now, to a new bare git repository
 * (ledger.h, ledger_clone): every object and every ref, whatever the
 * ledger lives in.  A ledger kept in the index (ledger = index) has no
 * folder that stock git could read; its copy is one, so `git log`, `git
 * fsck` and `git verify-commit` work on it as on a ledger of the default
 * kind.  The copy is not the ledger: nothing written to it goes back.
 */
#include "server/ledger.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <git2.h>

#include "common/err.h"
#include "common/fsutil.h"
#include "server/ledger_i.h"

struct copy {
	git_odb *from, *to;
	int rc;
};

static int copy_object(const git_oid *id, void *arg)
{
	struct copy *c = arg;
	git_odb_object *o = NULL;
	git_oid written;
	char want[GIT_OID_HEXSZ + 1], got[GIT_OID_HEXSZ + 1];
	int grc = git_odb_read(&o, c->from, id);

	if (grc == 0)
		grc = git_odb_write(&written, c->to, git_odb_object_data(o),
				    git_odb_object_size(o),
				    git_odb_object_type(o));
	if (grc == 0 && !git_oid_equal(&written, id))
		c->rc = err_set(-EIO, "ledger copy: object %s written as %s",
				git_oid_tostr(want, sizeof(want), id),
				git_oid_tostr(got, sizeof(got), &written));
	else if (grc < 0)
		c->rc = ledger_git_err(grc, "ledger copy: an object");
	if (c->rc < 0) {
		git_odb_object_free(o);
		return -1;
	}
	git_odb_object_free(o);
	return 0;
}

static int copy_ref(git_reference *ref, void *arg)
{
	git_repository *to = arg;
	git_reference *made = NULL;
	int rc = 0;

	/* HEAD is set once every ref is there; the others are direct */
	if (git_reference_type(ref) == GIT_REFERENCE_DIRECT)
		rc = git_reference_create(&made, to, git_reference_name(ref),
					  git_reference_target(ref), 1,
					  "coffred space clone");
	git_reference_free(made);
	git_reference_free(ref);
	return rc;
}

int ledger_clone(const struct ledger_where *from, const char *dir)
{
	git_repository *src = NULL, *dst = NULL;
	git_reference *head = NULL;
	struct copy c = { 0 };
	struct stat st;
	int made = 0, rc;

	if (lstat(dir, &st) == 0)
		return err_set(-EEXIST,
			       "'%s' exists: the copy goes to a new folder",
			       dir);
	git_libgit2_init(); /* undone at out */
	rc = ledger_repo_open_at(&src, from);
	if (rc < 0)
		goto out;
	made = 1; /* dir was not there: whatever is there now is ours */
	if (git_repository_init(&dst, dir, 1) < 0) {
		rc = ledger_git_err(-1, "ledger copy: cannot make the folder");
		goto out;
	}
	if (git_repository_odb(&c.from, src) < 0 ||
	    git_repository_odb(&c.to, dst) < 0) {
		rc = ledger_git_err(-1, "ledger copy: the objects");
		goto out;
	}
	if (git_odb_foreach(c.from, copy_object, &c) < 0) {
		rc = c.rc ? c.rc :
			    ledger_git_err(-1, "ledger copy: the objects");
		goto out;
	}
	if (git_reference_foreach(src, copy_ref, dst) < 0) {
		rc = ledger_git_err(-1, "ledger copy: the refs");
		goto out;
	}
	/* HEAD names what the ledger's HEAD names (refs/heads/main) */
	if (git_reference_lookup(&head, src, "HEAD") == 0 &&
	    git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
	    git_repository_set_head(dst, git_reference_symbolic_target(head)) <
		    0) {
		rc = ledger_git_err(-1, "ledger copy: HEAD");
		goto out;
	}
out:
	git_reference_free(head);
	git_odb_free(c.from);
	git_odb_free(c.to);
	git_repository_free(dst);
	git_repository_free(src);
	if (rc < 0 && made) /* a half copy is no copy */
		rm_rf(dir);
	git_libgit2_shutdown();
	return rc;
}
