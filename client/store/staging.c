/*
 * Staging files: the encrypted, copy-on-write new content of a document
 * while it is being written (see staging.h for the contract).
 *
 * On-disk layout of DIR/NAME (a sparse file):
 *
 *   [0, HEADER_SLOT)     sealed header (HEADER_SEALED bytes, rest a hole)
 *   slot i at HEADER_SLOT + i * SLOT_SIZE
 *                        version 2 (written now): blockseal (AES-256-GCM)
 *                        under a key derived from the master key and the
 *                        file id, ad = i as u64 LE || file id:
 *                        nonce (12) || ciphertext || tag || 12 zero bytes;
 *                        version 1 (read, for files queued before):
 *                        crypto_seal(key, same ad, block i) =
 *                        nonce (24) || ciphertext || tag
 *
 * Both fill SLOT_SIZE bytes, so the layout is the same.  Version 2 exists
 * for speed: every written block is sealed on the write path, and AES-GCM
 * with AES-NI costs less than half of XChaCha20-Poly1305 (blockseal.h).
 *
 * A slot that was never written is a hole and reads as zeros; a real slot
 * starts with a random nonce that is never all zero (we reseal in the
 * 2^-192 case), so "first 24 bytes all zero" means "block not written".
 * The file id is a random value kept in the header: it goes into every
 * slot's additional data so a slot cannot be moved to another staging file
 * or another position without failing authentication.
 *
 * Invariants kept by every operation (and restored by staging_open after a
 * crash between a data write and a header write):
 *   - base_limit <= size: bytes at or past base_limit never come from base;
 *   - no slot is written at or past block ceil(size / STAGING_BLOCK);
 *   - in a written slot, the bytes past size are zero.
 * Together they make every byte past size read as zero when the file is
 * later extended, by a write past the end or by a truncate.
 */
#include "client/store/staging.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/blockseal.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"

#define SLOT_SIZE	  ((uint64_t)STAGING_BLOCK + CRYPTO_SEAL_OVERHEAD)
#define HEADER_SLOT	  4096u
#define HEADER_MAGIC_V1	  "COFFSTG1"
#define HEADER_MAGIC	  "COFFSTG2"
#define BLOCK_KEY_CONTEXT "coffre staging blocks v2"
#define FILE_ID_LEN	  16
#define HEADER_PLAIN	  64u
#define HEADER_SEALED	  (HEADER_PLAIN + CRYPTO_SEAL_OVERHEAD)
#define HEADER_AD	  "coffre staging header v1"
#define BLOCK_AD_LEN	  (8 + FILE_ID_LEN)
/* Blocks handled per syscall: 1 MiB of plaintext, bounded scratch memory. */
#define BATCH_BLOCKS	  256u
/* 16 TiB, the largest document a manifest can describe; keeps slot offsets
 * far from off_t overflow. */
#define STAGING_MAX_SIZE  (1ull << 44)

struct staging {
	int fd;
	char *path; /* where it was opened or made: its lower sits beside */
	/* borrowed: copying it into its own guarded pages would cost an
	 * mmap and a munmap per file, a good part of saving a small one */
	const struct crypto_key *key;
	int version;	      /* of the slot format: 1 or 2 */
	struct blockseal *bs; /* version 2: this file's block cipher */
	uint8_t file_id[FILE_ID_LEN];
	/* A layered file (staging_layer) reads its unwritten blocks from
	 * PATH.lower, a second name of the sealed staging file it was made
	 * over, whose file id is kept here (all zero: not layered). */
	uint8_t lower_id[FILE_ID_LEN];
	struct staging *lower;
	uint64_t size;
	uint64_t base_size;
	uint64_t base_limit;
	uint64_t *bitmap; /* bit i set: slot i holds a sealed block */
	size_t bitmap_words;
	uint64_t nwritten; /* number of bits set */
	uint8_t *scratch;  /* up to BATCH_BLOCKS slots, grown on need */
	uint64_t scratch_slots;
	uint8_t block[STAGING_BLOCK]; /* one plaintext block for partials */
	uint8_t slot1[SLOT_SIZE];     /* one sealed slot, apart from scratch */
};

static uint64_t slot_off(uint64_t b)
{
	return HEADER_SLOT + b * SLOT_SIZE;
}

static uint64_t blocks_for(uint64_t size)
{
	return (size + STAGING_BLOCK - 1) / STAGING_BLOCK;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static int is_written(const struct staging *st, uint64_t b)
{
	uint64_t w = b / 64;

	if (w >= st->bitmap_words)
		return 0;
	return (st->bitmap[w] >> (b % 64)) & 1;
}

static int bitmap_set(struct staging *st, uint64_t b)
{
	uint64_t w = b / 64;

	if (w >= st->bitmap_words) {
		size_t n = st->bitmap_words ? st->bitmap_words : 16;
		uint64_t *nb;

		while (n <= w)
			n *= 2;
		nb = realloc(st->bitmap, n * sizeof(*nb));
		if (!nb)
			return err_set(-ENOMEM,
				       "out of memory for staging map");
		memset(nb + st->bitmap_words, 0,
		       (n - st->bitmap_words) * sizeof(*nb));
		st->bitmap = nb;
		st->bitmap_words = n;
	}
	if (!((st->bitmap[w] >> (b % 64)) & 1)) {
		st->bitmap[w] |= 1ull << (b % 64);
		st->nwritten++;
	}
	return 0;
}

/* Forget every written block at or past b (the file was cut there). */
static void bitmap_clear_from(struct staging *st, uint64_t b)
{
	for (uint64_t w = b / 64; w < st->bitmap_words; w++) {
		uint64_t mask = ~0ull;

		if (w == b / 64)
			mask = ~((1ull << (b % 64)) - 1);
		st->nwritten -=
			(uint64_t)__builtin_popcountll(st->bitmap[w] & mask);
		st->bitmap[w] &= ~mask;
	}
}

static void block_ad(const struct staging *st, uint64_t b,
		     uint8_t ad[BLOCK_AD_LEN])
{
	put_u64(ad, b);
	memcpy(ad + 8, st->file_id, FILE_ID_LEN);
}

static int nonce_is_zero(const uint8_t *p)
{
	uint8_t acc = 0;

	for (int i = 0; i < CRYPTO_NONCE_LEN; i++)
		acc |= p[i];
	return acc == 0;
}

/* Version 2: this file's own block key, from its id (set or read). */
static int cipher_setup(struct staging *st)
{
	uint8_t k[CRYPTO_KEY_LEN];
	struct crypto_key sub = { .k = k };
	char id[2 * FILE_ID_LEN + 1];
	int rc;

	blockseal_free(st->bs);
	st->bs = NULL;
	if (st->version != 2)
		return 0;
	for (int i = 0; i < FILE_ID_LEN; i++)
		snprintf(id + 2 * i, 3, "%02x", st->file_id[i]);
	/* on the stack, wiped at once: blockseal keeps its own schedule,
	 * and guarded pages would cost an mmap and a munmap per file */
	rc = crypto_key_derive_bytes(k, st->key, BLOCK_KEY_CONTEXT, id);
	if (rc == 0)
		rc = blockseal_new(&st->bs, &sub);
	explicit_bzero(k, sizeof(k));
	return rc;
}

static int seal_block(struct staging *st, uint64_t b, const uint8_t *plain,
		      uint8_t *slot)
{
	uint8_t ad[BLOCK_AD_LEN];
	int rc;

	block_ad(st, b, ad);
	if (st->version == 2) {
		memset(slot + STAGING_BLOCK + BLOCKSEAL_OVERHEAD, 0,
		       SLOT_SIZE - STAGING_BLOCK - BLOCKSEAL_OVERHEAD);
		return blockseal_seal(st->bs, ad, sizeof(ad), plain,
				      STAGING_BLOCK, slot);
	}
	do {
		rc = crypto_seal(st->key, ad, sizeof(ad), plain, STAGING_BLOCK,
				 slot);
		if (rc < 0)
			return rc;
	} while (nonce_is_zero(slot)); /* a hole marker: never store it */
	return 0;
}

static int open_block(struct staging *st, uint64_t b, const uint8_t *slot,
		      uint8_t *plain)
{
	uint8_t ad[BLOCK_AD_LEN];
	int rc;

	block_ad(st, b, ad);
	if (st->version == 2) {
		uint8_t pad = 0;

		for (size_t i = STAGING_BLOCK + BLOCKSEAL_OVERHEAD;
		     i < SLOT_SIZE; i++)
			pad |= slot[i];
		rc = pad ? -EBADMSG :
			   blockseal_open(st->bs, ad, sizeof(ad), slot,
					  STAGING_BLOCK + BLOCKSEAL_OVERHEAD,
					  plain);
	} else {
		rc = crypto_open(st->key, ad, sizeof(ad), slot, SLOT_SIZE,
				 plain);
	}
	if (rc < 0)
		return err_set(-EBADMSG,
			       "staging block %llu fails to authenticate",
			       (unsigned long long)b);
	return 0;
}

/* Read the sealed slots [b, b + cnt) in one call. */
static int read_slots(struct staging *st, uint64_t b, uint64_t cnt,
		      uint8_t *out)
{
	ssize_t r =
		pread_full(st->fd, out, cnt * SLOT_SIZE, (off_t)slot_off(b));

	if (r < 0)
		return err_set((int)r, "cannot read staging file: %s",
			       strerror((int)-r));
	if ((uint64_t)r != cnt * SLOT_SIZE)
		return err_set(-EBADMSG,
			       "staging file is truncated at block %llu",
			       (unsigned long long)b);
	return 0;
}

/* Room for nslots slots (at most BATCH_BLOCKS).  Sized to the need: a
 * small file needs a slot or two, and a full batch on its first write
 * would be an mmap and a munmap of 1 MiB for each one. */
static int scratch_get(struct staging *st, uint64_t nslots)
{
	if (nslots > BATCH_BLOCKS)
		nslots = BATCH_BLOCKS;
	if (nslots <= st->scratch_slots)
		return 0;
	free(st->scratch);
	st->scratch_slots = 0;
	st->scratch = malloc(nslots * SLOT_SIZE);
	if (!st->scratch)
		return err_set(-ENOMEM, "out of memory for staging I/O");
	st->scratch_slots = nslots;
	return 0;
}

/* Bytes [off, off + n) of the base as the file sees them: base content
 * below base_limit, zeros past it or past the base's end. */
static int fill_from_base(struct staging *st, uint8_t *out, uint64_t off,
			  size_t n, staging_base_read_fn base, void *arg)
{
	size_t got = 0;

	if (off < st->base_limit) {
		size_t want = n;
		ssize_t r;

		if (st->base_limit - off < want)
			want = (size_t)(st->base_limit - off);
		if (st->lower)
			r = staging_read(st->lower, out, want, off, base, arg);
		else if (!base)
			return err_set(-EINVAL, "staging needs a base reader");
		else
			r = base(arg, off, out, want);
		if (r < 0)
			return (int)r;
		got = (size_t)r > want ? want : (size_t)r;
	}
	memset(out + got, 0, n - got);
	return 0;
}

/* The current plaintext of block b into out (STAGING_BLOCK bytes). */
static int load_block(struct staging *st, uint64_t b, uint8_t *out,
		      staging_base_read_fn base, void *arg)
{
	int rc;

	if (!is_written(st, b))
		return fill_from_base(st, out, b * STAGING_BLOCK, STAGING_BLOCK,
				      base, arg);
	rc = read_slots(st, b, 1, st->slot1);
	if (rc < 0)
		return rc;
	return open_block(st, b, st->slot1, out);
}

/*
 * Zero the bytes of written block b from keep on (the last block, past the
 * size) and write it back sealed.  With only_dirty, a block whose tail is
 * zero already is left as it is.
 */
static int zero_block_tail(struct staging *st, uint64_t b, size_t keep,
			   int only_dirty)
{
	int dirty = 0, rc;

	rc = load_block(st, b, st->block, NULL, NULL);
	if (rc < 0)
		return rc;
	if (only_dirty) {
		for (size_t i = keep; i < STAGING_BLOCK; i++)
			dirty |= st->block[i];
		if (!dirty)
			return 0;
	}
	memset(st->block + keep, 0, STAGING_BLOCK - keep);
	rc = seal_block(st, b, st->block, st->slot1);
	if (rc < 0)
		return rc;
	rc = pwrite_full(st->fd, st->slot1, SLOT_SIZE, (off_t)slot_off(b));
	if (rc < 0)
		return err_set(rc, "cannot write staging file: %s",
			       strerror(-rc));
	return 0;
}

static int write_header(struct staging *st)
{
	uint8_t plain[HEADER_PLAIN] = { 0 };
	uint8_t sealed[HEADER_SEALED];
	int rc;

	memcpy(plain, st->version == 2 ? HEADER_MAGIC : HEADER_MAGIC_V1, 8);
	put_u64(plain + 8, st->size);
	put_u64(plain + 16, st->base_size);
	put_u64(plain + 24, st->base_limit);
	memcpy(plain + 32, st->file_id, FILE_ID_LEN);
	memcpy(plain + 48, st->lower_id, FILE_ID_LEN);
	rc = crypto_seal(st->key, HEADER_AD, sizeof(HEADER_AD) - 1, plain,
			 sizeof(plain), sealed);
	if (rc < 0)
		return rc;
	/* One pwrite: a SIGKILL cannot leave it half done. */
	rc = pwrite_full(st->fd, sealed, sizeof(sealed), 0);
	if (rc < 0)
		return err_set(rc, "cannot write staging header: %s",
			       strerror(-rc));
	return 0;
}

static int read_header(struct staging *st)
{
	uint8_t plain[HEADER_PLAIN];
	uint8_t sealed[HEADER_SEALED];
	ssize_t r;

	r = pread_full(st->fd, sealed, sizeof(sealed), 0);
	if (r < 0)
		return err_set((int)r, "cannot read staging header: %s",
			       strerror((int)-r));
	if ((size_t)r != sizeof(sealed) ||
	    crypto_open(st->key, HEADER_AD, sizeof(HEADER_AD) - 1, sealed,
			sizeof(sealed), plain) < 0)
		return err_set(-EBADMSG,
			       "staging header fails to authenticate");
	if (!memcmp(plain, HEADER_MAGIC, 8))
		st->version = 2;
	else if (!memcmp(plain, HEADER_MAGIC_V1, 8))
		st->version = 1;
	else
		return err_set(-EBADMSG, "staging header of an unknown format");
	st->size = get_u64(plain + 8);
	st->base_size = get_u64(plain + 16);
	st->base_limit = get_u64(plain + 24);
	memcpy(st->file_id, plain + 32, FILE_ID_LEN);
	memcpy(st->lower_id, plain + 48, FILE_ID_LEN);
	if (st->size > STAGING_MAX_SIZE || st->base_limit > st->size ||
	    st->base_limit > st->base_size)
		return err_set(-EBADMSG, "staging header is inconsistent");
	return cipher_setup(st);
}

static struct staging *staging_alloc(const struct crypto_key *key,
				     const char *path)
{
	struct staging *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->fd = -1;
	st->key = key;
	if (!(st->path = strdup(path))) {
		free(st);
		return NULL;
	}
	return st;
}

static int is_layered_id(const uint8_t id[FILE_ID_LEN])
{
	uint8_t acc = 0;

	for (int i = 0; i < FILE_ID_LEN; i++)
		acc |= id[i];
	return acc != 0;
}

/* PATH.lower, the second name of a layered file's lower. */
static int lower_path(const char *path, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "%s%s", path, STAGING_LOWER_SUFFIX) >=
	    cap)
		return err_set(-ENAMETOOLONG, "staging path too long");
	return 0;
}

/* A new staging file at path, opened with flags: created (O_CREAT |
 * O_EXCL) or recycled (O_TRUNC). */
static int staging_start(struct staging **out, const char *path,
			 const struct crypto_key *key, uint64_t base_size,
			 int flags)
{
	struct staging *st;
	int rc, e;

	*out = NULL;
	if (base_size > STAGING_MAX_SIZE)
		return err_set(-EFBIG,
			       "base of %llu bytes is too large to stage",
			       (unsigned long long)base_size);
	st = staging_alloc(key, path);
	if (!st)
		return err_set(-ENOMEM, "out of memory for staging file");
	st->fd = open(path, O_RDWR | O_CLOEXEC | flags, 0600);
	if (st->fd < 0) {
		e = errno;
		staging_close(st);
		return err_set(-e, "cannot %s staging file '%s': %s",
			       (flags & O_CREAT) ? "create" : "reuse", path,
			       strerror(e));
	}
	/* a fresh id even for a recycled file: the slots of its past
	 * content, should they come back, fail to authenticate */
	crypto_random(st->file_id, sizeof(st->file_id));
	st->size = base_size;
	st->base_size = base_size;
	st->base_limit = base_size;
	st->version = 2;
	rc = cipher_setup(st);
	if (rc == 0)
		rc = write_header(st);
	if (rc < 0) {
		staging_close(st);
		unlink(path);
		return rc;
	}
	*out = st;
	return 0;
}

int staging_create(struct staging **out, const char *path,
		   const struct crypto_key *key, uint64_t base_size)
{
	return staging_start(out, path, key, base_size, O_CREAT | O_EXCL);
}

int staging_recycle(struct staging **out, const char *path,
		    const struct crypto_key *key, uint64_t base_size)
{
	int rc;

	/* O_TRUNC cuts the old slots in the same call that opens: no inode
	 * to allocate, which is the point (staging_pool.h) */
	rc = staging_start(out, path, key, base_size, O_TRUNC);
	if (rc < 0)
		unlink(path);
	return rc;
}

/* Rebuild the written-block map from the sparse file's data regions, then
 * restore the invariants a crash may have broken (see the top comment). */
static int scan_slots(struct staging *st)
{
	uint8_t nonce[CRYPTO_NONCE_LEN];
	uint64_t nb = blocks_for(st->size);
	struct stat sb;
	off_t pos = HEADER_SLOT;
	int stale = 0;

	if (fstat(st->fd, &sb) < 0)
		return err_set(-errno, "cannot stat staging file: %s",
			       strerror(errno));
	while (pos < sb.st_size) {
		off_t d = lseek(st->fd, pos, SEEK_DATA), h;
		uint64_t first, last;

		if (d < 0) {
			if (errno == ENXIO)
				break;
			return err_set(-errno, "cannot scan staging file: %s",
				       strerror(errno));
		}
		h = lseek(st->fd, d, SEEK_HOLE);
		if (h < 0)
			return err_set(-errno, "cannot scan staging file: %s",
				       strerror(errno));
		if (d < (off_t)HEADER_SLOT)
			d = HEADER_SLOT;
		first = ((uint64_t)d - HEADER_SLOT) / SLOT_SIZE;
		last = ((uint64_t)h - 1 - HEADER_SLOT) / SLOT_SIZE;
		for (uint64_t b = first; b <= last && h > d; b++) {
			ssize_t r = pread_full(st->fd, nonce, sizeof(nonce),
					       (off_t)slot_off(b));

			if (r < 0)
				return err_set((int)r,
					       "cannot read staging file: %s",
					       strerror((int)-r));
			if ((size_t)r < sizeof(nonce) || nonce_is_zero(nonce))
				continue;
			if (b >= nb) {
				stale = 1;
				continue;
			}
			if (bitmap_set(st, b) < 0)
				return -ENOMEM;
		}
		pos = h;
	}
	/* Slots past the end: a write that died before its header update. */
	if (stale && ftruncate(st->fd, (off_t)slot_off(nb)) < 0)
		return err_set(-errno, "cannot trim staging file: %s",
			       strerror(errno));
	/* A written last block must hold zeros past size. */
	if (st->size % STAGING_BLOCK && is_written(st, nb - 1))
		return zero_block_tail(st, nb - 1, st->size % STAGING_BLOCK, 1);
	return 0;
}

static int open_file(struct staging **out, const char *path,
		     const struct crypto_key *key, int may_layer);

/* The lower of st, named PATH.lower: the very file st was layered over
 * (its id and its size then), itself not layered. */
static int open_lower(struct staging *st)
{
	char lp[PATH_MAX];
	int rc;

	rc = lower_path(st->path, lp, sizeof(lp));
	if (rc == 0)
		rc = open_file(&st->lower, lp, st->key, 0);
	if (rc < 0)
		return rc;
	if (memcmp(st->lower->file_id, st->lower_id, FILE_ID_LEN) ||
	    st->lower->size != st->base_size)
		return err_set(-EBADMSG,
			       "staging file '%s' is not over the file it "
			       "was made over",
			       st->path);
	return 0;
}

static int open_file(struct staging **out, const char *path,
		     const struct crypto_key *key, int may_layer)
{
	struct staging *st;
	int rc, e;

	*out = NULL;
	st = staging_alloc(key, path);
	if (!st)
		return err_set(-ENOMEM, "out of memory for staging file");
	st->fd = open(path, O_RDWR | O_CLOEXEC);
	if (st->fd < 0) {
		e = errno;
		staging_close(st);
		return err_set(-e, "cannot open staging file '%s': %s", path,
			       strerror(e));
	}
	rc = read_header(st);
	if (rc == 0)
		rc = scan_slots(st);
	if (rc == 0 && is_layered_id(st->lower_id))
		rc = may_layer ? open_lower(st) :
				 err_set(-EBADMSG,
					 "staging file '%s' is layered twice",
					 path);
	if (rc < 0) {
		staging_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

int staging_open(struct staging **out, const char *path,
		 const struct crypto_key *key)
{
	return open_file(out, path, key, 1);
}

void staging_close(struct staging *st)
{
	if (!st)
		return;
	if (st->fd >= 0)
		close(st->fd);
	staging_close(st->lower);
	free(st->path);
	blockseal_free(st->bs);
	free(st->bitmap);
	free(st->scratch);
	explicit_bzero(st->block, sizeof(st->block));
	free(st);
}

uint64_t staging_size(const struct staging *st)
{
	return st->size;
}

ssize_t staging_read(struct staging *st, void *buf, size_t n, uint64_t off,
		     staging_base_read_fn base, void *arg)
{
	uint8_t *out = buf;
	uint64_t end, pos;
	int rc;

	if (off >= st->size || n == 0)
		return 0;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	if (st->size - off < n)
		n = (size_t)(st->size - off);
	end = off + n;
	for (pos = off; pos < end;) {
		uint64_t b = pos / STAGING_BLOCK,
			 last = (end - 1) / STAGING_BLOCK;
		uint64_t r = b, seg_end;

		if (!is_written(st, b)) {
			/* One base call for the whole unwritten run. */
			while (r < last && !is_written(st, r + 1))
				r++;
			seg_end = (r + 1) * STAGING_BLOCK;
			if (seg_end > end)
				seg_end = end;
			rc = fill_from_base(st, out + (pos - off), pos,
					    (size_t)(seg_end - pos), base, arg);
			if (rc < 0)
				return rc;
			pos = seg_end;
			continue;
		}
		while (r < last && r - b + 1 < BATCH_BLOCKS &&
		       is_written(st, r + 1))
			r++;
		rc = scratch_get(st, r - b + 1);
		if (rc == 0)
			rc = read_slots(st, b, r - b + 1, st->scratch);
		if (rc < 0)
			return rc;
		for (uint64_t i = b; i <= r; i++) {
			uint64_t bs = i * STAGING_BLOCK,
				 be = bs + STAGING_BLOCK;
			uint64_t cs = bs > pos ? bs : pos;
			uint64_t ce = be < end ? be : end;
			const uint8_t *slot = st->scratch + (i - b) * SLOT_SIZE;

			if (cs == bs && ce == be) {
				rc = open_block(st, i, slot, out + (bs - off));
			} else {
				rc = open_block(st, i, slot, st->block);
				if (rc == 0)
					memcpy(out + (cs - off),
					       st->block + (cs - bs), ce - cs);
			}
			if (rc < 0)
				return rc;
		}
		pos = (r + 1) * STAGING_BLOCK;
		if (pos > end)
			pos = end;
	}
	return (ssize_t)n;
}

/* A batch failed half way: slots that were holes before must be holes
 * again, or a torn slot would later read as a corrupt block. */
static void unwind_batch(struct staging *st, uint64_t b0, uint64_t cnt,
			 const uint8_t *was_written)
{
	for (uint64_t i = 0; i < cnt; i++)
		if (!was_written[i])
			(void)fallocate(
				st->fd,
				FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)slot_off(b0 + i), (off_t)SLOT_SIZE);
}

ssize_t staging_write(struct staging *st, const void *buf, size_t n,
		      uint64_t off, staging_base_read_fn base, void *arg)
{
	const uint8_t *in = buf;
	uint8_t was[BATCH_BLOCKS];
	uint64_t end, pos;
	int rc;

	if (n == 0)
		return 0;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	if (__builtin_add_overflow(off, n, &end) || end > STAGING_MAX_SIZE)
		return err_set(-EFBIG, "write past the largest staging size");
	rc = scratch_get(st, blocks_for(end) - off / STAGING_BLOCK);
	if (rc < 0)
		return rc;
	for (pos = off; pos < end;) {
		uint64_t b0 = pos / STAGING_BLOCK;
		uint64_t bl = (end - 1) / STAGING_BLOCK;
		uint64_t chunk_end, cnt;

		if (bl - b0 >= BATCH_BLOCKS)
			bl = b0 + BATCH_BLOCKS - 1;
		cnt = bl - b0 + 1;
		chunk_end = (bl + 1) * STAGING_BLOCK;
		if (chunk_end > end)
			chunk_end = end;
		for (uint64_t i = 0; i < cnt; i++) {
			uint64_t b = b0 + i, bs = b * STAGING_BLOCK;
			uint64_t be = bs + STAGING_BLOCK;
			uint64_t ws = bs > pos ? bs : pos;
			uint64_t we = be < chunk_end ? be : chunk_end;
			uint8_t *slot = st->scratch + i * SLOT_SIZE;
			const uint8_t *plain;

			was[i] = (uint8_t)is_written(st, b);
			if (ws == bs && we == be) {
				plain = in + (bs - off);
			} else {
				/* Partial block: read-modify-write.  A block
				 * wholly past the old end is zeros already. */
				if (bs >= st->size) {
					memset(st->block, 0, STAGING_BLOCK);
				} else {
					rc = load_block(st, b, st->block, base,
							arg);
					if (rc < 0)
						goto fail;
				}
				memcpy(st->block + (ws - bs), in + (ws - off),
				       we - ws);
				plain = st->block;
			}
			rc = seal_block(st, b, plain, slot);
			if (rc < 0)
				goto fail;
		}
		rc = pwrite_full(st->fd, st->scratch, cnt * SLOT_SIZE,
				 (off_t)slot_off(b0));
		if (rc < 0) {
			unwind_batch(st, b0, cnt, was);
			err_set(rc, "cannot write staging file: %s",
				strerror(-rc));
			goto fail;
		}
		for (uint64_t i = 0; i < cnt; i++)
			if (bitmap_set(st, b0 + i) < 0) {
				rc = -ENOMEM;
				goto fail;
			}
		pos = chunk_end;
	}
	if (end > st->size) {
		st->size = end;
		rc = write_header(st);
		if (rc < 0)
			return rc;
	}
	return (ssize_t)n;
fail:
	/* Report what was written, as write(2) does; keep the size honest. */
	if (pos > off) {
		if (pos > st->size) {
			st->size = pos;
			if (write_header(st) < 0)
				return rc;
		}
		return (ssize_t)(pos - off);
	}
	return rc;
}

int staging_truncate(struct staging *st, uint64_t size)
{
	uint64_t old_size = st->size, old_limit = st->base_limit, nb;
	int rc;

	if (size > STAGING_MAX_SIZE)
		return err_set(-EFBIG, "size past the largest staging size");
	if (size == st->size)
		return 0;
	st->size = size;
	if (size < st->base_limit)
		st->base_limit = size;
	/* Header first: if we die before the slots are cut, open cuts them. */
	rc = write_header(st);
	if (rc < 0) {
		st->size = old_size;
		st->base_limit = old_limit;
		return rc;
	}
	if (size > old_size)
		return 0; /* bytes past the old end read as zero already */
	nb = blocks_for(size);
	if (size % STAGING_BLOCK && is_written(st, nb - 1)) {
		rc = zero_block_tail(st, nb - 1, size % STAGING_BLOCK, 0);
		if (rc < 0)
			return rc;
	}
	if (ftruncate(st->fd, (off_t)slot_off(nb)) < 0)
		return err_set(-errno, "cannot truncate staging file: %s",
			       strerror(errno));
	bitmap_clear_from(st, nb);
	return 0;
}

int staging_sync(struct staging *st)
{
	if (fsync(st->fd) < 0)
		return err_set(-errno, "cannot sync staging file: %s",
			       strerror(errno));
	/* a layered file is only whole with its lower and that second
	 * name, a directory entry */
	if (st->lower) {
		char dir[PATH_MAX], *slash;

		if (fsync(st->lower->fd) < 0)
			return err_set(-errno, "cannot sync staging file: %s",
				       strerror(errno));
		snprintf(dir, sizeof(dir), "%s", st->path);
		slash = strrchr(dir, '/');
		if (slash) {
			*slash = '\0';
			return fsync_dir(slash == dir ? "/" : dir);
		}
	}
	return 0;
}

int staging_is_layered(const struct staging *st)
{
	return st->lower != NULL;
}

int staging_unchanged(const struct staging *st)
{
	return st->nwritten == 0 && st->size == st->base_size &&
	       st->base_limit == st->base_size;
}

/* Copy the sealed slots [b, b + cnt) of src into dst at the same place, in
 * the kernel: no plaintext passes through here. */
static int copy_slots(struct staging *dst, struct staging *src, uint64_t b,
		      uint64_t cnt)
{
	off_t in = (off_t)slot_off(b), out = in;
	uint64_t left = cnt * SLOT_SIZE;

	while (left) {
		ssize_t r = copy_file_range(src->fd, &in, dst->fd, &out,
					    (size_t)left, 0);

		if (r < 0 && (errno == EXDEV || errno == ENOSYS ||
			      errno == EOPNOTSUPP || errno == EINVAL)) {
			uint8_t buf[64 * 1024];
			size_t want =
				left < sizeof(buf) ? (size_t)left : sizeof(buf);

			r = pread_full(src->fd, buf, want, in);
			if (r > 0) {
				int rc = pwrite_full(dst->fd, buf, (size_t)r,
						     out);
				if (rc < 0) {
					errno = -rc;
					r = -1;
				} else {
					in += r;
					out += r;
				}
			} else if (r < 0) {
				errno = (int)-r;
				r = -1;
			}
		}
		if (r < 0)
			return err_set(-errno, "cannot copy staging file: %s",
				       strerror(errno));
		if (r == 0)
			return err_set(
				-EBADMSG,
				"staging file is truncated at block %llu",
				(unsigned long long)b);
		left -= (uint64_t)r;
	}
	return 0;
}

/* A second handle on src's file (not layered), as it is now: its own
 * descriptor, its own copy of the written-block map. */
static int handle_dup(struct staging **out, struct staging *src,
		      const char *path)
{
	struct staging *st;
	size_t words = src->bitmap_words;
	int rc;

	*out = NULL;
	if (src->lower)
		return err_set(-EINVAL, "a layered staging file has no lower");
	st = staging_alloc(src->key, path);
	if (!st)
		return err_set(-ENOMEM, "out of memory for staging file");
	st->fd = fcntl(src->fd, F_DUPFD_CLOEXEC, 0);
	if (st->fd < 0) {
		int e = errno;

		staging_close(st);
		return err_set(-e, "cannot open staging file: %s", strerror(e));
	}
	if (words && !(st->bitmap = malloc(words * sizeof(*st->bitmap)))) {
		staging_close(st);
		return err_set(-ENOMEM, "out of memory for staging map");
	}
	if (words)
		memcpy(st->bitmap, src->bitmap, words * sizeof(*st->bitmap));
	st->bitmap_words = words;
	st->nwritten = src->nwritten;
	st->version = src->version;
	memcpy(st->file_id, src->file_id, FILE_ID_LEN);
	st->size = src->size;
	st->base_size = src->base_size;
	st->base_limit = src->base_limit;
	rc = cipher_setup(st);
	if (rc < 0) {
		staging_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

/* A new empty file at path for a clone or a layer: O_EXCL, never over
 * another file. */
static int new_file(struct staging **out, const char *path,
		    const struct crypto_key *key)
{
	struct staging *st = staging_alloc(key, path);
	int e;

	*out = NULL;
	if (!st)
		return err_set(-ENOMEM, "out of memory for staging file");
	st->fd = open(path, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0600);
	if (st->fd < 0) {
		e = errno;
		staging_close(st);
		return err_set(-e, "cannot create staging file '%s': %s", path,
			       strerror(e));
	}
	*out = st;
	return 0;
}

/* Give st (made at path, not yet with a header) the lower low, whose
 * file is at low_path: a second name PATH.lower for that file. */
static int attach_lower(struct staging *st, const char *low_path,
			struct staging *low)
{
	char lp[PATH_MAX];
	int rc;

	rc = lower_path(st->path, lp, sizeof(lp));
	if (rc < 0)
		return rc;
	if (link(low_path, lp) < 0)
		return err_set(-errno, "cannot name the lower of '%s': %s",
			       st->path, strerror(errno));
	rc = handle_dup(&st->lower, low, lp);
	if (rc < 0)
		unlink(lp);
	return rc;
}

/* Undo a clone or a layer that failed: the file and its lower's name. */
static void discard_new(struct staging *st)
{
	char lp[PATH_MAX];

	if (st->lower && lower_path(st->path, lp, sizeof(lp)) == 0)
		unlink(lp);
	unlink(st->path);
	staging_close(st);
}

int staging_clone(struct staging **out, const char *path, struct staging *src)
{
	struct staging *st;
	uint64_t nb = blocks_for(src->size), b = 0;
	char slp[PATH_MAX];
	int rc;

	*out = NULL;
	rc = new_file(&st, path, src->key);
	if (rc < 0)
		return rc;
	/* The same file id and slot format: the copied slots authenticate
	 * where they are, in the copy as in the original (staging.h). */
	memcpy(st->file_id, src->file_id, FILE_ID_LEN);
	memcpy(st->lower_id, src->lower_id, FILE_ID_LEN);
	st->version = src->version;
	st->size = src->size;
	st->base_size = src->base_size;
	st->base_limit = src->base_limit;
	/* over the same lower, through a name of its own */
	if (src->lower) {
		rc = lower_path(src->path, slp, sizeof(slp));
		if (rc == 0)
			rc = attach_lower(st, slp, src->lower);
	}
	if (rc == 0)
		rc = cipher_setup(st);
	while (rc == 0 && b < nb) {
		uint64_t r;

		if (!is_written(src, b)) {
			b++;
			continue;
		}
		for (r = b; r + 1 < nb && is_written(src, r + 1); r++)
			;
		rc = copy_slots(st, src, b, r - b + 1);
		for (uint64_t i = b; rc == 0 && i <= r; i++)
			rc = bitmap_set(st, i);
		b = r + 1;
	}
	if (rc == 0)
		rc = write_header(st);
	if (rc < 0) {
		discard_new(st);
		return rc;
	}
	*out = st;
	return 0;
}

int staging_layer(struct staging **out, const char *path, struct staging *src)
{
	struct staging *st;
	int rc;

	*out = NULL;
	if (src->lower)
		return err_set(-EINVAL, "staging file '%s' is layered already",
			       src->path);
	rc = new_file(&st, path, src->key);
	if (rc < 0)
		return rc;
	crypto_random(st->file_id, sizeof(st->file_id));
	memcpy(st->lower_id, src->file_id, FILE_ID_LEN);
	st->version = 2;
	st->size = src->size;
	st->base_size = src->size;
	st->base_limit = src->size;
	rc = attach_lower(st, src->path, src);
	if (rc == 0)
		rc = cipher_setup(st);
	if (rc == 0)
		rc = write_header(st);
	if (rc < 0) {
		discard_new(st);
		return rc;
	}
	*out = st;
	return 0;
}
