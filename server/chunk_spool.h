/*
 * A put spooled to a temporary file: what the directory and S3 backends
 * (chunk_dir.c, chunk_s3.c) both keep while a chunk is written, before
 * their commits publish it (a rename, one PUT of the file).
 */
#ifndef COFFRE_SERVER_CHUNK_SPOOL_H
#define COFFRE_SERVER_CHUNK_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "common/fsutil.h"
#include "server/chunk_backend.h"

struct chunk_spool {
	char name[CHUNK_NAME_LEN + 1];
	struct tmpfile tf;
	uint64_t len; /* bytes written so far */
};

/*
 * Start a put of name in a new temporary file of dir; with make, dir is
 * made when missing (so opening a store writes nothing before a put).
 * -EINVAL for a bad name; on failure nothing is left behind.
 */
int chunk_spool_open(struct chunk_spool *sp, const char *name, const char *dir,
		     int make);

/* Append n bytes; a failure says "cannot VERB chunk: ...". */
int chunk_spool_write(struct chunk_spool *sp, const void *buf, size_t n,
		      const char *verb);

/* Close the file; remove it unless tmpfile_commit() published it. */
void chunk_spool_release(struct chunk_spool *sp);

#endif /* COFFRE_SERVER_CHUNK_SPOOL_H */
