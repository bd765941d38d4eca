/*
 * The access file ".coffre-access" (server/access.c, load_text), as read
 * from the ledger when the index mirror disagrees with it.  Each input is
 * loaded into a real index inside a transaction rolled back after it.
 * What loads writes back (access_text) to a text that loads again to the
 * same state.
 */
#include "server/access.c"
#include "tests/fuzz/fuzz.h"

static struct index *ix;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/index.db", fuzz_scratch());
	if (index_open(&ix, path, 1) < 0 ||
	    index_user_add(ix, "alice", "", "x", 0) < 0 ||
	    index_user_add(ix, "bob", "", "x", 0) < 0 ||
	    index_user_add(ix, "carol", "", "x", 0) < 0 ||
	    index_space_add(ix, "s", "company", "alice", 0) < 0) {
		fprintf(stderr, "cannot make the index: %s\n", err_msg());
		exit(1);
	}
	return 0;
}

/* Load text (NUL-terminated copy); its access_text into out on success. */
static int load(const char *text, size_t len, struct buf *out)
{
	char *copy = malloc(len + 1);
	int rc;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	rc = load_text(ix, "s", copy);
	free(copy);
	if (rc == 0)
		rc = access_text(ix, "s", out);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf once, twice;
	struct index_txn *tx;

	buf_init(&once, ACCESS_TEXT_MAX);
	buf_init(&twice, ACCESS_TEXT_MAX);
	if (index_begin(ix, &tx) < 0)
		abort();
	if (load((const char *)data, size, &once) == 0) {
		if (load(once.data, once.len, &twice) < 0 ||
		    once.len != twice.len ||
		    memcmp(once.data, twice.data, once.len))
			abort();
	}
	index_rollback(ix, tx);
	err_clear();
	buf_release(&once);
	buf_release(&twice);
	return 0;
}
