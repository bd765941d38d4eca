/*
 * The help of the coffre command line: one entry per command, its
 * synopsis lines and what it does.  `coffre --help` prints every
 * synopsis, `coffre help` the commands with a line each, `coffre help CMD`
 * and `coffre CMD --help` the command's whole entry.  One table, so the
 * usage, the help and the man page's SYNOPSIS cannot drift apart
 * (t0110-cli checks the man page against it).
 */
#ifndef COFFRE_CLIENT_CLI_HELP_H
#define COFFRE_CLIENT_CLI_HELP_H

#include <stdio.h>

struct cli_help {
	const char *name;
	/* One or more lines after "coffre [--config DIR] ", '\n' apart. */
	const char *synopsis;
	const char *summary; /* one line */
	const char *details; /* options and exit statuses, or NULL */
};

/* The entry of command name, or NULL. */
const struct cli_help *cli_help_find(const char *name);

/* Every synopsis, as `coffre --help` shows them. */
void cli_help_usage(FILE *f);

/* The commands with their summary (`coffre help`). */
void cli_help_list(FILE *f);

/* The whole entry of one command (`coffre help CMD`). */
void cli_help_print(FILE *f, const struct cli_help *h);

/*
 * Whether argv (the command word first) asks for the command's help:
 * --help or -h before any "--".
 */
int cli_help_wanted(int argc, char **argv);

#endif /* COFFRE_CLIENT_CLI_HELP_H */
