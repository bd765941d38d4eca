/*
 * Growable byte buffer with a hard cap.  Growth doubles the allocation (so
 * appends are amortised O(1)) but never lets len exceed cap; an append that
 * would is refused whole and leaves the buffer as it was.
 */
#include "common/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

void buf_init(struct buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Make room for extra more bytes plus the NUL.  0, -E2BIG or -ENOMEM. */
static int buf_grow(struct buf *b, size_t extra)
{
	size_t need, want;
	char *p;

	if (__builtin_add_overflow(b->len, extra, &need) || need > b->cap)
		return err_set(-E2BIG, "buffer over its limit of %zu bytes",
			       b->cap);
	need++; /* the NUL */
	if (need <= b->alloc)
		return 0;
	want = b->alloc ? b->alloc : 64;
	while (want < need) {
		if (__builtin_mul_overflow(want, 2, &want)) {
			want = need;
			break;
		}
	}
	/* Never allocate far past what the cap can ever use. */
	if (b->cap < SIZE_MAX && want > b->cap + 1)
		want = b->cap + 1;
	if (want < need)
		want = need;
	p = realloc(b->data, want);
	if (!p)
		return err_set(-ENOMEM,
			       "out of memory growing a buffer to %zu bytes",
			       want);
	b->data = p;
	b->alloc = want;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int rc = buf_grow(b, n);

	if (rc < 0)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	/* First try in the room we have; grow and retry only when needed. */
	rc = buf_grow(b, 0);
	if (rc < 0)
		return rc;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->alloc - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		return err_set(-EINVAL, "bad format string");
	}
	if ((size_t)n < b->alloc - b->len) {
		if ((size_t)n > b->cap - b->len) {
			b->data[b->len] = '\0';
			return err_set(-E2BIG,
				       "buffer over its limit of %zu bytes",
				       b->cap);
		}
		b->len += (size_t)n;
		return 0;
	}
	b->data[b->len] = '\0';
	rc = buf_grow(b, (size_t)n);
	if (rc < 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->alloc - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p = b->data;

	/* An untouched buffer still hands out a valid empty string. */
	if (!p) {
		p = malloc(1);
		if (!p) {
			err_set(-ENOMEM, "out of memory");
			return NULL;
		}
		p[0] = '\0';
	}
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}
