/*
 * The --json output of the commands that print records: one JSON document
 * on standard output, an array of objects (or one object), with the key
 * names the man pages list.  Keys are picked by name from the server's
 * records, so a field the server adds later does not appear unasked and
 * the documented keys stay stable.
 */
#ifndef COFFRE_CLIENT_CMD_JSON_H
#define COFFRE_CLIENT_CMD_JSON_H

#include <jansson.h>

/*
 * A new object with the keys of the NULL-terminated list keys copied from
 * src (a key src lacks is null); NULL when out of memory.
 */
json_t *cmd_json_pick(json_t *src, const char *const *keys);

/*
 * Append each element of array src, picked (cmd_json_pick), to array dst;
 * -1 when out of memory.
 */
int cmd_json_pick_all(json_t *dst, json_t *src, const char *const *keys);

/*
 * Print doc on stdout, indented, then a newline, and release it; 1 with a
 * message on stderr when doc is NULL (out of memory) or writing fails,
 * else 0.
 */
int cmd_json_print(json_t *doc);

#endif /* COFFRE_CLIENT_CMD_JSON_H */
