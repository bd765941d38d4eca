/*
 * `coffre mount`: the FUSE drive of one space.
 *
 * Control interface, used by `coffre sync --wait` and scripts, as extended
 * attributes of the mount's root directory:
 *   user.coffre.pending   (get) number of queued operations not yet
 *                         committed on the server, in decimal
 *   user.coffre.error     (get) the last permanent sync error, "" when none
 *   user.coffre.errors    (get) how many errors were recorded since mount,
 *                         in decimal: a new one in the same words counts
 *   user.coffre.sync      (set, value "now") end every settle delay at once
 *   user.coffre.space     (get) the space name
 *   user.coffre.pid       (get) the PID of the mount process, in decimal:
 *                         `coffre umount` waits for it to exit
 */
#ifndef COFFRE_CLIENT_MOUNT_H
#define COFFRE_CLIENT_MOUNT_H

#include <stdint.h>

struct mount_opts {
	const char *config_dir; /* resolved config dir (session.json there) */
	const char *space;
	const char *mountpoint;
	const char *cache_dir; /* resolved: --cache or CONFIG/cache/SPACE */
	int foreground;	       /* else daemonize once mounted */
	uint64_t cache_size;   /* bytes; 0 = unbounded */
	unsigned settle_ms;    /* default 1000, env COFFRE_SETTLE_MS */
	int debug;	       /* FUSE debug output */
};

/* Mount and serve until unmounted or signalled.  Returns a process exit
 * status: 0 after a clean unmount, 1 on failure (message on stderr). */
int mount_run(const struct mount_opts *o);

#endif /* COFFRE_CLIENT_MOUNT_H */
