/*
 * The version manifest: a small, stable text that names one immutable version
 * of a document.  It is the blob a ledger tree entry points to, and what the
 * protocol serves.  Format (UTF-8, LF line ends, fields in this order):
 *
 *   coffre-manifest 1
 *   doc 5f0c...(32 hex: 128-bit random document id)
 *   version 3
 *   size 8388608
 *   sha256 9c1185a5c5e9fc54612808977ee8f548b2258d31...(64 hex, whole content)
 *   deposited-by alice
 *   deposited-at 2026-11-27T10:00:00Z
 *   mtime 1795773600                  (optional: the file's modification
 *                                      time given by the client, Unix s)
 *   mode 755                          (optional: the file's mode bits, octal
 *                                      0..7777, as chmod set them)
 *   xattr user.xdg.origin.url aHR0cHM6Ly9leGFtcGxlLm9yZw==
 *                                     (optional, any number up to
 *                                      MANIFEST_XATTRS_MAX, names strictly
 *                                      increasing bytewise: a user.* extended
 *                                      attribute, its value in base64 with
 *                                      padding; "xattr NAME" for an empty one)
 *   chunk <64 hex sha256 of the plaintext chunk> <size>
 *   chunk ...
 *
 * Chunks are listed in content order; their sizes add up to size; an empty
 * file has no chunk line.  The parser is bounded: a line over 512 bytes, more
 * than MANIFEST_MAX_CHUNKS chunks, a field out of order, a duplicate or an
 * unknown field gives -EBADMSG and changes nothing.
 *
 * Folder metadata lives in a blob named ".coffre-folder" inside each folder's
 * tree (it also keeps empty folders in git):
 *
 *   coffre-folder 1
 *   class restricted
 *   mode 0750
 *
 * The mode line is there only when the folder's mode bits are not the
 * default 0755: exactly four octal digits, so one state has one text and
 * one blob id.  A folder made before modes were kept has none.
 */
#ifndef COFFRE_COMMON_MANIFEST_H
#define COFFRE_COMMON_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include "common/hash.h"
#include "common/buf.h"

#define DOC_ID_HEX_LEN	    32
#define MANIFEST_MAX_CHUNKS (1u << 22) /* 4M chunks: 16 TiB at 4 MiB */
#define LOGIN_MAX_LEN	    64
#define FOLDER_META_NAME    ".coffre-folder"

/* user.* extended attributes kept with a version: "user." then 1..200
 * bytes of printable ASCII without space or '/', never "user.coffre.*"
 * (the drive's own); a value of at most 4 KiB; at most 64 attributes and
 * 64 KiB of names and values in all. */
#define MANIFEST_XATTR_NAME_MAX	 (5 + 200)
#define MANIFEST_XATTR_VALUE_MAX 4096
#define MANIFEST_XATTRS_MAX	 64
#define MANIFEST_XATTRS_BYTES	 65536

struct manifest_xattr {
	char name[MANIFEST_XATTR_NAME_MAX + 1];
	uint8_t *value; /* malloc'd (NULL when empty), owned */
	size_t len;
};

struct manifest_chunk {
	struct obj_id id;
	uint32_t size;
};

struct manifest {
	char doc_id[DOC_ID_HEX_LEN + 1];
	uint64_t version; /* 1..N */
	uint64_t size;
	struct obj_id sha256;
	char deposited_by[LOGIN_MAX_LEN + 1];
	char deposited_at[32]; /* RFC 3339 UTC, "2026-11-27T10:00:00Z" */
	int64_t mtime;	       /* 0 = none (the line is omitted) */
	int has_mode;	       /* the mode line is there */
	uint32_t mode;	       /* 0..07777 */
	size_t nxattrs;
	struct manifest_xattr *xattrs; /* sorted by name, malloc'd, owned */
	size_t nchunks;
	struct manifest_chunk *chunks; /* malloc'd, owned */
	size_t alloc_chunks;	       /* room in chunks (manifest_add_chunk) */
};

enum folder_class {
	FOLDER_CLASS_PUBLIC,
	FOLDER_CLASS_RESTRICTED,
	FOLDER_CLASS_CONFIDENTIAL,
};

#define FOLDER_MODE_DEFAULT 0755

struct folder_meta {
	enum folder_class class;
	int has_mode;  /* 0: FOLDER_MODE_DEFAULT */
	uint32_t mode; /* permission bits, at most 07777 */
};

void manifest_init(struct manifest *m);
void manifest_release(struct manifest *m);
/* Append one chunk (grows the array).  0 or -ENOMEM/-E2BIG. */
int manifest_add_chunk(struct manifest *m, const struct obj_id *id,
		       uint32_t size);
/* A deep copy of src into dst (released first).  0 or -ENOMEM. */
int manifest_copy(struct manifest *dst, const struct manifest *src);
/* A predicate: 1 when name may name a kept user.* attribute, else 0. */
int manifest_xattr_name_valid(const char *name);
/* Set (or replace) attribute name to value: -EINVAL for a name refused
 * above, -E2BIG for a value over 4 KiB, -ENOSPC past the count or the
 * total, -ENOMEM; m unchanged on error. */
int manifest_set_xattr(struct manifest *m, const char *name, const void *value,
		       size_t len);
/* Base64 (standard alphabet, padded) of len bytes into out, which needs
 * MANIFEST_B64_LEN(len) bytes; NUL-terminated. */
#define MANIFEST_B64_LEN(len) (((len) + 2) / 3 * 4 + 1)
void manifest_b64_encode(const uint8_t *in, size_t len, char *out);
/* Decode canonical base64 b64 into out (cap bytes): its length, or -EINVAL
 * for text that is not the canonical encoding of at most cap bytes. */
long manifest_b64_decode(const char *b64, uint8_t *out, size_t cap);
/* Append the text form to out.  -EINVAL if sizes do not add up. */
int manifest_format(const struct manifest *m, struct buf *out);
/* Parse text (not necessarily NUL-terminated).  On error m is left empty. */
int manifest_parse(struct manifest *m, const char *text, size_t len);

/* A fresh random document id (32 lowercase hex + NUL). */
void doc_id_new(char out[DOC_ID_HEX_LEN + 1]);
/* A predicate: 1 when s is exactly 32 lowercase hex digits, else 0. */
int doc_id_valid(const char *s);

const char *folder_class_name(enum folder_class c);
int folder_class_parse(const char *s, enum folder_class *out); /* -EINVAL */
int folder_meta_format(const struct folder_meta *fm, struct buf *out);
int folder_meta_parse(struct folder_meta *fm, const char *text, size_t len);
/* The mode bits fm states (FOLDER_MODE_DEFAULT without a mode line). */
uint32_t folder_meta_mode(const struct folder_meta *fm);
/* State mode (& 07777) in fm: the default clears the line. */
void folder_meta_set_mode(struct folder_meta *fm, uint32_t mode);

/* RFC 3339 UTC for t into out (at least 21 bytes). */
void rfc3339_utc(long long t, char *out, size_t outlen);

#endif /* COFFRE_COMMON_MANIFEST_H */
