/*
 * Growable byte buffer with a hard cap, in the spirit of curl's dynbuf.
 * Every buffer fed from outside has a cap; growth past it fails with -E2BIG.
 * The content is always NUL-terminated (the NUL is not counted in len).
 */
#ifndef COFFRE_COMMON_BUF_H
#define COFFRE_COMMON_BUF_H

#include <stddef.h>
#include "common/err.h"

struct buf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t alloc;
	size_t cap; /* maximum len */
};

void buf_init(struct buf *b, size_t cap);
void buf_release(struct buf *b); /* frees; buf stays usable (empty) */
void buf_reset(struct buf *b);	 /* len = 0, keeps memory */
int buf_append(struct buf *b, const void *p, size_t n); /* 0, -E2BIG, -ENOMEM */
int buf_appendf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Hand the data to the caller (free() it); the buffer becomes empty.
 * An untouched buffer gives a malloc'd ""; NULL only when out of memory. */
char *buf_detach(struct buf *b, size_t *len);

#endif /* COFFRE_COMMON_BUF_H */
