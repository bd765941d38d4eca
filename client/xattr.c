/*
 * Extended attributes of the drive: the technical metadata of documents and
 * versions (user.coffre.version, .sha256, .deposited_by, .deposited_at,
 * .doc_id, .state: synced, pending or conflict), the class of folders, and
 * on the root the control interface of client/mount.h (pending, error,
 * errors, sync, space, pid).  Values are plain text without a trailing NUL.  Only
 * user.coffre.sync may be set.
 */
#include "client/fs_i.h"
#include "client/rights.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/xattr.h>
#include "client/queue.h"
#include "common/err.h"
#include "common/log.h"

#define XA_PREFIX "user.coffre."

static const char *const file_attrs[] = {
	"version", "sha256", "deposited_by", "deposited_at", "doc_id", "state",
};
static const char *const root_attrs[] = { "pending", "error", "errors", "space",
					  "pid" };

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

	if (strncmp(name, XA_PREFIX, strlen(XA_PREFIX)))
		return -ENODATA;
	if (!strcmp(name, XA_PREFIX "sha256"))
		pending_sha(fs, n);
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
	char names[1024];
	size_t len = 0, i;

	pending_sha(fs, n);
	pthread_mutex_lock(&fs->lock);
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

int xattr_set(struct fs *fs, struct node *n, const char *name,
	      const char *value, size_t size, int flags)
{
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
		return rights_set_class(fs, n, value, size);
	if (!strncmp(name, XA_PREFIX, strlen(XA_PREFIX)))
		return -EACCES;
	(void)flags;
	return -ENOTSUP;
}
