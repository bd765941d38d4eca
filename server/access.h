/*
 * The access state of a space: members and their roles, delegated
 * administration, grants on folders, and folder classes.
 *
 * The ledger is the authority.  Members, delegations and grants live in
 * the root blob ".coffre-access" (stable text, see docs/architecture.md,
 * "Access"); classes in each folder's ".coffre-folder".  Each change is
 * one ledger commit whose author is who made it, then mirrored into the
 * index (tables members, delegations, grants) where authorize() reads it,
 * and recorded as an event (events.h).  Changes are serialized per
 * process by one lock, so the text written always follows the index.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef COFFRE_SERVER_ACCESS_H
#define COFFRE_SERVER_ACCESS_H

#include <stddef.h>

#include "common/manifest.h"
#include "server/policy.h"

struct index;
struct space;
struct buf;

#define ACCESS_FILE_NAME  ".coffre-access"
#define ACCESS_GRANTS_MAX 10000 /* per member and space */

/* Role and delegated administration of login; -ENOENT when no member. */
int access_member(struct index *ix, const char *space, const char *login,
		  enum policy_role *role, int *admin);

/* The grants one member holds in a space, loaded once per request. */
struct access_grants {
	size_t n;
	char **paths;
	enum policy_grant *levels;
};

int access_grants_load(struct index *ix, const char *space, const char *login,
		       struct access_grants *out);
void access_grants_release(struct access_grants *g);
/* Strongest grant on path or one of its ancestors. */
enum policy_grant access_grants_level(const struct access_grants *g,
				      const char *path);
/* 1 when a grant sits strictly below folder path (it may be traversed). */
int access_grants_below(const struct access_grants *g, const char *path);
/* The grant on exactly path (POLICY_GRANT_NONE when none). */
enum policy_grant access_grants_exact(const struct access_grants *g,
				      const char *path);

/*
 * The class folder states in its ".coffre-folder", in some state of the
 * space (the head, or a batch half applied): 0, -ENOENT no such folder,
 * -ENOTDIR a file, or -errno.
 */
typedef int (*access_class_fn)(void *arg, const char *folder,
			       enum folder_class *own);

/*
 * Where the holder of g stands on folder (an existing folder), walking
 * from "/" down with policy_descend(): the one computation behind every
 * rights check and every listing (g may be NULL: no grants).
 */
int access_place(const struct access_grants *g, const char *folder,
		 access_class_fn own_class, void *arg, struct policy_at *out);

/*
 * The rights of role/admin at place, and whether the folder at path is
 * shown at all (*visible: readable, "/", or on the way to a grant).
 */
unsigned access_rights_at(enum policy_role role, int admin,
			  const struct access_grants *g, const char *path,
			  const struct policy_at *at, int *visible);

/*
 * Changes.  by is the author; each is a ledger commit, an index update and
 * an event, or nothing at all.  Checks of the caller's right are the
 * endpoint's (authorize()); these check the state: -ENOENT no such user or
 * member, -EEXIST conflicts (last owner, trusted person's second folder),
 * -EINVAL bad input, with err_set().
 */
int access_member_set(struct space *sp, struct index *ix, const char *by,
		      const char *login, enum policy_role role);
int access_member_remove(struct space *sp, struct index *ix, const char *by,
			 const char *login);
int access_delegate(struct space *sp, struct index *ix, const char *by,
		    const char *login, int admin);
/* level POLICY_GRANT_NONE revokes; path must be an existing folder. */
int access_grant(struct space *sp, struct index *ix, const char *by,
		 const char *path, const char *login, enum policy_grant level);
int access_class_set(struct space *sp, struct index *ix, const char *by,
		     const char *path, enum folder_class class);

/*
 * Where doc_id is filed at the head (from the journal, checked against the
 * ledger), into out; -ENOENT when it is filed nowhere.
 */
int access_doc_path(struct index *ix, struct space *sp, const char *doc_id,
		    char *out, size_t outlen);
/*
 * Its two halves: where the journal files it (-ENOENT when nowhere), and
 * whether the head holds it there (-ENOENT when not), which reads its
 * manifest: a reader checks that only once the path is found readable.
 */
int access_doc_place(struct index *ix, struct space *sp, const char *doc_id,
		     char *out, size_t outlen);
int access_doc_filed(struct space *sp, const char *doc_id, const char *path);

/*
 * The seal of a version (docs/protocol.md#access, "Versions"): one
 * deposited in a confidential folder stays as confidential as that folder
 * until an owner declassifies it, or it is the current version of its
 * document when the document leaves confidential folders (a move, a
 * reclass).  The one rule for every answer that serves a version, its
 * content or its metadata (versions, chunks, proofs, signatures, events):
 * for a caller who may read the document where it is filed now, standing
 * at place there (NULL: filed nowhere), may they read this version?  1 or
 * 0.  Owners read every version.
 */
int access_version_open(enum policy_role role, int sealed,
			const struct policy_at *place);

/*
 * After a commit moved path (a document or a folder) or reclassed the
 * folder path: every document filed at or below it in a folder that is
 * not confidential at the head has its current version's seal lifted, so
 * the version a listing shows is always one its readers may read (the
 * earlier sealed versions stay sealed).  Nothing is read when the space
 * holds no sealed version.  access_seal.c.
 */
int access_seal_open(struct space *sp, struct index *ix, const char *path);

/*
 * An owner's explicit declassification of version of doc_id (filed at
 * path now, or NULL when filed nowhere): one ledger commit on main
 * authored by by, tree unchanged, message "declassify DOC vN" with the
 * trailers "Coffre-Op: declassify" and "Coffre-Doc: DOC N"; the seal
 * lifted in the index and an event "declassify".  1 done, 0 when the
 * version was not sealed (nothing written), -ENOENT no such version.
 */
int access_declassify(struct space *sp, struct index *ix, const char *by,
		      const char *doc_id, uint64_t version, const char *path);

/*
 * A folder moved from from to to (to NULL: removed): the grants on it and
 * below follow it (or go), so a new folder at the old path inherits none.
 * One commit and one event when some grant changed, nothing otherwise.
 */
int access_folder_moved(struct space *sp, struct index *ix, const char *by,
			const char *from, const char *to);

/*
 * A notary's access to a space the deceased owned alone, in one change
 * (one commit, "Coffre-Op: legacy" and "Coffre-Mandate: MANDATE"): every
 * member but the trusted persons (who keep their designated folder) loses
 * their access, the deceased included, pending invitations go, and notary
 * becomes its owner.  An event per member removed and one "legacy-open",
 * each naming the mandate.
 */
int access_legacy_open(struct space *sp, struct index *ix, const char *by,
		       const char *deceased, const char *notary,
		       const char *mandate);

/*
 * Once per space and process: check the index mirror against the ledger's
 * ".coffre-access" and reload it from the ledger when they differ (an
 * index left behind by a crash between the two); a space from before
 * ".coffre-access" gets the blob written from the index.  A blob that does
 * not parse is logged and left alone (-EBADMSG).
 */
int access_reconcile(struct space *sp, struct index *ix);

/* The ".coffre-access" text of a space, from the index, into out. */
int access_text(struct index *ix, const char *space, struct buf *out);

typedef int (*access_member_cb)(const char *login, enum policy_role role,
				int admin, void *arg);
int access_members(struct index *ix, const char *space, access_member_cb cb,
		   void *arg);
typedef int (*access_grant_cb)(const char *path, const char *login,
			       enum policy_grant level, void *arg);
int access_grants_all(struct index *ix, const char *space, access_grant_cb cb,
		      void *arg);

/*
 * Ledger side (access_ledger.c): commit text as the root ".coffre-access",
 * or class as the ".coffre-folder" of folder path, one commit authored by
 * by with message msg.  -ENOENT when path is no folder.
 */
struct ledger;
int access_ledger_write(struct ledger *lg, const char *space, const char *by,
			const char *text, const char *msg);
/* A commit of the head's tree unchanged, message msg (a declassification). */
int access_ledger_note(struct ledger *lg, const char *space, const char *by,
		       const char *msg);
/* The ".coffre-access" text at the head into out; -ENOENT when none. */
int access_ledger_read(struct ledger *lg, struct buf *out);
int access_ledger_class(struct ledger *lg, const char *space, const char *by,
			const char *path, enum folder_class class,
			const char *msg);

#endif /* COFFRE_SERVER_ACCESS_H */
