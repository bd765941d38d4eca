/*
 * The client side of GET .../docs/D/versions/N/proof (docs/protocol.md,
 * "Proofs"): fetched, checked for shape, base64 fields decoded.  Shared by
 * `coffre proof` and `coffre verify`.
 */
#ifndef COFFRE_CLIENT_PROOF_FETCH_H
#define COFFRE_CLIENT_PROOF_FETCH_H

#include <stddef.h>
#include <stdint.h>

struct docref;

struct proof_commit {
	char commit[41];
	unsigned char *token; /* DER TimeStampResp, NULL when missing */
	size_t token_len;
};

struct proof_sig {
	char login[65], role[16], signed_at[32];
	unsigned char *cms, *token; /* DER CMS; DER TimeStampResp over it */
	size_t cms_len, token_len;
};

/* The version's deposit statement, signed and timestamped by the server. */
struct proof_statement {
	char *text, *sig;     /* statement text; armored SSH signature */
	unsigned char *token; /* DER TimeStampResp over text */
	size_t token_len;
};

struct proof {
	char space[65], doc_id[33], commit[41];
	uint64_t version;
	/* path: where the version was deposited, given only to a reader who
	 * sees it (NULL otherwise); path_salt opens the statement's
	 * path-sha256 to it (format 2 statements; "" with format 1). */
	char *path, *manifest, *allowed_signers, *tsa_ca;
	char path_salt[65];
	struct proof_statement statement;
	/* The ledger's history, given to those who may read the whole space
	 * only: bundle NULL and nchain 0 otherwise. */
	unsigned char *bundle;
	size_t bundle_len;
	struct proof_commit *chain; /* root first; the last is commit */
	size_t nchain;
	struct proof_sig *sigs; /* e-signatures of the version */
	size_t nsigs;
};

/* Fetch the proof of r's version with the session of config (may be NULL). */
int proof_fetch(const char *config, const struct docref *r, struct proof *p);
void proof_release(struct proof *p);

/*
 * Copy src to dst (0644, atomically) while hashing it; -EBADMSG (nothing
 * left at dst) when size or SHA-256 differ from the manifest's.
 */
struct progress;
int proof_copy_content(const struct proof *p, const char *src, const char *dst,
		       struct progress *prog);

/*
 * Write the proof's files into the existing directory dir (manifest.txt,
 * statement.txt, .sig and .tsr, allowed_signers, tsa-ca.pem,
 * signatures/LOGIN.ROLE.p7s and .tsr, VERIFY.txt, and with the history
 * ledger.bundle and timestamps/C.tsr); the content is the caller's
 * (cmd_proof.c).
 */
int proof_write(const struct proof *p, const char *dir);

/*
 * Does the statement name this version: its doc, version and commit, the
 * manifest's SHA-256 and the content's, and the path when the proof gives
 * it (format 1: in clear; format 2: SHA-256 of "SALT PATH")?  0 or
 * -EBADMSG saying which field differs.  Its signature and token are
 * checked by stock tools.
 */
int proof_check_statement(const struct proof *p);

/* Hash src and compare with the manifest: 0 or -EBADMSG saying why.
 * prog (may be NULL) shows the bytes read of the version's size. */
int proof_check_content(const struct proof *p, const char *src,
			struct progress *prog);

#endif /* COFFRE_CLIENT_PROOF_FETCH_H */
