/*
 * Electronic signatures of document versions: detached CMS (CAdES-BES)
 * made by a user's key, whose certificate coffred's CA issued at login
 * (keys_issue_user_cert).  A signature names what it signs in a signed
 * attribute (ESIG_BINDING_OID, a UTF8String):
 *
 *   coffre-doc DOC_ID version N sha256 HEX as ROLE
 *
 * so it cannot be moved to another version, even one with the same bytes.
 * Roles: "author" and "recipient".
 */
#ifndef COFFRE_SERVER_ESIG_H
#define COFFRE_SERVER_ESIG_H

#include <stddef.h>

struct chunkstore;
struct keys;
struct manifest;

#define ESIG_BINDING_OID "2.25.230864823658473510468245981207735401963.2"
#define ESIG_MAX	 (256u * 1024u) /* a DER signature at most */

/* "author" / "recipient": 1, else 0. */
int esig_role_valid(const char *role);

/* The binding text into out (NUL-terminated).  0 or -ENAMETOOLONG. */
int esig_binding(char *out, size_t outlen, const struct manifest *m,
		 const char *role);

/*
 * Check a DER CMS signature of version m (content streamed from cs) by
 * login as role: exactly one signer, certificate issued by k's CA with
 * CN=login, signed attributes including signing-certificate-v2 and the
 * binding of m and role, signature over the content.  0, -EBADMSG (does
 * not verify, err_set says why), -EACCES (signed by someone else), -EIO.
 */
int esig_verify(const struct keys *k, struct chunkstore *cs,
		const struct manifest *m, const char *login, const char *role,
		const void *der, size_t len);

#endif /* COFFRE_SERVER_ESIG_H */
