/*
 * The ledger of one space (libgit2): opening or creating the bare
 * repository, its head, and reading folders at the head (ledger_list,
 * ledger_stat).  Batches of operations live in ledger_apply.c and the
 * history walk in ledger_versions.c; what they share is in ledger_i.h.
 *
 * libgit2 objects are for one thread at a time, so readers borrow a
 * repository handle from a small pool while ledger_apply uses its own under
 * the apply lock.  A reader resolves the head once and reads everything
 * from that commit, so it sees one consistent state.
 */
#include "server/ledger.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/manifest.h"
#include "server/index.h"
#include "server/ledger_i.h"
#include "server/ledger_store.h"

int ledger_git_err(int gitrc, const char *what)
{
	int saved = errno;
	const git_error *ge = git_error_last();
	const char *msg = ge && ge->message ? ge->message : "unknown error";
	int rc;

	/*
	 * A full disk must reach the client as such (507), not as -EIO.
	 * libgit2 may clean up after the failing call, so errno is not
	 * always left as it was: its message carries strerror() too.
	 */
	if (saved == ENOSPC || saved == EDQUOT ||
	    (ge && ge->klass == GIT_ERROR_OS &&
	     (strstr(msg, strerror(ENOSPC)) || strstr(msg, strerror(EDQUOT)))))
		return err_set(-ENOSPC, "%s: %s", what, msg);
	switch (gitrc) {
	case GIT_ENOTFOUND:
		rc = -ENOENT;
		break;
	case GIT_EEXISTS:
		rc = -EEXIST;
		break;
	case GIT_EINVALIDSPEC:
	case GIT_EINVALID:
		rc = -EINVAL;
		break;
	default:
		rc = -EIO;
		break;
	}
	return err_set(rc, "%s: %s", what, msg);
}

int ledger_head_oid(git_repository *repo, git_oid *out)
{
	int rc = git_reference_name_to_id(out, repo, LEDGER_REF);

	if (rc == GIT_ENOTFOUND)
		return err_set(-ENOENT, "the ledger has no commit yet");
	if (rc < 0)
		return ledger_git_err(rc, "cannot read the ledger head");
	return 0;
}

int ledger_manifest_copy(struct manifest *dst, const struct manifest *src)
{
	return manifest_copy(dst, src);
}

int ledger_blob_manifest(git_repository *repo, const git_oid *id,
			 struct manifest *m)
{
	git_blob *blob;
	int rc;

	rc = git_blob_lookup(&blob, repo, id);
	if (rc < 0)
		return ledger_git_err(rc, "cannot read a manifest");
	rc = manifest_parse(m, git_blob_rawcontent(blob),
			    (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	return rc;
}

/* The metadata a ".coffre-folder" blob states. */
int ledger_meta_blob_read(git_repository *repo, const git_oid *id,
			  struct folder_meta *fm)
{
	git_blob *blob;
	int rc;

	rc = git_blob_lookup(&blob, repo, id);
	if (rc < 0)
		return ledger_git_err(rc, "cannot read folder metadata");
	rc = folder_meta_parse(fm, git_blob_rawcontent(blob),
			       (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	return rc;
}

int ledger_tree_meta(git_repository *repo, const git_tree *tree,
		     struct folder_meta *out)
{
	const git_tree_entry *te;

	*out = (struct folder_meta){ .class = FOLDER_CLASS_RESTRICTED };
	te = git_tree_entry_byname(tree, FOLDER_META_NAME);
	if (!te || git_tree_entry_type(te) != GIT_OBJECT_BLOB)
		return 0;
	return ledger_meta_blob_read(repo, git_tree_entry_id(te), out);
}

int ledger_tree_class(git_repository *repo, const git_tree *tree,
		      enum folder_class *out)
{
	struct folder_meta fm;
	int rc = ledger_tree_meta(repo, tree, &fm);

	*out = rc < 0 ? FOLDER_CLASS_RESTRICTED : fm.class;
	return rc;
}

int ledger_folder_meta_at(git_repository *repo, const git_tree *root,
			  const char *ip, struct folder_meta *out)
{
	git_tree_entry *te = NULL;
	char *meta = NULL;
	int rc;

	*out = (struct folder_meta){ .class = FOLDER_CLASS_RESTRICTED };
	if (asprintf(&meta, "%s%s%s", ip, *ip ? "/" : "", FOLDER_META_NAME) < 0)
		return -ENOMEM;
	rc = git_tree_entry_bypath(&te, root, meta);
	free(meta);
	if (rc == GIT_ENOTFOUND)
		return err_set(-ENOENT, "no such folder '/%s'", ip);
	if (rc < 0)
		return ledger_git_err(rc, "cannot look up a folder");
	rc = git_tree_entry_type(te) == GIT_OBJECT_BLOB ?
		     ledger_meta_blob_read(repo, git_tree_entry_id(te), out) :
		     err_set(-ENOENT, "no such folder '/%s'", ip);
	git_tree_entry_free(te);
	return rc;
}

int ledger_folder_meta_blob(git_repository *repo, const struct folder_meta *fm,
			    git_oid *out)
{
	struct buf b;
	int rc;

	buf_init(&b, 256);
	rc = folder_meta_format(fm, &b);
	if (rc == 0) {
		rc = git_blob_create_from_buffer(out, repo, b.data, b.len);
		if (rc < 0)
			rc = ledger_git_err(rc, "cannot write folder metadata");
	}
	buf_release(&b);
	return rc;
}

int ledger_folder_blob(git_repository *repo, enum folder_class class,
		       git_oid *out)
{
	struct folder_meta fm = { .class = class };

	return ledger_folder_meta_blob(repo, &fm, out);
}

int ledger_tree_single(git_repository *repo, const char *name,
		       const git_oid *id, git_tree **out)
{
	git_treebuilder *tb = NULL;
	git_oid tree_id;
	int rc;

	rc = git_treebuilder_new(&tb, repo, NULL);
	if (rc == 0 && name)
		rc = git_treebuilder_insert(NULL, tb, name, id,
					    GIT_FILEMODE_BLOB);
	if (rc == 0)
		rc = git_treebuilder_write(&tree_id, tb);
	git_treebuilder_free(tb);
	if (rc == 0)
		rc = git_tree_lookup(out, repo, &tree_id);
	return rc;
}

int ledger_side_commit(git_repository *repo, const char *refname,
		       const git_signature *who, const char *msg,
		       const git_tree *tree, git_commit *parent,
		       const git_oid *last, const char *log,
		       const char *ref_fail)
{
	git_reference *ref = NULL;
	git_oid commit;
	int rc;

	rc = ledger_commit_create(&commit, repo, who, who, msg, tree,
				  parent ? 1 : 0, (const git_commit **)&parent);
	if (rc == 0)
		rc = ledger_commit_stamp(repo, &commit);
	if (rc < 0)
		return rc;
	rc = parent ?
		     git_reference_create_matching(&ref, repo, refname, &commit,
						   1, last, log) :
		     git_reference_create(&ref, repo, refname, &commit, 0, log);
	git_reference_free(ref);
	return rc < 0 ? ledger_git_err(rc, ref_fail) : 0;
}

/* --- repository handles --- */

int ledger_repo_open(git_repository **out, const char *repo_path)
{
	int rc = git_repository_open_bare(out, repo_path);

	if (rc == GIT_ENOTFOUND)
		return err_set(-ENOENT, "no ledger at '%s'", repo_path);
	if (rc < 0)
		return ledger_git_err(rc, "cannot open the ledger");
	return 0;
}

int ledger_repo_open_at(git_repository **out, const struct ledger_where *w)
{
	if (w->path)
		return ledger_repo_open(out, w->path);
	return ledger_store_repo_open(out, w->ix, w->space, 0);
}

/* Where lg lives, for opening another handle on it. */
static struct ledger_where where_of(const struct ledger *lg)
{
	return (struct ledger_where){ .path = lg->path,
				      .ix = lg->ix,
				      .space = lg->space };
}

int ledger_is_shared(const struct ledger *lg)
{
	return lg->ix != NULL;
}

int ledger_repo_get(struct ledger *lg, git_repository **out)
{
	struct ledger_where w = where_of(lg);

	pthread_mutex_lock(&lg->pool_lock);
	if (lg->npool > 0) {
		*out = lg->pool[--lg->npool];
		pthread_mutex_unlock(&lg->pool_lock);
		return 0;
	}
	pthread_mutex_unlock(&lg->pool_lock);
	return ledger_repo_open_at(out, &w);
}

/* --- the write side --- */

int ledger_write_begin(struct ledger *lg, struct ledger_write *w)
{
	struct ledger_where where = where_of(lg);
	int rc = 0;

	w->tx = NULL;
	if (lg->ix) {
		rc = index_begin_locked(lg->ix, lg->space, &w->tx);
		if (rc < 0)
			return rc;
	}
	pthread_mutex_lock(&lg->apply_lock);
	/* Dropped by a failed write: its object cache may name objects a
	 * rollback took away. */
	if (!lg->wrepo)
		rc = ledger_repo_open_at(&lg->wrepo, &where);
	if (rc < 0) {
		pthread_mutex_unlock(&lg->apply_lock);
		if (lg->ix)
			index_rollback(lg->ix, w->tx);
	}
	return rc;
}

/* Under apply_lock: drop what follows main (ledger_write_end). */
static void forget_locked(struct ledger *lg)
{
	git_index_free(lg->idx);
	lg->idx = NULL;
	ledger_batches_free(lg);
	lg->batches_loaded = 0;
	/* reopened by the next write; only a shared ledger may lose it */
	if (lg->ix) {
		git_repository_free(lg->wrepo);
		lg->wrepo = NULL;
	}
}

int ledger_write_end(struct ledger *lg, struct ledger_write *w, int rc)
{
	if (lg->ix) {
		/* the other nodes' change feeds hear of it at the commit */
		if (rc == 0)
			rc = index_notify(lg->ix, lg->space);
		if (rc == 0)
			rc = index_commit(lg->ix, w->tx);
		else
			index_rollback(lg->ix, w->tx);
		w->tx = NULL;
	}
	if (rc < 0 && lg->ix)
		forget_locked(lg);
	pthread_mutex_unlock(&lg->apply_lock);
	return rc;
}

void ledger_forget(struct ledger *lg)
{
	pthread_mutex_lock(&lg->apply_lock);
	forget_locked(lg);
	pthread_mutex_unlock(&lg->apply_lock);
}

void ledger_repo_put(struct ledger *lg, git_repository *repo)
{
	pthread_mutex_lock(&lg->pool_lock);
	if (lg->npool < LEDGER_POOL_MAX) {
		lg->pool[lg->npool++] = repo;
		repo = NULL;
	}
	pthread_mutex_unlock(&lg->pool_lock);
	git_repository_free(repo);
}

/* --- opening --- */

/* 1 if path is an empty directory, 0 if it is not, -errno on error. */
static int dir_is_empty(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int empty = 1;

	if (!d)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

/* The first commit: a root folder holding only its metadata. */
static int ledger_create_first(git_repository *repo)
{
	git_signature *sig = NULL;
	git_reference *ref = NULL;
	git_tree *tree = NULL;
	git_oid blob, commit;
	int rc;

	rc = ledger_folder_blob(repo, FOLDER_CLASS_RESTRICTED, &blob);
	if (rc < 0)
		return rc;
	rc = ledger_tree_single(repo, FOLDER_META_NAME, &blob, &tree);
	if (rc == 0)
		rc = git_signature_now(&sig, LEDGER_SERVER_NAME,
				       LEDGER_SERVER_EMAIL);
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot create the first commit");
		goto out;
	}
	/* Signed and stamped like every later commit. */
	rc = ledger_commit_create(&commit, repo, sig, sig, "create space\n",
				  tree, 0, NULL);
	if (rc == 0)
		rc = ledger_commit_stamp(repo, &commit);
	if (rc < 0)
		goto out;
	rc = git_reference_create(&ref, repo, LEDGER_REF, &commit, 0,
				  "create space");
	if (rc < 0)
		rc = ledger_git_err(rc, "cannot set the ledger head");
out:
	git_reference_free(ref);
	git_signature_free(sig);
	git_tree_free(tree);
	return rc;
}

static int ledger_init_repo(git_repository **out, const char *path)
{
	git_repository_init_options opts;
	struct stat st;
	int rc;

	if (stat(path, &st) == 0) {
		rc = dir_is_empty(path);
		if (rc < 0)
			return err_set(rc, "cannot read '%s': %s", path,
				       strerror(-rc));
		if (rc == 0)
			return err_set(-EEXIST,
				       "'%s' exists and is not a ledger", path);
	}
	git_repository_init_options_init(&opts,
					 GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
		     GIT_REPOSITORY_INIT_MKDIR;
	opts.mode = GIT_REPOSITORY_INIT_SHARED_UMASK;
	opts.initial_head = "main";
	opts.description = "coffre ledger";
	rc = git_repository_init_ext(out, path, &opts);
	if (rc < 0)
		return ledger_git_err(rc, "cannot create the ledger");
	return 0;
}

static int is_lock_name(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && !strcmp(name + n - 5, ".lock");
}

/* Remove *.lock below dir (recursively); count them in *removed. */
static int clear_locks_below(const char *dir, int *removed)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 :
					 err_set(-errno, "cannot read '%s': %s",
						 dir, strerror(errno));
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     de->d_name) >= sizeof(path))
			continue;
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			rc = clear_locks_below(path, removed);
		else if (S_ISREG(st.st_mode) && is_lock_name(de->d_name)) {
			if (unlink(path) < 0 && errno != ENOENT)
				rc = err_set(-errno, "cannot remove '%s': %s",
					     path, strerror(errno));
			else
				(*removed)++;
		}
	}
	closedir(d);
	return rc;
}

int ledger_clear_stale_locks(const char *repo_path)
{
	static const char *const top[] = { "packed-refs.lock", "HEAD.lock",
					   "config.lock", "index.lock" };
	char path[PATH_MAX];
	int removed = 0, rc;

	for (size_t i = 0; i < ARRAY_SIZE(top); i++) {
		snprintf(path, sizeof(path), "%s/%s", repo_path, top[i]);
		if (unlink(path) == 0)
			removed++;
		else if (errno != ENOENT)
			return err_set(-errno, "cannot remove '%s': %s", path,
				       strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/refs", repo_path);
	rc = clear_locks_below(path, &removed);
	return rc < 0 ? rc : removed;
}

/* The first commit of a new ledger, unless another writer made it. */
static int create_first_once(struct ledger *lg)
{
	struct ledger_write w;
	git_oid head;
	int rc = ledger_write_begin(lg, &w);

	if (rc < 0)
		return rc;
	rc = ledger_head_oid(lg->wrepo, &head);
	if (rc == -ENOENT)
		rc = ledger_create_first(lg->wrepo);
	return ledger_write_end(lg, &w, rc);
}

int ledger_open_at(struct ledger **out, const struct ledger_where *w,
		   int create)
{
	struct ledger *lg;
	git_oid head;
	int rc;

	*out = NULL;
	if (!w->path &&
	    (!w->ix || !w->space || strlen(w->space) >= sizeof(lg->space)))
		return err_set(-EINVAL, "a shared ledger needs its space");
	lg = calloc(1, sizeof(*lg));
	if (!lg)
		return -ENOMEM;
	git_libgit2_init();
	/*
	 * Objects, packs and refs are fsynced (with their directories) as
	 * libgit2 writes them, so a head never names an object the disk
	 * may lose.  Process-wide, and only writes pay for it.
	 */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
	pthread_mutex_init(&lg->apply_lock, NULL);
	pthread_mutex_init(&lg->pool_lock, NULL);
	if (w->path) {
		lg->path = strdup(w->path);
		if (!lg->path) {
			rc = -ENOMEM;
			goto fail;
		}
		rc = ledger_repo_open(&lg->wrepo, w->path);
		if (rc == -ENOENT && create)
			rc = ledger_init_repo(&lg->wrepo, w->path);
	} else {
		lg->ix = w->ix;
		snprintf(lg->space, sizeof(lg->space), "%s", w->space);
		rc = ledger_store_repo_open(&lg->wrepo, w->ix, w->space,
					    create);
	}
	if (rc < 0)
		goto fail;
	rc = ledger_head_oid(lg->wrepo, &head);
	/* Also finishes a creation that stopped before its first commit. */
	if (rc == -ENOENT && create)
		rc = create_first_once(lg);
	else if (rc == -ENOENT)
		rc = 0;
	if (rc < 0)
		goto fail;
	err_clear();
	*out = lg;
	return 0;
fail:
	ledger_free(lg);
	return rc;
}

int ledger_open(struct ledger **out, const char *repo_path, int create)
{
	struct ledger_where w = { .path = repo_path };

	return ledger_open_at(out, &w, create);
}

void ledger_free(struct ledger *lg)
{
	if (!lg)
		return;
	while (lg->npool > 0)
		git_repository_free(lg->pool[--lg->npool]);
	git_index_free(lg->idx);
	ledger_batches_free(lg);
	git_repository_free(lg->prepo); /* frees the mempack too */
	git_repository_free(lg->wrepo);
	pthread_mutex_destroy(&lg->apply_lock);
	pthread_mutex_destroy(&lg->pool_lock);
	free(lg->path);
	free(lg);
	git_libgit2_shutdown();
}

int ledger_head(struct ledger *lg, char out[GIT_OID_HEX_LEN + 1])
{
	git_repository *repo;
	git_oid oid;
	int rc;

	rc = ledger_repo_get(lg, &repo);
	if (rc < 0)
		return rc;
	rc = ledger_head_oid(repo, &oid);
	if (rc == 0)
		git_oid_tostr(out, GIT_OID_HEX_LEN + 1, &oid);
	ledger_repo_put(lg, repo);
	return rc;
}

/* --- reading folders --- */

/* The root tree at the head, and the head as hex when asked. */
static int head_tree(git_repository *repo, git_tree **out,
		     char head[GIT_OID_HEX_LEN + 1])
{
	git_commit *commit;
	git_oid oid;
	int rc;

	rc = ledger_head_oid(repo, &oid);
	if (rc < 0)
		return rc;
	rc = git_commit_lookup(&commit, repo, &oid);
	if (rc < 0)
		return ledger_git_err(rc, "cannot read the head commit");
	rc = git_commit_tree(out, commit);
	git_commit_free(commit);
	if (rc < 0)
		return ledger_git_err(rc, "cannot read the head tree");
	if (head)
		git_oid_tostr(head, GIT_OID_HEX_LEN + 1, &oid);
	return 0;
}

/*
 * The tree entry for a path below the root ("/A/b"), or -ENOENT.  A path
 * naming the folder metadata is no entry at all.
 */
static int path_entry(git_tree *root, const char *path, git_tree_entry **out)
{
	const char *last = strrchr(path, '/');
	int rc;

	if (strcmp(last + 1, FOLDER_META_NAME) == 0)
		return err_set(-ENOENT, "no such file or folder '%s'", path);
	rc = git_tree_entry_bypath(out, root, path + 1);
	if (rc == GIT_ENOTFOUND)
		return err_set(-ENOENT, "no such file or folder '%s'", path);
	if (rc < 0)
		return ledger_git_err(rc, "cannot look up a path");
	return 0;
}

/* Fill e for one tree entry and call cb; kind_only: no manifest read. */
static int emit_entry(git_repository *repo, const git_tree_entry *te,
		      const char *name, int kind_only, ledger_list_cb cb,
		      void *arg)
{
	struct ledger_entry e = { .name = name };
	struct folder_meta fm;
	struct manifest m;
	git_tree *sub;
	int rc;

	manifest_init(&m);
	if (git_tree_entry_type(te) == GIT_OBJECT_TREE) {
		e.is_dir = 1;
		rc = git_tree_lookup(&sub, repo, git_tree_entry_id(te));
		if (rc < 0)
			return ledger_git_err(rc, "cannot read a folder");
		rc = ledger_tree_meta(repo, sub, &fm);
		git_tree_free(sub);
		if (rc < 0)
			return rc;
		e.class = fm.class;
		e.has_mode = fm.has_mode;
		e.mode = fm.mode;
	} else if (!kind_only) {
		rc = ledger_blob_manifest(repo, git_tree_entry_id(te), &m);
		if (rc < 0)
			return rc;
		e.manifest = &m;
	}
	rc = cb(&e, arg);
	manifest_release(&m);
	return rc;
}

static int entry_name_cmp(const void *a, const void *b)
{
	const git_tree_entry *const *x = a, *const *y = b;

	return strcmp(git_tree_entry_name(*x), git_tree_entry_name(*y));
}

static int is_listed(const git_tree_entry *te)
{
	git_object_t t = git_tree_entry_type(te);

	if (t == GIT_OBJECT_TREE)
		return 1;
	/* ".coffre-access" only ever sits at the root (server/access.h). */
	return t == GIT_OBJECT_BLOB &&
	       strcmp(git_tree_entry_name(te), FOLDER_META_NAME) != 0 &&
	       strcmp(git_tree_entry_name(te), ".coffre-access") != 0;
}

/*
 * Git sorts a tree's entries with folders compared as "name/", so "a.b"
 * comes before the folder "a" there.  The protocol lists by plain name,
 * hence the sort of the entry pointers (the tree keeps the entries).
 */
static int list_tree(git_repository *repo, git_tree *dir, const char *after,
		     size_t limit, ledger_list_cb cb, void *arg, int *more)
{
	size_t n = git_tree_entrycount(dir), k = 0, lo, hi, i, emitted = 0;
	const git_tree_entry **v;
	int rc = 0;

	v = malloc((n ? n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(dir, i);

		if (is_listed(te))
			v[k++] = te;
	}
	qsort(v, k, sizeof(*v), entry_name_cmp);
	lo = 0;
	hi = k;
	while (after && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(git_tree_entry_name(v[mid]), after) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (more)
		*more = 0;
	for (i = lo; i < k; i++) {
		if (emitted == limit) {
			if (more)
				*more = 1;
			break;
		}
		rc = emit_entry(repo, v[i], git_tree_entry_name(v[i]), 0, cb,
				arg);
		if (rc != 0)
			break;
		emitted++;
	}
	free(v);
	return rc;
}

int ledger_list(struct ledger *lg, const char *path, const char *after,
		size_t limit, ledger_list_cb cb, void *arg, int *more,
		struct folder_meta *folder_meta, char head[GIT_OID_HEX_LEN + 1])
{
	git_tree_entry *te = NULL;
	git_repository *repo;
	git_tree *root = NULL, *dir = NULL;
	struct folder_meta fm;
	int rc;

	if (more)
		*more = 0;
	if (!path || path[0] != '/')
		return err_set(-EINVAL, "bad path '%s'", path ? path : "");
	rc = ledger_repo_get(lg, &repo);
	if (rc < 0)
		return rc;
	rc = head_tree(repo, &root, head);
	if (rc < 0)
		goto out;
	if (strcmp(path, "/") == 0) {
		dir = root;
		root = NULL;
	} else {
		rc = path_entry(root, path, &te);
		if (rc < 0)
			goto out;
		if (git_tree_entry_type(te) != GIT_OBJECT_TREE) {
			rc = err_set(-ENOTDIR, "'%s' is a file", path);
			goto out;
		}
		rc = git_tree_lookup(&dir, repo, git_tree_entry_id(te));
		if (rc < 0) {
			rc = ledger_git_err(rc, "cannot read a folder");
			goto out;
		}
	}
	rc = ledger_tree_meta(repo, dir, &fm);
	if (rc < 0)
		goto out;
	if (folder_meta)
		*folder_meta = fm;
	rc = list_tree(repo, dir, after, limit, cb, arg, more);
out:
	git_tree_entry_free(te);
	git_tree_free(dir);
	git_tree_free(root);
	ledger_repo_put(lg, repo);
	return rc;
}

static int stat_at(struct ledger *lg, const char *path, int kind_only,
		   ledger_list_cb cb, void *arg)
{
	git_tree_entry *te = NULL;
	git_repository *repo;
	git_tree *root = NULL;
	int rc;

	if (!path || path[0] != '/')
		return err_set(-EINVAL, "bad path '%s'", path ? path : "");
	rc = ledger_repo_get(lg, &repo);
	if (rc < 0)
		return rc;
	rc = head_tree(repo, &root, NULL);
	if (rc < 0)
		goto out;
	if (strcmp(path, "/") == 0) {
		struct ledger_entry e = { .name = "", .is_dir = 1 };

		rc = ledger_tree_class(repo, root, &e.class);
		if (rc == 0)
			rc = cb(&e, arg);
		goto out;
	}
	rc = path_entry(root, path, &te);
	if (rc < 0)
		goto out;
	if (git_tree_entry_type(te) != GIT_OBJECT_TREE &&
	    git_tree_entry_type(te) != GIT_OBJECT_BLOB) {
		rc = err_set(-ENOENT, "no such file or folder '%s'", path);
		goto out;
	}
	rc = emit_entry(repo, te, strrchr(path, '/') + 1, kind_only, cb, arg);
out:
	git_tree_entry_free(te);
	git_tree_free(root);
	ledger_repo_put(lg, repo);
	return rc;
}

int ledger_stat(struct ledger *lg, const char *path, ledger_list_cb cb,
		void *arg)
{
	return stat_at(lg, path, 0, cb, arg);
}

int ledger_stat_kind(struct ledger *lg, const char *path, ledger_list_cb cb,
		     void *arg)
{
	return stat_at(lg, path, 1, cb, arg);
}

void ledger_op_release(struct ledger_op *op)
{
	if (!op)
		return;
	free(op->path);
	free(op->from);
	free(op->to);
	op->path = op->from = op->to = NULL;
	manifest_release(&op->content);
}

void ledger_result_release(struct ledger_result *r)
{
	if (!r)
		return;
	manifest_release(&r->manifest);
}
