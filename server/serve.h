/*
 * `coffred serve`: run the HTTPS API in the foreground until SIGTERM or
 * SIGINT, then stop cleanly.
 */
#ifndef COFFRE_SERVER_SERVE_H
#define COFFRE_SERVER_SERVE_H

/*
 * Serve DATADIR.  port_file (may be NULL) receives the bound port, decimal
 * and a newline, written atomically once listening.  0 after a clean stop,
 * or -errno with err_set().
 */
int serve_run(const char *datadir, const char *port_file);

/*
 * The data directory's lock (DATADIR/coffred.lock, flock): held by a
 * serving coffred, and by the operator's commands that must not run beside
 * one (coffred legacy open).  The locked fd, -EBUSY when a coffred serves,
 * or -errno.  Released with the process, or close().
 */
int serve_lock_datadir(const char *datadir);

#endif /* COFFRE_SERVER_SERVE_H */
