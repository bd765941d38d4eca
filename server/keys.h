/*
 * The server's key material for provable history, under DATADIR/keys/:
 *
 *   ledger-ed25519.pem  Ed25519 key that signs every ledger commit (SSHSIG)
 *   ca-key.pem, ca.pem  the coffred CA (EC P-256): issues the TSA
 *                       certificate and the users' signing certificates
 *   tsa-key.pem, tsa.pem  the time-stamping authority (EC P-256,
 *                       extendedKeyUsage critical timeStamping)
 *
 * Keys are made by `coffred init`; a data directory made before they
 * existed gets them on first use (keys_load creates what is missing, under
 * an flock so two processes never make two different keys).
 */
#ifndef COFFRE_SERVER_KEYS_H
#define COFFRE_SERVER_KEYS_H

#include <stddef.h>
#include <sys/types.h>
#include <openssl/types.h>
#include <openssl/x509.h>

struct buf;
struct keys;

#define KEYS_PRINCIPAL "coffred@localhost"
#define KEYS_USER_DAYS 3650

/* Load (creating the missing ones) the keys of datadir.  0 or -errno. */
int keys_load(struct keys **out, const char *datadir);
void keys_free(struct keys *k);

/* Borrowed from k. */
EVP_PKEY *keys_ledger_key(const struct keys *k);
EVP_PKEY *keys_tsa_key(const struct keys *k);
X509 *keys_tsa_cert(const struct keys *k);
X509 *keys_ca_cert(const struct keys *k);

/*
 * The external TSA of coffred.conf (tsa_url, tsa_ca): its URL (NULL when
 * none) and its CA certificates (NULL when none).  Borrowed from k.
 */
const char *keys_tsa_url(const struct keys *k);
STACK_OF(X509) * keys_tsa_ext_ca(const struct keys *k);

/*
 * "coffred@localhost namespaces="git,coffre-statement" ssh-ed25519 AAAA...\n"
 * into out: the ledger key signs commits (git) and deposit statements.
 */
int keys_allowed_signers(const struct keys *k, struct buf *out);
/*
 * PEM of the CA certificate (trust anchor of tokens and user certs),
 * followed by the external TSA's CA certificates when one is configured.
 */
int keys_ca_pem(const struct keys *k, struct buf *out);

/*
 * Issue a user certificate (CN=login, keyUsage digitalSignature and
 * nonRepudiation, critical) for the public key of the PEM CSR csr, whose
 * self-signature must verify.  PEM certificate into out.  -EINVAL bad CSR.
 */
int keys_issue_user_cert(const struct keys *k, const char *login,
			 const char *csr, size_t csr_len, struct buf *out);

/* Turn the pending OpenSSL error into -EIO with a message naming what. */
int keys_ssl_err(const char *what);

/*
 * Write what the memory BIO bio holds to path atomically with mode.  0, or
 * -EIO when it is empty, or the write's -errno.
 */
int keys_bio_save(BIO *bio, const char *path, mode_t mode);

/* What keys_make_cert puts in a certificate; NULL fields are left out. */
struct keys_cert_spec {
	const char *org, *cn; /* subject O= and CN= */
	long days;
	const char *basic, *key_usage, *ext_key_usage, *alt_name;
	const char *what; /* failure message, "build a certificate" if NULL */
};

/*
 * A certificate for pub, signed by issuer_key as issuer (self-signed when
 * issuer is NULL), with a random 127-bit serial, valid from an hour ago for
 * s->days.  Into *out (the caller's), or -EIO.
 */
int keys_make_cert(X509 **out, EVP_PKEY *pub, X509 *issuer,
		   EVP_PKEY *issuer_key, const struct keys_cert_spec *s);

/*
 * Install k as the ledger's prover (ledger_set_prover): commits signed
 * with the Ed25519 key, stamped by coffred's TSA.  k must outlive every
 * ledger; keys_uninstall_prover() before keys_free().  keys_prover.c.
 */
void keys_install_prover(struct keys *k);
void keys_uninstall_prover(void);

/*
 * `coffred key export DATADIR --allowed-signers|--tsa-ca`: print the
 * allowed-signers line (for git gpg.ssh.allowedSignersFile and ssh-keygen
 * -Y verify) or the CA certificate (for openssl ts -verify and openssl cms
 * -verify) on stdout.  what is "allowed-signers" or "tsa-ca".
 */
int keys_export(const char *datadir, const char *what);

#endif /* COFFRE_SERVER_KEYS_H */
