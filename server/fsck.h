/*
 * `coffred fsck DATADIR [SPACE]`: check that the chunk store, the ledger
 * and the index of each space (or of SPACE) agree and that the history is
 * provable:
 *
 *   - every chunk decrypts and hashes to its name;
 *   - every manifest ever committed has all its chunks, their sizes add up
 *     and the content hashes to the manifest's sha256;
 *   - the ledger passes stock `git fsck --strict`;
 *   - every commit on main carries a valid SSH signature by the ledger key
 *     and a timestamp note whose RFC 3161 token verifies against the CA
 *     and covers the raw commit;
 *   - every version in the index names a commit on main and a manifest the
 *     ledger holds;
 *   - the event chain of the space (and the server chain) recomputes, and
 *     every anchor of it in the ledger (refs/coffre/events) is signed,
 *     stamped and names an event the journal still holds, unchanged;
 *   - every e-signature (refs/coffre/signatures) verifies over its
 *     version's content, names that version and role, and its token
 *     covers it; every commit of that ref is signed and stamped.
 *
 * Read-only; may run while coffred serves.  Prints one line per problem
 * ("SPACE: what") and a summary per space on stdout.
 */
#ifndef COFFRE_SERVER_FSCK_H
#define COFFRE_SERVER_FSCK_H

/* Exit status: 0 when everything checks, 1 otherwise (error on stderr). */
int fsck_main(const char *datadir, const char *space);

#endif /* COFFRE_SERVER_FSCK_H */
