/* size_parse and size_format: the table of what a quota may be written as. */
#include "common/size.h"

#include <errno.h>
#include <stdint.h>

#include "tests/lib/tap.h"

#include "common/err.h"

int main(void)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t want;
	} rows[] = {
		{ "0", 0, 0 },
		{ "1", 0, 1 },
		{ "1048576", 0, 1048576 },
		{ "512K", 0, 512ull << 10 },
		{ "512k", 0, 512ull << 10 },
		{ "20M", 0, 20ull << 20 },
		{ "20MB", 0, 20ull << 20 },
		{ "20MiB", 0, 20ull << 20 },
		{ "1.5G", 0, 3ull << 29 },
		{ "2T", 0, 2ull << 40 },
		{ "0.5K", 0, 512 },
		{ "100B", 0, 100 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "16777216T", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 K", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "1.5", -EINVAL, 0 },
		{ "1.", -EINVAL, 0 },
		{ "10X", -EINVAL, 0 },
		{ "10KK", -EINVAL, 0 },
		{ "none", -EINVAL, 0 },
	};
	static const struct {
		uint64_t n;
		const char *want;
	} fmt[] = {
		{ 0, "0 bytes" },
		{ 1, "1 byte" },
		{ 1023, "1023 bytes" },
		{ 1024, "1.0 KiB" },
		{ 1536, "1.5 KiB" },
		{ 20ull << 20, "20.0 MiB" },
		{ (3ull << 29) + 1, "1.5 GiB" },
		{ UINT64_MAX, "15.9 EiB" },
	};
	char buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		uint64_t got = 0;
		int rc = size_parse(rows[i].in, &got);

		is_int(rc, rows[i].rc, "size_parse('%s') returns %d",
		       rows[i].in, rows[i].rc);
		if (rows[i].rc == 0)
			ok(got == rows[i].want, "size_parse('%s') = %llu",
			   rows[i].in, (unsigned long long)rows[i].want);
	}
	for (size_t i = 0; i < ARRAY_SIZE(fmt); i++) {
		size_format(fmt[i].n, buf, sizeof(buf));
		is_str(buf, fmt[i].want, "size_format(%llu)",
		       (unsigned long long)fmt[i].n);
	}
	return tap_done();
}
