/*
 * Property test of the access rule on commit batches: thousands of random
 * batches by non-owners (assistants, delegated or not, intervenants,
 * trusted persons, with random grants) over random trees, each applied by
 * the server's ledger with the server's batch check (access_batch.c), and
 * each checked against a model of docs/protocol.md#access written here
 * from the documentation, independently of server/policy.c and
 * server/access_rule.c.  On every intermediate state the model decides;
 * the server must refuse exactly the operation the model refuses, for the
 * same reason (hidden: ENOENT, seen but not allowed: EACCES, or the
 * ledger's own refusal), and after each batch every folder's rights and
 * visibility at the head must be the model's.  The seed is printed; pass
 * it as argv[1] to replay.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/hash.h"
#include "server/access.h"
#include "server/access_batch.h"
#include "server/chunkstore.h"
#include "server/ledger.h"
#include "tests/lib/tap.h"

#define NODES  256
#define OPS    4
#define ROUNDS 3000

enum { PUB, RES, CONF }; /* as enum folder_class */
enum { G_NONE, G_READ, G_DEP };
enum { ASSISTANT, DELEGATED, INTERVENANT, TRUSTED, OWNER };
#define MR 1
#define MD 2
#define MO 4
#define MA 8

struct node {
	char path[64];
	int dir, own;
};

struct model {
	struct node n[NODES];
	int nn;
	char gpath[8][64];
	int glevel[8], ng;
};

static unsigned long long rng;
static unsigned rnd(unsigned n)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rng >> 33) % n;
}

static int find(const struct model *m, const char *p)
{
	for (int i = 0; i < m->nn; i++)
		if (!strcmp(m->n[i].path, p))
			return i;
	return -1;
}

/* Copy a path of the model (at most 63 bytes; may overlap). */
static void cp(char *d, const char *s)
{
	size_t n = strnlen(s, 63);

	memmove(d, s, n);
	d[n] = '\0';
}

static void parent(const char *p, char *out)
{
	const char *s = strrchr(p, '/');
	size_t n = s == p ? 1 : (size_t)(s - p);

	memmove(out, p, n);
	out[n] = '\0';
}

static int is_dir(const struct model *m, const char *p)
{
	int i = find(m, p);

	return !strcmp(p, "/") || (i >= 0 && m->n[i].dir);
}

/* a is b or above it */
static int under(const char *a, const char *b)
{
	size_t n = strlen(a);

	return !strcmp(a, "/") ||
	       (!strncmp(a, b, n) && (b[n] == 0 || b[n] == '/'));
}

static int own_of(const struct model *m, const char *p)
{
	int i = find(m, p);

	return i >= 0 ? m->n[i].own : RES; /* the root states restricted */
}

/*
 * The rule as docs/protocol.md words it: the class is confidential when
 * the folder or a folder above states it, else the folder's own; the
 * grants that count are those on the folder or above, but not above the
 * nearest folder stating confidential.
 */
static unsigned model_rights(const struct model *m, int role, const char *f)
{
	/* a 63-byte path has at most 31 levels below the root */
	char anc[33][64], croot[64] = "";
	int na = 0, cls, g = G_NONE;
	char p[64];

	cp(p, f);
	for (;;) {
		if (na == (int)(sizeof(anc) / sizeof(anc[0])))
			abort();
		cp(anc[na++], p);
		if (!strcmp(p, "/"))
			break;
		parent(p, p);
	}
	for (int i = 0; i < na && !croot[0]; i++)
		if (own_of(m, anc[i]) == CONF)
			cp(croot, anc[i]);
	cls = croot[0] ? CONF : own_of(m, f);
	for (int i = 0; i < m->ng; i++)
		if (under(m->gpath[i], f) &&
		    (!croot[0] || under(croot, m->gpath[i])) &&
		    m->glevel[i] > g)
			g = m->glevel[i];
	switch (role) {
	case OWNER:
		return MR | MD | MO | MA;
	case ASSISTANT:
	case DELEGATED:
		if (cls != CONF)
			return MR | MD | MO | (role == DELEGATED ? MA : 0);
		return g == G_DEP ? MR | MD | MO : g == G_READ ? MR : 0;
	case INTERVENANT:
		return (cls == PUB || g ? MR : 0) | (g == G_DEP ? MD : 0);
	case TRUSTED:
		return g ? MR : 0;
	}
	return 0;
}

static int model_visible(const struct model *m, int role, const char *f)
{
	if ((model_rights(m, role, f) & MR) || !strcmp(f, "/"))
		return 1;
	for (int i = 0; i < m->ng; i++)
		if (strcmp(m->gpath[i], f) && under(f, m->gpath[i]))
			return 1;
	return 0;
}

enum { OK = 0, HIDDEN = 1, FORBID = 2, LEDGER = 3 };

static int need(const struct model *m, int role, const char *f, unsigned bit)
{
	unsigned r = model_rights(m, role, f);

	/* 403 for what is shown (read, or on the way to a grant) */
	return (r & bit) ? OK : model_visible(m, role, f) ? FORBID : HIDDEN;
}

/* Node i is hidden: a folder not shown, a file in a folder not read. */
static int model_hidden(const struct model *m, int role, int i)
{
	char par[64];

	if (m->n[i].dir)
		return !model_visible(m, role, m->n[i].path);
	parent(m->n[i].path, par);
	return !(model_rights(m, role, par) & MR);
}

/*
 * An unlink, rmdir or mkdir of what the caller may not see answers as for
 * an absent path (organize on the parent) and changes nothing.
 */
static int model_as_absent(const struct model *m, int role, const char *path)
{
	char par[64];

	parent(path, par);
	return need(m, role, par, MO);
}

static void add(struct model *m, const char *p, int dir, int own)
{
	struct node *x = &m->n[m->nn++];

	cp(x->path, p);
	x->dir = dir;
	x->own = own;
}

static void del_under(struct model *m, const char *p)
{
	int k = 0;

	for (int i = 0; i < m->nn; i++)
		if (!under(p, m->n[i].path))
			m->n[k++] = m->n[i];
	m->nn = k;
}

/* One op on the model: OK (applied), or why it is refused. */
static int model_op(struct model *m, int role, const struct ledger_op *op,
		    int stated)
{
	char par[64], dec[64];
	int rc, i;

	switch (op->kind) {
	case LEDGER_OP_DEPOSIT:
	case LEDGER_OP_MKDIR:
		i = find(m, op->path);
		if (op->kind == LEDGER_OP_MKDIR && i >= 0 &&
		    strcmp(op->path, "/") && model_hidden(m, role, i))
			return model_as_absent(m, role, op->path);
		parent(op->path, par);
		if (!is_dir(m, op->path) && !is_dir(m, par))
			return HIDDEN;
		cp(dec, is_dir(m, op->path) ? op->path : par);
		rc = need(m, role, dec,
			  op->kind == LEDGER_OP_DEPOSIT ? MD : MO);
		if (rc)
			return rc;
		if (op->kind == LEDGER_OP_DEPOSIT) {
			if (is_dir(m, op->path))
				return LEDGER;
			if (find(m, op->path) < 0)
				add(m, op->path, 0, 0);
			return OK;
		}
		{
			/* the parent's effective class, by the model's walk */
			int pc = own_of(m, par);
			char p[64];

			cp(p, par);
			for (;;) {
				if (own_of(m, p) == CONF)
					pc = CONF;
				if (!strcmp(p, "/"))
					break;
				parent(p, p);
			}
			int dflt = pc == CONF ? RES : pc;

			if (stated && (int)op->class != dflt) {
				rc = need(m, role, par, MA);
				if (rc)
					return rc;
			}
			i = find(m, op->path);
			if (i >= 0 && !m->n[i].dir)
				return LEDGER;
			if (i < 0)
				add(m, op->path, 1,
				    stated ? (int)op->class : dflt);
			return OK;
		}
	case LEDGER_OP_UNLINK:
		parent(op->path, par);
		i = find(m, op->path);
		if (i >= 0 && model_hidden(m, role, i))
			return model_as_absent(m, role, op->path);
		if (i < 0 && !is_dir(m, par))
			return HIDDEN;
		rc = need(m, role, i >= 0 && m->n[i].dir ? op->path : par, MO);
		if (rc)
			return rc;
		if (i >= 0 && m->n[i].dir)
			return LEDGER;
		if (i >= 0)
			del_under(m, op->path);
		return OK;
	case LEDGER_OP_CHMOD:
		/* organize on the folder, else on the parent; nothing the
		 * model tracks changes (a mode is no access state) */
		parent(op->path, par);
		i = find(m, op->path);
		if (i >= 0 && model_hidden(m, role, i))
			return model_as_absent(m, role, op->path);
		if (i < 0 && !is_dir(m, par))
			return HIDDEN;
		return need(m, role, i >= 0 && m->n[i].dir ? op->path : par,
			    MO);
	case LEDGER_OP_RMDIR:
		parent(op->path, par);
		i = find(m, op->path);
		if (i >= 0 && strcmp(op->path, "/") && model_hidden(m, role, i))
			return model_as_absent(m, role, op->path);
		if (i < 0 && !is_dir(m, par))
			return HIDDEN;
		rc = need(m, role, par, MO);
		if (!rc && i >= 0 && m->n[i].dir)
			rc = need(m, role, op->path, MO);
		if (rc)
			return rc;
		/* grants on it and below go */
		{
			int k = 0;

			for (int g = 0; g < m->ng; g++)
				if (!under(op->path, m->gpath[g])) {
					memmove(m->gpath[k], m->gpath[g], 64);
					m->glevel[k++] = m->glevel[g];
				}
			m->ng = k;
		}
		if (i >= 0 && !m->n[i].dir)
			return LEDGER;
		if (i < 0)
			return OK;
		for (int j = 0; j < m->nn; j++)
			if (j != i && under(op->path, m->n[j].path))
				return LEDGER;
		del_under(m, op->path);
		return OK;
	case LEDGER_OP_MOVE: {
		char tp[64];
		int fi = find(m, op->from), ti, fdir;

		if (fi < 0)
			return HIDDEN;
		fdir = m->n[fi].dir;
		parent(op->from, par);
		rc = need(m, role, fdir ? op->from : par, MO);
		if (!rc && fdir)
			rc = need(m, role, par, MO);
		for (int j = 0; !rc && fdir && j < m->nn; j++)
			if (m->n[j].dir && under(op->from, m->n[j].path) &&
			    !(model_rights(m, role, m->n[j].path) & MO))
				rc = FORBID;
		if (rc)
			return rc;
		parent(op->to, tp);
		ti = find(m, op->to);
		if (ti < 0 && !is_dir(m, tp))
			return HIDDEN;
		rc = need(m, role, ti >= 0 && m->n[ti].dir ? op->to : tp, MO);
		if (rc)
			return rc;
		if (fdir && !under(op->from, op->to))
			for (int g = 0; g < m->ng; g++)
				if (under(op->from, m->gpath[g])) {
					char np[128];

					snprintf(np, sizeof(np), "%s%s", op->to,
						 m->gpath[g] +
							 strlen(op->from));
					cp(m->gpath[g], np);
				}
		if (fdir && under(op->from, op->to))
			return LEDGER;
		if (ti >= 0 && (m->n[ti].dir || fdir))
			return LEDGER;
		if (!fdir) {
			if (ti < 0)
				cp(m->n[fi].path, op->to);
			else
				del_under(m, op->from);
			return OK;
		}
		for (int j = 0; j < m->nn; j++)
			if (under(op->from, m->n[j].path)) {
				char np[128];

				snprintf(np, sizeof(np), "%s%s", op->to,
					 m->n[j].path + strlen(op->from));
				if (strlen(np) >= 64)
					return LEDGER;
				cp(m->n[j].path, np);
			}
		return OK;
	}
	}
	return LEDGER;
}

/* --- the server side ---------------------------------------------------- */

static struct ledger *lg;
static struct chunkstore *cs;
static struct obj_id chunk;
static const char content[] = "hello";

static void rand_path(char *out, int file)
{
	int d = 1 + (int)rnd(3);

	out[0] = 0;
	for (int i = 0; i < d; i++) {
		char c[3] = { '/', (char)('a' + rnd(3)), 0 };

		if (file && i == d - 1)
			c[1] = (char)('f' + rnd(2));
		strcat(out, c);
	}
}

static void make_op(const struct model *m, struct ledger_op *op, int *stated)
{
	char p[64], q[64];
	int k = (int)rnd(11);

	memset(op, 0, sizeof(*op));
	manifest_init(&op->content);
	*stated = 0;
	if (m->nn && rnd(3))
		cp(p, m->n[rnd((unsigned)m->nn)].path);
	else
		rand_path(p, (int)rnd(2));
	if (k < 2) {
		op->kind = LEDGER_OP_MKDIR;
		rand_path(q, 0);
		if (m->nn && rnd(2)) {
			const struct node *x = &m->n[rnd((unsigned)m->nn)];

			if (x->dir && strlen(x->path) < 50)
				snprintf(q, sizeof(q), "%s/%c", x->path,
					 'a' + (char)rnd(3));
		}
		cp(p, q);
		*stated = (int)rnd(2);
		op->class = (enum folder_class)rnd(3);
		op->path = strdup(p);
	} else if (k < 5) {
		op->kind = LEDGER_OP_DEPOSIT;
		if (rnd(2))
			rand_path(p, 1);
		op->path = strdup(p);
		op->content.size = sizeof(content) - 1;
		hash_buf(&op->content.sha256, content, sizeof(content) - 1);
		manifest_add_chunk(&op->content, &chunk, sizeof(content) - 1);
	} else if (k < 8) {
		op->kind = LEDGER_OP_MOVE;
		rand_path(q, (int)rnd(2));
		if (!strcmp(p, q))
			strcat(q, "z");
		op->from = strdup(p);
		op->to = strdup(q);
	} else if (k < 10) {
		op->kind = k == 8 ? LEDGER_OP_UNLINK : LEDGER_OP_RMDIR;
		op->path = strdup(p);
	} else {
		op->kind = LEDGER_OP_CHMOD;
		op->has_mode = 1;
		op->mode = rnd(2) ? 0700 : 0755;
		op->path = strdup(p);
	}
}

static int stat_cb(const struct ledger_entry *e, void *arg)
{
	int *out = arg;

	*out = e->is_dir ? (int)e->class : -1;
	return 0;
}

static int head_class(void *arg, const char *folder, enum folder_class *own)
{
	int c = -2, rc = ledger_stat(arg, folder, stat_cb, &c);

	(void)arg;
	if (rc < 0)
		return rc;
	if (c < 0)
		return -ENOTDIR;
	*own = (enum folder_class)c;
	return 0;
}

static const enum policy_role roles[] = {
	POLICY_ROLE_ASSISTANT, POLICY_ROLE_ASSISTANT, POLICY_ROLE_INTERVENANT,
	POLICY_ROLE_TRUSTED,   POLICY_ROLE_OWNER,
};

static void caller_grants(const struct model *m, struct access_grants *g)
{
	g->n = (size_t)m->ng;
	g->paths = calloc(8, sizeof(*g->paths));
	g->levels = calloc(8, sizeof(*g->levels));
	for (int i = 0; i < m->ng; i++) {
		g->paths[i] = strdup(m->gpath[i]);
		g->levels[i] = (enum policy_grant)m->glevel[i];
	}
}

static const char *what(int k)
{
	static const char *const w[] = { "ok", "hidden", "forbidden",
					 "ledger" };
	return w[k];
}

/* One batch by role through both; 0 when they agree. */
static int outcomes[4];

static int round_trip(struct model *m, int role, unsigned long long seed,
		      int round, int *applied, int maxops)
{
	struct ledger_op ops[OPS];
	struct ledger_result res[OPS];
	unsigned char stated[OPS];
	struct model next = *m;
	struct access_batch ab = { 0 };
	char head[GIT_OID_HEX_LEN + 1];
	int nops = 1 + (int)rnd((unsigned)maxops), want = OK, want_at = -1, got,
	    bad = 0;
	size_t failed = 0;
	int rc;

	for (int i = 0; i < nops; i++) {
		int st;

		make_op(m, &ops[i], &st);
		stated[i] = (unsigned char)st;
	}
	for (int i = 0; i < nops && want == OK; i++) {
		want = model_op(&next, role, &ops[i], stated[i]);
		if (want)
			want_at = i;
	}
	ab.role = roles[role];
	ab.admin = role == DELEGATED;
	ab.ops = ops;
	ab.stated = stated;
	caller_grants(m, &ab.grants);
	rc = ledger_apply_checked(lg, cs, "demo", "bob", "t", ops, (size_t)nops,
				  res, &failed, head, access_batch_check, &ab);
	got = rc == 0	    ? OK :
	      !ab.refused   ? LEDGER :
	      rc == -ENOENT ? HIDDEN :
	      rc == -EACCES ? FORBID :
			      LEDGER;
	if (got != want || (got && (int)failed != want_at)) {
		bad = 1;
		diag("seed %llu round %d role %d: model says %s at op %d, server %s at op %zu (%s)",
		     seed, round, role, what(want), want_at, what(got), failed,
		     rc ? err_msg() : "");
		for (int i = 0; i < nops; i++)
			diag("  op %d: kind %d %s %s %s class %d stated %d", i,
			     (int)ops[i].kind, ops[i].path ? ops[i].path : "",
			     ops[i].from ? ops[i].from : "",
			     ops[i].to ? ops[i].to : "", (int)ops[i].class,
			     stated[i]);
	}
	*applied = rc == 0;
	if (role != OWNER)
		outcomes[got]++;
	if (rc == 0)
		*m = next;
	for (int i = 0; i < nops; i++) {
		ledger_op_release(&ops[i]);
		ledger_result_release(&res[i]);
	}
	access_batch_release(&ab);
	return bad;
}

/* Every folder's rights and visibility at the head: the model's. */
static int head_agrees(const struct model *m, int role, unsigned long long seed,
		       int round)
{
	struct access_grants g = { 0 };
	int bad = 0;

	caller_grants(m, &g);
	for (int i = -1; i < m->nn && !bad; i++) {
		const char *f = i < 0 ? "/" : m->n[i].path;
		struct policy_at at;
		unsigned r, want;
		int vis;

		if (i >= 0 && !m->n[i].dir)
			continue;
		if (access_place(&g, f, head_class, lg, &at) < 0) {
			diag("seed %llu round %d: no place for %s: %s", seed,
			     round, f, err_msg());
			bad = 1;
			break;
		}
		r = access_rights_at(roles[role], role == DELEGATED, &g, f, &at,
				     &vis);
		want = model_rights(m, role, f);
		if (r != want || vis != model_visible(m, role, f)) {
			diag("seed %llu round %d role %d: %s rights %x visible %d, model %x %d",
			     seed, round, role, f, r, vis, want,
			     model_visible(m, role, f));
			bad = 1;
		}
	}
	access_grants_release(&g);
	return bad;
}

static void new_grants(struct model *m, int role)
{
	int dirs[NODES], nd = 0;

	for (int i = 0; i < m->nn; i++)
		if (m->n[i].dir)
			dirs[nd++] = i;
	m->ng = 0;
	if (role == OWNER)
		return;
	for (int k = (int)rnd(role == TRUSTED ? 2 : 4); k > 0 && nd; k--) {
		int i = dirs[rnd((unsigned)nd)];

		cp(m->gpath[m->ng], m->n[i].path);
		m->glevel[m->ng++] = role == TRUSTED ? G_READ : 1 + (int)rnd(2);
		if (role == TRUSTED)
			break;
	}
}

int main(int argc, char **argv)
{
	unsigned long long seed = argc > 1 ? strtoull(argv[1], NULL, 10) :
					     (unsigned long long)time(NULL);
	char base[] = "/tmp/coffre-test-access-batch.XXXXXX", path[128];
	struct model m = { 0 };
	struct crypto_key k;
	struct chunkstore_writer *w;
	int bad = 0, refused = 0, accepted = 0, role = ASSISTANT;

	rng = seed;
	diag("seed %llu", seed);
	if (!mkdtemp(base))
		return 1;
	crypto_init();
	crypto_key_new_random(&k);
	snprintf(path, sizeof(path), "%s/chunks", base);
	if (chunkstore_open(&cs, path, &k) < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/demo.git", base);
	if (ledger_open(&lg, path, 1) < 0)
		return 1;
	hash_buf(&chunk, content, sizeof(content) - 1);
	if (chunkstore_writer_new(cs, &chunk, &w) < 0 ||
	    chunkstore_writer_write(w, content, sizeof(content) - 1) < 0 ||
	    chunkstore_writer_finish(w) < 0)
		return 1;
	/* ROUNDS batches, and more (up to three times as many) while some
	 * outcome is still rare: a seed that happens to refuse nearly
	 * everything must still try acceptance as often as the others. */
	for (int round = 0;
	     !bad && (round < ROUNDS || (round < 3 * ROUNDS &&
					 (accepted <= ROUNDS / 50 ||
					  outcomes[HIDDEN] <= ROUNDS / 50 ||
					  outcomes[FORBID] <= ROUNDS / 50)));
	     round++) {
		int applied;

		if (round % 60 == 0) {
			/* The owner grows the tree; then a new caller. */
			for (int i = 0; i < 20 && !bad; i++)
				bad |= round_trip(&m, OWNER, seed, round,
						  &applied, 1);
			role = (int)rnd(4);
			new_grants(&m, role);
		}
		bad |= round_trip(&m, role, seed, round, &applied, OPS);
		if (applied) {
			accepted++;
			bad |= head_agrees(&m, role, seed, round);
		} else {
			refused++;
		}
	}
	ok(!bad, "server and model agree on every batch (seed %llu)", seed);
	diag("%d batches accepted, %d refused (hidden %d, forbidden %d, by the ledger %d)",
	     accepted, refused, outcomes[HIDDEN], outcomes[FORBID],
	     outcomes[LEDGER]);
	ok(accepted > ROUNDS / 50 && outcomes[HIDDEN] > ROUNDS / 50 &&
		   outcomes[FORBID] > ROUNDS / 50,
	   "every outcome was tried");
	ledger_free(lg);
	chunkstore_free(cs);
	crypto_key_release(&k);
	snprintf(path, sizeof(path), "rm -rf '%s'", base);
	if (system(path) != 0)
		diag("could not remove %s", base);
	return tap_done();
}
