/*
 * A deposit to a shared ledger (kept in the index) is atomic when the
 * index's storage fails: a SQLite VFS shim fails the N-th write step
 * (xWrite, xTruncate, xSync) of a deposit made as the server makes it, for
 * N over every step, of a plain deposit and of one whose commit checkpoints
 * the WAL.  After each failure the ledger's commit and its version in the
 * index are both there or both absent (also in the image a crash would
 * leave), a reported failure leaves nothing, the same handle then files the
 * content, and a restart finds every deposit made.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "server/chunk_backend.h"
#include "server/chunk_mem.h"
#include "server/chunkstore.h"
#include "server/events.h"
#include "server/index.h"
#include "server/ledger.h"
#include "tests/lib/tap.h"

#define SPACE "demo"

/* --- the VFS shim --- */

/*
 * The write steps of the index's files: each xWrite, xTruncate and xSync.
 * Once armed at n, the n-th step from then fails, and so does every later
 * one until disarmed: a disk gone bad for the rest of the attempt (SQLite's
 * "persistent" I/O errors).
 */
struct faults {
	sqlite3_vfs *real;
	unsigned long fail_at; /* 0: disarmed */
	unsigned long steps;   /* write steps since armed */
	unsigned long total;   /* write steps, armed or not */
	int fired;
};

struct shim_file {
	sqlite3_file base; /* first: SQLite hands us its address */
	struct faults *f;
	sqlite3_file *real; /* the real file, in the bytes right after */
};

/* The one module-level state: the registered VFS (pAppData: faults). */
static sqlite3_vfs shim_vfs;

static void faults_arm(struct faults *f, unsigned long n)
{
	f->fail_at = n;
	f->steps = 0;
	f->fired = 0;
}

/* fired stays as it was */
static void faults_disarm(struct faults *f)
{
	f->fail_at = 0;
}

static int step_fails(struct faults *f)
{
	f->total++;
	if (!f->fail_at || ++f->steps < f->fail_at)
		return 0;
	f->fired = 1;
	return 1;
}

static sqlite3_file *real_file(sqlite3_file *file)
{
	return ((struct shim_file *)file)->real;
}

static const sqlite3_io_methods *real_io(sqlite3_file *file)
{
	return real_file(file)->pMethods;
}

static int shim_close(sqlite3_file *file)
{
	return real_io(file) ? real_io(file)->xClose(real_file(file)) :
			       SQLITE_OK;
}

static int shim_read(sqlite3_file *file, void *p, int n, sqlite3_int64 off)
{
	return real_io(file)->xRead(real_file(file), p, n, off);
}

static int shim_write(sqlite3_file *file, const void *p, int n,
		      sqlite3_int64 off)
{
	if (step_fails(((struct shim_file *)file)->f))
		return SQLITE_IOERR_WRITE;
	return real_io(file)->xWrite(real_file(file), p, n, off);
}

static int shim_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	if (step_fails(((struct shim_file *)file)->f))
		return SQLITE_IOERR_TRUNCATE;
	return real_io(file)->xTruncate(real_file(file), size);
}

static int shim_sync(sqlite3_file *file, int flags)
{
	if (step_fails(((struct shim_file *)file)->f))
		return SQLITE_IOERR_FSYNC;
	return real_io(file)->xSync(real_file(file), flags);
}

static int shim_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	return real_io(file)->xFileSize(real_file(file), size);
}

static int shim_lock(sqlite3_file *file, int level)
{
	return real_io(file)->xLock(real_file(file), level);
}

static int shim_unlock(sqlite3_file *file, int level)
{
	return real_io(file)->xUnlock(real_file(file), level);
}

static int shim_check_reserved(sqlite3_file *file, int *out)
{
	return real_io(file)->xCheckReservedLock(real_file(file), out);
}

static int shim_file_control(sqlite3_file *file, int op, void *arg)
{
	return real_io(file)->xFileControl(real_file(file), op, arg);
}

static int shim_sector_size(sqlite3_file *file)
{
	return real_io(file)->xSectorSize(real_file(file));
}

static int shim_device_chars(sqlite3_file *file)
{
	return real_io(file)->xDeviceCharacteristics(real_file(file));
}

static int shim_shm_map(sqlite3_file *file, int page, int size, int extend,
			void volatile **out)
{
	if (real_io(file)->iVersion < 2)
		return SQLITE_IOERR_SHMMAP;
	return real_io(file)->xShmMap(real_file(file), page, size, extend, out);
}

static int shim_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	if (real_io(file)->iVersion < 2)
		return SQLITE_IOERR_SHMLOCK;
	return real_io(file)->xShmLock(real_file(file), offset, n, flags);
}

static void shim_shm_barrier(sqlite3_file *file)
{
	if (real_io(file)->iVersion >= 2)
		real_io(file)->xShmBarrier(real_file(file));
}

static int shim_shm_unmap(sqlite3_file *file, int del)
{
	if (real_io(file)->iVersion < 2)
		return SQLITE_OK;
	return real_io(file)->xShmUnmap(real_file(file), del);
}

static int shim_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **pp)
{
	if (real_io(file)->iVersion < 3) {
		*pp = NULL;
		return SQLITE_OK;
	}
	return real_io(file)->xFetch(real_file(file), off, n, pp);
}

static int shim_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
	if (real_io(file)->iVersion < 3)
		return SQLITE_OK;
	return real_io(file)->xUnfetch(real_file(file), off, p);
}

static const sqlite3_io_methods shim_io = {
	.iVersion = 3,
	.xClose = shim_close,
	.xRead = shim_read,
	.xWrite = shim_write,
	.xTruncate = shim_truncate,
	.xSync = shim_sync,
	.xFileSize = shim_file_size,
	.xLock = shim_lock,
	.xUnlock = shim_unlock,
	.xCheckReservedLock = shim_check_reserved,
	.xFileControl = shim_file_control,
	.xSectorSize = shim_sector_size,
	.xDeviceCharacteristics = shim_device_chars,
	.xShmMap = shim_shm_map,
	.xShmLock = shim_shm_lock,
	.xShmBarrier = shim_shm_barrier,
	.xShmUnmap = shim_shm_unmap,
	.xFetch = shim_fetch,
	.xUnfetch = shim_unfetch,
};

static struct faults *faults_of(sqlite3_vfs *vfs)
{
	return vfs->pAppData;
}

static sqlite3_vfs *real_vfs(sqlite3_vfs *vfs)
{
	return faults_of(vfs)->real;
}

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file,
		     int flags, int *out_flags)
{
	struct shim_file *sf = (struct shim_file *)file;
	sqlite3_vfs *real = real_vfs(vfs);
	int rc;

	sf->f = faults_of(vfs);
	sf->real = (sqlite3_file *)(sf + 1);
	memset(sf->real, 0, (size_t)real->szOsFile);
	rc = real->xOpen(real, name, sf->real, flags, out_flags);
	/* SQLite closes a file whose pMethods is set, even if xOpen failed. */
	sf->base.pMethods = sf->real->pMethods ? &shim_io : NULL;
	return rc;
}

static int shim_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	return real_vfs(vfs)->xDelete(real_vfs(vfs), name, sync_dir);
}

static int shim_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	return real_vfs(vfs)->xAccess(real_vfs(vfs), name, flags, out);
}

static int shim_full_pathname(sqlite3_vfs *vfs, const char *name, int n,
			      char *out)
{
	return real_vfs(vfs)->xFullPathname(real_vfs(vfs), name, n, out);
}

static void *shim_dl_open(sqlite3_vfs *vfs, const char *name)
{
	return real_vfs(vfs)->xDlOpen ?
		       real_vfs(vfs)->xDlOpen(real_vfs(vfs), name) :
		       NULL;
}

static void shim_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
	if (real_vfs(vfs)->xDlError)
		real_vfs(vfs)->xDlError(real_vfs(vfs), n, msg);
	else if (n > 0)
		msg[0] = '\0';
}

typedef void (*dl_fn)(void);

static dl_fn shim_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym)
{
	return real_vfs(vfs)->xDlSym ?
		       real_vfs(vfs)->xDlSym(real_vfs(vfs), h, sym) :
		       NULL;
}

static void shim_dl_close(sqlite3_vfs *vfs, void *h)
{
	if (real_vfs(vfs)->xDlClose)
		real_vfs(vfs)->xDlClose(real_vfs(vfs), h);
}

static int shim_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	return real_vfs(vfs)->xRandomness(real_vfs(vfs), n, out);
}

static int shim_sleep(sqlite3_vfs *vfs, int us)
{
	return real_vfs(vfs)->xSleep(real_vfs(vfs), us);
}

static int shim_current_time(sqlite3_vfs *vfs, double *out)
{
	return real_vfs(vfs)->xCurrentTime(real_vfs(vfs), out);
}

static int shim_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	return real_vfs(vfs)->xGetLastError ?
		       real_vfs(vfs)->xGetLastError(real_vfs(vfs), n, out) :
		       0;
}

static int shim_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	return real_vfs(vfs)->xCurrentTimeInt64(real_vfs(vfs), out);
}

static int shim_set_syscall(sqlite3_vfs *vfs, const char *name,
			    sqlite3_syscall_ptr p)
{
	return real_vfs(vfs)->xSetSystemCall(real_vfs(vfs), name, p);
}

static sqlite3_syscall_ptr shim_get_syscall(sqlite3_vfs *vfs, const char *name)
{
	return real_vfs(vfs)->xGetSystemCall(real_vfs(vfs), name);
}

static const char *shim_next_syscall(sqlite3_vfs *vfs, const char *name)
{
	return real_vfs(vfs)->xNextSystemCall(real_vfs(vfs), name);
}

/* Make the shim over the default VFS the default: 0, or -1. */
static int shim_register(struct faults *f)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);

	if (!real)
		return -1;
	memset(f, 0, sizeof(*f));
	f->real = real;
	shim_vfs = (sqlite3_vfs){
		.iVersion = real->iVersion < 3 ? real->iVersion : 3,
		.szOsFile = (int)sizeof(struct shim_file) + real->szOsFile,
		.mxPathname = real->mxPathname,
		.zName = "coffre-faults",
		.pAppData = f,
		.xOpen = shim_open,
		.xDelete = shim_delete,
		.xAccess = shim_access,
		.xFullPathname = shim_full_pathname,
		.xDlOpen = shim_dl_open,
		.xDlError = shim_dl_error,
		.xDlSym = shim_dl_sym,
		.xDlClose = shim_dl_close,
		.xRandomness = shim_randomness,
		.xSleep = shim_sleep,
		.xCurrentTime = shim_current_time,
		.xGetLastError = shim_last_error,
		.xCurrentTimeInt64 = shim_current_time64,
		.xSetSystemCall = shim_set_syscall,
		.xGetSystemCall = shim_get_syscall,
		.xNextSystemCall = shim_next_syscall,
	};
	return sqlite3_vfs_register(&shim_vfs, 1) == SQLITE_OK ? 0 : -1;
}

/* --- a deposit --- */

#define DEPOSIT_CHUNKS 3
#define CHUNK_BYTES    70000

struct content {
	uint8_t data[DEPOSIT_CHUNKS * CHUNK_BYTES];
	struct obj_id ids[DEPOSIT_CHUNKS];
	struct obj_id sha256;
};

static void content_fill(struct content *d, uint32_t seed)
{
	for (size_t i = 0; i < sizeof(d->data); i++) {
		seed = seed * 1103515245u + 12345u;
		d->data[i] = (uint8_t)(seed >> 16);
	}
	for (int i = 0; i < DEPOSIT_CHUNKS; i++)
		hash_buf(&d->ids[i], d->data + i * CHUNK_BYTES, CHUNK_BYTES);
	hash_buf(&d->sha256, d->data, sizeof(d->data));
}

static int upload(struct chunkstore *cs, const struct content *d)
{
	for (int i = 0; i < DEPOSIT_CHUNKS; i++) {
		struct chunkstore_writer *w;
		int rc = chunkstore_writer_new(cs, &d->ids[i], &w);

		if (rc == 0) {
			rc = chunkstore_writer_write(
				w, d->data + i * CHUNK_BYTES, CHUNK_BYTES);
			if (rc < 0)
				chunkstore_writer_abort(w);
			else
				rc = chunkstore_writer_finish(w);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* What a deposit reported as made. */
struct made {
	char doc_id[DOC_ID_HEX_LEN + 1];
	uint64_t version;
};

/* Where a deposit failed. */
enum stage { AT_NONE, AT_BEGIN, AT_APPLY, AT_COMMIT, NSTAGES };
static const char *const stage_names[] = { "none", "begin", "apply", "commit" };

/* The version and event a commit records, as record() in api_commits.c. */
static int record(struct index *ix, const char *path,
		  const struct ledger_result *r, const char *head)
{
	const struct manifest *m = &r->manifest;
	struct index_event ev = { .kind = "deposit",
				  .path = path,
				  .doc_id = r->doc_id,
				  .version = r->version };
	char sha[OBJ_ID_HEX_LEN + 1];
	struct index_version v;
	struct buf text;
	int rc;

	buf_init(&text, 1u << 20);
	rc = manifest_format(m, &text);
	obj_id_to_hex(&m->sha256, sha);
	v = (struct index_version){
		.doc_id = m->doc_id,
		.version = m->version,
		.size = m->size,
		.sha256 = sha,
		.deposited_by = m->deposited_by,
		.deposited_at = m->deposited_at,
		.commit = r->commit[0] ? r->commit : head,
		.manifest = text.data ? text.data : "",
	};
	if (rc == 0)
		rc = index_record(ix, SPACE, "alice", (int64_t)time(NULL), &v,
				  1, &ev, 1);
	buf_release(&text);
	return rc;
}

/*
 * A deposit as the server makes it on a shared ledger (api_commits.c:
 * shared_begin, ledger_apply, record, shared_end): one index transaction
 * holding the space's lock, the ledger's write joining it.  As there, a
 * failure of record() does not stop the commit (it is only logged; the
 * transaction it doomed then fails to commit), and a failed commit makes
 * the ledger forget its caches.
 */
static int deposit(struct index *ix, struct ledger *lg, struct chunkstore *cs,
		   const char *path, const struct content *d, struct made *out,
		   enum stage *stage)
{
	char head[GIT_OID_HEX_LEN + 1];
	struct index_txn *tx = NULL;
	struct ledger_result res;
	struct ledger_op op;
	size_t failed = 0;
	int rc;

	*stage = AT_BEGIN;
	rc = index_begin(ix, &tx);
	if (rc < 0)
		return rc;
	rc = index_lock_space(ix, tx, SPACE);
	if (rc < 0) {
		index_rollback(ix, tx);
		return rc;
	}
	memset(&op, 0, sizeof(op));
	op.kind = LEDGER_OP_DEPOSIT;
	op.path = strdup(path);
	manifest_init(&op.content);
	for (int i = 0; i < DEPOSIT_CHUNKS; i++)
		if (!op.path || manifest_add_chunk(&op.content, &d->ids[i],
						   CHUNK_BYTES) < 0)
			abort();
	op.content.size = sizeof(d->data);
	op.content.sha256 = d->sha256;
	*stage = AT_APPLY;
	rc = ledger_apply(lg, cs, SPACE, "alice", "test", &op, 1, &res, &failed,
			  head);
	ledger_op_release(&op);
	if (rc < 0) {
		index_rollback(ix, tx);
		return rc;
	}
	if (record(ix, path, &res, head) < 0)
		diag("%s: not recorded: %s", path, err_msg());
	memcpy(out->doc_id, res.doc_id, sizeof(out->doc_id));
	out->version = res.version;
	ledger_result_release(&res);
	*stage = AT_COMMIT;
	rc = index_commit(ix, tx);
	if (rc < 0) {
		ledger_forget(lg);
		return rc;
	}
	*stage = AT_NONE;
	return 0;
}

/* --- what a ledger and its index hold --- */

struct look {
	char head[GIT_OID_HEX_LEN + 1];
	int filed;   /* 1: path holds the content, 0: absent, -1: else */
	int indexed; /* filed: 1 the index has its version, 0 not, -1 else */
	struct made m;
	long nversions;
	uint64_t nevents;
};

struct stat_arg {
	const struct content *d;
	int n, good;
	struct made m;
	struct buf text; /* the manifest's text */
};

static int stat_cb(const struct ledger_entry *e, void *arg)
{
	struct stat_arg *s = arg;
	const struct manifest *m = e->manifest;

	s->n++;
	s->good = !e->is_dir && m && m->size == sizeof(s->d->data) &&
		  !obj_id_cmp(&m->sha256, &s->d->sha256) &&
		  m->nchunks == DEPOSIT_CHUNKS;
	for (size_t i = 0; s->good && i < DEPOSIT_CHUNKS; i++)
		s->good = !obj_id_cmp(&m->chunks[i].id, &s->d->ids[i]) &&
			  m->chunks[i].size == CHUNK_BYTES;
	if (m) {
		memcpy(s->m.doc_id, m->doc_id, sizeof(s->m.doc_id));
		s->m.version = m->version;
		buf_reset(&s->text);
		if (manifest_format(m, &s->text) < 0)
			s->good = 0;
	}
	return 0;
}

struct version_arg {
	const struct content *d;
	const char *commit, *text; /* NULL: any */
	int n, good;
};

static int version_cb(const struct index_version *v, void *arg)
{
	struct version_arg *a = arg;
	char sha[OBJ_ID_HEX_LEN + 1];
	struct manifest m;

	a->n++;
	obj_id_to_hex(&a->d->sha256, sha);
	manifest_init(&m);
	a->good = !strcmp(v->sha256, sha) && v->size == sizeof(a->d->data) &&
		  (!a->commit || !strcmp(v->commit, a->commit)) &&
		  v->manifest && (!a->text || !strcmp(v->manifest, a->text)) &&
		  manifest_parse(&m, v->manifest, strlen(v->manifest)) == 0 &&
		  !obj_id_cmp(&m.sha256, &a->d->sha256) &&
		  m.nchunks == DEPOSIT_CHUNKS;
	manifest_release(&m);
	return 0;
}

static int count_cb(const struct index_version *v, void *arg)
{
	(void)v;
	(*(long *)arg)++;
	return 0;
}

/* Whether the index has version m of the content, made by commit, its
 * manifest's text being text (each NULL: any): 1, 0, or -1 (another). */
static int index_has(struct index *ix, const struct made *m,
		     const struct content *d, const char *commit,
		     const char *text)
{
	struct version_arg a = { .d = d, .commit = commit, .text = text };

	if (index_versions(ix, SPACE, m->doc_id, m->version, version_cb, &a) <
	    0)
		return -1;
	return a.n == 0 ? 0 : a.n == 1 && a.good ? 1 : -1;
}

static void look_at(struct index *ix, struct ledger *lg, const char *path,
		    const struct content *d, struct look *l)
{
	struct stat_arg s = { .d = d };
	struct obj_id hash;
	int rc;

	memset(l, 0, sizeof(*l));
	buf_init(&s.text, 1u << 20);
	if (ledger_head(lg, l->head) < 0)
		snprintf(l->head, sizeof(l->head), "?");
	rc = ledger_stat(lg, path, stat_cb, &s);
	l->filed = rc == -ENOENT ? 0 : rc == 0 && s.n == 1 && s.good ? 1 : -1;
	l->m = s.m;
	/* its version, with the ledger's text, made by the head's commit */
	if (l->filed == 1)
		l->indexed = index_has(ix, &l->m, d, l->head,
				       s.text.data ? s.text.data : "");
	buf_release(&s.text);
	if (index_versions_all(ix, SPACE, count_cb, &l->nversions) < 0)
		l->nversions = -1;
	if (events_chain_head(ix, SPACE, &l->nevents, &hash) < 0)
		l->nevents = UINT64_MAX;
}

enum state { ABSENT, WHOLE, MIXED };

/*
 * l against base, the look before the deposit: WHOLE (the head moved to a
 * commit filing a new version at the path, which the index has, with its
 * event) or ABSENT (nothing changed); MIXED is told why.
 */
static enum state state_of(const struct look *l, const struct look *base,
			   const char *who, unsigned long n)
{
	int moved = strcmp(l->head, base->head) != 0;
	int same = l->filed == base->filed &&
		   !strcmp(l->m.doc_id, base->m.doc_id) &&
		   l->m.version == base->m.version;
	long nv = l->nversions - base->nversions;
	long long ne = (long long)(l->nevents - base->nevents);

	if (moved && !same && l->filed == 1 && l->indexed == 1 && nv == 1 &&
	    ne == 1)
		return WHOLE;
	if (!moved && same && nv == 0 && ne == 0)
		return ABSENT;
	diag("step %lu, %s: half a deposit: head %s, file %d (%s), version %d, versions %+ld, events %+lld",
	     n, who, moved ? "moved" : "kept", l->filed,
	     same ? "as before" : "changed", l->indexed, nv, ne);
	return MIXED;
}

/* --- the world: an index and its shared ledger in a directory --- */

struct world {
	char dir[160], db[200];
	struct index *ix;
	struct ledger *lg;
};

static int open_ledger(struct index *ix, struct ledger **lg, int create)
{
	struct ledger_where w = { .path = NULL, .ix = ix, .space = SPACE };

	return ledger_open_at(lg, &w, create);
}

/* 0, or -1 when dir is too long. */
static int world_name(struct world *w, const char *dir)
{
	int n = snprintf(w->dir, sizeof(w->dir), "%s", dir);

	if (n < 0 || (size_t)n >= sizeof(w->dir))
		return -1;
	n = snprintf(w->db, sizeof(w->db), "%s/%s", dir, INDEX_FILE_NAME);
	return n < 0 || (size_t)n >= sizeof(w->db) ? -1 : 0;
}

static int world_create(struct world *w)
{
	char dir[] = "/tmp/coffre-test-ledger-faults.XXXXXX";
	int64_t now = (int64_t)time(NULL);

	if (!mkdtemp(dir) || world_name(w, dir) < 0)
		return -1;
	if (index_open(&w->ix, w->db, 1) < 0 ||
	    index_user_add(w->ix, "alice", "+33600000001", "h", now) < 0 ||
	    index_space_add(w->ix, SPACE, "company", "alice", now) < 0 ||
	    open_ledger(w->ix, &w->lg, 1) < 0) {
		diag("setup: %s", err_msg());
		return -1;
	}
	return 0;
}

static void world_close(struct world *w)
{
	ledger_free(w->lg);
	index_free(w->ix);
	w->lg = NULL;
	w->ix = NULL;
}

/* Open what is in w->dir (a restart); 0, or -1. */
static int world_reopen(struct world *w)
{
	world_close(w);
	if (index_open(&w->ix, w->db, 0) < 0 ||
	    open_ledger(w->ix, &w->lg, 0) < 0) {
		diag("reopen %s: %s", w->dir, err_msg());
		return -1;
	}
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	char b[65536];
	FILE *in = fopen(from, "rb"), *out;
	size_t n;
	int rc = 0;

	if (!in)
		return errno == ENOENT ? 0 : -1;
	out = fopen(to, "wb");
	if (!out) {
		fclose(in);
		return -1;
	}
	while ((n = fread(b, 1, sizeof(b), in)) > 0)
		if (fwrite(b, 1, n, out) != n)
			rc = -1;
	if (ferror(in))
		rc = -1;
	fclose(in);
	return fclose(out) == 0 ? rc : -1;
}

/*
 * The image a crash would leave of the index at db now: its file and its
 * WAL as written so far, without the shared-memory index (so opening the
 * copy recovers from the WAL), copied into the new directory dir.
 */
static int crash_copy(const char *db, const char *dir)
{
	char from[220], to[220];

	if (mkdir(dir, 0700) < 0)
		return -1;
	snprintf(to, sizeof(to), "%s/%s", dir, INDEX_FILE_NAME);
	if (copy_file(db, to) < 0)
		return -1;
	snprintf(from, sizeof(from), "%s-wal", db);
	snprintf(to, sizeof(to), "%s/%s-wal", dir, INDEX_FILE_NAME);
	return copy_file(from, to);
}

/* A world opened on a crash image of db, in dir. */
static int crash_open(struct world *c, const char *db, const char *dir)
{
	c->ix = NULL;
	c->lg = NULL;
	if (world_name(c, dir) < 0 || crash_copy(db, dir) < 0)
		return -1;
	return world_reopen(c);
}

static void world_remove(struct world *w)
{
	world_close(w);
	rm_rf(w->dir);
}

/* --- the walk --- */

#define WALK_MAX  2000
#define FILED_MAX (2 * WALK_MAX + 2)

/* A deposit made: where, which version, of which content. */
struct filed {
	char path[32];
	struct made m;
	uint32_t seed;
};

struct tally {
	unsigned long steps; /* write steps of the deposit walked */
	int bad;	     /* running: half-done or wrongly reported */
	int crash_bad;	     /* crash images: half-done or a lost deposit */
	int retry_bad;	     /* the retry did not file the content */
	unsigned long reported[NSTAGES];
	unsigned long quiet;	 /* fired, reported made, and made */
	int whole_failed;	 /* reported failed, yet made */
	unsigned long came_back; /* failed, but a crash image holds it */
	struct filed *filed;
	size_t nfiled;
};

static void filed_add(struct tally *t, const char *path, const struct made *m,
		      uint32_t seed)
{
	struct filed *f;

	if (t->nfiled == FILED_MAX)
		abort();
	f = &t->filed[t->nfiled++];
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->m = *m;
	f->seed = seed;
}

/*
 * The crash image after step n's attempt: whole or absent, and holding
 * the deposit when the running handle does.  One whose commit failed may
 * come back (the WAL's frames were written, then the fsync failed): the
 * image holds what was written, the running handle what was committed.
 */
static void check_crash(struct world *w, unsigned long n, const char *path,
			const struct content *d, const struct look *base,
			enum state running, struct tally *t)
{
	struct world c;
	struct look l;
	enum state s;
	char dir[200];

	snprintf(dir, sizeof(dir), "%s/crash-%lu", w->dir, n);
	if (crash_open(&c, w->db, dir) < 0) {
		diag("step %lu: the crash image does not open", n);
		t->crash_bad++;
	} else {
		look_at(c.ix, c.lg, path, d, &l);
		s = state_of(&l, base, "crash image", n);
		if (s == MIXED || (running == WHOLE && s != WHOLE)) {
			diag("step %lu: a crash image holds %s", n,
			     s == MIXED ? "half a deposit" : "no deposit");
			t->crash_bad++;
		} else if (running == ABSENT && s == WHOLE) {
			t->came_back++;
		}
	}
	world_remove(&c);
}

/*
 * Step n: arm the fault at the n-th write step and deposit the content of
 * seed at path, check, then deposit it again unarmed.  Returns 1 when the
 * fault never fired (n is past the last step), else 0.
 */
static int walk_step(struct world *w, struct chunkstore *cs, struct faults *f,
		     unsigned long n, const char *path, uint32_t seed,
		     struct tally *t)
{
	static struct content d;
	struct look base, l;
	enum stage stage;
	enum state s;
	struct made m;
	int rc;

	content_fill(&d, seed);
	if (upload(cs, &d) < 0)
		abort();
	look_at(w->ix, w->lg, path, &d, &base);
	faults_arm(f, n);
	rc = deposit(w->ix, w->lg, cs, path, &d, &m, &stage);
	faults_disarm(f);
	look_at(w->ix, w->lg, path, &d, &l);
	s = state_of(&l, &base, f->fired ? "running" : "no fault", n);
	if (!f->fired) {
		/* n is past the last step: a deposit untouched by faults */
		if (rc < 0 || s != WHOLE) {
			diag("step %lu: without a fault: %s", n, err_msg());
			t->bad++;
		} else {
			filed_add(t, path, &m, seed);
		}
		t->steps = n - 1;
		return 1;
	}
	if (s == MIXED)
		t->bad++;
	if (rc == 0) {
		/* a step after the commit was durable: a checkpoint */
		t->quiet++;
		if (s == WHOLE) {
			filed_add(t, path, &m, seed);
		} else {
			diag("step %lu: success reported, nothing made", n);
			t->bad++;
		}
	} else {
		t->reported[stage]++;
		/*
		 * Made, though a failure was reported: never right here.
		 * SQLite reports no failure once a commit is durable (the
		 * checkpoint after it fails quietly), so the deposit's
		 * statements ran outside its transaction: one of them
		 * failed, SQLite rolled the transaction back, and the next
		 * ones committed on their own.
		 */
		if (s == WHOLE) {
			diag("step %lu: failure at %s reported, yet made", n,
			     stage_names[stage]);
			t->whole_failed++;
			filed_add(t, path, &l.m, seed);
		}
	}
	check_crash(w, n, path, &d, &base, s, t);
	/* The process carries on: the same handle files the content. */
	look_at(w->ix, w->lg, path, &d, &base);
	rc = deposit(w->ix, w->lg, cs, path, &d, &m, &stage);
	look_at(w->ix, w->lg, path, &d, &l);
	if (rc < 0 || state_of(&l, &base, "retry", n) != WHOLE ||
	    strcmp(l.m.doc_id, m.doc_id) || l.m.version != m.version) {
		diag("step %lu: the retry failed at %s: %s", n,
		     stage_names[stage], rc < 0 ? err_msg() : "");
		t->retry_bad++;
	} else {
		filed_add(t, path, &m, seed);
	}
	return 0;
}

/* w as opened again: head, every version filed, each path's last. */
static int restart_check(struct world *w, const char *head,
			 const struct tally *t)
{
	char got[GIT_OID_HEX_LEN + 1] = "";
	static struct content d;
	int bad = 0;

	if (world_reopen(w) < 0 || ledger_head(w->lg, got) < 0 ||
	    strcmp(got, head)) {
		diag("restart in %s: head %s, want %s", w->dir, got, head);
		return 1;
	}
	for (size_t i = 0; i < t->nfiled; i++) {
		const struct filed *f = &t->filed[i];
		int last = i + 1 == t->nfiled ||
			   strcmp(t->filed[i + 1].path, f->path) != 0;
		struct look l;

		content_fill(&d, f->seed);
		look_at(w->ix, w->lg, f->path, &d, &l);
		if (l.filed != 1 ||
		    (last && (strcmp(l.m.doc_id, f->m.doc_id) ||
			      l.m.version != f->m.version)) ||
		    index_has(w->ix, &f->m, &d, NULL, NULL) != 1) {
			diag("restart in %s: %s v%llu is missing", w->dir,
			     f->path, (unsigned long long)f->m.version);
			bad++;
		}
	}
	return bad;
}

static void report(const char *what, const struct tally *t)
{
	diag("%s: %lu write steps; failures reported at begin %lu, apply %lu, commit %lu; %lu not reported (the deposit made)",
	     what, t->steps, t->reported[AT_BEGIN], t->reported[AT_APPLY],
	     t->reported[AT_COMMIT], t->quiet);
	diag("%s: %lu failed deposits come back after a crash (WAL written, fsync failed)",
	     what, t->came_back);
}

/* Each step of a deposit to a new path failing in turn. */
static void walk_deposit(struct world *w, struct chunkstore *cs,
			 struct faults *f, struct tally *t)
{
	char head[GIT_OID_HEX_LEN + 1] = "", path[32];
	unsigned long n;

	for (n = 1; n <= WALK_MAX; n++) {
		snprintf(path, sizeof(path), "/doc-%lu.bin", n);
		if (walk_step(w, cs, f, n, path, (uint32_t)n * 977u, t))
			break;
	}
	report("deposit", t);
	ok(n <= WALK_MAX && t->steps > 0,
	   "deposit: the walk ends, %lu write steps", t->steps);
	is_int(t->bad, 0,
	       "deposit: each step failing leaves it whole or absent, never reported made when absent");
	is_int(t->whole_failed, 0,
	       "deposit: a failure reported leaves it absent");
	is_int(t->crash_bad, 0,
	       "deposit: the image a crash would leave is whole or absent, and loses no deposit made");
	is_int(t->retry_bad, 0,
	       "deposit: after each failure the same handle files the content again");
	ok(ledger_head(w->lg, head) == 0, "deposit: the running head");
	is_int(restart_check(w, head, t), 0,
	       "deposit: a restart reads the same head and the %zu deposits made",
	       t->nfiled);
}

/*
 * The frames the WAL of db holds (its wal-index header's mxFrame, a
 * native u32 at offset 16 of the -shm file: sqlite.org/walformat.html), or
 * -1.
 */
static long wal_frames(const char *db)
{
	char path[220];
	uint8_t h[20];
	uint32_t mx;
	FILE *in;
	size_t got;

	snprintf(path, sizeof(path), "%s-shm", db);
	in = fopen(path, "rb");
	if (!in)
		return -1;
	got = fread(h, 1, sizeof(h), in);
	fclose(in);
	if (got != sizeof(h))
		return -1;
	memcpy(&mx, h + 16, sizeof(mx));
	return (long)mx;
}

/* The WAL size at which a commit checkpoints (PRAGMA wal_autocheckpoint). */
static long autocheckpoint(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long n = -1;

	if (sqlite3_open(":memory:", &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA wal_autocheckpoint", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/*
 * The deposit whose commit brings the WAL to SQLite's autocheckpoint: after
 * the commit's own steps come the checkpoint's (the database's writes, its
 * truncation, syncs).  Deposits of one content to one path, then commits of
 * a row or two, bring the WAL a few frames short of it; the index as it is
 * then (a crash image) is where each step of the walk starts, in a
 * directory of its own.
 */
#define CKPT_PATH "/ckpt.bin"
#define CKPT_SEED 4242u

static void walk_checkpoint(struct world *w, struct chunkstore *cs,
			    struct faults *f, unsigned long deposit_steps,
			    struct tally *t)
{
	static struct content d;
	char snap[200], snapdb[220], dir[200], head[GIT_OID_HEX_LEN + 1];
	struct index_throttle_row row = { 0 };
	long limit = autocheckpoint(), frames, added = 0;
	unsigned long n;
	struct tally one;
	enum stage stage;
	struct made m;
	int i, bad = 0, restart_bad = 0;

	content_fill(&d, CKPT_SEED);
	if (upload(cs, &d) < 0)
		abort();
	for (i = 0; (frames = wal_frames(w->db)) >= 0 &&
		    frames + 2 * added < limit && i < 10000;
	     i++) {
		if (deposit(w->ix, w->lg, cs, CKPT_PATH, &d, &m, &stage) < 0)
			bad++;
		added = wal_frames(w->db) - frames;
	}
	/* a row commits a frame or two (three when a page splits) */
	for (i = 0; (frames = wal_frames(w->db)) >= 0 && frames < limit - 6 &&
		    i < 10000;
	     i++) {
		char key[32];

		snprintf(key, sizeof(key), "ckpt-%d", i);
		if (index_throttle_put(w->ix, key, &row) < 0)
			bad++;
	}
	snprintf(snap, sizeof(snap), "%s/before-checkpoint", w->dir);
	snprintf(snapdb, sizeof(snapdb), "%s/%s", snap, INDEX_FILE_NAME);
	ok(limit > 0 && !bad && frames >= limit - 6 && frames < limit &&
		   crash_copy(w->db, snap) == 0,
	   "checkpoint: the WAL %ld frames short of its checkpoint at %ld",
	   limit - frames, limit);
	if (limit <= 0 || bad || frames < limit - 6 || frames >= limit)
		return;
	for (n = 1; n <= WALK_MAX; n++) {
		struct world r;
		int last;

		snprintf(dir, sizeof(dir), "%s/checkpoint-%lu", w->dir, n);
		if (crash_open(&r, snapdb, dir) < 0) {
			diag("step %lu: the index before the checkpoint does not open",
			     n);
			bad++;
			world_remove(&r);
			break;
		}
		memset(&one, 0, sizeof(one));
		one.filed = t->filed;
		last = walk_step(&r, cs, f, n, CKPT_PATH, CKPT_SEED, &one);
		t->bad += one.bad;
		t->crash_bad += one.crash_bad;
		t->retry_bad += one.retry_bad;
		for (int k = 0; k < NSTAGES; k++)
			t->reported[k] += one.reported[k];
		t->quiet += one.quiet;
		t->whole_failed += one.whole_failed;
		t->came_back += one.came_back;
		t->steps = one.steps;
		if (ledger_head(r.lg, head) < 0 ||
		    restart_check(&r, head, &one))
			restart_bad++;
		world_remove(&r);
		if (last)
			break;
	}
	report("checkpoint", t);
	ok(n <= WALK_MAX && t->steps > 2 * deposit_steps,
	   "checkpoint: the walk ends, %lu write steps", t->steps);
	is_int(t->bad + bad, 0,
	       "checkpoint: each step failing leaves it whole or absent, never reported made when absent");
	is_int(t->whole_failed, 0,
	       "checkpoint: a failure reported leaves it absent");
	is_int(t->crash_bad, 0,
	       "checkpoint: the image a crash would leave is whole or absent, and loses no deposit made");
	is_int(t->retry_bad, 0,
	       "checkpoint: after each failure the same handle files the content again");
	is_int(restart_bad, 0,
	       "checkpoint: after each, a restart reads the same head and every deposit made");
}

int main(void)
{
	struct tally t1 = { 0 }, t2 = { 0 };
	struct chunk_backend *be = NULL;
	struct chunkstore *cs = NULL;
	struct world w = { 0 };
	struct crypto_key key;
	struct faults f;
	uint64_t bad_seq = 0;

	if (crypto_init() < 0)
		tap_skip_all("no crypto");
	if (shim_register(&f) < 0)
		tap_skip_all("SQLite has no default VFS to wrap");
	t1.filed = calloc(FILED_MAX, sizeof(*t1.filed));
	t2.filed = calloc(FILED_MAX, sizeof(*t2.filed));
	if (!t1.filed || !t2.filed || crypto_key_new_random(&key) < 0 ||
	    chunk_mem_new(&be) < 0 || chunkstore_new(&cs, be, &key) < 0 ||
	    world_create(&w) < 0)
		tap_skip_all("cannot set up an index and its ledger");
	walk_deposit(&w, cs, &f, &t1);
	walk_checkpoint(&w, cs, &f, t1.steps, &t2);
	ok(events_verify_chain(w.ix, SPACE, &bad_seq) == 0,
	   "the event journal links and hashes right");
	world_remove(&w);
	chunkstore_free(cs);
	crypto_key_release(&key);
	sqlite3_vfs_unregister(&shim_vfs);
	free(t1.filed);
	free(t2.filed);
	return tap_done();
}
