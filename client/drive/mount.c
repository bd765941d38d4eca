/*
 * `coffre mount SPACE DIR`: set up the drive and serve it.
 *
 * Order matters.  Everything that can fail for a reason the user must hear
 * about (not logged in, unknown space, bad token, server unreachable, bad
 * cache) is checked before mounting, with a clear message and exit status
 * 1; a drive that mounts but answers "empty" for "unknown" would be worse.
 * Then the session mounts, daemonizes (fork: threads start only after it),
 * starts the notifier and the sync engine, and runs the multi-threaded loop
 * until `fusermount3 -u` or a signal.
 */
#include "client/drive/mount.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <fuse_lowlevel.h>
#include "client/store/cache.h"
#include "client/drive/fs_i.h"
#include "client/drive/wback.h"
#include "client/drive/reads.h"
#include "client/store/queue.h"
#include "client/store/session.h"
#include "client/store/staging_pool.h"
#include "client/store/transport.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/path.h"

static int explain(const struct fs *fs, int rc)
{
	switch (rc) {
	case -ENOENT:
		fprintf(stderr,
			"coffre: no such space '%s' (or not a member)\n",
			fs->space);
		break;
	case -EKEYREJECTED:
		fprintf(stderr,
			"coffre: the server refused the session token: log in again (%s)\n",
			err_msg());
		break;
	case -EACCES:
		fprintf(stderr, "coffre: access to space '%s' denied: %s\n",
			fs->space, err_msg());
		break;
	case -ENOTCONN:
		fprintf(stderr,
			"coffre: cannot reach the server %s, and this cache has never seen space '%s': %s\n",
			fs->url, fs->space, err_msg());
		break;
	default:
		fprintf(stderr, "coffre: cannot mount space '%s': %s\n",
			fs->space, err_msg());
	}
	return 1;
}

/*
 * One drive per cache.  Two processes on one queue and one staging folder
 * would each take the other's pending files for leftovers of a crash and
 * remove them.  A remount right after `coffre umount` meets the old process
 * still finishing its teardown: wait for it a while before giving up.
 */
#define CACHE_LOCK_WAIT_MS 10000

static int cache_lock(struct fs *fs)
{
	char *p = path_join(fs->cache_dir, "lock");
	struct timespec t0, now;
	int fd, e;

	if (!p)
		return -ENOMEM;
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	e = errno;
	free(p);
	if (fd < 0)
		return err_set(-e, "cannot open the lock of cache '%s': %s",
			       fs->cache_dir, strerror(e));
	/* Waited by the clock: a loaded machine oversleeps each pause. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		long waited;

		e = errno;
		if (e == EINTR)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - t0.tv_sec) * 1000 +
			 (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (e != EWOULDBLOCK || waited >= CACHE_LOCK_WAIT_MS) {
			close(fd);
			if (e == EWOULDBLOCK)
				return err_set(
					-EBUSY,
					"the cache '%s' is in use by another coffre mount (give this one its own --cache)",
					fs->cache_dir);
			return err_set(-e, "cannot lock cache '%s': %s",
				       fs->cache_dir, strerror(e));
		}
		usleep(100 * 1000);
	}
	fs->cache_lock_fd = fd;
	return 0;
}

static int fs_setup(struct fs *fs, const struct mount_opts *o)
{
	struct session s = { 0 };
	uint8_t seed[CHUNK_SEED_LEN];
	const char *fault;
	char *p;
	int rc;

	fs->o = o;
	fs->uid = getuid();
	fs->gid = getgid();
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->cond, NULL);
	pthread_cond_init(&fs->sync_cond, NULL);
	pthread_mutex_init(&fs->notify_lock, NULL);
	pthread_cond_init(&fs->notify_cond, NULL);
	pthread_cond_init(&fs->feed_cond, NULL);
	fs->notify_tail = &fs->notify_head;
	if (gethostname(fs->hostname, sizeof(fs->hostname) - 1) < 0)
		snprintf(fs->hostname, sizeof(fs->hostname), "unknown");
	fs->space = strdup(o->space);
	if (!fs->space)
		return -ENOMEM;
	rc = ident_validate(o->space);
	if (rc < 0) {
		fprintf(stderr, "coffre: bad space name '%s'\n", o->space);
		return 1;
	}
	rc = crypto_init();
	if (rc < 0)
		return explain(fs, rc);
	/* absolute paths: fuse_daemonize changes to "/" */
	fs->config_dir = realpath(o->config_dir, NULL);
	if (!fs->config_dir) {
		fprintf(stderr, "coffre: no configuration directory '%s': %s\n",
			o->config_dir, strerror(errno));
		return 1;
	}
	rc = session_load(&s, fs->config_dir);
	if (rc < 0) {
		fprintf(stderr, "coffre: %s\n", err_msg());
		return 1;
	}
	fs->url = s.url;
	fs->login = s.login;
	fs->token = s.token;
	fs->cacert = s.cacert;
	s.url = s.login = s.token = s.cacert = NULL;
	session_release(&s);
	rc = session_cache_key(fs->config_dir, &fs->key);
	if (rc < 0)
		return explain(fs, rc);
	if (fs->cacert && fs->cacert[0] != '/') {
		char *abs = realpath(fs->cacert, NULL);

		if (abs) {
			free(fs->cacert);
			fs->cacert = abs;
		}
	}
	rc = transport_new(&fs->t, fs->url, fs->token, fs->cacert);
	if (rc < 0)
		return explain(fs, rc);
	rc = mkdir_p(o->cache_dir, 0700);
	if (rc < 0)
		return explain(fs, err_set(rc, "cannot create cache '%s'",
					   o->cache_dir));
	fs->cache_dir = realpath(o->cache_dir, NULL);
	if (!fs->cache_dir)
		return explain(fs, err_set(-errno, "cannot resolve '%s'",
					   o->cache_dir));
	rc = cache_lock(fs);
	if (rc < 0)
		return explain(fs, rc);
	/* the offline copy first: without the server, the seed and the
	 * listings come from it */
	rc = offline_open(fs);
	if (rc < 0)
		return explain(fs, rc);
	rc = remote_space_info(fs, seed);
	if (rc < 0)
		return explain(fs, rc);
	chunker_init(&fs->chunker, seed);
	/* the quota the write path checks; unknown offline (the server
	 * still refuses what does not fit) */
	quota_refresh(fs);

	p = path_join(fs->cache_dir, "staging");
	if (!p || (fs->staging_dir = p, mkdir_p(p, 0700) < 0))
		return explain(fs, err_set(-EIO, "cannot create '%s/staging'",
					   fs->cache_dir));
	rc = staging_pool_new(&fs->spool, fs->staging_dir, STAGING_POOL_CAP);
	if (rc < 0)
		return explain(fs, rc);
	rc = cache_open(&fs->cache, fs->cache_dir, &fs->key, o->cache_size);
	if (rc < 0)
		return explain(fs, rc);
	/* without read-ahead, reads still work, one chunk at a time */
	if (content_prefetch_start(fs) < 0)
		log_warn("no chunk read-ahead: %s", err_msg());
	rc = queue_open(&fs->q, fs->cache_dir, &fs->key);
	if (rc < 0)
		return explain(fs, rc);
	rc = tree_init(fs);
	if (rc < 0)
		return explain(fs, rc);
	/* the first listing proves the space is readable, before mounting */
	rc = tree_revalidate(fs, fs->root, 1);
	if (rc < 0)
		return explain(fs, rc);
	rc = pend_replay(fs);
	if (rc < 0)
		return explain(fs, rc);
	fault = getenv("COFFRE_FAULT");
	fs->fault_exit_after_commit =
		fault && !strcmp(fault, "exit-after-commit");
	return 0;
}

static void fs_teardown(struct fs *fs)
{
	struct pend *p, *tmp;

	feed_stop(fs);
	sync_stop(fs);
	notify_stop(fs);
	if (fs->q)
		queue_sync(fs->q);
	HASH_ITER(hh, fs->pends, p, tmp)
	{
		HASH_DEL(fs->pends, p);
		queue_op_release(&p->op);
		free(p->hide);
		free(p);
	}
	content_prefetch_stop(fs); /* its workers use the cache and transport */
	if (fs->root || fs->inodes)
		tree_release(fs);
	queue_free(fs->q);
	offline_close(fs);
	cache_free(fs->cache);
	transport_free(fs->t);
	crypto_key_release(&fs->key);
	staging_pool_free(fs->spool); /* unlinks the free staging files */
	free(fs->staging_dir);
	free(fs->cache_dir);
	free(fs->config_dir);
	free(fs->space);
	free(fs->url);
	free(fs->login);
	if (fs->token) {
		memset(fs->token, 0, strlen(fs->token));
		free(fs->token);
	}
	free(fs->cacert);
	if (fs->cache_lock_fd > 0)
		close(fs->cache_lock_fd); /* the last: the cache is free now */
	pthread_cond_destroy(&fs->notify_cond);
	pthread_cond_destroy(&fs->feed_cond);
	pthread_mutex_destroy(&fs->notify_lock);
	pthread_cond_destroy(&fs->sync_cond);
	pthread_cond_destroy(&fs->cond);
	pthread_mutex_destroy(&fs->lock);
}

static int serve(struct fs *fs, const struct mount_opts *o)
{
	char fsname[256];
	char *argv[6];
	int argc = 0, rc, status = 1;
	struct fuse_args args;
	struct fuse_loop_config *cfg = NULL;

	/* default_permissions: the kernel checks the mode bits, so access()
	 * and open() honour chmod as on a local disk (the server's rights
	 * are checked on top, by the operations themselves) */
	snprintf(fsname, sizeof(fsname),
		 "fsname=coffre:%s,subtype=coffre,default_permissions",
		 fs->space);
	argv[argc++] = (char *)"coffre";
	argv[argc++] = (char *)"-o";
	argv[argc++] = fsname;
	if (o->debug)
		argv[argc++] = (char *)"-d";
	argv[argc] = NULL;
	args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);

	fs->se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
	if (!fs->se) {
		fprintf(stderr, "coffre: cannot create the FUSE session\n");
		return 1;
	}
	if (fuse_set_signal_handlers(fs->se) < 0) {
		fprintf(stderr, "coffre: cannot set signal handlers\n");
		goto destroy;
	}
	if (fuse_session_mount(fs->se, o->mountpoint) < 0) {
		fprintf(stderr, "coffre: cannot mount on '%s'\n",
			o->mountpoint);
		goto signals;
	}
	if (fuse_daemonize(o->foreground) < 0) {
		fprintf(stderr, "coffre: cannot daemonize\n");
		goto unmount;
	}
	/* threads only now: fuse_daemonize forks */
	if (notify_start(fs) < 0 || wback_start(fs) < 0 || sync_start(fs) < 0 ||
	    reads_start(fs) < 0 || feed_start(fs) < 0) {
		log_error("%s", err_msg());
		goto unmount;
	}
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		goto unmount;
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	fuse_loop_cfg_set_idle_threads(cfg, 10);
	rc = fuse_session_loop_mt(fs->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	status = rc < 0 ? 1 : 0;
	if (rc < 0)
		log_error("FUSE loop failed: %s", strerror(-rc));
unmount:
	wback_stop(fs); /* every answered write into staging first */
	feed_stop(fs);
	reads_stop(fs);
	sync_stop(fs);
	notify_stop(fs);
	fuse_session_unmount(fs->se);
      signals:
	fuse_remove_signal_handlers(fs->se);
destroy:
	fuse_session_destroy(fs->se);
	fs->se = NULL;
	fuse_opt_free_args(&args);
	return status;
}

int mount_run(const struct mount_opts *o)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	int status;

	if (!fs) {
		fprintf(stderr, "coffre: out of memory\n");
		return 1;
	}
	/*
	 * Buffers of 512 KiB and more (chunks on their way to the server,
	 * up to 4 MiB, on eight upload threads) are mapped and unmapped, not
	 * kept in the heap: by default glibc raises this threshold after the
	 * first large free, and every thread's arena then keeps megabytes it
	 * may never use again.  Copying a 1 GiB file peaked at 86 MiB
	 * resident without this, 52 MiB with it.
	 */
	mallopt(M_MMAP_THRESHOLD, 512 * 1024);
	status = fs_setup(fs, o);
	if (status == 0)
		status = serve(fs, o);
	else
		status = 1;
	fs_teardown(fs);
	free(fs);
	return status;
}
