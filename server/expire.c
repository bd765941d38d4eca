/*
 * `coffred expire DATADIR [--now RFC3339]` (expire.h): the spaces whose
 * termination grace is over are destroyed, each leaving a signed,
 * timestamped certificate of its destruction.
 *
 * Order, for each space: the certificate is made, signed and stamped and
 * written first; then the space's own chunk key goes (spaces.h), which
 * shreds every copy of its chunks; then the chunks (each by its name,
 * whatever the backend: a directory or S3), the space's directory (ledger
 * included), its index rows in one transaction; last an event in the
 * server's chain, and the closing of members left with no space.  A crash in between leaves the certificate and a
 * space partly gone: the next run finds it still terminated and past its
 * grace, and finishes (every step is one that can run again).
 */
#include "server/expire.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/manifest.h"
#include "common/namev.h"
#include "common/path.h"
#include "server/chunkstore.h"
#include "server/config.h"
#include "server/index.h"
#include "server/keys.h"
#include "server/ledger.h"
#include "server/spaces.h"
#include "server/sshsig.h"
#include "server/statement.h"
#include "server/tsa.h"

#define CERT_MAX (64u * 1024u)

_Static_assert(NAMEV_LEN >= CHUNKSTORE_NAME_SIZE &&
		       NAMEV_LEN >= LOGIN_MAX_LEN + 1,
	       "chunk names and logins fit a namev");

struct expire {
	const char *datadir;
	struct index *ix;
	struct keys *keys;
	struct crypto_key master;
	int64_t now, grace;
	char kind[32];
	unsigned destroyed, failed;
	/* what index_spaces_terminated listed, copied out before acting */
	struct due {
		char space[65];
		int64_t at;
		char by[LOGIN_MAX_LEN + 1];
	} * due;
	size_t ndue, capdue;
};

static int due_cb(const char *space, int64_t at, const char *by, void *arg)
{
	struct expire *x = arg;

	if (at + x->grace > x->now)
		return 0;
	if (x->ndue == x->capdue) {
		size_t cap = x->capdue ? 2 * x->capdue : 16;
		struct due *p = realloc(x->due, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		x->due = p;
		x->capdue = cap;
	}
	snprintf(x->due[x->ndue].space, sizeof(x->due[0].space), "%s", space);
	snprintf(x->due[x->ndue].by, sizeof(x->due[0].by), "%s", by);
	x->due[x->ndue++].at = at;
	return 0;
}

static int owner_cb(const char *login, const char *role, int admin, void *arg)
{
	struct buf *b = arg;

	(void)admin;
	if (strcmp(role, "owner"))
		return 0;
	return buf_appendf(b, "%s%s", b->len ? " " : "", login);
}

/* "2026-12-31T23:59:59Z" or "2026-12-31" (midnight UTC) into *t. */
static int date_parse(const char *s, int64_t *t)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (!end || *end)
		return -EINVAL;
	*t = (int64_t)timegm(&tm);
	return 0;
}

static int name_cb(const char *name, void *arg)
{
	return namev_push(arg, name);
}

/* Count (del 0) or delete (del 1) every chunk of space; *n: how many. */
static int chunks_walk(struct expire *x, const char *space, int del,
		       uint64_t *n)
{
	struct chunkstore *cs = NULL;
	struct namev c = { 0 };
	int rc = space_chunks_open(&cs, x->datadir, x->ix, space, &x->master);

	*n = 0;
	if (rc == -ENOENT) { /* gone already: a run cut short */
		err_clear();
		return 0;
	}
	if (rc == 0)
		rc = chunkstore_foreach(cs, name_cb, &c);
	if (rc == 0 && !del)
		*n = c.n;
	for (size_t i = 0; rc == 0 && del && i < c.n; i++) {
		rc = chunkstore_delete_name(cs, c.v[i]);
		if (rc == -ENOENT)
			rc = 0;
		else if (rc == 0)
			++*n;
	}
	namev_release(&c);
	chunkstore_free(cs);
	return rc;
}

/* Remove the space's chunks.key (and say it to the disk). */
static int key_destroy(struct expire *x, const char *space)
{
	char path[PATH_MAX], dir[PATH_MAX];
	int rc = space_dir_path(path, sizeof(path), x->datadir, space,
				SPACE_KEY_NAME);

	if (rc == 0)
		rc = space_dir_path(dir, sizeof(dir), x->datadir, space, NULL);
	if (rc == 0 && unlink(path) < 0 && errno != ENOENT)
		rc = err_set(-errno, "cannot remove '%s': %s", path,
			     strerror(errno));
	if (rc == 0 && access(dir, F_OK) == 0)
		rc = fsync_dir(dir);
	return rc;
}

/* The certificate's text: what was destroyed, by whose request, when. */
static int cert_text(struct expire *x, const struct due *d, struct buf *b,
		     uint64_t chunks)
{
	char head[GIT_OID_HEX_LEN + 1] = "-", at[32], now[32];
	char role[32];
	struct buf owners;
	struct index_usage u;
	struct ledger *lg = NULL;
	int rc;

	buf_init(&owners, 4096);
	rc = index_members(x->ix, d->space, owner_cb, &owners);
	if (rc == 0)
		rc = index_usage_get(x->ix, d->space, &u);
	if (rc == 0 &&
	    space_ledger_open(&lg, x->datadir, x->ix, d->space, 0) == 0) {
		if (ledger_head(lg, head) < 0)
			snprintf(head, sizeof(head), "-");
		ledger_free(lg);
	}
	err_clear();
	/* The kind, through the one who terminated it (an owner then). */
	if (rc == 0 &&
	    index_member_get(x->ix, d->space, d->by, x->kind, sizeof(x->kind),
			     role, sizeof(role)) < 0) {
		err_clear();
		x->kind[0] = '\0';
	}
	rfc3339_utc(d->at, at, sizeof(at));
	rfc3339_utc(x->now, now, sizeof(now));
	if (rc == 0)
		rc = buf_appendf(b,
				 "coffre-destruction 1\n"
				 "space %s\n"
				 "kind %s\n"
				 "owners %s\n"
				 "terminated-at %s\n"
				 "terminated-by %s\n"
				 "grace-seconds %lld\n"
				 "destroyed-at %s\n"
				 "ledger-head %s\n"
				 "documents %llu\n"
				 "versions %llu\n"
				 "bytes %llu\n"
				 "chunks %llu\n",
				 d->space, x->kind[0] ? x->kind : "-",
				 owners.len ? owners.data : "-", at, d->by,
				 (long long)x->grace, now, head,
				 (unsigned long long)u.documents,
				 (unsigned long long)u.versions,
				 (unsigned long long)u.bytes,
				 (unsigned long long)chunks);
	buf_release(&owners);
	return rc;
}

/* DATADIR/destroyed/SPACE.STAMP.txt, .txt.sig and .txt.tsr. */
static int cert_write(struct expire *x, const char *space,
		      const struct buf *text, char *base, size_t cap)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], stamp[32];
	struct buf sig, tsr;
	struct tm tm;
	time_t t = (time_t)x->now;
	int rc;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(dir, sizeof(dir), "%s/destroyed", x->datadir);
	rc = mkdir_p(dir, 0755);
	if (rc < 0)
		return err_set(rc, "cannot make '%s'", dir);
	if ((size_t)snprintf(base, cap, "%s/%s.%s.txt", dir, space, stamp) >=
	    cap)
		return err_set(-ENAMETOOLONG, "path too long");
	buf_init(&sig, CERT_MAX);
	buf_init(&tsr, CERT_MAX);
	/* Signed under the statements' namespace: the key's principal
	 * already allows it (keys/allowed_signers), and the first line
	 * tells a destruction from a deposit statement. */
	rc = sshsig_sign(keys_ledger_key(x->keys), STATEMENT_NAMESPACE,
			 text->data, text->len, &sig);
	if (rc == 0)
		rc = buf_append(&sig, "\n", 1);
	if (rc == 0)
		rc = tsa_stamp(x->keys, text->data, text->len, &tsr);
	if (rc == 0)
		rc = file_write_atomic(base, text->data, text->len, 0644);
	snprintf(path, sizeof(path), "%s.sig", base);
	if (rc == 0)
		rc = file_write_atomic(path, sig.data, sig.len, 0644);
	snprintf(path, sizeof(path), "%s.tsr", base);
	if (rc == 0)
		rc = file_write_atomic(path, tsr.data, tsr.len, 0644);
	buf_release(&sig);
	buf_release(&tsr);
	return rc;
}

static int member_cb(const char *login, const char *role, int admin, void *arg)
{
	(void)role;
	(void)admin;
	return namev_push(arg, login);
}

static int count_cb(const char *name, const char *kind, const char *role,
		    void *arg)
{
	(void)name;
	(void)kind;
	(void)role;
	++*(unsigned *)arg;
	return 0;
}

/*
 * The members of a destroyed space left with no space at all: their
 * accounts close (frozen as a notary's access freezes one, sessions
 * ended), each an event "account-closed" of the server's chain.
 */
static void close_left(struct expire *x, const char *space,
		       const struct namev *l)
{
	char why[128];

	snprintf(why, sizeof(why), "closed: its last space %s was destroyed",
		 space);
	for (size_t i = 0; i < l->n; i++) {
		struct index_event ev = { .kind = "account-closed",
					  .path = "/",
					  .detail = why };
		unsigned n = 0;
		int rc = index_spaces_of(x->ix, l->v[i], count_cb, &n);

		if (rc == 0 && n == 0)
			rc = index_user_freeze(x->ix, l->v[i], x->now, why,
					       "-");
		if (rc == 0 && n == 0)
			rc = index_tokens_drop_all(x->ix, l->v[i], NULL) < 0 ?
				     -EIO :
				     0;
		if (rc == 0 && n == 0)
			rc = index_record(x->ix, NULL, l->v[i], x->now, NULL, 0,
					  &ev, 1);
		if (rc < 0)
			log_warn("account '%s': %s", l->v[i], err_msg());
		else if (n == 0)
			printf("account %s closed: no space left\n", l->v[i]);
	}
}

static int destroy(struct expire *x, const struct due *d)
{
	struct namev members = { 0 };
	char path[PATH_MAX], cert[PATH_MAX];
	struct index_event ev = { .kind = "space-destroyed", .path = "/" };
	struct buf text;
	uint64_t chunks = 0;
	int rc;

	/* The certificate first, the chunks counted; then the space's own
	 * key, so that every copy of its chunks (a backup's too) is noise
	 * from there on; then the chunks themselves. */
	buf_init(&text, CERT_MAX);
	rc = chunks_walk(x, d->space, 0, &chunks);
	if (rc == 0)
		rc = cert_text(x, d, &text, chunks);
	if (rc == 0)
		rc = cert_write(x, d->space, &text, cert, sizeof(cert));
	if (rc == 0)
		rc = key_destroy(x, d->space);
	if (rc == 0)
		rc = chunks_walk(x, d->space, 1, &chunks);
	if (rc == 0)
		rc = space_dir_path(path, sizeof(path), x->datadir, d->space,
				    NULL);
	if (rc == 0)
		rc = rm_rf(path);
	if (rc == -ENOENT)
		rc = 0;
	if (rc == 0)
		rc = index_members(x->ix, d->space, member_cb, &members);
	if (rc == 0)
		rc = index_space_drop(x->ix, d->space);
	buf_release(&text);
	if (rc == 0)
		close_left(x, d->space, &members);
	namev_release(&members);
	if (rc < 0)
		return rc;
	ev.detail = cert;
	if (index_record(x->ix, NULL, d->by, x->now, NULL, 0, &ev, 1) < 0)
		log_warn("cannot record the destruction of '%s': %s", d->space,
			 err_msg());
	printf("destroyed %s (terminated by %s): %llu chunks; certificate %s\n",
	       d->space, d->by, (unsigned long long)chunks, cert);
	return 0;
}

int expire_main(const char *datadir, const char *now_text)
{
	struct expire x = { .datadir = datadir };
	struct config cfg;
	int rc;

	x.now = (int64_t)time(NULL);
	if (now_text && date_parse(now_text, &x.now) < 0)
		return err_set(-EINVAL,
			       "--now takes a date as 2026-12-31T00:00:00Z");
	rc = crypto_init();
	if (rc == 0)
		rc = config_load(&cfg, datadir);
	if (rc == 0)
		rc = master_key_load(&x.master, datadir);
	if (rc == 0)
		rc = keys_load(&x.keys, datadir);
	if (rc == 0)
		rc = index_open_datadir(&x.ix, datadir, cfg.index, 0);
	if (rc == 0) {
		git_libgit2_init();
		x.grace = cfg.termination_grace;
		rc = index_spaces_terminated(x.ix, due_cb, &x);
	}
	for (size_t i = 0; rc == 0 && i < x.ndue; i++) {
		if (destroy(&x, &x.due[i]) < 0) {
			fprintf(stderr, "coffred: %s: %s\n", x.due[i].space,
				err_msg());
			x.failed++;
		} else {
			x.destroyed++;
		}
	}
	if (rc == 0)
		printf("%u spaces destroyed, %u failed\n", x.destroyed,
		       x.failed);
	if (rc == 0 && x.failed)
		rc = err_set(-EIO, "%u spaces could not be destroyed",
			     x.failed);
	free(x.due);
	index_free(x.ix);
	keys_free(x.keys);
	crypto_key_release(&x.master);
	return rc;
}
