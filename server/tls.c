/*
 * Self-signed certificate generation with OpenSSL 3's API, used once by
 * `coffred init`.  The PEM texts are built in memory BIOs and then written
 * with the temp/fsync/rename discipline, so an interrupted init never leaves
 * a half-written key behind.
 */
#include "server/tls.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "server/keys.h"

/* Self-signed, for the addresses a local coffred answers on. */
static int make_cert(EVP_PKEY *pkey, X509 **out)
{
	static const struct keys_cert_spec spec = {
		.cn = "coffred",
		.days = TLS_VALID_DAYS,
		.basic = "critical,CA:TRUE",
		.key_usage = "critical,digitalSignature,keyCertSign",
		.ext_key_usage = "serverAuth",
		.alt_name = "IP:127.0.0.1,IP:::1,DNS:localhost",
		.what = "build the TLS certificate",
	};

	return keys_make_cert(out, pkey, NULL, pkey, &spec);
}

int tls_generate(const char *key_path, const char *cert_path)
{
	EVP_PKEY *pkey;
	X509 *cert = NULL;
	BIO *kbio = NULL, *cbio = NULL;
	int rc;

	pkey = EVP_EC_gen("P-256");
	if (!pkey)
		return keys_ssl_err("generate the TLS key");
	rc = make_cert(pkey, &cert);
	if (rc)
		goto out;
	kbio = BIO_new(BIO_s_secmem()); /* wiped on free */
	cbio = BIO_new(BIO_s_mem());
	if (!kbio || !cbio) {
		rc = keys_ssl_err("allocate memory");
		goto out;
	}
	if (!PEM_write_bio_PrivateKey(kbio, pkey, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(cbio, cert)) {
		rc = keys_ssl_err("encode the TLS key or certificate");
		goto out;
	}
	rc = keys_bio_save(kbio, key_path, 0600);
	if (!rc)
		rc = keys_bio_save(cbio, cert_path, 0644);
out:
	BIO_free(cbio);
	BIO_free_all(kbio);
	X509_free(cert);
	EVP_PKEY_free(pkey);
	return rc;
}
