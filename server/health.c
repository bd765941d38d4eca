/*
 * GET /healthz.  A node behind a load balancer is taken out of rotation
 * when it cannot reach what every request needs, so the probes touch each
 * store for real (a write where the server writes, a read where it reads)
 * instead of answering from memory.  They are cheap enough for a check
 * every second or two: one small file, one directory entry, one indexed
 * lookup.
 */
#include "server/health.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "server/chunk_backend.h"
#include "server/http.h"
#include "server/index.h"
#include "server/server.h"
#include "server/spaces.h"

/* The data directory takes a write: a file made, synced and removed. */
static int probe_datadir(const char *datadir)
{
	char path[PATH_MAX];
	int fd, e, rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/.healthz-XXXXXX",
			     datadir) >= sizeof(path))
		return err_set(-ENAMETOOLONG, "data directory path too long");
	fd = mkstemp(path);
	if (fd < 0) {
		e = errno;
		return err_set(-e, "cannot create a file in '%s': %s", datadir,
			       strerror(e));
	}
	if (write(fd, "ok\n", 3) != 3 || fsync(fd) < 0) {
		e = errno ? errno : EIO;
		rc = err_set(-e, "cannot write '%s': %s", path, strerror(e));
	}
	close(fd);
	if (unlink(path) < 0 && !rc) {
		e = errno;
		rc = err_set(-e, "cannot remove '%s': %s", path, strerror(e));
	}
	return rc;
}

/*
 * Each space's ledger (and its chunk store, by default) lives under the
 * spaces folder: it must open and list.
 */
static int probe_spaces(const char *datadir)
{
	char path[PATH_MAX];
	DIR *d;
	int e;

	if ((size_t)snprintf(path, sizeof(path), "%s/" SPACES_DIR_NAME,
			     datadir) >= sizeof(path))
		return err_set(-ENAMETOOLONG, "data directory path too long");
	d = opendir(path);
	if (!d) {
		e = errno;
		return err_set(-e, "cannot open '%s': %s", path, strerror(e));
	}
	errno = 0;
	if (!readdir(d) && errno) {
		e = errno;
		closedir(d);
		return err_set(-e, "cannot read '%s': %s", path, strerror(e));
	}
	closedir(d);
	return 0;
}

static int first_name(const char *name, void *arg)
{
	return 1; /* one is enough: the bucket answered */
}

/*
 * Chunks in an S3 bucket: a listing under a prefix no space can have
 * (".healthz/": space names never start with a dot).  A missing bucket,
 * refused credentials or an unreachable store is an error; an empty
 * answer is an answer.  A HEAD would not do: S3 answers 404 alike for a
 * missing object and a missing bucket.
 */
static int probe_s3(struct server *srv)
{
	struct chunk_backend *be = NULL;
	int rc;

	if (!srv->cfg.chunks[0])
		return 0;
	rc = space_chunk_s3(&be, &srv->cfg, srv->datadir, ".healthz");
	if (rc == 0) {
		rc = be->list(be->state, first_name, NULL);
		if (rc > 0)
			rc = 0;
	}
	chunk_backend_free(be);
	return rc;
}

/* A lookup through the index: any answer, found or not, is an answer. */
static int probe_index(struct index *ix)
{
	int rc = index_user_exists(ix, "healthz");

	return rc < 0 ? rc : 0;
}

int health_check(struct server *srv, const char **what)
{
	int rc;

	*what = "data directory";
	rc = probe_datadir(srv->datadir);
	if (rc < 0)
		return rc;
	*what = "chunk store";
	rc = probe_spaces(srv->datadir);
	if (rc == 0)
		rc = probe_s3(srv);
	if (rc < 0)
		return rc;
	*what = "index";
	rc = probe_index(srv->ix);
	if (rc < 0)
		return rc;
	*what = NULL;
	return 0;
}

int api_healthz(struct http_req *req)
{
	const char *what;
	char *body;
	int rc;

	rc = health_check(req->srv, &what);
	if (!rc) {
		body = strdup("ok\n");
		return body ? http_reply_bytes(req, 200, body, 3,
					       "text/plain") :
			      -ENOMEM;
	}
	/* The reason goes to the log: the caller is not authenticated, so
	 * the body names the store and nothing of its paths. */
	log_error("healthz: %s: %s", what, err_msg());
	if (asprintf(&body, "unavailable: %s\n", what) < 0)
		return -ENOMEM;
	return http_reply_bytes(req, 503, body, strlen(body), "text/plain");
}
