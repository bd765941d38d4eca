/*
 * The operation queue: append, update, remove and list in order; a reopen
 * keeps every op and its order; paths never appear in the database or WAL
 * bytes; a wrong key or a moved row fails to authenticate.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>

#include "client/store/queue.h"
#include "common/crypto.h"
#include "common/fsutil.h"
#include "tests/lib/tap.h"

/* queue_op fields are char * (the queue owns what it decodes). */
#define S(lit) ((char *)(lit))
#define MARKER "/Contrats/MARKER-queue-7d1e2f.pdf"

static char tmpdir[] = "/tmp/test_queue.XXXXXX";

struct seen {
	int n;
	uint64_t seq[64];
	enum queue_kind kind[64];
	char path[64][128];
	char staging[64][64];
	uint64_t base_version[64];
	int64_t ready[64];
	int stop_at;	 /* stop after this many (0: never) */
	struct queue *q; /* remove each seen op when set */
};

static int collect(const struct queue_op *op, void *arg)
{
	struct seen *s = arg;

	if (s->n < 64) {
		s->seq[s->n] = op->seq;
		s->kind[s->n] = op->kind;
		snprintf(s->path[s->n], sizeof(s->path[0]), "%s",
			 op->kind == QUEUE_MOVE ? op->to : op->path);
		snprintf(s->staging[s->n], sizeof(s->staging[0]), "%s",
			 op->staging ? op->staging : "");
		s->base_version[s->n] = op->base_version;
		s->ready[s->n] = op->ready_at_ms;
	}
	s->n++;
	if (s->q && queue_remove(s->q, op->seq) < 0)
		return -EIO;
	return s->stop_at && s->n >= s->stop_at ? 1 : 0;
}

static int file_contains(const char *path, const char *needle)
{
	char *data = NULL;
	size_t len = 0;
	int found;

	if (file_read_all(path, 64u << 20, &data, &len) < 0)
		return 0; /* absent: contains nothing */
	found = memmem(data, len, needle, strlen(needle)) != NULL;
	free(data);
	return found;
}

static void test_queue_order(const struct crypto_key *key)
{
	struct queue *q = NULL;
	struct queue_op op;
	struct seen s;
	uint64_t seqs[5];
	char path[64];
	struct stat sb;

	is_int(queue_open(&q, tmpdir, key), 0, "open a new queue");
	snprintf(path, sizeof(path), "%s/queue.db", tmpdir);
	ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600,
	   "queue.db is 0600");
	is_int(queue_count(q), 0, "empty");

	memset(&op, 0, sizeof(op));
	op.kind = QUEUE_MKDIR;
	op.path = S("/Contrats");
	is_int(queue_append(q, &op), 0, "append mkdir");
	seqs[0] = op.seq;
	op.kind = QUEUE_DEPOSIT;
	op.path = S(MARKER);
	op.staging = S("st-0001");
	op.base_version = 3;
	memcpy(op.base_doc, "0123456789abcdef0123456789abcdef", 33);
	op.ready_at_ms = 1795773600123;
	is_int(queue_append(q, &op), 0, "append deposit");
	seqs[1] = op.seq;
	memset(&op, 0, sizeof(op));
	op.kind = QUEUE_MOVE;
	op.from = S("/a");
	op.to = S("/b");
	is_int(queue_append(q, &op), 0, "append move");
	seqs[2] = op.seq;
	op.kind = QUEUE_UNLINK;
	op.path = S("/c");
	is_int(queue_append(q, &op), 0, "append unlink");
	seqs[3] = op.seq;
	op.kind = QUEUE_RMDIR;
	op.path = S("/d");
	is_int(queue_append(q, &op), 0, "append rmdir");
	seqs[4] = op.seq;
	ok(seqs[0] < seqs[1] && seqs[1] < seqs[2] && seqs[2] < seqs[3] &&
		   seqs[3] < seqs[4],
	   "sequence numbers increase");
	is_int(queue_count(q), 5, "five queued");

	/* Bad ops change nothing. */
	memset(&op, 0, sizeof(op));
	op.kind = QUEUE_MOVE;
	op.from = S("/x");
	is_int(queue_append(q, &op), -EINVAL, "move without 'to': -EINVAL");
	op.kind = QUEUE_DEPOSIT;
	op.path = S("/x");
	is_int(queue_append(q, &op), -EINVAL,
	       "deposit without staging: -EINVAL");
	op.kind = (enum queue_kind)42;
	is_int(queue_append(q, &op), -EINVAL, "unknown kind: -EINVAL");
	is_int(queue_count(q), 5, "still five");

	/* Update the deposit's path (a rename while it waits). */
	memset(&op, 0, sizeof(op));
	op.seq = seqs[1];
	op.kind = QUEUE_DEPOSIT;
	op.path = S(MARKER ".renamed");
	op.staging = S("st-0001");
	op.base_version = 3;
	is_int(queue_update(q, &op), 0, "update the deposit");
	op.seq = 999999;
	is_int(queue_update(q, &op), -ENOENT, "update a missing seq: -ENOENT");
	is_int(queue_remove(q, seqs[3]), 0, "remove the unlink");

	memset(&s, 0, sizeof(s));
	is_int(queue_list(q, collect, &s), 0, "list");
	is_int(s.n, 4, "four listed");
	ok(s.seq[0] == seqs[0] && s.seq[1] == seqs[1] && s.seq[2] == seqs[2] &&
		   s.seq[3] == seqs[4],
	   "in seq order");
	ok(s.kind[0] == QUEUE_MKDIR && s.kind[1] == QUEUE_DEPOSIT &&
		   s.kind[2] == QUEUE_MOVE && s.kind[3] == QUEUE_RMDIR,
	   "kinds kept");
	is_str(s.path[1], MARKER ".renamed", "updated path listed");
	is_str(s.path[2], "/b", "move target kept");
	is_str(s.staging[1], "st-0001", "staging name kept");
	is_int(s.base_version[1], 3, "base version kept");

	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	is_int(queue_list(q, collect, &s), 1, "a callback's non-zero stops");
	is_int(s.n, 2, "after two");
	queue_free(q);

	q = NULL;
	is_int(queue_open(&q, tmpdir, key), 0, "reopen");
	memset(&s, 0, sizeof(s));
	is_int(queue_list(q, collect, &s), 0, "list after reopen");
	ok(s.n == 4 && s.seq[0] == seqs[0] && s.seq[3] == seqs[4],
	   "same ops, same order after reopen");
	ok(s.ready[1] == 0, "updated op has its new ready time");
	memset(&op, 0, sizeof(op));
	op.kind = QUEUE_UNLINK;
	op.path = S("/e");
	is_int(queue_append(q, &op), 0, "append after reopen");
	ok(op.seq > seqs[4], "a sequence number is never reused");
	is_int(queue_sync(q), 0, "sync");

	/* A callback may remove what it is given. */
	memset(&s, 0, sizeof(s));
	s.q = q;
	is_int(queue_list(q, collect, &s), 0, "list and remove each");
	is_int(s.n, 5, "five seen");
	is_int(queue_count(q), 0, "queue drained");
	queue_free(q);

	snprintf(path, sizeof(path), "%s/queue.db", tmpdir);
	ok(!file_contains(path, "MARKER-queue"), "no path in queue.db");
	snprintf(path, sizeof(path), "%s/queue.db-wal", tmpdir);
	ok(!file_contains(path, "MARKER-queue"), "no path in the WAL");
}

static void test_queue_tamper(const struct crypto_key *key)
{
	struct crypto_key other;
	struct queue *q = NULL;
	struct queue_op op;
	struct seen s;
	sqlite3 *db;
	char path[64];

	memset(&op, 0, sizeof(op));
	op.kind = QUEUE_UNLINK;
	op.path = S("/one");
	queue_open(&q, tmpdir, key);
	queue_append(q, &op);
	op.path = S("/two");
	queue_append(q, &op);
	queue_free(q);

	crypto_key_new_random(&other);
	is_int(queue_open(&q, tmpdir, &other), 0, "open with another key");
	memset(&s, 0, sizeof(s));
	is_int(queue_list(q, collect, &s), -EBADMSG,
	       "listing with the wrong key: -EBADMSG");
	queue_free(q);
	crypto_key_release(&other);

	/* Swap the two rows' blobs: each fails its ad = seq check. */
	snprintf(path, sizeof(path), "%s/queue.db", tmpdir);
	if (sqlite3_open(path, &db) == SQLITE_OK) {
		sqlite3_exec(
			db,
			"CREATE TEMP TABLE m AS"
			" SELECT min(seq) AS a, max(seq) AS b FROM ops;"
			"UPDATE ops SET seq = -seq;"
			"UPDATE ops SET seq = (SELECT a + b FROM m) + seq;",
			NULL, NULL, NULL);
		sqlite3_close(db);
	}
	is_int(queue_open(&q, tmpdir, key), 0, "reopen with the right key");
	memset(&s, 0, sizeof(s));
	is_int(queue_list(q, collect, &s), -EBADMSG,
	       "rows moved to another seq: -EBADMSG");
	queue_free(q);
}

/* A committed batch leaves the queue in one transaction; the sequence goes
 * on past the removed ops, across a reopen. */
static void test_queue_remove_many(const struct crypto_key *key)
{
	struct queue *q = NULL;
	struct queue_op op;
	uint64_t seqs[40], last;
	char dir[] = "/tmp/test_queue_many.XXXXXX";
	int i;

	if (!mkdtemp(dir)) {
		ok(0, "temp dir");
		return;
	}
	is_int(queue_open(&q, dir, key), 0, "open a queue for a batch");
	memset(&op, 0, sizeof(op));
	op.kind = QUEUE_UNLINK;
	op.path = S("/x");
	for (i = 0; i < 40; i++) {
		if (queue_append(q, &op) < 0)
			break;
		seqs[i] = op.seq;
	}
	is_int(i, 40, "40 ops queued");
	is_int(queue_remove_many(q, seqs, 30), 0, "30 removed at once");
	is_int(queue_count(q), 10, "10 left");
	is_int(queue_remove_many(q, seqs + 30, 0), 0, "an empty batch is fine");
	is_int(queue_remove_many(q, seqs + 29, 2), 0,
	       "a batch naming an op removed already (a replay) is fine...");
	is_int(queue_count(q), 9, "... and removes the others");
	last = seqs[39];
	queue_free(q);
	is_int(queue_open(&q, dir, key), 0, "reopen");
	is_int(queue_append(q, &op), 0, "append after the batch");
	ok(op.seq > last, "the sequence goes on past removed ops");
	queue_free(q);
	rm_rf(dir);
}

struct named {
	int n;
	char batch[4][QUEUE_BATCH_LEN + 1];
	int64_t mtime[4];
	char path[4][32];
	char meta[4][64];
};

static int collect_named(const struct queue_op *op, void *arg)
{
	struct named *s = arg;

	if (s->n < 4) {
		memcpy(s->batch[s->n], op->batch, sizeof(op->batch));
		s->mtime[s->n] = op->mtime;
		snprintf(s->meta[s->n], sizeof(s->meta[0]), "%s",
			 op->meta ? op->meta : "");
		snprintf(s->path[s->n], sizeof(s->path[0]), "%s", op->path);
	}
	s->n++;
	return 0;
}

/* Write a row as the first format did (no "v", no batch), sealed with the
 * queue's key under ad = seq. */
static int put_first_format_row(const char *dir, const struct crypto_key *key,
				uint64_t seq, const char *json)
{
	uint8_t ad[8], blob[512];
	char path[128];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t n = strlen(json);
	int ok = -1;

	for (int i = 0; i < 8; i++)
		ad[i] = (uint8_t)(seq >> (8 * i));
	if (n + CRYPTO_SEAL_OVERHEAD > sizeof(blob) ||
	    crypto_seal(key, ad, sizeof(ad), json, n, blob) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "INSERT INTO ops(seq, blob) VALUES(?1, ?2)",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
		sqlite3_bind_blob(st, 2, blob, (int)(n + CRYPTO_SEAL_OVERHEAD),
				  SQLITE_STATIC);
		ok = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ok;
}

/*
 * A batch's id is written with its ops before the commit is sent and read
 * back after a restart, with the mtime each deposit sent; a row queued by
 * a drive that named no batch still reads, and can be rewritten.
 */
static void test_queue_named_batch(const struct crypto_key *key)
{
	struct queue *q = NULL;
	struct queue_op a, b;
	const struct queue_op *both[2] = { &a, &b };
	char dir[] = "/tmp/test_queue_named.XXXXXX";
	char id[QUEUE_BATCH_LEN + 1], id2[QUEUE_BATCH_LEN + 1];
	struct named s;

	if (!mkdtemp(dir)) {
		ok(0, "temp dir");
		return;
	}
	queue_batch_id(id);
	queue_batch_id(id2);
	ok(strlen(id) == QUEUE_BATCH_LEN &&
		   strspn(id, "0123456789abcdef") == QUEUE_BATCH_LEN,
	   "a batch id is 32 hex digits");
	ok(strcmp(id, id2) != 0, "two batch ids differ");

	is_int(queue_open(&q, dir, key), 0, "open a queue");
	memset(&a, 0, sizeof(a));
	a.kind = QUEUE_DEPOSIT;
	a.path = S("/a.txt");
	a.staging = S("st-a");
	b = a;
	b.path = S("/b.txt");
	b.staging = S("st-b");
	is_int(queue_append(q, &a), 0, "queue a deposit");
	is_int(queue_append(q, &b), 0, "queue another");
	memcpy(a.batch, id, sizeof(id));
	memcpy(b.batch, id, sizeof(id));
	a.mtime = 1795773600;
	b.mtime = 1795773601;
	a.meta = S("{\"mode\":384}");
	is_int(queue_update_many(q, both, 2), 0,
	       "name both in one transaction");
	a.mtime = 42;
	b.seq = 999999;
	is_int(queue_update_many(q, both, 2), -ENOENT,
	       "a rewrite naming a missing row fails...");
	queue_free(q);

	q = NULL;
	is_int(queue_open(&q, dir, key), 0, "reopen (a restart)");
	memset(&s, 0, sizeof(s));
	is_int(queue_list(q, collect_named, &s), 0, "list");
	is_int(s.n, 2, "both queued");
	ok(!strcmp(s.batch[0], id) && !strcmp(s.batch[1], id),
	   "both keep the id they were named with");
	ok(s.mtime[0] == 1795773600 && s.mtime[1] == 1795773601,
	   "each keeps the mtime it was sent with (the failed rewrite "
	   "changed none)");
	ok(!strcmp(s.meta[0], "{\"mode\":384}") && !s.meta[1][0],
	   "and the metadata it was sent with, none where it had none");
	queue_free(q);

	/* a queue left by a drive that sent no batch id */
	ok(put_first_format_row(dir, key, 5,
				"{\"kind\":\"deposit\",\"path\":\"/old.txt\","
				"\"staging\":\"st-old\",\"base_doc\":\"\","
				"\"base_version\":0,\"ready_at_ms\":0}") == 0,
	   "put a row of the first format");
	is_int(queue_open(&q, dir, key), 0, "open it");
	memset(&s, 0, sizeof(s));
	is_int(queue_list(q, collect_named, &s), 0, "it lists");
	is_int(s.n, 3, "with the others");
	ok(s.n == 3 && !strcmp(s.path[2], "/old.txt") && !s.batch[2][0],
	   "the old row reads as a deposit never sent");
	memset(&a, 0, sizeof(a));
	a.seq = 5;
	a.kind = QUEUE_DEPOSIT;
	a.path = S("/renamed.txt");
	a.staging = S("st-old");
	is_int(queue_update(q, &a), 0, "rewrite it (a rename while it waits)");
	queue_free(q);
	is_int(queue_open(&q, dir, key), 0, "reopen");
	memset(&s, 0, sizeof(s));
	queue_list(q, collect_named, &s);
	ok(s.n == 3 && !strcmp(s.path[2], "/renamed.txt") && !s.batch[2][0],
	   "rewritten in the new format, it keeps what it says");
	queue_free(q);
	rm_rf(dir);
}

int main(void)
{
	struct crypto_key key;

	if (crypto_init() < 0 || !mkdtemp(tmpdir))
		tap_skip_all("no crypto or no temp dir");
	crypto_key_new_random(&key);
	test_queue_order(&key);
	test_queue_tamper(&key);
	test_queue_remove_many(&key);
	test_queue_named_batch(&key);
	crypto_key_release(&key);
	rm_rf(tmpdir);
	return tap_done();
}
