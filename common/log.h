/*
 * Logging to stderr with a level and a timestamp.  Thread-safe.
 * Secrets never reach a log line.
 */
#ifndef COFFRE_COMMON_LOG_H
#define COFFRE_COMMON_LOG_H

#include "common/err.h"

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

/* Default LOG_LEVEL_INFO; COFFRE_LOG=debug in the environment lowers it. */
void log_set_level(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) PRINTF_LIKE(2, 3);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif /* COFFRE_COMMON_LOG_H */
