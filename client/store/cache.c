/*
 * The local chunk cache (cache.h): clean chunks, encrypted at rest, bounded
 * with LRU eviction.
 *
 * Files: DIR/chunks/XX/NAME, NAME = crypto_name_hex(name key, chunk id) and
 * XX its first two hex digits; content crypto_seal(data key, ad = chunk id,
 * plaintext).  Both keys are derived from the cache key, so one key is never
 * used by two primitives.  New files are written in DIR/tmp and renamed into
 * place without fsync: a clean chunk can always be fetched again, and a file
 * torn by a crash fails authentication and is removed when read.
 *
 * In memory (all protected by c->lock):
 *   - an index of the files on disk (name -> size, last use), a hash table
 *     plus a doubly linked LRU list, rebuilt at open from a directory scan
 *     with the file mtime as last use (reads touch the mtime at most once a
 *     minute, so the order survives a restart);
 *   - the MEM_SLOTS most recently used decrypted chunks, refcounted so a
 *     reader copies out of a chunk without holding the lock: a FUSE read of
 *     128 KiB from a 4 MiB chunk does not decrypt the chunk again.
 */
#include "client/store/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/chunker.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"

#define MEM_SLOTS     16
#define TOUCH_EVERY_S 60
#define NAME_LEN      32 /* binary form of the 64-hex file name */

struct centry {
	uint8_t name[NAME_LEN];
	uint64_t size;		    /* bytes on disk */
	int64_t used;		    /* last use, Unix seconds */
	struct centry *hnext;	    /* hash chain */
	struct centry *prev, *next; /* LRU list, head = most recent */
};

struct mchunk {
	struct obj_id id;
	uint8_t *data;
	size_t len;
	int refs;     /* readers copying out of data */
	int in_table; /* 0 once evicted: the last reader frees it */
	uint64_t tick;
};

struct cache {
	pthread_mutex_t lock;
	char *dir;
	char *chunks_dir;
	char *tmp_dir;
	struct crypto_key name_key;
	struct crypto_key data_key;
	uint64_t max_bytes;
	uint64_t total; /* bytes on disk in the index */
	struct centry **buckets;
	size_t nbuckets; /* power of two */
	size_t nentries;
	struct centry *head, *tail;
	struct mchunk *mem[MEM_SLOTS];
	uint64_t tick;
};

static int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static size_t bucket_of(const struct cache *c, const uint8_t *name)
{
	uint64_t h;

	memcpy(&h, name, sizeof(h)); /* a keyed hash: already uniform */
	return (size_t)h & (c->nbuckets - 1);
}

static struct centry *index_find(struct cache *c, const uint8_t *name)
{
	struct centry *e = c->buckets[bucket_of(c, name)];

	while (e && memcmp(e->name, name, NAME_LEN) != 0)
		e = e->hnext;
	return e;
}

static void lru_unlink(struct cache *c, struct centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct cache *c, struct centry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static int index_grow(struct cache *c)
{
	size_t n = c->nbuckets ? c->nbuckets * 2 : 1024;
	struct centry **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return -ENOMEM;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct centry *e = c->buckets[i], *next;

		for (; e; e = next) {
			size_t b;

			next = e->hnext;
			memcpy(&b, e->name, sizeof(b));
			b &= n - 1;
			e->hnext = nb[b];
			nb[b] = e;
		}
	}
	free(c->buckets);
	c->buckets = nb;
	c->nbuckets = n;
	return 0;
}

/* Add a new entry (not in the index yet) at the LRU head. */
static struct centry *index_add(struct cache *c, const uint8_t *name,
				uint64_t size, int64_t used)
{
	struct centry *e;
	size_t b;

	if (c->nentries >= c->nbuckets && index_grow(c) < 0)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	memcpy(e->name, name, NAME_LEN);
	e->size = size;
	e->used = used;
	b = bucket_of(c, name);
	e->hnext = c->buckets[b];
	c->buckets[b] = e;
	lru_push_front(c, e);
	c->nentries++;
	c->total += size;
	return e;
}

static void index_remove(struct cache *c, struct centry *e)
{
	struct centry **pp = &c->buckets[bucket_of(c, e->name)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->nentries--;
	c->total -= e->size;
	free(e);
}

static void name_hex(const uint8_t *name, char hex[2 * NAME_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < NAME_LEN; i++) {
		hex[2 * i] = digits[name[i] >> 4];
		hex[2 * i + 1] = digits[name[i] & 15];
	}
	hex[2 * NAME_LEN] = '\0';
}

static int hex_name(const char *hex, uint8_t name[NAME_LEN])
{
	for (int i = 0; i < 2 * NAME_LEN; i++) {
		int v;
		char ch = hex[i];

		if (ch >= '0' && ch <= '9')
			v = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v = ch - 'a' + 10;
		else
			return -EINVAL;
		if (i % 2 == 0)
			name[i / 2] = (uint8_t)(v << 4);
		else
			name[i / 2] |= (uint8_t)v;
	}
	return hex[2 * NAME_LEN] == '\0' ? 0 : -EINVAL;
}

static void chunk_name(struct cache *c, const struct obj_id *id,
		       uint8_t name[NAME_LEN])
{
	char hex[65];

	crypto_name_hex(&c->name_key, id->b, OBJ_ID_LEN, hex);
	(void)hex_name(hex, name);
}

/* DIR/chunks/XX/NAME into out. */
static void chunk_path(const struct cache *c, const uint8_t *name, char *out,
		       size_t outlen)
{
	char hex[2 * NAME_LEN + 1];

	name_hex(name, hex);
	snprintf(out, outlen, "%s/%.2s/%s", c->chunks_dir, hex, hex);
}

/* Evict least recently used files until the total fits, keeping `keep`.
 * Called with c->lock held. */
static void evict(struct cache *c, const struct centry *keep)
{
	char path[PATH_MAX];

	while (c->max_bytes && c->total > c->max_bytes && c->tail &&
	       c->tail != keep) {
		struct centry *e = c->tail;

		chunk_path(c, e->name, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			break; /* cannot free the space: keep the entry */
		index_remove(c, e);
	}
}

struct scanned {
	uint8_t name[NAME_LEN];
	uint64_t size;
	int64_t mtime;
	int64_t mtime_ns; /* finer order for files of the same second */
};

static int cmp_mtime(const void *a, const void *b)
{
	const struct scanned *x = a, *y = b;

	return (x->mtime_ns > y->mtime_ns) - (x->mtime_ns < y->mtime_ns);
}

/* Learn sizes and last-use times of the files already in the cache. */
static int scan(struct cache *c)
{
	struct scanned *v = NULL;
	size_t n = 0, alloc = 0;
	DIR *top, *sub;
	struct dirent *d, *f;
	int rc = 0;

	top = opendir(c->chunks_dir);
	if (!top)
		return err_set(-errno, "cannot open cache '%s': %s",
			       c->chunks_dir, strerror(errno));
	while (rc == 0 && (d = readdir(top))) {
		int dfd;

		if (strlen(d->d_name) != 2 || d->d_name[0] == '.')
			continue;
		dfd = openat(dirfd(top), d->d_name,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || !(sub = fdopendir(dfd))) {
			if (dfd >= 0)
				close(dfd);
			continue;
		}
		while ((f = readdir(sub))) {
			struct stat sb;
			uint8_t name[NAME_LEN];

			if (hex_name(f->d_name, name) < 0 ||
			    fstatat(dirfd(sub), f->d_name, &sb, 0) < 0 ||
			    !S_ISREG(sb.st_mode))
				continue;
			if (n == alloc) {
				size_t na = alloc ? alloc * 2 : 1024;
				struct scanned *nv =
					realloc(v, na * sizeof(*v));

				if (!nv) {
					rc = err_set(-ENOMEM, "out of memory");
					break;
				}
				v = nv;
				alloc = na;
			}
			memcpy(v[n].name, name, NAME_LEN);
			v[n].size = (uint64_t)sb.st_size;
			v[n].mtime = sb.st_mtim.tv_sec;
			v[n].mtime_ns =
				(int64_t)sb.st_mtim.tv_sec * 1000000000 +
				sb.st_mtim.tv_nsec;
			n++;
		}
		closedir(sub);
	}
	closedir(top);
	if (rc == 0 && n)
		qsort(v, n, sizeof(*v), cmp_mtime);
	/* Oldest first, so the newest ends at the LRU head. */
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!index_find(c, v[i].name) &&
		    !index_add(c, v[i].name, v[i].size, v[i].mtime))
			rc = err_set(-ENOMEM, "out of memory");
	free(v);
	return rc;
}

int cache_open(struct cache **out, const char *dir,
	       const struct crypto_key *key, uint64_t max_bytes)
{
	struct cache *c;
	int rc = -ENOMEM;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(-ENOMEM, "out of memory");
	pthread_mutex_init(&c->lock, NULL);
	c->max_bytes = max_bytes;
	c->dir = strdup(dir);
	if (!c->dir || asprintf(&c->chunks_dir, "%s/chunks", dir) < 0 ||
	    asprintf(&c->tmp_dir, "%s/tmp", dir) < 0 || index_grow(c) < 0) {
		err_set(rc, "out of memory");
		goto fail;
	}
	rc = crypto_key_derive(&c->name_key, key, "coffre cache names", NULL);
	if (rc == 0)
		rc = crypto_key_derive(&c->data_key, key, "coffre cache chunks",
				       NULL);
	if (rc < 0)
		goto fail;
	/* Leftovers in tmp are writes a crash interrupted. */
	rc = mkdir_p(c->chunks_dir, 0700);
	if (rc == 0)
		rc = rm_rf(c->tmp_dir);
	if (rc == 0)
		rc = mkdir_p(c->tmp_dir, 0700);
	if (rc == 0)
		rc = scan(c);
	if (rc < 0)
		goto fail;
	evict(c, NULL);
	*out = c;
	return 0;
fail:
	cache_free(c);
	return rc;
}

static void mchunk_free(struct mchunk *m)
{
	if (!m)
		return;
	if (m->data) {
		explicit_bzero(m->data, m->len);
		free(m->data);
	}
	free(m);
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	while (c->head)
		index_remove(c, c->head);
	for (int i = 0; i < MEM_SLOTS; i++)
		mchunk_free(c->mem[i]);
	free(c->buckets);
	crypto_key_release(&c->name_key);
	crypto_key_release(&c->data_key);
	free(c->dir);
	free(c->chunks_dir);
	free(c->tmp_dir);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int cache_has(struct cache *c, const struct obj_id *id)
{
	uint8_t name[NAME_LEN];
	int found;

	chunk_name(c, id, name);
	pthread_mutex_lock(&c->lock);
	found = index_find(c, name) != NULL;
	pthread_mutex_unlock(&c->lock);
	return found;
}

int cache_put(struct cache *c, const struct obj_id *id, const void *p, size_t n)
{
	struct tmpfile tf = tmpfile_init();
	uint8_t name[NAME_LEN];
	char path[PATH_MAX];
	uint8_t *sealed = NULL;
	struct centry *e;
	int rc;

	if (n > CHUNK_MAX)
		return err_set(-E2BIG, "chunk of %zu bytes is over the limit",
			       n);
	chunk_name(c, id, name);
	pthread_mutex_lock(&c->lock);
	e = index_find(c, name);
	if (e) {
		lru_unlink(c, e);
		lru_push_front(c, e);
	}
	pthread_mutex_unlock(&c->lock);
	if (e)
		return 0;

	sealed = malloc(n + CRYPTO_SEAL_OVERHEAD);
	if (!sealed)
		return err_set(-ENOMEM, "out of memory");
	rc = crypto_seal(&c->data_key, id->b, OBJ_ID_LEN, p, n, sealed);
	if (rc == 0)
		rc = tmpfile_open(&tf, c->tmp_dir);
	if (rc == 0)
		rc = write_full(tf.fd, sealed, n + CRYPTO_SEAL_OVERHEAD);
	if (rc < 0) {
		err_set(rc, "cannot write to the cache: %s", strerror(-rc));
		goto out;
	}
	chunk_path(c, name, path, sizeof(path));
	/* The XX directory, made on first use. */
	*strrchr(path, '/') = '\0';
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		rc = err_set(-errno, "cannot create '%s': %s", path,
			     strerror(errno));
		goto out;
	}
	path[strlen(path)] = '/';
	if (rename(tf.path, path) < 0) {
		rc = err_set(-errno, "cannot store a chunk in the cache: %s",
			     strerror(errno));
		goto out;
	}
	tf.committed = 1;
	pthread_mutex_lock(&c->lock);
	e = index_find(c, name);
	if (!e)
		e = index_add(c, name, n + CRYPTO_SEAL_OVERHEAD, now_s());
	if (e)
		evict(c, e);
	else
		rc = err_set(-ENOMEM, "out of memory");
	pthread_mutex_unlock(&c->lock);
out:
	tmpfile_release(&tf);
	free(sealed);
	return rc;
}

/* Read and authenticate the file of chunk id into a malloc'd buffer.  A
 * file that fails to authenticate is removed. */
static int load(struct cache *c, const struct obj_id *id, uint8_t **out,
		size_t *outlen)
{
	uint8_t name[NAME_LEN];
	char path[PATH_MAX];
	uint8_t *sealed = NULL, *plain = NULL;
	struct centry *e;
	struct stat sb;
	ssize_t r;
	int fd, rc = 0, touch = 0;
	int64_t now = now_s();

	chunk_name(c, id, name);
	chunk_path(c, name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e0 = errno;

		pthread_mutex_lock(&c->lock);
		e = index_find(c, name);
		if (e && e0 == ENOENT)
			index_remove(c, e);
		pthread_mutex_unlock(&c->lock);
		if (e0 == ENOENT)
			return err_set(-ENOENT, "chunk not in the cache");
		return err_set(-e0, "cannot open a cached chunk: %s",
			       strerror(e0));
	}
	if (fstat(fd, &sb) < 0) {
		rc = err_set(-errno, "cannot stat a cached chunk: %s",
			     strerror(errno));
		goto out;
	}
	if (sb.st_size < CRYPTO_SEAL_OVERHEAD ||
	    sb.st_size > (off_t)CHUNK_MAX + CRYPTO_SEAL_OVERHEAD) {
		rc = -EBADMSG;
		goto bad;
	}
	sealed = malloc((size_t)sb.st_size);
	plain = malloc((size_t)sb.st_size - CRYPTO_SEAL_OVERHEAD + 1);
	if (!sealed || !plain) {
		rc = err_set(-ENOMEM, "out of memory");
		goto out;
	}
	r = read_full(fd, sealed, (size_t)sb.st_size);
	if (r < 0) {
		rc = err_set((int)r, "cannot read a cached chunk: %s",
			     strerror((int)-r));
		goto out;
	}
	if (r != sb.st_size || crypto_open(&c->data_key, id->b, OBJ_ID_LEN,
					   sealed, (size_t)r, plain) < 0) {
		rc = -EBADMSG;
		goto bad;
	}
	pthread_mutex_lock(&c->lock);
	e = index_find(c, name);
	if (!e)
		e = index_add(c, name, (uint64_t)sb.st_size, now);
	if (e) {
		lru_unlink(c, e);
		lru_push_front(c, e);
		if (now - e->used >= TOUCH_EVERY_S) {
			e->used = now;
			touch = 1;
		}
	}
	pthread_mutex_unlock(&c->lock);
	/* The mtime is the last use across restarts. */
	if (touch)
		(void)futimens(fd, NULL);
	*out = plain;
	*outlen = (size_t)sb.st_size - CRYPTO_SEAL_OVERHEAD;
	plain = NULL;
	goto out;
bad:
	/* Torn or tampered: drop it so the chunk is fetched again. */
	unlink(path);
	pthread_mutex_lock(&c->lock);
	e = index_find(c, name);
	if (e)
		index_remove(c, e);
	pthread_mutex_unlock(&c->lock);
	rc = err_set(-EBADMSG,
		     "a cached chunk fails to authenticate (removed)");
out:
	close(fd);
	free(sealed);
	free(plain);
	return rc;
}

/* A referenced decrypted chunk from memory, or NULL. */
static struct mchunk *mem_get(struct cache *c, const struct obj_id *id)
{
	struct mchunk *m = NULL;

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < MEM_SLOTS; i++)
		if (c->mem[i] && !memcmp(&c->mem[i]->id, id, sizeof(*id))) {
			m = c->mem[i];
			m->refs++;
			m->tick = ++c->tick;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return m;
}

/* Keep data (taken over) in the memory LRU; returns a referenced chunk. */
static struct mchunk *mem_put(struct cache *c, const struct obj_id *id,
			      uint8_t *data, size_t len)
{
	struct mchunk *m = calloc(1, sizeof(*m)), *old;
	int victim = 0;

	if (!m)
		return NULL;
	m->id = *id;
	m->data = data;
	m->len = len;
	m->refs = 1;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < MEM_SLOTS; i++) {
		if (c->mem[i] && !memcmp(&c->mem[i]->id, id, sizeof(*id))) {
			/* Another reader loaded it meanwhile: use theirs. */
			old = c->mem[i];
			old->refs++;
			old->tick = ++c->tick;
			pthread_mutex_unlock(&c->lock);
			m->data = NULL;
			mchunk_free(m);
			free(data);
			return old;
		}
		if (!c->mem[i] ||
		    (c->mem[victim] && c->mem[i]->tick < c->mem[victim]->tick))
			victim = i;
	}
	old = c->mem[victim];
	if (old) {
		old->in_table = 0;
		if (old->refs > 0)
			old = NULL; /* its last reader frees it */
	}
	m->in_table = 1;
	m->tick = ++c->tick;
	c->mem[victim] = m;
	pthread_mutex_unlock(&c->lock);
	mchunk_free(old);
	return m;
}

static void mem_unref(struct cache *c, struct mchunk *m)
{
	int dead;

	pthread_mutex_lock(&c->lock);
	dead = --m->refs == 0 && !m->in_table;
	pthread_mutex_unlock(&c->lock);
	if (dead)
		mchunk_free(m);
}

static int chunk_ref(struct cache *c, const struct obj_id *id,
		     struct mchunk **out)
{
	uint8_t *data;
	size_t len;
	int rc;

	*out = mem_get(c, id);
	if (*out)
		return 0;
	rc = load(c, id, &data, &len);
	if (rc < 0)
		return rc;
	*out = mem_put(c, id, data, len);
	if (!*out) {
		free(data);
		return err_set(-ENOMEM, "out of memory");
	}
	return 0;
}

int cache_in_memory(struct cache *c, const struct obj_id *id)
{
	struct mchunk *m = mem_get(c, id);

	if (!m)
		return 0;
	mem_unref(c, m);
	return 1;
}

int cache_warm(struct cache *c, const struct obj_id *id)
{
	struct mchunk *m;
	int rc = chunk_ref(c, id, &m);

	if (rc == 0)
		mem_unref(c, m);
	return rc;
}

int cache_put_keep(struct cache *c, const struct obj_id *id, uint8_t *p,
		   size_t n)
{
	struct mchunk *m;
	int rc = cache_put(c, id, p, n);

	if (rc < 0) {
		free(p);
		return rc;
	}
	/* a reader is about to want it: keep it decrypted, as a read
	 * would have left it (mem_put takes p over) */
	m = mem_put(c, id, p, n);
	if (!m)
		free(p);
	else
		mem_unref(c, m);
	return 0;
}

ssize_t cache_read(struct cache *c, const struct obj_id *id, uint64_t off,
		   void *buf, size_t len)
{
	struct mchunk *m;
	size_t n = 0;
	int rc;

	rc = chunk_ref(c, id, &m);
	if (rc < 0)
		return rc;
	if (off < m->len) {
		n = m->len - (size_t)off < len ? m->len - (size_t)off : len;
		memcpy(buf, m->data + off, n);
	}
	mem_unref(c, m);
	return (ssize_t)n;
}

int cache_get(struct cache *c, const struct obj_id *id, uint8_t **out,
	      size_t *len)
{
	struct mchunk *m;
	int rc;

	*out = NULL;
	*len = 0;
	rc = chunk_ref(c, id, &m);
	if (rc < 0)
		return rc;
	*out = malloc(m->len ? m->len : 1);
	if (*out) {
		memcpy(*out, m->data, m->len);
		*len = m->len;
	} else {
		rc = err_set(-ENOMEM, "out of memory");
	}
	mem_unref(c, m);
	return rc;
}

void cache_usage(struct cache *c, uint64_t *used, uint64_t *max)
{
	pthread_mutex_lock(&c->lock);
	*used = c->total;
	*max = c->max_bytes;
	pthread_mutex_unlock(&c->lock);
}
