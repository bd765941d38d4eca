/*
 * The SSH signature format (OpenSSH PROTOCOL.sshsig) with an Ed25519 key:
 * what `ssh-keygen -Y sign` writes and `ssh-keygen -Y verify` and
 * `git verify-commit` (gpg.format=ssh) check.  Pure computation.
 */
#ifndef COFFRE_SERVER_SSHSIG_H
#define COFFRE_SERVER_SSHSIG_H

#include <stddef.h>
#include <openssl/types.h>

struct buf;

/*
 * Sign data under namespace ns (e.g. "git") with hash sha512; append the
 * armored signature ("-----BEGIN SSH SIGNATURE-----", base64 in lines of
 * 70, "-----END SSH SIGNATURE-----", no final newline) to out.
 */
int sshsig_sign(EVP_PKEY *ed25519, const char *ns, const void *data, size_t len,
		struct buf *out);

/* Append "ssh-ed25519 BASE64" (the OpenSSH public key line) to out. */
int sshsig_pubkey_line(EVP_PKEY *ed25519, struct buf *out);

/*
 * Check an armored SSH signature (as sshsig_sign writes it, or as git
 * keeps it in a commit's gpgsig header) over data, under namespace ns, made
 * by the Ed25519 key pub.  0, or -EBADMSG with err_set() saying why.
 */
int sshsig_verify(EVP_PKEY *pub, const char *ns, const char *armored,
		  size_t armored_len, const void *data, size_t len);

#endif /* COFFRE_SERVER_SSHSIG_H */
