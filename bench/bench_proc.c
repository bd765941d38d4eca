/*
 * Child processes of drive_bench and the cleanup that must happen however
 * the bench ends.
 *
 * The bench runs external programs (rsync, ls, fuse-overlayfs, coffred,
 * coffre, fusermount3) with fork/exec and an argv, never through a shell, so
 * no path is ever parsed twice.  Every mount and daemon it starts is put in
 * a registry; cleanup_run() unmounts, stops and removes all of it, from
 * atexit() on a normal exit and from the signal handler on SIGINT, SIGTERM,
 * SIGHUP and SIGQUIT.  Because it may run inside a signal handler, the
 * cleanup path keeps to async-signal-safe calls: fork, execve, waitpid,
 * kill, nanosleep, clock_gettime, write, on storage set up in advance.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define CL_MAX_MOUNTS 8
#define CL_MAX_PIDS   16

static pid_t cl_owner; /* forked children must never run the cleanup */
static bool cl_keep;
static char cl_workdir[BENCH_PATH_MAX];
static char cl_fusermount[BENCH_PATH_MAX];
static char cl_rm[BENCH_PATH_MAX];
static char cl_mounts[CL_MAX_MOUNTS][BENCH_PATH_MAX]; /* "" = free slot */
static pid_t cl_pids[CL_MAX_PIDS];		      /* 0 = free slot */
static volatile sig_atomic_t cl_done;

static const int cl_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

/* Block the cleanup signals while the registry changes, so the handler
 * never sees a half-written slot. */
static void cl_block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < BENCH_ARRAY_SIZE(cl_signals); i++)
		sigaddset(&set, cl_signals[i]);
	sigprocmask(SIG_BLOCK, &set, old);
}

static void cl_unblock(const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
}

static void cl_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double cl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* waitpid with a deadline by polling: safe in a signal handler. */
static int cl_wait(pid_t pid, double timeout_s)
{
	double end = cl_now() + timeout_s;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		if (r < 0)
			return errno == ECHILD ? 0 : -errno;
		if (cl_now() > end)
			return -ETIMEDOUT;
		cl_sleep_ms(5);
	}
}

/* Run an already resolved program with everything on /dev/null. */
static int cl_exec(char *const argv[], double timeout_s)
{
	pid_t pid = fork();
	int rc;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execve(argv[0], argv, environ);
		_exit(127);
	}
	rc = cl_wait(pid, timeout_s);
	if (rc == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		cl_wait(pid, 5);
	}
	return rc;
}

static void cl_stop(pid_t pid, double grace_s)
{
	if (kill(pid, SIGTERM) < 0 && errno == ESRCH) {
		cl_wait(pid, 0); /* reap a zombie, if ours */
		return;
	}
	if (cl_wait(pid, grace_s) == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		cl_wait(pid, 5);
	}
}

void cleanup_run(void)
{
	static char arg_u[] = "-u", arg_z[] = "-z", arg_rf[] = "-rf",
		    arg_onefs[] = "--one-file-system";
	sigset_t old;

	if (cl_owner == 0 || getpid() != cl_owner || cl_done)
		return;
	/* A second Ctrl-C must not cut the cleanup short. */
	cl_block(&old);
	cl_done = 1;
	for (int i = CL_MAX_MOUNTS - 1; i >= 0; i--) {
		char *umount_argv[] = { cl_fusermount, arg_u, cl_mounts[i],
					NULL };
		char *lazy_argv[] = { cl_fusermount, arg_u, arg_z, cl_mounts[i],
				      NULL };

		if (cl_mounts[i][0] == '\0')
			continue;
		/* A busy mount (an fd still open in an interrupted step)
		 * refuses a plain unmount: detach it lazily then. */
		if (cl_exec(umount_argv, 20) != 0)
			cl_exec(lazy_argv, 10);
		cl_mounts[i][0] = '\0';
	}
	/* Daemons last registered first: mount processes before coffred. */
	for (int i = CL_MAX_PIDS - 1; i >= 0; i--) {
		if (cl_pids[i] == 0)
			continue;
		cl_stop(cl_pids[i], 15);
		cl_pids[i] = 0;
	}
	if (cl_workdir[0] != '\0' && !cl_keep) {
		/* --one-file-system: never descend into a mount that failed
		 * to detach. */
		char *rm_argv[] = { cl_rm, arg_rf, arg_onefs, cl_workdir,
				    NULL };

		cl_exec(rm_argv, 120);
	}
	cl_unblock(&old);
}

static void cl_atexit(void)
{
	cleanup_run();
}

static void cl_on_signal(int sig)
{
	static const char msg[] = "\ndrive_bench: interrupted, cleaning up\n";

	if (getpid() != cl_owner)
		_exit(128 + sig);
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing to do: the cleanup matters more than the note */
	}
	cleanup_run();
	_exit(128 + sig);
}

/* Find prog in PATH into out (at init time, not in a handler). */
static int cl_resolve(char *out, const char *prog)
{
	const char *path = getenv("PATH");
	const char *p;

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	for (p = path; *p;) {
		size_t n = strcspn(p, ":");

		if (n > 0 && bench_path(out, "%.*s/%s", (int)n, p, prog) == 0 &&
		    access(out, X_OK) == 0)
			return 0;
		p += n;
		if (*p == ':')
			p++;
	}
	out[0] = '\0';
	return bench_err(-ENOENT, "cannot find '%s' in PATH", prog);
}

int cleanup_init(const char *workdir, bool keep)
{
	struct sigaction sa;
	int rc;

	rc = cl_resolve(cl_fusermount, "fusermount3");
	if (rc < 0)
		return rc;
	rc = cl_resolve(cl_rm, "rm");
	if (rc < 0)
		return rc;
	rc = bench_path(cl_workdir, "%s", workdir);
	if (rc < 0)
		return rc;
	cl_keep = keep;
	cl_owner = getpid();
	if (atexit(cl_atexit) != 0)
		return bench_err(-ENOMEM, "cannot register the exit cleanup");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cl_on_signal;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < BENCH_ARRAY_SIZE(cl_signals); i++)
		if (sigaction(cl_signals[i], &sa, NULL) < 0)
			return bench_err(-errno,
					 "cannot set a signal handler: %s",
					 strerror(errno));
	/* A dead pipe reader must give EPIPE, not kill the bench mid-run. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

void cleanup_add_mount(const char *mnt)
{
	sigset_t old;

	cl_block(&old);
	for (int i = 0; i < CL_MAX_MOUNTS; i++) {
		if (cl_mounts[i][0] == '\0') {
			snprintf(cl_mounts[i], BENCH_PATH_MAX, "%s", mnt);
			break;
		}
	}
	cl_unblock(&old);
}

void cleanup_del_mount(const char *mnt)
{
	sigset_t old;

	cl_block(&old);
	for (int i = 0; i < CL_MAX_MOUNTS; i++)
		if (strcmp(cl_mounts[i], mnt) == 0)
			cl_mounts[i][0] = '\0';
	cl_unblock(&old);
}

void cleanup_add_pid(pid_t pid)
{
	sigset_t old;

	cl_block(&old);
	for (int i = 0; i < CL_MAX_PIDS; i++) {
		if (cl_pids[i] == 0) {
			cl_pids[i] = pid;
			break;
		}
	}
	cl_unblock(&old);
}

void cleanup_del_pid(pid_t pid)
{
	sigset_t old;

	cl_block(&old);
	for (int i = 0; i < CL_MAX_PIDS; i++)
		if (cl_pids[i] == pid)
			cl_pids[i] = 0;
	cl_unblock(&old);
}

/* In the child: point fd at path (appending), or at /dev/null. */
static int redirect(int fd, const char *path)
{
	int f = open(path ? path : "/dev/null",
		     fd == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_APPEND, 0600);

	if (f < 0)
		return -1;
	if (f != fd) {
		if (dup2(f, fd) < 0)
			return -1;
		close(f);
	}
	return 0;
}

int proc_spawn(pid_t *out, char *const argv[], const char *out_path,
	       const char *err_path, bool own_group)
{
	int pfd[2];
	int child_errno = 0;
	ssize_t n;
	pid_t pid;

	/* The child reports a failed exec through a close-on-exec pipe, so
	 * "no such program" is an error here and not a silent exit 127. */
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return bench_err(-errno, "cannot create a pipe: %s",
				 strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(pfd[0]);
		close(pfd[1]);
		return bench_err(-e, "cannot fork: %s", strerror(e));
	}
	if (pid == 0) {
		sigset_t none;

		for (size_t i = 0; i < BENCH_ARRAY_SIZE(cl_signals); i++)
			signal(cl_signals[i], SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (own_group)
			setpgid(0, 0);
		if (redirect(0, NULL) < 0 || redirect(1, out_path) < 0 ||
		    redirect(2, err_path) < 0) {
			child_errno = errno;
		} else {
			execvp(argv[0], argv);
			child_errno = errno;
		}
		if (write(pfd[1], &child_errno, sizeof(child_errno)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	do {
		n = read(pfd[0], &child_errno, sizeof(child_errno));
	} while (n < 0 && errno == EINTR);
	close(pfd[0]);
	if (n == (ssize_t)sizeof(child_errno)) {
		waitpid(pid, NULL, 0);
		return bench_err(-child_errno, "cannot run '%s': %s", argv[0],
				 strerror(child_errno));
	}
	*out = pid;
	return 0;
}

static int status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 128;
}

int proc_wait(pid_t pid, double timeout_s, int *status)
{
	int pidfd = pidfd_open(pid, 0);
	double end = bench_now() + timeout_s;
	int st;

	/* A pidfd wakes the wait the moment the child exits, which keeps
	 * the timing of short programs (a no-op rsync) exact; polling is
	 * the fallback on old kernels. */
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		double left = end - bench_now();

		if (r == pid) {
			if (pidfd >= 0)
				close(pidfd);
			*status = status_code(st);
			return 0;
		}
		if (r < 0) {
			int e = errno;

			if (pidfd >= 0)
				close(pidfd);
			return -e;
		}
		if (left <= 0) {
			if (pidfd >= 0)
				close(pidfd);
			return -ETIMEDOUT;
		}
		if (pidfd >= 0) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };
			int ms = left > 1.0 ? 1000 : (int)(left * 1000) + 1;

			poll(&p, 1, ms);
		} else {
			cl_sleep_ms(5);
		}
	}
}

int proc_run(char *const argv[], const char *out_path, const char *err_path,
	     double timeout_s)
{
	pid_t pid;
	int status;
	int rc;

	rc = proc_spawn(&pid, argv, out_path, err_path, false);
	if (rc < 0)
		return rc;
	cleanup_add_pid(pid);
	rc = proc_wait(pid, timeout_s, &status);
	if (rc == -ETIMEDOUT) {
		bench_err(rc, "'%s' still runs after %.0f s: killed", argv[0],
			  timeout_s);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	cleanup_del_pid(pid);
	return rc < 0 ? rc : status;
}

bool proc_alive(pid_t pid)
{
	int status;
	pid_t r;

	if (pid <= 0)
		return false;
	/* Only our own children are asked about: r == pid means it exited
	 * and is now reaped, r < 0 that it was reaped before. */
	r = waitpid(pid, &status, WNOHANG);
	return r == 0;
}

void proc_stop(pid_t pid, double grace_s)
{
	if (pid > 0)
		cl_stop(pid, grace_s);
}

long proc_peak_rss_kib(pid_t pid)
{
	char path[64];
	char line[256];
	long kib = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmHWM:", 6) == 0) {
			char *end;

			errno = 0;
			kib = strtol(line + 6, &end, 10);
			if (errno || end == line + 6)
				kib = -EINVAL;
			break;
		}
	}
	fclose(f);
	return kib;
}
