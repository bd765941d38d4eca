/* Making a space: see space_create.h. */
#include "server/space_create.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "server/access.h"
#include "server/ledger.h"
#include "server/space_plan.h"
#include "server/spaces.h"

int space_kind_check(const char *kind)
{
	if (kind && (!strcmp(kind, "private") || !strcmp(kind, "company") ||
		     !strcmp(kind, "association")))
		return 0;
	return err_set(
		-EINVAL,
		"space kind '%s' must be private, company or association",
		kind ? kind : "");
}

/* The first commit: the owner's membership in .coffre-access. */
static int access_init(struct ledger *lg, const char *space, const char *owner)
{
	char text[128], msg[256];

	snprintf(text, sizeof(text), "coffre-access 1\nmember %s owner\n",
		 owner);
	snprintf(msg, sizeof(msg),
		 "member %s owner\n\nCoffre-Op: member %s owner\n", owner,
		 owner);
	return access_ledger_write(lg, space, owner, text, msg);
}

/* The transaction that makes a shared space: -EEXIST when it exists. */
static int shared_begin(struct index *ix, struct index_txn **tx,
			const char *space)
{
	struct ledger_where w = { .ix = ix, .space = space };
	struct ledger *lg = NULL;
	int rc = index_begin_locked(ix, space, tx);

	if (rc == 0) {
		rc = ledger_open_at(&lg, &w, 0);
		ledger_free(lg);
		rc = rc == 0 ? err_set(-EEXIST, "space '%s' already exists",
				       space) :
		     rc == -ENOENT ? 0 :
				     rc;
	}
	if (rc < 0 && *tx) {
		index_rollback(ix, *tx);
		*tx = NULL;
	}
	return rc;
}

int space_create(const char *datadir, struct index *ix, const char *space,
		 const char *owner, const char *kind, const struct plan *p,
		 const struct crypto_key *master)
{
	struct crypto_key key = { 0 };
	char dir[PATH_MAX], path[PATH_MAX], why[512];
	struct index_txn *tx = NULL;
	struct ledger_where where;
	struct ledger *lg = NULL;
	int rc;

	rc = space_kind_check(kind);
	if (rc < 0)
		return rc;
	rc = index_user_exists(ix, owner);
	if (rc == 0)
		rc = err_set(-ENOENT, "no user '%s'", owner);
	if (rc < 0)
		return rc;
	rc = space_dir_path(dir, sizeof(dir), datadir, space, NULL);
	if (rc < 0)
		return rc;
	/* mkdir is the lock: two concurrent creations cannot both pass it. */
	if (mkdir(dir, 0700) < 0) {
		rc = -errno;
		if (rc == -EEXIST)
			return err_set(rc, "space '%s' already exists", space);
		return err_set(rc, "cannot create '%s': %s", dir,
			       strerror(-rc));
	}
	/*
	 * A ledger in the index is made in one transaction holding the
	 * space's lock, with the space's row: a node making the same space
	 * at the same moment finds it made, and a failure leaves nothing.
	 */
	rc = space_ledger_where(&where, path, sizeof(path), datadir, ix, space);
	if (!rc && !where.path)
		rc = shared_begin(ix, &tx, space);
	if (!rc)
		rc = ledger_open_at(&lg, &where, 1);
	if (!rc)
		rc = access_init(lg, space, owner);
	if (!rc)
		rc = space_plan_apply(lg, space, owner, kind, p);
	ledger_free(lg);
	if (!rc)
		rc = space_dir_path(path, sizeof(path), datadir, space,
				    SPACE_CHUNKS_NAME);
	if (!rc) {
		rc = mkdir_p(path, 0700);
		if (rc < 0)
			rc = err_set(rc, "cannot create '%s': %s", path,
				     strerror(-rc));
	}
	/* Its own chunk key, before any chunk: destroying it shreds them. */
	if (!rc)
		rc = crypto_key_new_random(&key);
	if (!rc)
		rc = space_key_save(datadir, ix, space, master, &key);
	crypto_key_release(&key);
	if (!rc)
		rc = fsync_dir(dir);
	if (!rc)
		rc = index_space_add(ix, space, kind, owner,
				     (int64_t)time(NULL));
	if (!rc && tx)
		rc = index_commit(ix, tx);
	else if (tx)
		index_rollback(ix, tx);
	if (!rc) {
		space_plan_journal(ix, space, owner, p);
		return 0;
	}
	/* Only what this call created: the new space directory. */
	snprintf(why, sizeof(why), "%s", err_msg());
	rm_rf(dir);
	return err_set(rc, "%s", why);
}
