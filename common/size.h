/*
 * Sizes in bytes as people write them: "1048576", "512K", "20M", "1.5G",
 * "2T" (binary multiples: K = 1024), for coffred.conf's quota_default and
 * coffred space quota; and back to text for coffre usage.  No I/O.
 */
#ifndef COFFRE_COMMON_SIZE_H
#define COFFRE_COMMON_SIZE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse s: digits, an optional fraction (".5") and an optional suffix K, M,
 * G or T (either case, an optional "B" or "iB" after it: "20MiB").  0 or
 * -EINVAL (not a size) or -ERANGE (over UINT64_MAX), with err_set().  A
 * fraction is rounded down to a whole byte.
 */
int size_parse(const char *s, uint64_t *out);

/* "1.5 GiB", "512 KiB", "12 bytes": at most one decimal, into out. */
void size_format(uint64_t n, char *out, size_t outlen);

#endif /* COFFRE_COMMON_SIZE_H */
