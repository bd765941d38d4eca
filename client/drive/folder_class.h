/*
 * A folder's confidentiality class set from the drive (setxattr
 * user.coffre.class): carried by the folder's queued MKDIR while it waits,
 * else asked of the server at once.
 */
#ifndef COFFRE_CLIENT_FOLDER_CLASS_H
#define COFFRE_CLIENT_FOLDER_CLASS_H

#include <stddef.h>

struct fs;
struct node;

/*
 * setxattr user.coffre.class on folder dir: ask the server now (admin
 * right needed: -EACCES), then show the new class.  -EINVAL for a value
 * other than public, restricted or confidential.
 */
int folder_class_set(struct fs *fs, struct node *dir, const char *value,
		     size_t size);

#endif /* COFFRE_CLIENT_FOLDER_CLASS_H */
