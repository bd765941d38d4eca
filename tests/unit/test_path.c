/* Unit tests for common/path: hostile and valid names and paths. */
#include "common/path.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "tests/lib/tap.h"

/* Printable form of hostile bytes for TAP titles. */
static const char *esc(const char *s)
{
	static char out[64];
	size_t o = 0;

	for (; *s && o + 5 < sizeof(out); s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f) {
			out[o++] = (char)c;
		} else {
			snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
			o += 4;
		}
	}
	out[o] = '\0';
	return out;
}

static void test_path_names(void)
{
	static const struct {
		const char *name;
		int want, want_user;
		const char *why;
	} rows[] = {
		{ "a", 0, 0, "one letter" },
		{ "report 2026.pdf", 0, 0, "spaces and dots" },
		{ ".hidden", 0, 0, "leading dot" },
		{ "...", 0, 0, "three dots" },
		{ "~$lock.docx", 0, 0, "office lock name" },
		{ "caf\xc3\xa9", 0, 0, "2-byte UTF-8" },
		{ "\xe2\x82\xac", 0, 0, "3-byte UTF-8 (euro)" },
		{ "\xf0\x9f\x93\x81", 0, 0, "4-byte UTF-8 (emoji)" },
		{ "\xf4\x8f\xbf\xbf", 0, 0, "U+10FFFF" },
		{ "\xed\x9f\xbf", 0, 0, "U+D7FF just below surrogates" },
		{ "\xee\x80\x80", 0, 0, "U+E000 just above surrogates" },
		{ "", -EINVAL, -EINVAL, "empty" },
		{ ".", -EINVAL, -EINVAL, "dot" },
		{ "..", -EINVAL, -EINVAL, "dot dot" },
		{ "a/b", -EINVAL, -EINVAL, "slash" },
		{ "/", -EINVAL, -EINVAL, "only slash" },
		{ "a\nb", -EINVAL, -EINVAL, "newline" },
		{ "\x01", -EINVAL, -EINVAL, "control 0x01" },
		{ "a\x1f", -EINVAL, -EINVAL, "control 0x1f" },
		{ "a\x7f", -EINVAL, -EINVAL, "DEL" },
		{ "\t", -EINVAL, -EINVAL, "tab" },
		{ "\xc0\xaf", -EINVAL, -EINVAL, "overlong '/' (c0 af)" },
		{ "\xc1\xbf", -EINVAL, -EINVAL, "overlong c1" },
		{ "\xe0\x80\xaf", -EINVAL, -EINVAL, "overlong 3-byte" },
		{ "\xf0\x80\x80\xaf", -EINVAL, -EINVAL, "overlong 4-byte" },
		{ "\xed\xa0\x80", -EINVAL, -EINVAL, "surrogate U+D800" },
		{ "\xed\xbf\xbf", -EINVAL, -EINVAL, "surrogate U+DFFF" },
		{ "\xf4\x90\x80\x80", -EINVAL, -EINVAL, "U+110000" },
		{ "\xf5\x80\x80\x80", -EINVAL, -EINVAL, "lead byte f5" },
		{ "\xff", -EINVAL, -EINVAL, "byte ff" },
		{ "\x80", -EINVAL, -EINVAL, "lone continuation" },
		{ "a\xc3", -EINVAL, -EINVAL, "truncated 2-byte at end" },
		{ "\xe2\x82", -EINVAL, -EINVAL, "truncated 3-byte" },
		{ "\xe2\x82x", -EINVAL, -EINVAL, "bad continuation" },
		{ "\xc3\xa9\xa9", -EINVAL, -EINVAL, "extra continuation" },
		{ ".coffre-folder", 0, -EINVAL, "reserved folder blob" },
		{ ".versions", 0, -EINVAL, "reserved versions folder" },
		{ ".versions2", 0, 0, "not reserved" },
		{ ".coffre-access", 0, -EINVAL, "reserved access blob" },
		{ ".Versions", 0, 0, "reserved names are exact" },
	};
	char n255[257], n256[258];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		is_int(name_validate(rows[i].name), rows[i].want, "name: %s",
		       rows[i].why);
		is_int(name_validate_user(rows[i].name), rows[i].want_user,
		       "user name: %s", rows[i].why);
	}
	memset(n255, 'x', 255);
	n255[255] = '\0';
	is_int(name_validate(n255), 0, "255 bytes accepted");
	memset(n256, 'x', 256);
	n256[256] = '\0';
	is_int(name_validate(n256), -ENAMETOOLONG, "256 bytes refused");
	/* 254 ASCII + a 2-byte char = 256 bytes, 255 characters: bytes count. */
	memset(n256, 'x', 254);
	memcpy(n256 + 254, "\xc3\xa9", 3);
	is_int(name_validate(n256), -ENAMETOOLONG, "limit is in bytes");
	is_int(name_validate(NULL), -EINVAL, "NULL refused");
}

static void test_path_paths(void)
{
	static const struct {
		const char *path;
		int want;
	} rows[] = {
		{ "/", 0 },
		{ "/a", 0 },
		{ "/a/b c/d.txt", 0 },
		{ "", -EINVAL },
		{ "a", -EINVAL },
		{ "a/b", -EINVAL },
		{ "//", -EINVAL },
		{ "/a/", -EINVAL },
		{ "/a//b", -EINVAL },
		{ "/a/../b", -EINVAL },
		{ "/a/./b", -EINVAL },
		{ "/..", -EINVAL },
		{ "/a/.versions/b", -EINVAL },
		{ "/.coffre-folder", -EINVAL },
		{ "/a/\xc0\xaf", -EINVAL },
		{ "/a\x01", -EINVAL },
	};
	char *p;
	size_t n;

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		is_int(path_validate(rows[i].path), rows[i].want, "path '%s'",
		       esc(rows[i].path));
	is_int(path_validate(NULL), -EINVAL, "NULL path");

	/* Depth: 64 components pass, 65 do not. */
	p = malloc(PATH_MAX_LEN + 16);
	n = 0;
	for (int i = 0; i < PATH_MAX_DEPTH; i++) {
		p[n++] = '/';
		p[n++] = 'd';
	}
	p[n] = '\0';
	is_int(path_validate(p), 0, "64 components accepted");
	memcpy(p + n, "/d", 3);
	is_int(path_validate(p), -ENAMETOOLONG, "65 components refused");

	/* Length: 4096 bytes pass, 4097 do not (16 components of 255). */
	n = 0;
	for (int i = 0; i < 16; i++) {
		p[n++] = '/';
		memset(p + n, 'y', 255);
		n += 255;
	}
	p[n] = '\0';
	is_int(n, PATH_MAX_LEN, "built a 4096-byte path");
	is_int(path_validate(p), 0, "4096 bytes accepted");
	p[n++] = 'z';
	p[n] = '\0';
	is_int(path_validate(p), -ENAMETOOLONG, "4097 bytes refused");
	free(p);
}

static void test_path_split_join(void)
{
	char *parent, *name, *j;

	is_int(path_split("/a", &parent, &name), 0, "split /a");
	is_str(parent, "/", "parent of /a");
	is_str(name, "a", "name of /a");
	free(parent);
	free(name);
	is_int(path_split("/a/b/c.txt", &parent, &name), 0, "split deep");
	is_str(parent, "/a/b", "parent of /a/b/c.txt");
	is_str(name, "c.txt", "name of /a/b/c.txt");
	j = path_join(parent, name);
	is_str(j, "/a/b/c.txt", "join undoes split");
	free(j);
	free(parent);
	free(name);
	is_int(path_split("/", &parent, &name), -EINVAL, "split / refused");
	ok(!parent && !name, "outputs NULL on error");
	is_int(path_split("/a/", &parent, &name), -EINVAL, "split invalid");
	j = path_join("/", "x");
	is_str(j, "/x", "join at root");
	free(j);

	is_int(ident_validate("alice"), 0, "ident alice");
	is_int(ident_validate("a.b_c-9"), 0, "ident with punctuation");
	is_int(ident_validate("0abc"), 0, "ident starting with digit");
	is_int(ident_validate(""), -EINVAL, "ident empty");
	is_int(ident_validate("-a"), -EINVAL, "ident leading dash");
	is_int(ident_validate(".a"), -EINVAL, "ident leading dot");
	is_int(ident_validate("Alice"), -EINVAL, "ident uppercase");
	is_int(ident_validate("a b"), -EINVAL, "ident space");
	is_int(ident_validate("a/b"), -EINVAL, "ident slash");
	is_int(ident_validate(
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	       0, "ident 64 chars");
	is_int(ident_validate(
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	       -EINVAL, "ident 65 chars");
}

/*
 * Reference check written differently from path.c: decode each code point
 * arithmetically, then apply the rules (shortest form, no surrogate, at
 * most U+10FFFF, no control character, no '/'), and refuse "." and "..".
 * 1 when the n bytes at s make a valid name.
 */
static int ref_name(const unsigned char *s, size_t n)
{
	size_t i = 0;

	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	while (i < n) {
		uint32_t cp;
		size_t want;

		if (s[i] < 0x80)
			want = 1, cp = s[i];
		else if ((s[i] & 0xe0) == 0xc0)
			want = 2, cp = s[i] & 0x1f;
		else if ((s[i] & 0xf0) == 0xe0)
			want = 3, cp = s[i] & 0x0f;
		else if ((s[i] & 0xf8) == 0xf0)
			want = 4, cp = s[i] & 0x07;
		else
			return 0;
		if (n - i < want)
			return 0;
		for (size_t k = 1; k < want; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((want == 2 && cp < 0x80) || (want == 3 && cp < 0x800) ||
		    (want == 4 && cp < 0x10000))
			return 0;
		if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		if (cp < 0x20 || cp == 0x7f || cp == '/')
			return 0;
		i += want;
	}
	return 1;
}

/* Every 1-, 2- and 3-byte sequence, and 4-byte ones on a grid, against the
 * reference: name_validate must accept exactly the valid names. */
static void test_path_utf8_exhaustive(void)
{
	unsigned char s[5];
	size_t bad = 0, total = 0;

	for (unsigned a = 1; a < 256; a++) {
		s[0] = (unsigned char)a;
		s[1] = 0;
		total++;
		bad += (name_validate((char *)s) == 0) != ref_name(s, 1);
		for (unsigned b = 1; b < 256; b++) {
			s[1] = (unsigned char)b;
			s[2] = 0;
			total++;
			bad += (name_validate((char *)s) == 0) !=
			       ref_name(s, 2);
			if (a < 0xe0 || a > 0xef)
				continue;
			for (unsigned c = 1; c < 256; c++) {
				s[2] = (unsigned char)c;
				s[3] = 0;
				total++;
				bad += (name_validate((char *)s) == 0) !=
				       ref_name(s, 3);
			}
		}
	}
	for (unsigned a = 0xf0; a < 0x100; a++)
		for (unsigned b = 0x70; b < 0xd0; b++)
			for (unsigned c = 0x7e; c < 0xc2; c += 3)
				for (unsigned d = 0x7e; d < 0xc2; d += 5) {
					s[0] = (unsigned char)a;
					s[1] = (unsigned char)b;
					s[2] = (unsigned char)c;
					s[3] = (unsigned char)d;
					s[4] = 0;
					total++;
					bad += (name_validate((char *)s) ==
						0) != ref_name(s, 4);
				}
	is_int(bad, 0,
	       "UTF-8 validator agrees with the reference on %zu sequences",
	       total);
}

int main(void)
{
	test_path_names();
	test_path_paths();
	test_path_split_join();
	test_path_utf8_exhaustive();
	return tap_done();
}
