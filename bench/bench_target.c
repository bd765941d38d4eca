/*
 * The two drives drive_bench measures, behind one small interface.
 *
 * fuse-overlayfs: an empty lower dir and an upper dir in the work dir,
 * mounted in the foreground so the bench owns its pid.  It is a
 * multi-threaded libfuse3 passthrough, so it shows what FUSE itself costs
 * on this machine and this filesystem.
 *
 * coffre: a private coffred (data dir in the work dir, 127.0.0.1, port 0
 * read back from --port-file), one user, one space, a login, and the drive
 * mounted with --foreground.  A remount keeps the cache dir (client memory
 * cold, disk cache warm) unless a fresh, empty one is asked for.
 *
 * Every daemon and mount goes into the cleanup registry the moment it
 * exists, so no exit path leaves one behind.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define BENCH_LOGIN   "bench"
#define BENCH_SPACE   "bench"
#define BENCH_PHONE   "+33612345678"
#define PENDING_XATTR "user.coffre.pending"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int target_init(struct target *t, enum target_kind kind, const char *workdir,
		const char *coffre_bin, const char *coffred_bin)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->timeout_s = 600;
	t->pending_by_xattr = true;
	if (kind == TARGET_OVERLAY) {
		t->name = "fuse-overlayfs";
		rc = bench_path(t->dir, "%s/overlay", workdir);
	} else {
		t->name = "coffre";
		t->coffre_bin = coffre_bin;
		t->coffred_bin = coffred_bin;
		rc = bench_path(t->dir, "%s/coffre", workdir);
		if (rc == 0)
			rc = bench_path(t->data, "%s/server", t->dir);
		if (rc == 0)
			rc = bench_path(t->cfg, "%s/config", t->dir);
		if (rc == 0)
			rc = bench_path(t->cache, "%s/cache-0", t->dir);
		if (rc == 0)
			rc = bench_path(t->srv_log, "%s/coffred.log", t->dir);
	}
	if (rc == 0)
		rc = bench_path(t->mnt, "%s/mnt", t->dir);
	if (rc == 0)
		rc = bench_path(t->log, "%s/mount.log", t->dir);
	return rc;
}

static int make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return bench_err(-errno, "cannot create '%s': %s", path,
				 strerror(errno));
	return 0;
}

/* The mount point as /proc/self/mountinfo spells it (octal escapes). */
static void mountinfo_escape(char *out, size_t size, const char *path)
{
	size_t o = 0;

	for (const char *p = path; *p && o + 5 < size; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\%03o",
					      (unsigned char)*p);
		else
			out[o++] = *p;
	}
	out[o] = '\0';
}

/* Whether mnt is a mount point now, read from mountinfo so that a
 * half-started FUSE daemon is never asked anything. */
static bool is_mounted(const char *mnt)
{
	char want[BENCH_PATH_MAX * 4];
	char line[4096];
	bool found = false;
	FILE *f;

	mountinfo_escape(want, sizeof(want), mnt);
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* id parent major:minor root MOUNTPOINT ... */
		char *save = NULL;
		char *field = strtok_r(line, " ", &save);

		for (int i = 0; field && i < 4; i++)
			field = strtok_r(NULL, " ", &save);
		found = field && strcmp(field, want) == 0;
	}
	fclose(f);
	return found;
}

static int wait_mounted(struct target *t)
{
	double end = bench_now() + 60;

	while (!is_mounted(t->mnt)) {
		if (!proc_alive(t->fs_pid)) {
			/* Reaped: its pid may be reused, forget it. */
			cleanup_del_pid(t->fs_pid);
			t->fs_pid = 0;
			return bench_err(
				-ENOTCONN,
				"%s mount process exited before mounting '%s' (see its log below)",
				t->name, t->mnt);
		}
		if (bench_now() > end)
			return bench_err(-ETIMEDOUT,
					 "%s did not mount '%s' within 60 s",
					 t->name, t->mnt);
		sleep_ms(10);
	}
	return 0;
}

static int mount_overlay(struct target *t)
{
	char opts[BENCH_PATH_MAX * 4];
	char *argv[] = { (char *)"fuse-overlayfs",
			 (char *)"-f",
			 (char *)"-o",
			 opts,
			 t->mnt,
			 NULL };
	int n;

	n = snprintf(opts, sizeof(opts),
		     "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work",
		     t->dir, t->dir, t->dir);
	if (n < 0 || (size_t)n >= sizeof(opts))
		return bench_err(-ENAMETOOLONG, "overlay options too long");
	return proc_spawn(&t->fs_pid, argv, t->log, t->log, true);
}

static int mount_coffre(struct target *t)
{
	char *argv[] = { (char *)t->coffre_bin,
			 (char *)"--config",
			 t->cfg,
			 (char *)"mount",
			 (char *)BENCH_SPACE,
			 t->mnt,
			 (char *)"--cache",
			 t->cache,
			 (char *)"--foreground",
			 NULL };
	int rc;

	rc = make_dir(t->cache, 0700);
	if (rc < 0)
		return rc;
	return proc_spawn(&t->fs_pid, argv, t->log, t->log, true);
}

static int target_mount(struct target *t)
{
	int rc;

	rc = t->kind == TARGET_OVERLAY ? mount_overlay(t) : mount_coffre(t);
	if (rc < 0)
		return rc;
	cleanup_add_pid(t->fs_pid);
	cleanup_add_mount(t->mnt);
	t->mounts++;
	return wait_mounted(t);
}

static void note_rss(long *peak, pid_t pid)
{
	long kib = proc_peak_rss_kib(pid);

	if (kib > *peak)
		*peak = kib;
}

static int fusermount(const char *mnt, bool lazy)
{
	char *argv[] = { (char *)"fusermount3", (char *)"-u", (char *)mnt, NULL,
			 NULL };

	if (lazy) {
		argv[2] = (char *)"-z";
		argv[3] = (char *)mnt;
	}
	return proc_run(argv, NULL, NULL, 60);
}

static int target_unmount(struct target *t)
{
	int status = 0;
	int rc = 0;

	if (t->fs_pid > 0)
		note_rss(&t->peak_rss_kib, t->fs_pid);
	if (t->kind == TARGET_COFFRE && is_mounted(t->mnt)) {
		char *argv[] = { (char *)t->coffre_bin,
				 (char *)"--config",
				 t->cfg,
				 (char *)"umount",
				 t->mnt,
				 NULL };

		if (proc_run(argv, t->log, t->log, t->timeout_s) != 0)
			bench_err(0,
				  "'coffre umount' failed; trying fusermount3");
	}
	if (is_mounted(t->mnt) && fusermount(t->mnt, false) != 0) {
		rc = bench_err(-EBUSY, "cannot unmount '%s'; detaching it",
			       t->mnt);
		fusermount(t->mnt, true);
	}
	cleanup_del_mount(t->mnt);
	if (t->fs_pid > 0) {
		/* The mount process leaves its loop once unmounted; give it
		 * the time to flush what it must, then insist. */
		if (proc_wait(t->fs_pid, t->timeout_s, &status) < 0) {
			rc = bench_err(
				-ETIMEDOUT,
				"%s mount process still runs after unmount: stopped",
				t->name);
			proc_stop(t->fs_pid, 10);
		} else if (status != 0) {
			rc = bench_err(-EIO,
				       "%s mount process exited with status %d",
				       t->name, status);
		}
		cleanup_del_pid(t->fs_pid);
		t->fs_pid = 0;
	}
	return rc;
}

static int write_password(const char *path)
{
	unsigned char raw[16];
	char hex[sizeof(raw) * 2 + 2];
	int fd;
	int rc = 0;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return bench_err(-EIO, "cannot get random bytes");
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[sizeof(raw) * 2] = '\n';
	hex[sizeof(raw) * 2 + 1] = '\0';
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return bench_err(-errno, "cannot create '%s': %s", path,
				 strerror(errno));
	if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex))
		rc = bench_err(-EIO, "cannot write '%s'", path);
	close(fd);
	return rc;
}

/* Run one setup command; its output goes to log. */
static int run_step(char *const argv[], const char *log, const char *what)
{
	int rc = proc_run(argv, log, log, 120);

	if (rc > 0)
		return bench_err(-EIO, "%s failed (exit %d; log '%s')", what,
				 rc, log);
	return rc;
}

static int read_port(struct target *t, const char *path, int *port)
{
	double end = bench_now() + 60;

	for (;;) {
		char buf[32];
		ssize_t n = 0;
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
		}
		/* The server may still be writing: only a full line with a
		 * valid port counts. */
		if (n > 0) {
			char *endp;
			long v;

			buf[n] = '\0';
			errno = 0;
			v = strtol(buf, &endp, 10);
			if (!errno && endp != buf && v > 0 && v < 65536 &&
			    (*endp == '\n' || *endp == '\0')) {
				*port = (int)v;
				return 0;
			}
		}
		if (!proc_alive(t->srv_pid)) {
			cleanup_del_pid(t->srv_pid);
			t->srv_pid = 0;
			return bench_err(-ENOTCONN,
					 "coffred exited before writing '%s'",
					 path);
		}
		if (bench_now() > end)
			return bench_err(
				-ETIMEDOUT,
				"coffred wrote no port to '%s' within 60 s",
				path);
		sleep_ms(10);
	}
}

static int setup_coffre(struct target *t)
{
	char pw[BENCH_PATH_MAX], portfile[BENCH_PATH_MAX];
	char cacert[BENCH_PATH_MAX], clog[BENCH_PATH_MAX];
	char url[64];
	char *bin = (char *)t->coffred_bin;
	char *cbin = (char *)t->coffre_bin;
	int port = 0;
	int rc;

	if (access(t->coffred_bin, X_OK) < 0 || access(t->coffre_bin, X_OK) < 0)
		return bench_err(
			-ENOENT,
			"coffre binaries not found ('%s', '%s'): build them or pass --coffre/--coffred",
			t->coffre_bin, t->coffred_bin);
	if ((rc = bench_path(pw, "%s/password", t->dir)) < 0 ||
	    (rc = bench_path(portfile, "%s/port", t->dir)) < 0 ||
	    (rc = bench_path(cacert, "%s/tls/cert.pem", t->data)) < 0 ||
	    (rc = bench_path(clog, "%s/client.log", t->dir)) < 0)
		return rc;
	rc = make_dir(t->cfg, 0700);
	if (rc < 0)
		return rc;
	rc = write_password(pw);
	if (rc < 0)
		return rc;
	{
		char *init[] = { bin,
				 (char *)"init",
				 t->data,
				 (char *)"--listen",
				 (char *)"127.0.0.1:0",
				 NULL };
		char *user[] = { bin,
				 (char *)"user",
				 (char *)"add",
				 t->data,
				 (char *)BENCH_LOGIN,
				 (char *)"--phone",
				 (char *)BENCH_PHONE,
				 (char *)"--password-file",
				 pw,
				 NULL };
		char *space[] = { bin,
				  (char *)"space",
				  (char *)"create",
				  t->data,
				  (char *)BENCH_SPACE,
				  (char *)"--owner",
				  (char *)BENCH_LOGIN,
				  (char *)"--plan",
				  (char *)"none",
				  NULL };

		if ((rc = run_step(init, t->srv_log, "coffred init")) < 0 ||
		    (rc = run_step(user, t->srv_log, "coffred user add")) < 0 ||
		    (rc = run_step(space, t->srv_log, "coffred space create")) <
			    0)
			return rc;
	}
	{
		char *serve[] = { bin,	    (char *)"serve",
				  t->data,  (char *)"--port-file",
				  portfile, NULL };

		rc = proc_spawn(&t->srv_pid, serve, t->srv_log, t->srv_log,
				true);
		if (rc < 0)
			return rc;
		cleanup_add_pid(t->srv_pid);
	}
	rc = read_port(t, portfile, &port);
	if (rc < 0)
		return rc;
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	{
		char *login[] = { cbin,
				  (char *)"--config",
				  t->cfg,
				  (char *)"login",
				  url,
				  (char *)BENCH_LOGIN,
				  (char *)"--password-file",
				  pw,
				  (char *)"--cacert",
				  cacert,
				  NULL };

		rc = run_step(login, clog, "coffre login");
		if (rc < 0)
			return rc;
	}
	return target_mount(t);
}

int target_setup(struct target *t)
{
	int rc;

	rc = make_dir(t->dir, 0700);
	if (rc < 0)
		return rc;
	rc = make_dir(t->mnt, 0755);
	if (rc < 0)
		return rc;
	if (t->kind == TARGET_COFFRE)
		return setup_coffre(t);
	{
		static const char *const sub[] = { "lower", "upper", "work" };
		char p[BENCH_PATH_MAX];

		for (size_t i = 0; i < BENCH_ARRAY_SIZE(sub); i++) {
			rc = bench_path(p, "%s/%s", t->dir, sub[i]);
			if (rc == 0)
				rc = make_dir(p, 0755);
			if (rc < 0)
				return rc;
		}
	}
	return target_mount(t);
}

int target_remount(struct target *t, bool fresh_cache)
{
	int rc;

	rc = target_unmount(t);
	if (rc < 0)
		return rc;
	if (fresh_cache && t->kind == TARGET_COFFRE) {
		t->cache_gen++;
		rc = bench_path(t->cache, "%s/cache-%d", t->dir, t->cache_gen);
		if (rc < 0)
			return rc;
	}
	return target_mount(t);
}

int target_check(struct target *t)
{
	if (t->fs_pid > 0 && !proc_alive(t->fs_pid)) {
		/* Reaped: its pid may be reused, forget it. */
		cleanup_del_pid(t->fs_pid);
		t->fs_pid = 0;
	}
	/* A killed daemon aborts the connection before its pid can be
	 * reaped: ask the drive itself too. */
	if (t->fs_pid > 0 && is_mounted(t->mnt)) {
		struct statvfs vfs;

		if (statvfs(t->mnt, &vfs) == 0 ||
		    (errno != ENOTCONN && errno != ECONNABORTED))
			return 0;
	}
	return bench_err(-ENOTCONN, "the %s drive is gone", t->name);
}

/* Fallback when the mount root has no pending counter. */
static int wait_by_sync(struct target *t, double since, double timeout_s,
			double *secs)
{
	char *argv[] = { (char *)t->coffre_bin,
			 (char *)"--config",
			 t->cfg,
			 (char *)"sync",
			 (char *)"--wait",
			 t->mnt,
			 NULL };
	int rc;

	rc = proc_run(argv, t->log, t->log, timeout_s);
	if (rc > 0)
		return bench_err(-EIO, "'coffre sync --wait' failed (exit %d)",
				 rc);
	if (rc < 0)
		return rc;
	*secs = bench_now() - since;
	return 0;
}

int target_wait_committed(struct target *t, double since, double timeout_s,
			  double *secs)
{
	double end = bench_now() + timeout_s;
	long last = -1;

	if (t->kind != TARGET_COFFRE)
		return -EOPNOTSUPP;
	while (t->pending_by_xattr) {
		char buf[32];
		ssize_t n =
			getxattr(t->mnt, PENDING_XATTR, buf, sizeof(buf) - 1);

		if (n < 0) {
			int e = errno;

			if (e == ENODATA || e == ENOTSUP) {
				bench_note(
					"the mount root has no %s (%s): timing 'coffre sync --wait' instead",
					PENDING_XATTR, strerror(e));
				t->pending_by_xattr = false;
				break;
			}
			return bench_err(-e, "cannot read %s: %s",
					 PENDING_XATTR, strerror(e));
		}
		buf[n] = '\0';
		{
			char *endp;

			errno = 0;
			last = strtol(buf, &endp, 10);
			if (errno || endp == buf || last < 0)
				return bench_err(-EPROTO,
						 "%s is not a count: '%s'",
						 PENDING_XATTR, buf);
		}
		if (last == 0) {
			*secs = bench_now() - since;
			return 0;
		}
		if (bench_now() > end)
			return bench_err(
				-ETIMEDOUT,
				"%ld operations still pending after %.0f s",
				last, timeout_s);
		if (!proc_alive(t->fs_pid))
			return target_check(t);
		sleep_ms(5);
	}
	return wait_by_sync(t, since, timeout_s, secs);
}

void target_teardown(struct target *t)
{
	if (t->fs_pid > 0 || is_mounted(t->mnt))
		target_unmount(t);
	if (t->srv_pid > 0) {
		note_rss(&t->srv_peak_rss_kib, t->srv_pid);
		proc_stop(t->srv_pid, 30);
		cleanup_del_pid(t->srv_pid);
		t->srv_pid = 0;
	}
}

static void dump_tail(const char *path)
{
	char buf[2048];
	ssize_t n;
	off_t size;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof(buf) - 1)
		lseek(fd, size - (off_t)sizeof(buf) + 1, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	fprintf(stderr, "--- last lines of %s\n", path);
	for (char *line = buf, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl) {
			fprintf(stderr, "  | %s\n", line);
			break;
		}
		*nl = '\0';
		fprintf(stderr, "  | %s\n", line);
	}
}

void target_dump_logs(const struct target *t)
{
	char p[BENCH_PATH_MAX];

	dump_tail(t->log);
	if (t->kind == TARGET_COFFRE) {
		dump_tail(t->srv_log);
		if (bench_path(p, "%s/client.log", t->dir) == 0)
			dump_tail(p);
	}
}

int drop_caches(void)
{
	int fd;
	int rc = 0;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "3\n", 2) != 2)
		rc = -errno;
	close(fd);
	return rc;
}

int target_second_mount(const struct target *a, struct target *b,
			const char *name)
{
	int rc;

	if (a->kind != TARGET_COFFRE)
		return -EOPNOTSUPP;
	*b = *a;
	b->name = name;
	b->fs_pid = 0;
	b->srv_pid = 0; /* a's server: a stops it */
	b->peak_rss_kib = 0;
	b->mounts = 0;
	if ((rc = bench_path(b->mnt, "%s/mnt-%s", a->dir, name)) < 0 ||
	    (rc = bench_path(b->cache, "%s/cache-%s", a->dir, name)) < 0 ||
	    (rc = bench_path(b->log, "%s/%s.log", a->dir, name)) < 0 ||
	    (rc = make_dir(b->mnt, 0755)) < 0)
		return rc;
	return target_mount(b);
}
