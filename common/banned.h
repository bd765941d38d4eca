/*
 * Functions coffre does not use, made into compile errors (after git's
 * banned.h).  Each has a bounded or thread-safe replacement:
 * strcpy/strcat -> memcpy with a known length or struct buf, sprintf ->
 * snprintf, strtok -> strtok_r or explicit scanning, gets -> fgets, atoi ->
 * strtol with range checks, localtime -> gmtime_r/localtime_r, mktemp ->
 * mkostemp.  Include it last, after every system header.
 */
#ifndef COFFRE_COMMON_BANNED_H
#define COFFRE_COMMON_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gets
#define gets(x) BANNED(gets)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef localtime
#define localtime(x) BANNED(localtime)
#undef mktemp
#define mktemp(x) BANNED(mktemp)

#endif /* COFFRE_COMMON_BANNED_H */
