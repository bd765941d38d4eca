/*
 * The durable queue of operations waiting to reach the server (queue.h).
 *
 * DIR/queue.db is an SQLite database in WAL mode with two tables:
 *   ops(seq INTEGER PRIMARY KEY, blob BLOB)  one sealed JSON object per op
 *   meta(k TEXT PRIMARY KEY, v INTEGER)      next_seq, so a sequence number
 *                                            is never reused, even after the
 *                                            newest op was removed
 * The blob is crypto_seal(key, ad = seq as u64 LE, json): paths never reach
 * the disk in clear, and a blob moved to another row fails to open.
 *
 * One connection, guarded by q->lock; queue_list drops the lock between
 * pages so its callback may call queue_update/queue_remove.
 */
#include "client/store/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/path.h"

#define LIST_PAGE   256
/* A queued op holds at most two paths and a few short fields. */
#define OP_JSON_MAX (3 * PATH_MAX_LEN + 1024)
/* The row format written: 2 names the batch an op was sent in. */
#define OP_FORMAT   2

struct queue {
	pthread_mutex_t lock;
	sqlite3 *db;
	struct crypto_key key;
	/* statements of the hot path, prepared once: every close of a
	 * written file appends, every commit removes */
	sqlite3_stmt *st_seq, *st_insert, *st_update, *st_remove;
};

/* The statement in *slot, prepared on first use (q->lock held); the
 * caller resets it after use (stmt_done). */
static int stmt(struct queue *q, sqlite3_stmt **slot, const char *sql,
		sqlite3_stmt **out)
{
	if (!*slot) {
		int src = sqlite3_prepare_v3(
			q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);

		if (src != SQLITE_OK) {
			*slot = NULL;
			return err_set(-EIO, "queue: cannot prepare: %s",
				       sqlite3_errmsg(q->db));
		}
	}
	*out = *slot;
	return 0;
}

static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static const char *const kind_names[] = {
	[QUEUE_MKDIR] = "mkdir", [QUEUE_DEPOSIT] = "deposit",
	[QUEUE_MOVE] = "move",	 [QUEUE_UNLINK] = "unlink",
	[QUEUE_RMDIR] = "rmdir", [QUEUE_CHMOD] = "chmod",
};

static int db_err(struct queue *q, int src, const char *what)
{
	int rc = src == SQLITE_FULL ? -ENOSPC : -EIO;

	return err_set(rc, "queue: cannot %s: %s", what, sqlite3_errmsg(q->db));
}

static int exec(struct queue *q, const char *sql)
{
	int src = sqlite3_exec(q->db, sql, NULL, NULL, NULL);

	return src == SQLITE_OK ? 0 : db_err(q, src, "run a statement");
}

static void seq_ad(uint64_t seq, uint8_t ad[8])
{
	for (int i = 0; i < 8; i++)
		ad[i] = (uint8_t)(seq >> (8 * i));
}

static int set_str(json_t *o, const char *k, const char *v)
{
	if (!v)
		return 0;
	return json_object_set_new(o, k, json_string(v)) == 0 ? 0 : -EINVAL;
}

static int op_check(const struct queue_op *op)
{
	if ((unsigned)op->kind >= ARRAY_SIZE(kind_names))
		return err_set(-EINVAL, "queue: unknown operation kind %d",
			       (int)op->kind);
	if (op->kind == QUEUE_MOVE ? !op->from || !op->to : !op->path)
		return err_set(-EINVAL, "queue: %s operation without a path",
			       kind_names[op->kind]);
	if (op->kind == QUEUE_DEPOSIT && !op->staging)
		return err_set(-EINVAL,
			       "queue: deposit without a staging file");
	return 0;
}

/* Seal op as JSON for row seq into a malloc'd blob. */
static int op_seal(struct queue *q, const struct queue_op *op, uint64_t seq,
		   uint8_t **out, size_t *outlen)
{
	json_t *o = json_object();
	uint8_t ad[8];
	char *text = NULL;
	size_t n;
	int rc = -ENOMEM;

	if (!o)
		goto out;
	if (json_object_set_new(o, "kind", json_string(kind_names[op->kind])) ||
	    set_str(o, "path", op->path) || set_str(o, "from", op->from) ||
	    set_str(o, "to", op->to) || set_str(o, "staging", op->staging) ||
	    set_str(o, "base_doc", op->base_doc) ||
	    json_object_set_new(o, "base_version",
				json_integer((json_int_t)op->base_version)) ||
	    set_str(o, "sbase_doc", op->sbase_doc) ||
	    json_object_set_new(o, "sbase_version",
				json_integer((json_int_t)op->sbase_version)) ||
	    json_object_set_new(o, "ready_at_ms",
				json_integer((json_int_t)op->ready_at_ms)) ||
	    (op->fclass[0] && set_str(o, "class", op->fclass)) ||
	    (op->has_fmode &&
	     json_object_set_new(o, "fmode",
				 json_integer((json_int_t)op->fmode))) ||
	    json_object_set_new(o, "v", json_integer(OP_FORMAT)) ||
	    (op->batch[0] && set_str(o, "batch", op->batch)) ||
	    (op->batch[0] && set_str(o, "meta", op->meta)) ||
	    (op->batch[0] &&
	     json_object_set_new(o, "mtime",
				 json_integer((json_int_t)op->mtime)))) {
		rc = err_set(-EINVAL, "queue: operation has invalid text");
		goto out;
	}
	text = json_dumps(o, JSON_COMPACT);
	if (!text)
		goto out;
	n = strlen(text);
	if (n > OP_JSON_MAX) {
		rc = err_set(-E2BIG, "queue: operation too large");
		goto out;
	}
	*out = malloc(n + CRYPTO_SEAL_OVERHEAD);
	if (!*out)
		goto out;
	seq_ad(seq, ad);
	rc = crypto_seal(&q->key, ad, sizeof(ad), text, n, *out);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		goto out;
	}
	*outlen = n + CRYPTO_SEAL_OVERHEAD;
out:
	if (rc == -ENOMEM)
		err_set(rc, "queue: out of memory");
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	json_decref(o);
	return rc;
}

static int dup_field(json_t *o, const char *k, char **out)
{
	json_t *v = json_object_get(o, k);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EBADMSG;
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

static int op_open(struct queue *q, uint64_t seq, const uint8_t *blob, size_t n,
		   struct queue_op *op)
{
	uint8_t ad[8];
	char *text;
	json_t *o = NULL, *v;
	const char *kind;
	int rc = -EBADMSG;

	memset(op, 0, sizeof(*op));
	if (n < CRYPTO_SEAL_OVERHEAD || n > OP_JSON_MAX + CRYPTO_SEAL_OVERHEAD)
		return err_set(-EBADMSG, "queue: entry %llu is corrupt",
			       (unsigned long long)seq);
	text = malloc(n - CRYPTO_SEAL_OVERHEAD + 1);
	if (!text)
		return err_set(-ENOMEM, "queue: out of memory");
	seq_ad(seq, ad);
	if (crypto_open(&q->key, ad, sizeof(ad), blob, n, (uint8_t *)text) < 0)
		goto out;
	text[n - CRYPTO_SEAL_OVERHEAD] = '\0';
	o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o))
		goto out;
	v = json_object_get(o, "kind");
	kind = json_is_string(v) ? json_string_value(v) : "";
	op->kind = (enum queue_kind)ARRAY_SIZE(kind_names);
	for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++)
		if (strcmp(kind, kind_names[i]) == 0)
			op->kind = (enum queue_kind)i;
	if ((unsigned)op->kind >= ARRAY_SIZE(kind_names))
		goto out;
	if (dup_field(o, "path", &op->path) ||
	    dup_field(o, "from", &op->from) || dup_field(o, "to", &op->to) ||
	    dup_field(o, "staging", &op->staging))
		goto out;
	v = json_object_get(o, "base_doc");
	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) > DOC_ID_HEX_LEN)
			goto out;
		memcpy(op->base_doc, json_string_value(v),
		       strlen(json_string_value(v)) + 1);
	}
	v = json_object_get(o, "base_version");
	op->base_version =
		json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
	/* queued before the staging's base was kept apart: it was the base */
	v = json_object_get(o, "sbase_doc");
	if (!json_is_string(v)) {
		memcpy(op->sbase_doc, op->base_doc, sizeof(op->sbase_doc));
		op->sbase_version = op->base_version;
	} else {
		if (strlen(json_string_value(v)) > DOC_ID_HEX_LEN)
			goto out;
		memcpy(op->sbase_doc, json_string_value(v),
		       strlen(json_string_value(v)) + 1);
		v = json_object_get(o, "sbase_version");
		op->sbase_version = json_is_integer(v) ?
					    (uint64_t)json_integer_value(v) :
					    0;
	}
	v = json_object_get(o, "ready_at_ms");
	op->ready_at_ms = json_is_integer(v) ? json_integer_value(v) : 0;
	v = json_object_get(o, "class");
	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) >= sizeof(op->fclass))
			goto out;
		memcpy(op->fclass, json_string_value(v),
		       strlen(json_string_value(v)) + 1);
	}
	v = json_object_get(o, "fmode");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 07777)
			goto out;
		op->has_fmode = 1;
		op->fmode = (uint32_t)json_integer_value(v);
	}
	if (op->kind == QUEUE_CHMOD && !op->has_fmode)
		goto out;
	v = json_object_get(o, "batch");
	if (json_is_string(v)) {
		const char *id = json_string_value(v);

		if (strlen(id) != QUEUE_BATCH_LEN ||
		    strspn(id, "0123456789abcdef") != QUEUE_BATCH_LEN)
			goto out;
		memcpy(op->batch, id, QUEUE_BATCH_LEN + 1);
		v = json_object_get(o, "mtime");
		op->mtime = json_is_integer(v) ? json_integer_value(v) : 0;
		if (dup_field(o, "meta", &op->meta) < 0)
			goto out;
	}
	op->seq = seq;
	/* the sync engine trusts a queued op to carry its paths */
	if (op_check(op) < 0)
		goto out;
	rc = 0;
out:
	json_decref(o);
	explicit_bzero(text, n - CRYPTO_SEAL_OVERHEAD);
	free(text);
	if (rc < 0) {
		queue_op_release(op);
		return err_set(rc, "queue: entry %llu fails to authenticate",
			       (unsigned long long)seq);
	}
	return 0;
}

int queue_open(struct queue **out, const char *dir,
	       const struct crypto_key *key)
{
	struct queue *q;
	char *path = NULL;
	int fd, rc, src;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q || asprintf(&path, "%s/queue.db", dir) < 0) {
		free(q);
		return err_set(-ENOMEM, "queue: out of memory");
	}
	pthread_mutex_init(&q->lock, NULL);
	rc = crypto_key_from_bytes(&q->key, key->k, CRYPTO_KEY_LEN);
	if (rc < 0)
		goto fail;
	/* Create it 0600 ourselves: SQLite gives the WAL and shm files the
	 * database file's mode. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = err_set(-errno, "queue: cannot open '%s': %s", path,
			     strerror(errno));
		goto fail;
	}
	close(fd);
	src = sqlite3_open_v2(path, &q->db,
			      SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
			      NULL);
	if (src != SQLITE_OK) {
		rc = err_set(-EIO, "queue: cannot open '%s': %s", path,
			     q->db ? sqlite3_errmsg(q->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(q->db, 5000);
	rc = exec(q, "PRAGMA journal_mode=WAL;"
		     "PRAGMA synchronous=NORMAL;"
		     "PRAGMA secure_delete=ON;"
		     "CREATE TABLE IF NOT EXISTS ops("
		     " seq INTEGER PRIMARY KEY, blob BLOB NOT NULL);"
		     "CREATE TABLE IF NOT EXISTS meta("
		     " k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
		     "INSERT OR IGNORE INTO meta VALUES('next_seq', 1);");
	if (rc < 0)
		goto fail;
	free(path);
	*out = q;
	return 0;
fail:
	free(path);
	queue_free(q);
	return rc;
}

void queue_free(struct queue *q)
{
	if (!q)
		return;
	sqlite3_finalize(q->st_seq);
	sqlite3_finalize(q->st_insert);
	sqlite3_finalize(q->st_update);
	sqlite3_finalize(q->st_remove);
	if (q->db)
		sqlite3_close(q->db);
	crypto_key_release(&q->key);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* Run a prepared statement to completion (no rows expected). */
static int step_done(struct queue *q, sqlite3_stmt *st, const char *what)
{
	int src = sqlite3_step(st);

	return src == SQLITE_DONE ? 0 : db_err(q, src, what);
}

static int next_seq(struct queue *q, uint64_t *seq)
{
	sqlite3_stmt *st;
	int rc, src;

	rc = stmt(q, &q->st_seq,
		  "UPDATE meta SET v = v + 1 WHERE k = 'next_seq'"
		  " RETURNING v - 1",
		  &st);
	if (rc < 0)
		return rc;
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
	else
		rc = db_err(q, src, "allocate a sequence number");
	if (rc == 0 && (src = sqlite3_step(st)) != SQLITE_DONE)
		rc = db_err(q, src, "allocate a sequence number");
	stmt_done(st);
	return rc;
}

static int put_row(struct queue *q, sqlite3_stmt **slot, const char *sql,
		   uint64_t seq, const uint8_t *blob, size_t n)
{
	sqlite3_stmt *st;
	int rc;

	rc = stmt(q, slot, sql, &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(st, 1, blob, (int)n, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	rc = step_done(q, st, "write an operation");
	if (rc == 0 && sqlite3_changes(q->db) != 1)
		rc = err_set(-ENOENT, "queue: no operation %llu",
			     (unsigned long long)seq);
	stmt_done(st);
	return rc;
}

int queue_append(struct queue *q, struct queue_op *op)
{
	uint8_t *blob = NULL;
	size_t n;
	uint64_t seq = 0;
	int rc;

	rc = op_check(op);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&q->lock);
	rc = exec(q, "BEGIN IMMEDIATE");
	if (rc < 0)
		goto out;
	rc = next_seq(q, &seq);
	if (rc == 0)
		rc = op_seal(q, op, seq, &blob, &n);
	if (rc == 0)
		rc = put_row(q, &q->st_insert,
			     "INSERT INTO ops(blob, seq) VALUES(?1, ?2)", seq,
			     blob, n);
	if (rc == 0)
		rc = exec(q, "COMMIT");
	if (rc < 0)
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	else
		op->seq = seq;
out:
	pthread_mutex_unlock(&q->lock);
	free(blob);
	return rc;
}

int queue_update(struct queue *q, const struct queue_op *op)
{
	uint8_t *blob = NULL;
	size_t n;
	int rc;

	rc = op_check(op);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&q->lock);
	rc = op_seal(q, op, op->seq, &blob, &n);
	if (rc == 0)
		rc = put_row(q, &q->st_update,
			     "UPDATE ops SET blob = ?1 WHERE seq = ?2", op->seq,
			     blob, n);
	pthread_mutex_unlock(&q->lock);
	free(blob);
	return rc;
}

int queue_update_many(struct queue *q, const struct queue_op *const *ops,
		      size_t n)
{
	uint8_t *blob = NULL;
	size_t i, len;
	int rc;

	for (i = 0; i < n; i++) {
		rc = op_check(ops[i]);
		if (rc < 0)
			return rc;
	}
	pthread_mutex_lock(&q->lock);
	rc = exec(q, "BEGIN IMMEDIATE");
	for (i = 0; rc == 0 && i < n; i++) {
		rc = op_seal(q, ops[i], ops[i]->seq, &blob, &len);
		if (rc == 0)
			rc = put_row(q, &q->st_update,
				     "UPDATE ops SET blob = ?1 WHERE seq = ?2",
				     ops[i]->seq, blob, len);
		free(blob);
		blob = NULL;
	}
	if (rc == 0)
		rc = exec(q, "COMMIT");
	if (rc < 0)
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void queue_batch_id(char *out)
{
	uint8_t raw[QUEUE_BATCH_LEN / 2];

	randombytes_buf(raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* q->lock held. */
static int remove_one(struct queue *q, uint64_t seq)
{
	sqlite3_stmt *st;
	int rc;

	rc = stmt(q, &q->st_remove, "DELETE FROM ops WHERE seq = ?1", &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	rc = step_done(q, st, "remove an operation");
	stmt_done(st);
	return rc;
}

int queue_remove(struct queue *q, uint64_t seq)
{
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = remove_one(q, seq);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int queue_remove_many(struct queue *q, const uint64_t *seqs, size_t n)
{
	size_t i;
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = exec(q, "BEGIN IMMEDIATE");
	for (i = 0; rc == 0 && i < n; i++)
		rc = remove_one(q, seqs[i]);
	if (rc == 0)
		rc = exec(q, "COMMIT");
	if (rc < 0)
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* Decode up to LIST_PAGE ops after seq `after` into ops[]; *count set. */
static int list_page(struct queue *q, uint64_t after, struct queue_op *ops,
		     int *count)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, src, n = 0;

	pthread_mutex_lock(&q->lock);
	src = sqlite3_prepare_v2(q->db,
				 "SELECT seq, blob FROM ops WHERE seq > ?1"
				 " ORDER BY seq LIMIT ?2",
				 -1, &st, NULL);
	if (src != SQLITE_OK) {
		rc = db_err(q, src, "prepare");
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
	sqlite3_bind_int(st, 2, LIST_PAGE);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
		const void *blob = sqlite3_column_blob(st, 1);
		int len = sqlite3_column_bytes(st, 1);

		rc = op_open(q, seq, blob, (size_t)len, &ops[n]);
		if (rc < 0)
			break;
		n++;
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = db_err(q, src, "list operations");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	*count = n;
	return rc;
}

int queue_list(struct queue *q, queue_cb cb, void *arg)
{
	struct queue_op *ops = calloc(LIST_PAGE, sizeof(*ops));
	uint64_t after = 0;
	int rc = 0, n, i;

	if (!ops)
		return err_set(-ENOMEM, "queue: out of memory");
	for (;;) {
		int stop = 0;

		rc = list_page(q, after, ops, &n);
		for (i = 0; i < n; i++) {
			if (rc == 0 && !stop) {
				int r = cb(&ops[i], arg);

				if (r) {
					stop = 1;
					rc = r;
				}
			}
			after = ops[i].seq;
			queue_op_release(&ops[i]);
		}
		if (rc || stop || n < LIST_PAGE)
			break;
	}
	free(ops);
	return rc;
}

int64_t queue_count(struct queue *q)
{
	sqlite3_stmt *st = NULL;
	int64_t n;
	int src;

	pthread_mutex_lock(&q->lock);
	src = sqlite3_prepare_v2(q->db, "SELECT count(*) FROM ops", -1, &st,
				 NULL);
	if (src == SQLITE_OK)
		src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		n = db_err(q, src, "count operations");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return n;
}

int queue_sync(struct queue *q)
{
	int src;

	pthread_mutex_lock(&q->lock);
	/* With synchronous=NORMAL a checkpoint fsyncs the WAL, then the
	 * database: after it, every append survives a power loss. */
	src = sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_FULL,
					NULL, NULL);
	pthread_mutex_unlock(&q->lock);
	if (src != SQLITE_OK)
		return db_err(q, src, "checkpoint");
	return 0;
}

void queue_op_release(struct queue_op *op)
{
	if (!op)
		return;
	free(op->path);
	free(op->from);
	free(op->to);
	free(op->staging);
	free(op->meta);
	op->path = op->from = op->to = op->staging = op->meta = NULL;
}
