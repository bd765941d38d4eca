/*
 * Internal header of the drive (`coffre mount`): the mount-wide state, the
 * in-memory tree of nodes, the pending operations mirrored from the durable
 * queue, and the functions the drive's modules share:
 *   tree.c      nodes, inode table, lookup counts, folder revalidation
 *   remote.c    typed calls to coffred over transport_json
 *   remote_meta.c  a listing entry's fields from the server's JSON
 *   chunk_map.c a version's chunks and their prefix sums
 *   content.c   reads of versions through the cache, staging
 *   pending.c   local name operations and their queued counterparts
 *   sync.c      the sync engine thread (sync_kick.c wakes it)
 *   notify.c    kernel cache invalidations from a thread of their own
 *   feed.c      the change feed thread (long poll of the server's head)
 *   vdir.c      the read-only `.versions` folders
 *   xattr.c     extended attributes and the control interface
 *   fuse_ops.c  the low-level operations table (translation only)
 *   mount.c     mount_run(): setup, loop, teardown
 * No circle of files: docs/architecture.md gives the layers, and the
 * client-layers test checks them on the built objects.
 *
 * Locking.  fs->lock (a mutex) protects the tree (names, parents, children,
 * the inode table), every node's metadata and counters, and the pending
 * list.  node->lock protects a node's content (its staging handle and chunk
 * map) and is held across the I/O on them, network fetches included.  Lock
 * order: node->lock before fs->lock; never the other way round.  Nothing
 * waits on the network while holding fs->lock.
 */
#ifndef COFFRE_CLIENT_FS_I_H
#define COFFRE_CLIENT_FS_I_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <jansson.h>
/* FNV-1a: uthash's default (Jenkins) falls through its switch, which
 * clang -Wimplicit-fallthrough refuses. */
#define HASH_FUNCTION HASH_FNV
#include <uthash.h>
#include "common/chunker.h"
#include "common/crypto.h"
#include "common/manifest.h"
#include "client/store/queue.h"

struct fuse_session;
struct transport;
struct cache;
struct staging;
struct mount_opts;
struct wb_job;
struct wback;

#define FS_TTL_MS      1000  /* folder listings and kernel caches */
#define FS_FEED_TTL_MS 30000 /* folder listings while the change feed runs */
#define FS_TTL_S       1.0
#define FS_BLKSIZE     (128 * 1024)
#define VERSIONS_NAME  ".versions"
#define FS_ERRMSG_MAX  512

enum node_kind {
	NODE_DIR,
	NODE_FILE,
	NODE_VROOT, /* DIR/.versions */
	NODE_VDOC,  /* DIR/.versions/NAME: versions of one document */
	NODE_VFILE, /* DIR/.versions/NAME/vN.EXT */
};

/* What the server says about a document version or a folder. */
struct remote_meta {
	char doc_id[DOC_ID_HEX_LEN + 1]; /* "" for folders */
	uint64_t version;
	uint64_t size;
	char sha256[OBJ_ID_HEX_LEN + 1];
	char deposited_by[LOGIN_MAX_LEN + 1];
	char deposited_at[32];
	int64_t mtime; /* 0 = none */
	int has_mode;  /* files: the version states a mode */
	uint32_t mode;
	char fclass[16]; /* folders */
	unsigned
		rights; /* folders: RIGHTS_* of the caller (client/drive/rights.h) */
	int has_rights; /* the listing stated them */
};

/* The chunks of one version, with prefix sums for offset lookups. */
struct chunk_map {
	char doc_id[DOC_ID_HEX_LEN + 1];
	uint64_t version;
	uint64_t size;
	size_t n;
	struct manifest_chunk *chunks;
	uint64_t *start; /* n + 1 entries: start[i] = offset of chunk i */
	/* read-ahead (content.c): chunks below ahead were asked for; on
	 * once a read of this map missed the cache */
	size_t ahead;
	int reading_ahead;
};

struct node {
	uint64_t ino;
	enum node_kind kind;
	struct node *parent; /* NULL for the root and detached nodes */
	char *name;
	int linked;	       /* in parent->children */
	uint64_t nlookup;      /* kernel lookup count */
	unsigned refs;	       /* handles, pending ops, listings */
	struct node *children; /* by name (hh_child) */
	UT_hash_handle hh;     /* fs->inodes by ino */
	UT_hash_handle hh_child;

	struct remote_meta rm;
	int has_remote;	       /* the document/folder exists on the server */
	unsigned pending;      /* queued ops that create or move this node */
	unsigned mode_pending; /* DIR: queued chmods of it (its mode is
				* this mount's until they are committed) */
	unsigned seen;	       /* revalidation generation */

	/* attributes kept in memory (chmod, chown, utimes) */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	int64_t mtime_local; /* 0 = none: use rm.mtime or deposited_at */
	/* kept in memory like the mode, 0 = none: the mtime */
	int64_t atime_local, ctime_local;
	int has_mode; /* mode was set (chmod 0 is a mode) */
	/* FILE: the user.* attributes of its content, {"user.NAME": "base64
	 * value"} (NULL: none): the version's, or set here and sent with the
	 * next deposit.  Never changed in place: replaced (fs->lock) */
	json_t *uxattrs;

	/* folders (and VDOC: its version list) */
	int64_t listed_at_ms;
	int listed;
	struct node *vroot; /* DIR: its .versions node, not in children */

	/* VFILE: the version shown */
	uint64_t vnum;
	/* VFILE: the queued DEPOSIT it shows, 0 for a version on the
	 * server (pending versions, see pend_version) */
	uint64_t pend_seq;
	/* FILE: open handles on pending versions (.versions/NAME/vN of a
	 * queued deposit) reading a queued staging file: while there is one,
	 * that file is never recycled for other content (read atomically) */
	unsigned vreaders;

	/* local content; the names below are protected by fs->lock */
	char *staging_name; /* pending content, NULL when none */
	/* staging_name is a closed deposit's content, queued: immutable, the
	 * next write copies it first (deposit_rules.h, deposit_cow) */
	int sealed;
	char sbase_doc[DOC_ID_HEX_LEN + 1]; /* base of the staging */
	uint64_t sbase_version;
	uint64_t sbase_size;
	uint64_t lsize;	  /* size of the pending content */
	unsigned writers; /* open write handles */
	/* open read handles: while there is one, the staging handle stays
	 * open (its file may be unlinked by a rename over the name or an
	 * unlink, and the reader still reads it, as on a local file system),
	 * and a remote change gives the name a new node */
	unsigned readers;
	int wrote;	  /* changed since the last release */
	uint64_t dep_seq; /* newest queued DEPOSIT, 0 when none */
	/* The DEPOSIT a close queued when nothing had been written through
	 * its open file yet (a create, an O_TRUNC), 0 when none: a write
	 * through that same open file before it goes out replaces it, for
	 * a shell's `>` closes a duplicate of the descriptor before the
	 * command writes (nameop_flush_unwritten); cleared by any later open
	 * for writing (the kernel may send its writes under the first open
	 * file's handle) */
	uint64_t flush_empty_seq;
	int dep_inflight;
	uint64_t content_gen; /* bumped when the remote content changes */
	uint64_t kernel_gen;  /* content_gen the kernel last cached */

	/* protected by lock */
	pthread_mutex_t lock;
	struct staging *st;
	char *st_name; /* the staging file st is open on */
	struct chunk_map *map;

	/* write-behind (wback.c), protected by its lock */
	struct wb_job *wb_head, *wb_tail; /* queued writes, in order */
	struct node *wb_next;		  /* in the ready list */
	int wb_ready, wb_running;
	int wb_err; /* first failed queued write, -errno */
};

/* A queued operation, mirrored in memory: the source of truth while mounted. */
struct pend {
	uint64_t seq;
	struct queue_op op; /* owned copy */
	struct node *node;  /* referenced; NULL for UNLINK/RMDIR */
	char *hide;	    /* remote path hidden until committed */
	int inflight;
	uint64_t lsize;	      /* DEPOSIT: size of its content */
	int64_t closed_at_ms; /* DEPOSIT: when its close was queued */
	/* DEPOSIT: the SHA-256 of its content, hashed on first demand */
	char sha256[OBJ_ID_HEX_LEN + 1];
	UT_hash_handle hh; /* fs->pends by seq, in seq order */
};

struct hidden {
	char *path;
	unsigned count;
	UT_hash_handle hh;
};

struct notif {
	struct notif *next;
	uint64_t ino;	 /* inval_inode when parent == 0 */
	uint64_t parent; /* inval_entry(parent, name) */
	char *name;
};

struct fs {
	const struct mount_opts *o;
	char *url, *login, *token, *cacert;
	char *space;
	char *config_dir;  /* absolute: the loop runs after chdir("/") */
	char *cache_dir;   /* absolute */
	int cache_lock_fd; /* flock held while mounted (mount.c); 0: none */
	char hostname[129];
	struct crypto_key key;
	struct transport *t;
	struct cache *cache;
	struct prefetch *pf; /* chunk read-ahead (prefetch.h); NULL: none */
	struct queue *q;
	char *staging_dir;
	struct chunker chunker;
	struct fuse_session *se;
	uid_t uid;
	gid_t gid;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* inflight changes (fs->lock) */
	struct node *inodes;
	struct node *root;
	uint64_t next_ino;
	unsigned gen;
	struct pend *pends;
	struct hidden *hidden;
	uint64_t last_nondep_seq; /* newest queued non-DEPOSIT op */
	uint64_t commit_gen;	  /* bumped when a batch is applied */
	uint64_t replay_seq; /* newest op replayed from the queue at start */
	/* COFFRE_FAULT=exit-after-commit (tests): the process dies as a
	 * SIGKILL would, once the server has answered a commit and before
	 * the queue lets go of it: a named batch applied but still queued */
	int fault_exit_after_commit;

	/* sync engine (fs->lock) */
	pthread_t sync_thread;
	pthread_cond_t sync_cond;
	int sync_started, sync_stop, sync_force;
	char last_error[FS_ERRMSG_MAX];
	/* times last_error was set: `coffre sync --wait` tells a new error
	 * from an old one with the same words (user.coffre.errors) */
	uint64_t errors;
	/* wall-clock ms of the last batch the server committed, and since
	 * when sending has failed for want of the server (0: it has not);
	 * `coffre status` shows them (status.c) */
	int64_t last_sync_ms;
	int64_t offline_since_ms;
	int64_t last_error_ms; /* when last_error was set */

	/* notifier */
	pthread_t notify_thread;
	pthread_mutex_t notify_lock;
	pthread_cond_t notify_cond;
	struct notif *notify_head, **notify_tail;
	int notify_started, notify_stop;

	struct offline *offline; /* offline.c: sealed copy of the tree */
	struct wback *wb;	 /* wback.c: write-behind workers */

	/* change feed (feed.c); feed_ok and feed_stop are read atomically */
	pthread_t feed_thread;
	pthread_cond_t feed_cond; /* with fs->lock: wakes its backoff */
	int feed_started, feed_stop, feed_ok;

	/* retired staging files and free ones to recycle (staging_pool.h;
	 * its own lock) */
	struct staging_pool *spool;
	/* when the idle sync engine wakes by itself, 0 when it does not
	 * (fs->lock) */
	int64_t sync_sleep_until;

	/* the space's usage and quota as last read from the server
	 * (quota.c), and since when a deposit has been held for the quota
	 * (0: none is); protected by fs->lock */
	struct fs_quota {
		int known;
		uint64_t bytes, limit; /* limit 0: unlimited */
		int64_t read_ms;       /* fs_now_ms() of the last reading */
		int64_t held_since_ms;
	} quota;
};

int64_t fs_now_ms(void);

/* status.c: the drive's state as a JSON object (user.coffre.status on the
 * root), malloc'd; called WITHOUT fs->lock. */
char *fs_status_json(struct fs *fs);

/* quota.c: the space's quota on the drive (see quota.h) */
/* Read the usage and quota from the server; without fs->lock.  A
 * failure keeps what was known. */
int quota_refresh(struct fs *fs);
/* Called without fs->lock before a write of n ending at end (create: n
 * NULL, end 0): 0, or -EDQUOT with err_set() when the bytes known stored,
 * those queued and this write's would pass the quota. */
int quota_write_check(struct fs *fs, struct node *n, uint64_t end);

/* tree.c (callers hold fs->lock unless said otherwise) */
/* How long a folder listing is trusted: long while the feed reports
 * changes, FS_TTL_MS otherwise. */
int fs_listing_ttl_ms(const struct fs *fs);
int tree_init(struct fs *fs);
void tree_release(struct fs *fs);
struct node *node_new(struct fs *fs, struct node *parent, const char *name,
		      enum node_kind kind);
struct node *node_child(struct node *dir, const char *name);
struct node *node_by_ino(struct fs *fs, uint64_t ino);
void node_ref(struct node *n);
void node_unref(struct fs *fs, struct node *n);
void node_forget(struct fs *fs, struct node *n, uint64_t nlookup);
void node_detach(struct fs *fs, struct node *n);
void node_attach(struct node *dir, struct node *n, const char *name);
char *node_path(const struct node *n); /* malloc'd; NULL when detached */
int node_is_local(const struct node *n);
void node_stat(const struct fs *fs, const struct node *n, struct stat *st);
uint64_t node_size(const struct node *n);
/* The metadata a deposit of file n carries (fs->lock held): {"mode": M,
 * "xattrs": {...}} with what n has, NULL when nothing (or no memory).
 * The mode goes when chmod set it, the version had one, or the file was
 * made with another mode than 0644; the attributes when there are any. */
json_t *node_meta_json(const struct node *n);
/* Refresh a folder's listing from the server when older than FS_TTL_MS
 * (always when force).  Called WITHOUT fs->lock.  -ENOENT when the folder
 * is gone; a failure with a listing at hand keeps the old one. */
int tree_revalidate(struct fs *fs, struct node *dir, int force);
/* Walk a space path, listing folders as needed; called without fs->lock.
 * On success *out is referenced (node_unref it). */
int tree_resolve(struct fs *fs, const char *path, struct node **out);
void hidden_add(struct fs *fs, const char *path);
void hidden_del(struct fs *fs, const char *path);
int hidden_has(struct fs *fs, const char *path);

/* remote.c: calls without fs->lock */
struct rentry {
	char *name;
	int is_dir;
	struct remote_meta rm;
	json_t *xattrs; /* files: {"user.NAME": "base64"} or NULL, owned */
};
int remote_space_info(struct fs *fs, uint8_t seed[CHUNK_SEED_LEN]);
/* fclass (16 bytes) gets the folder's own class, "" when not given. */
int remote_list(struct fs *fs, const char *path, struct rentry **out, size_t *n,
		char *fclass);
int remote_versions(struct fs *fs, const char *doc, struct remote_meta **out,
		    size_t *n);
int remote_chunk_map(struct fs *fs, const char *doc, uint64_t version,
		     struct chunk_map **out);
int remote_missing(struct fs *fs, const struct obj_id *ids, size_t n,
		   uint8_t *missing);
/* POST commits; on an op-specific error *bad_op is its index, else -1. */
int remote_commit(struct fs *fs, json_t *body, json_t **reply, int *bad_op);
/* GET stat of one path: *rm filled; -ENOENT when there is nothing. */
int remote_stat(struct fs *fs, const char *path, struct remote_meta *rm);

/* remote_meta.c: a listing entry's fields, from the server's JSON */
int remote_meta_from_json(struct remote_meta *rm, json_t *e);
void rentries_free(struct rentry *e, size_t n);
/* dst gets string v when it fits in cap, else "" */
void remote_str_copy(char *dst, size_t cap, json_t *v);

/* chunk_map.c */
void chunk_map_free(struct chunk_map *m);
int chunk_map_build(struct chunk_map **out, const char *doc, uint64_t version,
		    const struct manifest_chunk *c, size_t n);

/* content.c: called with node->lock held, fs->lock not held */
ssize_t content_read(struct fs *fs, struct node *n, void *buf, size_t size,
		     uint64_t off);
/* Read n as a read handle opened on version (doc, version) when n's
 * content_gen was gen sees it: through n until another device changes
 * the content, then through *map, that version's chunk map (loaded on
 * first need; the handle frees it with chunk_map_free). */
ssize_t content_read_pinned(struct fs *fs, struct node *n,
			    struct chunk_map **map, const char *doc,
			    uint64_t version, uint64_t gen, void *buf,
			    size_t size, uint64_t off);
ssize_t content_write(struct fs *fs, struct node *n, const void *buf,
		      size_t size, uint64_t off);
/* Make sure n->st exists: open the queued staging or create a new one. */
int content_staging(struct fs *fs, struct node *n, int trunc);
int content_truncate(struct fs *fs, struct node *n, uint64_t size);
/* Delete a staging file by name (no lock needed): recorded at once, the
 * unlink itself done by the next content_staging_reap. */
void content_staging_delete(struct fs *fs, const char *name);
/* Retire the staging file name of n's content just committed, for reuse
 * when small (n->staging_name no longer names it).  Called without fs->lock
 * or n->lock. */
void content_staging_recycle(struct fs *fs, struct node *n, const char *name,
			     uint64_t size);
/* Do the file-system work of the retirements recorded so far; called
 * without fs->lock. */
void content_staging_reap(struct fs *fs);
/* Close n's staging handle: the last writer is gone.  A handle holds
 * buffers and ciphers (some 16 KiB) and a descriptor; thousands of files
 * saved at once must not keep one each.  Reads reopen it. */
void content_staging_idle(struct fs *fs, struct node *n);
/* A read handle opens on n (n->readers counted): open the staging handle
 * of its pending content now, so that the reader keeps its bytes when the
 * file is unlinked underneath (content_staging_idle keeps it open while
 * a reader is there).  Called without any lock. */
int content_pin(struct fs *fs, struct node *n);
/* Set a staging file aside in DIR/staging/kept, out of the startup sweep:
 * for content the server refused, which must not be lost. */
void content_staging_keep(struct fs *fs, const char *name);
/* Open the staging file of a queued deposit by name, for the sync engine:
 * a handle of its own on content no one writes any more.  No lock needed. */
int content_deposit_open(struct fs *fs, const char *name, struct staging **out);
/* Read a queued deposit's content through st, over its base version
 * (doc, version); node->lock held (the base's chunk map is n's). */
ssize_t content_deposit_read(struct fs *fs, struct node *n, struct staging *st,
			     const char *doc, uint64_t version, void *buf,
			     size_t size, uint64_t off);
ssize_t content_base_read(void *arg, uint64_t off, void *buf, size_t n);
ssize_t content_map_read(struct fs *fs, struct chunk_map *m, void *buf,
			 size_t size, uint64_t off);
/* Start and stop the chunk read-ahead of the drive (prefetch.h). */
int content_prefetch_start(struct fs *fs);
void content_prefetch_stop(struct fs *fs);
int content_load_map(struct fs *fs, struct node *n, const char *doc,
		     uint64_t version);

/* pending.c: called with fs->lock held */
int pend_append(struct fs *fs, struct queue_op *op, struct node *n,
		const char *hide);
void pend_drop(struct fs *fs, struct pend *p); /* queue_remove + forget */
struct pend *pend_find(struct fs *fs, uint64_t seq);
/* The queued MKDIR of dir, NULL when none (fs->lock held). */
struct pend *pend_mkdir(struct fs *fs, const struct node *dir);
void pend_done(struct fs *fs, struct pend *p); /* committed: forget */
/* A close of n that changed it: one new DEPOSIT of its staging, which
 * becomes immutable (n->sealed). */
int pend_deposit(struct fs *fs, struct node *n);
/* The same, not sent before hold_ms from now (nor before the settle). */
int pend_deposit_hold(struct fs *fs, struct node *n, unsigned hold_ms);
/* The newest queued DEPOSIT of n, NULL when none; *count and *inflight
 * (either may be NULL) get how many n has queued and whether one of them
 * is being sent. */
struct pend *pend_deposits(struct fs *fs, struct node *n, unsigned *count,
			   int *inflight);
/* Hand n's waiting deposits over to node to (a save by rename onto n):
 * they stay deposits, in order, of the name to now holds. */
void pend_deposits_move(struct fs *fs, struct node *from, struct node *to);
int pend_replay(struct fs *fs); /* at start, without fs->lock */
/* The version number the queued DEPOSIT p will have on the server: the
 * current version of its node's document plus p's place among the node's
 * queued deposits (deposit_pending_version). */
uint64_t pend_version(struct fs *fs, const struct pend *p);
/* The SHA-256 (hex) of the queued DEPOSIT seq into out, hashed from its
 * staging file on first demand.  Called without any lock. */
int pend_sha256(struct fs *fs, uint64_t seq, char out[OBJ_ID_HEX_LEN + 1]);
/* What a pending version shows (fs->lock held): remote_meta filled from the
 * queued DEPOSIT p (version, size, depositor, local deposit time, doc id
 * when known, sha256 when hashed already). */
void pend_meta(struct fs *fs, const struct pend *p, struct remote_meta *rm);

/* nameops.c: called without fs->lock; *out referenced (node_unref it) */
int nameop_mkdir(struct fs *fs, struct node *parent, const char *name,
		 mode_t mode, struct node **out);
int nameop_create(struct fs *fs, struct node *parent, const char *name,
		  mode_t mode, int flags, struct node **out);
int nameop_unlink(struct fs *fs, struct node *parent, const char *name);
int nameop_rmdir(struct fs *fs, struct node *parent, const char *name);
int nameop_rename(struct fs *fs, struct node *parent, const char *name,
		  struct node *newparent, const char *newname, unsigned flags);
/* Open for writing: waits out an upload of the node, counts the writer. */
int nameop_open_write(struct fs *fs, struct node *n, int trunc);
/* A close (FLUSH) of a write handle whose writes all landed: a deposit when
 * the content changed (what close(2) waits for, so a kill after it loses
 * nothing). */
int nameop_flush_write(struct fs *fs, struct node *n);
/*
 * A close (FLUSH) of a write handle that changed n by opening it (created
 * it, or cut it with O_TRUNC) and wrote nothing through it: a deposit too,
 * since close(2) returned (a kill before RELEASE must not lose the file),
 * held a moment (FLUSH_EMPTY_HOLD_MS) and marked n->flush_empty_seq.
 */
int nameop_flush_unwritten(struct fs *fs, struct node *n);
/*
 * A write through a handle whose close deposited n unwritten: that
 * deposit, while it waits, is dropped and its staging written on (the
 * close that counts is the one after these writes).  Without fs->lock.
 */
void nameop_write_after_flush(struct fs *fs, struct node *n);
/* Last step of a write handle's release. */
void nameop_release_write(struct fs *fs, struct node *n);
/* File n's mode or user.* attributes changed (deposit_on_meta): carried
 * by its waiting deposit or its coming close, else a new version of the
 * same content.  Called without fs->lock. */
int nameop_meta(struct fs *fs, struct node *n);
/* Folder dir's mode bits (chmod): kept in the ledger (.coffre-folder),
 * carried by its queued MKDIR while that waits, else a queued CHMOD;
 * -EACCES at once without the organize right on it. */
int nameop_dir_mode(struct fs *fs, struct node *dir, uint32_t mode);

/* sync.c */
int sync_start(struct fs *fs);
void sync_stop(struct fs *fs);

/* sync_kick.c */
void sync_kick(struct fs *fs, int force); /* with fs->lock held */
/* Tell the sync engine of an op ready at ready_at (fs->lock held): no
 * wake-up when it wakes by then anyway. */
void sync_kick_at(struct fs *fs, int64_t ready_at);

/* offline.c: the sealed copy of the seed, listings and chunk lists that
 * lets the drive mount and serve cached files without the server.  Puts
 * are best effort; a get is NULL when absent. */
struct offline;
int offline_open(struct fs *fs); /* after fs->cache_dir and fs->key */
void offline_close(struct fs *fs);
void offline_put(struct fs *fs, const char *key, json_t *val);
json_t *offline_get(struct fs *fs, const char *key);
void offline_list_save(struct fs *fs, const char *path, const struct rentry *e,
		       size_t n, const char *fclass);
/* Keep the chunk list of a version this drive uploaded. */
void offline_map_save(struct fs *fs, const struct chunk_map *m);
/* Group the writes between offline_batch(fs, 1) and offline_batch(fs, 0)
 * in one transaction (a commit saves one row per version it made). */
void offline_batch(struct fs *fs, int begin);
/* -EIO when path was never listed: unknown is never shown as empty. */
int offline_list_load(struct fs *fs, const char *path, struct rentry **out,
		      size_t *n, char *fclass);

/* feed.c */
int feed_start(struct fs *fs);
void feed_stop(struct fs *fs);

/* notify.c */
int notify_start(struct fs *fs);
void notify_stop(struct fs *fs);
void notify_inode(struct fs *fs, uint64_t ino);
void notify_entry(struct fs *fs, uint64_t parent, const char *name);

/* vdir.c: called with fs->lock NOT held; *out referenced */
int vdir_lookup(struct fs *fs, struct node *parent, const char *name,
		struct node **out);
int vdir_revalidate(struct fs *fs, struct node *vdoc, int force);
/* The extension of name including the dot, or "" */
const char *vdir_ext(const char *name);

/* xattr.c: fs->lock NOT held; return value length or -errno */
ssize_t xattr_get(struct fs *fs, struct node *n, const char *name, char *buf,
		  size_t size);
ssize_t xattr_list(struct fs *fs, struct node *n, char *buf, size_t size);
int xattr_set(struct fs *fs, struct node *n, const char *name,
	      const char *value, size_t size, int flags);
int xattr_remove(struct fs *fs, struct node *n, const char *name);

/* fuse_ops.c */
extern const struct fuse_lowlevel_ops fs_ops;

#endif /* COFFRE_CLIENT_FS_I_H */
