/*
 * The provable-history commands of the coffre CLI: proof (cmd_proof.c),
 * verify (cmd_verify.c), sign and signatures (cmd_sign.c).  Each takes the global --config value (may be
 * NULL) and argv from the command word on, and returns the exit status
 * (0, 1 failure with "coffre: ..." on stderr, 2 usage).
 */
#ifndef COFFRE_CLIENT_CMD_PROOFS_H
#define COFFRE_CLIENT_CMD_PROOFS_H

int cmd_proof(const char *config, int argc, char **argv);
int cmd_verify(const char *config, int argc, char **argv);
int cmd_sign(const char *config, int argc, char **argv); /* cmd_sign.c */
int cmd_signatures(const char *config, int argc, char **argv);
/* An owner opens a sealed version (cmd_sign.c). */
int cmd_declassify(const char *config, int argc, char **argv);

#endif /* COFFRE_CLIENT_CMD_PROOFS_H */
