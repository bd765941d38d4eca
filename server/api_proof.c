/*
 * GET /v1/spaces/SPACE/docs/DOC_ID/versions/N/proof: everything a third
 * party needs to check one version with stock tools, in one JSON answer
 * (see docs/protocol.md, "Proofs"): the manifest, the commit that made the
 * version and, to a caller who sees it, the path it was filed under, its
 * deposit statement (signed
 * and timestamped, statement.h), the server's published keys
 * (allowed-signers line, CA certificate) and the version's e-signatures.
 * Owners, who may read the whole space, also get the chain of commits from
 * the space's root with their RFC 3161 tokens and a git bundle of it; for
 * anyone else the bundle would disclose every name, manifest and access
 * line of the space, so it is left out.
 *
 * The content itself is not in the answer: the client has it (or fetches
 * it chunk by chunk) and checks it against the manifest's sha256.
 */
#include "server/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/manifest.h"
#include "server/auth.h"
#include "server/index.h"
#include "server/keys.h"
#include "server/ledger.h"
#include "server/policy.h"
#include "server/server.h"
#include "server/spaces.h"
#include "server/statement.h"

#define KEYS_TEXT_MAX (64u * 1024u)

struct found {
	char commit[GIT_OID_HEX_LEN + 1];
	char *manifest;
};

static int from_index(const struct index_version *v, void *arg)
{
	struct found *f = arg;

	snprintf(f->commit, sizeof(f->commit), "%s", v->commit);
	free(f->manifest);
	f->manifest = strdup(v->manifest);
	return f->manifest ? 0 : -ENOMEM;
}

struct want {
	uint64_t version;
	struct found *f;
};

static int from_ledger(const struct manifest *m, const char *commit, void *arg)
{
	struct want *w = arg;
	struct buf text;
	int rc;

	if (m->version != w->version)
		return 0;
	buf_init(&text, 64u * 1024u * 1024u);
	rc = manifest_format(m, &text);
	if (rc == 0) {
		snprintf(w->f->commit, sizeof(w->f->commit), "%s", commit);
		free(w->f->manifest);
		w->f->manifest = buf_detach(&text, NULL);
		if (!w->f->manifest)
			rc = -ENOMEM;
	}
	buf_release(&text);
	return rc;
}

static int sig_cb(const struct ledger_signature *s, void *arg)
{
	json_t *list = arg;
	json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:o}", "login", s->login,
			      "role", s->role, "signed_at", s->signed_at, "cms",
			      api_json_base64(s->cms, s->cms_len), "timestamp",
			      api_json_base64(s->tsr, s->tsr_len));

	return !j || json_array_append_new(list, j) ? -ENOMEM : 0;
}

static json_t *statement_json(const struct ledger_statement_copy *st)
{
	return json_pack("{s:s, s:s, s:o}", "text", st->text, "signature",
			 st->sig, "timestamp",
			 api_json_base64(st->tsr, st->tsr_len));
}

/* The keys' texts a proof carries: allowed signers and the TSA's CA
 * (both buffers initialized here, the caller releases them). */
static int keys_texts(struct http_req *req, struct buf *signers, struct buf *ca)
{
	int rc;

	buf_init(signers, KEYS_TEXT_MAX);
	buf_init(ca, KEYS_TEXT_MAX);
	rc = keys_allowed_signers(req->srv->keys, signers);
	return rc ? rc : keys_ca_pem(req->srv->keys, ca);
}

/* The ledger's history, for callers who may read the whole space. */
static int history_json(json_t *j, const struct ledger_proof *p)
{
	json_t *chain = json_array();

	for (size_t i = 0; chain && i < p->ncommits; i++) {
		json_t *c = json_pack("{s:s, s:s?}", "commit", p->commits[i],
				      "timestamp", p->tokens[i]);

		if (!c || json_array_append_new(chain, c)) {
			json_decref(chain);
			return -ENOMEM;
		}
	}
	if (!chain || json_object_set_new(j, "chain", chain) ||
	    json_object_set_new(j, "bundle",
				api_json_base64(p->bundle, p->bundle_len)))
		return -ENOMEM;
	return 0;
}

/*
 * Where the version was deposited, for a caller who sees that path: the
 * path and the salt that opens the statement's path-sha256 to it.
 */
static int path_json(struct http_req *req, json_t *j, const char *path)
{
	char salt[STATEMENT_SALT_HEX + 1];

	statement_path_salt(&req->space->path_key, req->arg, req->num, path,
			    salt);
	if (json_object_set_new(j, "path", json_string(path)) ||
	    json_object_set_new(j, "path_salt", json_string(salt)))
		return -ENOMEM;
	return 0;
}

static json_t *proof_json(struct http_req *req, const struct found *f,
			  const struct ledger_proof *p,
			  const struct ledger_statement_copy *st, int history,
			  int path_seen)
{
	json_t *j, *sigs = json_array();
	struct buf signers, ca;
	int rc;

	rc = keys_texts(req, &signers, &ca);
	if (rc == 0)
		rc = sigs ? ledger_signatures_list(req->space->ledger, req->arg,
						   req->num, sig_cb, sigs) :
			    -ENOMEM;
	j = rc == 0 ? json_pack("{s:s, s:I, s:s, s:s, s:o, s:s, s:s, s:O}",
				"doc_id", req->arg, "version",
				(json_int_t)req->num, "commit", f->commit,
				"manifest", f->manifest, "statement",
				statement_json(st), "allowed_signers",
				signers.data, "tsa_ca", ca.data, "signatures",
				sigs) :
		      NULL;
	if (j && path_seen && path_json(req, j, p->path) < 0) {
		json_decref(j);
		j = NULL;
	}
	if (j && history && history_json(j, p) < 0) {
		json_decref(j);
		j = NULL;
	}
	json_decref(sigs);
	buf_release(&signers);
	buf_release(&ca);
	return j;
}

int api_version_find(struct http_req *req, char *commit, char **manifest)
{
	struct found f = { .manifest = NULL };
	struct want w = { .version = req->num, .f = &f };
	int rc;

	*manifest = NULL;
	if (!doc_id_valid(req->arg))
		return err_set(-ENOENT, "no such document '%s'", req->arg);
	rc = api_doc_authorize(req);
	if (rc < 0)
		return rc;
	/* The one rule of every version's answer (access_version_open). */
	rc = api_version_open(req, req->arg, req->num);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(-ENOENT, "no version %llu of document '%s'",
			       (unsigned long long)req->num, req->arg);
	rc = index_versions(req->srv->ix, req->space_name, req->arg, req->num,
			    from_index, &f);
	/* Not in the index (rebuilt, or behind): the ledger's history. */
	if (rc == 0)
		rc = ledger_versions(req->space->ledger, req->arg, from_ledger,
				     &w);
	if (rc == -ENOENT)
		rc = 0;
	if (rc == 0 && !f.manifest)
		rc = err_set(-ENOENT, "no version %llu of document '%s'",
			     (unsigned long long)req->num, req->arg);
	if (rc < 0) {
		free(f.manifest);
		return rc;
	}
	memcpy(commit, f.commit, GIT_OID_HEX_LEN + 1);
	*manifest = f.manifest;
	return 0;
}

int api_doc_proof(struct http_req *req)
{
	struct ledger_statement_copy st = { 0 };
	struct found f = { .manifest = NULL };
	struct ledger_proof p;
	int rc, history, path_seen;
	struct auth_ctx probe;
	json_t *j;

	rc = api_version_find(req, f.commit, &f.manifest);
	if (rc < 0)
		return rc;
	/*
	 * The ledger's history shows the whole tree at every commit: only
	 * a caller who may read the whole space gets it.  Everyone else
	 * gets the version's deposit statement, which names nothing else.
	 */
	history = req->auth.role_id == POLICY_ROLE_OWNER;
	rc = ledger_proof_build(req->space->ledger, f.commit, f.manifest,
				strlen(f.manifest), history, &p);
	if (rc < 0)
		goto out;
	/*
	 * Whoever may read the version gets its proof, by the one rule
	 * above.  Its statement commits to the path the version was
	 * deposited at without naming it; the path itself (and the salt
	 * that opens the commitment) only to a caller who sees that path
	 * now: a version read elsewhere (moved out of a confidential folder,
	 * declassified) must not name where it came from.
	 */
	probe = req->auth;
	path_seen = authorize_sees_path(&probe, req->space_name, p.path);
	rc = path_seen < 0 ? path_seen : 0;
	if (rc == 0)
		rc = statement_get(req->space->ledger, req->srv->keys,
				   req->space_name, &req->space->path_key,
				   p.path, f.commit, f.manifest, !path_seen,
				   &st);
	if (rc == 0) {
		j = proof_json(req, &f, &p, &st, history, path_seen);
		rc = j ? http_reply_json(req, 200, j) : -ENOMEM;
	}
	ledger_statement_copy_release(&st);
	ledger_proof_release(&p);
out:
	free(f.manifest);
	return rc;
}

/*
 * GET /v1/spaces/SPACE/ledger: the whole ledger as a git bundle with the
 * keys that check it, for `coffre export`.  Its trees name everything in
 * the space: owners only, as the history of a proof.
 */
int api_ledger_bundle(struct http_req *req)
{
	char head[GIT_OID_HEX_LEN + 1];
	struct buf signers, ca;
	void *bundle = NULL;
	size_t len = 0;
	json_t *j = NULL;
	int rc;

	if (req->auth.role_id != POLICY_ROLE_OWNER)
		return http_reply_error(
			req, 403, "forbidden", -1,
			"only the space's owners may take its whole ledger");
	rc = keys_texts(req, &signers, &ca);
	if (rc == 0)
		rc = ledger_bundle_all(req->space->ledger, &bundle, &len, head);
	if (rc == 0) {
		j = json_pack("{s:s, s:o, s:s, s:s}", "head", head, "bundle",
			      api_json_base64(bundle, len), "allowed_signers",
			      signers.data, "tsa_ca", ca.data);
		rc = j ? http_reply_json(req, 200, j) : -ENOMEM;
	}
	free(bundle);
	buf_release(&signers);
	buf_release(&ca);
	return rc;
}
