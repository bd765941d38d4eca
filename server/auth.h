/*
 * Authentication and authorization of API callers.
 *
 * Login checks a password against its Argon2id hash and issues a bearer
 * token: 32 random bytes sent as 64 hex digits; the index keeps only their
 * SHA-256, with the login and an expiry (token_lifetime of coffred.conf,
 * AUTH_TOKEN_TTL by default).  Unknown logins still pay for one Argon2id
 * verification, against a dummy hash, so timing does not tell which logins
 * exist.  Every check of a password (login, password change) goes through
 * the throttle (throttle.h) first.
 *
 * authorize() is the one place that decides whether a caller may act on a
 * path of a space; every endpoint calls it.  It gathers the caller's role,
 * delegation and grants (access.h) and the folder's class (the ledger),
 * and asks the one pure decision of policy.h.
 */
#ifndef COFFRE_SERVER_AUTH_H
#define COFFRE_SERVER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/manifest.h"
#include "server/throttle.h"

struct index;
struct spaces;
struct access_grants;

#define AUTH_TOKEN_LEN	   32
#define AUTH_TOKEN_HEX_LEN 64
#define AUTH_TOKEN_TTL	   (30 * 24 * 3600)
#define AUTH_PASSWORD_MIN  8
#define AUTH_PASSWORD_MAX  1024
#define AUTH_ROLE_MAX	   16
#define AUTH_KIND_MAX	   16

enum auth_right {
	AUTH_READ,     /* list, open */
	AUTH_DEPOSIT,  /* new document or version */
	AUTH_ORGANIZE, /* move, rename, link, unlink */
	AUTH_ADMIN,    /* members, grants, classes */
};

/* Who is calling, filled by auth_token_check(); role and kind by authorize(). */
struct auth_ctx {
	struct index *ix;
	struct spaces *spaces;	       /* where authorize() reads classes */
	char login[LOGIN_MAX_LEN + 1]; /* "" when not authenticated */
	uint8_t token_hash[32];	       /* SHA-256 of the caller's token */
	char kind[AUTH_KIND_MAX];      /* kind of the last authorized space */
	char role[AUTH_ROLE_MAX];      /* role in the last authorized space */
	int role_id;		       /* enum policy_role of role */
	int admin_delegated;	       /* in the last authorized space */
	unsigned rights;       /* POLICY_BIT mask on the last authorized path */
	int traverse;	       /* last path: a folder seen only on the way to a
			   * grant below it (listed with its sub-folders
			   * leading there, nothing else) */
	int read_only;	       /* the last space is terminated: read only */
	int64_t terminated_at; /* then: when */
	/* The termination looked up for term_space during this request
	 * (term_found 1 or 0): asked once, not per path checked. */
	char term_space[65];
	int term_found;
};

/* Compute the dummy hash once; call before serving.  0 or -errno. */
int auth_init(void);

/* What a password check needs beside the password. */
struct auth_attempt {
	const char *address; /* the caller's (throttle key), "" unknown */
	struct throttle_limits limits;
	int64_t ttl;		    /* lifetime of a token issued, seconds */
	struct throttle_attempt th; /* filled: what the throttle counted */
	int64_t retry_after;	    /* filled on -EAGAIN */
};

/*
 * Check login and password; on success issue a token: hex (65 bytes with
 * the NUL) and its expiry (Unix s).  Wrong login or password: -EACCES with
 * the same message for both (at->th says whether this failure locked the
 * login or the address).  -EAGAIN when throttled (at->retry_after), the
 * password unchecked.
 */
int auth_login(struct index *ix, const char *login, const char *password,
	       struct auth_attempt *at, char token_hex[AUTH_TOKEN_HEX_LEN + 1],
	       int64_t *expires_at);

/*
 * A new token for login, whose identity the caller has proven otherwise
 * (a sign-up's code): as auth_login issues it, at->ttl and at->address
 * used.
 */
int auth_token_issue(struct index *ix, const char *login,
		     const struct auth_attempt *at,
		     char token_hex[AUTH_TOKEN_HEX_LEN + 1],
		     int64_t *expires_at);

/*
 * Change the password of ctx's caller: old must be right (throttled as a
 * login), new AUTH_PASSWORD_MIN..AUTH_PASSWORD_MAX bytes (-EINVAL).  Every
 * token of the caller but the one in use is revoked, in the same
 * transaction.  The count revoked, -EACCES wrong password, -EAGAIN.
 */
int auth_password_change(struct auth_ctx *ctx, const char *old,
			 const char *new_password, struct auth_attempt *at);

/*
 * Check an "Authorization" header value ("Bearer HEX"); on success fill
 * ctx->login.  -EACCES (missing, malformed, unknown or expired) or -errno.
 */
int auth_token_check(struct auth_ctx *ctx, const char *header);

/*
 * May ctx's caller use right on path (NULL: the space itself) of space?
 * 0 and ctx->role/kind set, or -ENOENT "no such space" for a space the
 * caller is not a member of (names must not leak), -EACCES when seen but
 * not allowed, or -errno.
 */
int authorize(struct auth_ctx *ctx, const char *space, const char *path,
	      enum auth_right right);

/* authorize() on the folder holding path (for "/": "/" itself). */
int authorize_parent(struct auth_ctx *ctx, const char *space, const char *path,
		     enum auth_right right);

/*
 * Does ctx's caller see where path is (a file's path, present or not):
 * its folder still exists at the head and they read it (not only on the
 * way to a grant below)?  Owners see every path.  1, 0, or -errno.
 */
int authorize_sees_path(struct auth_ctx *ctx, const char *space,
			const char *path);

/*
 * Effective class of the folder path, or of the nearest existing folder
 * above it when path does not exist (for a file: its folder's).
 */
int auth_class_of(struct auth_ctx *ctx, const char *space, const char *path,
		  enum folder_class *out);

/*
 * Where the holder of grants g stands on the existing folder at the head
 * of space (access_place() over the head's classes).
 */
struct policy_at;
int auth_place(struct auth_ctx *ctx, const char *space, const char *folder,
	       const struct access_grants *g, struct policy_at *out);

/*
 * After authorize() on a space: the caller's rights on a folder at path
 * standing at (auth_place(), or policy_descend() from its parent's), with
 * grants g (access_grants_load), and whether it is listed to them at all
 * (*visible: readable, or on the way to a grant).
 */
unsigned auth_folder_rights(const struct auth_ctx *ctx,
			    const struct access_grants *g, const char *path,
			    const struct policy_at *at, int *visible);

#endif /* COFFRE_SERVER_AUTH_H */
