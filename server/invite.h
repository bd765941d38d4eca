/*
 * Invitations to a space, in the index (table invitations).  Adding
 * someone who is not yet a member makes an invitation, whatever the login
 * (an account by that name need not exist: the inviter learns nothing
 * about which logins exist); the person joins only by accepting it.
 *
 * Thread-safety: as the index.
 */
#ifndef COFFRE_SERVER_INVITE_H
#define COFFRE_SERVER_INVITE_H

#include <stddef.h>
#include <stdint.h>

struct index;

#define INVITE_PER_SPACE_MAX 1000

/*
 * Invite login into space as role, by, at now (a new invitation replaces
 * the old one).  -E2BIG when space holds INVITE_PER_SPACE_MAX pending.
 */
int invite_put(struct index *ix, const char *space, const char *login,
	       const char *role, const char *by, int64_t now);

/*
 * The role login is invited to in space, and who invited them (by may be
 * NULL); -ENOENT when there is no invitation.
 */
int invite_get(struct index *ix, const char *space, const char *login,
	       char *role, size_t rolelen, char *by, size_t bylen);

/* Withdraw or decline; -ENOENT when there was none. */
int invite_drop(struct index *ix, const char *space, const char *login);

struct invite {
	const char *space, *login, *role, *by;
	int64_t at;
};
typedef int (*invite_cb)(const struct invite *inv, void *arg);

/* Pending invitations of login (space NULL) or of space (login NULL). */
int invite_list(struct index *ix, const char *space, const char *login,
		invite_cb cb, void *arg);

#endif /* COFFRE_SERVER_INVITE_H */
