/*
 * The drive's deposit decisions (see deposit_rules.h): pure functions over
 * the facts the callers gather.
 */
#include "client/drive/deposit_rules.h"

#include <errno.h>
#include <string.h>

static int all_of(const char *s, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (!s[i] || !strchr(set, s[i]))
			return 0;
	return 1;
}

static int ends_with(const char *s, size_t len, const char *tail)
{
	size_t t = strlen(tail);

	return len > t && !memcmp(s + len - t, tail, t);
}

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

int deposit_name_is_temp(const char *name)
{
	size_t len = name ? strlen(name) : 0;

	if (!len)
		return 0;
	/* vim: swap files (.swp, .swo ... and .swx, its probe), backups,
	 * the file it writes to test a folder */
	if (name[0] == '.' && len > 5 && !memcmp(name + len - 4, ".sw", 3) &&
	    name[len - 1] >= 'a' && name[len - 1] <= 'z')
		return 1;
	if (len > 1 && name[len - 1] == '~')
		return 1;
	if (!strcmp(name, "4913"))
		return 1;
	/* LibreOffice: lock files and the temporary file it renames */
	if (!strncmp(name, ".~lock.", 7) && name[len - 1] == '#')
		return 1;
	if (!strncmp(name, "lu", 2) && ends_with(name, len, ".tmp"))
		return 1;
	/* GIO (GNOME's g_file_replace) */
	if (!strncmp(name, ".goutputstream-", 15) && len > 15)
		return 1;
	/* sed -i */
	if (len == 9 && !strncmp(name, "sed", 3) && all_of(name + 3, 6, ALNUM))
		return 1;
	/* Python's tempfile */
	if (len == 11 && !strncmp(name, "tmp", 3) &&
	    all_of(name + 3, 8, "abcdefghijklmnopqrstuvwxyz0123456789_"))
		return 1;
	/* rsync: .NAME.XXXXXX */
	if (name[0] == '.' && len > 8 && name[len - 7] == '.' &&
	    all_of(name + len - 6, 6, ALNUM))
		return 1;
	/* generic: NAME.tmp, NAME.part, Emacs' #NAME# */
	if (ends_with(name, len, ".tmp") || ends_with(name, len, ".part"))
		return 1;
	if (len > 2 && name[0] == '#' && name[len - 1] == '#')
		return 1;
	return 0;
}

enum deposit_close deposit_on_close(int linked, int changed, int write_failed)
{
	if (write_failed)
		return DEPOSIT_CLOSE_TORN;
	if (!linked || !changed)
		return DEPOSIT_CLOSE_NONE;
	return DEPOSIT_CLOSE_QUEUE;
}

enum deposit_cow deposit_cow(int has_staging, int sealed, int trunc)
{
	if (trunc && (!has_staging || sealed))
		return DEPOSIT_COW_FRESH;
	if (!has_staging)
		return DEPOSIT_COW_NEW;
	if (sealed)
		return DEPOSIT_COW_CLONE;
	return DEPOSIT_COW_IN_PLACE;
}

enum deposit_removal deposit_on_remove(int temp_name, int has_remote,
				       int queued_deposits, int any_inflight)
{
	if (temp_name && !has_remote && queued_deposits && !any_inflight)
		return DEPOSIT_REMOVAL_DROP;
	if (has_remote || queued_deposits)
		return DEPOSIT_REMOVAL_QUEUE;
	return DEPOSIT_REMOVAL_NOTHING;
}

enum deposit_replay_move deposit_replay_move(int src_found, int src_dir,
					     int target, int target_empty)
{
	if (!src_found)
		return DEPOSIT_REPLAY_SKIP;
	if (target == 0)
		return DEPOSIT_REPLAY_MOVE;
	/* what rename(2) would have allowed when it returned 0 */
	if (target == 1 && !src_dir)
		return DEPOSIT_REPLAY_REPLACE;
	if (target == 2 && src_dir && target_empty)
		return DEPOSIT_REPLAY_REPLACE;
	return DEPOSIT_REPLAY_SKIP;
}

int deposit_transient(int rc)
{
	switch (rc) {
	case -EINVAL:
	case -EEXIST:
	case -EACCES:
	case -ENOENT:
	case -EBADMSG:
	case -ENAMETOOLONG:
	case -ENOTDIR:
	case -EISDIR:
	case -ENOTEMPTY:
		return 0;
	default:
		return 1;
	}
}

enum deposit_outcome deposit_outcome(int rc, int local, int bad, unsigned n)
{
	if (rc == 0)
		return DEPOSIT_OUTCOME_APPLIED;
	if (local && bad >= 0)
		return DEPOSIT_OUTCOME_LOST;
	if (rc == -E2BIG && bad < 0 && n > 1)
		return DEPOSIT_OUTCOME_HALVE;
	if (local || deposit_transient(rc))
		return DEPOSIT_OUTCOME_RETRY;
	return DEPOSIT_OUTCOME_REFUSED;
}

uint64_t deposit_pending_version(uint64_t current, unsigned place)
{
	uint64_t v;

	if (!place || __builtin_add_overflow(current, (uint64_t)place, &v))
		return 0;
	return v;
}

enum deposit_meta deposit_on_meta(int waiting, unsigned writers, int known)
{
	/* a waiting deposit is sent with the metadata it holds when it
	 * leaves, so rewriting it makes no extra version (rsync -X and
	 * cp -a set attributes right after the close) */
	if (waiting)
		return DEPOSIT_META_REWRITE;
	/* never a version of content still being written */
	if (writers)
		return DEPOSIT_META_ON_CLOSE;
	return known ? DEPOSIT_META_QUEUE : DEPOSIT_META_KEEP;
}
