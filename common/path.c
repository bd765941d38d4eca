/*
 * Name and path validation.  The client checks names before it queues
 * anything and the server checks them again on every request; both use this
 * file, so a name accepted on one side is accepted on the other.
 *
 * UTF-8 is validated by hand (RFC 3629, Table 3-7 of the Unicode standard):
 * the rules are small and exact, and a library would bring locale state or
 * accept what we must refuse (overlongs, surrogates, code points past
 * U+10FFFF).  Messages never echo the name: it may be hostile bytes that
 * would corrupt a log line or a JSON error body.
 */
#include "common/path.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/banned.h"

static const char *const reserved_names[] = {
	".coffre-folder", /* folder metadata blob, FOLDER_META_NAME */
	".versions",	  /* virtual versions folder on the drive */
	".coffre-access", /* members and grants blob at a space's root */
};

/*
 * Length of the valid UTF-8 sequence at s (at most n bytes available), or 0
 * when the bytes there are not valid UTF-8.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong below U+0800 */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates U+D800..U+DFFF */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong below U+10000 */
		else if (c == 0xf4)
			hi = 0x8f; /* past U+10FFFF */
	} else {
		return 0; /* continuation byte, 0xc0/0xc1 overlongs, 0xf5.. */
	}
	if (n < len)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* Check one component of len bytes (not NUL-terminated). */
static int name_check(const char *name, size_t len, int user)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t i = 0;

	if (len == 0)
		return err_set(-EINVAL, "empty name");
	if (len > NAME_MAX_LEN)
		return err_set(-ENAMETOOLONG, "name longer than %d bytes",
			       NAME_MAX_LEN);
	if ((len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.'))
		return err_set(-EINVAL, "'.' and '..' are not names");
	while (i < len) {
		size_t step;

		if (s[i] == '/')
			return err_set(-EINVAL, "name contains '/'");
		if (s[i] < 0x20 || s[i] == 0x7f)
			return err_set(
				-EINVAL,
				"name contains control character 0x%02x at byte %zu",
				s[i], i);
		step = utf8_seq(s + i, len - i);
		if (!step)
			return err_set(-EINVAL,
				       "name is not valid UTF-8 at byte %zu",
				       i);
		i += step;
	}
	if (user) {
		for (size_t r = 0; r < ARRAY_SIZE(reserved_names); r++)
			if (strlen(reserved_names[r]) == len &&
			    !memcmp(reserved_names[r], name, len))
				return err_set(
					-EINVAL,
					"'%s' is a name reserved by coffre",
					reserved_names[r]);
	}
	return 0;
}

int name_validate(const char *name)
{
	if (!name)
		return err_set(-EINVAL, "no name");
	return name_check(name, strnlen(name, NAME_MAX_LEN + 1), 0);
}

int name_validate_user(const char *name)
{
	if (!name)
		return err_set(-EINVAL, "no name");
	return name_check(name, strnlen(name, NAME_MAX_LEN + 1), 1);
}

int path_validate(const char *path)
{
	size_t len, depth = 0;
	const char *p, *end;
	int rc;

	if (!path)
		return err_set(-EINVAL, "no path");
	len = strnlen(path, PATH_MAX_LEN + 1);
	if (len > PATH_MAX_LEN)
		return err_set(-ENAMETOOLONG, "path longer than %d bytes",
			       PATH_MAX_LEN);
	if (path[0] != '/')
		return err_set(-EINVAL, "path does not start with '/'");
	if (len == 1)
		return 0;
	end = path + len;
	/* Each '/' starts one non-empty component; "//" and "/a/" fail here. */
	for (p = path; p < end;) {
		const char *s = p + 1;
		const char *e = memchr(s, '/', (size_t)(end - s));

		if (!e)
			e = end;
		if (e == s)
			return err_set(
				-EINVAL,
				"path has an empty component (\"//\" or a trailing '/')");
		if (++depth > PATH_MAX_DEPTH)
			return err_set(-ENAMETOOLONG,
				       "path deeper than %d components",
				       PATH_MAX_DEPTH);
		rc = name_check(s, (size_t)(e - s), 1);
		if (rc < 0)
			return rc;
		p = e;
	}
	return 0;
}

int ident_validate(const char *s)
{
	size_t len;

	if (!s)
		return err_set(-EINVAL, "no name");
	len = strnlen(s, 65);
	if (len == 0 || len > 64)
		return err_set(-EINVAL,
			       "a login or space name is 1 to 64 characters");
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 (i > 0 && (c == '.' || c == '_' || c == '-'));

		if (!ok)
			return err_set(
				-EINVAL,
				"a login or space name is lowercase letters, digits, '.', '_' and '-', starting with a letter or digit");
	}
	return 0;
}

int path_split(const char *path, char **parent, char **name)
{
	const char *slash;
	int rc;

	*parent = NULL;
	*name = NULL;
	rc = path_validate(path);
	if (rc < 0)
		return rc;
	if (!strcmp(path, "/"))
		return err_set(-EINVAL, "'/' has no parent");
	slash = strrchr(path, '/');
	*parent = slash == path ? strdup("/") :
				  strndup(path, (size_t)(slash - path));
	*name = strdup(slash + 1);
	if (!*parent || !*name) {
		free(*parent);
		free(*name);
		*parent = NULL;
		*name = NULL;
		return err_set(-ENOMEM, "out of memory");
	}
	return 0;
}

char *path_join(const char *parent, const char *name)
{
	size_t plen = strlen(parent), nlen = strlen(name), total;
	int root = plen == 1 && parent[0] == '/';
	char *out, *p;

	/* parent + '/' + name + NUL, with the '/' omitted after the root. */
	if (__builtin_add_overflow(plen, nlen, &total) ||
	    __builtin_add_overflow(total, 2, &total)) {
		err_set(-E2BIG, "path too long");
		return NULL;
	}
	out = malloc(total);
	if (!out) {
		err_set(-ENOMEM, "out of memory");
		return NULL;
	}
	p = out;
	memcpy(p, parent, plen);
	p += plen;
	if (!root)
		*p++ = '/';
	memcpy(p, name, nlen);
	p[nlen] = '\0';
	return out;
}
