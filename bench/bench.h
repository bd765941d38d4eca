/*
 * Internals of drive_bench, the program that runs one workload against a
 * coffre drive and, in the same run, against fuse-overlayfs over a local
 * directory (the FUSE ceiling of the machine), then prints the figures side
 * by side.
 *
 * bench_util.c    messages, the clock, bounded paths
 * bench_proc.c    children: fork/exec, waits with deadlines
 * bench_cleanup.c the registry that unmounts, stops daemons and removes
 *                 the work dir on every exit path, signals included, and
 *                 the watchdog against a hung drive
 * bench_target.c  the two drives: set up, mount, remount, commit wait, RSS
 * bench_work.c    the workload steps, timed with CLOCK_MONOTONIC
 * bench_table.c   the result table and the targets
 * drive_bench.c   options and the order of the run
 *
 * Not a public header: only bench/ includes it.  Functions return 0 or a
 * negative errno and print their message where the cause is known.
 */
#ifndef COFFRE_BENCH_BENCH_H
#define COFFRE_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_PRINTF(f, a)  __attribute__((format(printf, f, a)))
#define BENCH_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BENCH_PATH_MAX	    512
#define BENCH_MAX_RUNS	    9

/* Print "drive_bench: MESSAGE" on stderr and return rc. */
int bench_err(int rc, const char *fmt, ...) BENCH_PRINTF(2, 3);

/* Print "drive_bench: MESSAGE" on stdout (progress). */
void bench_note(const char *fmt, ...) BENCH_PRINTF(1, 2);

/* CLOCK_MONOTONIC in seconds. */
double bench_now(void);

/* snprintf into a BENCH_PATH_MAX buffer; -ENAMETOOLONG if it does not fit. */
int bench_path(char *out, const char *fmt, ...) BENCH_PRINTF(2, 3);

/*
 * The path of a binary of the build dir the bench runs from, rel from its
 * root (bench/drive_bench -> ../client/coffre), into a BENCH_PATH_MAX out.
 */
int bench_binary(char *out, const char *rel);

/* ---- bench_proc.c and bench_cleanup.c ---- */

/*
 * Start argv[0] (an absolute or PATH-relative program) with stdin from
 * /dev/null, stdout to out_path and stderr to err_path (appended; NULL means
 * /dev/null).  With own_group the child gets its own process group so that
 * a Ctrl-C on the terminal reaches only the bench, which then stops the
 * child in order.  The pid goes to *out.
 */
int proc_spawn(pid_t *out, char *const argv[], const char *out_path,
	       const char *err_path, bool own_group);

/*
 * Wait for pid at most timeout_s seconds.  0 with *status set (the exit
 * code, or 128 + signal), -ETIMEDOUT if it still runs, -errno otherwise.
 */
int proc_wait(pid_t pid, double timeout_s, int *status);

/* Run argv to completion within timeout_s (killed after it); the exit code
 * (128 + signal if killed) or -errno. */
int proc_run(char *const argv[], const char *out_path, const char *err_path,
	     double timeout_s);

/* true while pid has not exited (reaps it if it has). */
bool proc_alive(pid_t pid);

/* SIGTERM, wait grace_s, then SIGKILL; reaps pid. */
void proc_stop(pid_t pid, double grace_s);

/* Peak resident set (VmHWM) of a live pid in KiB, or -errno. */
long proc_peak_rss_kib(pid_t pid);

/*
 * The cleanup registry (bench_cleanup.c).  cleanup_init() remembers the
 * work dir, registers an atexit() hook, blocks SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT and starts the thread that takes them.  cleanup_run() unmounts
 * every registered mount, stops every registered pid (last registered
 * first) and removes the work dir (unless keep); it runs once.  Call
 * cleanup_init() before starting any other thread.
 */
int cleanup_init(const char *workdir, bool keep);

/* Arm the watchdog: if `step` still runs after `seconds`, the drive is
 * taken for hung, everything is cleaned up and the bench exits 1.
 * seconds <= 0 disarms it. */
void cleanup_watchdog(double seconds, const char *step);
void cleanup_add_mount(const char *mnt);
void cleanup_del_mount(const char *mnt);
void cleanup_add_pid(pid_t pid);
void cleanup_del_pid(pid_t pid);
void cleanup_run(void);

/* ---- bench_target.c ---- */

enum target_kind {
	TARGET_OVERLAY,
	TARGET_COFFRE,
};

struct target {
	enum target_kind kind;
	const char *name;
	char dir[BENCH_PATH_MAX]; /* everything of this target lives here */
	char mnt[BENCH_PATH_MAX];
	char log[BENCH_PATH_MAX]; /* the mount process's output */
	pid_t fs_pid;		  /* the mount process, or 0 */
	long peak_rss_kib;	  /* max VmHWM over its mount processes */
	int mounts;		  /* how many mount processes ran */
	double timeout_s;	  /* for a mount, an unmount, a commit wait */
	/* coffre only */
	const char *coffre_bin;
	const char *coffred_bin;
	char data[BENCH_PATH_MAX];  /* coffred DATADIR */
	char cfg[BENCH_PATH_MAX];   /* client --config */
	char cache[BENCH_PATH_MAX]; /* client --cache of the current mount */
	char srv_log[BENCH_PATH_MAX];
	pid_t srv_pid;
	long srv_peak_rss_kib;
	int cache_gen;	       /* bumps for each fresh cache dir */
	bool pending_by_xattr; /* false: fall back to sync --wait */
};

/* Fill t for one kind under workdir; no side effect. */
int target_init(struct target *t, enum target_kind kind, const char *workdir,
		const char *coffre_bin, const char *coffred_bin);

/* Create the dirs (and for coffre: server, user, space, login) and mount. */
int target_setup(struct target *t);

/* Unmount and remount.  fresh_cache (coffre): mount with a new, empty
 * cache directory. */
int target_remount(struct target *t, bool fresh_cache);

/* -ENOTCONN (with a message) if the mount process has died. */
int target_check(struct target *t);

/*
 * Coffre: wait until the mount root's user.coffre.pending reads 0 (or,
 * without that attribute, until "coffre sync --wait" returns).  *secs is
 * the time from `since` (a bench_now() value) to the moment it was seen.
 */
int target_wait_committed(struct target *t, double since, double timeout_s,
			  double *secs);

/* A second coffre drive b of a's space (same server and login, its own
 * mount point and cache, named name), mounted; sync_bench.c.  Tear b
 * down before a. */
int target_second_mount(const struct target *a, struct target *b,
			const char *name);

/* Unmount and stop everything of t (also safe after a failed setup). */
void target_teardown(struct target *t);

/* Print the last lines of the target's logs (after a failure). */
void target_dump_logs(const struct target *t);

/* Write 3 to /proc/sys/vm/drop_caches after sync(); -errno if not allowed. */
int drop_caches(void);

/* ---- bench_work.c and bench_table.c ---- */

struct bench_opts {
	uint64_t size_mib;
	unsigned files;
	unsigned folders;
	unsigned tree_files;
	double timeout_s; /* for any one wait */
	unsigned runs;	  /* figures are medians over this many runs */
	bool keep;
	bool baseline_only;
	bool can_drop_caches;
};

enum row {
	ROW_SEQ_WRITE,
	ROW_BIG_COMMIT,
	ROW_COLD_READ,
	ROW_WARM_READ,
	ROW_CREATE,
	ROW_COMMIT_LATENCY,
	ROW_LS,
	ROW_READ_SMALL,
	ROW_OVERWRITE,
	ROW_RSYNC,
	ROW_RSYNC_NOOP,
	ROW_RENAME,
	ROW_DELETE,
	ROW_ALL_COMMIT,
	ROW_EMPTY_CACHE_READ,
	ROW_COUNT
};

enum cell_state {
	CELL_NOT_RUN = 0,
	CELL_OK,
	CELL_FAILED,
	CELL_NA, /* does not apply to this drive */
};

struct cell {
	enum cell_state state;
	double secs;
	char why[96]; /* when failed */
};

/* Build the rsync source tree (outside any mount) under dir. */
int work_make_tree(const char *dir, unsigned nfiles);

/* Run every step on t; cells[ROW_*] get the figures.  Stops early only if
 * the drive dies; a failing step marks its cell and the run goes on. */
void work_run(struct target *t, const struct bench_opts *o,
	      const char *tree_src, struct cell cells[ROW_COUNT]);

/* Print the table, the targets and the peak RSS.  Returns the number of
 * targets not met (cells failed count as not met). */
int table_print(const struct bench_opts *o, const struct target *coffre,
		const struct target *overlay,
		const struct cell coffre_cells[ROW_COUNT],
		const struct cell overlay_cells[ROW_COUNT]);

#endif /* COFFRE_BENCH_BENCH_H */
