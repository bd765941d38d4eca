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

int space_create(const char *datadir, struct index *ix, const char *space,
		 const char *owner, const char *kind, const struct plan *p,
		 const struct crypto_key *master)
{
	struct crypto_key key = { 0 };
	char dir[PATH_MAX], path[PATH_MAX], why[512];
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
	rc = space_dir_path(path, sizeof(path), datadir, space,
			    SPACE_LEDGER_NAME);
	if (!rc)
		rc = ledger_open(&lg, path, 1);
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
		rc = space_key_save(datadir, space, master, &key);
	crypto_key_release(&key);
	if (!rc)
		rc = fsync_dir(dir);
	if (!rc)
		rc = index_space_add(ix, space, kind, owner,
				     (int64_t)time(NULL));
	if (!rc) {
		space_plan_journal(ix, space, owner, p);
		return 0;
	}
	/* Only what this call created: the new space directory. */
	snprintf(why, sizeof(why), "%s", err_msg());
	rm_rf(dir);
	return err_set(rc, "%s", why);
}
