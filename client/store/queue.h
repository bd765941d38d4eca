/*
 * The durable queue of operations waiting to reach the server.
 *
 * SQLite (WAL) file DIR/queue.db with one row per operation: seq INTEGER
 * PRIMARY KEY and a sealed blob (crypto_seal, ad = seq) of the operation as
 * JSON, so no path is readable at rest.  An append is one transaction:
 * written to the WAL before returning, so it survives a SIGKILL of the
 * process; synchronous=NORMAL, and queue_sync() checkpoints with fsync for
 * power-loss durability.  Thread-safe (internal mutex).
 *
 * Rows carry a format number ("v": 2, which names the batch an op was sent
 * in); a row of the first format (no "v", no batch) reads as an op never
 * sent, so a queue left by an older drive drains as it is.
 */
#ifndef COFFRE_CLIENT_QUEUE_H
#define COFFRE_CLIENT_QUEUE_H

#include <stdint.h>
#include "common/manifest.h"

struct queue;
struct crypto_key;

/* A batch id: 128 random bits in hex (protocol.md, "Commits"). */
#define QUEUE_BATCH_LEN 32

enum queue_kind {
	QUEUE_MKDIR,
	QUEUE_DEPOSIT,
	QUEUE_MOVE,
	QUEUE_UNLINK,
	QUEUE_RMDIR,
	QUEUE_CHMOD, /* a folder's mode bits (a file's go with its deposit) */
};

struct queue_op {
	uint64_t seq; /* set by queue_append */
	enum queue_kind kind;
	char *path;	 /* all but MOVE */
	char *from, *to; /* MOVE */
	char *staging;	 /* DEPOSIT: staging file name in DIR/staging */
	char base_doc[DOC_ID_HEX_LEN + 1]; /* DEPOSIT: base document or "" */
	uint64_t base_version;		   /* DEPOSIT: 0 when new */
	/* DEPOSIT: the version the staging file is copy-on-write over (its
	 * unwritten blocks read from it), "" for none; may differ from the
	 * base above, which is what the server is told was edited */
	char sbase_doc[DOC_ID_HEX_LEN + 1];
	uint64_t sbase_version;
	int64_t ready_at_ms; /* not before (CLOCK_REALTIME ms): settle */
	/* MKDIR: the class set on the folder before it reached the server,
	 * "" for none (the server's default: the parent's) */
	char fclass[16];
	/* MKDIR: the folder's mode when not 0755 (has_fmode); CHMOD: the
	 * mode to set (has_fmode always) */
	int has_fmode;
	uint32_t fmode;
	/* The id of the batch this op was sent in, "" before its first
	 * send.  Set, with every op of the batch, before the commit goes
	 * out: a retry, after a lost reply or a restart, sends the same ops
	 * under the same id and the server applies them once. */
	char batch[QUEUE_BATCH_LEN + 1];
	int64_t mtime; /* DEPOSIT in a named batch: the mtime it sent */
	/* DEPOSIT in a named batch: the mode and user.* attributes it sent
	 * (JSON object text), since they live in memory, not in staging */
	char *meta;
};

int queue_open(struct queue **out, const char *dir,
	       const struct crypto_key *key);
void queue_free(struct queue *q);

/* Append; sets op->seq. */
int queue_append(struct queue *q, struct queue_op *op);
/* Rewrite the row op->seq (e.g. a rename while the deposit waits). */
int queue_update(struct queue *q, const struct queue_op *op);
/* Rewrite n rows in one transaction: all of them, or none on error. */
int queue_update_many(struct queue *q, const struct queue_op *const *ops,
		      size_t n);
/* A fresh batch id into out (QUEUE_BATCH_LEN + 1 bytes). */
void queue_batch_id(char *out);
int queue_remove(struct queue *q, uint64_t seq);
/* Remove n ops in one transaction: all of them, or none on error.  As
 * with queue_remove, an op removed already is no error. */
int queue_remove_many(struct queue *q, const uint64_t *seqs, size_t n);
/* Call cb for every queued op in seq order; a non-zero cb return stops. The
 * op passed to cb is borrowed for the call. */
typedef int (*queue_cb)(const struct queue_op *op, void *arg);
int queue_list(struct queue *q, queue_cb cb, void *arg);
int64_t queue_count(struct queue *q);
int queue_sync(struct queue *q);

void queue_op_release(struct queue_op *op);

#endif /* COFFRE_CLIENT_QUEUE_H */
