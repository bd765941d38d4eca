/*
 * Reloading coffred.conf while coffred serves (server.h).  Only what is
 * read per request can change under running requests: the login
 * settings, quota_default and spaces_per_user.  The listening socket, the worker threads, the connection
 * limits, the stores (index, chunks, S3 key), the master key, the TSA and
 * the trusted proxies (held by the connection limit) are set up once; a
 * change to them is said in the log, and applied by a restart.
 */
#include "server/server.h"

#include <string.h>

#include "common/err.h"
#include "common/log.h"

void server_login_settings(struct server *srv, unsigned *failures,
			   int64_t *lockout, int64_t *token_lifetime)
{
	pthread_mutex_lock(&srv->live_lock);
	*failures = srv->cfg.login_failures;
	*lockout = srv->cfg.login_lockout;
	*token_lifetime = srv->cfg.token_lifetime;
	pthread_mutex_unlock(&srv->live_lock);
}

unsigned server_spaces_per_user(struct server *srv)
{
	unsigned n;

	pthread_mutex_lock(&srv->live_lock);
	n = srv->cfg.spaces_per_user;
	pthread_mutex_unlock(&srv->live_lock);
	return n;
}

uint64_t server_quota_default(struct server *srv)
{
	uint64_t q;

	pthread_mutex_lock(&srv->live_lock);
	q = srv->cfg.quota_default;
	pthread_mutex_unlock(&srv->live_lock);
	return q;
}

/* Log each setting that changed but needs a restart. */
static void restart_only(const struct config *old, const struct config *now)
{
	static const char later[] =
		"coffred.conf: %s changed: it takes effect at the next restart";

	if (strcmp(old->host, now->host) || old->port != now->port ||
	    old->ipv6 != now->ipv6)
		log_warn(later, "listen");
	if (old->threads != now->threads)
		log_warn(later, "threads");
	if (old->max_connections != now->max_connections)
		log_warn(later, "max_connections");
	if (old->max_per_address != now->max_per_address)
		log_warn(later, "max_connections_per_address");
	if (strcmp(old->tsa_url, now->tsa_url) ||
	    strcmp(old->tsa_ca, now->tsa_ca))
		log_warn(later, "tsa_url or tsa_ca");
	if (strcmp(old->master_key, now->master_key))
		log_warn(later, "master_key");
	if (strcmp(old->chunks, now->chunks) ||
	    strcmp(old->s3_key_file, now->s3_key_file))
		log_warn(later, "chunks or s3_key_file");
	if (strcmp(old->index, now->index))
		log_warn(later, "index");
	if (memcmp(&old->trusted_proxies, &now->trusted_proxies,
		   sizeof(old->trusted_proxies)))
		log_warn(later, "trusted_proxies");
}

int server_reload(struct server *srv)
{
	struct config now;
	int rc;

	rc = config_load(&now, srv->datadir);
	if (rc < 0) {
		log_error(
			"coffred.conf not reloaded, the running settings stay: %s",
			err_msg());
		return rc;
	}
	restart_only(&srv->cfg, &now);
	pthread_mutex_lock(&srv->live_lock);
	srv->cfg.token_lifetime = now.token_lifetime;
	srv->cfg.login_failures = now.login_failures;
	srv->cfg.login_lockout = now.login_lockout;
	srv->cfg.quota_default = now.quota_default;
	srv->cfg.spaces_per_user = now.spaces_per_user;
	pthread_mutex_unlock(&srv->live_lock);
	log_info("coffred.conf reloaded");
	return 0;
}
