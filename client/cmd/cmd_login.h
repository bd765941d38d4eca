/*
 * Getting into an account: `coffre login`, `coffre signup` (an account of
 * one's own, proven by a code sent by SMS) and `coffre password-reset`,
 * and what they share: the password file and keeping a session.
 */
#ifndef COFFRE_CLIENT_CMD_LOGIN_H
#define COFFRE_CLIENT_CMD_LOGIN_H

/*
 * The first line of the file at path, malloc'd (explicit_bzero and free
 * it).  -E2BIG, -EINVAL (empty) or -errno, with err_set.
 */
int password_file_read(const char *path, char **out);

int cmd_login(const char *config, int argc, char **argv);
int cmd_signup(const char *config, int argc, char **argv);
int cmd_password_reset(const char *config, int argc, char **argv);

#endif /* COFFRE_CLIENT_CMD_LOGIN_H */
