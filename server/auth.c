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
#include "server/index.h"

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

int auth_login(struct index *ix, const char *login, const char *password,
	       char token_hex[AUTH_TOKEN_HEX_LEN + 1], int64_t *expires_at)
{
	char pwhash[PWHASH_MAX];
	uint8_t token[AUTH_TOKEN_LEN];
	struct obj_id th;
	int rc, known = 1;

	rc = auth_init();
	if (rc < 0)
		return rc;
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

	crypto_random(token, sizeof(token));
	hash_buf(&th, token, sizeof(token));
	*expires_at = (int64_t)time(NULL) + AUTH_TOKEN_TTL;
	rc = index_token_add(ix, th.b, login, *expires_at);
	if (rc == 0)
		sodium_bin2hex(token_hex, AUTH_TOKEN_HEX_LEN + 1, token,
			       sizeof(token));
	sodium_memzero(token, sizeof(token));
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
	rc = index_token_login(ctx->ix, th.b, (int64_t)time(NULL), ctx->login,
			       sizeof(ctx->login));
	if (rc == -ENOENT)
		return err_set(-EACCES, "invalid or expired token");
	return rc;
}

int authorize(struct auth_ctx *ctx, const char *space, const char *path,
	      enum auth_right right)
{
	int rc;

	if (!ctx->login[0])
		return err_set(-EACCES, "not authenticated");
	rc = index_member_get(ctx->ix, space, ctx->login, ctx->kind,
			      sizeof(ctx->kind), ctx->role, sizeof(ctx->role));
	if (rc == -ENOENT)
		return err_set(-ENOENT, "no such space '%s'", space);
	if (rc < 0)
		return rc;
	/*
	 * Every member has every right for now.  path and right are what the
	 * per-folder policy will decide on.
	 */
	(void)path;
	(void)right;
	return 0;
}
