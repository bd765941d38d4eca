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

#endif /* COFFRE_SERVER_SERVE_H */
