/*
 * Accounts people make themselves, and passwords they reset, proven by a
 * one-time code sent by SMS to their mobile number (docs/protocol.md,
 * Sign-up).  The rules live here; the endpoints in api_signup.c.
 *
 * A code is 6 digits from the system's CSPRNG, valid SIGNUP_CODE_TTL
 * seconds, SIGNUP_CODE_TRIES wrong tries then gone; the index keeps only
 * SHA-256(salt, code) with a random salt of its own, so a copy of the
 * index shows no code.  Requests for codes are throttled per number (a
 * sign-up) or per login (a reset) and per client address, by the login
 * throttle (throttle.h) under keys of their own; confirmations too.
 *
 * The SMS goes through sms_command (coffred.conf): run with the number as
 * its only argument and the text on standard input, nothing else
 * inherited (no descriptor but /dev/null and the pipe), killed after
 * SIGNUP_SMS_TIMEOUT_S; exit status 0 means sent.  An operator plugs in
 * any gateway that way.
 */
#ifndef COFFRE_SERVER_SIGNUP_H
#define COFFRE_SERVER_SIGNUP_H

#include <stddef.h>
#include <stdint.h>

#include "server/index.h"

#define SIGNUP_CODE_TTL	     600
#define SIGNUP_CODE_TRIES    5
#define SIGNUP_CODES_MAX     10000 /* pending at once, server-wide */
#define SIGNUP_SMS_TIMEOUT_S 10
#define SIGNUP_INVITE_DAYS   7
#define SIGNUP_INVITE_LEN    24 /* "XXXX-XXXX-XXXX-XXXX-XXXX" with no NUL */
#define SIGNUP_EMAIL_MAX     254

/* An e-mail address as given at sign-up: one '@', no blank, no control,
 * at most SIGNUP_EMAIL_MAX bytes.  0 or -EINVAL (err_set). */
int signup_email_validate(const char *email);

/* A fresh code: 6 decimal digits and the NUL. */
void signup_code_new(char code[7]);

/* c->salt gets a fresh salt and c->code_hash the hash of code with it. */
void signup_code_seal(struct index_code *c, const char *code);

/* 1 when code is the one c holds (in constant time), else 0. */
int signup_code_matches(const struct index_code *c, const char *code);

/*
 * Send text to number through command (sms_command).  wait: wait for its
 * exit status (0, or -EIO with err_set saying why); else it runs on its
 * own and only a failure to start it is said.
 */
int signup_sms_send(const char *command, const char *number, const char *text,
		    int wait);

/* The hash under which the index keeps an invitation code (hex). */
void signup_invite_hash(const char *code, char hex[INDEX_HASH_HEX]);

/*
 * A new sign-up invitation in ix, valid for days (1..365): its code in
 * code (SIGNUP_INVITE_LEN + 1 bytes), as it is given to the person.
 */
int signup_invite_new(struct index *ix, unsigned days,
		      char code[SIGNUP_INVITE_LEN + 1]);

/* A number shown to its owner without all of it: "+33••••••78". */
void signup_phone_masked(const char *phone, char *out, size_t cap);

#endif /* COFFRE_SERVER_SIGNUP_H */
