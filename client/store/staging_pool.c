/*
 * Staging pool (see staging_pool.h): a list of retired names waiting for
 * their file-system work and a bounded stack of free names, both under one
 * mutex that is never held across a system call.
 */
#include "client/store/staging_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "client/store/staging.h"

#include "common/crypto.h"
#include "common/err.h"
#include "common/log.h"

struct retired {
	char *name;
	int reuse;
};

struct staging_pool {
	pthread_mutex_t lock;
	int dirfd; /* the staging folder: unlinks resolve one name only */
	char *dir;
	/* protected by lock */
	struct retired *ret;
	size_t nret, aret;
	char (*free)[STAGING_POOL_NAME_MAX]; /* a stack: newest first out */
	size_t nfree, cap;
};

int staging_pool_new(struct staging_pool **out, const char *dir, size_t cap)
{
	struct staging_pool *sp = calloc(1, sizeof(*sp));
	int e;

	*out = NULL;
	if (!sp)
		return err_set(-ENOMEM, "out of memory for the staging pool");
	sp->dirfd = -1;
	sp->cap = cap;
	sp->dir = strdup(dir);
	sp->free = calloc(cap ? cap : 1, sizeof(*sp->free));
	if (!sp->dir || !sp->free) {
		staging_pool_free(sp);
		return err_set(-ENOMEM, "out of memory for the staging pool");
	}
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0) {
		e = errno;
		staging_pool_free(sp);
		return err_set(-e, "cannot open '%s': %s", dir, strerror(e));
	}
	pthread_mutex_init(&sp->lock, NULL);
	*out = sp;
	return 0;
}

static void pool_unlink(struct staging_pool *sp, const char *name)
{
	if (unlinkat(sp->dirfd, name, 0) < 0 && errno != ENOENT)
		log_warn("cannot remove staging file: %s", strerror(errno));
}

/* A layered file's second name for its lower (staging.h) goes with it. */
static void pool_unlink_lower(struct staging_pool *sp, const char *name)
{
	char lp[STAGING_POOL_NAME_MAX + sizeof(STAGING_LOWER_SUFFIX)];

	if ((size_t)snprintf(lp, sizeof(lp), "%s%s", name,
			     STAGING_LOWER_SUFFIX) < sizeof(lp))
		pool_unlink(sp, lp);
}

void staging_pool_free(struct staging_pool *sp)
{
	if (!sp)
		return;
	if (sp->dirfd >= 0) {
		staging_pool_reap(sp);
		for (size_t i = 0; i < sp->nfree; i++)
			pool_unlink(sp, sp->free[i]);
		close(sp->dirfd);
		pthread_mutex_destroy(&sp->lock);
	}
	free(sp->ret);
	free(sp->free);
	free(sp->dir);
	free(sp);
}

void staging_pool_retire(struct staging_pool *sp, const char *name, int reuse)
{
	char *copy = strdup(name);
	int recorded = 0;

	/* a name with a folder in it (kept/...) is not ours to recycle */
	if (strchr(name, '/') || strlen(name) >= STAGING_POOL_NAME_MAX)
		reuse = 0;
	pthread_mutex_lock(&sp->lock);
	if (copy && sp->nret == sp->aret) {
		size_t na = sp->aret ? 2 * sp->aret : 64;
		struct retired *r = realloc(sp->ret, na * sizeof(*r));

		if (r) {
			sp->ret = r;
			sp->aret = na;
		}
	}
	if (copy && sp->nret < sp->aret) {
		sp->ret[sp->nret].name = copy;
		sp->ret[sp->nret].reuse = reuse;
		sp->nret++;
		recorded = 1;
	}
	pthread_mutex_unlock(&sp->lock);
	if (!recorded) {
		/* out of memory: nothing recorded, so do it now */
		free(copy);
		pool_unlink(sp, name);
	}
}

/* Cut a file that joins the free list to nothing: it holds no disk space
 * while it waits, and the O_TRUNC that recycles it has nothing to free on
 * the path of the program saving a file. */
static int pool_empty(struct staging_pool *sp, const char *name)
{
	char p[4096];
	struct stat sb;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", sp->dir, name) >= sizeof(p))
		return -ENAMETOOLONG;
	/* a file with a second name is the lower of a layered file
	 * (staging_layer): cutting it would cut what that file reads */
	if (fstatat(sp->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (sb.st_nlink > 1)
		return -EBUSY;
	return truncate(p, 0) < 0 ? -errno : 0;
}

/* Room for one more free name (sp->lock held). */
static int pool_room(const struct staging_pool *sp)
{
	return sp->nfree < sp->cap;
}

void staging_pool_reap(struct staging_pool *sp)
{
	struct retired *ret;
	size_t n, i;

	pthread_mutex_lock(&sp->lock);
	ret = sp->ret;
	n = sp->nret;
	sp->ret = NULL;
	sp->nret = sp->aret = 0;
	pthread_mutex_unlock(&sp->lock);
	for (i = 0; i < n; i++) {
		int keep = ret[i].reuse;

		pool_unlink_lower(sp, ret[i].name);
		if (keep) {
			pthread_mutex_lock(&sp->lock);
			keep = pool_room(sp);
			pthread_mutex_unlock(&sp->lock);
		}
		keep = keep && pool_empty(sp, ret[i].name) == 0;
		if (keep) {
			pthread_mutex_lock(&sp->lock);
			keep = pool_room(sp);
			if (keep)
				snprintf(sp->free[sp->nfree++],
					 STAGING_POOL_NAME_MAX, "%s",
					 ret[i].name);
			pthread_mutex_unlock(&sp->lock);
		}
		if (!keep)
			pool_unlink(sp, ret[i].name);
		free(ret[i].name);
	}
	free(ret);
}

int staging_pool_take(struct staging_pool *sp, char *name, size_t cap)
{
	int got = 0;

	pthread_mutex_lock(&sp->lock);
	if (sp->nfree && cap >= STAGING_POOL_NAME_MAX) {
		sp->nfree--;
		snprintf(name, cap, "%s", sp->free[sp->nfree]);
		got = 1;
	}
	pthread_mutex_unlock(&sp->lock);
	return got;
}

size_t staging_pool_count(struct staging_pool *sp)
{
	size_t n;

	pthread_mutex_lock(&sp->lock);
	n = sp->nfree;
	pthread_mutex_unlock(&sp->lock);
	return n;
}
