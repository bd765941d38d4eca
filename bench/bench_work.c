/*
 * The workload drive_bench runs on each drive, step by step, timed with
 * CLOCK_MONOTONIC around the system calls themselves (or around the
 * external program for ls and rsync).
 *
 * Data is pseudo-random and position-stamped: every 4 KiB page of the big
 * file begins with its own offset and every small file with its index, so
 * no two chunks are alike (a drive that deduplicates gets no free ride) and
 * every read checks that the right bytes came back (a drive that answers
 * zeros or stale pages fails instead of looking fast).  Generating the data
 * costs the same on both drives; the big file is written from a 64 MiB
 * random pool that only gets its stamps rewritten.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK	     (1024 * 1024)
#define PAGE	     4096
#define SMALL_SIZE   4096
#define POOL_MAX     (64u * 1024 * 1024)
#define TREE_PER_DIR 50

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: fast, and good enough to defeat chunk dedup. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill_random(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t s = seed;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t v = rng_next(&s);

		memcpy(buf + i, &v, 8);
	}
	for (; i < len; i++)
		buf[i] = (unsigned char)rng_next(&s);
}

static int write_full(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read up to len bytes; fewer only at end of file. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static void cell_ok(struct cell *c, double secs)
{
	c->state = CELL_OK;
	c->secs = secs;
}

static void cell_fail(struct cell *c, int rc, const char *what)
{
	c->state = CELL_FAILED;
	snprintf(c->why, sizeof(c->why), "%s: %s", what,
		 rc == -EBADMSG ? "wrong data" : strerror(-rc));
}

static void cell_set(struct cell *c, int rc, double secs, const char *what)
{
	if (rc < 0)
		cell_fail(c, rc, what);
	else
		cell_ok(c, secs);
}

static void cell_na(struct cell *c)
{
	c->state = CELL_NA;
}

/* ---- the big file ---- */

static int big_write(const char *path, uint64_t bytes, unsigned char *pool,
		     size_t pool_len, double *secs, double *t_close)
{
	double t0 = bench_now();
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return bench_err(-errno, "cannot create '%s': %s", path,
				 strerror(errno));
	for (uint64_t off = 0; off < bytes && rc == 0; off += BLOCK) {
		unsigned char *p = pool + off % pool_len;

		for (uint64_t pg = 0; pg < BLOCK; pg += PAGE) {
			uint64_t stamp = off + pg;

			memcpy(p + pg, &stamp, sizeof(stamp));
		}
		rc = write_full(fd, p, BLOCK);
		if (rc < 0)
			bench_err(rc, "cannot write '%s' at %llu: %s", path,
				  (unsigned long long)off, strerror(-rc));
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = bench_err(-errno, "cannot fsync '%s': %s", path,
			       strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = bench_err(-errno, "cannot close '%s': %s", path,
			       strerror(errno));
	*t_close = bench_now();
	*secs = *t_close - t0;
	return rc;
}

static int big_read(const char *path, uint64_t bytes, unsigned char *buf,
		    double *secs)
{
	double t0 = bench_now();
	uint64_t off = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bench_err(-errno, "cannot open '%s': %s", path,
				 strerror(errno));
	for (;;) {
		ssize_t n = read_full(fd, buf, BLOCK);

		if (n < 0) {
			rc = bench_err((int)n, "cannot read '%s' at %llu: %s",
				       path, (unsigned long long)off,
				       strerror((int)-n));
			break;
		}
		if (n == 0)
			break;
		for (ssize_t pg = 0; pg + 8 <= n; pg += PAGE) {
			uint64_t stamp;

			memcpy(&stamp, buf + pg, sizeof(stamp));
			if (stamp != off + (uint64_t)pg) {
				rc = bench_err(
					-EBADMSG, "wrong bytes in '%s' at %llu",
					path,
					(unsigned long long)(off +
							     (uint64_t)pg));
				break;
			}
		}
		off += (uint64_t)n;
		if (rc < 0 || n < BLOCK)
			break;
	}
	close(fd);
	*secs = bench_now() - t0;
	if (rc == 0 && off != bytes)
		rc = bench_err(-EBADMSG, "'%s' reads %llu bytes, not %llu",
			       path, (unsigned long long)off,
			       (unsigned long long)bytes);
	return rc;
}

/* One 4 KiB page rewritten in the middle: what an editor or a database
 * does to a large file.  The page keeps its stamp so later reads check. */
static int big_overwrite(const char *path, uint64_t bytes, double *secs)
{
	unsigned char page[PAGE];
	uint64_t off = (bytes / 2) & ~(uint64_t)(PAGE - 1);
	double t0;
	ssize_t n;
	int fd, rc = 0;

	memset(page, 0xa5, sizeof(page));
	memcpy(page, &off, sizeof(off));
	t0 = bench_now();
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return bench_err(-errno, "cannot open '%s': %s", path,
				 strerror(errno));
	n = pwrite(fd, page, sizeof(page), (off_t)off);
	if (n != (ssize_t)sizeof(page))
		rc = bench_err(n < 0 ? -errno : -EIO,
			       "cannot write 4 KiB in '%s': %s", path,
			       n < 0 ? strerror(errno) : "short write");
	if (close(fd) < 0 && rc == 0)
		rc = bench_err(-errno, "cannot close '%s': %s", path,
			       strerror(errno));
	*secs = bench_now() - t0;
	return rc;
}

/* ---- the small files ---- */

static int small_path(char *out, const char *mnt, unsigned folders, unsigned i)
{
	return bench_path(out, "%s/small/d%02u/f%06u", mnt, i % folders, i);
}

static void small_content(unsigned char *buf, unsigned i)
{
	uint64_t stamp = i;

	fill_random(buf, SMALL_SIZE, 0x5eed0000ULL + i);
	memcpy(buf, &stamp, sizeof(stamp));
}

/* mkdir each folder, then fill it; *t_last_close is when the last file
 * was closed (the start of the commit latency). */
static int small_create(const char *mnt, unsigned files, unsigned folders,
			double *secs, double *t_last_close)
{
	unsigned char buf[SMALL_SIZE];
	char path[BENCH_PATH_MAX];
	double t0 = bench_now();
	int rc;

	rc = bench_path(path, "%s/small", mnt);
	if (rc < 0)
		return rc;
	if (mkdir(path, 0755) < 0)
		return bench_err(-errno, "cannot create '%s': %s", path,
				 strerror(errno));
	for (unsigned d = 0; d < folders; d++) {
		rc = bench_path(path, "%s/small/d%02u", mnt, d);
		if (rc < 0)
			return rc;
		if (mkdir(path, 0755) < 0)
			return bench_err(-errno, "cannot create '%s': %s", path,
					 strerror(errno));
		for (unsigned i = d; i < files; i += folders) {
			int fd;

			rc = small_path(path, mnt, folders, i);
			if (rc < 0)
				return rc;
			small_content(buf, i);
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				  0644);
			if (fd < 0)
				return bench_err(-errno,
						 "cannot create '%s': %s", path,
						 strerror(errno));
			rc = write_full(fd, buf, sizeof(buf));
			if (close(fd) < 0 && rc == 0)
				rc = -errno;
			if (rc < 0)
				return bench_err(rc, "cannot write '%s': %s",
						 path, strerror(-rc));
		}
	}
	*t_last_close = bench_now();
	*secs = *t_last_close - t0;
	return 0;
}

static int small_read_all(const char *mnt, unsigned files, unsigned folders,
			  double *secs)
{
	unsigned char want[SMALL_SIZE], got[SMALL_SIZE + 1];
	char path[BENCH_PATH_MAX];
	double t0 = bench_now();
	int rc;

	for (unsigned d = 0; d < folders; d++) {
		for (unsigned i = d; i < files; i += folders) {
			ssize_t n;
			int fd;

			rc = small_path(path, mnt, folders, i);
			if (rc < 0)
				return rc;
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				return bench_err(-errno, "cannot open '%s': %s",
						 path, strerror(errno));
			n = read_full(fd, got, sizeof(got));
			close(fd);
			if (n < 0)
				return bench_err((int)n, "cannot read '%s': %s",
						 path, strerror((int)-n));
			small_content(want, i);
			if (n != SMALL_SIZE || memcmp(got, want, SMALL_SIZE))
				return bench_err(
					-EBADMSG,
					"'%s' does not hold what was written",
					path);
		}
	}
	*secs = bench_now() - t0;
	return 0;
}

/* Count lines of a file that start with c (ls -l file lines, rsync
 * itemized changes). */
static long count_lines(const char *path, int c)
{
	char line[4096];
	long count = 0;
	bool at_start = true;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (at_start && (c == 0 || line[0] == c))
			count++;
		at_start = strchr(line, '\n') != NULL;
	}
	fclose(f);
	return count;
}

static int run_ls(struct target *t, unsigned files, double *secs)
{
	char dir[BENCH_PATH_MAX], out[BENCH_PATH_MAX], err[BENCH_PATH_MAX];
	char *argv[] = { (char *)"ls", (char *)"-lR", dir, NULL };
	double t0;
	long n;
	int rc;

	if ((rc = bench_path(dir, "%s/small", t->mnt)) < 0 ||
	    (rc = bench_path(out, "%s/ls.out", t->dir)) < 0 ||
	    (rc = bench_path(err, "%s/ls.err", t->dir)) < 0)
		return rc;
	unlink(out);
	t0 = bench_now();
	rc = proc_run(argv, out, err, t->timeout_s);
	*secs = bench_now() - t0;
	if (rc > 0)
		return bench_err(-EIO, "ls -lR exited with %d (see '%s')", rc,
				 err);
	if (rc < 0)
		return rc;
	n = count_lines(out, '-');
	unlink(out);
	if (n != (long)files)
		return bench_err(-EBADMSG, "ls -lR listed %ld files, not %u", n,
				 files);
	return 0;
}

/* rsync -a (itemized, to count what a no-op run still sends). */
static int run_rsync(struct target *t, const char *src, long *itemized,
		     double *secs)
{
	char from[BENCH_PATH_MAX], to[BENCH_PATH_MAX], out[BENCH_PATH_MAX];
	char log[BENCH_PATH_MAX];
	char *argv[] = {
		(char *)"rsync", (char *)"-a", (char *)"-i", from, to, NULL
	};
	double t0;
	int rc;

	if ((rc = bench_path(from, "%s/", src)) < 0 ||
	    (rc = bench_path(to, "%s/tree", t->mnt)) < 0 ||
	    (rc = bench_path(out, "%s/rsync.out", t->dir)) < 0 ||
	    (rc = bench_path(log, "%s/rsync.log", t->dir)) < 0)
		return rc;
	unlink(out);
	t0 = bench_now();
	rc = proc_run(argv, out, log, t->timeout_s);
	*secs = bench_now() - t0;
	if (rc > 0)
		return bench_err(-EIO, "rsync -a exited with %d (see '%s')", rc,
				 log);
	if (rc < 0)
		return rc;
	*itemized = count_lines(out, 0);
	return 0;
}

/* Files unlinked by the current remove_tree() (nftw has no user data). */
static long rm_files;

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0)
		return bench_err(-errno, "cannot remove '%s': %s", path,
				 strerror(errno));
	if (flag != FTW_DP)
		rm_files++;
	return 0;
}

static long count_files;

static int count_entry(const char *path, const struct stat *st, int flag,
		       struct FTW *ftw)
{
	if (flag == FTW_F)
		count_files++;
	return 0;
}

/* Regular files below path (untimed: checks what a step left). */
static long tree_count(const char *path)
{
	count_files = 0;
	if (nftw(path, count_entry, 32, FTW_PHYS) < 0)
		return -errno;
	return count_files;
}

/* Remove path and everything below; *files = how many files it held, so
 * a drive that lists a moved folder as empty cannot look fast. */
static int remove_tree(const char *path, long *files)
{
	int rc;

	rm_files = 0;
	rc = nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
	*files = rm_files;
	if (rc == -1)
		return bench_err(-errno, "cannot walk '%s': %s", path,
				 strerror(errno));
	return rc;
}

int work_make_tree(const char *dir, unsigned nfiles)
{
	unsigned char buf[32 * 1024];
	char path[BENCH_PATH_MAX];
	uint64_t s = 0x7ee5;
	int rc;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return bench_err(-errno, "cannot create '%s': %s", dir,
				 strerror(errno));
	/* Folders of 50 files under 8 top folders; sizes 1..32 KiB. */
	for (unsigned i = 0; i < nfiles; i++) {
		unsigned k = i / TREE_PER_DIR;
		size_t size = 1024 + (size_t)(rng_next(&s) % (31 * 1024));
		int fd;

		if (i % TREE_PER_DIR == 0) {
			rc = bench_path(path, "%s/g%u", dir, k % 8);
			if (rc == 0 && mkdir(path, 0755) < 0 && errno != EEXIST)
				rc = -errno;
			if (rc == 0)
				rc = bench_path(path, "%s/g%u/d%03u", dir,
						k % 8, k);
			if (rc == 0 && mkdir(path, 0755) < 0)
				rc = -errno;
			if (rc < 0)
				return bench_err(rc, "cannot create '%s': %s",
						 path, strerror(-rc));
		}
		rc = bench_path(path, "%s/g%u/d%03u/file%05u.dat", dir, k % 8,
				k, i);
		if (rc < 0)
			return rc;
		fill_random(buf, size, 0x7000000ULL + i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return bench_err(-errno, "cannot create '%s': %s", path,
					 strerror(errno));
		rc = write_full(fd, buf, size);
		close(fd);
		if (rc < 0)
			return bench_err(rc, "cannot write '%s': %s", path,
					 strerror(-rc));
	}
	return 0;
}

/* Remount (coffre keeps its disk cache unless fresh) and drop the kernel
 * caches, so the next step starts cold. */
static int go_cold(struct target *t, const struct bench_opts *o, bool fresh)
{
	int rc = target_remount(t, fresh);

	if (rc < 0)
		return rc;
	if (o->can_drop_caches) {
		rc = drop_caches();
		if (rc < 0)
			return bench_err(rc, "cannot drop caches: %s",
					 strerror(-rc));
	}
	return 0;
}

void work_run(struct target *t, const struct bench_opts *o,
	      const char *tree_src, struct cell c[ROW_COUNT])
{
	const bool cof = t->kind == TARGET_COFFRE;
	const uint64_t bytes = o->size_mib * BLOCK;
	size_t pool_len = bytes < POOL_MAX ? (size_t)bytes : POOL_MAX;
	unsigned char *pool = NULL, *rbuf = NULL;
	char big[BENCH_PATH_MAX], tree[BENCH_PATH_MAX], moved[BENCH_PATH_MAX];
	const double wd = o->timeout_s + 120 + (double)o->size_mib / 10;
	double secs, t_close = 0;
	long itemized = 0;
	int rc;

	if (!cof) {
		cell_na(&c[ROW_BIG_COMMIT]);
		cell_na(&c[ROW_COMMIT_LATENCY]);
		cell_na(&c[ROW_ALL_COMMIT]);
		cell_na(&c[ROW_EMPTY_CACHE_READ]);
	}
	if (bench_path(big, "%s/big.bin", t->mnt) < 0 ||
	    bench_path(tree, "%s/tree", t->mnt) < 0 ||
	    bench_path(moved, "%s/tree-renamed", t->mnt) < 0)
		goto out;
	pool = malloc(pool_len);
	rbuf = malloc(BLOCK);
	if (!pool || !rbuf) {
		bench_err(-ENOMEM, "out of memory for the data pool");
		goto out;
	}
	fill_random(pool, pool_len, 0xb16f11e);

	/* Between steps: the drive must still be there, and the next step
	 * gets a fresh watchdog deadline: a wait's own timeout plus room,
	 * plus time to move the big file at 10 MiB/s. */
#define STEP_CHECK()                           \
	do {                                   \
		if (target_check(t) < 0)       \
			goto out;              \
		cleanup_watchdog(wd, t->name); \
	} while (0)

	cleanup_watchdog(wd, t->name);
	bench_note("%s: sequential write of %llu MiB + fsync", t->name,
		   (unsigned long long)o->size_mib);
	rc = big_write(big, bytes, pool, pool_len, &secs, &t_close);
	cell_set(&c[ROW_SEQ_WRITE], rc, secs, "write");
	STEP_CHECK();
	if (cof) {
		bench_note("%s: waiting for the server to commit it", t->name);
		rc = target_wait_committed(t, t_close, o->timeout_s, &secs);
		cell_set(&c[ROW_BIG_COMMIT], rc, secs, "wait");
		STEP_CHECK();
	}

	bench_note("%s: cold read", t->name);
	rc = go_cold(t, o, false);
	if (rc == 0)
		rc = big_read(big, bytes, rbuf, &secs);
	cell_set(&c[ROW_COLD_READ], rc, secs, "read");
	STEP_CHECK();
	bench_note("%s: warm read", t->name);
	rc = big_read(big, bytes, rbuf, &secs);
	cell_set(&c[ROW_WARM_READ], rc, secs, "read");
	STEP_CHECK();

	bench_note("%s: %u files of 4 KiB in %u folders", t->name, o->files,
		   o->folders);
	rc = small_create(t->mnt, o->files, o->folders, &secs, &t_close);
	cell_set(&c[ROW_CREATE], rc, secs, "create");
	STEP_CHECK();
	if (cof) {
		rc = target_wait_committed(t, t_close, o->timeout_s, &secs);
		cell_set(&c[ROW_COMMIT_LATENCY], rc, secs, "wait");
		STEP_CHECK();
	}

	bench_note("%s: ls -lR after remount", t->name);
	rc = go_cold(t, o, false);
	if (rc == 0)
		rc = run_ls(t, o->files, &secs);
	cell_set(&c[ROW_LS], rc, secs, "ls");
	STEP_CHECK();
	bench_note("%s: reading the %u small files", t->name, o->files);
	rc = small_read_all(t->mnt, o->files, o->folders, &secs);
	cell_set(&c[ROW_READ_SMALL], rc, secs, "read");
	STEP_CHECK();

	bench_note("%s: 4 KiB overwrite in the middle of the big file",
		   t->name);
	rc = big_overwrite(big, bytes, &secs);
	cell_set(&c[ROW_OVERWRITE], rc, secs, "overwrite");
	STEP_CHECK();

	bench_note("%s: rsync -a of a %u-file tree, then again", t->name,
		   o->tree_files);
	rc = run_rsync(t, tree_src, &itemized, &secs);
	cell_set(&c[ROW_RSYNC], rc, secs, "rsync");
	if (rc == 0) {
		long n = tree_count(tree);

		if (n != (long)o->tree_files) {
			bench_err(-EBADMSG,
				  "'%s' lists %ld files after rsync, not %u",
				  tree, n, o->tree_files);
			c[ROW_RSYNC].state = CELL_FAILED;
			snprintf(c[ROW_RSYNC].why, sizeof(c[ROW_RSYNC].why),
				 "the copy lists %ld files, not %u", n,
				 o->tree_files);
		}
	}
	STEP_CHECK();
	rc = run_rsync(t, tree_src, &itemized, &secs);
	if (rc < 0) {
		cell_fail(&c[ROW_RSYNC_NOOP], rc, "rsync");
	} else {
		cell_ok(&c[ROW_RSYNC_NOOP], secs);
		if (itemized > 0)
			snprintf(c[ROW_RSYNC_NOOP].why,
				 sizeof(c[ROW_RSYNC_NOOP].why),
				 "not a no-op: %ld entries sent again",
				 itemized);
	}
	STEP_CHECK();

	bench_note("%s: rename and delete of the tree", t->name);
	{
		double t0 = bench_now();
		const char *victim = moved;
		long removed = 0;

		if (rename(tree, moved) < 0) {
			rc = bench_err(-errno, "cannot rename '%s': %s", tree,
				       strerror(errno));
			cell_fail(&c[ROW_RENAME], rc, "rename");
			victim = tree;
		} else {
			cell_ok(&c[ROW_RENAME], bench_now() - t0);
		}
		STEP_CHECK();
		t0 = bench_now();
		rc = remove_tree(victim, &removed);
		cell_set(&c[ROW_DELETE], rc, bench_now() - t0, "delete");
		if (rc == 0 && removed != (long)o->tree_files) {
			bench_err(-EBADMSG, "'%s' held %ld files, not %u",
				  victim, removed, o->tree_files);
			c[ROW_DELETE].state = CELL_FAILED;
			snprintf(c[ROW_DELETE].why, sizeof(c[ROW_DELETE].why),
				 "the tree held %ld files, not %u", removed,
				 o->tree_files);
		}
		t_close = bench_now();
		STEP_CHECK();
	}

	if (cof) {
		bench_note("%s: waiting for the server to commit everything",
			   t->name);
		rc = target_wait_committed(t, t_close, o->timeout_s, &secs);
		cell_set(&c[ROW_ALL_COMMIT], rc, secs, "wait");
		STEP_CHECK();
		if (rc == 0) {
			bench_note("%s: read after remount with an empty cache",
				   t->name);
			rc = go_cold(t, o, true);
			if (rc == 0)
				rc = big_read(big, bytes, rbuf, &secs);
			cell_set(&c[ROW_EMPTY_CACHE_READ], rc, secs, "read");
		} else {
			cell_fail(&c[ROW_EMPTY_CACHE_READ], -ESTALE,
				  "not all committed");
		}
	}
#undef STEP_CHECK
out:
	cleanup_watchdog(0, NULL);
	for (int i = 0; i < ROW_COUNT; i++)
		if (c[i].state == CELL_NOT_RUN)
			cell_fail(&c[i], -ENOTCONN, "not run");
	free(pool);
	free(rbuf);
}
