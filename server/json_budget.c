/*
 * The accounting allocator behind json_budget_loadb (see json_budget.h).
 *
 * Blocks are plain malloc blocks (no header): jansson hands some of them
 * to callers who release them with free(), json_dumps' text for one.  Their
 * size is malloc_usable_size().  The counter is thread-local because
 * jansson's allocator hooks take no context argument, and a parse runs on
 * one thread from its start to its end; while it runs, the only frees on
 * that thread are jansson's own, of blocks that parse allocated, so the
 * count is the parse's live memory.  Outside a parse nothing is counted.
 */
#include "server/json_budget.h"

#include <malloc.h>
#include <stdlib.h>

struct jb_counter {
	size_t used, limit;
	int on, over;
};

/* One per thread: see the file comment. */
static _Thread_local struct jb_counter jb_this;

static void *jb_malloc(size_t n)
{
	void *p;
	size_t got;

	if (jb_this.on && n > jb_this.limit - jb_this.used) {
		jb_this.over = 1;
		return NULL;
	}
	p = malloc(n);
	if (!p || !jb_this.on)
		return p;
	got = malloc_usable_size(p);
	if (got > jb_this.limit - jb_this.used) {
		free(p);
		jb_this.over = 1;
		return NULL;
	}
	jb_this.used += got;
	return p;
}

static void jb_free(void *p)
{
	size_t n;

	if (p && jb_this.on) {
		n = malloc_usable_size(p);
		jb_this.used = n < jb_this.used ? jb_this.used - n : 0;
	}
	free(p);
}

void json_budget_install(void)
{
	json_set_alloc_funcs(jb_malloc, jb_free);
}

json_t *json_budget_loadb(const char *text, size_t len, size_t flags,
			  size_t budget, json_error_t *err, int *over)
{
	json_t *j;

	jb_this = (struct jb_counter){ .limit = budget, .on = 1 };
	j = json_loadb(text, len, flags, err);
	*over = jb_this.over;
	/* The tree is the handler's now, and freed after the window. */
	jb_this.on = 0;
	if (j && *over) { /* cannot happen: a failed malloc fails the parse */
		json_decref(j);
		j = NULL;
	}
	return j;
}
