/*
 * The read-only `.versions` folders.  DIR/.versions is reachable by lookup
 * in every folder but never listed (like ZFS's .zfs); DIR/.versions/NAME is
 * a folder holding v1.EXT .. vN.EXT, one read-only file per version of
 * NAME's document (the extension kept so programs open them right).
 * Versions are immutable, so a version file's node never changes; the list
 * of versions is refreshed from the server after FS_TTL_MS.
 */
#include "client/drive/fs_i.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/path.h"

const char *vdir_ext(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && dot != name ? dot : "";
}

/* The version the tree knows for vdoc's document (fs->lock held): a list
 * of versions older than it is stale whatever its age. */
static uint64_t vdoc_current_version(const struct node *vdoc)
{
	const struct node *vroot = vdoc->parent, *f;

	if (!vroot || !vroot->parent)
		return 0;
	f = node_child(vroot->parent, vdoc->name);
	if (!f || strcmp(f->rm.doc_id, vdoc->rm.doc_id))
		return 0;
	return f->rm.version;
}

/* The file whose versions vdoc shows, NULL when gone (fs->lock held). */
static struct node *vdoc_file(const struct node *vdoc)
{
	const struct node *vroot = vdoc->parent;
	struct node *f;

	if (!vroot || !vroot->parent)
		return NULL;
	f = node_child(vroot->parent, vdoc->name);
	if (!f || f->kind != NODE_FILE)
		return NULL;
	if (vdoc->rm.doc_id[0] && strcmp(f->rm.doc_id, vdoc->rm.doc_id))
		return NULL;
	return f;
}

/* The name of version v in vdoc into out. */
static void vfile_name(const struct node *vdoc, uint64_t v, char *out,
		       size_t cap)
{
	snprintf(out, cap, "v%" PRIu64 "%s", v, vdir_ext(vdoc->name));
	if (strlen(out) > NAME_MAX_LEN)
		snprintf(out, cap, "v%" PRIu64, v);
}

/*
 * Show the file's queued deposits as the versions they will be (fs->lock
 * held): a close is a version at once, online or not, readable from its
 * staging file.  A pending entry whose deposit has gone (committed, or a
 * temporary file dropped) leaves, unless the server's list has that
 * number, which then takes the entry over.
 */
static int vdoc_pending(struct fs *fs, struct node *vdoc)
{
	struct node *f = vdoc_file(vdoc), *c, *tmp;
	struct pend *p, *ptmp;

	HASH_ITER(hh_child, vdoc->children, c, tmp)
	{
		if (c->pend_seq && !pend_find(fs, c->pend_seq)) {
			c->pend_seq = 0;
			if (!c->has_remote)
				node_detach(fs, c);
		}
	}
	if (!f || !f->dep_seq)
		return 0;
	HASH_ITER(hh, fs->pends, p, ptmp)
	{
		char name[64 + NAME_MAX_LEN];
		uint64_t v;

		if (p->node != f || p->op.kind != QUEUE_DEPOSIT)
			continue;
		v = pend_version(fs, p);
		if (!v)
			continue;
		vfile_name(vdoc, v, name, sizeof(name));
		c = node_child(vdoc, name);
		if (c && c->has_remote && !c->pend_seq)
			continue; /* the server holds that number already */
		if (c && c->pend_seq != p->seq) {
			node_detach(fs, c); /* renumbered */
			c = NULL;
		}
		if (!c) {
			c = node_new(fs, vdoc, name, NODE_VFILE);
			if (!c)
				return -ENOMEM;
		}
		c->pend_seq = p->seq;
		c->has_remote = 0;
		pend_meta(fs, p, &c->rm);
		c->vnum = v;
	}
	return 0;
}

int vdir_revalidate(struct fs *fs, struct node *vdoc, int force)
{
	struct remote_meta *v = NULL;
	char doc[DOC_ID_HEX_LEN + 1];
	size_t n = 0, i;
	int rc;

	pthread_mutex_lock(&fs->lock);
	{
		struct node *f = vdoc_file(vdoc);

		/* a document the server has not seen yet: the new file's
		 * first versions are all pending */
		if (f && !vdoc->rm.doc_id[0] && f->rm.doc_id[0])
			memcpy(vdoc->rm.doc_id, f->rm.doc_id,
			       sizeof(vdoc->rm.doc_id));
	}
	if (!vdoc->rm.doc_id[0] ||
	    (!force && vdoc->listed &&
	     fs_now_ms() - vdoc->listed_at_ms < FS_TTL_MS &&
	     vdoc_current_version(vdoc) <= vdoc->vnum)) {
		rc = vdoc_pending(fs, vdoc);
		if (rc == 0)
			vdoc->listed = 1;
		pthread_mutex_unlock(&fs->lock);
		return rc;
	}
	memcpy(doc, vdoc->rm.doc_id, sizeof(doc));
	node_ref(vdoc);
	pthread_mutex_unlock(&fs->lock);

	rc = remote_versions(fs, doc, &v, &n);

	pthread_mutex_lock(&fs->lock);
	if (rc < 0) {
		struct node *f = vdoc_file(vdoc);

		/* serve the versions known, and those queued here (offline
		 * above all) */
		if (rc != -ENOENT && (vdoc->listed || (f && f->dep_seq))) {
			rc = vdoc_pending(fs, vdoc);
			if (rc == 0)
				vdoc->listed = 1;
		}
		goto out;
	}
	for (i = 0; i < n; i++) {
		char name[64 + NAME_MAX_LEN];
		struct node *c;

		vfile_name(vdoc, v[i].version, name, sizeof(name));
		c = node_child(vdoc, name);
		if (c && c->pend_seq) {
			/* the number of a deposit still queued here was taken
			 * on the server (another device): the server's version
			 * is that name now, the queued one moves up */
			node_detach(fs, c);
			c = NULL;
		}
		if (!c) {
			c = node_new(fs, vdoc, name, NODE_VFILE);
			if (!c) {
				rc = -ENOMEM;
				goto out;
			}
		}
		c->rm = v[i];
		c->vnum = v[i].version;
		c->has_remote = 1;
		if (c->vnum > vdoc->vnum)
			vdoc->vnum = c->vnum; /* the newest known */
	}
	rc = vdoc_pending(fs, vdoc);
	vdoc->listed = 1;
	vdoc->listed_at_ms = fs_now_ms();
out:
	node_unref(fs, vdoc);
	pthread_mutex_unlock(&fs->lock);
	free(v);
	return rc;
}

/* .versions/NAME: the versions folder of the document NAME in dir. */
static int vdoc_lookup(struct fs *fs, struct node *vroot, const char *name,
		       struct node **out)
{
	struct node *dir, *f, *vd;
	int rc;

	pthread_mutex_lock(&fs->lock);
	dir = vroot->parent;
	if (dir)
		node_ref(dir);
	pthread_mutex_unlock(&fs->lock);
	if (!dir)
		return -ENOENT;
	rc = tree_revalidate(fs, dir, 0);
	pthread_mutex_lock(&fs->lock);
	if (rc < 0)
		goto out;
	f = node_child(dir, name);
	if (!f || f->kind != NODE_FILE || (!f->rm.doc_id[0] && !f->dep_seq)) {
		rc = -ENOENT;
		goto out;
	}
	vd = node_child(vroot, name);
	if (vd && !vd->rm.doc_id[0] && f->rm.doc_id[0])
		/* its first deposit committed: the same folder, now of a
		 * document the server knows */
		memcpy(vd->rm.doc_id, f->rm.doc_id, sizeof(vd->rm.doc_id));
	if (vd && strcmp(vd->rm.doc_id, f->rm.doc_id)) {
		node_detach(fs, vd); /* the name now files another document */
		vd = NULL;
	}
	if (!vd) {
		vd = node_new(fs, vroot, name, NODE_VDOC);
		if (!vd) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(vd->rm.doc_id, f->rm.doc_id, sizeof(vd->rm.doc_id));
		vd->has_remote = 1;
	}
	node_ref(vd);
	*out = vd;
out:
	node_unref(fs, dir);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int vdir_lookup(struct fs *fs, struct node *parent, const char *name,
		struct node **out)
{
	struct node *c;
	int rc;

	switch (parent->kind) {
	case NODE_DIR:
		pthread_mutex_lock(&fs->lock);
		if (!parent->vroot) {
			c = node_new(fs, NULL, VERSIONS_NAME, NODE_VROOT);
			if (!c) {
				pthread_mutex_unlock(&fs->lock);
				return -ENOMEM;
			}
			c->parent = parent;
			c->linked = 1; /* held by parent->vroot */
			c->has_remote = 1;
			parent->vroot = c;
		}
		c = parent->vroot;
		node_ref(c);
		pthread_mutex_unlock(&fs->lock);
		*out = c;
		return 0;
	case NODE_VROOT:
		return vdoc_lookup(fs, parent, name, out);
	case NODE_VDOC:
		/* a miss may be a version deposited since the last listing:
		 * ask again once before saying no */
		for (int pass = 0; pass < 2; pass++) {
			rc = vdir_revalidate(fs, parent, pass);
			if (rc < 0)
				return rc;
			pthread_mutex_lock(&fs->lock);
			c = node_child(parent, name);
			if (c)
				node_ref(c);
			pthread_mutex_unlock(&fs->lock);
			if (c) {
				*out = c;
				return 0;
			}
		}
		return -ENOENT;
	default:
		return -ENOTDIR;
	}
}
