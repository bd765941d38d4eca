/*
 * A memory budget for parsing JSON request bodies with jansson.
 *
 * jansson builds a tree of small heap objects: an empty object costs it
 * about a hundred times the three bytes "{}," it was written with, so a
 * parse of an untrusted body must be bounded by what it allocates, not by
 * the size of the text.  jansson has no per-call allocator, only a
 * process-wide one (json_set_alloc_funcs): json_budget_install() puts in
 * one that counts, per thread, the bytes allocated while a parse runs, and
 * fails the allocation that would exceed the parse's budget.  Outside a
 * parse it only forwards to malloc/free.
 */
#ifndef COFFRE_SERVER_JSON_BUDGET_H
#define COFFRE_SERVER_JSON_BUDGET_H

#include <stddef.h>
#include <jansson.h>

/*
 * Route jansson's allocations through the accounting allocator (plain
 * malloc blocks: free() still releases what jansson returns).  Call once,
 * at start, before other threads use jansson.
 */
void json_budget_install(void);

/*
 * json_loadb(text, len, flags, err) allocating at most budget bytes.  NULL
 * on a parse error or when the budget ran out; *over is set to 1 in the
 * second case (err then says "out of memory").  Without
 * json_budget_install() the budget is not enforced.
 */
json_t *json_budget_loadb(const char *text, size_t len, size_t flags,
			  size_t budget, json_error_t *err, int *over);

#endif /* COFFRE_SERVER_JSON_BUDGET_H */
