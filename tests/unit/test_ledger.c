/*
 * Ledger: batches of operations on a real bare repository in a temporary
 * directory, checked through listings, versions, failures that change
 * nothing, and finally stock git (fsck --strict, log).
 */
#include "server/ledger.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "server/access.h"
#include "server/chunkstore.h"
#include "tests/lib/tap.h"

static struct chunkstore *cs;
static struct ledger *lg;
static char repo[300];

#define MAX_OPS 6000

static struct ledger_op ops[MAX_OPS];
static struct ledger_result res[MAX_OPS];
static size_t nops;

/* Store text as chunks of at most 5 bytes and describe it in m. */
static void content(struct manifest *m, const char *text)
{
	size_t len = strlen(text), off = 0;

	manifest_init(m);
	while (off < len) {
		struct chunkstore_writer *w;
		size_t k = len - off < 5 ? len - off : 5;
		struct obj_id id;

		hash_buf(&id, text + off, k);
		if (chunkstore_has(cs, &id) == 1)
			goto add;
		if (chunkstore_writer_new(cs, &id, &w) < 0 ||
		    chunkstore_writer_write(w, text + off, k) < 0 ||
		    chunkstore_writer_finish(w) < 0)
			abort();
	add:
		if (manifest_add_chunk(m, &id, (uint32_t)k) < 0)
			abort();
		off += k;
	}
	m->size = len;
	hash_buf(&m->sha256, text, len);
}

static void add_mkdir(const char *path, enum folder_class c)
{
	struct ledger_op *op = &ops[nops++];

	memset(op, 0, sizeof(*op));
	manifest_init(&op->content);
	op->kind = LEDGER_OP_MKDIR;
	op->path = strdup(path);
	op->class = c;
}

static void add_deposit(const char *path, const char *text)
{
	struct ledger_op *op = &ops[nops++];

	memset(op, 0, sizeof(*op));
	op->kind = LEDGER_OP_DEPOSIT;
	op->path = strdup(path);
	content(&op->content, text);
}

static void add_path_op(enum ledger_op_kind k, const char *path)
{
	struct ledger_op *op = &ops[nops++];

	memset(op, 0, sizeof(*op));
	manifest_init(&op->content);
	op->kind = k;
	op->path = strdup(path);
}

static void add_move(const char *from, const char *to)
{
	struct ledger_op *op = &ops[nops++];

	memset(op, 0, sizeof(*op));
	manifest_init(&op->content);
	op->kind = LEDGER_OP_MOVE;
	op->from = strdup(from);
	op->to = strdup(to);
}

static size_t failed;
static char head[GIT_OID_HEX_LEN + 1];

/* Apply the pending ops and forget them; results stay until the next run. */
static int run(void)
{
	static size_t nres;
	int rc;

	for (size_t i = 0; i < nres; i++)
		ledger_result_release(&res[i]);
	rc = ledger_apply(lg, cs, "demo", "alice", "laptop\nX-Injected: 1", ops,
			  nops, res, &failed, head);
	if (rc < 0)
		diag("apply: %d %s (op %zu)", rc, err_msg(), failed);
	for (size_t i = 0; i < nops; i++)
		ledger_op_release(&ops[i]);
	nres = nops;
	nops = 0;
	return rc;
}

static char cur_head[GIT_OID_HEX_LEN + 1];

static const char *now_head(void)
{
	if (ledger_head(lg, cur_head) < 0)
		return "(none)";
	return cur_head;
}

struct got {
	int n;
	char names[64][64];
	int is_dir[64];
	enum folder_class cls[64];
	struct manifest m[64];
};

static int got_cb(const struct ledger_entry *e, void *arg)
{
	struct got *g = arg;

	if (g->n == 64)
		return -E2BIG;
	snprintf(g->names[g->n], 64, "%s", e->name);
	g->is_dir[g->n] = e->is_dir;
	g->cls[g->n] = e->class;
	manifest_init(&g->m[g->n]);
	if (e->manifest) {
		g->m[g->n] = *e->manifest;
		g->m[g->n].chunks = NULL;
		g->m[g->n].nchunks = 0;
	}
	g->n++;
	return 0;
}

/* A folder sought in a listing by name, and the mode it states. */
struct mode_seek {
	const char *name; /* NULL: seek nothing */
	int mode;	  /* -1: none stated, -2: not listed */
};

static int mode_cb(const struct ledger_entry *e, void *arg)
{
	struct mode_seek *ms = arg;

	if (ms->name && e->is_dir && !strcmp(e->name, ms->name))
		ms->mode = e->has_mode ? (int)e->mode : -1;
	return 0;
}

static int stat_of(const char *path, struct got *g)
{
	memset(g, 0, sizeof(*g));
	return ledger_stat(lg, path, got_cb, g);
}

static void test_ledger_create(void)
{
	struct got g = { 0 };
	struct folder_meta c = { .class = FOLDER_CLASS_PUBLIC, .has_mode = 1 };
	int more = -1;

	is_int(ledger_list(lg, "/", NULL, 100, got_cb, &g, &more, &c, head), 0,
	       "new ledger lists /");
	is_int(g.n, 0, "new space is empty");
	is_int(c.class, FOLDER_CLASS_RESTRICTED, "root is restricted");
	ok(!c.has_mode, "root states no mode: 0755");
	is_int(more, 0, "nothing more");
	is_str(head, now_head(), "listing names the head");
}

static void test_ledger_deposits(char doc_f[DOC_ID_HEX_LEN + 1])
{
	char before[GIT_OID_HEX_LEN + 1];
	struct got g;

	add_mkdir("/A", FOLDER_CLASS_RESTRICTED);
	add_mkdir("/B", FOLDER_CLASS_PUBLIC);
	add_mkdir("/A", FOLDER_CLASS_PUBLIC);
	is_int(run(), 0, "mkdir /A /B, /A again");
	is_str(head, now_head(), "apply returns the new head");

	add_deposit("/A/f.txt", "hello, world\n");
	add_deposit("/A/g.txt", "");
	is_int(run(), 0, "deposit two files");
	is_int(res[0].version, 1, "f.txt v1");
	is_int(res[1].version, 1, "g.txt v1");
	ok(doc_id_valid(res[0].doc_id) && strcmp(res[0].doc_id, res[1].doc_id),
	   "two fresh document ids");
	is_str(res[0].manifest.deposited_by, "alice", "depositor in result");
	memcpy(doc_f, res[0].doc_id, DOC_ID_HEX_LEN + 1);

	add_deposit("/A/f.txt", "hello again, world\n");
	ops[0].base_version = 1;
	is_int(run(), 0, "new version of f.txt");
	is_int(res[0].version, 2, "f.txt v2");
	is_str(res[0].doc_id, doc_f, "same document id");
	is_int(res[0].concurrent, 0, "based on the current version");

	is_int(stat_of("/A/f.txt", &g), 0, "stat f.txt");
	is_int(g.m[0].version, 2, "stat says v2");
	is_int(g.m[0].size, 19, "stat says 19 bytes");
	is_str(g.m[0].deposited_by, "alice", "stat says alice");
	is_int(stat_of("/B", &g), 0, "stat /B");
	ok(g.is_dir[0] && g.cls[0] == FOLDER_CLASS_PUBLIC, "/B public dir");
	is_int(stat_of("/A", &g), 0, "stat /A");
	is_int(g.cls[0], FOLDER_CLASS_RESTRICTED, "mkdir again kept the class");
	is_int(stat_of("/", &g), 0, "stat /");
	ok(g.is_dir[0] && !strcmp(g.names[0], ""), "/ is a dir named ''");
	is_int(stat_of("/nope", &g), -ENOENT, "stat of absent path");
	is_int(stat_of("/A/.coffre-folder", &g), -ENOENT, "metadata hidden");

	snprintf(before, sizeof(before), "%s", now_head());
	add_deposit("/A/f.txt", "concurrent edit\n");
	ops[0].base_version = 1;
	is_int(run(), 0, "deposit based on an old version");
	is_int(res[0].version, 3, "still becomes the newest: v3");
	is_int(res[0].concurrent, 1, "flagged concurrent");
	ok(strcmp(before, head) != 0, "head moved");
}

static void test_ledger_moves(const char *doc_f)
{
	struct got g;
	char doc_t[DOC_ID_HEX_LEN + 1];

	add_move("/A/f.txt", "/B/h.txt");
	is_int(run(), 0, "move a file");
	is_str(res[0].doc_id, doc_f, "move keeps the document id");
	is_int(res[0].version, 3, "and the version");
	is_int(stat_of("/A/f.txt", &g), -ENOENT, "source gone");
	is_int(stat_of("/B/h.txt", &g), 0, "target there");
	is_str(g.m[0].doc_id, doc_f, "target is the document");

	add_mkdir("/A/sub", FOLDER_CLASS_CONFIDENTIAL);
	add_deposit("/A/sub/x", "deep");
	add_move("/A", "/C");
	is_int(run(), 0, "move a folder with content");
	is_int(stat_of("/A", &g), -ENOENT, "old folder gone");
	is_int(stat_of("/C/sub/x", &g), 0, "content moved along");
	is_int(stat_of("/C/g.txt", &g), 0, "files moved along");
	is_int(stat_of("/C/sub", &g), 0, "sub-folder moved");
	is_int(g.cls[0], FOLDER_CLASS_CONFIDENTIAL, "its class kept");

	add_deposit("/C/.h.txt.tmp", "saved by rename\n");
	add_move("/C/.h.txt.tmp", "/B/h.txt");
	is_int(run(), 0, "save by rename");
	memcpy(doc_t, res[0].doc_id, sizeof(doc_t));
	is_str(res[1].doc_id, doc_f, "target document kept");
	is_int(res[1].version, 4, "target gets v4");
	is_int(stat_of("/C/.h.txt.tmp", &g), -ENOENT, "temp name gone");
	is_int(stat_of("/B/h.txt", &g), 0, "target there");
	is_int(g.m[0].version, 4, "at v4");
	is_int(g.m[0].size, 16, "with the new content");
	ok(strcmp(doc_t, doc_f) != 0, "temp file had its own id");

	add_move("/B/h.txt", "/B/h.txt");
	is_int(run(), 0, "move onto itself is a no-op");
	is_int(res[0].version, 4, "version unchanged");

	add_path_op(LEDGER_OP_UNLINK, "/C/g.txt");
	add_path_op(LEDGER_OP_UNLINK, "/C/g.txt");
	add_path_op(LEDGER_OP_UNLINK, "/C/never");
	is_int(run(), 0, "unlink, twice, and of an absent file");
	is_int(stat_of("/C/g.txt", &g), -ENOENT, "unlinked");

	add_mkdir("/E", FOLDER_CLASS_PUBLIC);
	add_path_op(LEDGER_OP_RMDIR, "/E");
	add_path_op(LEDGER_OP_RMDIR, "/E");
	is_int(run(), 0, "rmdir of an empty folder, then absent");
	is_int(stat_of("/E", &g), -ENOENT, "removed");
}

/* op must fail with rc at index at, and the head must not move. */
static void expect_fail(int rc, size_t at, const char *what)
{
	char before[GIT_OID_HEX_LEN + 1];
	int got;

	snprintf(before, sizeof(before), "%s", now_head());
	got = run();
	is_int(got, rc, "%s: %d", what, rc);
	is_int(failed, at, "%s: failing op named", what);
	is_str(now_head(), before, "%s: head unchanged", what);
}

static void test_ledger_failures(void)
{
	struct got g;
	struct obj_id bogus;
	struct ledger_op *op;

	add_mkdir("/Z", FOLDER_CLASS_PUBLIC);
	add_path_op(LEDGER_OP_RMDIR, "/C");
	expect_fail(-ENOTEMPTY, 1, "rmdir non-empty");
	is_int(stat_of("/Z", &g), -ENOENT, "earlier op of the batch undone");

	add_deposit("/nope/x", "a");
	expect_fail(-ENOENT, 0, "parent missing");
	add_deposit("/B/h.txt/x", "a");
	expect_fail(-ENOTDIR, 0, "parent is a file");
	add_deposit("/C", "a");
	expect_fail(-EISDIR, 0, "deposit onto a folder");
	add_mkdir("/B/h.txt", FOLDER_CLASS_PUBLIC);
	expect_fail(-EEXIST, 0, "mkdir over a file");
	add_move("/C", "/C/sub/D");
	expect_fail(-EINVAL, 0, "folder into itself");
	add_move("/C", "/B");
	expect_fail(-EEXIST, 0, "folder onto a folder");
	add_move("/B/h.txt", "/C");
	expect_fail(-EISDIR, 0, "file onto a folder");
	add_move("/nope", "/x");
	expect_fail(-ENOENT, 0, "move of an absent path");
	add_path_op(LEDGER_OP_UNLINK, "/C");
	expect_fail(-EISDIR, 0, "unlink of a folder");
	add_path_op(LEDGER_OP_RMDIR, "/B/h.txt");
	expect_fail(-ENOTDIR, 0, "rmdir of a file");
	add_path_op(LEDGER_OP_RMDIR, "/");
	expect_fail(-EINVAL, 0, "rmdir of /");
	add_path_op(LEDGER_OP_UNLINK, "/bad//path");
	expect_fail(-EINVAL, 0, "invalid path");

	add_deposit("/B/new", "0123456789");
	op = &ops[0];
	hash_buf(&bogus, "never stored", 12);
	op->content.chunks[1].id = bogus;
	expect_fail(-ENODATA, 0, "chunk not held");
	add_deposit("/nope/y", "a");
	add_deposit("/B/new", "0123456789");
	ops[1].content.chunks[0].id = bogus;
	expect_fail(-ENOENT, 0, "an earlier op fails before a content check");
	add_mkdir("/Y", FOLDER_CLASS_PUBLIC);
	add_deposit("/Y/new", "0123456789");
	ops[1].content.chunks[0].id = bogus;
	expect_fail(-ENODATA, 1, "content check fails at its own op");
	add_deposit("/B/new", "0123456789");
	ops[0].content.size = 11;
	expect_fail(-EBADMSG, 0, "sizes do not add up");
	add_deposit("/B/new", "0123456789");
	ops[0].content.sha256.b[0] ^= 1;
	expect_fail(-EBADMSG, 0, "sha256 mismatch");
	add_deposit("/B/new", "0123456789");
	ops[0].content.chunks[0].size = 4;
	ops[0].content.chunks[1].size = 6;
	expect_fail(-EBADMSG, 0, "chunk size lies");
	is_int(stat_of("/B/new", &g), -ENOENT, "nothing deposited");

	add_deposit("/.git", "a");
	expect_fail(-EINVAL, 0, "a name git refuses");

	/* The ledger still works after failures. */
	add_deposit("/B/new", "0123456789");
	ops[0].content.mtime = 1795773600;
	is_int(run(), 0, "deposit after failures");
	is_int(stat_of("/B/new", &g), 0, "stat it");
	is_int(g.m[0].mtime, 1795773600, "mtime kept");
}

static volatile int stop_readers;

/* Readers list and stat while batches are applied. */
static void *reader(void *arg)
{
	long bad = 0;
	struct got g;
	int more;

	while (!stop_readers) {
		memset(&g, 0, sizeof(g));
		if (ledger_list(lg, "/B", NULL, 64, got_cb, &g, &more, NULL,
				NULL) < 0)
			bad++;
		if (stat_of("/B/h.txt", &g) < 0)
			bad++;
	}
	return (void *)bad;
}

static void test_ledger_threads(void)
{
	pthread_t t[3];
	char path[64];
	long bad = 0;
	void *r;
	int fails = 0;

	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, reader, NULL);
	for (int i = 0; i < 30; i++) {
		snprintf(path, sizeof(path), "/B/t%d", i % 7);
		add_deposit(path, "threads");
		if (run() < 0)
			fails++;
	}
	stop_readers = 1;
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], &r);
		bad += (long)r;
	}
	is_int(fails, 0, "batches applied while others read");
	is_int(bad, 0, "readers saw no error");
}

static void test_ledger_paging(void)
{
	static const char *names[] = { "a", "a.b", "a-b", "b",	"B", "a0",
				       "é", "z z", "~",	  "!x", "ab" };
	static const int dirs[] = { 1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0 };
	char want[ARRAY_SIZE(names)][64], after[64] = "", path[300];
	struct got g;
	size_t n = ARRAY_SIZE(names), seen = 0, i, j;
	int more = 1, rounds = 0, sorted_ok = 1;

	add_mkdir("/P", FOLDER_CLASS_PUBLIC);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/P/%s", names[i]);
		if (dirs[i])
			add_mkdir(path, FOLDER_CLASS_RESTRICTED);
		else
			add_deposit(path, names[i]);
	}
	is_int(run(), 0, "folder of mixed entries");
	for (i = 0; i < n; i++)
		snprintf(want[i], 64, "%s", names[i]);
	qsort(want, n, 64, (int (*)(const void *, const void *))strcmp);
	while (more && rounds < 10) {
		memset(&g, 0, sizeof(g));
		is_int(ledger_list(lg, "/P", rounds ? after : NULL, 3, got_cb,
				   &g, &more, NULL, NULL),
		       0, "page %d", rounds);
		for (j = 0; j < (size_t)g.n; j++, seen++)
			if (seen >= n || strcmp(g.names[j], want[seen]))
				sorted_ok = 0;
		if (g.n)
			snprintf(after, sizeof(after), "%s", g.names[g.n - 1]);
		rounds++;
	}
	is_int(seen, n, "pages cover every entry once");
	ok(sorted_ok, "bytewise order across pages");
	is_int(rounds, 4, "11 entries by 3: four pages");
	memset(&g, 0, sizeof(g));
	is_int(ledger_list(lg, "/P", "a", 1, got_cb, &g, &more, NULL, NULL), 0,
	       "after a folder name");
	is_str(g.names[0], "a-b", "next after 'a' is 'a-b'");
	is_int(more, 1, "more remain");
	is_int(ledger_list(lg, "/B/h.txt", NULL, 3, got_cb, &g, &more, NULL,
			   NULL),
	       -ENOTDIR, "listing a file");
	is_int(ledger_list(lg, "/nope", NULL, 3, got_cb, &g, &more, NULL, NULL),
	       -ENOENT, "listing an absent folder");
}

struct vers {
	int n;
	uint64_t v[16];
	char commit[16][GIT_OID_HEX_LEN + 1];
};

static int vers_cb(const struct manifest *m, const char *commit, void *arg)
{
	struct vers *vs = arg;

	if (vs->n < 16) {
		vs->v[vs->n] = m->version;
		snprintf(vs->commit[vs->n], GIT_OID_HEX_LEN + 1, "%s", commit);
	}
	vs->n++;
	return 0;
}

static void test_ledger_versions(const char *doc_f)
{
	struct vers vs = { 0 };
	char other[DOC_ID_HEX_LEN + 1];
	int distinct = 1;

	is_int(ledger_versions(lg, doc_f, vers_cb, &vs), 0, "versions");
	is_int(vs.n, 4, "four versions");
	for (int i = 0; i < vs.n && i < 4; i++)
		is_int(vs.v[i], i + 1, "version %d in order", i + 1);
	for (int i = 1; i < vs.n && i < 4; i++)
		if (!strcmp(vs.commit[i], vs.commit[i - 1]))
			distinct = 0;
	ok(distinct, "each version from its own commit");
	doc_id_new(other);
	is_int(ledger_versions(lg, other, vers_cb, &vs), -ENOENT,
	       "unknown document");
}

static void test_ledger_bulk(void)
{
	struct timespec t0, t1;
	char path[64];
	double secs;

	for (int d = 0; d < 50; d++) {
		snprintf(path, sizeof(path), "/bulk%02d", d);
		add_mkdir(path, FOLDER_CLASS_RESTRICTED);
	}
	is_int(run(), 0, "50 folders");
	for (int i = 0; i < 5000; i++) {
		snprintf(path, sizeof(path), "/bulk%02d/file%04d", i % 50, i);
		add_deposit(path, "same");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	is_int(run(), 0, "5000 deposits in one batch");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	diag("5000 deposits over 50 folders: %.3f s", secs);
	ok(secs < 20, "in reasonable time");
	struct got *big = calloc(1, sizeof(*big));
	int more = 1;

	is_int(ledger_list(lg, "/bulk07", "file0006", 50, got_cb, big, &more,
			   NULL, NULL),
	       0, "readers see the packed batch");
	is_int(big->n, 50, "a page of 50");
	is_str(big->names[0], "file0007", "starting after 'file0006'");
	is_int(more, 1, "more to come");
	free(big);

	add_deposit("/bulk07/file0007", "changed");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	is_int(run(), 0, "one more deposit");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	diag("one deposit in a 5000-document space: %.3f s", secs);
	is_int(res[0].version, 2, "v2");

	struct vers vs = { 0 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	is_int(ledger_versions(lg, res[0].doc_id, vers_cb, &vs), 0,
	       "versions of a bulk document");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	diag("versions by history walk: %.3f s", secs);
	ok(vs.n == 2 && vs.v[0] == 1 && vs.v[1] == 2, "v1 and v2 found");
}

static void test_ledger_git(void)
{
	char cmd[1024], line[256] = "";
	FILE *p;

	snprintf(
		cmd, sizeof(cmd),
		"git --git-dir '%s' fsck --strict --no-dangling >/dev/null 2>&1",
		repo);
	is_int(system(cmd), 0, "git fsck --strict passes");
	snprintf(
		cmd, sizeof(cmd),
		"git --git-dir '%s' log -1 --format='%%an <%%ae>|%%cn <%%ce>' main",
		repo);
	p = popen(cmd, "r");
	if (p) {
		if (!fgets(line, sizeof(line), p))
			line[0] = '\0';
		pclose(p);
	}
	line[strcspn(line, "\n")] = '\0';
	is_str(line, "alice <alice@demo.coffre>|coffred <coffred@localhost>",
	       "author is the depositor, committer coffred");
	snprintf(cmd, sizeof(cmd),
		 "git --git-dir '%s' log --format=%%B -1 main~1 | "
		 "grep -c '^Coffre-\\(Op\\|Doc\\|Client\\): '",
		 repo);
	p = popen(cmd, "r");
	line[0] = '\0';
	if (p) {
		if (!fgets(line, sizeof(line), p))
			line[0] = '\0';
		pclose(p);
	}
	is_int(atoi(line), 10001,
	       "trailers: one op and doc per deposit, one client");
	snprintf(cmd, sizeof(cmd),
		 "git --git-dir '%s' log --format=%%B | grep -q '^X-Injected'",
		 repo);
	ok(system(cmd) != 0, "newlines in the client name are neutralized");
	snprintf(cmd, sizeof(cmd),
		 "git --git-dir '%s' log --format=%%s --reverse | head -1 | "
		 "grep -qx 'create space'",
		 repo);
	is_int(system(cmd), 0, "first commit is 'create space'");
}

/* The mode of folder path as its parent's listing states it, -1 none. */
static int listed_mode(const char *parent, const char *name)
{
	struct mode_seek ms = { name, -2 };
	int more;

	ledger_list(lg, parent, NULL, 1000, mode_cb, &ms, &more, NULL, NULL);
	return ms.mode;
}

static void add_chmod(const char *path, uint32_t mode)
{
	add_path_op(LEDGER_OP_CHMOD, path);
	ops[nops - 1].has_mode = 1;
	ops[nops - 1].mode = mode;
}

static void test_ledger_modes(void)
{
	struct folder_meta fm = { .class = FOLDER_CLASS_PUBLIC };
	struct mode_seek none = { NULL, 0 };
	char before[GIT_OID_HEX_LEN + 1], cmd[1024];
	int more;

	add_mkdir("/M", FOLDER_CLASS_PUBLIC);
	ops[nops - 1].has_mode = 1;
	ops[nops - 1].mode = 0700;
	add_mkdir("/M/sub", FOLDER_CLASS_PUBLIC);
	add_deposit("/M/f.txt", "mode test\n");
	is_int(run(), 0, "mkdir with a mode");
	is_int(listed_mode("/", "M"), 0700, "the listing states 0700");
	is_int(listed_mode("/M", "sub"), -1, "a folder made without: none");

	add_chmod("/M/sub", 0);
	add_chmod("/M", 0751);
	is_int(run(), 0, "chmod two folders");
	is_int(listed_mode("/M", "sub"), 0, "chmod 0 is a mode");
	is_int(listed_mode("/", "M"), 0751, "chmod read back");
	ledger_list(lg, "/M", NULL, 10, mode_cb, &none, &more, &fm, NULL);
	ok(fm.has_mode && fm.mode == 0751 && fm.class == FOLDER_CLASS_PUBLIC,
	   "the folder's own listing states its mode and keeps its class");

	add_chmod("/M", 0755);
	is_int(run(), 0, "chmod back to the default");
	is_int(listed_mode("/", "M"), -1, "the default states no mode");

	snprintf(before, sizeof(before), "%s", now_head());
	add_chmod("/M/f.txt", 0700);
	add_chmod("/gone", 0700);
	add_chmod("/M/sub/x/y", 0700);
	is_int(run(), 0, "chmod of a file, of nothing: no error");
	is_int(listed_mode("/M", "sub"), 0, "nothing else changed");

	add_chmod("/", 0750);
	is_int(run(), 0, "chmod of the root");
	fm.has_mode = 0;
	ledger_list(lg, "/", NULL, 1, mode_cb, &none, &more, &fm, NULL);
	ok(fm.has_mode && fm.mode == 0750 &&
		   fm.class == FOLDER_CLASS_RESTRICTED,
	   "the root keeps its mode, and its class");

	/* a reclass keeps the mode; a chmod keeps the class */
	add_chmod("/M", 0700);
	is_int(run(), 0, "chmod again");
	is_int(access_ledger_class(lg, "demo", "alice", "/M",
				   FOLDER_CLASS_CONFIDENTIAL, "class /M\n"),
	       0, "reclass the folder");
	ledger_list(lg, "/M", NULL, 1, mode_cb, &none, &more, &fm, NULL);
	ok(fm.mode == 0700 && fm.class == FOLDER_CLASS_CONFIDENTIAL,
	   "reclassed, the mode stays");
	add_chmod("/M", 0770);
	is_int(run(), 0, "chmod a confidential folder");
	ledger_list(lg, "/M", NULL, 1, mode_cb, &none, &more, &fm, NULL);
	ok(fm.mode == 0770 && fm.class == FOLDER_CLASS_CONFIDENTIAL,
	   "chmod, the class stays");

	/* newest first: 0770, the reclass, 0700, the root's 0750, the
	 * three no-op chmods (traced as an unlink of nothing is), 0755 */
	snprintf(cmd, sizeof(cmd),
		 "git --git-dir '%s' log --format=%%B -6 main | "
		 "sed -n 's/^Coffre-Mode: //p' | tr '\\n' ' '",
		 repo);
	FILE *p = popen(cmd, "r");
	char line[128] = "";

	if (p) {
		if (!fgets(line, sizeof(line), p))
			line[0] = '\0';
		pclose(p);
	}
	is_str(line, "0770 0700 0750 0700 0700 0700 0755 ",
	       "the ledger records each mode set, in order");
	snprintf(
		cmd, sizeof(cmd),
		"git --git-dir '%s' fsck --strict --no-dangling >/dev/null 2>&1",
		repo);
	is_int(system(cmd), 0, "git fsck --strict still passes");
}

int main(void)
{
	char base[256], chunks[300], path[400], doc_f[DOC_ID_HEX_LEN + 1];
	struct crypto_key k;
	struct ledger *lg2;

	snprintf(base, sizeof(base), "/tmp/coffre-test-ledger.XXXXXX");
	if (!mkdtemp(base))
		return 1;
	snprintf(repo, sizeof(repo), "%s/demo.git", base);
	snprintf(chunks, sizeof(chunks), "%s/chunks", base);
	crypto_init();
	crypto_key_new_random(&k);
	if (chunkstore_open(&cs, chunks, &k) < 0)
		return 1;
	is_int(ledger_open(&lg, repo, 0), -ENOENT, "open without create");
	snprintf(path, sizeof(path), "%s/not-a-ledger", base);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/not-a-ledger/file", base);
	file_write_atomic(path, "x", 1, 0600);
	*strrchr(path, '/') = '\0';
	is_int(ledger_open(&lg, path, 1), -EEXIST,
	       "create refuses a directory holding something else");
	is_int(ledger_open(&lg, repo, 1), 0, "create the ledger");
	test_ledger_create();
	test_ledger_deposits(doc_f);
	test_ledger_moves(doc_f);
	test_ledger_failures();
	test_ledger_paging();
	test_ledger_threads();
	test_ledger_versions(doc_f);
	test_ledger_bulk();
	test_ledger_git();
	test_ledger_modes();

	is_int(ledger_open(&lg2, repo, 0), 0, "reopen");
	is_int(ledger_head(lg2, head), 0, "head after reopen");
	is_str(head, now_head(), "same head");
	ledger_free(lg2);

	ledger_free(lg);
	chunkstore_free(cs);
	crypto_key_release(&k);
	rm_rf(base);
	return tap_done();
}
