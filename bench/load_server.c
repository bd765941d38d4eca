/*
 * The private coffred of load_check: a data dir in the work dir,
 * 127.0.0.1 with port 0 read back from --port-file, one user and one
 * space, and a login token for the honest user and the member attacks.
 * The daemon goes into the cleanup registry the moment it exists.
 */
#include "load.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static int run_step(const struct load_srv *s, char *const argv[],
		    const char *what)
{
	int rc = proc_run(argv, s->log, s->log, 120);

	if (rc != 0)
		return bench_err(rc < 0 ? rc : -EIO,
				 "%s failed (status %d), see '%s'", what, rc,
				 s->log);
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return bench_err(-errno, "cannot create '%s': %s", path,
				 strerror(errno));
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ?
		       0 :
		       bench_err(-EIO, "cannot write '%s'", path);
}

static int read_port(struct load_srv *s, const char *path)
{
	double end = bench_now() + 60;
	struct timespec ms10 = { 0, 10000000L };

	for (;;) {
		char buf[32];
		ssize_t n = 0;
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
		}
		if (n > 0) {
			char *endp;
			long v;

			buf[n] = '\0';
			v = strtol(buf, &endp, 10);
			if (endp != buf && v > 0 && v < 65536 &&
			    (*endp == '\n' || *endp == '\0')) {
				s->port = (int)v;
				return 0;
			}
		}
		if (!proc_alive(s->pid))
			return bench_err(-ENOTCONN, "coffred exited, see '%s'",
					 s->log);
		if (bench_now() > end)
			return bench_err(-ETIMEDOUT,
					 "coffred wrote no port within 60 s");
		nanosleep(&ms10, NULL);
	}
}

int srv_start(struct load_srv *s)
{
	char portfile[BENCH_PATH_MAX];
	char *serve[] = { (char *)s->coffred_bin, (char *)"serve", s->data,
			  (char *)"--port-file",  portfile,	   NULL };
	int rc = bench_path(portfile, "%s/port", s->dir);

	if (rc < 0)
		return rc;
	unlink(portfile);
	rc = proc_spawn(&s->pid, serve, s->log, s->log, true);
	if (rc < 0)
		return rc;
	cleanup_add_pid(s->pid);
	s->starts++;
	rc = read_port(s, portfile);
	if (rc == 0)
		snprintf(s->url, sizeof(s->url), "https://127.0.0.1:%d",
			 s->port);
	return rc;
}

int srv_user_add(const struct load_srv *s, const char *login, char password[40])
{
	char pw[BENCH_PATH_MAX], line[64];
	unsigned char raw[16];
	char *user[] = { (char *)s->coffred_bin,
			 (char *)"user",
			 (char *)"add",
			 (char *)s->data,
			 (char *)login,
			 (char *)"--phone",
			 (char *)"+33612345678",
			 (char *)"--password-file",
			 pw,
			 NULL };
	int rc = bench_path(pw, "%s/password-%s", s->dir, login);

	if (rc < 0)
		return rc;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return bench_err(-EIO, "cannot get random bytes");
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(password + 2 * i, 3, "%02x", raw[i]);
	snprintf(line, sizeof(line), "%s\n", password);
	rc = write_file(pw, line);
	return rc < 0 ? rc : run_step(s, user, "coffred user add");
}

int srv_login(const struct load_srv *s, const char *login, const char *password,
	      char *token, size_t toklen)
{
	char body[256], answer[1024], tok[128];
	const char *p;

	snprintf(body, sizeof(body),
		 "{\"login\": \"%s\", \"password\": \"%s\"}", login, password);
	if (http_req(NULL, s, NULL, "/v1/login", false, body, strlen(body), 30,
		     NULL, NULL, answer, sizeof(answer)) != 200)
		return bench_err(-EACCES, "cannot log in as %s: %s", login,
				 answer);
	p = strstr(answer, "\"token\":");
	if (!p || sscanf(p, "\"token\":\"%127[0-9a-f]\"", tok) != 1)
		return bench_err(-EPROTO, "no token in the login answer: %s",
				 answer);
	snprintf(token, toklen, "%s", tok);
	return 0;
}

int srv_setup(struct load_srv *s)
{
	char *bin = (char *)s->coffred_bin;
	int rc;

	if (access(s->coffred_bin, X_OK) < 0)
		return bench_err(
			-ENOENT,
			"no coffred at '%s': build it or pass --coffred",
			s->coffred_bin);
	if ((rc = bench_path(s->data, "%s/server", s->dir)) < 0 ||
	    (rc = bench_path(s->log, "%s/coffred.log", s->dir)) < 0 ||
	    (rc = bench_path(s->cacert, "%s/tls/cert.pem", s->data)) < 0)
		return rc;
	{
		char *init[] = { bin,
				 (char *)"init",
				 s->data,
				 (char *)"--listen",
				 (char *)"127.0.0.1:0",
				 NULL };
		char *space[] = { bin,
				  (char *)"space",
				  (char *)"create",
				  s->data,
				  (char *)LOAD_SPACE,
				  (char *)"--owner",
				  (char *)LOAD_LOGIN,
				  (char *)"--plan",
				  (char *)"none",
				  NULL };

		if ((rc = run_step(s, init, "coffred init")) < 0 ||
		    (rc = srv_user_add(s, LOAD_LOGIN, s->password)) < 0 ||
		    (rc = run_step(s, space, "coffred space create")) < 0)
			return rc;
	}
	if (s->before_serve && (rc = s->before_serve(s)) < 0)
		return rc;
	rc = srv_start(s);
	if (rc < 0)
		return rc;
	return srv_login(s, LOAD_LOGIN, s->password, s->token,
			 sizeof(s->token));
}

int srv_peak_reset(const struct load_srv *s)
{
	char path[64];
	int fd;
	ssize_t n;

	/* 5: reset the peak RSS (proc(5), /proc/PID/clear_refs) */
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)s->pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, "5", 1);
	close(fd);
	return n == 1 ? 0 : -EIO;
}

long srv_rss_kib(const struct load_srv *s)
{
	char path[64], line[256];
	long kib = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}
