/*
 * Anchoring the event journal in the ledgers: a thread of coffred that,
 * every COFFRE_ANCHOR_SECS seconds (environment; default 60, 1..3600) and
 * once more when the server stops, writes the head of each space's event
 * chain and of the server chain (logins) into that space's ledger
 * (ledger_anchor), when it changed since the last anchor.  So an event
 * deleted, edited, or cut off the end of the journal is found by
 * `coffred fsck` against a signed, timestamped anchor.
 *
 * Anchor text (blob "events" on refs/coffre/events):
 *
 *   coffre-events 1
 *   space NAME
 *   seq N            hash HEX      (the space's chain head)
 *   server-seq N     server-hash HEX
 *
 * written as one "key value" per line: space, seq, hash, server-seq,
 * server-hash.
 */
#ifndef COFFRE_SERVER_ANCHOR_H
#define COFFRE_SERVER_ANCHOR_H

#include <stddef.h>
#include <stdint.h>

struct anchor;
struct server;

#define ANCHOR_SECS_DEFAULT 60

/* Start the thread; srv must outlive anchor_stop().  0 or -errno. */
int anchor_start(struct anchor **out, struct server *srv);
/* Anchor one last time, stop and join.  NULL does nothing. */
void anchor_stop(struct anchor *a);

/* One pass over every space (the thread's work).  0 or the first -errno. */
int anchor_all(struct server *srv);

/* The anchor text of a space's chain heads into out (NUL-terminated). */
int anchor_text(char *out, size_t outlen, const char *space, uint64_t seq,
		const char *hash_hex, uint64_t server_seq,
		const char *server_hash_hex);

#endif /* COFFRE_SERVER_ANCHOR_H */
