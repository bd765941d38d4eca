/*
 * Unit tests for common/log's two line formats: "TIME LEVEL message" on a
 * plain stderr, "<PRIORITY>message" when stderr is the journal's stream
 * (JOURNAL_STREAM names its device and inode).  Each case runs in a child
 * whose stderr is a file, since the format is chosen once per process.
 */
#include "common/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/tap.h"

enum journal_env { NO_ENV, MATCHING_ENV, OTHER_FILE_ENV, GARBAGE_ENV };

/* Log one error and one info line from a child; the child's stderr, read back. */
static void run_child(enum journal_env env, char *out, size_t outsz)
{
	char path[] = "/tmp/test_log.XXXXXX";
	int fd = mkstemp(path);
	pid_t pid;
	ssize_t n;

	out[0] = '\0';
	if (fd < 0)
		return;
	pid = fork();
	if (pid == 0) {
		struct stat st;
		char v[64];

		dup2(fd, STDERR_FILENO);
		fstat(fd, &st);
		if (env == MATCHING_ENV || env == OTHER_FILE_ENV)
			snprintf(v, sizeof(v), "%llu:%llu",
				 (unsigned long long)st.st_dev,
				 (unsigned long long)st.st_ino +
					 (env == OTHER_FILE_ENV));
		else
			snprintf(v, sizeof(v), "not-a-stream");
		if (env == NO_ENV)
			unsetenv("JOURNAL_STREAM");
		else
			setenv("JOURNAL_STREAM", v, 1);
		unsetenv("COFFRE_LOG");
		log_error("disk %s", "full");
		log_info("a name with a\nnewline");
		log_debug("not shown at the default level");
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	n = pread(fd, out, outsz - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
}

int main(void)
{
	char out[1024];

	run_child(MATCHING_ENV, out, sizeof(out));
	is_str(out, "<3>disk full\n<6>a name with a?newline\n",
	       "journal stream: syslog priorities, no timestamp, one line each");

	run_child(NO_ENV, out, sizeof(out));
	ok(strstr(out, "Z error disk full\n") && strstr(out, "Z info a name"),
	   "plain stderr: TIME LEVEL message");
	ok(!strchr(out, '<'), "plain stderr: no priority prefix");

	run_child(OTHER_FILE_ENV, out, sizeof(out));
	ok(strstr(out, "Z error disk full\n") != NULL,
	   "JOURNAL_STREAM naming another file: plain lines");

	run_child(GARBAGE_ENV, out, sizeof(out));
	ok(strstr(out, "Z error disk full\n") != NULL,
	   "a malformed JOURNAL_STREAM: plain lines");
	return tap_done();
}
