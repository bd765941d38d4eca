/*
 * The FUSE low-level operations table of the drive.  Each operation finds
 * its node by inode number, calls the tree, content, name, sync, vdir or
 * xattr module, and turns the returned -errno into a reply: decisions live
 * in those modules, not here.
 *
 * Every node reached from an inode number is referenced for the call, so a
 * concurrent forget cannot free it underneath.  Folder handles hold a
 * snapshot of the listing taken at opendir, so paging offsets are stable.
 */
#include "client/drive/fs_i.h"
#include "client/drive/reads.h"
#include "client/drive/rights.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <fuse_lowlevel.h>
#include "client/drive/mount.h"
#include "client/store/queue.h"
#include "client/store/staging.h"
#include "client/drive/wback.h"
#include "common/err.h"
#include "common/log.h"
#include "common/path.h"

#define FS_MAX_WRITE (1024 * 1024)

struct fh {
	struct node *n;
	int write;
	/* written or cut through this handle since its last close (FLUSH) */
	int changed;
	/* opening it changed the file (created it, or O_TRUNC): its first
	 * close deposits even with nothing written (nameop_flush_unwritten),
	 * and a write through it after that close replaces that deposit */
	int open_change, flushed_unwritten;
	/* read handles: the version opened, read to the end whatever
	 * another device deposits meanwhile (content_read_pinned) */
	char doc[DOC_ID_HEX_LEN + 1];
	uint64_t ver, gen;
	struct chunk_map *map; /* under n->lock */
	/* a pending version (.versions/NAME/vN of a queued deposit): a
	 * handle of its own on the deposit's staging file, read over its
	 * base through the file's node, which keeps the file from being
	 * recycled while this is open (vreaders) */
	struct node *vsrc;
	struct staging *vst;
	char vdoc[DOC_ID_HEX_LEN + 1];
	uint64_t vver;
};

struct dent {
	char *name;
	struct node *node;
	int dot;
};

struct dsnap {
	struct dent *e;
	size_t n;
};

static struct fs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* errno for the kernel: network and protocol trouble reads as EIO */
static int kerr(int rc)
{
	switch (rc) {
	case -ENOTCONN:
	case -EPROTO:
	case -EBADMSG:
	case -ETIMEDOUT:
		return EIO;
	case -EKEYREJECTED:
		return EACCES;
	default:
		return rc < 0 ? -rc : EIO;
	}
}

/* errno for a failed read or write: a missing chunk or version on the
 * server is an I/O error of this file, not "no such file" */
static int ioerr(int rc)
{
	switch (rc) {
	case -ENOSPC:
	case -EDQUOT:
	case -EFBIG:
	case -ENOMEM:
	case -EROFS:
	case -EBADF:
	case -EINTR:
		return -rc;
	default:
		return EIO;
	}
}

static struct node *get(struct fs *fs, fuse_ino_t ino)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = node_by_ino(fs, ino);
	if (n)
		node_ref(n);
	pthread_mutex_unlock(&fs->lock);
	return n;
}

static void put(struct fs *fs, struct node *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&fs->lock);
	node_unref(fs, n);
	pthread_mutex_unlock(&fs->lock);
}

static int is_virtual(const struct node *n)
{
	return n->kind == NODE_VROOT || n->kind == NODE_VDOC ||
	       n->kind == NODE_VFILE;
}

/* Fill e for n and count the lookup; drops the caller's reference to n. */
static void entry_fill(struct fs *fs, struct node *n,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	pthread_mutex_lock(&fs->lock);
	n->nlookup++;
	e->ino = n->ino;
	node_stat(fs, n, &e->attr);
	e->attr_timeout = FS_TTL_S;
	e->entry_timeout = FS_TTL_S;
	node_unref(fs, n);
	pthread_mutex_unlock(&fs->lock);
}

static void reply_entry(fuse_req_t req, struct fs *fs, struct node *n)
{
	struct fuse_entry_param e;

	entry_fill(fs, n, &e);
	if (fuse_reply_entry(req, &e) == -ENOENT) {
		/* the request was interrupted: the kernel holds no lookup */
		pthread_mutex_lock(&fs->lock);
		node_forget(fs, n, 1);
		pthread_mutex_unlock(&fs->lock);
	}
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* one close = at most one version: writes must reach us at once */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->max_write = FS_MAX_WRITE;
	conn->max_readahead = FS_MAX_WRITE;
	(void)userdata;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = req_fs(req);
	struct node *p = get(fs, parent), *c = NULL;
	int rc;

	if (!p) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (strlen(name) > NAME_MAX_LEN) {
		rc = -ENAMETOOLONG;
	} else if ((p->kind == NODE_DIR && !strcmp(name, VERSIONS_NAME)) ||
		   p->kind == NODE_VROOT || p->kind == NODE_VDOC) {
		rc = vdir_lookup(fs, p, name, &c);
	} else if (p->kind != NODE_DIR) {
		rc = -ENOTDIR;
	} else {
		rc = tree_revalidate(fs, p, 0);
		if (rc == 0) {
			pthread_mutex_lock(&fs->lock);
			c = node_child(p, name);
			if (c)
				node_ref(c);
			pthread_mutex_unlock(&fs->lock);
			if (!c)
				rc = -ENOENT;
		}
	}
	put(fs, p);
	if (rc < 0)
		fuse_reply_err(req, kerr(rc));
	else
		reply_entry(req, fs, c);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = req_fs(req);
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = node_by_ino(fs, ino);
	if (n)
		node_forget(fs, n, nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct fs *fs = req_fs(req);
	size_t i;

	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < count; i++) {
		struct node *n = node_by_ino(fs, forgets[i].ino);

		if (n)
			node_forget(fs, n, forgets[i].nlookup);
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void reply_attr(fuse_req_t req, struct fs *fs, struct node *n)
{
	struct stat st;

	pthread_mutex_lock(&fs->lock);
	node_stat(fs, n, &st);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_attr(req, &st, FS_TTL_S);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct node *n = get(fs, ino);
	int rc = 0;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (n->kind == NODE_DIR)
		rc = tree_revalidate(fs, n, 0);
	if (rc < 0 && n == fs->root)
		rc = 0; /* the root always exists */
	if (rc < 0)
		fuse_reply_err(req, kerr(rc));
	else
		reply_attr(req, fs, n);
	put(fs, n);
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct node *n = get(fs, ino);
	struct fh *h = fi ? (struct fh *)(uintptr_t)fi->fh : NULL;
	int rc = 0, meta = 0;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (is_virtual(n)) {
		rc = -EROFS;
		goto out;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (n->kind != NODE_FILE) {
			rc = -EISDIR;
			goto out;
		}
		/* after the writes answered before it */
		wback_drain(fs, n);
		if (h && h->write) {
			pthread_mutex_lock(&n->lock);
			rc = content_truncate(fs, n, (uint64_t)attr->st_size);
			pthread_mutex_unlock(&n->lock);
			h->changed = 1;
		} else {
			/* truncate(2) by path: a write-open of its own */
			rc = nameop_open_write(fs, n, attr->st_size == 0);
			if (rc == 0) {
				pthread_mutex_lock(&n->lock);
				rc = content_truncate(fs, n,
						      (uint64_t)attr->st_size);
				pthread_mutex_unlock(&n->lock);
				nameop_release_write(fs, n);
			}
		}
		if (rc < 0)
			goto out;
	}
	if ((to_set & FUSE_SET_ATTR_MODE) && n->kind == NODE_DIR) {
		struct stat was;

		pthread_mutex_lock(&fs->lock);
		node_stat(fs, n, &was);
		pthread_mutex_unlock(&fs->lock);
		/* a folder's mode is kept in the ledger, with its class */
		if ((was.st_mode & 07777) != (attr->st_mode & 07777)) {
			rc = nameop_dir_mode(fs, n,
					     (uint32_t)attr->st_mode & 07777);
			if (rc < 0)
				goto out;
		}
	}
	pthread_mutex_lock(&fs->lock);
	if (to_set & FUSE_SET_ATTR_MODE) {
		struct stat was;

		node_stat(fs, n, &was);
		n->mode = attr->st_mode & 07777;
		n->has_mode = 1;
		/* a file's mode is kept with its version */
		meta = n->kind == NODE_FILE && (was.st_mode & 07777) != n->mode;
	}
	if (to_set & FUSE_SET_ATTR_UID)
		n->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		n->mtime_local = fs_now_ms() / 1000;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		n->mtime_local = attr->st_mtim.tv_sec;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		n->atime_local = fs_now_ms() / 1000;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		n->atime_local = attr->st_atim.tv_sec;
	/* every change of the inode moves its ctime, as on a local disk */
	n->ctime_local = fs_now_ms() / 1000;
	pthread_mutex_unlock(&fs->lock);
	if (meta)
		rc = nameop_meta(fs, n);
out:
	if (rc < 0)
		fuse_reply_err(req, kerr(rc));
	else
		reply_attr(req, fs, n);
	put(fs, n);
}

static int snap_add(struct dsnap *s, size_t *alloc, const char *name,
		    struct node *node, int dot)
{
	if (s->n == *alloc) {
		size_t na = *alloc ? *alloc * 2 : 32;
		struct dent *e = realloc(s->e, na * sizeof(*e));

		if (!e)
			return -ENOMEM;
		s->e = e;
		*alloc = na;
	}
	s->e[s->n].name = strdup(name);
	if (!s->e[s->n].name)
		return -ENOMEM;
	s->e[s->n].node = node;
	s->e[s->n].dot = dot;
	node_ref(node);
	s->n++;
	return 0;
}

static void snap_free(struct fs *fs, struct dsnap *s)
{
	size_t i;

	if (!s)
		return;
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < s->n; i++) {
		node_unref(fs, s->e[i].node);
		free(s->e[i].name);
	}
	pthread_mutex_unlock(&fs->lock);
	free(s->e);
	free(s);
}

/* Listing snapshot of n (fs->lock held). */
static int snap_build(struct fs *fs, struct node *n, struct dsnap *s)
{
	struct node *c, *tmp, *dir;
	size_t alloc = 0;
	int rc;

	rc = snap_add(s, &alloc, ".", n, 1);
	if (rc == 0)
		rc = snap_add(s, &alloc, "..", n->parent ? n->parent : n, 1);
	if (rc < 0)
		return rc;
	if (n->kind == NODE_VROOT) {
		/* the versions folders of the documents filed here */
		dir = n->parent;
		if (!dir)
			return 0;
		HASH_ITER(hh_child, dir->children, c, tmp)
		{
			struct node *vd;

			if (c->kind != NODE_FILE ||
			    (!c->rm.doc_id[0] && !c->dep_seq))
				continue;
			vd = node_child(n, c->name);
			if (vd && !vd->rm.doc_id[0])
				memcpy(vd->rm.doc_id, c->rm.doc_id,
				       sizeof(vd->rm.doc_id));
			if (vd && strcmp(vd->rm.doc_id, c->rm.doc_id)) {
				node_detach(fs, vd);
				vd = NULL;
			}
			if (!vd) {
				vd = node_new(fs, n, c->name, NODE_VDOC);
				if (!vd)
					return -ENOMEM;
				memcpy(vd->rm.doc_id, c->rm.doc_id,
				       sizeof(vd->rm.doc_id));
				vd->has_remote = 1;
			}
			rc = snap_add(s, &alloc, vd->name, vd, 0);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	HASH_ITER(hh_child, n->children, c, tmp)
	{
		rc = snap_add(s, &alloc, c->name, c, 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct node *n = get(fs, ino);
	struct dsnap *s = NULL;
	int rc = 0;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	switch (n->kind) {
	case NODE_DIR:
		rc = tree_revalidate(fs, n, 0);
		break;
	case NODE_VDOC:
		rc = vdir_revalidate(fs, n, 0);
		break;
	case NODE_VROOT:
		pthread_mutex_lock(&fs->lock);
		if (n->parent) {
			struct node *d = n->parent;

			node_ref(d);
			pthread_mutex_unlock(&fs->lock);
			rc = tree_revalidate(fs, d, 0);
			put(fs, d);
		} else {
			pthread_mutex_unlock(&fs->lock);
		}
		break;
	default:
		rc = -ENOTDIR;
	}
	if (rc == 0 && n->kind == NODE_DIR && !n->listed)
		rc = -EIO; /* never answer "empty" for "unknown" */
	if (rc == 0) {
		s = calloc(1, sizeof(*s));
		if (!s)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		pthread_mutex_lock(&fs->lock);
		rc = snap_build(fs, n, s);
		pthread_mutex_unlock(&fs->lock);
	}
	if (rc < 0) {
		snap_free(fs, s);
		fuse_reply_err(req, kerr(rc));
	} else {
		fi->fh = (uintptr_t)s;
		if (fuse_reply_open(req, fi) == -ENOENT)
			snap_free(fs, s);
	}
	put(fs, n);
}

static void do_readdir(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct fs *fs = req_fs(req);
	struct dsnap *s = (struct dsnap *)(uintptr_t)fi->fh;
	char *buf;
	size_t pos = 0, i;

	if (size > 1024 * 1024)
		size = 1024 * 1024;
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	for (i = off > 0 ? (size_t)off : 0; i < s->n; i++) {
		struct dent *d = &s->e[i];
		size_t len;

		if (plus) {
			struct fuse_entry_param e;

			memset(&e, 0, sizeof(e));
			node_stat(fs, d->node, &e.attr);
			if (!d->dot) {
				e.ino = d->node->ino;
				e.attr_timeout = FS_TTL_S;
				e.entry_timeout = FS_TTL_S;
			}
			len = fuse_add_direntry_plus(req, buf + pos, size - pos,
						     d->name, &e, (off_t)i + 1);
			if (len > size - pos)
				break;
			/* an entry handed to the kernel is a lookup */
			if (!d->dot)
				d->node->nlookup++;
		} else {
			struct stat st;

			memset(&st, 0, sizeof(st));
			node_stat(fs, d->node, &st);
			len = fuse_add_direntry(req, buf + pos, size - pos,
						d->name, &st, (off_t)i + 1);
			if (len > size - pos)
				break;
		}
		pos += len;
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, 0);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, 1);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	snap_free(req_fs(req), (struct dsnap *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Fetch the chunk list of a version once, at open: reads then only map
 * offsets.  A failure here is reported by the read that needs it. */
static void preload_map(struct fs *fs, struct node *n)
{
	char doc[DOC_ID_HEX_LEN + 1];
	uint64_t ver;
	int staged;

	pthread_mutex_lock(&n->lock);
	pthread_mutex_lock(&fs->lock);
	staged = n->staging_name != NULL;
	ver = n->kind == NODE_VFILE ? n->vnum : n->rm.version;
	memcpy(doc, n->rm.doc_id, sizeof(doc));
	pthread_mutex_unlock(&fs->lock);
	if (!staged && doc[0] && content_load_map(fs, n, doc, ver) < 0)
		log_debug("manifest of '%s' not fetched at open: %s", n->name,
			  err_msg());
	pthread_mutex_unlock(&n->lock);
}

/*
 * Open a pending version: its deposit's staging file, while the deposit
 * is still queued (checked under the file's lock, which the recycling of
 * a committed deposit's staging file takes too).  Once committed, the entry
 * becomes the server's version (-ESTALE makes the kernel look it up again).
 */
static int vfile_open_pending(struct fs *fs, struct node *vf, struct fh *h)
{
	char staging[128];
	struct node *f;
	struct pend *p;
	int rc;

	pthread_mutex_lock(&fs->lock);
	p = pend_find(fs, vf->pend_seq);
	f = p && p->op.kind == QUEUE_DEPOSIT ? p->node : NULL;
	if (f)
		node_ref(f);
	pthread_mutex_unlock(&fs->lock);
	if (!f)
		return -ESTALE;
	pthread_mutex_lock(&f->lock);
	pthread_mutex_lock(&fs->lock);
	p = pend_find(fs, vf->pend_seq);
	if (p && p->op.staging) {
		snprintf(staging, sizeof(staging), "%s", p->op.staging);
		memcpy(h->vdoc, p->op.sbase_doc, sizeof(h->vdoc));
		h->vver = p->op.sbase_version;
		__atomic_add_fetch(&f->vreaders, 1, __ATOMIC_RELAXED);
		rc = 0;
	} else {
		rc = -ESTALE;
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc == 0) {
		rc = content_deposit_open(fs, staging, &h->vst);
		if (rc < 0)
			__atomic_sub_fetch(&f->vreaders, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&f->lock);
	if (rc < 0) {
		put(fs, f);
		return rc;
	}
	h->vsrc = f;
	return 0;
}

/* Set up a file handle on n (referenced by the caller, kept by fh). */
static int fh_open(struct fs *fs, struct node *n, struct fuse_file_info *fi,
		   int created)
{
	int write = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct fh *h;
	int rc = 0;

	if (n->kind == NODE_VFILE && write)
		return -EROFS;
	if (n->kind != NODE_FILE && n->kind != NODE_VFILE)
		return -EISDIR;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	/* A new version is a deposit in the document's folder. */
	if (write && !created && n->kind == NODE_FILE && n->parent)
		rc = rights_check(fs, n->parent, RIGHTS_DEPOSIT);
	if (write && !created && rc == 0) {
		/* an O_TRUNC comes after the writes other handles queued */
		wback_drain(fs, n);
		rc = nameop_open_write(fs, n, !!(fi->flags & O_TRUNC));
	}
	if (rc < 0) {
		free(h);
		return rc;
	}
	if (write && !created && (fi->flags & O_TRUNC)) {
		/* open(O_TRUNC) is a change of the content, even of an
		 * empty file: mtime and ctime move */
		pthread_mutex_lock(&fs->lock);
		n->mtime_local = n->ctime_local = fs_now_ms() / 1000;
		pthread_mutex_unlock(&fs->lock);
	}
	h->n = n;
	h->write = write;
	h->open_change = write && (created || (fi->flags & O_TRUNC));
	if (write) {
		/* another open for writing: a close before it stands as a
		 * version, whichever open file the kernel's writes name */
		pthread_mutex_lock(&fs->lock);
		n->flush_empty_seq = 0;
		pthread_mutex_unlock(&fs->lock);
	}
	if (n->kind == NODE_VFILE && n->pend_seq) {
		rc = vfile_open_pending(fs, n, h);
		if (rc < 0) {
			free(h);
			return rc;
		}
		fi->keep_cache = 0;
		fi->fh = (uintptr_t)h;
		return 0;
	}
	if (!write) {
		pthread_mutex_lock(&fs->lock);
		n->readers++;
		pthread_mutex_unlock(&fs->lock);
		rc = content_pin(fs, n);
		if (rc < 0)
			log_debug("staging of '%s' not opened at open: %s",
				  n->name, err_msg());
		preload_map(fs, n);
		reads_note(fs, n);
	}
	pthread_mutex_lock(&fs->lock);
	if (!write && n->kind == NODE_FILE && !n->staging_name &&
	    n->rm.doc_id[0]) {
		memcpy(h->doc, n->rm.doc_id, sizeof(h->doc));
		h->ver = n->rm.version;
		h->gen = n->content_gen;
	}
	/* keep the kernel's pages unless the content changed remotely */
	fi->keep_cache = n->kernel_gen == n->content_gen;
	n->kernel_gen = n->content_gen;
	pthread_mutex_unlock(&fs->lock);
	fi->fh = (uintptr_t)h;
	return 0;
}

/* After a failed write session, drop the staging file the torn content is
 * in (never a queued deposit's: those are immutable): the file shows its
 * last closed content again, the newest queued deposit's or the current
 * version, not the torn content that will never be deposited. */
static void drop_torn(struct fs *fs, struct node *n)
{
	char *name = NULL;

	pthread_mutex_lock(&fs->lock);
	if (!n->writers && !n->sealed && n->staging_name) {
		struct pend *p = pend_deposits(fs, n, NULL, NULL);

		name = n->staging_name;
		n->staging_name = NULL;
		if (p && p->op.staging &&
		    (n->staging_name = strdup(p->op.staging))) {
			n->sealed = 1;
			memcpy(n->sbase_doc, p->op.sbase_doc,
			       sizeof(n->sbase_doc));
			n->sbase_version = p->op.sbase_version;
			n->sbase_size = UINT64_MAX; /* bounded by the map */
			n->lsize = p->lsize;
		}
		n->content_gen++; /* the kernel's pages are the torn ones */
	}
	pthread_mutex_unlock(&fs->lock);
	if (name) {
		content_staging_delete(fs, name);
		free(name);
		notify_inode(fs, n->ino);
	}
}

/* The write handle h goes: its queued writes land in staging first.  When
 * one of them failed, the last writer's close deposits nothing: the
 * content is torn, and the writer was told by flush (close) or fsync. */
static void release_write(struct fs *fs, struct fh *h)
{
	struct node *n = h->n;
	int werr = wback_drain(fs, n), torn = 0, idle;

	if (werr) {
		pthread_mutex_lock(&fs->lock);
		if (n->writers == 1) { /* the last writer: no deposit */
			n->wrote = 0;
			torn = 1;
		}
		pthread_mutex_unlock(&fs->lock);
		if (torn)
			log_error("'%s' is not deposited: a write failed (%s)",
				  n->name, strerror(-werr));
	}
	nameop_release_write(fs, n);
	if (torn) {
		wback_reset(fs, n);
		drop_torn(fs, n);
	}
	pthread_mutex_lock(&fs->lock);
	idle = !n->writers;
	pthread_mutex_unlock(&fs->lock);
	if (idle)
		content_staging_idle(fs, n);
}

static void fh_close(struct fs *fs, struct fh *h)
{
	int idle;

	if (h->vsrc) {
		pthread_mutex_lock(&h->vsrc->lock);
		staging_close(h->vst);
		__atomic_sub_fetch(&h->vsrc->vreaders, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&h->vsrc->lock);
		put(fs, h->vsrc);
	} else if (h->write) {
		release_write(fs, h);
	} else {
		pthread_mutex_lock(&fs->lock);
		idle = !--h->n->readers && !h->n->writers;
		pthread_mutex_unlock(&fs->lock);
		if (idle)
			content_staging_idle(fs, h->n);
	}
	chunk_map_free(h->map);
	put(fs, h->n);
	free(h);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct node *n = get(fs, ino);
	int rc;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	rc = fh_open(fs, n, fi, 0);
	if (rc < 0) {
		put(fs, n);
		fuse_reply_err(req, kerr(rc));
		return;
	}
	if (fuse_reply_open(req, fi) == -ENOENT)
		fh_close(fs, (struct fh *)(uintptr_t)fi->fh);
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct node *p = get(fs, parent), *n = NULL;
	struct fuse_entry_param e;
	int rc;

	if (!p) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	rc = rights_check(fs, p, RIGHTS_DEPOSIT);
	if (rc == 0)
		rc = quota_write_check(fs, NULL, 0); /* a full space: EDQUOT */
	if (rc == 0)
		rc = nameop_create(fs, p, name, mode, fi->flags, &n);
	put(fs, p);
	if (rc < 0) {
		fuse_reply_err(req, kerr(rc));
		return;
	}
	/* nameop_create counted the writer; the handle gets its own ref */
	pthread_mutex_lock(&fs->lock);
	node_ref(n);
	pthread_mutex_unlock(&fs->lock);
	fi->flags =
		(fi->flags & ~O_ACCMODE) |
		((fi->flags & O_ACCMODE) == O_RDONLY ? O_RDWR :
						       (fi->flags & O_ACCMODE));
	rc = fh_open(fs, n, fi, 1);
	if (rc < 0) {
		nameop_release_write(fs, n);
		put(fs, n);
		put(fs, n);
		fuse_reply_err(req, kerr(rc));
		return;
	}
	entry_fill(fs, n, &e);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		pthread_mutex_lock(&fs->lock);
		node_forget(fs, n, 1);
		pthread_mutex_unlock(&fs->lock);
		fh_close(fs, (struct fh *)(uintptr_t)fi->fh);
	}
}

/*
 * One read buffer per FUSE thread, kept from read to read: the mount maps
 * large buffers instead of keeping them in the heap (mount.c), so a new one
 * per read would be mapped and faulted in each time.
 */
struct rbuf {
	size_t cap;
	char data[];
};

static pthread_key_t rbuf_key;
static pthread_once_t rbuf_once = PTHREAD_ONCE_INIT;

static void rbuf_key_make(void)
{
	if (pthread_key_create(&rbuf_key, free))
		log_error("no per-thread read buffers");
}

static char *read_buf(size_t size)
{
	struct rbuf *b;

	pthread_once(&rbuf_once, rbuf_key_make);
	b = pthread_getspecific(rbuf_key);
	if (b && b->cap >= size)
		return b->data;
	free(b);
	b = malloc(sizeof(*b) + size);
	pthread_setspecific(rbuf_key, b);
	if (!b)
		return NULL;
	b->cap = size;
	return b->data;
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	char *buf;
	ssize_t r;

	if (size > 4 * FS_MAX_WRITE)
		size = 4 * FS_MAX_WRITE;
	buf = read_buf(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (h->vsrc) { /* a pending version */
		pthread_mutex_lock(&h->vsrc->lock);
		r = content_deposit_read(fs, h->vsrc, h->vst, h->vdoc, h->vver,
					 buf, size, (uint64_t)off);
		pthread_mutex_unlock(&h->vsrc->lock);
		goto reply;
	}
	/* a read sees every write answered before it */
	wback_drain(fs, h->n);
	pthread_mutex_lock(&h->n->lock);
	if (h->ver)
		r = content_read_pinned(fs, h->n, &h->map, h->doc, h->ver,
					h->gen, buf, size, (uint64_t)off);
	else
		r = content_read(fs, h->n, buf, size, (uint64_t)off);
	pthread_mutex_unlock(&h->n->lock);
reply:
	if (r < 0) {
		log_warn("read of '%s' failed: %s", h->n->name, err_msg());
		fuse_reply_err(req, ioerr((int)r));
	} else {
		fuse_reply_buf(req, buf, (size_t)r);
	}
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	ssize_t r;

	if (!h->write) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (h->flushed_unwritten) {
		nameop_write_after_flush(fs, h->n);
		h->flushed_unwritten = 0;
	}
	/* past the space's quota: refused now, as the upload after close
	 * would be, and the file's close deposits nothing (a torn write) */
	r = quota_write_check(fs, h->n, (uint64_t)off + size);
	if (r < 0) {
		log_warn("write to '%s' refused: %s", h->n->name, err_msg());
		wback_fail(fs, h->n, (int)r);
		fuse_reply_err(req, EDQUOT);
		return;
	}
	if (size >= WBACK_MIN_ASYNC) {
		r = wback_write(fs, h->n, buf, size, (uint64_t)off);
		if (r == 0)
			r = (ssize_t)size;
	} else {
		/* in order after the writes queued before it */
		r = wback_drain(fs, h->n);
		if (r == 0) {
			pthread_mutex_lock(&h->n->lock);
			r = content_write(fs, h->n, buf, size, (uint64_t)off);
			pthread_mutex_unlock(&h->n->lock);
		}
	}
	if (r < 0) {
		log_warn("write to '%s' failed: %s", h->n->name, err_msg());
		fuse_reply_err(req, ioerr((int)r));
	} else {
		h->changed = 1;
		fuse_reply_write(req, (size_t)r);
	}
}

static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	int rc = 0;

	/* the version boundary: close(2) waits for this answer, so the
	 * deposit is queued durably before close() returns (RELEASE comes
	 * after, when a kill of the mount would lose it); and where close()
	 * learns that a queued write failed, which deposits nothing */
	if (h->write) {
		rc = wback_drain(req_fs(req), h->n);
		if (rc == 0 && h->changed) {
			rc = nameop_flush_write(req_fs(req), h->n);
			h->changed = 0;
			h->open_change = h->flushed_unwritten = 0;
		} else if (rc == 0 && h->open_change) {
			rc = nameop_flush_unwritten(req_fs(req), h->n);
			h->open_change = 0;
			h->flushed_unwritten = rc == 0;
		}
	}
	fuse_reply_err(req, rc < 0 ? ioerr(rc) : 0);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	fh_close(req_fs(req), (struct fh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	int rc = wback_drain(fs, h->n);

	pthread_mutex_lock(&h->n->lock);
	if (rc == 0 && h->n->st)
		rc = staging_sync(h->n->st);
	pthread_mutex_unlock(&h->n->lock);
	if (rc == 0)
		rc = queue_sync(fs->q);
	fuse_reply_err(req, rc < 0 ? kerr(rc) : 0);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct fs *fs = req_fs(req);
	struct node *p = get(fs, parent), *n = NULL;
	int rc;

	if (!p) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	rc = rights_check(fs, p, RIGHTS_ORGANIZE);
	if (rc == 0)
		rc = nameop_mkdir(fs, p, name, mode, &n);
	put(fs, p);
	if (rc < 0)
		fuse_reply_err(req, kerr(rc));
	else
		reply_entry(req, fs, n);
}

static void name_reply(fuse_req_t req, int rc)
{
	fuse_reply_err(req, rc < 0 ? kerr(rc) : 0);
}

/* unlink and rmdir: the same checks around a different name operation. */
static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name,
			 int (*op)(struct fs *, struct node *, const char *))
{
	struct fs *fs = req_fs(req);
	struct node *p = get(fs, parent);
	int rc;

	if (!p) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	rc = rights_check(fs, p, RIGHTS_ORGANIZE);
	name_reply(req, rc < 0 ? rc : op(fs, p, name));
	put(fs, p);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, nameop_unlink);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, nameop_rmdir);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct fs *fs = req_fs(req);
	struct node *p = get(fs, parent), *np = get(fs, newparent);

	if (!p || !np)
		name_reply(req, -ENOENT);
	else if (rights_check(fs, p, RIGHTS_ORGANIZE) < 0 ||
		 rights_check(fs, np, RIGHTS_ORGANIZE) < 0)
		name_reply(req, -EACCES);
	else
		name_reply(req, nameop_rename(fs, p, name, np, newname, flags));
	put(fs, p);
	put(fs, np);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EPERM);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	fuse_reply_err(req, EPERM);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	fuse_reply_err(req, EPERM);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = req_fs(req);
	struct statvfs sv;

	if (statvfs(fs->cache_dir, &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = NAME_MAX_LEN;
	fuse_reply_statfs(req, &sv);
}

/*
 * getxattr (name) and listxattr (name NULL): the same cap on the size, the
 * same buffer and the same three replies around xattr_get or xattr_list.
 */
static void xattr_read(fuse_req_t req, fuse_ino_t ino, const char *name,
		       size_t size)
{
	struct fs *fs = req_fs(req);
	struct node *n = get(fs, ino);
	char *buf = NULL;
	ssize_t r;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (size > 64 * 1024)
		size = 64 * 1024;
	if (size && !(buf = malloc(size)))
		r = -ENOMEM;
	else if (name)
		r = xattr_get(fs, n, name, buf, size);
	else
		r = xattr_list(fs, n, buf, size);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else if (!size)
		fuse_reply_xattr(req, (size_t)r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	free(buf);
	put(fs, n);
}

static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	xattr_read(req, ino, name, size);
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	xattr_read(req, ino, NULL, size);
}

static void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct fs *fs = req_fs(req);
	struct node *n = get(fs, ino);
	int rc;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	rc = is_virtual(n) ? -EROFS :
			     xattr_set(fs, n, name, value, size, flags);
	fuse_reply_err(req, rc < 0 ? -rc : 0);
	put(fs, n);
}

static void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = req_fs(req);
	struct node *n = get(fs, ino);
	int rc;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	rc = is_virtual(n) ? -EROFS : xattr_remove(fs, n, name);
	fuse_reply_err(req, rc < 0 ? -rc : 0);
	put(fs, n);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.rename = fs_rename,
	.mknod = fs_mknod,
	.symlink = fs_symlink,
	.link = fs_link,
	.statfs = fs_statfs,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.setxattr = fs_setxattr,
	.removexattr = fs_removexattr,
};
