/*
 * The rule of docs/protocol.md#access over a path: the caller's grants and
 * the walk from "/" down (policy_descend) that every rights check, listing
 * and batch check goes through.  No I/O: the classes come from a callback
 * over whatever state is in question (the head, a batch half applied).
 */
#include "server/access.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/path.h"

void access_grants_release(struct access_grants *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->paths[i]);
	free(g->paths);
	free(g->levels);
	memset(g, 0, sizeof(*g));
}

/* 1 when a is b or an ancestor of b (both valid absolute paths). */
static int is_within(const char *a, const char *b)
{
	size_t n = strlen(a);

	if (!strcmp(a, "/"))
		return 1;
	return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '/');
}

enum policy_grant access_grants_level(const struct access_grants *g,
				      const char *path)
{
	enum policy_grant best = POLICY_GRANT_NONE;

	for (size_t i = 0; i < g->n; i++)
		if (is_within(g->paths[i], path) && g->levels[i] > best)
			best = g->levels[i];
	return best;
}

int access_grants_below(const struct access_grants *g, const char *path)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->paths[i], path) && is_within(path, g->paths[i]))
			return 1;
	return 0;
}

enum policy_grant access_grants_exact(const struct access_grants *g,
				      const char *path)
{
	enum policy_grant best = POLICY_GRANT_NONE;

	for (size_t i = 0; g && i < g->n; i++)
		if (!strcmp(g->paths[i], path) && g->levels[i] > best)
			best = g->levels[i];
	return best;
}

int access_place(const struct access_grants *g, const char *folder,
		 access_class_fn own_class, void *arg, struct policy_at *out)
{
	char walk[PATH_MAX_LEN + 1];
	enum folder_class own;
	struct policy_at at;
	const char *p;
	int rc;

	rc = own_class(arg, "/", &own);
	if (rc < 0)
		return rc;
	policy_at_root(own, access_grants_exact(g, "/"), &at);
	/* Each proper prefix "/A", "/A/B", ... then folder itself. */
	for (p = folder; p[0] && p[1];) {
		const char *end = strchr(p + 1, '/');
		size_t n = end ? (size_t)(end - folder) : strlen(folder);

		if (n >= sizeof(walk))
			return err_set(-ENAMETOOLONG, "path too long");
		memcpy(walk, folder, n);
		walk[n] = '\0';
		rc = own_class(arg, walk, &own);
		if (rc < 0)
			return rc;
		policy_descend(&at, own, access_grants_exact(g, walk), &at);
		if (!end)
			break;
		p = end;
	}
	*out = at;
	return 0;
}

unsigned access_rights_at(enum policy_role role, int admin,
			  const struct access_grants *g, const char *path,
			  const struct policy_at *at, int *visible)
{
	struct policy_input in = {
		.role = role,
		.admin_delegated = admin,
		.class = at->class,
		.grant = at->grant,
	};
	unsigned r = policy_rights(&in);

	if (visible)
		*visible = (r & POLICY_BIT(AUTH_READ)) || !strcmp(path, "/") ||
			   (g && access_grants_below(g, path));
	return r;
}

int access_version_open(enum policy_role role, int sealed,
			const struct policy_at *place)
{
	if (role == POLICY_ROLE_OWNER)
		return 1;
	if (!place)
		return 0; /* filed nowhere: the owners' alone */
	/* Sealed: readable only where an owner chose the readers, inside a
	 * confidential folder; anywhere else only once declassified. */
	return !sealed || place->class == FOLDER_CLASS_CONFIDENTIAL;
}
