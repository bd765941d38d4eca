/*
 * `coffre log PATH [--reads] [--by LOGIN] [--json]`: the events of a document or
 * folder on a mounted drive, oldest first, as the server's journal holds
 * them (only what the caller may read); --reads lists consultations
 * instead (who read which version, the server's time of receipt and the
 * drive's own time); --by keeps one person's events (what an intervenant
 * deposited, what they read).
 * Pages through the journal with "after".
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
#include "common/err.h"

#define LOG_PAGES_MAX 10000 /* 10 M events: a bound, not a limit in use */

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static const char *const event_keys[] = { "at",	     "login",  "kind", "path",
					  "version", "detail", NULL };

/* The event as its --json record; for reads, client_at from its detail. */
static int json_event(json_t *out, json_t *e, int reads)
{
	json_t *o = cmd_json_pick(e, event_keys), *d;

	if (o && reads) {
		d = json_loads(str(e, "detail"), 0, NULL);
		json_object_set_new(
			o, "client_at",
			d && json_is_string(json_object_get(d, "client_at")) ?
				json_incref(json_object_get(d, "client_at")) :
				json_null());
		json_decref(d);
	}
	return json_array_append_new(out, o);
}

static void print_event(json_t *e, int reads)
{
	json_t *v = json_object_get(e, "version");

	if (reads) {
		json_t *d = json_loads(str(e, "detail"), 0, NULL);

		printf("%s  %-16s read v%lld  %s  (client time %s)\n",
		       str(e, "at"), str(e, "login"),
		       (long long)json_integer_value(v), str(e, "path"),
		       d ? str(d, "client_at") : "?");
		json_decref(d);
		return;
	}
	printf("%s  %-16s %-14s %s", str(e, "at"), str(e, "login"),
	       str(e, "kind"), str(e, "path"));
	if (json_is_integer(v))
		printf(" v%lld", (long long)json_integer_value(v));
	if (str(e, "detail")[0])
		printf("  (%s)", str(e, "detail"));
	printf("\n");
}

int cmd_log(const char *config, int argc, char **argv)
{
	char space[65], inpath[PATH_MAX], api[PATH_MAX * 3 + 256];
	struct session s;
	struct transport *t = NULL;
	json_t *reply = NULL, *e;
	long long after = 0;
	const char *by = NULL;
	int reads = 0, rc;
	json_t *out = NULL;
	char *ep, *eby = NULL;
	size_t i;

	static const struct option opts[] = {
		{ "reads", no_argument, NULL, 'r' },
		{ "by", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	/* getopt_long permutes: options go before or after PATH */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r') {
			reads = 1;
		} else if (c == 'b') {
			by = optarg;
		} else if (c == 'j') {
			if (!out && !(out = json_array())) {
				fputs("coffre: out of memory\n", stderr);
				return 1;
			}
		} else {
			fprintf(stderr,
				"usage: coffre [--config DIR] log PATH [--reads] [--by LOGIN] [--json]\n");
			json_decref(out);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr,
			"usage: coffre [--config DIR] log PATH [--reads] [--by LOGIN] [--json]\n");
		json_decref(out);
		return 2;
	}
	rc = access_mount_path(argv[optind], space, inpath, sizeof(inpath));
	if (rc == 0)
		rc = access_connect(config, &s, &t);
	if (rc < 0) {
		fprintf(stderr, "coffre: %s\n", err_msg());
		json_decref(out);
		return 1;
	}
	ep = transport_escape(inpath);
	if (by)
		eby = transport_escape(by);
	for (int page = 0; ep && page < LOG_PAGES_MAX; page++) {
		int more;

		snprintf(api, sizeof(api),
			 "/v1/spaces/%s/events?path=%s&reads=%d&after=%lld%s%s",
			 space, ep, reads, after, eby ? "&login=" : "",
			 eby ? eby : "");
		rc = transport_json(t, "GET", api, NULL, &reply);
		if (rc < 0)
			break;
		json_array_foreach(json_object_get(reply, "events"), i, e)
		{
			if (!out)
				print_event(e, reads);
			else if (json_event(out, e, reads) < 0)
				rc = -ENOMEM;
		}
		after = json_integer_value(json_object_get(reply, "last"));
		more = json_is_true(json_object_get(reply, "more"));
		json_decref(reply);
		reply = NULL;
		if (!more || rc < 0)
			break;
	}
	if (!ep || (by && !eby))
		rc = -ENOMEM;
	free(ep);
	free(eby);
	transport_free(t);
	session_release(&s);
	if (rc < 0) {
		fprintf(stderr, "coffre: %s\n",
			err_msg()[0] ? err_msg() : strerror(-rc));
		json_decref(out);
		return 1;
	}
	return out ? cmd_json_print(out) : 0;
}
