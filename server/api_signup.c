/*
 * POST /v1/signup, /v1/signup/confirm, /v1/password-reset and
 * /v1/password-reset/confirm: the endpoints without a token that make an
 * account or give back its password, each proven by a code sent by SMS
 * (signup.h, docs/protocol.md#sign-up).
 *
 * What they tell a stranger: a request's answer is the same whether the
 * login is taken or not (a sign-up) or exists or not (a reset); a taken
 * login shows only at a sign-up's confirmation, with the right code, so
 * probing logins costs one SMS to one's own phone each, throttled.
 */
#include "server/api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/log.h"
#include "common/path.h"
#include "server/admin.h"
#include "server/signup.h"
#include "server/server.h"
#include "server/throttle.h"

#define PWHASH_LEN 256

/*
 * Throttle one attempt under key and under the caller's address in a
 * bucket of its own (bucket "sms": codes asked for; "code": codes given
 * back), apart from the address's failed logins: sign-ups from one
 * address never lock its logins out, nor the other way round.  1 when a
 * reply (429) was queued or *rc < 0.
 */
static int throttled(struct http_req *req, const char *key, const char *bucket,
		     struct auth_attempt *at, char *addr, size_t addrlen,
		     int *rc)
{
	char client[THROTTLE_ADDR_MAX];

	api_attempt_init(req, at, client, sizeof(client));
	if ((size_t)snprintf(addr, addrlen, "%s|%s", bucket, client) >=
	    addrlen) {
		*rc = err_set(-ENAMETOOLONG, "client address too long");
		return 1;
	}
	at->address = addr;
	*rc = throttle_begin(req->srv->ix, &at->limits, key, at->address,
			     (int64_t)time(NULL), &at->th, &at->retry_after);
	if (*rc == -EAGAIN) {
		*rc = api_reply_password_failure(req, key, *rc, at, 429);
		return 1;
	}
	return *rc < 0;
}

static int record(struct http_req *req, const char *login, const char *kind,
		  const char *detail)
{
	struct index_event ev = { .kind = kind, .path = "/", .detail = detail };

	if (index_record(req->srv->ix, NULL, login, (int64_t)time(NULL), NULL,
			 0, &ev, 1) < 0)
		log_warn("cannot record the %s of '%s': %s", kind, login,
			 err_msg());
	return 0;
}

/* The answer to a request for a code: when it expires, where it went. */
static int reply_sent(struct http_req *req, int64_t expires_at,
		      const char *phone)
{
	char when[32], masked[64];

	rfc3339_utc(expires_at, when, sizeof(when));
	signup_phone_masked(phone, masked, sizeof(masked));
	return http_reply_json(req, 202,
			       json_pack("{s:s, s:s}", "expires_at", when,
					 "sent_to", masked));
}

int api_signup(struct http_req *req)
{
	const char *login, *phone, *email = NULL, *password, *invite = NULL;
	char command[CONFIG_PATH_MAX], addr[THROTTLE_ADDR_MAX], key[64];
	char code[7], text[160];
	struct index_code c = { .purpose = INDEX_CODE_SIGNUP };
	enum config_signup mode;
	struct auth_attempt at;
	int64_t now = (int64_t)time(NULL);
	int rc;

	server_signup_settings(req->srv, &mode, command, sizeof(command));
	if (mode == CONFIG_SIGNUP_CLOSED)
		return http_reply_error(
			req, 403, "forbidden", -1,
			"sign-up is closed on this server: ask its operator for an account");
	/* Before any work or any count: nothing could be sent. */
	if (!command[0])
		return http_reply_error(
			req, 503, "unavailable", -1,
			"this server sends no SMS: ask its operator for an account");
	if (api_json_string(req, req->json, "login", 1, LOGIN_MAX_LEN, &login,
			    -1) ||
	    api_json_string(req, req->json, "phone", 1, 16, &phone, -1) ||
	    api_json_string(req, req->json, "email", 0, SIGNUP_EMAIL_MAX,
			    &email, -1) ||
	    api_json_string(req, req->json, "password", 1, AUTH_PASSWORD_MAX,
			    &password, -1) ||
	    api_json_string(req, req->json, "invite", 0, 64, &invite, -1))
		return 0;
	if (ident_validate(login) < 0 || phone_validate(phone) < 0 ||
	    (email && signup_email_validate(email) < 0))
		return http_reply_error(req, 400, "bad_request", -1, "%s",
					err_msg());
	if (strlen(password) < AUTH_PASSWORD_MIN)
		return http_reply_error(
			req, 400, "bad_request", -1,
			"the password must have at least %d bytes",
			AUTH_PASSWORD_MIN);
	if (mode == CONFIG_SIGNUP_INVITE) {
		if (!invite)
			return http_reply_error(
				req, 403, "forbidden", -1,
				"sign-up on this server takes an invitation code (invite)");
		signup_invite_hash(invite, c.invite);
		rc = index_signup_invite_valid(req->srv->ix, c.invite, now);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return http_reply_error(
				req, 403, "forbidden", -1,
				"this invitation code is unknown, used or expired");
	}
	/* Per number: each request counts, none is forgiven. */
	snprintf(key, sizeof(key), "sms:%s", phone);
	if (throttled(req, key, "sms", &at, addr, sizeof(addr), &rc))
		return rc;
	snprintf(c.login, sizeof(c.login), "%s", login);
	snprintf(c.phone, sizeof(c.phone), "%s", phone);
	snprintf(c.email, sizeof(c.email), "%s", email ? email : "");
	rc = crypto_password_hash(password, c.pwhash, sizeof(c.pwhash));
	if (rc < 0)
		return rc;
	signup_code_new(code);
	signup_code_seal(&c, code);
	c.expires_at = now + SIGNUP_CODE_TTL;
	rc = index_code_put(req->srv->ix, &c, now, SIGNUP_CODES_MAX);
	sodium_memzero(c.pwhash, sizeof(c.pwhash));
	if (rc == -E2BIG)
		return http_reply_error(req, 503, "unavailable", -1,
					"too many sign-ups at once: try later");
	if (rc < 0)
		return rc;
	snprintf(text, sizeof(text),
		 "coffre: your sign-up code for %s is %s (valid %d minutes).\n",
		 login, code, SIGNUP_CODE_TTL / 60);
	rc = signup_sms_send(command, phone, text, 1);
	sodium_memzero(code, sizeof(code));
	sodium_memzero(text, sizeof(text));
	if (rc < 0) {
		log_error("sign-up of '%s': the SMS was not sent: %s", login,
			  err_msg());
		index_code_drop(req->srv->ix, INDEX_CODE_SIGNUP, login);
		return http_reply_error(
			req, rc == -ENOSYS ? 503 : 502, "unavailable", -1,
			rc == -ENOSYS ?
				"this server sends no SMS: ask its operator for an account" :
				"the SMS could not be sent: try later");
	}
	log_info("sign-up of '%s': code sent to %s", login, phone);
	return reply_sent(req, c.expires_at, phone);
}

/*
 * The code of purpose for login, checked: 0 and *c filled when right;
 * else a reply was queued (1) or an error returned (< 0).  Wrong,
 * expired and never asked for answer alike.  addr (addrlen bytes) holds
 * the throttle's address key, which *at points to: it must outlive at.
 */
static int code_check(struct http_req *req, const char *purpose,
		      const char *login, const char *code,
		      struct auth_attempt *at, char *addr, size_t addrlen,
		      struct index_code *c)
{
	char key[LOGIN_MAX_LEN + 16];
	unsigned tries = 0;
	int rc;

	snprintf(key, sizeof(key), "code:%s:%s", purpose, login);
	if (throttled(req, key, "code", at, addr, addrlen, &rc))
		return rc < 0 ? rc : 1;
	rc = index_code_get(req->srv->ix, purpose, login, (int64_t)time(NULL),
			    c);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0 && signup_code_matches(c, code))
		return 0;
	if (rc == 0 &&
	    index_code_tried(req->srv->ix, purpose, login, &tries) == 0 &&
	    tries >= SIGNUP_CODE_TRIES) {
		index_code_drop(req->srv->ix, purpose, login);
		log_warn("%s of '%s': %u wrong codes, the code is void",
			 purpose, login, tries);
	}
	http_reply_error(req, 403, "forbidden", -1,
			 "wrong or expired code: ask for a new one");
	return 1;
}

int api_signup_confirm(struct http_req *req)
{
	const char *login, *code;
	char token[AUTH_TOKEN_HEX_LEN + 1];
	char addr[THROTTLE_ADDR_MAX], client[THROTTLE_ADDR_MAX];
	struct index_code c;
	struct auth_attempt at;
	int64_t expires_at, now = (int64_t)time(NULL);
	int rc;

	if (api_json_string(req, req->json, "login", 1, LOGIN_MAX_LEN, &login,
			    -1) ||
	    api_json_string(req, req->json, "code", 1, 16, &code, -1))
		return 0;
	rc = code_check(req, INDEX_CODE_SIGNUP, login, code, &at, addr,
			sizeof(addr), &c);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	/* An invitation is used up by the account it made, not before. */
	if (c.invite[0] &&
	    index_signup_invite_take(req->srv->ix, c.invite, now) < 0) {
		index_code_drop(req->srv->ix, INDEX_CODE_SIGNUP, login);
		return http_reply_error(
			req, 403, "forbidden", -1,
			"this invitation code was used or has expired meanwhile");
	}
	rc = index_user_add(req->srv->ix, login, c.phone, c.pwhash, now);
	sodium_memzero(c.pwhash, sizeof(c.pwhash));
	index_code_drop(req->srv->ix, INDEX_CODE_SIGNUP, login);
	if (rc == -EEXIST)
		return http_reply_error(
			req, 409, "exists", -1,
			"the login '%s' is taken: sign up with another", login);
	if (rc < 0)
		return rc;
	if (throttle_success(req->srv->ix, &at.th) < 0)
		log_warn("cannot forgive a sign-up attempt: %s", err_msg());
	record(req, login, "signup", c.phone);
	log_info("sign-up of '%s' confirmed: account made", login);
	/* The session records the client's address, not the bucket's. */
	snprintf(client, sizeof(client), "%s", req->client_key);
	at.address = client;
	rc = auth_token_issue(req->srv->ix, login, &at, token, &expires_at);
	if (rc < 0)
		return rc;
	snprintf(req->auth.login, sizeof(req->auth.login), "%s", login);
	return api_reply_token(req, 201, token, login, expires_at);
}

int api_password_reset(struct http_req *req)
{
	char command[CONFIG_PATH_MAX], addr[THROTTLE_ADDR_MAX];
	char key[LOGIN_MAX_LEN + 8], code[7], text[160];
	struct index_code c = { .purpose = INDEX_CODE_RESET };
	enum config_signup mode;
	struct auth_attempt at;
	const char *login;
	int64_t now = (int64_t)time(NULL);
	int rc;

	if (api_json_string(req, req->json, "login", 1, LOGIN_MAX_LEN, &login,
			    -1))
		return 0;
	server_signup_settings(req->srv, &mode, command, sizeof(command));
	if (!command[0])
		return http_reply_error(
			req, 503, "unavailable", -1,
			"this server sends no SMS: ask its operator to reset your password");
	snprintf(key, sizeof(key), "reset:%s", login);
	if (throttled(req, key, "sms", &at, addr, sizeof(addr), &rc))
		return rc;
	c.expires_at = now + SIGNUP_CODE_TTL;
	rc = index_user_phone(req->srv->ix, login, c.phone, sizeof(c.phone));
	if (rc == -ENOENT) {
		/* The same answer as for a login that exists. */
		err_clear();
		return reply_sent(req, c.expires_at, "+00000000");
	}
	if (rc < 0)
		return rc;
	snprintf(c.login, sizeof(c.login), "%s", login);
	signup_code_new(code);
	signup_code_seal(&c, code);
	rc = index_code_put(req->srv->ix, &c, now, SIGNUP_CODES_MAX);
	if (rc < 0) {
		sodium_memzero(code, sizeof(code));
		return rc == -E2BIG ?
			       http_reply_error(
				       req, 503, "unavailable", -1,
				       "too many codes at once: try later") :
			       rc;
	}
	snprintf(
		text, sizeof(text),
		"coffre: your password reset code for %s is %s (valid %d minutes).\n",
		login, code, SIGNUP_CODE_TTL / 60);
	/* Not waited for: how long the gateway takes must not tell a login
	 * that exists from one that does not. */
	rc = signup_sms_send(command, c.phone, text, 0);
	sodium_memzero(code, sizeof(code));
	sodium_memzero(text, sizeof(text));
	if (rc < 0)
		log_error("password reset of '%s': %s", login, err_msg());
	else
		log_info("password reset of '%s': code sent", login);
	/* The number is not shown: it would tell that the login exists. */
	return reply_sent(req, c.expires_at, "+00000000");
}

int api_password_reset_confirm(struct http_req *req)
{
	const char *login, *code, *password;
	char pwhash[PWHASH_LEN], addr[THROTTLE_ADDR_MAX];
	struct index_code c;
	struct auth_attempt at;
	int rc, revoked;

	if (api_json_string(req, req->json, "login", 1, LOGIN_MAX_LEN, &login,
			    -1) ||
	    api_json_string(req, req->json, "code", 1, 16, &code, -1) ||
	    api_json_string(req, req->json, "password", 1, AUTH_PASSWORD_MAX,
			    &password, -1))
		return 0;
	if (strlen(password) < AUTH_PASSWORD_MIN)
		return http_reply_error(
			req, 400, "bad_request", -1,
			"the password must have at least %d bytes",
			AUTH_PASSWORD_MIN);
	rc = code_check(req, INDEX_CODE_RESET, login, code, &at, addr,
			sizeof(addr), &c);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = crypto_password_hash(password, pwhash, sizeof(pwhash));
	if (rc == 0)
		rc = index_user_set_password(req->srv->ix, login, pwhash, NULL);
	sodium_memzero(pwhash, sizeof(pwhash));
	if (rc < 0)
		return rc;
	revoked = rc;
	index_code_drop(req->srv->ix, INDEX_CODE_RESET, login);
	if (throttle_success(req->srv->ix, &at.th) < 0)
		log_warn("cannot forgive a reset attempt: %s", err_msg());
	/* A lock a guesser put on the login goes: its owner proved who
	 * they are.  (The addresses' locks stay.) */
	{
		char lkey[LOGIN_MAX_LEN + 3];

		snprintf(lkey, sizeof(lkey), "l:%s", login);
		if (index_throttle_drop(req->srv->ix, lkey) < 0)
			err_clear();
	}
	record(req, login, "password-reset", "by a code sent by SMS");
	log_info("password of '%s' reset by SMS code (%d sessions revoked)",
		 login, revoked);
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:i}", "login", login,
					 "sessions_revoked", revoked));
}
