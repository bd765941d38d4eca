/*
 * Invitations in the index (see invite.h), through the index backend's
 * operations (index_backend.h).
 */
#include "server/invite.h"

#include "server/index_backend.h"

int invite_put(struct index *ix, const char *space, const char *login,
	       const char *role, const char *by, int64_t now)
{
	void *s;

	return index_ops_of(ix, &s)->invite_put(s, space, login, role, by, now,
						INVITE_PER_SPACE_MAX);
}

int invite_get(struct index *ix, const char *space, const char *login,
	       char *role, size_t rolelen, char *by, size_t bylen)
{
	void *s;

	return index_ops_of(ix, &s)->invite_get(s, space, login, role, rolelen,
						by, bylen);
}

int invite_drop(struct index *ix, const char *space, const char *login)
{
	void *s;

	return index_ops_of(ix, &s)->invite_drop(s, space, login);
}

int invite_list(struct index *ix, const char *space, const char *login,
		invite_cb cb, void *arg)
{
	void *s;

	return index_ops_of(ix, &s)->invite_list(s, space, login, cb, arg);
}
