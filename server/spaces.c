/*
 * Cache of open spaces.  Opening a ledger or chunk store costs a few
 * syscalls and libgit2 setup, so each is opened once, on the first request
 * naming the space, and kept for the life of the server.  The list is small
 * (spaces actually used since start) and guarded by one mutex; the open
 * itself happens under the lock so two requests never open the same space
 * twice.
 */
#include "server/spaces.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sys/stat.h>

#include "server/config.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/namev.h"
#include "common/path.h"
#include "server/chunk_backend.h"
#include "server/chunk_s3.h"
#include "server/chunkstore.h"
#include "server/index.h"
#include "server/ledger.h"

struct space_node {
	struct space sp;
	struct space_node *next;
};

struct spaces {
	char *datadir;
	struct index *ix;
	int shared; /* coffred.conf's ledger = index | postgresql */
	struct crypto_key master;
	pthread_mutex_t lock;
	struct space_node *head; /* protected by lock */
};

int master_key_load(struct crypto_key *key, const char *datadir)
{
	char path[PATH_MAX];
	struct config cfg;
	char *data = NULL;
	size_t len = 0;
	int rc;

	/* coffred.conf may keep the key outside the data directory. */
	rc = config_load(&cfg, datadir);
	if (rc < 0)
		return rc;
	if (cfg.master_key[0])
		snprintf(path, sizeof(path), "%s", cfg.master_key);
	else if ((size_t)snprintf(path, sizeof(path), "%s/%s", datadir,
				  MASTER_KEY_PATH) >= sizeof(path))
		return err_set(-ENAMETOOLONG, "data directory path too long");
	rc = file_read_all(path, 4096, &data, &len);
	if (rc < 0)
		return err_set(rc, "cannot read '%s': %s", path, strerror(-rc));
	if (len != CRYPTO_KEY_LEN)
		rc = err_set(-EINVAL, "'%s' must hold %d bytes, not %zu", path,
			     CRYPTO_KEY_LEN, len);
	else
		rc = crypto_key_from_bytes(key, (const uint8_t *)data, len);
	if (data) {
		explicit_bzero(data, len);
		free(data);
	}
	return rc;
}

int space_chunk_key_derived(struct crypto_key *out,
			    const struct crypto_key *master, const char *space)
{
	return crypto_key_derive(out, master, "chunks", space);
}

/* The key that seals a space's own key (the space's name bound too). */
static int key_wrap(struct crypto_key *out, const struct crypto_key *master,
		    const char *space)
{
	return crypto_key_derive(out, master, "chunks-key-wrap", space);
}

#define KEY_FILE_LEN (CRYPTO_KEY_LEN + CRYPTO_SEAL_OVERHEAD)

/*
 * The sealed key of a space into sealed[KEY_FILE_LEN]: from the index
 * when coffred.conf shares the ledgers (shared: every node reads it
 * there), else from DATADIR/spaces/SPACE/chunks.key.  -ENOENT when it has
 * none; where names it for messages.
 */
static int sealed_read(uint8_t sealed[KEY_FILE_LEN], const char *datadir,
		       int shared, struct index *ix, const char *space,
		       char *where, size_t wlen)
{
	char hex[2 * KEY_FILE_LEN + 2], *data = NULL;
	size_t len = 0;
	int rc;

	if (shared) {
		snprintf(where, wlen, "the index's key of space '%s'", space);
		if (!ix)
			return err_set(-EINVAL,
				       "space '%s': its key is in the index",
				       space);
		rc = index_space_key_get(ix, space, hex, sizeof(hex));
		if (rc < 0)
			return rc;
		return strlen(hex) == 2 * KEY_FILE_LEN &&
				       hex_decode(sealed, hex, KEY_FILE_LEN) ==
					       0 ?
			       0 :
			       -EBADMSG;
	}
	rc = space_dir_path(where, wlen, datadir, space, SPACE_KEY_NAME);
	if (rc < 0)
		return rc;
	rc = file_read_all(where, 4096, &data, &len);
	if (rc == -ENOENT)
		return rc;
	if (rc < 0)
		return err_set(rc, "cannot read '%s': %s", where,
			       strerror(-rc));
	rc = len == KEY_FILE_LEN ? 0 : -EBADMSG;
	if (rc == 0)
		memcpy(sealed, data, KEY_FILE_LEN);
	free(data);
	return rc;
}

int space_chunk_key(struct crypto_key *out, const struct crypto_key *master,
		    const char *datadir, struct index *ix, const char *space)
{
	uint8_t plain[CRYPTO_KEY_LEN], sealed[KEY_FILE_LEN];
	struct crypto_key wrap = { 0 };
	char where[PATH_MAX];
	struct config cfg;
	int rc;

	rc = config_load(&cfg, datadir);
	if (rc < 0)
		return rc;
	rc = sealed_read(sealed, datadir, cfg.ledger_shared, ix, space, where,
			 sizeof(where));
	/* A space from before keys of their own: never in a shared
	 * deployment, whose spaces all have theirs in the index. */
	if (rc == -ENOENT && !cfg.ledger_shared) {
		err_clear();
		return space_chunk_key_derived(out, master, space);
	}
	if (rc == 0)
		rc = key_wrap(&wrap, master, space);
	if (rc == 0)
		rc = crypto_open(&wrap, space, strlen(space), sealed,
				 sizeof(sealed), plain);
	if (rc == 0)
		rc = crypto_key_from_bytes(out, plain, sizeof(plain));
	sodium_memzero(plain, sizeof(plain));
	crypto_key_release(&wrap);
	if (rc == -EBADMSG)
		return err_set(
			rc,
			"%s does not open with this master key (damaged, or another server's)",
			where);
	return rc;
}

int space_key_save(const char *datadir, struct index *ix, const char *space,
		   const struct crypto_key *master,
		   const struct crypto_key *key)
{
	uint8_t sealed[KEY_FILE_LEN];
	char path[PATH_MAX], hex[2 * KEY_FILE_LEN + 1];
	struct crypto_key wrap = { 0 };
	struct config cfg;
	int rc;

	rc = config_load(&cfg, datadir);
	if (rc == 0 && cfg.ledger_shared && !ix)
		rc = err_set(-EINVAL, "space '%s': its key is in the index",
			     space);
	if (rc == 0)
		rc = space_dir_path(path, sizeof(path), datadir, space,
				    SPACE_KEY_NAME);
	if (rc == 0)
		rc = key_wrap(&wrap, master, space);
	if (rc == 0)
		rc = crypto_seal(&wrap, space, strlen(space), key->k,
				 CRYPTO_KEY_LEN, sealed);
	crypto_key_release(&wrap);
	if (rc == 0 && cfg.ledger_shared) {
		hex_encode(sealed, sizeof(sealed), hex);
		return index_space_key_set(ix, space, hex);
	}
	if (rc == 0)
		rc = file_write_atomic(path, sealed, sizeof(sealed), 0600);
	if (rc < 0 && !err_msg()[0])
		rc = err_set(rc, "cannot write '%s': %s", path, strerror(-rc));
	return rc;
}

const struct crypto_key *spaces_master(const struct spaces *sp)
{
	return &sp->master;
}

int space_chunk_seed(uint8_t seed[CHUNK_SEED_LEN],
		     const struct crypto_key *master, const char *space)
{
	struct crypto_key k = { 0 };
	int rc = crypto_key_derive(&k, master, "chunk-seed", space);

	if (rc < 0)
		return rc;
	memcpy(seed, k.k, CHUNK_SEED_LEN);
	crypto_key_release(&k);
	return 0;
}

int space_chunks_open_key(struct chunkstore **out, const char *datadir,
			  const char *space, const struct crypto_key *key)
{
	struct chunk_backend *be = NULL;
	char path[PATH_MAX];
	struct config cfg;
	int rc;

	*out = NULL;
	rc = config_load(&cfg, datadir);
	if (rc < 0)
		return rc;
	if (!cfg.chunks[0]) {
		rc = space_dir_path(path, sizeof(path), datadir, space,
				    SPACE_CHUNKS_NAME);
		return rc ? rc : chunkstore_open(out, path, key);
	}
	rc = space_chunk_s3(&be, &cfg, datadir, space);
	if (rc == 0)
		rc = chunkstore_new(out, be, key);
	return rc;
}

int space_chunks_open(struct chunkstore **out, const char *datadir,
		      struct index *ix, const char *space,
		      const struct crypto_key *master)
{
	struct crypto_key key = { 0 };
	int rc;

	*out = NULL;
	rc = space_chunk_key(&key, master, datadir, ix, space);
	if (rc == 0)
		rc = space_chunks_open_key(out, datadir, space, &key);
	crypto_key_release(&key);
	return rc;
}

int space_chunk_s3(struct chunk_backend **out, const struct config *cfg,
		   const char *datadir, const char *space)
{
	struct chunk_s3_config *s3 = calloc(1, sizeof(*s3));
	int rc;

	*out = NULL;
	/* A bucket shared by every space: each under its own prefix. */
	rc = s3 ? chunk_s3_parse_url(s3, cfg->chunks) : -ENOMEM;
	if (rc == 0)
		rc = chunk_s3_read_key_file(s3, cfg->s3_key_file);
	if (rc == 0 && ((size_t)snprintf(s3->prefix, sizeof(s3->prefix), "%s/",
					 space) >= sizeof(s3->prefix) ||
			(size_t)snprintf(s3->spool_dir, sizeof(s3->spool_dir),
					 "%s/tmp/chunk-spool",
					 datadir) >= sizeof(s3->spool_dir)))
		rc = err_set(-ENAMETOOLONG, "data directory path too long");
	if (rc == 0)
		rc = chunk_s3_new(out, s3);
	if (s3) {
		explicit_bzero(s3, sizeof(*s3));
		free(s3);
	}
	return rc;
}

int space_dir_path(char *out, size_t outlen, const char *datadir,
		   const char *space, const char *leaf)
{
	int n;

	if (leaf)
		n = snprintf(out, outlen, "%s/%s/%s/%s", datadir,
			     SPACES_DIR_NAME, space, leaf);
	else
		n = snprintf(out, outlen, "%s/%s/%s", datadir, SPACES_DIR_NAME,
			     space);
	if (n < 0 || (size_t)n >= outlen)
		return err_set(-ENAMETOOLONG, "data directory path too long");
	return 0;
}

int spaces_new(struct spaces **out, const char *datadir, struct index *ix,
	       const struct crypto_key *master)
{
	struct spaces *sp;
	struct config cfg;
	int rc;

	rc = config_load(&cfg, datadir);
	if (rc < 0)
		return rc;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->ix = ix;
	sp->shared = cfg.ledger_shared;
	sp->datadir = strdup(datadir);
	if (!sp->datadir) {
		free(sp);
		return -ENOMEM;
	}
	rc = crypto_key_from_bytes(&sp->master, master->k, CRYPTO_KEY_LEN);
	if (rc < 0) {
		free(sp->datadir);
		free(sp);
		return rc;
	}
	pthread_mutex_init(&sp->lock, NULL);
	*out = sp;
	return 0;
}

void spaces_free(struct spaces *sp)
{
	struct space_node *n, *next;

	if (!sp)
		return;
	for (n = sp->head; n; n = next) {
		next = n->next;
		ledger_free(n->sp.ledger);
		chunkstore_free(n->sp.chunks);
		crypto_key_release(&n->sp.path_key);
		pthread_mutex_destroy(&n->sp.usage_lock);
		free(n);
	}
	crypto_key_release(&sp->master);
	pthread_mutex_destroy(&sp->lock);
	free(sp->datadir);
	free(sp);
}

/* Open one space; called with sp->lock held. */
static int space_open(struct spaces *sp, const char *name,
		      struct space_node **out)
{
	char path[PATH_MAX];
	struct space_node *n;
	struct stat st;
	int rc;

	rc = space_dir_path(path, sizeof(path), sp->datadir, name, NULL);
	if (rc < 0)
		return rc;
	/* A shared space is its ledger in the index: another node may
	 * have made it, and this one has no folder of it. */
	if (!sp->shared && (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)))
		return err_set(-ENOENT, "no such space '%s'", name);
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	snprintf(n->sp.name, sizeof(n->sp.name), "%s", name);
	rc = space_chunk_seed(n->sp.chunk_seed, &sp->master, name);
	if (rc == 0)
		rc = crypto_key_derive(&n->sp.path_key, &sp->master,
				       "statement-path", name);
	if (rc < 0)
		goto fail;
	rc = space_ledger_open(&n->sp.ledger, sp->datadir, sp->ix, name, 0);
	if (rc == -ENOENT)
		rc = err_set(-ENOENT, "no such space '%s'", name);
	if (rc < 0)
		goto fail;
	rc = space_chunks_open(&n->sp.chunks, sp->datadir, sp->ix, name,
			       &sp->master);
	if (rc < 0)
		goto fail;
	pthread_mutex_init(&n->sp.usage_lock, NULL);
	*out = n;
	return 0;
fail:
	ledger_free(n->sp.ledger);
	crypto_key_release(&n->sp.path_key);
	free(n);
	return rc;
}

int spaces_get(struct spaces *sp, const char *name, struct space **out)
{
	struct space_node *n;
	int rc = 0;

	pthread_mutex_lock(&sp->lock);
	for (n = sp->head; n; n = n->next)
		if (!strcmp(n->sp.name, name))
			break;
	if (!n) {
		rc = space_open(sp, name, &n);
		if (rc == 0) {
			n->next = sp->head;
			sp->head = n;
		}
	}
	if (rc == 0)
		*out = &n->sp;
	pthread_mutex_unlock(&sp->lock);
	return rc;
}

void space_changed(struct space *s)
{
	__atomic_add_fetch(&s->change_gen, 1, __ATOMIC_RELEASE);
}

int spaces_changed(struct spaces *sp, const char *name)
{
	struct space_node *n;

	pthread_mutex_lock(&sp->lock);
	for (n = sp->head; n; n = n->next)
		if (!strcmp(n->sp.name, name)) {
			space_changed(&n->sp);
			break;
		}
	pthread_mutex_unlock(&sp->lock);
	return n != NULL;
}

uint64_t space_change_gen(const struct space *s)
{
	return __atomic_load_n(&s->change_gen, __ATOMIC_ACQUIRE);
}

int space_ledger_where(struct ledger_where *w, char *path, size_t pathlen,
		       const char *datadir, struct index *ix, const char *space)
{
	struct config cfg;
	int rc = config_load(&cfg, datadir);

	if (rc < 0)
		return rc;
	*w = (struct ledger_where){ .ix = ix, .space = space };
	if (cfg.ledger_shared)
		return ix ? 0 :
			    err_set(-EINVAL,
				    "space '%s': its ledger is in the index",
				    space);
	rc = space_dir_path(path, pathlen, datadir, space, SPACE_LEDGER_NAME);
	w->path = path;
	return rc;
}

int space_ledger_open(struct ledger **out, const char *datadir,
		      struct index *ix, const char *space, int create)
{
	struct ledger_where w;
	char path[PATH_MAX];
	int rc;

	*out = NULL;
	rc = space_ledger_where(&w, path, sizeof(path), datadir, ix, space);
	return rc < 0 ? rc : ledger_open_at(out, &w, create);
}

static int collect_name(const char *name, const char *value, void *arg)
{
	(void)value;
	return ident_validate(name) < 0 ? 0 : namev_push(arg, name);
}

/* The spaces of a shared ledger: the index's, not a folder's. */
static int each_in_index(struct index *ix, spaces_each_cb cb, void *arg)
{
	struct namev names = { 0 };
	int rc, first = 0;

	/* Collected first: a callback must not use the index meanwhile. */
	rc = index_spaces_all(ix, collect_name, &names);
	for (size_t i = 0; rc == 0 && i < names.n; i++) {
		int r = cb(names.v[i], arg);

		if (r < 0 && !first)
			first = r;
	}
	namev_release(&names);
	return rc < 0 ? rc : first;
}

int spaces_each(const char *datadir, struct index *ix, spaces_each_cb cb,
		void *arg)
{
	char dir[PATH_MAX];
	struct config cfg;
	struct dirent *de;
	DIR *d;
	int rc, first = 0;

	rc = config_load(&cfg, datadir);
	if (rc < 0)
		return rc;
	if (cfg.ledger_shared && ix)
		return each_in_index(ix, cb, arg);
	snprintf(dir, sizeof(dir), "%s/" SPACES_DIR_NAME, datadir);
	d = opendir(dir);
	if (!d)
		return err_set(-errno, "cannot read '%s': %s", dir,
			       strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || ident_validate(de->d_name) < 0)
			continue;
		rc = cb(de->d_name, arg);
		if (rc < 0 && !first)
			first = rc;
	}
	closedir(d);
	return first;
}
