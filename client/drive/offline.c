/*
 * The drive's offline copy of what it has seen: the space's chunker seed,
 * the folder listings and the chunk lists of the versions it read, kept
 * in CACHE/tree.db so that `coffre mount` works while coffred is out of
 * reach, serving the cached files and queueing writes.
 *
 * Nothing is readable at rest: each row is (keyed hash of its purpose and
 * path, JSON sealed with XChaCha20-Poly1305 whose additional data is that
 * hash), so neither names nor content appear, and a row moved under
 * another key fails to open.  What was never listed is not here: a folder
 * the drive has not seen gives EIO offline, never an empty listing.
 *
 * Writes are best effort (a failure costs only the offline copy) and
 * guarded by one mutex; SQLite in WAL mode, synchronous=NORMAL.
 */
#include "client/drive/fs_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "client/drive/rights.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"

#define OFFLINE_DB  "tree.db"
#define OFFLINE_MAX (64u * 1024u * 1024u) /* one row, sealed */

struct offline {
	sqlite3 *db;
	pthread_mutex_t lock;
	struct crypto_key name_key, data_key;
	sqlite3_stmt *put; /* prepared once: a row per committed version */
	int in_batch;
};

int offline_open(struct fs *fs)
{
	struct offline *o = calloc(1, sizeof(*o));
	char *path = NULL;
	int rc;

	if (!o)
		return -ENOMEM;
	pthread_mutex_init(&o->lock, NULL);
	rc = crypto_key_derive(&o->name_key, &fs->key, "coffre tree names",
			       fs->space);
	if (rc == 0)
		rc = crypto_key_derive(&o->data_key, &fs->key,
				       "coffre tree rows", fs->space);
	if (rc < 0)
		goto fail;
	if (asprintf(&path, "%s/%s", fs->cache_dir, OFFLINE_DB) < 0) {
		path = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	rc = sqlite_file_private(path);
	if (rc < 0) {
		rc = err_set(rc, "cannot create '%s': %s", path, strerror(-rc));
		goto fail;
	}
	if (sqlite3_open_v2(path, &o->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK ||
	    sqlite3_exec(o->db,
			 "PRAGMA journal_mode=WAL;"
			 "PRAGMA synchronous=NORMAL;"
			 "PRAGMA secure_delete=ON;"
			 "CREATE TABLE IF NOT EXISTS rows("
			 " k TEXT PRIMARY KEY, v BLOB NOT NULL);",
			 NULL, NULL, NULL) != SQLITE_OK) {
		rc = err_set(-EIO, "cannot open '%s': %s", path,
			     o->db ? sqlite3_errmsg(o->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(o->db, 5000);
	free(path);
	fs->offline = o;
	return 0;
fail:
	if (o->db)
		sqlite3_close(o->db);
	crypto_key_release(&o->name_key);
	crypto_key_release(&o->data_key);
	pthread_mutex_destroy(&o->lock);
	free(o);
	free(path);
	return rc;
}

void offline_close(struct fs *fs)
{
	struct offline *o = fs->offline;

	if (!o)
		return;
	offline_batch(fs, 0);
	sqlite3_finalize(o->put);
	sqlite3_close(o->db);
	crypto_key_release(&o->name_key);
	crypto_key_release(&o->data_key);
	pthread_mutex_destroy(&o->lock);
	free(o);
	fs->offline = NULL;
}

void offline_batch(struct fs *fs, int begin)
{
	struct offline *o = fs->offline;

	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	if (begin && !o->in_batch)
		o->in_batch = sqlite3_exec(o->db, "BEGIN", NULL, NULL, NULL) ==
			      SQLITE_OK;
	else if (!begin && o->in_batch &&
		 sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		log_debug("offline copy not written: %s",
			  sqlite3_errmsg(o->db));
	if (!begin)
		o->in_batch = 0;
	pthread_mutex_unlock(&o->lock);
}

void offline_put(struct fs *fs, const char *key, json_t *val)
{
	struct offline *o = fs->offline;
	char name[65];
	char *text;
	uint8_t *sealed = NULL;
	size_t n;
	sqlite3_stmt *st = NULL;

	if (!o)
		return;
	text = json_dumps(val, JSON_COMPACT);
	if (!text)
		return;
	n = strlen(text);
	if (n + CRYPTO_SEAL_OVERHEAD > OFFLINE_MAX ||
	    !(sealed = malloc(n + CRYPTO_SEAL_OVERHEAD)))
		goto out;
	crypto_name_hex(&o->name_key, key, strlen(key), name);
	if (crypto_seal(&o->data_key, name, 64, text, n, sealed) < 0)
		goto out;
	pthread_mutex_lock(&o->lock);
	if (o->put || sqlite3_prepare_v3(o->db,
					 "INSERT OR REPLACE INTO rows(k, v)"
					 " VALUES(?, ?)",
					 -1, SQLITE_PREPARE_PERSISTENT, &o->put,
					 NULL) == SQLITE_OK) {
		st = o->put;
		sqlite3_bind_text(st, 1, name, 64, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, sealed,
				  (int)(n + CRYPTO_SEAL_OVERHEAD),
				  SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			log_debug("offline copy not written: %s",
				  sqlite3_errmsg(o->db));
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	pthread_mutex_unlock(&o->lock);
out:
	explicit_bzero(text, n);
	free(text);
	free(sealed);
}

json_t *offline_get(struct fs *fs, const char *key)
{
	struct offline *o = fs->offline;
	char name[65];
	sqlite3_stmt *st = NULL;
	uint8_t *plain = NULL;
	json_t *val = NULL;
	int n = 0;

	if (!o)
		return NULL;
	crypto_name_hex(&o->name_key, key, strlen(key), name);
	pthread_mutex_lock(&o->lock);
	if (sqlite3_prepare_v2(o->db, "SELECT v FROM rows WHERE k = ?", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, 64, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_bytes(st, 0);
		if (n > CRYPTO_SEAL_OVERHEAD &&
		    (plain = malloc((size_t)n - CRYPTO_SEAL_OVERHEAD)) &&
		    crypto_open(&o->data_key, name, 64,
				sqlite3_column_blob(st, 0), (size_t)n,
				plain) == 0)
			val = json_loadb((const char *)plain,
					 (size_t)n - CRYPTO_SEAL_OVERHEAD, 0,
					 NULL);
		else if (n > 0)
			log_warn(
				"offline copy of a cached item does not open; ignored");
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&o->lock);
	if (plain) {
		explicit_bzero(plain, (size_t)n - CRYPTO_SEAL_OVERHEAD);
		free(plain);
	}
	return val;
}

static json_t *entry_json(const struct rentry *e)
{
	const struct remote_meta *rm = &e->rm;
	json_t *j;

	j = json_pack(
		"{s:s, s:b, s:s, s:I, s:I, s:s, s:s, s:s, s:I, s:s, s:I, s:b}",
		"name", e->name, "dir", e->is_dir, "doc_id", rm->doc_id,
		"version", (json_int_t)rm->version, "size",
		(json_int_t)rm->size, "sha256", rm->sha256, "deposited_by",
		rm->deposited_by, "deposited_at", rm->deposited_at, "mtime",
		(json_int_t)rm->mtime, "class", rm->fclass, "rights_mask",
		(json_int_t)rm->rights, "has_rights", rm->has_rights);
	if (j && rm->has_mode)
		json_object_set_new(j, "mode", json_integer(rm->mode));
	if (j && e->xattrs)
		json_object_set(j, "xattrs", e->xattrs);
	return j;
}

static char *list_key(const char *path)
{
	char *k = NULL;

	return asprintf(&k, "list:%s", path) < 0 ? NULL : k;
}

void offline_list_save(struct fs *fs, const char *path, const struct rentry *e,
		       size_t n, const char *fclass)
{
	json_t *arr = json_array(), *top;
	char *k = list_key(path);

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, entry_json(&e[i])) < 0)
			break;
	top = arr ? json_pack("{s:s, s:o}", "class", fclass ? fclass : "",
			      "entries", arr) :
		    NULL;
	if (top && k)
		offline_put(fs, k, top);
	json_decref(top);
	free(k);
}

int offline_list_load(struct fs *fs, const char *path, struct rentry **out,
		      size_t *n, char *fclass)
{
	char *k = list_key(path);
	json_t *top = k ? offline_get(fs, k) : NULL, *arr, *v;
	struct rentry *e = NULL;
	size_t i, cnt;

	free(k);
	arr = json_object_get(top, "entries");
	if (!json_is_array(arr)) {
		json_decref(top);
		return err_set(
			-EIO,
			"'%s' was never listed and the server is out of reach",
			path);
	}
	cnt = json_array_size(arr);
	e = calloc(cnt ? cnt : 1, sizeof(*e));
	if (!e) {
		json_decref(top);
		return -ENOMEM;
	}
	json_array_foreach(arr, i, v)
	{
		const char *name =
			json_string_value(json_object_get(v, "name"));

		if (!name || !(e[i].name = strdup(name))) {
			rentries_free(e, i);
			json_decref(top);
			return err_set(-EIO, "offline copy of '%s' is damaged",
				       path);
		}
		e[i].is_dir = json_is_true(json_object_get(v, "dir"));
		remote_meta_from_json(&e[i].rm, v);
		e[i].xattrs = json_object_get(v, "xattrs");
		e[i].xattrs = json_is_object(e[i].xattrs) ?
				      json_incref(e[i].xattrs) :
				      NULL;
		e[i].rm.rights = (unsigned)json_integer_value(
			json_object_get(v, "rights_mask"));
		e[i].rm.has_rights =
			json_is_true(json_object_get(v, "has_rights"));
	}
	if (fclass)
		snprintf(fclass, 16, "%s",
			 json_string_value(json_object_get(top, "class")) ?
				 json_string_value(
					 json_object_get(top, "class")) :
				 "");
	json_decref(top);
	*out = e;
	*n = cnt;
	return 0;
}

void offline_map_save(struct fs *fs, const struct chunk_map *m)
{
	char url[256], hex[OBJ_ID_HEX_LEN + 1];
	json_t *cs = json_array(), *top;

	/* the key and shape of GET docs/ID/versions/N, which remote.c keeps
	 * and reads back: one format for both */
	snprintf(url, sizeof(url), "/v1/spaces/%s/docs/%s/versions/%llu",
		 fs->space, m->doc_id, (unsigned long long)m->version);
	for (size_t i = 0; cs && i < m->n; i++) {
		obj_id_to_hex(&m->chunks[i].id, hex);
		if (json_array_append_new(
			    cs, json_pack("[s, I]", hex,
					  (json_int_t)m->chunks[i].size)) < 0)
			break;
	}
	top = cs ? json_pack("{s:I, s:o}", "size", (json_int_t)m->size,
			     "chunks", cs) :
		   NULL;
	if (top)
		offline_put(fs, url, top);
	json_decref(top);
}
