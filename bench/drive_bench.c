/*
 * drive_bench: how fast is the coffre drive next to the FUSE ceiling?
 *
 * One run sets up, in a private temporary work dir, a fuse-overlayfs mount
 * over a local directory (a multi-threaded libfuse3 passthrough) and a
 * complete coffre (its own coffred on 127.0.0.1, a user, a space, a login,
 * the drive), runs the same workload on each, one after the other so that
 * neither disturbs the other, and prints the figures side by side with
 * their ratio, the commit latency of coffre and the targets of the issue.
 * Whatever happens, everything is unmounted, stopped and removed.
 *
 * This is a program to run by hand (see bench/README.md), not a test.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#define DEFAULT_SIZE_MIB   1024
#define DEFAULT_FILES	   5000
#define DEFAULT_TREE_FILES 2000
#define DEFAULT_FOLDERS	   50

static void usage(FILE *f)
{
	fprintf(f,
		"usage: drive_bench [--quick] [--size-mib N] [--files N] [--tree-files N]\n"
		"                   [--coffre PATH] [--coffred PATH] [--baseline-only]\n"
		"                   [--runs N] [--timeout SECONDS] [--keep]\n"
		"\n"
		"Runs one workload on a coffre drive and on fuse-overlayfs and prints\n"
		"the figures side by side.  Run as root so caches can be dropped.\n"
		"  --quick          64 MiB file, 500 small files, 200-file rsync tree\n"
		"  --size-mib N     size of the big file (default %d)\n"
		"  --files N        number of 4 KiB files (default %d, in 50 folders)\n"
		"  --tree-files N   files in the rsync tree (default %d)\n"
		"  --coffre PATH    client binary (default: ../client/coffre next to this program)\n"
		"  --coffred PATH   server binary (default: ../server/coffred next to this program)\n"
		"  --baseline-only  measure fuse-overlayfs only\n"
		"  --runs N         run both drives N times, in turn, and print medians (default 1)\n"
		"  --timeout S      longest wait for a mount, an unmount or a commit (default 600)\n"
		"  --keep           keep the work dir (logs, data) for a look afterwards\n",
		DEFAULT_SIZE_MIB, DEFAULT_FILES, DEFAULT_TREE_FILES);
}

static int parse_uint(const char *arg, const char *opt, unsigned long min,
		      unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max)
		return bench_err(-EINVAL,
				 "%s wants a number from %lu to %lu, not '%s'",
				 opt, min, max, arg);
	*out = v;
	return 0;
}

struct options {
	struct bench_opts b;
	const char *coffre;
	const char *coffred;
};

static int parse_args(int argc, char **argv, struct options *opt)
{
	enum {
		O_SIZE = 256,
		O_FILES,
		O_TREE,
		O_QUICK,
		O_COFFRE,
		O_COFFRED,
		O_BASE,
		O_TIMEOUT,
		O_KEEP,
		O_RUNS
	};
	static const struct option longopts[] = {
		{ "size-mib", required_argument, NULL, O_SIZE },
		{ "files", required_argument, NULL, O_FILES },
		{ "tree-files", required_argument, NULL, O_TREE },
		{ "quick", no_argument, NULL, O_QUICK },
		{ "coffre", required_argument, NULL, O_COFFRE },
		{ "coffred", required_argument, NULL, O_COFFRED },
		{ "baseline-only", no_argument, NULL, O_BASE },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "keep", no_argument, NULL, O_KEEP },
		{ "runs", required_argument, NULL, O_RUNS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool size_set = false, files_set = false, tree_set = false;
	unsigned long v;
	int c;

	opt->b.size_mib = DEFAULT_SIZE_MIB;
	opt->b.files = DEFAULT_FILES;
	opt->b.tree_files = DEFAULT_TREE_FILES;
	opt->b.timeout_s = 600;
	opt->b.runs = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int rc = 0;

		switch (c) {
		case O_SIZE:
			rc = parse_uint(optarg, "--size-mib", 1, 65536, &v);
			opt->b.size_mib = v;
			size_set = true;
			break;
		case O_FILES:
			rc = parse_uint(optarg, "--files", 1, 1000000, &v);
			opt->b.files = (unsigned)v;
			files_set = true;
			break;
		case O_TREE:
			rc = parse_uint(optarg, "--tree-files", 1, 1000000, &v);
			opt->b.tree_files = (unsigned)v;
			tree_set = true;
			break;
		case O_QUICK:
			/* Explicit sizes win over --quick, in any order. */
			if (!size_set)
				opt->b.size_mib = 64;
			if (!files_set)
				opt->b.files = 500;
			if (!tree_set)
				opt->b.tree_files = 200;
			break;
		case O_COFFRE:
			opt->coffre = optarg;
			break;
		case O_COFFRED:
			opt->coffred = optarg;
			break;
		case O_BASE:
			opt->b.baseline_only = true;
			break;
		case O_TIMEOUT:
			rc = parse_uint(optarg, "--timeout", 1, 86400, &v);
			opt->b.timeout_s = (double)v;
			break;
		case O_KEEP:
			opt->b.keep = true;
			break;
		case O_RUNS:
			rc = parse_uint(optarg, "--runs", 1, BENCH_MAX_RUNS,
					&v);
			opt->b.runs = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
		if (rc < 0)
			return rc;
	}
	if (optind != argc) {
		usage(stderr);
		return bench_err(-EINVAL, "unexpected argument '%s'",
				 argv[optind]);
	}
	opt->b.folders =
		opt->b.files < DEFAULT_FOLDERS ? opt->b.files : DEFAULT_FOLDERS;
	return 0;
}

static bool can_drop_caches(void)
{
	FILE *f = fopen("/proc/sys/vm/drop_caches", "we");

	if (!f)
		return false;
	fclose(f);
	return true;
}

static int check_space(const char *dir, const struct bench_opts *o)
{
	/* overlay upper + coffre staging, cache and server chunks, plus a
	 * second version after the overwrite, plus the small files. */
	unsigned long long need = (6ULL * o->size_mib + 1024) * 1048576ULL;
	struct statvfs vfs;

	if (statvfs(dir, &vfs) < 0)
		return bench_err(-errno, "cannot stat '%s': %s", dir,
				 strerror(errno));
	if ((unsigned long long)vfs.f_bavail * vfs.f_frsize < need)
		return bench_err(
			-ENOSPC,
			"'%s' has %llu MiB free; this run wants %llu MiB", dir,
			(unsigned long long)vfs.f_bavail * vfs.f_frsize /
				1048576,
			need / 1048576);
	return 0;
}

static int make_workdir(char *out)
{
	const char *tmp = getenv("TMPDIR");
	int rc;

	rc = bench_path(out, "%s/coffre-bench.XXXXXX",
			tmp && *tmp ? tmp : "/tmp");
	if (rc < 0)
		return rc;
	if (!mkdtemp(out))
		return bench_err(-errno, "cannot create a work dir in '%s': %s",
				 tmp && *tmp ? tmp : "/tmp", strerror(errno));
	/* fuse-overlayfs takes its dirs in a comma- and colon-separated
	 * option string. */
	if (strpbrk(out, ",:\\")) {
		rmdir(out);
		return bench_err(
			-EINVAL,
			"work dir '%s' has ',', ':' or '\\': set TMPDIR elsewhere",
			out);
	}
	return 0;
}

/* The machine may be busy with other work: say how busy, so figures from
 * a loaded machine are read as such. */
static void note_load(const char *when)
{
	char buf[64] = "";
	FILE *f = fopen("/proc/loadavg", "re");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
	bench_note("load average %s: %s", when, buf[0] ? buf : "unknown");
}

static void mark_all(struct cell cells[ROW_COUNT], enum cell_state state,
		     const char *why)
{
	for (int i = 0; i < ROW_COUNT; i++) {
		cells[i].state = state;
		snprintf(cells[i].why, sizeof(cells[i].why), "%s", why);
	}
}

static int count_failed(const struct cell cells[ROW_COUNT])
{
	int n = 0;

	for (int i = 0; i < ROW_COUNT; i++)
		n += cells[i].state == CELL_FAILED;
	return n;
}

/* Set up one drive, run the workload, tear it down. */
static void bench_drive(struct target *t, const struct bench_opts *o,
			const char *tree, struct cell cells[ROW_COUNT])
{
	int rc;

	bench_note("setting up %s", t->name);
	rc = target_setup(t);
	if (rc < 0) {
		target_dump_logs(t);
		target_teardown(t);
		mark_all(cells, CELL_FAILED, "setup failed (see above)");
		return;
	}
	work_run(t, o, tree, cells);
	if (count_failed(cells) > 0)
		target_dump_logs(t);
	bench_note("stopping %s", t->name);
	target_teardown(t);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * One cell out of the same cell of n runs: the median when every run
 * measured it, FAILED (with the first reason) when any run failed, since
 * a figure that only sometimes exists is not a figure.
 */
static void merge_cells(struct cell *out, struct cell runs[][ROW_COUNT],
			unsigned n, int row)
{
	double v[BENCH_MAX_RUNS];
	unsigned ok = 0, failed = 0;

	memset(out, 0, sizeof(*out));
	for (unsigned r = 0; r < n; r++) {
		const struct cell *c = &runs[r][row];

		if (c->state == CELL_OK)
			v[ok++] = c->secs;
		if (c->state == CELL_FAILED && failed++ == 0)
			memcpy(out->why, c->why, sizeof(out->why));
		else if (c->why[0] && !out->why[0])
			memcpy(out->why, c->why, sizeof(out->why));
	}
	if (failed > 0) {
		out->state = CELL_FAILED;
		if (n > 1) {
			char why[sizeof(out->why)];

			snprintf(why, sizeof(why), "%.60s (in %u of %u runs)",
				 out->why, failed, n);
			memcpy(out->why, why, sizeof(why));
		}
		return;
	}
	if (ok == 0) {
		out->state = runs[0][row].state;
		return;
	}
	qsort(v, ok, sizeof(v[0]), cmp_double);
	out->state = CELL_OK;
	out->secs = ok % 2 ? v[ok / 2] : (v[ok / 2 - 1] + v[ok / 2]) / 2;
}

/* Keep the largest peaks and count the mount processes over runs. */
static void merge_rss(struct target *sum, const struct target *t)
{
	if (t->peak_rss_kib > sum->peak_rss_kib)
		sum->peak_rss_kib = t->peak_rss_kib;
	if (t->srv_peak_rss_kib > sum->srv_peak_rss_kib)
		sum->srv_peak_rss_kib = t->srv_peak_rss_kib;
	sum->mounts += t->mounts;
}

/* Each run in its own dir, removed after it so disk use stays that of one
 * run; a leftover mount is never crossed (--one-file-system). */
static int run_dir(char *out, const char *workdir, unsigned run)
{
	int rc = bench_path(out, "%s/run%u", workdir, run + 1);

	if (rc == 0 && mkdir(out, 0700) < 0)
		rc = bench_err(-errno, "cannot create '%s': %s", out,
			       strerror(errno));
	return rc;
}

static void remove_run_dir(const char *dir)
{
	char *argv[] = { (char *)"rm", (char *)"-rf",
			 (char *)"--one-file-system", (char *)dir, NULL };

	if (proc_run(argv, NULL, NULL, 600) != 0)
		bench_err(0, "cannot remove '%s'", dir);
}

int main(int argc, char **argv)
{
	static struct cell coffre_runs[BENCH_MAX_RUNS][ROW_COUNT];
	static struct cell overlay_runs[BENCH_MAX_RUNS][ROW_COUNT];
	static struct cell coffre_cells[ROW_COUNT], overlay_cells[ROW_COUNT];
	struct options opt = { 0 };
	struct target overlay, coffre, overlay_sum, coffre_sum;
	char workdir[BENCH_PATH_MAX], tree[BENCH_PATH_MAX];
	char coffre_bin[BENCH_PATH_MAX], coffred_bin[BENCH_PATH_MAX];
	struct utsname uts;
	int failed;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse_args(argc, argv, &opt) < 0)
		return 2;
	if (access("/dev/fuse", R_OK | W_OK) < 0)
		return bench_err(1, "cannot use /dev/fuse: %s",
				 strerror(errno));
	opt.b.can_drop_caches = can_drop_caches();
	if (!opt.b.can_drop_caches)
		bench_note(
			"not allowed to drop caches (run as root): cold reads will not be cold");
	rc = opt.coffre ? bench_path(coffre_bin, "%s", opt.coffre) :
			  bench_binary(coffre_bin, "client/coffre");
	if (rc == 0)
		rc = opt.coffred ? bench_path(coffred_bin, "%s", opt.coffred) :
				   bench_binary(coffred_bin, "server/coffred");
	if (rc < 0)
		return 1;

	if (make_workdir(workdir) < 0)
		return 1;
	if (cleanup_init(workdir, opt.b.keep) < 0) {
		rmdir(workdir);
		return 1;
	}
	/* From here on every exit path goes through the cleanup. */
	if (check_space(workdir, &opt.b) < 0)
		return 1;
	if (bench_path(tree, "%s/rsync-src", workdir) < 0)
		return 1;
	memset(&overlay_sum, 0, sizeof(overlay_sum));
	memset(&coffre_sum, 0, sizeof(coffre_sum));

	uname(&uts);
	bench_note("%ld cores, %s %s; work dir %s",
		   sysconf(_SC_NPROCESSORS_ONLN), uts.sysname, uts.release,
		   workdir);
	bench_note(
		"workload: %llu MiB file, %u x 4 KiB files in %u folders, %u-file rsync tree; %u run(s)",
		(unsigned long long)opt.b.size_mib, opt.b.files, opt.b.folders,
		opt.b.tree_files, opt.b.runs);
	note_load("before");
	if (work_make_tree(tree, opt.b.tree_files) < 0)
		return 1;

	for (unsigned r = 0; r < opt.b.runs; r++) {
		char dir[BENCH_PATH_MAX];

		if (opt.b.runs > 1)
			bench_note("run %u of %u", r + 1, opt.b.runs);
		if (run_dir(dir, workdir, r) < 0 ||
		    target_init(&overlay, TARGET_OVERLAY, dir, NULL, NULL) <
			    0 ||
		    target_init(&coffre, TARGET_COFFRE, dir, coffre_bin,
				coffred_bin) < 0)
			return 1;
		overlay.timeout_s = coffre.timeout_s = opt.b.timeout_s;
		bench_drive(&overlay, &opt.b, tree, overlay_runs[r]);
		if (opt.b.baseline_only)
			mark_all(coffre_runs[r], CELL_NA, "");
		else
			bench_drive(&coffre, &opt.b, tree, coffre_runs[r]);
		merge_rss(&overlay_sum, &overlay);
		merge_rss(&coffre_sum, &coffre);
		if (!opt.b.keep)
			remove_run_dir(dir);
	}
	for (int row = 0; row < ROW_COUNT; row++) {
		merge_cells(&overlay_cells[row], overlay_runs, opt.b.runs, row);
		merge_cells(&coffre_cells[row], coffre_runs, opt.b.runs, row);
	}

	note_load("after");
	table_print(&opt.b, &coffre_sum, &overlay_sum, coffre_cells,
		    overlay_cells);
	failed = count_failed(overlay_cells) + count_failed(coffre_cells);
	if (failed > 0) {
		printf("\n%d figure(s) could not be measured (see notes and logs above)\n",
		       failed);
		return 1;
	}
	return 0;
}
