/* Unit tests for common/buf: appends, formatting, the hard cap, detach. */
#include "common/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/tap.h"

static void test_buf_append(void)
{
	struct buf b;
	size_t len;
	char *p;

	buf_init(&b, 100);
	is_int(buf_append(&b, "abc", 3), 0, "append");
	is_int(buf_appendf(&b, "-%d-%s", 42, "x"), 0, "appendf");
	is_int(b.len, 8, "len counts both");
	is_str(b.data, "abc-42-x", "content NUL-terminated");
	buf_reset(&b);
	is_int(b.len, 0, "reset empties");
	is_str(b.data, "", "reset keeps a valid string");
	is_int(buf_append(&b, "", 0), 0, "empty append");
	p = buf_detach(&b, &len);
	ok(p && len == 0 && !strcmp(p, ""), "detach of empty content");
	free(p);
	ok(b.data == NULL && b.len == 0, "detach leaves the buffer empty");
	buf_release(&b);
	buf_release(&b);
	ok(1, "release twice is harmless");

	buf_init(&b, 100);
	p = buf_detach(&b, &len);
	ok(p && len == 0 && !*p, "detach of an untouched buffer gives \"\"");
	free(p);
}

static void test_buf_cap(void)
{
	char big[200];
	struct buf b;

	memset(big, 'x', sizeof(big));
	buf_init(&b, 10);
	is_int(buf_append(&b, big, 10), 0, "exactly the cap fits");
	is_int(buf_append(&b, big, 1), -E2BIG, "one past the cap: -E2BIG");
	is_int(b.len, 10, "refused append changes nothing");
	buf_reset(&b);
	is_int(buf_append(&b, "12345", 5), 0, "room again after reset");
	is_int(buf_appendf(&b, "%s", "abcdef"), -E2BIG, "appendf past cap");
	is_int(b.len, 5, "refused appendf changes len");
	is_str(b.data, "12345", "refused appendf leaves content");
	is_int(buf_appendf(&b, "%s", "abcde"), 0, "appendf up to cap");
	is_str(b.data, "12345abcde", "content after appendf");
	is_int(buf_append(&b, big, SIZE_MAX), -E2BIG,
	       "huge length overflows into -E2BIG");
	buf_release(&b);

	/* Growth across many reallocations keeps content intact. */
	buf_init(&b, 1 << 20);
	for (int i = 0; i < 10000; i++)
		if (buf_appendf(&b, "%04d", i % 10000) < 0)
			break;
	is_int(b.len, 40000, "40000 bytes after many appendf");
	ok(!memcmp(b.data + 4 * 9999, "9999", 4), "last piece in place");
	buf_release(&b);
}

int main(void)
{
	test_buf_append();
	test_buf_cap();
	return tap_done();
}
