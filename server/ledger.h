/*
 * The ledger of one space: a bare git repository (libgit2) holding trees,
 * manifests and commits only -- bulk bytes never pass through libgit2.
 *
 * Layout: refs/heads/main; each folder is a tree with a ".coffre-folder"
 * blob (folder metadata, see common/manifest.h) and one blob per document,
 * the manifest of its current version.  Each applied batch is one commit
 * whose author is the depositor; see docs/protocol.md for the rules of each
 * operation and the message trailers.  Stock `git fsck --strict` passes.
 *
 * Thread-safety: a struct ledger may be used from several threads; batches
 * are serialized by an internal mutex, readers see the head they started on.
 */
#ifndef COFFRE_SERVER_LEDGER_H
#define COFFRE_SERVER_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include "common/manifest.h"

struct ledger;
struct chunkstore;

#define GIT_OID_HEX_LEN 40

enum ledger_op_kind {
	LEDGER_OP_MKDIR,
	LEDGER_OP_DEPOSIT,
	LEDGER_OP_MOVE,
	LEDGER_OP_UNLINK,
	LEDGER_OP_RMDIR,
	LEDGER_OP_CHMOD, /* a folder's mode bits (a file's go with deposits) */
};

struct ledger_op {
	enum ledger_op_kind kind;
	char *path;		 /* all but MOVE; validated path */
	char *from, *to;	 /* MOVE */
	enum folder_class class; /* MKDIR */
	int has_mode;		 /* MKDIR: a mode was given; CHMOD: always */
	uint32_t mode;		 /* MKDIR, CHMOD: permission bits */
	/* DEPOSIT: size, sha256 and chunks of the content (doc_id, version,
	 * depositor and time are filled in by ledger_apply). */
	struct manifest content;
	uint64_t base_version; /* DEPOSIT: 0 when not given */
	/* DEPOSIT, MOVE: a version made lands in a confidential folder (set
	 * by the batch check; the trailer "Coffre-Class: confidential"). */
	int sealed;
};

struct ledger_result {
	enum ledger_op_kind kind;
	char doc_id[DOC_ID_HEX_LEN + 1]; /* DEPOSIT, MOVE of a file */
	uint64_t version;		 /* DEPOSIT, MOVE onto a document */
	int concurrent;			 /* DEPOSIT: base_version != current */
	struct manifest manifest; /* new manifest (DEPOSIT, MOVE onto doc) */
	/* The commit whose tree files this op's result: the batch's last
	 * unless a later op of it replaced or removed that manifest. */
	char commit[GIT_OID_HEX_LEN + 1];
	int sealed; /* the version made is sealed (a replay reads it back) */
};

struct ledger_entry {
	const char *name;
	int is_dir;
	enum folder_class class; /* dirs: effective class */
	int has_mode;		 /* dirs: a mode other than 0755 */
	uint32_t mode;
	const struct manifest *manifest; /* files; chunks included */
};

/*
 * Where a space's ledger lives: the bare repository at path, or, path
 * NULL, space's rows in the index ix (coffred.conf's ledger = index: the
 * objects and refs every node serving the space shares, ledger_store.h).
 * ix must outlive the ledger.
 */
struct index;
struct ledger_where {
	const char *path;
	struct index *ix;
	const char *space;
};

/* Open (create = 1: create the ledger, with its first commit, when
 * missing). */
int ledger_open_at(struct ledger **out, const struct ledger_where *w,
		   int create);
/* The same for the repository on disk at repo_path. */
int ledger_open(struct ledger **out, const char *repo_path, int create);
/* 1 when lg lives in the index (several nodes may write it), else 0. */
int ledger_is_shared(const struct ledger *lg);

/*
 * Open the git repository of a space's ledger: the one place a ledger
 * repository is opened (the ledger's writer, its pool of readers, its pack
 * writer and fsck all come here), so that where the repository's objects
 * and refs live is decided once.  -ENOENT (message set) if there is no
 * ledger there, a libgit2 error mapped by ledger_git_err else.
 */
struct git_repository;
int ledger_repo_open_at(struct git_repository **out,
			const struct ledger_where *w);
int ledger_repo_open(struct git_repository **out, const char *repo_path);

/*
 * Copy the ledger at w, as it is now, to a new bare repository dir (it
 * must not exist): every object, every ref, HEAD.  For stock git on a
 * ledger kept in the index (ledger_clone.c); nothing goes back.  Removed
 * again when the copy fails.
 */
int ledger_clone(const struct ledger_where *w, const char *dir);

/*
 * Remove the lock files (any *.lock under refs/, packed-refs.lock, HEAD.lock,
 * config.lock, index.lock) that a writer killed mid-commit leaves behind in
 * the repository at repo_path; git and libgit2 refuse to move a ref while
 * its lock exists, so one kill would stall the space for good.  Only the
 * process that owns every writer of the repository may call this (coffred
 * serve, holding DATADIR/coffred.lock).  Returns how many were removed, or
 * -errno.
 */
int ledger_clear_stale_locks(const char *repo_path);
void ledger_free(struct ledger *lg);
/*
 * Forget what lg keeps of main between writes (the head tree, the batch
 * table, the write repository's objects): for a caller whose index
 * transaction, joined by a shared ledger's write, was rolled back.
 */
void ledger_forget(struct ledger *lg);

/* Current head commit as hex; -ENOENT while the ledger has no commit. */
int ledger_head(struct ledger *lg, char out[GIT_OID_HEX_LEN + 1]);

/*
 * Apply a batch atomically (see docs/protocol.md).  Deposits are checked
 * against cs: every chunk held, sizes adding up, SHA-256 of the content.
 * On success writes one commit (author login <login@SPACE.coffre>, message
 * with trailers naming client), or a chain of them when an op replaces or
 * removes a manifest an earlier op of the batch wrote (so every version's
 * manifest is in some commit's tree); fills results[0..nops) (each naming
 * its commit) and head (the last commit).  On error
 * nothing changes; *failed_op is the index of the failing op, the rc is
 * -ENOENT / -EEXIST / -ENOTEMPTY / -ENOTDIR / -EISDIR / -EINVAL (conflict-ish
 * -- see the mapping in http_api.c), -ENODATA (chunk missing), -EBADMSG
 * (hash/size mismatch) or -EIO, with err_set() telling why.
 */
int ledger_apply(struct ledger *lg, struct chunkstore *cs, const char *space,
		 const char *login, const char *client,
		 const struct ledger_op *ops, size_t nops,
		 struct ledger_result *results, size_t *failed_op,
		 char head[GIT_OID_HEX_LEN + 1]);

/*
 * The state a batch has reached, as ledger_apply_checked() shows it to
 * its check before each operation (valid during the call only).
 */
struct ledger_view;
/* The class folder states: 0, -ENOENT no such folder, -ENOTDIR a file. */
int ledger_view_class(const struct ledger_view *v, const char *folder,
		      enum folder_class *own);
/* folder (an existing folder) and every folder below it, parents first. */
typedef int (*ledger_view_folder_cb)(const char *path, enum folder_class own,
				     void *arg);
int ledger_view_folders(const struct ledger_view *v, const char *folder,
			ledger_view_folder_cb cb, void *arg);
/*
 * Called before operation i is applied, on the state the operations
 * before it left; negative refuses the batch (with that rc, *failed_op i).
 * LEDGER_CHECK_SKIP leaves the state as it is, as an operation on an
 * absent path would (the operation keeps its trailer and result).
 */
#define LEDGER_CHECK_SKIP 1
typedef int (*ledger_check_fn)(void *arg, const struct ledger_view *v,
			       const struct ledger_op *op, size_t i);
/* ledger_apply() with check asked about every operation in turn. */
int ledger_apply_checked(struct ledger *lg, struct chunkstore *cs,
			 const char *space, const char *login,
			 const char *client, const struct ledger_op *ops,
			 size_t nops, struct ledger_result *results,
			 size_t *failed_op, char head[GIT_OID_HEX_LEN + 1],
			 ledger_check_fn check, void *check_arg);

/*
 * A batch named by its client, so that a retry after a lost reply is
 * applied once (server/ledger_batches.c).  id: 1..LEDGER_BATCH_ID_MAX of
 * [A-Za-z0-9._:-], unique per login and space; digest: 64 hex, the SHA-256
 * of the batch's operations, so an id reused for other operations is
 * refused rather than answered with another batch's outcome.
 */
#define LEDGER_BATCH_ID_MAX	64
#define LEDGER_BATCH_DIGEST_LEN 64
struct ledger_batch {
	const char *id;
	const char *digest;
};
int ledger_batch_id_validate(const char *id);
/*
 * Whether login applied a batch named id: 1 (its digest in digest), 0 not,
 * or -EINVAL for a bad id.  For a client that restarts with a named batch
 * in its queue: applied, it drops it instead of showing it over a state
 * that holds it already.
 */
int ledger_batch_applied(struct ledger *lg, const char *login, const char *id,
			 char digest[LEDGER_BATCH_DIGEST_LEN + 1]);

/*
 * ledger_apply_checked for a named batch (b may be NULL: not named).  Every
 * commit of the batch carries "Coffre-Batch: ID DIGEST".  When login
 * applied b already, nothing is applied: results and head are the first
 * application's (read from its commits) and the return is 1.  -EEXIST
 * (failed_op 0) when the id was used with other operations.
 */
int ledger_apply_batch(struct ledger *lg, struct chunkstore *cs,
		       const char *space, const char *login, const char *client,
		       const struct ledger_batch *b,
		       const struct ledger_op *ops, size_t nops,
		       struct ledger_result *results, size_t *failed_op,
		       char head[GIT_OID_HEX_LEN + 1], ledger_check_fn check,
		       void *check_arg);

void ledger_op_release(struct ledger_op *op);
void ledger_result_release(struct ledger_result *r);

typedef int (*ledger_list_cb)(const struct ledger_entry *e, void *arg);

/*
 * List the folder path at the current head, entries sorted bytewise by
 * name, skipping ".coffre-folder" and names <= after (when after is not
 * NULL), calling cb for at most limit entries.  *more is set when entries
 * remain.  folder_class (may be NULL) gets the folder's effective class.
 * -ENOENT no such folder, -ENOTDIR a file.  A cb returning non-zero stops
 * the listing and that value is returned.
 */
int ledger_list(struct ledger *lg, const char *path, const char *after,
		size_t limit, ledger_list_cb cb, void *arg, int *more,
		struct folder_meta *folder_meta,
		char head[GIT_OID_HEX_LEN + 1]);

/* One entry (file manifest or folder) at the current head.  For "/" a dir. */
int ledger_stat(struct ledger *lg, const char *path, ledger_list_cb cb,
		void *arg);
/*
 * The same without reading a document: e->manifest is NULL for a file.
 * For access checks, so a file the caller may not read is refused with
 * the work an absent path costs, its manifest never opened.
 */
int ledger_stat_kind(struct ledger *lg, const char *path, ledger_list_cb cb,
		     void *arg);

/*
 * Every version of a document, oldest first, by walking history: cb gets
 * each distinct version's manifest and the commit that introduced it.
 */
typedef int (*ledger_version_cb)(const struct manifest *m, const char *commit,
				 void *arg);
int ledger_versions(struct ledger *lg, const char *doc_id, ledger_version_cb cb,
		    void *arg);

/*
 * Provable history (server/ledger_prove.c).  Once installed, every new
 * commit carries a "gpgsig" header made by sign (an armored SSH signature
 * of the commit object without it) and gets a note under
 * LEDGER_NOTES_TIMESTAMPS made by stamp (base64 RFC 3161 response over the
 * raw signed commit), written before the head moves to it.  Process-wide;
 * install before any ledger is opened and before threads start.  NULL
 * removes it.  The struct is copied; arg must outlive its use.
 */
struct buf;
#define LEDGER_NOTES_TIMESTAMPS "refs/notes/timestamps"
struct ledger_prover {
	int (*sign)(void *arg, const void *data, size_t len, struct buf *sig);
	int (*stamp)(void *arg, const void *data, size_t len, struct buf *b64);
	void *arg;
};
void ledger_set_prover(const struct ledger_prover *p);

/*
 * What a third party needs to check one version (server/ledger_proof.c):
 * the version's commit must be on main; path is where the manifest is
 * filed in that commit's tree.  With history set (only for a caller who
 * may read the whole space: the bundle holds every name and manifest of
 * the tree at that commit), also: commits from the root to the commit
 * (root first), each with its timestamp note (base64, NULL when missing),
 * and bundle, a git bundle v2 of those commits ("HEAD" and refs/heads/main
 * naming the commit), checkable with `git bundle verify` and clonable;
 * without it they are left empty.  -ENOENT when the commit is not on main
 * or does not hold the manifest.
 */
struct ledger_proof {
	char *path;
	char **commits;
	char **tokens;
	size_t ncommits;
	void *bundle;
	size_t bundle_len;
};
int ledger_proof_build(struct ledger *lg, const char *commit_hex,
		       const char *manifest, size_t manifest_len, int history,
		       struct ledger_proof *out);
void ledger_proof_release(struct ledger_proof *p);

/*
 * The whole ledger as a git bundle (v2): HEAD and refs/heads/main at the
 * head, and the timestamp notes, signatures, statements and event anchors
 * refs there are.  Owners' only: it holds every name of the space.
 * *bundle malloc'd; head_hex gets main's head.
 */
int ledger_bundle_all(struct ledger *lg, void **bundle, size_t *len,
		      char head_hex[41]);

/*
 * Anchor text (the head of the space's event chain) in the ledger
 * (server/ledger_anchor.c): a signed, timestamped commit on
 * LEDGER_ANCHOR_REF whose tree holds one blob "events" = text, parent the
 * previous anchor.  Nothing is written when text equals the last anchor's.
 * *written (may be NULL) says whether a commit was made.
 */
#define LEDGER_ANCHOR_REF "refs/coffre/events"
int ledger_anchor(struct ledger *lg, const char *text, int *written);

/*
 * E-signatures of versions (server/ledger_signatures.c), kept in the
 * ledger on LEDGER_SIGNATURES_REF: one signed, timestamped commit per
 * signature, whose tree files DOC_ID/VERSION/LOGIN.ROLE.p7s (the DER CMS),
 * .tsr (the RFC 3161 response over the .p7s) and .txt (login, role,
 * signed-at, the version's commit).  A later signature by the same login
 * and role replaces the earlier one in the tree (history keeps both).
 */
#define LEDGER_SIGNATURES_REF "refs/coffre/signatures"
struct ledger_signature {
	const char *login, *role, *signed_at, *commit;
	const void *cms, *tsr;
	size_t cms_len, tsr_len;
};
int ledger_signature_add(struct ledger *lg, const char *doc_id,
			 uint64_t version, const struct ledger_signature *s);
typedef int (*ledger_signature_cb)(const struct ledger_signature *s, void *arg);
/* Signatures of a version, by file name; none is not an error. */
int ledger_signatures_list(struct ledger *lg, const char *doc_id,
			   uint64_t version, ledger_signature_cb cb, void *arg);

/*
 * Deposit statements (server/ledger_statements.c, server/statement.h), kept
 * on LEDGER_STATEMENTS_REF: signed, timestamped commits whose tree files
 * DOC_ID/VERSION.txt (the statement), .sig (its armored SSH signature) and
 * .tsr (the DER RFC 3161 response over the .txt).  A statement once
 * recorded is kept: adding one for a version that has one already skips
 * it.  One commit for the n statements given (none when all were there);
 * *added says how many were new.
 */
#define LEDGER_STATEMENTS_REF "refs/coffre/statements"
struct ledger_statement {
	const char *doc_id;
	uint64_t version;
	const char *text, *sig;
	const void *tsr;
	size_t text_len, sig_len, tsr_len;
};
int ledger_statements_add(struct ledger *lg, const struct ledger_statement *s,
			  size_t n, size_t *added);
/* A recorded statement, malloc'd (text and sig NUL-terminated). */
struct ledger_statement_copy {
	char *text, *sig;
	void *tsr;
	size_t text_len, sig_len, tsr_len;
};
/* -ENOENT when the version has no statement yet. */
int ledger_statement_get(struct ledger *lg, const char *doc_id,
			 uint64_t version, struct ledger_statement_copy *out);
void ledger_statement_copy_release(struct ledger_statement_copy *s);

/*
 * The change feed: the folders whose listing differs between commit since
 * and the current head (server/ledger_changes.c).  head gets the head's id
 * ("" while the ledger has no commit).  *paths (malloc'd array of
 * malloc'd "/A/B" strings) and *n list at most max folders.  *all is set
 * instead (and *paths left NULL) when since is NULL, unknown to this
 * ledger, or more than max folders changed: every folder may have
 * changed.  since equal to the head lists nothing.  0 or -errno.
 */
int ledger_changes(struct ledger *lg, const char *since,
		   char head[GIT_OID_HEX_LEN + 1], char ***paths, size_t *n,
		   size_t max, int *all);

#endif /* COFFRE_SERVER_LEDGER_H */
