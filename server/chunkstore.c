/*
 * Chunk store of one space: the front end over a storage backend
 * (server/chunk_backend.h).  Everything that is the same whatever the
 * storage lives here:
 *
 *   - sealing: libsodium's secretstream (XChaCha20-Poly1305), a header then
 *     records of at most 64 KiB of plaintext; the first record carries the
 *     binary chunk id as additional data, so an object moved under another
 *     chunk's name fails to open, and the last is tagged FINAL, so a
 *     truncated object fails to open too;
 *   - the SHA-256 check: a writer hashes what it is given and commits only
 *     when it matches the announced id; a reader re-hashes what it decrypts;
 *   - streaming: nothing ever holds more than one record, except
 *     chunkstore_get whose contract is to return the whole chunk;
 *   - keyed names: an object is stored under HMAC-SHA-256(name key, id),
 *     the name key derived from the space's chunk key (itself derived from
 *     the master key), so a reader of the disk or the bucket cannot tell
 *     whether a file they know is held.
 */
#include "server/chunkstore.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>
#include <sodium.h>

#include "common/chunker.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/log.h"
#include "server/chunk_backend.h"

#define REC_PLAIN  (64u * 1024u)
#define REC_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define REC_CIPHER (REC_PLAIN + REC_ABYTES)
#define SS_HEADER  crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define TAG_MSG	   crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
#define TAG_FINAL  crypto_secretstream_xchacha20poly1305_TAG_FINAL

struct chunkstore {
	struct chunk_backend *be;
	struct crypto_key key;	/* seals the objects */
	struct crypto_key name; /* names them */
};

struct chunkstore_writer {
	struct chunkstore *cs;
	struct obj_id id;
	void *put; /* the backend's put, NULL once committed or aborted */
	struct hash_ctx *hash;
	crypto_secretstream_xchacha20poly1305_state st;
	/*
	 * One record of plaintext waits in buf until either more bytes come
	 * (it is then a MESSAGE record) or _finish (it is the FINAL one), so
	 * the last record is always tagged FINAL even when the size is a
	 * multiple of 64 KiB.
	 */
	uint8_t buf[REC_PLAIN];
	uint8_t cbuf[REC_CIPHER];
	size_t fill;
	uint64_t total;
	int first;  /* next record is the first: id as additional data */
	int failed; /* a write failed: only _abort remains useful */
};

void chunkstore_name(const struct chunkstore *cs, const struct obj_id *id,
		     char out[CHUNKSTORE_NAME_SIZE])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	struct obj_id tag;

	HMAC(EVP_sha256(), cs->name.k, CRYPTO_KEY_LEN, id->b, OBJ_ID_LEN, mac,
	     &len);
	assert(len == OBJ_ID_LEN);
	memcpy(tag.b, mac, OBJ_ID_LEN);
	obj_id_to_hex(&tag, out);
}

/* The migration's map from an old name (the plaintext id) to a keyed one. */
static void keyed_name_of(const char *old_name, char *out, void *arg)
{
	struct obj_id id;

	if (obj_id_from_hex(&id, old_name) < 0) {
		/* Backends pass valid names only; keep the name as is. */
		memcpy(out, old_name, CHUNK_NAME_LEN + 1);
		return;
	}
	chunkstore_name(arg, &id, out);
}

int chunkstore_new(struct chunkstore **out, struct chunk_backend *be,
		   const struct crypto_key *key)
{
	struct chunkstore *cs;
	unsigned long moved = 0;
	int rc;

	*out = NULL;
	if (be->version != CHUNK_BACKEND_VERSION) {
		rc = err_set(-EINVAL,
			     "chunk backend '%s' has version %u, not %u",
			     be->kind, be->version, CHUNK_BACKEND_VERSION);
		chunk_backend_free(be);
		return rc;
	}
	rc = crypto_init();
	if (rc < 0) {
		chunk_backend_free(be);
		return rc;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs) {
		chunk_backend_free(be);
		return -ENOMEM;
	}
	cs->be = be;
	rc = crypto_key_from_bytes(&cs->key, key->k, CRYPTO_KEY_LEN);
	if (rc == 0)
		rc = crypto_key_derive(&cs->name, key, "chunk-names", NULL);
	if (rc == 0 && be->migrate) {
		rc = be->migrate(be->state, keyed_name_of, cs, &moved);
		if (rc == 0 && moved > 0)
			log_info(
				"chunk store: %lu chunks renamed to keyed names",
				moved);
	}
	if (rc < 0) {
		chunkstore_free(cs);
		return rc;
	}
	*out = cs;
	return 0;
}

int chunkstore_open(struct chunkstore **out, const char *dir,
		    const struct crypto_key *key)
{
	struct chunk_backend *be;
	int rc;

	*out = NULL;
	rc = chunk_dir_new(&be, dir);
	if (rc < 0)
		return rc;
	return chunkstore_new(out, be, key);
}

void chunkstore_free(struct chunkstore *cs)
{
	if (!cs)
		return;
	if (cs->key.k)
		crypto_key_release(&cs->key);
	if (cs->name.k)
		crypto_key_release(&cs->name);
	chunk_backend_free(cs->be);
	free(cs);
}

int chunkstore_has(struct chunkstore *cs, const struct obj_id *id)
{
	char name[CHUNKSTORE_NAME_SIZE];
	uint64_t size;
	int rc;

	chunkstore_name(cs, id, name);
	rc = cs->be->stat(cs->be->state, name, &size);
	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? rc : 1;
}

int chunkstore_has_many(struct chunkstore *cs, const struct obj_id *ids,
			size_t n, unsigned char *held)
{
	char(*names)[CHUNKSTORE_NAME_SIZE];
	const char **ptrs;
	int rc = 0;

	if (!cs->be->stat_many) {
		for (size_t i = 0; i < n && rc >= 0; i++) {
			rc = chunkstore_has(cs, &ids[i]);
			if (rc >= 0)
				held[i] = (unsigned char)rc;
		}
		return rc < 0 ? rc : 0;
	}
	if (n == 0)
		return 0;
	names = calloc(n, sizeof(*names));
	ptrs = calloc(n, sizeof(*ptrs));
	if (!names || !ptrs) {
		free(names);
		free(ptrs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		chunkstore_name(cs, &ids[i], names[i]);
		ptrs[i] = names[i];
	}
	rc = cs->be->stat_many(cs->be->state, ptrs, n, held);
	free(ptrs);
	free(names);
	return rc;
}

/* --- writing --- */

int chunkstore_writer_new(struct chunkstore *cs, const struct obj_id *id,
			  struct chunkstore_writer **out)
{
	char name[CHUNKSTORE_NAME_SIZE];
	struct chunkstore_writer *w;
	uint8_t header[SS_HEADER];
	int rc;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->cs = cs;
	w->id = *id;
	w->first = 1;
	rc = hash_new(&w->hash);
	if (rc < 0)
		goto fail;
	chunkstore_name(cs, id, name);
	rc = cs->be->put_begin(cs->be->state, name, &w->put);
	if (rc < 0) {
		w->put = NULL;
		goto fail;
	}
	crypto_secretstream_xchacha20poly1305_init_push(&w->st, header,
							cs->key.k);
	rc = cs->be->put_write(w->put, header, sizeof(header));
	if (rc < 0)
		goto fail;
	*out = w;
	return 0;
fail:
	chunkstore_writer_abort(w);
	return rc;
}

/* Seal and write the pending record with tag. */
static int writer_flush(struct chunkstore_writer *w, unsigned char tag)
{
	unsigned long long clen;

	crypto_secretstream_xchacha20poly1305_push(
		&w->st, w->cbuf, &clen, w->buf, w->fill,
		w->first ? w->id.b : NULL, w->first ? OBJ_ID_LEN : 0, tag);
	w->first = 0;
	w->fill = 0;
	return w->cs->be->put_write(w->put, w->cbuf, (size_t)clen);
}

int chunkstore_writer_write(struct chunkstore_writer *w, const void *p,
			    size_t n)
{
	const uint8_t *s = p;
	int rc;

	if (w->failed)
		return err_set(-EIO, "chunk writer already failed");
	if (n > CHUNK_MAX || w->total + n > CHUNK_MAX) {
		w->failed = 1;
		return err_set(-E2BIG, "chunk over %u bytes", CHUNK_MAX);
	}
	w->total += n;
	hash_update(w->hash, p, n);
	while (n > 0) {
		size_t k;

		if (w->fill == REC_PLAIN) {
			rc = writer_flush(w, TAG_MSG);
			if (rc < 0) {
				w->failed = 1;
				return rc;
			}
		}
		k = REC_PLAIN - w->fill;
		if (k > n)
			k = n;
		memcpy(w->buf + w->fill, s, k);
		w->fill += k;
		s += k;
		n -= k;
	}
	return 0;
}

int chunkstore_writer_finish(struct chunkstore_writer *w)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	struct obj_id got;
	void *put;
	int rc;

	if (w->failed) {
		rc = err_set(-EIO, "chunk writer already failed");
		goto out;
	}
	hash_final(w->hash, &got);
	if (obj_id_cmp(&got, &w->id) != 0) {
		obj_id_to_hex(&w->id, hex);
		rc = err_set(-EBADMSG, "chunk content does not hash to '%s'",
			     hex);
		goto out;
	}
	rc = writer_flush(w, TAG_FINAL);
	if (rc < 0)
		goto out;
	/* Only now, the hash checked, may the object become visible: a
	 * backend without rename (S3) sends it here. */
	put = w->put;
	w->put = NULL;
	rc = w->cs->be->put_commit(put);
out:
	chunkstore_writer_abort(w);
	return rc;
}

void chunkstore_writer_abort(struct chunkstore_writer *w)
{
	if (!w)
		return;
	if (w->put)
		w->cs->be->put_abort(w->put);
	hash_free(w->hash);
	sodium_memzero(&w->st, sizeof(w->st));
	sodium_memzero(w->buf, sizeof(w->buf));
	free(w);
}

/* --- reading --- */

static int corrupt(const struct obj_id *id, const char *why)
{
	char hex[OBJ_ID_HEX_LEN + 1];

	obj_id_to_hex(id, hex);
	return err_set(-EBADMSG, "chunk '%s' is corrupt: %s", hex, why);
}

/*
 * The backend pushes the stored bytes in pieces of any size; the reader
 * cuts them into the header and records.  A full record is opened only
 * once a byte beyond it arrives (it is then not the last, so it must be a
 * MESSAGE) or at the end (it is the last, so it must be FINAL).
 */
struct reader {
	const struct obj_id *id;
	const struct crypto_key *key;
	chunkstore_read_cb cb;
	void *arg;
	struct hash_ctx *h;
	uint64_t total;
	size_t hfill, cfill;
	int started, first, done;
	uint8_t header[SS_HEADER];
	uint8_t cbuf[REC_CIPHER];
	uint8_t pbuf[REC_PLAIN];
	crypto_secretstream_xchacha20poly1305_state st;
};

/* Open the record in r->cbuf; last: nothing follows it. */
static int reader_record(struct reader *r, int last)
{
	unsigned long long plen;
	unsigned char tag;
	int rc;

	if (r->cfill < REC_ABYTES)
		return corrupt(r->id, "truncated");
	if (crypto_secretstream_xchacha20poly1305_pull(
		    &r->st, r->pbuf, &plen, &tag, r->cbuf, r->cfill,
		    r->first ? r->id->b : NULL, r->first ? OBJ_ID_LEN : 0) != 0)
		return corrupt(r->id, "authentication failed");
	r->first = 0;
	r->total += plen;
	if (r->total > CHUNK_MAX)
		return corrupt(r->id, "over the size limit");
	if (tag == TAG_FINAL && !last)
		return corrupt(r->id, "data after the end");
	if (last && tag != TAG_FINAL)
		return corrupt(r->id, "truncated");
	if (!last && tag != TAG_MSG)
		return corrupt(r->id, "truncated");
	hash_update(r->h, r->pbuf, plen);
	r->cfill = 0;
	if (plen > 0) {
		rc = r->cb(r->pbuf, plen, r->arg);
		if (rc != 0)
			return rc;
	}
	if (last)
		r->done = 1;
	return 0;
}

/*
 * Move what fits of the n bytes at *s into buf (*fill of cap held), and
 * past them: the stream header and each record fill their buffer alike,
 * whatever the pieces the backend reads in.
 */
static void take(uint8_t *buf, size_t *fill, size_t cap, const uint8_t **s,
		 size_t *n)
{
	size_t k = cap - *fill;

	k = k < *n ? k : *n;
	memcpy(buf + *fill, *s, k);
	*fill += k;
	*s += k;
	*n -= k;
}

static int reader_feed(const void *p, size_t n, void *arg)
{
	struct reader *r = arg;
	const uint8_t *s = p;
	int rc;

	while (n > 0) {
		if (r->hfill < SS_HEADER) {
			take(r->header, &r->hfill, SS_HEADER, &s, &n);
			if (r->hfill == SS_HEADER &&
			    crypto_secretstream_xchacha20poly1305_init_pull(
				    &r->st, r->header, r->key->k) != 0)
				return corrupt(r->id, "bad header");
			continue;
		}
		if (r->cfill == REC_CIPHER) {
			rc = reader_record(r, 0);
			if (rc != 0)
				return rc;
		}
		take(r->cbuf, &r->cfill, REC_CIPHER, &s, &n);
	}
	return 0;
}

int chunkstore_read(struct chunkstore *cs, const struct obj_id *id,
		    chunkstore_read_cb cb, void *arg)
{
	char name[CHUNKSTORE_NAME_SIZE], hex[OBJ_ID_HEX_LEN + 1];
	struct obj_id got;
	struct reader *r;
	int rc;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->id = id;
	r->key = &cs->key;
	r->cb = cb;
	r->arg = arg;
	r->first = 1;
	rc = hash_new(&r->h);
	if (rc < 0)
		goto out;
	chunkstore_name(cs, id, name);
	rc = cs->be->get(cs->be->state, name, reader_feed, r);
	if (rc == -ENOENT) {
		obj_id_to_hex(id, hex);
		rc = err_set(-ENOENT, "no chunk '%s'", hex);
	}
	if (rc != 0)
		goto out;
	if (r->hfill < SS_HEADER) {
		rc = corrupt(id, "bad header");
		goto out;
	}
	rc = reader_record(r, 1);
	if (rc != 0)
		goto out;
	hash_final(r->h, &got);
	rc = obj_id_cmp(&got, id) != 0 ?
		     corrupt(id, "content does not hash to its name") :
		     0;
out:
	hash_free(r->h);
	sodium_memzero(r, sizeof(*r));
	free(r);
	return rc;
}

static int discard_cb(const void *p, size_t n, void *arg)
{
	return 0;
}

int chunkstore_verify(struct chunkstore *cs, const struct obj_id *id)
{
	return chunkstore_read(cs, id, discard_cb, NULL);
}

struct get_ctx {
	uint8_t *buf;
	size_t len, alloc;
};

static int get_cb(const void *p, size_t n, void *arg)
{
	struct get_ctx *g = arg;

	if (g->len + n > g->alloc) {
		size_t na = g->alloc ? g->alloc * 2 : REC_PLAIN;
		uint8_t *nb;

		while (na < g->len + n)
			na *= 2;
		nb = realloc(g->buf, na);
		if (!nb)
			return -ENOMEM;
		g->buf = nb;
		g->alloc = na;
	}
	memcpy(g->buf + g->len, p, n);
	g->len += n;
	return 0;
}

int chunkstore_get(struct chunkstore *cs, const struct obj_id *id,
		   uint8_t **out, size_t *len)
{
	struct get_ctx g = { 0 };
	int rc;

	*out = NULL;
	*len = 0;
	rc = chunkstore_read(cs, id, get_cb, &g);
	if (rc != 0) {
		free(g.buf);
		return rc;
	}
	if (!g.buf) {
		/* An empty chunk still gets a buffer the caller can free. */
		g.buf = malloc(1);
		if (!g.buf)
			return -ENOMEM;
	}
	*out = g.buf;
	*len = g.len;
	return 0;
}

/*
 * The plaintext size follows from the stored size: every record but the
 * last is full, and the last holds 0..64 KiB.  This trusts the stored
 * length, which chunkstore_read checks; callers who need proof read it.
 */
int chunkstore_size(struct chunkstore *cs, const struct obj_id *id,
		    uint64_t *size)
{
	char name[CHUNKSTORE_NAME_SIZE], hex[OBJ_ID_HEX_LEN + 1];
	uint64_t c, nrec, stored;
	int rc;

	chunkstore_name(cs, id, name);
	rc = cs->be->stat(cs->be->state, name, &stored);
	if (rc == -ENOENT) {
		obj_id_to_hex(id, hex);
		return err_set(-ENOENT, "no chunk '%s'", hex);
	}
	if (rc < 0)
		return rc;
	if (stored < SS_HEADER + REC_ABYTES)
		return corrupt(id, "truncated");
	c = stored - SS_HEADER;
	nrec = (c + REC_CIPHER - 1) / REC_CIPHER;
	if (c < nrec * REC_ABYTES || c - nrec * REC_ABYTES > CHUNK_MAX)
		return corrupt(id, "bad length");
	*size = c - nrec * REC_ABYTES;
	return 0;
}

/* --- walking --- */

int chunkstore_foreach(struct chunkstore *cs, chunkstore_foreach_cb cb,
		       void *arg)
{
	return cs->be->list(cs->be->state, cb, arg);
}

int chunkstore_delete(struct chunkstore *cs, const struct obj_id *id)
{
	char name[CHUNKSTORE_NAME_SIZE];

	chunkstore_name(cs, id, name);
	return cs->be->del(cs->be->state, name);
}

int chunkstore_delete_name(struct chunkstore *cs, const char *name)
{
	return cs->be->del(cs->be->state, name);
}

/* --- backends --- */

int chunk_name_valid(const char *s)
{
	for (size_t i = 0; i < CHUNK_NAME_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[CHUNK_NAME_LEN] == '\0';
}

void chunk_backend_free(struct chunk_backend *be)
{
	if (!be)
		return;
	if (be->free)
		be->free(be->state);
	free(be);
}
