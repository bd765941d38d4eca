/*
 * Logging to stderr: one line per call, "TIME LEVEL message", written under
 * a lock so lines from concurrent threads never interleave.  The level comes
 * from COFFRE_LOG (error, warn, info, debug) unless log_set_level() was
 * called.  Callers never pass secrets; this file cannot check that.
 *
 * Under systemd, when stderr is the journal's stream (JOURNAL_STREAM names
 * its device and inode, see systemd.exec(5)), each line is "<N>message"
 * instead: the journal reads N as the syslog priority (3 error, 4 warning,
 * 6 info, 7 debug) and stamps the time itself, so `journalctl -p err -u
 * coffred` finds the errors.  No libsystemd is needed for that.
 */
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static atomic_int log_level = LOG_LEVEL_INFO;
static atomic_bool log_to_journal;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static const char level_priority[] = {
	[LOG_LEVEL_ERROR] = '3',
	[LOG_LEVEL_WARN] = '4',
	[LOG_LEVEL_INFO] = '6',
	[LOG_LEVEL_DEBUG] = '7',
};

/* Is stderr the stream that JOURNAL_STREAM ("DEV:INODE") names? */
static bool stderr_is_journal(void)
{
	const char *s = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (!s || sscanf(s, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

static void log_init_from_env(void)
{
	const char *s = getenv("COFFRE_LOG");

	atomic_store(&log_to_journal, stderr_is_journal());
	if (!s)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
		if (!strcmp(s, level_names[i]))
			atomic_store(&log_level, (int)i);
}

void log_set_level(enum log_level lvl)
{
	/* Run the environment default first so it cannot override us later. */
	pthread_once(&log_once, log_init_from_env);
	atomic_store(&log_level, (int)lvl);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char ts[96] = "";
	char msg[2048];
	struct timeval tv;
	struct tm tm;
	int saved = errno;
	va_list ap;

	pthread_once(&log_once, log_init_from_env);
	if ((int)lvl > atomic_load(&log_level))
		goto out;

	gettimeofday(&tv, NULL);
	if (gmtime_r(&tv.tv_sec, &tm))
		snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (int)(tv.tv_usec / 1000) % 1000);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/*
	 * One call, one line: a newline or escape sequence inside a logged
	 * name (user input) must not forge further lines or drive the
	 * terminal.
	 */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';

	pthread_mutex_lock(&log_lock);
	if (atomic_load(&log_to_journal))
		fprintf(stderr, "<%c>%s\n",
			(unsigned)lvl < ARRAY_SIZE(level_priority) ?
				level_priority[lvl] :
				'6',
			msg);
	else
		fprintf(stderr, "%s %s %s\n", ts,
			(unsigned)lvl < ARRAY_SIZE(level_names) ?
				level_names[lvl] :
				"?",
			msg);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
out:
	errno = saved;
}
