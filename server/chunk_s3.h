/*
 * The S3 backend of the chunk store (server/chunk_s3.c): objects in a
 * bucket of an S3-compatible store (Ceph RGW, MinIO, AWS), at
 * BUCKET/SPACE/NAME, sent with libcurl and signed with AWS SigV4.
 *
 * S3 has no rename, so a put is spooled to a temporary file (its SHA-256
 * computed as it is written) and sent as one PUT at commit, which the front
 * end calls only once the content's hash matched.  The PUT carries
 * x-amz-content-sha256, the spooled body's SHA-256, so the store checks the
 * body end to end and refuses a torn one.  404 is absent; list pages
 * through ListObjectsV2.
 */
#ifndef COFFRE_SERVER_CHUNK_S3_H
#define COFFRE_SERVER_CHUNK_S3_H

#include <limits.h>

struct chunk_backend;

#define CHUNK_S3_FIELD 256

struct chunk_s3_config {
	char host[CHUNK_S3_FIELD]; /* "HOST:PORT", reached over http */
	char bucket[64];
	char prefix[80]; /* "SPACE/" */
	char access_key[CHUNK_S3_FIELD];
	char secret[CHUNK_S3_FIELD];
	char spool_dir[PATH_MAX]; /* where puts wait for their commit */
	unsigned max_keys;	  /* names per list page (1..1000) */
};

/*
 * Parse "s3://HOST:PORT/BUCKET" into cfg->host and cfg->bucket.
 * 0 or -EINVAL with err_set() saying why.
 */
int chunk_s3_parse_url(struct chunk_s3_config *cfg, const char *url);

/*
 * Read the access key and the secret, one a line, from path, which must
 * be a regular file not readable by group or others (0600).  0, -EACCES
 * (mode), -EINVAL (content), -errno.
 */
int chunk_s3_read_key_file(struct chunk_s3_config *cfg, const char *path);

/* cfg is copied. */
int chunk_s3_new(struct chunk_backend **out, const struct chunk_s3_config *cfg);

#endif /* COFFRE_SERVER_CHUNK_S3_H */
