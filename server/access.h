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
 * Chunks through documents: cb(arg, doc_id) for every document one of
 * whose versions holds the chunk (64 hex), until cb returns non-zero
 * (that value is returned); 0 when none did.
 */
typedef int (*access_doc_cb)(void *arg, const char *doc_id);
int access_chunk_docs(struct index *ix, const char *space,
		      const char *chunk_hex, access_doc_cb cb, void *arg);

/*
 * A folder moved from from to to (to NULL: removed): the grants on it and
 * below follow it (or go), so a new folder at the old path inherits none.
 * One commit and one event when some grant changed, nothing otherwise.
 */
int access_folder_moved(struct space *sp, struct index *ix, const char *by,
			const char *from, const char *to);

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
/* The ".coffre-access" text at the head into out; -ENOENT when none. */
int access_ledger_read(struct ledger *lg, struct buf *out);
int access_ledger_class(struct ledger *lg, const char *space, const char *by,
			const char *path, enum folder_class class,
			const char *msg);

#endif /* COFFRE_SERVER_ACCESS_H */
