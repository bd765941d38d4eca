/*
 * Open handles of the spaces this server holds: each space's ledger
 * (DATADIR/spaces/NAME/ledger.git) and chunk store (DATADIR/spaces/NAME/
 * chunks), opened lazily on first use and kept open until spaces_free().
 * Also the per-space keys derived from the master key.
 *
 * Thread-safe: the cache is guarded by a mutex; a returned struct space is
 * borrowed and stays valid until spaces_free().  Ledger and chunk store are
 * themselves thread-safe.
 */
#ifndef COFFRE_SERVER_SPACES_H
#define COFFRE_SERVER_SPACES_H

#include <pthread.h>
#include <stdint.h>

#include "common/chunker.h"
#include "common/crypto.h"

struct ledger;
struct chunkstore;
struct spaces;

#define SPACES_DIR_NAME	  "spaces"
#define SPACE_LEDGER_NAME "ledger.git"
#define SPACE_CHUNKS_NAME "chunks"
#define SPACE_KEY_NAME	  "chunks.key"
#define MASTER_KEY_PATH	  "keys/master.key"

struct space {
	char name[65];
	struct ledger *ledger;
	struct chunkstore *chunks;
	uint8_t chunk_seed[CHUNK_SEED_LEN];
	/* Keys the salts of the deposit path commitments in statements
	 * (statement.h): derived from the master key, never stored. */
	struct crypto_key path_key;
	/* Bumped after every batch applied to the ledger (space_changed()),
	 * read atomically: the change feed compares it. */
	uint64_t change_gen;
	/* Held by a commit from its quota check until its versions are in
	 * the index, so two commits never both fit in the room left
	 * (quota.h); and by the removal of a refused batch's chunks. */
	pthread_mutex_t usage_lock;
};

/* Load DATADIR/keys/master.key (32 bytes) into key. */
int master_key_load(struct crypto_key *key, const char *datadir);

/*
 * The chunk store key of a space: its own random key, kept sealed under a
 * key derived from the master key in DATADIR/spaces/SPACE/chunks.key, so
 * that destroying that file shreds every copy of its chunks (backups
 * included); in the index ix instead when coffred.conf shares the ledgers
 * (ledger = index), so that every node reads the same key.  A space made
 * before keys of their own, with no such file, has the key derived from
 * the master key and its name (`coffred space rekey` gives it one of its
 * own); a shared deployment has no such space and refuses one.
 */
struct index;
int space_chunk_key(struct crypto_key *out, const struct crypto_key *master,
		    const char *datadir, struct index *ix, const char *space);
/* The legacy derived key, whatever the file says (the rekey's source). */
int space_chunk_key_derived(struct crypto_key *out,
			    const struct crypto_key *master, const char *space);
/* Write key as the space's own (atomically, fsynced); replaces one. */
int space_key_save(const char *datadir, struct index *ix, const char *space,
		   const struct crypto_key *master,
		   const struct crypto_key *key);
/* The master key the spaces were opened with. */
const struct crypto_key *spaces_master(const struct spaces *sp);
/* Derive the chunker seed of a space. */
int space_chunk_seed(uint8_t seed[CHUNK_SEED_LEN],
		     const struct crypto_key *master, const char *space);

/*
 * Open the chunk store of a space where coffred.conf's chunks says: the
 * directory DATADIR/spaces/SPACE/chunks, or the S3 bucket (objects under
 * SPACE/, puts spooled in DATADIR/tmp/chunk-spool).
 */
int space_chunks_open(struct chunkstore **out, const char *datadir,
		      struct index *ix, const char *space,
		      const struct crypto_key *master);
/* The same with the chunk key given (a rekey opens both). */
int space_chunks_open_key(struct chunkstore **out, const char *datadir,
			  const char *space, const struct crypto_key *key);

/*
 * The S3 backend of cfg's chunks = s3://... for space (objects under
 * SPACE/; puts spooled in DATADIR/tmp/chunk-spool).  Into *out, the
 * caller's to free.
 */
struct chunk_backend;
struct config;
int space_chunk_s3(struct chunk_backend **out, const struct config *cfg,
		   const char *datadir, const char *space);

/* Path of a space's directory or ledger into out; -ENAMETOOLONG. */
int space_dir_path(char *out, size_t outlen, const char *datadir,
		   const char *space, const char *leaf);

/*
 * Call cb for every space of datadir, going on after a failure: each
 * entry of its spaces folder whose name is a valid ident, or, when
 * coffred.conf puts the ledgers in the index (ix not NULL), every space
 * the index knows.  0, or the first negative cb returned, or -errno when
 * the list cannot be read.
 */
typedef int (*spaces_each_cb)(const char *name, void *arg);
int spaces_each(const char *datadir, struct index *ix, spaces_each_cb cb,
		void *arg);

/*
 * Where space's ledger is, as coffred.conf's ledger says: the bare
 * repository DATADIR/spaces/SPACE/ledger.git (written into path, which w
 * then names), or the index ix (which must not be NULL then).  The one
 * place that decides it; space_ledger_open opens it (create: make it).
 */
struct ledger_where;
int space_ledger_where(struct ledger_where *w, char *path, size_t pathlen,
		       const char *datadir, struct index *ix,
		       const char *space);
int space_ledger_open(struct ledger **out, const char *datadir,
		      struct index *ix, const char *space, int create);

/* master is copied; ix outlives the spaces (their ledgers may live in
 * it). */
int spaces_new(struct spaces **out, const char *datadir, struct index *ix,
	       const struct crypto_key *master);
void spaces_free(struct spaces *sp);

/*
 * The open space name (a valid ident the caller is authorized for).
 * -ENOENT when its directory does not exist.
 */
int spaces_get(struct spaces *sp, const char *name, struct space **out);

/* The head of s moved: bump s->change_gen. */
void space_changed(struct space *s);
/* The same for the space name if it is open here (1), else 0: nobody
 * here waits on a space not open. */
int spaces_changed(struct spaces *sp, const char *name);
/* s->change_gen, read atomically. */
uint64_t space_change_gen(const struct space *s);

#endif /* COFFRE_SERVER_SPACES_H */
