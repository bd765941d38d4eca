/*
 * Durable file writes and small file helpers.
 *
 * A file is written under a temporary name in its final directory, fsynced,
 * renamed over the final name, and the directory is fsynced so the rename
 * itself survives a crash.  Readers therefore see either the old file or the
 * whole new one, never a prefix.
 */
#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/banned.h"

/*
 * The loops behind write_full/pwrite_full and read_full/pread_full: at says
 * whether to use the positional call at off, or the plain one (which also
 * works on pipes and sockets).
 */
static int write_loop(int fd, const void *p, size_t n, int at, off_t off)
{
	const char *c = p;

	while (n) {
		ssize_t w = at ? pwrite(fd, c, n, off) : write(fd, c, n);

		if (w < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			return err_set(-e, "write failed: %s", strerror(e));
		}
		c += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

static ssize_t read_loop(int fd, void *p, size_t n, int at, off_t off)
{
	char *c = p;
	size_t got = 0;

	while (got < n) {
		ssize_t r = at ? pread(fd, c + got, n - got, off + (off_t)got) :
				 read(fd, c + got, n - got);

		if (r < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			return err_set(-e, "read failed: %s", strerror(e));
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int write_full(int fd, const void *p, size_t n)
{
	return write_loop(fd, p, n, 0, 0);
}

int pwrite_full(int fd, const void *p, size_t n, off_t off)
{
	return write_loop(fd, p, n, 1, off);
}

ssize_t read_full(int fd, void *p, size_t n)
{
	return read_loop(fd, p, n, 0, 0);
}

ssize_t pread_full(int fd, void *p, size_t n, off_t off)
{
	return read_loop(fd, p, n, 1, off);
}

/* malloc'd copy of the directory part of path ("." when there is none). */
static char *dir_of(const char *path)
{
	char *copy = strdup(path);
	char *d;

	if (!copy)
		return NULL;
	d = strdup(dirname(copy));
	free(copy);
	return d;
}

int tmpfile_open(struct tmpfile *tf, const char *dir)
{
	static const char tail[] = "/.tmp-XXXXXX";
	size_t dlen = strlen(dir);
	char *path;
	int fd, e;

	*tf = tmpfile_init();
	path = malloc(dlen + sizeof(tail));
	if (!path)
		return err_set(-ENOMEM, "out of memory");
	memcpy(path, dir, dlen);
	memcpy(path + dlen, tail, sizeof(tail));
	/* mkostemp creates the file 0600, exclusively, with a fresh name. */
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		free(path);
		return err_set(-e, "cannot create a temporary file in '%s': %s",
			       dir, strerror(e));
	}
	tf->fd = fd;
	tf->path = path;
	return 0;
}

int tmpfile_commit(struct tmpfile *tf, const char *final_path)
{
	int e, rc;

	if (tf->fd < 0 || !tf->path || tf->committed)
		return err_set(-EINVAL, "no open temporary file to commit");
	if (fsync(tf->fd) < 0) {
		e = errno;
		return err_set(-e, "cannot fsync '%s': %s", tf->path,
			       strerror(e));
	}
	if (rename(tf->path, final_path) < 0) {
		e = errno;
		return err_set(-e, "cannot rename '%s' to '%s': %s", tf->path,
			       final_path, strerror(e));
	}
	/*
	 * The temporary name is gone now: never unlink it in release, even if
	 * the directory fsync below fails (another file may take the name).
	 */
	tf->committed = 1;
	rc = fsync_dir(final_path);
	return rc;
}

void tmpfile_release(struct tmpfile *tf)
{
	if (tf->fd >= 0) {
		close(tf->fd);
		tf->fd = -1;
	}
	if (tf->path) {
		if (!tf->committed)
			unlink(tf->path);
		free(tf->path);
		tf->path = NULL;
	}
}

int file_write_atomic(const char *path, const void *p, size_t n, mode_t mode)
{
	struct tmpfile tf = tmpfile_init();
	char *dir;
	int rc;

	dir = dir_of(path);
	if (!dir)
		return err_set(-ENOMEM, "out of memory");
	rc = tmpfile_open(&tf, dir);
	free(dir);
	if (rc < 0)
		return rc;
	rc = write_full(tf.fd, p, n);
	if (rc < 0)
		goto out;
	if (fchmod(tf.fd, mode) < 0) {
		int e = errno;

		rc = err_set(-e, "cannot chmod '%s': %s", tf.path, strerror(e));
		goto out;
	}
	rc = tmpfile_commit(&tf, path);
out:
	tmpfile_release(&tf);
	return rc;
}

int file_read_all(const char *path, size_t cap, char **out, size_t *len)
{
	size_t alloc, got = 0;
	char *data = NULL, *p;
	ssize_t r;
	int fd, e, rc;

	*out = NULL;
	if (len)
		*len = 0;
	if (cap > SIZE_MAX - 2)
		cap = SIZE_MAX - 2;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		return err_set(-e, "cannot open '%s': %s", path, strerror(e));
	}
	/*
	 * Read until EOF rather than trusting st_size (files may change or
	 * live in /proc).  The buffer may hold cap + 1 bytes plus the NUL, so
	 * one byte past the cap tells "exactly cap" from "too big".
	 */
	alloc = cap + 2 < 4096 ? cap + 2 : 4096;
	data = malloc(alloc);
	if (!data) {
		rc = err_set(-ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		if (alloc - got < 2) {
			size_t want =
				alloc > (cap + 2) / 2 ? cap + 2 : alloc * 2;

			p = realloc(data, want);
			if (!p) {
				rc = err_set(-ENOMEM, "out of memory");
				goto out;
			}
			data = p;
			alloc = want;
		}
		r = read(fd, data + got, alloc - 1 - got);
		if (r < 0) {
			e = errno;
			if (e == EINTR)
				continue;
			rc = err_set(-e, "cannot read '%s': %s", path,
				     strerror(e));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > cap) {
			rc = err_set(-E2BIG, "'%s' is over %zu bytes", path,
				     cap);
			goto out;
		}
	}
	data[got] = '\0';
	*out = data;
	data = NULL;
	if (len)
		*len = got;
	rc = 0;
out:
	free(data);
	close(fd);
	return rc;
}

int fsync_dir(const char *path)
{
	char *dir = NULL;
	int fd, e, rc = 0;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && (errno == ENOTDIR || errno == ENOENT)) {
		dir = dir_of(path);
		if (!dir)
			return err_set(-ENOMEM, "out of memory");
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0) {
		e = errno;
		rc = err_set(-e, "cannot open directory of '%s': %s", path,
			     strerror(e));
		goto out;
	}
	if (fsync(fd) < 0) {
		e = errno;
		/* Some file systems cannot fsync a directory; that is fine. */
		if (e != EINVAL && e != ENOTSUP)
			rc = err_set(-e, "cannot fsync directory of '%s': %s",
				     path, strerror(e));
	}
	close(fd);
out:
	free(dir);
	return rc;
}

int mkdir_p(const char *path, mode_t mode)
{
	struct stat st;
	char *p, *s;
	int e, rc = 0;

	if (!*path)
		return err_set(-EINVAL, "empty directory path");
	p = strdup(path);
	if (!p)
		return err_set(-ENOMEM, "out of memory");
	/* Create each prefix in turn; existing directories are fine. */
	for (s = p + 1;; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0) {
			e = errno;
			if (e != EEXIST) {
				rc = err_set(-e,
					     "cannot create directory '%s': %s",
					     p, strerror(e));
				break;
			}
			if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
				rc = err_set(
					-ENOTDIR,
					"'%s' exists and is not a directory",
					p);
				break;
			}
		}
		*s = c;
		if (!c)
			break;
		while (s[1] == '/')
			s++;
		if (!s[1])
			break;
	}
	free(p);
	return rc;
}

static int rm_one(const char *fpath, const struct stat *sb, int typeflag,
		  struct FTW *ftwbuf)
{
	int r = typeflag == FTW_DP ? rmdir(fpath) : unlink(fpath);

	/* Positive errno stops the walk; nftw's own failures return -1. */
	if (r < 0 && errno != ENOENT)
		return errno;
	return 0;
}

int rm_rf(const char *path)
{
	struct stat st;
	int rc, e;

	if (!*path || !strcmp(path, "/"))
		return err_set(-EINVAL, "refusing to remove '%s'", path);
	if (lstat(path, &st) < 0) {
		e = errno;
		if (e == ENOENT)
			return 0;
		return err_set(-e, "cannot stat '%s': %s", path, strerror(e));
	}
	rc = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (rc == 0)
		return 0;
	e = rc > 0 ? rc : errno;
	return err_set(-e, "cannot remove '%s': %s", path, strerror(e));
}

int sqlite_file_private(const char *path)
{
	static const char *const ext[] = { "-wal", "-shm" };
	char side[4096];
	int fd, e;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	close(fd);
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		if ((size_t)snprintf(side, sizeof(side), "%s%s", path,
				     ext[i]) >= sizeof(side))
			return -ENAMETOOLONG;
		if (chmod(side, 0600) < 0 && errno != ENOENT)
			return -errno;
	}
	return 0;
}
