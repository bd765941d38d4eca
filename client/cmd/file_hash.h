/*
 * The SHA-256 and size of a file, read once: for proofs (copied into the
 * proof while hashed), verification and exports (a file already there
 * kept when whole, or copied locally).
 */
#ifndef COFFRE_CLIENT_FILE_HASH_H
#define COFFRE_CLIENT_FILE_HASH_H

#include <stdint.h>

#include "common/hash.h"

struct progress;

/*
 * Hash src into *got and *size; with fd >= 0 each piece is also written
 * to fd.  prog (may be NULL) shows what with the bytes read of total.
 * 0, or -errno with err_set.
 */
int file_hash(const char *src, int fd, struct obj_id *got, uint64_t *size,
	      struct progress *prog, const char *what, uint64_t total);

#endif /* COFFRE_CLIENT_FILE_HASH_H */
