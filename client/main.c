/*
 * `coffre`, the command line of the client: login, mount, sync --wait,
 * versions and umount.  Each command parses its own options, does its work
 * through the client modules (session, transport) or, for a mounted drive,
 * through the mount's control extended attributes and the `.versions`
 * folder, and returns the process exit status: 0 on success, 1 on failure
 * (message "coffre: ..." on stderr), 2 on a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client/cmd/cli_help.h"
#include "client/cmd/cmd_access.h"
#include "client/cmd/cmd_export.h"
#include "client/cmd/cmd_json.h"
#include "client/cmd/cmd_login.h"
#include "client/cmd/cmd_status.h"
#include "client/cmd/cmd_proofs.h"
#include "client/cmd/docref.h"
#include "client/drive/mount.h"
#include "client/cmd/progress.h"
#include "client/store/session.h"
#include "client/store/transport.h"
#include "client/cmd/userkey.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/path.h"

#ifndef COFFRE_VERSION
#define COFFRE_VERSION "0.1.0"
#endif

#define PASSWORD_FILE_MAX    4096
#define SETTLE_MS_DEFAULT    1000u
#define SETTLE_MS_MAX	     3600000u
#define SYNC_POLL_NS	     (50 * 1000 * 1000)
#define SYNC_TIMEOUT_DEFAULT 600
#define XATTR_VALUE_MAX	     4096

/* "coffre: MESSAGE" on stderr. */
PRINTF_LIKE(1, 0) static void vsay(const char *fmt, va_list ap)
{
	fputs("coffre: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* The message, then the usage; exit status 2. */
PRINTF_LIKE(1, 2) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	cli_help_usage(stderr);
	return 2;
}

/* The message; exit status 1. */
PRINTF_LIKE(1, 2) static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	return 1;
}

/* BYTES, or a number with a K, M, G or T suffix (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int settle_ms(unsigned *out)
{
	const char *env = getenv("COFFRE_SETTLE_MS");
	unsigned long v;
	char *end;

	*out = SETTLE_MS_DEFAULT;
	if (!env || !*env)
		return 0;
	errno = 0;
	v = strtoul(env, &end, 10);
	if (errno || *end || *env < '0' || *env > '9' || v > SETTLE_MS_MAX)
		return fail(
			"COFFRE_SETTLE_MS must be 0..%u milliseconds, not '%s'",
			SETTLE_MS_MAX, env);
	*out = (unsigned)v;
	return 0;
}

static int cmd_mount(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cache", required_argument, NULL, 'c' },
		{ "cache-size", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct mount_opts o = { 0 };
	struct session s = { 0 };
	const char *cache_arg = NULL;
	char *dir = NULL, *cache = NULL, *cache_real = NULL, *mnt = NULL;
	int c, rc, status = 1;

	while ((c = getopt_long(argc, argv, "fd", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cache_arg = optarg;
			break;
		case 's':
			if (parse_size(optarg, &o.cache_size) < 0)
				return usage_error("bad --cache-size '%s'",
						   optarg);
			break;
		case 'f':
			o.foreground = 1;
			break;
		case 'd':
			o.debug = 1;
			break;
		default:
			return usage_error("bad option '%s' for mount",
					   argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return usage_error("mount needs SPACE and MOUNTPOINT");
	o.space = argv[optind];
	if (ident_validate(o.space) < 0)
		return fail("invalid space name '%s'", o.space);
	if (settle_ms(&o.settle_ms))
		return 1;
	/* Absolute paths: the daemon changes its directory to /. */
	mnt = realpath(argv[optind + 1], NULL);
	if (!mnt)
		return fail("cannot use mount point '%s': %s", argv[optind + 1],
			    strerror(errno));
	rc = session_config_dir(config, &dir);
	if (rc == 0)
		rc = session_load(&s, dir);
	session_release(&s);
	if (rc < 0) {
		fail("%s", err_msg());
		goto out;
	}
	if (cache_arg)
		cache = strdup(cache_arg);
	else {
		const char *env = getenv("COFFRE_CONFIG");

		rc = session_cache_dir(dir,
				       !(config && *config) && !(env && *env),
				       o.space, &cache);
		if (rc < 0) {
			fail("%s", err_msg());
			goto out;
		}
	}
	if (!cache) {
		fail("out of memory");
		goto out;
	}
	rc = mkdir_p(cache, 0700);
	if (rc < 0) {
		fail("%s", err_msg());
		goto out;
	}
	cache_real = realpath(cache, NULL);
	if (!cache_real) {
		fail("cannot use cache directory '%s': %s", cache,
		     strerror(errno));
		goto out;
	}
	o.config_dir = dir;
	o.cache_dir = cache_real;
	o.mountpoint = mnt;
	status = mount_run(&o);
out:
	free(cache_real);
	free(cache);
	free(dir);
	free(mnt);
	return status;
}

/* The PID of the process serving mnt (user.coffre.pid of its root), or
 * -1 when it does not say (not a coffre drive). */
static pid_t mount_pid(const char *mnt)
{
	char v[32];
	ssize_t len = getxattr(mnt, "user.coffre.pid", v, sizeof(v) - 1);
	char *end;
	long pid;

	if (len <= 0)
		return -1;
	v[len] = '\0';
	pid = strtol(v, &end, 10);
	return *end || pid <= 1 ? -1 : (pid_t)pid;
}

/*
 * After fusermount3 -u the mount process drains its writes into staging,
 * stops the sync engine (an upload in flight is abandoned: the queue is
 * durable and resumes at the next mount) and lets go of the cache.  Wait
 * for it to exit, so that `coffre umount; coffre mount` finds the cache
 * free.
 */
#define UMOUNT_WAIT_MS 30000

static int umount_wait(int pidfd, pid_t pid)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int rc;

	do
		rc = poll(&p, 1, UMOUNT_WAIT_MS);
	while (rc < 0 && errno == EINTR);
	close(pidfd);
	if (rc == 0)
		return fail(
			"unmounted, but the mount process %ld has not exited after %d s",
			(long)pid, UMOUNT_WAIT_MS / 1000);
	return 0;
}

static int cmd_umount(const char *config, int argc, char **argv)
{
	static const struct option opts[] = { { NULL, 0, NULL, 0 } };
	int c, wstatus, pidfd;
	pid_t pid, mpid;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		return usage_error("bad option '%s' for umount",
				   argv[optind - 1]);
	if (argc - optind != 1)
		return usage_error("umount needs MOUNTPOINT");
	/* the mount process, to wait for: the cache is free once it exited */
	mpid = mount_pid(argv[optind]);
	pidfd = mpid > 0 ? pidfd_open(mpid, 0) : -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return fail("cannot fork: %s", strerror(errno));
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "--", argv[optind],
		       (char *)NULL);
		fprintf(stderr, "coffre: cannot run fusermount3: %s\n",
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
			return fail("cannot wait for fusermount3: %s",
				    strerror(errno));
	/* fusermount3 has said why on stderr. */
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
		if (pidfd >= 0)
			close(pidfd);
		return 1;
	}
	return pidfd >= 0 ? umount_wait(pidfd, mpid) : 0;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One progress line from the drive's status (user.coffre.status). */
static void sync_progress(struct progress *prog, const char *mnt)
{
	static char text[XATTR_VALUE_MAX];
	json_t *j, *q;

	if (docref_xattr(mnt, "user.coffre.status", text, sizeof(text)) < 0)
		return;
	j = json_loads(text, 0, NULL);
	q = json_object_get(j, "queued");
	if (json_is_object(q))
		progress_sync(prog,
			      (uint64_t)json_integer_value(
				      json_object_get(q, "changes")),
			      (uint64_t)json_integer_value(
				      json_object_get(q, "bytes")),
			      json_string_value(json_object_get(q, "sending")));
	json_decref(j);
}

static int cmd_sync(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "progress", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	static char before[XATTR_VALUE_MAX], error[XATTR_VALUE_MAX];
	enum progress_mode pmode = PROGRESS_AUTO;
	struct progress prog;
	char nerr0[32] = "", nerr[32];
	const struct timespec poll = { 0, SYNC_POLL_NS };
	unsigned long timeout = SYNC_TIMEOUT_DEFAULT;
	char pending[64], *end;
	const char *mnt;
	int c, wait = 0, rc;
	unsigned long long n = 0;
	double deadline;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'w') {
			wait = 1;
		} else if (c == 'p') {
			pmode = PROGRESS_ON;
		} else if (c == 'q') {
			pmode = PROGRESS_QUIET;
		} else if (c == 't') {
			errno = 0;
			timeout = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || *optarg == '-')
				return usage_error("bad --timeout '%s'",
						   optarg);
		} else {
			return usage_error("bad option '%s' for sync",
					   argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return usage_error("sync needs MOUNTPOINT");
	mnt = argv[optind];
	/* Only a coffre mount answers this; ask before setting anything, so
	 * a plain directory gets no stray attribute. */
	rc = docref_xattr(mnt, "user.coffre.pending", pending, sizeof(pending));
	if (rc == -ENODATA || rc == -ENOTSUP)
		return fail("'%s' is not a coffre mount", mnt);
	if (rc < 0)
		return fail("cannot read the sync state of '%s': %s", mnt,
			    strerror(-rc));
	/* An error already there before we ask is not this sync's.  The
	 * count of errors tells a new error from an old one in the same
	 * words (a refusal met again); without it, the words must differ. */
	docref_xattr(mnt, "user.coffre.error", before, sizeof(before));
	if (docref_xattr(mnt, "user.coffre.errors", nerr0, sizeof(nerr0)) < 0)
		nerr0[0] = '\0';
	if (setxattr(mnt, "user.coffre.sync", "now", 3, 0) < 0)
		return fail("cannot ask '%s' to sync: %s", mnt,
			    strerror(errno));
	if (!wait)
		return 0;
	deadline = mono_now() + (double)timeout;
	progress_init(&prog, pmode);
	for (;;) {
		rc = docref_xattr(mnt, "user.coffre.pending", pending,
				  sizeof(pending));
		if (rc < 0) {
			progress_end(&prog);
			return fail("cannot read the sync state of '%s': %s",
				    mnt, strerror(-rc));
		}
		errno = 0;
		n = strtoull(pending, &end, 10);
		if (errno || end == pending || *end) {
			progress_end(&prog);
			return fail("'%s' reports a bad pending count '%s'",
				    mnt, pending);
		}
		if (prog.on)
			sync_progress(&prog, mnt);
		docref_xattr(mnt, "user.coffre.error", error, sizeof(error));
		if (!error[0])
			before[0] = '\0'; /* cleared: any new one counts */
		if (nerr0[0]) {
			if (docref_xattr(mnt, "user.coffre.errors", nerr,
					 sizeof(nerr)) == 0 &&
			    strcmp(nerr, nerr0) != 0 && error[0]) {
				progress_end(&prog);
				return fail("%s", error);
			}
		} else if (error[0] && strcmp(error, before) != 0) {
			progress_end(&prog);
			return fail("%s", error);
		}
		if (n == 0) {
			progress_end(&prog);
			return 0;
		}
		if (mono_now() >= deadline)
			break;
		nanosleep(&poll, NULL);
	}
	progress_end(&prog);
	return fail("timed out with %llu operations pending", n);
}

struct version_row {
	unsigned long long n;
	char *name;
};

static int cmp_version(const void *a, const void *b)
{
	const struct version_row *x = a, *y = b;

	return (x->n > y->n) - (x->n < y->n);
}

/* "vN" or "vN.EXT" with N a decimal number: N into *n. */
static int version_name(const char *name, unsigned long long *n)
{
	char *end;

	if (name[0] != 'v' || name[1] < '0' || name[1] > '9')
		return 0;
	errno = 0;
	*n = strtoull(name + 1, &end, 10);
	return !errno && (*end == '\0' || *end == '.');
}

/*
 * One line of `coffre versions`, or with out its --json record appended:
 * {version, deposited_at, deposited_by, size, sha256}, null for what the
 * drive does not know.
 */
static int print_version(const char *vdir, const struct version_row *r,
			 json_t *out)
{
	char path[PATH_MAX], ver[64], at[64], by[128], sha[80];
	struct stat sb;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", vdir, r->name) >=
	    sizeof(path))
		return fail("path too long in '%s'", vdir);
	if (stat(path, &sb) < 0)
		return fail("cannot stat '%s': %s", path, strerror(errno));
	if (docref_xattr(path, "user.coffre.version", ver, sizeof(ver)) < 0)
		snprintf(ver, sizeof(ver), "%llu", r->n);
	if (docref_xattr(path, "user.coffre.deposited_at", at, sizeof(at)) < 0)
		snprintf(at, sizeof(at), "-");
	if (docref_xattr(path, "user.coffre.deposited_by", by, sizeof(by)) < 0)
		snprintf(by, sizeof(by), "-");
	if (docref_xattr(path, "user.coffre.sha256", sha, sizeof(sha)) < 0)
		snprintf(sha, sizeof(sha), "-");
	if (out) {
		json_t *o = json_pack(
			"{s:I, s:o, s:o, s:I, s:o}", "version",
			(json_int_t)strtoull(ver, NULL, 10), "deposited_at",
			strcmp(at, "-") ? json_string(at) : json_null(),
			"deposited_by",
			strcmp(by, "-") ? json_string(by) : json_null(), "size",
			(json_int_t)sb.st_size, "sha256",
			strcmp(sha, "-") ? json_string(sha) : json_null());

		if (json_array_append_new(out, o) < 0)
			return fail("out of memory");
		return 0;
	}
	printf("%s\t%s\t%s\t%lld\t%s\n", ver, at, by, (long long)sb.st_size,
	       sha);
	return 0;
}

static int cmd_versions(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *out = NULL;
	struct version_row *rows = NULL;
	size_t nrows = 0, alloc = 0;
	char *path, *slash, *vdir = NULL;
	const char *dir, *name;
	struct dirent *d;
	DIR *dp;
	int c, status = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j') {
			json_decref(out);
			return usage_error("bad option '%s' for versions",
					   argv[optind - 1]);
		}
		if (!out && !(out = json_array()))
			return fail("out of memory");
	}
	if (argc - optind != 1) {
		json_decref(out);
		return usage_error("versions needs PATH");
	}
	path = strdup(argv[optind]);
	if (!path) {
		json_decref(out);
		return fail("out of memory");
	}
	for (size_t l = strlen(path); l > 1 && path[l - 1] == '/'; l--)
		path[l - 1] = '\0';
	slash = strrchr(path, '/');
	if (!slash) {
		dir = ".";
		name = path;
	} else {
		*slash = '\0';
		dir = slash == path ? "/" : path;
		name = slash + 1;
	}
	if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
		free(path);
		json_decref(out);
		return fail("'%s' does not name a file", argv[optind]);
	}
	if (asprintf(&vdir, "%s/.versions/%s", dir, name) < 0) {
		free(path);
		json_decref(out);
		return fail("out of memory");
	}
	dp = opendir(vdir);
	if (!dp) {
		status = fail("no versions of '%s': %s", argv[optind],
			      strerror(errno));
		goto out;
	}
	while ((d = readdir(dp))) {
		unsigned long long n;

		if (!version_name(d->d_name, &n))
			continue;
		if (nrows == alloc) {
			size_t na = alloc ? 2 * alloc : 16;
			struct version_row *nr =
				realloc(rows, na * sizeof(*nr));

			if (!nr) {
				status = fail("out of memory");
				break;
			}
			rows = nr;
			alloc = na;
		}
		rows[nrows].n = n;
		rows[nrows].name = strdup(d->d_name);
		if (!rows[nrows].name) {
			status = fail("out of memory");
			break;
		}
		nrows++;
	}
	closedir(dp);
	if (status == 0 && nrows)
		qsort(rows, nrows, sizeof(*rows), cmp_version);
	for (size_t i = 0; status == 0 && i < nrows; i++)
		status = print_version(vdir, &rows[i], out);
	if (status == 0 && out) {
		status = cmd_json_print(out);
		out = NULL;
	}
out:
	json_decref(out);
	for (size_t i = 0; i < nrows; i++)
		free(rows[i].name);
	free(rows);
	free(vdir);
	free(path);
	return status;
}

static int cmd_help(const char *config, int argc, char **argv);

/*
 * The commands; each parses its own options from argv (its name first).
 * sync, versions and umount work through the mount and ignore config.
 */
static const struct command {
	const char *name;
	int (*run)(const char *config, int argc, char **argv);
} commands[] = {
	{ "login", cmd_login },
	{ "signup", cmd_signup },
	{ "password-reset", cmd_password_reset },
	{ "mount", cmd_mount },
	{ "sync", cmd_sync },
	{ "versions", cmd_versions },
	{ "umount", cmd_umount },
	{ "verify", cmd_verify },
	{ "proof", cmd_proof },
	{ "sign", cmd_sign },
	{ "signatures", cmd_signatures },
	{ "declassify", cmd_declassify },
	{ "member", cmd_member },
	{ "grant", cmd_grant },
	{ "revoke", cmd_revoke },
	{ "delegate-admin", cmd_delegate_admin },
	{ "log", cmd_log },
	{ "usage", cmd_usage },
	{ "export", cmd_export },
	{ "spaces", cmd_spaces },
	{ "space", cmd_space },
	{ "logout", cmd_logout },
	{ "sessions", cmd_sessions },
	{ "passwd", cmd_passwd },
	{ "invitations", cmd_invitations },
	{ "accept", cmd_accept },
	{ "decline", cmd_decline },
	{ "status", cmd_status },
	{ "help", cmd_help },
};

int main(int argc, char **argv)
{
	const char *config = NULL, *cmd;
	size_t k;
	int i;

	/* Every file coffre writes (caches, staging, queue, config) is
	 * private: created 0600 and folders 0700 whatever the caller's umask. */
	umask(077);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			cli_help_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("coffre %s\n", COFFRE_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--config")) {
			if (++i >= argc)
				return usage_error("--config needs DIR");
			config = argv[i];
		} else if (!strncmp(argv[i], "--config=", 9)) {
			config = argv[i] + 9;
		} else {
			return usage_error("unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc)
		return usage_error("no command given");
	if (config && !*config)
		return usage_error("--config needs DIR");
	if (crypto_init() < 0)
		return fail("cannot initialise libsodium");
	cmd = argv[i];
	argc -= i;
	argv += i;
	optind = 1;
	opterr = 0; /* we say it ourselves, with the usage */
	for (k = 0; k < ARRAY_SIZE(commands); k++) {
		if (strcmp(cmd, commands[k].name))
			continue;
		/* `coffre CMD --help` for every command, before its own
		 * parser sees the option */
		if (cli_help_wanted(argc, argv) && cli_help_find(cmd)) {
			cli_help_print(stdout, cli_help_find(cmd));
			return 0;
		}
		return commands[k].run(config, argc, argv);
	}
	return usage_error("unknown command '%s'", cmd);
}

/* coffre help [COMMAND] */
static int cmd_help(const char *config, int argc, char **argv)
{
	const struct cli_help *h;

	(void)config;
	if (argc == 1) {
		cli_help_list(stdout);
		return 0;
	}
	if (argc != 2)
		return usage_error("help takes at most one COMMAND");
	h = cli_help_find(argv[1]);
	if (!h)
		return usage_error("unknown command '%s'", argv[1]);
	cli_help_print(stdout, h);
	return 0;
}
