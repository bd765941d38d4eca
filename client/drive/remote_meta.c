/*
 * What a listing entry says of a name (its version, size, digest,
 * depositor, mode, class and rights), read from the server's JSON field by
 * field.  Below both the calls to the server and the offline copy of
 * listings, which parse the same entries.
 */
#include "client/drive/fs_i.h"
#include "client/drive/rights.h"

#include <stdlib.h>
#include <string.h>

void remote_str_copy(char *dst, size_t cap, json_t *v)
{
	const char *s = json_string_value(v);

	dst[0] = '\0';
	if (s && strlen(s) < cap)
		memcpy(dst, s, strlen(s) + 1);
}

int remote_meta_from_json(struct remote_meta *rm, json_t *e)
{
	json_t *v;

	memset(rm, 0, sizeof(*rm));
	remote_str_copy(rm->doc_id, sizeof(rm->doc_id),
			json_object_get(e, "doc_id"));
	v = json_object_get(e, "version");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		rm->version = (uint64_t)json_integer_value(v);
	v = json_object_get(e, "size");
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		rm->size = (uint64_t)json_integer_value(v);
	remote_str_copy(rm->sha256, sizeof(rm->sha256),
			json_object_get(e, "sha256"));
	remote_str_copy(rm->deposited_by, sizeof(rm->deposited_by),
			json_object_get(e, "deposited_by"));
	remote_str_copy(rm->deposited_at, sizeof(rm->deposited_at),
			json_object_get(e, "deposited_at"));
	v = json_object_get(e, "mtime");
	if (json_is_integer(v))
		rm->mtime = json_integer_value(v);
	v = json_object_get(e, "mode");
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= 07777) {
		rm->has_mode = 1;
		rm->mode = (uint32_t)json_integer_value(v);
	}
	remote_str_copy(rm->fclass, sizeof(rm->fclass),
			json_object_get(e, "class"));
	rm->rights =
		rights_parse(json_object_get(e, "rights"), &rm->has_rights);
	return 0;
}

void rentries_free(struct rentry *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(e[i].name);
		json_decref(e[i].xattrs);
	}
	free(e);
}
