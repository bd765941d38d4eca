/*
 * Provable history's building blocks without a server: the keys of a data
 * directory (made once, the same on reload), SSH signatures (round trip,
 * armor, every kind of mismatch refused), RFC 3161 tokens from coffred's
 * TSA (verify, refuse other data and damaged tokens) and user
 * certificates from a CSR.
 */
#include "server/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "server/sshsig.h"
#include "server/tsa.h"
#include "tests/lib/tap.h"

static char dir[64];

static void test_provable_keys(struct keys **k)
{
	struct buf a, b;
	struct keys *again = NULL;

	ok(keys_load(k, dir) == 0,
	   "keys_load makes the keys of a new directory");
	buf_init(&a, 4096);
	buf_init(&b, 4096);
	ok(keys_allowed_signers(*k, &a) == 0 &&
		   !strncmp(
			   a.data,
			   "coffred@localhost namespaces=\"git,coffre-statement\" ssh-ed25519 AAAA",
			   68),
	   "allowed-signers line names coffred@localhost and an ed25519 key");
	ok(keys_load(&again, dir) == 0 &&
		   keys_allowed_signers(again, &b) == 0 &&
		   !strcmp(a.data, b.data),
	   "reloading gives the same ledger key");
	buf_reset(&b);
	ok(keys_ca_pem(*k, &b) == 0 && strstr(b.data, "BEGIN CERTIFICATE"),
	   "the CA exports as PEM");
	ok(X509_verify(keys_tsa_cert(*k), X509_get0_pubkey(keys_ca_cert(*k))) ==
		   1,
	   "the TSA certificate is signed by the CA");
	ok(X509_get_extended_key_usage(keys_tsa_cert(*k)) == XKU_TIMESTAMP &&
		   (X509_get_extension_flags(keys_tsa_cert(*k)) &
		    EXFLAG_XKUSAGE),
	   "the TSA certificate is for time stamping only");
	keys_free(again);
	buf_release(&a);
	buf_release(&b);
}

static void test_provable_sshsig(struct keys *k)
{
	static const char data[] = "tree 0123\nauthor x\n\ncommit message\n";
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct buf sig;
	char *line, *save = NULL, *copy;
	int lines_ok = 1;

	buf_init(&sig, 16384);
	ok(sshsig_sign(keys_ledger_key(k), "git", data, sizeof(data) - 1,
		       &sig) == 0,
	   "sshsig_sign");
	ok(!strncmp(sig.data, "-----BEGIN SSH SIGNATURE-----\n", 30) &&
		   sig.data[sig.len - 1] == '-' &&
		   strstr(sig.data, "\n-----END SSH SIGNATURE-----"),
	   "armored, without a final newline (git adds it)");
	copy = strdup(sig.data);
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (line[0] != '-' && strlen(line) > 70)
			lines_ok = 0;
	free(copy);
	ok(lines_ok, "base64 lines of at most 70 columns");
	ok(sshsig_verify(keys_ledger_key(k), "git", sig.data, sig.len, data,
			 sizeof(data) - 1) == 0,
	   "sshsig_verify accepts it");
	ok(sshsig_verify(keys_ledger_key(k), "git", sig.data, sig.len, data,
			 sizeof(data) - 2) == -EBADMSG,
	   "other data: refused");
	ok(sshsig_verify(keys_ledger_key(k), "file", sig.data, sig.len, data,
			 sizeof(data) - 1) == -EBADMSG,
	   "other namespace: refused");
	ok(other && sshsig_verify(other, "git", sig.data, sig.len, data,
				  sizeof(data) - 1) == -EBADMSG,
	   "another key: refused (%s)", err_msg());
	sig.data[40] = sig.data[40] == 'A' ? 'B' : 'A';
	ok(sshsig_verify(keys_ledger_key(k), "git", sig.data, sig.len, data,
			 sizeof(data) - 1) == -EBADMSG,
	   "a damaged signature: refused");
	ok(sshsig_verify(keys_ledger_key(k), "git", "garbage", 7, data,
			 sizeof(data) - 1) == -EBADMSG,
	   "no armor: refused");
	EVP_PKEY_free(other);
	buf_release(&sig);
}

static void test_provable_tsa(struct keys *k)
{
	static const char data[] = "raw commit bytes";
	struct buf der, b64;

	buf_init(&der, 65536);
	buf_init(&b64, 65536);
	ok(tsa_stamp(k, data, sizeof(data), &der) == 0 && der.len > 100,
	   "tsa_stamp makes a response");
	ok(tsa_verify(k, der.data, der.len, data, sizeof(data)) == 0,
	   "tsa_verify accepts it (%s)", err_msg());
	ok(tsa_verify(k, der.data, der.len, data, sizeof(data) - 1) == -EBADMSG,
	   "other data: refused");
	ok(tsa_verify(k, der.data, der.len / 2, data, sizeof(data)) == -EBADMSG,
	   "a truncated token: refused");
	der.data[der.len - 5] ^= 1;
	ok(tsa_verify(k, der.data, der.len, data, sizeof(data)) == -EBADMSG,
	   "a damaged token: refused");
	ok(tsa_stamp_b64(k, data, sizeof(data), &b64) == 0 &&
		   b64.data[b64.len - 1] == '\n' && !strchr(b64.data, ' '),
	   "tsa_stamp_b64: one base64 line");
	buf_release(&der);
	buf_release(&b64);
}

static void test_provable_user_cert(struct keys *k)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256"), *ed;
	X509_REQ *req = X509_REQ_new();
	BIO *b = BIO_new(BIO_s_mem());
	struct buf out;
	char *pem, cn[64];
	long len;
	X509 *cert = NULL;

	buf_init(&out, 65536);
	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
				   MBSTRING_ASC,
				   (const unsigned char *)"whoever", -1, -1, 0);
	X509_REQ_set_pubkey(req, pk);
	X509_REQ_sign(req, pk, EVP_sha256());
	PEM_write_bio_X509_REQ(b, req);
	len = BIO_get_mem_data(b, &pem);
	ok(keys_issue_user_cert(k, "alice", pem, (size_t)len, &out) == 0,
	   "a certificate for a P-256 CSR");
	{
		BIO *cb = BIO_new_mem_buf(out.data, (int)out.len);

		cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
		BIO_free(cb);
	}
	ok(cert &&
		   X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
					     NID_commonName, cn,
					     sizeof(cn)) > 0 &&
		   !strcmp(cn, "alice"),
	   "CN is the caller's login, not what the CSR asked");
	ok(cert && (X509_get_key_usage(cert) &
		    (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) ==
			   (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION),
	   "digitalSignature and nonRepudiation");
	ok(cert && X509_verify(cert, X509_get0_pubkey(keys_ca_cert(k))) == 1,
	   "issued by the CA");
	buf_reset(&out);
	ok(keys_issue_user_cert(k, "alice", "nope", 4, &out) == -EINVAL,
	   "not a CSR: -EINVAL");
	pem[len / 2] = pem[len / 2] == 'A' ? 'B' : 'A';
	ok(keys_issue_user_cert(k, "alice", pem, (size_t)len, &out) == -EINVAL,
	   "a damaged CSR: -EINVAL");
	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	{
		X509_REQ *r2 = X509_REQ_new();
		BIO *b2 = BIO_new(BIO_s_mem());
		char *p2;
		long l2;

		X509_REQ_set_pubkey(r2, ed);
		X509_REQ_sign(r2, ed, NULL);
		PEM_write_bio_X509_REQ(b2, r2);
		l2 = BIO_get_mem_data(b2, &p2);
		ok(keys_issue_user_cert(k, "alice", p2, (size_t)l2, &out) ==
			   -EINVAL,
		   "a non-P-256 key: -EINVAL");
		BIO_free(b2);
		X509_REQ_free(r2);
	}
	EVP_PKEY_free(ed);
	X509_free(cert);
	BIO_free(b);
	X509_REQ_free(req);
	EVP_PKEY_free(pk);
	buf_release(&out);
}

int main(void)
{
	struct keys *k = NULL;

	snprintf(dir, sizeof(dir), "/tmp/coffre-test-provable.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	test_provable_keys(&k);
	if (k) {
		test_provable_sshsig(k);
		test_provable_tsa(k);
		test_provable_user_cert(k);
	}
	keys_free(k);
	rm_rf(dir);
	return tap_done();
}
