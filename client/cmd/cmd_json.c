/* The --json output of the record-printing commands (cmd_json.h). */
#include "client/cmd/cmd_json.h"

#include <stdio.h>

json_t *cmd_json_pick(json_t *src, const char *const *keys)
{
	json_t *o = json_object();

	for (; o && *keys; keys++) {
		json_t *v = json_object_get(src, *keys);

		if (json_object_set_new(o, *keys,
					v ? json_incref(v) : json_null()) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

int cmd_json_pick_all(json_t *dst, json_t *src, const char *const *keys)
{
	json_t *e;
	size_t i;

	json_array_foreach(src, i, e)
	{
		if (json_array_append_new(dst, cmd_json_pick(e, keys)) < 0)
			return -1;
	}
	return 0;
}

int cmd_json_print(json_t *doc)
{
	int bad = !doc ||
		  json_dumpf(doc, stdout,
			     JSON_INDENT(2) | JSON_PRESERVE_ORDER |
				     JSON_ENSURE_ASCII) < 0 ||
		  putchar('\n') == EOF || fflush(stdout) == EOF;

	json_decref(doc);
	if (bad)
		fputs("coffre: cannot write the JSON output\n", stderr);
	return bad;
}
