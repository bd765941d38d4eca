/*
 * The drive's decisions about deposits, as pure functions: which close is a
 * deposit, which names are temporary, what a write-open does with the
 * pending content, what a removal or a queued move does, and how the
 * outcome of a batch sent to the server is sorted.  No I/O and no locks:
 * the callers (nameops.c, pending.c, content.c, sync.c) gather the facts
 * and act on the verdict, and tests/unit/test_deposit_rules.c walks the
 * tables.  The contract they implement is docs/architecture.md, "The
 * drive's contract".
 */
#ifndef COFFRE_CLIENT_DEPOSIT_RULES_H
#define COFFRE_CLIENT_DEPOSIT_RULES_H

#include <stdint.h>

/*
 * 1 when name (a last path component) is a temporary name of a program's
 * save, 0 otherwise.  Recognised, and only these:
 *   vim          .NAME.swp (any .swX: .swo, .swn ..., .swx), NAME~, 4913
 *   LibreOffice  .~lock.NAME#, luXXXX.tmp
 *   rsync        .NAME.XXXXXX (a dot, a name, a dot, six letters/digits)
 *   sed -i       sedXXXXXX (sed and six letters/digits)
 *   GIO          .goutputstream-XXXXXX
 *   Python       tmpXXXXXXXX (tempfile: tmp and eight [a-z0-9_])
 *   any          NAME.tmp, NAME.part, #NAME# (Emacs)
 */
int deposit_name_is_temp(const char *name);

/* What a close (FLUSH) or the last release of a write handle does. */
enum deposit_close {
	DEPOSIT_CLOSE_NONE,  /* nothing changed, or the file has no name */
	DEPOSIT_CLOSE_QUEUE, /* one new deposit, after every queued op */
	DEPOSIT_CLOSE_TORN,  /* a write failed: never a version */
};
enum deposit_close deposit_on_close(int linked, int changed, int write_failed);

/* What a write to a file does with its pending content. */
enum deposit_cow {
	DEPOSIT_COW_IN_PLACE, /* its own, not yet closed: write there */
	DEPOSIT_COW_FRESH,    /* a new empty staging file (O_TRUNC) */
	DEPOSIT_COW_CLONE,    /* a copy of a closed deposit's staging */
	DEPOSIT_COW_NEW,      /* a new staging file over the version */
};
enum deposit_cow deposit_cow(int has_staging, int sealed, int trunc);

/* What the removal of a file does with the deposits it has queued. */
enum deposit_removal {
	DEPOSIT_REMOVAL_NOTHING, /* never closed, never on the server */
	DEPOSIT_REMOVAL_DROP,	 /* a temporary name, never sent: drop */
	DEPOSIT_REMOVAL_QUEUE,	 /* queue an unlink after the deposits */
};
enum deposit_removal deposit_on_remove(int temp_name, int has_remote,
				       int queued_deposits, int any_inflight);

/* What the replay of a queued move does to the tree at start. */
enum deposit_replay_move {
	DEPOSIT_REPLAY_MOVE,	/* the target name is free: move */
	DEPOSIT_REPLAY_REPLACE, /* a file there: it is replaced */
	DEPOSIT_REPLAY_SKIP,	/* no source, or a folder in the way */
};
/* target: 0 none, 1 a file, 2 a folder; src_dir: the source is a folder;
 * target_empty: a target folder is known to be empty */
enum deposit_replay_move deposit_replay_move(int src_found, int src_dir,
					     int target, int target_empty);

/* How the sync engine takes the answer to a batch. */
enum deposit_outcome {
	DEPOSIT_OUTCOME_APPLIED, /* committed: apply, dequeue */
	DEPOSIT_OUTCOME_LOST,	 /* a deposit's content is unreadable here */
	DEPOSIT_OUTCOME_HALVE,	 /* too large for the server: send less */
	DEPOSIT_OUTCOME_RETRY,	 /* transient: keep all, back off */
	DEPOSIT_OUTCOME_REFUSED, /* the server refused op bad: handle it */
};
/* rc of the send, local (the failure was ours, not the server's), bad (the
 * op at fault or -1), n (ops in the batch). */
enum deposit_outcome deposit_outcome(int rc, int local, int bad, unsigned n);
/* 1 when a failure with rc may heal by itself (network, 5xx, ENOSPC). */
int deposit_transient(int rc);

/*
 * The number a queued deposit shows before the server answers: current is
 * the version of the document the drive knows (0 for a document not on the
 * server yet), place is 1 for the oldest deposit of the file still queued,
 * 2 for the next, ...  The server gives the same numbers unless another
 * device deposits a version of the document first; then the server's
 * number is the one kept once committed.  0 when place is 0 or the number
 * would overflow.
 */
uint64_t deposit_pending_version(uint64_t current, unsigned place);

/* What a change of a file's mode or user.* attributes does. */
enum deposit_meta {
	DEPOSIT_META_KEEP,     /* nothing to send: not a document yet */
	DEPOSIT_META_REWRITE,  /* a waiting deposit carries it */
	DEPOSIT_META_ON_CLOSE, /* open for writing: its close deposits */
	DEPOSIT_META_QUEUE,    /* a new version of the same content */
};
/* waiting: the file's newest queued deposit is not being sent yet;
 * writers: open write handles; known: on the server or queued */
enum deposit_meta deposit_on_meta(int waiting, unsigned writers, int known);

#endif /* COFFRE_CLIENT_DEPOSIT_RULES_H */
