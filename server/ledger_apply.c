/*
 * Applying a batch of operations to the ledger as one commit.
 *
 * The mutable state is a libgit2 index: every document is an entry at its
 * path and every folder exists through its ".coffre-folder" entry, so a
 * lookup is a search in a sorted array and moving a folder is re-filing the
 * entries under its prefix.  The index of the head is kept between batches
 * (under the apply lock); writing the tree reuses the index's tree cache,
 * so a batch costs what it touches rather than the size of the space.
 *
 * Every version stays in the history: a batch is one commit, except that
 * an operation which would replace or remove a manifest written earlier in
 * the same batch (two deposits of one document, a deposit then its unlink)
 * first closes the commit so far, and the batch goes on in a child commit.
 * The head then moves once, to the last of them, so the batch stays atomic
 * and each version's manifest is filed in the tree of the commit that
 * results name for it (see docs/architecture.md, "Every version is in the
 * ledger").
 *
 * Atomicity: the head only moves by a compare-and-swap once the commits and
 * everything they name are on disk, and a failed batch drops the cached
 * index.  Objects of a failed small batch stay as unreferenced loose
 * objects (harmless to git fsck); a large batch keeps its objects in memory
 * until they go to disk as one pack, so a failure leaves nothing at all.
 */
#include "server/ledger.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
/* FNV-1a: uthash's default (Jenkins) falls through its switch, which
 * clang -Wimplicit-fallthrough refuses; these tables are small. */
#define HASH_FUNCTION HASH_FNV
#include <uthash.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/path.h"
#include "server/chunkstore.h"
#include "server/ledger_i.h"

#define LEDGER_MAX_OPS 10000
#define CLIENT_MAX_LEN 128
#define MSG_CAP	       (256u * 1024u * 1024u)
#define SCRATCH_LEN    (PATH_MAX_LEN + sizeof(FOLDER_META_NAME) + 8)
/*
 * From this many operations on, a batch's objects are written as a pack.
 * NEEDSWORK: every large batch adds a pack, and libgit2's packbuilder
 * searches deltas between the rewritten folder trees, which grows with
 * folder size (about 1.3 s of CPU for 5000 deposits into a space already
 * holding 40,000 documents in 50 folders).  A periodic repack and a
 * delta-free pack writer would bound both.  The cached index also holds
 * every path of the space in memory (about 150 bytes a document).
 */
#define PACK_MIN_OPS   64
/*
 * Plaintexts of the last chunks checked, kept for the rest of the batch:
 * a chunk named again (a run of zeros names one chunk many times) is
 * hashed from memory, not read and decrypted again.  At most this many
 * times CHUNK_MAX bytes per batch being checked.
 */
#define HELD_CHUNKS    4

/* A manifest blob written in the commit being built. */
struct written {
	git_oid id;
	UT_hash_handle hh;
};

struct apply {
	struct ledger *lg;
	git_repository *repo;
	int packed; /* repo is lg->prepo */
	/*
	 * Contents are checked before the apply lock is taken (hashing a
	 * large file must not stall every other batch of the space): the
	 * first deposit whose content failed, its rc and message.
	 */
	size_t cur_op, vfail;
	int vrc;
	char *vmsg;
	git_index *idx;
	struct chunkstore *cs;
	const char *login;
	/* The batch's one deposit time: in every manifest and as the time
	 * of each of its commits, so a replay reads back the same. */
	time_t now_t;
	char now[32];
	struct hash_ctx *hash;
	struct held_chunk {
		struct obj_id id;
		uint8_t *data; /* NULL: slot free */
		size_t len;
	} held[HELD_CHUNKS];
	size_t held_next; /* slot replaced next */
	char *scratch;	  /* SCRATCH_LEN bytes */
	git_oid class_blob[3];
	int have_class[3];
	git_oid class_id[3]; /* the same ids, hashed only (entry_class) */
	int have_class_id[3];
	struct buf trailers;
	/*
	 * The commit being built: the manifests it files (destroying one of
	 * them closes it first), the first op it holds, and its parent.
	 */
	struct written *written;
	size_t seg_start;
	git_oid seg_parent;
	/* Commits made so far for this batch, oldest first. */
	git_oid *commits;
	size_t ncommits;
	const struct ledger_batch *batch; /* NULL: not named */
	int split; /* set by an op that must start a new commit first */
};

/* "/A/b" -> "A/b", "/" -> "": paths as the index spells them. */
static const char *ipath(const char *path)
{
	return path + 1;
}

static const git_index_entry *file_at(struct apply *ap, const char *ip)
{
	if (!*ip)
		return NULL;
	return git_index_get_bypath(ap->idx, ip, 0);
}

static const char *meta_path(struct apply *ap, const char *ip, size_t len)
{
	snprintf(ap->scratch, SCRATCH_LEN, "%.*s%s" FOLDER_META_NAME, (int)len,
		 ip, len ? "/" : "");
	return ap->scratch;
}

static int folder_at(struct apply *ap, const char *ip)
{
	if (!*ip)
		return 1;
	return git_index_get_bypath(ap->idx, meta_path(ap, ip, strlen(ip)),
				    0) != NULL;
}

/* Every ancestor of ip must be a folder: -ENOTDIR / -ENOENT otherwise. */
static int check_parent(struct apply *ap, const char *ip)
{
	const char *p;

	for (p = strchr(ip, '/'); p; p = strchr(p + 1, '/')) {
		int len = (int)(p - ip);

		snprintf(ap->scratch, SCRATCH_LEN, "%.*s", len, ip);
		if (git_index_get_bypath(ap->idx, ap->scratch, 0))
			return err_set(-ENOTDIR, "'/%.*s' is a file", len, ip);
		if (!git_index_get_bypath(ap->idx, meta_path(ap, ip, len), 0))
			return err_set(-ENOENT, "no such folder '/%.*s'", len,
				       ip);
	}
	return 0;
}

/* Position of the first entry under "ip/", or -1 when none. */
static long first_under(struct apply *ap, const char *ip)
{
	size_t pos;

	snprintf(ap->scratch, SCRATCH_LEN, "%s/", ip);
	if (git_index_find_prefix(&pos, ap->idx, ap->scratch) != 0)
		return -1;
	return (long)pos;
}

static int folder_is_empty(struct apply *ap, const char *ip)
{
	const git_index_entry *e;
	size_t plen = strlen(ip) + 1;
	long pos = first_under(ap, ip);

	if (pos < 0)
		return 1;
	for (; (e = git_index_get_byindex(ap->idx, (size_t)pos)); pos++) {
		if (strncmp(e->path, ip, plen - 1) != 0 ||
		    e->path[plen - 1] != '/')
			break;
		if (strcmp(e->path + plen, FOLDER_META_NAME) != 0)
			return 0;
	}
	return 1;
}

static int index_put(struct apply *ap, const char *ip, const git_oid *id,
		     uint32_t mode)
{
	git_index_entry e;
	int rc;

	memset(&e, 0, sizeof(e));
	e.mode = mode;
	e.id = *id;
	e.path = ip;
	rc = git_index_add(ap->idx, &e);
	if (rc < 0) {
		const git_error *ge = git_error_last();

		return err_set(-EINVAL, "cannot file '/%s' in the ledger: %s",
			       ip, ge && ge->message ? ge->message : "error");
	}
	return 0;
}

static int index_del(struct apply *ap, const char *ip)
{
	int rc = git_index_remove(ap->idx, ip, 0);

	if (rc < 0)
		return ledger_git_err(rc, "cannot remove an entry");
	return 0;
}

static int class_blob(struct apply *ap, enum folder_class c, git_oid *out)
{
	int rc;

	if ((unsigned)c > FOLDER_CLASS_CONFIDENTIAL)
		return err_set(-EINVAL, "bad folder class %d", (int)c);
	if (!ap->have_class[c]) {
		rc = ledger_folder_blob(ap->repo, c, &ap->class_blob[c]);
		if (rc < 0)
			return rc;
		ap->have_class[c] = 1;
	}
	*out = ap->class_blob[c];
	return 0;
}

/* The id class_blob() gives, computed without touching the odb. */
static int class_id(struct apply *ap, enum folder_class c, git_oid *out)
{
	struct folder_meta fm = { .class = c };
	struct buf b;
	int rc;

	if ((unsigned)c > FOLDER_CLASS_CONFIDENTIAL)
		return err_set(-EINVAL, "bad folder class %d", (int)c);
	if (!ap->have_class_id[c]) {
		buf_init(&b, 256);
		rc = folder_meta_format(&fm, &b);
		if (rc == 0 && git_odb_hash(&ap->class_id[c], b.data, b.len,
					    GIT_OBJECT_BLOB) < 0)
			rc = ledger_git_err(-1, "cannot hash folder metadata");
		buf_release(&b);
		if (rc < 0)
			return rc;
		ap->have_class_id[c] = 1;
	}
	*out = ap->class_id[c];
	return 0;
}

/* --- deposits --- */

static int cs_has(struct apply *ap, const struct obj_id *id)
{
	return ap->cs ? chunkstore_has(ap->cs, id) : 0;
}

/*
 * The plaintext of chunk id, checked (AEAD tags, SHA-256 against id) the
 * first time the batch names it and borrowed from ap->held after that.
 */
static int held_get(struct apply *ap, const struct obj_id *id,
		    const struct held_chunk **out)
{
	struct held_chunk *h;
	int rc;

	for (size_t i = 0; i < HELD_CHUNKS; i++)
		if (ap->held[i].data && !obj_id_cmp(&ap->held[i].id, id)) {
			*out = &ap->held[i];
			return 0;
		}
	h = &ap->held[ap->held_next];
	ap->held_next = (ap->held_next + 1) % HELD_CHUNKS;
	free(h->data);
	h->data = NULL;
	rc = chunkstore_get(ap->cs, id, &h->data, &h->len);
	if (rc < 0)
		return rc;
	h->id = *id;
	*out = h;
	return 0;
}

static void held_release(struct apply *ap)
{
	for (size_t i = 0; i < HELD_CHUNKS; i++) {
		free(ap->held[i].data);
		ap->held[i].data = NULL;
	}
}

/*
 * The announced content must be what the chunk store holds: every chunk
 * present, sizes adding up, and the SHA-256 of the whole matching.  Chunks
 * are streamed one record at a time, never the whole file.
 */
static int verify_content(struct apply *ap, const struct manifest *c,
			  const char *path)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	struct obj_id got;
	uint64_t sum = 0;
	size_t i;
	int rc;

	for (i = 0; i < c->nchunks; i++) {
		if (__builtin_add_overflow(sum, c->chunks[i].size, &sum))
			return err_set(-EBADMSG, "chunk sizes of '%s' overflow",
				       path);
	}
	if (sum != c->size)
		return err_set(-EBADMSG,
			       "chunk sizes of '%s' add up to %llu, not %llu",
			       path, (unsigned long long)sum,
			       (unsigned long long)c->size);
	for (i = 0; i < c->nchunks; i++) {
		rc = cs_has(ap, &c->chunks[i].id);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			obj_id_to_hex(&c->chunks[i].id, hex);
			return err_set(-ENODATA,
				       "chunk '%s' of '%s' is not held", hex,
				       path);
		}
	}
	hash_reset(ap->hash);
	for (i = 0; i < c->nchunks; i++) {
		const struct held_chunk *h;

		rc = held_get(ap, &c->chunks[i].id, &h);
		obj_id_to_hex(&c->chunks[i].id, hex);
		if (rc == -ENOENT)
			return err_set(-ENODATA,
				       "chunk '%s' of '%s' is not held", hex,
				       path);
		if (rc < 0)
			return rc;
		if (h->len != c->chunks[i].size)
			return err_set(-EBADMSG,
				       "chunk '%s' holds %zu bytes, not %u",
				       hex, h->len, c->chunks[i].size);
		hash_update(ap->hash, h->data, h->len);
	}
	hash_final(ap->hash, &got);
	if (obj_id_cmp(&got, &c->sha256) != 0)
		return err_set(-EBADMSG,
			       "content of '%s' does not match its sha256",
			       path);
	return 0;
}

static int written_add(struct apply *ap, const git_oid *id)
{
	struct written *w;

	HASH_FIND(hh, ap->written, id, sizeof(*id), w);
	if (w)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->id = *id;
	HASH_ADD(hh, ap->written, id, sizeof(w->id), w);
	return 0;
}

static void written_clear(struct apply *ap)
{
	struct written *w, *tmp;

	HASH_ITER(hh, ap->written, w, tmp)
	{
		HASH_DEL(ap->written, w);
		free(w);
	}
}

/*
 * Would replacing or removing the entry e lose a manifest filed only in
 * the commit being built?  Then the op must start a new commit.
 */
static int destroys_new(struct apply *ap, const git_index_entry *e)
{
	struct written *w = NULL;

	if (e)
		HASH_FIND(hh, ap->written, &e->id, sizeof(e->id), w);
	return w != NULL;
}

/* Write m as a blob filed at ip. */
static int put_manifest(struct apply *ap, const char *ip,
			const struct manifest *m)
{
	git_oid id;
	struct buf b;
	size_t cap;
	int rc;

	/* A chunk line is under 100 bytes; the head under 1 KiB. */
	cap = 1024 + m->nchunks * 100;
	buf_init(&b, cap);
	rc = manifest_format(m, &b);
	if (rc == 0) {
		rc = git_blob_create_from_buffer(&id, ap->repo, b.data, b.len);
		if (rc < 0)
			rc = ledger_git_err(rc, "cannot write a manifest");
	}
	buf_release(&b);
	if (rc == 0)
		rc = index_put(ap, ip, &id, GIT_FILEMODE_BLOB);
	if (rc == 0)
		rc = written_add(ap, &id);
	return rc;
}

/*
 * The next version of a document (or its first): content from c, identity
 * from doc_id and version, depositor and time from the batch.
 */
static int new_version(struct apply *ap, const struct manifest *c,
		       const char *doc_id, uint64_t version,
		       struct manifest *out)
{
	int rc = ledger_manifest_copy(out, c);

	if (rc < 0)
		return rc;
	snprintf(out->doc_id, sizeof(out->doc_id), "%s", doc_id);
	out->version = version;
	snprintf(out->deposited_by, sizeof(out->deposited_by), "%s", ap->login);
	snprintf(out->deposited_at, sizeof(out->deposited_at), "%s", ap->now);
	return 0;
}

static int op_deposit(struct apply *ap, const struct ledger_op *op,
		      struct ledger_result *r)
{
	const char *ip = ipath(op->path);
	const git_index_entry *cur;
	struct manifest old;
	char doc_id[DOC_ID_HEX_LEN + 1];
	uint64_t version = 1, cur_version = 0;
	int rc;

	if (!*ip)
		return err_set(-EISDIR, "'/' is a folder");
	rc = check_parent(ap, ip);
	if (rc < 0)
		return rc;
	if (folder_at(ap, ip))
		return err_set(-EISDIR, "'%s' is a folder", op->path);
	if (ap->cur_op == ap->vfail)
		return err_set(ap->vrc, "%s",
			       ap->vmsg ? ap->vmsg : "content check failed");
	cur = file_at(ap, ip);
	if (cur) {
		manifest_init(&old);
		rc = ledger_blob_manifest(ap->repo, &cur->id, &old);
		if (rc < 0)
			return rc;
		memcpy(doc_id, old.doc_id, sizeof(doc_id));
		cur_version = old.version;
		version = old.version + 1;
		manifest_release(&old);
	} else {
		doc_id_new(doc_id);
	}
	r->concurrent =
		op->base_version != 0 && op->base_version != cur_version;
	rc = new_version(ap, &op->content, doc_id, version, &r->manifest);
	if (rc < 0)
		return rc;
	memcpy(r->doc_id, doc_id, sizeof(doc_id));
	r->version = version;
	return put_manifest(ap, ip, &r->manifest);
}

static int op_mkdir(struct apply *ap, const struct ledger_op *op)
{
	const char *ip = ipath(op->path);
	git_oid blob;
	int rc;

	if (!*ip)
		return 0;
	rc = check_parent(ap, ip);
	if (rc < 0)
		return rc;
	if (file_at(ap, ip))
		return err_set(-EEXIST, "'%s' is a file", op->path);
	if (folder_at(ap, ip))
		return 0;
	if (op->has_mode && (op->mode & 07777) != FOLDER_MODE_DEFAULT) {
		struct folder_meta fm = { .class = op->class };

		folder_meta_set_mode(&fm, op->mode);
		rc = ledger_folder_meta_blob(ap->repo, &fm, &blob);
	} else {
		rc = class_blob(ap, op->class, &blob);
	}
	if (rc < 0)
		return rc;
	return index_put(ap, meta_path(ap, ip, strlen(ip)), &blob,
			 GIT_FILEMODE_BLOB);
}

/*
 * A folder's mode bits, kept in its ".coffre-folder" with its class.  A
 * path that is no folder (gone, or a file: a file's mode goes with its
 * deposits) changes nothing, as an unlink of nothing does: a queued
 * chmod must never wedge the queue behind it.
 */
static int op_chmod(struct apply *ap, const struct ledger_op *op)
{
	const char *ip = ipath(op->path);
	const git_index_entry *e;
	struct folder_meta fm;
	git_oid blob;
	int rc;

	if (*ip && file_at(ap, ip))
		return 0;
	e = git_index_get_bypath(ap->idx, meta_path(ap, ip, strlen(ip)), 0);
	if (!e)
		return 0;
	rc = ledger_meta_blob_read(ap->repo, &e->id, &fm);
	if (rc < 0)
		return rc;
	if (folder_meta_mode(&fm) == (op->mode & 07777))
		return 0;
	folder_meta_set_mode(&fm, op->mode);
	rc = ledger_folder_meta_blob(ap->repo, &fm, &blob);
	if (rc < 0)
		return rc;
	return index_put(ap, meta_path(ap, ip, strlen(ip)), &blob,
			 GIT_FILEMODE_BLOB);
}

static int op_unlink(struct apply *ap, const struct ledger_op *op)
{
	const char *ip = ipath(op->path);

	if (file_at(ap, ip))
		return index_del(ap, ip);
	if (folder_at(ap, ip))
		return err_set(-EISDIR, "'%s' is a folder", op->path);
	return 0;
}

static int op_rmdir(struct apply *ap, const struct ledger_op *op)
{
	const char *ip = ipath(op->path);

	if (!*ip)
		return err_set(-EINVAL, "'/' cannot be removed");
	if (file_at(ap, ip))
		return err_set(-ENOTDIR, "'%s' is a file", op->path);
	if (!folder_at(ap, ip))
		return 0;
	if (!folder_is_empty(ap, ip))
		return err_set(-ENOTEMPTY, "folder '%s' is not empty",
			       op->path);
	return index_del(ap, meta_path(ap, ip, strlen(ip)));
}

struct moved {
	char *path;
	git_oid id;
	uint32_t mode;
};

static int depth_of(const char *p)
{
	int d = 1;

	for (; *p; p++)
		d += *p == '/';
	return d;
}

/* Re-file every entry under from/ as to/, in one go. */
static int move_folder(struct apply *ap, const char *from, const char *to)
{
	const git_index_entry *e;
	struct moved *v = NULL, *nv;
	size_t n = 0, alloc = 0, flen = strlen(from), i;
	long pos = first_under(ap, from);
	int rc = 0;

	for (; pos >= 0 && (e = git_index_get_byindex(ap->idx, (size_t)pos));
	     pos++) {
		if (strncmp(e->path, from, flen) != 0 || e->path[flen] != '/')
			break;
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			nv = realloc(v, alloc * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				goto out;
			}
			v = nv;
		}
		if (asprintf(&v[n].path, "%s%s", to, e->path + flen) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		v[n].id = e->id;
		v[n].mode = e->mode;
		n++;
		if (strlen(v[n - 1].path) + 1 > PATH_MAX_LEN ||
		    depth_of(v[n - 1].path) > PATH_MAX_DEPTH) {
			rc = err_set(-ENAMETOOLONG,
				     "'/%s' would be too long or deep",
				     v[n - 1].path);
			goto out;
		}
	}
	rc = git_index_remove_directory(ap->idx, from, 0);
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot move a folder");
		goto out;
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = index_put(ap, v[i].path, &v[i].id, v[i].mode);
out:
	for (i = 0; i < n; i++)
		free(v[i].path);
	free(v);
	return rc;
}

static int op_move(struct apply *ap, const struct ledger_op *op,
		   struct ledger_result *r)
{
	const char *from = ipath(op->from), *to = ipath(op->to);
	const git_index_entry *src, *dst;
	struct manifest sm, dm;
	size_t flen = strlen(from);
	git_oid src_id;
	uint32_t src_mode;
	int rc;

	if (!*from)
		return err_set(-EINVAL, "'/' cannot be moved");
	src = file_at(ap, from);
	if (!src && !folder_at(ap, from))
		return err_set(-ENOENT, "no such file or folder '%s'",
			       op->from);
	if (!src) {
		/* Renaming a folder to itself changes nothing. */
		if (strcmp(from, to) == 0)
			return 0;
		if (strncmp(to, from, flen) == 0 && to[flen] == '/')
			return err_set(-EINVAL, "cannot move '%s' into itself",
				       op->from);
		if (!*to || folder_at(ap, to))
			return err_set(-EEXIST, "folder '%s' already exists",
				       op->to);
		if (file_at(ap, to))
			return err_set(-ENOTDIR, "'%s' is a file", op->to);
		rc = check_parent(ap, to);
		if (rc < 0)
			return rc;
		return move_folder(ap, from, to);
	}

	src_id = src->id;
	src_mode = src->mode;
	manifest_init(&sm);
	manifest_init(&dm);
	rc = ledger_blob_manifest(ap->repo, &src_id, &sm);
	if (rc < 0)
		goto out;
	memcpy(r->doc_id, sm.doc_id, sizeof(r->doc_id));
	r->version = sm.version;
	if (strcmp(from, to) == 0)
		goto out;
	if (!*to || folder_at(ap, to)) {
		rc = err_set(-EISDIR, "'%s' is a folder", op->to);
		goto out;
	}
	rc = check_parent(ap, to);
	if (rc < 0)
		goto out;
	dst = file_at(ap, to);
	if (!dst) {
		rc = index_put(ap, to, &src_id, src_mode);
		if (rc == 0)
			rc = index_del(ap, from);
		goto out;
	}
	/* A save by rename: the target document gets a new version. */
	rc = ledger_blob_manifest(ap->repo, &dst->id, &dm);
	if (rc < 0)
		goto out;
	rc = new_version(ap, &sm, dm.doc_id, dm.version + 1, &r->manifest);
	if (rc < 0)
		goto out;
	memcpy(r->doc_id, dm.doc_id, sizeof(r->doc_id));
	r->version = dm.version + 1;
	rc = put_manifest(ap, to, &r->manifest);
	if (rc == 0)
		rc = index_del(ap, from);
out:
	manifest_release(&sm);
	manifest_release(&dm);
	return rc;
}

/* --- the commit message --- */

/* Append s with control characters (newlines above all) made harmless. */
static int append_clean(struct buf *b, const char *s)
{
	char tmp[256];
	size_t n = 0;
	int rc;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		tmp[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
		if (n == sizeof(tmp)) {
			rc = buf_append(b, tmp, n);
			if (rc < 0)
				return rc;
			n = 0;
		}
	}
	return buf_append(b, tmp, n);
}

static const char *op_name(enum ledger_op_kind k)
{
	switch (k) {
	case LEDGER_OP_MKDIR:
		return "mkdir";
	case LEDGER_OP_DEPOSIT:
		return "deposit";
	case LEDGER_OP_MOVE:
		return "move";
	case LEDGER_OP_UNLINK:
		return "unlink";
	case LEDGER_OP_RMDIR:
		return "rmdir";
	case LEDGER_OP_CHMOD:
		return "chmod";
	}
	return "unknown";
}

static int add_trailers(struct buf *b, const struct ledger_op *op,
			const struct ledger_result *r)
{
	int rc;

	rc = buf_appendf(b, "Coffre-Op: %s ", op_name(op->kind));
	if (rc == 0)
		rc = append_clean(b, op->kind == LEDGER_OP_MOVE ? op->from :
								  op->path);
	if (rc == 0)
		rc = buf_append(b, "\n", 1);
	if (rc == 0 && op->kind == LEDGER_OP_MOVE) {
		rc = buf_appendf(b, "Coffre-To: ");
		if (rc == 0)
			rc = append_clean(b, op->to);
		if (rc == 0)
			rc = buf_append(b, "\n", 1);
	}
	if (rc == 0 && op->kind == LEDGER_OP_MKDIR)
		rc = buf_appendf(b, "Coffre-Class: %s\n",
				 folder_class_name(op->class));
	if (rc == 0 && (op->kind == LEDGER_OP_CHMOD ||
			(op->kind == LEDGER_OP_MKDIR && op->has_mode &&
			 (op->mode & 07777) != FOLDER_MODE_DEFAULT)))
		rc = buf_appendf(b, "Coffre-Mode: %04o\n",
				 (unsigned)(op->mode & 07777));
	if (rc == 0 && r->doc_id[0])
		rc = buf_appendf(b, "Coffre-Doc: %s %llu\n", r->doc_id,
				 (unsigned long long)r->version);
	/* The version made is sealed: the ledger records it with it. */
	if (rc == 0 && op->sealed && r->manifest.version)
		rc = buf_appendf(b, "Coffre-Class: %s\n",
				 folder_class_name(FOLDER_CLASS_CONFIDENTIAL));
	return rc;
}

static int build_message(struct buf *b, const struct ledger_op *ops,
			 const struct ledger_result *res, size_t nops,
			 const char *client, const struct buf *trailers,
			 const struct ledger_batch *batch)
{
	int rc;

	if (nops == 1) {
		rc = buf_appendf(b, "%s ", op_name(ops[0].kind));
		if (rc == 0)
			rc = append_clean(b, ops[0].kind == LEDGER_OP_MOVE ?
						     ops[0].from :
						     ops[0].path);
		if (rc == 0 && ops[0].kind == LEDGER_OP_MOVE) {
			rc = buf_appendf(b, " -> ");
			if (rc == 0)
				rc = append_clean(b, ops[0].to);
		}
		if (rc == 0 && ops[0].kind == LEDGER_OP_DEPOSIT)
			rc = buf_appendf(b, " v%llu",
					 (unsigned long long)res[0].version);
	} else {
		rc = buf_appendf(b, "batch of %zu operations", nops);
	}
	if (rc == 0)
		rc = buf_append(b, "\n\n", 2);
	if (rc == 0)
		rc = buf_append(b, trailers->data, trailers->len);
	if (rc == 0)
		rc = buf_appendf(b, "Coffre-Client: ");
	if (rc == 0)
		rc = append_clean(b, client && *client ? client : "unknown");
	if (rc == 0)
		rc = buf_append(b, "\n", 1);
	/* id and digest are checked by the caller: nothing to clean */
	if (rc == 0 && batch)
		rc = buf_appendf(b, "Coffre-Batch: %s %s\n", batch->id,
				 batch->digest);
	if (rc < 0)
		return err_set(rc, "commit message too large");
	return 0;
}

/* --- the state half way, for the caller's checks --- */

struct ledger_view {
	struct apply *ap;
};

/* The class a ".coffre-folder" entry states. */
static int entry_class(struct apply *ap, const git_index_entry *e,
		       enum folder_class *own)
{
	struct ledger *lg = ap->lg;
	struct folder_meta fm;
	git_oid id;
	size_t i;
	int rc;

	/* Hashed, not written: naming a class costs no odb write (a write
	 * of an object held "freshens" its file), so a check that reads a
	 * folder's class costs what one that finds no folder does. */
	for (int c = FOLDER_CLASS_PUBLIC; c <= FOLDER_CLASS_CONFIDENTIAL; c++)
		if (class_id(ap, (enum folder_class)c, &id) == 0 &&
		    git_oid_equal(&id, &e->id)) {
			*own = (enum folder_class)c;
			return 0;
		}
	/* A folder with its own mode bits: read once, then known by id
	 * (under apply_lock, as every view is), so it costs about as
	 * little as the three above. */
	for (i = 0; lg && i < lg->nmeta_seen; i++)
		if (git_oid_equal(&lg->meta_seen[i].id, &e->id)) {
			*own = lg->meta_seen[i].class;
			return 0;
		}
	rc = ledger_meta_blob_read(ap->repo, &e->id, &fm);
	if (rc < 0)
		return rc;
	*own = fm.class;
	if (lg) {
		i = lg->nmeta_seen < LEDGER_META_SEEN ?
			    lg->nmeta_seen++ :
			    (size_t)e->id.id[0] % LEDGER_META_SEEN;
		lg->meta_seen[i].id = e->id;
		lg->meta_seen[i].class = fm.class;
	}
	return 0;
}

int ledger_view_class(const struct ledger_view *v, const char *folder,
		      enum folder_class *own)
{
	struct apply *ap = v->ap;
	const char *ip = ipath(folder);
	const git_index_entry *e;
	char meta[SCRATCH_LEN];

	snprintf(meta, sizeof(meta), "%s%s" FOLDER_META_NAME, ip,
		 *ip ? "/" : "");
	e = git_index_get_bypath(ap->idx, meta, 0);
	if (e)
		return entry_class(ap, e, own);
	if (!*ip) {
		*own = FOLDER_CLASS_RESTRICTED; /* an empty space */
		return 0;
	}
	if (git_index_get_bypath(ap->idx, ip, 0))
		return -ENOTDIR;
	return -ENOENT;
}

int ledger_view_folders(const struct ledger_view *v, const char *folder,
			ledger_view_folder_cb cb, void *arg)
{
	struct apply *ap = v->ap;
	const char *ip = ipath(folder);
	size_t plen = strlen(ip), mlen = strlen(FOLDER_META_NAME);
	const git_index_entry *e;
	enum folder_class own;
	char path[PATH_MAX_LEN + 2];
	size_t pos = 0;
	int rc;

	rc = ledger_view_class(v, folder, &own);
	if (rc == 0)
		rc = cb(folder, own, arg);
	if (rc)
		return rc;
	if (plen) {
		long first = first_under(ap, ip);

		if (first < 0)
			return 0;
		pos = (size_t)first;
	}
	for (; (e = git_index_get_byindex(ap->idx, pos)); pos++) {
		size_t n = strlen(e->path);

		if (plen &&
		    (strncmp(e->path, ip, plen) || e->path[plen] != '/'))
			break;
		/* "X/Y/.coffre-folder", below folder: the folder "/X/Y" */
		if (n <= mlen + 1 + plen || e->path[n - mlen - 1] != '/' ||
		    strcmp(e->path + n - mlen, FOLDER_META_NAME))
			continue;
		snprintf(path, sizeof(path), "/%.*s", (int)(n - mlen - 1),
			 e->path);
		rc = entry_class(ap, e, &own);
		if (rc == 0)
			rc = cb(path, own, arg);
		if (rc)
			return rc;
	}
	return 0;
}

/* --- the batch --- */

static int op_check_paths(const struct ledger_op *op)
{
	int rc;

	if (op->kind == LEDGER_OP_MOVE) {
		if (!op->from || !op->to)
			return err_set(-EINVAL, "move without from or to");
		rc = path_validate(op->from);
		if (rc == 0)
			rc = path_validate(op->to);
		return rc;
	}
	if (!op->path)
		return err_set(-EINVAL, "%s without a path", op_name(op->kind));
	return path_validate(op->path);
}

/*
 * Would op replace or remove a manifest filed only in the commit being
 * built?  A deposit over a document, an unlink, a save by rename (both the
 * target's manifest and the source's go).  A plain move re-files the same
 * blob and loses nothing.  Bad paths are left for apply_op to refuse.
 */
static int needs_new_commit(struct apply *ap, const struct ledger_op *op)
{
	const git_index_entry *src, *dst;

	if (op_check_paths(op) < 0)
		return 0;
	switch (op->kind) {
	case LEDGER_OP_DEPOSIT:
	case LEDGER_OP_UNLINK:
		return destroys_new(ap, file_at(ap, ipath(op->path)));
	case LEDGER_OP_MOVE:
		if (strcmp(op->from, op->to) == 0)
			return 0;
		src = file_at(ap, ipath(op->from));
		dst = file_at(ap, ipath(op->to));
		return src && dst &&
		       (destroys_new(ap, src) || destroys_new(ap, dst));
	default:
		return 0;
	}
}

static int apply_op(struct apply *ap, const struct ledger_op *op,
		    struct ledger_result *r)
{
	int rc = op_check_paths(op);

	if (rc < 0)
		return rc;
	switch (op->kind) {
	case LEDGER_OP_MKDIR:
		return op_mkdir(ap, op);
	case LEDGER_OP_DEPOSIT:
		return op_deposit(ap, op, r);
	case LEDGER_OP_MOVE:
		return op_move(ap, op, r);
	case LEDGER_OP_UNLINK:
		return op_unlink(ap, op);
	case LEDGER_OP_RMDIR:
		return op_rmdir(ap, op);
	case LEDGER_OP_CHMOD:
		return op_chmod(ap, op);
	}
	return err_set(-EINVAL, "unknown operation %d", (int)op->kind);
}

/*
 * Check every deposit's content against the chunk store, in order, up to
 * the first failure; ops before it may still fail first, under the lock,
 * so the batch reports the same op as if all were checked in turn.
 */
static void precheck_contents(struct apply *ap, const struct ledger_op *ops,
			      size_t nops)
{
	for (size_t i = 0; i < nops; i++) {
		int rc;

		if (ops[i].kind != LEDGER_OP_DEPOSIT || !ops[i].path ||
		    path_validate(ops[i].path) < 0)
			continue;
		rc = verify_content(ap, &ops[i].content, ops[i].path);
		if (rc < 0) {
			ap->vfail = i;
			ap->vrc = rc;
			ap->vmsg = strdup(err_msg());
			return;
		}
	}
}

/* The index of head, from the cache when it is still the head's. */
static int load_index(struct ledger *lg, const git_oid *head)
{
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	int rc;

	if (lg->idx && git_oid_equal(&lg->idx_head, head))
		return 0;
	git_index_free(lg->idx);
	lg->idx = NULL;
	rc = git_commit_lookup(&commit, lg->wrepo, head);
	if (rc == 0)
		rc = git_commit_tree(&tree, commit);
	if (rc == 0)
		rc = git_index_new(&lg->idx);
	if (rc == 0)
		rc = git_index_read_tree(lg->idx, tree);
	if (rc < 0) {
		git_index_free(lg->idx);
		lg->idx = NULL;
		rc = ledger_git_err(rc, "cannot read the head tree");
	} else {
		lg->idx_head = *head;
	}
	git_tree_free(tree);
	git_commit_free(commit);
	return rc;
}

int ledger_pack_open(struct ledger *lg)
{
	git_odb_backend *mp = NULL;
	git_odb *odb = NULL;
	int rc;

	if (lg->prepo)
		return 0;
	rc = ledger_repo_open(&lg->prepo, lg->path);
	if (rc < 0)
		return rc;
	rc = git_repository_odb(&odb, lg->prepo);
	if (rc == 0)
		rc = git_mempack_new(&mp);
	/* Highest priority: every write lands in memory. */
	if (rc == 0)
		rc = git_odb_add_backend(odb, mp, 1000);
	if (rc == 0) {
		lg->mempack = mp; /* owned by the odb from now on */
	} else {
		if (mp)
			mp->free(mp);
		git_repository_free(lg->prepo);
		lg->prepo = NULL;
		rc = ledger_git_err(rc, "cannot prepare a pack");
	}
	git_odb_free(odb);
	return rc;
}

/* Move the batch's objects from memory into one pack on disk. */
int ledger_pack_write(struct ledger *lg)
{
	git_odb_writepack *wp = NULL;
	git_indexer_progress stats;
	git_buf pack = { 0 };
	git_odb *odb = NULL;
	int rc;

	rc = git_mempack_dump(&pack, lg->prepo, lg->mempack);
	if (rc == 0)
		rc = git_repository_odb(&odb, lg->prepo);
	if (rc == 0)
		rc = git_odb_write_pack(&wp, odb, NULL, NULL);
	if (rc == 0)
		rc = wp->append(wp, pack.ptr, pack.size, &stats);
	if (rc == 0)
		rc = wp->commit(wp, &stats);
	if (rc < 0)
		rc = ledger_git_err(rc, "cannot write the pack");
	if (wp)
		wp->free(wp);
	git_odb_free(odb);
	git_buf_dispose(&pack);
	return rc;
}

/* Write the tree of the index and a commit of it on parent. */
static int make_commit(struct apply *ap, const git_oid *parent_id,
		       const char *space, const char *msg, git_oid *out)
{
	git_signature *author = NULL, *committer = NULL;
	git_commit *parent = NULL;
	git_tree *tree = NULL;
	git_oid tree_id;
	char *email = NULL;
	int rc;

	if (asprintf(&email, "%s@%s.coffre", ap->login, space) < 0)
		return -ENOMEM;
	rc = git_index_write_tree_to(&tree_id, ap->idx, ap->repo);
	if (rc == 0)
		rc = git_tree_lookup(&tree, ap->repo, &tree_id);
	if (rc == 0)
		rc = git_commit_lookup(&parent, ap->repo, parent_id);
	if (rc == 0)
		rc = git_signature_new(&author, ap->login, email,
				       (git_time_t)ap->now_t, 0);
	if (rc == 0)
		rc = git_signature_new(&committer, LEDGER_SERVER_NAME,
				       LEDGER_SERVER_EMAIL,
				       (git_time_t)ap->now_t, 0);
	if (rc < 0) {
		rc = ledger_git_err(rc, "cannot write the commit");
		goto out;
	}
	rc = ledger_commit_create(out, ap->repo, author, committer, msg, tree,
				  1, (const git_commit **)&parent);
out:
	git_signature_free(author);
	git_signature_free(committer);
	git_commit_free(parent);
	git_tree_free(tree);
	free(email);
	return rc;
}

/*
 * Close the commit being built: ops [seg_start, end) with their trailers
 * become one commit on seg_parent, and their results name it.
 */
static int close_segment(struct apply *ap, const struct ledger_op *ops,
			 struct ledger_result *res, size_t end,
			 const char *space, const char *client)
{
	char hex[GIT_OID_HEX_LEN + 1];
	struct buf msg;
	git_oid *nc, id;
	int rc;

	buf_init(&msg, MSG_CAP);
	rc = build_message(&msg, ops + ap->seg_start, res + ap->seg_start,
			   end - ap->seg_start, client, &ap->trailers,
			   ap->batch);
	if (rc == 0)
		rc = make_commit(ap, &ap->seg_parent, space, msg.data, &id);
	buf_release(&msg);
	if (rc < 0)
		return rc;
	nc = realloc(ap->commits, (ap->ncommits + 1) * sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	ap->commits = nc;
	ap->commits[ap->ncommits++] = id;
	git_oid_tostr(hex, sizeof(hex), &id);
	for (size_t i = ap->seg_start; i < end; i++)
		memcpy(res[i].commit, hex, sizeof(hex));
	ap->seg_parent = id;
	ap->seg_start = end;
	buf_reset(&ap->trailers);
	written_clear(ap);
	return 0;
}

/*
 * Every commit of the batch on disk with its timestamp, then the head moved
 * from parent to the last one.
 */
static int publish(struct ledger *lg, struct apply *ap,
		   const git_oid *parent_id)
{
	git_reference *ref = NULL;
	const git_oid *last = &ap->commits[ap->ncommits - 1];
	int rc = 0;

	if (ap->packed) {
		rc = ledger_pack_write(lg);
		if (rc < 0)
			return rc;
	}
	/* On disk, outside the in-memory pack: the commits are there now. */
	for (size_t i = 0; i < ap->ncommits && rc == 0; i++)
		rc = ledger_commit_stamp(lg->wrepo, &ap->commits[i]);
	if (rc < 0)
		return rc;
	rc = git_reference_create_matching(&ref, ap->repo, LEDGER_REF, last, 1,
					   parent_id, "coffre: apply");
	if (rc == GIT_EMODIFIED)
		rc = err_set(-EIO, "the ledger head moved during the commit");
	else if (rc < 0)
		rc = ledger_git_err(rc, "cannot move the ledger head");
	git_reference_free(ref);
	return rc;
}

static int check_args(const char *space, const char *login, const char *client,
		      size_t nops)
{
	int rc;

	if (!space || (rc = ident_validate(space)) < 0)
		return err_set(-EINVAL, "bad space name");
	if (!login || (rc = ident_validate(login)) < 0)
		return err_set(-EINVAL, "bad login");
	if (client && strlen(client) > CLIENT_MAX_LEN)
		return err_set(-EINVAL, "client name over %d bytes",
			       CLIENT_MAX_LEN);
	if (nops == 0)
		return err_set(-EINVAL, "empty batch");
	if (nops > LEDGER_MAX_OPS)
		return err_set(-E2BIG, "batch of %zu operations, at most %d",
			       nops, LEDGER_MAX_OPS);
	return 0;
}

static int check_batch(const struct ledger_batch *b)
{
	size_t i;

	if (!b)
		return 0;
	if (!b->id || ledger_batch_id_validate(b->id) < 0)
		return err_set(-EINVAL, "bad batch id");
	if (!b->digest || strlen(b->digest) != LEDGER_BATCH_DIGEST_LEN)
		return err_set(-EINVAL, "bad batch digest");
	for (i = 0; i < LEDGER_BATCH_DIGEST_LEN; i++)
		if (!strchr("0123456789abcdef", b->digest[i]))
			return err_set(-EINVAL, "bad batch digest");
	return 0;
}

/*
 * Under the apply lock: 1 when login applied b already, results and head
 * then being the first application's; 0 when b is new or NULL.
 */
static int replayed(struct ledger *lg, const char *login,
		    const struct ledger_batch *b, struct ledger_result *results,
		    size_t nops, char head[GIT_OID_HEX_LEN + 1])
{
	git_oid last;
	int rc;

	if (!b)
		return 0;
	rc = ledger_batch_find(lg, lg->wrepo, login, b, &last);
	if (rc <= 0)
		return rc;
	rc = ledger_batch_results(lg->wrepo, &last, results, nops);
	if (rc < 0)
		return rc;
	git_oid_tostr(head, GIT_OID_HEX_LEN + 1, &last);
	return 1;
}

int ledger_apply(struct ledger *lg, struct chunkstore *cs, const char *space,
		 const char *login, const char *client,
		 const struct ledger_op *ops, size_t nops,
		 struct ledger_result *results, size_t *failed_op,
		 char head[GIT_OID_HEX_LEN + 1])
{
	return ledger_apply_batch(lg, cs, space, login, client, NULL, ops, nops,
				  results, failed_op, head, NULL, NULL);
}

int ledger_apply_checked(struct ledger *lg, struct chunkstore *cs,
			 const char *space, const char *login,
			 const char *client, const struct ledger_op *ops,
			 size_t nops, struct ledger_result *results,
			 size_t *failed_op, char head[GIT_OID_HEX_LEN + 1],
			 ledger_check_fn check, void *check_arg)
{
	return ledger_apply_batch(lg, cs, space, login, client, NULL, ops, nops,
				  results, failed_op, head, check, check_arg);
}

int ledger_apply_batch(struct ledger *lg, struct chunkstore *cs,
		       const char *space, const char *login, const char *client,
		       const struct ledger_batch *b,
		       const struct ledger_op *ops, size_t nops,
		       struct ledger_result *results, size_t *failed_op,
		       char head[GIT_OID_HEX_LEN + 1], ledger_check_fn check,
		       void *check_arg)
{
	struct apply ap = { .lg = lg,
			    .cs = cs,
			    .login = login,
			    .vfail = SIZE_MAX,
			    .batch = b };
	struct ledger_view view = { &ap };
	struct ledger_write w;
	git_oid parent, commit;
	size_t i;
	int rc, skip;

	*failed_op = 0;
	for (i = 0; i < nops; i++) {
		memset(&results[i], 0, sizeof(results[i]));
		results[i].kind = ops[i].kind;
		manifest_init(&results[i].manifest);
	}
	rc = check_args(space, login, client, nops);
	if (rc == 0)
		rc = check_batch(b);
	if (rc < 0)
		return rc;
	buf_init(&ap.trailers, MSG_CAP);
	ap.scratch = malloc(SCRATCH_LEN);
	if (!ap.scratch)
		return -ENOMEM;
	rc = hash_new(&ap.hash);
	if (rc < 0)
		goto free_only;
	ap.now_t = time(NULL);
	rfc3339_utc((long long)ap.now_t, ap.now, sizeof(ap.now));
	precheck_contents(&ap, ops, nops);
	held_release(&ap); /* before the lock: the memory is not needed */

	rc = ledger_write_begin(lg, &w);
	if (rc < 0) {
		*failed_op = SIZE_MAX;
		goto reset_results;
	}
	rc = replayed(lg, login, b, results, nops, head);
	if (rc != 0) {
		int erc = ledger_write_end(lg, &w, rc < 0 ? rc : 0);

		if (rc < 0 || erc < 0) {
			rc = rc < 0 ? rc : erc;
			*failed_op = SIZE_MAX; /* the batch, not one op */
			goto reset_results;
		}
		goto free_only;
	}
	ap.repo = lg->wrepo;
	/* A shared ledger has no disk of its own to pack to: its objects go
	 * to the index as they are written, inside the transaction. */
	if (nops >= PACK_MIN_OPS && !ledger_is_shared(lg) &&
	    ledger_pack_open(lg) == 0) {
		ap.repo = lg->prepo;
		ap.packed = 1;
	}
	rc = ledger_head_oid(ap.repo, &parent);
	if (rc == 0)
		rc = load_index(lg, &parent);
	if (rc < 0)
		goto fail;
	ap.idx = lg->idx;
	ap.seg_parent = parent;
	for (i = 0; i < nops; i++) {
		ap.cur_op = i;
		/* Checked on the state the operations before it left. */
		rc = check ? check(check_arg, &view, &ops[i], i) : 0;
		skip = rc == LEDGER_CHECK_SKIP;
		if (skip)
			rc = 0;
		if (rc == 0 && !skip && i > ap.seg_start &&
		    needs_new_commit(&ap, &ops[i]))
			rc = close_segment(&ap, ops, results, i, space, client);
		if (rc == 0 && !skip)
			rc = apply_op(&ap, &ops[i], &results[i]);
		if (rc == 0)
			rc = add_trailers(&ap.trailers, &ops[i], &results[i]);
		if (rc < 0) {
			*failed_op = i;
			goto fail;
		}
	}
	rc = close_segment(&ap, ops, results, nops, space, client);
	if (rc == 0)
		rc = publish(lg, &ap, &parent);
	if (rc < 0) {
		*failed_op = nops - 1;
		goto fail;
	}
	commit = ap.commits[ap.ncommits - 1];
	lg->idx_head = commit;
	/* Only memory can fail here: then the next lookup walks main again. */
	if (b && ledger_batch_note(lg, login, b, &commit) < 0) {
		ledger_batches_free(lg);
		lg->batches_loaded = 0;
	}
	if (ap.packed)
		git_mempack_reset(lg->mempack);
	/* A shared ledger's commit is kept only once the index has it
	 * (ledger_write_end drops the caches when it has not). */
	rc = ledger_write_end(lg, &w, 0);
	if (rc < 0) {
		*failed_op = SIZE_MAX;
		goto reset_results;
	}
	git_oid_tostr(head, GIT_OID_HEX_LEN + 1, &commit);
	goto free_only;

fail:
	/* The cached index may hold half the batch: read it again next time. */
	git_index_free(lg->idx);
	lg->idx = NULL;
	/* Objects of a failed large batch never reach the disk. */
	if (ap.packed)
		git_mempack_reset(lg->mempack);
	ledger_write_end(lg, &w, rc);
reset_results:
	for (i = 0; i < nops; i++) {
		ledger_result_release(&results[i]);
		memset(&results[i], 0, sizeof(results[i]));
		results[i].kind = ops[i].kind;
		manifest_init(&results[i].manifest);
	}
free_only:
	written_clear(&ap);
	free(ap.commits);
	held_release(&ap);
	free(ap.vmsg);
	hash_free(ap.hash);
	free(ap.scratch);
	buf_release(&ap.trailers);
	return rc;
}
