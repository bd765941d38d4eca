/*
 * The directory backend of the chunk store: each object is one file at
 * DIR/ab/<62 more hex digits>, the layout coffre has always used.  A put
 * writes a temporary file under DIR/tmp/; its commit fsyncs it, creates
 * the fan-out directory when missing (and fsyncs DIR then), renames the
 * file into place and fsyncs the fan-out directory, so an object appears
 * whole or not at all and survives a crash once committed.
 *
 * Migration to keyed names.  Before keyed names a chunk's file was named
 * by its plaintext SHA-256.  DIR/names marks a directory whose names are
 * keyed; a directory without it is migrated at open under an exclusive
 * flock(2) of DIR, in two phases so that a crash at any point leaves a
 * state the next open finishes:
 *   1. every file of the fan-out (old names only, since nothing writes
 *      keyed names before the marker exists) is renamed to its keyed name
 *      in DIR/migrate/; then DIR/migrate/.moved is written;
 *   2. every file of DIR/migrate/ is renamed into the fan-out under its
 *      (keyed) name; then DIR/names is written and DIR/migrate removed.
 * A name is in the fan-out or in migrate/, never both and never lost: each
 * step is one rename(2) within one file system.  Only the phase tells
 * which names are old, so phase 1 never runs again once .moved exists.
 */
#include "server/chunk_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fsutil.h"
#include "server/chunk_spool.h"

#define NAMES_MARKER   "names"
#define NAMES_CONTENT  "coffre-chunk-names 1 hmac-sha256\n"
#define MIGRATE_DIR    "migrate"
#define MIGRATE_PHASE1 ".moved"
#define PIECE	       (64u * 1024u)

struct dir_state {
	char *dir;
	char *tmp_dir;
};

struct dir_put {
	struct dir_state *ds;
	struct chunk_spool sp;
};

static int mkdir_if_missing(const char *path, int *created)
{
	int e;

	*created = 0;
	if (mkdir(path, 0700) == 0) {
		*created = 1;
		return 0;
	}
	e = errno;
	if (e == EEXIST)
		return 0;
	return err_set(-e, "cannot create directory '%s': %s", path,
		       strerror(e));
}

/* "DIR/ab/cdef..." (malloc'd). */
static char *obj_path(const struct dir_state *ds, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%.2s/%s", ds->dir, name, name + 2) < 0)
		return NULL;
	return p;
}

static int dir_put_begin(void *state, const char *name, void **out)
{
	struct dir_state *ds = state;
	struct dir_put *p;
	int rc;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ds = ds;
	rc = chunk_spool_open(&p->sp, name, ds->tmp_dir, 0);
	if (rc < 0) {
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

static int dir_put_write(void *put, const void *buf, size_t n)
{
	struct dir_put *p = put;

	return chunk_spool_write(&p->sp, buf, n, "write");
}

static void dir_put_abort(void *put)
{
	struct dir_put *p = put;

	if (!p)
		return;
	chunk_spool_release(&p->sp);
	free(p);
}

static int dir_put_commit(void *put)
{
	struct dir_put *p = put;
	char *path, *sub = NULL;
	int rc = -ENOMEM, created;

	path = obj_path(p->ds, p->sp.name);
	if (!path)
		goto out;
	sub = strdup(path);
	if (!sub)
		goto out;
	*strrchr(sub, '/') = '\0';
	rc = mkdir_if_missing(sub, &created);
	if (rc < 0)
		goto out;
	/* A new fan-out directory must itself survive a crash. */
	if (created) {
		rc = fsync_dir(p->ds->dir);
		if (rc < 0)
			goto out;
	}
	rc = tmpfile_commit(&p->sp.tf, path);
out:
	free(path);
	free(sub);
	dir_put_abort(p);
	return rc;
}

/* The path of a valid object name (malloc'd), for get, stat and del. */
static int name_path(const struct dir_state *ds, const char *name, char **out)
{
	if (!chunk_name_valid(name))
		return err_set(-EINVAL, "bad chunk name '%s'", name);
	*out = obj_path(ds, name);
	return *out ? 0 : -ENOMEM;
}

/* An errno of a missing object: the file or its fan-out directory. */
static int is_absent(int e)
{
	return e == ENOENT || e == ENOTDIR;
}

/* What a failed stat or unlink of an object answers: -ENOENT for a
 * missing one (chunk_backend.h), else the errno with what failed. */
static int obj_fail(int e, const char *what)
{
	if (is_absent(e))
		return -ENOENT;
	/* the file system's quota is a full disk to the client (507
	 * no_space); -EDQUOT is a space's quota (server/quota.h) */
	return err_set(e == EDQUOT ? -ENOSPC : -e, "cannot %s chunk: %s", what,
		       strerror(e));
}

static int open_obj(struct dir_state *ds, const char *name, int *fd)
{
	char *path;
	int e, rc = name_path(ds, name, &path);

	if (rc < 0)
		return rc;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	e = errno;
	free(path);
	if (*fd >= 0)
		return 0;
	if (is_absent(e))
		return err_set(-ENOENT, "no chunk object '%s'", name);
	return err_set(-e, "cannot open chunk object '%s': %s", name,
		       strerror(e));
}

static int dir_get(void *state, const char *name, chunk_backend_read_cb cb,
		   void *arg)
{
	uint8_t *buf;
	ssize_t n;
	int fd = -1, rc;

	rc = open_obj(state, name, &fd);
	if (rc < 0)
		return rc;
	buf = malloc(PIECE);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		n = read_full(fd, buf, PIECE);
		if (n < 0) {
			rc = err_set((int)n, "cannot read chunk: %s",
				     strerror(-(int)n));
			break;
		}
		if (n == 0) {
			rc = 0;
			break;
		}
		rc = cb(buf, (size_t)n, arg);
		if (rc != 0)
			break;
	}
	free(buf);
	close(fd);
	return rc;
}

static int dir_stat(void *state, const char *name, uint64_t *size)
{
	struct stat st;
	char *path;
	int e, rc = name_path(state, name, &path);

	if (rc < 0)
		return rc;
	if (stat(path, &st) == 0) {
		free(path);
		if (!S_ISREG(st.st_mode))
			return -ENOENT;
		*size = (uint64_t)st.st_size;
		return 0;
	}
	e = errno;
	free(path);
	return obj_fail(e, "stat");
}

static int dir_del(void *state, const char *name)
{
	char *path;
	int e, rc = name_path(state, name, &path);

	if (rc < 0)
		return rc;
	if (unlink(path) == 0) {
		free(path);
		return 0;
	}
	e = errno;
	free(path);
	return obj_fail(e, "remove");
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

/* cb(name, sub-directory path) for every object of the fan-out. */
typedef int (*fanout_cb)(const char *name, const char *sub, void *arg);

static int fanout_sub(const char *dir, const char *two, fanout_cb cb, void *arg)
{
	char name[CHUNK_NAME_LEN + 1];
	struct dirent *de;
	char *path;
	DIR *d;
	int rc = 0, e;

	if (asprintf(&path, "%s/%s", dir, two) < 0)
		return -ENOMEM;
	d = opendir(path);
	e = errno;
	if (!d) {
		free(path);
		return e == ENOENT ?
			       0 :
			       err_set(-e, "cannot read chunk directory: %s",
				       strerror(e));
	}
	while ((de = readdir(d)) != NULL) {
		if (!is_hex(de->d_name, CHUNK_NAME_LEN - 2))
			continue;
		memcpy(name, two, 2);
		memcpy(name + 2, de->d_name, CHUNK_NAME_LEN - 2 + 1);
		rc = cb(name, path, arg);
		if (rc != 0)
			break;
	}
	closedir(d);
	free(path);
	return rc;
}

static int fanout_each(const char *dir, fanout_cb cb, void *arg)
{
	struct dirent *de;
	DIR *d;
	int rc = 0, e;

	d = opendir(dir);
	if (!d) {
		e = errno;
		return err_set(-e, "cannot read chunk directory '%s': %s", dir,
			       strerror(e));
	}
	while ((de = readdir(d)) != NULL) {
		if (!is_hex(de->d_name, 2))
			continue;
		rc = fanout_sub(dir, de->d_name, cb, arg);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}

struct list_ctx {
	chunk_backend_list_cb cb;
	void *arg;
};

static int list_one(const char *name, const char *sub, void *arg)
{
	struct list_ctx *l = arg;

	return l->cb(name, l->arg);
}

static int dir_list(void *state, chunk_backend_list_cb cb, void *arg)
{
	struct dir_state *ds = state;
	struct list_ctx l = { cb, arg };

	return fanout_each(ds->dir, list_one, &l);
}

/* --- migration to keyed names --- */

struct migrate_ctx {
	struct dir_state *ds;
	void (*rename_fn)(const char *old_name, char *out, void *arg);
	void *arg;
	char *mdir;
	unsigned long moved;
};

/* rename(from, to); a name already at to holds the same object (names
 * are a function of the content), so from is then dropped. */
static int move_file(const char *from, const char *to)
{
	struct stat st;
	int e;

	if (lstat(to, &st) == 0) {
		if (unlink(from) < 0 && errno != ENOENT) {
			e = errno;
			return err_set(-e, "cannot remove '%s': %s", from,
				       strerror(e));
		}
		return 0;
	}
	if (rename(from, to) < 0) {
		e = errno;
		return err_set(-e, "cannot rename '%s' to '%s': %s", from, to,
			       strerror(e));
	}
	return 0;
}

/* fsync_dir() of a directory syncs that directory itself. */
static int fsync_path_dir(const char *dir)
{
	return fsync_dir(dir);
}

/* Phase 1: DIR/ab/<old> -> DIR/migrate/<keyed>. */
static int phase1_one(const char *name, const char *sub, void *arg)
{
	struct migrate_ctx *m = arg;
	char keyed[CHUNK_NAME_LEN + 1], *from, *to;
	int rc;

	m->rename_fn(name, keyed, m->arg);
	if (asprintf(&from, "%s/%s", sub, name + 2) < 0)
		return -ENOMEM;
	if (asprintf(&to, "%s/%s", m->mdir, keyed) < 0) {
		free(from);
		return -ENOMEM;
	}
	rc = move_file(from, to);
	free(from);
	free(to);
	if (rc == 0)
		m->moved++;
	return rc;
}

/* fsync every fan-out directory (after phase 1 emptied some). */
static int fsync_fanout(struct dir_state *ds)
{
	struct dirent *de;
	DIR *d;
	char *p;
	int rc = 0, e;

	d = opendir(ds->dir);
	if (!d) {
		e = errno;
		return err_set(-e, "cannot read chunk directory '%s': %s",
			       ds->dir, strerror(e));
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (!is_hex(de->d_name, 2))
			continue;
		if (asprintf(&p, "%s/%s", ds->dir, de->d_name) < 0) {
			rc = -ENOMEM;
			break;
		}
		rc = fsync_path_dir(p);
		free(p);
	}
	closedir(d);
	return rc;
}

/* Phase 2: DIR/migrate/<keyed> -> DIR/ab/<rest of keyed>. */
static int phase2(struct migrate_ctx *m)
{
	struct dirent *de;
	DIR *d;
	int rc = 0, e, created;

	d = opendir(m->mdir);
	if (!d) {
		e = errno;
		return err_set(-e, "cannot read '%s': %s", m->mdir,
			       strerror(e));
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char *from = NULL, *to = NULL, *sub = NULL;

		if (!chunk_name_valid(de->d_name))
			continue;
		rc = -ENOMEM;
		if (asprintf(&from, "%s/%s", m->mdir, de->d_name) < 0)
			from = NULL;
		else if (asprintf(&sub, "%s/%.2s", m->ds->dir, de->d_name) < 0)
			sub = NULL;
		else if (asprintf(&to, "%s/%s", sub, de->d_name + 2) < 0)
			to = NULL;
		else
			rc = mkdir_if_missing(sub, &created);
		if (rc == 0 && created)
			rc = fsync_path_dir(m->ds->dir);
		if (rc == 0)
			rc = move_file(from, to);
		free(from);
		free(sub);
		free(to);
	}
	closedir(d);
	if (rc == 0)
		rc = fsync_fanout(m->ds);
	if (rc == 0)
		rc = fsync_path_dir(m->mdir);
	return rc;
}

static int exists(const char *dir, const char *leaf)
{
	struct stat st;
	char *p;
	int r;

	if (asprintf(&p, "%s/%s", dir, leaf) < 0)
		return -ENOMEM;
	r = lstat(p, &st) == 0;
	free(p);
	return r;
}

static int write_marker(const char *dir, const char *leaf, const char *text)
{
	char *p;
	int rc;

	if (asprintf(&p, "%s/%s", dir, leaf) < 0)
		return -ENOMEM;
	rc = file_write_atomic(p, text, strlen(text), 0600);
	if (rc < 0)
		rc = err_set(rc, "cannot write '%s': %s", p, strerror(-rc));
	free(p);
	return rc;
}

static int migrate_locked(struct migrate_ctx *m)
{
	struct dir_state *ds = m->ds;
	char *p;
	int rc, r, created;

	r = exists(ds->dir, MIGRATE_DIR);
	if (r < 0)
		return r;
	rc = mkdir_if_missing(m->mdir, &created);
	if (rc == 0 && created)
		rc = fsync_path_dir(ds->dir);
	if (rc < 0)
		return rc;
	r = exists(m->mdir, MIGRATE_PHASE1);
	if (r < 0)
		return r;
	if (!r) {
		rc = fanout_each(ds->dir, phase1_one, m);
		if (rc == 0)
			rc = fsync_fanout(ds);
		if (rc == 0)
			rc = fsync_path_dir(m->mdir);
		if (rc == 0)
			rc = write_marker(m->mdir, MIGRATE_PHASE1, "1\n");
		if (rc < 0)
			return rc;
	}
	rc = phase2(m);
	if (rc == 0)
		rc = write_marker(ds->dir, NAMES_MARKER, NAMES_CONTENT);
	if (rc < 0)
		return rc;
	/* Done: what is left is bookkeeping, which the marker outranks. */
	if (asprintf(&p, "%s/%s", m->mdir, MIGRATE_PHASE1) >= 0) {
		unlink(p);
		free(p);
	}
	rmdir(m->mdir);
	return fsync_path_dir(ds->dir);
}

static int dir_migrate(void *state,
		       void (*rename_fn)(const char *old_name, char *out,
					 void *arg),
		       void *arg, unsigned long *moved)
{
	struct dir_state *ds = state;
	struct migrate_ctx m = { ds, rename_fn, arg, NULL, 0 };
	int fd, rc, e;

	*moved = 0;
	rc = exists(ds->dir, NAMES_MARKER);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	/* Two processes (coffred serve, coffred fsck) may open one store. */
	fd = open(ds->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		return err_set(-e, "cannot open '%s': %s", ds->dir,
			       strerror(e));
	}
	if (flock(fd, LOCK_EX) < 0) {
		e = errno;
		close(fd);
		return err_set(-e, "cannot lock '%s': %s", ds->dir,
			       strerror(e));
	}
	rc = exists(ds->dir, NAMES_MARKER);
	if (rc == 0) {
		rc = -ENOMEM;
		if (asprintf(&m.mdir, "%s/%s", ds->dir, MIGRATE_DIR) >= 0)
			rc = migrate_locked(&m);
		else
			m.mdir = NULL;
		free(m.mdir);
	} else if (rc > 0) {
		rc = 0;
	}
	close(fd); /* drops the lock */
	*moved = m.moved;
	return rc;
}

static void dir_free(void *state)
{
	struct dir_state *ds = state;

	if (!ds)
		return;
	free(ds->dir);
	free(ds->tmp_dir);
	free(ds);
}

int chunk_dir_new(struct chunk_backend **out, const char *dir)
{
	struct chunk_backend *be;
	struct dir_state *ds;
	int rc, created;

	*out = NULL;
	be = calloc(1, sizeof(*be));
	ds = calloc(1, sizeof(*ds));
	if (!be || !ds) {
		free(be);
		free(ds);
		return -ENOMEM;
	}
	rc = -ENOMEM;
	ds->dir = strdup(dir);
	if (!ds->dir || asprintf(&ds->tmp_dir, "%s/tmp", dir) < 0) {
		ds->tmp_dir = NULL;
		goto fail;
	}
	rc = mkdir_p(dir, 0700);
	if (rc < 0)
		goto fail;
	rc = mkdir_if_missing(ds->tmp_dir, &created);
	if (rc < 0)
		goto fail;
	*be = (struct chunk_backend){
		.version = CHUNK_BACKEND_VERSION,
		.kind = "dir",
		.state = ds,
		.put_begin = dir_put_begin,
		.put_write = dir_put_write,
		.put_commit = dir_put_commit,
		.put_abort = dir_put_abort,
		.get = dir_get,
		.stat = dir_stat,
		.list = dir_list,
		.del = dir_del,
		.migrate = dir_migrate,
		.free = dir_free,
	};
	*out = be;
	return 0;
fail:
	dir_free(ds);
	free(be);
	return rc;
}
