/*
 * Error idiom shared by every part of coffre.
 *
 * Functions return 0 (or a count) on success and a negative errno on failure.
 * Project conditions map to the nearest errno:
 *   -EBADMSG  bad AEAD tag, corrupt object, malformed manifest
 *   -ESTALE   stale base state
 *   -EPROTO   the peer violated the protocol
 *   -E2BIG    input over a limit
 *   -EINVAL   invalid name or argument
 * The human message is set once, where the cause is known, with err_set(),
 * and kept in thread-local storage; callers propagate rc without rewording.
 */
#ifndef COFFRE_COMMON_ERR_H
#define COFFRE_COMMON_ERR_H

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define ARRAY_SIZE(a)	  (sizeof(a) / sizeof((a)[0]))

/* Keep the formatted message for this thread and return rc (negative). */
int err_set(int rc, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* The last message set on this thread, or strerror(-rc)-like text if none. */
const char *err_msg(void);

/* Forget the message of this thread. */
void err_clear(void);

#endif /* COFFRE_COMMON_ERR_H */
