/*
 * FastCDC content-defined chunking with normalized chunking (Xia et al.,
 * USENIX ATC 2016).
 *
 * A gear hash rolls over the data: h = (h << 1) + gear[byte].  Bit k of h
 * depends on the last k + 1 bytes only, so the masks test the top bits,
 * which see a 64-byte window.  No cut is looked for before CHUNK_MIN (those
 * bytes are skipped, not hashed); between CHUNK_MIN and CHUNK_AVG a harder
 * mask (two more bits than log2(AVG)) makes early cuts rare, after CHUNK_AVG
 * an easier one (two fewer bits) makes a cut soon likely; CHUNK_MAX forces a
 * cut.  This squeezes chunk sizes around the average, which keeps dedup good
 * and the size distribution narrow.  On random data the mean comes out near
 * 1.15 MiB: about 17% of chunks end between MIN and AVG (around 0.6 MiB),
 * the rest about 256 KiB past AVG.
 *
 * A cut at i depends only on bytes [0, i), never on how many bytes follow,
 * so feeding a stream in pieces gives the same cuts as feeding it whole.
 */
#include "common/chunker.h"

#include <string.h>

#include "common/hash.h"
#include "common/banned.h"

/* log2(CHUNK_AVG) = 20: 22 bits before the average, 18 after. */
#define MASK_HARD (~0ull << (64 - 22))
#define MASK_EASY (~0ull << (64 - 18))

void chunker_init(struct chunker *c, const uint8_t seed[CHUNK_SEED_LEN])
{
	uint8_t in[CHUNK_SEED_LEN + 4];
	struct obj_id d;

	/* gear[i] = first 8 bytes, little-endian, of SHA-256(seed || le32(i)). */
	memcpy(in, seed, CHUNK_SEED_LEN);
	for (uint32_t i = 0; i < 256; i++) {
		uint64_t w = 0;

		in[CHUNK_SEED_LEN + 0] = (uint8_t)i;
		in[CHUNK_SEED_LEN + 1] = (uint8_t)(i >> 8);
		in[CHUNK_SEED_LEN + 2] = (uint8_t)(i >> 16);
		in[CHUNK_SEED_LEN + 3] = (uint8_t)(i >> 24);
		hash_buf(&d, in, sizeof(in));
		for (int b = 7; b >= 0; b--)
			w = w << 8 | d.b[b];
		c->gear[i] = w;
	}
}

size_t chunker_next(const struct chunker *c, const uint8_t *buf, size_t n,
		    int eof)
{
	const uint64_t *gear = c->gear;
	size_t i, end, normal;
	uint64_t h = 0;

	if (n <= CHUNK_MIN)
		return eof ? n : 0;
	end = n < CHUNK_MAX ? n : CHUNK_MAX;
	normal = end < CHUNK_AVG ? end : CHUNK_AVG;

	for (i = CHUNK_MIN; i < normal; i++) {
		h = (h << 1) + gear[buf[i]];
		if (!(h & MASK_HARD))
			return i + 1;
	}
	for (; i < end; i++) {
		h = (h << 1) + gear[buf[i]];
		if (!(h & MASK_EASY))
			return i + 1;
	}
	if (end == CHUNK_MAX)
		return CHUNK_MAX;
	return eof ? n : 0;
}
