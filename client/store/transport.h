/*
 * HTTPS transport to coffred (libcurl with OpenSSL, TLS 1.3 only, server
 * certificate verified against the system CAs or a given CA file).
 *
 * Thread-safe: each call uses its own easy handle taken from a small pool,
 * with connections and TLS sessions shared through a curl share handle, so
 * the FUSE threads and the sync thread can call concurrently.
 *
 * Errors are mapped once, here, from HTTP status / stable code to errno:
 *   network failure, timeout, 5xx (but 507)  -> -ENOTCONN (retry later)
 *   401 unauthorized                          -> -EKEYREJECTED
 *   403 forbidden                             -> -EACCES
 *   404 not_found                             -> -ENOENT
 *   409 conflict                              -> -EEXIST
 *   409 chunk_missing                         -> -ENODATA
 *   400 bad_request / bad_name                -> -EINVAL
 *   413 too_large                             -> -E2BIG
 *   422 hash_mismatch                         -> -EBADMSG
 *   429 too_many                              -> -EAGAIN
 *   507 no_space                              -> -ENOSPC
 *   507 quota_exceeded                        -> -EDQUOT
 * with err_set() carrying the server's message.
 */
#ifndef COFFRE_CLIENT_TRANSPORT_H
#define COFFRE_CLIENT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "common/hash.h"

struct transport;

/* url like "https://127.0.0.1:8443" (no trailing slash needed); token may be
 * NULL (login only); cacert may be NULL (system CAs).  Strings are copied. */
int transport_new(struct transport **out, const char *url, const char *token,
		  const char *cacert);
void transport_free(struct transport *t);

/* POST /v1/login; *token gets a malloc'd copy of the token. */
int transport_login(struct transport *t, const char *login,
		    const char *password, char **token);

/*
 * One JSON request.  path starts with "/v1/" and is already escaped (use
 * transport_escape for query values).  body may be NULL.  On 2xx *reply
 * (when reply is not NULL) gets the parsed body (json_decref it).  On an
 * HTTP error the rc is mapped as above and, when reply is not NULL, *reply
 * gets the error body ({"error": {...}}) if it parsed, else NULL.
 */
int transport_json(struct transport *t, const char *method, const char *path,
		   json_t *body, json_t **reply);

/*
 * transport_json for a request whose answer may take minutes once the body
 * is sent (a commit of thousands of files on a loaded deployment): not cut
 * for a silent connection, as other requests are after 30 s, but by TCP
 * keepalive when the peer is gone, and after PATIENT_MAX_S in all.
 */
#define PATIENT_MAX_S 600
int transport_json_patient(struct transport *t, const char *method,
			   const char *path, json_t *body, json_t **reply);

/*
 * A GET like transport_json() that gives up as soon as *stop turns
 * non-zero (checked about once a second): -ECANCELED then.  For long
 * polls, which must not hold up an unmount.
 */
int transport_json_poll(struct transport *t, const char *path, json_t **reply,
			const int *stop);

/* Percent-encode s for a query value; free() the result. */
char *transport_escape(const char *s);

/* GET a chunk; checks that the bytes hash to id (-EBADMSG otherwise). */
int transport_get_chunk(struct transport *t, const char *space,
			const struct obj_id *id, uint8_t **out, size_t *len);
/* The same, cut short (-ECANCELED or a transport error) once *stop turns
 * non-zero; stop may be NULL. */
int transport_get_chunk_stop(struct transport *t, const char *space,
			     const struct obj_id *id, const int *stop,
			     uint8_t **out, size_t *len);
/* PUT a chunk (n <= CHUNK_MAX). */
int transport_put_chunk(struct transport *t, const char *space,
			const struct obj_id *id, const void *p, size_t n);

/* Bytes sent in chunk bodies since start (for tests and benchmarks). */
uint64_t transport_bytes_uploaded(const struct transport *t);

#endif /* COFFRE_CLIENT_TRANSPORT_H */
