/*
 * The batch check of access_batch.h: the rule of policy.c applied to each
 * operation on the state half way through the batch.
 */
#include "server/access_batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/path.h"

static int view_class(void *arg, const char *folder, enum folder_class *own)
{
	return ledger_view_class(arg, folder, own);
}

static void parent_of(const char *path, char *out, size_t outlen)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash && slash != path ? (size_t)(slash - path) : 1;

	if (n >= outlen)
		n = outlen - 1;
	memmove(out, path, n);
	out[n] = '\0';
}

/* 1 when a is b or an ancestor of b. */
static int within(const char *a, const char *b)
{
	size_t n = strlen(a);

	if (!strcmp(a, "/"))
		return 1;
	return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '/');
}

static int refuse_absent(struct access_batch *b, const char *path)
{
	b->refused = 1;
	return err_set(-ENOENT, "no such file or folder '%s'", path);
}

static int need(struct access_batch *b, const struct ledger_view *v,
		const char *path, const char *folder, enum auth_right right);

/*
 * The caller's rights on the existing folder at the batch's state, and
 * whether it is shown to them at all (*seen, may be NULL: readable, "/",
 * or on the way to a grant).
 */
static int rights_seen(struct access_batch *b, const struct ledger_view *v,
		       const char *folder, unsigned *rights, int *seen)
{
	struct policy_at at;
	int rc, shown = 1;

	if (b->role == POLICY_ROLE_OWNER) {
		*rights = POLICY_ALL;
	} else {
		rc = access_place(&b->grants, folder, view_class, (void *)v,
				  &at);
		if (rc < 0)
			return rc;
		*rights = access_rights_at(b->role, b->admin, &b->grants,
					   folder, &at, &shown);
	}
	if (seen)
		*seen = shown;
	return 0;
}

static int rights_on(struct access_batch *b, const struct ledger_view *v,
		     const char *folder, unsigned *rights)
{
	return rights_seen(b, v, folder, rights, NULL);
}

/*
 * Is the existing entry at path hidden from the caller (a folder not
 * shown, a file in a folder they do not read)?  1, 0 or -errno.
 */
static int hidden(struct access_batch *b, const struct ledger_view *v,
		  const char *path, int is_file)
{
	char parent[PATH_MAX_LEN + 1];
	unsigned r;
	int rc, seen;

	if (!is_file) {
		rc = rights_seen(b, v, path, &r, &seen);
		return rc < 0 ? rc : !seen;
	}
	parent_of(path, parent, sizeof(parent));
	rc = rights_on(b, v, parent, &r);
	return rc < 0 ? rc : !(r & POLICY_BIT(AUTH_READ));
}

/*
 * What the caller may not see is absent to them: an unlink, rmdir or
 * mkdir of it answers as it would for an absent path (organize on the
 * parent decides) and changes nothing.
 */
static int as_absent(struct access_batch *b, const struct ledger_view *v,
		     size_t i, const char *path)
{
	char parent[PATH_MAX_LEN + 1];
	int rc;

	parent_of(path, parent, sizeof(parent));
	rc = need(b, v, path, parent, AUTH_ORGANIZE);
	if (rc < 0)
		return rc;
	if (b->skipped)
		b->skipped[i] = 1;
	return LEDGER_CHECK_SKIP;
}

/*
 * right on the existing folder, for an operation on path: what the caller
 * may not read answers as an absent path.
 */
static int need(struct access_batch *b, const struct ledger_view *v,
		const char *path, const char *folder, enum auth_right right)
{
	unsigned r;
	int seen, rc = rights_seen(b, v, folder, &r, &seen);

	if (rc < 0)
		return rc;
	if (r & POLICY_BIT(right))
		return 0;
	if (!seen)
		return refuse_absent(b, path);
	b->refused = 1;
	return err_set(-EACCES, "'%s': the %s right is needed", path,
		       policy_right_name(right));
}

/*
 * What path is at this state: 0 a folder, 1 a file, -ENOENT absent (then
 * *parent_ok says whether its parent is a folder), or -errno.
 */
static int what_is(const struct ledger_view *v, const char *path,
		   int *parent_ok)
{
	char parent[PATH_MAX_LEN + 1];
	enum folder_class own;
	int rc = ledger_view_class(v, path, &own);

	*parent_ok = 0;
	if (rc == 0)
		return 0;
	if (rc == -ENOTDIR)
		return 1;
	if (rc != -ENOENT)
		return rc;
	parent_of(path, parent, sizeof(parent));
	*parent_ok = ledger_view_class(v, parent, &own) == 0;
	err_clear();
	return -ENOENT;
}

/*
 * The folder deciding for a new or existing entry at path: the folder
 * itself, or the parent of a file or of a new name; a missing parent is
 * refused here in the words a hidden one gets.
 */
static int decider(struct access_batch *b, const struct ledger_view *v,
		   const char *path, char *folder, size_t flen)
{
	int parent_ok, rc = what_is(v, path, &parent_ok);

	if (rc == 0) {
		snprintf(folder, flen, "%s", path);
		return 0;
	}
	if (rc == -ENOENT && !parent_ok)
		return refuse_absent(b, path);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	parent_of(path, folder, flen);
	return 0;
}

struct carried {
	struct access_batch *b;
	const struct ledger_view *v;
	const char *from;
};

/* Every folder a move carries needs organize. */
static int carried_cb(const char *path, enum folder_class own, void *arg)
{
	struct carried *c = arg;
	unsigned r;
	int rc;

	(void)own;
	rc = rights_on(c->b, c->v, path, &r);
	if (rc < 0)
		return rc;
	if (r & POLICY_BIT(AUTH_ORGANIZE))
		return 0;
	c->b->refused = 1;
	return err_set(-EACCES,
		       "'%s' holds what the organize right is needed to move",
		       c->from);
}

/* Grants on from and below now sit under to (to NULL: gone). */
static int grants_follow(struct access_batch *b, const char *from,
			 const char *to)
{
	struct access_grants *g = &b->grants;
	size_t flen = strlen(from), k = 0;

	for (size_t i = 0; i < g->n; i++) {
		char *np;

		if (!within(from, g->paths[i])) {
			g->paths[k] = g->paths[i];
			g->levels[k++] = g->levels[i];
			continue;
		}
		if (!to) {
			free(g->paths[i]);
			continue;
		}
		if (asprintf(&np, "%s%s", to, g->paths[i] + flen) < 0)
			return -ENOMEM;
		free(g->paths[i]);
		g->paths[k] = np;
		g->levels[k++] = g->levels[i];
	}
	g->n = k;
	return 0;
}

/*
 * A version made in folder (an existing folder at this state) is sealed
 * when the folder is confidential there: recorded with the op, so the
 * ledger's trailer and the index keep it.
 */
static int seal_in(struct access_batch *b, const struct ledger_view *v,
		   size_t i, const char *folder)
{
	struct policy_at at;
	int rc = access_place(NULL, folder, view_class, (void *)v, &at);

	if (rc == 0)
		b->ops[i].sealed = at.class == FOLDER_CLASS_CONFIDENTIAL;
	return rc;
}

static int check_mkdir(struct access_batch *b, const struct ledger_view *v,
		       size_t i)
{
	struct ledger_op *op = &b->ops[i];
	char parent[PATH_MAX_LEN + 1], folder[PATH_MAX_LEN + 1];
	enum folder_class dflt;
	struct policy_at at;
	int rc, parent_ok;

	if (!strcmp(op->path, "/"))
		return need(b, v, "/", "/", AUTH_ORGANIZE);
	rc = what_is(v, op->path, &parent_ok);
	if (rc == 0 || rc == 1) {
		int h = hidden(b, v, op->path, rc);

		if (h < 0)
			return h;
		if (h)
			return as_absent(b, v, i, op->path);
	}
	rc = decider(b, v, op->path, folder, sizeof(folder));
	if (rc == 0)
		rc = need(b, v, op->path, folder, AUTH_ORGANIZE);
	if (rc < 0)
		return rc;
	parent_of(op->path, parent, sizeof(parent));
	rc = access_place(NULL, parent, view_class, (void *)v, &at);
	if (rc < 0)
		return rc;
	dflt = at.class == FOLDER_CLASS_CONFIDENTIAL ? FOLDER_CLASS_RESTRICTED :
						       at.class;
	if (!b->stated || !b->stated[i]) {
		op->class = dflt;
		return 0;
	}
	if (op->class == dflt)
		return 0;
	return need(b, v, op->path, parent, AUTH_ADMIN);
}

static int check_move(struct access_batch *b, const struct ledger_view *v,
		      size_t i)
{
	const struct ledger_op *op = &b->ops[i];
	char folder[PATH_MAX_LEN + 1];
	int parent_ok, is_file, rc;

	is_file = what_is(v, op->from, &parent_ok);
	if (is_file == -ENOENT)
		return refuse_absent(b, op->from);
	if (is_file < 0)
		return is_file;
	/* The folder left (and the folder moved, with all it holds). */
	parent_of(op->from, folder, sizeof(folder));
	rc = need(b, v, op->from, is_file ? folder : op->from, AUTH_ORGANIZE);
	if (rc == 0 && !is_file)
		rc = need(b, v, op->from, folder, AUTH_ORGANIZE);
	if (rc == 0 && !is_file) {
		struct carried c = { b, v, op->from };

		rc = ledger_view_folders(v, op->from, carried_cb, &c);
	}
	/* The folder entered. */
	if (rc == 0)
		rc = decider(b, v, op->to, folder, sizeof(folder));
	if (rc == 0)
		rc = need(b, v, op->to, folder, AUTH_ORGANIZE);
	if (rc == 0 && is_file)
		rc = seal_in(b, v, i, folder); /* a save by rename makes one */
	if (rc == 0 && !is_file && !within(op->from, op->to))
		rc = grants_follow(b, op->from, op->to);
	return rc;
}

/*
 * What an unlink or an rmdir (op i) removes, as its remover may know it:
 * 0 with *kind what_is() said (0 a folder, 1 a file, -ENOENT absent in a
 * known folder), or 1 with *verdict the operation's answer: absent, or
 * hidden from the remover and so answered as absent, or a failure.
 */
static int removed_entry(struct access_batch *b, const struct ledger_view *v,
			 size_t i, int *kind, int *verdict)
{
	const char *path = b->ops[i].path;
	int parent_ok, h;

	*kind = what_is(v, path, &parent_ok);
	*verdict = *kind;
	if (*kind == -ENOENT && !parent_ok) {
		*verdict = refuse_absent(b, path);
		return 1;
	}
	if (*kind < 0 && *kind != -ENOENT)
		return 1;
	h = *kind >= 0 ? hidden(b, v, path, *kind) : 0;
	if (h)
		*verdict = h < 0 ? h : as_absent(b, v, i, path);
	return h != 0;
}

static int check_op(struct access_batch *b, const struct ledger_view *v,
		    size_t i)
{
	const struct ledger_op *op = &b->ops[i];
	char folder[PATH_MAX_LEN + 1];
	int parent_ok, rc, verdict;

	switch (op->kind) {
	case LEDGER_OP_MKDIR:
		return check_mkdir(b, v, i);
	case LEDGER_OP_DEPOSIT:
		rc = decider(b, v, op->path, folder, sizeof(folder));
		if (rc == 0)
			rc = need(b, v, op->path, folder, AUTH_DEPOSIT);
		return rc ? rc : seal_in(b, v, i, folder);
	case LEDGER_OP_MOVE:
		return check_move(b, v, i);
	case LEDGER_OP_UNLINK:
		if (removed_entry(b, v, i, &rc, &verdict))
			return verdict;
		parent_of(op->path, folder, sizeof(folder));
		return need(b, v, op->path, rc == 0 ? op->path : folder,
			    AUTH_ORGANIZE);
	case LEDGER_OP_CHMOD:
		/* a folder's own metadata: organize on it, as a rename of
		 * it; a path that is no folder changes nothing, and asks
		 * what an unlink of it would (hidden reads as absent) */
		if (removed_entry(b, v, i, &rc, &verdict))
			return verdict;
		parent_of(op->path, folder, sizeof(folder));
		return need(b, v, op->path, rc == 0 ? op->path : folder,
			    AUTH_ORGANIZE);
	case LEDGER_OP_RMDIR:
		if (!strcmp(op->path, "/"))
			return 0; /* the ledger refuses it */
		if (removed_entry(b, v, i, &rc, &verdict))
			return verdict;
		parent_of(op->path, folder, sizeof(folder));
		rc = need(b, v, op->path, folder, AUTH_ORGANIZE);
		if (rc == 0 && what_is(v, op->path, &parent_ok) == 0)
			rc = need(b, v, op->path, op->path, AUTH_ORGANIZE);
		if (rc == 0)
			rc = grants_follow(b, op->path, NULL);
		return rc;
	}
	return err_set(-EINVAL, "unknown operation %d", (int)op->kind);
}

int access_batch_check(void *arg, const struct ledger_view *v,
		       const struct ledger_op *op, size_t i)
{
	struct access_batch *b = arg;

	b->refused = 0;
	/* Malformed paths are the ledger's to refuse, in its words. */
	if (op->kind == LEDGER_OP_MOVE ?
		    (!op->from || !op->to || path_validate(op->from) < 0 ||
		     path_validate(op->to) < 0) :
		    (!op->path || path_validate(op->path) < 0)) {
		err_clear();
		return 0;
	}
	return check_op(b, v, i);
}

void access_batch_release(struct access_batch *b)
{
	access_grants_release(&b->grants);
}
