/*
 * Chunk store of one space on the local disk: each chunk is one file at
 * DIR/ab/<62 more hex digits>, encrypted with libsodium's secretstream
 * (XChaCha20-Poly1305) as a header followed by records of at most 64 KiB of
 * plaintext.  The first record carries the binary chunk id as additional
 * data, so a file renamed to another chunk's name fails to open; the last
 * record is tagged FINAL, so a truncated file fails to open too.
 *
 * Writers stream: every 64 KiB piece is hashed and encrypted as it arrives
 * into a temporary file under DIR/tmp/, and _finish only renames it into
 * place once the hash matches the announced id.  Readers stream as well and
 * re-hash what they decrypt.  Nothing ever holds more than one record,
 * except chunkstore_get whose contract is to return the whole chunk.
 */
#include "server/chunkstore.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/chunker.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"

#define REC_PLAIN  (64u * 1024u)
#define REC_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define REC_CIPHER (REC_PLAIN + REC_ABYTES)
#define SS_HEADER  crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define TAG_MSG	   crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
#define TAG_FINAL  crypto_secretstream_xchacha20poly1305_TAG_FINAL

struct chunkstore {
	char *dir;
	char *tmp_dir;
	struct crypto_key key;
};

struct chunkstore_writer {
	struct chunkstore *cs;
	struct obj_id id;
	struct tmpfile tf;
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

/* "DIR/ab/cdef..." into out (malloc'd). */
static char *chunk_path(const struct chunkstore *cs, const struct obj_id *id)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	char *p;

	obj_id_to_hex(id, hex);
	if (asprintf(&p, "%s/%.2s/%s", cs->dir, hex, hex + 2) < 0)
		return NULL;
	return p;
}

static int mkdir_if_missing(const char *path, int *created)
{
	int e;

	*created = 0;
	if (mkdir(path, 0700) == 0) {
		*created = 1;
		return 0;
	}
	e = errno;
	if (e == EEXIST)
		return 0;
	return err_set(-e, "cannot create directory '%s': %s", path,
		       strerror(e));
}

int chunkstore_open(struct chunkstore **out, const char *dir,
		    const struct crypto_key *key)
{
	struct chunkstore *cs;
	int rc, created;

	*out = NULL;
	rc = crypto_init();
	if (rc < 0)
		return rc;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	rc = -ENOMEM;
	cs->dir = strdup(dir);
	if (!cs->dir || asprintf(&cs->tmp_dir, "%s/tmp", dir) < 0) {
		cs->tmp_dir = NULL;
		goto fail;
	}
	rc = mkdir_p(dir, 0700);
	if (rc < 0)
		goto fail;
	rc = mkdir_if_missing(cs->tmp_dir, &created);
	if (rc < 0)
		goto fail;
	rc = crypto_key_from_bytes(&cs->key, key->k, CRYPTO_KEY_LEN);
	if (rc < 0)
		goto fail;
	*out = cs;
	return 0;
fail:
	chunkstore_free(cs);
	return rc;
}

void chunkstore_free(struct chunkstore *cs)
{
	if (!cs)
		return;
	if (cs->key.k)
		crypto_key_release(&cs->key);
	free(cs->dir);
	free(cs->tmp_dir);
	free(cs);
}

int chunkstore_has(struct chunkstore *cs, const struct obj_id *id)
{
	struct stat st;
	char *path = chunk_path(cs, id);
	int e;

	if (!path)
		return -ENOMEM;
	if (stat(path, &st) == 0) {
		free(path);
		return S_ISREG(st.st_mode) ? 1 : 0;
	}
	e = errno;
	free(path);
	if (e == ENOENT || e == ENOTDIR)
		return 0;
	return err_set(-e, "cannot stat chunk: %s", strerror(e));
}

/* --- writing --- */

int chunkstore_writer_new(struct chunkstore *cs, const struct obj_id *id,
			  struct chunkstore_writer **out)
{
	struct chunkstore_writer *w;
	uint8_t header[SS_HEADER];
	int rc;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->cs = cs;
	w->id = *id;
	w->tf = tmpfile_init();
	w->first = 1;
	rc = hash_new(&w->hash);
	if (rc < 0)
		goto fail;
	rc = tmpfile_open(&w->tf, cs->tmp_dir);
	if (rc < 0)
		goto fail;
	crypto_secretstream_xchacha20poly1305_init_push(&w->st, header,
							cs->key.k);
	rc = write_full(w->tf.fd, header, sizeof(header));
	if (rc < 0) {
		rc = err_set(rc, "cannot write chunk: %s", strerror(-rc));
		goto fail;
	}
	*out = w;
	return 0;
fail:
	chunkstore_writer_abort(w);
	return rc;
}

/* Encrypt and write the pending record with tag. */
static int writer_flush(struct chunkstore_writer *w, unsigned char tag)
{
	unsigned long long clen;
	int rc;

	crypto_secretstream_xchacha20poly1305_push(
		&w->st, w->cbuf, &clen, w->buf, w->fill,
		w->first ? w->id.b : NULL, w->first ? OBJ_ID_LEN : 0, tag);
	w->first = 0;
	w->fill = 0;
	rc = write_full(w->tf.fd, w->cbuf, (size_t)clen);
	if (rc < 0)
		return err_set(rc, "cannot write chunk: %s", strerror(-rc));
	return 0;
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
	struct obj_id got;
	char *path = NULL, *sub = NULL;
	char hex[OBJ_ID_HEX_LEN + 1];
	int rc, created;

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
	rc = -ENOMEM;
	path = chunk_path(w->cs, &w->id);
	if (!path)
		goto out;
	sub = strdup(path);
	if (!sub)
		goto out;
	*strrchr(sub, '/') = '\0';
	rc = mkdir_if_missing(sub, &created);
	if (rc < 0)
		goto out;
	/* A new fan-out directory must itself survive a crash. */
	if (created) {
		rc = fsync_dir(w->cs->dir);
		if (rc < 0)
			goto out;
	}
	rc = tmpfile_commit(&w->tf, path);
out:
	free(path);
	free(sub);
	chunkstore_writer_abort(w);
	return rc;
}

void chunkstore_writer_abort(struct chunkstore_writer *w)
{
	if (!w)
		return;
	tmpfile_release(&w->tf);
	hash_free(w->hash);
	sodium_memzero(&w->st, sizeof(w->st));
	sodium_memzero(w->buf, sizeof(w->buf));
	free(w);
}

/* --- reading --- */

/* Open a chunk file; -ENOENT when absent. */
static int chunk_open(struct chunkstore *cs, const struct obj_id *id, int *fd)
{
	char *path = chunk_path(cs, id);
	char hex[OBJ_ID_HEX_LEN + 1];
	int e;

	if (!path)
		return -ENOMEM;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	e = errno;
	free(path);
	if (*fd >= 0)
		return 0;
	obj_id_to_hex(id, hex);
	if (e == ENOENT || e == ENOTDIR)
		return err_set(-ENOENT, "no chunk '%s'", hex);
	return err_set(-e, "cannot open chunk '%s': %s", hex, strerror(e));
}

static int corrupt(const struct obj_id *id, const char *why)
{
	char hex[OBJ_ID_HEX_LEN + 1];

	obj_id_to_hex(id, hex);
	return err_set(-EBADMSG, "chunk '%s' is corrupt: %s", hex, why);
}

struct reader {
	uint8_t cbuf[REC_CIPHER];
	uint8_t pbuf[REC_PLAIN];
	crypto_secretstream_xchacha20poly1305_state st;
};

int chunkstore_read(struct chunkstore *cs, const struct obj_id *id,
		    chunkstore_read_cb cb, void *arg)
{
	struct reader *r;
	struct hash_ctx *h = NULL;
	struct obj_id got;
	uint8_t header[SS_HEADER];
	uint64_t total = 0;
	ssize_t n;
	int fd = -1, rc, first = 1;

	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	rc = hash_new(&h);
	if (rc < 0)
		goto out;
	rc = chunk_open(cs, id, &fd);
	if (rc < 0)
		goto out;
	n = read_full(fd, header, sizeof(header));
	if (n < 0) {
		rc = err_set((int)n, "cannot read chunk: %s",
			     strerror(-(int)n));
		goto out;
	}
	if ((size_t)n < sizeof(header) ||
	    crypto_secretstream_xchacha20poly1305_init_pull(&r->st, header,
							    cs->key.k) != 0) {
		rc = corrupt(id, "bad header");
		goto out;
	}
	for (;;) {
		unsigned long long plen;
		unsigned char tag;
		uint8_t extra;

		n = read_full(fd, r->cbuf, sizeof(r->cbuf));
		if (n < 0) {
			rc = err_set((int)n, "cannot read chunk: %s",
				     strerror(-(int)n));
			goto out;
		}
		if ((size_t)n < REC_ABYTES) {
			rc = corrupt(id, "truncated");
			goto out;
		}
		if (crypto_secretstream_xchacha20poly1305_pull(
			    &r->st, r->pbuf, &plen, &tag, r->cbuf, (size_t)n,
			    first ? id->b : NULL,
			    first ? OBJ_ID_LEN : 0) != 0) {
			rc = corrupt(id, "authentication failed");
			goto out;
		}
		first = 0;
		total += plen;
		if (total > CHUNK_MAX) {
			rc = corrupt(id, "over the size limit");
			goto out;
		}
		hash_update(h, r->pbuf, plen);
		if (plen > 0) {
			rc = cb(r->pbuf, plen, arg);
			if (rc != 0)
				goto out;
		}
		if (tag == TAG_FINAL) {
			/* Nothing may follow the final record. */
			n = read_full(fd, &extra, 1);
			if (n != 0) {
				rc = n < 0 ? err_set((int)n,
						     "cannot read chunk: %s",
						     strerror(-(int)n)) :
					     corrupt(id, "data after the end");
				goto out;
			}
			break;
		}
		/* Only the final record may be short. */
		if ((size_t)n < sizeof(r->cbuf) || tag != TAG_MSG) {
			rc = corrupt(id, "truncated");
			goto out;
		}
	}
	hash_final(h, &got);
	if (obj_id_cmp(&got, id) != 0)
		rc = corrupt(id, "content does not hash to its name");
	else
		rc = 0;
out:
	if (fd >= 0)
		close(fd);
	hash_free(h);
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
 * The plaintext size follows from the file size: every record but the last
 * is full, and the last holds 0..64 KiB.  This trusts the file length, which
 * chunkstore_read checks; callers who need proof read the chunk.
 */
int chunkstore_size(struct chunkstore *cs, const struct obj_id *id,
		    uint64_t *size)
{
	struct stat st;
	uint64_t c, nrec;
	int fd, rc, e;

	rc = chunk_open(cs, id, &fd);
	if (rc < 0)
		return rc;
	rc = fstat(fd, &st);
	e = errno;
	close(fd);
	if (rc < 0)
		return err_set(-e, "cannot stat chunk: %s", strerror(e));
	if ((uint64_t)st.st_size < SS_HEADER + REC_ABYTES)
		return corrupt(id, "truncated");
	c = (uint64_t)st.st_size - SS_HEADER;
	nrec = (c + REC_CIPHER - 1) / REC_CIPHER;
	if (c < nrec * REC_ABYTES || c - nrec * REC_ABYTES > CHUNK_MAX)
		return corrupt(id, "bad length");
	*size = c - nrec * REC_ABYTES;
	return 0;
}

/* --- walking --- */

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

static int foreach_sub(struct chunkstore *cs, const char *two,
		       chunkstore_foreach_cb cb, void *arg)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	struct dirent *de;
	struct obj_id id;
	char *path;
	DIR *d;
	int rc = 0, e;

	if (asprintf(&path, "%s/%s", cs->dir, two) < 0)
		return -ENOMEM;
	d = opendir(path);
	e = errno;
	free(path);
	if (!d)
		return e == ENOENT ?
			       0 :
			       err_set(-e, "cannot read chunk directory: %s",
				       strerror(e));
	while ((de = readdir(d)) != NULL) {
		if (!is_hex(de->d_name, OBJ_ID_HEX_LEN - 2))
			continue;
		memcpy(hex, two, 2);
		memcpy(hex + 2, de->d_name, OBJ_ID_HEX_LEN - 2 + 1);
		if (obj_id_from_hex(&id, hex) < 0)
			continue;
		rc = cb(&id, arg);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}

int chunkstore_foreach(struct chunkstore *cs, chunkstore_foreach_cb cb,
		       void *arg)
{
	struct dirent *de;
	DIR *d;
	int rc = 0, e;

	d = opendir(cs->dir);
	if (!d) {
		e = errno;
		return err_set(-e, "cannot read chunk directory '%s': %s",
			       cs->dir, strerror(e));
	}
	while ((de = readdir(d)) != NULL) {
		if (!is_hex(de->d_name, 2))
			continue;
		rc = foreach_sub(cs, de->d_name, cb, arg);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}
