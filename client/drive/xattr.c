/*
 * Extended attributes of the drive: the technical metadata of documents and
 * versions (user.coffre.version, .sha256, .deposited_by, .deposited_at,
 * .doc_id, .state: synced, pending or conflict), the class of folders, and
 * on the root the control interface of client/drive/mount.h (pending, error,
 * errors, sync, space, pid).  Values are plain text without a trailing NUL.  Only
 * user.coffre.sync may be set.
 */
#include "client/drive/fs_i.h"
#include "client/drive/folder_class.h"
#include "client/drive/rights.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/xattr.h>
#include <stdlib.h>
#include "client/store/queue.h"
#include "common/err.h"
#include "common/log.h"

#define XA_PREFIX "user.coffre."

static const char *const file_attrs[] = {
	"version", "sha256", "deposited_by", "deposited_at", "doc_id", "state",
};
static const char *const root_attrs[] = { "pending", "error", "errors",
					  "space",   "pid",   "status" };

/* A user's own attribute, kept with the version: user.* but user.coffre.* */
static int is_user_attr(const char *name)
{
	return !strncmp(name, "user.", 5) &&
	       strncmp(name, XA_PREFIX, strlen(XA_PREFIX));
}

/* synced, pending, or conflict: content the server refused twice, set
 * aside in staging/kept (see sync.c) and readable only here */
static const char *file_state(const struct node *n)
{
	if (n->kind != NODE_FILE)
		return "synced";
	if (n->staging_name && !strncmp(n->staging_name, "kept/", 5))
		return "conflict";
	if (n->staging_name || n->dep_seq || n->pending || n->writers)
		return "pending";
	return "synced";
}

/* The queued deposit whose version n shows, NULL when n shows one on the
 * server (fs->lock held): a file's newest close, or a pending version of
 * .versions. */
static struct pend *shown_pend(struct fs *fs, const struct node *n)
{
	if (n->kind == NODE_FILE && n->dep_seq &&
	    !(n->staging_name && !strncmp(n->staging_name, "kept/", 5)))
		return pend_find(fs, n->dep_seq);
	if (n->kind == NODE_VFILE && n->pend_seq)
		return pend_find(fs, n->pend_seq);
	return NULL;
}

/* The value of attribute key (without prefix) into out; -ENODATA if none.
 * fs->lock held. */
static int xa_value(struct fs *fs, const struct node *n, const char *key,
		    char *out, size_t cap)
{
	int file = n->kind == NODE_FILE || n->kind == NODE_VFILE;
	struct pend *p = file ? shown_pend(fs, n) : NULL;
	struct remote_meta pm;
	const struct remote_meta *rm = &n->rm;
	uint64_t version;

	out[0] = '\0';
	if (file && !strcmp(key, "state")) {
		snprintf(out, cap, "%s",
			 n->kind == NODE_VFILE && p ? "pending" :
						      file_state(n));
		return 0;
	}
	/* a close is a version at once: the one it will be on the server,
	 * with this drive's login and clock until the server answers */
	if (p) {
		pend_meta(fs, p, &pm);
		rm = &pm;
	}
	version = n->kind == NODE_VFILE && !p ? n->vnum : rm->version;
	if (file && version && (rm->doc_id[0] || p)) {
		if (!strcmp(key, "version"))
			snprintf(out, cap, "%" PRIu64, version);
		else if (!strcmp(key, "doc_id"))
			snprintf(out, cap, "%s", rm->doc_id);
		else if (!strcmp(key, "sha256"))
			snprintf(out, cap, "%s", rm->sha256);
		else if (!strcmp(key, "deposited_by"))
			snprintf(out, cap, "%s", rm->deposited_by);
		else if (!strcmp(key, "deposited_at"))
			snprintf(out, cap, "%s", rm->deposited_at);
		if (out[0])
			return 0;
	}
	if (n->kind == NODE_DIR && !strcmp(key, "class") && n->rm.fclass[0]) {
		snprintf(out, cap, "%s", n->rm.fclass);
		return 0;
	}
	if (n == fs->root) {
		if (!strcmp(key, "pending")) {
			snprintf(out, cap, "%u", HASH_COUNT(fs->pends));
			return 0;
		}
		if (!strcmp(key, "error")) {
			snprintf(out, cap, "%s", fs->last_error);
			return 0;
		}
		if (!strcmp(key, "errors")) {
			snprintf(out, cap, "%llu",
				 (unsigned long long)fs->errors);
			return 0;
		}
		if (!strcmp(key, "pid")) { /* coffre umount waits for it */
			snprintf(out, cap, "%ld", (long)getpid());
			return 0;
		}
		if (!strcmp(key, "space")) {
			snprintf(out, cap, "%s", fs->space);
			return 0;
		}
	}
	return -ENODATA;
}

static ssize_t xa_reply(const char *val, size_t len, char *buf, size_t size)
{
	if (!size)
		return (ssize_t)len;
	if (size < len)
		return -ERANGE;
	memcpy(buf, val, len);
	return (ssize_t)len;
}

/* Hash the content of the queued deposit n shows, when not done yet: a
 * file's SHA-256 is readable as soon as close() returns. */
static void pending_sha(struct fs *fs, const struct node *n)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	struct pend *p;
	uint64_t seq = 0;

	pthread_mutex_lock(&fs->lock);
	p = shown_pend(fs, n);
	if (p && !p->sha256[0])
		seq = p->seq;
	pthread_mutex_unlock(&fs->lock);
	if (seq && pend_sha256(fs, seq, hex) < 0)
		log_warn("cannot hash the pending content of '%s': %s", n->name,
			 err_msg());
}

ssize_t xattr_get(struct fs *fs, struct node *n, const char *name, char *buf,
		  size_t size)
{
	char val[FS_ERRMSG_MAX + 64];
	int rc;

	if (is_user_attr(name)) {
		uint8_t v[MANIFEST_XATTR_VALUE_MAX];
		json_t *j;
		long len = -ENODATA;

		pthread_mutex_lock(&fs->lock);
		j = n->uxattrs ? json_object_get(n->uxattrs, name) : NULL;
		if (j)
			len = manifest_b64_decode(json_string_value(j), v,
						  sizeof(v));
		pthread_mutex_unlock(&fs->lock);
		if (len < 0)
			return len == -ENODATA ? -ENODATA : -EIO;
		return xa_reply((const char *)v, (size_t)len, buf, size);
	}
	if (strncmp(name, XA_PREFIX, strlen(XA_PREFIX)))
		return -ENODATA;
	if (!strcmp(name, XA_PREFIX "sha256"))
		pending_sha(fs, n);
	if (n == fs->root && !strcmp(name, XA_PREFIX "status")) {
		char *json = fs_status_json(fs); /* takes fs->lock itself */
		ssize_t r;

		if (!json)
			return -ENOMEM;
		r = xa_reply(json, strlen(json), buf, size);
		free(json);
		return r;
	}
	pthread_mutex_lock(&fs->lock);
	rc = xa_value(fs, n, name + strlen(XA_PREFIX), val, sizeof(val));
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0)
		return rc;
	return xa_reply(val, strlen(val), buf, size);
}

static void list_add(struct fs *fs, const struct node *n, const char *key,
		     char *out, size_t cap, size_t *len)
{
	char val[FS_ERRMSG_MAX + 64];
	size_t l = strlen(XA_PREFIX) + strlen(key) + 1;

	if (xa_value(fs, n, key, val, sizeof(val)) < 0 && n != fs->root)
		return;
	if (*len + l <= cap)
		snprintf(out + *len, cap - *len, "%s%s", XA_PREFIX, key);
	*len += l;
}

ssize_t xattr_list(struct fs *fs, struct node *n, char *buf, size_t size)
{
	char names[MANIFEST_XATTRS_MAX * (MANIFEST_XATTR_NAME_MAX + 1) + 1024];
	size_t len = 0, i;
	const char *k;
	json_t *v;

	pending_sha(fs, n);
	pthread_mutex_lock(&fs->lock);
	if (n->kind == NODE_FILE && n->uxattrs)
		json_object_foreach(n->uxattrs, k, v)
		{
			size_t l = strlen(k) + 1;

			if (len + l <= sizeof(names))
				memcpy(names + len, k, l);
			len += l;
		}
	for (i = 0; i < ARRAY_SIZE(file_attrs); i++)
		if (n->kind == NODE_FILE || n->kind == NODE_VFILE)
			list_add(fs, n, file_attrs[i], names, sizeof(names),
				 &len);
	if (n->kind == NODE_DIR)
		list_add(fs, n, "class", names, sizeof(names), &len);
	if (n == fs->root)
		for (i = 0; i < ARRAY_SIZE(root_attrs); i++)
			list_add(fs, n, root_attrs[i], names, sizeof(names),
				 &len);
	pthread_mutex_unlock(&fs->lock);
	if (len > sizeof(names))
		return -E2BIG;
	return xa_reply(names, len, buf, size);
}

/*
 * user.* attributes other than user.coffre.*: kept with the version (the
 * manifest, docs/protocol.md), within the bounds of common/manifest.h, as
 * {"user.NAME": "base64"} on the node.  A change replaces the object (a
 * deposit being prepared may hold the old one) and is deposited
 * (nameop_meta).  Folders have no version to keep them: ENOTSUP.
 */
static int user_change(struct fs *fs, struct node *n, const char *name,
		       const void *value, size_t size, int flags, int remove)
{
	struct manifest m;
	json_t *cur, *nx = NULL;
	const char *k;
	json_t *v;
	char *b64 = NULL;
	int rc = 0, same = 0;

	if (n->kind != NODE_FILE)
		return -ENOTSUP;
	if (!manifest_xattr_name_valid(name))
		return -EINVAL;
	if (!remove && size > MANIFEST_XATTR_VALUE_MAX)
		return -E2BIG;
	if (!remove && !(b64 = malloc(MANIFEST_B64_LEN(size))))
		return -ENOMEM;
	if (b64)
		manifest_b64_encode((const uint8_t *)value, size, b64);
	manifest_init(&m);
	pthread_mutex_lock(&fs->lock);
	cur = n->uxattrs ? json_object_get(n->uxattrs, name) : NULL;
	if ((flags & XATTR_CREATE) && cur)
		rc = -EEXIST;
	else if (((flags & XATTR_REPLACE) || remove) && !cur)
		rc = -ENODATA;
	else if (!remove && cur && !strcmp(json_string_value(cur), b64))
		same = 1; /* cp -a onto itself: nothing new */
	if (rc < 0 || same)
		goto out;
	nx = n->uxattrs ? json_deep_copy(n->uxattrs) : json_object();
	if (!nx || (remove ? json_object_del(nx, name) :
			     json_object_set_new(nx, name, json_string(b64)))) {
		rc = -ENOMEM;
		goto out;
	}
	/* the bounds the server checks, checked here first */
	json_object_foreach(nx, k, v)
	{
		uint8_t buf[MANIFEST_XATTR_VALUE_MAX];
		long len = manifest_b64_decode(json_string_value(v), buf,
					       sizeof(buf));

		rc = len < 0 ? -EINVAL :
			       manifest_set_xattr(&m, k, buf, (size_t)len);
		if (rc < 0)
			goto out;
	}
	json_decref(n->uxattrs);
	n->uxattrs = json_object_size(nx) ? nx : NULL;
	if (!n->uxattrs)
		json_decref(nx);
	nx = NULL;
	n->ctime_local = fs_now_ms() / 1000;
out:
	pthread_mutex_unlock(&fs->lock);
	json_decref(nx);
	manifest_release(&m);
	free(b64);
	if (rc == 0 && !same)
		rc = nameop_meta(fs, n);
	return rc;
}

int xattr_remove(struct fs *fs, struct node *n, const char *name)
{
	if (is_user_attr(name))
		return user_change(fs, n, name, NULL, 0, 0, 1);
	/* the drive's own are computed, not stored: removing one changes
	 * nothing (rsync -X removes the attributes its source lacks, and
	 * must not fail on these); setting one is refused */
	if (!strncmp(name, XA_PREFIX, strlen(XA_PREFIX)))
		return 0;
	return -ENOTSUP;
}

int xattr_set(struct fs *fs, struct node *n, const char *name,
	      const char *value, size_t size, int flags)
{
	if (is_user_attr(name))
		return user_change(fs, n, name, value, size, flags, 0);
	if (!strcmp(name, XA_PREFIX "sync") && n == fs->root) {
		if (size < 3 || size > 4 || memcmp(value, "now", 3) ||
		    (size == 4 && value[3] != '\0' && value[3] != '\n'))
			return err_set(-EINVAL,
				       "user.coffre.sync takes \"now\"");
		/* the error stays: one met before this round was never
		 * reported yet; a refusal met again counts anew in
		 * user.coffre.errors, so coffre sync --wait sees it as news */
		pthread_mutex_lock(&fs->lock);
		sync_kick(fs, 1);
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	if (!strcmp(name, XA_PREFIX "class") && n->kind == NODE_DIR)
		return folder_class_set(fs, n, value, size);
	if (!strncmp(name, XA_PREFIX, strlen(XA_PREFIX)))
		return -EACCES;
	(void)flags;
	return -ENOTSUP;
}
