/*
 * A filing plan: the folders a new space starts with, and their classes.
 *
 * Text, UTF-8, one folder a line, in creation order (a folder's parent
 * comes before it):
 *
 *   # comment
 *   coffre-plan 1
 *   restricted /Banque
 *   confidential /Banque/Coffre
 *
 * The first line that is neither blank nor a comment is "coffre-plan 1";
 * every other is a class (public, restricted or confidential), one space,
 * and a space path (common/path.h) other than "/", whose parent is "/" or a
 * folder named on an earlier line, named once.  At most PLAN_MAX_FOLDERS
 * folders and PLAN_MAX_BYTES of text: a plan is data an operator may
 * write, so the parser is bounded and refuses (with the line's number)
 * anything else, changing nothing.
 */
#ifndef COFFRE_COMMON_PLAN_H
#define COFFRE_COMMON_PLAN_H

#include <stddef.h>

#include "common/manifest.h"

#define PLAN_MAX_FOLDERS 1000
#define PLAN_MAX_BYTES	 (256u * 1024u)

struct plan_folder {
	char *path;
	enum folder_class class;
};

struct plan {
	struct plan_folder *folders;
	size_t n, cap;
};

/* Parse len bytes of text into p (released first): 0, or -EBADMSG /
 * -E2BIG / -ENOMEM with err_set() naming the line; p empty on error. */
int plan_parse(struct plan *p, const char *text, size_t len);
void plan_release(struct plan *p);

#endif /* COFFRE_COMMON_PLAN_H */
