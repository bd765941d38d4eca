/*
 * A minimal TAP producer for the C unit tests (run by `meson test` with
 * protocol: 'tap').  Checks print "ok N - title" or "not ok N - title" with
 * a "# " diagnostic; tap_done() prints the plan and gives the exit status.
 * To skip a whole program, call tap_skip_all(): under the TAP protocol
 * meson treats exit status 77 as an error, so a skip is "1..0 # SKIP why".
 */
#ifndef COFFRE_TESTS_TAP_H
#define COFFRE_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count __attribute__((unused));
static int tap_failed __attribute__((unused));

__attribute__((format(printf, 4, 0), unused)) static int
tap_vok(int cond, const char *file, int line, const char *fmt, va_list ap)
{
	tap_count++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("# failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

__attribute__((format(printf, 4, 5), unused)) static int
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vok(cond, file, line, fmt, ap);
	va_end(ap);
	return cond;
}

__attribute__((format(printf, 5, 6), unused)) static int
tap_is_int(long long got, long long want, const char *file, int line,
	   const char *fmt, ...)
{
	va_list ap;
	int cond = got == want;

	va_start(ap, fmt);
	tap_vok(cond, file, line, fmt, ap);
	va_end(ap);
	if (!cond)
		printf("#   got: %lld\n#  want: %lld\n", got, want);
	return cond;
}

__attribute__((format(printf, 5, 6), unused)) static int
tap_is_str(const char *got, const char *want, const char *file, int line,
	   const char *fmt, ...)
{
	va_list ap;
	int cond = (!got && !want) || (got && want && !strcmp(got, want));

	va_start(ap, fmt);
	tap_vok(cond, file, line, fmt, ap);
	va_end(ap);
	if (!cond)
		printf("#   got: '%s'\n#  want: '%s'\n", got ? got : "(null)",
		       want ? want : "(null)");
	return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...)                                              \
	tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, \
		   __VA_ARGS__)
#define is_str(got, want, ...) \
	tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define diag(...)                    \
	do {                         \
		printf("# ");        \
		printf(__VA_ARGS__); \
		printf("\n");        \
	} while (0)

/* Print the plan; exit status 1 if any check failed. */
__attribute__((unused)) static int tap_done(void)
{
	printf("1..%d\n", tap_count);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

__attribute__((noreturn, unused)) static void tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	fflush(stdout);
	exit(0);
}

#endif /* COFFRE_TESTS_TAP_H */
