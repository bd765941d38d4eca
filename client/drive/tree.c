/*
 * The drive's in-memory tree: nodes with stable inode numbers for the life
 * of the mount, the kernel's lookup counts, and the revalidation of folder
 * listings against the server.
 *
 * A node is linked in its parent's children while it is visible.  It is
 * freed once it is detached, the kernel has forgotten it (nlookup 0) and
 * nothing else holds it (refs 0: open handles, queued operations, listing
 * snapshots).  Linked nodes are kept: they are the cached tree.
 *
 * Revalidation merges a fresh listing into the children: local state wins
 * (a node with pending content or a queued creation or move is never
 * replaced or dropped), paths with a queued removal stay hidden, and a file
 * whose version changed gets its kernel page cache invalidated.
 */
#include "client/drive/fs_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "client/store/staging.h"
#include "common/err.h"
#include "common/log.h"
#include "common/path.h"

int64_t fs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct node *node_new(struct fs *fs, struct node *parent, const char *name,
		      enum node_kind kind)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->name = strdup(name);
	if (!n->name) {
		free(n);
		return NULL;
	}
	n->ino = fs->next_ino++;
	n->kind = kind;
	n->uid = fs->uid;
	n->gid = fs->gid;
	pthread_mutex_init(&n->lock, NULL);
	HASH_ADD(hh, fs->inodes, ino, sizeof(n->ino), n);
	if (parent)
		node_attach(parent, n, name);
	return n;
}

static void node_free(struct node *n)
{
	if (n->st)
		staging_close(n->st);
	chunk_map_free(n->map);
	free(n->st_name);
	free(n->staging_name);
	free(n->name);
	json_decref(n->uxattrs);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

static void node_maybe_free(struct fs *fs, struct node *n)
{
	if (n == fs->root || n->linked || n->nlookup || n->refs)
		return;
	HASH_DELETE(hh, fs->inodes, n);
	node_free(n);
}

int tree_init(struct fs *fs)
{
	fs->next_ino = 1; /* FUSE_ROOT_ID */
	fs->root = node_new(fs, NULL, "", NODE_DIR);
	if (!fs->root)
		return err_set(-ENOMEM, "out of memory");
	fs->root->has_remote = 1;
	fs->root->nlookup = 1;
	return 0;
}

void tree_release(struct fs *fs)
{
	struct node *n, *tmp;
	struct hidden *h, *htmp;

	/* children tables first: they are freed only when emptied */
	HASH_ITER(hh, fs->inodes, n, tmp)
	HASH_CLEAR(hh_child, n->children);
	HASH_ITER(hh, fs->inodes, n, tmp)
	{
		HASH_DELETE(hh, fs->inodes, n);
		node_free(n);
	}
	fs->root = NULL;
	HASH_ITER(hh, fs->hidden, h, htmp)
	{
		HASH_DEL(fs->hidden, h);
		free(h->path);
		free(h);
	}
}

struct node *node_child(struct node *dir, const char *name)
{
	struct node *c = NULL;

	HASH_FIND(hh_child, dir->children, name, strlen(name), c);
	return c;
}

struct node *node_by_ino(struct fs *fs, uint64_t ino)
{
	struct node *n = NULL;

	HASH_FIND(hh, fs->inodes, &ino, sizeof(ino), n);
	return n;
}

void node_ref(struct node *n)
{
	n->refs++;
}

void node_unref(struct fs *fs, struct node *n)
{
	if (!n)
		return;
	n->refs--;
	node_maybe_free(fs, n);
}

void node_forget(struct fs *fs, struct node *n, uint64_t nlookup)
{
	n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
	node_maybe_free(fs, n);
}

/* Unlink n (and everything below it) from the visible tree. */
void node_detach(struct fs *fs, struct node *n)
{
	struct node *c, *tmp;

	HASH_ITER(hh_child, n->children, c, tmp)
	node_detach(fs, c);
	if (n->vroot) {
		struct node *v = n->vroot;

		n->vroot = NULL;
		v->linked = 0; /* held by n->vroot, not in a children table */
		v->parent = NULL;
		node_detach(fs, v);
	}
	if (n->linked) {
		HASH_DELETE(hh_child, n->parent->children, n);
		n->linked = 0;
	}
	n->parent = NULL;
	node_maybe_free(fs, n);
}

/* Link a detached node under dir with a new name (the name is copied). */
void node_attach(struct node *dir, struct node *n, const char *name)
{
	if (name != n->name) {
		char *dup = strdup(name);

		if (dup) {
			free(n->name);
			n->name = dup;
		}
	}
	n->parent = dir;
	n->linked = 1;
	HASH_ADD_KEYPTR(hh_child, dir->children, n->name, strlen(n->name), n);
}

char *node_path(const struct node *n)
{
	const struct node *p;
	size_t len = 0;
	char *out;

	if (!n->parent)
		return n->kind == NODE_DIR && !n->name[0] ? strdup("/") : NULL;
	for (p = n; p->parent; p = p->parent) {
		if (p->kind != NODE_DIR && p->kind != NODE_FILE)
			return NULL;
		len += strlen(p->name) + 1;
	}
	if (p->name[0]) /* detached ancestor, not the root */
		return NULL;
	out = malloc(len + 1);
	if (!out)
		return NULL;
	out[len] = '\0';
	for (p = n; p->parent; p = p->parent) {
		size_t l = strlen(p->name);

		len -= l;
		memcpy(out + len, p->name, l);
		out[--len] = '/';
	}
	return out;
}

int node_is_local(const struct node *n)
{
	return n->pending || n->writers || n->staging_name || !n->has_remote;
}

uint64_t node_size(const struct node *n)
{
	if (n->kind == NODE_FILE && n->staging_name)
		return n->lsize;
	if (n->kind == NODE_FILE || n->kind == NODE_VFILE)
		return n->rm.size;
	return 0;
}

json_t *node_meta_json(const struct node *n)
{
	json_t *j;
	int has = 1;
	uint32_t mode = 0;

	if (n->has_mode)
		mode = n->mode;
	else if (n->rm.has_mode)
		mode = n->rm.mode;
	else if (n->mode && n->mode != 0644)
		mode = n->mode;
	else
		has = 0;
	if (!has && !n->uxattrs)
		return NULL;
	j = json_object();
	if (j && has)
		json_object_set_new(j, "mode", json_integer(mode & 07777));
	if (j && n->uxattrs)
		json_object_set(j, "xattrs", n->uxattrs);
	return j;
}

static int64_t parse_rfc3339(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, se;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &se) !=
	    6)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	return (int64_t)timegm(&tm);
}

void node_stat(const struct fs *fs, const struct node *n, struct stat *st)
{
	int64_t t;

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_blksize = FS_BLKSIZE;
	switch (n->kind) {
	case NODE_DIR:
		/* chmod here or mkdir's mode, else the one the ledger
		 * keeps; a folder stating none has the default */
		st->st_mode = S_IFDIR | (n->has_mode	? n->mode :
					 n->rm.has_mode ? n->rm.mode :
							  FOLDER_MODE_DEFAULT);
		st->st_nlink = 2;
		break;
	case NODE_FILE:
		/* chmod here, else the version's, else the create mode */
		st->st_mode = S_IFREG | (n->has_mode	? n->mode :
					 n->rm.has_mode ? n->rm.mode :
					 n->mode	? n->mode :
							  0644);
		st->st_nlink = 1;
		break;
	case NODE_VROOT:
	case NODE_VDOC:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		break;
	case NODE_VFILE:
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		break;
	}
	st->st_size = (off_t)node_size(n);
	st->st_blocks = (st->st_size + 511) / 512;
	t = n->mtime_local;
	if (!t && n->kind != NODE_VFILE)
		t = n->rm.mtime;
	if (!t)
		t = parse_rfc3339(n->rm.deposited_at);
	if (!t)
		t = fs_now_ms() / 1000;
	st->st_mtim.tv_sec = t;
	/* atime as set by utimensat, else the mtime; ctime never before the
	 * mtime, moved by chmod, chown, utimes and truncation */
	st->st_atim.tv_sec = n->atime_local ? n->atime_local : t;
	st->st_ctim.tv_sec = n->ctime_local > t ? n->ctime_local : t;
}

void hidden_add(struct fs *fs, const char *path)
{
	struct hidden *h = NULL;

	HASH_FIND_STR(fs->hidden, path, h);
	if (h) {
		h->count++;
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h || !(h->path = strdup(path))) {
		free(h);
		return;
	}
	h->count = 1;
	HASH_ADD_KEYPTR(hh, fs->hidden, h->path, strlen(h->path), h);
}

void hidden_del(struct fs *fs, const char *path)
{
	struct hidden *h = NULL;

	HASH_FIND_STR(fs->hidden, path, h);
	if (!h || --h->count)
		return;
	HASH_DEL(fs->hidden, h);
	free(h->path);
	free(h);
}

int hidden_has(struct fs *fs, const char *path)
{
	struct hidden *h = NULL;

	if (!fs->hidden)
		return 0;
	HASH_FIND_STR(fs->hidden, path, h);
	return h != NULL;
}

/* n or something below it holds local state the server does not know:
 * then it stays in view whatever the server lists (fs->lock held). */
static int subtree_is_local(const struct node *n)
{
	const struct node *c, *tmp;

	if (node_is_local(n))
		return 1;
	HASH_ITER(hh_child, n->children, c, tmp)
	{
		if (subtree_is_local(c))
			return 1;
	}
	return 0;
}

/* A file with nothing local takes its version's mode and attributes. */
static void node_take_meta(struct node *c, const struct rentry *e)
{
	json_decref(c->uxattrs);
	c->uxattrs = e->xattrs ? json_incref(e->xattrs) : NULL;
	c->has_mode = 0; /* the version's mode rules (node_stat) */
}

static int merge_entry(struct fs *fs, struct node *dir, const char *dpath,
		       const struct rentry *e)
{
	struct node *c = node_child(dir, e->name);
	enum node_kind kind = e->is_dir ? NODE_DIR : NODE_FILE;
	char *p;

	if (fs->hidden) {
		p = path_join(dpath, e->name);
		if (!p)
			return -ENOMEM;
		if (hidden_has(fs, p)) {
			free(p);
			return 0;
		}
		free(p);
	}
	if (c) {
		c->seen = fs->gen;
		if (node_is_local(c))
			return 0; /* local state wins */
		if (c->kind == kind && kind == NODE_FILE && c->readers &&
		    c->rm.version &&
		    (c->rm.version != e->rm.version ||
		     strcmp(c->rm.doc_id, e->rm.doc_id))) {
			/* open for reading: the readers keep the node and its
			 * version (and the kernel its pages, which are shared
			 * by every open of one inode); the name gets a new
			 * node, as a rename over it would on a local disk */
			if (c->nlookup)
				notify_entry(fs, dir->ino, e->name);
			node_detach(fs, c);
			goto fresh;
		}
		if (c->kind == kind) {
			if (kind == NODE_FILE && c->rm.version &&
			    (c->rm.version != e->rm.version ||
			     strcmp(c->rm.doc_id, e->rm.doc_id))) {
				c->content_gen++;
				if (c->nlookup) /* else the kernel has no pages */
					notify_inode(fs, c->ino);
			}
			c->rm = e->rm;
			c->has_remote = 1;
			if (kind == NODE_FILE)
				node_take_meta(c, e);
			else if (!c->mode_pending)
				c->has_mode = 0; /* the ledger's mode rules */
			return 0;
		}
		/* replaced by another kind: a rare event, worth a walk */
		if (subtree_is_local(c))
			return 0;
		if (c->nlookup)
			notify_entry(fs, dir->ino, e->name);
		node_detach(fs, c);
	}
fresh:
	c = node_new(fs, dir, e->name, kind);
	if (!c)
		return -ENOMEM;
	c->rm = e->rm;
	c->has_remote = 1;
	c->seen = fs->gen;
	if (kind == NODE_FILE)
		node_take_meta(c, e);
	return 0;
}

/* Merge a complete listing of dir (fs->lock held). */
static int merge_listing(struct fs *fs, struct node *dir, const char *dpath,
			 const struct rentry *e, size_t n)
{
	struct node *c, *tmp;
	size_t i;
	int rc;

	fs->gen++;
	for (i = 0; i < n; i++) {
		rc = merge_entry(fs, dir, dpath, &e[i]);
		if (rc < 0)
			return rc;
	}
	HASH_ITER(hh_child, dir->children, c, tmp)
	{
		if (c->seen == fs->gen || subtree_is_local(c))
			continue;
		if (c->nlookup) /* only names the kernel caches */
			notify_entry(fs, dir->ino, c->name);
		node_detach(fs, c);
	}
	return 0;
}

/* dir or one of its ancestors has a queued MKDIR or MOVE (fs->lock). */
static int dir_moving(const struct node *dir)
{
	for (; dir; dir = dir->parent)
		if (dir->pending || !dir->has_remote)
			return 1;
	return 0;
}

int tree_revalidate(struct fs *fs, struct node *dir, int force)
{
	struct rentry *e = NULL;
	size_t n = 0;
	char *path, *now_path;
	char fclass[16] = "";
	uint64_t gen;
	int rc, listed;

	pthread_mutex_lock(&fs->lock);
	if (dir->kind != NODE_DIR) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	if (dir != fs->root && !dir->linked) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOENT;
	}
	/* A folder created or moved locally, or one below such a folder, is
	 * not at its path on the server yet: its children are all known
	 * locally, and a listing would show it empty. */
	if (!dir->has_remote || dir_moving(dir) ||
	    (!force && dir->listed &&
	     fs_now_ms() - dir->listed_at_ms < fs_listing_ttl_ms(fs))) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	path = node_path(dir);
	if (!path) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOMEM;
	}
	node_ref(dir);
	gen = fs->commit_gen;
	listed = dir->listed;
	pthread_mutex_unlock(&fs->lock);

	rc = remote_list(fs, path, &e, &n, fclass);
	/* Out of reach: a folder never listed in this mount takes the
	 * listing last seen (an offline mount).  One listed already keeps
	 * what it has: the copy on disk may be older than that. */
	if (rc == -ENOTCONN && !listed)
		rc = offline_list_load(fs, path, &e, &n, fclass);

	pthread_mutex_lock(&fs->lock);
	now_path = node_path(dir);
	if (!now_path || strcmp(now_path, path)) {
		/* moved or removed meanwhile: the listing is of another place */
		rc = now_path ? 0 : -ENOENT;
	} else if (rc == 0 && gen != fs->commit_gen && dir->listed) {
		/* a batch committed while we listed: the listing may predate
		 * it and would hide what was just deposited; the next access
		 * lists again */
		dir->listed_at_ms = 0;
		rc = 0;
	} else if (rc == -ENOENT || rc == -EEXIST) {
		if (dir != fs->root && !dir->pending &&
		    !subtree_is_local(dir)) {
			notify_entry(fs, dir->parent->ino, dir->name);
			node_detach(fs, dir);
			rc = err_set(-ENOENT, "no such folder '%s'", path);
		} else {
			/* gone remotely but holding local content: the local
			 * view is the listing until that content is settled */
			log_warn(
				"folder '%s' is gone on the server; showing its local content",
				path);
			rc = 0;
		}
	} else if (rc < 0) {
		if (dir->listed) {
			log_debug(
				"listing '%s' failed, serving the cached one: %s",
				path, err_msg());
			rc = 0;
		}
	} else {
		rc = merge_listing(fs, dir, path, e, n);
		if (fclass[0])
			memcpy(dir->rm.fclass, fclass, sizeof(dir->rm.fclass));
		if (rc == 0) {
			dir->listed = 1;
			dir->listed_at_ms = fs_now_ms();
		}
	}
	node_unref(fs, dir);
	pthread_mutex_unlock(&fs->lock);
	free(now_path);
	free(path);
	rentries_free(e, n);
	return rc;
}

int tree_resolve(struct fs *fs, const char *path, struct node **out)
{
	struct node *cur, *next;
	const char *p = path;
	char name[NAME_MAX_LEN + 1];
	int rc;

	pthread_mutex_lock(&fs->lock);
	cur = fs->root;
	node_ref(cur);
	pthread_mutex_unlock(&fs->lock);
	while (*p == '/')
		p++;
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len > NAME_MAX_LEN) {
			rc = -ENAMETOOLONG;
			goto fail;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		p += len;
		while (*p == '/')
			p++;
		rc = tree_revalidate(fs, cur, 0);
		if (rc < 0)
			goto fail;
		pthread_mutex_lock(&fs->lock);
		next = node_child(cur, name);
		if (!next || (*p && next->kind != NODE_DIR)) {
			pthread_mutex_unlock(&fs->lock);
			rc = next ? -ENOTDIR : -ENOENT;
			goto fail;
		}
		node_ref(next);
		node_unref(fs, cur);
		pthread_mutex_unlock(&fs->lock);
		cur = next;
	}
	*out = cur;
	return 0;
fail:
	pthread_mutex_lock(&fs->lock);
	node_unref(fs, cur);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int fs_listing_ttl_ms(const struct fs *fs)
{
	return __atomic_load_n(&fs->feed_ok, __ATOMIC_RELAXED) ?
		       FS_FEED_TTL_MS :
		       FS_TTL_MS;
}
