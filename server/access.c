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

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/namev.h"
#include "common/path.h"
#include "server/events.h"
#include "server/index.h"
#include "server/invite.h"
#include "server/ledger.h"
#include "server/spaces.h"

#define ACCESS_TEXT_MAX (16u * 1024u * 1024u)

int access_member(struct index *ix, const char *space, const char *login,
		  enum policy_role *role, int *admin)
{
	char r[32];
	int rc = index_member_access(ix, space, login, r, sizeof(r), admin);

	if (rc == 0 && policy_role_parse(r, role) < 0)
		rc = err_set(-EIO, "access: bad role in the index");
	return rc;
}

static int grant_load_cb(const char *path, const char *login, const char *level,
			 void *arg)
{
	struct access_grants *g = arg;
	char *p = strdup(path);
	char **np;
	enum policy_grant *nl;

	(void)login;
	if (g->n == ACCESS_GRANTS_MAX) {
		free(p);
		return err_set(-E2BIG, "over %d grants", ACCESS_GRANTS_MAX);
	}
	np = realloc(g->paths, (g->n + 1) * sizeof(*np));
	if (np)
		g->paths = np;
	nl = realloc(g->levels, (g->n + 1) * sizeof(*nl));
	if (nl)
		g->levels = nl;
	if (!p || !np || !nl) {
		free(p);
		return -ENOMEM;
	}
	g->paths[g->n] = p;
	if (policy_grant_parse(level, &g->levels[g->n]) < 0)
		g->levels[g->n] = POLICY_GRANT_NONE;
	g->n++;
	return 0;
}

int access_grants_load(struct index *ix, const char *space, const char *login,
		       struct access_grants *g)
{
	int rc;

	memset(g, 0, sizeof(*g));
	rc = index_grants(ix, space, login, ACCESS_GRANTS_MAX + 1,
			  grant_load_cb, g);
	if (rc < 0)
		access_grants_release(g);
	return rc;
}

struct member_fwd {
	access_member_cb cb;
	void *arg;
};

static int member_fwd(const char *login, const char *role, int admin, void *arg)
{
	struct member_fwd *f = arg;
	enum policy_role r = POLICY_ROLE_NONE;

	policy_role_parse(role, &r);
	return f->cb(login, r, admin, f->arg);
}

int access_members(struct index *ix, const char *space, access_member_cb cb,
		   void *arg)
{
	struct member_fwd f = { cb, arg };

	return index_members(ix, space, member_fwd, &f);
}

struct grant_fwd {
	access_grant_cb cb;
	void *arg;
};

static int grant_fwd(const char *path, const char *login, const char *level,
		     void *arg)
{
	struct grant_fwd *f = arg;
	enum policy_grant g = POLICY_GRANT_NONE;

	policy_grant_parse(level, &g);
	return f->cb(path, login, g, f->arg);
}

int access_grants_all(struct index *ix, const char *space, access_grant_cb cb,
		      void *arg)
{
	struct grant_fwd f = { cb, arg };

	return index_grants(ix, space, NULL, 0, grant_fwd, &f);
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
	struct index_txn *tx;
	const char *by;
	struct index_event ev;
	char msg[1024];
};

/* One change at a time per space, on every node: text, ledger and mirror
 * agree. */
static int change_begin(struct change *c)
{
	return index_begin_locked(c->ix, c->sp->name, &c->tx);
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
	if (rc == 0) {
		rc = index_commit(c->ix, c->tx);
		/* The ledger has it; the mirror can be rebuilt from it. */
		if (rc < 0)
			log_error(
				"space '%s': access change in the ledger but not in the index: %s",
				c->sp->name, err_msg());
	} else {
		index_rollback(c->ix, c->tx);
	}
	buf_release(&text);
	return rc;
}

/* Owner login may stop being one: -EEXIST when it is the last owner. */
static int not_last_owner(struct index *ix, const char *space,
			  const char *login)
{
	int n = 0;
	int rc = index_owners_count(ix, space, &n);

	if (rc == 0 && n <= 1)
		rc = err_set(-EEXIST, "'%s' is the last owner of '%s'", login,
			     space);
	return rc;
}

/* A trusted person's grants name one folder at most. */
static int one_folder(struct index *ix, const char *space, const char *login)
{
	int n = 0;
	int rc = index_grants_count(ix, space, login, &n);

	if (rc == 0 && n > 1)
		rc = err_set(
			-EEXIST,
			"a trusted person reads one designated folder: '%s' holds grants on %d; revoke all but one first",
			login, n);
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
		rc = not_last_owner(ix, sp->name, login);
	if (rc == 0)
		rc = index_member_put(ix, sp->name, login,
				      policy_role_name(role), 1);
	/* Delegation is for assistants; owners need no grants. */
	if (rc == 0 && role != POLICY_ROLE_ASSISTANT)
		rc = index_delegation_set(ix, sp->name, login, 0);
	if (rc == 0 && role == POLICY_ROLE_OWNER)
		rc = index_grants_drop_all(ix, sp->name, login);
	/* The grants the new role may hold: a trusted person reads one
	 * designated folder, and deposits nowhere. */
	if (rc == 0 && role == POLICY_ROLE_TRUSTED)
		rc = index_grants_read_only(ix, sp->name, login);
	if (rc == 0 && role == POLICY_ROLE_TRUSTED)
		rc = one_folder(ix, sp->name, login);
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
		rc = not_last_owner(ix, sp->name, login);
	if (rc == 0)
		rc = index_member_drop(ix, sp->name, login);
	snprintf(c.msg, sizeof(c.msg),
		 "member remove %s\n\nCoffre-Op: member-remove %s\n", login,
		 login);
	snprintf(d, sizeof(d), "%s", login);
	c.ev = (struct index_event){ .kind = "member-remove",
				     .path = "/",
				     .detail = d };
	return change_end(&c, rc, 1);
}

_Static_assert(NAMEV_LEN >= LOGIN_MAX_LEN + 1, "logins fit a namev");

/* The members a notary's access revokes: all but trusted persons. */
struct legacy_members {
	struct namev drop;
	const char *notary;
};

static int legacy_member_cb(const char *login, const char *role, int admin,
			    void *arg)
{
	struct legacy_members *m = arg;

	(void)admin;
	if (!strcmp(role, "trusted") || !strcmp(login, m->notary))
		return 0; /* the trusted person keeps their folder */
	return namev_push(&m->drop, login);
}

static int invite_login_cb(const struct invite *inv, void *arg)
{
	return namev_push(arg, inv->login);
}

/* Withdraw every pending invitation of space. */
static int invite_drop_all(struct index *ix, const char *space)
{
	struct namev logins = { 0 };
	int rc = invite_list(ix, space, NULL, invite_login_cb, &logins);

	for (size_t i = 0; rc == 0 && i < logins.n; i++) {
		rc = invite_drop(ix, space, logins.v[i]);
		if (rc == -ENOENT)
			rc = 0;
	}
	namev_release(&logins);
	return rc;
}

int access_legacy_open(struct space *sp, struct index *ix, const char *by,
		       const char *deceased, const char *notary,
		       const char *mandate)
{
	struct change c = { .sp = sp, .ix = ix, .by = by };
	struct legacy_members m = { .notary = notary };
	int64_t now = (int64_t)time(NULL);
	char d[512];
	int rc;

	rc = change_begin(&c);
	if (rc < 0)
		return rc;
	rc = index_members(ix, sp->name, legacy_member_cb, &m);
	for (size_t i = 0; rc == 0 && i < m.drop.n; i++) {
		struct index_event ev = { .kind = "member-remove",
					  .path = "/",
					  .detail = d };

		rc = index_member_drop(ix, sp->name, m.drop.v[i]);
		snprintf(d, sizeof(d), "%s (mandate %s)", m.drop.v[i], mandate);
		if (rc == 0)
			rc = events_append(ix, sp->name, by, now, &ev, NULL);
	}
	/* Invitations still pending would let someone in later. */
	if (rc == 0)
		rc = invite_drop_all(ix, sp->name);
	if (rc == 0)
		rc = index_member_put(ix, sp->name, notary,
				      policy_role_name(POLICY_ROLE_OWNER), 1);
	if (rc == 0)
		rc = index_grants_drop_all(ix, sp->name, notary);
	if (rc == 0)
		rc = index_delegation_set(ix, sp->name, notary, 0);
	snprintf(
		c.msg, sizeof(c.msg),
		"legacy: %s owner in place of %s\n\nCoffre-Op: legacy %s %s\nCoffre-Mandate: %s\n",
		notary, deceased, deceased, notary, mandate);
	snprintf(d, sizeof(d), "mandate %s: %s owner in place of %s", mandate,
		 notary, deceased);
	c.ev = (struct index_event){ .kind = "legacy-open",
				     .path = "/",
				     .detail = d };
	namev_release(&m.drop);
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
		rc = index_delegation_set(ix, sp->name, login, admin);
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
		rc = index_grant_elsewhere(ix, sp->name, login, path, &other);
		if (rc == 0 && other)
			rc = err_set(
				-EEXIST,
				"'%s' is a trusted person and already has a designated folder",
				login);
	}
	if (rc == 0 && level)
		rc = index_grant_put(ix, sp->name, path, login,
				     policy_grant_name(level), 1);
	if (rc == 0 && !level)
		rc = index_grant_drop(ix, sp->name, path, login);
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

struct moves {
	char *out;
	size_t outlen;
};

static int follow_move(void *arg, const char *to, const char *from)
{
	struct moves *m = arg;
	size_t n = strlen(from);
	char moved[PATH_MAX_LEN + 1];

	if (strncmp(m->out, from, n) || m->out[n] != '/')
		return 0;
	if ((size_t)snprintf(moved, sizeof(moved), "%s%s", to, m->out + n) >=
	    sizeof(moved))
		return 0;
	snprintf(m->out, m->outlen, "%s", moved);
	return 0;
}

int access_doc_place(struct index *ix, struct space *sp, const char *doc_id,
		     char *out, size_t outlen)
{
	struct moves m = { out, outlen };
	uint64_t seq = 0;
	int rc;

	out[0] = '\0';
	rc = index_doc_last_path(ix, sp->name, doc_id, &seq, out, outlen);
	if (rc == -ENOENT || (rc == 0 && !out[0])) {
		/* The same query as for a document found, past the end of
		 * the journal: a miss costs what a find does. */
		out[0] = '\0';
		index_folder_moves(ix, sp->name, (uint64_t)INT64_MAX,
				   follow_move, &m);
		return err_set(-ENOENT, "no such document '%s'", doc_id);
	}
	if (rc < 0)
		return rc;
	/* Later folder moves carry the document along: follow them. */
	return index_folder_moves(ix, sp->name, seq, follow_move, &m);
}

int access_doc_filed(struct space *sp, const char *doc_id, const char *path)
{
	/* The head has the last word: the document must be filed there. */
	if (ledger_stat(sp->ledger, path, doc_stat_cb, (void *)doc_id) < 0)
		return err_set(-ENOENT, "no such document '%s'", doc_id);
	return 0;
}

int access_doc_path(struct index *ix, struct space *sp, const char *doc_id,
		    char *out, size_t outlen)
{
	int rc = access_doc_place(ix, sp, doc_id, out, outlen);

	return rc < 0 ? rc : access_doc_filed(sp, doc_id, out);
}

/* --- grants follow their folders --- */

int access_folder_moved(struct space *sp, struct index *ix, const char *by,
			const char *from, const char *to)
{
	struct change c = { .sp = sp, .ix = ix, .by = by };
	int rc, n = 0;

	rc = change_begin(&c);
	if (rc < 0)
		return rc;
	rc = index_grants_move(ix, sp->name, from, to, &n);
	if (rc == 0 && n == 0) {
		/* No grant there: nothing to commit. */
		index_rollback(ix, c.tx);
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

/* Spaces checked by this process; protected by checked_lock. */
static pthread_mutex_t checked_lock = PTHREAD_MUTEX_INITIALIZER;
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
static int load_text(struct index *ix, const char *space, char *text)
{
	char *line, *save = NULL;
	int rc, n = 0;

	rc = index_access_clear(ix, space);
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
				rc = index_member_put(ix, space, login, a, 0);
			if (rc == 0 && rest)
				rc = index_delegation_set(ix, space, login, 1);
		} else if (!strcmp(kind, "grant")) {
			/* The path is the rest of the line, spaces included. */
			if (policy_grant_parse(a, &g) < 0 || !rest ||
			    path_validate(rest) < 0)
				rc = -EBADMSG;
			if (rc == 0)
				rc = index_grant_put(ix, space, rest, login, a,
						     0);
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
	struct index_txn *tx;
	int rc, done;

	pthread_mutex_lock(&checked_lock);
	done = was_checked(sp->name);
	pthread_mutex_unlock(&checked_lock);
	if (done)
		return 0;
	/* Under the space's lock: no change runs meanwhile. */
	rc = index_begin(ix, &tx);
	if (rc < 0)
		return rc;
	rc = index_lock_space(ix, tx, sp->name);
	buf_init(&ledger_text, ACCESS_TEXT_MAX);
	buf_init(&index_text, ACCESS_TEXT_MAX);
	if (rc == 0)
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
		rc = load_text(ix, sp->name, ledger_text.data);
	}
	if (rc == 0)
		rc = index_commit(ix, tx);
	else
		index_rollback(ix, tx);
	if (rc == 0) {
		pthread_mutex_lock(&checked_lock);
		if (!was_checked(sp->name))
			mark_checked(sp->name);
		pthread_mutex_unlock(&checked_lock);
	} else {
		log_error("%s", err_msg());
	}
	buf_release(&ledger_text);
	buf_release(&index_text);
	return rc;
}
