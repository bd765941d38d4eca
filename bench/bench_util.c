/*
 * Small helpers shared by the bench programs: messages, the monotonic
 * clock and bounded path formatting.
 */
#include "bench.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int bench_err(int rc, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return rc;
}

void bench_note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	/* Progress lines must show up before a long step, even in a pipe. */
	fflush(stdout);
}

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_path(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, BENCH_PATH_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= BENCH_PATH_MAX) {
		out[0] = '\0';
		return bench_err(-ENAMETOOLONG, "path too long (over %d bytes)",
				 BENCH_PATH_MAX - 1);
	}
	return 0;
}

int bench_binary(char *out, const char *rel)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return bench_err(-errno, "cannot read /proc/self/exe: %s",
				 strerror(errno));
	self[n] = '\0';
	return bench_path(out, "%s/../%s", dirname(self), rel);
}
