/*
 * The sync engine: one thread that sends the queued operations to the
 * server strictly in seq order.  It takes the longest ready prefix of the
 * queue as one batch (bounded in operations and in new bytes), streams each
 * deposit's content through the space-seeded chunker, caches every chunk
 * (reads after an upload stay local), asks the server which chunks it
 * lacks, uploads only those, and commits the batch as one ledger commit.
 *
 * Failures: a transient one (server unreachable, 5xx, expired token) keeps
 * everything queued and retries with backoff (0.5 s doubling to 10 s).  A
 * permanent one names the failing operation: a deposit is retried once
 * under a conflict name in the same folder (data is never dropped), any
 * other operation is dropped with its message kept for user.coffre.error.
 */
#include "client/drive/fs_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "client/store/cache.h"
#include "client/drive/deposit_rules.h"
#include "client/drive/mount.h"
#include "client/store/staging.h"
#include "client/store/transport.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/path.h"

#define BATCH_MAX_OPS	 2000
#define BATCH_MAX_BYTES	 (64ull * 1024 * 1024)
#define MISSING_MAX	 100000
#define READ_PIECE	 (2 * CHUNK_MAX)
#define BACKOFF_MIN_MS	 500
#define BACKOFF_MAX_MS	 10000
#define BATCH_GATHER_OPS 1000 /* a batch this big goes at once */
#define BATCH_GAP_MS	 300
#define BATCH_HOLD_MS	 2000

struct bop {
	uint64_t seq;
	struct queue_op op; /* shallow view of the pend's op */
	struct node *node;  /* referenced, or NULL */
	struct manifest_chunk *chunks;
	size_t nchunks, alloc;
	uint64_t size;
	struct obj_id sha;
	int64_t mtime;
	json_t *meta; /* DEPOSIT: mode and user.* attributes to send */
	int fatal;    /* its content cannot be read, ever */
	int landed;   /* replayed deposit the server already holds */
	struct remote_meta landed_rm;
	char *retired; /* its staging file, committed: to recycle */
	/* DEPOSIT: a handle of its own on its staging file, which no write
	 * touches any more (content.c copies on write) */
	struct staging *st;
};

struct batch {
	struct bop *ops;
	size_t n;
};

/*
 * Length of the ready prefix of the queue (fs->lock held).  *wake gets the
 * ready time of the first op not ready yet, 0 when none waits on time.
 */
static size_t ready_prefix(struct fs *fs, size_t max_ops, int64_t now,
			   int64_t *wake)
{
	struct pend *p, *tmp;
	uint64_t bytes = 0;
	size_t n = 0;

	*wake = 0;
	HASH_ITER(hh, fs->pends, p, tmp)
	{
		if (n >= max_ops)
			break;
		if (!fs->sync_force && p->op.ready_at_ms > now) {
			*wake = p->op.ready_at_ms;
			break;
		}
		/* a deposit goes even while its file is open for writing:
		 * the writes go to a copy of its staging file */
		if (p->op.kind == QUEUE_DEPOSIT && p->node) {
			if (n && bytes + p->lsize > BATCH_MAX_BYTES)
				break;
			bytes += p->lsize;
		}
		n++;
	}
	return n;
}

/*
 * Take the ready prefix of the queue as a batch (fs->lock held).  Returns
 * when to look again if nothing was taken (0: when kicked).
 *
 * A copy in progress makes a stream of ops that become ready one after the
 * other.  While the next one is due within BATCH_GAP_MS, wait for it rather
 * than commit a handful at a time, but never hold the first op more than
 * BATCH_HOLD_MS past its settle time: few commits, and still soon after the
 * last close.
 */
static int64_t batch_take(struct fs *fs, struct batch *b, size_t max_ops)
{
	struct pend *p, *tmp;
	int64_t now = fs_now_ms(), wake, hold_until;
	size_t n;

	b->n = 0;
	/* a batch sent before (its reply lost, or the drive restarted) goes
	 * again exactly as it was, under its id: the same ops, no more */
	if (fs->pends && fs->pends->op.batch[0]) {
		n = 0;
		HASH_ITER(hh, fs->pends, p, tmp)
		{
			if (n == BATCH_MAX_OPS ||
			    strcmp(p->op.batch, fs->pends->op.batch))
				break;
			n++;
		}
		goto take;
	}
	n = ready_prefix(fs, max_ops, now, &wake);
	if (!n)
		return wake;
	hold_until = fs->pends->op.ready_at_ms + BATCH_HOLD_MS;
	if (n < BATCH_GATHER_OPS && wake && wake - now < BATCH_GAP_MS &&
	    !fs->sync_force && now < hold_until)
		return wake < hold_until ? wake : hold_until;
take:
	HASH_ITER(hh, fs->pends, p, tmp)
	{
		if (b->n == n)
			break;
		memset(&b->ops[b->n], 0, sizeof(b->ops[b->n]));
		b->ops[b->n].seq = p->seq;
		b->ops[b->n].op = p->op;
		b->ops[b->n].node = p->node;
		if (p->node) {
			node_ref(p->node);
			if (p->op.kind == QUEUE_DEPOSIT)
				p->node->dep_inflight = 1;
			b->ops[b->n].mtime = p->node->mtime_local;
			if (p->op.kind == QUEUE_DEPOSIT)
				b->ops[b->n].meta = node_meta_json(p->node);
		}
		if (p->op.batch[0])
			b->ops[b->n].mtime = p->op.mtime; /* as sent */
		if (p->op.batch[0] && p->op.meta) {	  /* as sent, too */
			json_decref(b->ops[b->n].meta);
			b->ops[b->n].meta = json_loads(p->op.meta, 0, NULL);
		}
		p->inflight = 1;
		b->n++;
	}
	return 0;
}

/* Give the batch back (fs->lock held): clear in-flight marks.  An op of a
 * named batch stays in flight: the server may hold it already, so no
 * rename or removal may rewrite it before it is sent again as it was. */
static void batch_put_from(struct fs *fs, struct batch *b, size_t from)
{
	size_t i;

	for (i = from; i < b->n; i++) {
		struct bop *o = &b->ops[i];
		struct pend *p = pend_find(fs, o->seq);

		if (p && !p->op.batch[0])
			p->inflight = 0;
		if (o->node) {
			if (o->op.kind == QUEUE_DEPOSIT)
				o->node->dep_inflight = 0;
			node_unref(fs, o->node);
		}
		free(o->chunks);
		free(o->retired);
		json_decref(o->meta);
		o->meta = NULL;
		if (o->st)
			staging_close(o->st);
	}
	b->n = from;
	pthread_cond_broadcast(&fs->cond);
}

static void batch_put(struct fs *fs, struct batch *b)
{
	batch_put_from(fs, b, 0);
}

static int bop_add_chunk(struct bop *o, const struct obj_id *id, size_t len)
{
	if (o->nchunks == o->alloc) {
		size_t na = o->alloc ? o->alloc * 2 : 16;
		struct manifest_chunk *c = realloc(o->chunks, na * sizeof(*c));

		if (!c)
			return -ENOMEM;
		o->chunks = c;
		o->alloc = na;
	}
	o->chunks[o->nchunks].id = *id;
	o->chunks[o->nchunks].size = (uint32_t)len;
	o->nchunks++;
	return 0;
}

/* Chunk and hash one deposit's content, caching every chunk. */
static int deposit_prepare(struct fs *fs, struct bop *o, uint8_t *buf)
{
	struct hash_ctx *whole = NULL;
	size_t have = 0;
	uint64_t off = 0;
	int eof = 0, rc;

	if (!o->node)
		return err_set(-EIO, "deposit of '%s' without its file",
			       o->op.path);
	/* the content comes from the op's own staging file, whatever the
	 * file holds now: that is what was closed */
	if (!o->st) {
		rc = o->op.staging ?
			     content_deposit_open(fs, o->op.staging, &o->st) :
			     -ENOENT;
		if (rc == -ENOENT || rc == -EBADMSG) {
			o->fatal = 1;
			return err_set(rc,
				       "the pending content of '%s' is gone",
				       o->op.path);
		}
		if (rc < 0)
			return rc;
	}
	rc = hash_new(&whole);
	if (rc < 0)
		return rc;
	for (;;) {
		size_t cut;
		struct obj_id id;

		/* an unmount does not wait for a large file to be cut: the
		 * queue is durable, the next mount starts it again */
		if (__atomic_load_n(&fs->sync_stop, __ATOMIC_RELAXED)) {
			rc = err_set(-ECANCELED, "stopped by the unmount");
			goto out;
		}
		while (!eof && have < READ_PIECE) {
			ssize_t r;

			pthread_mutex_lock(&o->node->lock);
			r = content_deposit_read(fs, o->node, o->st,
						 o->op.sbase_doc,
						 o->op.sbase_version,
						 buf + have, READ_PIECE - have,
						 off);
			pthread_mutex_unlock(&o->node->lock);
			if (r < 0) {
				/* a lost or tampered staging file will not heal;
				 * anything else (network, memory) may */
				rc = (int)r;
				if (rc == -ENOENT || rc == -EBADMSG)
					o->fatal = 1;
				goto out;
			}
			if (r == 0)
				eof = 1;
			have += (size_t)r;
			off += (uint64_t)r;
		}
		if (!have)
			break;
		cut = chunker_next(&fs->chunker, buf, have, eof);
		if (!cut)
			cut = have < CHUNK_MAX ? have : CHUNK_MAX;
		hash_buf(&id, buf, cut);
		hash_update(whole, buf, cut);
		rc = cache_put(fs->cache, &id, buf, cut);
		if (rc < 0)
			goto out;
		rc = bop_add_chunk(o, &id, cut);
		if (rc < 0)
			goto out;
		memmove(buf, buf + cut, have - cut);
		have -= cut;
	}
	o->size = off;
	hash_final(whole, &o->sha);
out:
	hash_free(whole);
	return rc;
}

static int id_cmp(const void *a, const void *b)
{
	return obj_id_cmp(a, b);
}

/* Uploads run on a few threads: small files make many small PUTs, and one
 * at a time the round trips, not the bytes, would set the pace. */
#define UPLOAD_THREADS 8

struct upload {
	struct fs *fs;
	struct batch *b; /* where to read a chunk the cache let go */
	const struct obj_id *ids;
	const uint8_t *missing;
	size_t n, next;
	int rc;
	char msg[FS_ERRMSG_MAX];
	pthread_mutex_t lock;
};

/*
 * A chunk evicted from a small cache before its upload: read it again
 * from the staging file it was cut from (immutable since its close:
 * writers write to a copy), and check it still hashes to its id.
 */
static int chunk_reread(struct fs *fs, struct batch *b, const struct obj_id *id,
			uint8_t **out, size_t *len)
{
	for (size_t i = 0; i < b->n; i++) {
		struct bop *o = &b->ops[i];
		uint64_t off = 0;

		for (size_t j = 0; o->node && o->st && j < o->nchunks;
		     off += o->chunks[j++].size) {
			struct obj_id got;
			uint8_t *p;
			size_t have = 0;

			if (obj_id_cmp(&o->chunks[j].id, id))
				continue;
			p = malloc(o->chunks[j].size);
			if (!p)
				return -ENOMEM;
			while (have < o->chunks[j].size) {
				ssize_t r;

				pthread_mutex_lock(&o->node->lock);
				r = content_deposit_read(
					fs, o->node, o->st, o->op.sbase_doc,
					o->op.sbase_version, p + have,
					o->chunks[j].size - have, off + have);
				pthread_mutex_unlock(&o->node->lock);
				if (r <= 0) {
					free(p);
					return r < 0 ? (int)r :
						       err_set(-EAGAIN,
							       "pending content of '%s' shrank",
							       o->op.path);
				}
				have += (size_t)r;
			}
			hash_buf(&got, p, have);
			if (obj_id_cmp(&got, id)) {
				free(p);
				return err_set(
					-EAGAIN,
					"pending content of '%s' changed",
					o->op.path);
			}
			*out = p;
			*len = have;
			return 0;
		}
	}
	return err_set(-EAGAIN, "chunk left the cache before upload");
}

static void *upload_main(void *arg)
{
	struct upload *u = arg;

	for (;;) {
		uint8_t *data = NULL;
		size_t i, len = 0;
		int rc;

		pthread_mutex_lock(&u->lock);
		while (u->next < u->n && !u->missing[u->next])
			u->next++;
		/* nor for its upload (the chunks sent so far stay sent) */
		if (u->rc == 0 &&
		    __atomic_load_n(&u->fs->sync_stop, __ATOMIC_RELAXED)) {
			u->rc = -ECANCELED;
			snprintf(u->msg, sizeof(u->msg),
				 "stopped by the unmount");
		}
		if (u->rc < 0 || u->next >= u->n) {
			pthread_mutex_unlock(&u->lock);
			return NULL;
		}
		i = u->next++;
		pthread_mutex_unlock(&u->lock);
		rc = cache_get(u->fs->cache, &u->ids[i], &data, &len);
		if (rc == -ENOENT) /* evicted meanwhile: from the staging */
			rc = chunk_reread(u->fs, u->b, &u->ids[i], &data, &len);
		if (rc == 0)
			rc = transport_put_chunk(u->fs->t, u->fs->space,
						 &u->ids[i], data, len);
		free(data);
		if (rc < 0) {
			pthread_mutex_lock(&u->lock);
			if (u->rc == 0) {
				u->rc = rc;
				snprintf(u->msg, sizeof(u->msg), "%s",
					 err_msg());
			}
			pthread_mutex_unlock(&u->lock);
			return NULL;
		}
	}
}

static int upload_run(struct fs *fs, struct batch *b, const struct obj_id *ids,
		      const uint8_t *missing, size_t n)
{
	struct upload u = {
		.fs = fs, .b = b, .ids = ids, .missing = missing, .n = n
	};
	pthread_t th[UPLOAD_THREADS];
	size_t i, started = 0, want = 0;

	for (i = 0; i < n; i++)
		want += missing[i];
	if (!want)
		return 0;
	if (want > UPLOAD_THREADS)
		want = UPLOAD_THREADS;
	pthread_mutex_init(&u.lock, NULL);
	for (i = 1; i < want; i++)
		if (pthread_create(&th[started], NULL, upload_main, &u) == 0)
			started++;
	upload_main(&u);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&u.lock);
	if (u.rc < 0)
		return err_set(u.rc, "%s", u.msg);
	return 0;
}

/* Ask which chunks the server lacks and upload those. */
static int upload_missing(struct fs *fs, struct batch *b)
{
	struct obj_id *ids = NULL;
	uint8_t *missing = NULL;
	size_t n = 0, cap = 0, i, j, u = 0, at;
	int rc = 0;

	for (i = 0; i < b->n; i++)
		cap += b->ops[i].nchunks;
	if (!cap)
		return 0;
	ids = malloc(cap * sizeof(*ids));
	missing = malloc(cap);
	if (!ids || !missing) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < b->n; i++)
		for (j = 0; j < b->ops[i].nchunks; j++)
			ids[n++] = b->ops[i].chunks[j].id;
	qsort(ids, n, sizeof(*ids), id_cmp);
	for (i = 0; i < n; i++) /* dedup */
		if (!u || obj_id_cmp(&ids[u - 1], &ids[i]))
			ids[u++] = ids[i];
	for (at = 0; at < u && rc == 0; at += MISSING_MAX) {
		size_t cnt = u - at < MISSING_MAX ? u - at : MISSING_MAX;

		rc = remote_missing(fs, ids + at, cnt, missing + at);
	}
	if (rc == 0)
		rc = upload_run(fs, b, ids, missing, u);
out:
	free(ids);
	free(missing);
	return rc;
}

static json_t *bop_json(const struct bop *o)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	json_t *j = json_object(), *chunks;
	size_t i;

	if (!j)
		return NULL;
	switch (o->op.kind) {
	case QUEUE_MKDIR:
		json_object_set_new(j, "op", json_string("mkdir"));
		json_object_set_new(j, "path", json_string(o->op.path));
		if (o->op.fclass[0]) /* set before the folder was sent */
			json_object_set_new(j, "class",
					    json_string(o->op.fclass));
		if (o->op.has_fmode)
			json_object_set_new(
				j, "mode",
				json_integer((json_int_t)o->op.fmode));
		break;
	case QUEUE_CHMOD:
		json_object_set_new(j, "op", json_string("chmod"));
		json_object_set_new(j, "path", json_string(o->op.path));
		json_object_set_new(j, "mode",
				    json_integer((json_int_t)o->op.fmode));
		break;
	case QUEUE_DEPOSIT:
		json_object_set_new(j, "op", json_string("deposit"));
		json_object_set_new(j, "path", json_string(o->op.path));
		json_object_set_new(j, "size",
				    json_integer((json_int_t)o->size));
		obj_id_to_hex(&o->sha, hex);
		json_object_set_new(j, "sha256", json_string(hex));
		chunks = json_array();
		for (i = 0; chunks && i < o->nchunks; i++) {
			obj_id_to_hex(&o->chunks[i].id, hex);
			json_array_append_new(
				chunks,
				json_pack("[sI]", hex,
					  (json_int_t)o->chunks[i].size));
		}
		json_object_set_new(j, "chunks", chunks);
		if (o->op.base_doc[0] && o->op.base_version)
			json_object_set_new(
				j, "base_version",
				json_integer((json_int_t)o->op.base_version));
		if (o->mtime)
			json_object_set_new(j, "mtime", json_integer(o->mtime));
		if (o->meta)
			json_object_update(j, o->meta);
		break;
	case QUEUE_MOVE:
		json_object_set_new(j, "op", json_string("move"));
		json_object_set_new(j, "from", json_string(o->op.from));
		json_object_set_new(j, "to", json_string(o->op.to));
		break;
	case QUEUE_UNLINK:
		json_object_set_new(j, "op", json_string("unlink"));
		json_object_set_new(j, "path", json_string(o->op.path));
		break;
	case QUEUE_RMDIR:
		json_object_set_new(j, "op", json_string("rmdir"));
		json_object_set_new(j, "path", json_string(o->op.path));
		break;
	}
	return j;
}

/*
 * A deposit replayed from the queue at start that was never sent under a
 * batch id may still have been committed: by a drive of the first queue
 * format, which named no batch, killed before it could dequeue it, or by
 * this one before its cache was restored from a copy.  The server's
 * current version of the path tells: our doc (or a new one), a version
 * past our base, by us, with our content's SHA-256.  Then sending it again
 * would only make an identical second version.  A named batch needs no
 * such guess: the server answers its retry with the first outcome.
 */
static int deposit_landed(struct fs *fs, struct bop *o)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	struct remote_meta rm;

	if (o->op.kind != QUEUE_DEPOSIT || o->seq > fs->replay_seq ||
	    o->op.batch[0] || remote_stat(fs, o->op.path, &rm) < 0) {
		err_clear();
		return 0;
	}
	obj_id_to_hex(&o->sha, hex);
	if (!rm.doc_id[0] || strcmp(rm.sha256, hex) ||
	    strcmp(rm.deposited_by, fs->login) ||
	    rm.version <= o->op.base_version ||
	    (o->op.base_doc[0] && strcmp(rm.doc_id, o->op.base_doc)))
		return 0;
	o->landed_rm = rm;
	log_info(
		"'%s' was committed before the restart (version %llu): not sent again",
		o->op.path, (unsigned long long)rm.version);
	return 1;
}

static json_t *landed_result(const struct bop *o)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:s}", "op", "deposit", "path",
			 o->op.path, "doc_id", o->landed_rm.doc_id, "version",
			 (json_int_t)o->landed_rm.version, "deposited_at",
			 o->landed_rm.deposited_at);
}

/* The server's results with the landed deposits' put back in order. */
static int splice_results(struct batch *b, json_t *reply)
{
	json_t *got = json_object_get(reply, "results"), *all = json_array();
	size_t i, k = 0;

	if (!all)
		return -ENOMEM;
	for (i = 0; i < b->n; i++) {
		json_t *r = b->ops[i].landed ?
				    landed_result(&b->ops[i]) :
				    json_incref(json_array_get(got, k++));

		if (!r || json_array_append_new(all, r) < 0) {
			json_decref(all);
			return -ENOMEM;
		}
	}
	return json_object_set_new(reply, "results", all) < 0 ? -ENOMEM : 0;
}

/*
 * Name the batch before its first commit is sent (fs->lock not held): one
 * id for all its ops, and each deposit's mtime, written to the queue in
 * one transaction, so that whatever happens to the reply or to this
 * process, the batch is sent again with the same id and the same ops.
 */
static int batch_name(struct fs *fs, struct batch *b)
{
	const struct queue_op **ops;
	char id[QUEUE_BATCH_LEN + 1];
	size_t i, n = 0;
	int rc;

	if (!b->n || b->ops[0].op.batch[0])
		return 0;
	ops = calloc(b->n, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	queue_batch_id(id);
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < b->n; i++) {
		struct pend *p = pend_find(fs, b->ops[i].seq);

		if (!p)
			continue;
		memcpy(p->op.batch, id, sizeof(id));
		p->op.mtime = b->ops[i].mtime;
		free(p->op.meta);
		p->op.meta = b->ops[i].meta ?
				     json_dumps(b->ops[i].meta,
						JSON_COMPACT | JSON_SORT_KEYS) :
				     NULL;
		ops[n++] = &p->op;
	}
	rc = queue_update_many(fs->q, ops, n);
	for (i = 0; i < b->n; i++) {
		struct pend *p = pend_find(fs, b->ops[i].seq);

		if (rc < 0 && p)
			p->op.batch[0] = '\0';
		else if (rc == 0)
			memcpy(b->ops[i].op.batch, id, sizeof(id));
	}
	pthread_mutex_unlock(&fs->lock);
	free(ops);
	return rc;
}

/*
 * The server answered that the batch was not applied (fs->lock held): its
 * ops are free again, to be rewritten, dropped or sent in another batch.
 */
static void batch_unname(struct fs *fs, struct batch *b)
{
	const struct queue_op **ops;
	size_t i, n = 0;

	if (!b->n || !b->ops[0].op.batch[0])
		return;
	ops = calloc(b->n, sizeof(*ops));
	for (i = 0; i < b->n; i++) {
		struct pend *p = pend_find(fs, b->ops[i].seq);

		b->ops[i].op.batch[0] = '\0';
		if (!p)
			continue;
		p->op.batch[0] = '\0';
		p->op.mtime = 0;
		free(p->op.meta);
		p->op.meta = NULL;
		if (ops)
			ops[n++] = &p->op;
	}
	/* left named on disk, the ops would only be sent again under the
	 * old id, which the server has not applied: no harm */
	if (!ops || queue_update_many(fs->q, ops, n) < 0)
		log_warn("cannot clear a refused batch's id: %s", err_msg());
	free(ops);
}

static int batch_send(struct fs *fs, struct batch *b, json_t **reply,
		      int *bad_op, int *local)
{
	size_t nsend = 0;
	json_t *body = NULL, *ops;
	uint8_t *buf = NULL;
	size_t i;
	int rc = 0;

	*bad_op = -1;
	*local = 0;
	for (i = 0; i < b->n; i++)
		b->ops[i].landed = 0;
	for (i = 0; i < b->n; i++) {
		if (b->ops[i].op.kind != QUEUE_DEPOSIT)
			continue;
		if (!buf && !(buf = malloc(READ_PIECE)))
			return -ENOMEM;
		rc = deposit_prepare(fs, &b->ops[i], buf);
		if (rc < 0) {
			/* not the server's doing: never a conflict */
			*local = 1;
			if (b->ops[i].fatal)
				*bad_op = (int)i;
			goto out;
		}
	}
	/* a named batch is sent again as it was, landed ops and all; an
	 * unnamed one is cut where the landed check changes its answer, so
	 * that the batch named below holds only ops it sends */
	for (i = 0; !b->ops[0].op.batch[0] && i < b->n; i++) {
		b->ops[i].landed = deposit_landed(fs, &b->ops[i]);
		if (b->ops[i].landed != b->ops[0].landed) {
			pthread_mutex_lock(&fs->lock);
			batch_put_from(fs, b, i);
			pthread_mutex_unlock(&fs->lock);
			break;
		}
	}
	for (i = 0; i < b->n; i++)
		nsend += !b->ops[i].landed;
	rc = upload_missing(fs, b);
	/* a chunk over the quota: the commit goes anyway, so the server
	 * refuses the batch whole and removes what it got of it */
	if (rc == -EDQUOT)
		rc = 0;
	if (rc < 0) {
		/* an upload refused with a permanent code is the server's
		 * verdict on bytes it did not get: retry them later */
		*local = 1;
		goto out;
	}

	body = json_object();
	ops = json_array();
	if (!body || !ops) {
		json_decref(ops);
		rc = -ENOMEM;
		goto out;
	}
	json_object_set_new(body, "client", json_string(fs->hostname));
	json_object_set_new(body, "ops", ops);
	if (nsend) {
		rc = batch_name(fs, b);
		if (rc < 0) {
			*local = 1;
			goto out;
		}
		json_object_set_new(body, "batch",
				    json_string(b->ops[0].op.batch));
	}
	for (i = 0; i < b->n; i++) {
		json_t *j;

		if (b->ops[i].landed)
			continue;
		j = bop_json(&b->ops[i]);
		if (!j || json_array_append_new(ops, j) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (nsend) {
		rc = remote_commit(fs, body, reply, bad_op);
		/* the server counted only what was sent */
		for (i = 0; rc < 0 && *bad_op >= 0 && i < b->n; i++)
			if (b->ops[i].landed && (size_t)*bad_op >= i)
				(*bad_op)++;
	} else {
		*reply = json_object();
		rc = *reply ? 0 : -ENOMEM;
	}
	if (rc == 0)
		rc = splice_results(b, *reply);
out:
	json_decref(body);
	free(buf);
	return rc;
}

/*
 * Give each deposited node the chunk map of its new version, from the
 * chunks just cut (fs->lock not held: node->lock comes first).  Reads of
 * the version then need no manifest from the server, which matters when
 * it becomes unreachable; the chunks themselves are in the cache.
 */
static void batch_install_maps(struct fs *fs, struct batch *b, json_t *reply)
{
	json_t *results = json_object_get(reply, "results");
	size_t i;

	for (i = 0; i < b->n; i++) {
		struct bop *o = &b->ops[i];
		json_t *r = json_array_get(results, i);
		const char *doc =
			json_string_value(json_object_get(r, "doc_id"));
		json_t *v = json_object_get(r, "version");
		struct chunk_map *m = NULL;

		if (o->op.kind != QUEUE_DEPOSIT || !o->node || !doc ||
		    !doc_id_valid(doc) || !json_is_integer(v))
			continue;
		if (chunk_map_build(&m, doc, (uint64_t)json_integer_value(v),
				    o->chunks, o->nchunks) < 0)
			continue;	 /* fetched from the server when read */
		offline_map_save(fs, m); /* readable on an offline mount too */
		pthread_mutex_lock(&o->node->lock);
		chunk_map_free(o->node->map);
		o->node->map = m;
		pthread_mutex_unlock(&o->node->lock);
	}
}

/* Apply a committed batch to the tree (fs->lock held). */
static void batch_applied(struct fs *fs, struct batch *b, json_t *reply)
{
	json_t *results = json_object_get(reply, "results");
	size_t i;

	for (i = 0; i < b->n; i++) {
		struct bop *o = &b->ops[i];
		struct node *n = o->node;
		json_t *r = json_array_get(results, i);
		struct pend *p = pend_find(fs, o->seq);
		json_t *v;

		if (n &&
		    (o->op.kind == QUEUE_DEPOSIT || o->op.kind == QUEUE_MOVE) &&
		    r) {
			const char *doc =
				json_string_value(json_object_get(r, "doc_id"));

			v = json_object_get(r, "version");
			if (doc && doc_id_valid(doc) && json_is_integer(v)) {
				snprintf(n->rm.doc_id, sizeof(n->rm.doc_id),
					 "%s", doc);
				n->rm.version = (uint64_t)json_integer_value(v);
			}
		}
		if (n && o->op.kind == QUEUE_DEPOSIT) {
			const char *at = json_string_value(
				json_object_get(r, "deposited_at"));

			n->has_remote = 1;
			n->rm.size = o->size;
			obj_id_to_hex(&o->sha, n->rm.sha256);
			snprintf(n->rm.deposited_by, sizeof(n->rm.deposited_by),
				 "%s", fs->login);
			if (at)
				snprintf(n->rm.deposited_at,
					 sizeof(n->rm.deposited_at), "%s", at);
			n->rm.mtime = o->mtime;
			/* the staging is now a version: reads go to chunks;
			 * its file is retired once fs->lock is dropped
			 * (batch_retire).  While the file is open for
			 * writing and its writers have not written since,
			 * they keep it, writable in place again.  A staging
			 * the file has moved on from goes at once. */
			if (n->staging_name && o->op.staging &&
			    !strcmp(n->staging_name, o->op.staging)) {
				if (!n->writers) {
					o->retired = n->staging_name;
					n->staging_name = NULL;
				}
				n->sealed = 0;
			} else if (o->op.staging) {
				o->retired = strdup(o->op.staging);
			}
		} else if (n) {
			n->has_remote = 1;
		}
		if (p)
			pend_done(fs, p);
	}
}

/*
 * Retire the staging files of the deposits batch_applied committed, with
 * fs->lock dropped: a batch of a thousand small files would otherwise hold
 * every FUSE thread behind a thousand unlinks.  The nodes stay referenced
 * by the batch, and writers wait for dep_inflight, cleared by batch_put
 * only after this.
 */
static void batch_retire(struct fs *fs, struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct bop *o = &b->ops[i];

		if (!o->retired)
			continue;
		/* our handle first: a recycled file gets other content */
		if (o->st) {
			staging_close(o->st);
			o->st = NULL;
		}
		content_staging_recycle(fs, o->node, o->retired, o->size);
		free(o->retired);
		o->retired = NULL;
	}
	content_staging_reap(fs);
}

/* conflict name for path: "NAME (conflict YYYY-MM-DD HHMMSS).EXT" */
static char *conflict_path(const char *path)
{
	char *parent = NULL, *name = NULL, *out = NULL;
	char stamp[64], cname[NAME_MAX_LEN + 1];
	const char *ext;
	time_t now = time(NULL);
	struct tm tm;
	size_t base, room;

	if (path_split(path, &parent, &name) < 0)
		return NULL;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), " (conflict %Y-%m-%d %H%M%S)", &tm);
	ext = vdir_ext(name);
	base = strlen(name) - strlen(ext);
	room = NAME_MAX_LEN - strlen(stamp) - strlen(ext);
	if (base > room)
		base = room; /* NEEDSWORK: may cut inside a UTF-8 sequence */
	snprintf(cname, sizeof(cname), "%.*s%s%s", (int)base, name, stamp, ext);
	out = path_join(parent, cname);
	free(parent);
	free(name);
	return out;
}

/*
 * The server refused the batch for the space's quota (fs->lock held): it
 * stays queued, whole, and is sent again at each backoff until the quota
 * is raised or room is made.  Said on the root (user.coffre.error,
 * `coffre status`) at each refusal, stamped like a full disk's, so that
 * `coffre sync --wait` reports it rather than waiting out its timeout.
 */
static void quota_held(struct fs *fs, const char *msg)
{
	int64_t ms = fs_now_ms();
	time_t now = (time_t)(ms / 1000);
	struct tm tm;
	char at[16] = "";

	if (!fs->quota.held_since_ms)
		fs->quota.held_since_ms = ms;
	if (gmtime_r(&now, &tm))
		strftime(at, sizeof(at), "%H:%M:%S", &tm);
	snprintf(
		fs->last_error, sizeof(fs->last_error),
		"held at %s.%03dZ, kept queued until the quota is raised: %.300s",
		at, (int)(ms % 1000), msg);
	fs->errors++;
	fs->last_error_ms = ms;
}

/* A permanent error on b->ops[bad] (fs->lock held). */
static void batch_failed_op(struct fs *fs, struct batch *b, size_t bad, int rc,
			    const char *msg)
{
	struct bop *o = &b->ops[bad];
	struct pend *p = pend_find(fs, o->seq);
	char what[PATH_MAX_LEN + 1];
	char *cp;

	snprintf(what, sizeof(what), "%s",
		 o->op.path ? o->op.path : o->op.from);
	snprintf(fs->last_error, sizeof(fs->last_error), "%.200s: %.300s", what,
		 msg);
	fs->errors++;
	fs->last_error_ms = fs_now_ms();
	if (!p)
		return;
	if (o->op.kind == QUEUE_DEPOSIT && !strstr(o->op.path, " (conflict ") &&
	    (cp = conflict_path(o->op.path))) {
		log_error("cannot deposit '%s' (%s): keeping it as '%s'", what,
			  msg, cp);
		free(p->op.path);
		p->op.path = cp;
		p->op.base_doc[0] = '\0';
		p->op.base_version = 0;
		if (queue_update(fs->q, &p->op) == 0) {
			struct node *n = p->node;
			const char *slash = strrchr(cp, '/');

			/* show the file under the name it will have */
			if (n && n->linked &&
			    !node_child(n->parent, slash + 1)) {
				struct node *dir = n->parent;

				node_ref(n);
				node_detach(fs, n);
				node_attach(dir, n, slash + 1);
				n->has_remote = 0;
				memset(&n->rm, 0, sizeof(n->rm));
				node_unref(fs, n);
			}
			return;
		}
	}
	log_error("dropping queued operation on '%s': %s", what, msg);
	if (o->op.kind == QUEUE_DEPOSIT && p->op.staging) {
		struct node *n = p->node;
		char *kept = NULL;

		content_staging_keep(fs, p->op.staging);
		/* the file stays readable on this mount from its new place */
		if (n && n->staging_name &&
		    !strcmp(n->staging_name, p->op.staging) &&
		    asprintf(&kept, "kept/%s", p->op.staging) >= 0) {
			free(n->staging_name);
			n->staging_name = kept;
		}
	}
	pend_drop(fs, p);
	(void)rc;
}

/* The content of a queued deposit cannot be read any more (fs->lock). */
static void batch_lost_op(struct fs *fs, struct batch *b, size_t bad,
			  const char *msg)
{
	struct pend *p = pend_find(fs, b->ops[bad].seq);

	snprintf(fs->last_error, sizeof(fs->last_error), "%.200s: %.300s",
		 b->ops[bad].op.path, msg);
	fs->errors++;
	fs->last_error_ms = fs_now_ms();
	log_error("dropping the deposit of '%s': %s", b->ops[bad].op.path, msg);
	if (p)
		pend_drop(fs, p);
}

/* Remove a committed batch from the durable queue: one transaction, or
 * op by op if that fails (a leftover op is recognised on replay). */
static void batch_dequeue(struct fs *fs, struct batch *b)
{
	uint64_t *seqs = malloc((b->n ? b->n : 1) * sizeof(*seqs));
	size_t i;

	if (seqs) {
		for (i = 0; i < b->n; i++)
			seqs[i] = b->ops[i].seq;
		if (queue_remove_many(fs->q, seqs, b->n) == 0) {
			free(seqs);
			return;
		}
		free(seqs);
	}
	for (i = 0; i < b->n; i++)
		if (queue_remove(fs->q, b->ops[i].seq) < 0)
			log_error("cannot remove a committed op: %s",
				  err_msg());
}

static void *sync_main(void *arg)
{
	struct fs *fs = arg;
	struct batch b;
	int64_t backoff = 0, wake;
	size_t max_ops = BATCH_MAX_OPS;

	b.ops = calloc(BATCH_MAX_OPS, sizeof(*b.ops));
	b.n = 0;
	if (!b.ops) {
		log_error("sync engine: out of memory");
		return NULL;
	}
	pthread_mutex_lock(&fs->lock);
	while (!fs->sync_stop) {
		json_t *reply = NULL;
		int rc, bad, local;
		char msg[FS_ERRMSG_MAX];

		wake = batch_take(fs, &b, max_ops);
		if (!b.n) {
			struct timespec ts;

			if (!fs->pends)
				fs->sync_force = 0;
			if (wake) {
				ts.tv_sec = wake / 1000;
				ts.tv_nsec = (wake % 1000) * 1000000;
				fs->sync_sleep_until = wake;
				pthread_cond_timedwait(&fs->sync_cond,
						       &fs->lock, &ts);
				fs->sync_sleep_until = 0;
			} else {
				pthread_cond_wait(&fs->sync_cond, &fs->lock);
			}
			continue;
		}
		pthread_mutex_unlock(&fs->lock);

		err_clear();
		rc = batch_send(fs, &b, &reply, &bad, &local);
		snprintf(msg, sizeof(msg), "%s", err_msg());
		if (rc == 0 && fs->fault_exit_after_commit)
			_exit(137);
		if (rc == 0)
			batch_dequeue(fs, &b);
		if (rc == 0) {
			offline_batch(fs, 1);
			batch_install_maps(fs, &b, reply);
			offline_batch(fs, 0);
		}
		pthread_mutex_lock(&fs->lock);
		if (rc == 0) {
			/* what the space holds now, for the write path */
			pthread_mutex_unlock(&fs->lock);
			quota_refresh(fs);
			pthread_mutex_lock(&fs->lock);
			batch_applied(fs, &b, reply);
			fs->commit_gen++;
			fs->last_sync_ms = fs_now_ms();
			fs->offline_since_ms = 0;
			fs->quota.held_since_ms = 0;
			log_debug("committed %zu operations", b.n);
			backoff = 0;
			max_ops = BATCH_MAX_OPS;
			pthread_mutex_unlock(&fs->lock);
			batch_retire(fs, &b);
			pthread_mutex_lock(&fs->lock);
		} else if (deposit_outcome(rc, local, bad, (unsigned)b.n) ==
			   DEPOSIT_OUTCOME_LOST) {
			batch_unname(fs, &b);
			batch_lost_op(fs, &b, (size_t)bad, msg);
		} else if (deposit_outcome(rc, local, bad, (unsigned)b.n) ==
			   DEPOSIT_OUTCOME_HALVE) {
			batch_unname(fs, &b); /* refused whole: not applied */
			max_ops = b.n / 2;    /* too large for the server */
		} else if (deposit_outcome(rc, local, bad, (unsigned)b.n) ==
			   DEPOSIT_OUTCOME_RETRY) {
			struct timespec ts;
			int64_t until;

			backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
			/* held for the quota, the server answered: online */
			if (!fs->offline_since_ms && rc != -EDQUOT)
				fs->offline_since_ms = fs_now_ms();
			if (backoff > BACKOFF_MAX_MS)
				backoff = BACKOFF_MAX_MS;
			log_warn("sync: %s; retrying in %lld ms", msg,
				 (long long)backoff);
			/* a full disk is transient but needs someone: say it
			 * on the root (user.coffre.error, `coffre sync`) */
			if (rc == -ENOSPC) {
				int64_t ms = fs_now_ms();
				time_t now = (time_t)(ms / 1000);
				struct tm tm;
				char at[16] = "";

				/* stamped to the millisecond: the same refusal
				 * again reads as news to coffre sync --wait */
				if (gmtime_r(&now, &tm))
					strftime(at, sizeof(at), "%H:%M:%S",
						 &tm);
				snprintf(
					fs->last_error, sizeof(fs->last_error),
					"no space left at %s.%03dZ, content kept and retried: %.300s",
					at, (int)(ms % 1000), msg);
				fs->errors++;
				fs->last_error_ms = fs_now_ms();
			}
			if (rc == -EDQUOT)
				quota_held(fs, msg);
			batch_put(fs, &b);
			until = fs_now_ms() + backoff;
			ts.tv_sec = until / 1000;
			ts.tv_nsec = (until % 1000) * 1000000;
			while (!fs->sync_stop && fs_now_ms() < until)
				if (pthread_cond_timedwait(&fs->sync_cond,
							   &fs->lock, &ts))
					break;
			json_decref(reply);
			continue;
		} else {
			if (bad < 0 || (size_t)bad >= b.n)
				bad = 0;
			/* a refused batch was not applied (protocol.md) */
			batch_unname(fs, &b);
			batch_failed_op(fs, &b, (size_t)bad, rc, msg);
		}
		batch_put(fs, &b);
		json_decref(reply);
	}
	pthread_mutex_unlock(&fs->lock);
	free(b.ops);
	return NULL;
}

int sync_start(struct fs *fs)
{
	int rc = pthread_create(&fs->sync_thread, NULL, sync_main, fs);

	if (rc)
		return err_set(-rc, "cannot start the sync engine: %s",
			       strerror(rc));
	fs->sync_started = 1;
	return 0;
}

void sync_stop(struct fs *fs)
{
	if (!fs->sync_started)
		return;
	pthread_mutex_lock(&fs->lock);
	__atomic_store_n(&fs->sync_stop, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&fs->sync_cond);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->sync_thread, NULL);
	fs->sync_started = 0;
}
