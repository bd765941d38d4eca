/* Unit tests for common/manifest: round trip and every malformed variant. */
#include "common/manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/chunker.h"
#include "tests/lib/tap.h"

#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))

#define DOC "5f0c1e2d3c4b5a69788796a5b4c3d2e1"
#define H1  "9c1185a5c5e9fc54612808977ee8f548b2258d31a0b1c2d3e4f5061728394a5b"
#define H2  "0000000000000000000000000000000000000000000000000000000000000001"
#define H3  "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static const char good[] = "coffre-manifest 1\n"
			   "doc " DOC "\n"
			   "version 3\n"
			   "size 1048586\n"
			   "sha256 " H1 "\n"
			   "deposited-by alice\n"
			   "deposited-at 2026-11-27T10:00:00Z\n"
			   "mtime 1795773600\n"
			   "chunk " H2 " 1048576\n"
			   "chunk " H3 " 10\n";

/* good with the first occurrence of from replaced by to. */
static char *variant(const char *from, const char *to)
{
	const char *p = strstr(good, from);
	size_t fl = strlen(from), tl = strlen(to), n = strlen(good);
	char *out;

	if (!p)
		return NULL;
	out = malloc(n - fl + tl + 1);
	memcpy(out, good, (size_t)(p - good));
	memcpy(out + (p - good), to, tl);
	memcpy(out + (p - good) + tl, p + fl, n - (size_t)(p - good) - fl + 1);
	return out;
}

static void test_manifest_round_trip(void)
{
	struct manifest m;
	struct buf b;

	manifest_init(&m);
	buf_init(&b, 1 << 20);
	is_int(manifest_parse(&m, good, strlen(good)), 0, "parse good");
	is_str(m.doc_id, DOC, "doc");
	is_int(m.version, 3, "version");
	is_int(m.size, 1048586, "size");
	is_str(m.deposited_by, "alice", "depositor");
	is_str(m.deposited_at, "2026-11-27T10:00:00Z", "time");
	is_int(m.mtime, 1795773600, "mtime");
	is_int(m.nchunks, 2, "two chunks");
	is_int(m.chunks[1].size, 10, "chunk size");
	is_int(manifest_format(&m, &b), 0, "format");
	is_str(b.data, good, "format(parse(text)) == text");

	/* Without mtime, and negative mtime. */
	m.mtime = 0;
	buf_reset(&b);
	manifest_format(&m, &b);
	ok(!strstr(b.data, "mtime"), "mtime 0 omitted");
	is_int(manifest_parse(&m, b.data, b.len), 0, "parse without mtime");
	is_int(m.mtime, 0, "mtime absent is 0");
	m.mtime = -86400;
	buf_reset(&b);
	manifest_format(&m, &b);
	is_int(manifest_parse(&m, b.data, b.len), 0, "negative mtime parses");
	is_int(m.mtime, -86400, "negative mtime kept");
	manifest_release(&m);

	/* Built from scratch, empty file. */
	manifest_init(&m);
	doc_id_new(m.doc_id);
	ok(doc_id_valid(m.doc_id), "doc_id_new is valid");
	m.version = 1;
	hash_buf(&m.sha256, "", 0);
	memcpy(m.deposited_by, "bob", 4);
	rfc3339_utc(0, m.deposited_at, sizeof(m.deposited_at));
	is_str(m.deposited_at, "1970-01-01T00:00:00Z", "rfc3339 of 0");
	buf_reset(&b);
	is_int(manifest_format(&m, &b), 0, "format empty file");
	{
		struct manifest m2;

		manifest_init(&m2);
		is_int(manifest_parse(&m2, b.data, b.len), 0,
		       "parse empty file");
		ok(m2.nchunks == 0 && m2.size == 0 && !m2.chunks, "no chunks");
		manifest_release(&m2);
	}

	/* format refuses inconsistent manifests and leaves out untouched. */
	{
		struct obj_id id;
		size_t before;

		hash_buf(&id, "x", 1);
		is_int(manifest_add_chunk(&m, &id, 5), 0, "add chunk");
		buf_reset(&b);
		buf_append(&b, "keep", 4);
		before = b.len;
		is_int(manifest_format(&m, &b), -EINVAL, "sizes not adding up");
		ok(b.len == before && !strcmp(b.data, "keep"), "out unchanged");
		m.size = 5;
		is_int(manifest_format(&m, &b), 0, "consistent now");
		is_int(manifest_add_chunk(&m, &id, 0), -EINVAL, "empty chunk");
		is_int(manifest_add_chunk(&m, &id, CHUNK_MAX + 1), -E2BIG,
		       "chunk over CHUNK_MAX");
		for (int i = 0; i < 1000; i++)
			if (manifest_add_chunk(&m, &id, 1) < 0)
				break;
		is_int(m.nchunks, 1001, "array grows");
		m.version = 0;
		is_int(manifest_format(&m, &b), -EINVAL, "version 0 refused");
	}
	manifest_release(&m);
	buf_release(&b);

	{
		char t[32];

		rfc3339_utc(1795773600, t, sizeof(t));
		is_str(t, "2026-11-27T10:00:00Z", "rfc3339 of a 2026 time");
	}
}

static void test_manifest_malformed(void)
{
	static const struct {
		const char *from, *to, *why;
	} rows[] = {
		{ "coffre-manifest 1", "coffre-manifest 2", "unknown version" },
		{ "coffre-manifest 1\n", "", "no magic line" },
		{ "version 3\n", "", "missing field" },
		{ "version 3\n", "version 3\nversion 3\n", "duplicate field" },
		{ "version 3\nsize 1048586\n", "size 1048586\nversion 3\n",
		  "fields out of order" },
		{ "mtime 1795773600\n", "mtime 1795773600\nmtime 1\n",
		  "duplicate mtime" },
		{ "mtime 1795773600\nchunk " H2 " 1048576\n",
		  "chunk " H2 " 1048576\nmtime 1795773600\n",
		  "mtime after chunk" },
		{ "mtime 1795773600\n", "mtime 0\n", "mtime 0 written" },
		{ "mtime 1795773600\n", "mtime 01\n", "mtime leading zero" },
		{ "mtime 1795773600\n", "color blue\n", "unknown field" },
		{ "deposited-by alice\n", "deposited-by alice\nextra 1\n",
		  "unknown field in the header" },
		{ "version 3", "version 0", "version 0" },
		{ "version 3", "version 03", "leading zero" },
		{ "version 3", "version +3", "sign" },
		{ "version 3", "version -3", "negative" },
		{ "version 3", "version 99999999999999999999", "overflow" },
		{ "version 3", "version 3 ", "trailing space" },
		{ "version 3", "version  3", "double space" },
		{ "version 3", "version", "no value" },
		{ "doc 5f0c", "doc 5F0C", "uppercase doc id" },
		{ DOC, "5f0c", "short doc id" },
		{ "sha256 9c", "sha256 9g", "bad hex in sha256" },
		{ "sha256 9c", "sha256 9C", "uppercase sha256" },
		{ "chunk 00", "chunk 0g", "bad hex in chunk" },
		{ "deposited-by alice", "deposited-by Alice", "bad login" },
		{ "deposited-by alice", "deposited-by ", "empty login" },
		{ "10:00:00Z", "10:00:00", "time without Z" },
		{ "2026-11-27T", "2026-13-27T", "month 13" },
		{ "2026-11-27T", "2026-02-30T", "February 30" },
		{ "2026-11-27T", "2026-11-27 ", "space instead of T" },
		{ "size 1048586", "size 1048587",
		  "sizes not adding up (short)" },
		{ "size 1048586", "size 1048585",
		  "sizes not adding up (past)" },
		{ " 10\n", " 0\n", "empty chunk" },
		{ " 1048576\n", " 4194305\n", "chunk over CHUNK_MAX" },
		{ " 1048576\n", " 1048576 \n", "chunk trailing space" },
		{ " 10\n", " 10", "truncated: no final newline" },
		{ "\n", "\r\n", "CRLF" },
	};
	struct manifest m;
	char *v;

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		int rc;

		v = variant(rows[i].from, rows[i].to);
		if (!v) {
			ok(0, "variant '%s' built", rows[i].why);
			continue;
		}
		/* A previous value in m must be dropped on error. */
		manifest_init(&m);
		manifest_parse(&m, good, strlen(good));
		rc = manifest_parse(&m, v, strlen(v));
		ok(rc == -EBADMSG && m.nchunks == 0 && !m.chunks &&
			   !m.doc_id[0],
		   "refused: %s", rows[i].why);
		manifest_release(&m);
		free(v);
	}

	/* NUL inside via explicit length (strlen above would stop at it). */
	{
		char t[sizeof(good)];

		memcpy(t, good, sizeof(good));
		t[strlen("coffre-manifest 1\ndoc ") + 3] = '\0';
		manifest_init(&m);
		is_int(manifest_parse(&m, t, sizeof(good) - 1), -EBADMSG,
		       "NUL byte inside the text refused");
		manifest_release(&m);
	}

	/* Every truncation of the text is refused. */
	{
		size_t n = strlen(good), bad = 0;

		for (size_t k = 0; k < n; k++) {
			manifest_init(&m);
			if (manifest_parse(&m, good, k) != -EBADMSG)
				bad++;
			manifest_release(&m);
		}
		is_int(bad, 0, "all %zu truncations refused", n);
	}

	/* Line too long. */
	{
		size_t n = 600;
		char *t = malloc(n + 32);

		memcpy(t, "coffre-manifest 1\ndoc ", 22);
		memset(t + 22, 'a', n);
		t[22 + n] = '\n';
		manifest_init(&m);
		is_int(manifest_parse(&m, t, 22 + n + 1), -EBADMSG,
		       "600-byte line refused");
		free(t);
	}

	/* More than MANIFEST_MAX_CHUNKS chunk lines: refused, bounded. */
	{
		static const char line[] = "chunk " H2 " 1\n";
		size_t count = MANIFEST_MAX_CHUNKS + 1, ll = sizeof(line) - 1;
		struct buf b;
		char head[512];
		int hl;

		hl = snprintf(head, sizeof(head),
			      "coffre-manifest 1\ndoc " DOC "\nversion 1\n"
			      "size %zu\nsha256 " H1 "\ndeposited-by alice\n"
			      "deposited-at 2026-11-27T10:00:00Z\n",
			      count);
		buf_init(&b, (size_t)hl + count * ll);
		buf_append(&b, head, (size_t)hl);
		for (size_t i = 0; i < count; i++)
			buf_append(&b, line, ll);
		manifest_init(&m);
		is_int(manifest_parse(&m, b.data, b.len), -EBADMSG,
		       "%zu chunks refused", count);
		ok(!m.chunks, "nothing kept");
		buf_release(&b);
	}
}

/* xorshift64*: a fixed sequence, so a failure reproduces. */
static uint64_t rnd(void)
{
	static uint64_t x = 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return x * 0x2545f4914f6cdd1dull;
}

/*
 * Random damage to a good manifest: whatever the parser accepts must be
 * canonical (format gives back the very same bytes); everything else must
 * be -EBADMSG with the manifest left empty.
 */
static void test_manifest_mutations(void)
{
	static const char alphabet[] = "0123456789abcdefgz -\n\r\tZT:";
	size_t accepted = 0, wrong = 0, n0 = strlen(good);
	char *t = malloc(n0 + 16);
	struct manifest m;
	struct buf b;

	buf_init(&b, 1 << 16);
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = n0, pos;
		int rc, edits = 1 + (int)(rnd() % 3);

		memcpy(t, good, n0);
		for (int e = 0; e < edits; e++) {
			char c = rnd() % 4 ? alphabet[rnd() %
						      (sizeof(alphabet) - 1)] :
					     (char)rnd();

			pos = rnd() % n;
			switch (rnd() % 3) {
			case 0: /* replace */
				t[pos] = c;
				break;
			case 1: /* delete */
				memmove(t + pos, t + pos + 1, n - pos - 1);
				n--;
				break;
			default: /* insert */
				memmove(t + pos + 1, t + pos, n - pos);
				t[pos] = c;
				n++;
				break;
			}
		}
		manifest_init(&m);
		rc = manifest_parse(&m, t, n);
		if (rc == 0) {
			accepted++;
			buf_reset(&b);
			if (manifest_format(&m, &b) < 0 || b.len != n ||
			    memcmp(b.data, t, n))
				wrong++;
		} else if (rc != -EBADMSG || m.chunks || m.nchunks ||
			   m.doc_id[0]) {
			wrong++;
		}
		manifest_release(&m);
	}
	diag("%zu of 20000 mutants accepted", accepted);
	is_int(wrong, 0,
	       "mutants: accepted ones are canonical, others -EBADMSG");
	buf_release(&b);
	free(t);
}

static void test_manifest_folder(void)
{
	struct folder_meta fm = { FOLDER_CLASS_CONFIDENTIAL, 0, 0 };
	enum folder_class c;
	struct buf b;

	buf_init(&b, 1024);
	is_int(folder_meta_format(&fm, &b), 0, "folder format");
	is_str(b.data, "coffre-folder 1\nclass confidential\n", "folder text");
	fm.class = FOLDER_CLASS_PUBLIC;
	is_int(folder_meta_parse(&fm, b.data, b.len), 0, "folder parse");
	is_int(fm.class, FOLDER_CLASS_CONFIDENTIAL, "class read back");
	is_int(folder_meta_parse(&fm, "coffre-folder 1\nclass secret\n", 29),
	       -EBADMSG, "unknown class");
	is_int(folder_meta_parse(&fm, "coffre-folder 1\nclass public", 28),
	       -EBADMSG, "no final newline");
	is_int(folder_meta_parse(&fm, "coffre-folder 1\nclass public\nx 1\n",
				 33),
	       -EBADMSG, "extra field");
	is_int(folder_meta_parse(&fm, "coffre-folder 1\n", 16), -EBADMSG,
	       "missing class");
	is_int(fm.class, FOLDER_CLASS_CONFIDENTIAL,
	       "refused input changes nothing");
	/* mode bits: a line only off the default, four octal digits */
	fm = (struct folder_meta){ FOLDER_CLASS_PUBLIC, 0, 0 };
	folder_meta_set_mode(&fm, 0750);
	b.len = 0;
	is_int(folder_meta_format(&fm, &b), 0, "folder format with a mode");
	is_str(b.data, "coffre-folder 1\nclass public\nmode 0750\n",
	       "mode line");
	fm = (struct folder_meta){ FOLDER_CLASS_RESTRICTED, 0, 0 };
	is_int(folder_meta_parse(&fm, b.data, b.len), 0, "parse with a mode");
	ok(fm.has_mode && fm.mode == 0750 && fm.class == FOLDER_CLASS_PUBLIC,
	   "mode read back");
	is_int((int)folder_meta_mode(&fm), 0750, "folder_meta_mode");
	folder_meta_set_mode(&fm, 040755); /* type bits dropped: the default */
	ok(!fm.has_mode && folder_meta_mode(&fm) == 0755,
	   "the default states no mode");
	b.len = 0;
	folder_meta_format(&fm, &b);
	is_str(b.data, "coffre-folder 1\nclass public\n",
	       "default mode: no line");
	folder_meta_set_mode(&fm, 0);
	ok(fm.has_mode && folder_meta_mode(&fm) == 0, "chmod 0 is a mode");
	is_int(folder_meta_parse(
		       &fm, "coffre-folder 1\nclass public\nmode 0755\n", 39),
	       -EBADMSG, "the default stated is not canonical");
	is_int(folder_meta_parse(
		       &fm, "coffre-folder 1\nclass public\nmode 750\n", 38),
	       -EBADMSG, "three digits refused");
	is_int(folder_meta_parse(
		       &fm, "coffre-folder 1\nclass public\nmode 0758\n", 39),
	       -EBADMSG, "not octal");
	is_int(folder_meta_parse(
		       &fm, "coffre-folder 1\nclass public\nmode 07500\n", 40),
	       -EBADMSG, "five digits refused");
	is_int(folder_meta_parse(
		       &fm,
		       "coffre-folder 1\nclass public\nmode 0700\nmode 0700\n",
		       49),
	       -EBADMSG, "mode twice refused");
	ok(fm.has_mode && fm.mode == 0, "refused modes change nothing");
	is_int(folder_class_parse("restricted", &c), 0, "class parse");
	is_int(c, FOLDER_CLASS_RESTRICTED, "restricted");
	is_int(folder_class_parse("Public", &c), -EINVAL, "case matters");
	is_str(folder_class_name(FOLDER_CLASS_PUBLIC), "public", "class name");
	ok(folder_class_name((enum folder_class)7) == NULL,
	   "bad class has no name");
	buf_release(&b);

	is_int(doc_id_valid(DOC), 1, "doc id valid");
	is_int(doc_id_valid("5F0C1E2D3C4B5A69788796A5B4C3D2E1"), 0,
	       "uppercase doc id");
	is_int(doc_id_valid(DOC "0"), 0, "33 digits");
	is_int(doc_id_valid("5f0c1e2d3c4b5a69788796a5b4c3d2e"), 0, "31 digits");
	is_int(doc_id_valid(NULL), 0, "NULL doc id");
}

/* mode and user.* attributes: kept, canonical, bounded */
static void test_manifest_meta(void)
{
	static const char *const bad_names[] = {
		"user.",     "user.coffre.version", "user.a b",
		"user.a/b",  "security.selinux",    "trusted.x",
		"user.\x01", "user.\xc3\xa9",	    "USER.x",
	};
	static const char *const bad_lines[] = {
		"mode 0755\n",	/* a leading zero */
		"mode 8\n",	/* not octal */
		"mode 17777\n", /* over 7777 */
		"mode \n",
		"xattr user.b Yg==\nxattr user.a YQ==\n", /* out of order */
		"xattr user.a YQ==\nxattr user.a YQ==\n", /* duplicate */
		"xattr user.a YR==\n",			  /* not canonical */
		"xattr user.a YQ\n",			  /* no padding */
		"xattr user.coffre.state cGVuZGluZw==\n", /* reserved */
		"xattr user.a \n",
	};
	char big[MANIFEST_XATTR_VALUE_MAX + 1], name[32];
	struct manifest m, c;
	struct buf b;
	char *t;

	for (size_t i = 0; i < ARRAY_N(bad_names); i++)
		ok(!manifest_xattr_name_valid(bad_names[i]),
		   "'%s' is not a kept attribute name", bad_names[i]);
	ok(manifest_xattr_name_valid("user.xdg.origin.url"),
	   "user.xdg.origin.url is kept");

	t = variant("chunk " H2, "mode 0\nxattr user.empty\n"
				 "xattr user.test.note aGVsbG8=\n"
				 "chunk " H2);
	manifest_init(&m);
	manifest_init(&c);
	buf_init(&b, 1 << 20);
	is_int(manifest_parse(&m, t, strlen(t)), 0, "parse mode and xattrs");
	ok(m.has_mode && m.mode == 0, "mode 0 is a mode");
	is_int(m.nxattrs, 2, "two attributes");
	ok(m.nxattrs == 2 && m.xattrs[0].len == 0 && m.xattrs[1].len == 5 &&
		   !memcmp(m.xattrs[1].value, "hello", 5),
	   "their values");
	is_int(manifest_copy(&c, &m), 0, "copy");
	is_int(manifest_format(&c, &b), 0, "format the copy");
	is_str(b.data, t, "format(parse(text)) == text with mode and xattrs");
	free(t);

	/* each line goes right before the chunks, without the mtime */
	for (size_t i = 0; i < ARRAY_N(bad_lines); i++) {
		char *w;
		const char *at;
		size_t pre;

		t = variant("mtime 1795773600\n", "");
		at = strstr(t, "chunk ");
		pre = (size_t)(at - t);
		w = malloc(strlen(t) + strlen(bad_lines[i]) + 1);
		memcpy(w, t, pre);
		strcpy(w + pre, bad_lines[i]);
		strcat(w, at);
		is_int(manifest_parse(&m, w, strlen(w)), -EBADMSG,
		       "refused: %.*s", (int)strcspn(bad_lines[i], "\n"),
		       bad_lines[i]);
		free(w);
		free(t);
	}

	memset(big, 'x', sizeof(big));
	is_int(manifest_set_xattr(&c, "user.big", big, sizeof(big)), -E2BIG,
	       "a value over 4 KiB is refused");
	is_int(manifest_set_xattr(&c, "user.coffre.class", "x", 1), -EINVAL,
	       "user.coffre.* is refused");
	is_int(manifest_set_xattr(&c, "user.test.note", "bye", 3), 0,
	       "a value is replaced");
	is_int(c.nxattrs, 2, "... not added");
	for (int i = 0; i < MANIFEST_XATTRS_MAX; i++) {
		snprintf(name, sizeof(name), "user.n%02d", i);
		if (manifest_set_xattr(&c, name, "v", 1) < 0)
			break;
	}
	is_int(c.nxattrs, MANIFEST_XATTRS_MAX, "at most 64 attributes");
	for (int i = 0; i < 17; i++) /* 16 x 4 KiB fills the 64 KiB */
		manifest_set_xattr(&c, c.xattrs[i].name, big,
				   MANIFEST_XATTR_VALUE_MAX);
	is_int(manifest_set_xattr(&c, c.xattrs[20].name, big, 4000), -ENOSPC,
	       "at most 64 KiB in all");
	buf_reset(&b);
	is_int(manifest_format(&c, &b), 0, "64 attributes of 4 KiB format");
	is_int(manifest_parse(&m, b.data, b.len), 0, "... and parse back");
	is_int(m.nxattrs, MANIFEST_XATTRS_MAX, "... all of them");
	manifest_release(&m);
	manifest_release(&c);
	buf_release(&b);
}

int main(void)
{
	test_manifest_meta();
	test_manifest_round_trip();
	test_manifest_malformed();
	test_manifest_mutations();
	test_manifest_folder();
	return tap_done();
}
