/*
 * `coffre usage SPACE [--json]`: what a space holds and its quota, as the
 * server counts them (GET /v1/spaces/SPACE/usage, docs/protocol.md#usage):
 * the bytes of its distinct chunks (each counted once, however many
 * versions share it), its documents and versions, and the quota in force.
 * Any member may ask.
 */
#include "client/cmd/cmd_access.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/cmd/cmd_json.h"
#include "common/err.h"
#include "common/size.h"

static const char use[] = "usage SPACE [--json]";

static int usage_error(void)
{
	fprintf(stderr, "usage: coffre [--config DIR] %s\n", use);
	return 2;
}

static long long num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void print_human(const char *space, json_t *r)
{
	char a[32], b[32];
	json_t *q = json_object_get(r, "quota");
	long long bytes = num(r, "bytes");

	size_format((uint64_t)bytes, a, sizeof(a));
	printf("%s: %s stored (%lld bytes, after dedup)\n", space, a, bytes);
	printf("  documents: %lld\n", num(r, "documents"));
	printf("  versions: %lld\n", num(r, "versions"));
	if (json_is_integer(q) && json_integer_value(q) > 0) {
		long long quota = json_integer_value(q);

		size_format((uint64_t)quota, b, sizeof(b));
		printf("  quota: %s (%lld bytes), %lld%% used, %lld bytes left\n",
		       b, quota, bytes * 100 / quota,
		       quota > bytes ? quota - bytes : 0);
	} else {
		printf("  quota: unlimited\n");
	}
}

int cmd_usage(const char *config, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 0 },
					      { NULL, 0, NULL, 0 } };
	static const char *const keys[] = { "space",	"bytes", "documents",
					    "versions", "quota", "quota_from",
					    NULL };
	const char *vals[1] = { NULL };
	const char *space;
	char api[128];
	json_t *reply = NULL;
	int idx, c, rc;

	optind = 1;
	opterr = 0;
	while ((idx = -1, c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		if (c != 0 || idx < 0)
			return usage_error();
		vals[idx] = "";
	}
	if (argc - optind != 1)
		return usage_error();
	space = argv[optind];
	if (!space[0] || strlen(space) > 64 || strpbrk(space, "/?%&")) {
		fprintf(stderr, "coffre: bad space name '%s'\n", space);
		return 1;
	}
	snprintf(api, sizeof(api), "/v1/spaces/%s/usage", space);
	if (access_call(config, "GET", api, NULL, &reply)) {
		json_decref(reply);
		return 1;
	}
	rc = 0;
	if (vals[0])
		rc = cmd_json_print(cmd_json_pick(reply, keys));
	else
		print_human(space, reply);
	json_decref(reply);
	return rc;
}
