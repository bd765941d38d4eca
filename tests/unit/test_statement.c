/*
 * Deposit statements (server/statement.c) without a server: the format 2
 * text commits to the deposit path (SHA-256 of "SALT PATH") and never
 * names it; the salt is keyed (another key, version or path gives another
 * salt); a statement is recorded once and answered again the same; and a
 * recorded statement of format 1, which names its path in clear, is never
 * answered to a reader who may not see that path: one of format 2 is made
 * for them, unrecorded.
 */
#include "server/statement.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/path.h"
#include "server/keys.h"
#include "server/ledger.h"
#include "tests/lib/tap.h"

#define DOC	 "0123456789abcdef0123456789abcdef"
#define SECRET	 "/Secret/plan.txt"
#define COMMIT40 "1111111111111111111111111111111111111111"

static const char manifest[] =
	"coffre-manifest 1\n"
	"doc " DOC "\n"
	"version 2\n"
	"size 0\n"
	"sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
	"deposited-by alice\n"
	"deposited-at 2026-12-04T10:00:00Z\n";

/* The value of "KEY " in text, or "" (into out). */
static const char *field(const char *text, const char *key, char *out,
			 size_t outlen)
{
	size_t k = strlen(key);

	out[0] = '\0';
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l += !!l) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) : strlen(l);

		if (n > k && !strncmp(l, key, k) && l[k] == ' ' &&
		    n - k - 1 < outlen) {
			memcpy(out, l + k + 1, n - k - 1);
			out[n - k - 1] = '\0';
			break;
		}
	}
	return out;
}

static void commitment(const char *salt, const char *path, char *out)
{
	char what[PATH_MAX_LEN + 80];
	struct obj_id id;

	snprintf(what, sizeof(what), "%s %s", salt, path);
	hash_buf(&id, what, strlen(what));
	obj_id_to_hex(&id, out);
}

static void test_format(const struct crypto_key *key,
			const struct crypto_key *other)
{
	char salt[STATEMENT_SALT_HEX + 1], s2[STATEMENT_SALT_HEX + 1];
	char got[128], want[OBJ_ID_HEX_LEN + 1];
	struct buf b;

	buf_init(&b, 8192);
	ok(statement_format(&b, "demo", SECRET, key, COMMIT40, manifest,
			    strlen(manifest), "at-deposit", 1796378400) == 0,
	   "a statement of a version");
	is_int(statement_format_of(b.data, b.len), 2, "of format 2");
	ok(!strstr(b.data, "Secret") && !strstr(b.data, "plan.txt"),
	   "it names no part of the deposit path");
	statement_path_salt(key, DOC, 2, SECRET, salt);
	is_int((int)strlen(salt), STATEMENT_SALT_HEX, "a salt of 64 hex");
	commitment(salt, SECRET, want);
	is_str(field(b.data, "path-sha256", got, sizeof(got)), want,
	       "path-sha256 is SHA-256 of 'SALT PATH'");
	commitment(salt, "/Secret/plan.txt2", want);
	ok(strcmp(got, want), "another path does not match it");
	statement_path_salt(other, DOC, 2, SECRET, s2);
	ok(strcmp(salt, s2), "another space's key gives another salt");
	statement_path_salt(key, DOC, 3, SECRET, s2);
	ok(strcmp(salt, s2), "another version gives another salt");
	statement_path_salt(key, DOC, 2, "/Secret/plan.txu", s2);
	ok(strcmp(salt, s2), "another path gives another salt");
	statement_path_salt(key, DOC, 2, SECRET, s2);
	is_str(s2, salt,
	       "the same version and path: the same salt, made again");
	is_str(field(b.data, "doc", got, sizeof(got)), DOC, "it names the doc");
	is_str(field(b.data, "commit", got, sizeof(got)), COMMIT40,
	       "and the commit");
	is_int(statement_format_of("coffre-statement 1\npath /a\n", 26), 1,
	       "format 1 is told apart");
	is_int(statement_format_of("coffre-statement 3\n", 19), -EBADMSG,
	       "an unknown format is refused");
	buf_reset(&b);
	is_int(statement_format(&b, "demo", SECRET, key, COMMIT40, "junk", 4,
				"at-deposit", 0),
	       -EBADMSG, "a manifest that does not parse is refused");
	buf_release(&b);
}

static void test_get(struct ledger *lg, const struct keys *k,
		     const struct crypto_key *key)
{
	static const char v1_text[] = "coffre-statement 1\n"
				      "space demo\n"
				      "path " SECRET "\n"
				      "doc " DOC "\n"
				      "version 2\n";
	struct ledger_statement v1 = {
		.doc_id = DOC,
		.version = 2,
		.text = v1_text,
		.text_len = sizeof(v1_text) - 1,
		.sig = "sig",
		.sig_len = 3,
		.tsr = "tsr",
		.tsr_len = 3,
	};
	struct ledger_statement_copy a = { 0 }, b = { 0 };
	static const char m3[] =
		"coffre-manifest 1\n"
		"doc " DOC "\n"
		"version 3\n"
		"size 0\n"
		"sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
		"deposited-by alice\n"
		"deposited-at 2026-12-04T10:00:00Z\n";
	size_t added = 0;

	/* Version 3 has no statement: one is made on demand and kept. */
	ok(statement_get(lg, k, "demo", key, SECRET, COMMIT40, m3, 1, &a) ==
			   0 &&
		   statement_format_of(a.text, a.text_len) == 2 &&
		   strstr(a.text, "made on-demand"),
	   "no statement yet: one of format 2 made on demand");
	ok(statement_get(lg, k, "demo", key, "/elsewhere", COMMIT40, m3, 0,
			 &b) == 0 &&
		   a.text_len == b.text_len &&
		   !memcmp(a.text, b.text, a.text_len),
	   "kept: the next answer is the recorded one");
	ledger_statement_copy_release(&a);
	ledger_statement_copy_release(&b);

	/* Version 2 holds a statement of format 1, as recorded before. */
	ok(ledger_statements_add(lg, &v1, 1, &added) == 0 && added == 1,
	   "a statement of format 1 recorded");
	ok(statement_get(lg, k, "demo", key, SECRET, COMMIT40, manifest, 0,
			 &a) == 0 &&
		   !strcmp(a.text, v1_text),
	   "to a reader who sees its path: the recorded format 1");
	ok(statement_get(lg, k, "demo", key, SECRET, COMMIT40, manifest, 1,
			 &b) == 0 &&
		   statement_format_of(b.text, b.text_len) == 2 &&
		   !strstr(b.text, "Secret") && b.sig_len > 0 && b.tsr_len > 0,
	   "to one who does not: a signed, stamped format 2 naming no path");
	ledger_statement_copy_release(&a);
	ledger_statement_copy_release(&b);
	ok(ledger_statement_get(lg, DOC, 2, &a) == 0 &&
		   !strcmp(a.text, v1_text),
	   "which is not recorded: the ledger keeps its first");
	ledger_statement_copy_release(&a);
}

int main(void)
{
	char dir[] = "/tmp/test_statement.XXXXXX", repo[128];
	struct crypto_key key = { 0 }, other = { 0 };
	struct ledger *lg = NULL;
	struct keys *k = NULL;

	if (!mkdtemp(dir) || crypto_init() < 0 ||
	    crypto_key_new_random(&key) < 0 ||
	    crypto_key_new_random(&other) < 0)
		return 1;
	snprintf(repo, sizeof(repo), "%s/ledger.git", dir);
	if (keys_load(&k, dir) < 0 || ledger_open(&lg, repo, 1) < 0) {
		fprintf(stderr, "cannot make keys and ledger: %s\n", err_msg());
		return 1;
	}
	test_format(&key, &other);
	test_get(lg, k, &key);
	ledger_free(lg);
	keys_free(k);
	crypto_key_release(&key);
	crypto_key_release(&other);
	rm_rf(dir);
	return tap_done();
}
