/*
 * Internals shared by the ledger's files: ledger.c (open, head, reading
 * folders), ledger_apply.c (batches of operations) and ledger_versions.c
 * (history walk).  Not part of the ledger's contract.
 */
#ifndef COFFRE_SERVER_LEDGER_I_H
#define COFFRE_SERVER_LEDGER_I_H

#include <pthread.h>
#include <git2.h>

#include "server/ledger.h"

#define LEDGER_REF	    "refs/heads/main"
#define LEDGER_POOL_MAX	    8
#define LEDGER_META_SEEN    32
#define LEDGER_SERVER_NAME  "coffred"
#define LEDGER_SERVER_EMAIL "coffred@localhost"

struct index;
struct index_txn;

struct ledger {
	char *path; /* the bare repository on disk; NULL when shared */
	/*
	 * A shared ledger (ledger_store.c) lives in ix, as space's rows: every
	 * write then runs in an index transaction holding the space's lock, so
	 * nodes serving one space take turns.  NULL for a repository on disk.
	 */
	struct index *ix;
	char space[65];

	/*
	 * apply_lock serializes batches.  wrepo, idx and idx_head are
	 * protected by it: idx is the mutable tree of idx_head, kept between
	 * batches so that a batch costs what it touches, not the whole tree.
	 * idx is NULL when it must be read again (after a failed batch, or
	 * when the head moved under us).
	 */
	pthread_mutex_t apply_lock;
	git_repository *wrepo;
	git_index *idx;
	git_oid idx_head;
	/*
	 * Large batches write through prepo, whose object database keeps new
	 * objects in memory (libgit2 mempack) until they go to disk as one
	 * pack: thousands of loose object files cost far more than the work
	 * itself.  Opened on the first large batch; also under apply_lock.
	 */
	git_repository *prepo;
	git_odb_backend *mempack;

	/*
	 * libgit2 objects are for one thread at a time: readers borrow a
	 * repository handle from this pool, or open one.  Protected by
	 * pool_lock.
	 */
	pthread_mutex_t pool_lock;
	git_repository *pool[LEDGER_POOL_MAX];
	size_t npool;

	/* Folder metadata blobs stating a mode, and the class each states
	 * (ledger_apply.c: entry_class); under apply_lock. */
	struct {
		git_oid id;
		enum folder_class class;
	} meta_seen[LEDGER_META_SEEN];
	size_t nmeta_seen;

	/* Batch ids seen on main (ledger_batches.c), as of the commit
	 * batches_head (another node may have moved main since); under
	 * apply_lock. */
	struct ledger_batch_seen *batches;
	int batches_loaded;
	git_oid batches_head;
	unsigned batches_walks; /* walks of main so far (ledger_batches.c) */
};

/*
 * The write side of a ledger, taken by every function that commits: in a
 * shared ledger, an index transaction holding the space's lock (joining
 * the caller's when it has one, so an access change and its ledger commit
 * land together), then apply_lock.  The index lock comes first, as it does
 * for access changes that write the ledger.  end commits (rc == 0) or
 * rolls back; on any failure the caches that follow main (idx, the batch
 * table, the write repository's objects) are dropped, since the head they
 * were built on may never have been.  Both return 0 or -errno.
 */
struct ledger_write {
	struct index_txn *tx;
};
int ledger_write_begin(struct ledger *lg, struct ledger_write *w);
int ledger_write_end(struct ledger *lg, struct ledger_write *w, int rc);

/*
 * Large writes go through lg->prepo, whose new objects stay in memory
 * (lg->mempack) until ledger_pack_write moves them to disk as one pack
 * (then git_mempack_reset).  Both under apply_lock; 0 or -errno.
 */
int ledger_pack_open(struct ledger *lg);
int ledger_pack_write(struct ledger *lg);

/* Turn a libgit2 failure into -errno with err_set() naming what failed. */
int ledger_git_err(int gitrc, const char *what);

/* Borrow / give back a repository handle for reading. */
int ledger_repo_get(struct ledger *lg, git_repository **out);
void ledger_repo_put(struct ledger *lg, git_repository *repo);

/* The commit refs/heads/main points to; -ENOENT while there is none. */
int ledger_head_oid(git_repository *repo, git_oid *out);

/* Read and parse the manifest blob id.  -EBADMSG when it is no manifest. */
int ledger_blob_manifest(git_repository *repo, const git_oid *id,
			 struct manifest *m);

/* Class of a folder tree from its ".coffre-folder" (restricted if none). */
int ledger_meta_blob_read(git_repository *repo, const git_oid *id,
			  struct folder_meta *fm);
/* A folder tree's metadata (restricted, no mode, when it has none). */
int ledger_tree_meta(git_repository *repo, const git_tree *tree,
		     struct folder_meta *out);
/* The metadata of folder ip ("" the root, "A/B") in root: -ENOENT when
 * ip is no folder there. */
int ledger_folder_meta_at(git_repository *repo, const git_tree *root,
			  const char *ip, struct folder_meta *out);
int ledger_folder_meta_blob(git_repository *repo, const struct folder_meta *fm,
			    git_oid *out);
int ledger_tree_class(git_repository *repo, const git_tree *tree,
		      enum folder_class *out);

/* Deep copy (chunks included) into an initialized dst. */
int ledger_manifest_copy(struct manifest *dst, const struct manifest *src);

/* Write the ".coffre-folder" blob for class. */
int ledger_folder_blob(git_repository *repo, enum folder_class class,
		       git_oid *out);

/*
 * Write a tree holding only the blob id under name (an empty tree when name
 * is NULL) and look it up into *out.  Returns the libgit2 code, for the
 * caller to report with ledger_git_err().
 */
int ledger_tree_single(git_repository *repo, const char *name,
		       const git_oid *id, git_tree **out);

/*
 * git_commit_create with the installed prover's signature (plain when none
 * is installed); ledger_prove.c.
 */
int ledger_commit_create(git_oid *out, git_repository *repo,
			 const git_signature *author,
			 const git_signature *committer, const char *msg,
			 const git_tree *tree, size_t nparents,
			 const git_commit **parents);

/* Add the timestamp note of commit (nothing when no prover). */
int ledger_commit_stamp(git_repository *repo, const git_oid *commit);

/*
 * Commit tree by who with msg on the side ref refname, after parent (the
 * commit last names) or as its first commit when parent is NULL; stamp it
 * and move refname with reflog message log, only if it still names last.
 * 0 or -errno; a failure to move the ref is reported as ref_fail.
 */
int ledger_side_commit(git_repository *repo, const char *refname,
		       const git_signature *who, const char *msg,
		       const git_tree *tree, git_commit *parent,
		       const git_oid *last, const char *log,
		       const char *ref_fail);

/* --- batch ids (ledger_batches.c), all under apply_lock --- */
#define LEDGER_BATCH_KEY_LEN (64 + 1 + LEDGER_BATCH_ID_MAX + 1)

/*
 * 1 and *last = the batch's last commit when login applied b already; 0
 * when not; -EEXIST when b's id was applied with another digest.
 */
int ledger_batch_find(struct ledger *lg, git_repository *repo,
		      const char *login, const struct ledger_batch *b,
		      git_oid *last);
/* Remember that b by login ends at commit last. */
int ledger_batch_note(struct ledger *lg, const char *login,
		      const struct ledger_batch *b, const git_oid *last);
void ledger_batches_free(struct ledger *lg);
/*
 * The results of the batch ending at last, read from the trailers of its
 * commits (nops of them, in order; each names its commit; deposits with
 * their manifest).  -EBADMSG when the commits do not hold nops operations.
 */
int ledger_batch_results(git_repository *repo, const git_oid *last,
			 struct ledger_result *res, size_t nops);

#endif /* COFFRE_SERVER_LEDGER_I_H */
