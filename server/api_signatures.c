/*
 * E-signatures over the API (docs/protocol.md, "E-signatures"):
 *
 *   POST /v1/certs                        a user certificate for a CSR
 *   POST .../docs/D/versions/N/signatures add the caller's signature
 *   GET  .../docs/D/versions/N/signatures list a version's signatures
 *
 * A signature is accepted only when it verifies against the version's
 * content (streamed from the chunk store), names that version and role in
 * its signed attributes, and is the caller's own (esig.c).  coffred then
 * timestamps it with its TSA and records both in the ledger.
 */
#include "server/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/manifest.h"
#include "server/auth.h"
#include "server/esig.h"
#include "server/keys.h"
#include "server/ledger.h"
#include "server/server.h"
#include "server/spaces.h"
#include "server/tsa.h"

#define CSR_MAX (16u * 1024u)
#define PEM_MAX (64u * 1024u)
#define TSR_MAX (64u * 1024u)

/* Strict base64 (no whitespace) into a malloc'd buffer of at most max. */
static int b64_decode(const char *s, size_t max, unsigned char **out,
		      size_t *len)
{
	size_t n = strlen(s);
	unsigned char *p;
	int got;

	if (n == 0 || n % 4 || n / 4 * 3 > max + 2)
		return -EINVAL;
	p = malloc(n / 4 * 3 + 1);
	if (!p)
		return -ENOMEM;
	got = EVP_DecodeBlock(p, (const unsigned char *)s, (int)n);
	if (got < 0) {
		free(p);
		return -EINVAL;
	}
	if (s[n - 1] == '=')
		got--;
	if (s[n - 2] == '=')
		got--;
	*out = p;
	*len = (size_t)got;
	return 0;
}

int api_cert_issue(struct http_req *req)
{
	struct buf cert, ca;
	const char *csr;
	json_t *j;
	int rc;

	if (api_json_string(req, req->json, "csr", 1, CSR_MAX, &csr, -1))
		return 0;
	buf_init(&cert, PEM_MAX);
	buf_init(&ca, PEM_MAX);
	rc = keys_issue_user_cert(req->srv->keys, req->auth.login, csr,
				  strlen(csr), &cert);
	if (rc == 0)
		rc = keys_ca_pem(req->srv->keys, &ca);
	if (rc == 0) {
		j = json_pack("{s:s, s:s}", "certificate", cert.data, "ca",
			      ca.data);
		rc = j ? http_reply_json(req, 201, j) : -ENOMEM;
	}
	buf_release(&cert);
	buf_release(&ca);
	return rc;
}

int api_signature_add(struct http_req *req)
{
	char commit[GIT_OID_HEX_LEN + 1], at[32];
	const char *role, *cms_b64;
	unsigned char *cms = NULL;
	char *text = NULL;
	struct ledger_signature s;
	struct manifest m;
	struct buf tsr;
	size_t cms_len = 0;
	json_t *j;
	int rc;

	if (api_json_string(req, req->json, "role", 1, 16, &role, -1) ||
	    api_json_string(req, req->json, "cms", 1, ESIG_MAX * 2, &cms_b64,
			    -1))
		return 0;
	if (!esig_role_valid(role))
		return http_reply_error(req, 400, "bad_request", -1,
					"role must be author or recipient");
	if (b64_decode(cms_b64, ESIG_MAX, &cms, &cms_len) < 0)
		return http_reply_error(req, 400, "bad_request", -1,
					"cms must be base64 DER");
	manifest_init(&m);
	buf_init(&tsr, TSR_MAX);
	rc = api_version_find(req, commit, &text);
	if (rc == 0)
		rc = manifest_parse(&m, text, strlen(text));
	if (rc < 0)
		goto out;
	rc = esig_verify(req->srv->keys, req->space->chunks, &m,
			 req->auth.login, role, cms, cms_len);
	if (rc == -EBADMSG || rc == -EACCES) {
		rc = http_reply_error(req, 422, "bad_signature", -1, "%s",
				      err_msg());
		goto out;
	}
	if (rc == 0)
		rc = tsa_stamp(req->srv->keys, cms, cms_len, &tsr);
	if (rc < 0)
		goto out;
	rfc3339_utc((long long)time(NULL), at, sizeof(at));
	s.login = req->auth.login;
	s.role = role;
	s.signed_at = at;
	s.commit = commit;
	s.cms = cms;
	s.cms_len = cms_len;
	s.tsr = tsr.data;
	s.tsr_len = tsr.len;
	rc = ledger_signature_add(req->space->ledger, m.doc_id, m.version, &s);
	if (rc < 0)
		goto out;
	j = json_pack("{s:s, s:I, s:s, s:s, s:s, s:o}", "doc_id", m.doc_id,
		      "version", (json_int_t)m.version, "login",
		      req->auth.login, "role", role, "signed_at", at,
		      "timestamp", api_json_base64(tsr.data, tsr.len));
	rc = j ? http_reply_json(req, 201, j) : -ENOMEM;
out:
	manifest_release(&m);
	buf_release(&tsr);
	free(text);
	free(cms);
	return rc;
}

static int list_cb(const struct ledger_signature *s, void *arg)
{
	json_t *list = arg;
	json_t *j =
		json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "login", s->login,
			  "role", s->role, "signed_at", s->signed_at, "commit",
			  s->commit, "cms", api_json_base64(s->cms, s->cms_len),
			  "timestamp", api_json_base64(s->tsr, s->tsr_len));

	return !j || json_array_append_new(list, j) ? -ENOMEM : 0;
}

int api_signatures_list(struct http_req *req)
{
	char commit[GIT_OID_HEX_LEN + 1];
	char *text = NULL;
	json_t *list = json_array();
	int rc;

	if (!list)
		return -ENOMEM;
	rc = api_version_find(req, commit, &text);
	if (rc == 0)
		rc = ledger_signatures_list(req->space->ledger, req->arg,
					    req->num, list_cb, list);
	free(text);
	if (rc < 0) {
		json_decref(list);
		return rc;
	}
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:I, s:o}", "doc_id", req->arg,
					 "version", (json_int_t)req->num,
					 "signatures", list));
}
