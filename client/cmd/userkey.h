/*
 * The user's signing key, for e-signatures of documents (coffre sign).
 *
 * Made at the first login: an EC P-256 key pair whose private key stays
 * on this device, in CONFIG/userkey.enc, sealed with libsodium's secretbox
 * under a key derived from the user's password with Argon2id (salt and
 * nonce stored beside the box).  The public key goes to coffred as a CSR;
 * the certificate coffred's CA issues (CN=login) is kept in
 * CONFIG/usercert.pem, the CA in CONFIG/user-ca.pem.
 *
 * userkey.enc: "coffre-userkey-1\n" (16 bytes), salt (16), nonce (24),
 * secretbox of the PKCS#8 DER private key.
 */
#ifndef COFFRE_CLIENT_USERKEY_H
#define COFFRE_CLIENT_USERKEY_H

#include <openssl/types.h>

struct transport;

#define USERKEY_FILE  "userkey.enc"
#define USERCERT_FILE "usercert.pem"
#define USERCA_FILE   "user-ca.pem"

/*
 * At login: make the key when there is none (or when password no longer
 * opens it), and fetch a certificate when there is none.  0 or -errno.
 */
int userkey_setup(const char *dir, const char *login, const char *password,
		  struct transport *t);

/*
 * Open the key with password and load the certificate.  -EACCES wrong
 * password, -ENOENT no key yet (log in again).  Free with EVP_PKEY_free
 * and X509_free.
 */
int userkey_load(const char *dir, const char *password, EVP_PKEY **key,
		 X509 **cert);

/*
 * After a password change: seal the key again under new_password (one
 * atomic replace of userkey.enc).  -ENOENT no key on this device,
 * -EACCES old_password does not open it.
 */
int userkey_reseal(const char *dir, const char *old_password,
		   const char *new_password);

#endif /* COFFRE_CLIENT_USERKEY_H */
