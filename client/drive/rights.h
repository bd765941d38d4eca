/*
 * The caller's rights as the server's listings state them (the "rights"
 * of each folder entry and of the listed folder, docs/protocol.md), so the
 * drive answers EACCES at once for what the server would refuse, instead
 * of queuing an operation that can only fail later.  The server still
 * checks every request; where the drive does not know, it lets the
 * operation through.
 */
#ifndef COFFRE_CLIENT_RIGHTS_H
#define COFFRE_CLIENT_RIGHTS_H

#include <stddef.h>

#include <jansson.h>

struct fs;
struct node;

#define RIGHTS_READ	0x1u
#define RIGHTS_DEPOSIT	0x2u
#define RIGHTS_ORGANIZE 0x4u
#define RIGHTS_ADMIN	0x8u

/* The mask of a "rights" array; *known = 0 when arr is no array. */
unsigned rights_parse(json_t *arr, int *known);

/* The root folder's rights, from its own listing. */
void rights_root_set(struct fs *fs, unsigned mask);

/*
 * May the caller use right in folder dir (for a document: its folder)?
 * 0, or -EACCES when the last listing said no.  Takes fs->lock.
 */
int rights_check(struct fs *fs, struct node *dir, unsigned right);

#endif /* COFFRE_CLIENT_RIGHTS_H */
