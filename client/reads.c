/*
 * The read journal of the drive; see reads.h.  One SQLite file with one
 * table; the poster takes the oldest READS_BATCH_MAX rows, posts them, and
 * deletes exactly those rows on success.  The server stamps its own time
 * of receipt; the time kept here is the drive's, sent as "at".
 */
#include "client/reads.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "client/fs_i.h"
#include "client/transport.h"
#include "common/err.h"
#include "common/log.h"
#include "common/manifest.h"

/* One drive per process: the journal is process state. */
static struct {
	sqlite3 *db;
	pthread_mutex_t lock; /* db */
	pthread_t thread;
	pthread_cond_t cond;
	int started, stop;
} rj = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

void reads_record(struct fs *fs, const char *doc_id, uint64_t version)
{
	sqlite3_stmt *st = NULL;
	char at[32];
	struct timespec ts;

	if (!doc_id || !doc_id[0] || !version)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	rfc3339_utc((long long)ts.tv_sec, at, sizeof(at));
	pthread_mutex_lock(&rj.lock);
	if (rj.db &&
	    sqlite3_prepare_v2(
		    rj.db,
		    "INSERT INTO reads(doc_id, version, at) VALUES(?1, ?2, ?3)",
		    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, doc_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)version);
		sqlite3_bind_text(st, 3, at, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE)
			log_error("cannot record a read: %s",
				  sqlite3_errmsg(rj.db));
	}
	sqlite3_finalize(st);
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

/* The oldest batch as JSON and the highest row id in it; 0 rows: NULL. */
static json_t *batch(sqlite3_int64 *last)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL;

	*last = 0;
	if (sqlite3_prepare_v2(
		    rj.db,
		    "SELECT id, doc_id, version, at FROM reads ORDER BY id LIMIT ?1",
		    -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int(st, 1, READS_BATCH_MAX);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (!arr)
			arr = json_array();
		if (!arr)
			break;
		*last = sqlite3_column_int64(st, 0);
		json_array_append_new(
			arr,
			json_pack("{s:s, s:I, s:s}", "doc_id",
				  (const char *)sqlite3_column_text(st, 1),
				  "version",
				  (json_int_t)sqlite3_column_int64(st, 2), "at",
				  (const char *)sqlite3_column_text(st, 3)));
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
		body = json_pack("{s:o}", "reads", arr);
		rc = body ? transport_json(fs->t, "POST", api, body, NULL) :
			    -ENOMEM;
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
				 "DELETE FROM reads WHERE id <= %lld",
				 (long long)last);
			if (sqlite3_exec(rj.db, sql, NULL, NULL, NULL))
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

int reads_start(struct fs *fs)
{
	char path[4096];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/reads.db", fs->cache_dir);
	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK ||
	    sqlite3_exec(
		    db,
		    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
		    "CREATE TABLE IF NOT EXISTS reads(id INTEGER PRIMARY KEY,"
		    " doc_id TEXT NOT NULL, version INTEGER NOT NULL,"
		    " at TEXT NOT NULL)",
		    NULL, NULL, NULL) != SQLITE_OK) {
		int rc = err_set(-EIO, "cannot open '%s': %s", path,
				 db ? sqlite3_errmsg(db) : "out of memory");

		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, 5000);
	pthread_mutex_lock(&rj.lock);
	rj.db = db;
	rj.stop = 0;
	pthread_mutex_unlock(&rj.lock);
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
	pthread_mutex_unlock(&rj.lock);
}
