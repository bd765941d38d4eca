/*
 * RFC 3161 time-stamping: coffred is its own time-stamping authority
 * (OpenSSL's TS API, the TSA certificate of keys.h).  A token's message
 * imprint is the SHA-256 of the stamped bytes; `openssl ts -verify -data
 * FILE -in TOKEN.tsr -CAfile ca.pem` accepts it.
 */
#ifndef COFFRE_SERVER_TSA_H
#define COFFRE_SERVER_TSA_H

#include <stddef.h>

struct buf;
struct keys;

/* OID of coffred's time-stamping policy (2.25: a UUID-derived arc). */
#define TSA_POLICY_OID "2.25.230864823658473510468245981207735401963"

/*
 * Stamp data: append the DER TimeStampResp (status granted, token signed
 * by the TSA, signer certificate included) to der.  0 or -EIO.  With an
 * external TSA configured (keys_tsa_url), it is asked first and its answer
 * checked; when it fails, coffred's own TSA stamps (with a warning in the
 * log).  Thread-safe.
 */
int tsa_stamp(const struct keys *k, const void *data, size_t len,
	      struct buf *der);

/*
 * Stamp data with coffred's own TSA only, never asking the external one:
 * for stamps made by the thousand (deposit statements, statement.c).
 */
int tsa_stamp_own(const struct keys *k, const void *data, size_t len,
		  struct buf *der);

/* Same, the DER response in base64 (one line, newline-terminated). */
int tsa_stamp_b64(const struct keys *k, const void *data, size_t len,
		  struct buf *b64);

/*
 * Check a DER TimeStampResp against data and the CA of k: signature, chain,
 * imprint.  0, -EBADMSG (does not verify, err_set says why) or -EIO.
 */
int tsa_verify(const struct keys *k, const void *der, size_t der_len,
	       const void *data, size_t len);

/*
 * POST a DER TimeStampReq to url (Content-Type application/timestamp-query)
 * with libcurl; the body of a 200 answer into resp (capped).  -ENOTCONN
 * unreachable or timed out, -EPROTO bad answer.  tsa_http.c.
 */
int tsa_http_post(const char *url, const void *req, size_t len,
		  struct buf *resp);

#endif /* COFFRE_SERVER_TSA_H */
