/*
 * Invitations in the index (see invite.h).  Statements are prepared per
 * call: invitations are rare, and the index's own table of statements
 * stays the index's.
 */
#include "server/invite.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "common/err.h"
#include "server/index.h"

static int db_fail(sqlite3 *db, const char *what)
{
	int src = sqlite3_errcode(db);

	return err_set(src == SQLITE_FULL ? -ENOSPC :
		       src == SQLITE_BUSY ? -EBUSY :
					    -EIO,
		       "invitations: cannot %s: %s", what, sqlite3_errmsg(db));
}

static int prepare(struct index *ix, const char *sql, sqlite3 **db,
		   sqlite3_stmt **st, const char *what)
{
	int rc = index_db(ix, db);

	if (rc < 0)
		return rc;
	if (sqlite3_prepare_v2(*db, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(*db, what);
	return 0;
}

int invite_put(struct index *ix, const char *space, const char *login,
	       const char *role, const char *by, int64_t now)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rc, src;

	/* The cap and the insert in one statement: no race between them. */
	rc = prepare(
		ix,
		"INSERT OR REPLACE INTO invitations(space, login, role, invited_by, at) SELECT ?1, ?2, ?3, ?4, ?5 WHERE (SELECT count(*) FROM invitations WHERE space = ?1 AND login <> ?2) < ?6",
		&db, &st, "invite");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, space, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, login, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int(st, 6, INVITE_PER_SPACE_MAX);
	src = sqlite3_step(st);
	rc = src == SQLITE_DONE ? 0 : db_fail(db, "invite");
	if (rc == 0 && sqlite3_changes(db) == 0)
		rc = err_set(-E2BIG, "'%s' has %d invitations pending already",
			     space, INVITE_PER_SPACE_MAX);
	sqlite3_finalize(st);
	return rc;
}

int invite_get(struct index *ix, const char *space, const char *login,
	       char *role, size_t rolelen, char *by, size_t bylen)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rc, src;

	rc = prepare(
		ix,
		"SELECT role, invited_by FROM invitations WHERE space = ?1 AND login = ?2",
		&db, &st, "read an invitation");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, space, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, login, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		snprintf(role, rolelen, "%s", sqlite3_column_text(st, 0));
		if (by)
			snprintf(by, bylen, "%s", sqlite3_column_text(st, 1));
	} else if (src == SQLITE_DONE)
		rc = err_set(-ENOENT, "no invitation to '%s'", space);
	else
		rc = db_fail(db, "read an invitation");
	sqlite3_finalize(st);
	return rc;
}

int invite_drop(struct index *ix, const char *space, const char *login)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rc;

	rc = prepare(ix,
		     "DELETE FROM invitations WHERE space = ?1 AND login = ?2",
		     &db, &st, "drop an invitation");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, space, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, login, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ?
		     0 :
		     db_fail(db, "drop an invitation");
	if (rc == 0 && sqlite3_changes(db) == 0)
		rc = err_set(-ENOENT, "no invitation to '%s'", space);
	sqlite3_finalize(st);
	return rc;
}

int invite_list(struct index *ix, const char *space, const char *login,
		invite_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rc, src;

	rc = prepare(
		ix,
		"SELECT space, login, role, invited_by, at FROM invitations WHERE (?1 IS NULL OR space = ?1) AND (?2 IS NULL OR login = ?2) ORDER BY space, login",
		&db, &st, "list invitations");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, space, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, login, -1, SQLITE_STATIC);
	/* The callback runs inside the statement: it must not use the index. */
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		struct invite inv = {
			.space = (const char *)sqlite3_column_text(st, 0),
			.login = (const char *)sqlite3_column_text(st, 1),
			.role = (const char *)sqlite3_column_text(st, 2),
			.by = (const char *)sqlite3_column_text(st, 3),
			.at = sqlite3_column_int64(st, 4),
		};

		rc = cb(&inv, arg);
		if (rc)
			break;
	}
	if (!rc && src != SQLITE_DONE)
		rc = db_fail(db, "list invitations");
	sqlite3_finalize(st);
	return rc;
}
