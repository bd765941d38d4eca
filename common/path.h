/*
 * Name and path validation, the same rules on client and server.
 *
 * A name (one path component) is valid when it is 1..255 bytes of valid
 * UTF-8 (no overlong forms, no surrogates), is not "." or "..", and holds no
 * '/', no NUL and no control character below 0x20 or 0x7f.  Names reserved by
 * coffre are refused where a user would create them: ".coffre-folder" in any
 * folder and ".versions" (the virtual versions folder).
 *
 * A space path is "/" or "/" followed by valid names joined by single '/',
 * no trailing '/', at most PATH_MAX_LEN bytes and PATH_MAX_DEPTH components.
 */
#ifndef COFFRE_COMMON_PATH_H
#define COFFRE_COMMON_PATH_H

#include <stddef.h>

#define NAME_MAX_LEN   255
#define PATH_MAX_LEN   4096
#define PATH_MAX_DEPTH 64

/* 0, or -EINVAL / -ENAMETOOLONG with err_set() saying why. */
int name_validate(const char *name);
/* Like name_validate, and also refuses the reserved names. */
int name_validate_user(const char *name);
/* Validate a space path as described above (reserved names refused). */
int path_validate(const char *path);
/* Valid login or space name: [a-z0-9][a-z0-9._-]{0,63}. */
int ident_validate(const char *s);

/*
 * Split a valid path into parent and last name (both malloc'd).  "/a" gives
 * "/" and "a".  -EINVAL for "/".
 */
int path_split(const char *path, char **parent, char **name);
/* Join parent path and name into a new malloc'd path. */
char *path_join(const char *parent, const char *name);

#endif /* COFFRE_COMMON_PATH_H */
