/*
 * The client's configuration directory (session.h): where it is, the
 * session saved by `coffre login`, the CA file copy and the cache key.
 *
 * Every file is written whole with file_write_atomic (temp, fsync, rename),
 * mode 0600: the token and the cache key are secrets.
 */
#include "client/store/session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"

#define SESSION_MAX (64u * 1024)
#define CACERT_MAX  (1u * 1024 * 1024)

static char *join(const char *dir, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

int session_cache_dir(const char *config_dir, int default_config,
		      const char *space, char **out)
{
	char name[128], hex[OBJ_ID_HEX_LEN + 1], *base, *old = NULL, *dir;
	struct obj_id h;
	struct stat st;
	const char *env;
	int rc;

	*out = NULL;
	if ((env = getenv("XDG_CACHE_HOME")) && *env)
		base = join(env, "coffre");
	else if ((env = getenv("HOME")) && *env)
		base = join(env, ".cache/coffre");
	else
		return err_set(-ENOENT,
			       "no cache directory: set HOME or use --cache");
	if (!base)
		return err_set(-ENOMEM, "out of memory");
	hash_buf(&h, config_dir, strlen(config_dir));
	obj_id_to_hex(&h, hex);
	snprintf(name, sizeof(name), "%s%s%.16s", space,
		 default_config ? "" : "@", default_config ? "" : hex);
	dir = join(base, name);
	if (asprintf(&old, "%s/cache/%s", config_dir, space) < 0)
		old = NULL;
	if (!dir || !old) {
		free(base);
		free(dir);
		free(old);
		return err_set(-ENOMEM, "out of memory");
	}
	if (lstat(old, &st) == 0 && S_ISDIR(st.st_mode) &&
	    lstat(dir, &st) < 0 && errno == ENOENT) {
		rc = mkdir_p(base, 0700);
		if (rc == 0 && rename(old, dir) == 0) {
			fprintf(stderr, "coffre: moved the cache %s to %s\n",
				old, dir);
		} else {
			/* Another file system: the old place still works. */
			free(dir);
			dir = old;
			old = NULL;
		}
	}
	free(old);
	free(base);
	*out = dir;
	return 0;
}

int session_config_dir(const char *arg, char **out)
{
	const char *env;
	char *dir = NULL, *abs;
	int rc;

	*out = NULL;
	if (arg && *arg)
		dir = strdup(arg);
	else if ((env = getenv("COFFRE_CONFIG")) && *env)
		dir = strdup(env);
	else if ((env = getenv("XDG_CONFIG_HOME")) && *env)
		dir = join(env, "coffre");
	else if ((env = getenv("HOME")) && *env)
		dir = join(env, ".config/coffre");
	else
		return err_set(-ENOENT,
			       "no config directory: set HOME or use --config");
	if (!dir)
		return err_set(-ENOMEM, "out of memory");
	rc = mkdir_p(dir, 0700);
	if (rc < 0) {
		rc = err_set(rc, "cannot create config directory '%s': %s", dir,
			     strerror(-rc));
		free(dir);
		return rc;
	}
	/* Absolute, so paths derived from it (cacert.pem in session.json,
	 * the cache) stay valid once the mount daemon changes to /. */
	abs = realpath(dir, NULL);
	if (abs) {
		free(dir);
		dir = abs;
	}
	*out = dir;
	return 0;
}

static int get_str(json_t *o, const char *k, char **out, int required)
{
	json_t *v = json_object_get(o, k);

	*out = NULL;
	if (!v || json_is_null(v))
		return required ? -EBADMSG : 0;
	if (!json_is_string(v) || !*json_string_value(v))
		return -EBADMSG;
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

int session_load(struct session *s, const char *dir)
{
	char *path = join(dir, "session.json"), *text = NULL;
	json_t *o = NULL;
	size_t len;
	int rc;

	memset(s, 0, sizeof(*s));
	if (!path)
		return err_set(-ENOMEM, "out of memory");
	rc = file_read_all(path, SESSION_MAX, &text, &len);
	if (rc == -ENOENT) {
		rc = err_set(-ENOENT,
			     "not logged in (no '%s'): run coffre login", path);
		goto out;
	}
	if (rc < 0) {
		rc = err_set(rc, "cannot read '%s': %s", path, strerror(-rc));
		goto out;
	}
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	rc = -EBADMSG;
	if (json_is_object(o) && get_str(o, "url", &s->url, 1) == 0 &&
	    get_str(o, "login", &s->login, 1) == 0 &&
	    get_str(o, "token", &s->token, 1) == 0 &&
	    get_str(o, "cacert", &s->cacert, 0) == 0 &&
	    (s->dir = strdup(dir)) != NULL)
		rc = 0;
	if (rc < 0) {
		session_release(s);
		rc = err_set(rc, "'%s' is damaged: run coffre login again",
			     path);
	}
out:
	json_decref(o);
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	free(path);
	return rc;
}

int session_save(const struct session *s, const char *cacert_src)
{
	char *path = join(s->dir, "session.json"), *ca_path = NULL;
	char *text = NULL, *ca = NULL;
	const char *cacert = s->cacert;
	json_t *o = NULL;
	size_t len;
	int rc = -ENOMEM;

	if (!path)
		goto out;
	if (cacert_src) {
		ca_path = join(s->dir, "cacert.pem");
		if (!ca_path)
			goto out;
		rc = file_read_all(cacert_src, CACERT_MAX, &ca, &len);
		if (rc < 0) {
			rc = err_set(rc, "cannot read CA file '%s': %s",
				     cacert_src, strerror(-rc));
			goto out;
		}
		rc = file_write_atomic(ca_path, ca, len, 0600);
		if (rc < 0) {
			rc = err_set(rc, "cannot write '%s': %s", ca_path,
				     strerror(-rc));
			goto out;
		}
		cacert = ca_path;
	}
	rc = -ENOMEM;
	o = json_pack("{s:s, s:s, s:s, s:s?}", "url", s->url, "login", s->login,
		      "token", s->token, "cacert", cacert);
	if (!o)
		goto out;
	text = json_dumps(o, JSON_INDENT(2));
	if (!text)
		goto out;
	rc = file_write_atomic(path, text, strlen(text), 0600);
	if (rc < 0)
		rc = err_set(rc, "cannot write '%s': %s", path, strerror(-rc));
out:
	if (rc == -ENOMEM)
		err_set(rc, "out of memory");
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	json_decref(o);
	free(ca);
	free(ca_path);
	free(path);
	return rc;
}

void session_release(struct session *s)
{
	if (!s)
		return;
	free(s->dir);
	free(s->url);
	free(s->login);
	if (s->token) {
		explicit_bzero(s->token, strlen(s->token));
		free(s->token);
	}
	free(s->cacert);
	memset(s, 0, sizeof(*s));
}

int session_remove(const char *dir)
{
	char *path = join(dir, "session.json");
	int rc = 0;

	if (!path)
		return err_set(-ENOMEM, "out of memory");
	if (unlink(path) < 0 && errno != ENOENT)
		rc = err_set(-errno, "cannot remove '%s': %s", path,
			     strerror(errno));
	else
		rc = fsync_dir(dir);
	free(path);
	return rc;
}

/* Create DIR/cache.key without ever replacing one that appeared meanwhile:
 * the key is written to a temporary file, then hard-linked into place, which
 * fails with EEXIST instead of overwriting. */
static int cache_key_create(const char *dir, const char *path)
{
	struct tmpfile tf = tmpfile_init();
	uint8_t k[CRYPTO_KEY_LEN];
	int rc;

	crypto_random(k, sizeof(k));
	rc = tmpfile_open(&tf, dir);
	if (rc == 0)
		rc = write_full(tf.fd, k, sizeof(k));
	if (rc == 0 && fsync(tf.fd) < 0)
		rc = -errno;
	if (rc == 0 && link(tf.path, path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = fsync_dir(dir);
	tmpfile_release(&tf);
	explicit_bzero(k, sizeof(k));
	if (rc == -EEXIST)
		return 0; /* someone else made it: use theirs */
	if (rc < 0)
		return err_set(rc, "cannot create '%s': %s", path,
			       strerror(-rc));
	return 0;
}

int session_cache_key(const char *dir, struct crypto_key *key)
{
	char *path = join(dir, "cache.key"), *data = NULL;
	size_t len = 0;
	int rc;

	key->k = NULL;
	if (!path)
		return err_set(-ENOMEM, "out of memory");
	rc = file_read_all(path, 1024, &data, &len);
	if (rc == -ENOENT) {
		rc = cache_key_create(dir, path);
		if (rc == 0)
			rc = file_read_all(path, 1024, &data, &len);
	}
	if (rc < 0) {
		rc = err_set(rc, "cannot read '%s': %s", path, strerror(-rc));
	} else if (len != CRYPTO_KEY_LEN) {
		rc = err_set(-EBADMSG, "'%s' is not a cache key (%zu bytes)",
			     path, len);
	} else {
		rc = crypto_key_from_bytes(key, (const uint8_t *)data, len);
	}
	if (data) {
		explicit_bzero(data, len);
		free(data);
	}
	free(path);
	return rc;
}
