/* A growable list of short names (namev.h). */
#include "common/namev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int namev_push(struct namev *nv, const char *s)
{
	if (nv->n == nv->cap) {
		size_t cap = nv->cap ? 2 * nv->cap : 16;
		void *p = realloc(nv->v, cap * sizeof(*nv->v));

		if (!p)
			return -ENOMEM;
		nv->v = p;
		nv->cap = cap;
	}
	snprintf(nv->v[nv->n++], NAMEV_LEN, "%s", s);
	return 0;
}

void namev_release(struct namev *nv)
{
	free(nv->v);
	nv->v = NULL;
	nv->n = nv->cap = 0;
}
