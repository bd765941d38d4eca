/*
 * The S3 backend (see chunk_s3.h).  Every request is one libcurl easy
 * handle, signed by libcurl (CURLOPT_AWS_SIGV4, region us-east-1, which
 * RGW and MinIO accept whatever their zone) with x-amz-content-sha256 set
 * here: libcurl 7.88 signs that header's value as the payload hash
 * (checked by tests/unit/test_s3_sigv4.c).  ListObjectsV2 answers are
 * parsed with expat, each page capped.
 */
#include "server/chunk_s3.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <expat.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "server/chunk_backend.h"
#include "server/chunk_spool.h"
#include "server/s3_sigv4.h"

#define LIST_PAGE_MAX  (4u * 1024u * 1024u)
#define ERR_BODY_MAX   4096u
#define SIGV4_PARAM    "aws:amz:us-east-1:s3"
/* HEAD requests in flight at once in stat_many. */
#define STAT_IN_FLIGHT 32

struct s3_state {
	struct chunk_s3_config cfg;
	/* Kept connections (and resolved names), shared by every request of
	 * every thread: without it each request opened a TCP connection.
	 * One lock per kind of shared data, as libcurl asks. */
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

struct s3_put {
	struct s3_state *s;
	struct chunk_spool sp;
	EVP_MD_CTX *md; /* the body's SHA-256, sent as x-amz-content-sha256 */
};

int chunk_s3_parse_url(struct chunk_s3_config *cfg, const char *url)
{
	const char *host, *slash, *colon;
	size_t hl;

	if (strncmp(url, "s3://", 5) != 0)
		return err_set(-EINVAL, "'%s' is not s3://HOST:PORT/BUCKET",
			       url);
	host = url + 5;
	slash = strchr(host, '/');
	if (!slash || slash == host)
		return err_set(-EINVAL,
			       "'%s' names no bucket (s3://HOST:PORT/BUCKET)",
			       url);
	hl = (size_t)(slash - host);
	colon = memchr(host, ':', hl);
	if (!colon || colon + 1 == slash ||
	    strspn(colon + 1, "0123456789") != (size_t)(slash - colon - 1))
		return err_set(-EINVAL,
			       "'%s' names no port (s3://HOST:PORT/BUCKET)",
			       url);
	if (hl >= sizeof(cfg->host))
		return err_set(-EINVAL, "host of '%s' too long", url);
	/* Bucket names: 3..63 of [a-z0-9.-] (S3's rule). */
	if (strlen(slash + 1) < 3 || strlen(slash + 1) > 63 ||
	    strspn(slash + 1, "abcdefghijklmnopqrstuvwxyz0123456789.-") !=
		    strlen(slash + 1))
		return err_set(
			-EINVAL,
			"bad bucket in '%s' (3 to 63 of a-z, 0-9, '.', '-')",
			url);
	for (size_t i = 0; i < hl; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]",
			    host[i]))
			return err_set(-EINVAL, "bad host in '%s'", url);
	memcpy(cfg->host, host, hl);
	cfg->host[hl] = '\0';
	snprintf(cfg->bucket, sizeof(cfg->bucket), "%s", slash + 1);
	return 0;
}

int chunk_s3_read_key_file(struct chunk_s3_config *cfg, const char *path)
{
	char *data = NULL, *nl, *second;
	struct stat st;
	size_t len = 0;
	int rc, e;

	if (stat(path, &st) < 0) {
		e = errno;
		return err_set(-e, "cannot read S3 key file '%s': %s", path,
			       strerror(e));
	}
	if (!S_ISREG(st.st_mode))
		return err_set(-EINVAL, "S3 key file '%s' is not a file", path);
	if (st.st_mode & 077)
		return err_set(
			-EACCES,
			"S3 key file '%s' is readable by others (chmod 600 it)",
			path);
	rc = file_read_all(path, 2 * CHUNK_S3_FIELD, &data, &len);
	if (rc < 0)
		return err_set(rc, "cannot read S3 key file '%s': %s", path,
			       strerror(-rc));
	rc = err_set(
		-EINVAL,
		"S3 key file '%s' must hold the access key and the secret, one a line",
		path);
	nl = strchr(data, '\n');
	if (!nl)
		goto out;
	*nl = '\0';
	second = nl + 1;
	nl = strchr(second, '\n');
	if (nl)
		*nl = '\0';
	if (!*data || !*second || strlen(data) >= sizeof(cfg->access_key) ||
	    strlen(second) >= sizeof(cfg->secret) || strpbrk(data, " \t\r:") ||
	    strpbrk(second, " \t\r"))
		goto out;
	if (nl && strspn(nl + 1, "\n") != strlen(nl + 1))
		goto out;
	snprintf(cfg->access_key, sizeof(cfg->access_key), "%s", data);
	snprintf(cfg->secret, sizeof(cfg->secret), "%s", second);
	rc = 0;
out:
	explicit_bzero(data, len);
	free(data);
	return rc;
}

/* --- one request --- */

struct call {
	long status;
	chunk_backend_read_cb cb; /* 2xx body pieces, when set */
	void *arg;
	int cb_rc;
	struct buf body; /* other bodies (capped): errors, list pages */
	int fd;		 /* upload source, -1 when none */
	int64_t length;	 /* HEAD: Content-Length, -1 when none */
};

static size_t call_write(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	size_t len = size * n;

	if (c->cb && c->status / 100 == 2) {
		c->cb_rc = c->cb(p, len, c->arg);
		return c->cb_rc ? 0 : len;
	}
	/* A page or an error body past its cap: stop. */
	return buf_append(&c->body, p, len) < 0 ? 0 : len;
}

static size_t call_header(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = arg;

	/* The status line: know it before the body arrives. */
	if (n * size > 9 && !strncmp(p, "HTTP/", 5)) {
		const char *sp = memchr(p, ' ', n * size);

		if (sp)
			c->status = strtol(sp + 1, NULL, 10);
	}
	return size * n;
}

static size_t call_read(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	ssize_t r = read(c->fd, p, size * n);

	return r < 0 ? CURL_READFUNC_ABORT : (size_t)r;
}

static int call_seek(void *arg, curl_off_t offset, int origin)
{
	struct call *c = arg;

	/* libcurl rewinds the upload when a kept connection turned out to
	 * be closed and it sends the request again on a new one. */
	return lseek(c->fd, (off_t)offset, origin) < 0 ? CURL_SEEKFUNC_FAIL :
							 CURL_SEEKFUNC_OK;
}

/*
 * *out: an easy handle for method on path?query (path and query already
 * encoded), its headers in *hl.  Connections are kept in the store's share
 * and used again.
 */
static int call_open(struct s3_state *s, const char *method, const char *path,
		     const char *query, const char *payload_hash,
		     uint64_t upload, struct call *c, CURL **out,
		     struct curl_slist **hl)
{
	char url[1024], hh[128];
	CURL *h;
	int n;

	*out = NULL;
	*hl = NULL;
	n = snprintf(url, sizeof(url), "http://%s%s%s%s", s->cfg.host, path,
		     *query ? "?" : "", query);
	if (n < 0 || (size_t)n >= sizeof(url))
		return err_set(-E2BIG, "S3 URL too long");
	/*
	 * Only x-amz-content-sha256: libcurl 7.88 signs every header given
	 * here, a removal such as "Expect:" too, which S3 then cannot match.
	 */
	snprintf(hh, sizeof(hh), "x-amz-content-sha256: %s", payload_hash);
	*hl = curl_slist_append(NULL, hh);
	h = *hl ? curl_easy_init() : NULL;
	if (!h) {
		curl_slist_free_all(*hl);
		*hl = NULL;
		return -ENOMEM;
	}
	if (s->share)
		curl_easy_setopt(h, CURLOPT_SHARE, s->share);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, SIGV4_PARAM);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->cfg.access_key);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->cfg.secret);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hl);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, call_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, call_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	if (!strcmp(method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, call_read);
		curl_easy_setopt(h, CURLOPT_READDATA, c);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, call_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, c);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)upload);
	} else if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	*out = h;
	return 0;
}

/* The outcome of h's transfer cc into c; frees h and hl. */
static int call_close(struct s3_state *s, CURL *h, struct curl_slist *hl,
		      CURLcode cc, struct call *c)
{
	if (cc == CURLE_OK) {
		curl_off_t cl = -1;

		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
		curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		c->length = cl;
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(hl);
	if (cc == CURLE_WRITE_ERROR && c->cb_rc)
		return c->cb_rc;
	if (cc != CURLE_OK)
		return err_set(-EIO, "cannot reach the S3 store at %s: %s",
			       s->cfg.host, curl_easy_strerror(cc));
	return 0;
}

/*
 * Send method to path?query (path and query already encoded).  The HTTP
 * status in c->status; 0 or -EIO when the store cannot be reached.
 */
static int call(struct s3_state *s, const char *method, const char *path,
		const char *query, const char *payload_hash, uint64_t upload,
		struct call *c)
{
	struct curl_slist *hl;
	CURL *h;
	int rc = call_open(s, method, path, query, payload_hash, upload, c, &h,
			   &hl);

	return rc < 0 ? rc : call_close(s, h, hl, curl_easy_perform(h), c);
}

/* An S3 status as a code; 404 is absent. */
static int status_rc(const struct call *c, const char *what, const char *name)
{
	if (c->status / 100 == 2)
		return 0;
	if (c->status == 404)
		return -ENOENT;
	if (c->status == 403)
		return err_set(-EACCES, "S3 store refused to %s '%s' (403)",
			       what, name);
	return err_set(-EIO, "S3 store could not %s '%s' (HTTP %ld)", what,
		       name, c->status);
}

static int obj_path(struct s3_state *s, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "/%s/%s%s", s->cfg.bucket, s->cfg.prefix,
			 name);

	return n < 0 || (size_t)n >= len ? -E2BIG : 0;
}

/* --- put --- */

static void s3_put_abort(void *put)
{
	struct s3_put *p = put;

	if (!p)
		return;
	chunk_spool_release(&p->sp);
	EVP_MD_CTX_free(p->md);
	free(p);
}

static int s3_put_begin(void *state, const char *name, void **out)
{
	struct s3_state *s = state;
	struct s3_put *p;
	int rc;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->s = s;
	/* The spool directory is made at the first put, so opening the store
	 * writes nothing (coffred init checks a bucket without a trace). */
	rc = chunk_spool_open(&p->sp, name, s->cfg.spool_dir, 1);
	if (rc == 0) {
		p->md = EVP_MD_CTX_new();
		if (!p->md || !EVP_DigestInit_ex(p->md, EVP_sha256(), NULL))
			rc = -ENOMEM;
	}
	if (rc < 0) {
		s3_put_abort(p);
		return rc;
	}
	*out = p;
	return 0;
}

static int s3_put_write(void *put, const void *buf, size_t n)
{
	struct s3_put *p = put;
	int rc = chunk_spool_write(&p->sp, buf, n, "spool");

	if (rc == 0)
		EVP_DigestUpdate(p->md, buf, n);
	return rc;
}

static int s3_put_commit(void *put)
{
	static const char hex[] = "0123456789abcdef";
	struct s3_put *p = put;
	struct call c = { .fd = -1 };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char path[512], sum[65];
	int rc;

	EVP_DigestFinal_ex(p->md, md, &mdlen);
	for (unsigned i = 0; i < 32; i++) {
		sum[2 * i] = hex[md[i] >> 4];
		sum[2 * i + 1] = hex[md[i] & 15];
	}
	sum[64] = '\0';
	buf_init(&c.body, ERR_BODY_MAX);
	rc = obj_path(p->s, p->sp.name, path, sizeof(path));
	if (rc == 0 && lseek(p->sp.tf.fd, 0, SEEK_SET) < 0)
		rc = err_set(-errno, "cannot rewind the spooled chunk");
	c.fd = p->sp.tf.fd;
	if (rc == 0)
		rc = call(p->s, "PUT", path, "", sum, p->sp.len, &c);
	if (rc == 0)
		rc = status_rc(&c, "store", p->sp.name);
	if (rc == -ENOENT)
		rc = err_set(-EIO, "S3 bucket '%s' does not exist",
			     p->s->cfg.bucket);
	buf_release(&c.body);
	s3_put_abort(p);
	return rc;
}

/* --- get, stat, delete --- */

/*
 * One request without a body on the object name (GET, HEAD, DELETE): the
 * S3 status as a code, 404 as -ENOENT for the caller to word; what names
 * the step in messages.
 */
static int obj_call(struct s3_state *s, const char *method, const char *name,
		    const char *what, struct call *c)
{
	char path[512];
	int rc;

	if (!chunk_name_valid(name))
		return err_set(-EINVAL, "bad chunk name '%s'", name);
	buf_init(&c->body, ERR_BODY_MAX);
	rc = obj_path(s, name, path, sizeof(path));
	if (rc == 0)
		rc = call(s, method, path, "", S3_SHA256_EMPTY, 0, c);
	if (rc == 0)
		rc = status_rc(c, what, name);
	buf_release(&c->body);
	return rc;
}

static int s3_get(void *state, const char *name, chunk_backend_read_cb cb,
		  void *arg)
{
	struct call c = { .fd = -1, .cb = cb, .arg = arg };
	int rc = obj_call(state, "GET", name, "read", &c);

	if (rc == -ENOENT)
		rc = err_set(-ENOENT, "no chunk object '%s'", name);
	return rc;
}

static int s3_stat(void *state, const char *name, uint64_t *size)
{
	struct call c = { .fd = -1 };
	int rc = obj_call(state, "HEAD", name, "stat", &c);

	if (rc == 0 && c.length < 0)
		rc = err_set(-EIO, "S3 store gave no size for '%s'", name);
	else if (rc == 0)
		*size = (uint64_t)c.length;
	return rc;
}

static int s3_del(void *state, const char *name)
{
	struct call c = { .fd = -1 };

	return obj_call(state, "DELETE", name, "delete", &c);
}

/* --- stat_many: HEAD requests in flight together --- */

struct head {
	CURL *h; /* NULL when the slot is free */
	struct curl_slist *hl;
	struct call c;
	size_t i;
};

static int head_start(struct s3_state *s, CURLM *m, struct head *hd,
		      const char *name, size_t i)
{
	char path[512];
	int rc;

	if (!chunk_name_valid(name))
		return err_set(-EINVAL, "bad chunk name '%s'", name);
	rc = obj_path(s, name, path, sizeof(path));
	if (rc < 0)
		return rc;
	hd->c = (struct call){ .fd = -1 };
	buf_init(&hd->c.body, ERR_BODY_MAX);
	hd->i = i;
	rc = call_open(s, "HEAD", path, "", S3_SHA256_EMPTY, 0, &hd->c, &hd->h,
		       &hd->hl);
	if (rc == 0) {
		curl_easy_setopt(hd->h, CURLOPT_PRIVATE, hd);
		if (curl_multi_add_handle(m, hd->h) != CURLM_OK) {
			curl_easy_cleanup(hd->h);
			curl_slist_free_all(hd->hl);
			hd->h = NULL;
			rc = -ENOMEM;
		}
	}
	if (rc < 0)
		buf_release(&hd->c.body);
	return rc;
}

/* The outcome of hd's finished request (cc); frees the slot. */
static int head_end(struct s3_state *s, CURLM *m, struct head *hd, CURLcode cc,
		    const char *name)
{
	int rc;

	curl_multi_remove_handle(m, hd->h);
	rc = call_close(s, hd->h, hd->hl, cc, &hd->c);
	hd->h = NULL;
	if (rc == 0)
		rc = status_rc(&hd->c, "stat", name);
	buf_release(&hd->c.body);
	return rc;
}

static int s3_stat_many(void *state, const char *const *names, size_t n,
			unsigned char *held)
{
	struct s3_state *s = state;
	struct head slots[STAT_IN_FLIGHT] = { 0 };
	size_t next = 0, busy = 0;
	CURLM *m = curl_multi_init();
	int rc = 0;

	if (!m)
		return -ENOMEM;
	while (rc == 0 && (next < n || busy > 0)) {
		CURLMcode mc;
		CURLMsg *msg;
		int still, left;

		for (size_t k = 0; rc == 0 && k < STAT_IN_FLIGHT && next < n;
		     k++) {
			if (slots[k].h)
				continue;
			rc = head_start(s, m, &slots[k], names[next], next);
			if (rc == 0) {
				next++;
				busy++;
			}
		}
		if (rc < 0)
			break;
		mc = curl_multi_perform(m, &still);
		while (mc == CURLM_OK &&
		       (msg = curl_multi_info_read(m, &left))) {
			struct head *hd;
			char *priv = NULL;
			int r;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  &priv);
			hd = (struct head *)priv;
			r = head_end(s, m, hd, msg->data.result, names[hd->i]);
			busy--;
			if (r == 0 || r == -ENOENT)
				held[hd->i] = r == 0;
			else if (rc == 0)
				rc = r;
		}
		/* Wait only when no slot is free to fill. */
		if (mc == CURLM_OK && rc == 0 && busy > 0 &&
		    (next == n || busy == STAT_IN_FLIGHT))
			mc = curl_multi_poll(m, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK && rc == 0)
			rc = err_set(-EIO, "S3 requests failed: %s",
				     curl_multi_strerror(mc));
	}
	/* Left in flight by a failure: dropped, the failure's message kept. */
	for (size_t k = 0; k < STAT_IN_FLIGHT; k++) {
		if (!slots[k].h)
			continue;
		curl_multi_remove_handle(m, slots[k].h);
		curl_easy_cleanup(slots[k].h);
		curl_slist_free_all(slots[k].hl);
		buf_release(&slots[k].c.body);
	}
	curl_multi_cleanup(m);
	return rc;
}

/* --- list: ListObjectsV2, page by page --- */

struct page {
	struct s3_state *s;
	chunk_backend_list_cb cb;
	void *arg;
	int rc;
	int depth, in_contents;
	char elem[32];
	struct buf text;
	int truncated;
	char token[1024];
};

static void xml_start(void *arg, const XML_Char *name, const XML_Char **atts)
{
	struct page *pg = arg;

	pg->depth++;
	if (!strcmp(name, "Contents"))
		pg->in_contents = 1;
	snprintf(pg->elem, sizeof(pg->elem), "%s", name);
	buf_reset(&pg->text);
}

static void xml_text(void *arg, const XML_Char *s, int len)
{
	struct page *pg = arg;

	if (buf_append(&pg->text, s, (size_t)len) < 0 && pg->rc == 0)
		pg->rc = err_set(-EPROTO,
				 "S3 list answer holds an over-long field");
}

static void xml_end(void *arg, const XML_Char *name)
{
	struct page *pg = arg;
	const char *t;
	size_t plen = strlen(pg->s->cfg.prefix);

	pg->depth--;
	if (buf_append(&pg->text, "", 1) < 0) {
		pg->rc = pg->rc ? pg->rc : -E2BIG;
		return;
	}
	t = (const char *)pg->text.data;
	if (!strcmp(name, "Contents")) {
		pg->in_contents = 0;
	} else if (pg->in_contents && !strcmp(name, "Key")) {
		/* Only names of this space's prefix; others are skipped. */
		if (pg->rc == 0 && !strncmp(t, pg->s->cfg.prefix, plen) &&
		    chunk_name_valid(t + plen))
			pg->rc = pg->cb(t + plen, pg->arg);
	} else if (pg->depth == 1 && !strcmp(name, "IsTruncated")) {
		pg->truncated = !strcmp(t, "true");
	} else if (pg->depth == 1 && !strcmp(name, "NextContinuationToken")) {
		if (strlen(t) >= sizeof(pg->token))
			pg->rc =
				pg->rc ?
					pg->rc :
					err_set(-EPROTO,
						"S3 continuation token too long");
		else
			snprintf(pg->token, sizeof(pg->token), "%s", t);
	}
	buf_reset(&pg->text);
}

static int s3_list(void *state, chunk_backend_list_cb cb, void *arg)
{
	struct s3_state *s = state;
	struct page pg = { .s = s, .cb = cb, .arg = arg };
	char path[128], query[3000], eprefix[256], etoken[2048];
	int rc = 0;

	snprintf(path, sizeof(path), "/%s", s->cfg.bucket);
	if (s3_uri_encode(s->cfg.prefix, 0, eprefix, sizeof(eprefix)) < 0)
		return -E2BIG;
	buf_init(&pg.text, 4096);
	do {
		struct call c = { .fd = -1 };
		XML_Parser xp;

		etoken[0] = '\0';
		if (pg.token[0] &&
		    s3_uri_encode(pg.token, 0, etoken, sizeof(etoken)) < 0) {
			rc = -E2BIG;
			break;
		}
		snprintf(query, sizeof(query),
			 "%s%s%slist-type=2&max-keys=%u&prefix=%s",
			 etoken[0] ? "continuation-token=" : "", etoken,
			 etoken[0] ? "&" : "", s->cfg.max_keys, eprefix);
		pg.token[0] = '\0';
		pg.truncated = 0;
		buf_init(&c.body, LIST_PAGE_MAX);
		rc = call(s, "GET", path, query, S3_SHA256_EMPTY, 0, &c);
		if (rc == 0)
			rc = status_rc(&c, "list", s->cfg.bucket);
		if (rc == -ENOENT)
			rc = err_set(-EIO, "S3 bucket '%s' does not exist",
				     s->cfg.bucket);
		if (rc < 0) {
			buf_release(&c.body);
			break;
		}
		xp = XML_ParserCreate("UTF-8");
		if (!xp) {
			buf_release(&c.body);
			rc = -ENOMEM;
			break;
		}
		XML_SetUserData(xp, &pg);
		XML_SetElementHandler(xp, xml_start, xml_end);
		XML_SetCharacterDataHandler(xp, xml_text);
		if (XML_Parse(xp, (const char *)c.body.data, (int)c.body.len,
			      1) == XML_STATUS_ERROR &&
		    pg.rc == 0)
			pg.rc = err_set(-EPROTO,
					"S3 list answer is not XML: %s",
					XML_ErrorString(XML_GetErrorCode(xp)));
		XML_ParserFree(xp);
		buf_release(&c.body);
		rc = pg.rc;
		if (rc == 0 && pg.truncated && !pg.token[0])
			rc = err_set(
				-EPROTO,
				"S3 list answer is truncated without a token");
	} while (rc == 0 && pg.truncated);
	buf_release(&pg.text);
	return rc;
}

static void s3_free(void *state)
{
	struct s3_state *s = state;

	if (!s)
		return;
	explicit_bzero(s->cfg.secret, sizeof(s->cfg.secret));
	if (s->share) {
		curl_share_cleanup(s->share);
		for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
			pthread_mutex_destroy(&s->locks[i]);
	}
	free(s);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access,
		       void *arg)
{
	struct s3_state *s = arg;

	(void)h;
	(void)access;
	pthread_mutex_lock(&s->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct s3_state *s = arg;

	(void)h;
	pthread_mutex_unlock(&s->locks[data]);
}

static int share_new(struct s3_state *s)
{
	CURLSH *sh = curl_share_init();

	if (!sh)
		return -ENOMEM;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->locks[i], NULL);
	if (curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(sh, CURLSHOPT_USERDATA, s) ||
	    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) ||
	    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS)) {
		curl_share_cleanup(sh);
		for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
			pthread_mutex_destroy(&s->locks[i]);
		return err_set(-EIO, "libcurl cannot share connections");
	}
	s->share = sh;
	return 0;
}

int chunk_s3_new(struct chunk_backend **out, const struct chunk_s3_config *cfg)
{
	struct chunk_backend *be = calloc(1, sizeof(*be));
	struct s3_state *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!be || !s) {
		free(be);
		free(s);
		return -ENOMEM;
	}
	s->cfg = *cfg;
	if (!s->cfg.max_keys || s->cfg.max_keys > 1000)
		s->cfg.max_keys = 1000;
	rc = share_new(s);
	if (rc < 0) {
		s3_free(s);
		free(be);
		return rc;
	}
	*be = (struct chunk_backend){
		.version = CHUNK_BACKEND_VERSION,
		.kind = "s3",
		.state = s,
		.put_begin = s3_put_begin,
		.put_write = s3_put_write,
		.put_commit = s3_put_commit,
		.put_abort = s3_put_abort,
		.get = s3_get,
		.stat = s3_stat,
		.list = s3_list,
		.del = s3_del,
		.stat_many = s3_stat_many,
		.free = s3_free,
	};
	*out = be;
	return 0;
}
