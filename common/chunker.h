/*
 * Content-defined chunking, FastCDC style (gear rolling hash with normalized
 * chunking).  Pure computation: bytes in, cut points out, no I/O.
 *
 * The gear table is derived from a 32-byte seed, so the same content gives
 * the same chunks within one space (dedup) but chunk sizes reveal nothing
 * across spaces.  The seed of a space is served by coffred (chunk_seed).
 */
#ifndef COFFRE_COMMON_CHUNKER_H
#define COFFRE_COMMON_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define CHUNK_MIN      (256u * 1024u)
#define CHUNK_AVG      (1024u * 1024u)
#define CHUNK_MAX      (4u * 1024u * 1024u)
#define CHUNK_SEED_LEN 32

struct chunker {
	uint64_t gear[256];
};

/* Derive the gear table from seed (deterministic). */
void chunker_init(struct chunker *c, const uint8_t seed[CHUNK_SEED_LEN]);

/*
 * Length of the chunk that starts at buf[0], given n bytes of data.
 * Returns 0 when no cut can be decided yet (n < CHUNK_MAX and !eof): the
 * caller reads more and calls again with the same start.  With eof set, the
 * rest is cut at the latest at n.  Never returns more than CHUNK_MAX or n.
 * Returns 0 for n == 0.
 */
size_t chunker_next(const struct chunker *c, const uint8_t *buf, size_t n,
		    int eof);

#endif /* COFFRE_COMMON_CHUNKER_H */
