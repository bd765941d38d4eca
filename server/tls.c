/*
 * Self-signed certificate generation with OpenSSL 3's API, used once by
 * `coffred init`.  The PEM texts are built in memory BIOs and then written
 * with the temp/fsync/rename discipline, so an interrupted init never leaves
 * a half-written key behind.
 */
#include "server/tls.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "common/fsutil.h"

static int ssl_fail(const char *what)
{
	char why[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	return err_set(-EIO, "cannot %s: %s", what, e ? why : "OpenSSL error");
}

static int add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return ssl_fail("build a certificate extension");
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : ssl_fail("add a certificate extension");
}

static int make_cert(EVP_PKEY *pkey, X509 **out)
{
	X509 *cert;
	X509_NAME *name;
	BIGNUM *bn = NULL;
	uint8_t serial[16];
	int rc = -EIO;

	cert = X509_new();
	if (!cert)
		return ssl_fail("allocate a certificate");
	if (!X509_set_version(cert, X509_VERSION_3))
		goto ssl;
	/* A random positive 127-bit serial, as RFC 5280 recommends. */
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto ssl;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
		goto ssl;
	if (!X509_gmtime_adj(X509_getm_notBefore(cert), -60 * 60) ||
	    !X509_time_adj_ex(X509_getm_notAfter(cert), TLS_VALID_DAYS, 0,
			      NULL))
		goto ssl;
	if (!X509_set_pubkey(cert, pkey))
		goto ssl;
	name = X509_get_subject_name(cert);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"coffred", -1,
					-1, 0))
		goto ssl;
	if (!X509_set_issuer_name(cert, name))
		goto ssl;
	rc = add_ext(cert, NID_basic_constraints, "critical,CA:TRUE");
	if (!rc)
		rc = add_ext(cert, NID_key_usage,
			     "critical,digitalSignature,keyCertSign");
	if (!rc)
		rc = add_ext(cert, NID_ext_key_usage, "serverAuth");
	if (!rc)
		rc = add_ext(cert, NID_subject_key_identifier, "hash");
	if (!rc)
		rc = add_ext(cert, NID_subject_alt_name,
			     "IP:127.0.0.1,IP:::1,DNS:localhost");
	if (rc)
		goto out;
	if (!X509_sign(cert, pkey, EVP_sha256()))
		goto ssl;
	BN_free(bn);
	*out = cert;
	return 0;
ssl:
	rc = ssl_fail("build the TLS certificate");
out:
	BN_free(bn);
	X509_free(cert);
	return rc;
}

/* Write what a BIO holds to path atomically. */
static int bio_save(BIO *bio, const char *path, mode_t mode)
{
	char *data;
	long len = BIO_get_mem_data(bio, &data);
	int rc;

	if (len <= 0)
		return err_set(-EIO, "cannot encode '%s'", path);
	rc = file_write_atomic(path, data, (size_t)len, mode);
	if (rc < 0)
		return err_set(rc, "cannot write '%s': %s", path,
			       strerror(-rc));
	return 0;
}

int tls_generate(const char *key_path, const char *cert_path)
{
	EVP_PKEY *pkey;
	X509 *cert = NULL;
	BIO *kbio = NULL, *cbio = NULL;
	int rc;

	pkey = EVP_EC_gen("P-256");
	if (!pkey)
		return ssl_fail("generate the TLS key");
	rc = make_cert(pkey, &cert);
	if (rc)
		goto out;
	kbio = BIO_new(BIO_s_secmem()); /* wiped on free */
	cbio = BIO_new(BIO_s_mem());
	if (!kbio || !cbio) {
		rc = ssl_fail("allocate memory");
		goto out;
	}
	if (!PEM_write_bio_PrivateKey(kbio, pkey, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(cbio, cert)) {
		rc = ssl_fail("encode the TLS key or certificate");
		goto out;
	}
	rc = bio_save(kbio, key_path, 0600);
	if (!rc)
		rc = bio_save(cbio, cert_path, 0644);
out:
	BIO_free(cbio);
	BIO_free_all(kbio);
	X509_free(cert);
	EVP_PKEY_free(pkey);
	return rc;
}
