/*
 * sync_bench: what the sync engine costs, next to rsync over the same
 * loopback as the yardstick.  One coffred, two drives of one space:
 *
 *   1. a SIZE MiB file is written through drive A and committed;
 *   2. 4 KiB in its middle are changed in place: the new chunk files the
 *      server stores are what was uploaded (a chunk the server holds is
 *      never sent);
 *   3. the same content as step 1 is deposited under another name: it
 *      should upload no chunk at all;
 *   4. RUNS small files are closed on A and timed until B sees them (the
 *      change feed; the settle delay is part of it);
 *   5. rsync: the step-1 file is sent to an rsync daemon on 127.0.0.1,
 *      then the same 4 KiB change is sent again ("Total bytes sent").
 *
 * Peak RSS (VmHWM) of the mount processes and of coffred, and of the rsync
 * client, are printed with the figures.  Everything lives in a fresh work
 * dir that is removed on every exit path (bench_cleanup.c).
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define EDIT_SIZE 4096
#define RUNS_MAX  1000

struct opts {
	uint64_t size_mib;
	unsigned runs;
	double timeout_s;
	bool keep;
	const char *coffre, *coffred;
};

struct figures {
	uint64_t edit_chunks, edit_bytes;   /* new chunk files after the edit */
	uint64_t dedup_chunks, dedup_bytes; /* after depositing held content */
	double lat_median, lat_min, lat_max;
	unsigned lat_n;
	long rss_a, rss_b, rss_srv;
	long long rsync_edit_bytes, rsync_first_bytes;
	double rsync_edit_secs;
	long rsync_rss;
	double commit_secs;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A deterministic stream: the same seed gives the same bytes. */
static void fill(uint8_t *p, size_t n, uint64_t *state)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x = *state;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		*state = x;
		memcpy(p + i, &x, n - i < 8 ? n - i : 8);
	}
}

static int write_file(const char *path, uint64_t size, uint64_t seed)
{
	const size_t blk = 1u << 20;
	uint8_t *buf = malloc(blk);
	uint64_t left = size, st = seed;
	int fd, rc = 0;

	if (!buf)
		return bench_err(-ENOMEM, "out of memory");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(buf);
		return bench_err(-errno, "cannot create '%s': %s", path,
				 strerror(errno));
	}
	while (left && rc == 0) {
		size_t n = left < blk ? (size_t)left : blk;
		ssize_t w;

		fill(buf, n, &st);
		w = write(fd, buf, n);
		if (w != (ssize_t)n)
			rc = bench_err(w < 0 ? -errno : -EIO,
				       "write to '%s' failed: %s", path,
				       w < 0 ? strerror(errno) : "short write");
		left -= n;
	}
	if (close(fd) < 0 && rc == 0)
		rc = bench_err(-errno, "close of '%s' failed: %s", path,
			       strerror(errno));
	free(buf);
	return rc;
}

static int edit_file(const char *path, uint64_t off)
{
	uint8_t buf[EDIT_SIZE];
	uint64_t st = 0x5eed0ed17ULL;
	int fd, rc = 0;

	fill(buf, sizeof(buf), &st);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return bench_err(-errno, "cannot open '%s': %s", path,
				 strerror(errno));
	if (pwrite(fd, buf, sizeof(buf), (off_t)off) != (ssize_t)sizeof(buf))
		rc = bench_err(-EIO, "pwrite to '%s' failed", path);
	if (close(fd) < 0 && rc == 0)
		rc = bench_err(-errno, "close of '%s': %s", path,
			       strerror(errno));
	return rc;
}

/* Wait until the drive shows version want of path (committed). */
static int wait_version(const char *path, long want, double timeout_s)
{
	double end = bench_now() + timeout_s;
	char buf[32];

	for (;;) {
		ssize_t n = getxattr(path, "user.coffre.version", buf,
				     sizeof(buf) - 1);

		if (n > 0) {
			buf[n] = '\0';
			if (strtol(buf, NULL, 10) >= want)
				return 0;
		}
		if (bench_now() > end)
			return bench_err(-ETIMEDOUT,
					 "'%s' not at version %ld after %.0f s",
					 path, want, timeout_s);
		sleep_ms(20);
	}
}

/* Number and bytes of the chunk files under dir (two levels). */
static int chunk_usage(const char *dir, uint64_t *count, uint64_t *bytes)
{
	DIR *d = opendir(dir), *sd;
	struct dirent *e, *f;
	char sub[BENCH_PATH_MAX], file[BENCH_PATH_MAX];
	struct stat st;

	*count = *bytes = 0;
	if (!d)
		return bench_err(-errno, "cannot open '%s': %s", dir,
				 strerror(errno));
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    bench_path(sub, "%s/%s", dir, e->d_name) < 0 ||
		    !(sd = opendir(sub)))
			continue;
		while ((f = readdir(sd))) {
			if (f->d_name[0] == '.' ||
			    bench_path(file, "%s/%s", sub, f->d_name) < 0 ||
			    stat(file, &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			(*count)++;
			*bytes += (uint64_t)st.st_size;
		}
		closedir(sd);
	}
	closedir(d);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Close on A, poll B every 5 ms until the file is there with its size. */
static int latency(const struct target *a, const struct target *b,
		   const struct opts *o, struct figures *fg)
{
	double *t = calloc(o->runs, sizeof(*t));
	char pa[BENCH_PATH_MAX], pb[BENCH_PATH_MAX], text[64];
	int rc = 0;

	if (!t)
		return bench_err(-ENOMEM, "out of memory");
	for (unsigned i = 0; i < o->runs && rc == 0; i++) {
		struct stat st;
		double t0, end;
		int fd, len;

		len = snprintf(text, sizeof(text), "run %u of the latency\n",
			       i);
		if ((rc = bench_path(pa, "%s/lat-%u.txt", a->mnt, i)) < 0 ||
		    (rc = bench_path(pb, "%s/lat-%u.txt", b->mnt, i)) < 0)
			break;
		fd = open(pa, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, text, (size_t)len) != len) {
			rc = bench_err(-EIO, "cannot write '%s'", pa);
			if (fd >= 0)
				close(fd);
			break;
		}
		close(fd);
		t0 = bench_now();
		end = t0 + o->timeout_s;
		while (stat(pb, &st) < 0 || st.st_size != len) {
			if (bench_now() > end) {
				rc = bench_err(
					-ETIMEDOUT,
					"'%s' not seen on the second drive after %.0f s",
					pb, o->timeout_s);
				break;
			}
			sleep_ms(5);
		}
		t[i] = bench_now() - t0;
	}
	if (rc == 0) {
		qsort(t, o->runs, sizeof(*t), cmp_double);
		fg->lat_n = o->runs;
		fg->lat_min = t[0];
		fg->lat_max = t[o->runs - 1];
		fg->lat_median =
			o->runs % 2 ? t[o->runs / 2] :
				      (t[o->runs / 2 - 1] + t[o->runs / 2]) / 2;
	}
	free(t);
	return rc;
}

/* Run argv with stdout to out; its exit status, peak RSS (KiB), time. */
static int run_measured(char *const argv[], const char *out, long *rss_kib,
			double *secs)
{
	struct rusage ru;
	double t0 = bench_now();
	int st, fd;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return bench_err(-errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) < 0)
		return bench_err(-errno, "wait4: %s", strerror(errno));
	*secs = bench_now() - t0;
	*rss_kib = ru.ru_maxrss;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* "Total bytes sent: 1,234" from rsync --stats output in path. */
static long long rsync_sent(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];
	long long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Total bytes sent: ", 18)) {
			v = 0;
			for (char *p = line + 18; *p && *p != '\n'; p++)
				if (*p >= '0' && *p <= '9')
					v = v * 10 + (*p - '0');
		}
	}
	fclose(f);
	return v;
}

static int free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s >= 0 && bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(s, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static int rsync_yardstick(const char *work, const struct opts *o,
			   struct figures *fg)
{
	char src[BENCH_PATH_MAX], dst[BENCH_PATH_MAX], conf[BENCH_PATH_MAX];
	char file[BENCH_PATH_MAX], url[BENCH_PATH_MAX], log1[BENCH_PATH_MAX];
	char log2[BENCH_PATH_MAX], dlog[BENCH_PATH_MAX], portopt[32];
	uint64_t size = o->size_mib << 20;
	double secs;
	long rss;
	pid_t d;
	FILE *f;
	int port, rc;

	if ((rc = bench_path(src, "%s/rsync-src", work)) < 0 ||
	    (rc = bench_path(dst, "%s/rsync-dst", work)) < 0 ||
	    (rc = bench_path(conf, "%s/rsyncd.conf", work)) < 0 ||
	    (rc = bench_path(file, "%s/big.bin", src)) < 0 ||
	    (rc = bench_path(log1, "%s/rsync-first.log", work)) < 0 ||
	    (rc = bench_path(log2, "%s/rsync-edit.log", work)) < 0 ||
	    (rc = bench_path(dlog, "%s/rsyncd.log", work)) < 0)
		return rc;
	if (mkdir(src, 0755) < 0 || mkdir(dst, 0755) < 0)
		return bench_err(-errno, "mkdir: %s", strerror(errno));
	port = free_port();
	if (port < 0)
		return bench_err(-EADDRNOTAVAIL, "no free port on 127.0.0.1");
	f = fopen(conf, "we");
	if (!f)
		return bench_err(-errno, "cannot write '%s'", conf);
	fprintf(f,
		"use chroot = no\nuid = 0\ngid = 0\n[m]\npath = %s\nread only = no\n",
		dst);
	fclose(f);
	snprintf(portopt, sizeof(portopt), "--port=%d", port);
	{
		char *argv[] = { (char *)"rsync",
				 (char *)"--daemon",
				 (char *)"--no-detach",
				 (char *)"--address=127.0.0.1",
				 portopt,
				 (char *)"--config",
				 conf,
				 NULL };

		rc = proc_spawn(&d, argv, dlog, dlog, true);
		if (rc < 0)
			return rc;
		cleanup_add_pid(d);
	}
	sleep_ms(500);
	rc = write_file(file, size, 0xc0ffeeULL);
	if (rc < 0)
		goto out;
	snprintf(url, sizeof(url), "rsync://127.0.0.1:%d/m/", port);
	{
		/* -I: the edit keeps the size and may keep the second of the
		 * mtime; rsync must not skip the file on its quick check */
		char *argv[] = { (char *)"rsync",
				 (char *)"-a",
				 (char *)"-I",
				 (char *)"--stats",
				 (char *)"--no-whole-file",
				 file,
				 url,
				 NULL };

		rc = run_measured(argv, log1, &rss, &secs);
		if (rc != 0) {
			rc = bench_err(-EIO,
				       "the first rsync exited %d (see %s)", rc,
				       log1);
			goto out;
		}
		fg->rsync_first_bytes = rsync_sent(log1);
		rc = edit_file(file, size / 2);
		if (rc < 0)
			goto out;
		rc = run_measured(argv, log2, &fg->rsync_rss,
				  &fg->rsync_edit_secs);
		if (rc != 0) {
			rc = bench_err(-EIO, "the second rsync exited %d", rc);
			goto out;
		}
		fg->rsync_edit_bytes = rsync_sent(log2);
	}
out:
	proc_stop(d, 5);
	cleanup_del_pid(d);
	return rc < 0 ? rc : 0;
}

static int run(const char *work, const struct opts *o, struct figures *fg)
{
	struct target a, b;
	char big[BENCH_PATH_MAX], copy[BENCH_PATH_MAX], chunks[BENCH_PATH_MAX];
	uint64_t size = o->size_mib << 20, c0, b0, c1, b1, c2, b2;
	bool b_up = false;
	double t0;
	int rc;

	if ((rc = target_init(&a, TARGET_COFFRE, work, o->coffre, o->coffred)) <
	    0)
		return rc;
	a.timeout_s = o->timeout_s;
	bench_note("setting up coffred and two drives of one space");
	if ((rc = target_setup(&a)) < 0)
		goto out;
	if ((rc = target_second_mount(&a, &b, "second")) < 0)
		goto out;
	b_up = true;
	if ((rc = bench_path(big, "%s/big.bin", a.mnt)) < 0 ||
	    (rc = bench_path(copy, "%s/big-again.bin", a.mnt)) < 0 ||
	    (rc = bench_path(chunks, "%s/spaces/bench/chunks", a.data)) < 0)
		goto out;

	bench_note("writing %llu MiB through the first drive",
		   (unsigned long long)o->size_mib);
	if ((rc = write_file(big, size, 0xc0ffeeULL)) < 0)
		goto out;
	t0 = bench_now();
	if ((rc = wait_version(big, 1, o->timeout_s)) < 0)
		goto out;
	fg->commit_secs = bench_now() - t0;
	if ((rc = chunk_usage(chunks, &c0, &b0)) < 0)
		goto out;

	bench_note("changing 4 KiB in the middle");
	if ((rc = edit_file(big, size / 2)) < 0 ||
	    (rc = wait_version(big, 2, o->timeout_s)) < 0 ||
	    (rc = chunk_usage(chunks, &c1, &b1)) < 0)
		goto out;
	fg->edit_chunks = c1 - c0;
	fg->edit_bytes = b1 - b0;

	bench_note("depositing content the space already holds");
	if ((rc = write_file(copy, size, 0xc0ffeeULL)) < 0 ||
	    (rc = wait_version(copy, 1, o->timeout_s)) < 0 ||
	    (rc = chunk_usage(chunks, &c2, &b2)) < 0)
		goto out;
	fg->dedup_chunks = c2 - c1;
	fg->dedup_bytes = b2 - b1;

	bench_note(
		"timing close() on the first drive to visible on the second, %u runs",
		o->runs);
	if ((rc = latency(&a, &b, o, fg)) < 0)
		goto out;
	fg->rss_a = proc_peak_rss_kib(a.fs_pid);
	fg->rss_b = proc_peak_rss_kib(b.fs_pid);
	fg->rss_srv = proc_peak_rss_kib(a.srv_pid);
out:
	if (rc < 0) {
		target_dump_logs(&a);
		if (b_up)
			target_dump_logs(&b);
	}
	if (b_up)
		target_teardown(&b);
	target_teardown(&a);
	return rc;
}

static void print(const struct opts *o, const struct figures *fg)
{
	printf("\nsync_bench: %llu MiB file, 4 KiB changed in its middle; coffre next to rsync over 127.0.0.1\n\n",
	       (unsigned long long)o->size_mib);
	printf("%-52s %18s %18s\n", "figure", "coffre", "rsync");
	printf("%-52s %15llu B %15lld B\n", "bytes sent for the 4 KiB change",
	       (unsigned long long)fg->edit_bytes, fg->rsync_edit_bytes);
	printf("%-52s %18llu %18s\n", "  chunks uploaded for it",
	       (unsigned long long)fg->edit_chunks, "-");
	printf("%-52s %15llu B %18s\n",
	       "bytes sent to deposit content already held",
	       (unsigned long long)fg->dedup_bytes, "-");
	printf("%-52s %15.0f ms %15.0f ms\n",
	       "close() to visible on a 2nd drive, median",
	       fg->lat_median * 1e3, fg->rsync_edit_secs * 1e3);
	printf("%-52s %9.0f..%.0f ms %18s\n", "  min..max", fg->lat_min * 1e3,
	       fg->lat_max * 1e3, "");
	printf("%-52s %15.1f s %18s\n", "first commit of the whole file",
	       fg->commit_secs, "");
	printf("%-52s %14ld KiB %14ld KiB\n",
	       "peak RSS, client (first drive / rsync)", fg->rss_a,
	       fg->rsync_rss);
	printf("%-52s %14ld KiB %18s\n", "peak RSS, second drive", fg->rss_b,
	       "");
	printf("%-52s %14ld KiB %18s\n", "peak RSS, server (coffred / rsyncd)",
	       fg->rss_srv, "n/a");
	printf("\ncoffre's bytes are the chunk files the server stored (encrypted: a little\n"
	       "over the plaintext); rsync's are its --stats \"Total bytes sent\" for the change.\n"
	       "rsync's time column is the time of that second rsync run (%u coffre runs).\n"
	       "The first rsync sent %lld B.\n",
	       fg->lat_n, fg->rsync_first_bytes);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sync_bench [--size-mib N] [--runs N] [--timeout S] [--keep]\n"
		"                  [--coffre PATH] [--coffred PATH]\n"
		"  --size-mib N  size of the big file (default 1024; 4096 for the memory figure)\n"
		"  --runs N      close-to-visible samples (default 20)\n"
		"  --timeout S   for any one wait (default 600)\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size-mib", required_argument, NULL, 's' },
		{ "runs", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "keep", no_argument, NULL, 'k' },
		{ "coffre", required_argument, NULL, 'c' },
		{ "coffred", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .size_mib = 1024, .runs = 20, .timeout_s = 600 };
	struct figures fg = { 0 };
	char coffre[BENCH_PATH_MAX], coffred[BENCH_PATH_MAX];
	char work[BENCH_PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	int c, rc;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end;

		switch (c) {
		case 's':
			o.size_mib = strtoull(optarg, &end, 10);
			if (*end || o.size_mib < 1 || o.size_mib > 65536)
				return usage(stderr), 2;
			break;
		case 'r':
			o.runs = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o.runs < 1 || o.runs > RUNS_MAX)
				return usage(stderr), 2;
			break;
		case 't':
			o.timeout_s = strtod(optarg, &end);
			if (*end || o.timeout_s <= 0)
				return usage(stderr), 2;
			break;
		case 'k':
			o.keep = true;
			break;
		case 'c':
			o.coffre = optarg;
			break;
		case 'd':
			o.coffred = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if ((rc = o.coffre ? bench_path(coffre, "%s", o.coffre) :
			     bench_binary(coffre, "client/coffre")) < 0 ||
	    (rc = o.coffred ? bench_path(coffred, "%s", o.coffred) :
			      bench_binary(coffred, "server/coffred")) < 0 ||
	    (rc = bench_path(work, "%s/coffre-sync-bench.XXXXXX",
			     tmp && *tmp ? tmp : "/tmp")) < 0)
		return 1;
	o.coffre = coffre;
	o.coffred = coffred;
	if (!mkdtemp(work))
		return bench_err(1, "cannot create a work dir: %s",
				 strerror(errno));
	if (cleanup_init(work, o.keep) < 0)
		return 1;
	rc = run(work, &o, &fg);
	if (rc == 0)
		rc = rsync_yardstick(work, &o, &fg);
	if (rc == 0)
		print(&o, &fg);
	cleanup_run();
	return rc < 0 ? 1 : 0;
}
