/*
 * SSHSIG (OpenSSH PROTOCOL.sshsig), Ed25519 only.  The signed blob is
 *
 *   "SSHSIG" string(namespace) string(reserved) string(hash) string(H(m))
 *
 * and the signature is
 *
 *   "SSHSIG" uint32(1) string(pubkey) string(namespace) string(reserved)
 *   string(hash) string(string("ssh-ed25519") string(sig))
 *
 * where string() is a big-endian uint32 length then the bytes, and pubkey
 * is string("ssh-ed25519") string(32 key bytes).  The binary form is
 * base64-armored in lines of 70 characters, as ssh-keygen writes it.
 */
#include "server/sshsig.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/err.h"

#define SSHSIG_CAP    4096
#define ED25519_LEN   32
#define ED25519_SIG   64
#define ARMOR_COLUMNS 70

static int put_u32(struct buf *b, uint32_t v)
{
	unsigned char p[4] = { v >> 24, v >> 16, v >> 8, v };

	return buf_append(b, p, 4);
}

static int put_str(struct buf *b, const void *p, size_t n)
{
	int rc = put_u32(b, (uint32_t)n);

	return rc ? rc : buf_append(b, p, n);
}

static int put_cstr(struct buf *b, const char *s)
{
	return put_str(b, s, strlen(s));
}

static int ssl_err(const char *what)
{
	ERR_clear_error();
	return err_set(-EIO, "cannot %s", what);
}

static int pubkey_blob(EVP_PKEY *k, struct buf *b)
{
	unsigned char pub[ED25519_LEN];
	size_t n = sizeof(pub);
	int rc;

	if (EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != ED25519_LEN)
		return ssl_err("read the Ed25519 public key");
	rc = put_cstr(b, "ssh-ed25519");
	return rc ? rc : put_str(b, pub, n);
}

static int base64(const void *p, size_t n, struct buf *out, int wrap)
{
	unsigned char *enc;
	size_t elen = 4 * ((n + 2) / 3), i;
	int rc = 0;

	enc = malloc(elen + 1);
	if (!enc)
		return -ENOMEM;
	EVP_EncodeBlock(enc, p, (int)n);
	for (i = 0; i < elen && rc == 0; i += ARMOR_COLUMNS) {
		size_t k = elen - i < ARMOR_COLUMNS ? elen - i : ARMOR_COLUMNS;

		if (!wrap)
			k = elen;
		rc = buf_append(out, enc + i, k);
		if (rc == 0 && wrap)
			rc = buf_append(out, "\n", 1);
	}
	free(enc);
	return rc;
}

int sshsig_pubkey_line(EVP_PKEY *ed25519, struct buf *out)
{
	struct buf blob;
	int rc;

	buf_init(&blob, SSHSIG_CAP);
	rc = pubkey_blob(ed25519, &blob);
	if (rc == 0)
		rc = buf_appendf(out, "ssh-ed25519 ");
	if (rc == 0)
		rc = base64(blob.data, blob.len, out, 0);
	buf_release(&blob);
	return rc;
}

int sshsig_sign(EVP_PKEY *ed25519, const char *ns, const void *data, size_t len,
		struct buf *out)
{
	unsigned char digest[EVP_MAX_MD_SIZE], sig[ED25519_SIG];
	unsigned int dlen = 0;
	size_t slen = sizeof(sig);
	struct buf tbs, blob, sigfield;
	EVP_MD_CTX *md = NULL;
	int rc;

	buf_init(&tbs, SSHSIG_CAP);
	buf_init(&blob, SSHSIG_CAP);
	buf_init(&sigfield, SSHSIG_CAP);
	if (EVP_Digest(data, len, digest, &dlen, EVP_sha512(), NULL) != 1) {
		rc = ssl_err("hash the signed data");
		goto out;
	}
	/* What Ed25519 signs. */
	rc = buf_append(&tbs, "SSHSIG", 6);
	if (rc == 0)
		rc = put_cstr(&tbs, ns);
	if (rc == 0)
		rc = put_cstr(&tbs, "");
	if (rc == 0)
		rc = put_cstr(&tbs, "sha512");
	if (rc == 0)
		rc = put_str(&tbs, digest, dlen);
	if (rc < 0)
		goto out;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, ed25519) != 1 ||
	    EVP_DigestSign(md, sig, &slen, (const unsigned char *)tbs.data,
			   tbs.len) != 1 ||
	    slen != ED25519_SIG) {
		rc = ssl_err("sign with the ledger key");
		goto out;
	}
	rc = put_cstr(&sigfield, "ssh-ed25519");
	if (rc == 0)
		rc = put_str(&sigfield, sig, slen);
	/* The signature blob. */
	if (rc == 0)
		rc = buf_append(&blob, "SSHSIG", 6);
	if (rc == 0)
		rc = put_u32(&blob, 1);
	if (rc == 0) {
		struct buf pk;

		buf_init(&pk, SSHSIG_CAP);
		rc = pubkey_blob(ed25519, &pk);
		if (rc == 0)
			rc = put_str(&blob, pk.data, pk.len);
		buf_release(&pk);
	}
	if (rc == 0)
		rc = put_cstr(&blob, ns);
	if (rc == 0)
		rc = put_cstr(&blob, "");
	if (rc == 0)
		rc = put_cstr(&blob, "sha512");
	if (rc == 0)
		rc = put_str(&blob, sigfield.data, sigfield.len);
	if (rc == 0)
		rc = buf_appendf(out, "-----BEGIN SSH SIGNATURE-----\n");
	if (rc == 0)
		rc = base64(blob.data, blob.len, out, 1);
	if (rc == 0)
		rc = buf_appendf(out, "-----END SSH SIGNATURE-----");
out:
	EVP_MD_CTX_free(md);
	buf_release(&tbs);
	buf_release(&blob);
	buf_release(&sigfield);
	return rc;
}

/* --- verification --- */

struct rd {
	const unsigned char *p;
	size_t n;
};

static int get_str(struct rd *r, const unsigned char **s, size_t *n)
{
	uint32_t len;

	if (r->n < 4)
		return -1;
	len = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	      (uint32_t)r->p[2] << 8 | r->p[3];
	if (r->n - 4 < len)
		return -1;
	*s = r->p + 4;
	*n = len;
	r->p += 4 + len;
	r->n -= 4 + len;
	return 0;
}

static int str_is(const unsigned char *s, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* The base64 body between the armor lines, decoded into out. */
static int unarmor(const char *a, size_t alen, struct buf *out)
{
	static const char begin[] = "-----BEGIN SSH SIGNATURE-----";
	static const char end[] = "-----END SSH SIGNATURE-----";
	const char *b = memmem(a, alen, begin, sizeof(begin) - 1), *e;
	unsigned char *dec = NULL;
	struct buf b64;
	int n, rc = 0;

	e = b ? memmem(b, alen - (size_t)(b - a), end, sizeof(end) - 1) : NULL;
	if (!b || !e)
		return err_set(-EBADMSG, "no SSH signature armor");
	buf_init(&b64, SSHSIG_CAP);
	for (b += sizeof(begin) - 1; b < e && rc == 0; b++)
		if (*b != '\n' && *b != '\r' && *b != ' ')
			rc = buf_append(&b64, b, 1);
	if (rc == 0 && (b64.len == 0 || b64.len % 4))
		rc = err_set(-EBADMSG, "bad base64 in the SSH signature");
	if (rc == 0 && !(dec = malloc(b64.len)))
		rc = -ENOMEM;
	if (rc == 0) {
		n = EVP_DecodeBlock(dec, (unsigned char *)b64.data,
				    (int)b64.len);
		if (n < 0) {
			rc = err_set(-EBADMSG,
				     "bad base64 in the SSH signature");
		} else {
			/* EVP_DecodeBlock counts the padding as zeros.
			 * Base64 has at most two '=': more (an armor of
			 * '=' alone) would take n below zero. */
			for (int pad = 0;
			     pad < 2 && b64.len && b64.data[b64.len - 1] == '=';
			     pad++) {
				b64.len--;
				n--;
			}
			if (n < 0 || (b64.len && b64.data[b64.len - 1] == '='))
				rc = err_set(-EBADMSG,
					     "bad base64 in the SSH signature");
			else
				rc = buf_append(out, dec, (size_t)n);
		}
	}
	free(dec);
	buf_release(&b64);
	return rc;
}

int sshsig_verify(EVP_PKEY *pub, const char *ns, const char *armored,
		  size_t armored_len, const void *data, size_t len)
{
	const unsigned char *pk, *sns, *res, *halg, *sig, *s1, *s2;
	size_t pkn, snsn, resn, halgn, sign, s1n, s2n;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	struct buf raw, want_pk, tbs;
	EVP_MD_CTX *md = NULL;
	struct rd r, rs;
	int rc;

	buf_init(&raw, SSHSIG_CAP);
	buf_init(&want_pk, SSHSIG_CAP);
	buf_init(&tbs, SSHSIG_CAP);
	rc = unarmor(armored, armored_len, &raw);
	if (rc < 0)
		goto out;
	r.p = (const unsigned char *)raw.data;
	r.n = raw.len;
	if (r.n < 10 || memcmp(r.p, "SSHSIG", 6) || r.p[6] || r.p[7] ||
	    r.p[8] || r.p[9] != 1) {
		rc = err_set(-EBADMSG, "not an SSHSIG version 1 signature");
		goto out;
	}
	r.p += 10;
	r.n -= 10;
	if (get_str(&r, &pk, &pkn) || get_str(&r, &sns, &snsn) ||
	    get_str(&r, &res, &resn) || get_str(&r, &halg, &halgn) ||
	    get_str(&r, &sig, &sign) || r.n != 0) {
		rc = err_set(-EBADMSG, "truncated SSH signature");
		goto out;
	}
	rc = pubkey_blob(pub, &want_pk);
	if (rc < 0)
		goto out;
	if (pkn != want_pk.len || memcmp(pk, want_pk.data, pkn)) {
		rc = err_set(-EBADMSG, "signed by another key");
		goto out;
	}
	if (!str_is(sns, snsn, ns)) {
		rc = err_set(-EBADMSG, "signature namespace is not '%s'", ns);
		goto out;
	}
	if (!str_is(halg, halgn, "sha512") && !str_is(halg, halgn, "sha256")) {
		rc = err_set(-EBADMSG, "unknown signature hash");
		goto out;
	}
	rs.p = sig;
	rs.n = sign;
	if (get_str(&rs, &s1, &s1n) || get_str(&rs, &s2, &s2n) ||
	    !str_is(s1, s1n, "ssh-ed25519") || s2n != ED25519_SIG) {
		rc = err_set(-EBADMSG, "not an Ed25519 signature");
		goto out;
	}
	if (EVP_Digest(data, len, digest, &dlen,
		       str_is(halg, halgn, "sha512") ? EVP_sha512() :
						       EVP_sha256(),
		       NULL) != 1) {
		rc = ssl_err("hash the signed data");
		goto out;
	}
	rc = buf_append(&tbs, "SSHSIG", 6);
	if (rc == 0)
		rc = put_str(&tbs, sns, snsn);
	if (rc == 0)
		rc = put_str(&tbs, res, resn);
	if (rc == 0)
		rc = put_str(&tbs, halg, halgn);
	if (rc == 0)
		rc = put_str(&tbs, digest, dlen);
	if (rc < 0)
		goto out;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) != 1) {
		rc = ssl_err("set up a signature check");
		goto out;
	}
	if (EVP_DigestVerify(md, s2, s2n, (const unsigned char *)tbs.data,
			     tbs.len) != 1) {
		ERR_clear_error();
		rc = err_set(-EBADMSG, "bad signature");
	}
out:
	EVP_MD_CTX_free(md);
	buf_release(&raw);
	buf_release(&want_pk);
	buf_release(&tbs);
	return rc;
}
