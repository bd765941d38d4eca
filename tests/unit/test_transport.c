/*
 * The HTTPS transport against a small in-process TLS server (OpenSSL, a
 * self-signed certificate made at start) that answers each request with a
 * reply the test sets: the error mapping of transport.h with the server's
 * message, capped bodies, chunk hash checks, the bearer token, certificate
 * verification, refusal of TLS 1.2, and concurrent callers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client/store/transport.h"
#include "common/chunker.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "tests/lib/tap.h"

static char tmpdir[] = "/tmp/test_transport.XXXXXX";
static char cacert[256];

/* What the server answers, and what it saw last; under srv.lock. */
static struct {
	pthread_mutex_t lock;
	int status;
	char *body;
	size_t body_len;
	char method[16];
	char path[512];
	char auth[512];
	char *req_body;
	size_t req_len;
	unsigned requests;
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct server {
	SSL_CTX *ctx;
	int fd;
	int port;
	_Atomic int stop;
	pthread_t th;
};

static void reply_set(int status, const void *body, size_t len)
{
	pthread_mutex_lock(&srv.lock);
	free(srv.body);
	srv.body = malloc(len + 1);
	memcpy(srv.body, body, len);
	srv.body_len = len;
	srv.status = status;
	pthread_mutex_unlock(&srv.lock);
}

static void reply_json(int status, const char *json)
{
	reply_set(status, json, strlen(json));
}

static int make_cert(EVP_PKEY **key, X509 **cert)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	X509_NAME *nm;
	FILE *f;

	*key = EVP_EC_gen("P-256");
	*cert = X509_new();
	if (!*key || !*cert)
		return -1;
	X509_set_version(*cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(*cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(*cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(*cert), 86400);
	X509_set_pubkey(*cert, *key);
	nm = X509_get_subject_name(*cert);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
				   (const unsigned char *)"127.0.0.1", -1, -1,
				   0);
	X509_set_issuer_name(*cert, nm);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, *cert, *cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
				  "IP:127.0.0.1");
	X509_add_ext(*cert, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  "critical,CA:TRUE");
	X509_add_ext(*cert, ext, -1);
	X509_EXTENSION_free(ext);
	if (!X509_sign(*cert, *key, EVP_sha256()))
		return -1;
	f = fopen(cacert, "w");
	if (!f)
		return -1;
	PEM_write_X509(f, *cert);
	fclose(f);
	return 0;
}

/* Read one request (headers, then Content-Length bytes of body). */
static int read_request(SSL *ssl)
{
	static char hdr[65536];
	size_t got = 0, clen = 0, have;
	char *end = NULL, *p, *line;
	char *body;

	while (!end) {
		int r;

		if (got >= sizeof(hdr) - 1)
			return -1;
		r = SSL_read(ssl, hdr + got, (int)(sizeof(hdr) - 1 - got));
		if (r <= 0)
			return -1;
		got += (size_t)r;
		hdr[got] = '\0';
		end = strstr(hdr, "\r\n\r\n");
	}
	*end = '\0';
	pthread_mutex_lock(&srv.lock);
	sscanf(hdr, "%15s %511s", srv.method, srv.path);
	srv.auth[0] = '\0';
	for (line = strstr(hdr, "\r\n"); line;
	     line = strstr(line + 2, "\r\n")) {
		p = line + 2;
		if (!strncasecmp(p, "Content-Length:", 15))
			clen = strtoul(p + 15, NULL, 10);
		if (!strncasecmp(p, "Authorization:", 14))
			sscanf(p + 14, " %511[^\r]", srv.auth);
	}
	pthread_mutex_unlock(&srv.lock);
	body = malloc(clen + 1);
	have = got - (size_t)(end + 4 - hdr);
	if (have > clen)
		have = clen;
	memcpy(body, end + 4, have);
	while (have < clen) {
		int r = SSL_read(ssl, body + have, (int)(clen - have));

		if (r <= 0) {
			free(body);
			return -1;
		}
		have += (size_t)r;
	}
	pthread_mutex_lock(&srv.lock);
	free(srv.req_body);
	srv.req_body = body;
	srv.req_len = clen;
	srv.requests++;
	pthread_mutex_unlock(&srv.lock);
	return 0;
}

static void write_all(SSL *ssl, const char *p, size_t n)
{
	while (n > 0) {
		int w = SSL_write(ssl, p, n > (1 << 20) ? 1 << 20 : (int)n);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void serve_one(struct server *s, int cfd)
{
	SSL *ssl = SSL_new(s->ctx);
	char head[256];
	char *body;
	size_t len;
	int status;

	SSL_set_fd(ssl, cfd);
	if (SSL_accept(ssl) == 1 && read_request(ssl) == 0) {
		pthread_mutex_lock(&srv.lock);
		status = srv.status;
		len = srv.body_len;
		body = malloc(len + 1);
		memcpy(body, srv.body, len);
		pthread_mutex_unlock(&srv.lock);
		snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
			 "Content-Type: application/json\r\n"
			 "Connection: close\r\n\r\n",
			 status, len);
		write_all(ssl, head, strlen(head));
		write_all(ssl, body, len);
		free(body);
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(cfd);
}

static void *server_main(void *arg)
{
	struct server *s = arg;

	while (!s->stop) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		int cfd;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		cfd = accept(s->fd, NULL, NULL);
		if (cfd >= 0)
			serve_one(s, cfd);
	}
	return NULL;
}

static int server_start(struct server *s, EVP_PKEY *key, X509 *cert,
			int max_version)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);

	s->ctx = SSL_CTX_new(TLS_server_method());
	if (!s->ctx)
		return -1;
	SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(s->ctx, max_version);
	if (SSL_CTX_use_certificate(s->ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(s->ctx, key) != 1)
		return -1;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s->fd, 64) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &alen) < 0)
		return -1;
	s->port = ntohs(a.sin_port);
	s->stop = 0;
	return pthread_create(&s->th, NULL, server_main, s) == 0 ? 0 : -1;
}

static void server_stop(struct server *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->fd);
	SSL_CTX_free(s->ctx);
}

static void test_transport_args(void)
{
	struct transport *t = NULL;
	char *e;

	is_int(transport_new(&t, "http://127.0.0.1:1", NULL, NULL), -EINVAL,
	       "plain http is refused");
	is_int(transport_new(&t, "https://127.0.0.1:1", "a\r\nX: y", NULL),
	       -EINVAL, "a token with a line break is refused");
	e = transport_escape("/a b/\xc3\xa9&x=1");
	is_str(e, "%2Fa%20b%2F%C3%A9%26x%3D1", "escape a query value");
	free(e);
	/* Port 1 on loopback: nothing listens. */
	is_int(transport_new(&t, "https://127.0.0.1:1", NULL, NULL), 0, "new");
	is_int(transport_json(t, "GET", "/v1/spaces", NULL, NULL), -ENOTCONN,
	       "connection refused: -ENOTCONN");
	is_int(transport_json(t, "GET", "/spaces", NULL, NULL), -EINVAL,
	       "a path outside /v1/: -EINVAL");
	transport_free(t);
}

static void test_transport_errors(struct transport *t)
{
	static const struct {
		int status;
		const char *code;
		int rc;
	} rows[] = {
		{ 400, "bad_request", -EINVAL },
		{ 400, "bad_name", -EINVAL },
		{ 401, "unauthorized", -EKEYREJECTED },
		{ 403, "forbidden", -EACCES },
		{ 404, "not_found", -ENOENT },
		{ 409, "conflict", -EEXIST },
		{ 409, "chunk_missing", -ENODATA },
		{ 413, "too_large", -E2BIG },
		{ 422, "hash_mismatch", -EBADMSG },
		{ 500, "internal", -ENOTCONN },
		{ 503, "internal", -ENOTCONN },
		{ 507, "no_space", -ENOSPC },
	};
	char body[256], msg[64];
	json_t *reply = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		snprintf(msg, sizeof(msg), "message %zu", i);
		snprintf(body, sizeof(body),
			 "{\"error\": {\"code\": \"%s\", \"message\": \"%s\"}}",
			 rows[i].code, msg);
		reply_json(rows[i].status, body);
		is_int(transport_json(t, "GET", "/v1/x", NULL, &reply),
		       rows[i].rc, "HTTP %d %s", rows[i].status, rows[i].code);
		is_str(err_msg(), msg, "  with the server's message");
		ok(json_is_object(json_object_get(reply, "error")),
		   "  and the error body");
		json_decref(reply);
		reply = NULL;
	}
	reply_set(502, "", 0);
	is_int(transport_json(t, "GET", "/v1/x", NULL, NULL), -ENOTCONN,
	       "502 without a body: -ENOTCONN");
	ok(strstr(err_msg(), "502") != NULL, "message names the status");
	reply_json(200, "{\"a\": ");
	is_int(transport_json(t, "GET", "/v1/x", NULL, NULL), -EPROTO,
	       "malformed JSON on 200: -EPROTO");
}

static void test_transport_json(struct transport *t)
{
	json_t *reply = NULL, *body = json_pack("{s:s}", "op", "mkdir");
	char *token = NULL;

	reply_json(200, "{\"spaces\": [{\"name\": \"demo\"}]}");
	is_int(transport_json(t, "POST", "/v1/spaces/demo/commits", body,
			      &reply),
	       0, "POST with a JSON body");
	pthread_mutex_lock(&srv.lock);
	is_str(srv.method, "POST", "method");
	is_str(srv.path, "/v1/spaces/demo/commits", "path");
	is_str(srv.auth, "Bearer tok123", "bearer token sent");
	ok(srv.req_body && srv.req_len == strlen("{\"op\":\"mkdir\"}") &&
		   !memcmp(srv.req_body, "{\"op\":\"mkdir\"}", srv.req_len),
	   "body sent as compact JSON");
	pthread_mutex_unlock(&srv.lock);
	is_str(json_string_value(json_object_get(
		       json_array_get(json_object_get(reply, "spaces"), 0),
		       "name")),
	       "demo", "reply parsed");
	json_decref(reply);
	json_decref(body);

	reply_json(200, "{\"token\": \"fresh\", \"login\": \"alice\"}");
	is_int(transport_login(t, "alice", "pw \"x\"", &token), 0, "login");
	is_str(token, "fresh", "token returned");
	free(token);
	pthread_mutex_lock(&srv.lock);
	is_str(srv.path, "/v1/login", "login path");
	ok(srv.req_body &&
		   strstr(srv.req_body, "\"password\":\"pw \\\"x\\\"\""),
	   "password sent as a JSON string");
	pthread_mutex_unlock(&srv.lock);
	reply_json(200, "{\"login\": \"alice\"}");
	is_int(transport_login(t, "alice", "pw", &token), -EPROTO,
	       "login reply without a token: -EPROTO");
	ok(token == NULL, "no token");
}

static void test_transport_chunks(struct transport *t)
{
	static uint8_t data[100000];
	struct obj_id id, other;
	uint8_t *got = NULL;
	size_t len = 0;
	char hex[OBJ_ID_HEX_LEN + 1], want[256];
	uint64_t before;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	hash_buf(&id, data, sizeof(data));
	hash_buf(&other, "x", 1);
	obj_id_to_hex(&id, hex);

	reply_set(200, data, sizeof(data));
	is_int(transport_get_chunk(t, "demo", &id, &got, &len), 0, "GET chunk");
	ok(len == sizeof(data) && got && !memcmp(got, data, len),
	   "the chunk's bytes");
	free(got);
	snprintf(want, sizeof(want), "/v1/spaces/demo/chunks/%s", hex);
	pthread_mutex_lock(&srv.lock);
	is_str(srv.path, want, "chunk path");
	pthread_mutex_unlock(&srv.lock);
	is_int(transport_get_chunk(t, "demo", &other, &got, &len), -EBADMSG,
	       "bytes that do not hash to the id: -EBADMSG");
	ok(got == NULL, "and nothing returned");
	reply_json(
		404,
		"{\"error\": {\"code\": \"not_found\", \"message\": \"no chunk\"}}");
	is_int(transport_get_chunk(t, "demo", &id, &got, &len), -ENOENT,
	       "absent chunk: -ENOENT");

	before = transport_bytes_uploaded(t);
	reply_json(201, "{\"id\": \"x\", \"size\": 1}");
	is_int(transport_put_chunk(t, "demo", &id, data, sizeof(data)), 0,
	       "PUT chunk");
	pthread_mutex_lock(&srv.lock);
	is_str(srv.method, "PUT", "method PUT");
	ok(srv.req_len == sizeof(data) &&
		   !memcmp(srv.req_body, data, srv.req_len),
	   "the server got the bytes");
	pthread_mutex_unlock(&srv.lock);
	is_int(transport_bytes_uploaded(t) - before, sizeof(data),
	       "upload counter counts them");
	reply_json(
		422,
		"{\"error\": {\"code\": \"hash_mismatch\", \"message\": \"bad\"}}");
	is_int(transport_put_chunk(t, "demo", &id, data, sizeof(data)),
	       -EBADMSG, "422 hash_mismatch: -EBADMSG");
	is_int(transport_bytes_uploaded(t) - before, sizeof(data),
	       "a failed upload is not counted");
	is_int(transport_put_chunk(t, "demo", &id, data, 0), -E2BIG,
	       "an empty chunk is refused");
	is_int(transport_put_chunk(t, "demo", &id, data, CHUNK_MAX + 1), -E2BIG,
	       "a chunk over CHUNK_MAX is refused");
}

static void test_transport_caps(struct transport *t)
{
	size_t n = CHUNK_MAX + 128 * 1024;
	uint8_t *big = calloc(1, n);
	struct obj_id id;
	uint8_t *got = NULL;
	size_t len;

	hash_buf(&id, big, n);
	reply_set(200, big, n);
	is_int(transport_get_chunk(t, "demo", &id, &got, &len), -E2BIG,
	       "a chunk reply over its cap: -E2BIG");
	free(big);
}

struct worker {
	struct transport *t;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 15; i++) {
		json_t *reply = NULL;

		if (transport_json(w->t, "GET", "/v1/spaces", NULL, &reply) <
			    0 ||
		    !json_is_array(json_object_get(reply, "spaces")))
			w->failures++;
		json_decref(reply);
	}
	return NULL;
}

static void test_transport_threads(struct transport *t)
{
	struct worker w[4];
	pthread_t th[4];
	int failures = 0;

	reply_json(200, "{\"spaces\": []}");
	for (int i = 0; i < 4; i++) {
		w[i].t = t;
		w[i].failures = 0;
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		failures += w[i].failures;
	}
	is_int(failures, 0, "4 threads x 15 requests on one transport");
}

int main(void)
{
	struct server s, s12;
	struct transport *t = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char url[64];

	if (crypto_init() < 0 || !mkdtemp(tmpdir))
		tap_skip_all("no crypto or no temp dir");
	snprintf(cacert, sizeof(cacert), "%s/ca.pem", tmpdir);
	if (make_cert(&key, &cert) < 0 ||
	    server_start(&s, key, cert, TLS1_3_VERSION) < 0 ||
	    server_start(&s12, key, cert, TLS1_2_VERSION) < 0)
		tap_skip_all("cannot start a TLS server");

	test_transport_args();

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", s.port);
	is_int(transport_new(&t, url, "tok123", NULL), 0, "new, system CAs");
	reply_json(200, "{}");
	is_int(transport_json(t, "GET", "/v1/spaces", NULL, NULL), -ENOTCONN,
	       "an unknown self-signed certificate is refused");
	ok(strstr(err_msg(), "certificate") != NULL, "the message says why: %s",
	   err_msg());
	transport_free(t);

	is_int(transport_new(&t, url, "tok123", cacert), 0, "new with cacert");
	reply_json(200, "{}");
	is_int(transport_json(t, "GET", "/v1/spaces", NULL, NULL), 0,
	       "the CA file makes it trusted");
	test_transport_errors(t);
	test_transport_json(t);
	test_transport_chunks(t);
	test_transport_caps(t);
	test_transport_threads(t);
	transport_free(t);

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", s12.port);
	transport_new(&t, url, NULL, cacert);
	is_int(transport_json(t, "GET", "/v1/spaces", NULL, NULL), -ENOTCONN,
	       "a TLS 1.2 server is refused");
	transport_free(t);

	server_stop(&s);
	server_stop(&s12);
	EVP_PKEY_free(key);
	X509_free(cert);
	free(srv.body);
	free(srv.req_body);
	rm_rf(tmpdir);
	return tap_done();
}
