/*
 * From a path on a mounted drive to the document version it names, using
 * only what the drive itself exposes: extended attributes and the
 * read-only .versions folders.  So the provable-history commands work on
 * any mounted coffre drive without talking to the mount process.
 */
#include "client/cmd/docref.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "common/err.h"

int docref_xattr(const char *path, const char *name, char *buf, size_t len)
{
	ssize_t n = getxattr(path, name, buf, len - 1);

	if (n < 0) {
		buf[0] = '\0';
		return -errno;
	}
	buf[n] = '\0';
	return 0;
}

/* The space of the drive holding dir: walk up to the mount root. */
static int find_space(const char *dir, char *space, size_t len)
{
	char cur[PATH_MAX];
	char *slash;

	snprintf(cur, sizeof(cur), "%s", dir);
	for (;;) {
		if (docref_xattr(cur, "user.coffre.space", space, len) == 0 &&
		    *space)
			return 0;
		slash = strrchr(cur, '/');
		if (!slash || slash == cur)
			break;
		*slash = '\0';
	}
	if (docref_xattr("/", "user.coffre.space", space, len) == 0 && *space)
		return 0;
	return err_set(-EINVAL, "'%s' is not on a coffre drive", dir);
}

/* DIR/.versions/NAME/vN or vN.EXT */
static int find_version(const char *dir, const char *name, uint64_t version,
			char *out, size_t outlen)
{
	char vdir[PATH_MAX], plain[32];
	struct dirent *d;
	DIR *dp;
	int found = 0;

	if ((size_t)snprintf(vdir, sizeof(vdir), "%s/.versions/%s", dir,
			     name) >= sizeof(vdir))
		return err_set(-ENAMETOOLONG, "path too long");
	snprintf(plain, sizeof(plain), "v%llu", (unsigned long long)version);
	dp = opendir(vdir);
	if (!dp)
		return err_set(-ENOENT, "no versions of '%s': %s", name,
			       strerror(errno));
	while (!found && (d = readdir(dp))) {
		size_t n = strlen(plain);

		if (!strncmp(d->d_name, plain, n) &&
		    (d->d_name[n] == '\0' || d->d_name[n] == '.')) {
			found = (size_t)snprintf(out, outlen, "%s/%s", vdir,
						 d->d_name) < outlen;
		}
	}
	closedir(dp);
	if (!found)
		return err_set(-ENOENT, "no version %llu of '%s'",
			       (unsigned long long)version, name);
	return 0;
}

int docref_resolve(const char *path, uint64_t version, struct docref *out)
{
	char real[PATH_MAX], ver[32], *slash, *end;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!realpath(path, real))
		return err_set(-errno, "cannot resolve '%s': %s", path,
			       strerror(errno));
	if (docref_xattr(real, "user.coffre.doc_id", out->doc_id,
			 sizeof(out->doc_id)) < 0 ||
	    strlen(out->doc_id) != 32 ||
	    docref_xattr(real, "user.coffre.version", ver, sizeof(ver)) < 0)
		return err_set(
			-EINVAL,
			"'%s' is not a synced document of a coffre drive",
			path);
	errno = 0;
	out->version = strtoull(ver, &end, 10);
	if (errno || end == ver || *end || out->version == 0)
		return err_set(-EINVAL, "'%s' reports a bad version '%s'", path,
			       ver);
	slash = strrchr(real, '/');
	snprintf(out->name, sizeof(out->name), "%s", slash + 1);
	*slash = '\0';
	rc = find_space(*real ? real : "/", out->space, sizeof(out->space));
	if (rc < 0)
		return rc;
	if (version == 0 || version == out->version) {
		if ((size_t)snprintf(out->content, sizeof(out->content),
				     "%s/%s", real,
				     out->name) >= sizeof(out->content))
			return err_set(-ENAMETOOLONG, "path too long");
		return 0;
	}
	if (version > out->version)
		return err_set(-ENOENT,
			       "no version %llu of '%s' (current %llu)",
			       (unsigned long long)version, path,
			       (unsigned long long)out->version);
	out->version = version;
	return find_version(*real ? real : "/", out->name, version,
			    out->content, sizeof(out->content));
}

int docref_api_path(const struct docref *r, const char *suffix, char *out,
		    size_t outlen)
{
	if ((size_t)snprintf(out, outlen,
			     "/v1/spaces/%s/docs/%s/versions/%llu%s", r->space,
			     r->doc_id, (unsigned long long)r->version,
			     suffix ? suffix : "") >= outlen)
		return err_set(-ENAMETOOLONG, "request path too long");
	return 0;
}
