/*
 * The event journal's hash chain (server/events.c) on a real index in a
 * temporary directory: appends link, the head follows, a changed, removed
 * or reordered row is found at its seq, and an append joins the caller's
 * open transaction (rolled back with it).
 */
#include "server/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "server/index.h"
#include "tests/lib/tap.h"

/* What someone with the file could do behind coffred's back. */
static int run_sql(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		rc = 0;
	sqlite3_close(db);
	return rc;
}

int main(void)
{
	struct index_txn *tx;
	char dir[] = "/tmp/coffre-test-events.XXXXXX", path[128];
	struct index_event ev = { .kind = "deposit",
				  .path = "/a/f.txt",
				  .doc_id = "0123456789abcdef0123456789abcdef",
				  .version = 1 };
	struct obj_id head, zero = { { 0 } };
	struct index *ix = NULL;
	uint64_t seq = 0, bad = 0;

	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP cannot make a temporary directory\n");
		return 0;
	}
	snprintf(path, sizeof(path), "%s/index.db", dir);
	ok(index_open(&ix, path, 1) == 0, "open a new index");

	ok(events_chain_head(ix, "demo", &seq, &head) == 0 && seq == 0 &&
		   !obj_id_cmp(&head, &zero),
	   "an empty chain has seq 0 and a zero head");
	ok(events_append(ix, "demo", "alice", 1000, &ev, &seq) == 0 && seq == 1,
	   "the first event is seq 1");
	ev.kind = "mkdir";
	ev.doc_id = NULL;
	ev.version = 0;
	ok(events_append(ix, "demo", "bob", 1001, &ev, &seq) == 0 && seq == 2,
	   "the second is seq 2");
	ok(events_append(ix, NULL, "alice", 1002,
			 &(struct index_event){ .kind = "login" }, &seq) == 0 &&
		   seq == 1,
	   "server events have a chain of their own");
	ok(events_append(
		   ix, "demo", NULL, 1003,
		   &(struct index_event){ .kind = "read",
					  .path = "/a/f.txt",
					  .detail = "{\"client_at\":\"x\"}" },
		   &seq) == 0 &&
		   seq == 3,
	   "a third event");
	ok(events_chain_head(ix, "demo", &seq, &head) == 0 && seq == 3 &&
		   obj_id_cmp(&head, &zero),
	   "the head is the last event");
	ok(events_verify_chain(ix, "demo", &bad) == 0, "the chain verifies");
	ok(events_verify_chain(ix, "", &bad) == 0, "so does the server's");
	ok(events_append(ix, "demo", "x", 1, &(struct index_event){ 0 },
			 NULL) == -EINVAL,
	   "an event without a kind is refused");

	/* Inside the caller's transaction: rolled back with it. */
	ok(index_begin(ix, &tx) == 0 &&
		   events_append(ix, "demo", "alice", 1004, &ev, &seq) == 0 &&
		   seq == 4 && (index_rollback(ix, tx), 1),
	   "an append inside an open transaction");
	ok(events_chain_head(ix, "demo", &seq, &head) == 0 && seq == 3,
	   "goes away with its rollback");

	ok(run_sql(path,
		   "UPDATE events SET login = 'mallory' WHERE space = 'demo' AND seq = 2") ==
		   0,
	   "change the author of seq 2");
	is_int(events_verify_chain(ix, "demo", &bad), -EBADMSG,
	       "a changed row breaks the chain");
	is_int((long long)bad, 2, "at that row");
	ok(run_sql(path,
		   "UPDATE events SET login = 'bob' WHERE space = 'demo' AND seq = 2") ==
			   0 &&
		   events_verify_chain(ix, "demo", &bad) == 0,
	   "put back, it verifies again");
	ok(run_sql(path,
		   "DELETE FROM events WHERE space = 'demo' AND seq = 2") == 0,
	   "remove seq 2");
	is_int(events_verify_chain(ix, "demo", &bad), -EBADMSG,
	       "a removed row breaks the chain");
	is_int((long long)bad, 2, "where it was");

	index_free(ix);
	unlink(path);
	snprintf(path, sizeof(path), "%s/index.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/index.db-shm", dir);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
