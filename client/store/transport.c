/*
 * HTTPS transport to coffred (transport.h), on libcurl with OpenSSL.
 *
 * Every request runs on an easy handle taken from a small free list; the
 * handles share TLS sessions and DNS answers through one curl share handle
 * whose locks are pthread mutexes, so concurrent callers (FUSE threads, the
 * sync thread) resume TLS sessions without stepping on each other.  Live
 * connections are not put in the share: libcurl documents sharing its
 * connection cache between concurrent threads as unsupported.  Instead each
 * pooled handle keeps its own connections across requests (curl_easy_reset
 * leaves them open), so a warm handle reuses its keep-alive connection.
 * Response bodies are collected in capped buffers; HTTP errors are mapped
 * to errno once, in map_http_error(), with the server's message.
 */
#include "client/store/transport.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "common/buf.h"
#include "common/chunker.h"
#include "common/err.h"

#define POOL_MAX	8
#define JSON_REPLY_MAX	(64u * 1024 * 1024)
/* Room for an error body on top of the largest chunk. */
#define CHUNK_REPLY_MAX (CHUNK_MAX + 64u * 1024)
#define TOKEN_MAX	256

struct transport {
	char *url;  /* without trailing '/' */
	char *auth; /* "Authorization: Bearer TOKEN" or NULL */
	char *cacert;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	CURL *pool[POOL_MAX]; /* idle handles, protected by pool_lock */
	int npool;
	_Atomic uint64_t uploaded;
};

struct reply {
	struct buf body;
	int too_large;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a,
		       void *arg)
{
	struct transport *t = arg;

	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&t->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct transport *t = arg;

	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&t->share_locks[data]);
}

int transport_new(struct transport **out, const char *url, const char *token,
		  const char *cacert)
{
	struct transport *t;
	size_t n;

	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return err_set(-EIO, "cannot initialise libcurl: %s",
			       curl_easy_strerror(global_rc));
	if (strncmp(url, "https://", 8) != 0 || !url[8])
		return err_set(-EINVAL, "'%s' is not an https:// URL", url);
	if (token && (strlen(token) > TOKEN_MAX || strpbrk(token, "\r\n")))
		return err_set(-EINVAL, "malformed token");
	t = calloc(1, sizeof(*t));
	if (!t)
		return err_set(-ENOMEM, "out of memory");
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&t->share_locks[i], NULL);
	pthread_mutex_init(&t->pool_lock, NULL);
	t->url = strdup(url);
	if (!t->url)
		goto nomem;
	n = strlen(t->url);
	while (n > 8 && t->url[n - 1] == '/')
		t->url[--n] = '\0';
	if (token &&
	    asprintf(&t->auth, "Authorization: Bearer %s", token) < 0) {
		t->auth = NULL;
		goto nomem;
	}
	if (cacert && !(t->cacert = strdup(cacert)))
		goto nomem;
	t->share = curl_share_init();
	if (!t->share)
		goto nomem;
	curl_share_setopt(t->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(t->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(t->share, CURLSHOPT_USERDATA, t);
	curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(t->share, CURLSHOPT_SHARE,
			  CURL_LOCK_DATA_SSL_SESSION);
	*out = t;
	return 0;
nomem:
	transport_free(t);
	return err_set(-ENOMEM, "out of memory");
}

void transport_free(struct transport *t)
{
	if (!t)
		return;
	/* Handles first: they hold references into the share. */
	for (int i = 0; i < t->npool; i++)
		curl_easy_cleanup(t->pool[i]);
	if (t->share)
		curl_share_cleanup(t->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&t->share_locks[i]);
	pthread_mutex_destroy(&t->pool_lock);
	free(t->url);
	if (t->auth) {
		explicit_bzero(t->auth, strlen(t->auth));
		free(t->auth);
	}
	free(t->cacert);
	free(t);
}

static CURL *handle_get(struct transport *t)
{
	CURL *h = NULL;

	pthread_mutex_lock(&t->pool_lock);
	if (t->npool > 0)
		h = t->pool[--t->npool];
	pthread_mutex_unlock(&t->pool_lock);
	if (h)
		curl_easy_reset(h); /* keeps its live connections */
	else
		h = curl_easy_init();
	return h;
}

static void handle_put(struct transport *t, CURL *h)
{
	pthread_mutex_lock(&t->pool_lock);
	if (t->npool < POOL_MAX) {
		t->pool[t->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&t->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t n = size * nmemb;

	if (buf_append(&r->body, p, n) < 0) {
		r->too_large = 1;
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	}
	return n;
}

/* The errno for an HTTP error status and the server's stable code. */
static int errno_for(long status, const char *code)
{
	if (status == 409 && strcmp(code, "chunk_missing") == 0)
		return -ENODATA;
	if (status == 507 && strcmp(code, "quota_exceeded") == 0)
		return -EDQUOT;
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
		return -EKEYREJECTED;
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	case 413:
		return -E2BIG;
	case 422:
		return -EBADMSG;
	case 429:
		return -EAGAIN; /* too many failed logins: wait */
	case 507:
		return -ENOSPC;
	default:
		return status >= 500 ? -ENOTCONN : -EPROTO;
	}
}

/* Map an HTTP error reply; *errbody gets the parsed error JSON if asked. */
static int map_http_error(long status, struct buf *body, json_t **errbody)
{
	json_t *o = NULL, *err;
	const char *code = "", *msg = NULL;
	int rc;

	if (body->len)
		o = json_loadb(body->data, body->len, 0, NULL);
	err = json_object_get(o, "error");
	if (json_is_string(json_object_get(err, "code")))
		code = json_string_value(json_object_get(err, "code"));
	if (json_is_string(json_object_get(err, "message")))
		msg = json_string_value(json_object_get(err, "message"));
	rc = errno_for(status, code);
	if (msg)
		err_set(rc, "%s", msg);
	else
		err_set(rc, "server answered HTTP %ld", status);
	if (errbody)
		*errbody = json_is_object(o) ? json_incref(o) : NULL;
	json_decref(o);
	return rc;
}

struct request {
	const char *method;
	const char *path;
	const char *content_type; /* NULL when no body */
	const void *body;
	size_t body_len;
	size_t reply_max;
	const int *stop; /* abort when it turns non-zero; NULL: never */
	int patient;	 /* the answer may take minutes: see transport.h */
};

/* curl's progress callback, called about once a second even while the
 * connection is idle: lets a long poll end at once on unmount. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	const int *stop = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return __atomic_load_n(stop, __ATOMIC_RELAXED) ? 1 : 0;
}

static int header_add(struct curl_slist **l, const char *h)
{
	struct curl_slist *n = curl_slist_append(*l, h);

	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

/*
 * Run one request; on return *status holds the HTTP status (0 when none)
 * and reply->body the response body.  Returns 0 when an HTTP answer came
 * back (whatever its status), else a negative errno with the message set.
 */
static int perform(struct transport *t, const struct request *rq,
		   struct reply *reply, long *status)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	char *url = NULL, *ctype = NULL;
	CURL *h;
	CURLcode cc;
	int rc = 0;

	*status = 0;
	buf_init(&reply->body, rq->reply_max);
	reply->too_large = 0;
	h = handle_get(t);
	if (!h || asprintf(&url, "%s%s", t->url, rq->path) < 0) {
		url = NULL;
		rc = err_set(-ENOMEM, "out of memory");
		goto out;
	}
	if ((rq->content_type &&
	     asprintf(&ctype, "Content-Type: %s", rq->content_type) < 0) ||
	    header_add(&hdrs, "Expect:") < 0 || /* no 100-continue wait */
	    header_add(&hdrs, "Accept: application/json") < 0 ||
	    (t->auth && header_add(&hdrs, t->auth) < 0) ||
	    (rq->content_type && header_add(&hdrs, ctype) < 0)) {
		rc = err_set(-ENOMEM, "out of memory");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_SHARE, t->share);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (t->cacert)
		curl_easy_setopt(h, CURLOPT_CAINFO, t->cacert);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	if (rq->patient) {
		/* Silence while the server works is no sign of a dead peer;
		 * TCP keepalive is, and a whole-request cap bounds it. */
		curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)PATIENT_MAX_S);
		curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 15L);
		curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 15L);
	} else {
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
	}
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
	if (rq->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)rq->body_len);
	}
	if (strcmp(rq->method, "GET") == 0 && !rq->body)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);

	if (rq->stop) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)rq->stop);
	}

	cc = curl_easy_perform(h);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		rc = err_set(-ECANCELED, "%s %s cancelled", rq->method,
			     rq->path);
	} else if (cc == CURLE_WRITE_ERROR && reply->too_large) {
		rc = err_set(-E2BIG, "reply to %s %s is over %zu bytes",
			     rq->method, rq->path, rq->reply_max);
	} else if (cc != CURLE_OK) {
		rc = err_set(-ENOTCONN, "cannot reach %s: %s", t->url,
			     errbuf[0] ? errbuf : curl_easy_strerror(cc));
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	}
	/* Drop the borrowed header list before the handle goes back. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
out:
	if (h)
		handle_put(t, h);
	curl_slist_free_all(hdrs);
	free(ctype);
	free(url);
	return rc;
}

static int json_request(struct transport *t, const char *method,
			const char *path, json_t *body, json_t **reply,
			const int *stop, int patient)
{
	struct request rq = { .method = method,
			      .path = path,
			      .reply_max = JSON_REPLY_MAX,
			      .stop = stop,
			      .patient = patient };
	struct reply rp;
	char *text = NULL;
	long status;
	int rc;

	if (reply)
		*reply = NULL;
	if (strncmp(path, "/v1/", 4) != 0)
		return err_set(-EINVAL, "request path '%s' outside /v1/", path);
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return err_set(-ENOMEM, "cannot encode the request");
		rq.body = text;
		rq.body_len = strlen(text);
		rq.content_type = "application/json";
	}
	rc = perform(t, &rq, &rp, &status);
	if (rc == 0 && (status < 200 || status > 299)) {
		rc = map_http_error(status, &rp.body, reply);
	} else if (rc == 0) {
		json_error_t je;
		json_t *o = NULL;

		if (rp.body.len)
			o = json_loadb(rp.body.data, rp.body.len, 0, &je);
		if (rp.body.len && !o)
			rc = err_set(-EPROTO,
				     "server sent malformed JSON to %s %s: %s",
				     method, path, je.text);
		else if (reply)
			*reply = o;
		else
			json_decref(o);
	}
	buf_release(&rp.body);
	if (text) {
		explicit_bzero(text, strlen(text)); /* may hold a password */
		free(text);
	}
	return rc;
}

int transport_json(struct transport *t, const char *method, const char *path,
		   json_t *body, json_t **reply)
{
	return json_request(t, method, path, body, reply, NULL, 0);
}

int transport_json_patient(struct transport *t, const char *method,
			   const char *path, json_t *body, json_t **reply)
{
	return json_request(t, method, path, body, reply, NULL, 1);
}

int transport_json_poll(struct transport *t, const char *path, json_t **reply,
			const int *stop)
{
	return json_request(t, "GET", path, NULL, reply, stop, 0);
}

int transport_login(struct transport *t, const char *login,
		    const char *password, char **token)
{
	json_t *body, *reply = NULL, *tok;
	int rc;

	*token = NULL;
	body = json_pack("{s:s, s:s}", "login", login, "password", password);
	if (!body)
		return err_set(-EINVAL,
			       "login and password must be UTF-8 text");
	rc = transport_json(t, "POST", "/v1/login", body, &reply);
	json_decref(body);
	if (rc < 0) {
		json_decref(reply);
		return rc;
	}
	tok = json_object_get(reply, "token");
	if (!json_is_string(tok) || !*json_string_value(tok) ||
	    strlen(json_string_value(tok)) > TOKEN_MAX ||
	    strpbrk(json_string_value(tok), "\r\n"))
		rc = err_set(-EPROTO, "server sent no usable token");
	else if (!(*token = strdup(json_string_value(tok))))
		rc = err_set(-ENOMEM, "out of memory");
	json_decref(reply);
	return rc;
}

char *transport_escape(const char *s)
{
	char *e, *copy;

	pthread_once(&global_once, global_init);
	e = curl_easy_escape(NULL, s, 0); /* NULL handle: curl >= 7.82 */
	if (!e)
		return NULL;
	copy = strdup(e);
	curl_free(e);
	return copy;
}

static int chunk_path(const char *space, const struct obj_id *id, char **out)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	char *esc = transport_escape(space);
	int n;

	if (!esc)
		return err_set(-ENOMEM, "out of memory");
	obj_id_to_hex(id, hex);
	n = asprintf(out, "/v1/spaces/%s/chunks/%s", esc, hex);
	free(esc);
	if (n < 0) {
		*out = NULL;
		return err_set(-ENOMEM, "out of memory");
	}
	return 0;
}

int transport_get_chunk(struct transport *t, const char *space,
			const struct obj_id *id, uint8_t **out, size_t *len)
{
	return transport_get_chunk_stop(t, space, id, NULL, out, len);
}

int transport_get_chunk_stop(struct transport *t, const char *space,
			     const struct obj_id *id, const int *stop,
			     uint8_t **out, size_t *len)
{
	struct request rq = { .method = "GET",
			      .reply_max = CHUNK_REPLY_MAX,
			      .stop = stop };
	struct reply rp;
	struct obj_id got;
	char *path;
	long status;
	int rc;

	*out = NULL;
	*len = 0;
	rc = chunk_path(space, id, &path);
	if (rc < 0)
		return rc;
	rq.path = path;
	rc = perform(t, &rq, &rp, &status);
	if (rc == 0 && (status < 200 || status > 299)) {
		rc = map_http_error(status, &rp.body, NULL);
	} else if (rc == 0) {
		hash_buf(&got, rp.body.data ? rp.body.data : "", rp.body.len);
		if (rp.body.len > CHUNK_MAX)
			rc = err_set(-EPROTO,
				     "chunk of %zu bytes is over the limit",
				     rp.body.len);
		else if (obj_id_cmp(&got, id) != 0)
			rc = err_set(
				-EBADMSG,
				"chunk from the server does not match its id");
		else if (rp.body.len == 0)
			*out = malloc(1);
		else
			*out = (uint8_t *)buf_detach(&rp.body, len);
		if (rc == 0 && !*out)
			rc = err_set(-ENOMEM, "out of memory");
	}
	buf_release(&rp.body);
	free(path);
	return rc;
}

int transport_put_chunk(struct transport *t, const char *space,
			const struct obj_id *id, const void *p, size_t n)
{
	struct request rq = { .method = "PUT",
			      .body = p,
			      .body_len = n,
			      .content_type = "application/octet-stream",
			      .reply_max = 64 * 1024 };
	struct reply rp;
	char *path;
	long status;
	int rc;

	if (n == 0 || n > CHUNK_MAX)
		return err_set(-E2BIG, "chunk of %zu bytes is out of range", n);
	rc = chunk_path(space, id, &path);
	if (rc < 0)
		return rc;
	rq.path = path;
	rc = perform(t, &rq, &rp, &status);
	if (rc == 0 && (status < 200 || status > 299))
		rc = map_http_error(status, &rp.body, NULL);
	else if (rc == 0)
		atomic_fetch_add(&t->uploaded, (uint64_t)n);
	buf_release(&rp.body);
	free(path);
	return rc;
}

uint64_t transport_bytes_uploaded(const struct transport *t)
{
	return atomic_load(&((struct transport *)t)->uploaded);
}
