/*
 * The access commands of the coffre CLI: member, grant, revoke,
 * delegate-admin (cmd_access.c) and log (cmd_log.c).  Each takes the
 * global --config value (may be NULL) and argv from the command word on,
 * and returns the exit status (0, 1 failure with "coffre: ..." on stderr,
 * 2 usage).
 */
#ifndef COFFRE_CLIENT_CMD_ACCESS_H
#define COFFRE_CLIENT_CMD_ACCESS_H

#include <limits.h>
#include <stddef.h>

#include <jansson.h>

struct transport;
struct session;

int cmd_member(const char *config, int argc, char **argv);
int cmd_grant(const char *config, int argc, char **argv);
int cmd_revoke(const char *config, int argc, char **argv);
int cmd_delegate_admin(const char *config, int argc, char **argv);
int cmd_log(const char *config, int argc, char **argv);
/* coffre spaces, coffre space create (cmd_spaces.c). */
int cmd_spaces(const char *config, int argc, char **argv);
int cmd_space(const char *config, int argc, char **argv);
/* coffre usage SPACE (cmd_usage.c). */
int cmd_usage(const char *config, int argc, char **argv);
/* The account (cmd_account.c): logout, sessions, passwd, invitations,
 * accept, decline. */
int cmd_logout(const char *config, int argc, char **argv);
int cmd_sessions(const char *config, int argc, char **argv);
int cmd_passwd(const char *config, int argc, char **argv);
int cmd_invitations(const char *config, int argc, char **argv);
int cmd_accept(const char *config, int argc, char **argv);
int cmd_decline(const char *config, int argc, char **argv);

/*
 * A path on a mounted drive: the space (the mount root's
 * user.coffre.space) and the path inside the space ("/" for the root).
 * -EINVAL when path is not on a coffre drive, or -errno.
 */
int access_mount_path(const char *path, char space[65], char *inpath,
		      size_t inlen);

/* Session of config and a transport on it; free both after. */
int access_connect(const char *config, struct session *s, struct transport **t);

/*
 * One JSON request on config's session (transport_json; body, which may
 * be NULL, is consumed): 0, or 1 once the failure's message is printed
 * ("coffre: ..." on stderr), the command's exit status.
 */
int access_call(const char *config, const char *method, const char *api,
		json_t *body, json_t **reply);

#endif /* COFFRE_CLIENT_CMD_ACCESS_H */
