/*
 * A space's ledger repository kept in the index instead of a directory
 * (server/ledger_store.c): libgit2 object database and refdb backends over
 * the index's ledger operations, for several nodes serving one space.
 */
#ifndef COFFRE_SERVER_LEDGER_STORE_H
#define COFFRE_SERVER_LEDGER_STORE_H

struct git_repository;
struct index;

/*
 * A repository whose objects and refs are space's rows in ix; ix must
 * outlive it.  create: make the ledger (its HEAD naming refs/heads/main)
 * when the index has none; else -ENOENT (message set) when it has none.
 */
int ledger_store_repo_open(struct git_repository **out, struct index *ix,
			   const char *space, int create);

#endif /* COFFRE_SERVER_LEDGER_STORE_H */
