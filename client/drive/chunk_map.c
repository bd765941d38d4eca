/*
 * A version's chunk map: its chunks in order and their prefix sums, so an
 * offset finds its chunk by binary search.  Plain data, built from a
 * manifest's chunk list by whoever has one (the server's answer, the
 * offline copy, a commit this drive made).
 */
#include "client/drive/fs_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void chunk_map_free(struct chunk_map *m)
{
	if (!m)
		return;
	free(m->chunks);
	free(m->start);
	free(m);
}

int chunk_map_build(struct chunk_map **out, const char *doc, uint64_t version,
		    const struct manifest_chunk *c, size_t n)
{
	struct chunk_map *m = calloc(1, sizeof(*m));
	size_t i;

	if (!m)
		return -ENOMEM;
	m->chunks = malloc((n ? n : 1) * sizeof(*c));
	m->start = malloc((n + 1) * sizeof(uint64_t));
	if (!m->chunks || !m->start) {
		chunk_map_free(m);
		return -ENOMEM;
	}
	snprintf(m->doc_id, sizeof(m->doc_id), "%s", doc);
	m->version = version;
	m->n = n;
	if (n)
		memcpy(m->chunks, c, n * sizeof(*c));
	m->start[0] = 0;
	for (i = 0; i < n; i++)
		m->start[i + 1] = m->start[i] + c[i].size;
	m->size = m->start[n];
	*out = m;
	return 0;
}
