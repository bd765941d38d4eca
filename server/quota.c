/*
 * Per-space quotas (quota.h): the rule, the bytes a batch would add, and
 * the removal of what a refused batch uploaded.
 */
#include "server/quota.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/manifest.h"
#include "server/chunkstore.h"
#include "server/index.h"
#include "server/ledger.h"
#include "server/server.h"
#include "server/spaces.h"

uint64_t quota_in_force(struct server *srv, const struct index_usage *u)
{
	if (u->quota >= 0)
		return (uint64_t)u->quota;
	return server_quota_default(srv);
}

int quota_check(const char *space, uint64_t stored, uint64_t add,
		uint64_t quota)
{
	uint64_t total;

	if (!quota || !add)
		return 0;
	if (!__builtin_add_overflow(stored, add, &total) && total <= quota)
		return 0;
	return err_set(
		-EDQUOT,
		"quota of space '%s' exceeded: %llu bytes stored + %llu new would pass its quota of %llu bytes",
		space, (unsigned long long)stored, (unsigned long long)add,
		(unsigned long long)quota);
}

struct sized_id {
	struct obj_id id;
	uint32_t size;
};

static int sized_cmp(const void *a, const void *b)
{
	return obj_id_cmp(&((const struct sized_id *)a)->id,
			  &((const struct sized_id *)b)->id);
}

/* The distinct chunks the deposits of ops name, sorted, in *out. */
static int batch_chunks(const struct ledger_op *ops, size_t nops,
			struct sized_id **out, size_t *n)
{
	struct sized_id *v;
	size_t total = 0, k = 0;

	for (size_t i = 0; i < nops; i++)
		if (ops[i].kind == LEDGER_OP_DEPOSIT)
			total += ops[i].content.nchunks;
	*out = NULL;
	*n = 0;
	if (!total)
		return 0;
	v = malloc(total * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < nops; i++) {
		if (ops[i].kind != LEDGER_OP_DEPOSIT)
			continue;
		for (size_t j = 0; j < ops[i].content.nchunks; j++) {
			v[k].id = ops[i].content.chunks[j].id;
			v[k++].size = ops[i].content.chunks[j].size;
		}
	}
	qsort(v, k, sizeof(*v), sized_cmp);
	*n = 0;
	for (size_t i = 0; i < k; i++)
		if (*n == 0 || obj_id_cmp(&v[*n - 1].id, &v[i].id))
			v[(*n)++] = v[i];
	*out = v;
	return 0;
}

int quota_batch_bytes(struct index *ix, const char *space,
		      const struct ledger_op *ops, size_t nops, uint64_t *out)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	struct sized_id *v;
	size_t n;
	int rc = batch_chunks(ops, nops, &v, &n);

	*out = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		obj_id_to_hex(&v[i].id, hex);
		rc = index_chunk_known(ix, space, hex);
		if (rc == 0)
			*out += v[i].size; /* each <= CHUNK_MAX: no overflow
					    * below 2^32 chunks */
		if (rc > 0)
			rc = 0;
	}
	free(v);
	return rc;
}

void quota_batch_forget(struct space *sp, struct index *ix,
			const struct ledger_op *ops, size_t nops)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	struct sized_id *v;
	size_t n, gone = 0;
	int rc = batch_chunks(ops, nops, &v, &n);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		obj_id_to_hex(&v[i].id, hex);
		rc = index_chunk_known(ix, sp->name, hex);
		if (rc != 0) {
			rc = rc > 0 ? 0 : rc; /* named by a version: kept */
			continue;
		}
		rc = chunkstore_delete(sp->chunks, &v[i].id);
		if (rc == 0)
			gone++;
		if (rc == -ENOENT) { /* never uploaded */
			err_clear();
			rc = 0;
		}
	}
	if (rc < 0)
		log_error(
			"space '%s': chunks of a batch over quota not removed: %s",
			sp->name, err_msg());
	else if (gone)
		log_info("space '%s': %zu chunks of a batch over quota removed",
			 sp->name, gone);
	free(v);
}
