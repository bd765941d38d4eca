/* Unit tests for common/err and common/log. */
#include "common/err.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/lib/tap.h"

static void *other_thread(void *arg)
{
	(void)arg;
	err_set(-EIO, "from another thread");
	return NULL;
}

int main(void)
{
	pthread_t t;

	err_clear();
	is_str(err_msg(), "no error", "nothing set");
	is_int(err_set(-ENOENT, "cannot open '%s'", "x"), -ENOENT,
	       "err_set returns rc");
	is_str(err_msg(), "cannot open 'x'", "message kept");
	is_int(err_set(-EIO, "wrapped: %s", err_msg()), -EIO,
	       "err_set may quote err_msg()");
	is_str(err_msg(), "wrapped: cannot open 'x'", "self-reference is safe");

	pthread_create(&t, NULL, other_thread, NULL);
	pthread_join(t, NULL);
	is_str(err_msg(), "wrapped: cannot open 'x'",
	       "another thread's message does not leak here");

	err_clear();
	err_set(-ENOENT, NULL);
	is_str(err_msg(), strerror(ENOENT), "no text falls back to strerror");

	/* A logged name cannot forge a second line. */
	{
		char path[] = "/tmp/coffre-test-log.XXXXXX", text[512];
		int fd = mkstemp(path), saved = dup(2);
		ssize_t n;

		dup2(fd, 2);
		log_warn("name '%s'", "a\nfake 2026 error line\x1b[2J");
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		n = pread(fd, text, sizeof(text) - 1, 0);
		text[n > 0 ? n : 0] = '\0';
		close(fd);
		unlink(path);
		ok(n > 0 && strchr(text, '\n') == text + n - 1 &&
			   !strchr(text, '\x1b'),
		   "control characters in a message are neutralised");
		ok(strstr(text, " warn name 'a?fake 2026 error line?[2J'") !=
			   NULL,
		   "log line shape");
	}

	log_set_level(LOG_LEVEL_ERROR);
	errno = EAGAIN;
	log_info("not shown %d", 1);
	log_error("log line from test_err");
	is_int(errno, EAGAIN, "logging keeps errno");
	return tap_done();
}
