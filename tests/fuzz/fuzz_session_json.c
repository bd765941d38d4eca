/*
 * The client's session file (client/store/session.c, session_load): the JSON
 * `coffre login` writes into the config directory, which the user (or
 * anything that can write there) may edit.  A session that loads has a
 * url, a login and a token.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "client/store/session.h"
#include "common/err.h"
#include "tests/fuzz/fuzz.h"

static char path[600];
static const char *dir;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	dir = fuzz_scratch();
	snprintf(path, sizeof(path), "%s/session.json", dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session s;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write_full(fd, data, size) < 0)
		abort();
	close(fd);
	if (session_load(&s, dir) == 0) {
		if (!s.url || !s.login || !s.token)
			abort();
		session_release(&s);
	}
	err_clear();
	return 0;
}
