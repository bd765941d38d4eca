/*
 * The event journal as a hash chain in SQLite (see events.h).  The hash of
 * a row covers its predecessor's hash, so a row changed, removed or
 * inserted later breaks every hash after it; events_verify_chain() finds
 * the first such row.  The chain head lives in the table itself: the last
 * row by seq, read inside the appending transaction.
 */
#include "server/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "common/err.h"
#include "server/index.h"

static const char *chain(const char *space)
{
	return space ? space : "";
}

static int db_fail(sqlite3 *db, const char *what)
{
	int src = sqlite3_errcode(db);

	return err_set(src == SQLITE_FULL ? -ENOSPC :
		       src == SQLITE_BUSY ? -EBUSY :
					    -EIO,
		       "events: cannot %s: %s", what, sqlite3_errmsg(db));
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* hash = SHA-256(prev || canonical JSON of the row's other fields). */
static int row_hash(const char *space, uint64_t seq, int64_t at,
		    const char *login, const char *kind, const char *path,
		    const char *doc_id, uint64_t version, const char *detail,
		    const struct obj_id *prev, struct obj_id *out)
{
	struct hash_ctx *h = NULL;
	json_t *j;
	char *s;
	int rc;

	j = json_pack("{s:s, s:I, s:I, s:o, s:s, s:o, s:o, s:o, s:o}", "space",
		      chain(space), "seq", (json_int_t)seq, "at",
		      (json_int_t)at, "login", str_or_null(login), "kind", kind,
		      "path", str_or_null(path), "doc_id", str_or_null(doc_id),
		      "version",
		      version ? json_integer((json_int_t)version) : json_null(),
		      "detail", str_or_null(detail));
	if (!j)
		return err_set(-EINVAL, "events: cannot encode a row");
	s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(j);
	if (!s)
		return -ENOMEM;
	rc = hash_new(&h);
	if (rc == 0) {
		hash_update(h, prev->b, sizeof(prev->b));
		hash_update(h, s, strlen(s));
		hash_final(h, out);
		hash_free(h);
	}
	free(s);
	return rc;
}

static int head_of(sqlite3 *db, const char *space, uint64_t *seq,
		   struct obj_id *hash)
{
	sqlite3_stmt *st = NULL;
	int src, rc = 0;

	*seq = 0;
	memset(hash, 0, sizeof(*hash));
	if (sqlite3_prepare_v2(
		    db,
		    "SELECT seq, hash FROM events WHERE space = ?1 ORDER BY seq DESC LIMIT 1",
		    -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "read the chain head");
	sqlite3_bind_text(st, 1, chain(space), -1, SQLITE_TRANSIENT);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
		if (obj_id_from_hex(hash, col_text(st, 1)) < 0)
			rc = err_set(-EBADMSG, "events: bad hash at seq %llu",
				     (unsigned long long)*seq);
	} else if (src != SQLITE_DONE) {
		rc = db_fail(db, "read the chain head");
	}
	sqlite3_finalize(st);
	return rc;
}

static int append_row(sqlite3 *db, const char *space, const char *login,
		      int64_t at, const struct index_event *ev, uint64_t *out)
{
	struct obj_id prev, hash;
	char prev_hex[OBJ_ID_HEX_LEN + 1], hash_hex[OBJ_ID_HEX_LEN + 1];
	sqlite3_stmt *st = NULL;
	uint64_t seq;
	int rc;

	rc = head_of(db, space, &seq, &prev);
	if (rc < 0)
		return rc;
	seq++;
	rc = row_hash(space, seq, at, login, ev->kind, ev->path, ev->doc_id,
		      ev->version, ev->detail, &prev, &hash);
	if (rc < 0)
		return rc;
	obj_id_to_hex(&prev, prev_hex);
	obj_id_to_hex(&hash, hash_hex);
	if (sqlite3_prepare_v2(
		    db,
		    "INSERT INTO events(space, seq, at, login, kind, path, doc_id, version, detail, prev_hash, hash) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
		    -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "prepare an event");
	sqlite3_bind_text(st, 1, chain(space), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	sqlite3_bind_int64(st, 3, at);
	sqlite3_bind_text(st, 4, login, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, ev->kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, ev->path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, ev->doc_id, -1, SQLITE_TRANSIENT);
	if (ev->version)
		sqlite3_bind_int64(st, 8, (sqlite3_int64)ev->version);
	sqlite3_bind_text(st, 9, ev->detail, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 10, prev_hex, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 11, hash_hex, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 :
					       db_fail(db, "record an event");
	sqlite3_finalize(st);
	if (rc == 0 && out)
		*out = seq;
	return rc;
}

int events_append(struct index *ix, const char *space, const char *login,
		  int64_t at, const struct index_event *ev, uint64_t *seq)
{
	sqlite3 *db;
	int rc, own;

	if (!ev || !ev->kind)
		return err_set(-EINVAL, "events: an event needs a kind");
	rc = index_db(ix, &db);
	if (rc < 0)
		return rc;
	/* In autocommit mode no transaction is open: take our own. */
	own = sqlite3_get_autocommit(db);
	if (own && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL))
		return db_fail(db, "begin a transaction");
	rc = append_row(db, space, login, at, ev, seq);
	if (own) {
		if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL))
			rc = db_fail(db, "commit an event");
		if (rc < 0)
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	return rc;
}

int events_chain_head(struct index *ix, const char *space, uint64_t *seq,
		      struct obj_id *hash)
{
	sqlite3 *db;
	int rc = index_db(ix, &db);

	return rc < 0 ? rc : head_of(db, space, seq, hash);
}

int events_verify_chain(struct index *ix, const char *space, uint64_t *bad_seq)
{
	struct obj_id prev = { { 0 } }, want, got;
	sqlite3_stmt *st = NULL;
	uint64_t expect = 1;
	sqlite3 *db;
	int src, rc;

	*bad_seq = 0;
	rc = index_db(ix, &db);
	if (rc < 0)
		return rc;
	if (sqlite3_prepare_v2(
		    db,
		    "SELECT seq, at, login, kind, path, doc_id, version, detail, prev_hash, hash FROM events WHERE space = ?1 ORDER BY seq",
		    -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "read the chain");
	sqlite3_bind_text(st, 1, chain(space), -1, SQLITE_TRANSIENT);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
		struct obj_id row_prev;

		/* A gap in seq is a removed row. */
		if (seq != expect ||
		    obj_id_from_hex(&row_prev, col_text(st, 8)) < 0 ||
		    obj_id_cmp(&row_prev, &prev) ||
		    obj_id_from_hex(&got, col_text(st, 9)) < 0) {
			*bad_seq = expect;
			rc = -EBADMSG;
			break;
		}
		rc = row_hash(space, seq, sqlite3_column_int64(st, 1),
			      col_text(st, 2), col_text(st, 3), col_text(st, 4),
			      col_text(st, 5),
			      (uint64_t)sqlite3_column_int64(st, 6),
			      col_text(st, 7), &prev, &want);
		if (rc < 0)
			break;
		if (obj_id_cmp(&want, &got)) {
			*bad_seq = seq;
			rc = -EBADMSG;
			break;
		}
		prev = got;
		expect++;
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = db_fail(db, "read the chain");
	sqlite3_finalize(st);
	if (rc == -EBADMSG)
		err_set(rc, "event chain of '%s' broken at seq %llu",
			chain(space), (unsigned long long)*bad_seq);
	return rc;
}

int events_list(struct index *ix, const char *space, const char *prefix,
		int reads, uint64_t after, size_t limit, events_cb cb,
		void *arg)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	size_t n = 0;
	int src = SQLITE_DONE, rc;

	rc = index_db(ix, &db);
	if (rc < 0)
		return rc;
	/* Under prefix: the path itself or PREFIX/...; '/' is everything.
	 * substr() rather than LIKE: names may hold '%' and '_'. */
	if (sqlite3_prepare_v2(
		    db,
		    "SELECT seq, at, login, kind, path, doc_id, version, detail FROM events WHERE space = ?1 AND seq > ?2 AND path IS NOT NULL AND (?3 = '/' OR path = ?3 OR substr(path, 1, length(?3) + 1) = ?3 || '/') AND ((kind = 'read') = ?4) ORDER BY seq LIMIT ?5",
		    -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "list events");
	sqlite3_bind_text(st, 1, chain(space), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
	sqlite3_bind_text(st, 3, prefix, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 4, reads ? 1 : 0);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)limit);
	while (n < limit && (src = sqlite3_step(st)) == SQLITE_ROW) {
		struct events_row r = {
			.seq = (uint64_t)sqlite3_column_int64(st, 0),
			.at = sqlite3_column_int64(st, 1),
			.login = col_text(st, 2),
			.kind = col_text(st, 3),
			.path = col_text(st, 4),
			.doc_id = col_text(st, 5),
			.version = (uint64_t)sqlite3_column_int64(st, 6),
			.detail = col_text(st, 7),
		};

		n++;
		rc = cb(&r, arg);
		if (rc)
			break;
	}
	if (rc == 0 && src != SQLITE_DONE && src != SQLITE_ROW)
		rc = db_fail(db, "list events");
	sqlite3_finalize(st);
	return rc;
}
