/*
 * The memory backend (see chunk_mem.h): objects in a list under one
 * mutex, the steps of every put counted, one fault armed at a time.
 * Small by intent: tests hold a few hundred objects at most.
 */
#include "server/chunk_mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "server/chunk_backend.h"

struct mem_obj {
	char name[CHUNK_NAME_LEN + 1];
	uint8_t *data;
	size_t len;
	struct mem_obj *next;
};

struct mem_state {
	pthread_mutex_t lock;
	struct mem_obj *head; /* protected by lock, as is all below */
	unsigned long steps[CHUNK_MEM_NSTEPS];
	enum chunk_mem_step fail_kind;
	unsigned long fail_at; /* 0: disarmed; else the step number to fail */
	int fail_err;
	int fired;
	size_t open_puts;
};

struct mem_put {
	struct mem_state *ms;
	char name[CHUNK_NAME_LEN + 1];
	uint8_t *data;
	size_t len, alloc;
};

static const char *const step_names[] = { "put", "write", "fsync", "rename",
					  "commit" };

/* Count a step; its injected error or 0.  Called with ms->lock held. */
static int step(struct mem_state *ms, enum chunk_mem_step kind)
{
	ms->steps[kind]++;
	ms->steps[CHUNK_MEM_ANY]++;
	if (ms->fail_at && !ms->fired &&
	    ms->steps[ms->fail_kind] == ms->fail_at &&
	    (ms->fail_kind == kind || ms->fail_kind == CHUNK_MEM_ANY)) {
		ms->fired = 1;
		return err_set(ms->fail_err, "injected failure of %s",
			       step_names[kind]);
	}
	return 0;
}

static int locked_step(struct mem_state *ms, enum chunk_mem_step kind)
{
	int rc;

	pthread_mutex_lock(&ms->lock);
	rc = step(ms, kind);
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

static struct mem_obj *find(struct mem_state *ms, const char *name)
{
	for (struct mem_obj *o = ms->head; o; o = o->next)
		if (!strcmp(o->name, name))
			return o;
	return NULL;
}

static int mem_put_begin(void *state, const char *name, void **out)
{
	struct mem_state *ms = state;
	struct mem_put *p;
	int rc;

	*out = NULL;
	if (!chunk_name_valid(name))
		return err_set(-EINVAL, "bad chunk name '%s'", name);
	rc = locked_step(ms, CHUNK_MEM_PUT);
	if (rc < 0)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ms = ms;
	memcpy(p->name, name, sizeof(p->name));
	pthread_mutex_lock(&ms->lock);
	ms->open_puts++;
	pthread_mutex_unlock(&ms->lock);
	*out = p;
	return 0;
}

static int mem_put_write(void *put, const void *buf, size_t n)
{
	struct mem_put *p = put;
	int rc = locked_step(p->ms, CHUNK_MEM_WRITE);

	if (rc < 0)
		return rc;
	if (p->len + n > p->alloc) {
		size_t na = p->alloc ? p->alloc : 4096;
		uint8_t *nb;

		while (na < p->len + n)
			na *= 2;
		nb = realloc(p->data, na);
		if (!nb)
			return -ENOMEM;
		p->data = nb;
		p->alloc = na;
	}
	memcpy(p->data + p->len, buf, n);
	p->len += n;
	return 0;
}

static void mem_put_abort(void *put)
{
	struct mem_put *p = put;

	if (!p)
		return;
	pthread_mutex_lock(&p->ms->lock);
	p->ms->open_puts--;
	pthread_mutex_unlock(&p->ms->lock);
	free(p->data);
	free(p);
}

static int mem_put_commit(void *put)
{
	struct mem_put *p = put;
	struct mem_state *ms = p->ms;
	struct mem_obj *o, *n;
	int rc;

	n = calloc(1, sizeof(*n));
	if (!n) {
		mem_put_abort(p);
		return -ENOMEM;
	}
	pthread_mutex_lock(&ms->lock);
	rc = step(ms, CHUNK_MEM_FSYNC);
	if (rc == 0)
		rc = step(ms, CHUNK_MEM_RENAME);
	if (rc == 0) {
		/* Published whole, replacing an identical object if any. */
		o = find(ms, p->name);
		if (o) {
			free(o->data);
			o->data = p->data;
			o->len = p->len;
			free(n);
		} else {
			memcpy(n->name, p->name, sizeof(n->name));
			n->data = p->data;
			n->len = p->len;
			n->next = ms->head;
			ms->head = n;
		}
		p->data = NULL;
		n = NULL;
		rc = step(ms, CHUNK_MEM_COMMIT);
	}
	pthread_mutex_unlock(&ms->lock);
	free(n);
	mem_put_abort(p);
	return rc;
}

static int mem_get(void *state, const char *name, chunk_backend_read_cb cb,
		   void *arg)
{
	struct mem_state *ms = state;
	struct mem_obj *o;
	uint8_t *copy;
	size_t len, off;
	int rc = 0;

	pthread_mutex_lock(&ms->lock);
	o = find(ms, name);
	copy = o ? malloc(o->len ? o->len : 1) : NULL;
	len = o ? o->len : 0;
	if (copy)
		memcpy(copy, o->data, len);
	pthread_mutex_unlock(&ms->lock);
	if (!o)
		return err_set(-ENOENT, "no chunk object '%s'", name);
	if (!copy)
		return -ENOMEM;
	/* Odd pieces, so the front end's record cutting is exercised. */
	for (off = 0; off < len && rc == 0; off += 7777)
		rc = cb(copy + off, len - off < 7777 ? len - off : 7777, arg);
	free(copy);
	return rc;
}

static int mem_stat(void *state, const char *name, uint64_t *size)
{
	struct mem_state *ms = state;
	struct mem_obj *o;

	pthread_mutex_lock(&ms->lock);
	o = find(ms, name);
	if (o)
		*size = o->len;
	pthread_mutex_unlock(&ms->lock);
	return o ? 0 : -ENOENT;
}

static int mem_list(void *state, chunk_backend_list_cb cb, void *arg)
{
	struct mem_state *ms = state;
	char(*names)[CHUNK_NAME_LEN + 1] = NULL;
	size_t n = 0, i = 0;
	struct mem_obj *o;
	int rc = 0;

	/* A snapshot, so cb may call back into the backend. */
	pthread_mutex_lock(&ms->lock);
	for (o = ms->head; o; o = o->next)
		n++;
	names = calloc(n ? n : 1, sizeof(*names));
	for (o = ms->head; names && o; o = o->next)
		memcpy(names[i++], o->name, sizeof(*names));
	pthread_mutex_unlock(&ms->lock);
	if (!names)
		return -ENOMEM;
	for (i = 0; i < n && rc == 0; i++)
		rc = cb(names[i], arg);
	free(names);
	return rc;
}

static int mem_del(void *state, const char *name)
{
	struct mem_state *ms = state;
	struct mem_obj **pp, *o;

	pthread_mutex_lock(&ms->lock);
	for (pp = &ms->head; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			break;
	o = *pp;
	if (o)
		*pp = o->next;
	pthread_mutex_unlock(&ms->lock);
	if (!o)
		return -ENOENT;
	free(o->data);
	free(o);
	return 0;
}

static void mem_free(void *state)
{
	struct mem_state *ms = state;
	struct mem_obj *o, *next;

	if (!ms)
		return;
	for (o = ms->head; o; o = next) {
		next = o->next;
		free(o->data);
		free(o);
	}
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}

int chunk_mem_new(struct chunk_backend **out)
{
	struct chunk_backend *be = calloc(1, sizeof(*be));
	struct mem_state *ms = calloc(1, sizeof(*ms));

	*out = NULL;
	if (!be || !ms) {
		free(be);
		free(ms);
		return -ENOMEM;
	}
	pthread_mutex_init(&ms->lock, NULL);
	*be = (struct chunk_backend){
		.version = CHUNK_BACKEND_VERSION,
		.kind = "memory",
		.state = ms,
		.put_begin = mem_put_begin,
		.put_write = mem_put_write,
		.put_commit = mem_put_commit,
		.put_abort = mem_put_abort,
		.get = mem_get,
		.stat = mem_stat,
		.list = mem_list,
		.del = mem_del,
		.free = mem_free,
	};
	*out = be;
	return 0;
}

void chunk_mem_fail(struct chunk_backend *be, enum chunk_mem_step kind,
		    unsigned long n, int err)
{
	struct mem_state *ms = be->state;

	pthread_mutex_lock(&ms->lock);
	ms->fail_kind = kind;
	ms->fail_at = n ? ms->steps[kind] + n : 0;
	ms->fail_err = err;
	ms->fired = 0;
	pthread_mutex_unlock(&ms->lock);
}

unsigned long chunk_mem_steps(struct chunk_backend *be,
			      enum chunk_mem_step kind)
{
	struct mem_state *ms = be->state;
	unsigned long n;

	pthread_mutex_lock(&ms->lock);
	n = ms->steps[kind];
	pthread_mutex_unlock(&ms->lock);
	return n;
}

int chunk_mem_fired(struct chunk_backend *be)
{
	struct mem_state *ms = be->state;
	int f;

	pthread_mutex_lock(&ms->lock);
	f = ms->fired;
	pthread_mutex_unlock(&ms->lock);
	return f;
}

size_t chunk_mem_count(struct chunk_backend *be)
{
	struct mem_state *ms = be->state;
	size_t n = 0;

	pthread_mutex_lock(&ms->lock);
	for (struct mem_obj *o = ms->head; o; o = o->next)
		n++;
	pthread_mutex_unlock(&ms->lock);
	return n;
}

size_t chunk_mem_open_puts(struct chunk_backend *be)
{
	struct mem_state *ms = be->state;
	size_t n;

	pthread_mutex_lock(&ms->lock);
	n = ms->open_puts;
	pthread_mutex_unlock(&ms->lock);
	return n;
}

int chunk_mem_corrupt(struct chunk_backend *be, const char *name, size_t off)
{
	struct mem_state *ms = be->state;
	struct mem_obj *o;
	int rc = -ENOENT;

	pthread_mutex_lock(&ms->lock);
	o = find(ms, name);
	if (o && off < o->len) {
		o->data[off] ^= 1;
		rc = 0;
	}
	pthread_mutex_unlock(&ms->lock);
	return rc;
}
