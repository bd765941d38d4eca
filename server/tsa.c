/*
 * RFC 3161 time-stamping with OpenSSL's TS API: build a request for
 * SHA-256(data) (certReq true, random nonce), and answer it with coffred's
 * own TS_RESP_CTX holding the TSA key and certificate, or send it to the
 * external TSA of coffred.conf (tsa_http.c) and check its answer.  The
 * same API verifies a response (fsck, signatures), against coffred's CA
 * and the external TSA's.
 */
#include "server/tsa.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "common/err.h"
#include "server/keys.h"
#include "common/log.h"

#define TSA_RESP_MAX (64u * 1024u)

/* A random positive 127-bit serial number for each token. */
static ASN1_INTEGER *serial_cb(TS_RESP_CTX *ctx, void *arg)
{
	unsigned char r[16];
	BIGNUM *bn;
	ASN1_INTEGER *ai = NULL;

	(void)ctx;
	(void)arg;
	if (RAND_bytes(r, sizeof(r)) != 1)
		return NULL;
	r[0] &= 0x7f;
	bn = BN_bin2bn(r, sizeof(r), NULL);
	if (bn)
		ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return ai;
}

/*
 * A DER TimeStampReq for SHA-256(data) in a memory BIO, and the request
 * itself (for checking an external answer's imprint and nonce) when
 * reqp is not NULL.
 */
static int make_request(const void *data, size_t len, BIO **out, TS_REQ **reqp)
{
	unsigned char digest[32], nonce[8];
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	TS_REQ *req = TS_REQ_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *n = NULL;
	BIO *b = NULL;
	int ok;

	ok = mi && alg && req &&
	     EVP_Digest(data, len, digest, NULL, EVP_sha256(), NULL) == 1 &&
	     X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) ==
		     1 &&
	     TS_MSG_IMPRINT_set_algo(mi, alg) == 1 &&
	     TS_MSG_IMPRINT_set_msg(mi, digest, sizeof(digest)) == 1 &&
	     TS_REQ_set_version(req, 1) == 1 &&
	     TS_REQ_set_msg_imprint(req, mi) == 1 &&
	     TS_REQ_set_cert_req(req, 1) == 1 &&
	     RAND_bytes(nonce, sizeof(nonce)) == 1;
	if (ok) {
		bn = BN_bin2bn(nonce, sizeof(nonce), NULL);
		n = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
		ok = n && TS_REQ_set_nonce(req, n) == 1;
	}
	if (ok) {
		b = BIO_new(BIO_s_mem());
		ok = b && i2d_TS_REQ_bio(b, req) == 1;
	}
	ASN1_INTEGER_free(n);
	BN_free(bn);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	if (!ok) {
		TS_REQ_free(req);
		BIO_free(b);
		return keys_ssl_err("build a time-stamp request");
	}
	if (reqp)
		*reqp = req;
	else
		TS_REQ_free(req);
	*out = b;
	return 0;
}

/* A store of coffred's CA and the external TSA's CAs. */
static X509_STORE *trust_store(const struct keys *k)
{
	STACK_OF(X509) *ext = keys_tsa_ext_ca(k);
	X509_STORE *store = X509_STORE_new();
	int ok = store && X509_STORE_add_cert(store, keys_ca_cert(k)) == 1;

	for (int i = 0; ok && ext && i < sk_X509_num(ext); i++)
		ok = X509_STORE_add_cert(store, sk_X509_value(ext, i)) == 1;
	if (!ok) {
		X509_STORE_free(store);
		return NULL;
	}
	return store;
}

/*
 * Ask the external TSA: 0 and the DER response in der, which was checked
 * (status granted, signature by a certificate of tsa_ca, our imprint and
 * nonce), or -errno with err_set().
 */
static int stamp_external(const struct keys *k, const void *data, size_t len,
			  struct buf *der)
{
	TS_VERIFY_CTX *vc = NULL;
	X509_STORE *store = NULL;
	TS_REQ *treq = NULL;
	TS_RESP *resp = NULL;
	const unsigned char *p;
	struct buf answer;
	BIO *req = NULL;
	char *q;
	long qlen;
	int rc;

	buf_init(&answer, TSA_RESP_MAX);
	rc = make_request(data, len, &req, &treq);
	if (rc < 0)
		goto out;
	qlen = BIO_get_mem_data(req, &q);
	rc = tsa_http_post(keys_tsa_url(k), q, (size_t)qlen, &answer);
	if (rc < 0)
		goto out;
	p = (const unsigned char *)answer.data;
	resp = d2i_TS_RESP(NULL, &p, (long)answer.len);
	if (!resp) {
		ERR_clear_error();
		rc = err_set(-EPROTO,
			     "the TSA at '%s' sent no time-stamp response",
			     keys_tsa_url(k));
		goto out;
	}
	vc = TS_REQ_to_TS_VERIFY_CTX(treq, NULL);
	store = trust_store(k);
	if (!vc || !store) {
		rc = keys_ssl_err("set up a time-stamp check");
		goto out;
	}
	TS_VERIFY_CTX_add_flags(vc, TS_VFY_SIGNATURE);
	TS_VERIFY_CTX_set_store(vc, store);
	store = NULL; /* owned by vc */
	if (TS_RESP_verify_response(vc, resp) != 1) {
		char why[256];
		unsigned long e = ERR_get_error();

		ERR_error_string_n(e, why, sizeof(why));
		ERR_clear_error();
		rc = err_set(-EPROTO, "the TSA at '%s' sent a bad token: %s",
			     keys_tsa_url(k), why);
		goto out;
	}
	rc = buf_append(der, answer.data, answer.len);
out:
	X509_STORE_free(store);
	TS_VERIFY_CTX_free(vc);
	TS_RESP_free(resp);
	TS_REQ_free(treq);
	BIO_free(req);
	buf_release(&answer);
	return rc;
}

int tsa_stamp(const struct keys *k, const void *data, size_t len,
	      struct buf *der)
{
	int rc;

	if (!keys_tsa_url(k))
		return tsa_stamp_own(k, data, len, der);
	rc = stamp_external(k, data, len, der);
	if (rc == 0)
		return 0;
	/*
	 * A commit never waits on a third party: without the external TSA
	 * it is stamped by our own, and the operator hears of it.
	 */
	log_warn("time-stamping by our own TSA: %s", err_msg());
	buf_reset(der);
	return tsa_stamp_own(k, data, len, der);
}

int tsa_stamp_own(const struct keys *k, const void *data, size_t len,
		  struct buf *der)
{
	TS_RESP_CTX *ctx = TS_RESP_CTX_new();
	ASN1_OBJECT *policy = OBJ_txt2obj(TSA_POLICY_OID, 1);
	TS_RESP *resp = NULL;
	unsigned char *p = NULL;
	BIO *req = NULL;
	int plen, rc;

	if (!ctx || !policy ||
	    TS_RESP_CTX_set_signer_cert(ctx, keys_tsa_cert(k)) != 1 ||
	    TS_RESP_CTX_set_signer_key(ctx, keys_tsa_key(k)) != 1 ||
	    TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) != 1 ||
	    TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) != 1 ||
	    TS_RESP_CTX_set_def_policy(ctx, policy) != 1 ||
	    TS_RESP_CTX_add_md(ctx, EVP_sha256()) != 1 ||
	    TS_RESP_CTX_set_accuracy(ctx, 1, 0, 0) != 1) {
		rc = keys_ssl_err("set up the time-stamping authority");
		goto out;
	}
	TS_RESP_CTX_set_serial_cb(ctx, serial_cb, NULL);
	/* The token names its TSA (the certificate's subject). */
	TS_RESP_CTX_add_flags(ctx, TS_TSA_NAME);
	rc = make_request(data, len, &req, NULL);
	if (rc < 0)
		goto out;
	resp = TS_RESP_create_response(ctx, req);
	if (!resp ||
	    ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(
		    TS_RESP_get_status_info(resp))) != TS_STATUS_GRANTED) {
		rc = keys_ssl_err("make a time-stamp token");
		goto out;
	}
	plen = i2d_TS_RESP(resp, &p);
	if (plen <= 0) {
		rc = keys_ssl_err("encode a time-stamp token");
		goto out;
	}
	rc = buf_append(der, p, (size_t)plen);
out:
	OPENSSL_free(p);
	TS_RESP_free(resp);
	BIO_free(req);
	ASN1_OBJECT_free(policy);
	TS_RESP_CTX_free(ctx);
	return rc;
}

int tsa_stamp_b64(const struct keys *k, const void *data, size_t len,
		  struct buf *b64)
{
	struct buf der;
	unsigned char *enc = NULL;
	int rc;

	buf_init(&der, TSA_RESP_MAX);
	rc = tsa_stamp(k, data, len, &der);
	if (rc == 0) {
		enc = malloc(4 * ((der.len + 2) / 3) + 1);
		if (!enc)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		int n = EVP_EncodeBlock(enc, (unsigned char *)der.data,
					(int)der.len);

		rc = buf_append(b64, enc, (size_t)n);
		if (rc == 0)
			rc = buf_append(b64, "\n", 1);
	}
	free(enc);
	buf_release(&der);
	return rc;
}

int tsa_verify(const struct keys *k, const void *der, size_t der_len,
	       const void *data, size_t len)
{
	const unsigned char *p = der;
	TS_VERIFY_CTX *vc = NULL;
	X509_STORE *store = NULL;
	TS_RESP *resp;
	BIO *bio = NULL;
	char why[256];
	unsigned long e;
	int rc = 0;

	resp = d2i_TS_RESP(NULL, &p, (long)der_len);
	if (!resp) {
		ERR_clear_error();
		return err_set(-EBADMSG, "not a time-stamp response");
	}
	vc = TS_VERIFY_CTX_new();
	store = trust_store(k);
	bio = BIO_new_mem_buf(data, (int)len);
	if (!vc || !store || !bio) {
		rc = keys_ssl_err("set up a time-stamp check");
		goto out;
	}
	TS_VERIFY_CTX_set_flags(vc, TS_VFY_VERSION | TS_VFY_SIGNATURE |
					    TS_VFY_DATA);
	TS_VERIFY_CTX_set_store(vc, store);
	store = NULL; /* owned by vc */
	TS_VERIFY_CTX_set_data(vc, bio);
	bio = NULL;
	if (TS_RESP_verify_response(vc, resp) != 1) {
		e = ERR_get_error();
		ERR_error_string_n(e, why, sizeof(why));
		ERR_clear_error();
		rc = err_set(-EBADMSG, "time-stamp token does not verify: %s",
			     why);
	}
out:
	BIO_free(bio);
	X509_STORE_free(store);
	TS_VERIFY_CTX_free(vc);
	TS_RESP_free(resp);
	return rc;
}
