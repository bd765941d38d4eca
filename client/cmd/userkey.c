/*
 * The user's signing key (see userkey.h).  Key and certificate handling
 * with OpenSSL, sealing with libsodium; the private key's DER form lives
 * only in sodium_malloc memory and is wiped after use.
 */
#include "client/cmd/userkey.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "client/store/transport.h"
#include "common/err.h"
#include "common/fsutil.h"

#define MAGIC	  "coffre-userkey-1\n"
#define MAGIC_LEN 17
#define SALT_LEN  crypto_pwhash_SALTBYTES
#define NONCE_LEN crypto_secretbox_NONCEBYTES
#define FILE_MAX  (16u * 1024u)

static int path_of(char *out, size_t n, const char *dir, const char *leaf)
{
	if ((size_t)snprintf(out, n, "%s/%s", dir, leaf) >= n)
		return err_set(-ENAMETOOLONG, "config path too long");
	return 0;
}

static int ssl_err(const char *what)
{
	ERR_clear_error();
	return err_set(-EIO, "cannot %s", what);
}

static int derive(unsigned char key[crypto_secretbox_KEYBYTES],
		  const char *password, const unsigned char *salt)
{
	if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, password,
			  strlen(password), salt,
			  crypto_pwhash_OPSLIMIT_INTERACTIVE,
			  crypto_pwhash_MEMLIMIT_INTERACTIVE,
			  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return err_set(-ENOMEM,
			       "cannot derive the key from the password");
	return 0;
}

/* Seal pk under password into DIR/userkey.enc (0600). */
static int save_key(const char *dir, const char *password, EVP_PKEY *pk)
{
	unsigned char *der = NULL, *key = NULL, *file = NULL;
	char path[PATH_MAX];
	int dlen, rc;
	size_t flen;

	dlen = i2d_PrivateKey(pk, NULL);
	if (dlen <= 0)
		return ssl_err("encode the signing key");
	der = sodium_malloc((size_t)dlen);
	key = sodium_malloc(crypto_secretbox_KEYBYTES);
	flen = MAGIC_LEN + SALT_LEN + NONCE_LEN + crypto_secretbox_MACBYTES +
	       (size_t)dlen;
	file = malloc(flen);
	if (!der || !key || !file) {
		rc = -ENOMEM;
		goto out;
	}
	{
		unsigned char *p = der;

		if (i2d_PrivateKey(pk, &p) != dlen) {
			rc = ssl_err("encode the signing key");
			goto out;
		}
	}
	memcpy(file, MAGIC, MAGIC_LEN);
	randombytes_buf(file + MAGIC_LEN, SALT_LEN + NONCE_LEN);
	rc = derive(key, password, file + MAGIC_LEN);
	if (rc < 0)
		goto out;
	crypto_secretbox_easy(file + MAGIC_LEN + SALT_LEN + NONCE_LEN, der,
			      (size_t)dlen, file + MAGIC_LEN + SALT_LEN, key);
	rc = path_of(path, sizeof(path), dir, USERKEY_FILE);
	if (rc == 0)
		rc = file_write_atomic(path, file, flen, 0600);
	if (rc < 0)
		rc = err_set(rc, "cannot write '%s': %s", path, strerror(-rc));
out:
	sodium_free(der);
	sodium_free(key);
	free(file);
	return rc;
}

static int open_key(const char *dir, const char *password, EVP_PKEY **out)
{
	unsigned char *der = NULL, *key = NULL;
	const unsigned char *p;
	char path[PATH_MAX], *file = NULL;
	size_t flen, dlen;
	int rc;

	*out = NULL;
	rc = path_of(path, sizeof(path), dir, USERKEY_FILE);
	if (rc == 0)
		rc = file_read_all(path, FILE_MAX, &file, &flen);
	if (rc == -ENOENT)
		return err_set(
			-ENOENT,
			"no signing key yet: log in again (coffre login) to make one");
	if (rc < 0)
		return err_set(rc, "cannot read '%s': %s", path, strerror(-rc));
	if (flen < MAGIC_LEN + SALT_LEN + NONCE_LEN +
			    crypto_secretbox_MACBYTES + 1 ||
	    memcmp(file, MAGIC, MAGIC_LEN)) {
		rc = err_set(-EBADMSG, "'%s' is not a coffre signing key",
			     path);
		goto out;
	}
	dlen = flen - MAGIC_LEN - SALT_LEN - NONCE_LEN -
	       crypto_secretbox_MACBYTES;
	der = sodium_malloc(dlen);
	key = sodium_malloc(crypto_secretbox_KEYBYTES);
	if (!der || !key) {
		rc = -ENOMEM;
		goto out;
	}
	rc = derive(key, password, (unsigned char *)file + MAGIC_LEN);
	if (rc < 0)
		goto out;
	if (crypto_secretbox_open_easy(
		    der,
		    (unsigned char *)file + MAGIC_LEN + SALT_LEN + NONCE_LEN,
		    flen - MAGIC_LEN - SALT_LEN - NONCE_LEN,
		    (unsigned char *)file + MAGIC_LEN + SALT_LEN, key) != 0) {
		rc = err_set(-EACCES, "wrong password for the signing key");
		goto out;
	}
	p = der;
	*out = d2i_AutoPrivateKey(NULL, &p, (long)dlen);
	if (!*out)
		rc = ssl_err("decode the signing key");
out:
	sodium_free(der);
	sodium_free(key);
	free(file);
	return rc;
}

/* A PEM CSR for pk, CN=login, into a malloc'd string. */
static int make_csr(EVP_PKEY *pk, const char *login, char **out)
{
	X509_REQ *req = X509_REQ_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc = 0;

	if (!req || !b || !X509_REQ_set_version(req, 0) ||
	    !X509_NAME_add_entry_by_txt(
		    X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
		    (const unsigned char *)login, -1, -1, 0) ||
	    !X509_REQ_set_pubkey(req, pk) ||
	    !X509_REQ_sign(req, pk, EVP_sha256()) ||
	    !PEM_write_bio_X509_REQ(b, req)) {
		rc = ssl_err("make a certificate request");
	} else {
		len = BIO_get_mem_data(b, &data);
		*out = strndup(data, (size_t)len);
		if (!*out)
			rc = -ENOMEM;
	}
	BIO_free(b);
	X509_REQ_free(req);
	return rc;
}

static int fetch_cert(const char *dir, const char *login, EVP_PKEY *pk,
		      struct transport *t)
{
	json_t *reply = NULL, *body;
	const char *cert, *ca;
	char path[PATH_MAX], *csr = NULL;
	int rc;

	rc = make_csr(pk, login, &csr);
	if (rc < 0)
		return rc;
	body = json_pack("{s:s}", "csr", csr);
	free(csr);
	if (!body)
		return -ENOMEM;
	rc = transport_json(t, "POST", "/v1/certs", body, &reply);
	json_decref(body);
	if (rc < 0) {
		json_decref(reply);
		return rc;
	}
	cert = json_string_value(json_object_get(reply, "certificate"));
	ca = json_string_value(json_object_get(reply, "ca"));
	if (!cert || !ca) {
		json_decref(reply);
		return err_set(-EPROTO, "the server sent no certificate");
	}
	rc = path_of(path, sizeof(path), dir, USERCA_FILE);
	if (rc == 0)
		rc = file_write_atomic(path, ca, strlen(ca), 0600);
	if (rc == 0)
		rc = path_of(path, sizeof(path), dir, USERCERT_FILE);
	if (rc == 0)
		rc = file_write_atomic(path, cert, strlen(cert), 0600);
	if (rc < 0 && rc != -ENAMETOOLONG)
		rc = err_set(rc, "cannot write '%s': %s", path, strerror(-rc));
	json_decref(reply);
	return rc;
}

static int exists(const char *dir, const char *leaf)
{
	char path[PATH_MAX];

	return path_of(path, sizeof(path), dir, leaf) == 0 &&
	       access(path, F_OK) == 0;
}

int userkey_setup(const char *dir, const char *login, const char *password,
		  struct transport *t)
{
	EVP_PKEY *pk = NULL;
	int rc, fresh = 0;

	if (exists(dir, USERKEY_FILE) && exists(dir, USERCERT_FILE))
		return 0;
	rc = exists(dir, USERKEY_FILE) ? open_key(dir, password, &pk) : -ENOENT;
	if (rc == -ENOENT || rc == -EACCES) {
		/* None yet, or sealed under an old password: a new one. */
		pk = EVP_EC_gen("P-256");
		if (!pk)
			return ssl_err("generate the signing key");
		fresh = 1;
		rc = 0;
	}
	if (rc == 0 && fresh)
		rc = save_key(dir, password, pk);
	if (rc == 0)
		rc = fetch_cert(dir, login, pk, t);
	EVP_PKEY_free(pk);
	return rc;
}

int userkey_load(const char *dir, const char *password, EVP_PKEY **key,
		 X509 **cert)
{
	char path[PATH_MAX], *pem = NULL;
	size_t len;
	BIO *b;
	int rc;

	*key = NULL;
	*cert = NULL;
	rc = path_of(path, sizeof(path), dir, USERCERT_FILE);
	if (rc == 0)
		rc = file_read_all(path, FILE_MAX, &pem, &len);
	if (rc < 0)
		return err_set(
			rc == -ENOENT ? -ENOENT : rc,
			"no signing certificate: log in again (coffre login)");
	b = BIO_new_mem_buf(pem, (int)len);
	*cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	free(pem);
	if (!*cert)
		return ssl_err("read the signing certificate");
	rc = open_key(dir, password, key);
	if (rc == 0 && X509_check_private_key(*cert, *key) != 1) {
		ERR_clear_error();
		rc = err_set(
			-EBADMSG,
			"the signing certificate is not for this key: log in again");
	}
	if (rc < 0) {
		EVP_PKEY_free(*key);
		X509_free(*cert);
		*key = NULL;
		*cert = NULL;
	}
	return rc;
}

int userkey_reseal(const char *dir, const char *old_password,
		   const char *new_password)
{
	EVP_PKEY *pk = NULL;
	int rc;

	if (!exists(dir, USERKEY_FILE))
		return err_set(-ENOENT, "no signing key on this device");
	rc = open_key(dir, old_password, &pk);
	if (rc == 0)
		rc = save_key(dir, new_password, pk);
	EVP_PKEY_free(pk);
	return rc;
}
