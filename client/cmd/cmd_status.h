/*
 * coffre status [MOUNTPOINT] [--json] (cmd_status.c): the state of one
 * drive, or of every coffre drive mounted, read from user.coffre.status
 * on the mount root.  Exit status 0, 1 on failure or when a drive needs
 * attention, 2 on a usage error.
 */
#ifndef COFFRE_CLIENT_CMD_STATUS_H
#define COFFRE_CLIENT_CMD_STATUS_H

int cmd_status(const char *config, int argc, char **argv);

#endif /* COFFRE_CLIENT_CMD_STATUS_H */
