/*
 * `coffred space rekey DATADIR SPACE` (space_rekey.h): a space made before
 * keys of their own gets one, its chunks re-encrypted under it.
 *
 * Crash-safe by its order: every chunk a version names is copied under the
 * new key (new names: they are keyed by it) while the old key stays the
 * one in force; only then is the new key saved (chunks.key, atomically),
 * which is the switch; then every chunk that is not one of the new names
 * goes (the old copies, and orphans no version names).  A run cut short
 * before the switch leaves new copies the next run finds there; after it,
 * old copies the next run removes.
 */
#include "server/space_rekey.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/namev.h"
#include "common/path.h"
#include "server/chunkstore.h"
#include "server/config.h"
#include "server/index.h"
#include "server/serve.h"
#include "server/spaces.h"

_Static_assert(NAMEV_LEN >= CHUNKSTORE_NAME_SIZE, "chunk names fit a namev");

struct id_set {
	struct obj_id *v;
	size_t n, cap;
};

/* The "chunk HEX SIZE" lines of each version's manifest. */
static int version_cb(const struct index_version *v, void *arg)
{
	struct id_set *s = arg;
	const char *p = v->manifest;

	while (p && *p) {
		const char *end = strchr(p, '\n');
		char hex[65];

		if (!strncmp(p, "chunk ", 6) && strlen(p) >= 70) {
			memcpy(hex, p + 6, 64);
			hex[64] = '\0';
			if (s->n == s->cap) {
				size_t cap = s->cap ? 2 * s->cap : 256;
				void *q = realloc(s->v, cap * sizeof(*s->v));

				if (!q)
					return -ENOMEM;
				s->v = q;
				s->cap = cap;
			}
			if (obj_id_from_hex(&s->v[s->n], hex) == 0)
				s->n++;
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

struct sweep {
	struct namev keep; /* sorted: the new names of the chunks kept */
	struct namev drop;
};

static int list_cb(const char *name, void *arg)
{
	struct sweep *w = arg;

	if (bsearch(name, w->keep.v, w->keep.n, sizeof(*w->keep.v), name_cmp))
		return 0;
	return namev_push(&w->drop, name);
}

/* Copy id from old to new unless new holds it already. */
static int copy_chunk(struct chunkstore *old, struct chunkstore *new,
		      const struct obj_id *id, int *copied)
{
	struct chunkstore_writer *w = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = chunkstore_has(new, id);

	*copied = 0;
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = chunkstore_get(old, id, &data, &len);
	if (rc == 0)
		rc = chunkstore_writer_new(new, id, &w);
	if (rc == 0) {
		rc = chunkstore_writer_write(w, data, len);
		if (rc == 0)
			rc = chunkstore_writer_finish(w);
		else
			chunkstore_writer_abort(w);
	}
	free(data);
	*copied = rc == 0;
	return rc;
}

int space_rekey_main(const char *datadir, const char *space)
{
	struct crypto_key master = { 0 }, oldk = { 0 }, newk = { 0 };
	struct chunkstore *old = NULL, *new = NULL;
	struct id_set ids = { 0 };
	struct sweep w = { 0 };
	struct index *ix = NULL;
	char path[PATH_MAX];
	struct config cfg;
	size_t copied = 0, removed = 0;
	int rc, lock;

	if (ident_validate(space) < 0)
		return err_set(-EINVAL, "bad space name '%s'", space);
	lock = serve_lock_datadir(datadir);
	if (lock == -EBUSY)
		return err_set(
			-EBUSY,
			"coffred serves '%s': stop it first, then run this again",
			datadir);
	if (lock < 0)
		return lock;
	/* Every space of a shared deployment was made with a key of its
	 * own, kept in the index: there is none to give. */
	if (config_load(&cfg, datadir) == 0 && cfg.ledger_shared) {
		close(lock);
		return err_set(
			-EINVAL,
			"space '%s': with ledger = index every space has a key of its own already",
			space);
	}
	rc = space_dir_path(path, sizeof(path), datadir, space, SPACE_KEY_NAME);
	if (rc == 0 && access(path, F_OK) == 0) {
		printf("space %s has a key of its own already\n", space);
		close(lock);
		return 0;
	}
	rc = space_dir_path(path, sizeof(path), datadir, space, NULL);
	if (rc == 0 && access(path, F_OK) != 0)
		rc = err_set(-ENOENT, "no such space '%s'", space);
	if (rc == 0)
		rc = crypto_init();
	if (rc == 0)
		rc = config_load(&cfg, datadir);
	if (rc == 0)
		rc = master_key_load(&master, datadir);
	if (rc == 0)
		rc = index_open_datadir(&ix, datadir, cfg.index, 0);
	if (rc == 0)
		rc = index_versions_all(ix, space, version_cb, &ids);
	if (rc > 0)
		rc = 0;
	/* The new key is kept aside until the switch: a rerun after a crash
	 * before it makes another, and the copies of this run are orphans
	 * the sweep removes. */
	if (rc == 0)
		rc = space_chunk_key_derived(&oldk, &master, space);
	if (rc == 0)
		rc = crypto_key_new_random(&newk);
	if (rc == 0)
		rc = space_chunks_open_key(&old, datadir, space, &oldk);
	if (rc == 0)
		rc = space_chunks_open_key(&new, datadir, space, &newk);
	for (size_t i = 0; rc == 0 && i < ids.n; i++) {
		int c = 0;

		rc = copy_chunk(old, new, &ids.v[i], &c);
		if (rc == -ENOENT) /* named by a version, absent: fsck's */
			rc = 0;
		copied += (size_t)c;
	}
	if (rc == 0)
		rc = space_key_save(datadir, ix, space, &master, &newk);
	/* The switch is made: what is not a new name goes. */
	for (size_t i = 0; rc == 0 && i < ids.n; i++) {
		char name[CHUNKSTORE_NAME_SIZE];

		chunkstore_name(new, &ids.v[i], name);
		rc = namev_push(&w.keep, name);
	}
	if (rc == 0)
		qsort(w.keep.v, w.keep.n, sizeof(*w.keep.v), name_cmp);
	if (rc == 0)
		rc = chunkstore_foreach(new, list_cb, &w);
	for (size_t i = 0; rc == 0 && i < w.drop.n; i++) {
		rc = chunkstore_delete_name(new, w.drop.v[i]);
		if (rc == -ENOENT)
			rc = 0;
		else if (rc == 0)
			removed++;
	}
	if (rc == 0)
		printf("space %s: a key of its own; %zu chunks re-encrypted, %zu old copies removed\n",
		       space, copied, removed);
	namev_release(&w.keep);
	namev_release(&w.drop);
	free(ids.v);
	chunkstore_free(old);
	chunkstore_free(new);
	index_free(ix);
	crypto_key_release(&oldk);
	crypto_key_release(&newk);
	crypto_key_release(&master);
	close(lock);
	return rc;
}
