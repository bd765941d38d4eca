/*
 * Child processes of drive_bench.
 *
 * The bench runs external programs (rsync, ls, fuse-overlayfs, coffred,
 * coffre, fusermount3) with fork/exec and an argv, never through a shell,
 * so no path is ever parsed twice.  Waits have deadlines; a child that
 * outlives its deadline is killed.  Daemons go into the cleanup registry
 * (bench_cleanup.c) as soon as they exist.
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

		/* The bench blocks the cleanup signals and ignores SIGPIPE;
		 * its children must not inherit either. */
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
			struct timespec ts = { 0, 5000000L };

			nanosleep(&ts, NULL);
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
	int status;

	if (pid <= 0)
		return;
	if (kill(pid, SIGTERM) < 0 && errno == ESRCH) {
		waitpid(pid, NULL, WNOHANG); /* reap a zombie, if ours */
		return;
	}
	if (proc_wait(pid, grace_s, &status) == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
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
