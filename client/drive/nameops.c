/*
 * Name operations of the drive (mkdir, create, unlink, rmdir, rename) and
 * the write-open/last-release pair.  Each applies to the local tree at once
 * and queues its counterpart for the server, coalescing so that editors'
 * and rsync's temporary names never reach the server:
 *   - renaming a document that is not on the server yet (its only queued op
 *     is a waiting DEPOSIT) rewrites that DEPOSIT's path; onto an existing
 *     document, the deposit becomes a new version of it;
 *   - unlinking such a document drops its DEPOSIT and its staging file.
 * A DEPOSIT path is rewritten only when no name operation was queued after
 * it, so the server still sees every operation on the state it expects.
 */
#include "client/drive/fs_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/drive/deposit_rules.h"
#include "client/drive/mount.h"
#include "client/drive/rights.h"
#include "common/err.h"
#include "common/log.h"
#include "common/path.h"

static int check_dir(const struct node *parent)
{
	if (parent->kind == NODE_VROOT || parent->kind == NODE_VDOC ||
	    parent->kind == NODE_VFILE)
		return -EROFS;
	if (parent->kind != NODE_DIR)
		return -ENOTDIR;
	if (!parent->linked && parent->parent == NULL && parent->name[0])
		return -ENOENT;
	return 0;
}

static int prepare(struct fs *fs, struct node *parent, const char *name,
		   int validate)
{
	int rc = check_dir(parent);

	if (rc < 0)
		return rc;
	if (validate) {
		rc = name_validate_user(name); /* new names: EINVAL */
		if (rc < 0)
			return rc;
	} else if (!strcmp(name, VERSIONS_NAME)) {
		return -EROFS; /* the virtual versions folder itself */
	}
	return tree_revalidate(fs, parent, 0);
}

static char *child_path(const struct node *parent, const char *name)
{
	char *pp = node_path(parent), *p;

	if (!pp)
		return NULL;
	p = path_join(pp, name);
	free(pp);
	return p;
}

int nameop_mkdir(struct fs *fs, struct node *parent, const char *name,
		 mode_t mode, struct node **out)
{
	struct queue_op op;
	struct node *n;
	int rc;

	rc = prepare(fs, parent, name, 1);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	if (node_child(parent, name)) {
		rc = -EEXIST;
		goto out;
	}
	memset(&op, 0, sizeof(op));
	op.kind = QUEUE_MKDIR;
	op.path = child_path(parent, name);
	if (!op.path) {
		rc = -ENOENT;
		goto out;
	}
	n = node_new(fs, parent, name, NODE_DIR);
	if (!n) {
		free(op.path);
		rc = -ENOMEM;
		goto out;
	}
	n->listed = 1;
	n->mode = mode & 07777;
	n->has_mode = 1; /* until the server lists it with this mode */
	/* the ledger keeps a folder's mode (.coffre-folder): 0755 unstated */
	op.has_fmode = n->mode != FOLDER_MODE_DEFAULT;
	op.fmode = n->mode;
	/* its class at once: the server's default for a new folder, the
	 * parent's effective class (a confidential parent makes it
	 * confidential whatever it states) */
	snprintf(n->rm.fclass, sizeof(n->rm.fclass), "%s",
		 parent->rm.fclass[0] ? parent->rm.fclass : "restricted");
	op.ready_at_ms = fs_now_ms() + fs->o->settle_ms;
	rc = pend_append(fs, &op, n, NULL);
	free(op.path);
	if (rc < 0) {
		node_detach(fs, n);
		goto out;
	}
	node_ref(n);
	*out = n;
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int nameop_open_write(struct fs *fs, struct node *n, int trunc)
{
	int rc;

	/* no wait for an upload in flight: the deposit it sends is a file
	 * no write touches (copy on write, content.c) */
	pthread_mutex_lock(&fs->lock);
	n->writers++;
	pthread_mutex_unlock(&fs->lock);
	pthread_mutex_lock(&n->lock);
	rc = content_staging(fs, n, trunc);
	pthread_mutex_unlock(&n->lock);
	if (rc < 0) {
		pthread_mutex_lock(&fs->lock);
		n->writers--;
		pthread_mutex_unlock(&fs->lock);
	}
	return rc;
}

int nameop_flush_write(struct fs *fs, struct node *n)
{
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	if (deposit_on_close(n->linked, n->wrote, 0) == DEPOSIT_CLOSE_QUEUE) {
		rc = pend_deposit(fs, n);
		if (rc < 0)
			log_error("cannot queue the deposit of '%s': %s",
				  n->name, err_msg());
		else
			n->wrote = 0;
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

/* Long enough for a shell to write after closing its duplicate of the
 * descriptor, short enough not to be noticed. */
#define FLUSH_EMPTY_HOLD_MS 500

int nameop_flush_unwritten(struct fs *fs, struct node *n)
{
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	if (deposit_on_close(n->linked, n->wrote, 0) == DEPOSIT_CLOSE_QUEUE) {
		rc = pend_deposit_hold(fs, n, FLUSH_EMPTY_HOLD_MS);
		if (rc < 0) {
			log_error("cannot queue the deposit of '%s': %s",
				  n->name, err_msg());
		} else {
			n->wrote = 0;
			n->flush_empty_seq = n->dep_seq;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void nameop_write_after_flush(struct fs *fs, struct node *n)
{
	struct pend *p;
	uint64_t seq;

	pthread_mutex_lock(&fs->lock);
	seq = n->flush_empty_seq;
	n->flush_empty_seq = 0;
	p = seq && n->dep_seq == seq ? pend_find(fs, seq) : NULL;
	/* Still waiting, the newest, and on the staging file this open file
	 * writes: the writes that follow make the version instead.  Sent
	 * already, or another open wrote since: it stays a version, and
	 * these writes go to a copy (content_cow). */
	if (p && !p->inflight && p->op.staging && n->staging_name &&
	    !strcmp(p->op.staging, n->staging_name)) {
		pend_drop(fs, p);
		n->sealed = 0;
		n->wrote = 1;
	}
	pthread_mutex_unlock(&fs->lock);
}

void nameop_release_write(struct fs *fs, struct node *n)
{
	int rc, retired = 0;

	pthread_mutex_lock(&fs->lock);
	if (--n->writers) {
		pthread_mutex_unlock(&fs->lock);
		return;
	}
	if (!n->linked) {
		/* unlinked while open: nothing to deposit */
		if (!n->dep_seq && n->staging_name && !n->has_remote &&
		    !n->sealed) {
			content_staging_delete(fs, n->staging_name);
			retired = 1;
		}
	} else if (n->wrote) {
		/* written after its close (FLUSH), as through a mapping */
		rc = pend_deposit(fs, n);
		if (rc < 0)
			log_error("cannot queue the deposit of '%s': %s",
				  n->name, err_msg());
		else
			n->wrote = 0;
	}
	pthread_mutex_unlock(&fs->lock);
	if (retired)
		content_staging_reap(fs); /* the unlink, out of fs->lock */
}

int nameop_meta(struct fs *fs, struct node *n)
{
	enum deposit_meta what;
	struct pend *p;
	int rc;

	pthread_mutex_lock(&fs->lock);
	p = n->kind == NODE_FILE && n->dep_seq ? pend_find(fs, n->dep_seq) :
						 NULL;
	what = deposit_on_meta(p && !p->inflight, n->writers,
			       n->has_remote || n->dep_seq);
	if (what == DEPOSIT_META_ON_CLOSE)
		n->wrote = 1; /* the last close deposits, even unwritten */
	pthread_mutex_unlock(&fs->lock);
	/* a waiting deposit reads the node's metadata when it leaves */
	if (what != DEPOSIT_META_QUEUE)
		return 0;
	/* as a write-open and a close that changed nothing but the
	 * metadata: a version of the same bytes, copy-on-write over them */
	rc = nameop_open_write(fs, n, 0);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	n->wrote = 1;
	pthread_mutex_unlock(&fs->lock);
	rc = nameop_flush_write(fs, n);
	nameop_release_write(fs, n);
	return rc;
}

int nameop_dir_mode(struct fs *fs, struct node *dir, uint32_t mode)
{
	struct queue_op op;
	struct pend *p;
	int rc;

	mode &= 07777;
	/* refused now where the server would refuse the queued op later */
	rc = rights_check(fs, dir, RIGHTS_ORGANIZE);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	while ((p = pend_mkdir(fs, dir)) && p->inflight)
		pthread_cond_wait(&fs->cond, &fs->lock);
	if (p) {
		/* not sent yet: the folder is made with it */
		int had = p->op.has_fmode;
		uint32_t was = p->op.fmode;

		p->op.has_fmode = mode != FOLDER_MODE_DEFAULT;
		p->op.fmode = mode;
		rc = queue_update(fs->q, &p->op);
		if (rc < 0) {
			p->op.has_fmode = had;
			p->op.fmode = was;
		}
	} else {
		memset(&op, 0, sizeof(op));
		op.kind = QUEUE_CHMOD;
		op.path = node_path(dir);
		op.has_fmode = 1;
		op.fmode = mode;
		op.ready_at_ms = fs_now_ms();
		rc = op.path ? pend_append(fs, &op, dir, NULL) : -ENOENT;
		free(op.path);
	}
	if (rc == 0) {
		dir->mode = mode;
		dir->has_mode = 1;
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int nameop_create(struct fs *fs, struct node *parent, const char *name,
		  mode_t mode, int flags, struct node **out)
{
	struct node *n;
	int rc;

	rc = prepare(fs, parent, name, 1);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	n = node_child(parent, name);
	if (n) {
		if ((flags & O_EXCL) || n->kind != NODE_FILE) {
			pthread_mutex_unlock(&fs->lock);
			return n->kind == NODE_DIR && !(flags & O_EXCL) ?
				       -EISDIR :
				       -EEXIST;
		}
		node_ref(n);
		pthread_mutex_unlock(&fs->lock);
		rc = nameop_open_write(fs, n, !!(flags & O_TRUNC));
		goto done;
	}
	n = node_new(fs, parent, name, NODE_FILE);
	if (!n) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOMEM;
	}
	n->mode = mode & 07777;
	n->wrote = 1; /* `touch x` makes x, even empty */
	n->mtime_local = fs_now_ms() / 1000;
	node_ref(n);
	pthread_mutex_unlock(&fs->lock);
	rc = nameop_open_write(fs, n, 1);
done:
	if (rc < 0) {
		pthread_mutex_lock(&fs->lock);
		if (!n->has_remote && !n->dep_seq && !n->writers)
			node_detach(fs, n);
		node_unref(fs, n);
		pthread_mutex_unlock(&fs->lock);
		return rc;
	}
	*out = n;
	return 0;
}

/* Drop the waiting, never-committed deposits of n and their staging files
 * (fs->lock held).  Returns 1 when dropped, 0 when n has none or one is
 * being sent (then none is dropped). */
static int drop_new_deposit(struct fs *fs, struct node *n)
{
	struct pend *p, *tmp;
	unsigned count;
	int inflight;

	pend_deposits(fs, n, &count, &inflight);
	if (!count || inflight)
		return 0;
	HASH_ITER(hh, fs->pends, p, tmp)
	{
		if (p->node != n || p->op.kind != QUEUE_DEPOSIT)
			continue;
		if (p->op.staging) {
			if (n->staging_name &&
			    !strcmp(n->staging_name, p->op.staging)) {
				free(n->staging_name);
				n->staging_name = NULL;
				n->sealed = 0;
			}
			content_staging_delete(fs, p->op.staging);
		}
		pend_drop(fs, p);
	}
	return 1;
}

/* A file replaced or removed under name: its queued deposits are dropped
 * only when name is temporary (fs->lock held); every other name's closes
 * stay deposits. */
static int drop_temp_deposit(struct fs *fs, struct node *n, const char *name)
{
	if (!deposit_name_is_temp(name))
		return 0;
	return drop_new_deposit(fs, n);
}

int nameop_unlink(struct fs *fs, struct node *parent, const char *name)
{
	enum deposit_removal verdict;
	struct queue_op op;
	struct node *c;
	char *path = NULL;
	unsigned count;
	int rc, inflight;

	rc = prepare(fs, parent, name, 0);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	c = node_child(parent, name);
	if (!c) {
		rc = -ENOENT;
		goto out;
	}
	if (c->kind == NODE_DIR) {
		rc = -EISDIR;
		goto out;
	}
	path = node_path(c);
	if (!path) {
		rc = -ENOMEM;
		goto out;
	}
	node_ref(c);
	node_detach(fs, c);
	pend_deposits(fs, c, &count, &inflight);
	verdict = deposit_on_remove(deposit_name_is_temp(name), c->has_remote,
				    count, inflight);
	if (verdict == DEPOSIT_REMOVAL_DROP && drop_new_deposit(fs, c)) {
		rc = 0; /* never reached the server: nothing to tell it */
	} else if (verdict != DEPOSIT_REMOVAL_NOTHING) {
		memset(&op, 0, sizeof(op));
		op.kind = QUEUE_UNLINK;
		op.path = path;
		op.ready_at_ms = fs_now_ms() + fs->o->settle_ms;
		rc = pend_append(fs, &op, NULL, path);
		if (rc < 0)
			node_attach(parent, c, name); /* nothing changed */
	} else if (c->staging_name && !c->writers && !c->sealed) {
		content_staging_delete(fs, c->staging_name);
	}
	node_unref(fs, c);
out:
	pthread_mutex_unlock(&fs->lock);
	content_staging_reap(fs); /* a dropped staging, out of fs->lock */
	free(path);
	return rc;
}

int nameop_rmdir(struct fs *fs, struct node *parent, const char *name)
{
	struct queue_op op;
	struct node *c;
	char *path = NULL;
	int rc;

	rc = prepare(fs, parent, name, 0);
	if (rc < 0)
		return rc;
	if (!strcmp(name, VERSIONS_NAME))
		return -EROFS;
	pthread_mutex_lock(&fs->lock);
	c = node_child(parent, name);
	if (c)
		node_ref(c);
	pthread_mutex_unlock(&fs->lock);
	if (!c)
		return -ENOENT;
	if (c->kind != NODE_DIR) {
		rc = -ENOTDIR;
		goto unref;
	}
	/* emptiness must be known, not assumed */
	rc = tree_revalidate(fs, c, 0);
	if (rc < 0)
		goto unref;
	pthread_mutex_lock(&fs->lock);
	if (!c->linked || c->parent != parent) {
		rc = -ENOENT;
	} else if (!c->listed) {
		rc = -EIO;
	} else if (HASH_CNT(hh_child, c->children)) {
		rc = -ENOTEMPTY;
	} else if (!(path = node_path(c))) {
		rc = -ENOMEM;
	} else {
		memset(&op, 0, sizeof(op));
		op.kind = QUEUE_RMDIR;
		op.path = path;
		op.ready_at_ms = fs_now_ms() + fs->o->settle_ms;
		rc = pend_append(fs, &op, NULL, path);
		if (rc == 0)
			node_detach(fs, c);
	}
	pthread_mutex_unlock(&fs->lock);
unref:
	pthread_mutex_lock(&fs->lock);
	node_unref(fs, c);
	pthread_mutex_unlock(&fs->lock);
	free(path);
	return rc;
}

static int is_ancestor(const struct node *a, const struct node *n)
{
	for (; n; n = n->parent)
		if (n == a)
			return 1;
	return 0;
}

/* Move src to newparent/newname in the tree (fs->lock held).  Only src
 * leaves its old parent: its children move with it and stay known (a
 * node_detach would drop them, and the folder would list empty until the
 * server has the move). */
static void tree_move(struct fs *fs, struct node *src, struct node *newparent,
		      const char *newname)
{
	node_ref(src);
	if (src->linked) {
		HASH_DELETE(hh_child, src->parent->children, src);
		src->linked = 0;
	}
	src->parent = NULL;
	node_attach(newparent, src, newname);
	node_unref(fs, src);
}

/* Rewrite a waiting DEPOSIT of a never-committed document (fs->lock). */
static int rename_coalesce(struct fs *fs, struct node *src, struct node *dst,
			   struct node *newparent, const char *newname,
			   const char *to)
{
	struct pend *p = pend_find(fs, src->dep_seq), *dlast = NULL;
	unsigned dcount = 0;
	int keep = 0;
	char *old;
	int rc;

	if (dst) {
		int dinflight;

		dlast = pend_deposits(fs, dst, &dcount, &dinflight);
		/* dst's own closes stay deposits (a temporary name's do
		 * not): this content follows them as the next version of
		 * the same name, which needs them all queued before it and
		 * none on its way */
		keep = dcount && !deposit_name_is_temp(dst->name);
		if (dinflight || (keep && dlast->seq > src->dep_seq))
			return 1; /* cannot: take the MOVE path */
		if (dst->has_remote) {
			/* the deposit becomes the next version of dst */
			src->rm = dst->rm;
			src->has_remote = 1;
			memcpy(p->op.base_doc, dst->rm.doc_id,
			       sizeof(p->op.base_doc));
			p->op.base_version =
				dst->rm.version + (keep ? dcount : 0);
		}
	}
	old = p->op.path;
	p->op.path = strdup(to);
	if (!p->op.path) {
		p->op.path = old;
		return -ENOMEM;
	}
	rc = queue_update(fs->q, &p->op);
	if (rc < 0) {
		free(p->op.path);
		p->op.path = old;
		return rc;
	}
	free(old);
	if (dst) {
		if (keep)
			pend_deposits_move(fs, dst, src);
		else
			drop_new_deposit(fs, dst);
		node_detach(fs, dst);
	}
	tree_move(fs, src, newparent, newname);
	return 0;
}

int nameop_rename(struct fs *fs, struct node *parent, const char *name,
		  struct node *newparent, const char *newname, unsigned flags)
{
	struct node *src = NULL, *dst;
	struct queue_op op;
	char *from = NULL, *to = NULL;
	int rc;

	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL; /* RENAME_EXCHANGE, RENAME_WHITEOUT */
	rc = prepare(fs, parent, name, 0);
	if (rc == 0)
		rc = prepare(fs, newparent, newname, 1);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	src = node_child(parent, name);
	if (src)
		node_ref(src);
	pthread_mutex_unlock(&fs->lock);
	if (!src)
		return -ENOENT;
	if (src->kind == NODE_DIR) {
		/* a folder moves with its children: know them first */
		rc = tree_revalidate(fs, src, 0);
		if (rc < 0)
			goto unref;
	}
	pthread_mutex_lock(&fs->lock);
	if (!src->linked || src->parent != parent) {
		rc = -ENOENT;
		goto unlock;
	}
	dst = node_child(newparent, newname);
	if (dst == src)
		goto unlock;
	if (dst && (flags & RENAME_NOREPLACE)) {
		rc = -EEXIST;
		goto unlock;
	}
	if (dst && src->kind == NODE_DIR && dst->kind != NODE_DIR) {
		rc = -ENOTDIR;
		goto unlock;
	}
	if (dst && src->kind != NODE_DIR && dst->kind == NODE_DIR) {
		rc = -EISDIR;
		goto unlock;
	}
	if (dst && dst->kind == NODE_DIR &&
	    (!dst->listed || HASH_CNT(hh_child, dst->children))) {
		rc = -ENOTEMPTY;
		goto unlock;
	}
	if (src->kind == NODE_DIR && is_ancestor(src, newparent)) {
		rc = -EINVAL;
		goto unlock;
	}
	from = node_path(src);
	to = child_path(newparent, newname);
	if (!from || !to) {
		rc = -ENOMEM;
		goto unlock;
	}

	if (src->kind == NODE_FILE && !src->has_remote && src->dep_seq &&
	    src->pending == 1 && fs->last_nondep_seq < src->dep_seq) {
		struct pend *p = pend_find(fs, src->dep_seq);

		if (p && !p->inflight) {
			rc = rename_coalesce(fs, src, dst, newparent, newname,
					     to);
			if (rc <= 0)
				goto unlock;
		}
	}
	if (src->kind == NODE_FILE && !src->has_remote && !src->pending) {
		/* created and still open: its deposit will take the new name,
		 * and onto a document it makes that document's next version */
		if (dst) {
			drop_temp_deposit(fs, dst, dst->name);
			if (dst->has_remote) {
				src->rm = dst->rm;
				src->has_remote = 1;
			}
			node_detach(fs, dst);
		}
		tree_move(fs, src, newparent, newname);
		goto unlock;
	}
	if (dst && dst->kind == NODE_DIR) {
		memset(&op, 0, sizeof(op));
		op.kind = QUEUE_RMDIR;
		op.path = to;
		op.ready_at_ms = fs_now_ms() + fs->o->settle_ms;
		rc = pend_append(fs, &op, NULL, NULL);
		if (rc < 0)
			goto unlock;
		node_detach(fs, dst);
	} else if (dst) {
		if (!dst->has_remote)
			drop_temp_deposit(fs, dst, dst->name);
		node_detach(fs, dst);
	}
	memset(&op, 0, sizeof(op));
	op.kind = QUEUE_MOVE;
	op.from = from;
	op.to = to;
	op.ready_at_ms = fs_now_ms() + fs->o->settle_ms;
	rc = pend_append(fs, &op, src, from);
	if (rc < 0)
		goto unlock;
	tree_move(fs, src, newparent, newname);
unlock:
	pthread_mutex_unlock(&fs->lock);
unref:
	pthread_mutex_lock(&fs->lock);
	node_unref(fs, src);
	pthread_mutex_unlock(&fs->lock);
	content_staging_reap(fs); /* a replaced file's staging */
	free(from);
	free(to);
	return rc;
}
