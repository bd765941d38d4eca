/*
 * The attacks of load_check, each run by a.threads threads until a.stop:
 *
 *   BODY    a JSON body of a.size bytes (an array of small numbers, what
 *           costs a JSON parser most per byte) posted again and again
 *   REPEAT  one 4 MiB chunk uploaded once, then deposits naming it
 *           a.size times (with the right sha256 of the whole)
 *   IDLE    a.size TCP connections opened and left silent (no TLS hello),
 *           opened again when the server closes one
 *   GUESS   wrong passwords for the honest login, as fast as answered
 */
#include "load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPEAT_CHUNK (4u * 1024u * 1024u)

static void *body_loop(void *arg)
{
	struct attack *a = arg;
	void *h = http_handle();

	while (h && !atomic_load(&a->stop))
		http_req(h, a->srv, NULL, a->path, a->auth, a->body,
			 a->body_len, 300, &a->stop, &a->tally, NULL, 0);
	http_handle_free(h);
	return NULL;
}

static void *guess_loop(void *arg)
{
	struct attack *a = arg;
	void *h = http_handle();
	char body[128];

	for (long i = 0; h && !atomic_load(&a->stop); i++) {
		int n = snprintf(
			body, sizeof(body),
			"{\"login\": \"%s\", \"password\": \"guess-%ld\"}",
			LOAD_LOGIN, i);

		http_req(h, a->srv, NULL, "/v1/login", false, body, (size_t)n,
			 30, &a->stop, &a->tally, NULL, 0);
	}
	http_handle_free(h);
	return NULL;
}

static int tcp_open(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void *idle_loop(void *arg)
{
	struct attack *a = arg;
	struct timespec ms100 = { 0, 100000000L };
	int *fds = calloc(a->size, sizeof(*fds));
	int open_now = 0;

	if (!fds)
		return NULL;
	for (size_t i = 0; i < a->size; i++)
		fds[i] = -1;
	while (!atomic_load(&a->stop)) {
		open_now = 0;
		for (size_t i = 0; i < a->size; i++) {
			char c;
			ssize_t r = fds[i] < 0 ? 1 :
						 recv(fds[i], &c, 1,
						      MSG_PEEK | MSG_DONTWAIT);

			if (r == 0 || (r < 0 && errno != EAGAIN &&
				       errno != EWOULDBLOCK)) {
				close(fds[i]); /* the server closed it */
				fds[i] = -1;
			}
			if (fds[i] < 0) {
				fds[i] = tcp_open(a->srv->port);
				atomic_fetch_add(&a->tally.requests, 1);
				atomic_fetch_add(
					&a->tally.n[fds[i] < 0 ? 0 : 1], 1);
			}
			open_now += fds[i] >= 0;
		}
		nanosleep(&ms100, NULL);
	}
	a->sockets_open = open_now;
	for (size_t i = 0; i < a->size; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return NULL;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static int make_body(struct attack *a)
{
	static const char head[] = "{\"login\": \"" LOAD_LOGIN
				   "\", \"password\": \"x\", \"pad\": [";
	size_t n = a->size, o;

	if (n < sizeof(head) + 8)
		n = sizeof(head) + 8;
	a->body = malloc(n);
	if (!a->body)
		return -ENOMEM;
	memcpy(a->body, head, sizeof(head) - 1);
	for (o = sizeof(head) - 1; o + 2 < n - 3; o += 2)
		memcpy(a->body + o, "0,", 2);
	memcpy(a->body + o, "0]}", 3);
	o += 3;
	while (o < n)
		a->body[o++] = ' ';
	a->body_len = n;
	return 0;
}

/* Upload one chunk and build the deposit that names it a->size times. */
static int make_repeat(struct attack *a)
{
	unsigned char *chunk = malloc(REPEAT_CHUNK), md[32];
	char id[65], whole[65], path[160];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t cap = a->size * 80 + 512, o;
	long st;
	int rc = -ENOMEM;

	a->body = malloc(cap);
	if (!chunk || !ctx || !a->body)
		goto out;
	rc = -EIO;
	for (size_t i = 0; i < REPEAT_CHUNK; i += 256)
		if (getrandom(chunk + i, 256, 0) != 256)
			goto out;
	EVP_Digest(chunk, REPEAT_CHUNK, md, NULL, EVP_sha256(), NULL);
	hex(md, 32, id);
	snprintf(path, sizeof(path), "/v1/spaces/%s/chunks/%s", LOAD_SPACE, id);
	st = http_req(NULL, a->srv, "PUT", path, true, chunk, REPEAT_CHUNK, 120,
		      NULL, NULL, NULL, 0);
	if (st != 200 && st != 201) {
		rc = bench_err(-EIO, "chunk upload answered %ld", st);
		goto out;
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t i = 0; i < a->size; i++)
		EVP_DigestUpdate(ctx, chunk, REPEAT_CHUNK);
	EVP_DigestFinal_ex(ctx, md, NULL);
	hex(md, 32, whole);
	o = (size_t)snprintf(
		a->body, cap,
		"{\"client\": \"load\", \"ops\": [{\"op\": \"deposit\", \"path\": \"/repeat.bin\", \"size\": %llu, \"sha256\": \"%s\", \"chunks\": [",
		(unsigned long long)a->size * REPEAT_CHUNK, whole);
	for (size_t i = 0; i < a->size; i++)
		o += (size_t)snprintf(a->body + o, cap - o, "%s[\"%s\", %u]",
				      i ? ", " : "", id, REPEAT_CHUNK);
	o += (size_t)snprintf(a->body + o, cap - o, "]}]}");
	a->body_len = o;
	a->path = "/v1/spaces/" LOAD_SPACE "/commits";
	a->auth = true;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(chunk);
	return rc;
}

int attack_start(struct attack *a, struct load_srv *s)
{
	void *(*fn)(void *) = NULL;
	int rc = 0;

	a->srv = s;
	atomic_store(&a->stop, false);
	memset(&a->tally, 0, sizeof(a->tally));
	switch (a->kind) {
	case ATTACK_NONE:
		return 0;
	case ATTACK_BODY:
		rc = make_body(a);
		fn = body_loop;
		break;
	case ATTACK_REPEAT:
		rc = make_repeat(a);
		fn = body_loop;
		break;
	case ATTACK_IDLE:
		a->threads = 1;
		fn = idle_loop;
		break;
	case ATTACK_GUESS:
		fn = guess_loop;
		break;
	}
	if (rc < 0)
		return rc;
	if (a->threads > (int)BENCH_ARRAY_SIZE(a->tid))
		a->threads = (int)BENCH_ARRAY_SIZE(a->tid);
	for (a->started = 0; a->started < a->threads; a->started++) {
		rc = pthread_create(&a->tid[a->started], NULL, fn, a);
		if (rc)
			return bench_err(-rc, "cannot start a thread: %s",
					 strerror(rc));
	}
	return 0;
}

void attack_stop(struct attack *a)
{
	atomic_store(&a->stop, true);
	for (int i = 0; i < a->started; i++)
		pthread_join(a->tid[i], NULL);
	a->started = 0;
	free(a->body);
	a->body = NULL;
}
