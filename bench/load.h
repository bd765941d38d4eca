/*
 * Internals of load_check, the program that starts its own coffred and
 * measures what a hostile client costs an honest one.
 *
 * load_server.c  the private coffred: set up, (re)start, stop, peak RSS
 * load_http.c    HTTPS requests with libcurl, answer tallies, latencies
 * load_attack.c  the attacks, each run by threads until told to stop
 * load_check.c   options, the phases and the table
 *
 * oracle_bench.c (with oracle_setup.c, oracle.h) shares the first two.
 *
 * Not a public header: only bench/ includes it.
 */
#ifndef COFFRE_BENCH_LOAD_H
#define COFFRE_BENCH_LOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "bench.h"

#define LOAD_LOGIN "load"
#define LOAD_SPACE "load"

struct load_srv {
	const char *coffred_bin;
	char dir[BENCH_PATH_MAX];  /* the work dir */
	char data[BENCH_PATH_MAX]; /* coffred DATADIR */
	char log[BENCH_PATH_MAX];
	char cacert[BENCH_PATH_MAX];
	char password[40];
	char token[128];
	char url[64]; /* https://127.0.0.1:PORT */
	int port;
	pid_t pid;
	int starts; /* 2 and more: it died and was started again */
	/* Called by srv_setup once the space exists, before serve (more
	 * users with srv_user_add); NULL: nothing. */
	int (*before_serve)(struct load_srv *s);
	void *arg; /* for before_serve */
};

/* init, a user, a space, serve, and a login token. */
int srv_setup(struct load_srv *s);
/* Another user, by the coffred CLI, with a random password (32 hex). */
int srv_user_add(const struct load_srv *s, const char *login,
		 char password[40]);
/* A login token of login (64 hex) into token. */
int srv_login(const struct load_srv *s, const char *login, const char *password,
	      char *token, size_t toklen);
/* Start coffred serve (again) and wait for its port. */
int srv_start(struct load_srv *s);
/* Reset the peak RSS (VmHWM) of the server; -errno if not allowed. */
int srv_peak_reset(const struct load_srv *s);
/* The server's resident set now (VmRSS) in KiB, or -errno. */
long srv_rss_kib(const struct load_srv *s);

/* ---- load_http.c ---- */

/* Answers by HTTP status; [0] counts transport failures (curl errors). */
struct tally {
	atomic_long n[600];
	atomic_long requests;
};

/*
 * One request on handle h (NULL: a fresh connection, closed after it).
 * body != NULL makes it a POST (method overrides: "PUT").  The status
 * (or 0 on a transport failure) goes to tally t when not NULL; the answer
 * body, when out is not NULL, into out (truncated to outlen - 1).
 * *stop, when not NULL and set, cuts a transfer short.
 */
long http_req(void *h, const struct load_srv *s, const char *method,
	      const char *path, bool auth, const void *body, size_t len,
	      double timeout_s, atomic_bool *stop, struct tally *t, char *out,
	      size_t outlen);
void *http_handle(void);
void http_handle_free(void *h);
/* "413 x12, 0 x3" for the table (the two most frequent answers). */
void tally_summary(const struct tally *t, char *out, size_t outlen);

/* ---- load_attack.c ---- */

enum attack_kind {
	ATTACK_NONE,
	ATTACK_BODY,   /* oversized JSON bodies to path */
	ATTACK_REPEAT, /* a deposit naming one chunk many times */
	ATTACK_IDLE,   /* TCP sockets opened and left silent */
	ATTACK_GUESS,  /* wrong passwords for the honest login */
};

struct attack {
	const char *name;
	enum attack_kind kind;
	const char *path; /* BODY */
	bool auth;	  /* BODY: as a member (token) */
	size_t size;	  /* BODY: bytes; REPEAT: references; IDLE: sockets */
	int threads;
	/* filled by attack_start */
	struct load_srv *srv;
	char *body;
	size_t body_len;
	atomic_bool stop;
	struct tally tally;
	pthread_t tid[16];
	int started;
	int sockets_open; /* IDLE: at the end */
};

int attack_start(struct attack *a, struct load_srv *s);
void attack_stop(struct attack *a);

#endif /* COFFRE_BENCH_LOAD_H */
