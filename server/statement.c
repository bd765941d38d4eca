/*
 * Deposit statements (see statement.h): formatting, signing with the
 * ledger key under their own SSHSIG namespace (so a statement's signature
 * can never pass for a commit's, and the reverse), stamping with the
 * server's TSA, and recording in the ledger.
 */
#include "server/statement.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/path.h"
#include "server/keys.h"
#include "server/ledger.h"
#include "server/sshsig.h"
#include "server/tsa.h"

#define STATEMENT_MAX (8u * 1024u)
#define SIG_MAX	      (16u * 1024u)
#define TOKEN_MAX     (128u * 1024u)

void statement_path_salt(const struct crypto_key *path_key, const char *doc_id,
			 uint64_t version, const char *path,
			 char out[STATEMENT_SALT_HEX + 1])
{
	char what[PATH_MAX_LEN + 96];
	int n = snprintf(what, sizeof(what), "%s %llu %s", doc_id,
			 (unsigned long long)version, path);

	/* a path is at most PATH_MAX_LEN: never truncated */
	crypto_name_hex(path_key, what, n > 0 ? strnlen(what, sizeof(what)) : 0,
			out);
}

int statement_format_of(const char *text, size_t len)
{
	static const char v1[] = "coffre-statement 1\n",
			  v2[] = "coffre-statement 2\n";

	if (len >= sizeof(v1) - 1 && !memcmp(text, v1, sizeof(v1) - 1))
		return 1;
	if (len >= sizeof(v2) - 1 && !memcmp(text, v2, sizeof(v2) - 1))
		return 2;
	return -EBADMSG;
}

int statement_format(struct buf *out, const char *space, const char *path,
		     const struct crypto_key *path_key, const char *commit,
		     const char *manifest, size_t manifest_len,
		     const char *made, long long now)
{
	char sha[OBJ_ID_HEX_LEN + 1], msha[OBJ_ID_HEX_LEN + 1], at[32];
	char salt[STATEMENT_SALT_HEX + 1], psha[OBJ_ID_HEX_LEN + 1];
	struct hash_ctx *h = NULL;
	struct manifest m;
	struct obj_id id;
	int rc;

	manifest_init(&m);
	rc = manifest_parse(&m, manifest, manifest_len);
	if (rc < 0) {
		manifest_release(&m);
		return err_set(-EBADMSG,
			       "the version's manifest does not parse");
	}
	obj_id_to_hex(&m.sha256, sha);
	hash_buf(&id, manifest, manifest_len);
	obj_id_to_hex(&id, msha);
	/* path-sha256: SHA-256 of "SALT PATH", as sha256sum checks it */
	statement_path_salt(path_key, m.doc_id, m.version, path, salt);
	rc = hash_new(&h);
	if (rc == 0) {
		hash_update(h, salt, STATEMENT_SALT_HEX);
		hash_update(h, " ", 1);
		hash_update(h, path, strlen(path));
		hash_final(h, &id);
		hash_free(h);
		obj_id_to_hex(&id, psha);
		rfc3339_utc(now, at, sizeof(at));
		rc = buf_appendf(out,
				 "coffre-statement 2\n"
				 "space %s\n"
				 "path-sha256 %s\n"
				 "doc %s\n"
				 "version %llu\n"
				 "size %llu\n"
				 "sha256 %s\n"
				 "manifest-sha256 %s\n"
				 "deposited-by %s\n"
				 "deposited-at %s\n"
				 "commit %s\n"
				 "made %s\n"
				 "made-at %s\n",
				 space, psha, m.doc_id,
				 (unsigned long long)m.version,
				 (unsigned long long)m.size, sha, msha,
				 m.deposited_by, m.deposited_at, commit, made,
				 at);
	}
	manifest_release(&m);
	return rc;
}

/* What one statement needs while it is made: its text, signature, token. */
struct made {
	struct buf text, sig, tsr;
	char doc_id[DOC_ID_HEX_LEN + 1];
	uint64_t version;
};

static int make_one(struct made *s, const struct keys *k, const char *space,
		    const struct crypto_key *path_key, const char *path,
		    const char *commit, const char *manifest, const char *made,
		    long long now)
{
	struct manifest m;
	int rc;

	buf_init(&s->text, STATEMENT_MAX);
	buf_init(&s->sig, SIG_MAX);
	buf_init(&s->tsr, TOKEN_MAX);
	manifest_init(&m);
	rc = manifest_parse(&m, manifest, strlen(manifest));
	if (rc == 0) {
		memcpy(s->doc_id, m.doc_id, sizeof(s->doc_id));
		s->version = m.version;
	}
	manifest_release(&m);
	if (rc < 0)
		return err_set(-EBADMSG,
			       "the version's manifest does not parse");
	rc = statement_format(&s->text, space, path, path_key, commit, manifest,
			      strlen(manifest), made, now);
	if (rc == 0)
		rc = sshsig_sign(keys_ledger_key(k), STATEMENT_NAMESPACE,
				 s->text.data, s->text.len, &s->sig);
	/* Coffred's own TSA: a batch of thousands of deposits must not make
	 * thousands of requests to a third party, nor wait on one.  The
	 * commit's own token (from the external TSA when there is one) dates
	 * the deposit for those who may read the ledger. */
	if (rc == 0)
		rc = tsa_stamp_own(k, s->text.data, s->text.len, &s->tsr);
	return rc;
}

static void made_release(struct made *s)
{
	buf_release(&s->text);
	buf_release(&s->sig);
	buf_release(&s->tsr);
}

int statement_record(struct ledger *lg, const struct keys *k, const char *space,
		     const struct crypto_key *path_key, const char *commit,
		     const char *const *paths, const char *const *manifests,
		     size_t n, const char *made)
{
	struct made *s = calloc(n ? n : 1, sizeof(*s));
	struct ledger_statement *ls = calloc(n ? n : 1, sizeof(*ls));
	long long now = (long long)time(NULL);
	size_t i, added;
	int rc = 0;

	if (!s || !ls) {
		free(s);
		free(ls);
		return -ENOMEM;
	}
	for (i = 0; rc == 0 && i < n; i++) {
		rc = make_one(&s[i], k, space, path_key, paths[i], commit,
			      manifests[i], made, now);
		ls[i] = (struct ledger_statement){
			.doc_id = s[i].doc_id,
			.version = s[i].version,
			.text = s[i].text.data,
			.text_len = s[i].text.len,
			.sig = s[i].sig.data,
			.sig_len = s[i].sig.len,
			.tsr = s[i].tsr.data,
			.tsr_len = s[i].tsr.len,
		};
	}
	if (rc == 0 && n)
		rc = ledger_statements_add(lg, ls, n, &added);
	for (size_t j = 0; j < i; j++)
		made_release(&s[j]);
	free(ls);
	free(s);
	return rc;
}

/* A statement of format 2 made now, handed over unrecorded. */
static int make_unrecorded(const struct keys *k, const char *space,
			   const struct crypto_key *path_key, const char *path,
			   const char *commit, const char *manifest,
			   struct ledger_statement_copy *out)
{
	struct made s;
	int rc;

	rc = make_one(&s, k, space, path_key, path, commit, manifest,
		      "on-demand", (long long)time(NULL));
	if (rc == 0) {
		out->text = buf_detach(&s.text, &out->text_len);
		out->sig = buf_detach(&s.sig, &out->sig_len);
		out->tsr = buf_detach(&s.tsr, &out->tsr_len);
		if (!out->text || !out->sig || !out->tsr) {
			ledger_statement_copy_release(out);
			rc = -ENOMEM;
		}
	}
	made_release(&s);
	return rc;
}

int statement_get(struct ledger *lg, const struct keys *k, const char *space,
		  const struct crypto_key *path_key, const char *path,
		  const char *commit, const char *manifest, int path_hidden,
		  struct ledger_statement_copy *out)
{
	struct manifest m;
	int rc;

	manifest_init(&m);
	rc = manifest_parse(&m, manifest, strlen(manifest));
	if (rc < 0) {
		manifest_release(&m);
		return err_set(-EBADMSG,
			       "the version's manifest does not parse");
	}
	rc = ledger_statement_get(lg, m.doc_id, m.version, out);
	if (rc == -ENOENT) {
		/* None yet: made now, saying so, and kept for next time.  Two
		 * requests racing here both record; the ledger keeps the
		 * first, and both answer the one it kept. */
		rc = statement_record(lg, k, space, path_key, commit, &path,
				      &manifest, 1, "on-demand");
		if (rc == 0)
			rc = ledger_statement_get(lg, m.doc_id, m.version, out);
	}
	/* A format 1 statement states the path in clear: never to a reader
	 * who may not see it. */
	if (rc == 0 && path_hidden &&
	    statement_format_of(out->text, out->text_len) != 2) {
		ledger_statement_copy_release(out);
		rc = make_unrecorded(k, space, path_key, path, commit, manifest,
				     out);
	}
	manifest_release(&m);
	return rc;
}
