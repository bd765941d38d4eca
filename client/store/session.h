/*
 * The client's configuration directory: who is logged in where.
 *
 * DIR is --config, else $COFFRE_CONFIG, else $XDG_CONFIG_HOME/coffre, else
 * ~/.config/coffre; created 0700.  Files, each written atomically, 0600:
 *   session.json  {"url": ..., "login": ..., "token": ..., "cacert": path|null}
 *   cacert.pem    copy of the CA file given at login (when given)
 *   cache.key     32 random bytes: the key of the local cache (made at first
 *                 login, kept across logins so the cache stays readable)
 * The default cache directory is not in DIR, which holds its key (see
 * session_cache_dir).
 */
#ifndef COFFRE_CLIENT_SESSION_H
#define COFFRE_CLIENT_SESSION_H

#include "common/crypto.h"

struct session {
	char *dir; /* config dir */
	char *url;
	char *login;
	char *token;
	char *cacert; /* NULL: system CAs */
};

/* Resolve the config directory (arg may be NULL) into *out (malloc'd) and
 * create it 0700. */
int session_config_dir(const char *arg, char **out);
/*
 * The default cache of space: $XDG_CACHE_HOME/coffre/SPACE, else
 * ~/.cache/coffre/SPACE, so that a copy of the config directory (which
 * holds cache.key) does not carry the cache too.  With a config directory
 * other than the default one (--config, $COFFRE_CONFIG) the name is
 * SPACE@HASH, HASH 16 hex digits of the SHA-256 of config_dir, so two
 * configs never share a cache.  A cache left at the old default place,
 * config_dir/cache/SPACE, is moved there (kept in place, and used, when it
 * cannot be renamed across file systems).  *out is malloc'd; not created.
 */
int session_cache_dir(const char *config_dir, int default_config,
		      const char *space, char **out);
/* Load session.json from dir; -ENOENT with "not logged in" message. */
int session_load(struct session *s, const char *dir);
/* Save session (and copy cacert_src into DIR/cacert.pem when not NULL). */
int session_save(const struct session *s, const char *cacert_src);
void session_release(struct session *s);
/* Remove DIR/session.json (logged out); 0 also when there was none. */
int session_remove(const char *dir);
/* Load DIR/cache.key, creating it when missing. */
int session_cache_key(const char *dir, struct crypto_key *key);

#endif /* COFFRE_CLIENT_SESSION_H */
