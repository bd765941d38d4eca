/*
 * The change feed of the drive: one thread long-polls
 * GET /v1/spaces/S/changes?since=HEAD (docs/protocol.md, "Change feed")
 * and, when another device (or this one) moves the space's head, lists
 * again the folders the server names and tells the kernel to drop what it
 * cached of them.  So a file deposited elsewhere shows here within a round
 * trip, without listing every folder every second.
 *
 * While the feed answers, listings are trusted for FS_FEED_TTL_MS (a
 * safety net); when it fails, fs->feed_ok drops and the drive falls back
 * to revalidating after FS_TTL_MS, as without a feed.  The server sends
 * paths only; the listings themselves come from the tree endpoint, which
 * applies the caller's rights.
 */
#include "client/drive/fs_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/store/transport.h"
#include "common/err.h"
#include "common/log.h"
#include "common/path.h"

#define FEED_POLL_S	 20 /* below the transport's 30 s low-speed abort */
#define FEED_BACKOFF_MAX 10000
#define FEED_PATHS_MAX	 1024

/* Sleep ms unless the feed is stopped meanwhile; 1 when stopped. */
static int feed_sleep(struct fs *fs, int ms)
{
	struct timespec until;
	int stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&fs->lock);
	while (!fs->feed_stop &&
	       pthread_cond_timedwait(&fs->feed_cond, &fs->lock, &until) == 0)
		;
	stop = fs->feed_stop;
	pthread_mutex_unlock(&fs->lock);
	return stop;
}

/* Mark every listed folder stale and drop the kernel's view of it
 * (fs->lock held). */
static void stale_all(struct fs *fs)
{
	struct node *n, *tmp;

	HASH_ITER(hh, fs->inodes, n, tmp)
	{
		if (n->kind != NODE_DIR || !n->listed)
			continue;
		n->listed_at_ms = 0;
		if (n->nlookup || n == fs->root)
			notify_inode(fs, n->ino);
	}
}

/* The node of a folder path if the tree holds it, referenced; no network
 * (fs->lock held). */
static struct node *find_dir(struct fs *fs, const char *path)
{
	struct node *cur = fs->root;
	char name[NAME_MAX_LEN + 1];
	const char *p = path;

	while (*p == '/')
		p++;
	while (*p && cur) {
		size_t len = strcspn(p, "/");

		if (len > NAME_MAX_LEN)
			return NULL;
		memcpy(name, p, len);
		name[len] = '\0';
		p += len;
		while (*p == '/')
			p++;
		cur = node_child(cur, name);
	}
	if (!cur || cur->kind != NODE_DIR)
		return NULL;
	node_ref(cur);
	return cur;
}

/* List changed folders again: only those this drive has listed (the
 * others will be listed fresh when first visited). */
static void apply_changes(struct fs *fs, json_t *changed)
{
	json_t *v;
	size_t i;

	json_array_foreach(changed, i, v)
	{
		struct node *d;
		int listed;

		if (i >= FEED_PATHS_MAX || !json_is_string(v))
			break;
		pthread_mutex_lock(&fs->lock);
		d = find_dir(fs, json_string_value(v));
		listed = d && d->listed;
		pthread_mutex_unlock(&fs->lock);
		if (!d)
			continue;
		if (listed && tree_revalidate(fs, d, 1) < 0)
			log_debug("change feed: listing '%s' again failed: %s",
				  json_string_value(v), err_msg());
		pthread_mutex_lock(&fs->lock);
		if (d->linked || d == fs->root)
			notify_inode(fs, d->ino);
		node_unref(fs, d);
		pthread_mutex_unlock(&fs->lock);
	}
}

/* One poll; 0 with *changed set when the head moved, -errno otherwise. */
static int feed_poll(struct fs *fs, char head[41], int *moved)
{
	char path[512];
	json_t *reply = NULL, *h, *changed;
	int rc;

	*moved = 0;
	if (head[0])
		snprintf(path, sizeof(path),
			 "/v1/spaces/%s/changes?since=%s&timeout=%d", fs->space,
			 head, FEED_POLL_S);
	else
		snprintf(path, sizeof(path), "/v1/spaces/%s/changes",
			 fs->space);
	rc = transport_json_poll(fs->t, path, &reply, &fs->feed_stop);
	if (rc < 0) {
		json_decref(reply);
		return rc;
	}
	h = json_object_get(reply, "head");
	changed = json_object_get(reply, "changed");
	if ((!json_is_null(h) &&
	     (!json_is_string(h) || json_string_length(h) != 40)) ||
	    !json_is_array(changed)) {
		json_decref(reply);
		return err_set(-EPROTO, "malformed change feed answer");
	}
	if (json_is_null(h)) {
		if (head[0]) /* the space went empty: unusual, list anew */
			*moved = 1;
		head[0] = '\0';
	} else if (strcmp(head, json_string_value(h))) {
		/* the first answer only sets the starting point: the mount
		 * listed the root just before */
		*moved = head[0] != '\0';
		memcpy(head, json_string_value(h), 41);
	}
	if (*moved) {
		if (json_is_true(json_object_get(reply, "all"))) {
			pthread_mutex_lock(&fs->lock);
			stale_all(fs);
			pthread_mutex_unlock(&fs->lock);
		} else {
			apply_changes(fs, changed);
		}
		quota_refresh(fs); /* another device may have deposited */
	}
	json_decref(reply);
	return 0;
}

static void *feed_main(void *arg)
{
	struct fs *fs = arg;
	char head[41] = "";
	int backoff = 500, was_down = 0;

	while (!__atomic_load_n(&fs->feed_stop, __ATOMIC_RELAXED)) {
		int64_t t0 = fs_now_ms();
		int moved = 0;
		int rc = feed_poll(fs, head, &moved);

		if (rc == -ECANCELED)
			break;
		if (rc < 0) {
			if (__atomic_exchange_n(&fs->feed_ok, 0,
						__ATOMIC_RELAXED))
				log_info(
					"change feed down (%s); listings are revalidated every %d ms",
					err_msg(), FS_TTL_MS);
			/* what changed meanwhile is unknown */
			head[0] = '\0';
			was_down = 1;
			pthread_mutex_lock(&fs->lock);
			stale_all(fs);
			if (!fs->offline_since_ms)
				fs->offline_since_ms = t0;
			pthread_mutex_unlock(&fs->lock);
			if (feed_sleep(fs, backoff))
				break;
			backoff = backoff * 2 > FEED_BACKOFF_MAX ?
					  FEED_BACKOFF_MAX :
					  backoff * 2;
			continue;
		}
		backoff = 500;
		if (was_down) {
			/* changes made before this first answer were never
			 * reported: list everything anew on next use */
			was_down = 0;
			pthread_mutex_lock(&fs->lock);
			stale_all(fs);
			fs->offline_since_ms = 0;
			pthread_mutex_unlock(&fs->lock);
		}
		if (!__atomic_exchange_n(&fs->feed_ok, 1, __ATOMIC_RELAXED))
			log_debug("change feed up");
		/* an answer without change that came at once (the server
		 * holds no more long polls): wait before asking again */
		if (!moved && head[0] && fs_now_ms() - t0 < 1000 &&
		    feed_sleep(fs, 2000))
			break;
	}
	__atomic_store_n(&fs->feed_ok, 0, __ATOMIC_RELAXED);
	return NULL;
}

int feed_start(struct fs *fs)
{
	int rc;

	if (getenv("COFFRE_NO_FEED")) /* tests of the fallback */
		return 0;
	rc = pthread_create(&fs->feed_thread, NULL, feed_main, fs);
	if (rc)
		return err_set(-rc, "cannot start the change feed: %s",
			       strerror(rc));
	fs->feed_started = 1;
	return 0;
}

void feed_stop(struct fs *fs)
{
	if (!fs->feed_started)
		return;
	pthread_mutex_lock(&fs->lock);
	__atomic_store_n(&fs->feed_stop, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&fs->feed_cond);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->feed_thread, NULL);
	fs->feed_started = 0;
}
