/* Progress lines on standard error (progress.h). */
#include "client/cmd/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DRAW_EVERY 0.2 /* seconds between two draws */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n bytes as "12.3 MiB" into out. */
static void human(double n, char *out, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned i = 0;

	while (n >= 1024 && i + 1 < sizeof(unit) / sizeof(unit[0])) {
		n /= 1024;
		i++;
	}
	snprintf(out, len, i ? "%.1f %s" : "%.0f %s", n, unit[i]);
}

void progress_init(struct progress *p, enum progress_mode mode)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO);
	p->on = mode == PROGRESS_ON || (mode == PROGRESS_AUTO && p->tty);
}

void progress_sync(struct progress *p, uint64_t changes, uint64_t bytes,
		   const char *sending)
{
	char left[32], rate[32], name[64] = "";
	double t = now_s();

	if (!p->on)
		return;
	if (p->last_t > 0 && t > p->last_t && bytes <= p->last_bytes) {
		double r = (double)(p->last_bytes - bytes) / (t - p->last_t);

		p->rate = p->rate > 0 ? 0.7 * p->rate + 0.3 * r : r;
	}
	p->last_t = t;
	p->last_bytes = bytes;
	if (p->shown && t - p->last_draw < DRAW_EVERY)
		return;
	p->last_draw = t;
	human((double)bytes, left, sizeof(left));
	human(p->rate, rate, sizeof(rate));
	if (sending) {
		size_t n = strlen(sending);

		/* the end of a long path: its name is what tells */
		snprintf(name, sizeof(name), " %s%s", n > 40 ? "..." : "",
			 n > 40 ? sending + n - 40 : sending);
	}
	/* redrawn in place on a terminal, one line each time elsewhere */
	fprintf(stderr, "%ssync: %llu changes, %s left, %s/s%s%s",
		p->tty ? "\r" : "", (unsigned long long)changes, left, rate,
		name, p->tty ? "\033[K" : "\n");
	fflush(stderr);
	p->shown = 1;
}

void progress_transfer(struct progress *p, const char *what, uint64_t docs,
		       uint64_t docs_total, uint64_t done, uint64_t total)
{
	char got[32], all[32], rate[32], eta[32] = "", count[64] = "";
	double t = now_s();

	if (!p->on)
		return;
	if (p->last_t > 0 && t > p->last_t && done >= p->last_bytes) {
		double r = (double)(done - p->last_bytes) / (t - p->last_t);

		p->rate = p->rate > 0 ? 0.7 * p->rate + 0.3 * r : r;
	}
	p->last_t = t;
	p->last_bytes = done;
	if (p->shown && t - p->last_draw < DRAW_EVERY && done < total)
		return;
	p->last_draw = t;
	human((double)done, got, sizeof(got));
	human((double)total, all, sizeof(all));
	human(p->rate, rate, sizeof(rate));
	if (p->rate > 0 && total > done)
		snprintf(eta, sizeof(eta), ", %.0f s left",
			 (double)(total - done) / p->rate);
	if (docs_total > 1)
		snprintf(count, sizeof(count), "%llu/%llu documents, ",
			 (unsigned long long)docs,
			 (unsigned long long)docs_total);
	/* one document (verify, proof): its bytes alone */
	fprintf(stderr, "%s%s: %s%s of %s, %s/s%s%s", p->tty ? "\r" : "", what,
		count, got, all, rate, eta, p->tty ? "\033[K" : "\n");
	fflush(stderr);
	p->shown = 1;
}

void progress_end(struct progress *p)
{
	if (p->on && p->shown && p->tty) {
		fputc('\n', stderr);
		fflush(stderr);
	}
	p->shown = 0;
}
