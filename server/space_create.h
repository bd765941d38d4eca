/*
 * Making a space: its directory, its ledger (the owner's membership, then
 * its filing plan, each a signed and stamped commit), its chunk folder and
 * its index row.  One function for both ways a space is made: by the
 * operator (`coffred space create`, admin.c) and by a user (POST
 * /v1/spaces, api_spaces.c).
 */
#ifndef COFFRE_SERVER_SPACE_CREATE_H
#define COFFRE_SERVER_SPACE_CREATE_H

#include "common/plan.h"
#include "server/index.h"

/* 0 for private, company or association; -EINVAL saying so otherwise. */
int space_kind_check(const char *kind);

/*
 * Make space (a valid ident) owned by owner (an existing user), of kind,
 * with plan's folders (p may be empty) and a chunk key of its own, sealed
 * under master (spaces.h, space_chunk_key).  The caller has a ledger prover
 * installed (keys_prover.c), so the first commits are signed like every
 * other.  The space's directory is the lock: -EEXIST when it exists.  On
 * any failure nothing is left: what this call made is removed.
 */
struct crypto_key;
int space_create(const char *datadir, struct index *ix, const char *space,
		 const char *owner, const char *kind, const struct plan *p,
		 const struct crypto_key *master);

#endif /* COFFRE_SERVER_SPACE_CREATE_H */
