/*
 * Rights seen in listings, checked before an operation is queued; see
 * rights.h.  Folder rights live in each node's remote_meta (filled from
 * the parent's listing); the root has no parent listing, so its rights
 * come from its own (rights_root_set), into the root node's.
 */
#include "client/drive/rights.h"

#include <errno.h>
#include <string.h>

#include "client/drive/fs_i.h"

unsigned rights_parse(json_t *arr, int *known)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "read", RIGHTS_READ },
		{ "deposit", RIGHTS_DEPOSIT },
		{ "organize", RIGHTS_ORGANIZE },
		{ "admin", RIGHTS_ADMIN },
	};
	unsigned mask = 0;
	json_t *v;
	size_t i;

	*known = json_is_array(arr);
	json_array_foreach(arr, i, v)
	{
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (json_is_string(v) &&
			    !strcmp(json_string_value(v), names[k].name))
				mask |= names[k].bit;
	}
	return mask;
}

void rights_root_set(struct fs *fs, unsigned mask)
{
	pthread_mutex_lock(&fs->lock);
	fs->root->rm.rights = mask;
	fs->root->rm.has_rights = 1;
	pthread_mutex_unlock(&fs->lock);
}

int rights_check(struct fs *fs, struct node *dir, unsigned right)
{
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	if (dir == fs->root) {
		if (dir->rm.has_rights && !(dir->rm.rights & right))
			rc = -EACCES;
	} else if (dir->kind == NODE_DIR && dir->has_remote &&
		   dir->rm.has_rights && !(dir->rm.rights & right)) {
		rc = -EACCES;
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}
