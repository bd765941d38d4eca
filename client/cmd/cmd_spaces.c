/*
 * `coffre spaces [--json]`: the spaces the caller is a member of, with
 * their kind and the caller's role (GET /v1/spaces).
 * `coffre space create NAME [--kind KIND] [--plan default|none] [--json]`:
 * a space of one's own, owned by the caller, with the filing plan of its
 * kind (POST /v1/spaces, docs/protocol.md "Spaces", docs/plans.md).
 * `coffre space terminate NAME` and `coffre space reactivate NAME`: an
 * owner ends a space (read-only, destroyed after the server's grace) or
 * takes it back before.
 */
#include "client/cmd/cmd_access.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "client/cmd/cmd_json.h"
#include "common/err.h"
#include "common/path.h"

static const char use_spaces[] = "spaces [--json]";
static const char use_create[] =
	"space create NAME [--kind private|company|association] "
	"[--plan default|none] [--json]";

static const char use_end[] = "space terminate|reactivate NAME";

static int usage_error(const char *use)
{
	fprintf(stderr, "usage: coffre [--config DIR] %s\n", use);
	return 2;
}

int cmd_spaces(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { NULL, 0, NULL, 0 }
	};
	static const char *const keys[] = { "name", "kind", "role", NULL };
	json_t *reply = NULL, *list, *e, *out;
	int c, json = 0, rc;
	size_t i;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return usage_error(use_spaces);
		json = 1;
	}
	if (argc != optind)
		return usage_error(use_spaces);
	if (access_call(config, "GET", "/v1/spaces", NULL, &reply)) {
		json_decref(reply); /* the error's body */
		return 1;
	}
	list = json_object_get(reply, "spaces");
	if (json) {
		out = json_array();
		json_array_foreach(list, i, e)
		{
			if (out)
				json_array_append_new(out,
						      cmd_json_pick(e, keys));
		}
		rc = cmd_json_print(out);
	} else {
		json_array_foreach(list, i, e)
		{
			printf("%-24s %-12s %s\n",
			       json_string_value(json_object_get(e, "name")),
			       json_string_value(json_object_get(e, "kind")),
			       json_string_value(json_object_get(e, "role")));
		}
		rc = 0;
	}
	json_decref(reply);
	return rc;
}

static int space_create(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "plan", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const keys[] = { "name", "kind", "role", "folders",
					    NULL };
	const char *kind = "private", *plan = "default", *name;
	json_t *body, *reply = NULL;
	int c, json = 0, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'k')
			kind = optarg;
		else if (c == 'p')
			plan = optarg;
		else if (c == 'j')
			json = 1;
		else
			return usage_error(use_create);
	}
	if (argc - optind != 1)
		return usage_error(use_create);
	name = argv[optind];
	if (ident_validate(name) < 0) {
		fprintf(stderr, "coffre: bad space name '%s': %s\n", name,
			err_msg());
		return 1;
	}
	if (strcmp(plan, "default") && strcmp(plan, "none")) {
		fprintf(stderr,
			"coffre: --plan is default or none (a plan file of "
			"your own is for the server's operator, coffred(8))\n");
		return 2;
	}
	body = json_pack("{s:s, s:s, s:s}", "name", name, "kind", kind, "plan",
			 plan);
	if (access_call(config, "POST", "/v1/spaces", body, &reply)) {
		json_decref(reply); /* the error's body */
		return 1;
	}
	rc = 0;
	if (json)
		rc = cmd_json_print(cmd_json_pick(reply, keys));
	else
		printf("space %s created (%s, %lld folders of its filing "
		       "plan); mount it with: coffre mount %s DIR\n",
		       name, kind,
		       (long long)json_integer_value(
			       json_object_get(reply, "folders")),
		       name);
	json_decref(reply);
	return rc;
}

/* POST /v1/spaces/NAME/terminate or /reactivate. */
static int space_end(const char *config, int argc, char **argv, int terminate)
{
	char api[160];
	json_t *reply = NULL;
	int rc;

	if (argc != 2 || argv[1][0] == '-')
		return usage_error(use_end);
	if (ident_validate(argv[1]) < 0) {
		fprintf(stderr, "coffre: bad space name '%s'\n", argv[1]);
		return 1;
	}
	snprintf(api, sizeof(api), "/v1/spaces/%s/%s", argv[1],
		 terminate ? "terminate" : "reactivate");
	rc = access_call(config, "POST", api, NULL, &reply);
	if (rc)
		return rc;
	if (terminate)
		printf("space %s terminated: read-only for everyone; destroyed after %s unless an owner runs coffre space reactivate %s\n",
		       argv[1],
		       json_string_value(
			       json_object_get(reply, "destroyed_after")),
		       argv[1]);
	else
		printf("space %s reactivated\n", argv[1]);
	json_decref(reply);
	return 0;
}

int cmd_space(const char *config, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "create"))
		return space_create(config, argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "terminate"))
		return space_end(config, argc - 1, argv + 1, 1);
	if (argc >= 2 && !strcmp(argv[1], "reactivate"))
		return space_end(config, argc - 1, argv + 1, 0);
	return usage_error(use_create);
}
