/*
 * Consultation tracking: each open for reading of a document version
 * through the drive (a current version, or one under .versions) is one
 * read, kept durably in CACHE/reads.db (SQLite, WAL) the moment the file
 * is opened, and posted to the server in batches by a thread of its own
 * (POST /v1/spaces/S/events/reads).  A read leaves the file only once the
 * server has answered 200, so reads made offline or before a crash are
 * reported later.  The file holds document ids, version numbers and times,
 * never names or content.
 */
#ifndef COFFRE_CLIENT_READS_H
#define COFFRE_CLIENT_READS_H

#include <stdint.h>

struct fs;

#define READS_BATCH_MAX 500
#define READS_FLUSH_MS	2000

/* Open the store and start the poster.  0 or -errno. */
int reads_start(struct fs *fs);
/* Stop the poster (one last post, bounded by the transport's timeout). */
void reads_stop(struct fs *fs);
/* Record one read of doc_id at version (no-op before reads_start). */
void reads_record(struct fs *fs, const char *doc_id, uint64_t version);
struct node;
/*
 * An open for reading of n: one read of the version it shows (a document's
 * current version, or a .versions entry); nothing for content not yet on
 * the server.  Takes fs->lock.
 */
void reads_note(struct fs *fs, struct node *n);

/* Post what is pending now; 0, or -errno (kept for later). */
int reads_flush(struct fs *fs);

#endif /* COFFRE_CLIENT_READS_H */
