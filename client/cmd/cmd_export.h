/*
 * `coffre export SPACE --out DIR`: everything the caller may read of a
 * space, in open formats, resumable (cmd_export.c, docs/export.md).
 */
#ifndef COFFRE_CLIENT_CMD_EXPORT_H
#define COFFRE_CLIENT_CMD_EXPORT_H

int cmd_export(const char *config, int argc, char **argv);

#endif /* COFFRE_CLIENT_CMD_EXPORT_H */
