/*
 * Kernel cache invalidations (page cache of a changed file, dentry of a
 * vanished name) sent from a thread of their own.  The notify calls write to
 * the FUSE device and may wait on the kernel, which may itself wait on one of
 * our handlers: calling them from a handler or under fs->lock could
 * deadlock, so handlers only queue here.
 */
#include "client/drive/fs_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fuse_lowlevel.h>
#include "common/err.h"
#include "common/log.h"

static void notif_push(struct fs *fs, uint64_t ino, uint64_t parent,
		       const char *name)
{
	struct notif *n;

	if (!fs->notify_started)
		return; /* the kernel has cached nothing yet */
	n = calloc(1, sizeof(*n));
	if (!n || (name && !(n->name = strdup(name)))) {
		free(n);
		return; /* best effort: the TTLs expire anyway */
	}
	n->ino = ino;
	n->parent = parent;
	pthread_mutex_lock(&fs->notify_lock);
	*fs->notify_tail = n;
	fs->notify_tail = &n->next;
	pthread_cond_signal(&fs->notify_cond);
	pthread_mutex_unlock(&fs->notify_lock);
}

void notify_inode(struct fs *fs, uint64_t ino)
{
	notif_push(fs, ino, 0, NULL);
}

void notify_entry(struct fs *fs, uint64_t parent, const char *name)
{
	notif_push(fs, 0, parent, name);
}

static void *notify_main(void *arg)
{
	struct fs *fs = arg;
	struct notif *n;

	pthread_mutex_lock(&fs->notify_lock);
	for (;;) {
		while (!fs->notify_head && !fs->notify_stop)
			pthread_cond_wait(&fs->notify_cond, &fs->notify_lock);
		n = fs->notify_head;
		if (!n)
			break; /* stopping and drained */
		fs->notify_head = n->next;
		if (!fs->notify_head)
			fs->notify_tail = &fs->notify_head;
		pthread_mutex_unlock(&fs->notify_lock);
		if (!fs->notify_stop) {
			int rc;

			if (n->parent)
				rc = fuse_lowlevel_notify_inval_entry(
					fs->se, n->parent, n->name,
					strlen(n->name));
			else
				rc = fuse_lowlevel_notify_inval_inode(
					fs->se, n->ino, 0, 0);
			if (rc < 0 && rc != -ENOENT)
				log_debug("invalidation failed: %s",
					  strerror(-rc));
		}
		free(n->name);
		free(n);
		pthread_mutex_lock(&fs->notify_lock);
	}
	pthread_mutex_unlock(&fs->notify_lock);
	return NULL;
}

int notify_start(struct fs *fs)
{
	int rc;

	fs->notify_tail = &fs->notify_head;
	rc = pthread_create(&fs->notify_thread, NULL, notify_main, fs);
	if (rc)
		return err_set(-rc, "cannot start the notifier: %s",
			       strerror(rc));
	fs->notify_started = 1;
	return 0;
}

void notify_stop(struct fs *fs)
{
	if (!fs->notify_started)
		return;
	pthread_mutex_lock(&fs->notify_lock);
	fs->notify_stop = 1;
	pthread_cond_signal(&fs->notify_cond);
	pthread_mutex_unlock(&fs->notify_lock);
	pthread_join(fs->notify_thread, NULL);
	fs->notify_started = 0;
}
