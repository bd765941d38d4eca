/*
 * Thread-local error messages.  A function that knows why something failed
 * calls err_set() once; its callers propagate the return code and whoever
 * reports the failure (a log line, an HTTP body, a CLI message) reads
 * err_msg().  Each thread has its own buffer, so concurrent requests never
 * see each other's messages.
 */
#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/banned.h"

#define ERR_MSG_MAX 1024

static _Thread_local char err_buf[ERR_MSG_MAX];
static _Thread_local int err_rc;

int err_set(int rc, const char *fmt, ...)
{
	/*
	 * Format into a local buffer first: a caller may pass err_msg() as an
	 * argument ("cannot open '%s': %s"), and vsnprintf must not write into
	 * the buffer it reads from.
	 */
	char tmp[ERR_MSG_MAX];
	int saved = errno;
	va_list ap;

	tmp[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(tmp, sizeof(tmp), fmt, ap);
		va_end(ap);
	}
	memcpy(err_buf, tmp, sizeof(err_buf));
	err_rc = rc;
	errno = saved;
	return rc;
}

const char *err_msg(void)
{
	int e;

	if (err_buf[0])
		return err_buf;
	if (!err_rc)
		return "no error";
	e = err_rc < 0 ? -err_rc : err_rc;
	/* GNU strerror_r may return a static string instead of filling buf. */
	{
		const char *s = strerror_r(e, err_buf, sizeof(err_buf));

		if (s != err_buf)
			snprintf(err_buf, sizeof(err_buf), "%s", s);
	}
	return err_buf;
}

void err_clear(void)
{
	err_buf[0] = '\0';
	err_rc = 0;
}
