/*
 * File content on the drive.  A version is read through its chunk map
 * (fetched once per node from the server's manifest): an offset maps to a
 * chunk by binary search over prefix sums, bytes come from the local chunk
 * cache, and only missing chunks are fetched (and then cached).  Pending
 * content lives in the node's one staging file, copy-on-write over the
 * version it was opened on, read through the same chunk path.
 *
 * Every function here runs with node->lock held (content I/O is serialized
 * per node) and takes fs->lock only briefly, to read or update metadata.
 */
#include "client/drive/fs_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "client/store/cache.h"
#include "client/drive/deposit_rules.h"
#include "client/drive/prefetch.h"
#include "client/store/staging.h"
#include "client/store/staging_pool.h"
#include "client/store/transport.h"
#include "common/err.h"
#include "common/log.h"

/* Chunks kept asked for ahead of a reader that missed the cache (about
 * 8 MiB), and the workers fetching them: enough to overlap the round
 * trip, the server's work and the checks here on two cores or more. */
#define PREFETCH_AHEAD	 8
#define PREFETCH_THREADS 3

struct base_arg {
	struct fs *fs;
	struct node *n;
};

int content_load_map(struct fs *fs, struct node *n, const char *doc,
		     uint64_t version)
{
	struct chunk_map *m = NULL;
	int rc;

	if (n->map && n->map->version == version &&
	    !strcmp(n->map->doc_id, doc))
		return 0;
	rc = remote_chunk_map(fs, doc, version, &m);
	if (rc < 0)
		return rc;
	chunk_map_free(n->map);
	n->map = m;
	return 0;
}

/* Index of the chunk holding off (off < m->size). */
static size_t map_find(const struct chunk_map *m, uint64_t off)
{
	size_t lo = 0, hi = m->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->start[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int chunk_fetch(struct fs *fs, const struct manifest_chunk *c,
		       uint64_t within, void *buf, size_t want)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	rc = transport_get_chunk(fs->t, fs->space, &c->id, &data, &len);
	if (rc < 0)
		return rc;
	if (len != c->size) {
		free(data);
		return err_set(-EPROTO, "chunk of %zu bytes where %u expected",
			       len, c->size);
	}
	memcpy(buf, data + within, want);
	/* kept decrypted too: the next FUSE reads are in the same chunk */
	rc = cache_put_keep(fs->cache, &c->id, data, len);
	if (rc < 0)
		log_warn("cannot cache a chunk: %s", err_msg());
	return 0;
}

/* Ahead of the reader means decrypted in memory: from the disk cache
 * when there, else from the server. */
static int pf_cached(void *arg, const struct manifest_chunk *c)
{
	struct fs *fs = arg;

	return cache_in_memory(fs->cache, &c->id);
}

static int pf_fetch(void *arg, const struct manifest_chunk *c, const int *stop)
{
	struct fs *fs = arg;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	rc = cache_warm(fs->cache, &c->id);
	if (rc != -ENOENT && rc != -EBADMSG)
		return rc;
	rc = transport_get_chunk_stop(fs->t, fs->space, &c->id, stop, &data,
				      &len);
	if (rc == 0 && len != c->size)
		rc = err_set(-EPROTO, "chunk of %zu bytes where %u expected",
			     len, c->size);
	if (rc == 0)
		return cache_put_keep(fs->cache, &c->id, data, len);
	free(data);
	return rc;
}

int content_prefetch_start(struct fs *fs)
{
	struct prefetch_ops ops = { pf_cached, pf_fetch, fs };
	const char *env = getenv("COFFRE_READ_AHEAD_THREADS");
	unsigned threads = PREFETCH_THREADS;

	/* 0 turns read-ahead off: a benchmark's baseline (bench/README.md) */
	if (env && *env)
		threads = (unsigned)strtoul(env, NULL, 10);
	if (!threads)
		return 0;
	return prefetch_new(&fs->pf, &ops, threads, 4 * PREFETCH_AHEAD);
}

void content_prefetch_stop(struct fs *fs)
{
	prefetch_free(fs->pf);
	fs->pf = NULL;
}

/* Once a read of m found a chunk not decrypted in memory, keep the
 * PREFETCH_AHEAD chunks after chunk i asked for (prefetch.h), topped up by
 * half that at a time. */
static void read_ahead(struct fs *fs, struct chunk_map *m, size_t i)
{
	size_t from, to;

	if (!fs->pf || !m->reading_ahead || m->ahead >= i + PREFETCH_AHEAD / 2)
		return;
	from = m->ahead > i + 1 ? m->ahead : i + 1;
	to = i + 1 + PREFETCH_AHEAD < m->n ? i + 1 + PREFETCH_AHEAD : m->n;
	if (from < to)
		prefetch_ask(fs->pf, m->chunks + from, to - from);
	m->ahead = to > m->ahead ? to : m->ahead;
}

ssize_t content_map_read(struct fs *fs, struct chunk_map *m, void *buf,
			 size_t size, uint64_t off)
{
	uint8_t *p = buf;
	size_t done = 0, i;

	if (off >= m->size || !size)
		return 0;
	if (size > m->size - off)
		size = (size_t)(m->size - off);
	i = map_find(m, off);
	while (done < size) {
		const struct manifest_chunk *c = &m->chunks[i];
		uint64_t within = off + done - m->start[i];
		size_t want = c->size - within;
		ssize_t r;

		if (want > size - done)
			want = size - done;
		/* a chunk not decrypted in memory yet: from now on the next
		 * ones are made ready ahead of the reader */
		if (fs->pf && !m->reading_ahead &&
		    !cache_in_memory(fs->cache, &c->id)) {
			m->reading_ahead = 1;
			m->ahead = i + 1;
		}
		read_ahead(fs, m, i);
		r = cache_read(fs->cache, &c->id, within, p + done, want);
		if ((r == -ENOENT || r == -EBADMSG) && fs->pf &&
		    prefetch_claim(fs->pf, c))
			r = cache_read(fs->cache, &c->id, within, p + done,
				       want);
		if (r == -ENOENT || r == -EBADMSG) {
			r = chunk_fetch(fs, c, within, p + done, want);
			if (r == 0)
				r = (ssize_t)want;
		}
		if (r < 0)
			return done ? (ssize_t)done : r;
		if ((size_t)r != want)
			return err_set(-EIO, "short read from the chunk cache");
		done += want;
		i++;
	}
	return (ssize_t)done;
}

ssize_t content_base_read(void *arg, uint64_t off, void *buf, size_t n)
{
	struct base_arg *a = arg;
	char doc[DOC_ID_HEX_LEN + 1];
	uint64_t ver, size;
	int rc;

	pthread_mutex_lock(&a->fs->lock);
	memcpy(doc, a->n->sbase_doc, sizeof(doc));
	ver = a->n->sbase_version;
	size = a->n->sbase_size;
	pthread_mutex_unlock(&a->fs->lock);
	if (!doc[0] || off >= size)
		return 0;
	rc = content_load_map(a->fs, a->n, doc, ver);
	if (rc < 0)
		return rc;
	return content_map_read(a->fs, a->n->map, buf, n, off);
}

static int staging_path(struct fs *fs, const char *name, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "%s/%s", fs->staging_dir, name) >= cap)
		return -ENAMETOOLONG;
	return 0;
}

void content_staging_delete(struct fs *fs, const char *name)
{
	char p[4096];

	/* only recorded: the unlink waits for staging_pool_reap, which runs
	 * outside fs->lock */
	if (fs->spool) {
		staging_pool_retire(fs->spool, name, 0);
		return;
	}
	if (staging_path(fs, name, p, sizeof(p)) == 0 && unlink(p) < 0 &&
	    errno != ENOENT)
		log_warn("cannot remove staging file: %s", strerror(errno));
	/* and a layered file's second name for its lower (staging.h) */
	if (strlen(p) + sizeof(STAGING_LOWER_SUFFIX) <= sizeof(p)) {
		strcat(p, STAGING_LOWER_SUFFIX);
		if (unlink(p) < 0 && errno != ENOENT)
			log_warn("cannot remove staging file: %s",
				 strerror(errno));
	}
}

void content_staging_reap(struct fs *fs)
{
	if (fs->spool)
		staging_pool_reap(fs->spool);
}

void content_staging_keep(struct fs *fs, const char *name)
{
	char from[4096], dir[4096], to[4096 + 80];

	if (staging_path(fs, name, from, sizeof(from)) < 0 ||
	    staging_path(fs, "kept", dir, sizeof(dir)) < 0)
		return;
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || rename(from, to) < 0) {
		log_warn("cannot set aside a refused staging file: %s",
			 strerror(errno));
		return;
	}
	log_warn("refused content kept (encrypted) in %s", to);
	/* a layered file's lower goes beside it: it reads through it */
	if (strlen(from) + sizeof(STAGING_LOWER_SUFFIX) <= sizeof(from) &&
	    strlen(to) + sizeof(STAGING_LOWER_SUFFIX) <= sizeof(to)) {
		strcat(from, STAGING_LOWER_SUFFIX);
		strcat(to, STAGING_LOWER_SUFFIX);
		if (rename(from, to) < 0 && errno != ENOENT)
			log_warn("cannot set aside a refused staging file: %s",
				 strerror(errno));
	}
}

static int staging_ensure_open(struct fs *fs, struct node *n);

/* Close the staging handle (node->lock held). */
static void staging_handle_close(struct node *n)
{
	if (n->st)
		staging_close(n->st);
	n->st = NULL;
	free(n->st_name);
	n->st_name = NULL;
}

void content_staging_recycle(struct fs *fs, struct node *n, const char *name,
			     uint64_t size)
{
	int reuse = 0;

	/*
	 * A recycled file is handed to other content, so the one handle that
	 * may still be open on it, n's, must be closed first and for good:
	 * n->staging_name no longer names the file (the caller cleared it),
	 * and handles are only opened under n->lock on that name.  A busy
	 * n->lock is not waited for (it is held across network reads): the
	 * file is then only unlinked, and a late use of the handle reaches
	 * an unlinked file, never another document's.
	 */
	if (fs->spool && size <= STAGING_POOL_REUSE_MAX &&
	    pthread_mutex_trylock(&n->lock) == 0) {
		if (n->st_name && !strcmp(n->st_name, name))
			staging_handle_close(n);
		/* a pending version open in .versions reads the file through
		 * a handle of its own: then only unlink it */
		reuse = !__atomic_load_n(&n->vreaders, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&n->lock);
	}
	if (fs->spool)
		staging_pool_retire(fs->spool, name, reuse);
	else
		content_staging_delete(fs, name);
}

void content_staging_idle(struct fs *fs, struct node *n)
{
	int busy;

	pthread_mutex_lock(&n->lock);
	pthread_mutex_lock(&fs->lock);
	busy = n->writers || n->readers;
	pthread_mutex_unlock(&fs->lock);
	if (!busy)
		staging_handle_close(n);
	pthread_mutex_unlock(&n->lock);
}

int content_pin(struct fs *fs, struct node *n)
{
	int staged, rc = 0;

	pthread_mutex_lock(&n->lock);
	pthread_mutex_lock(&fs->lock);
	staged = n->kind == NODE_FILE && n->staging_name != NULL;
	pthread_mutex_unlock(&fs->lock);
	if (staged)
		rc = staging_ensure_open(fs, n);
	pthread_mutex_unlock(&n->lock);
	return rc == -ENOENT ? 0 : rc;
}

/* Make n->st the handle of the node's current staging file: the one queued
 * may have been committed and replaced since the handle was opened. */
static int staging_ensure_open(struct fs *fs, struct node *n)
{
	char p[4096], name[80];
	int rc;

	pthread_mutex_lock(&fs->lock);
	if (!n->staging_name) {
		pthread_mutex_unlock(&fs->lock);
		return err_set(-ENOENT, "no pending content");
	}
	snprintf(name, sizeof(name), "%s", n->staging_name);
	pthread_mutex_unlock(&fs->lock);
	/* the handle may be on a file since unlinked (a rename over the
	 * name, an unlink): it keeps serving the readers that hold it */
	if (n->st && n->st_name && !strcmp(n->st_name, name))
		return 0;
	staging_handle_close(n);
	rc = staging_path(fs, name, p, sizeof(p));
	if (rc == 0)
		rc = staging_open(&n->st, p, &fs->key);
	if (rc == 0 && !(n->st_name = strdup(name))) {
		staging_handle_close(n);
		rc = -ENOMEM;
	}
	return rc;
}

/* A fresh random staging file name (32 hex digits). */
static void staging_new_name(char name[STAGING_POOL_NAME_MAX])
{
	uint8_t rnd[16];

	crypto_random(rnd, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(name + 2 * i, 3, "%02x", rnd[i]);
}

/*
 * Copy on write (node->lock held): when n's staging is a closed deposit's
 * content (n->sealed), the write about to happen goes to a new staging
 * file over it.  The queued deposit keeps its file, untouched, until it is
 * committed.  The new file is layered over the sealed one (staging_layer):
 * nothing is copied, so a write to a large file whose upload is in flight
 * answers as any other.  When the sealed file is itself layered, the new
 * one is its clone (its own written blocks copied, the same lower), so a
 * file reads through one lower at most.
 */
static int content_cow(struct fs *fs, struct node *n)
{
	char p[4096], name[STAGING_POOL_NAME_MAX];
	struct staging *st = NULL;
	char *a, *b;
	int sealed, rc;

	pthread_mutex_lock(&fs->lock);
	sealed = n->sealed && n->staging_name;
	pthread_mutex_unlock(&fs->lock);
	if (!sealed)
		return 0;
	rc = staging_ensure_open(fs, n);
	if (rc < 0)
		return rc;
	staging_new_name(name);
	rc = staging_path(fs, name, p, sizeof(p));
	if (rc == 0 && !staging_is_layered(n->st)) {
		rc = staging_layer(&st, p, n->st);
		if (rc < 0 && rc != -ENOSPC && rc != -EDQUOT) {
			/* no second name (a file system without hard
			 * links): copy, as a clone does */
			log_debug("cannot layer a staging file: %s", err_msg());
			rc = staging_clone(&st, p, n->st);
		}
	} else if (rc == 0) {
		rc = staging_clone(&st, p, n->st);
	}
	if (rc < 0)
		return rc;
	a = strdup(name);
	b = strdup(name);
	if (!a || !b) {
		free(a);
		free(b);
		staging_close(st);
		content_staging_delete(fs, name);
		return -ENOMEM;
	}
	staging_handle_close(n);
	n->st = st;
	n->st_name = a;
	pthread_mutex_lock(&fs->lock);
	free(n->staging_name);
	n->staging_name = b;
	n->sealed = 0;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

int content_deposit_open(struct fs *fs, const char *name, struct staging **out)
{
	char p[4096];
	int rc = staging_path(fs, name, p, sizeof(p));

	if (rc < 0)
		return rc;
	return staging_open(out, p, &fs->key);
}

struct deposit_base {
	struct fs *fs;
	struct node *n;
	const char *doc;
	uint64_t version;
};

static ssize_t deposit_base_read(void *arg, uint64_t off, void *buf, size_t n)
{
	struct deposit_base *a = arg;
	int rc;

	if (!a->doc[0])
		return 0;
	rc = content_load_map(a->fs, a->n, a->doc, a->version);
	if (rc < 0)
		return rc;
	return content_map_read(a->fs, a->n->map, buf, n, off);
}

ssize_t content_deposit_read(struct fs *fs, struct node *n, struct staging *st,
			     const char *doc, uint64_t version, void *buf,
			     size_t size, uint64_t off)
{
	struct deposit_base a = { fs, n, doc, version };

	return staging_read(st, buf, size, off, deposit_base_read, &a);
}

int content_staging(struct fs *fs, struct node *n, int trunc)
{
	char p[4096], name[STAGING_POOL_NAME_MAX];
	struct staging *st = NULL;
	uint64_t base_size = 0, old_size;
	int rc, has, sealed;
	char *sname;

	pthread_mutex_lock(&fs->lock);
	has = n->staging_name != NULL;
	sealed = n->sealed;
	pthread_mutex_unlock(&fs->lock);
	switch (deposit_cow(has, sealed, trunc)) {
	case DEPOSIT_COW_IN_PLACE:
		rc = staging_ensure_open(fs, n);
		if (rc == 0 && trunc)
			rc = content_truncate(fs, n, 0);
		return rc;
	case DEPOSIT_COW_CLONE:
		/* copied by the first write (content_cow): an open that
		 * only reads costs nothing */
		return staging_ensure_open(fs, n);
	case DEPOSIT_COW_FRESH:
	case DEPOSIT_COW_NEW:
		break;
	}
	pthread_mutex_lock(&fs->lock);
	if (!trunc && n->has_remote && n->rm.doc_id[0])
		base_size = n->rm.size;
	old_size = has ? n->lsize : 0;
	pthread_mutex_unlock(&fs->lock);
	staging_handle_close(n);
	/* a retired file first: recycling it costs no inode (staging_pool.h) */
	if (fs->spool && staging_pool_take(fs->spool, name, sizeof(name))) {
		rc = staging_path(fs, name, p, sizeof(p));
		if (rc == 0)
			rc = staging_recycle(&st, p, &fs->key, base_size);
		if (rc < 0)
			log_debug("cannot recycle a staging file: %s",
				  err_msg());
	}
	if (!st) {
		staging_new_name(name);
		rc = staging_path(fs, name, p, sizeof(p));
		if (rc < 0)
			return rc;
		rc = staging_create(&st, p, &fs->key, base_size);
		if (rc < 0)
			return rc;
	}
	n->st_name = strdup(name);
	if (!n->st_name) {
		staging_close(st);
		unlink(p);
		return -ENOMEM;
	}
	sname = strdup(name);
	if (!sname) {
		staging_close(st);
		staging_handle_close(n);
		unlink(p);
		return -ENOMEM;
	}
	pthread_mutex_lock(&fs->lock);
	/* a sealed staging stays with its queued deposit, which names it */
	free(n->staging_name);
	n->staging_name = sname;
	n->sealed = 0;
	if (base_size || (!trunc && n->has_remote && n->rm.doc_id[0])) {
		memcpy(n->sbase_doc, n->rm.doc_id, sizeof(n->sbase_doc));
		n->sbase_version = n->rm.version;
	} else {
		n->sbase_doc[0] = '\0';
		n->sbase_version = 0;
	}
	n->sbase_size = base_size;
	/* truncating a non-empty file is a change even with no write */
	if (trunc && (n->rm.size || old_size))
		n->wrote = 1;
	n->lsize = base_size;
	pthread_mutex_unlock(&fs->lock);
	n->st = st;
	return 0;
}

ssize_t content_read(struct fs *fs, struct node *n, void *buf, size_t size,
		     uint64_t off)
{
	struct base_arg a = { fs, n };
	char doc[DOC_ID_HEX_LEN + 1];
	uint64_t ver;
	int staged, rc, pass;

	/* A commit may turn the pending content into a version between our
	 * look at the node and the opening of its staging file (which it
	 * deletes): then look again, and read the version. */
	for (pass = 0; pass < 2; pass++) {
		pthread_mutex_lock(&fs->lock);
		staged = n->kind == NODE_FILE && n->staging_name != NULL;
		memcpy(doc, n->rm.doc_id, sizeof(doc));
		ver = n->kind == NODE_VFILE ? n->vnum : n->rm.version;
		pthread_mutex_unlock(&fs->lock);
		if (!staged)
			break;
		rc = staging_ensure_open(fs, n);
		if (rc == -ENOENT)
			continue;
		if (rc < 0)
			return rc;
		return staging_read(n->st, buf, size, off, content_base_read,
				    &a);
	}
	if (staged) /* its staging file is gone from the disk */
		return err_set(-ENOENT, "pending content of '%s' is gone",
			       n->name);
	if (!doc[0])
		return 0; /* an empty file never deposited */
	rc = content_load_map(fs, n, doc, ver);
	if (rc < 0)
		return rc;
	return content_map_read(fs, n->map, buf, size, off);
}

ssize_t content_read_pinned(struct fs *fs, struct node *n,
			    struct chunk_map **map, const char *doc,
			    uint64_t version, uint64_t gen, void *buf,
			    size_t size, uint64_t off)
{
	int current, rc;

	/* only a remote change (content_gen) pins: local writes and their
	 * own commits stay visible to every handle of this drive */
	pthread_mutex_lock(&fs->lock);
	current = n->kind != NODE_FILE || n->content_gen == gen;
	pthread_mutex_unlock(&fs->lock);
	if (current && !*map)
		return content_read(fs, n, buf, size, off);
	/* the document moved on (a version from another device, or a local
	 * write) since this handle was opened: it keeps reading its version */
	if (!*map) {
		rc = remote_chunk_map(fs, doc, version, map);
		if (rc < 0)
			return rc;
	}
	return content_map_read(fs, *map, buf, size, off);
}

ssize_t content_write(struct fs *fs, struct node *n, const void *buf,
		      size_t size, uint64_t off)
{
	struct base_arg a = { fs, n };
	ssize_t r;
	int rc;

	rc = content_cow(fs, n);
	if (rc == 0)
		rc = staging_ensure_open(fs, n);
	if (rc < 0)
		return rc;
	r = staging_write(n->st, buf, size, off, content_base_read, &a);
	if (r < 0)
		return r;
	pthread_mutex_lock(&fs->lock);
	/* a write never shrinks a file; a later write queued behind this
	 * one (wback.c) may have set a larger size already */
	if (n->lsize < staging_size(n->st))
		n->lsize = staging_size(n->st);
	n->wrote = 1;
	n->mtime_local = fs_now_ms() / 1000;
	pthread_mutex_unlock(&fs->lock);
	return r;
}

int content_truncate(struct fs *fs, struct node *n, uint64_t size)
{
	int rc;

	rc = staging_ensure_open(fs, n);
	if (rc < 0)
		return rc;
	if (staging_size(n->st) == size)
		return 0;
	rc = content_cow(fs, n);
	if (rc == 0)
		rc = staging_truncate(n->st, size);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	n->lsize = staging_size(n->st);
	n->wrote = 1;
	n->mtime_local = fs_now_ms() / 1000;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}
