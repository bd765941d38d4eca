/*
 * The account commands of the coffre CLI (docs/protocol.md, "Sessions"
 * and "Access"): `coffre logout` revokes this device's token on the
 * server and forgets it; `coffre sessions` lists the login's sessions and
 * revokes one, the others or all; `coffre passwd` changes the password
 * (the server revokes every other session) and seals the signing key of
 * this device again under the new one (userkey.h); `coffre invitations`,
 * `coffre accept SPACE` and `coffre decline SPACE` answer the invitations
 * of `coffre member add`.
 */
#include "client/cmd/cmd_access.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/cmd/cmd_json.h"
#include "client/store/session.h"
#include "client/store/transport.h"
#include "client/cmd/userkey.h"
#include "client/cmd/cmd_login.h"
#include "common/err.h"
#include "common/fsutil.h"

#define PASSWORD_FILE_MAX 4096

static int fail(int rc)
{
	fprintf(stderr, "coffre: %s\n",
		err_msg()[0] ? err_msg() : strerror(-rc));
	return 1;
}

static int usage(const char *text)
{
	fprintf(stderr, "usage: coffre [--config DIR] %s\n", text);
	return 2;
}

static const char *str_of(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

/* One request on the saved session; *dir (may be NULL) gets its dir. */
static int call(const char *config, const char *method, const char *api,
		json_t *body, json_t **reply, char **dir)
{
	struct session s;
	struct transport *t;
	int rc;

	rc = access_connect(config, &s, &t);
	if (rc == 0)
		rc = transport_json(t, method, api, body, reply);
	if (rc == 0 && dir) {
		*dir = strdup(s.dir);
		if (!*dir)
			rc = err_set(-ENOMEM, "out of memory");
	}
	json_decref(body);
	transport_free(t);
	session_release(&s);
	return rc;
}

/* Forget the session of this device; the exit status. */
static int forget(const char *config)
{
	char *dir = NULL;
	int rc = session_config_dir(config, &dir);

	if (rc == 0)
		rc = session_remove(dir);
	free(dir);
	return rc < 0 ? fail(rc) : 0;
}

int cmd_logout(const char *config, int argc, char **argv)
{
	int rc;

	if (argc != 1)
		return usage("logout");
	rc = call(config, "POST", "/v1/logout", NULL, NULL, NULL);
	/* Revoked or expired already: nothing left to stop on the server. */
	if (rc == -EKEYREJECTED) {
		err_clear();
		rc = 0;
	}
	if (rc < 0) {
		/* The token still works: keep it, so that logout can run
		 * again once the server answers. */
		fprintf(stderr,
			"coffre: cannot revoke the token on the server (session kept): %s\n",
			err_msg());
		return 1;
	}
	if (forget(config))
		return 1;
	printf("logged out\n");
	return 0;
}

static int sessions_list(const char *config, int as_json)
{
	static const char *const keys[] = { "id", "created_at", "expires_at",
					    "address", NULL };
	json_t *reply = NULL, *o, *out;
	size_t i;
	int rc;

	rc = call(config, "GET", "/v1/sessions", NULL, &reply, NULL);
	if (rc < 0)
		return fail(rc);
	if (as_json) {
		/* [{id, created_at, expires_at, address, current}] */
		out = json_array();
		json_array_foreach(json_object_get(reply, "sessions"), i, o)
		{
			json_t *r = cmd_json_pick(o, keys);

			if (r)
				json_object_set_new(
					r, "current",
					json_boolean(json_is_true(
						json_object_get(o,
								"current"))));
			if (!out || json_array_append_new(out, r) < 0) {
				json_decref(out);
				out = NULL;
				break;
			}
		}
		json_decref(reply);
		return cmd_json_print(out);
	}
	json_array_foreach(json_object_get(reply, "sessions"), i, o)
	{
		printf("%s  since %-20s  until %-20s  %-18s%s\n",
		       str_of(o, "id"),
		       str_of(o, "created_at")[0] ? str_of(o, "created_at") :
						    "?",
		       str_of(o, "expires_at"),
		       str_of(o, "address")[0] ? str_of(o, "address") : "?",
		       json_is_true(json_object_get(o, "current")) ?
			       "  (this device)" :
			       "");
	}
	json_decref(reply);
	return 0;
}

int cmd_sessions(const char *config, int argc, char **argv)
{
	static const char use[] =
		"sessions [--revoke ID | --revoke-others | --revoke-all | --json]";
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "revoke", required_argument, NULL, 'r' },
		{ "revoke-others", no_argument, NULL, 'o' },
		{ "revoke-all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *reply = NULL;
	const char *id = NULL;
	char api[128];
	int rc, c, what = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == '?' || c == ':' || what)
			return usage(use); /* unknown, or two of them */
		what = c;
		id = optarg;
	}
	if (optind != argc)
		return usage(use);
	if (!what || what == 'j')
		return sessions_list(config, what == 'j');
	if (what == 'r') {
		if (strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16) {
			fprintf(stderr,
				"coffre: bad session id '%s' (16 hex digits, as coffre sessions lists them)\n",
				id);
			return 1;
		}
		snprintf(api, sizeof(api), "/v1/sessions/%s", id);
		rc = call(config, "DELETE", api, NULL, NULL, NULL);
		if (rc < 0)
			return fail(rc);
		printf("session %s revoked\n", id);
		return 0;
	}
	rc = call(config, "DELETE",
		  what == 'o' ? "/v1/sessions?others=1" : "/v1/sessions", NULL,
		  &reply, NULL);
	if (rc < 0)
		return fail(rc);
	printf("%lld sessions revoked\n",
	       (long long)json_integer_value(
		       json_object_get(reply, "revoked")));
	json_decref(reply);
	/* This device's token went too: forget it. */
	if (what == 'a')
		return forget(config);
	return 0;
}

static void password_free(char *p)
{
	if (p) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

int cmd_passwd(const char *config, int argc, char **argv)
{
	static const char use[] =
		"passwd --password-file OLD --new-password-file NEW";
	static const struct option opts[] = {
		{ "password-file", required_argument, NULL, 'p' },
		{ "new-password-file", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *oldf = NULL, *newf = NULL;
	char *old = NULL, *new_pw = NULL, *dir = NULL;
	json_t *reply = NULL;
	int c, rc, status = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p')
			oldf = optarg;
		else if (c == 'n')
			newf = optarg;
		else
			return usage(use);
	}
	if (optind != argc || !oldf || !newf)
		return usage(use);
	rc = password_file_read(oldf, &old);
	if (rc == 0)
		rc = password_file_read(newf, &new_pw);
	if (rc == 0)
		rc = call(config, "POST", "/v1/password",
			  json_pack("{s:s, s:s}", "old_password", old,
				    "new_password", new_pw),
			  &reply, &dir);
	if (rc < 0) {
		fail(rc);
		goto out;
	}
	printf("password changed; %lld other sessions revoked\n",
	       (long long)json_integer_value(
		       json_object_get(reply, "revoked")));
	status = 0;
	/* The signing key was sealed under the old password. */
	rc = userkey_reseal(dir, old, new_pw);
	if (rc == -ENOENT) {
		err_clear();
	} else if (rc < 0) {
		fprintf(stderr,
			"coffre: warning: the signing key is not sealed under the new password: %s\n",
			err_msg());
	}
out:
	password_free(old);
	password_free(new_pw);
	json_decref(reply);
	free(dir);
	return status;
}

int cmd_invitations(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const keys[] = { "space", "role", "invited_by", "at",
					    NULL };
	json_t *reply = NULL, *o, *out = NULL;
	size_t i;
	int rc, c, as_json = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return usage("invitations [--json]");
		as_json = 1;
	}
	if (optind != argc)
		return usage("invitations [--json]");
	rc = call(config, "GET", "/v1/invitations", NULL, &reply, NULL);
	if (rc < 0)
		return fail(rc);
	if (as_json) {
		/* [{space, role, invited_by, at}] */
		out = json_array();
		if (out && cmd_json_pick_all(
				   out, json_object_get(reply, "invitations"),
				   keys) < 0) {
			json_decref(out);
			out = NULL;
		}
		json_decref(reply);
		return cmd_json_print(out);
	}
	json_array_foreach(json_object_get(reply, "invitations"), i, o)
	{
		printf("%-24s %-12s invited by %s on %s\n", str_of(o, "space"),
		       str_of(o, "role"), str_of(o, "invited_by"),
		       str_of(o, "at"));
	}
	json_decref(reply);
	return 0;
}

/* accept (POST) or decline (DELETE) the invitation to SPACE. */
static int answer(const char *config, int argc, char **argv, int accept)
{
	json_t *reply = NULL;
	char api[128];
	const char *space = argc == 2 ? argv[1] : "";
	int rc;

	if (argc != 2)
		return usage(accept ? "accept SPACE" : "decline SPACE");
	if (!*space || strlen(space) > 64 || strpbrk(space, "/?%&")) {
		fprintf(stderr, "coffre: bad space '%s'\n", space);
		return 1;
	}
	snprintf(api, sizeof(api), "/v1/invitations/%s", space);
	rc = call(config, accept ? "POST" : "DELETE", api, NULL, &reply, NULL);
	if (rc < 0)
		return fail(rc);
	if (accept)
		printf("you are %s of %s\n", str_of(reply, "role"), space);
	else
		printf("invitation to %s declined\n", space);
	json_decref(reply);
	return 0;
}

int cmd_accept(const char *config, int argc, char **argv)
{
	return answer(config, argc, argv, 1);
}

int cmd_decline(const char *config, int argc, char **argv)
{
	return answer(config, argc, argv, 0);
}
