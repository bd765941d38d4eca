/*
 * The config directory: resolution order, save/load round trip, the CA
 * copy, the cache key kept across calls, and modes 0600 (files) / 0700
 * (directory).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/store/session.h"
#include "common/crypto.h"
#include "common/fsutil.h"
#include "tests/lib/tap.h"

static char tmpdir[] = "/tmp/test_session.XXXXXX";

static int mode_of(const char *dir, const char *name)
{
	char path[512];
	struct stat sb;

	snprintf(path, sizeof(path), "%s%s%s", dir, name ? "/" : "",
		 name ? name : "");
	if (stat(path, &sb) < 0)
		return -1;
	return (int)(sb.st_mode & 07777);
}

static void test_session_dir(void)
{
	char want[512], *dir = NULL;

	snprintf(want, sizeof(want), "%s/cfg-arg", tmpdir);
	is_int(session_config_dir(want, &dir), 0, "--config dir");
	is_str(dir, want, "argument wins");
	is_int(mode_of(dir, NULL), 0700, "created 0700");
	free(dir);

	snprintf(want, sizeof(want), "%s/cfg-env", tmpdir);
	setenv("COFFRE_CONFIG", want, 1);
	is_int(session_config_dir(NULL, &dir), 0, "from COFFRE_CONFIG");
	is_str(dir, want, "environment used");
	free(dir);
	unsetenv("COFFRE_CONFIG");

	snprintf(want, sizeof(want), "%s/xdg", tmpdir);
	setenv("XDG_CONFIG_HOME", want, 1);
	snprintf(want, sizeof(want), "%s/xdg/coffre", tmpdir);
	is_int(session_config_dir(NULL, &dir), 0, "from XDG_CONFIG_HOME");
	is_str(dir, want, "XDG_CONFIG_HOME/coffre");
	free(dir);
	unsetenv("XDG_CONFIG_HOME");

	if (chdir(tmpdir) == 0) {
		snprintf(want, sizeof(want), "%s/rel/cfg", tmpdir);
		is_int(session_config_dir("rel/cfg", &dir), 0,
		       "relative --config");
		is_str(dir, want, "made absolute");
		free(dir);
	}

	setenv("HOME", tmpdir, 1);
	snprintf(want, sizeof(want), "%s/.config/coffre", tmpdir);
	is_int(session_config_dir(NULL, &dir), 0, "from HOME");
	is_str(dir, want, "HOME/.config/coffre");
	free(dir);
}

static void test_session_roundtrip(void)
{
	struct session s = { 0 }, l = { 0 };
	char dir[256], ca[512], cacopy[512];
	struct crypto_key k1, k2;

	snprintf(dir, sizeof(dir), "%s/cfg", tmpdir);
	mkdir(dir, 0700);
	is_int(session_load(&l, dir), -ENOENT, "not logged in: -ENOENT");

	snprintf(ca, sizeof(ca), "%s/ca.pem", tmpdir);
	file_write_atomic(ca, "-----BEGIN CERTIFICATE-----\n", 28, 0644);
	s.dir = dir;
	s.url = (char *)"https://127.0.0.1:8443";
	s.login = (char *)"alice";
	s.token = (char *)"0123456789abcdef0123456789abcdef";
	is_int(session_save(&s, ca), 0, "save with a CA file");
	is_int(mode_of(dir, "session.json"), 0600, "session.json is 0600");
	is_int(mode_of(dir, "cacert.pem"), 0600, "cacert.pem is 0600");
	is_int(session_load(&l, dir), 0, "load");
	is_str(l.url, s.url, "url");
	is_str(l.login, s.login, "login");
	is_str(l.token, s.token, "token");
	snprintf(cacopy, sizeof(cacopy), "%s/cacert.pem", dir);
	is_str(l.cacert, cacopy, "cacert points at the copy");
	is_str(l.dir, dir, "dir");
	session_release(&l);
	session_release(&l); /* twice is harmless */

	is_int(session_save(&s, NULL), 0, "save without a CA file");
	is_int(session_load(&l, dir), 0, "load");
	ok(l.cacert == NULL, "no cacert: system CAs");
	session_release(&l);

	snprintf(ca, sizeof(ca), "%s/session.json", dir);
	file_write_atomic(ca, "{\"url\": 3}", 10, 0600);
	is_int(session_load(&l, dir), -EBADMSG, "damaged file: -EBADMSG");

	is_int(session_cache_key(dir, &k1), 0, "cache key created");
	is_int(mode_of(dir, "cache.key"), 0600, "cache.key is 0600");
	is_int(session_cache_key(dir, &k2), 0, "cache key loaded");
	ok(k1.k && k2.k && !memcmp(k1.k, k2.k, CRYPTO_KEY_LEN),
	   "the same key both times");
	crypto_key_release(&k1);
	crypto_key_release(&k2);
	snprintf(ca, sizeof(ca), "%s/cache.key", dir);
	file_write_atomic(ca, "short", 5, 0600);
	is_int(session_cache_key(dir, &k1), -EBADMSG,
	       "a cache key of the wrong size: -EBADMSG");
}

int main(void)
{
	if (crypto_init() < 0 || !mkdtemp(tmpdir))
		tap_skip_all("no crypto or no temp dir");
	test_session_dir();
	test_session_roundtrip();
	rm_rf(tmpdir);
	return tap_done();
}
