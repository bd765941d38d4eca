/*
 * Filing plans (common/plan.c), as an operator's file given to `coffred
 * space create --plan FILE`.  What parses keeps the plan's rules: at most
 * PLAN_MAX_FOLDERS valid paths other than "/", each named once, each
 * folder's parent "/" or named before it; a refused text leaves the plan
 * empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/path.h"
#include "common/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void plan_rules(const struct plan *p)
{
	if (p->n > PLAN_MAX_FOLDERS)
		abort();
	for (size_t i = 0; i < p->n; i++) {
		char *parent = NULL, *name = NULL;
		int seen = 0;

		if (path_validate(p->folders[i].path) < 0 ||
		    !strcmp(p->folders[i].path, "/") ||
		    p->folders[i].class > FOLDER_CLASS_CONFIDENTIAL)
			abort();
		if (path_split(p->folders[i].path, &parent, &name) < 0)
			abort();
		seen = !strcmp(parent, "/");
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(p->folders[j].path, p->folders[i].path))
				abort();
			if (!strcmp(p->folders[j].path, parent))
				seen = 1;
		}
		if (!seen)
			abort();
		free(parent);
		free(name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct plan p = { 0 };

	if (plan_parse(&p, (const char *)data, size) == 0)
		plan_rules(&p);
	else if (p.n || p.folders)
		abort();
	plan_release(&p);
	return 0;
}
