/*
 * AWS Signature Version 4 and the S3 requests the chunk store sends, as
 * pure functions (no I/O, no clock), so they can be checked against AWS's
 * published examples (tests/unit/test_s3_sigv4.c).
 *
 * libcurl signs the requests it sends (CURLOPT_AWS_SIGV4); Debian 12's
 * libcurl 7.88 does not add x-amz-content-sha256, which S3 and RGW need to
 * check a body, but it signs that header when given and takes its value as
 * the payload hash.  The S3 backend gives it the body's SHA-256, and the
 * unit test checks that what libcurl sends carries the signature computed
 * here over the same request.
 */
#ifndef COFFRE_SERVER_S3_SIGV4_H
#define COFFRE_SERVER_S3_SIGV4_H

#include <stddef.h>

#define S3_SHA256_EMPTY \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3_header {
	const char *name, *value;
};

struct s3_sigv4_req {
	const char *method; /* "GET" */
	const char *path;   /* canonical URI, already encoded: "/b/k" */
	const char *query;  /* encoded "a=1&b=2" in any order, or "" */
	const struct s3_header *headers; /* every header signed, host too */
	size_t nheaders;
	const char *payload_hash; /* hex SHA-256 of the body */
	const char *access_key, *secret;
	const char *region, *service; /* "us-east-1", "s3" */
	const char *amz_date;	      /* "20130524T000000Z" */
};

/*
 * The value of the Authorization header into out:
 * "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
 * 0, -E2BIG when out is too small or a field too long, -EINVAL.
 */
int s3_sigv4_authorization(const struct s3_sigv4_req *r, char *out,
			   size_t outlen);

/* The signature alone (64 hex and a NUL into out). */
int s3_sigv4_signature(const struct s3_sigv4_req *r, char out[65]);

/*
 * URI-encode s as SigV4 wants (unreserved A-Z a-z 0-9 - _ . ~ kept, the
 * rest %XX upper case; '/' kept when keep_slash).  0 or -E2BIG.
 */
int s3_uri_encode(const char *s, int keep_slash, char *out, size_t outlen);

#endif /* COFFRE_SERVER_S3_SIGV4_H */
