/*
 * coffre login, signup and password-reset (cmd_login.h).  A sign-up and a
 * reset each take two runs: the first asks the server to send a code by
 * SMS, the second gives it back (--code).  A confirmed sign-up logs in
 * at once, as `coffre login` would.
 */
#include "client/cmd/cmd_login.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "client/cmd/userkey.h"
#include "client/store/session.h"
#include "client/store/transport.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/path.h"

#define PASSWORD_FILE_MAX 4096

static int fail(const char *what)
{
	fprintf(stderr, "coffre: %s: %s\n", what, err_msg());
	return 1;
}

static int usage(const char *why, const char *synopsis)
{
	fprintf(stderr, "coffre: %s\nusage: coffre [--config DIR] %s\n", why,
		synopsis);
	return 2;
}

int password_file_read(const char *path, char **out)
{
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = file_read_all(path, PASSWORD_FILE_MAX, out, &len);
	if (rc < 0)
		return err_set(rc, "cannot read password file '%s': %s", path,
			       rc == -E2BIG ? "too large" : strerror(-rc));
	(*out)[strcspn(*out, "\r\n")] = '\0';
	if (!**out) {
		free(*out);
		*out = NULL;
		return err_set(-EINVAL, "password file '%s' is empty", path);
	}
	return 0;
}

static void password_free(char *p)
{
	if (p) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

/* Invitations waiting for the person who just logged in. */
static void print_invitations(struct transport *t)
{
	json_t *reply = NULL, *o;
	size_t i;

	if (transport_json(t, "GET", "/v1/invitations", NULL, &reply) < 0) {
		err_clear();
		return;
	}
	json_array_foreach(json_object_get(reply, "invitations"), i, o)
	{
		const char *sp = json_string_value(json_object_get(o, "space"));

		printf("invited to %s as %s by %s: coffre accept %s\n", sp,
		       json_string_value(json_object_get(o, "role")),
		       json_string_value(json_object_get(o, "invited_by")), sp);
	}
	json_decref(reply);
}

/*
 * Keep the session of token for login at url: checked first, then saved
 * in config's directory with its cache key; with the password, the
 * e-signature key too (userkey.h).  0, or 1 with a message said.
 */
static int session_keep(const char *config, const char *url, const char *login,
			const char *token, const char *cacert,
			const char *password)
{
	struct transport *t = NULL;
	struct session s = { 0 };
	struct crypto_key key = { 0 };
	json_t *reply = NULL;
	char *dir = NULL;
	int rc;

	/* Check that the token works before keeping it. */
	rc = transport_new(&t, url, token, cacert);
	if (rc == 0)
		rc = transport_json(t, "GET", "/v1/spaces", NULL, &reply);
	if (rc < 0) {
		fail("login failed");
		goto out;
	}
	rc = session_config_dir(config, &dir);
	if (rc == 0) {
		s.dir = dir;
		s.url = (char *)url;
		s.login = (char *)login;
		s.token = (char *)token;
		rc = session_save(&s, cacert);
	}
	if (rc == 0)
		rc = session_cache_key(dir, &key);
	if (rc < 0) {
		fprintf(stderr, "coffre: %s\n", err_msg());
		goto out;
	}
	/* The e-signature key, sealed under the password (userkey.h). */
	if (!password)
		fprintf(stderr,
			"coffre: no signing key yet: `coffre login` makes it\n");
	else if (userkey_setup(dir, login, password, t) < 0)
		fprintf(stderr, "coffre: warning: no signing key: %s\n",
			err_msg());
	printf("logged in as %s at %s\n", login, url);
	print_invitations(t);
out:
	crypto_key_release(&key);
	json_decref(reply);
	transport_free(t);
	free(dir);
	return rc < 0;
}

/* The options of login, signup and password-reset. */
struct account_args {
	const char *url, *login, *password_file, *cacert;
	const char *phone, *email, *invite, *code;
};

static int account_args(int argc, char **argv, const char *synopsis,
			const char *allowed, struct account_args *a)
{
	static const struct option opts[] = {
		{ "password-file", required_argument, NULL, 'p' },
		{ "cacert", required_argument, NULL, 'c' },
		{ "phone", required_argument, NULL, 'n' },
		{ "email", required_argument, NULL, 'e' },
		{ "invite", required_argument, NULL, 'i' },
		{ "code", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const char **slot[128] = { 0 };
	int c;

	memset(a, 0, sizeof(*a));
	slot['p'] = &a->password_file;
	slot['c'] = &a->cacert;
	slot['n'] = &a->phone;
	slot['e'] = &a->email;
	slot['i'] = &a->invite;
	slot['k'] = &a->code;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c <= 0 || c >= 128 || !slot[c] || !strchr(allowed, c))
			return usage(c == ':' ? "missing option value" :
						"unknown option",
				     synopsis);
		if (*slot[c])
			return usage("option given twice", synopsis);
		*slot[c] = optarg;
	}
	if (argc - optind != 2)
		return usage("URL and LOGIN are needed", synopsis);
	a->url = argv[optind];
	a->login = argv[optind + 1];
	if (ident_validate(a->login) < 0) {
		fprintf(stderr, "coffre: invalid login '%s'\n", a->login);
		return 1;
	}
	if (a->cacert && access(a->cacert, R_OK) < 0) {
		fprintf(stderr, "coffre: cannot read CA file '%s': %s\n",
			a->cacert, strerror(errno));
		return 1;
	}
	return 0;
}

int cmd_login(const char *config, int argc, char **argv)
{
	static const char synopsis[] =
		"login URL LOGIN --password-file FILE [--cacert FILE]";
	struct account_args a;
	struct transport *t = NULL;
	char *password = NULL, *token = NULL;
	int rc;

	rc = account_args(argc, argv, synopsis, "pc", &a);
	if (rc)
		return rc;
	if (!a.password_file)
		return usage("login needs --password-file FILE", synopsis);
	if (password_file_read(a.password_file, &password) < 0)
		return fail("login");
	rc = transport_new(&t, a.url, NULL, a.cacert);
	if (rc == 0)
		rc = transport_login(t, a.login, password, &token);
	transport_free(t);
	if (rc < 0)
		rc = fail("login failed");
	else
		rc = session_keep(config, a.url, a.login, token, a.cacert,
				  password);
	password_free(password);
	password_free(token);
	return rc;
}

/* POST path with body (stolen) without a token; *reply as transport. */
static int post_open(const struct account_args *a, const char *path,
		     json_t *body, json_t **reply)
{
	struct transport *t = NULL;
	int rc = body ? transport_new(&t, a->url, NULL, a->cacert) : -ENOMEM;

	if (rc == 0)
		rc = transport_json(t, "POST", path, body, reply);
	json_decref(body);
	transport_free(t);
	return rc;
}

static const char *str_of(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

int cmd_signup(const char *config, int argc, char **argv)
{
	static const char synopsis[] =
		"signup URL LOGIN --phone +E164 [--email ADDR] --password-file FILE [--invite CODE] [--cacert FILE]\n"
		"       coffre [--config DIR] signup URL LOGIN --code CODE [--password-file FILE] [--cacert FILE]";
	struct account_args a;
	char *password = NULL;
	json_t *reply = NULL, *body;
	int rc;

	rc = account_args(argc, argv, synopsis, "pcneik", &a);
	if (rc)
		return rc;
	if (a.code && (a.phone || a.email || a.invite))
		return usage("--code goes alone, or with --password-file",
			     synopsis);
	if (!a.code && (!a.phone || !a.password_file))
		return usage("signup needs --phone and --password-file",
			     synopsis);
	if (a.password_file &&
	    password_file_read(a.password_file, &password) < 0)
		return fail("signup");
	if (a.code) {
		body = json_pack("{s:s, s:s}", "login", a.login, "code",
				 a.code);
		rc = post_open(&a, "/v1/signup/confirm", body, &reply);
		if (rc < 0) {
			rc = fail("signup failed");
		} else {
			printf("account %s made\n", a.login);
			rc = session_keep(config, a.url, a.login,
					  str_of(reply, "token"), a.cacert,
					  password);
		}
	} else {
		body = json_pack("{s:s, s:s, s:s}", "login", a.login, "phone",
				 a.phone, "password", password);
		if (body && a.email)
			json_object_set_new(body, "email",
					    json_string(a.email));
		if (body && a.invite)
			json_object_set_new(body, "invite",
					    json_string(a.invite));
		rc = post_open(&a, "/v1/signup", body, &reply);
		if (rc < 0) {
			rc = fail("signup failed");
		} else {
			printf("a code was sent by SMS to %s, valid until %s\n"
			       "confirm with: coffre signup %s %s --code CODE\n",
			       str_of(reply, "sent_to"),
			       str_of(reply, "expires_at"), a.url, a.login);
			rc = 0;
		}
	}
	json_decref(reply);
	password_free(password);
	return rc;
}

int cmd_password_reset(const char *config, int argc, char **argv)
{
	static const char synopsis[] =
		"password-reset URL LOGIN [--cacert FILE]\n"
		"       coffre [--config DIR] password-reset URL LOGIN --code CODE --password-file FILE [--cacert FILE]";
	struct account_args a;
	char *password = NULL;
	json_t *reply = NULL, *body;
	int rc;

	(void)config;
	rc = account_args(argc, argv, synopsis, "pck", &a);
	if (rc)
		return rc;
	if (!!a.code != !!a.password_file)
		return usage("--code and --password-file go together",
			     synopsis);
	if (!a.code) {
		body = json_pack("{s:s}", "login", a.login);
		rc = post_open(&a, "/v1/password-reset", body, &reply);
		if (rc < 0) {
			rc = fail("password reset failed");
		} else {
			printf("if %s has an account there, a code was sent by SMS to its number, valid until %s\n"
			       "then: coffre password-reset %s %s --code CODE --password-file FILE\n",
			       a.login, str_of(reply, "expires_at"), a.url,
			       a.login);
			rc = 0;
		}
		json_decref(reply);
		return rc;
	}
	if (password_file_read(a.password_file, &password) < 0)
		return fail("password reset");
	body = json_pack("{s:s, s:s, s:s}", "login", a.login, "code", a.code,
			 "password", password);
	rc = post_open(&a, "/v1/password-reset/confirm", body, &reply);
	if (rc < 0) {
		rc = fail("password reset failed");
	} else {
		printf("password of %s changed; %lld sessions ended: log in with coffre login\n",
		       a.login,
		       (long long)json_integer_value(
			       json_object_get(reply, "sessions_revoked")));
		rc = 0;
	}
	json_decref(reply);
	password_free(password);
	return rc;
}
