/*
 * Deposit statements: what proves one version to a reader who may not see
 * the rest of the space.  The server states, in a small text signed with
 * its ledger key (SSHSIG, namespace "coffre-statement": `ssh-keygen -Y
 * verify`) and timestamped (RFC 3161: `openssl ts -verify`), that a
 * version was deposited:
 *
 *   coffre-statement 2
 *   space demo
 *   path-sha256 HEX                SHA-256 of "SALT PATH": the path where
 *                                  the commit files its manifest, committed
 *   doc 5f0c...                    (32 hex)
 *   version 3
 *   size 12
 *   sha256 HEX                     of the content
 *   manifest-sha256 HEX            of the manifest text, as filed
 *   deposited-by alice
 *   deposited-at 2026-11-27T10:00:00Z
 *   commit HEX                     the ledger commit that made the version
 *   made at-deposit | on-demand
 *   made-at 2026-11-27T10:00:01Z
 *
 * The path is committed to, not written: a version may be read where its
 * readers cannot see where it was deposited (moved out of a confidential
 * folder, declassified), and the statement is what every reader gets.
 * SALT is 64 hex characters, a keyed hash (the space's path key, derived
 * from the master key) of doc, version and path: unguessable without the
 * key, so the commitment cannot be tested against candidate names, and
 * made again at will so nothing is stored.  A proof gives PATH and SALT
 * to a reader who may see the path (statement_path_salt()).  Statements
 * of format 1, made before, state "path PATH" in clear.
 *
 * "at-deposit" statements are made right after the commit that makes the
 * version (batches of at most 256 versions, api_commits.c); "on-demand"
 * ones for versions that have none (deposited before statements existed,
 * by a larger batch, or whose statement was lost to a crash between the
 * commit and its statement), when their first proof is asked for.  Either
 * way the statement is recorded in the ledger (ledger_statements_add) and
 * the first one made is the one every later proof carries.
 */
#ifndef COFFRE_SERVER_STATEMENT_H
#define COFFRE_SERVER_STATEMENT_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct crypto_key;
struct keys;
struct ledger;
struct ledger_statement_copy;

#define STATEMENT_NAMESPACE "coffre-statement"
#define STATEMENT_SALT_HEX  64

/*
 * The salt of version of doc_id deposited at path, under the space's path
 * key: STATEMENT_SALT_HEX hex characters and a NUL into out.
 */
void statement_path_salt(const struct crypto_key *path_key, const char *doc_id,
			 uint64_t version, const char *path,
			 char out[STATEMENT_SALT_HEX + 1]);

/* The format of a statement's text: 1, 2, or -EBADMSG. */
int statement_format_of(const char *text, size_t len);

/*
 * The statement text of the version whose manifest text is manifest (it
 * gives doc, version, size, sha256, depositor and time), filed at path by
 * commit (path committed to under path_key), made now (made:
 * "at-deposit" or "on-demand").  -EBADMSG when the manifest does not
 * parse.
 */
int statement_format(struct buf *out, const char *space, const char *path,
		     const struct crypto_key *path_key, const char *commit,
		     const char *manifest, size_t manifest_len,
		     const char *made, long long now);

/*
 * Make (format, sign, stamp) the statements of n versions and record them
 * in lg in one commit.  paths[i], manifests[i] (NUL-terminated text) and
 * commit as in statement_format.  0 or -errno; nothing recorded on error.
 */
int statement_record(struct ledger *lg, const struct keys *k, const char *space,
		     const struct crypto_key *path_key, const char *commit,
		     const char *const *paths, const char *const *manifests,
		     size_t n, const char *made);

/*
 * The statement of a version, recorded in lg: the one there, or one made
 * "on-demand" now and recorded first.  Into *out (the caller's).  When
 * path_hidden, a recorded statement of format 1 (which names the path in
 * clear) is not answered: one of format 2 is made on demand instead and
 * answered without being recorded (the ledger keeps its first).
 */
int statement_get(struct ledger *lg, const struct keys *k, const char *space,
		  const struct crypto_key *path_key, const char *path,
		  const char *commit, const char *manifest, int path_hidden,
		  struct ledger_statement_copy *out);

#endif /* COFFRE_SERVER_STATEMENT_H */
