/*
 * Server key material for provable history (see keys.h for the files).
 *
 * Every key is written with the temp/fsync/rename discipline, keys before
 * the certificates that name them, and the whole creation runs under an
 * flock of DATADIR/keys/.lock: `coffred serve` and an admin command may
 * both find a data directory without keys, and only one set may ever sign.
 */
#include "server/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "server/config.h"
#include "server/sshsig.h"

#define KEYS_DIR    "keys"
#define KEY_PEM_MAX (64u * 1024u)
#define CA_DAYS	    (365 * 30)
#define TSA_DAYS    (365 * 30)

struct keys {
	EVP_PKEY *ledger;
	EVP_PKEY *ca_key;
	X509 *ca;
	EVP_PKEY *tsa_key;
	X509 *tsa;
	char *tsa_url;		 /* external TSA, NULL when none */
	STACK_OF(X509) * ext_ca; /* its CA certificates */
};

int keys_ssl_err(const char *what)
{
	char why[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	return err_set(-EIO, "cannot %s: %s", what, e ? why : "OpenSSL error");
}

static int keys_path(char *out, size_t n, const char *datadir, const char *leaf)
{
	if ((size_t)snprintf(out, n, "%s/" KEYS_DIR "/%s", datadir, leaf) >= n)
		return err_set(-ENAMETOOLONG, "data directory path too long");
	return 0;
}

int keys_bio_save(BIO *bio, const char *path, mode_t mode)
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

static int save_key(EVP_PKEY *pk, const char *path)
{
	BIO *b = BIO_new(BIO_s_secmem());
	int rc;

	if (!b)
		return keys_ssl_err("allocate memory");
	if (!PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL))
		rc = keys_ssl_err("encode a key");
	else
		rc = keys_bio_save(b, path, 0600);
	BIO_free_all(b);
	return rc;
}

static int save_cert(X509 *c, const char *path)
{
	BIO *b = BIO_new(BIO_s_mem());
	int rc;

	if (!b)
		return keys_ssl_err("allocate memory");
	if (!PEM_write_bio_X509(b, c))
		rc = keys_ssl_err("encode a certificate");
	else
		rc = keys_bio_save(b, path, 0644);
	BIO_free(b);
	return rc;
}

/* Read a PEM file: a private key (want_key) or a certificate. */
static int load_pem(const char *path, EVP_PKEY **key, X509 **cert)
{
	char *text = NULL;
	size_t len;
	BIO *b;
	int rc;

	rc = file_read_all(path, KEY_PEM_MAX, &text, &len);
	if (rc < 0)
		return err_set(rc, "cannot read '%s': %s", path, strerror(-rc));
	b = BIO_new_mem_buf(text, (int)len);
	if (!b) {
		rc = keys_ssl_err("allocate memory");
	} else if (key) {
		*key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		rc = *key ? 0 : err_set(-EBADMSG, "'%s' holds no key", path);
	} else {
		*cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
		rc = *cert ? 0 :
			     err_set(-EBADMSG, "'%s' holds no certificate",
				     path);
	}
	ERR_clear_error();
	BIO_free(b);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return keys_ssl_err("build a certificate extension");
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : keys_ssl_err("add a certificate extension");
}

int keys_make_cert(X509 **out, EVP_PKEY *pub, X509 *issuer,
		   EVP_PKEY *issuer_key, const struct keys_cert_spec *s)
{
	X509 *cert = X509_new();
	X509_NAME *name;
	BIGNUM *bn = NULL;
	uint8_t serial[16];
	int rc = 0;

	if (!cert)
		return keys_ssl_err("allocate a certificate");
	if (!X509_set_version(cert, X509_VERSION_3) ||
	    RAND_bytes(serial, sizeof(serial)) != 1)
		goto ssl;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -60 * 60) ||
	    !X509_time_adj_ex(X509_getm_notAfter(cert), (int)s->days, 0,
			      NULL) ||
	    !X509_set_pubkey(cert, pub))
		goto ssl;
	name = X509_get_subject_name(cert);
	if ((s->org && !X509_NAME_add_entry_by_txt(
			       name, "O", MBSTRING_ASC,
			       (const unsigned char *)s->org, -1, -1, 0)) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)s->cn, -1, -1,
					0))
		goto ssl;
	if (!X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) :
						 name))
		goto ssl;
	rc = add_ext(cert, issuer ? issuer : cert, NID_basic_constraints,
		     s->basic);
	if (!rc)
		rc = add_ext(cert, issuer ? issuer : cert, NID_key_usage,
			     s->key_usage);
	if (!rc && s->ext_key_usage)
		rc = add_ext(cert, issuer ? issuer : cert, NID_ext_key_usage,
			     s->ext_key_usage);
	if (!rc)
		rc = add_ext(cert, issuer ? issuer : cert,
			     NID_subject_key_identifier, "hash");
	if (!rc && issuer)
		rc = add_ext(cert, issuer, NID_authority_key_identifier,
			     "keyid:always");
	if (!rc && s->alt_name)
		rc = add_ext(cert, issuer ? issuer : cert, NID_subject_alt_name,
			     s->alt_name);
	if (rc)
		goto out;
	if (!X509_sign(cert, issuer_key, EVP_sha256()))
		goto ssl;
	BN_free(bn);
	*out = cert;
	return 0;
ssl:
	rc = keys_ssl_err(s->what ? s->what : "build a certificate");
out:
	BN_free(bn);
	X509_free(cert);
	return rc;
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Load the key at leaf, or make one with gen and save it. */
static int key_get(const char *datadir, const char *leaf, const char *alg,
		   EVP_PKEY **out, int *made)
{
	char path[PATH_MAX];
	int rc = keys_path(path, sizeof(path), datadir, leaf);

	if (rc < 0)
		return rc;
	if (exists(path))
		return load_pem(path, out, NULL);
	*out = strcmp(alg, "ed25519") ?
		       EVP_EC_gen(alg) :
		       EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!*out)
		return keys_ssl_err("generate a key");
	*made = 1;
	return save_key(*out, path);
}

static int cert_get(const char *datadir, const char *leaf, int remake,
		    EVP_PKEY *pub, X509 *issuer, EVP_PKEY *issuer_key,
		    const struct keys_cert_spec *s, X509 **out)
{
	char path[PATH_MAX];
	int rc = keys_path(path, sizeof(path), datadir, leaf);

	if (rc < 0)
		return rc;
	/* A certificate always follows its key: remade when the key is new. */
	if (!remake && exists(path))
		return load_pem(path, NULL, out);
	rc = keys_make_cert(out, pub, issuer, issuer_key, s);
	if (rc == 0)
		rc = save_cert(*out, path);
	return rc;
}

static int lock_keys(const char *datadir)
{
	char path[PATH_MAX];
	int fd, rc, e;

	rc = keys_path(path, sizeof(path), datadir, "");
	if (rc < 0)
		return rc;
	rc = mkdir_p(path, 0700);
	if (rc < 0)
		return err_set(rc, "cannot create '%s': %s", path,
			       strerror(-rc));
	rc = keys_path(path, sizeof(path), datadir, ".lock");
	if (rc < 0)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		return err_set(-e, "cannot lock '%s': %s", path, strerror(e));
	}
	return fd;
}

/* An external TSA from coffred.conf (tsa_url, tsa_ca), when configured. */
static int load_external(struct keys *k, const char *datadir)
{
	STACK_OF(X509_INFO) *infos = NULL;
	struct config cfg;
	char *text = NULL;
	size_t len;
	BIO *b;
	int rc;

	rc = config_load(&cfg, datadir);
	if (rc == -ENOENT || (rc == 0 && !cfg.tsa_url[0])) {
		err_clear();
		return 0;
	}
	if (rc < 0)
		return rc;
	rc = file_read_all(cfg.tsa_ca, KEY_PEM_MAX, &text, &len);
	if (rc < 0)
		return err_set(rc, "cannot read tsa_ca '%s': %s", cfg.tsa_ca,
			       strerror(-rc));
	b = BIO_new_mem_buf(text, (int)len);
	infos = b ? PEM_X509_INFO_read_bio(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	free(text);
	k->ext_ca = sk_X509_new_null();
	for (int i = 0; infos && k->ext_ca && i < sk_X509_INFO_num(infos);
	     i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (xi->x509 && sk_X509_push(k->ext_ca, xi->x509))
			xi->x509 = NULL; /* now owned by ext_ca */
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	ERR_clear_error();
	if (!k->ext_ca || sk_X509_num(k->ext_ca) == 0)
		return err_set(-EINVAL, "tsa_ca '%s' holds no certificate",
			       cfg.tsa_ca);
	k->tsa_url = strdup(cfg.tsa_url);
	if (!k->tsa_url)
		return -ENOMEM;
	/* Thread-safe in libcurl >= 7.84; paired with keys_free. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(k->tsa_url);
		k->tsa_url = NULL;
		return err_set(-EIO, "cannot initialize libcurl");
	}
	return 0;
}

const char *keys_tsa_url(const struct keys *k)
{
	return k->tsa_url;
}

STACK_OF(X509) * keys_tsa_ext_ca(const struct keys *k)
{
	return k->ext_ca;
}

int keys_load(struct keys **out, const char *datadir)
{
	static const struct keys_cert_spec ca_spec = {
		.org = "coffre",
		.cn = "coffred CA",
		.days = CA_DAYS,
		.basic = "critical,CA:TRUE",
		.key_usage = "critical,keyCertSign,cRLSign",
	};
	static const struct keys_cert_spec tsa_spec = {
		.org = "coffre",
		.cn = "coffred TSA",
		.days = TSA_DAYS,
		.basic = "critical,CA:FALSE",
		.key_usage = "critical,digitalSignature,nonRepudiation",
		.ext_key_usage = "critical,timeStamping",
	};
	struct keys *k;
	int lock, made_ca = 0, made_tsa = 0, made_ledger = 0, rc;

	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	lock = lock_keys(datadir);
	if (lock < 0) {
		free(k);
		return lock;
	}
	rc = key_get(datadir, "ledger-ed25519.pem", "ed25519", &k->ledger,
		     &made_ledger);
	if (rc == 0)
		rc = key_get(datadir, "ca-key.pem", "P-256", &k->ca_key,
			     &made_ca);
	if (rc == 0)
		rc = cert_get(datadir, "ca.pem", made_ca, k->ca_key, NULL,
			      k->ca_key, &ca_spec, &k->ca);
	if (rc == 0)
		rc = key_get(datadir, "tsa-key.pem", "P-256", &k->tsa_key,
			     &made_tsa);
	if (rc == 0)
		rc = cert_get(datadir, "tsa.pem", made_tsa || made_ca,
			      k->tsa_key, k->ca, k->ca_key, &tsa_spec, &k->tsa);
	close(lock);
	if (rc == 0)
		rc = load_external(k, datadir);
	if (rc < 0) {
		keys_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

void keys_free(struct keys *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->ledger);
	EVP_PKEY_free(k->ca_key);
	EVP_PKEY_free(k->tsa_key);
	X509_free(k->ca);
	X509_free(k->tsa);
	sk_X509_pop_free(k->ext_ca, X509_free);
	if (k->tsa_url)
		curl_global_cleanup();
	free(k->tsa_url);
	free(k);
}

EVP_PKEY *keys_ledger_key(const struct keys *k)
{
	return k->ledger;
}

EVP_PKEY *keys_tsa_key(const struct keys *k)
{
	return k->tsa_key;
}

X509 *keys_tsa_cert(const struct keys *k)
{
	return k->tsa;
}

X509 *keys_ca_cert(const struct keys *k)
{
	return k->ca;
}

int keys_allowed_signers(const struct keys *k, struct buf *out)
{
	int rc = buf_appendf(out, "%s namespaces=\"git,coffre-statement\" ",
			     KEYS_PRINCIPAL);

	if (rc == 0)
		rc = sshsig_pubkey_line(k->ledger, out);
	if (rc == 0)
		rc = buf_append(out, "\n", 1);
	return rc;
}

static int bio_to_buf(BIO *b, struct buf *out)
{
	char *data;
	long len = BIO_get_mem_data(b, &data);

	if (len <= 0)
		return err_set(-EIO, "cannot encode a certificate");
	return buf_append(out, data, (size_t)len);
}

int keys_ca_pem(const struct keys *k, struct buf *out)
{
	BIO *b = BIO_new(BIO_s_mem());
	int rc;

	if (!b)
		return keys_ssl_err("allocate memory");
	rc = PEM_write_bio_X509(b, k->ca) ? 0 : keys_ssl_err("encode the CA");
	/* An external TSA's CA too: its tokens must verify with this file. */
	for (int i = 0; rc == 0 && k->ext_ca && i < sk_X509_num(k->ext_ca); i++)
		if (!PEM_write_bio_X509(b, sk_X509_value(k->ext_ca, i)))
			rc = keys_ssl_err("encode the TSA's CA");
	if (rc == 0)
		rc = bio_to_buf(b, out);
	BIO_free(b);
	return rc;
}

int keys_issue_user_cert(const struct keys *k, const char *login,
			 const char *csr, size_t csr_len, struct buf *out)
{
	static const struct keys_cert_spec user_spec = {
		.org = "coffre",
		.days = KEYS_USER_DAYS,
		.basic = "critical,CA:FALSE",
		.key_usage = "critical,digitalSignature,nonRepudiation",
		.ext_key_usage = "emailProtection",
	};
	struct keys_cert_spec s = user_spec;
	X509_REQ *req = NULL;
	EVP_PKEY *pub = NULL;
	X509 *cert = NULL;
	BIO *b;
	int rc;

	if (csr_len > KEY_PEM_MAX)
		return err_set(-E2BIG, "certificate request over %u bytes",
			       KEY_PEM_MAX);
	b = BIO_new_mem_buf(csr, (int)csr_len);
	if (!b)
		return keys_ssl_err("allocate memory");
	req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	BIO_free(b);
	ERR_clear_error();
	if (!req)
		return err_set(-EINVAL, "not a PEM certificate request");
	pub = X509_REQ_get_pubkey(req);
	if (!pub || X509_REQ_verify(req, pub) != 1) {
		ERR_clear_error();
		rc = err_set(-EINVAL,
			     "the certificate request's signature is wrong");
		goto out;
	}
	if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC) {
		rc = err_set(-EINVAL, "the signing key must be EC P-256");
		goto out;
	}
	s.cn = login;
	rc = keys_make_cert(&cert, pub, k->ca, k->ca_key, &s);
	if (rc < 0)
		goto out;
	b = BIO_new(BIO_s_mem());
	if (!b) {
		rc = keys_ssl_err("allocate memory");
		goto out;
	}
	rc = PEM_write_bio_X509(b, cert) ? bio_to_buf(b, out) :
					   keys_ssl_err("encode a certificate");
	BIO_free(b);
out:
	X509_free(cert);
	EVP_PKEY_free(pub);
	X509_REQ_free(req);
	return rc;
}

int keys_export(const char *datadir, const char *what)
{
	struct keys *k = NULL;
	struct buf out;
	int rc;

	if (strcmp(what, "allowed-signers") && strcmp(what, "tsa-ca"))
		return err_set(-EINVAL, "unknown key '%s'", what);
	/* Never create keys in a directory that is not a coffred one. */
	if (!exists(datadir) || access(datadir, R_OK) != 0)
		return err_set(-ENOENT, "no data directory '%s'", datadir);
	{
		char conf[PATH_MAX];

		if ((size_t)snprintf(conf, sizeof(conf), "%s/coffred.conf",
				     datadir) >= sizeof(conf))
			return err_set(-ENAMETOOLONG, "path too long");
		if (!exists(conf))
			return err_set(
				-ENOENT,
				"'%s' is not an initialized data directory",
				datadir);
	}
	rc = keys_load(&k, datadir);
	if (rc < 0)
		return rc;
	buf_init(&out, KEY_PEM_MAX);
	if (!strcmp(what, "allowed-signers"))
		rc = keys_allowed_signers(k, &out);
	else
		rc = keys_ca_pem(k, &out);
	if (rc == 0 && (fwrite(out.data, 1, out.len, stdout) != out.len ||
			fflush(stdout) != 0))
		rc = err_set(-EIO, "cannot write to stdout");
	buf_release(&out);
	keys_free(k);
	return rc;
}
