/*
 * Reloading coffred.conf while coffred serves (server.h).  Only what is
 * read per request or per connection can change under running requests:
 * the login settings, quota_default, spaces_per_user, signup,
 * sms_command and the trusted
 * proxies (read per request, and told to the connection limit, which a
 * connection asks once at its start).  The listening socket, the worker
 * threads, the connection limits, the stores (index, chunks, S3 key), the
 * master key and the TSA are set up once; a change to them is said in the
 * log, and applied by a restart.
 */
#include "server/server.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "server/client_addr.h"
#include "server/conn_limit.h"

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

void server_signup_settings(struct server *srv, enum config_signup *mode,
			    char *command, size_t cap)
{
	pthread_mutex_lock(&srv->live_lock);
	*mode = srv->cfg.signup;
	snprintf(command, cap, "%s", srv->cfg.sms_command);
	pthread_mutex_unlock(&srv->live_lock);
}

int64_t server_termination_grace(struct server *srv)
{
	int64_t g;

	pthread_mutex_lock(&srv->live_lock);
	g = srv->cfg.termination_grace;
	pthread_mutex_unlock(&srv->live_lock);
	return g;
}

void server_trusted_proxies(struct server *srv, struct client_nets *out)
{
	pthread_mutex_lock(&srv->live_lock);
	*out = srv->cfg.trusted_proxies;
	pthread_mutex_unlock(&srv->live_lock);
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
	if (old->change_poll != now->change_poll)
		log_warn(later, "change_poll");
}

/* The trusted proxies as the log shows them, "none" for the empty list. */
static void proxies_text(const struct client_nets *nets, char *out, size_t cap)
{
	if (!nets->n)
		snprintf(out, cap, "none");
	else
		client_nets_format(nets, out, cap);
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
	if (srv->cfg.trusted_proxies.n != now.trusted_proxies.n ||
	    memcmp(srv->cfg.trusted_proxies.v, now.trusted_proxies.v,
		   now.trusted_proxies.n * sizeof(now.trusted_proxies.v[0]))) {
		char list[CLIENT_ADDR_PROXIES_MAX * (CLIENT_ADDR_TEXT_MAX + 6)];

		proxies_text(&now.trusted_proxies, list, sizeof(list));
		log_info("trusted proxies now: %s", list);
	}
	/* New connections and new requests see the new list; those open
	 * keep what they started with (conn_limit.h). */
	if (srv->limit)
		conn_limit_set_trusted(srv->limit, &now.trusted_proxies);
	pthread_mutex_lock(&srv->live_lock);
	srv->cfg.trusted_proxies = now.trusted_proxies;
	srv->cfg.token_lifetime = now.token_lifetime;
	srv->cfg.login_failures = now.login_failures;
	srv->cfg.login_lockout = now.login_lockout;
	srv->cfg.quota_default = now.quota_default;
	srv->cfg.spaces_per_user = now.spaces_per_user;
	srv->cfg.signup = now.signup;
	srv->cfg.termination_grace = now.termination_grace;
	memcpy(srv->cfg.sms_command, now.sms_command,
	       sizeof(srv->cfg.sms_command));
	pthread_mutex_unlock(&srv->live_lock);
	log_info("coffred.conf reloaded");
	return 0;
}
