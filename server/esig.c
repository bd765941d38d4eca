/*
 * Checking a user's e-signature of a version (see esig.h) with OpenSSL's
 * CMS API.  The signed content is the version's bytes, which never sit
 * whole in memory: a small source BIO hands the chunks to CMS_verify one
 * at a time, each decrypted and hash-checked by the chunk store.
 */
#include "server/esig.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "server/chunkstore.h"
#include "server/keys.h"

int esig_role_valid(const char *role)
{
	return role && (!strcmp(role, "author") || !strcmp(role, "recipient"));
}

int esig_binding(char *out, size_t outlen, const struct manifest *m,
		 const char *role)
{
	char hex[OBJ_ID_HEX_LEN + 1];

	obj_id_to_hex(&m->sha256, hex);
	if ((size_t)snprintf(out, outlen,
			     "coffre-doc %s version %llu sha256 %s as %s",
			     m->doc_id, (unsigned long long)m->version, hex,
			     role) >= outlen)
		return err_set(-ENAMETOOLONG, "binding too long");
	return 0;
}

/* --- the content as a BIO --- */

struct chunk_src {
	struct chunkstore *cs;
	const struct manifest *m;
	size_t next;  /* next chunk to load */
	uint8_t *buf; /* current chunk */
	size_t len, off;
	int err;
};

static int src_read(BIO *b, char *out, size_t n, size_t *got)
{
	struct chunk_src *s = BIO_get_data(b);
	int rc;

	*got = 0;
	while (s->off == s->len) {
		free(s->buf);
		s->buf = NULL;
		s->len = s->off = 0;
		if (s->next == s->m->nchunks)
			return 0; /* EOF */
		rc = chunkstore_get(s->cs, &s->m->chunks[s->next].id, &s->buf,
				    &s->len);
		if (rc < 0) {
			s->err = rc;
			return 0;
		}
		s->next++;
	}
	if (n > s->len - s->off)
		n = s->len - s->off;
	memcpy(out, s->buf + s->off, n);
	s->off += n;
	*got = n;
	return 1;
}

static long src_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct chunk_src *s = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_EOF:
		return s->next == s->m->nchunks && s->off == s->len;
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		return 0;
	}
}

static BIO_METHOD *src_method(void)
{
	BIO_METHOD *bm = BIO_meth_new(
		BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "coffre chunks");

	if (bm && (!BIO_meth_set_read_ex(bm, src_read) ||
		   !BIO_meth_set_ctrl(bm, src_ctrl))) {
		BIO_meth_free(bm);
		bm = NULL;
	}
	return bm;
}

/* --- the checks --- */

static int ssl_why(int rc, const char *what)
{
	char why[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	return err_set(rc, "%s: %s", what, e ? why : "error");
}

static int check_attrs(CMS_SignerInfo *si, const char *binding)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(ESIG_BINDING_OID, 1);
	X509_ATTRIBUTE *a;
	ASN1_STRING *v;
	int i;

	if (!oid)
		return ssl_why(-EIO, "cannot parse the binding OID");
	i = CMS_signed_get_attr_by_OBJ(si, oid, -1);
	ASN1_OBJECT_free(oid);
	if (i < 0)
		return err_set(
			-EBADMSG,
			"the signature does not name the version it signs");
	a = CMS_signed_get_attr(si, i);
	v = X509_ATTRIBUTE_get0_data(a, 0, V_ASN1_UTF8STRING, NULL);
	if (!v || (size_t)ASN1_STRING_length(v) != strlen(binding) ||
	    memcmp(ASN1_STRING_get0_data(v), binding, strlen(binding)))
		return err_set(
			-EBADMSG,
			"the signature is for another version or role (it says '%.*s')",
			v ? ASN1_STRING_length(v) : 0,
			v ? (const char *)ASN1_STRING_get0_data(v) : "");
	/* CAdES-BES: the signer's certificate is bound by its hash. */
	if (CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2,
				       -1) < 0)
		return err_set(
			-EBADMSG,
			"the signature has no signing-certificate-v2 (not CAdES-BES)");
	return 0;
}

static int check_signer(X509 *cert, const char *login)
{
	X509_NAME *name = X509_get_subject_name(cert);
	char cn[128];
	int n;

	n = X509_NAME_get_text_by_NID(name, NID_commonName, cn, sizeof(cn));
	if (n < 0 || strcmp(cn, login))
		return err_set(-EACCES, "the signature is by '%s', not by '%s'",
			       n < 0 ? "?" : cn, login);
	return 0;
}

int esig_verify(const struct keys *k, struct chunkstore *cs,
		const struct manifest *m, const char *login, const char *role,
		const void *der, size_t len)
{
	struct chunk_src src = { .cs = cs, .m = m };
	STACK_OF(CMS_SignerInfo) * sis;
	STACK_OF(X509) *signers = NULL;
	BIO_METHOD *bm = NULL;
	X509_STORE *store = NULL;
	CMS_ContentInfo *cms;
	BIO *in, *content = NULL;
	char binding[256];
	int rc;

	if (len > ESIG_MAX)
		return err_set(-E2BIG, "signature over %u bytes", ESIG_MAX);
	rc = esig_binding(binding, sizeof(binding), m, role);
	if (rc < 0)
		return rc;
	in = BIO_new_mem_buf(der, (int)len);
	cms = in ? d2i_CMS_bio(in, NULL) : NULL;
	BIO_free(in);
	if (!cms) {
		ERR_clear_error();
		return err_set(-EBADMSG, "not a DER CMS signature");
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    !CMS_is_detached(cms)) {
		rc = err_set(-EBADMSG, "not a detached CMS signature");
		goto out;
	}
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1) {
		rc = err_set(-EBADMSG, "a signature must have one signer");
		goto out;
	}
	rc = check_attrs(sk_CMS_SignerInfo_value(sis, 0), binding);
	if (rc < 0)
		goto out;
	store = X509_STORE_new();
	bm = src_method();
	content = bm ? BIO_new(bm) : NULL;
	if (!store || !content ||
	    X509_STORE_add_cert(store, keys_ca_cert(k)) != 1) {
		rc = ssl_why(-EIO, "cannot set up a signature check");
		goto out;
	}
	X509_STORE_set_purpose(store, X509_PURPOSE_SMIME_SIGN);
	BIO_set_data(content, &src);
	BIO_set_init(content, 1);
	if (CMS_verify(cms, NULL, store, content, NULL, CMS_BINARY) != 1) {
		rc = src.err < 0 ?
			     err_set(src.err,
				     "cannot read the version's content") :
			     ssl_why(-EBADMSG, "the signature does not verify");
		goto out;
	}
	signers = CMS_get0_signers(cms);
	if (!signers || sk_X509_num(signers) != 1) {
		rc = err_set(-EBADMSG, "no signer certificate");
		goto out;
	}
	rc = check_signer(sk_X509_value(signers, 0), login);
out:
	sk_X509_free(signers);
	free(src.buf);
	BIO_free(content);
	BIO_meth_free(bm);
	X509_STORE_free(store);
	CMS_ContentInfo_free(cms);
	return rc;
}
