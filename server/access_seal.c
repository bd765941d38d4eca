/*
 * Sealed versions (access.h, docs/protocol.md#access): lifting the seal of
 * the current versions a commit takes out of confidential folders, and an
 * owner's explicit declassification of an older one.
 *
 * A version is sealed at deposit when the folder it lands in is
 * confidential at that state of the batch (access_batch.c decides it, the
 * commit's "Coffre-Class: confidential" trailer records it in the ledger,
 * the index keeps it with the version).  What lifts a seal is in the
 * ledger too: a commit whose tree files the document outside confidential
 * folders (its current version), or a "declassify" commit by an owner.
 */
#include "server/access.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/path.h"
#include "server/events.h"
#include "server/index.h"
#include "server/ledger.h"
#include "server/spaces.h"

#define SEAL_PAGE 1000

struct stat_copy {
	int is_dir;
	enum folder_class class;
	char doc_id[DOC_ID_HEX_LEN + 1];
	uint64_t version;
};

static int stat_cb(const struct ledger_entry *e, void *arg)
{
	struct stat_copy *s = arg;

	s->is_dir = e->is_dir;
	s->class = e->class;
	if (!e->is_dir && e->manifest) {
		snprintf(s->doc_id, sizeof(s->doc_id), "%s",
			 e->manifest->doc_id);
		s->version = e->manifest->version;
	}
	return 0;
}

/* access_class_fn over the head of the ledger arg: the class stated. */
static int head_own(void *arg, const char *folder, enum folder_class *own)
{
	struct stat_copy s = { 0 };
	int rc = ledger_stat(arg, folder, stat_cb, &s);

	if (rc < 0)
		return rc;
	if (!s.is_dir)
		return err_set(-ENOTDIR, "'%s' is a file", folder);
	*own = s.class;
	return 0;
}

static void parent_of(const char *path, char *out, size_t outlen)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash && slash != path ? (size_t)(slash - path) : 1;

	snprintf(out, outlen, "%.*s", (int)n, path);
}

static int open_one(struct space *sp, struct index *ix, const char *doc_id,
		    uint64_t version)
{
	int rc = index_version_unseal(ix, sp->name, doc_id, version);

	return rc < 0 ? rc : 0;
}

struct walk {
	struct space *sp;
	struct index *ix;
	struct policy_at at; /* of the folder listed */
	char **dirs;	     /* its sub-folders, to walk after the page */
	size_t ndirs;
	char last[PATH_MAX_LEN + 1];
};

static int walk_cb(const struct ledger_entry *e, void *arg)
{
	struct walk *w = arg;
	char **nd;

	snprintf(w->last, sizeof(w->last), "%s", e->name);
	if (!e->is_dir) {
		if (!e->manifest || w->at.class == FOLDER_CLASS_CONFIDENTIAL)
			return 0;
		return open_one(w->sp, w->ix, e->manifest->doc_id,
				e->manifest->version);
	}
	nd = realloc(w->dirs, (w->ndirs + 1) * sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	w->dirs = nd;
	w->dirs[w->ndirs] = strdup(e->name);
	return w->dirs[w->ndirs++] ? 0 : -ENOMEM;
}

/*
 * Every document at or below folder (effective standing at) outside
 * confidential folders.  A confidential folder's sub-tree is all
 * confidential (classes inherit), so the walk stops there.
 */
static int walk_folder(struct space *sp, struct index *ix, const char *folder,
		       const struct policy_at *at)
{
	struct walk w = { .sp = sp, .ix = ix, .at = *at };
	int more = 1, rc = 0;

	if (at->class == FOLDER_CLASS_CONFIDENTIAL)
		return 0;
	while (rc == 0 && more) {
		rc = ledger_list(sp->ledger, folder, w.last[0] ? w.last : NULL,
				 SEAL_PAGE, walk_cb, &w, &more, NULL, NULL);
		for (size_t i = 0; i < w.ndirs; i++) {
			char sub[PATH_MAX_LEN + 1];
			struct stat_copy s = { 0 };
			struct policy_at child;

			if (rc == 0 &&
			    (size_t)snprintf(sub, sizeof(sub), "%s%s%s", folder,
					     strcmp(folder, "/") ? "/" : "",
					     w.dirs[i]) < sizeof(sub))
				rc = ledger_stat(sp->ledger, sub, stat_cb, &s);
			if (rc == 0) {
				policy_descend(at, s.class, POLICY_GRANT_NONE,
					       &child);
				rc = walk_folder(sp, ix, sub, &child);
			}
			free(w.dirs[i]);
		}
		free(w.dirs);
		w.dirs = NULL;
		w.ndirs = 0;
	}
	return rc;
}

int access_seal_open(struct space *sp, struct index *ix, const char *path)
{
	char folder[PATH_MAX_LEN + 1];
	struct stat_copy s = { 0 };
	struct policy_at at;
	int rc;

	rc = index_sealed_any(ix, sp->name);
	if (rc <= 0)
		return rc;
	rc = ledger_stat(sp->ledger, path, stat_cb, &s);
	if (rc == -ENOENT) {
		err_clear();
		return 0; /* moved on again, or removed: nothing filed */
	}
	if (rc < 0)
		return rc;
	if (s.is_dir)
		snprintf(folder, sizeof(folder), "%s", path);
	else
		parent_of(path, folder, sizeof(folder));
	rc = access_place(NULL, folder, head_own, sp->ledger, &at);
	if (rc < 0)
		return rc;
	if (s.is_dir)
		return walk_folder(sp, ix, folder, &at);
	if (at.class == FOLDER_CLASS_CONFIDENTIAL || !s.doc_id[0])
		return 0;
	return open_one(sp, ix, s.doc_id, s.version);
}

struct seal_probe {
	int found, sealed;
};

static int probe_cb(const struct index_version *v, void *arg)
{
	struct seal_probe *p = arg;

	p->found = 1;
	p->sealed = v->sealed;
	return 0;
}

int access_declassify(struct space *sp, struct index *ix, const char *by,
		      const char *doc_id, uint64_t version, const char *path)
{
	struct seal_probe p = { 0 };
	struct index_event ev = { .kind = "declassify" };
	char msg[PATH_MAX_LEN + 256];
	int rc;

	rc = index_versions(ix, sp->name, doc_id, version, probe_cb, &p);
	if (rc < 0)
		return rc;
	if (!p.found)
		return err_set(-ENOENT, "no version %llu of document '%s'",
			       (unsigned long long)version, doc_id);
	if (!p.sealed)
		return 0;
	/* The ledger first: it is the authority the index is rebuilt from. */
	snprintf(
		msg, sizeof(msg),
		"declassify %s v%llu\n\nCoffre-Op: declassify %s\nCoffre-Doc: %s %llu\n",
		doc_id, (unsigned long long)version, path ? path : "-", doc_id,
		(unsigned long long)version);
	rc = access_ledger_note(sp->ledger, sp->name, by, msg);
	if (rc < 0)
		return rc;
	rc = index_version_unseal(ix, sp->name, doc_id, version);
	ev.path = path;
	ev.doc_id = doc_id;
	ev.version = version;
	if (rc >= 0)
		rc = events_append(ix, sp->name, by, (int64_t)time(NULL), &ev,
				   NULL);
	if (rc < 0) {
		log_error(
			"space '%s': declassification of %s v%llu in the ledger but not in the index: %s",
			sp->name, doc_id, (unsigned long long)version,
			err_msg());
		return rc;
	}
	return 1;
}
