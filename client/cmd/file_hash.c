/* Hashing a file while copying it, with progress (file_hash.h). */
#include "client/cmd/file_hash.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "client/cmd/progress.h"
#include "common/err.h"
#include "common/fsutil.h"

int file_hash(const char *src, int fd, struct obj_id *got, uint64_t *size,
	      struct progress *prog, const char *what, uint64_t total)
{
	unsigned char piece[64 * 1024];
	struct hash_ctx *h = NULL;
	ssize_t n;
	int in, rc;

	*size = 0;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_set(-errno, "cannot open '%s': %s", src,
			       strerror(errno));
	rc = hash_new(&h);
	while (rc == 0 && (n = read_full(in, piece, sizeof(piece))) > 0) {
		hash_update(h, piece, (size_t)n);
		*size += (uint64_t)n;
		if (prog)
			progress_transfer(prog, what, 0, 1, *size, total);
		if (fd >= 0)
			rc = write_full(fd, piece, (size_t)n);
		if ((size_t)n < sizeof(piece))
			break;
	}
	if (rc == 0 && n < 0)
		rc = err_set((int)n, "cannot read '%s': %s", src,
			     strerror((int)-n));
	if (rc == 0)
		hash_final(h, got);
	if (prog)
		progress_end(prog);
	hash_free(h);
	close(in);
	return rc;
}
