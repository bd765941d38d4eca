/*
 * The version manifest and the folder metadata blob: formatting and a
 * strict, bounded parser (the format is described in manifest.h).
 *
 * The text is canonical: one way to write each manifest.  The parser reads
 * fields in a fixed order, numbers without sign or leading zeros, lowercase
 * hex only, and requires a final newline, so format(parse(t)) == t for every
 * text it accepts.  That keeps ledger blob ids stable and leaves no room for
 * two texts that mean the same thing but hash differently.
 */
#include "common/manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/chunker.h"
#include "common/crypto.h"
#include "common/path.h"
#include <sodium.h>
#include "common/banned.h"

#define MANIFEST_LINE_MAX 512
/* an xattr line: "xattr ", the name, a space and 4 KiB in base64 */
#define XATTR_LINE_MAX                     \
	(6 + MANIFEST_XATTR_NAME_MAX + 1 + \
	 MANIFEST_B64_LEN(MANIFEST_XATTR_VALUE_MAX))

static const char manifest_magic[] = "coffre-manifest 1";
static const char folder_magic[] = "coffre-folder 1";

void manifest_init(struct manifest *m)
{
	memset(m, 0, sizeof(*m));
}

void manifest_release(struct manifest *m)
{
	free(m->chunks);
	for (size_t i = 0; i < m->nxattrs; i++)
		free(m->xattrs[i].value);
	free(m->xattrs);
	manifest_init(m);
}

int manifest_copy(struct manifest *dst, const struct manifest *src)
{
	struct manifest t = *src;

	t.chunks = NULL;
	t.xattrs = NULL;
	t.nxattrs = 0;
	t.alloc_chunks = src->nchunks;
	if (src->nchunks) {
		t.chunks = malloc(src->nchunks * sizeof(*t.chunks));
		if (!t.chunks)
			return -ENOMEM;
		memcpy(t.chunks, src->chunks, src->nchunks * sizeof(*t.chunks));
	}
	if (src->nxattrs) {
		t.xattrs = calloc(src->nxattrs, sizeof(*t.xattrs));
		if (!t.xattrs)
			goto nomem;
		for (; t.nxattrs < src->nxattrs; t.nxattrs++) {
			const struct manifest_xattr *x =
				&src->xattrs[t.nxattrs];
			struct manifest_xattr *y = &t.xattrs[t.nxattrs];

			*y = *x;
			y->value = NULL;
			if (x->len && !(y->value = malloc(x->len)))
				goto nomem;
			if (x->len)
				memcpy(y->value, x->value, x->len);
		}
	}
	manifest_release(dst);
	*dst = t;
	return 0;
nomem:
	manifest_release(&t);
	return -ENOMEM;
}

int manifest_xattr_name_valid(const char *name)
{
	size_t n;

	if (!name || strncmp(name, "user.", 5) ||
	    !strncmp(name, "user.coffre.", 12))
		return 0;
	n = strnlen(name, MANIFEST_XATTR_NAME_MAX + 1);
	if (n <= 5 || n > MANIFEST_XATTR_NAME_MAX)
		return 0;
	for (size_t i = 5; i < n; i++)
		if (name[i] <= 0x20 || name[i] >= 0x7f || name[i] == '/')
			return 0;
	return 1;
}

int manifest_set_xattr(struct manifest *m, const char *name, const void *value,
		       size_t len)
{
	size_t i, total = strlen(name ? name : "") + len;
	struct manifest_xattr *x;
	uint8_t *v = NULL;

	if (!manifest_xattr_name_valid(name))
		return err_set(-EINVAL, "attribute name '%.64s' is not kept",
			       name ? name : "");
	if (len > MANIFEST_XATTR_VALUE_MAX)
		return err_set(-E2BIG, "value of '%s' over %d bytes", name,
			       MANIFEST_XATTR_VALUE_MAX);
	for (i = 0; i < m->nxattrs; i++)
		if (strcmp(m->xattrs[i].name, name))
			total += strlen(m->xattrs[i].name) + m->xattrs[i].len;
	if (total > MANIFEST_XATTRS_BYTES)
		return err_set(-ENOSPC, "attributes over %d bytes in all",
			       MANIFEST_XATTRS_BYTES);
	for (i = 0; i < m->nxattrs && strcmp(m->xattrs[i].name, name) < 0; i++)
		;
	if (len && !(v = malloc(len)))
		return -ENOMEM;
	if (len)
		memcpy(v, value, len);
	if (i < m->nxattrs && !strcmp(m->xattrs[i].name, name)) {
		free(m->xattrs[i].value);
		m->xattrs[i].value = v;
		m->xattrs[i].len = len;
		return 0;
	}
	if (m->nxattrs >= MANIFEST_XATTRS_MAX) {
		free(v);
		return err_set(-ENOSPC, "more than %d attributes",
			       MANIFEST_XATTRS_MAX);
	}
	x = realloc(m->xattrs, (m->nxattrs + 1) * sizeof(*x));
	if (!x) {
		free(v);
		return -ENOMEM;
	}
	m->xattrs = x;
	memmove(&x[i + 1], &x[i], (m->nxattrs - i) * sizeof(*x));
	memset(&x[i], 0, sizeof(x[i]));
	snprintf(x[i].name, sizeof(x[i].name), "%s", name);
	x[i].value = v;
	x[i].len = len;
	m->nxattrs++;
	return 0;
}

void manifest_b64_encode(const uint8_t *in, size_t len, char *out)
{
	sodium_bin2base64(out, MANIFEST_B64_LEN(len), in, len,
			  sodium_base64_VARIANT_ORIGINAL);
}

long manifest_b64_decode(const char *b64, uint8_t *out, size_t cap)
{
	size_t n = 0, blen = strlen(b64);
	const char *end = NULL;
	char *again;
	int same;

	if (blen % 4 || blen / 4 * 3 > cap + 2)
		return -EINVAL;
	if (sodium_base642bin(out, cap, b64, blen, NULL, &n, &end,
			      sodium_base64_VARIANT_ORIGINAL) < 0 ||
	    end != b64 + blen)
		return -EINVAL;
	/* one text per value: the unused bits of the last group are zero */
	again = malloc(MANIFEST_B64_LEN(n));
	if (!again)
		return -ENOMEM;
	manifest_b64_encode(out, n, again);
	same = !strcmp(again, b64);
	free(again);
	return same ? (long)n : -EINVAL;
}

int manifest_add_chunk(struct manifest *m, const struct obj_id *id,
		       uint32_t size)
{
	if (size == 0)
		return err_set(-EINVAL, "empty chunk");
	if (size > CHUNK_MAX)
		return err_set(-E2BIG, "chunk of %" PRIu32 " bytes over %u",
			       size, CHUNK_MAX);
	if (m->nchunks >= MANIFEST_MAX_CHUNKS)
		return err_set(-E2BIG, "more than %u chunks",
			       MANIFEST_MAX_CHUNKS);
	/* A caller may have filled chunks itself: never trust a smaller alloc. */
	if (m->alloc_chunks < m->nchunks)
		m->alloc_chunks = m->nchunks;
	if (m->nchunks == m->alloc_chunks) {
		size_t want = m->alloc_chunks ? m->alloc_chunks * 2 : 16;
		struct manifest_chunk *p;

		if (want > MANIFEST_MAX_CHUNKS)
			want = MANIFEST_MAX_CHUNKS;
		p = realloc(m->chunks, want * sizeof(*p));
		if (!p)
			return err_set(-ENOMEM, "out of memory for %zu chunks",
				       want);
		m->chunks = p;
		m->alloc_chunks = want;
	}
	m->chunks[m->nchunks].id = *id;
	m->chunks[m->nchunks].size = size;
	m->nchunks++;
	return 0;
}

static int is_leap(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Exactly "YYYY-MM-DDTHH:MM:SSZ" with a real calendar date. */
static int rfc3339_valid(const char *s, size_t len)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	static const int mdays[] = { 31, 28, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31 };
	long y, mo, d, h, mi, sec;

	if (len != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (shape[i] == 'd') {
			if (s[i] < '0' || s[i] > '9')
				return 0;
		} else if (s[i] != shape[i]) {
			return 0;
		}
	}
#define NUM2(p) ((s[p] - '0') * 10 + (s[(p) + 1] - '0'))
	y = NUM2(0) * 100 + NUM2(2);
	mo = NUM2(5);
	d = NUM2(8);
	h = NUM2(11);
	mi = NUM2(14);
	sec = NUM2(17);
#undef NUM2
	if (mo < 1 || mo > 12 || d < 1)
		return 0;
	if (d > mdays[mo - 1] + (mo == 2 && is_leap(y)))
		return 0;
	return h <= 23 && mi <= 59 && sec <= 60;
}

static int lower_hex_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int doc_id_valid(const char *s)
{
	return s && strnlen(s, DOC_ID_HEX_LEN + 1) == DOC_ID_HEX_LEN &&
	       lower_hex_valid(s, DOC_ID_HEX_LEN);
}

void doc_id_new(char out[DOC_ID_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t r[DOC_ID_HEX_LEN / 2];

	crypto_random(r, sizeof(r));
	for (size_t i = 0; i < sizeof(r); i++) {
		out[2 * i] = digits[r[i] >> 4];
		out[2 * i + 1] = digits[r[i] & 0xf];
	}
	out[DOC_ID_HEX_LEN] = '\0';
}

void rfc3339_utc(long long t, char *out, size_t outlen)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!outlen)
		return;
	out[0] = '\0';
	if ((long long)tt != t || !gmtime_r(&tt, &tm))
		return;
	if (strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

/* ---- parsing ---- */

struct lines {
	const char *p, *end;
	size_t lineno;
};

/*
 * Next line into line[] (NUL-terminated, without the LF).  1 when a line
 * was read, 0 at the end of the text, or -EBADMSG.
 */
static int next_line(struct lines *ls, char line[XATTR_LINE_MAX + 1],
		     size_t *len)
{
	const char *nl;
	size_t n;

	if (ls->p == ls->end)
		return 0;
	ls->lineno++;
	n = (size_t)(ls->end - ls->p);
	nl = memchr(ls->p, '\n',
		    n < XATTR_LINE_MAX + 1 ? n : XATTR_LINE_MAX + 1);
	if (nl && nl - ls->p > MANIFEST_LINE_MAX && strncmp(ls->p, "xattr ", 6))
		nl = NULL; /* only an xattr line may be longer */
	if (!nl) {
		if (n > MANIFEST_LINE_MAX)
			return err_set(-EBADMSG, "line %zu over %d bytes",
				       ls->lineno, MANIFEST_LINE_MAX);
		return err_set(-EBADMSG,
			       "truncated text: line %zu has no newline",
			       ls->lineno);
	}
	n = (size_t)(nl - ls->p);
	if (memchr(ls->p, '\0', n) || memchr(ls->p, '\r', n))
		return err_set(-EBADMSG, "line %zu holds a NUL or CR byte",
			       ls->lineno);
	memcpy(line, ls->p, n);
	line[n] = '\0';
	*len = n;
	ls->p = nl + 1;
	return 1;
}

/* "key value": split at the first space; 0 or -EBADMSG. */
static int split_field(struct lines *ls, char *line, const char *key,
		       const char **value)
{
	size_t klen = strlen(key);

	if (strncmp(line, key, klen) || line[klen] != ' ' || !line[klen + 1])
		return err_set(-EBADMSG, "line %zu: expected '%s <value>'",
			       ls->lineno, key);
	*value = line + klen + 1;
	return 0;
}

/* Canonical unsigned decimal: digits, no sign, no leading zero. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EBADMSG;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EBADMSG;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return -EBADMSG;
	}
	*out = v;
	return 0;
}

static int parse_i64(const char *s, int64_t *out)
{
	int neg = s[0] == '-';
	uint64_t v;

	if (parse_u64(s + neg, &v) < 0)
		return -EBADMSG;
	if (neg) {
		if (v == 0 || v > (uint64_t)INT64_MAX + 1)
			return -EBADMSG;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > INT64_MAX)
			return -EBADMSG;
		*out = (int64_t)v;
	}
	return 0;
}

static int parse_chunk(struct lines *ls, struct manifest *m, const char *v)
{
	struct obj_id id;
	char hex[OBJ_ID_HEX_LEN + 1];
	uint64_t size;

	if (strlen(v) < OBJ_ID_HEX_LEN + 2 || v[OBJ_ID_HEX_LEN] != ' ')
		return err_set(-EBADMSG,
			       "line %zu: expected 'chunk <64 hex> <size>'",
			       ls->lineno);
	memcpy(hex, v, OBJ_ID_HEX_LEN);
	hex[OBJ_ID_HEX_LEN] = '\0';
	if (obj_id_from_hex(&id, hex) < 0)
		return err_set(-EBADMSG, "line %zu: bad chunk id", ls->lineno);
	if (parse_u64(v + OBJ_ID_HEX_LEN + 1, &size) < 0 || size == 0 ||
	    size > CHUNK_MAX)
		return err_set(-EBADMSG, "line %zu: chunk size not in 1..%u",
			       ls->lineno, CHUNK_MAX);
	if (m->nchunks >= MANIFEST_MAX_CHUNKS)
		return err_set(-EBADMSG, "more than %u chunks",
			       MANIFEST_MAX_CHUNKS);
	if (manifest_add_chunk(m, &id, (uint32_t)size) < 0)
		return -ENOMEM; /* only memory can fail after the checks above */
	return 0;
}

/* "NAME" or "NAME B64", names strictly increasing. */
static int parse_xattr(struct lines *ls, struct manifest *m, char *v)
{
	static __thread uint8_t val[MANIFEST_XATTR_VALUE_MAX];
	char *sp = strchr(v, ' ');
	long n = 0;

	if (sp)
		*sp = '\0';
	if (!manifest_xattr_name_valid(v) ||
	    (m->nxattrs && strcmp(m->xattrs[m->nxattrs - 1].name, v) >= 0))
		return err_set(-EBADMSG, "line %zu: bad or misplaced xattr",
			       ls->lineno);
	if (sp) {
		n = manifest_b64_decode(sp + 1, val, sizeof(val));
		if (n <= 0)
			return err_set(-EBADMSG, "line %zu: bad xattr value",
				       ls->lineno);
	}
	if (manifest_set_xattr(m, v, val, (size_t)n) < 0)
		return err_set(-EBADMSG, "line %zu: %s", ls->lineno, err_msg());
	return 0;
}

static int parse_into(struct manifest *m, const char *text, size_t len)
{
	struct lines ls = { .p = text, .end = text + len };
	char line[XATTR_LINE_MAX + 1];
	const char *v;
	uint64_t total = 0;
	size_t n;
	int rc;

	/* Helper: read the next line or fail on a premature end. */
#define NEED_LINE(what)                                                       \
	do {                                                                  \
		rc = next_line(&ls, line, &n);                                \
		if (rc < 0)                                                   \
			return rc;                                            \
		if (rc == 0)                                                  \
			return err_set(-EBADMSG,                              \
				       "truncated text: no '%s' line", what); \
	} while (0)

	NEED_LINE("coffre-manifest");
	if (strcmp(line, manifest_magic))
		return err_set(-EBADMSG, "not a coffre manifest version 1");

	NEED_LINE("doc");
	if ((rc = split_field(&ls, line, "doc", &v)) < 0)
		return rc;
	if (!doc_id_valid(v))
		return err_set(-EBADMSG, "line %zu: bad document id",
			       ls.lineno);
	memcpy(m->doc_id, v, DOC_ID_HEX_LEN + 1);

	NEED_LINE("version");
	if ((rc = split_field(&ls, line, "version", &v)) < 0)
		return rc;
	if (parse_u64(v, &m->version) < 0 || m->version == 0)
		return err_set(-EBADMSG, "line %zu: bad version", ls.lineno);

	NEED_LINE("size");
	if ((rc = split_field(&ls, line, "size", &v)) < 0)
		return rc;
	if (parse_u64(v, &m->size) < 0)
		return err_set(-EBADMSG, "line %zu: bad size", ls.lineno);

	NEED_LINE("sha256");
	if ((rc = split_field(&ls, line, "sha256", &v)) < 0)
		return rc;
	if (obj_id_from_hex(&m->sha256, v) < 0)
		return err_set(-EBADMSG, "line %zu: bad sha256", ls.lineno);

	NEED_LINE("deposited-by");
	if ((rc = split_field(&ls, line, "deposited-by", &v)) < 0)
		return rc;
	if (ident_validate(v) < 0)
		return err_set(-EBADMSG, "line %zu: bad depositor", ls.lineno);
	memcpy(m->deposited_by, v, strlen(v) + 1);

	NEED_LINE("deposited-at");
	if ((rc = split_field(&ls, line, "deposited-at", &v)) < 0)
		return rc;
	if (!rfc3339_valid(v, strlen(v)))
		return err_set(-EBADMSG, "line %zu: bad deposit time",
			       ls.lineno);
	memcpy(m->deposited_at, v, strlen(v) + 1);
#undef NEED_LINE

	while ((rc = next_line(&ls, line, &n)) > 0) {
		if (!strncmp(line, "chunk ", 6)) {
			if ((rc = split_field(&ls, line, "chunk", &v)) < 0 ||
			    (rc = parse_chunk(&ls, m, v)) < 0)
				return rc;
			total += m->chunks[m->nchunks - 1].size;
			if (total > m->size)
				return err_set(
					-EBADMSG,
					"chunk sizes add up past size %" PRIu64,
					m->size);
		} else if (!strncmp(line, "mode ", 5) && !m->nchunks &&
			   !m->nxattrs && !m->has_mode) {
			uint64_t mode = 0;
			const char *d;

			v = line + 5;
			if (!*v || (v[0] == '0' && v[1]))
				return err_set(-EBADMSG, "line %zu: bad mode",
					       ls.lineno);
			for (d = v; *d; d++) {
				if (*d < '0' || *d > '7' || mode > 07777)
					return err_set(-EBADMSG,
						       "line %zu: bad mode",
						       ls.lineno);
				mode = mode * 8 + (uint64_t)(*d - '0');
			}
			if (mode > 07777)
				return err_set(-EBADMSG, "line %zu: bad mode",
					       ls.lineno);
			m->has_mode = 1;
			m->mode = (uint32_t)mode;
		} else if (!strncmp(line, "xattr ", 6) && !m->nchunks) {
			if ((rc = parse_xattr(&ls, m, line + 6)) < 0)
				return rc;
		} else if (!strncmp(line, "mtime ", 6) && !m->nchunks &&
			   !m->mtime && !m->has_mode && !m->nxattrs) {
			/* Only once, right after deposited-at; 0 is written
			 * by omitting the line. */
			if ((rc = split_field(&ls, line, "mtime", &v)) < 0)
				return rc;
			if (parse_i64(v, &m->mtime) < 0 || m->mtime == 0)
				return err_set(-EBADMSG, "line %zu: bad mtime",
					       ls.lineno);
		} else {
			return err_set(
				-EBADMSG,
				"line %zu: unknown, duplicate or misplaced field",
				ls.lineno);
		}
	}
	if (rc < 0)
		return rc;
	if (total != m->size)
		return err_set(-EBADMSG,
			       "chunk sizes add up to %" PRIu64
			       ", not %" PRIu64,
			       total, m->size);
	return 0;
}

int manifest_parse(struct manifest *m, const char *text, size_t len)
{
	struct manifest tmp;
	int rc;

	manifest_release(m);
	manifest_init(&tmp);
	rc = parse_into(&tmp, text, len);
	if (rc < 0) {
		manifest_release(&tmp);
		return rc;
	}
	*m = tmp;
	return 0;
}

int manifest_format(const struct manifest *m, struct buf *out)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	size_t start = out->len;
	uint64_t total = 0;
	int rc;

	if (!doc_id_valid(m->doc_id))
		return err_set(-EINVAL,
			       "a document id is 32 lowercase hex digits");
	if (m->version == 0)
		return err_set(-EINVAL, "versions start at 1");
	if (ident_validate(m->deposited_by) < 0)
		return err_set(-EINVAL, "bad depositor login");
	if (!rfc3339_valid(m->deposited_at,
			   strnlen(m->deposited_at, sizeof(m->deposited_at))))
		return err_set(-EINVAL, "bad deposit time");
	if (m->nchunks > MANIFEST_MAX_CHUNKS)
		return err_set(-E2BIG, "more than %u chunks",
			       MANIFEST_MAX_CHUNKS);
	for (size_t i = 0; i < m->nchunks; i++) {
		if (m->chunks[i].size == 0 || m->chunks[i].size > CHUNK_MAX)
			return err_set(-EINVAL, "chunk %zu size not in 1..%u",
				       i, CHUNK_MAX);
		total += m->chunks[i].size;
	}
	if (total != m->size)
		return err_set(-EINVAL,
			       "chunk sizes add up to %" PRIu64
			       ", not %" PRIu64,
			       total, m->size);

	obj_id_to_hex(&m->sha256, hex);
	rc = buf_appendf(out,
			 "%s\ndoc %s\nversion %" PRIu64 "\nsize %" PRIu64
			 "\nsha256 %s\ndeposited-by %s\ndeposited-at %s\n",
			 manifest_magic, m->doc_id, m->version, m->size, hex,
			 m->deposited_by, m->deposited_at);
	if (rc < 0)
		goto fail;
	if (m->mtime) {
		rc = buf_appendf(out, "mtime %" PRId64 "\n", m->mtime);
		if (rc < 0)
			goto fail;
	}
	if (m->has_mode) {
		if (m->mode > 07777)
			return err_set(-EINVAL, "mode over 7777");
		rc = buf_appendf(out, "mode %o\n", (unsigned)m->mode);
		if (rc < 0)
			goto fail;
	}
	for (size_t i = 0; i < m->nxattrs; i++) {
		const struct manifest_xattr *x = &m->xattrs[i];
		char *b64;

		if (!manifest_xattr_name_valid(x->name) ||
		    x->len > MANIFEST_XATTR_VALUE_MAX ||
		    (i && strcmp(m->xattrs[i - 1].name, x->name) >= 0)) {
			rc = err_set(-EINVAL, "bad attribute '%.64s'", x->name);
			goto fail;
		}
		if (!x->len) {
			rc = buf_appendf(out, "xattr %s\n", x->name);
		} else if (!(b64 = malloc(MANIFEST_B64_LEN(x->len)))) {
			rc = -ENOMEM;
		} else {
			manifest_b64_encode(x->value, x->len, b64);
			rc = buf_appendf(out, "xattr %s %s\n", x->name, b64);
			free(b64);
		}
		if (rc < 0)
			goto fail;
	}
	for (size_t i = 0; i < m->nchunks; i++) {
		obj_id_to_hex(&m->chunks[i].id, hex);
		rc = buf_appendf(out, "chunk %s %" PRIu32 "\n", hex,
				 m->chunks[i].size);
		if (rc < 0)
			goto fail;
	}
	return 0;
fail:
	/* Leave out as it was: no half manifest. */
	out->len = start;
	if (out->data)
		out->data[start] = '\0';
	return rc;
}

/* ---- folder metadata ---- */

static const char *const class_names[] = {
	[FOLDER_CLASS_PUBLIC] = "public",
	[FOLDER_CLASS_RESTRICTED] = "restricted",
	[FOLDER_CLASS_CONFIDENTIAL] = "confidential",
};

const char *folder_class_name(enum folder_class c)
{
	if ((unsigned)c >= ARRAY_SIZE(class_names))
		return NULL;
	return class_names[c];
}

int folder_class_parse(const char *s, enum folder_class *out)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(class_names); i++) {
		if (!strcmp(s, class_names[i])) {
			*out = (enum folder_class)i;
			return 0;
		}
	}
	return err_set(-EINVAL,
		       "a class is 'public', 'restricted' or 'confidential'");
}

uint32_t folder_meta_mode(const struct folder_meta *fm)
{
	return fm->has_mode ? fm->mode & 07777 : FOLDER_MODE_DEFAULT;
}

void folder_meta_set_mode(struct folder_meta *fm, uint32_t mode)
{
	fm->mode = mode & 07777;
	fm->has_mode = fm->mode != FOLDER_MODE_DEFAULT;
	if (!fm->has_mode)
		fm->mode = 0;
}

int folder_meta_format(const struct folder_meta *fm, struct buf *out)
{
	const char *name = folder_class_name(fm->class);
	int rc;

	if (!name)
		return err_set(-EINVAL, "unknown folder class %d",
			       (int)fm->class);
	if (fm->has_mode && fm->mode > 07777)
		return err_set(-EINVAL, "folder mode %o out of range",
			       (unsigned)fm->mode);
	rc = buf_appendf(out, "%s\nclass %s\n", folder_magic, name);
	/* the default is no line: one state, one text */
	if (rc == 0 && fm->has_mode && fm->mode != FOLDER_MODE_DEFAULT)
		rc = buf_appendf(out, "mode %04o\n", (unsigned)fm->mode);
	return rc;
}

/* Exactly four octal digits (0000..7777). */
static int parse_mode4(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		if (s[i] < '0' || s[i] > '7')
			return -EBADMSG;
		v = v * 8 + (uint32_t)(s[i] - '0');
	}
	if (s[4])
		return -EBADMSG;
	*out = v;
	return 0;
}

int folder_meta_parse(struct folder_meta *fm, const char *text, size_t len)
{
	struct lines ls = { .p = text, .end = text + len };
	char line[XATTR_LINE_MAX + 1];
	enum folder_class c;
	uint32_t mode = 0;
	int has_mode = 0;
	const char *v;
	size_t n;
	int rc;

	rc = next_line(&ls, line, &n);
	if (rc <= 0 || strcmp(line, folder_magic))
		return rc < 0 ? rc :
				err_set(-EBADMSG,
					"not a coffre folder blob version 1");
	rc = next_line(&ls, line, &n);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(-EBADMSG, "truncated text: no 'class' line");
	if ((rc = split_field(&ls, line, "class", &v)) < 0)
		return rc;
	if (folder_class_parse(v, &c) < 0)
		return err_set(-EBADMSG, "line %zu: unknown class", ls.lineno);
	rc = next_line(&ls, line, &n);
	if (rc < 0)
		return rc;
	if (rc > 0 && !strncmp(line, "mode ", 5)) {
		if (parse_mode4(line + 5, &mode) < 0 ||
		    mode == FOLDER_MODE_DEFAULT)
			return err_set(-EBADMSG,
				       "line %zu: a mode is four octal digits, "
				       "never the default 0755",
				       ls.lineno);
		has_mode = 1;
		rc = next_line(&ls, line, &n);
		if (rc < 0)
			return rc;
	}
	if (rc > 0)
		return err_set(-EBADMSG, "line %zu: unknown field", ls.lineno);
	fm->class = c;
	fm->has_mode = has_mode;
	fm->mode = mode;
	return 0;
}
