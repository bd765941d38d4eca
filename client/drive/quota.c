/*
 * The space's quota on the drive (quota.h): what the server said of the
 * space's usage, and the check the write path makes before a byte is
 * staged.  The server has the last word: a deposit it refuses for the
 * quota (another device filled the space) stays queued and is held, and
 * sent again until the quota is raised (sync.c).  The rule itself is
 * quota_rule.c.
 */
#include "client/drive/quota.h"
#include "client/drive/fs_i.h"

#include <errno.h>
#include <stdio.h>

#include "client/store/transport.h"
#include "common/err.h"
#include "common/log.h"

int quota_refresh(struct fs *fs)
{
	char path[256];
	json_t *reply = NULL, *q;
	json_int_t bytes;
	int rc;

	snprintf(path, sizeof(path), "/v1/spaces/%s/usage", fs->space);
	rc = transport_json(fs->t, "GET", path, NULL, &reply);
	if (rc == 0) {
		bytes = json_integer_value(json_object_get(reply, "bytes"));
		q = json_object_get(reply, "quota");
		if (!json_is_integer(json_object_get(reply, "bytes")) ||
		    bytes < 0 || (!json_is_null(q) && !json_is_integer(q)) ||
		    (json_is_integer(q) && json_integer_value(q) < 0))
			rc = err_set(-EPROTO, "malformed usage of space '%s'",
				     fs->space);
	}
	if (rc == 0) {
		pthread_mutex_lock(&fs->lock);
		fs->quota.known = 1;
		fs->quota.bytes = (uint64_t)bytes;
		fs->quota.limit = json_is_integer(q) ?
					  (uint64_t)json_integer_value(q) :
					  0;
		fs->quota.read_ms = fs_now_ms();
		pthread_mutex_unlock(&fs->lock);
	} else {
		/* an older server without usage, or offline: the server's
		 * own check still holds; not asked again before
		 * QUOTA_STALE_MS, so an offline drive's writes do not wait
		 * on the network */
		log_debug("usage of '%s' not read: %s", fs->space, err_msg());
		pthread_mutex_lock(&fs->lock);
		fs->quota.read_ms = fs_now_ms();
		pthread_mutex_unlock(&fs->lock);
	}
	json_decref(reply);
	return rc;
}

/* A reading older than this is read again before a write is refused: the
 * quota may have been raised since (it makes no change to the feed).  Short:
 * a refusal is rare, and the bound only spares the server a program that
 * writes on after EDQUOT. */
#define QUOTA_FRESH_MS 200
/* A reading older than this is read again before any write: a quota set
 * while nothing was committed reaches the drive within that time. */
#define QUOTA_STALE_MS 10000

static int check_once(struct fs *fs, struct node *n, uint64_t end,
		      int64_t *read_ms)
{
	uint64_t queued = 0, add = 1, have, base, stored, limit;
	struct pend *p, *tmp;
	int rc;

	pthread_mutex_lock(&fs->lock);
	*read_ms = fs->quota.read_ms;
	if (!fs->quota.known || !fs->quota.limit) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	/* NEEDSWORK: one pass over the queue per write; a running sum kept
	 * by pending.c would make it constant */
	HASH_ITER(hh, fs->pends, p, tmp)
	if (p->op.kind == QUEUE_DEPOSIT)
		queued += p->lsize;
	if (n) {
		/* this file's content once written, beyond the version the
		 * server holds of it (a create: one byte, the room a new
		 * file needs to hold anything) */
		have = n->lsize > end ? n->lsize : end;
		base = n->has_remote ? n->rm.size : 0;
		add = have > base ? have - base : 0;
	}
	stored = fs->quota.bytes;
	limit = fs->quota.limit;
	pthread_mutex_unlock(&fs->lock);
	rc = quota_decide(stored, limit, queued, add);
	if (rc < 0)
		return err_set(
			rc,
			"quota of space '%s' exceeded: %llu bytes stored + %llu queued + %llu of this file would pass %llu",
			fs->space, (unsigned long long)stored,
			(unsigned long long)queued, (unsigned long long)add,
			(unsigned long long)limit);
	return 0;
}

int quota_write_check(struct fs *fs, struct node *n, uint64_t end)
{
	int64_t read_ms;
	int rc;

	pthread_mutex_lock(&fs->lock);
	read_ms = fs->quota.read_ms;
	pthread_mutex_unlock(&fs->lock);
	if (fs_now_ms() - read_ms > QUOTA_STALE_MS)
		quota_refresh(fs);
	rc = check_once(fs, n, end, &read_ms);

	if (rc == -EDQUOT && fs_now_ms() - read_ms > QUOTA_FRESH_MS &&
	    quota_refresh(fs) == 0)
		rc = check_once(fs, n, end, &read_ms);
	return rc;
}
