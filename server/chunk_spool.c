/* Puts spooled to a temporary file (chunk_spool.h). */
#include "server/chunk_spool.h"

#include <errno.h>
#include <string.h>

#include "common/err.h"

int chunk_spool_open(struct chunk_spool *sp, const char *name, const char *dir,
		     int make)
{
	int rc;

	sp->tf = tmpfile_init();
	sp->len = 0;
	if (!chunk_name_valid(name))
		return err_set(-EINVAL, "bad chunk name '%s'", name);
	memcpy(sp->name, name, sizeof(sp->name));
	rc = tmpfile_open(&sp->tf, dir);
	if (rc == -ENOENT && make) {
		rc = mkdir_p(dir, 0700);
		if (rc == 0)
			rc = tmpfile_open(&sp->tf, dir);
	}
	return rc;
}

int chunk_spool_write(struct chunk_spool *sp, const void *buf, size_t n,
		      const char *verb)
{
	int rc = write_full(sp->tf.fd, buf, n);

	if (rc < 0)
		return err_set(rc, "cannot %s chunk: %s", verb, strerror(-rc));
	sp->len += n;
	return 0;
}

void chunk_spool_release(struct chunk_spool *sp)
{
	tmpfile_release(&sp->tf);
}
