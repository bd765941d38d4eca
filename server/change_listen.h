/*
 * Hearing of other nodes' commits: a thread of coffred that listens on
 * the index (index_listen_open, PostgreSQL LISTEN) and, for each space
 * another node (or this one) committed to, bumps that space's change
 * generation and wakes the change feed (api_changes.c), so a drive
 * waiting on this node learns of a commit made through another node at
 * once, not at the next change_poll.
 *
 * With an index that cannot notify (SQLite: one node) the thread is not
 * started.  A lost connection is said once in the log and opened again,
 * every 1 s then up to every 30 s; what was told in between is lost, so
 * every waiter is woken to re-read its head when the listener is back.
 */
#ifndef COFFRE_SERVER_CHANGE_LISTEN_H
#define COFFRE_SERVER_CHANGE_LISTEN_H

struct change_listen;
struct index;
struct spaces;

/* Start listening on ix for the spaces of sp (both outlive it); *out is
 * NULL when ix cannot notify.  0 or -errno. */
int change_listen_start(struct change_listen **out, struct index *ix,
			struct spaces *sp);
/* Stop and join.  NULL does nothing. */
void change_listen_stop(struct change_listen *l);

#endif /* COFFRE_SERVER_CHANGE_LISTEN_H */
