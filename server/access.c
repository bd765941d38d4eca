/*
 * Members, delegations and grants: the index mirror that authorize()
 * reads, and the changes that go to the ledger first (access_ledger.c),
 * then to the mirror and the event journal, in one index transaction held
 * across the ledger commit so the mirror never shows a half change.
 */
#include "server/access.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/path.h"
#include "server/events.h"
#include "server/index.h"
#include "server/ledger.h"
#include "server/spaces.h"

#define ACCESS_TEXT_MAX (16u * 1024u * 1024u)

/* One change at a time per process: text, ledger and mirror agree. */
static pthread_mutex_t access_lock = PTHREAD_MUTEX_INITIALIZER;

static int db_fail(sqlite3 *db, const char *what)
{
	int src = sqlite3_errcode(db);

	return err_set(src == SQLITE_FULL ? -ENOSPC :
		       src == SQLITE_BUSY ? -EBUSY :
					    -EIO,
		       "access: cannot %s: %s", what, sqlite3_errmsg(db));
}

/* Prepare sql and bind the given text parameters (NULL ends the list). */
static int prep(sqlite3 *db, sqlite3_stmt **st, const char *sql, const char *a,
		const char *b, const char *c, const char *d)
{
	const char *v[4] = { a, b, c, d };

	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(db, "prepare a query");
	for (int i = 0; i < 4 && v[i]; i++)
		sqlite3_bind_text(*st, i + 1, v[i], -1, SQLITE_TRANSIENT);
	return 0;
}

static int run(sqlite3 *db, const char *sql, const char *a, const char *b,
	       const char *c, const char *d)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(db, &st, sql, a, b, c, d);

	if (rc == 0 && sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(db, "update the access mirror");
	sqlite3_finalize(st);
	return rc;
}

int access_member(struct index *ix, const char *space, const char *login,
		  enum policy_role *role, int *admin)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rc, src;

	rc = index_db(ix, &db);
	if (rc == 0)
		rc = prep(
			db, &st,
			"SELECT m.role, d.login IS NOT NULL FROM members m LEFT JOIN delegations d ON d.space = m.space AND d.login = m.login WHERE m.space = ?1 AND m.login = ?2",
			space, login, NULL, NULL);
	if (rc < 0)
		return rc;
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		if (policy_role_parse((const char *)sqlite3_column_text(st, 0),
				      role) < 0)
			rc = err_set(-EIO, "access: bad role in the index");
		*admin = sqlite3_column_int(st, 1);
	} else if (src == SQLITE_DONE) {
		rc = err_set(-ENOENT, "no such space '%s'", space);
	} else {
		rc = db_fail(db, "look up a member");
	}
	sqlite3_finalize(st);
	return rc;
}

int access_grants_load(struct index *ix, const char *space, const char *login,
		       struct access_grants *g)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rc, src;

	memset(g, 0, sizeof(*g));
	rc = index_db(ix, &db);
	if (rc == 0)
		rc = prep(
			db, &st,
			"SELECT path, level FROM grants WHERE space = ?1 AND login = ?2 LIMIT 10001",
			space, login, NULL, NULL);
	if (rc < 0)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		char *p = strdup((const char *)sqlite3_column_text(st, 0));
		char **np;
		enum policy_grant *nl;

		if (g->n == ACCESS_GRANTS_MAX) {
			free(p);
			rc = err_set(-E2BIG, "over %d grants",
				     ACCESS_GRANTS_MAX);
			break;
		}
		np = realloc(g->paths, (g->n + 1) * sizeof(*np));
		if (np)
			g->paths = np;
		nl = realloc(g->levels, (g->n + 1) * sizeof(*nl));
		if (nl)
			g->levels = nl;
		if (!p || !np || !nl) {
			free(p);
			rc = -ENOMEM;
			break;
		}
		g->paths[g->n] = p;
		if (policy_grant_parse((const char *)sqlite3_column_text(st, 1),
				       &g->levels[g->n]) < 0)
			g->levels[g->n] = POLICY_GRANT_NONE;
		g->n++;
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = db_fail(db, "read grants");
	sqlite3_finalize(st);
	if (rc < 0)
		access_grants_release(g);
	return rc;
}

int access_members(struct index *ix, const char *space, access_member_cb cb,
		   void *arg)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rc, src;

	rc = index_db(ix, &db);
	if (rc == 0)
		rc = prep(
			db, &st,
			"SELECT m.login, m.role, d.login IS NOT NULL FROM members m LEFT JOIN delegations d ON d.space = m.space AND d.login = m.login WHERE m.space = ?1 ORDER BY m.login",
			space, NULL, NULL, NULL);
	if (rc < 0)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		enum policy_role role = POLICY_ROLE_NONE;

		policy_role_parse((const char *)sqlite3_column_text(st, 1),
				  &role);
		rc = cb((const char *)sqlite3_column_text(st, 0), role,
			sqlite3_column_int(st, 2), arg);
		if (rc)
			break;
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = db_fail(db, "list members");
	sqlite3_finalize(st);
	return rc;
}

int access_grants_all(struct index *ix, const char *space, access_grant_cb cb,
		      void *arg)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rc, src;

	rc = index_db(ix, &db);
	if (rc == 0)
		rc = prep(
			db, &st,
			"SELECT path, login, level FROM grants WHERE space = ?1 ORDER BY path, login",
			space, NULL, NULL, NULL);
	if (rc < 0)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		enum policy_grant g = POLICY_GRANT_NONE;

		policy_grant_parse((const char *)sqlite3_column_text(st, 2),
				   &g);
		rc = cb((const char *)sqlite3_column_text(st, 0),
			(const char *)sqlite3_column_text(st, 1), g, arg);
		if (rc)
			break;
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = db_fail(db, "list grants");
	sqlite3_finalize(st);
	return rc;
}

static int text_member(const char *login, enum policy_role role, int admin,
		       void *arg)
{
	return buf_appendf(arg, "member %s %s%s\n", login,
			   policy_role_name(role), admin ? " admin" : "");
}

/* Path last: it may hold spaces.  Control characters never reach here
 * (path_validate refuses them), so one line is one grant. */
static int text_grant(const char *path, const char *login,
		      enum policy_grant level, void *arg)
{
	return buf_appendf(arg, "grant %s %s %s\n", login,
			   policy_grant_name(level), path);
}

int access_text(struct index *ix, const char *space, struct buf *out)
{
	int rc = buf_appendf(out, "coffre-access 1\n");

	if (rc == 0)
		rc = access_members(ix, space, text_member, out);
	if (rc == 0)
		rc = access_grants_all(ix, space, text_grant, out);
	return rc;
}

/* --- changes --- */

struct change {
	struct space *sp;
	struct index *ix;
	sqlite3 *db;
	const char *by;
	struct index_event ev;
	char msg[1024];
};

static int change_begin(struct change *c)
{
	int rc = index_db(c->ix, &c->db);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&access_lock);
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) {
		rc = db_fail(c->db, "begin a transaction");
		pthread_mutex_unlock(&access_lock);
	}
	return rc;
}

/*
 * The mirror holds the change (uncommitted): write the ledger (the text
 * from the mirror, or nothing when text_too is 0 because the caller
 * committed a class), record the event, commit.  rc < 0 rolls back.
 */
static int change_end(struct change *c, int rc, int text_too)
{
	struct buf text;

	buf_init(&text, ACCESS_TEXT_MAX);
	if (rc == 0 && text_too)
		rc = access_text(c->ix, c->sp->name, &text);
	if (rc == 0 && text_too)
		rc = access_ledger_write(c->sp->ledger, c->sp->name, c->by,
					 text.data, c->msg);
	if (rc == 0)
		rc = events_append(c->ix, c->sp->name, c->by,
				   (int64_t)time(NULL), &c->ev, NULL);
	if (rc == 0 && sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL)) {
		/* The ledger has it; the mirror can be rebuilt from it. */
		rc = db_fail(c->db, "commit");
		log_error(
			"space '%s': access change in the ledger but not in the index: %s",
			c->sp->name, err_msg());
	}
	if (rc < 0)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&access_lock);
	buf_release(&text);
	return rc;
}

/* Owner login may stop being one: -EEXIST when it is the last owner. */
static int not_last_owner(sqlite3 *db, const char *space, const char *login)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(
		db, &st,
		"SELECT count(*) FROM members WHERE space = ?1 AND role = 'owner'",
		space, NULL, NULL, NULL);

	if (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		if (sqlite3_column_int(st, 0) <= 1)
			rc = err_set(-EEXIST, "'%s' is the last owner of '%s'",
				     login, space);
	} else if (rc == 0) {
		rc = db_fail(db, "count owners");
	}
	sqlite3_finalize(st);
	return rc;
}

/* A trusted person's grants name one folder at most. */
static int one_folder(sqlite3 *db, const char *space, const char *login)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(
		db, &st,
		"SELECT count(*) FROM grants WHERE space = ?1 AND login = ?2",
		space, login, NULL, NULL);

	if (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		if (sqlite3_column_int(st, 0) > 1)
			rc = err_set(
				-EEXIST,
				"a trusted person reads one designated folder: '%s' holds grants on %d; revoke all but one first",
				login, sqlite3_column_int(st, 0));
	} else if (rc == 0) {
		rc = db_fail(db, "count grants");
	}
	sqlite3_finalize(st);
	return rc;
}

int access_member_set(struct space *sp, struct index *ix, const char *by,
		      const char *login, enum policy_role role)
{
	struct change c = { .sp = sp, .ix = ix, .by = by };
	enum policy_role old = POLICY_ROLE_NONE;
	int rc, admin = 0;
	char d[160];

	rc = index_user_exists(ix, login);
	if (rc == 0)
		return err_set(-ENOENT, "no user '%s'", login);
	if (rc < 0)
		return rc;
	rc = change_begin(&c);
	if (rc < 0)
		return rc;
	rc = access_member(ix, sp->name, login, &old, &admin);
	if (rc == -ENOENT) {
		old = POLICY_ROLE_NONE;
		rc = 0;
		err_clear();
	}
	if (rc == 0 && old == POLICY_ROLE_OWNER && role != POLICY_ROLE_OWNER)
		rc = not_last_owner(c.db, sp->name, login);
	if (rc == 0)
		rc = run(
			c.db,
			"INSERT OR REPLACE INTO members(space, login, role) VALUES(?1, ?2, ?3)",
			sp->name, login, policy_role_name(role), NULL);
	/* Delegation is for assistants; owners need no grants. */
	if (rc == 0 && role != POLICY_ROLE_ASSISTANT)
		rc = run(
			c.db,
			"DELETE FROM delegations WHERE space = ?1 AND login = ?2",
			sp->name, login, NULL, NULL);
	if (rc == 0 && role == POLICY_ROLE_OWNER)
		rc = run(c.db,
			 "DELETE FROM grants WHERE space = ?1 AND login = ?2",
			 sp->name, login, NULL, NULL);
	/* The grants the new role may hold: a trusted person reads one
	 * designated folder, and deposits nowhere. */
	if (rc == 0 && role == POLICY_ROLE_TRUSTED)
		rc = run(
			c.db,
			"UPDATE grants SET level = 'read' WHERE space = ?1 AND login = ?2",
			sp->name, login, NULL, NULL);
	if (rc == 0 && role == POLICY_ROLE_TRUSTED)
		rc = one_folder(c.db, sp->name, login);
	snprintf(c.msg, sizeof(c.msg),
		 "member %s %s\n\nCoffre-Op: member %s %s\n", login,
		 policy_role_name(role), login, policy_role_name(role));
	snprintf(d, sizeof(d), "%s %s", login, policy_role_name(role));
	c.ev = (struct index_event){ .kind = "member-add",
				     .path = "/",
				     .detail = d };
	return change_end(&c, rc, 1);
}

int access_member_remove(struct space *sp, struct index *ix, const char *by,
			 const char *login)
{
	struct change c = { .sp = sp, .ix = ix, .by = by };
	enum policy_role old;
	int rc, admin;
	char d[160];

	rc = change_begin(&c);
	if (rc < 0)
		return rc;
	rc = access_member(ix, sp->name, login, &old, &admin);
	if (rc == -ENOENT)
		rc = err_set(-ENOENT, "'%s' is no member of '%s'", login,
			     sp->name);
	if (rc == 0 && old == POLICY_ROLE_OWNER)
		rc = not_last_owner(c.db, sp->name, login);
	if (rc == 0)
		rc = run(c.db,
			 "DELETE FROM members WHERE space = ?1 AND login = ?2",
			 sp->name, login, NULL, NULL);
	if (rc == 0)
		rc = run(
			c.db,
			"DELETE FROM delegations WHERE space = ?1 AND login = ?2",
			sp->name, login, NULL, NULL);
	if (rc == 0)
		rc = run(c.db,
			 "DELETE FROM grants WHERE space = ?1 AND login = ?2",
			 sp->name, login, NULL, NULL);
	snprintf(c.msg, sizeof(c.msg),
		 "member remove %s\n\nCoffre-Op: member-remove %s\n", login,
		 login);
	snprintf(d, sizeof(d), "%s", login);
	c.ev = (struct index_event){ .kind = "member-remove",
				     .path = "/",
				     .detail = d };
	return change_end(&c, rc, 1);
}

int access_delegate(struct space *sp, struct index *ix, const char *by,
		    const char *login, int admin)
{
	struct change c = { .sp = sp, .ix = ix, .by = by };
	enum policy_role role;
	int rc, had;
	char d[160];

	rc = change_begin(&c);
	if (rc < 0)
		return rc;
	rc = access_member(ix, sp->name, login, &role, &had);
	if (rc == -ENOENT)
		rc = err_set(-ENOENT, "'%s' is no member of '%s'", login,
			     sp->name);
	if (rc == 0 && role != POLICY_ROLE_ASSISTANT)
		rc = err_set(
			-EINVAL,
			"administration is delegated to assistants only, '%s' is %s",
			login, policy_role_name(role));
	if (rc == 0)
		rc = run(
			c.db,
			admin ? "INSERT OR IGNORE INTO delegations(space, login) VALUES(?1, ?2)" :
				"DELETE FROM delegations WHERE space = ?1 AND login = ?2",
			sp->name, login, NULL, NULL);
	snprintf(c.msg, sizeof(c.msg), "%s %s\n\nCoffre-Op: %s %s\n",
		 admin ? "delegate-admin" : "revoke-admin", login,
		 admin ? "delegate-admin" : "revoke-admin", login);
	snprintf(d, sizeof(d), "%s", login);
	c.ev = (struct index_event){ .kind = admin ? "delegate-admin" :
						     "revoke-admin",
				     .path = "/",
				     .detail = d };
	return change_end(&c, rc, 1);
}

/* 1 when path is a folder at the head, 0 when not, or -errno. */
static int stat_dir_cb(const struct ledger_entry *e, void *arg)
{
	*(int *)arg = e->is_dir;
	return 0;
}

static int is_folder(struct space *sp, const char *path)
{
	int dir = 0;
	int rc = ledger_stat(sp->ledger, path, stat_dir_cb, &dir);

	if (rc == -ENOENT && !strcmp(path, "/"))
		return 1;
	if (rc == -ENOENT || rc == -ENOTDIR)
		return 0;
	return rc < 0 ? rc : dir;
}

static int trusted_elsewhere(sqlite3 *db, const char *space, const char *login,
			     const char *path, int *found)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(
		db, &st,
		"SELECT 1 FROM grants WHERE space = ?1 AND login = ?2 AND path != ?3",
		space, login, path, NULL);

	if (rc == 0) {
		int src = sqlite3_step(st);

		*found = src == SQLITE_ROW;
		if (src != SQLITE_ROW && src != SQLITE_DONE)
			rc = db_fail(db, "read grants");
	}
	sqlite3_finalize(st);
	return rc;
}

int access_grant(struct space *sp, struct index *ix, const char *by,
		 const char *path, const char *login, enum policy_grant level)
{
	struct change c = { .sp = sp, .ix = ix, .by = by };
	enum policy_role role;
	int rc, admin, other = 0;
	char d[160];

	rc = is_folder(sp, path);
	if (rc == 0)
		return err_set(-ENOENT, "no such folder '%s'", path);
	if (rc < 0)
		return rc;
	rc = change_begin(&c);
	if (rc < 0)
		return rc;
	rc = access_member(ix, sp->name, login, &role, &admin);
	if (rc == -ENOENT)
		rc = err_set(-ENOENT, "'%s' is no member of '%s'", login,
			     sp->name);
	if (rc == 0 && level && role == POLICY_ROLE_OWNER)
		rc = err_set(-EINVAL, "'%s' is an owner and holds every right",
			     login);
	if (rc == 0 && level == POLICY_GRANT_DEPOSIT &&
	    role == POLICY_ROLE_TRUSTED)
		rc = err_set(-EINVAL, "a trusted person may only read");
	if (rc == 0 && level && role == POLICY_ROLE_TRUSTED) {
		rc = trusted_elsewhere(c.db, sp->name, login, path, &other);
		if (rc == 0 && other)
			rc = err_set(
				-EEXIST,
				"'%s' is a trusted person and already has a designated folder",
				login);
	}
	if (rc == 0 && level)
		rc = run(
			c.db,
			"INSERT OR REPLACE INTO grants(space, path, login, level) VALUES(?1, ?2, ?3, ?4)",
			sp->name, path, login, policy_grant_name(level));
	if (rc == 0 && !level) {
		rc = run(
			c.db,
			"DELETE FROM grants WHERE space = ?1 AND path = ?2 AND login = ?3",
			sp->name, path, login, NULL);
		if (rc == 0 && sqlite3_changes(c.db) == 0)
			rc = err_set(-ENOENT, "'%s' holds no grant on '%s'",
				     login, path);
	}
	if (level)
		snprintf(
			c.msg, sizeof(c.msg),
			"grant %s %s %s\n\nCoffre-Op: grant %s\nCoffre-Grant: %s %s\n",
			login, policy_grant_name(level), path, path, login,
			policy_grant_name(level));
	else
		snprintf(
			c.msg, sizeof(c.msg),
			"revoke %s %s\n\nCoffre-Op: revoke %s\nCoffre-Grant: %s\n",
			login, path, path, login);
	snprintf(d, sizeof(d), "%s%s%s", login, level ? " " : "",
		 level ? policy_grant_name(level) : "");
	c.ev = (struct index_event){ .kind = level ? "grant" : "revoke",
				     .path = path,
				     .detail = d };
	return change_end(&c, rc, 1);
}

int access_class_set(struct space *sp, struct index *ix, const char *by,
		     const char *path, enum folder_class class)
{
	struct change c = { .sp = sp, .ix = ix, .by = by };
	int rc;

	rc = change_begin(&c);
	if (rc < 0)
		return rc;
	snprintf(c.msg, sizeof(c.msg),
		 "class %s %s\n\nCoffre-Op: class %s\nCoffre-Class: %s\n", path,
		 folder_class_name(class), path, folder_class_name(class));
	rc = access_ledger_class(sp->ledger, sp->name, by, path, class, c.msg);
	c.ev = (struct index_event){ .kind = "class",
				     .path = path,
				     .detail = folder_class_name(class) };
	return change_end(&c, rc, 0);
}

/* --- where a document is filed, for authorizing reads by doc id --- */

static int doc_stat_cb(const struct ledger_entry *e, void *arg)
{
	const char *doc_id = arg;

	return !e->is_dir && e->manifest &&
			       !strcmp(e->manifest->doc_id, doc_id) ?
		       0 :
		       -ENOENT;
}

int access_doc_path(struct index *ix, struct space *sp, const char *doc_id,
		    char *out, size_t outlen)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 seq = 0;
	sqlite3 *db;
	int rc, src;

	out[0] = '\0';
	rc = index_db(ix, &db);
	if (rc == 0)
		rc = prep(
			db, &st,
			"SELECT seq, path FROM events WHERE space = ?1 AND doc_id = ?2 AND path IS NOT NULL AND kind IN ('deposit', 'move') ORDER BY seq DESC LIMIT 1",
			sp->name, doc_id, NULL, NULL);
	if (rc < 0)
		return rc;
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0);
		snprintf(out, outlen, "%s", sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if (!out[0])
		return err_set(-ENOENT, "no such document '%s'", doc_id);
	/* Later folder moves carry the document along: follow them. */
	rc = prep(
		db, &st,
		"SELECT path, detail FROM events WHERE space = ?1 AND seq > ?2 AND kind = 'move' AND doc_id IS NULL AND detail IS NOT NULL ORDER BY seq",
		sp->name, NULL, NULL, NULL);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 2, seq);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *to = (const char *)sqlite3_column_text(st, 0);
		const char *from = (const char *)sqlite3_column_text(st, 1);
		size_t n = strlen(from);
		char moved[PATH_MAX_LEN + 1];

		if (strncmp(out, from, n) || out[n] != '/')
			continue;
		if ((size_t)snprintf(moved, sizeof(moved), "%s%s", to,
				     out + n) >= sizeof(moved))
			continue;
		snprintf(out, outlen, "%s", moved);
	}
	sqlite3_finalize(st);
	/* The head has the last word: the document must be filed there. */
	rc = ledger_stat(sp->ledger, out, doc_stat_cb, (void *)doc_id);
	if (rc < 0)
		return err_set(-ENOENT, "no such document '%s'", doc_id);
	return 0;
}

/* --- grants follow their folders --- */

int access_folder_moved(struct space *sp, struct index *ix, const char *by,
			const char *from, const char *to)
{
	struct change c = { .sp = sp, .ix = ix, .by = by };
	int rc, n;

	rc = change_begin(&c);
	if (rc < 0)
		return rc;
	/* substr() rather than LIKE: names may hold '%' and '_'. */
	if (to)
		rc = run(
			c.db,
			"UPDATE grants SET path = ?3 || substr(path, length(?2) + 1) WHERE space = ?1 AND (path = ?2 OR substr(path, 1, length(?2) + 1) = ?2 || '/')",
			sp->name, from, to, NULL);
	else
		rc = run(
			c.db,
			"DELETE FROM grants WHERE space = ?1 AND (path = ?2 OR substr(path, 1, length(?2) + 1) = ?2 || '/')",
			sp->name, from, NULL, NULL);
	n = rc == 0 ? sqlite3_changes(c.db) : 0;
	if (rc == 0 && n == 0) {
		/* No grant there: nothing to commit. */
		sqlite3_exec(c.db, "ROLLBACK", NULL, NULL, NULL);
		pthread_mutex_unlock(&access_lock);
		return 0;
	}
	if (to)
		snprintf(
			c.msg, sizeof(c.msg),
			"grants follow %s -> %s\n\nCoffre-Op: grants-move %s\nCoffre-To: %s\n",
			from, to, from, to);
	else
		snprintf(
			c.msg, sizeof(c.msg),
			"grants dropped with %s\n\nCoffre-Op: grants-drop %s\n",
			from, from);
	c.ev = (struct index_event){ .kind = to ? "grants-move" : "grants-drop",
				     .path = to ? to : from,
				     .detail = to ? from : NULL };
	return change_end(&c, rc, 1);
}

/* --- the mirror checked against the ledger --- */

/* Spaces checked by this process; protected by access_lock. */
static char (*checked)[65];
static size_t nchecked;

static int was_checked(const char *space)
{
	for (size_t i = 0; i < nchecked; i++)
		if (!strcmp(checked[i], space))
			return 1;
	return 0;
}

static void mark_checked(const char *space)
{
	char(*n)[65] = realloc(checked, (nchecked + 1) * sizeof(*checked));

	if (!n)
		return; /* checked again next time: harmless */
	checked = n;
	snprintf(checked[nchecked++], sizeof(checked[0]), "%s", space);
}

/* Split off the next space-separated word of *s (NULL at the end). */
static char *word(char **s)
{
	char *w = *s, *sp;

	if (!w || !*w)
		return NULL;
	sp = strchr(w, ' ');
	if (sp) {
		*sp = '\0';
		*s = sp + 1;
	} else {
		*s = NULL;
	}
	return w;
}

/* Load text into the mirror of space, inside an open transaction. */
static int load_text(sqlite3 *db, const char *space, char *text)
{
	char *line, *save = NULL;
	int rc, n = 0;

	rc = run(db, "DELETE FROM members WHERE space = ?1", space, NULL, NULL,
		 NULL);
	if (rc == 0)
		rc = run(db, "DELETE FROM delegations WHERE space = ?1", space,
			 NULL, NULL, NULL);
	if (rc == 0)
		rc = run(db, "DELETE FROM grants WHERE space = ?1", space, NULL,
			 NULL, NULL);
	for (line = strtok_r(text, "\n", &save); rc == 0 && line;
	     line = strtok_r(NULL, "\n", &save), n++) {
		char *rest = line, *kind = word(&rest), *login, *a;
		enum policy_role role;
		enum policy_grant g;

		if (n == 0) {
			if (strcmp(line, "coffre-access") || !rest ||
			    strcmp(rest, "1"))
				rc = -EBADMSG;
			continue;
		}
		login = word(&rest);
		a = word(&rest);
		if (!kind || !login || !a || ident_validate(login) < 0) {
			rc = -EBADMSG;
		} else if (!strcmp(kind, "member")) {
			if (policy_role_parse(a, &role) < 0 ||
			    (rest && strcmp(rest, "admin")))
				rc = -EBADMSG;
			if (rc == 0)
				rc = run(
					db,
					"INSERT INTO members(space, login, role) VALUES(?1, ?2, ?3)",
					space, login, a, NULL);
			if (rc == 0 && rest)
				rc = run(
					db,
					"INSERT INTO delegations(space, login) VALUES(?1, ?2)",
					space, login, NULL, NULL);
		} else if (!strcmp(kind, "grant")) {
			/* The path is the rest of the line, spaces included. */
			if (policy_grant_parse(a, &g) < 0 || !rest ||
			    path_validate(rest) < 0)
				rc = -EBADMSG;
			if (rc == 0)
				rc = run(
					db,
					"INSERT INTO grants(space, path, login, level) VALUES(?1, ?2, ?3, ?4)",
					space, rest, login, a);
		} else {
			rc = -EBADMSG;
		}
	}
	if (rc == -EBADMSG || n == 0)
		rc = err_set(-EBADMSG,
			     "space '%s': %s does not parse (line %d)", space,
			     ACCESS_FILE_NAME, n);
	return rc;
}

int access_reconcile(struct space *sp, struct index *ix)
{
	struct buf ledger_text, index_text;
	sqlite3 *db;
	int rc;

	rc = index_db(ix, &db);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&access_lock);
	if (was_checked(sp->name)) {
		pthread_mutex_unlock(&access_lock);
		return 0;
	}
	buf_init(&ledger_text, ACCESS_TEXT_MAX);
	buf_init(&index_text, ACCESS_TEXT_MAX);
	rc = access_text(ix, sp->name, &index_text);
	if (rc == 0)
		rc = access_ledger_read(sp->ledger, &ledger_text);
	if (rc == -ENOENT) {
		/* A space from before .coffre-access: the index has it all. */
		err_clear();
		rc = access_ledger_write(
			sp->ledger, sp->name, "coffred", index_text.data,
			"access state\n\nCoffre-Op: access-state\n");
	} else if (rc == 0 && (ledger_text.len != index_text.len ||
			       memcmp(ledger_text.data, index_text.data,
				      index_text.len))) {
		log_warn(
			"space '%s': the index's access state differs from the ledger's; reloading it from the ledger",
			sp->name);
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) {
			rc = db_fail(db, "begin a transaction");
		} else {
			rc = load_text(db, sp->name, ledger_text.data);
			if (rc == 0 &&
			    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL))
				rc = db_fail(db, "commit");
			if (rc < 0)
				sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		}
	}
	if (rc == 0)
		mark_checked(sp->name);
	else
		log_error("%s", err_msg());
	pthread_mutex_unlock(&access_lock);
	buf_release(&ledger_text);
	buf_release(&index_text);
	return rc;
}
