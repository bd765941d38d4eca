/*
 * Durable file writes: write-temp, fsync, rename, fsync of the directory.
 * A reader never sees a half-written file under its final name.
 */
#ifndef COFFRE_COMMON_FSUTIL_H
#define COFFRE_COMMON_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

struct tmpfile {
	int fd;	    /* -1 when closed */
	char *path; /* temporary name, NULL when none */
	int committed;
};

static inline struct tmpfile tmpfile_init(void)
{
	return (struct tmpfile){ .fd = -1, .path = NULL, .committed = 0 };
}

/* Write all n bytes, retrying on EINTR and short writes.  0 or -errno. */
int write_full(int fd, const void *p, size_t n);
/* pwrite all n bytes at off.  0 or -errno. */
int pwrite_full(int fd, const void *p, size_t n, off_t off);
/* Read up to n bytes; returns bytes read (< n only at EOF) or -errno. */
ssize_t read_full(int fd, void *p, size_t n);
ssize_t pread_full(int fd, void *p, size_t n, off_t off);

/* Open a new temporary file (mode 0600) in dir. */
int tmpfile_open(struct tmpfile *tf, const char *dir);
/* fsync, rename to final_path, fsync the directory of final_path. */
int tmpfile_commit(struct tmpfile *tf, const char *final_path);
/* Close; unlink the temporary file unless committed.  Safe to call twice. */
void tmpfile_release(struct tmpfile *tf);

/* Write a whole file durably (tmpfile in the same dir, then commit). */
int file_write_atomic(const char *path, const void *p, size_t n, mode_t mode);
/* Read a whole small file (at most cap bytes) into *out (malloc, NUL-terminated). */
int file_read_all(const char *path, size_t cap, char **out, size_t *len);

/* fsync the directory containing path (or path itself when it is a dir). */
int fsync_dir(const char *dir);
/* mkdir -p with mode for created directories.  0 if it exists as a dir. */
int mkdir_p(const char *path, mode_t mode);

/*
 * Make the SQLite database at path private before SQLite opens it: create
 * it empty with mode 0600 when missing, else chmod it 0600, and its -wal and
 * -shm files too when they exist (SQLite gives those the database file's
 * mode).  0 or -errno.
 */
int sqlite_file_private(const char *path);
/* rm -rf (symlinks removed, never followed); 0 if path does not exist.
 * Refuses "" and "/" with -EINVAL. */
int rm_rf(const char *path);

#endif /* COFFRE_COMMON_FSUTIL_H */
