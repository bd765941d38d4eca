/*
 * Login, tokens and the authorization seam.  Passwords never leave this
 * file's stack frames except into libsodium; tokens are shown to the caller
 * once and only their SHA-256 is stored.
 */
#include "server/auth.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/path.h"
#include "server/access.h"
#include "server/index.h"
#include "server/ledger.h"
#include "server/policy.h"
#include "server/spaces.h"

#define PWHASH_MAX 256

static const char bad_login_msg[] = "wrong login or password";

/*
 * Argon2id with libsodium's interactive limits takes 64 MiB per call: at
 * most AUTH_VERIFY_MAX run at once, so a burst of logins cannot exhaust
 * memory; the others wait their turn.
 */
#define AUTH_VERIFY_MAX 2
static sem_t verify_sem;

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[PWHASH_MAX];
static int dummy_rc;

static void dummy_make(void)
{
	char pw[33];
	uint8_t r[16];

	if (sem_init(&verify_sem, 0, AUTH_VERIFY_MAX) < 0) {
		dummy_rc = err_set(-errno, "cannot create a semaphore");
		return;
	}
	crypto_random(r, sizeof(r));
	sodium_bin2hex(pw, sizeof(pw), r, sizeof(r));
	dummy_rc = crypto_password_hash(pw, dummy_hash, sizeof(dummy_hash));
	sodium_memzero(pw, sizeof(pw));
}

int auth_init(void)
{
	pthread_once(&dummy_once, dummy_make);
	return dummy_rc;
}

/* Verify password against login's hash (a dummy one when unknown). */
static int verify(struct index *ix, const char *login, const char *password)
{
	char pwhash[PWHASH_MAX];
	int rc, known = 1;

	rc = index_user_pwhash(ix, login, pwhash, sizeof(pwhash));
	if (rc == -ENOENT) {
		known = 0;
		memcpy(pwhash, dummy_hash, sizeof(pwhash));
	} else if (rc < 0) {
		return rc;
	}
	/* Always verify, so an unknown login costs the same time. */
	while (sem_wait(&verify_sem) < 0)
		; /* EINTR only */
	rc = crypto_password_verify(pwhash, password);
	sem_post(&verify_sem);
	if (rc < 0 || !known)
		return err_set(-EACCES, "%s", bad_login_msg);
	return 0;
}

/* Throttle, then verify; a success forgives the attempt. */
static int check_password(struct index *ix, const char *login,
			  const char *password, struct auth_attempt *at)
{
	int rc;

	rc = auth_init();
	if (rc < 0)
		return rc;
	rc = throttle_begin(ix, &at->limits, login, at->address,
			    (int64_t)time(NULL), &at->th, &at->retry_after);
	if (rc < 0)
		return rc;
	rc = verify(ix, login, password);
	/* A frozen account (a notary holds its spaces) answers as a wrong
	 * password: its password proves nothing any more. */
	if (rc == 0) {
		int frozen = index_user_frozen(ix, login);

		if (frozen < 0)
			return frozen;
		if (frozen)
			return err_set(-EACCES, bad_login_msg);
	}
	if (rc == 0 && throttle_success(ix, &at->th) < 0)
		log_warn("cannot forgive a login attempt: %s", err_msg());
	return rc;
}

int auth_login(struct index *ix, const char *login, const char *password,
	       struct auth_attempt *at, char token_hex[AUTH_TOKEN_HEX_LEN + 1],
	       int64_t *expires_at)
{
	int rc;

	rc = check_password(ix, login, password, at);
	if (rc < 0)
		return rc;
	return auth_token_issue(ix, login, at, token_hex, expires_at);
}

int auth_token_issue(struct index *ix, const char *login,
		     const struct auth_attempt *at,
		     char token_hex[AUTH_TOKEN_HEX_LEN + 1],
		     int64_t *expires_at)
{
	uint8_t token[AUTH_TOKEN_LEN];
	struct obj_id th;
	int64_t now;
	int rc;

	crypto_random(token, sizeof(token));
	hash_buf(&th, token, sizeof(token));
	now = (int64_t)time(NULL);
	*expires_at = now + (at->ttl > 0 ? at->ttl : AUTH_TOKEN_TTL);
	rc = index_token_add(ix, th.b, login, *expires_at, now,
			     at->address && *at->address ? at->address : NULL);
	if (rc == 0)
		sodium_bin2hex(token_hex, AUTH_TOKEN_HEX_LEN + 1, token,
			       sizeof(token));
	sodium_memzero(token, sizeof(token));
	return rc;
}

int auth_password_change(struct auth_ctx *ctx, const char *old,
			 const char *new_password, struct auth_attempt *at)
{
	char pwhash[PWHASH_MAX];
	size_t n = strlen(new_password);
	int rc;

	if (n < AUTH_PASSWORD_MIN || n > AUTH_PASSWORD_MAX)
		return err_set(-EINVAL,
			       "the new password must be %d to %d bytes long",
			       AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
	rc = check_password(ctx->ix, ctx->login, old, at);
	if (rc < 0)
		return rc;
	while (sem_wait(&verify_sem) < 0)
		; /* EINTR only: hashing costs as much as verifying */
	rc = crypto_password_hash(new_password, pwhash, sizeof(pwhash));
	sem_post(&verify_sem);
	if (rc == 0)
		rc = index_user_set_password(ctx->ix, ctx->login, pwhash,
					     ctx->token_hash);
	sodium_memzero(pwhash, sizeof(pwhash));
	return rc;
}

int auth_token_check(struct auth_ctx *ctx, const char *header)
{
	uint8_t token[AUTH_TOKEN_LEN];
	struct obj_id th;
	const char *hex;
	size_t binlen = 0;
	int rc;

	ctx->login[0] = '\0';
	if (!header)
		return err_set(-EACCES, "missing bearer token");
	if (strncasecmp(header, "Bearer ", 7))
		return err_set(-EACCES,
			       "expected 'Authorization: Bearer TOKEN'");
	hex = header + 7;
	while (*hex == ' ')
		hex++;
	if (strlen(hex) != AUTH_TOKEN_HEX_LEN ||
	    sodium_hex2bin(token, sizeof(token), hex, AUTH_TOKEN_HEX_LEN, NULL,
			   &binlen, NULL) != 0 ||
	    binlen != sizeof(token))
		return err_set(-EACCES, "malformed bearer token");
	hash_buf(&th, token, sizeof(token));
	sodium_memzero(token, sizeof(token));
	memcpy(ctx->token_hash, th.b, sizeof(ctx->token_hash));
	rc = index_token_login(ctx->ix, th.b, (int64_t)time(NULL), ctx->login,
			       sizeof(ctx->login));
	if (rc == -ENOENT)
		return err_set(-EACCES, "invalid or expired token");
	return rc;
}

/* Rights on the space as a whole (chunks, administration). */
static int space_level(struct auth_ctx *ctx, const char *space,
		       enum auth_right right)
{
	struct access_grants g;
	int rc, ok = 0;

	switch ((enum policy_role)ctx->role_id) {
	case POLICY_ROLE_OWNER:
		ok = 1;
		break;
	case POLICY_ROLE_ASSISTANT:
		ok = right != AUTH_ADMIN || ctx->admin_delegated;
		break;
	case POLICY_ROLE_INTERVENANT:
		ok = right == AUTH_READ;
		if (right == AUTH_DEPOSIT) {
			/* Uploading chunks needs a deposit grant somewhere. */
			rc = access_grants_load(ctx->ix, space, ctx->login, &g);
			if (rc < 0)
				return rc;
			for (size_t i = 0; i < g.n; i++)
				if (g.levels[i] == POLICY_GRANT_DEPOSIT)
					ok = 1;
			access_grants_release(&g);
		}
		break;
	case POLICY_ROLE_TRUSTED:
		ok = right == AUTH_READ;
		break;
	case POLICY_ROLE_NONE:
		break;
	}
	ctx->rights = 0;
	if (!ok)
		return err_set(-EACCES, "the %s right is needed in '%s'",
			       policy_right_name(right), space);
	return 0;
}

static int stat_cb(const struct ledger_entry *e, void *arg)
{
	struct ledger_entry *out = arg;

	out->is_dir = e->is_dir;
	out->class = e->class;
	return 0;
}

/* Copy the parent of path into out ("/" for "/" and "/x"). */
static void parent_of(const char *path, char *out, size_t outlen)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash && slash != path ? (size_t)(slash - path) : 1;

	/* out may be path itself (folder_of walks up in place). */
	if (n >= outlen)
		n = outlen - 1;
	memmove(out, path, n);
	out[n] = '\0';
}

/*
 * The folder that decides for path: path itself when it is a folder, its
 * parent when a file, the nearest existing ancestor when absent.
 */
static int folder_of(struct space *sp, const char *path, char *folder,
		     size_t flen, enum folder_class *class, int *is_dir)
{
	struct ledger_entry e = { 0 };
	int rc, first = 1;

	snprintf(folder, flen, "%s", path);
	*is_dir = 0;
	for (;;) {
		rc = ledger_stat_kind(sp->ledger, folder, stat_cb, &e);
		if (rc == -ENOENT && !strcmp(folder, "/")) {
			/* An empty space: its root is an empty folder. */
			e.is_dir = 1;
			e.class = FOLDER_CLASS_RESTRICTED;
			rc = 0;
		}
		if (rc == 0 && e.is_dir) {
			*class = e.class;
			*is_dir = first;
			err_clear();
			return 0;
		}
		if (rc < 0 && rc != -ENOENT && rc != -ENOTDIR)
			return rc;
		if (!strcmp(folder, "/"))
			return err_set(-EIO,
				       "the root of the ledger is no folder");
		first = 0;
		parent_of(folder, folder, flen);
	}
}

int authorize_sees_path(struct auth_ctx *ctx, const char *space,
			const char *path)
{
	char parent[PATH_MAX_LEN + 1];
	struct ledger_entry e = { 0 };
	struct space *sp;
	int rc;

	rc = authorize(ctx, space, NULL, AUTH_READ);
	if (rc < 0)
		return rc == -ENOENT || rc == -EACCES ? 0 : rc;
	if (ctx->role_id == POLICY_ROLE_OWNER)
		return 1;
	rc = spaces_get(ctx->spaces, space, &sp);
	if (rc < 0)
		return rc;
	/* Not the nearest folder left above it (authorize's rule for an
	 * absent path): a folder renamed or removed since took its name
	 * with it. */
	parent_of(path, parent, sizeof(parent));
	e.is_dir = 1; /* "/" is always there */
	rc = strcmp(parent, "/") ?
		     ledger_stat_kind(sp->ledger, parent, stat_cb, &e) :
		     0;
	if (rc == -ENOENT || rc == -ENOTDIR || (rc == 0 && !e.is_dir)) {
		err_clear();
		return 0;
	}
	if (rc < 0)
		return rc;
	rc = authorize(ctx, space, path, AUTH_READ);
	if (rc == -ENOENT || rc == -EACCES) {
		err_clear();
		return 0;
	}
	if (rc < 0)
		return rc;
	return !ctx->traverse;
}

int auth_class_of(struct auth_ctx *ctx, const char *space, const char *path,
		  enum folder_class *out)
{
	char folder[PATH_MAX_LEN + 1];
	struct space *sp;
	int rc, is_dir;

	rc = spaces_get(ctx->spaces, space, &sp);
	if (rc == 0)
		rc = folder_of(sp, path, folder, sizeof(folder), out, &is_dir);
	return rc;
}

/* access_class_fn at the head of the space arg. */
static int head_class(void *arg, const char *folder, enum folder_class *own)
{
	struct space *sp = arg;
	struct ledger_entry e = { 0 };
	int rc = ledger_stat_kind(sp->ledger, folder, stat_cb, &e);

	if (rc == -ENOENT && !strcmp(folder, "/")) {
		*own = FOLDER_CLASS_RESTRICTED; /* an empty space */
		err_clear();
		return 0;
	}
	if (rc < 0)
		return rc;
	if (!e.is_dir)
		return err_set(-ENOTDIR, "'%s' is a file", folder);
	*own = e.class;
	return 0;
}

int auth_place(struct auth_ctx *ctx, const char *space, const char *folder,
	       const struct access_grants *g, struct policy_at *out)
{
	struct space *sp;
	int rc;

	rc = spaces_get(ctx->spaces, space, &sp);
	if (rc == 0)
		rc = access_place(g, folder, head_class, sp, out);
	return rc;
}

unsigned auth_folder_rights(const struct auth_ctx *ctx,
			    const struct access_grants *g, const char *path,
			    const struct policy_at *at, int *visible)
{
	unsigned r =
		access_rights_at((enum policy_role)ctx->role_id,
				 ctx->admin_delegated, g, path, at, visible);

	/* A terminated space: what was readable stays so, nothing more. */
	return ctx->read_only ? r & POLICY_BIT(AUTH_READ) : r;
}

static int authorize_member(struct auth_ctx *ctx, const char *space,
			    const char *path, enum auth_right right);

/*
 * The rule of a terminated space over the member's: it is checked for
 * reading (so what is hidden stays hidden, and answers as ever), then any
 * other right is refused, saying why.
 */
int authorize(struct auth_ctx *ctx, const char *space, const char *path,
	      enum auth_right right)
{
	char when[32];
	int rc;

	ctx->read_only = 0;
	if (!ctx->login[0] || ident_validate(space) < 0)
		return authorize_member(ctx, space, path, right);
	if (strcmp(ctx->term_space, space)) {
		rc = index_space_termination(ctx->ix, space,
					     &ctx->terminated_at, NULL, 0);
		if (rc < 0 && rc != -ENOENT)
			return rc;
		err_clear();
		ctx->term_found = rc == 0;
		snprintf(ctx->term_space, sizeof(ctx->term_space), "%s", space);
	}
	if (!ctx->term_found)
		return authorize_member(ctx, space, path, right);
	rc = authorize_member(ctx, space, path, AUTH_READ);
	if (rc < 0)
		return rc;
	ctx->read_only = 1;
	ctx->rights &= POLICY_BIT(AUTH_READ);
	if (right == AUTH_READ)
		return 0;
	rfc3339_utc(ctx->terminated_at, when, sizeof(when));
	return err_set(
		-EACCES,
		"space '%s' was terminated on %s: it is read-only (an owner may reactivate it)",
		space, when);
}

static int authorize_member(struct auth_ctx *ctx, const char *space,
			    const char *path, enum auth_right right)
{
	char folder[PATH_MAX_LEN + 1];
	struct access_grants g = { 0 };
	enum folder_class class;
	struct policy_at at;
	enum policy_role role;
	struct space *sp;
	int rc, is_dir, visible;

	ctx->traverse = 0;
	ctx->rights = 0;
	if (!ctx->login[0])
		return err_set(-EACCES, "not authenticated");
	/* The first time a space is used: its mirror agrees with its ledger. */
	if (ctx->spaces && ident_validate(space) == 0 &&
	    spaces_get(ctx->spaces, space, &sp) == 0 &&
	    access_reconcile(sp, ctx->ix) < 0)
		return err_set(-EIO, "the access state of '%s' cannot be read",
			       space);
	err_clear();
	rc = index_member_get(ctx->ix, space, ctx->login, ctx->kind,
			      sizeof(ctx->kind), ctx->role, sizeof(ctx->role));
	if (rc == 0)
		rc = access_member(ctx->ix, space, ctx->login, &role,
				   &ctx->admin_delegated);
	if (rc == -ENOENT)
		return err_set(-ENOENT, "no such space '%s'", space);
	if (rc < 0)
		return rc;
	ctx->role_id = (int)role;
	if (!path)
		return space_level(ctx, space, right);

	/* The access blob is the ledger's, never a document. */
	if (!strncmp(path, "/" ACCESS_FILE_NAME, sizeof(ACCESS_FILE_NAME)) &&
	    (path[sizeof(ACCESS_FILE_NAME)] == '\0' ||
	     path[sizeof(ACCESS_FILE_NAME)] == '/'))
		return err_set(-ENOENT, "no such file or folder '%s'", path);
	/* Owners hold every right everywhere: no need to read the ledger. */
	if (role == POLICY_ROLE_OWNER) {
		ctx->rights = POLICY_ALL;
		return 0;
	}
	rc = spaces_get(ctx->spaces, space, &sp);
	if (rc < 0)
		return rc;
	rc = folder_of(sp, path, folder, sizeof(folder), &class, &is_dir);
	if (rc < 0)
		return rc;
	rc = access_grants_load(ctx->ix, space, ctx->login, &g);
	if (rc < 0)
		return rc;
	rc = access_place(&g, folder, head_class, sp, &at);
	if (rc < 0) {
		access_grants_release(&g);
		return rc;
	}
	ctx->rights = auth_folder_rights(ctx, &g, folder, &at, &visible);
	access_grants_release(&g);
	if (ctx->rights & POLICY_BIT(right))
		return 0;
	if (ctx->rights & POLICY_BIT(AUTH_READ))
		return err_set(-EACCES, "'%s': the %s right is needed", path,
			       policy_right_name(right));
	/* A folder on the way to a grant: listed, nothing else; seen, so
	 * any other right is refused as such. */
	if (is_dir && visible) {
		if (right != AUTH_READ)
			return err_set(-EACCES, "'%s': the %s right is needed",
				       path, policy_right_name(right));
		ctx->traverse = 1;
		return 0;
	}
	/* Not readable: it does not exist for this caller. */
	return err_set(-ENOENT, "no such file or folder '%s'", path);
}

int authorize_parent(struct auth_ctx *ctx, const char *space, const char *path,
		     enum auth_right right)
{
	char parent[PATH_MAX_LEN + 1];

	parent_of(path, parent, sizeof(parent));
	return authorize(ctx, space, parent, right);
}
