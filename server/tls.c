/*
 * The server's TLS identity, made once by `coffred init` with OpenSSL 3: a
 * small CA of its own and a leaf certificate it issues for the listen
 * address.  The CA is what clients trust (`coffre login --cacert
 * tls/ca.pem`); the leaf cannot sign anything (CA:FALSE, no keyCertSign),
 * so trusting the server never means trusting what it might sign.  The
 * PEM texts are built in memory BIOs and written with the
 * temp/fsync/rename discipline, keys first, so an interrupted init never
 * leaves a half-written key behind.
 */
#include "server/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "server/keys.h"

static int save(const char *dir, const char *leaf, EVP_PKEY *key, X509 *cert)
{
	char path[PATH_MAX];
	BIO *b;
	int rc, ok;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, leaf) >=
	    sizeof(path))
		return err_set(-ENAMETOOLONG, "data directory path too long");
	b = BIO_new(key ? BIO_s_secmem() : BIO_s_mem()); /* keys wiped */
	if (!b)
		return keys_ssl_err("allocate memory");
	ok = key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) :
		   PEM_write_bio_X509(b, cert);
	rc = ok ? keys_bio_save(b, path, key ? 0600 : 0644) :
		  keys_ssl_err("encode a TLS key or certificate");
	BIO_free_all(b);
	return rc;
}

/* "IP:127.0.0.1,IP:::1,DNS:localhost", plus the listen address. */
static void alt_names(char *out, size_t n, const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];
	int any = !host || !strcmp(host, "127.0.0.1") || !strcmp(host, "::1") ||
		  !strcmp(host, "0.0.0.0") || !strcmp(host, "::") ||
		  (inet_pton(AF_INET, host, a) != 1 &&
		   inet_pton(AF_INET6, host, a) != 1);

	snprintf(out, n, "IP:127.0.0.1,IP:::1,DNS:localhost%s%s",
		 any ? "" : ",IP:", any ? "" : host);
}

int tls_generate(const char *tls_dir, const char *listen_host)
{
	static const struct keys_cert_spec ca_spec = {
		.org = "coffre",
		.cn = "coffred TLS CA",
		.days = TLS_CA_DAYS,
		.basic = "critical,CA:TRUE,pathlen:0",
		.key_usage = "critical,keyCertSign,cRLSign",
		.what = "build the TLS CA certificate",
	};
	struct keys_cert_spec leaf_spec = {
		.org = "coffre",
		.cn = "coffred",
		.days = TLS_VALID_DAYS,
		.basic = "critical,CA:FALSE",
		.key_usage = "critical,digitalSignature",
		.ext_key_usage = "serverAuth",
		.what = "build the TLS certificate",
	};
	char alt[160];
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *cert = NULL;
	int rc;

	alt_names(alt, sizeof(alt), listen_host);
	leaf_spec.alt_name = alt;
	ca_key = EVP_EC_gen("P-256");
	key = EVP_EC_gen("P-256");
	if (!ca_key || !key) {
		rc = keys_ssl_err("generate a TLS key");
		goto out;
	}
	rc = keys_make_cert(&ca, ca_key, NULL, ca_key, &ca_spec);
	if (!rc)
		rc = keys_make_cert(&cert, key, ca, ca_key, &leaf_spec);
	if (!rc)
		rc = save(tls_dir, TLS_CA_KEY_FILE, ca_key, NULL);
	if (!rc)
		rc = save(tls_dir, TLS_KEY_FILE, key, NULL);
	if (!rc)
		rc = save(tls_dir, TLS_CA_FILE, NULL, ca);
	if (!rc)
		rc = save(tls_dir, TLS_CERT_FILE, NULL, cert);
out:
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return rc;
}
