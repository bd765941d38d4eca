/*
 * Reading and writing coffred.conf.  The format is deliberately tiny (one
 * "key = value" per line) so that an administrator can edit it by hand; the
 * parser is strict and bounded: lines over 1 KiB, unknown keys and bad values
 * are refused with the line number.
 */
#include "server/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/size.h"
#include "server/chunk_s3.h"
#include "common/fsutil.h"

#define CONFIG_FILE_MAX (64u * 1024u)
#define CONFIG_LINE_MAX 1024

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
	cfg->port = 8443;
	cfg->threads = 8;
	cfg->max_connections = 256;
	cfg->max_per_address = 32;
	cfg->token_lifetime = 30 * 24 * 3600;
	cfg->login_failures = 10;
	cfg->login_lockout = 15 * 60;
	cfg->spaces_per_user = CONFIG_SPACES_PER_USER;
	cfg->termination_grace = CONFIG_TERMINATION_GRACE;
	cfg->change_poll = CONFIG_CHANGE_POLL;
}

/* "N", "Ns", "Nm", "Nh" or "Nd" into seconds within [min, max]. */
static int parse_duration(const char *s, int64_t min, int64_t max, int64_t *out)
{
	unsigned long long v;
	int64_t unit = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > (unsigned long long)max)
		return -EINVAL;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 24 * 3600;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	if ((int64_t)v * unit < min || (int64_t)v * unit > max)
		return -EINVAL;
	*out = (int64_t)v * unit;
	return 0;
}

/* The shortest exact writing of a duration parse_duration() reads. */
static void format_duration(int64_t secs, char *out, size_t outlen)
{
	if (secs % (24 * 3600) == 0)
		snprintf(out, outlen, "%lldd", (long long)(secs / (24 * 3600)));
	else if (secs % 3600 == 0)
		snprintf(out, outlen, "%lldh", (long long)(secs / 3600));
	else if (secs % 60 == 0)
		snprintf(out, outlen, "%lldm", (long long)(secs / 60));
	else
		snprintf(out, outlen, "%llds", (long long)secs);
}

static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int config_parse_listen(struct config *cfg, const char *s)
{
	char host[CONFIG_HOST_MAX];
	const char *colon, *hs;
	size_t hlen;
	unsigned long port;
	unsigned char addr[sizeof(struct in6_addr)];
	int v6 = 0;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return err_set(
				-EINVAL,
				"bad listen address '%s': expected [IPV6]:PORT",
				s);
		hs = s + 1;
		hlen = (size_t)(close - hs);
		colon = close + 1;
		v6 = 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return err_set(
				-EINVAL,
				"bad listen address '%s': expected ADDR:PORT",
				s);
		hs = s;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return err_set(-EINVAL, "bad listen address '%s'", s);
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, addr) != 1)
		return err_set(
			-EINVAL,
			"bad listen address '%s': '%s' is not a numeric %s address",
			s, host, v6 ? "IPv6" : "IPv4");
	if (parse_uint(colon + 1, 0, 65535, &port) < 0)
		return err_set(-EINVAL, "bad listen port in '%s'", s);
	memcpy(cfg->host, host, hlen + 1);
	cfg->ipv6 = v6;
	cfg->port = (uint16_t)port;
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int config_set(struct config *cfg, const char *key, const char *val,
		      unsigned lineno)
{
	unsigned long v;

	if (!strcmp(key, "listen")) {
		char why[256];
		int rc = config_parse_listen(cfg, val);

		if (rc < 0) {
			/* err_msg() lives in the buffer err_set() rewrites */
			snprintf(why, sizeof(why), "%s", err_msg());
			return err_set(rc, "coffred.conf line %u: %s", lineno,
				       why);
		}
		return 0;
	}
	if (!strcmp(key, "threads")) {
		if (parse_uint(val, 1, 64, &v) < 0)
			return err_set(
				-EINVAL,
				"coffred.conf line %u: threads must be 1..64",
				lineno);
		cfg->threads = (unsigned)v;
		return 0;
	}
	if (!strcmp(key, "max_connections")) {
		if (parse_uint(val, 1, 10000, &v) < 0)
			return err_set(
				-EINVAL,
				"coffred.conf line %u: max_connections must be 1..10000",
				lineno);
		cfg->max_connections = (unsigned)v;
		return 0;
	}
	if (!strcmp(key, "max_connections_per_address")) {
		if (parse_uint(val, 1, 10000, &v) < 0)
			return err_set(
				-EINVAL,
				"coffred.conf line %u: max_connections_per_address must be 1..10000",
				lineno);
		cfg->max_per_address = (unsigned)v;
		return 0;
	}
	if (!strcmp(key, "spaces_per_user")) {
		if (parse_uint(val, 0, 1000, &v) < 0)
			return err_set(
				-EINVAL,
				"coffred.conf line %u: spaces_per_user must be 0..1000 (0: only the operator makes spaces)",
				lineno);
		cfg->spaces_per_user = (unsigned)v;
		return 0;
	}
	if (!strcmp(key, "signup")) {
		if (!strcmp(val, "closed"))
			cfg->signup = CONFIG_SIGNUP_CLOSED;
		else if (!strcmp(val, "invite"))
			cfg->signup = CONFIG_SIGNUP_INVITE;
		else if (!strcmp(val, "open"))
			cfg->signup = CONFIG_SIGNUP_OPEN;
		else
			return err_set(
				-EINVAL,
				"coffred.conf line %u: signup must be closed, invite or open",
				lineno);
		return 0;
	}
	if (!strcmp(key, "sms_command")) {
		if (val[0] != '/' || strlen(val) >= sizeof(cfg->sms_command))
			return err_set(
				-EINVAL,
				"coffred.conf line %u: sms_command must be an absolute path under %zu bytes",
				lineno, sizeof(cfg->sms_command));
		snprintf(cfg->sms_command, sizeof(cfg->sms_command), "%s", val);
		return 0;
	}
	if (!strcmp(key, "tsa_url")) {
		if (strlen(val) >= sizeof(cfg->tsa_url) ||
		    (strncmp(val, "http://", 7) && strncmp(val, "https://", 8)))
			return err_set(
				-EINVAL,
				"coffred.conf line %u: tsa_url must be an http:// or https:// URL under %zu bytes",
				lineno, sizeof(cfg->tsa_url));
		snprintf(cfg->tsa_url, sizeof(cfg->tsa_url), "%s", val);
		return 0;
	}
	if (!strcmp(key, "trusted_proxies")) {
		char why[256];
		int rc = client_nets_parse(&cfg->trusted_proxies, val);

		if (rc < 0) {
			snprintf(why, sizeof(why), "%s", err_msg());
			return err_set(-EINVAL, "coffred.conf line %u: %s",
				       lineno, why);
		}
		return 0;
	}
	if (!strcmp(key, "index")) {
		if (config_parse_index(cfg, val) < 0)
			return err_set(
				-EINVAL,
				"coffred.conf line %u: index must be sqlite or postgresql://USER@HOST:PORT/DB",
				lineno);
		return 0;
	}
	if (!strcmp(key, "ledger")) {
		if (config_parse_ledger(cfg, val) < 0)
			return err_set(
				-EINVAL,
				"coffred.conf line %u: ledger must be dir, index or postgresql",
				lineno);
		return 0;
	}
	if (!strcmp(key, "master_key")) {
		if (strlen(val) >= sizeof(cfg->master_key) || val[0] != '/')
			return err_set(
				-EINVAL,
				"coffred.conf line %u: master_key must be an absolute path",
				lineno);
		snprintf(cfg->master_key, sizeof(cfg->master_key), "%s", val);
		return 0;
	}
	if (!strcmp(key, "chunks")) {
		struct chunk_s3_config s3;

		if (strlen(val) >= sizeof(cfg->chunks) ||
		    (strcmp(val, "dir") != 0 &&
		     chunk_s3_parse_url(&s3, val) < 0))
			return err_set(
				-EINVAL,
				"coffred.conf line %u: chunks must be 'dir' or s3://HOST:PORT/BUCKET",
				lineno);
		snprintf(cfg->chunks, sizeof(cfg->chunks), "%s",
			 strcmp(val, "dir") ? val : "");
		return 0;
	}
	if (!strcmp(key, "s3_key_file")) {
		if (strlen(val) >= sizeof(cfg->s3_key_file) || val[0] != '/')
			return err_set(
				-EINVAL,
				"coffred.conf line %u: s3_key_file must be an absolute path",
				lineno);
		snprintf(cfg->s3_key_file, sizeof(cfg->s3_key_file), "%s", val);
		return 0;
	}
	if (!strcmp(key, "tsa_ca")) {
		if (strlen(val) >= sizeof(cfg->tsa_ca) || val[0] != '/')
			return err_set(
				-EINVAL,
				"coffred.conf line %u: tsa_ca must be an absolute path",
				lineno);
		snprintf(cfg->tsa_ca, sizeof(cfg->tsa_ca), "%s", val);
		return 0;
	}
	if (!strcmp(key, "change_poll")) {
		if (parse_duration(val, 0, 60, &cfg->change_poll) < 0)
			return err_set(
				-EINVAL,
				"coffred.conf line %u: change_poll must be a duration from 0s to 60s (1s)",
				lineno);
		return 0;
	}
	if (!strcmp(key, "termination_grace")) {
		if (parse_duration(val, 0, 3650LL * 24 * 3600,
				   &cfg->termination_grace) < 0)
			return err_set(
				-EINVAL,
				"coffred.conf line %u: termination_grace must be a duration from 0s to 3650d (90d)",
				lineno);
		return 0;
	}
	if (!strcmp(key, "token_lifetime")) {
		if (parse_duration(val, 60, 365 * 24 * 3600,
				   &cfg->token_lifetime) < 0)
			return err_set(
				-EINVAL,
				"coffred.conf line %u: token_lifetime must be a duration from 1m to 365d (30d, 12h, 90m)",
				lineno);
		return 0;
	}
	if (!strcmp(key, "quota_default")) {
		if (size_parse(val, &cfg->quota_default) < 0)
			return err_set(
				-EINVAL,
				"coffred.conf line %u: quota_default must be a size in bytes or with K, M, G or T (0: unlimited)",
				lineno);
		return 0;
	}
	if (!strcmp(key, "login_failures")) {
		if (parse_uint(val, 2, 1000, &v) < 0)
			return err_set(
				-EINVAL,
				"coffred.conf line %u: login_failures must be 2..1000",
				lineno);
		cfg->login_failures = (unsigned)v;
		return 0;
	}
	if (!strcmp(key, "login_lockout")) {
		if (parse_duration(val, 1, 30 * 24 * 3600,
				   &cfg->login_lockout) < 0)
			return err_set(
				-EINVAL,
				"coffred.conf line %u: login_lockout must be a duration from 1s to 30d",
				lineno);
		return 0;
	}
	return err_set(-EINVAL, "coffred.conf line %u: unknown key '%s'",
		       lineno, key);
}

int config_load(struct config *cfg, const char *datadir)
{
	char path[PATH_MAX];
	char *text = NULL, *line, *next;
	size_t len;
	unsigned lineno = 0;
	int rc;

	config_defaults(cfg);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", datadir,
			     CONFIG_FILE_NAME) >= sizeof(path))
		return err_set(-ENAMETOOLONG, "data directory path too long");
	rc = file_read_all(path, CONFIG_FILE_MAX, &text, &len);
	if (rc < 0)
		return err_set(rc, "cannot read '%s': %s", path, strerror(-rc));
	if (strlen(text) != len) {
		rc = err_set(-EINVAL, "'%s' holds a NUL byte", path);
		goto out;
	}
	for (line = text; line && *line; line = next) {
		char *eq, *key, *val;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strlen(line) > CONFIG_LINE_MAX) {
			rc = err_set(-EINVAL, "coffred.conf line %u: too long",
				     lineno);
			goto out;
		}
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			rc = err_set(
				-EINVAL,
				"coffred.conf line %u: expected 'key = value'",
				lineno);
			goto out;
		}
		*eq = '\0';
		key = trim(line);
		val = trim(eq + 1);
		rc = config_set(cfg, key, val, lineno);
		if (rc < 0)
			goto out;
	}
	rc = 0;
	if (cfg->max_per_address > cfg->max_connections)
		cfg->max_per_address = cfg->max_connections;
	if (!!cfg->tsa_url[0] != !!cfg->tsa_ca[0])
		rc = err_set(-EINVAL,
			     "coffred.conf: tsa_url and tsa_ca go together");
	else if (!!cfg->chunks[0] != !!cfg->s3_key_file[0])
		rc = err_set(
			-EINVAL,
			"coffred.conf: chunks = s3://... and s3_key_file go together");
	else if (cfg->ledger_pg && !cfg->index[0])
		rc = err_set(
			-EINVAL,
			"coffred.conf: ledger = postgresql needs index = postgresql://...");
out:
	free(text);
	return rc;
}

const char *config_signup_name(enum config_signup s)
{
	return s == CONFIG_SIGNUP_OPEN	 ? "open" :
	       s == CONFIG_SIGNUP_INVITE ? "invite" :
					   "closed";
}

int config_parse_index(struct config *cfg, const char *s)
{
	if (!strcmp(s, "sqlite")) {
		cfg->index[0] = '\0';
		return 0;
	}
	if ((strncmp(s, "postgresql://", 13) &&
	     strncmp(s, "postgres://", 11)) ||
	    strlen(s) >= sizeof(cfg->index) || strpbrk(s, " \t\r\n"))
		return err_set(
			-EINVAL,
			"bad index '%s': expected sqlite or postgresql://USER@HOST:PORT/DB",
			s);
	snprintf(cfg->index, sizeof(cfg->index), "%s", s);
	return 0;
}

int config_parse_ledger(struct config *cfg, const char *s)
{
	if (!strcmp(s, "dir"))
		cfg->ledger_shared = cfg->ledger_pg = 0;
	else if (!strcmp(s, "index"))
		cfg->ledger_shared = 1, cfg->ledger_pg = 0;
	else if (!strcmp(s, "postgresql"))
		cfg->ledger_shared = cfg->ledger_pg = 1;
	else
		return err_set(
			-EINVAL,
			"bad ledger '%s': expected dir, index or postgresql",
			s);
	return 0;
}

int config_save(const struct config *cfg, const char *datadir)
{
	char path[PATH_MAX];
	struct buf b;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", datadir,
			     CONFIG_FILE_NAME) >= sizeof(path))
		return err_set(-ENAMETOOLONG, "data directory path too long");
	buf_init(&b, CONFIG_FILE_MAX);
	rc = buf_appendf(&b,
			 "# coffred configuration (see coffred(8))\n"
			 "listen = %s%s%s:%u\n"
			 "threads = %u\n"
			 "max_connections = %u\n"
			 "max_connections_per_address = %u\n",
			 cfg->ipv6 ? "[" : "", cfg->host, cfg->ipv6 ? "]" : "",
			 (unsigned)cfg->port, cfg->threads,
			 cfg->max_connections, cfg->max_per_address);
	if (rc == 0) {
		char life[32], lock[32];

		format_duration(cfg->token_lifetime, life, sizeof(life));
		format_duration(cfg->login_lockout, lock, sizeof(lock));
		rc = buf_appendf(&b,
				 "token_lifetime = %s\n"
				 "login_failures = %u\n"
				 "login_lockout = %s\n",
				 life, cfg->login_failures, lock);
	}
	if (rc == 0 && cfg->tsa_url[0])
		rc = buf_appendf(&b, "tsa_url = %s\ntsa_ca = %s\n",
				 cfg->tsa_url, cfg->tsa_ca);
	if (rc == 0 && cfg->master_key[0])
		rc = buf_appendf(&b, "master_key = %s\n", cfg->master_key);
	if (rc == 0 && cfg->index[0])
		rc = buf_appendf(&b, "index = %s\n", cfg->index);
	if (rc == 0 && cfg->ledger_shared)
		rc = buf_appendf(&b, "ledger = %s\n",
				 cfg->ledger_pg ? "postgresql" : "index");
	if (rc == 0 && cfg->chunks[0])
		rc = buf_appendf(&b, "chunks = %s\ns3_key_file = %s\n",
				 cfg->chunks, cfg->s3_key_file);
	if (rc == 0 && cfg->spaces_per_user != CONFIG_SPACES_PER_USER)
		rc = buf_appendf(&b, "spaces_per_user = %u\n",
				 cfg->spaces_per_user);
	if (rc == 0 && cfg->termination_grace != CONFIG_TERMINATION_GRACE) {
		char grace[32];

		format_duration(cfg->termination_grace, grace, sizeof(grace));
		rc = buf_appendf(&b, "termination_grace = %s\n", grace);
	}
	if (rc == 0 && cfg->change_poll != CONFIG_CHANGE_POLL)
		rc = buf_appendf(&b, "change_poll = %llds\n",
				 (long long)cfg->change_poll);
	if (rc == 0 && cfg->signup != CONFIG_SIGNUP_CLOSED)
		rc = buf_appendf(&b, "signup = %s\n",
				 config_signup_name(cfg->signup));
	if (rc == 0 && cfg->sms_command[0])
		rc = buf_appendf(&b, "sms_command = %s\n", cfg->sms_command);
	if (rc == 0 && cfg->quota_default)
		rc = buf_appendf(&b, "quota_default = %llu\n",
				 (unsigned long long)cfg->quota_default);
	if (rc == 0 && cfg->trusted_proxies.n) {
		char list[CLIENT_ADDR_PROXIES_MAX * (CLIENT_ADDR_TEXT_MAX + 6)];

		client_nets_format(&cfg->trusted_proxies, list, sizeof(list));
		rc = buf_appendf(&b, "trusted_proxies = %s\n", list);
	}
	if (rc == 0)
		rc = file_write_atomic(path, b.data, b.len, 0644);
	if (rc < 0)
		rc = err_set(rc, "cannot write '%s': %s", path, strerror(-rc));
	buf_release(&b);
	return rc;
}
