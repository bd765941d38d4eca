/*
 * The server's life: load the configuration, keys and index, start
 * libmicrohttpd (TLS 1.3 only, a thread pool, bounded connections in all
 * and per client address, memory and time per connection: a few seconds
 * to handshake and send a request, a minute idle after that), publish the
 * port, then wait for a signal.
 *
 * SIGTERM, SIGINT and SIGHUP (reload, reload.c) are blocked before MHD
 * creates its threads, so every
 * thread inherits the mask and only the main thread, in sigwait(), ever
 * sees them: no async-signal-safety concerns, and the stop is an ordinary
 * function call sequence (MHD_stop_daemon joins the workers, then the
 * spaces and the index are closed).
 */
#include "server/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "server/anchor.h"
#include "server/change_listen.h"
#include "server/auth.h"
#include "server/client_addr.h"
#include "server/conn_limit.h"
#include "server/http.h"
#include "server/index.h"
#include "server/keys.h"
#include "server/ledger.h"
#include "server/server.h"
#include "server/api.h"
#include "server/spaces.h"

#define TLS_PEM_MAX	  (64u * 1024u)
#define CONN_MEMORY_LIMIT (128u * 1024u)

static void mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_warn("http: %s", line);
}

static int read_pem(const char *datadir, const char *leaf, char **out)
{
	char path[PATH_MAX];
	size_t len;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/tls/%s", datadir, leaf) >=
	    sizeof(path))
		return err_set(-ENAMETOOLONG, "data directory path too long");
	rc = file_read_all(path, TLS_PEM_MAX, out, &len);
	if (rc < 0)
		return err_set(rc, "cannot read '%s': %s", path, strerror(-rc));
	return 0;
}

static int write_port(const char *port_file, unsigned port)
{
	char text[16];
	int n = snprintf(text, sizeof(text), "%u\n", port);
	int rc = file_write_atomic(port_file, text, (size_t)n, 0644);

	if (rc < 0)
		return err_set(rc, "cannot write '%s': %s", port_file,
			       strerror(-rc));
	return 0;
}

static int clear_stale_locks(const char *name, void *arg)
{
	const char *datadir = arg;
	char repo[PATH_MAX];
	int n;

	snprintf(repo, sizeof(repo),
		 "%s/" SPACES_DIR_NAME "/%s/" SPACE_LEDGER_NAME, datadir, name);
	n = ledger_clear_stale_locks(repo);
	if (n > 0)
		log_warn(
			"space '%s': removed %d lock file%s left by an interrupted commit",
			name, n, n == 1 ? "" : "s");
	return n < 0 ? n : 0;
}

/*
 * One server per data directory: two would each serialize ledger batches
 * with their own mutex only.  The lock goes with the process, so a crash
 * never leaves it behind.  Returns the locked fd or -errno.
 */
int serve_lock_datadir(const char *datadir)
{
	char path[PATH_MAX];
	int fd, e;

	if ((size_t)snprintf(path, sizeof(path), "%s/coffred.lock", datadir) >=
	    sizeof(path))
		return err_set(-ENAMETOOLONG, "data directory path too long");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = errno;
		return err_set(-e, "cannot open '%s': %s", path, strerror(e));
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		close(fd);
		if (e == EWOULDBLOCK)
			return err_set(-EBUSY,
				       "another coffred already serves '%s'",
				       datadir);
		return err_set(-e, "cannot lock '%s': %s", path, strerror(e));
	}
	return fd;
}

/* The accept policy with trusted proxies: the per-address limit. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *sa,
				     socklen_t len)
{
	struct client_addr a;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	client_addr_from_sockaddr(&a, sa);
	return conn_limit_admit(cls, &a,
				(int64_t)now.tv_sec * 1000 +
					now.tv_nsec / 1000000) ?
		       MHD_YES :
		       MHD_NO;
}

/* Start and close of a connection, counted by its peer's address; the
 * socket context says whether it was (a trusted proxy is not). */
static void conn_notify(void *cls, struct MHD_Connection *conn,
			void **socket_context,
			enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct client_addr a;

	client_addr_from_sockaddr(&a, ci ? ci->client_addr : NULL);
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = conn_limit_opened(cls, &a) ? cls : NULL;
	} else if (*socket_context) {
		conn_limit_closed(cls, &a);
		*socket_context = NULL;
	}
}

/*
 * limit: the per-address limit that exempts the trusted proxies
 * (conn_limit.h), in place of libmicrohttpd's, which could not change on
 * a reload.
 */
static struct MHD_Daemon *start(struct server *srv, const char *key,
				const char *cert, struct conn_limit *limit)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr *sa;
	unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_TLS | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME; /* the change feed */

	if (srv->cfg.ipv6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(srv->cfg.port);
		inet_pton(AF_INET6, srv->cfg.host, &sin6.sin6_addr);
		sa = (struct sockaddr *)&sin6;
		flags |= MHD_USE_IPv6;
	} else {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(srv->cfg.port);
		inet_pton(AF_INET, srv->cfg.host, &sin.sin_addr);
		sa = (struct sockaddr *)&sin;
	}
	return MHD_start_daemon(
		flags, 0, accept_policy, limit, http_access, srv,
		/* The logger first, so that no option logs elsewhere. */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
		sa, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT,
		cert, MHD_OPTION_HTTPS_PRIORITIES,
		"NORMAL:-VERS-ALL:+VERS-TLS1.3", MHD_OPTION_THREAD_POOL_SIZE,
		(unsigned int)srv->cfg.threads, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)srv->cfg.max_connections,
		MHD_OPTION_NOTIFY_CONNECTION, conn_notify, limit,
		/* Until a request's headers are in (TLS handshake included):
		 * http_access gives the connection HTTP_IDLE_TIMEOUT_S then. */
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)HTTP_HANDSHAKE_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
		MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
		MHD_OPTION_END);
}

int serve_run(const char *datadir, const char *port_file)
{
	struct server srv = { .datadir = datadir,
			      .live_lock = PTHREAD_MUTEX_INITIALIZER,
			      .create_lock = PTHREAD_MUTEX_INITIALIZER };
	struct crypto_key master = { 0 };
	struct MHD_Daemon *d = NULL;
	struct anchor *anchor = NULL;
	struct change_listen *listener = NULL;
	struct conn_limit *limit = NULL;
	const union MHD_DaemonInfo *info;
	char *key = NULL, *cert = NULL;
	sigset_t set;
	int rc, sig = 0, lock_fd = -1;

	rc = crypto_init();
	if (rc < 0)
		return err_set(rc, "cannot initialize libsodium");
	rc = config_load(&srv.cfg, datadir);
	if (rc == -ENOENT)
		return err_set(
			rc,
			"'%s' is not an initialized data directory (run coffred init)",
			datadir);
	if (rc < 0)
		return rc;
	lock_fd = serve_lock_datadir(datadir);
	if (lock_fd < 0)
		return lock_fd;
	/* With the data directory locked no other writer can exist: ref
	 * locks found now were left by a coffred killed mid-commit. */
	rc = spaces_each(datadir, NULL, clear_stale_locks, (void *)datadir);
	if (rc < 0)
		goto out;
	rc = master_key_load(&master, datadir);
	if (rc < 0)
		goto out;
	rc = read_pem(datadir, "key.pem", &key);
	if (!rc)
		rc = read_pem(datadir, "cert.pem", &cert);
	if (rc < 0)
		goto out;
	rc = index_open_datadir(&srv.ix, datadir, srv.cfg.index, 0);
	if (rc < 0)
		goto out;
	/* Before any ledger opens: every commit is signed and stamped. */
	rc = keys_load(&srv.keys, datadir);
	if (rc < 0)
		goto out;
	keys_install_prover(srv.keys);
	rc = spaces_new(&srv.spaces, datadir, srv.ix, &master);
	if (rc < 0)
		goto out;
	rc = auth_init();
	if (rc < 0)
		goto out;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Other nodes' commits wake this node's change feed (a thread, so
	 * started with the signals blocked, as the anchor's). */
	rc = change_listen_start(&listener, srv.ix, srv.spaces);
	if (rc < 0)
		goto out;
	/* Event chain heads go into the ledgers while events arrive. */
	rc = anchor_start(&anchor, &srv);
	if (rc < 0)
		goto out;
	rc = conn_limit_new(&limit, &srv.cfg.trusted_proxies,
			    srv.cfg.max_per_address, srv.cfg.max_connections);
	if (rc < 0) {
		rc = err_set(rc, "cannot allocate the connection limit");
		goto out;
	}
	srv.limit = limit;
	d = start(&srv, key, cert, limit);
	if (!d) {
		rc = err_set(
			-EADDRNOTAVAIL,
			"cannot listen on %s%s%s:%u (see the messages above)",
			srv.cfg.ipv6 ? "[" : "", srv.cfg.host,
			srv.cfg.ipv6 ? "]" : "", (unsigned)srv.cfg.port);
		goto out;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || !info->port) {
		rc = err_set(-EIO, "cannot learn the bound port");
		goto out;
	}
	if (port_file) {
		rc = write_port(port_file, info->port);
		if (rc < 0)
			goto out;
	}
	log_info("coffred listening on %s%s%s:%u, data in %s",
		 srv.cfg.ipv6 ? "[" : "", srv.cfg.host, srv.cfg.ipv6 ? "]" : "",
		 (unsigned)info->port, datadir);
	if (srv.cfg.trusted_proxies.n) {
		char list[CLIENT_ADDR_PROXIES_MAX * (CLIENT_ADDR_TEXT_MAX + 6)];

		client_nets_format(&srv.cfg.trusted_proxies, list,
				   sizeof(list));
		log_info(
			"trusted proxies: %s (their X-Forwarded-For names the client; they are exempt from max_connections_per_address)",
			list);
	}

	/* SIGHUP (systemctl reload): coffred.conf read again, serving on. */
	while (sigwait(&set, &sig) != 0 || (sig != SIGINT && sig != SIGTERM))
		if (sig == SIGHUP)
			server_reload(&srv);
	log_info("coffred stopping (signal %d)", sig);
	rc = 0;
out:
	api_changes_stop(); /* resume every long poll: they answer now */
	if (d)
		MHD_stop_daemon(d);
	conn_limit_free(limit); /* after MHD: its last close counted */
	anchor_stop(anchor);	/* after MHD: the last events are anchored */
	change_listen_stop(listener);
	spaces_free(srv.spaces);
	keys_uninstall_prover();
	keys_free(srv.keys);
	index_free(srv.ix);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	crypto_key_release(&master);
	if (lock_fd >= 0)
		close(lock_fd);
	return rc;
}
