/*
 * setxattr user.coffre.class on a folder; see folder_class.h.  A folder
 * still queued takes its class in its MKDIR, any other asks the server.
 */
#include "client/drive/folder_class.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/drive/fs_i.h"
#include "client/drive/rights.h"
#include "client/store/transport.h"
#include "common/err.h"

/*
 * A class set on a folder not on the server yet goes with its creation:
 * the queued MKDIR carries it (offline too), and the server applies its
 * rule to it there (a class other than the default needs the admin right
 * on the parent).  A MKDIR being sent is waited for, then the class is
 * set as on any folder.  0 when done, 1 when the folder is on the server.
 */
static int class_pending(struct fs *fs, struct node *dir, const char *class)
{
	struct pend *p;
	int rc = 1;

	pthread_mutex_lock(&fs->lock);
	while ((p = pend_mkdir(fs, dir)) && p->inflight)
		pthread_cond_wait(&fs->cond, &fs->lock);
	if (p) {
		struct node *parent = dir->parent;
		const char *pclass = parent && parent->rm.fclass[0] ?
					     parent->rm.fclass :
					     "restricted";
		int confidential = !strcmp(pclass, "confidential");
		const char *dflt = confidential ? "restricted" : pclass;
		char old[sizeof(p->op.fclass)];

		/* refused at once where the server would refuse it later */
		if (strcmp(class, dflt) && parent) {
			node_ref(parent);
			pthread_mutex_unlock(&fs->lock);
			rc = rights_check(fs, parent, RIGHTS_ADMIN);
			pthread_mutex_lock(&fs->lock);
			node_unref(fs, parent);
			if (rc < 0)
				goto out;
			p = pend_mkdir(fs, dir);
			if (!p || p->inflight) {
				/* sent meanwhile: set it on the server */
				rc = 1;
				goto out;
			}
		}
		memcpy(old, p->op.fclass, sizeof(old));
		snprintf(p->op.fclass, sizeof(p->op.fclass), "%s", class);
		rc = queue_update(fs->q, &p->op);
		if (rc < 0) {
			memcpy(p->op.fclass, old, sizeof(old));
			goto out;
		}
		snprintf(dir->rm.fclass, sizeof(dir->rm.fclass), "%s",
			 confidential ? "confidential" : class);
	}
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int folder_class_set(struct fs *fs, struct node *dir, const char *value,
		     size_t size)
{
	char class[16], api[256];
	json_t *body;
	char *path;
	int rc;

	if (size == 0 || size >= sizeof(class))
		return -EINVAL;
	memcpy(class, value, size);
	class[size] = '\0';
	if (class[size - 1] == '\n')
		class[size - 1] = '\0';
	if (strcmp(class, "public") && strcmp(class, "restricted") &&
	    strcmp(class, "confidential"))
		return err_set(
			-EINVAL,
			"user.coffre.class takes public, restricted or confidential");
	rc = class_pending(fs, dir, class);
	if (rc != 1)
		return rc;
	rc = rights_check(fs, dir, RIGHTS_ADMIN);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	path = node_path(dir);
	pthread_mutex_unlock(&fs->lock);
	if (!path)
		return -ENOENT;
	body = json_pack("{s:s, s:s}", "path", path, "class", class);
	snprintf(api, sizeof(api), "/v1/spaces/%s/class", fs->space);
	rc = body ? transport_json(fs->t, "POST", api, body, NULL) : -ENOMEM;
	json_decref(body);
	free(path);
	/* A folder still only queued is not on the server yet. */
	if (rc == -ENOENT)
		rc = -EAGAIN;
	if (rc == 0) {
		pthread_mutex_lock(&fs->lock);
		snprintf(dir->rm.fclass, sizeof(dir->rm.fclass), "%s", class);
		dir->listed_at_ms = 0; /* what is visible may have changed */
		pthread_mutex_unlock(&fs->lock);
	}
	return rc;
}
