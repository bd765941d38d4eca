/*
 * The pending operations of the drive: an in-memory mirror of the durable
 * queue (client/store/queue.h), in seq order, each tied to the node it creates or
 * moves and to the remote path it hides until committed.  The mirror is what
 * the FUSE threads and the sync engine consult and rewrite (under fs->lock);
 * every change is written to the queue first, so a restart replays exactly
 * what the mirror held.
 */
#include "client/drive/fs_i.h"

#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "client/drive/deposit_rules.h"
#include "client/drive/mount.h"
#include "client/store/staging.h"
#include "client/store/transport.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/path.h"

static int op_copy(struct queue_op *dst, const struct queue_op *src)
{
	*dst = *src;
	dst->path = src->path ? strdup(src->path) : NULL;
	dst->from = src->from ? strdup(src->from) : NULL;
	dst->to = src->to ? strdup(src->to) : NULL;
	dst->staging = src->staging ? strdup(src->staging) : NULL;
	dst->meta = src->meta ? strdup(src->meta) : NULL;
	if ((src->path && !dst->path) || (src->from && !dst->from) ||
	    (src->to && !dst->to) || (src->staging && !dst->staging) ||
	    (src->meta && !dst->meta)) {
		queue_op_release(dst);
		return -ENOMEM;
	}
	return 0;
}

struct pend *pend_find(struct fs *fs, uint64_t seq)
{
	struct pend *p = NULL;

	HASH_FIND(hh, fs->pends, &seq, sizeof(seq), p);
	return p;
}

struct pend *pend_mkdir(struct fs *fs, const struct node *dir)
{
	struct pend *p, *tmp;

	HASH_ITER(hh, fs->pends, p, tmp)
	{
		if (p->node == dir && p->op.kind == QUEUE_MKDIR)
			return p;
	}
	return NULL;
}

/* Mirror an op already in the queue (fs->lock held). */
static int pend_register(struct fs *fs, const struct queue_op *op,
			 struct node *n, const char *hide)
{
	struct pend *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	if (op_copy(&p->op, op) < 0 || (hide && !(p->hide = strdup(hide)))) {
		queue_op_release(&p->op);
		free(p);
		return -ENOMEM;
	}
	p->seq = op->seq;
	/* sent before under its batch's id: it goes again as it was */
	p->inflight = op->batch[0] != '\0';
	p->node = n;
	/* replayed at start: the close came a settle delay before it was
	 * ready (the same delay, unless the mount's settle changed) */
	p->closed_at_ms = op->ready_at_ms - fs->o->settle_ms;
	if (n) {
		node_ref(n);
		if (op->kind == QUEUE_CHMOD)
			n->mode_pending++;
		else
			n->pending++;
		if (op->kind == QUEUE_DEPOSIT)
			n->dep_seq = op->seq;
	}
	if (hide)
		hidden_add(fs, hide);
	if (op->kind != QUEUE_DEPOSIT && op->seq > fs->last_nondep_seq)
		fs->last_nondep_seq = op->seq;
	HASH_ADD(hh, fs->pends, seq, sizeof(p->seq), p);
	return 0;
}

int pend_append(struct fs *fs, struct queue_op *op, struct node *n,
		const char *hide)
{
	int rc;

	rc = queue_append(fs->q, op);
	if (rc < 0)
		return rc;
	rc = pend_register(fs, op, n, hide);
	if (rc < 0) {
		queue_remove(fs->q, op->seq);
		return rc;
	}
	sync_kick_at(fs, op->ready_at_ms);
	return 0;
}

/* Forget a pend (already removed from the queue or about to be). */
static void pend_forget(struct fs *fs, struct pend *p)
{
	HASH_DELETE(hh, fs->pends, p);
	if (p->node) {
		if (p->op.kind == QUEUE_CHMOD)
			p->node->mode_pending--;
		else
			p->node->pending--;
		if (p->node->dep_seq == p->seq) {
			struct pend *last =
				pend_deposits(fs, p->node, NULL, NULL);

			p->node->dep_seq = last ? last->seq : 0;
		}
		node_unref(fs, p->node);
	}
	if (p->hide) {
		hidden_del(fs, p->hide);
		free(p->hide);
	}
	queue_op_release(&p->op);
	free(p);
}

void pend_drop(struct fs *fs, struct pend *p)
{
	int rc = queue_remove(fs->q, p->seq);

	if (rc < 0)
		log_error("cannot remove queued operation %llu: %s",
			  (unsigned long long)p->seq, err_msg());
	pend_forget(fs, p);
}

void pend_done(struct fs *fs, struct pend *p)
{
	pend_forget(fs, p);
}

void pend_deposits_move(struct fs *fs, struct node *from, struct node *to)
{
	struct pend *p, *tmp;

	HASH_ITER(hh, fs->pends, p, tmp)
	{
		if (p->node != from || p->op.kind != QUEUE_DEPOSIT)
			continue;
		node_ref(to);
		to->pending++;
		if (p->seq > to->dep_seq)
			to->dep_seq = p->seq;
		from->pending--;
		p->node = to;
		node_unref(fs, from);
	}
	from->dep_seq = 0;
}

struct pend *pend_deposits(struct fs *fs, struct node *n, unsigned *count,
			   int *inflight)
{
	struct pend *p, *tmp, *last = NULL;

	if (count)
		*count = 0;
	if (inflight)
		*inflight = 0;
	HASH_ITER(hh, fs->pends, p, tmp)
	{
		if (p->node != n || p->op.kind != QUEUE_DEPOSIT)
			continue;
		last = p;
		if (count)
			(*count)++;
		if (inflight && p->inflight)
			*inflight = 1;
	}
	return last;
}

int pend_deposit(struct fs *fs, struct node *n)
{
	return pend_deposit_hold(fs, n, 0);
}

int pend_deposit_hold(struct fs *fs, struct node *n, unsigned hold_ms)
{
	struct queue_op op;
	struct pend *p;
	char *path;
	int rc;

	if (!n->staging_name)
		return err_set(-ENOENT, "no content to deposit for '%s'",
			       n->name);
	if (n->sealed)
		return 0; /* that content is queued already */
	path = node_path(n);
	if (!path)
		return -ENOENT;
	memset(&op, 0, sizeof(op));
	op.kind = QUEUE_DEPOSIT;
	op.path = path;
	op.staging = n->staging_name;
	if (n->has_remote && n->rm.doc_id[0]) {
		memcpy(op.base_doc, n->rm.doc_id, sizeof(op.base_doc));
		op.base_version = n->rm.version;
	}
	memcpy(op.sbase_doc, n->sbase_doc, sizeof(op.sbase_doc));
	op.sbase_version = n->sbase_version;
	/*
	 * Every close is its own deposit: the settle delay merges none, it
	 * only gives a rename onto the final name (or the removal of a
	 * temporary file) the time to find the deposit still queued and
	 * rewrite (or drop) it, so a temporary name never reaches the
	 * server.
	 */
	op.ready_at_ms =
		fs_now_ms() +
		(hold_ms > fs->o->settle_ms ? hold_ms : fs->o->settle_ms);
	rc = pend_append(fs, &op, n, NULL);
	free(path);
	if (rc < 0)
		return rc;
	p = pend_find(fs, op.seq);
	if (p) {
		p->lsize = n->lsize;
		p->closed_at_ms = fs_now_ms();
	}
	n->sealed = 1;
	return 0;
}

uint64_t pend_version(struct fs *fs, const struct pend *p)
{
	const struct node *n = p->node;
	struct pend *q, *tmp;
	unsigned place = 0;

	if (!n || p->op.kind != QUEUE_DEPOSIT)
		return 0;
	/* fs->pends is in seq order: count n's deposits up to p */
	HASH_ITER(hh, fs->pends, q, tmp)
	{
		if (q->node == n && q->op.kind == QUEUE_DEPOSIT)
			place++;
		if (q == p)
			break;
	}
	return deposit_pending_version(n->rm.doc_id[0] ? n->rm.version : 0,
				       place);
}

void pend_meta(struct fs *fs, const struct pend *p, struct remote_meta *rm)
{
	const struct node *n = p->node;

	memset(rm, 0, sizeof(*rm));
	if (n && n->rm.doc_id[0])
		memcpy(rm->doc_id, n->rm.doc_id, sizeof(rm->doc_id));
	rm->version = pend_version(fs, p);
	rm->size = p->lsize;
	memcpy(rm->sha256, p->sha256, sizeof(rm->sha256));
	snprintf(rm->deposited_by, sizeof(rm->deposited_by), "%s", fs->login);
	rfc3339_utc(p->closed_at_ms / 1000, rm->deposited_at,
		    sizeof(rm->deposited_at));
	if (n)
		rm->mtime = n->mtime_local;
}

int pend_sha256(struct fs *fs, uint64_t seq, char out[OBJ_ID_HEX_LEN + 1])
{
	char staging[128], sdoc[DOC_ID_HEX_LEN + 1];
	struct staging *st = NULL;
	struct hash_ctx *h = NULL;
	struct obj_id id;
	struct node *n;
	struct pend *p;
	uint64_t sver, off = 0;
	uint8_t *buf = NULL;
	int rc;

	pthread_mutex_lock(&fs->lock);
	p = pend_find(fs, seq);
	if (!p || p->op.kind != QUEUE_DEPOSIT || !p->node || !p->op.staging) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOENT;
	}
	if (p->sha256[0]) {
		memcpy(out, p->sha256, OBJ_ID_HEX_LEN + 1);
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	n = p->node;
	node_ref(n);
	snprintf(staging, sizeof(staging), "%s", p->op.staging);
	memcpy(sdoc, p->op.sbase_doc, sizeof(sdoc));
	sver = p->op.sbase_version;
	pthread_mutex_unlock(&fs->lock);

	/* n->lock keeps the staging file from being recycled under us
	 * (content_staging_recycle), and is what the base's map needs; a
	 * deposit committed meanwhile is seen below, under fs->lock */
	pthread_mutex_lock(&n->lock);
	pthread_mutex_lock(&fs->lock);
	rc = pend_find(fs, seq) ? 0 : -ENOENT;
	pthread_mutex_unlock(&fs->lock);
	if (rc == 0)
		rc = content_deposit_open(fs, staging, &st);
	if (rc == 0)
		rc = hash_new(&h);
	if (rc == 0 && !(buf = malloc(CHUNK_MAX)))
		rc = -ENOMEM;
	while (rc == 0) {
		ssize_t r = content_deposit_read(fs, n, st, sdoc, sver, buf,
						 CHUNK_MAX, off);

		if (r < 0)
			rc = (int)r;
		else if (r == 0)
			break;
		else {
			hash_update(h, buf, (size_t)r);
			off += (uint64_t)r;
		}
	}
	pthread_mutex_unlock(&n->lock);
	if (rc == 0) {
		hash_final(h, &id);
		obj_id_to_hex(&id, out);
	}
	hash_free(h);
	free(buf);
	if (st)
		staging_close(st);
	pthread_mutex_lock(&fs->lock);
	if (rc == 0 && (p = pend_find(fs, seq)))
		memcpy(p->sha256, out, OBJ_ID_HEX_LEN + 1);
	node_unref(fs, n);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

/*
 * Replay at start: rebuild the local view of what the queue holds (new
 * folders, pending content, moves and removals) over the server's listing.
 */
struct replay {
	struct queue_op *ops;
	size_t n, alloc;
};

static int replay_collect(const struct queue_op *op, void *arg)
{
	struct replay *r = arg;

	if (r->n == r->alloc) {
		size_t na = r->alloc ? r->alloc * 2 : 64;
		struct queue_op *o = realloc(r->ops, na * sizeof(*o));

		if (!o)
			return -ENOMEM;
		r->ops = o;
		r->alloc = na;
	}
	if (op_copy(&r->ops[r->n], op) < 0)
		return -ENOMEM;
	r->n++;
	return 0;
}

/* Find or create the node at path (its parent must resolve). */
static struct node *replay_node(struct fs *fs, const char *path,
				enum node_kind kind)
{
	char *parent = NULL, *name = NULL;
	struct node *dir = NULL, *c = NULL;

	if (path_split(path, &parent, &name) < 0)
		return NULL;
	if (tree_resolve(fs, parent, &dir) < 0 || dir->kind != NODE_DIR)
		goto out;
	tree_revalidate(fs, dir, 0);
	pthread_mutex_lock(&fs->lock);
	c = node_child(dir, name);
	if (c && c->kind != kind) {
		node_detach(fs, c);
		c = NULL;
	}
	if (!c) {
		c = node_new(fs, dir, name, kind);
		if (c && kind == NODE_DIR)
			c->listed = 1;
	}
	pthread_mutex_unlock(&fs->lock);
out:
	if (dir) {
		pthread_mutex_lock(&fs->lock);
		node_unref(fs, dir);
		pthread_mutex_unlock(&fs->lock);
	}
	free(parent);
	free(name);
	return c;
}

static void replay_one(struct fs *fs, struct queue_op *op)
{
	struct node *n = NULL, *dir = NULL;
	char *parent = NULL, *name = NULL;
	const char *hide = NULL;
	char p[4096];
	int rc = 0;

	switch (op->kind) {
	case QUEUE_MKDIR:
		n = replay_node(fs, op->path, NODE_DIR);
		if (n && op->has_fmode) {
			pthread_mutex_lock(&fs->lock);
			n->mode = op->fmode & 07777;
			n->has_mode = 1;
			pthread_mutex_unlock(&fs->lock);
		}
		break;
	case QUEUE_CHMOD:
		/* the folder is on the server or made by an earlier op */
		if (tree_resolve(fs, op->path, &n) < 0) {
			n = NULL;
			break;
		}
		pthread_mutex_lock(&fs->lock);
		if (n->kind == NODE_DIR) {
			n->mode = op->fmode & 07777;
			n->has_mode = 1;
		}
		node_unref(fs, n); /* the resolve's; pend_register takes one */
		if (n->kind != NODE_DIR)
			n = NULL;
		pthread_mutex_unlock(&fs->lock);
		break;
	case QUEUE_DEPOSIT:
		n = replay_node(fs, op->path, NODE_FILE);
		if (!n)
			break;
		snprintf(p, sizeof(p), "%s/%s", fs->staging_dir, op->staging);
		pthread_mutex_lock(&n->lock);
		/* a later deposit of the same file: its content is newer */
		if (n->st && (!n->st_name || strcmp(n->st_name, op->staging))) {
			staging_close(n->st);
			n->st = NULL;
			free(n->st_name);
			n->st_name = NULL;
		}
		if (!n->st) {
			rc = staging_open(&n->st, p, &fs->key);
			if (rc == 0)
				n->st_name = strdup(op->staging);
		}
		pthread_mutex_lock(&fs->lock);
		if (rc == 0) {
			free(n->staging_name);
			n->staging_name = strdup(op->staging);
			n->sealed = 1;
			memcpy(n->sbase_doc, op->sbase_doc,
			       sizeof(n->sbase_doc));
			n->sbase_version = op->sbase_version;
			n->sbase_size = UINT64_MAX; /* bounded by the map */
			n->lsize = staging_size(n->st);
			if (op->base_doc[0] && !n->rm.doc_id[0]) {
				memcpy(n->rm.doc_id, op->base_doc,
				       sizeof(n->rm.doc_id));
				n->rm.version = op->base_version;
			}
		}
		pthread_mutex_unlock(&fs->lock);
		pthread_mutex_unlock(&n->lock);
		if (rc < 0) {
			/* without its content the deposit would make an empty
			 * version: drop it, say so, show nothing in its place */
			snprintf(fs->last_error, sizeof(fs->last_error),
				 "%.200s: staging file lost: %.200s", op->path,
				 err_msg());
			fs->errors++;
			fs->last_error_ms = fs_now_ms();
			log_error(
				"queued deposit of '%s' lost its staging file: %s",
				op->path, err_msg());
			queue_remove(fs->q, op->seq);
			pthread_mutex_lock(&fs->lock);
			if (!n->has_remote && !n->staging_name && !n->pending)
				node_detach(fs, n);
			pthread_mutex_unlock(&fs->lock);
			goto out;
		}
		break;
	case QUEUE_MOVE:
		hide = op->from;
		if (tree_resolve(fs, op->from, &n) < 0) {
			n = NULL;
			break;
		}
		if (path_split(op->to, &parent, &name) == 0 &&
		    tree_resolve(fs, parent, &dir) == 0) {
			struct node *t;
			enum deposit_replay_move replay;
			int target;

			tree_revalidate(fs, dir, 0);
			pthread_mutex_lock(&fs->lock);
			t = dir->kind == NODE_DIR ? node_child(dir, name) :
						    NULL;
			target = !t ? 0 : t->kind == NODE_DIR ? 2 : 1;
			/* the rename returned 0: over an existing file too */
			replay = deposit_replay_move(
				dir->kind == NODE_DIR, n->kind == NODE_DIR,
				target,
				t && t->listed &&
					!HASH_CNT(hh_child, t->children));
			if (replay == DEPOSIT_REPLAY_REPLACE)
				node_detach(fs, t);
			if (replay != DEPOSIT_REPLAY_SKIP) {
				node_ref(n); /* keep it across detach */
				node_detach(fs, n);
				node_attach(dir, n, name);
				/* A folder keeps the mode the server gave it
				 * under its old name (a chmod committed before
				 * the restart) while the move waits: no listing
				 * of the new name states it yet. */
				if (n->kind == NODE_DIR && !n->has_mode &&
				    n->has_remote && n->rm.has_mode) {
					n->mode = n->rm.mode & 07777;
					n->has_mode = 1;
				}
				node_unref(fs, n);
			}
			node_unref(fs, dir);
			pthread_mutex_unlock(&fs->lock);
		}
		pthread_mutex_lock(&fs->lock);
		node_unref(fs, n); /* the resolve's reference */
		pthread_mutex_unlock(&fs->lock);
		break;
	case QUEUE_UNLINK:
	case QUEUE_RMDIR:
		hide = op->path;
		if (tree_resolve(fs, op->path, &n) == 0) {
			pthread_mutex_lock(&fs->lock);
			node_detach(fs, n);
			node_unref(fs, n);
			pthread_mutex_unlock(&fs->lock);
		}
		n = NULL;
		break;
	}
	pthread_mutex_lock(&fs->lock);
	if (n && !n->linked && op->kind != QUEUE_MOVE)
		n = NULL;
	if (pend_register(fs, op, n, hide) < 0) {
		log_error("out of memory replaying the queue");
	} else if (op->kind == QUEUE_DEPOSIT && n) {
		struct pend *pd = pend_find(fs, op->seq);

		if (pd)
			pd->lsize = n->lsize;
	}
	pthread_mutex_unlock(&fs->lock);
out:
	free(parent);
	free(name);
}

/*
 * Remove staging files no queued deposit names: content of files that were
 * still open (never closed, so never promised) when the process died.
 * Called after the replay, before any FUSE thread runs.
 */
static void staging_sweep(struct fs *fs)
{
	DIR *d = opendir(fs->staging_dir);
	struct dirent *de;
	struct pend *p, *tmp;
	unsigned long removed = 0;

	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name),
		       sl = sizeof(STAGING_LOWER_SUFFIX) - 1;
		int used = 0;

		if (de->d_name[0] == '.' || de->d_type == DT_DIR)
			continue; /* kept/: refused content, set aside */
		/* NAME.lower, the lower of layered NAME, lives as NAME does
		 * (it goes with NAME when NAME goes) */
		if (len > sl &&
		    !strcmp(de->d_name + len - sl, STAGING_LOWER_SUFFIX))
			len -= sl;
		HASH_ITER(hh, fs->pends, p, tmp)
		{
			if (p->op.kind == QUEUE_DEPOSIT && p->op.staging &&
			    strlen(p->op.staging) == len &&
			    !strncmp(p->op.staging, de->d_name, len)) {
				used = 1;
				break;
			}
		}
		if (!used) {
			content_staging_delete(fs, de->d_name);
			removed++;
		}
	}
	closedir(d);
	content_staging_reap(fs);
	if (removed)
		log_info("removed %lu staging files no deposit names (content "
			 "of files never closed, or kept for reuse)",
			 removed);
}

/* Whether the server applied our batch named id: 1, 0, or negative when
 * it cannot tell (offline, or a server without the route). */
static int batch_applied(struct fs *fs, const char *id)
{
	char path[256];
	json_t *reply = NULL, *a;
	int rc;

	snprintf(path, sizeof(path), "/v1/spaces/%s/batches/%s", fs->space, id);
	rc = transport_json(fs->t, "GET", path, NULL, &reply);
	if (rc == 0) {
		a = json_object_get(reply, "applied");
		rc = json_is_boolean(a) ?
			     json_is_true(a) :
			     err_set(-EPROTO, "malformed answer about batch %s",
				     id);
	}
	json_decref(reply);
	return rc;
}

/*
 * The ops of named batches the server applied before this process died
 * (it committed; the reply, or our dequeue, was lost) are dropped before
 * the replay: the server's listing holds them already, and laid over it
 * again they would show, until sent and listed anew, a name the batch
 * moved away or a content a later deposit elsewhere replaced.  Offline, or
 * when the server cannot tell, they are replayed and sent again as before
 * (a retry is answered with the first outcome).  drop[i] is set for each
 * op dropped.
 */
static void settle_applied(struct fs *fs, const struct replay *r,
			   unsigned char *drop)
{
	uint64_t *seqs = calloc(r->n ? r->n : 1, sizeof(*seqs));
	size_t i, j, n = 0, batches = 0;
	int rc = 0;

	if (!seqs)
		return;
	/* drop[i]: 0 unasked, 1 applied, 2 not applied */
	for (i = 0; i < r->n && rc >= 0; i++) {
		if (!r->ops[i].batch[0] || drop[i])
			continue;
		rc = batch_applied(fs, r->ops[i].batch);
		if (rc < 0) {
			log_debug("queued batch %s not settled: %s",
				  r->ops[i].batch, err_msg());
			break; /* offline: ask no more */
		}
		for (j = i; j < r->n; j++)
			if (!strcmp(r->ops[j].batch, r->ops[i].batch)) {
				drop[j] = rc ? 1 : 2;
				if (rc)
					seqs[n++] = r->ops[j].seq;
			}
		batches += rc ? 1 : 0;
	}
	for (i = 0; i < r->n; i++)
		if (drop[i] == 2)
			drop[i] = 0;
	if (n && queue_remove_many(fs->q, seqs, n) < 0) {
		log_warn("cannot drop the committed batches from the queue: %s",
			 err_msg());
		memset(drop, 0, r->n);
	} else if (n) {
		log_info("%zu queued operations of %zu batches were committed "
			 "before the restart: not sent again",
			 n, batches);
	}
	free(seqs);
}

int pend_replay(struct fs *fs)
{
	struct replay r = { NULL, 0, 0 };
	unsigned char *drop = NULL;
	size_t i;
	int rc;

	rc = queue_list(fs->q, replay_collect, &r);
	if (rc >= 0 && !(drop = calloc(r.n ? r.n : 1, 1)))
		rc = -ENOMEM;
	if (rc >= 0) {
		size_t resumed = 0;

		settle_applied(fs, &r, drop);
		for (i = 0; i < r.n; i++)
			if (!drop[i]) {
				replay_one(fs, &r.ops[i]);
				resumed++;
			}
		if (resumed)
			log_info("%zu queued operations resume", resumed);
		/* deposits up to here may have been committed already by
		 * a process that sent them unnamed (sync.c checks) */
		for (i = 0; i < r.n; i++)
			if (r.ops[i].seq > fs->replay_seq)
				fs->replay_seq = r.ops[i].seq;
		staging_sweep(fs);
		rc = 0;
	}
	for (i = 0; i < r.n; i++)
		queue_op_release(&r.ops[i]);
	free(r.ops);
	free(drop);
	return rc;
}
