/*
 * The report of drive_bench: one line per workload with the coffre figure,
 * the fuse-overlayfs figure and their ratio, then the notes on failed
 * cells, the targets of the issue and the peak memory of each daemon.
 *
 * The ratio is always a speed ratio (coffre MB/s over fuse-overlayfs MB/s,
 * or fuse-overlayfs time over coffre time), so 1.00x means as fast as the
 * FUSE ceiling and below 1 means slower, whatever the unit of the row.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

enum unit {
	UNIT_MBPS, /* 10^6 bytes per second over the big file */
	UNIT_MS,
	UNIT_S,
};

#define TARGET_SPEED_RATIO  0.9
#define TARGET_OVERWRITE_MS 5.0
#define TARGET_COMMIT_S	    5.0

static enum unit row_unit(enum row r)
{
	switch (r) {
	case ROW_SEQ_WRITE:
	case ROW_COLD_READ:
	case ROW_WARM_READ:
	case ROW_EMPTY_CACHE_READ:
		return UNIT_MBPS;
	case ROW_BIG_COMMIT:
	case ROW_COMMIT_LATENCY:
	case ROW_ALL_COMMIT:
		return UNIT_S;
	default:
		return UNIT_MS;
	}
}

static void row_label(char *out, size_t size, const struct bench_opts *o,
		      enum row r)
{
	switch (r) {
	case ROW_SEQ_WRITE:
		snprintf(out, size, "sequential write %llu MiB + fsync",
			 (unsigned long long)o->size_mib);
		break;
	case ROW_BIG_COMMIT:
		snprintf(out, size, "  committed on server, from close");
		break;
	case ROW_COLD_READ:
		snprintf(out, size, "cold read [1]");
		break;
	case ROW_WARM_READ:
		snprintf(out, size, "warm read");
		break;
	case ROW_CREATE:
		snprintf(out, size, "create %u x 4 KiB in %u folders", o->files,
			 o->folders);
		break;
	case ROW_COMMIT_LATENCY:
		snprintf(out, size, "  committed on server, from last close");
		break;
	case ROW_LS:
		snprintf(out, size, "ls -lR after remount [2]");
		break;
	case ROW_READ_SMALL:
		snprintf(out, size, "read the %u small files", o->files);
		break;
	case ROW_OVERWRITE:
		snprintf(out, size,
			 "4 KiB overwrite mid-file (open+pwrite+close)");
		break;
	case ROW_RSYNC:
		snprintf(out, size, "rsync -a of a %u-file tree",
			 o->tree_files);
		break;
	case ROW_RSYNC_NOOP:
		snprintf(out, size, "rsync -a again (no-op)");
		break;
	case ROW_RENAME:
		snprintf(out, size, "rename the tree");
		break;
	case ROW_DELETE:
		snprintf(out, size, "delete the tree");
		break;
	case ROW_ALL_COMMIT:
		snprintf(out, size, "  all committed on server, from delete");
		break;
	case ROW_EMPTY_CACHE_READ:
		snprintf(out, size, "read after remount, empty cache [3]");
		break;
	default:
		snprintf(out, size, "?");
		break;
	}
}

static double value(const struct bench_opts *o, enum row r, double secs)
{
	switch (row_unit(r)) {
	case UNIT_MBPS:
		return secs > 0 ? (double)o->size_mib * 1048576.0 / secs / 1e6 :
				  0;
	case UNIT_MS:
		return secs * 1000;
	default:
		return secs;
	}
}

static void cell_text(char *out, size_t size, const struct bench_opts *o,
		      enum row r, const struct cell *c)
{
	static const char *const units[] = { "MB/s", "ms", "s" };

	switch (c->state) {
	case CELL_OK:
		snprintf(out, size, "%.*f %s", row_unit(r) == UNIT_S ? 2 : 1,
			 value(o, r, c->secs), units[row_unit(r)]);
		break;
	case CELL_FAILED:
		snprintf(out, size, "FAILED");
		break;
	default:
		snprintf(out, size, "-");
		break;
	}
}

/* Speed ratio, or a negative value when it cannot be computed. */
static double ratio(enum row r, const struct cell *cof, const struct cell *ovl)
{
	if (cof->state != CELL_OK || ovl->state != CELL_OK || cof->secs <= 0 ||
	    ovl->secs <= 0)
		return -1;
	/* Same bytes for both drives, so MB/s over MB/s is time over time. */
	return ovl->secs / cof->secs;
}

/* The reasons of failed cells and remarks on measured ones; how many. */
static int print_notes(const char *name, const struct cell cells[ROW_COUNT],
		       const struct bench_opts *o)
{
	char label[96];
	int printed = 0;
	int r = 0;

	while (r < ROW_COUNT) {
		int same = 1;

		if (cells[r].why[0] == '\0') {
			r++;
			continue;
		}
		/* A failed setup or a dead drive gives the same reason to
		 * every row after it: say it once. */
		while (r + same < ROW_COUNT &&
		       strcmp(cells[r + same].why, cells[r].why) == 0)
			same++;
		row_label(label, sizeof(label), o, (enum row)r);
		while (label[0] == ' ')
			memmove(label, label + 1, strlen(label));
		if (same > 2)
			printf("  %s, %s and the %d rows below it: %s\n", name,
			       label, same - 1, cells[r].why);
		else if (same == 2)
			printf("  %s, %s and the row below it: %s\n", name,
			       label, cells[r].why);
		else
			printf("  %s, %s: %s\n", name, label, cells[r].why);
		r += same;
		printed++;
	}
	return printed;
}

static void print_target(const char *what, bool measured, bool met,
			 const char *figure)
{
	printf("  %-52s %-12s %s\n", what, figure,
	       !measured ? "not measured" :
	       met	 ? "met" :
			   "NOT met");
}

static void print_rss(const char *what, long kib, int processes)
{
	if (kib <= 0) {
		printf("  %-28s not measured\n", what);
		return;
	}
	if (processes > 1)
		printf("  %-28s %.1f MiB (max over %d mount processes)\n", what,
		       (double)kib / 1024, processes);
	else
		printf("  %-28s %.1f MiB\n", what, (double)kib / 1024);
}

int table_print(const struct bench_opts *o, const struct target *coffre,
		const struct target *overlay, const struct cell cc[ROW_COUNT],
		const struct cell oc[ROW_COUNT])
{
	char label[96], a[32], b[32], fig[48];
	int not_met = 0;
	double rw, rc;
	bool m;

	printf("\n%-46s %14s %16s %8s\n", "workload", "coffre",
	       "fuse-overlayfs", "ratio");
	for (int r = 0; r < ROW_COUNT; r++) {
		double x = ratio((enum row)r, &cc[r], &oc[r]);

		row_label(label, sizeof(label), o, (enum row)r);
		cell_text(a, sizeof(a), o, (enum row)r, &cc[r]);
		cell_text(b, sizeof(b), o, (enum row)r, &oc[r]);
		if (x >= 0)
			printf("%-46s %14s %16s %7.2fx\n", label, a, b, x);
		else
			printf("%-46s %14s %16s %8s\n", label, a, b, "");
	}
	printf("\nratio = coffre speed / fuse-overlayfs speed (MB/s over MB/s, or time over time inverted): 1.00x is the FUSE ceiling, below 1 is slower.\n");
	if (o->runs > 1)
		printf("every figure is the median of %u runs, the drives taking turns.\n",
		       o->runs);
	printf("[1] after sync and echo 3 > /proc/sys/vm/drop_caches%s; both drives remounted first, coffre keeps its disk cache (client memory cold, disk cache warm).\n",
	       o->can_drop_caches ?
		       "" :
		       " (NOT done: not root, so reads may hit the page cache)");
	printf("[2] both drives remounted and caches dropped before ls.\n");
	printf("[3] coffre only: remounted with a new, empty cache dir after everything was committed, caches dropped; the bytes come from the server.\n");

	printf("\nnotes:\n");
	if (print_notes("coffre", cc, o) +
		    print_notes("fuse-overlayfs", oc, o) ==
	    0)
		printf("  none\n");

	printf("\ntargets:\n");
	rw = ratio(ROW_SEQ_WRITE, &cc[ROW_SEQ_WRITE], &oc[ROW_SEQ_WRITE]);
	snprintf(fig, sizeof(fig), "%.2fx", rw);
	m = rw >= TARGET_SPEED_RATIO;
	print_target("sequential write >= 0.90x fuse-overlayfs", rw >= 0, m,
		     rw >= 0 ? fig : "-");
	not_met += !m;
	rc = ratio(ROW_CREATE, &cc[ROW_CREATE], &oc[ROW_CREATE]);
	snprintf(fig, sizeof(fig), "%.2fx", rc);
	m = rc >= TARGET_SPEED_RATIO;
	print_target("small-file create >= 0.90x fuse-overlayfs", rc >= 0, m,
		     rc >= 0 ? fig : "-");
	not_met += !m;
	snprintf(fig, sizeof(fig), "%.2f ms", cc[ROW_OVERWRITE].secs * 1000);
	m = cc[ROW_OVERWRITE].state == CELL_OK &&
	    cc[ROW_OVERWRITE].secs * 1000 < TARGET_OVERWRITE_MS;
	print_target("coffre 4 KiB overwrite < 5 ms",
		     cc[ROW_OVERWRITE].state == CELL_OK, m,
		     cc[ROW_OVERWRITE].state == CELL_OK ? fig : "-");
	not_met += !m;
	snprintf(fig, sizeof(fig), "%.2f s", cc[ROW_COMMIT_LATENCY].secs);
	m = cc[ROW_COMMIT_LATENCY].state == CELL_OK &&
	    cc[ROW_COMMIT_LATENCY].secs <= TARGET_COMMIT_S;
	print_target("coffre small files committed on server <= 5 s",
		     cc[ROW_COMMIT_LATENCY].state == CELL_OK, m,
		     cc[ROW_COMMIT_LATENCY].state == CELL_OK ? fig : "-");
	not_met += !m;

	printf("\npeak resident memory (VmHWM):\n");
	print_rss("coffre mount", coffre->peak_rss_kib, coffre->mounts);
	print_rss("coffred", coffre->srv_peak_rss_kib, 1);
	print_rss("fuse-overlayfs", overlay->peak_rss_kib, overlay->mounts);
	return not_met;
}
