/*
 * Progress of long work on standard error, as people expect it of a
 * command line: shown when standard error is a terminal, silent when not
 * (a script, a log), and forced either way by --progress or --quiet.
 * One line, redrawn in place at most five times a second, ended with a
 * newline when the work is done.
 */
#ifndef COFFRE_CLIENT_PROGRESS_H
#define COFFRE_CLIENT_PROGRESS_H

#include <stdint.h>

enum progress_mode {
	PROGRESS_AUTO,	/* when standard error is a terminal */
	PROGRESS_ON,	/* --progress */
	PROGRESS_QUIET, /* --quiet */
};

struct progress {
	int on, shown, tty;
	double last_draw, last_t;
	uint64_t last_bytes;
	double rate; /* bytes per second, smoothed */
};

void progress_init(struct progress *p, enum progress_mode mode);
/*
 * What is left of a sync: changes and bytes still to send, and the path
 * being sent (NULL when none).  The rate follows from the bytes left.
 */
void progress_sync(struct progress *p, uint64_t changes, uint64_t bytes,
		   const char *sending);
/*
 * A transfer (`coffre export`, `verify`, `proof`): documents done of all
 * (not shown for one), bytes done of all; the rate and the time left
 * follow.  what names it ("export").
 */
void progress_transfer(struct progress *p, const char *what, uint64_t docs,
		       uint64_t docs_total, uint64_t done, uint64_t total);
/* Done: the line ends (when one was drawn). */
void progress_end(struct progress *p);

#endif /* COFFRE_CLIENT_PROGRESS_H */
