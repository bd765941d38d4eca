/*
 * The rules of sign-up codes and invitations, and the SMS command runner
 * (server/signup.h): e-mail addresses checked, codes of 6 digits that
 * match only themselves, invitations typed in any case, the number
 * masked, and sms_command's outcomes (sent, failed, missing, not waited
 * for) with what it receives.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "common/crypto.h"
#include "common/err.h"
#include "server/signup.h"
#include "tests/lib/tap.h"

static char dir[] = "/tmp/coffre-test-signup.XXXXXX";

/* A gateway script in dir: writes its argument and input to out, exits
 * with status. */
static void script(const char *name, int status, char *path, size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		exit(1);
	fprintf(f,
		"#!/bin/sh\n{ echo \"$1\"; cat; } >\"%s/out.tmp\"\nmv \"%s/out.tmp\" \"%s/out\"\nexit %d\n",
		dir, dir, dir, status);
	fclose(f);
	chmod(path, 0755);
}

static int read_out(char *buf, size_t cap)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/out", dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	return 0;
}

static void test_email(void)
{
	static const char *const good[] = { "a@b", "marie.dupont@example.org",
					    "x+tag@sub.example.fr" };
	static const char *const bad[] = { "",	     "@b",     "a@",
					   "a@b@c",  "a b@c",  "a@b\tc",
					   "nobody", "a\x7f@b" };
	char big[300];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(signup_email_validate(good[i]) == 0, "e-mail '%s' taken",
		   good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(signup_email_validate(bad[i]) == -EINVAL,
		   "e-mail #%zu refused", i);
	memset(big, 'a', sizeof(big));
	big[1] = '@';
	big[sizeof(big) - 1] = '\0';
	ok(signup_email_validate(big) == -EINVAL, "an e-mail past 254 bytes");
}

static void test_codes(void)
{
	struct index_code c = { 0 }, d = { 0 };
	char code[7], other[7];
	int digits = 1, differ = 0;

	for (int i = 0; i < 200; i++) {
		signup_code_new(code);
		digits &= strlen(code) == 6 && strspn(code, "0123456789") == 6;
		signup_code_new(other);
		differ += strcmp(code, other) != 0;
	}
	ok(digits, "codes are 6 digits");
	ok(differ > 190, "and differ from one to the next (%d of 200)", differ);
	signup_code_new(code);
	signup_code_seal(&c, code);
	is_int((int)strlen(c.code_hash), 64, "the hash is SHA-256 in hex");
	ok(strstr(c.code_hash, code) == NULL && strstr(c.salt, code) == NULL,
	   "neither the hash nor the salt shows the code");
	ok(signup_code_matches(&c, code), "the code matches");
	snprintf(other, sizeof(other), "%06u",
		 (unsigned)(atoi(code) + 1) % 1000000u);
	ok(!signup_code_matches(&c, other), "the next number does not");
	ok(!signup_code_matches(&c, "") && !signup_code_matches(&c, "12345") &&
		   !signup_code_matches(&c, "1234567") &&
		   !signup_code_matches(&c, "abcdef"),
	   "nor empty, short, long or letters");
	signup_code_seal(&d, code);
	ok(strcmp(c.salt, d.salt) && strcmp(c.code_hash, d.code_hash),
	   "the same code sealed twice: two salts, two hashes");
}

static void test_invites(void)
{
	char a[INDEX_HASH_HEX], b[INDEX_HASH_HEX], c[INDEX_HASH_HEX];

	signup_invite_hash("ABCD-EFGH-JKMN-PQRS-TVWX", a);
	signup_invite_hash("abcd efgh jkmn pqrs tvwx", b);
	signup_invite_hash("ABCD-EFGH-JKMN-PQRS-TVWY", c);
	is_str(a, b, "an invitation typed in lower case, with blanks");
	ok(strcmp(a, c), "another code, another hash");
}

static void test_mask(void)
{
	char out[64];

	signup_phone_masked("+33612345678", out, sizeof(out));
	is_str(out,
	       "+33\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2"
	       "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2"
	       "78",
	       "the number masked but +CC and the last two digits");
}

static void test_sms(void)
{
	char ok0[256], bad1[256], out[256];

	script("ok.sh", 0, ok0, sizeof(ok0));
	script("fail.sh", 3, bad1, sizeof(bad1));
	ok(signup_sms_send(ok0, "+33612345678", "code 123456\n", 1) == 0,
	   "a gateway exiting 0: sent");
	ok(read_out(out, sizeof(out)) == 0 &&
		   !strcmp(out, "+33612345678\ncode 123456\n"),
	   "it got the number as argument and the text on its input");
	ok(signup_sms_send(bad1, "+33612345678", "x\n", 1) == -EIO &&
		   strstr(err_msg(), "exit status 3"),
	   "exit status 3: -EIO saying so (%s)", err_msg());
	read_out(out, sizeof(out)); /* what it wrote before failing */
	ok(signup_sms_send("/nonexistent/sms", "+33612345678", "x\n", 1) ==
		   -EIO,
	   "a missing command: -EIO");
	ok(signup_sms_send("", "+33612345678", "x\n", 1) == -ENOSYS,
	   "no command configured: -ENOSYS");
	ok(signup_sms_send(ok0, "+33699999999", "later\n", 0) == 0,
	   "not waited for: started");
	for (int i = 0; i < 200 && read_out(out, sizeof(out)) < 0; i++)
		usleep(10000);
	is_str(out, "+33699999999\nlater\n", "and it ran all the same");
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dir) || crypto_init() < 0)
		return 1;
	test_email();
	test_codes();
	test_invites();
	test_mask();
	test_sms();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return tap_done();
}
