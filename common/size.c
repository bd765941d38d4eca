/*
 * Sizes in bytes to and from text (size.h).  Parsed by hand because the
 * grammar is four letters and a fraction; strtoull alone would take a
 * sign, leading blanks and hexadecimal, which a quota must not.
 */
#include "common/size.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

static int shift_of(char c)
{
	switch (c) {
	case 'k':
	case 'K':
		return 10;
	case 'm':
	case 'M':
		return 20;
	case 'g':
	case 'G':
		return 30;
	case 't':
	case 'T':
		return 40;
	default:
		return -1;
	}
}

int size_parse(const char *s, uint64_t *out)
{
	uint64_t whole = 0, frac = 0, den = 1, v;
	const char *p = s;
	int shift = 0;

	if (!s || *s < '0' || *s > '9')
		return err_set(-EINVAL, "'%s' is not a size", s ? s : "");
	for (; *p >= '0' && *p <= '9'; p++)
		if (__builtin_mul_overflow(whole, 10, &whole) ||
		    __builtin_add_overflow(whole, (uint64_t)(*p - '0'), &whole))
			return err_set(-ERANGE, "size '%s' is too large", s);
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return err_set(-EINVAL, "'%s' is not a size", s);
		/* at most 6 decimals count: a millionth of a T is a byte */
		for (; *p >= '0' && *p <= '9'; p++)
			if (den < 1000000) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				den *= 10;
			}
	}
	if (*p && (shift = shift_of(*p)) >= 0) {
		p++;
		if (*p == 'i' && p[1] == 'B')
			p += 2;
		else if (*p == 'B' || *p == 'b')
			p++;
	} else if (*p == 'B' || *p == 'b') {
		shift = 0;
		p++;
	} else {
		shift = 0;
	}
	if (*p)
		return err_set(
			-EINVAL,
			"'%s' is not a size (bytes, or with K, M, G or T)", s);
	if (shift == 0 && frac)
		return err_set(-EINVAL, "'%s': a size in bytes is whole", s);
	if (whole > (UINT64_MAX >> shift))
		return err_set(-ERANGE, "size '%s' is too large", s);
	v = whole << shift;
	/* frac / den of one unit, rounded down; den <= 10^6, so the product
	 * fits below 2^60 */
	if (__builtin_add_overflow(v, (frac << shift) / den, &v))
		return err_set(-ERANGE, "size '%s' is too large", s);
	*out = v;
	return 0;
}

void size_format(uint64_t n, char *out, size_t outlen)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB",
					    "TiB", "PiB", "EiB" };
	int u = -1;
	uint64_t div = 1, tenth;

	if (n < 1024) {
		snprintf(out, outlen, "%llu byte%s", (unsigned long long)n,
			 n == 1 ? "" : "s");
		return;
	}
	while (u < 5 && n / div >= 1024) {
		div <<= 10;
		u++;
	}
	/* one decimal, rounded down so a figure never reads as more (div /
	 * 10 is a little short of a tenth: clamp at 9) */
	tenth = (n % div) / (div / 10);
	snprintf(out, outlen, "%llu.%llu %s", (unsigned long long)(n / div),
		 (unsigned long long)(tenth > 9 ? 9 : tenth), unit[u]);
}
