/*
 * A growable list of short names (logins, space names, chunk names: each
 * at most NAMEV_LEN - 1 bytes), for the callbacks that collect rows before
 * the caller acts on them: acting inside a listing's callback would change
 * what is being listed.
 */
#ifndef COFFRE_COMMON_NAMEV_H
#define COFFRE_COMMON_NAMEV_H

#include <stddef.h>

#define NAMEV_LEN 65

struct namev {
	char (*v)[NAMEV_LEN];
	size_t n, cap;
};

/* Append s (cut at NAMEV_LEN - 1 bytes: the callers' names fit).  0 or
 * -ENOMEM. */
int namev_push(struct namev *nv, const char *s);
void namev_release(struct namev *nv);

#endif /* COFFRE_COMMON_NAMEV_H */
