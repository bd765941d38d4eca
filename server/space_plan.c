/* A new space's filing plan: see space_plan.h. */
#include "server/space_plan.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"

/* Set by server/meson.build; a build without them looks in the env only. */
#ifndef COFFRE_PLAN_DIR
#define COFFRE_PLAN_DIR ""
#endif
#ifndef COFFRE_PLAN_SRC_DIR
#define COFFRE_PLAN_SRC_DIR ""
#endif

/* The file of the kind's plan in the first directory that has it. */
static int default_plan_path(const char *kind, char *path, size_t size)
{
	const char *env = getenv("COFFRE_PLAN_DIR");
	const char *dirs[] = { env && *env ? env : NULL, COFFRE_PLAN_DIR,
			       COFFRE_PLAN_SRC_DIR };
	struct stat st;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (!dirs[i] || !*dirs[i])
			continue;
		if ((size_t)snprintf(path, size, "%s/%s.plan", dirs[i], kind) >=
		    size)
			return err_set(-ENAMETOOLONG,
				       "plan directory too long");
		if (stat(path, &st) == 0)
			return 0;
		/* an operator's directory that lacks the kind is a mistake */
		if (i == 0)
			return err_set(-ENOENT,
				       "no filing plan '%s' (COFFRE_PLAN_DIR)",
				       path);
	}
	return err_set(-ENOENT,
		       "no filing plan for a %s space is installed (%s); "
		       "--plan none makes the space without one",
		       kind, COFFRE_PLAN_DIR);
}

int space_plan_load(const char *spec, const char *kind, struct plan *p)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	int rc;

	plan_release(p);
	if (spec && !strcmp(spec, "none"))
		return 0;
	if (!spec || !strcmp(spec, "default"))
		rc = default_plan_path(kind, path, sizeof(path));
	else
		rc = (size_t)snprintf(path, sizeof(path), "%s", spec) >=
				     sizeof(path) ?
			     err_set(-ENAMETOOLONG, "plan file name too long") :
			     0;
	if (rc < 0)
		return rc;
	rc = file_read_all(path, PLAN_MAX_BYTES, &text, &len);
	if (rc < 0)
		return rc;
	rc = plan_parse(p, text, len);
	free(text);
	if (rc < 0)
		return err_set(rc, "%s: %s", path, err_msg());
	return 0;
}

int space_plan_apply(struct ledger *lg, const char *space, const char *login,
		     const char *kind, const struct plan *p)
{
	struct ledger_op *ops;
	struct ledger_result *res;
	char head[GIT_OID_HEX_LEN + 1], client[64];
	size_t failed = 0;
	int rc;

	if (!p->n)
		return 0;
	ops = calloc(p->n, sizeof(*ops));
	res = calloc(p->n, sizeof(*res));
	if (!ops || !res) {
		free(ops);
		free(res);
		return err_set(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < p->n; i++) {
		ops[i].kind = LEDGER_OP_MKDIR;
		ops[i].path = p->folders[i].path;
		ops[i].class = p->folders[i].class;
	}
	snprintf(client, sizeof(client), "coffred filing plan %s", kind);
	/* folders only: no chunk store is read */
	rc = ledger_apply(lg, NULL, space, login, client, ops, p->n, res,
			  &failed, head);
	if (rc < 0)
		rc = err_set(rc, "filing plan, folder '%s': %s",
			     p->folders[failed < p->n ? failed : 0].path,
			     err_msg());
	for (size_t i = 0; i < p->n; i++)
		manifest_release(&res[i].manifest);
	free(res);
	free(ops);
	return rc;
}

void space_plan_journal(struct index *ix, const char *space, const char *login,
			const struct plan *p)
{
	struct index_event *evs;
	int rc;

	if (!p->n)
		return;
	evs = calloc(p->n, sizeof(*evs));
	if (!evs) {
		log_error(
			"filing plan of space '%s' not journaled: out of memory",
			space);
		return;
	}
	for (size_t i = 0; i < p->n; i++)
		evs[i] = (struct index_event){ .kind = "mkdir",
					       .path = p->folders[i].path,
					       .detail = "filing plan" };
	rc = index_record(ix, space, login, (int64_t)time(NULL), NULL, 0, evs,
			  p->n);
	if (rc < 0)
		log_error("filing plan of space '%s' not journaled: %s", space,
			  err_msg());
	free(evs);
}
