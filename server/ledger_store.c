/*
 * A ledger repository whose objects and refs live in the index
 * (ledger = index in coffred.conf), so that several coffred nodes serving
 * one space share one history: a libgit2 object database backend and a
 * refdb backend over the index's ledger operations (index.h).  See
 * docs/architecture.md, "Ledger storage".
 *
 * Objects are immutable and content-addressed, so two nodes writing the
 * same one is harmless.  Refs are the only mutable state: a ref moves
 * only from the target libgit2 read (compare-and-swap in the index,
 * GIT_EMODIFIED on a miss), so a commit made on a head another node has
 * moved meanwhile is refused, never laid over it.  Reflogs are not kept:
 * the history itself is the log, signed and timestamped.
 *
 * Every call runs on the calling thread's index connection, inside the
 * transaction it has open if any: a batch applied under one transaction
 * leaves either all of its objects and its head, or nothing.
 */
#include "server/ledger_store.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/refdb_backend.h>
#include <git2/sys/refs.h>
#include <git2/sys/repository.h>

#include "common/err.h"
#include "common/namev.h"
#include "server/index.h"

#define SYMREF_PREFIX "ref: "
/* The longest ref name or target the index keeps (refs are short here). */
#define REF_MAX	      1024

/* Report the index's failure to libgit2: absent, or an error with why. */
static int git_fail(int rc, int klass)
{
	if (rc == -ENOENT)
		return GIT_ENOTFOUND;
	if (rc == -EEXIST)
		return GIT_EEXISTS;
	if (rc == -ESTALE) {
		git_error_set_str(klass, err_msg());
		return GIT_EMODIFIED;
	}
	git_error_set_str(klass, err_msg());
	return GIT_ERROR;
}

/* --- objects --- */

struct store_odb {
	git_odb_backend parent; /* first: libgit2 hands us its address */
	struct index *ix;
	char *space;
};

struct object_copy {
	git_odb_backend *backend;
	void *data; /* NULL: the header only */
	size_t len;
	git_object_t type;
	int want_data;
};

static int object_cb(int type, const void *data, size_t len, void *arg)
{
	struct object_copy *c = arg;

	c->type = (git_object_t)type;
	c->len = len;
	if (!c->want_data)
		return 0;
	/* NUL-terminated as libgit2's own backends leave it: its parsers
	 * (a commit's signature header among them) read up to a NUL. */
	c->data = git_odb_backend_data_alloc(c->backend, len + 1);
	if (!c->data)
		return -ENOMEM;
	if (len)
		memcpy(c->data, data, len);
	((char *)c->data)[len] = '\0';
	return 0;
}

static int odb_get(struct store_odb *b, const git_oid *oid,
		   struct object_copy *c)
{
	char hex[GIT_OID_HEXSZ + 1];
	int rc;

	git_oid_tostr(hex, sizeof(hex), oid);
	rc = index_ledger_object_get(b->ix, b->space, hex, object_cb, c);
	if (rc < 0 && c->data) {
		git_odb_backend_data_free(&b->parent, c->data);
		c->data = NULL;
	}
	return rc < 0 ? git_fail(rc, GIT_ERROR_ODB) : 0;
}

static int odb_read(void **data, size_t *len, git_object_t *type,
		    git_odb_backend *backend, const git_oid *oid)
{
	struct object_copy c = { .backend = backend, .want_data = 1 };
	int rc = odb_get((struct store_odb *)backend, oid, &c);

	if (rc < 0)
		return rc;
	*data = c.data;
	*len = c.len;
	*type = c.type;
	return 0;
}

static int odb_read_header(size_t *len, git_object_t *type,
			   git_odb_backend *backend, const git_oid *oid)
{
	struct object_copy c = { .backend = backend };
	int rc = odb_get((struct store_odb *)backend, oid, &c);

	if (rc < 0)
		return rc;
	*len = c.len;
	*type = c.type;
	return 0;
}

static int odb_write(git_odb_backend *backend, const git_oid *oid,
		     const void *data, size_t len, git_object_t type)
{
	struct store_odb *b = (struct store_odb *)backend;
	char hex[GIT_OID_HEXSZ + 1];
	int rc;

	git_oid_tostr(hex, sizeof(hex), oid);
	rc = index_ledger_object_put(b->ix, b->space, hex, (int)type, data,
				     len);
	return rc < 0 ? git_fail(rc, GIT_ERROR_ODB) : 0;
}

static int odb_exists(git_odb_backend *backend, const git_oid *oid)
{
	struct store_odb *b = (struct store_odb *)backend;
	char hex[GIT_OID_HEXSZ + 1];
	int rc;

	git_oid_tostr(hex, sizeof(hex), oid);
	rc = index_ledger_object_has(b->ix, b->space, hex);
	/* exists() answers 1 or 0; a failure reads as absent */
	return rc > 0;
}

struct foreach_arg {
	git_odb_foreach_cb cb;
	void *payload;
	int stop; /* what cb returned to stop the walk */
};

static int foreach_cb(const char *name, const char *value, void *arg)
{
	struct foreach_arg *f = arg;
	git_oid oid;

	(void)value;
	if (git_oid_fromstr(&oid, name) < 0)
		return err_set(-EIO, "index: a ledger object id is not hex");
	f->stop = f->cb(&oid, f->payload);
	return f->stop ? 1 : 0;
}

static int odb_foreach(git_odb_backend *backend, git_odb_foreach_cb cb,
		       void *payload)
{
	struct store_odb *b = (struct store_odb *)backend;
	struct foreach_arg f = { cb, payload, 0 };
	int rc = index_ledger_objects(b->ix, b->space, foreach_cb, &f);

	if (f.stop)
		return f.stop; /* the callback's own value, as libgit2 wants */
	return rc < 0 ? git_fail(rc, GIT_ERROR_ODB) : 0;
}

static void odb_free(git_odb_backend *backend)
{
	struct store_odb *b = (struct store_odb *)backend;

	free(b->space);
	free(b);
}

static int odb_new(git_odb_backend **out, struct index *ix, const char *space)
{
	struct store_odb *b = calloc(1, sizeof(*b));

	if (!b || !(b->space = strdup(space))) {
		free(b);
		return -ENOMEM;
	}
	git_odb_init_backend(&b->parent, GIT_ODB_BACKEND_VERSION);
	b->ix = ix;
	b->parent.read = odb_read;
	b->parent.read_header = odb_read_header;
	b->parent.write = odb_write;
	b->parent.exists = odb_exists;
	b->parent.foreach = odb_foreach;
	b->parent.free = odb_free;
	*out = &b->parent;
	return 0;
}

/* --- refs --- */

struct store_refdb {
	git_refdb_backend parent; /* first */
	struct index *ix;
	char *space;
};

/* A ref as the index keeps it: 40 hex, or "ref: NAME". */
static git_reference *ref_from(const char *name, const char *target)
{
	git_oid oid;

	if (!strncmp(target, SYMREF_PREFIX, strlen(SYMREF_PREFIX)))
		return git_reference__alloc_symbolic(
			name, target + strlen(SYMREF_PREFIX));
	if (git_oid_fromstr(&oid, target) < 0)
		return NULL;
	return git_reference__alloc(name, &oid, NULL);
}

static int refdb_exists(int *exists, git_refdb_backend *backend,
			const char *name)
{
	struct store_refdb *b = (struct store_refdb *)backend;
	char target[REF_MAX];
	int rc = index_ledger_ref_get(b->ix, b->space, name, target,
				      sizeof(target));

	*exists = rc == 0;
	return rc == 0 || rc == -ENOENT ? 0 : git_fail(rc, GIT_ERROR_REFERENCE);
}

static int refdb_lookup(git_reference **out, git_refdb_backend *backend,
			const char *name)
{
	struct store_refdb *b = (struct store_refdb *)backend;
	char target[REF_MAX];
	int rc = index_ledger_ref_get(b->ix, b->space, name, target,
				      sizeof(target));

	if (rc < 0) {
		if (rc == -ENOENT)
			git_error_set_str(GIT_ERROR_REFERENCE,
					  "reference not found");
		return git_fail(rc, GIT_ERROR_REFERENCE);
	}
	*out = ref_from(name, target);
	if (!*out) {
		git_error_set_str(GIT_ERROR_REFERENCE,
				  "a ledger ref names no object");
		return GIT_ERROR;
	}
	return 0;
}

/*
 * Every ref matching the glob, read at once: a listing is a snapshot.
 * Names and targets both fit a namev: the ledger's refs are a handful of
 * short names (refs/heads/main, refs/notes/timestamps, refs/coffre/...)
 * naming 40-hex ids or "ref: NAME"; a longer one is refused, never cut.
 */
struct ref_iter {
	git_reference_iterator parent; /* first */
	struct namev names, targets;   /* targets.n: the refs held */
	size_t at;
	const char *glob;
};

static int iter_collect(const char *name, const char *target, void *arg)
{
	struct ref_iter *it = arg;
	int rc;

	if (it->glob && fnmatch(it->glob, name, 0) != 0)
		return 0;
	if (!target || strlen(name) >= NAMEV_LEN || strlen(target) >= NAMEV_LEN)
		return err_set(-ENAMETOOLONG, "ledger ref '%.64s' too long",
			       name);
	rc = namev_push(&it->names, name);
	return rc < 0 ? rc : namev_push(&it->targets, target);
}

static int iter_next(git_reference **ref, git_reference_iterator *iter)
{
	struct ref_iter *it = (struct ref_iter *)iter;

	while (it->at < it->targets.n) {
		size_t i = it->at++;

		*ref = ref_from(it->names.v[i], it->targets.v[i]);
		if (*ref)
			return 0;
	}
	return GIT_ITEROVER;
}

static int iter_next_name(const char **name, git_reference_iterator *iter)
{
	struct ref_iter *it = (struct ref_iter *)iter;

	if (it->at >= it->targets.n)
		return GIT_ITEROVER;
	*name = it->names.v[it->at++];
	return 0;
}

static void iter_free(git_reference_iterator *iter)
{
	struct ref_iter *it = (struct ref_iter *)iter;

	namev_release(&it->names);
	namev_release(&it->targets);
	free(it);
}

static int refdb_iterator(git_reference_iterator **out,
			  git_refdb_backend *backend, const char *glob)
{
	struct store_refdb *b = (struct store_refdb *)backend;
	struct ref_iter *it = calloc(1, sizeof(*it));
	int rc;

	if (!it)
		return GIT_ERROR;
	it->parent.next = iter_next;
	it->parent.next_name = iter_next_name;
	it->parent.free = iter_free;
	it->glob = glob;
	rc = index_ledger_refs(b->ix, b->space, iter_collect, it);
	it->glob = NULL;
	if (rc < 0) {
		iter_free(&it->parent);
		return git_fail(rc, GIT_ERROR_REFERENCE);
	}
	*out = &it->parent;
	return 0;
}

/* The text the index keeps for ref's target; 0 or GIT_ERROR. */
static int target_of(const git_reference *ref, char *out, size_t len)
{
	if (git_reference_type(ref) == GIT_REFERENCE_DIRECT) {
		git_oid_tostr(out, len, git_reference_target(ref));
		return 0;
	}
	if ((size_t)snprintf(out, len, SYMREF_PREFIX "%s",
			     git_reference_symbolic_target(ref)) >= len) {
		git_error_set_str(GIT_ERROR_REFERENCE, "symbolic ref too long");
		return GIT_ERROR;
	}
	return 0;
}

static int refdb_write(git_refdb_backend *backend, const git_reference *ref,
		       int force, const git_signature *who, const char *message,
		       const git_oid *old, const char *old_target)
{
	struct store_refdb *b = (struct store_refdb *)backend;
	char target[REF_MAX + 8], was[REF_MAX + 8];
	enum index_ref_mode mode = force ? INDEX_REF_FORCE : INDEX_REF_CREATE;
	int rc;

	(void)who;
	(void)message;
	if (target_of(ref, target, sizeof(target)) < 0)
		return GIT_ERROR;
	if (old) {
		git_oid_tostr(was, sizeof(was), old);
		mode = INDEX_REF_MATCH;
	} else if (old_target) {
		snprintf(was, sizeof(was), SYMREF_PREFIX "%s", old_target);
		mode = INDEX_REF_MATCH;
	}
	rc = index_ledger_ref_set(b->ix, b->space, git_reference_name(ref),
				  target, mode,
				  mode == INDEX_REF_MATCH ? was : NULL);
	if (rc == -EEXIST)
		git_error_set_str(GIT_ERROR_REFERENCE,
				  "a reference with that name exists");
	return rc < 0 ? git_fail(rc, GIT_ERROR_REFERENCE) : 0;
}

static int refdb_del(git_refdb_backend *backend, const char *name,
		     const git_oid *old_id, const char *old_target)
{
	struct store_refdb *b = (struct store_refdb *)backend;
	char was[REF_MAX + 8];
	const char *old = NULL;
	int rc;

	if (old_id) {
		git_oid_tostr(was, sizeof(was), old_id);
		old = was;
	} else if (old_target) {
		snprintf(was, sizeof(was), SYMREF_PREFIX "%s", old_target);
		old = was;
	}
	rc = index_ledger_ref_drop(b->ix, b->space, name, old);
	return rc < 0 ? git_fail(rc, GIT_ERROR_REFERENCE) : 0;
}

static int refdb_rename(git_reference **out, git_refdb_backend *backend,
			const char *old_name, const char *new_name, int force,
			const git_signature *who, const char *message)
{
	struct store_refdb *b = (struct store_refdb *)backend;
	char target[REF_MAX + 8];
	int rc;

	(void)who;
	(void)message;
	rc = index_ledger_ref_get(b->ix, b->space, old_name, target,
				  sizeof(target));
	if (rc == 0)
		rc = index_ledger_ref_set(
			b->ix, b->space, new_name, target,
			force ? INDEX_REF_FORCE : INDEX_REF_CREATE, NULL);
	if (rc == 0)
		rc = index_ledger_ref_drop(b->ix, b->space, old_name, target);
	if (rc < 0)
		return git_fail(rc, GIT_ERROR_REFERENCE);
	*out = ref_from(new_name, target);
	return *out ? 0 : GIT_ERROR;
}

static int refdb_compress(git_refdb_backend *backend)
{
	(void)backend;
	return 0;
}

static int refdb_has_log(git_refdb_backend *backend, const char *name)
{
	(void)backend;
	(void)name;
	return 0;
}

static int refdb_ensure_log(git_refdb_backend *backend, const char *name)
{
	(void)backend;
	(void)name;
	return 0;
}

static int refdb_reflog_read(git_reflog **out, git_refdb_backend *backend,
			     const char *name)
{
	(void)out;
	(void)backend;
	(void)name;
	git_error_set_str(GIT_ERROR_REFERENCE,
			  "a ledger in the index keeps no reflog");
	return GIT_ENOTFOUND;
}

static int refdb_reflog_write(git_refdb_backend *backend, git_reflog *reflog)
{
	(void)backend;
	(void)reflog;
	return 0;
}

static int refdb_reflog_rename(git_refdb_backend *backend, const char *old_name,
			       const char *new_name)
{
	(void)backend;
	(void)old_name;
	(void)new_name;
	return 0;
}

static int refdb_reflog_delete(git_refdb_backend *backend, const char *name)
{
	(void)backend;
	(void)name;
	return 0;
}

static void refdb_free(git_refdb_backend *backend)
{
	struct store_refdb *b = (struct store_refdb *)backend;

	free(b->space);
	free(b);
}

static int refdb_new(git_refdb_backend **out, struct index *ix,
		     const char *space)
{
	struct store_refdb *b = calloc(1, sizeof(*b));

	if (!b || !(b->space = strdup(space))) {
		free(b);
		return -ENOMEM;
	}
	git_refdb_init_backend(&b->parent, GIT_REFDB_BACKEND_VERSION);
	b->ix = ix;
	b->parent.exists = refdb_exists;
	b->parent.lookup = refdb_lookup;
	b->parent.iterator = refdb_iterator;
	b->parent.write = refdb_write;
	b->parent.rename = refdb_rename;
	b->parent.del = refdb_del;
	b->parent.compress = refdb_compress;
	b->parent.has_log = refdb_has_log;
	b->parent.ensure_log = refdb_ensure_log;
	b->parent.reflog_read = refdb_reflog_read;
	b->parent.reflog_write = refdb_reflog_write;
	b->parent.reflog_rename = refdb_reflog_rename;
	b->parent.reflog_delete = refdb_reflog_delete;
	b->parent.free = refdb_free;
	*out = &b->parent;
	return 0;
}

/* --- the repository --- */

static int repo_fail(int rc, const char *what)
{
	const git_error *ge = git_error_last();

	return err_set(rc == -ENOMEM ? -ENOMEM : -EIO, "%s: %s", what,
		       ge && ge->message ? ge->message : "unknown error");
}

int ledger_store_repo_open(git_repository **out, struct index *ix,
			   const char *space, int create)
{
	git_odb_backend *ob = NULL;
	git_refdb_backend *rb = NULL;
	git_repository *repo = NULL;
	git_refdb *refdb = NULL;
	git_config *cfg = NULL;
	git_odb *odb = NULL;
	char target[REF_MAX];
	int rc;

	*out = NULL;
	rc = index_ledger_ref_get(ix, space, "HEAD", target, sizeof(target));
	if (rc == -ENOENT && create)
		rc = index_ledger_ref_set(ix, space, "HEAD",
					  SYMREF_PREFIX "refs/heads/main",
					  INDEX_REF_FORCE, NULL);
	if (rc == -ENOENT)
		return err_set(-ENOENT, "no ledger for space '%s' in the index",
			       space);
	if (rc < 0)
		return rc;
	if (git_repository_new(&repo) < 0)
		return repo_fail(-EIO, "cannot make a ledger repository");
	rc = odb_new(&ob, ix, space);
	if (rc == 0)
		rc = refdb_new(&rb, ix, space);
	if (rc < 0)
		goto fail;
	/* Each step hands its backend to libgit2, which frees it from then on. */
	if (git_odb_new(&odb) < 0 || git_odb_add_backend(odb, ob, 1) < 0)
		goto libgit2_fail;
	ob = NULL;
	if (git_repository_set_odb(repo, odb) < 0 ||
	    git_refdb_new(&refdb, repo) < 0 ||
	    git_refdb_set_backend(refdb, rb) < 0)
		goto libgit2_fail;
	rb = NULL;
	/* No configuration is read from anywhere: an empty one, in memory. */
	if (git_repository_set_refdb(repo, refdb) < 0 ||
	    git_config_new(&cfg) < 0 ||
	    git_repository_set_config(repo, cfg) < 0 ||
	    git_repository_set_bare(repo) < 0)
		goto libgit2_fail;
	git_config_free(cfg);
	git_refdb_free(refdb);
	git_odb_free(odb);
	*out = repo;
	return 0;
libgit2_fail:
	rc = repo_fail(-EIO, "cannot make a ledger repository");
fail:
	if (ob)
		ob->free(ob);
	if (rb)
		rb->free(rb);
	git_config_free(cfg);
	git_refdb_free(refdb);
	git_odb_free(odb);
	git_repository_free(repo);
	return rc;
}
