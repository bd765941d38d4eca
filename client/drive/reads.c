/*
 * The read journal of the drive; see reads.h.  One SQLite file with one
 * table, sealed(id, blob): each blob is crypto_seal(cache key, ad =
 * READS_AD, {"doc_id","version","at"}), so the cache directory shows only
 * how many reads wait, never which documents.  The poster takes the oldest
 * READS_BATCH_MAX rows, posts them, and deletes exactly those rows on
 * success.  The server stamps its own time of receipt; the time kept here
 * is the drive's, sent as "at".  A journal of an older drive with rows in
 * clear (table reads) is sealed at start and its clear pages wiped.
 */
#include "client/drive/reads.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "client/drive/fs_i.h"
#include "client/store/transport.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/manifest.h"

#define READS_AD      "coffre reads v1"
#define READ_JSON_MAX 256 /* doc id, a version number and a time */

/* One drive per process: the journal is process state. */
static struct {
	sqlite3 *db;
	struct crypto_key key; /* copy of the cache key while db is open */
	pthread_mutex_t lock;  /* db */
	pthread_t thread;
	pthread_cond_t cond;
	int started, stop;
} rj = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* Seal one read into out (READ_JSON_MAX + CRYPTO_SEAL_OVERHEAD bytes);
 * the sealed length, or -errno.  rj.lock held. */
static int read_seal(const char *doc_id, sqlite3_int64 version, const char *at,
		     uint8_t *out)
{
	char text[READ_JSON_MAX];
	int n;

	/* written as JSON by hand: only these characters may appear */
	if (doc_id[strspn(doc_id, "0123456789abcdef")] ||
	    at[strspn(at, "0123456789-T:.Z")])
		return -EINVAL;
	n = snprintf(text, sizeof(text),
		     "{\"doc_id\":\"%s\",\"version\":%lld,\"at\":\"%s\"}",
		     doc_id, (long long)version, at);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -E2BIG;
	if (crypto_seal(&rj.key, READS_AD, strlen(READS_AD), text, (size_t)n,
			out) < 0)
		return -EIO;
	explicit_bzero(text, sizeof(text));
	return n + CRYPTO_SEAL_OVERHEAD;
}

/* Insert one sealed read (rj.lock held, rj.db open). */
static int read_insert(const char *doc_id, sqlite3_int64 version,
		       const char *at)
{
	uint8_t blob[READ_JSON_MAX + CRYPTO_SEAL_OVERHEAD];
	sqlite3_stmt *st = NULL;
	int n, rc = -EIO;

	n = read_seal(doc_id, version, at, blob);
	if (n < 0)
		return n;
	if (sqlite3_prepare_v2(rj.db, "INSERT INTO sealed(blob) VALUES(?1)", -1,
			       &st, NULL) == SQLITE_OK &&
	    sqlite3_bind_blob(st, 1, blob, n, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

void reads_record(struct fs *fs, const char *doc_id, uint64_t version)
{
	char at[32];
	struct timespec ts;

	if (!doc_id || !doc_id[0] || !version ||
	    strlen(doc_id) > DOC_ID_HEX_LEN)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	rfc3339_utc((long long)ts.tv_sec, at, sizeof(at));
	pthread_mutex_lock(&rj.lock);
	if (rj.db && read_insert(doc_id, (sqlite3_int64)version, at) < 0)
		log_error("cannot record a read: %s", sqlite3_errmsg(rj.db));
	pthread_mutex_unlock(&rj.lock);
	(void)fs;
}

void reads_note(struct fs *fs, struct node *n)
{
	char doc[DOC_ID_HEX_LEN + 1] = "";
	uint64_t version = 0;

	pthread_mutex_lock(&fs->lock);
	if (n->kind == NODE_FILE && n->has_remote && !n->staging_name) {
		snprintf(doc, sizeof(doc), "%s", n->rm.doc_id);
		version = n->rm.version;
	} else if (n->kind == NODE_VFILE && n->parent) {
		snprintf(doc, sizeof(doc), "%s", n->parent->rm.doc_id);
		version = n->vnum;
	}
	pthread_mutex_unlock(&fs->lock);
	reads_record(fs, doc, version);
}

/* One sealed row as the object posted, or NULL when it does not open
 * (a damaged row: it is skipped, and deleted with its batch). */
static json_t *read_open(const void *blob, int n)
{
	char text[READ_JSON_MAX + 1];
	json_t *o, *doc, *at, *ver;

	if (!blob || n <= CRYPTO_SEAL_OVERHEAD ||
	    n > READ_JSON_MAX + CRYPTO_SEAL_OVERHEAD)
		return NULL;
	if (crypto_open(&rj.key, READS_AD, strlen(READS_AD), blob, (size_t)n,
			(uint8_t *)text) < 0)
		return NULL;
	text[n - CRYPTO_SEAL_OVERHEAD] = '\0';
	o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	explicit_bzero(text, sizeof(text));
	doc = json_object_get(o, "doc_id");
	ver = json_object_get(o, "version");
	at = json_object_get(o, "at");
	if (!json_is_string(doc) || !json_is_integer(ver) ||
	    !json_is_string(at) || json_object_size(o) != 3) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * The oldest batch as JSON and the highest row id in it; NULL when there
 * is nothing to post.  A row that does not open is left out of the array
 * but counted in *last, so the batch's delete drops it: it would never
 * open later either.  rj.lock held, rj.db open.
 */
static json_t *batch(sqlite3_int64 *last)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL, *o;

	*last = 0;
	if (sqlite3_prepare_v2(
		    rj.db, "SELECT id, blob FROM sealed ORDER BY id LIMIT ?1",
		    -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int(st, 1, READS_BATCH_MAX);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (!arr && !(arr = json_array()))
			break;
		o = read_open(sqlite3_column_blob(st, 1),
			      sqlite3_column_bytes(st, 1));
		if (!o) {
			log_warn(
				"read journal: dropping a row that does not open");
		} else if (json_array_append_new(arr, o) < 0) {
			break; /* out of memory: post what we have */
		}
		*last = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return arr;
}

int reads_flush(struct fs *fs)
{
	char api[256];
	sqlite3_int64 last;
	json_t *arr, *body;
	int rc = 0;

	snprintf(api, sizeof(api), "/v1/spaces/%s/events/reads", fs->space);
	for (int round = 0; round < 100; round++) {
		pthread_mutex_lock(&rj.lock);
		arr = rj.db ? batch(&last) : NULL;
		pthread_mutex_unlock(&rj.lock);
		if (!arr)
			return 0;
		if (json_array_size(arr) == 0) {
			/* only rows that do not open: drop them */
			json_decref(arr);
			body = NULL;
			rc = 0;
		} else {
			body = json_pack("{s:o}", "reads", arr);
			rc = body ? transport_json(fs->t, "POST", api, body,
						   NULL) :
				    -ENOMEM;
		}
		json_decref(body);
		/*
		 * A refused batch (400) would be refused forever: drop it
		 * with a log line rather than block every later read.
		 */
		if (rc < 0 && rc != -EINVAL)
			return rc;
		if (rc == -EINVAL)
			log_error("the server refused reads: %s", err_msg());
		pthread_mutex_lock(&rj.lock);
		{
			char sql[96];

			snprintf(sql, sizeof(sql),
				 "DELETE FROM sealed WHERE id <= %lld",
				 (long long)last);
			/* the journal may have been closed meanwhile */
			if (!rj.db ||
			    sqlite3_exec(rj.db, sql, NULL, NULL, NULL))
				rc = -EIO;
		}
		pthread_mutex_unlock(&rj.lock);
		if (rc < 0)
			return rc;
	}
	return rc;
}

static void *poster(void *arg)
{
	struct fs *fs = arg;
	struct timespec ts;

	pthread_mutex_lock(&rj.lock);
	while (!rj.stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += READS_FLUSH_MS / 1000;
		pthread_cond_timedwait(&rj.cond, &rj.lock, &ts);
		if (rj.stop)
			break;
		pthread_mutex_unlock(&rj.lock);
		if (reads_flush(fs) < 0)
			err_clear(); /* offline: kept for the next round */
		pthread_mutex_lock(&rj.lock);
	}
	pthread_mutex_unlock(&rj.lock);
	return NULL;
}

/* Seal the rows of an older journal kept in clear, then drop them; with
 * secure_delete their pages are overwritten (rj.lock held, rj.db open). */
static int migrate_clear(void)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(rj.db,
			       "SELECT doc_id, version, at FROM reads"
			       " ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return 0; /* no such table: nothing in clear */
	if (sqlite3_exec(rj.db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) {
		sqlite3_finalize(st);
		return -EIO;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW && rc == 0) {
		const char *doc = (const char *)sqlite3_column_text(st, 0);
		const char *at = (const char *)sqlite3_column_text(st, 2);

		if (doc && at && strlen(doc) <= DOC_ID_HEX_LEN &&
		    strlen(at) < 32)
			rc = read_insert(doc, sqlite3_column_int64(st, 1), at);
	}
	if (step != SQLITE_DONE && step != SQLITE_ROW)
		rc = -EIO;
	sqlite3_finalize(st);
	if (rc == 0 &&
	    sqlite3_exec(rj.db, "DROP TABLE reads; COMMIT", NULL, NULL, NULL))
		rc = -EIO;
	if (rc < 0) {
		sqlite3_exec(rj.db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	sqlite3_exec(rj.db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
		     NULL);
	return 0;
}

int reads_start(struct fs *fs)
{
	char path[4096];
	sqlite3 *db = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/reads.db", fs->cache_dir);
	rc = sqlite_file_private(path);
	if (rc < 0)
		return err_set(rc, "cannot create '%s': %s", path,
			       strerror(-rc));
	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK ||
	    /* synchronous=NORMAL: a read is in the WAL once the open
	     * returns, which a killed drive keeps; an fsync per open made
	     * reading many small files ten times slower */
	    sqlite3_exec(
		    db,
		    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
		    "PRAGMA secure_delete = ON;"
		    "CREATE TABLE IF NOT EXISTS sealed(id INTEGER PRIMARY KEY,"
		    " blob BLOB NOT NULL)",
		    NULL, NULL, NULL) != SQLITE_OK) {
		rc = err_set(-EIO, "cannot open '%s': %s", path,
			     db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, 5000);
	pthread_mutex_lock(&rj.lock);
	rc = crypto_key_from_bytes(&rj.key, fs->key.k, CRYPTO_KEY_LEN);
	if (rc < 0) {
		pthread_mutex_unlock(&rj.lock);
		sqlite3_close(db);
		return err_set(rc, "read journal: cannot copy the cache key");
	}
	rj.db = db;
	rj.stop = 0;
	rc = migrate_clear();
	pthread_mutex_unlock(&rj.lock);
	if (rc < 0) {
		reads_stop(fs);
		return err_set(rc, "cannot seal the read journal '%s'", path);
	}
	if (pthread_create(&rj.thread, NULL, poster, fs) != 0) {
		reads_stop(fs);
		return err_set(-EAGAIN, "cannot start the read poster");
	}
	rj.started = 1;
	return 0;
}

void reads_stop(struct fs *fs)
{
	pthread_mutex_lock(&rj.lock);
	rj.stop = 1;
	pthread_cond_signal(&rj.cond);
	pthread_mutex_unlock(&rj.lock);
	if (rj.started) {
		pthread_join(rj.thread, NULL);
		rj.started = 0;
		if (reads_flush(fs) < 0)
			err_clear(); /* kept in the file for the next mount */
	}
	pthread_mutex_lock(&rj.lock);
	sqlite3_close(rj.db);
	rj.db = NULL;
	crypto_key_release(&rj.key);
	pthread_mutex_unlock(&rj.lock);
}
