/*
 * The cleanup drive_bench owes the machine however the run ends: unmount
 * both drives, stop the daemons it started (by pid), remove the work dir.
 *
 * Every mount and daemon goes into a registry the moment it exists.
 * cleanup_run() empties it, from atexit() on a normal exit and from a
 * watcher thread on SIGINT, SIGTERM, SIGHUP or SIGQUIT.  The signals are
 * taken by sigwait() in that thread, not by a handler, for a FUSE reason:
 * a thread blocked in a request to a hung FUSE daemon does not run signal
 * handlers until the daemon answers, so a handler could never clean up a
 * hung drive.  The watcher also enforces the watchdog: a step that runs
 * past its deadline means a hung drive, and the run is cleaned up and
 * ended.  Unmounting lazily and killing the daemon is what unblocks the
 * stuck request.
 *
 * The cleanup path keeps to async-signal-safe calls (fork, execve,
 * waitpid, kill, nanosleep, write) on storage set up in advance, so it
 * stays correct from any context, and a mutex makes it run once.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define CL_MAX_MOUNTS 8
#define CL_MAX_PIDS   16

static pthread_mutex_t cl_lock = PTHREAD_MUTEX_INITIALIZER;
/* All below: protected by cl_lock once cleanup_init() has run. */
static pid_t cl_owner; /* forked children must never run the cleanup */
static bool cl_keep;
static bool cl_done;
static char cl_workdir[BENCH_PATH_MAX];
static char cl_fusermount[BENCH_PATH_MAX];
static char cl_rm[BENCH_PATH_MAX];
static char cl_mounts[CL_MAX_MOUNTS][BENCH_PATH_MAX]; /* "" = free slot */
static pid_t cl_pids[CL_MAX_PIDS];		      /* 0 = free slot */
static double cl_deadline;			      /* 0 = no watchdog */
static char cl_step[96];

static const int cl_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static void cl_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* waitpid with a deadline by polling; the exit code or -errno. */
static int cl_wait(pid_t pid, double timeout_s)
{
	double end = bench_now() + timeout_s;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		if (r < 0)
			return errno == ECHILD ? 0 : -errno;
		if (bench_now() > end)
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
		sigset_t none;

		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
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
	/* A stopped daemon only acts on SIGTERM once continued. */
	kill(pid, SIGCONT);
	if (cl_wait(pid, grace_s) == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		cl_wait(pid, 5);
	}
}

static void cl_say(const char *a, const char *b)
{
	/* write(2): safe anywhere, and nothing to do if it fails. */
	if (write(2, a, strlen(a)) < 0 || (b && write(2, b, strlen(b)) < 0))
		return;
}

void cleanup_run(void)
{
	static char arg_u[] = "-u", arg_z[] = "-z", arg_rf[] = "-rf",
		    arg_onefs[] = "--one-file-system";

	if (cl_owner == 0 || getpid() != cl_owner)
		return;
	pthread_mutex_lock(&cl_lock);
	if (cl_done) {
		pthread_mutex_unlock(&cl_lock);
		return;
	}
	cl_done = true;
	cl_deadline = 0;
	/* A healthy drive unmounts at once.  A hung one makes fusermount3
	 * hang too (and a step blocked in it holds the mount busy), so give
	 * up after a few seconds: stopping its daemon aborts the FUSE
	 * connection, and then a lazy unmount always works. */
	for (int i = CL_MAX_MOUNTS - 1; i >= 0; i--) {
		char *umount_argv[] = { cl_fusermount, arg_u, cl_mounts[i],
					NULL };

		if (cl_mounts[i][0] != '\0' && cl_exec(umount_argv, 5) == 0)
			cl_mounts[i][0] = '\0';
	}
	/* Daemons last registered first: mount processes before coffred. */
	for (int i = CL_MAX_PIDS - 1; i >= 0; i--) {
		if (cl_pids[i] == 0)
			continue;
		cl_stop(cl_pids[i], 15);
		cl_pids[i] = 0;
	}
	for (int i = CL_MAX_MOUNTS - 1; i >= 0; i--) {
		char *lazy_argv[] = { cl_fusermount, arg_u, arg_z, cl_mounts[i],
				      NULL };

		if (cl_mounts[i][0] == '\0')
			continue;
		cl_exec(lazy_argv, 10);
		cl_mounts[i][0] = '\0';
	}
	if (cl_workdir[0] != '\0' && !cl_keep) {
		/* --one-file-system: never descend into a mount that failed
		 * to detach. */
		char *rm_argv[] = { cl_rm, arg_rf, arg_onefs, cl_workdir,
				    NULL };

		cl_exec(rm_argv, 120);
	} else if (cl_workdir[0] != '\0') {
		cl_say(program_invocation_short_name, ": work dir kept: ");
		cl_say(cl_workdir, "\n");
	}
	pthread_mutex_unlock(&cl_lock);
}

static void cl_atexit(void)
{
	cleanup_run();
}

/* The watcher: signals and the watchdog, checked every second. */
static void *cl_watch(void *arg)
{
	const sigset_t *set = arg;
	struct timespec tick = { 1, 0 };

	for (;;) {
		int sig = sigtimedwait(set, NULL, &tick);
		bool hung;

		if (sig > 0) {
			cl_say("\n", program_invocation_short_name);
			cl_say(": interrupted, cleaning up\n", NULL);
			cleanup_run();
			_exit(128 + sig);
		}
		pthread_mutex_lock(&cl_lock);
		hung = cl_deadline > 0 && bench_now() > cl_deadline;
		pthread_mutex_unlock(&cl_lock);
		if (hung) {
			cl_say("\ndrive_bench: the drive looks hung (step past its deadline): ",
			       cl_step);
			cl_say("; cleaning up\n", NULL);
			cleanup_run();
			_exit(1);
		}
	}
	return NULL;
}

/* Find prog in PATH into out (at init time: execve needs a path). */
static int cl_resolve(char *out, const char *prog)
{
	const char *path = getenv("PATH");
	const char *p;

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	for (p = path; *p;) {
		size_t n = strcspn(p, ":");

		if (n > 0 && n < BENCH_PATH_MAX &&
		    snprintf(out, BENCH_PATH_MAX, "%.*s/%s", (int)n, p, prog) <
			    BENCH_PATH_MAX &&
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
	static sigset_t set;
	pthread_t tid;
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
	/* Blocked here, before the thread exists, so every later thread
	 * inherits the mask and only the watcher takes them. */
	sigemptyset(&set);
	for (size_t i = 0; i < BENCH_ARRAY_SIZE(cl_signals); i++) {
		struct sigaction old;

		/* A signal the caller ignores (SIGINT for a background job
		 * of a shell) stays ignored, as for any program. */
		if (sigaction(cl_signals[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sigaddset(&set, cl_signals[i]);
	}
	rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (rc == 0)
		rc = pthread_create(&tid, NULL, cl_watch, &set);
	if (rc == 0)
		rc = pthread_detach(tid);
	if (rc != 0)
		return bench_err(-rc, "cannot start the signal watcher: %s",
				 strerror(rc));
	/* A dead pipe reader must give EPIPE, not kill the bench mid-run. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

void cleanup_watchdog(double seconds, const char *step)
{
	pthread_mutex_lock(&cl_lock);
	if (seconds > 0) {
		snprintf(cl_step, sizeof(cl_step), "%s", step);
		cl_deadline = bench_now() + seconds;
	} else {
		cl_deadline = 0;
	}
	pthread_mutex_unlock(&cl_lock);
}

void cleanup_add_mount(const char *mnt)
{
	pthread_mutex_lock(&cl_lock);
	for (int i = 0; i < CL_MAX_MOUNTS; i++) {
		if (cl_mounts[i][0] == '\0') {
			snprintf(cl_mounts[i], BENCH_PATH_MAX, "%s", mnt);
			break;
		}
	}
	pthread_mutex_unlock(&cl_lock);
}

void cleanup_del_mount(const char *mnt)
{
	pthread_mutex_lock(&cl_lock);
	for (int i = 0; i < CL_MAX_MOUNTS; i++)
		if (strcmp(cl_mounts[i], mnt) == 0)
			cl_mounts[i][0] = '\0';
	pthread_mutex_unlock(&cl_lock);
}

void cleanup_add_pid(pid_t pid)
{
	pthread_mutex_lock(&cl_lock);
	for (int i = 0; i < CL_MAX_PIDS; i++) {
		if (cl_pids[i] == 0) {
			cl_pids[i] = pid;
			break;
		}
	}
	pthread_mutex_unlock(&cl_lock);
}

void cleanup_del_pid(pid_t pid)
{
	pthread_mutex_lock(&cl_lock);
	for (int i = 0; i < CL_MAX_PIDS; i++)
		if (cl_pids[i] == pid)
			cl_pids[i] = 0;
	pthread_mutex_unlock(&cl_lock);
}
