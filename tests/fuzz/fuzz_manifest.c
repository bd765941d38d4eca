/*
 * The version manifest and the folder metadata (common/manifest.c), as
 * read from a ledger blob or a server answer.  What parses must format
 * and parse back to the same fields: the text is the stable form.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const struct manifest *a, const struct manifest *b)
{
	if (strcmp(a->doc_id, b->doc_id) || a->version != b->version ||
	    a->size != b->size ||
	    memcmp(&a->sha256, &b->sha256, sizeof(a->sha256)) ||
	    strcmp(a->deposited_by, b->deposited_by) ||
	    strcmp(a->deposited_at, b->deposited_at) || a->mtime != b->mtime ||
	    a->nchunks != b->nchunks)
		return 0;
	for (size_t i = 0; i < a->nchunks; i++)
		if (memcmp(&a->chunks[i].id, &b->chunks[i].id,
			   sizeof(a->chunks[i].id)) ||
		    a->chunks[i].size != b->chunks[i].size)
			return 0;
	return 1;
}

static void manifest_case(const char *text, size_t len)
{
	struct manifest m, again;
	struct buf out;

	manifest_init(&m);
	manifest_init(&again);
	buf_init(&out, len + 1024);
	if (manifest_parse(&m, text, len) == 0) {
		if (manifest_format(&m, &out) < 0)
			abort(); /* parsed, so its sizes add up */
		if (manifest_parse(&again, out.data, out.len) < 0 ||
		    !same(&m, &again))
			abort();
	} else if (m.nchunks || m.chunks || m.version) {
		abort(); /* "on error m is left empty" */
	}
	buf_release(&out);
	manifest_release(&again);
	manifest_release(&m);
}

static void folder_case(const char *text, size_t len)
{
	struct folder_meta fm, again;
	struct buf out;

	buf_init(&out, 1024);
	if (folder_meta_parse(&fm, text, len) == 0) {
		if (folder_meta_format(&fm, &out) < 0 ||
		    folder_meta_parse(&again, out.data, out.len) < 0 ||
		    again.class != fm.class || again.has_mode != fm.has_mode ||
		    again.mode != fm.mode)
			abort();
	}
	buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: ASan sees any read past the end. */
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	manifest_case(text, size);
	folder_case(text, size);
	free(text);
	return 0;
}
