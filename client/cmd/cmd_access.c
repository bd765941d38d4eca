/*
 * `coffre member add|remove|list SPACE ...`, `coffre grant|revoke PATH
 * LOGIN ...` and `coffre delegate-admin SPACE LOGIN [--revoke]`: thin
 * clients of the access endpoints (docs/protocol.md, "Access").  The
 * server decides and records everything; these only name things and print
 * its answers.  grant and revoke take a path on a mounted drive and find
 * the space and the path inside it from the drive's own attributes.
 */
#include "client/cmd/cmd_access.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <jansson.h>

#include "client/cmd/cmd_json.h"
#include "client/store/session.h"
#include "client/store/transport.h"
#include "common/err.h"

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

int access_connect(const char *config, struct session *s, struct transport **t)
{
	char *dir = NULL;
	int rc;

	memset(s, 0, sizeof(*s));
	*t = NULL;
	rc = session_config_dir(config, &dir);
	if (rc == 0)
		rc = session_load(s, dir);
	if (rc == 0)
		rc = transport_new(t, s->url, s->token, s->cacert);
	free(dir);
	return rc;
}

int access_mount_path(const char *path, char space[65], char *inpath,
		      size_t inlen)
{
	char *real = realpath(path, NULL);
	char cur[PATH_MAX];
	size_t n;
	ssize_t got;

	if (!real)
		return err_set(-errno, "cannot resolve '%s': %s", path,
			       strerror(errno));
	snprintf(cur, sizeof(cur), "%s", real);
	/* Walk up to the mount root: the one folder with the space name. */
	for (;;) {
		got = getxattr(cur, "user.coffre.space", space, 64);
		if (got > 0)
			break;
		if (!strcmp(cur, "/")) {
			free(real);
			return err_set(-EINVAL, "'%s' is not on a coffre drive",
				       path);
		}
		*strrchr(cur, '/') = '\0';
		if (!cur[0])
			snprintf(cur, sizeof(cur), "/");
	}
	space[got] = '\0';
	n = strcmp(cur, "/") ? strlen(cur) : 0;
	if ((size_t)snprintf(inpath, inlen, "%s", real[n] ? real + n : "/") >=
	    inlen) {
		free(real);
		return err_set(-ENAMETOOLONG, "path too long");
	}
	free(real);
	return 0;
}

int access_call(const char *config, const char *method, const char *api,
		json_t *body, json_t **reply)
{
	struct session s;
	struct transport *t;
	int rc;

	rc = access_connect(config, &s, &t);
	if (rc == 0)
		rc = transport_json(t, method, api, body, reply);
	json_decref(body);
	transport_free(t);
	session_release(&s);
	return rc < 0 ? fail(rc) : 0;
}

static const char *str_of(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

/*
 * member list --json: one object, {"members": [{login, role, admin}],
 * "grants": [{login, right, path}], "invited": [{login, role,
 * invited_by}]}, admin always a boolean.
 */
static int member_list_json(json_t *reply)
{
	static const char *const mkeys[] = { "login", "role", NULL };
	static const char *const gkeys[] = { "login", "right", "path", NULL };
	static const char *const ikeys[] = { "login", "role", "invited_by",
					     NULL };
	json_t *doc = json_pack("{s:[], s:[], s:[]}", "members", "grants",
				"invited"),
	       *m;
	size_t i;

	json_array_foreach(json_object_get(reply, "members"), i, m)
	{
		json_t *o = cmd_json_pick(m, mkeys);

		if (o)
			json_object_set_new(
				o, "admin",
				json_boolean(json_is_true(
					json_object_get(m, "admin"))));
		if (!doc || json_array_append_new(
				    json_object_get(doc, "members"), o) < 0)
			break;
	}
	if (doc &&
	    (cmd_json_pick_all(json_object_get(doc, "grants"),
			       json_object_get(reply, "grants"), gkeys) < 0 ||
	     cmd_json_pick_all(json_object_get(doc, "invited"),
			       json_object_get(reply, "invited"), ikeys) < 0 ||
	     json_array_size(json_object_get(doc, "members")) !=
		     json_array_size(json_object_get(reply, "members")))) {
		json_decref(doc);
		doc = NULL;
	}
	json_decref(reply);
	return cmd_json_print(doc);
}

static int member_list(const char *config, const char *space, int as_json)
{
	char api[256];
	json_t *reply = NULL, *m, *g;
	size_t i;
	int st;

	snprintf(api, sizeof(api), "/v1/spaces/%s/members", space);
	st = access_call(config, "GET", api, NULL, &reply);
	if (st)
		return st;
	if (as_json)
		return member_list_json(reply);
	json_array_foreach(json_object_get(reply, "members"), i, m)
	{
		printf("%-24s %s%s\n",
		       json_string_value(json_object_get(m, "login")),
		       json_string_value(json_object_get(m, "role")),
		       json_is_true(json_object_get(m, "admin")) ? " admin" :
								   "");
	}
	json_array_foreach(json_object_get(reply, "grants"), i, g)
	{
		printf("grant %-18s %-8s %s\n",
		       json_string_value(json_object_get(g, "login")),
		       json_string_value(json_object_get(g, "right")),
		       json_string_value(json_object_get(g, "path")));
	}
	json_array_foreach(json_object_get(reply, "invited"), i, g)
	{
		printf("invited %-16s %s (by %s)\n", str_of(g, "login"),
		       str_of(g, "role"), str_of(g, "invited_by"));
	}
	json_decref(reply);
	return 0;
}

static int bad_ident(const char *what, const char *s)
{
	/* The server checks too; this only spares a round trip. */
	if (!s[0] || strlen(s) > 64 || strchr(s, '/') || strchr(s, '?') ||
	    strchr(s, '%') || strchr(s, '&')) {
		fprintf(stderr, "coffre: bad %s '%s'\n", what, s);
		return 1;
	}
	return 0;
}

/*
 * Parse argv (the command word first) with getopt_long, so options may
 * come before, between or after the words and "--" ends them; the words
 * are left in argv[optind..].  vals[i] gets the value of the i-th option
 * seen (NULL when absent); -1 on an unknown option.
 */
static int words(int argc, char **argv, const struct option *opts,
		 const char **vals)
{
	int c, idx;

	while ((idx = -1, c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		if (c != 0 || idx < 0)
			return -1;
		vals[idx] = optarg ? optarg : "";
	}
	return optind;
}

int cmd_member(const char *config, int argc, char **argv)
{
	static const char use[] =
		"member add SPACE LOGIN --role owner|assistant|intervenant|trusted\n"
		"       coffre [--config DIR] member remove SPACE LOGIN\n"
		"       coffre [--config DIR] member list SPACE [--json]";
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 0 },
		{ "json", no_argument, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	const char *vals[2] = { NULL, NULL }, *role;
	json_t *reply = NULL;
	char api[256];
	int st, at = words(argc, argv, opts, vals);

	if (at < 0)
		return usage(use);
	/* from here the words only: SUBCOMMAND SPACE [LOGIN] */
	argc -= at - 1;
	argv += at - 1;
	role = vals[0];
	if (argc < 3)
		return usage(use);
	if (bad_ident("space", argv[2]))
		return 1;
	if (!strcmp(argv[1], "list")) {
		if (argc != 3 || role)
			return usage(use);
		return member_list(config, argv[2], vals[1] != NULL);
	}
	if (vals[1])
		return usage(use); /* --json is for member list only */
	if (argc < 4 || bad_ident("login", argv[3]))
		return argc < 4 ? usage(use) : 1;
	if (!strcmp(argv[1], "remove")) {
		if (argc != 4 || role)
			return usage(use);
		snprintf(api, sizeof(api), "/v1/spaces/%s/members/%s", argv[2],
			 argv[3]);
		st = access_call(config, "DELETE", api, NULL, &reply);
		if (!st && json_is_true(json_object_get(reply, "withdrawn")))
			printf("invitation of %s to %s withdrawn\n", argv[3],
			       argv[2]);
		else if (!st)
			printf("%s removed from %s\n", argv[3], argv[2]);
		json_decref(reply);
		return st;
	}
	if (strcmp(argv[1], "add") || argc != 4 || !role || !*role)
		return usage(use);
	snprintf(api, sizeof(api), "/v1/spaces/%s/members", argv[2]);
	st = access_call(config, "POST", api,
			 json_pack("{s:s, s:s}", "login", argv[3], "role",
				   role),
			 &reply);
	/* Someone not yet a member is invited, and joins by accepting. */
	if (!st && !strcmp(str_of(reply, "status"), "invited"))
		printf("%s is invited to %s as %s (coffre accept %s)\n",
		       argv[3], argv[2], role, argv[2]);
	else if (!st)
		printf("%s is %s of %s\n", argv[3], role, argv[2]);
	json_decref(reply);
	return st;
}

/* grant PATH LOGIN RIGHT, or revoke PATH LOGIN (right NULL). */
static int grant(const char *config, const char *path, const char *login,
		 const char *right)
{
	char space[65], inpath[PATH_MAX], api[PATH_MAX * 3 + 256];
	char *ep = NULL, *el = NULL;
	int rc, st;

	if (bad_ident("login", login))
		return 1;
	rc = access_mount_path(path, space, inpath, sizeof(inpath));
	if (rc < 0)
		return fail(rc);
	snprintf(api, sizeof(api), "/v1/spaces/%s/grants", space);
	if (right) {
		st = access_call(config, "POST", api,
				 json_pack("{s:s, s:s, s:s}", "path", inpath,
					   "login", login, "right", right),
				 NULL);
		if (!st)
			printf("%s may %s %s\n", login, right, inpath);
		return st;
	}
	ep = transport_escape(inpath);
	el = transport_escape(login);
	if (!ep || !el) {
		free(ep);
		free(el);
		return fail(-ENOMEM);
	}
	snprintf(api, sizeof(api), "/v1/spaces/%s/grants?path=%s&login=%s",
		 space, ep, el);
	free(ep);
	free(el);
	st = access_call(config, "DELETE", api, NULL, NULL);
	if (!st)
		printf("%s no longer holds a grant on %s\n", login, inpath);
	return st;
}

int cmd_grant(const char *config, int argc, char **argv)
{
	static const struct option opts[] = { { NULL, 0, NULL, 0 } };
	int at = words(argc, argv, opts, NULL);

	if (at < 0 || argc - at != 3 ||
	    (strcmp(argv[at + 2], "read") && strcmp(argv[at + 2], "deposit")))
		return usage("grant PATH LOGIN read|deposit");
	return grant(config, argv[at], argv[at + 1], argv[at + 2]);
}

int cmd_revoke(const char *config, int argc, char **argv)
{
	static const struct option opts[] = { { NULL, 0, NULL, 0 } };
	int at = words(argc, argv, opts, NULL);

	if (at < 0 || argc - at != 2)
		return usage("revoke PATH LOGIN");
	return grant(config, argv[at], argv[at + 1], NULL);
}

int cmd_delegate_admin(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "revoke", no_argument, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	const char *vals[1] = { NULL };
	char api[256];
	int at = words(argc, argv, opts, vals), revoke = vals[0] != NULL, st;

	if (at < 0 || argc - at != 2)
		return usage("delegate-admin SPACE LOGIN [--revoke]");
	argc -= at - 1;
	argv += at - 1;
	if (bad_ident("space", argv[1]) || bad_ident("login", argv[2]))
		return 1;
	snprintf(api, sizeof(api), "/v1/spaces/%s/delegation", argv[1]);
	st = access_call(config, "POST", api,
			 json_pack("{s:s, s:b}", "login", argv[2], "admin",
				   !revoke),
			 NULL);
	if (!st)
		printf(revoke ? "%s no longer administers %s\n" :
				"%s administers %s\n",
		       argv[2], argv[1]);
	return st;
}
