/* Filing plans: see plan.h. */
#include "common/plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/path.h"

#define PLAN_MAGIC "coffre-plan 1"

void plan_release(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->folders[i].path);
	free(p->folders);
	p->folders = NULL;
	p->n = p->cap = 0;
}

/* The index of folder path among the first n, or -1. */
static long plan_find(const struct plan *p, const char *path)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->folders[i].path, path))
			return (long)i;
	return -1;
}

/* One folder line, "CLASS /PATH", NUL-terminated, into p. */
static int plan_line(struct plan *p, char *line, size_t lineno)
{
	char *sp = strchr(line, ' '), *parent = NULL, *name = NULL;
	enum folder_class c;
	int rc;

	if (!sp)
		return err_set(-EBADMSG,
			       "plan line %zu: expected 'CLASS /PATH'", lineno);
	*sp = '\0';
	if (folder_class_parse(line, &c) < 0)
		return err_set(-EBADMSG,
			       "plan line %zu: a class is public, restricted "
			       "or confidential",
			       lineno);
	if (path_validate(sp + 1) < 0 || !strcmp(sp + 1, "/"))
		return err_set(-EBADMSG, "plan line %zu: bad folder path: %s",
			       lineno, err_msg());
	if (plan_find(p, sp + 1) >= 0)
		return err_set(-EBADMSG, "plan line %zu: '%s' named twice",
			       lineno, sp + 1);
	rc = path_split(sp + 1, &parent, &name);
	if (rc == 0 && strcmp(parent, "/") && plan_find(p, parent) < 0)
		rc = err_set(-EBADMSG,
			     "plan line %zu: the parent of '%s' is not named "
			     "before it",
			     lineno, sp + 1);
	free(parent);
	free(name);
	if (rc < 0)
		return rc;
	if (p->n == PLAN_MAX_FOLDERS)
		return err_set(-E2BIG, "plan line %zu: more than %d folders",
			       lineno, PLAN_MAX_FOLDERS);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct plan_folder *f = realloc(p->folders, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		p->folders = f;
		p->cap = cap;
	}
	p->folders[p->n].path = strdup(sp + 1);
	if (!p->folders[p->n].path)
		return -ENOMEM;
	p->folders[p->n++].class = c;
	return 0;
}

int plan_parse(struct plan *p, const char *text, size_t len)
{
	const char *at = text, *end = text + len;
	size_t lineno = 0;
	int magic = 0, rc = 0;
	char *line = NULL;

	plan_release(p);
	if (len > PLAN_MAX_BYTES)
		return err_set(-E2BIG, "a plan is at most %u bytes",
			       PLAN_MAX_BYTES);
	while (rc == 0 && at < end) {
		const char *nl = memchr(at, '\n', (size_t)(end - at));
		size_t n = nl ? (size_t)(nl - at) : (size_t)(end - at);

		lineno++;
		free(line);
		line = malloc(n + 1);
		if (!line) {
			rc = -ENOMEM;
			break;
		}
		memcpy(line, at, n);
		line[n] = '\0';
		at += n + (nl ? 1 : 0);
		if (strlen(line) != n)
			rc = err_set(-EBADMSG, "plan line %zu: a NUL byte",
				     lineno);
		else if (n == 0 || line[0] == '#')
			continue;
		else if (!magic)
			rc = strcmp(line, PLAN_MAGIC) ?
				     err_set(-EBADMSG,
					     "plan line %zu: expected '%s'",
					     lineno, PLAN_MAGIC) :
				     (magic = 1, 0);
		else
			rc = plan_line(p, line, lineno);
	}
	free(line);
	if (rc == 0 && !magic)
		rc = err_set(-EBADMSG, "not a plan: no '%s' line", PLAN_MAGIC);
	if (rc < 0)
		plan_release(p);
	return rc;
}
