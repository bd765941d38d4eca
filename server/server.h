/*
 * What a running coffred shares between its request threads: the data
 * directory, the configuration, the index and the open spaces.  Built by
 * serve.c before the HTTP daemon starts, torn down after it stops; the
 * fields never change while requests run.
 */
#ifndef COFFRE_SERVER_SERVER_H
#define COFFRE_SERVER_SERVER_H

#include "server/config.h"

struct index;
struct keys;
struct spaces;

struct server {
	const char *datadir;
	struct config cfg;
	struct index *ix;
	struct spaces *spaces;
	struct keys *keys; /* ledger, CA and TSA keys (keys.h) */
};

#endif /* COFFRE_SERVER_SERVER_H */
