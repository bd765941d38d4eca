/* Unit tests for common/fsutil in a private temporary directory. */
#include "common/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/tap.h"

static char root[] = "/tmp/coffre-test-fsutil.XXXXXX";

static char *at(const char *rel)
{
	static char p[4096];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return p;
}

/* Entries in dir other than "." and "..". */
static int count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_fsutil_atomic(void)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;

	is_int(file_write_atomic(at("f"), "hello", 5, 0640), 0, "atomic write");
	is_int(file_read_all(at("f"), 100, &data, &len), 0, "read back");
	ok(len == 5 && data && !strcmp(data, "hello"), "same content");
	free(data);
	ok(stat(at("f"), &st) == 0 && (st.st_mode & 0777) == 0640,
	   "mode applied");
	is_int(file_write_atomic(at("f"), "bye", 3, 0600), 0, "overwrite");
	file_read_all(at("f"), 100, &data, &len);
	ok(len == 3 && !strcmp(data, "bye"), "replaced whole");
	free(data);
	is_int(count_entries(root), 1, "no temporary file left");

	is_int(file_read_all(at("f"), 3, &data, &len), 0, "exactly the cap");
	free(data);
	is_int(file_read_all(at("f"), 2, &data, &len), -E2BIG, "over the cap");
	ok(data == NULL, "nothing returned over the cap");
	is_int(file_read_all(at("missing"), 10, &data, &len), -ENOENT,
	       "missing file");
	is_int(file_write_atomic(at("nodir/f"), "x", 1, 0600), -ENOENT,
	       "write into a missing dir fails");

	/* A file bigger than the initial read buffer. */
	{
		size_t n = 100000;
		char *big = malloc(n);

		for (size_t i = 0; i < n; i++)
			big[i] = (char)('a' + i % 26);
		file_write_atomic(at("big"), big, n, 0600);
		is_int(file_read_all(at("big"), n, &data, &len), 0,
		       "read 100000");
		ok(len == n && !memcmp(data, big, n), "big content intact");
		free(data);
		free(big);
	}
}

static void test_fsutil_tmpfile(void)
{
	struct tmpfile tf = tmpfile_init();
	char buf[16];
	char *tmp;
	int fd;

	mkdir(at("t"), 0700);
	is_int(tmpfile_open(&tf, at("t")), 0, "tmpfile_open");
	ok(tf.fd >= 0 && tf.path && strstr(tf.path, "/.tmp-"), "named .tmp-*");
	is_int(write_full(tf.fd, "abc", 3), 0, "write_full");
	tmp = strdup(tf.path);
	tmpfile_release(&tf);
	ok(access(tmp, F_OK) < 0 && errno == ENOENT, "release unlinks");
	is_int(count_entries(at("t")), 0, "directory empty after release");
	tmpfile_release(&tf);
	ok(tf.fd == -1 && tf.path == NULL, "release twice is harmless");
	free(tmp);

	tmpfile_open(&tf, at("t"));
	write_full(tf.fd, "xyz", 3);
	is_int(tmpfile_commit(&tf, at("t/final")), 0, "commit");
	tmpfile_release(&tf);
	is_int(count_entries(at("t")), 1, "only the final file remains");
	fd = open(at("t/final"), O_RDONLY);
	is_int(read_full(fd, buf, sizeof(buf)), 3, "read_full stops at EOF");
	is_int(pread_full(fd, buf, 2, 1), 2, "pread_full");
	ok(!memcmp(buf, "yz", 2), "pread at offset");
	close(fd);

	is_int(tmpfile_open(&tf, at("missing")), -ENOENT,
	       "tmpfile in missing dir");
	tmpfile_release(&tf);

	fd = open(at("t/p"), O_RDWR | O_CREAT, 0600);
	is_int(pwrite_full(fd, "BB", 2, 4), 0, "pwrite_full");
	is_int(pread_full(fd, buf, 16, 0), 6, "pwrite left a hole");
	ok(buf[0] == 0 && buf[4] == 'B', "hole is zeros");
	close(fd);
	is_int(fsync_dir(at("t")), 0, "fsync_dir of a dir");
	is_int(fsync_dir(at("t/final")), 0, "fsync_dir of a file's dir");
}

static void test_fsutil_dirs(void)
{
	struct stat st;

	is_int(mkdir_p(at("a/b//c/d"), 0700), 0, "mkdir_p deep");
	ok(stat(at("a/b/c/d"), &st) == 0 && S_ISDIR(st.st_mode), "exists");
	is_int(mkdir_p(at("a/b/c/d"), 0700), 0, "mkdir_p existing");
	is_int(mkdir_p(at("a/b/c/d/"), 0700), 0, "mkdir_p trailing slash");
	file_write_atomic(at("a/b/file"), "x", 1, 0600);
	is_int(mkdir_p(at("a/b/file/x"), 0700), -ENOTDIR, "file in the way");
	symlink("/nonexistent", at("a/b/c/link"));
	is_int(rm_rf(at("a")), 0, "rm_rf tree");
	ok(lstat(at("a"), &st) < 0 && errno == ENOENT, "tree gone");
	is_int(rm_rf(at("a")), 0, "rm_rf missing is fine");
	is_int(rm_rf(""), -EINVAL, "rm_rf refuses empty");
	is_int(rm_rf("/"), -EINVAL, "rm_rf refuses /");
}

int main(void)
{
	if (!mkdtemp(root))
		tap_skip_all("cannot create a temporary directory");
	test_fsutil_atomic();
	test_fsutil_tmpfile();
	test_fsutil_dirs();
	is_int(rm_rf(root), 0, "cleanup");
	return tap_done();
}
