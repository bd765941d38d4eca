/*
 * Which document version a path of a mounted drive names: the space (the
 * mount root's user.coffre.space), the document id and current version
 * (user.coffre.doc_id, user.coffre.version) and the file holding the
 * bytes of the wanted version (the path itself for the current version,
 * DIR/.versions/NAME/vN[.EXT] for another).
 */
#ifndef COFFRE_CLIENT_DOCREF_H
#define COFFRE_CLIENT_DOCREF_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct docref {
	char space[65];
	char doc_id[33];
	uint64_t version;
	char content[PATH_MAX]; /* file with the version's bytes */
	char name[256];		/* the document's file name */
};

/*
 * Resolve path (a file on a coffre drive) at version (0: current).
 * 0, or -errno with err_set(): -ENOENT no such version, -EINVAL not a
 * document of a coffre drive.
 */
int docref_resolve(const char *path, uint64_t version, struct docref *out);

/*
 * Read the extended attribute name of path (a coffre control or metadata
 * attribute) as a string into buf, len with its NUL.  0, or -errno with buf
 * empty; no message set.
 */
int docref_xattr(const char *path, const char *name, char *buf, size_t len);

/* "/v1/spaces/S/docs/D/versions/N" + suffix into out.  0 or -ENAMETOOLONG. */
int docref_api_path(const struct docref *r, const char *suffix, char *out,
		    size_t outlen);

#endif /* COFFRE_CLIENT_DOCREF_H */
