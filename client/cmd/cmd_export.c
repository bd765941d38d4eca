/*
 * `coffre export SPACE --out DIR`: everything the caller may read of a
 * space, in open formats, so it stays theirs without coffre or its server
 * (docs/export.md):
 *
 *   files/PATH                        the current version of each document
 *   files/FOLDER/.versions/NAME/vN.EXT  every version, as the drive shows
 *   versions.jsonl                    one line per version: path, doc id,
 *                                     size, SHA-256, depositor, date,
 *                                     commit, manifest, mode, xattrs
 *   events.jsonl                      the space's journal the caller reads
 *   signatures.jsonl                  each e-signature (CMS) and its token
 *   ledger.bundle, keys/              owners: the whole ledger (git bundle)
 *                                     and the keys that check it
 *   SHA256SUMS, VERIFY.txt            `sha256sum -c` and how to check all
 *
 * Resumable: a file already there with the right size and digest is kept
 * (it is read again, not fetched); anything else is fetched chunk by
 * chunk into NAME.part, checked against the version's SHA-256 and renamed
 * into place, so an interrupted export leaves no torn file.  The chunks
 * come from the server checked against their ids (transport_get_chunk).
 */
#include "client/cmd/cmd_export.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <jansson.h>
#include <sodium.h>

#include "client/cmd/cmd_access.h"
#include "client/cmd/file_hash.h"
#include "client/cmd/progress.h"
#include "client/store/session.h"
#include "client/store/transport.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/path.h"

static const char use[] = "export SPACE --out DIR [--progress|--quiet]";

/* A version to write: where, and what it must hash to. */
struct item {
	char *path; /* in the space */
	char *file; /* in the export, relative to DIR */
	char doc[33];
	unsigned long long version, size;
	char sha256[65];
	json_t *chunks; /* [["64 hex", size], ...], from the version's record */
};

struct export
{
	struct transport *t;
	const char *space, *out;
	struct item *items;
	size_t n, cap;
	json_t *versions;    /* the lines of versions.jsonl, in order */
	json_t *event_roots; /* folders read whose parent is not: journals */
	FILE *sigs;
	uint64_t total, done, fetched, kept;
	struct progress prog;
	int lock; /* DIR/.export.lock, held (flock) while exporting */
};

PRINTF_LIKE(3, 4)
static int api_get(struct export *x, json_t **reply, const char *fmt, ...)
{
	char url[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(url, sizeof(url), fmt, ap);
	va_end(ap);
	*reply = NULL;
	if (n < 0 || (size_t)n >= sizeof(url))
		return err_set(-ENAMETOOLONG, "path too long");
	return transport_json(x->t, "GET", url, NULL, reply);
}

/* snprintf that says when it would cut: -ENAMETOOLONG. */
PRINTF_LIKE(3, 4)
static int join(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= cap ?
		       err_set(-ENAMETOOLONG, "path too long") :
		       0;
}

/* One JSON Lines record: v on one line, keys sorted.  0 or -EIO. */
static int jsonl_put(FILE *f, json_t *v)
{
	return json_dumpf(v, f, JSON_COMPACT | JSON_SORT_KEYS) < 0 ||
			       fputc('\n', f) == EOF ?
		       -EIO :
		       0;
}

static const char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

/* "vN.EXT" for name, the drive's name of version N (vdir.c's rule). */
static void version_name(const char *name, unsigned long long n, char *out,
			 size_t cap)
{
	const char *dot = strrchr(name, '.');

	if (!dot || dot == name || strlen(dot) > 16 || strchr(dot, '/'))
		dot = "";
	snprintf(out, cap, "v%llu%s", n, dot);
}

static int item_add(struct export *x, const char *path, const char *file,
		    json_t *v, const char *doc)
{
	struct item *it;

	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 64;
		struct item *p = realloc(x->items, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		x->items = p;
		x->cap = cap;
	}
	it = &x->items[x->n];
	memset(it, 0, sizeof(*it));
	it->path = strdup(path);
	it->file = strdup(file);
	if (!it->path || !it->file) {
		free(it->path);
		free(it->file);
		return -ENOMEM;
	}
	snprintf(it->doc, sizeof(it->doc), "%s", doc);
	it->version = (unsigned long long)json_integer_value(
		json_object_get(v, "version"));
	it->size = (unsigned long long)json_integer_value(
		json_object_get(v, "size"));
	snprintf(it->sha256, sizeof(it->sha256), "%s", str(v, "sha256"));
	x->n++;
	x->total += it->size;
	return 0;
}

/* The signatures of one version, appended to signatures.jsonl. */
static int save_signatures(struct export *x, const char *doc,
			   unsigned long long n)
{
	char num[24];
	json_t *r = NULL, *s;
	size_t i;
	int rc;

	snprintf(num, sizeof(num), "%llu", n);
	rc = api_get(x, &r, "/v1/spaces/%s/docs/%s/versions/%s/signatures",
		     x->space, doc, num);
	if (rc < 0)
		return rc;
	json_array_foreach(json_object_get(r, "signatures"), i, s)
	{
		json_object_set_new(s, "doc_id", json_string(doc));
		json_object_set_new(s, "version", json_integer((json_int_t)n));
		if (jsonl_put(x->sigs, s) < 0)
			rc = err_set(-EIO, "cannot write signatures.jsonl");
	}
	json_decref(r);
	return rc;
}

/*
 * Every version of the document at path (entry e of its folder's
 * listing): the current one at files/PATH, all of them under .versions.
 */
static int add_document(struct export *x, const char *folder, const char *path,
			json_t *e)
{
	const char *name = str(e, "name"), *doc = str(e, "doc_id");
	unsigned long long cur = (unsigned long long)json_integer_value(
		json_object_get(e, "version"));
	json_t *r = NULL, *v, *detail;
	char file[8192], vname[96];
	size_t i;
	int rc;

	if (strlen(doc) != 32)
		return err_set(-EPROTO, "'%s' has no document id", path);
	rc = api_get(x, &r, "/v1/spaces/%s/docs/%s/versions", x->space, doc);
	if (rc < 0)
		return rc;
	json_array_foreach(json_object_get(r, "versions"), i, v)
	{
		unsigned long long n = (unsigned long long)json_integer_value(
			json_object_get(v, "version"));
		char num[24];

		size_t first = x->n;

		version_name(name, n, vname, sizeof(vname));
		rc = join(file, sizeof(file), "files%s/.versions/%s/%s",
			  strcmp(folder, "/") ? folder : "", name, vname);
		if (rc == 0)
			rc = item_add(x, path, file, v, doc);
		if (rc == 0 && n == cur)
			rc = join(file, sizeof(file), "files%s", path);
		if (rc == 0 && n == cur)
			rc = item_add(x, path, file, v, doc);
		/* The version's record: its fields and manifest, and the
		 * metadata the listing gives of the current one. */
		snprintf(num, sizeof(num), "%llu", n);
		if (rc == 0)
			rc = api_get(x, &detail,
				     "/v1/spaces/%s/docs/%s/versions/%s",
				     x->space, doc, num);
		if (rc == 0) {
			/* Kept for the fetch: the record is asked for once. */
			for (size_t k = first; k < x->n; k++)
				x->items[k].chunks = json_incref(
					json_object_get(detail, "chunks"));
			json_object_del(detail, "chunks");
			json_object_set_new(detail, "path", json_string(path));
			json_object_set_new(detail, "doc_id", json_string(doc));
			json_object_set_new(
				detail, "file",
				json_string(x->items[x->n - 1].file));
			json_object_set_new(detail, "current",
					    json_boolean(n == cur));
			if (n == cur) {
				const char *keys[] = { "mode", "mtime",
						       "xattrs" };

				for (size_t k = 0; k < 3; k++)
					if (json_object_get(e, keys[k]))
						json_object_set(
							detail, keys[k],
							json_object_get(
								e, keys[k]));
			}
			json_array_append_new(x->versions, detail);
			rc = save_signatures(x, doc, n);
		}
		if (rc < 0)
			break;
	}
	json_decref(r);
	return rc;
}

/* Does the listing r grant read on its folder? */
static int reads(json_t *r)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(r, "rights"), i, v)
	{
		if (json_is_string(v) && !strcmp(json_string_value(v), "read"))
			return 1;
	}
	return 0;
}

/*
 * Walk folder (a space path) and everything below it that shows.
 * parent_read: the caller reads the folder above, whose journal then
 * holds this one's.
 */
static int walk(struct export *x, const char *folder, int depth,
		int parent_read)
{
	int here_read = 0;

	char *after = NULL, *q = NULL;
	int rc = 0;

	if (depth > 256)
		return err_set(-ELOOP, "folders nested too deep at '%s'",
			       folder);
	q = transport_escape(folder);
	if (!q)
		return -ENOMEM;
	for (;;) {
		json_t *r = NULL, *e, *next;
		char *ea = after ? transport_escape(after) : NULL;
		size_t i;

		rc = api_get(x, &r, "/v1/spaces/%s/tree?path=%s%s%s", x->space,
			     q, ea ? "&after=" : "", ea ? ea : "");
		free(ea);
		if (rc < 0)
			break;
		if (!after) {
			here_read = reads(r);
			if (here_read && !parent_read)
				json_array_append_new(x->event_roots,
						      json_string(folder));
		}
		json_array_foreach(json_object_get(r, "entries"), i, e)
		{
			char path[8192];
			const char *name = str(e, "name");

			if (name_validate(name) < 0) {
				rc = err_set(-EPROTO,
					     "the server named a file '%s'",
					     name);
				break;
			}
			rc = join(path, sizeof(path), "%s/%s",
				  strcmp(folder, "/") ? folder : "", name);
			if (rc < 0)
				break;
			if (!strcmp(str(e, "type"), "dir"))
				rc = walk(x, path, depth + 1, here_read);
			else
				rc = add_document(x, folder, path, e);
			if (rc < 0)
				break;
		}
		next = json_object_get(r, "next");
		free(after);
		after = json_is_string(next) ? strdup(json_string_value(next)) :
					       NULL;
		json_decref(r);
		if (rc < 0 || !after)
			break;
	}
	free(after);
	free(q);
	return rc;
}

/* Is the file at path whole: the size and SHA-256 of item it? */
static int file_whole(const char *path, const struct item *it)
{
	struct obj_id id;
	uint64_t size = 0;
	char hex[65];

	if (file_hash(path, -1, &id, &size, NULL, NULL, 0) < 0) {
		err_clear(); /* absent or unreadable: fetched again */
		return 0;
	}
	obj_id_to_hex(&id, hex);
	return size == it->size && !strcmp(hex, it->sha256);
}

static int parent_dirs(const char *path)
{
	char dir[8400];
	char *slash;

	if (join(dir, sizeof(dir), "%s", path) < 0)
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	return mkdir_p(dir, 0755);
}

/*
 * Write item it at dest through dest.part, checked against its SHA-256,
 * then renamed: from twin, a file of the export holding the same version
 * (the current one is there twice), else chunk by chunk from the server.
 */
static int fetch(struct export *x, const struct item *it, const char *dest,
		 const char *twin, size_t docs_done)
{
	char part[8300] = "", got[65];
	struct hash_ctx *h = NULL;
	struct obj_id id;
	uint64_t size = 0;
	json_t *c;
	size_t i;
	int fd = -1, rc;

	rc = join(part, sizeof(part), "%s.part", dest);
	if (rc == 0) {
		fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			rc = err_set(-errno, "cannot write '%s': %s", part,
				     strerror(errno));
	}
	if (rc == 0 && twin) {
		rc = file_hash(twin, fd, &id, &size, NULL, NULL, 0);
		x->done += size;
	} else if (rc == 0) {
		rc = hash_new(&h);
	}
	json_array_foreach(twin ? NULL : it->chunks, i, c)
	{
		uint8_t *data = NULL;
		size_t len = 0;

		if (rc < 0)
			break;
		rc = obj_id_from_hex(
			&id, json_string_value(json_array_get(c, 0)) ?
				     json_string_value(json_array_get(c, 0)) :
				     "");
		if (rc == 0)
			rc = transport_get_chunk(x->t, x->space, &id, &data,
						 &len);
		if (rc == 0) {
			hash_update(h, data, len);
			rc = write_full(fd, data, len);
			if (rc < 0)
				rc = err_set(rc, "cannot write '%s': %s", part,
					     strerror(-rc));
			x->done += len;
			size += len;
		}
		free(data);
		progress_transfer(&x->prog, "export", docs_done, x->n, x->done,
				  x->total);
	}
	if (fd >= 0 && rc == 0 && fsync(fd) < 0)
		rc = err_set(-errno, "cannot write '%s': %s", part,
			     strerror(errno));
	if (fd >= 0)
		close(fd);
	if (rc == 0) {
		if (h)
			hash_final(h, &id);
		obj_id_to_hex(&id, got);
		if (strcmp(got, it->sha256) || size != it->size)
			rc = err_set(-EBADMSG,
				     "'%s' v%llu does not hash to its SHA-256",
				     it->path, it->version);
	}
	if (rc == 0 && rename(part, dest) < 0)
		rc = err_set(-errno, "cannot rename '%s': %s", part,
			     strerror(errno));
	if (rc < 0 && part[0])
		unlink(part);
	hash_free(h);
	return rc;
}

static int write_items(struct export *x)
{
	char dest[8300], prev[8300] = "";
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < x->n; i++) {
		const struct item *it = &x->items[i];
		/* the same version just written or kept: copied locally */
		const char *twin =
			i > 0 && prev[0] &&
					!strcmp(x->items[i - 1].doc, it->doc) &&
					x->items[i - 1].version == it->version ?
				prev :
				NULL;

		rc = join(dest, sizeof(dest), "%s/%s", x->out, it->file);
		if (rc == 0)
			rc = parent_dirs(dest);
		if (rc < 0)
			return err_set(rc, "cannot make the folders of '%s'",
				       dest);
		/* Already there and whole: kept. */
		if (file_whole(dest, it)) {
			x->kept++;
			x->done += it->size;
		} else {
			rc = fetch(x, it, dest, twin, i);
			if (rc == 0)
				x->fetched++;
		}
		memcpy(prev, dest, sizeof(prev));
	}
	return rc;
}

/* The events the caller reads under root, oldest first, into f. */
static int save_events(struct export *x, const char *root, FILE *f)
{
	char after[24] = "0";
	char *q = transport_escape(root);
	int rc = q ? 0 : -ENOMEM;

	while (rc == 0) {
		json_t *r = NULL, *e;
		size_t i;

		rc = api_get(x, &r, "/v1/spaces/%s/events?path=%s&after=%s",
			     x->space, q, after);
		if (rc < 0)
			break;
		json_array_foreach(json_object_get(r, "events"), i, e)
		{
			if (jsonl_put(f, e) < 0)
				rc = err_set(-EIO, "cannot write events.jsonl");
		}
		snprintf(after, sizeof(after), "%lld",
			 (long long)json_integer_value(
				 json_object_get(r, "last")));
		if (!json_is_true(json_object_get(r, "more"))) {
			json_decref(r);
			break;
		}
		json_decref(r);
	}
	free(q);
	return rc;
}

static int save_text(const char *out, const char *name, const char *text,
		     size_t len)
{
	char path[8300];
	int rc;

	rc = join(path, sizeof(path), "%s/%s", out, name);
	if (rc == 0)
		rc = parent_dirs(path);
	if (rc == 0)
		rc = file_write_atomic(path, text, len, 0644);
	return rc < 0 ? err_set(rc, "cannot write '%s'", path) : 0;
}

/* Owners: the whole ledger and its keys.  1 when the caller may not. */
static int save_ledger(struct export *x)
{
	json_t *r = NULL;
	unsigned char *bin = NULL;
	const char *b64;
	size_t len = 0, cap;
	int rc = api_get(x, &r, "/v1/spaces/%s/ledger", x->space);

	if (rc == -EACCES || rc == -EPERM) {
		err_clear();
		json_decref(r);
		return 1;
	}
	if (rc < 0)
		return rc;
	b64 = str(r, "bundle");
	cap = strlen(b64);
	bin = malloc(cap ? cap : 1);
	if (!bin || sodium_base642bin(bin, cap, b64, strlen(b64), NULL, &len,
				      NULL, sodium_base64_VARIANT_ORIGINAL) < 0)
		rc = err_set(-EPROTO,
			     "the server's ledger bundle is not base64");
	if (rc == 0)
		rc = save_text(x->out, "ledger.bundle", (const char *)bin, len);
	if (rc == 0)
		rc = save_text(x->out, "keys/allowed_signers",
			       str(r, "allowed_signers"),
			       strlen(str(r, "allowed_signers")));
	if (rc == 0)
		rc = save_text(x->out, "keys/tsa-ca.pem", str(r, "tsa_ca"),
			       strlen(str(r, "tsa_ca")));
	free(bin);
	json_decref(r);
	return rc;
}

static const char verify_text[] =
	"How to check this export of coffre space \"%s\" with stock tools\n"
	"===============================================================\n"
	"\n"
	"1. Every file is whole (the SHA-256 the server recorded at deposit):\n"
	"\n"
	"     sha256sum -c SHA256SUMS\n"
	"\n"
	"   versions.jsonl gives, for each version, its path, document id,\n"
	"   depositor, date, commit and manifest (the text the ledger holds).\n"
	"%s";

static const char verify_ledger[] =
	"\n"
	"2. The ledger (this export was made by an owner):\n"
	"\n"
	"     git bundle verify ledger.bundle\n"
	"     git clone --bare ledger.bundle ledger.git\n"
	"     git -C ledger.git -c gpg.format=ssh \\\n"
	"         -c gpg.ssh.allowedSignersFile=\"$PWD/keys/allowed_signers\" \\\n"
	"         verify-commit main\n"
	"     git -C ledger.git log --format='%%h %%an %%s' main\n"
	"\n"
	"   Each version's manifest is a blob of the commit versions.jsonl\n"
	"   names: git -C ledger.git cat-file -p COMMIT:PATH/.coffre/... shows it;\n"
	"   the commits' RFC 3161 tokens are the notes of refs/notes/timestamps\n"
	"   (openssl ts -verify -CAfile keys/tsa-ca.pem).\n"
	"\n"
	"3. E-signatures: signatures.jsonl holds each CMS signature in base64:\n"
	"\n"
	"     jq -r 'select(.doc_id == \"DOC\" and .version == N) | .cms' \\\n"
	"         signatures.jsonl | base64 -d > sig.p7s\n"
	"     openssl cms -verify -binary -inform DER -in sig.p7s \\\n"
	"         -content FILE -noverify\n";

static const char verify_member[] =
	"\n"
	"2. This export was made by a member who is not an owner: it holds what\n"
	"   they may read, and no ledger (its trees name everything in the\n"
	"   space).  Each version can be proven on its own with `coffre proof`.\n";

static int save_sums(struct export *x)
{
	struct buf b;
	int rc = 0;

	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; rc == 0 && i < x->n; i++)
		rc = buf_appendf(&b, "%s  %s\n", x->items[i].sha256,
				 x->items[i].file);
	if (rc == 0)
		rc = save_text(x->out, "SHA256SUMS", b.data ? b.data : "",
			       b.len);
	buf_release(&b);
	return rc;
}

static int save_jsonl(const char *out, const char *name, json_t *arr)
{
	char path[8300];
	json_t *v;
	size_t i;
	FILE *f;
	int rc = 0;

	if (join(path, sizeof(path), "%s/%s", out, name) < 0)
		return -ENAMETOOLONG;
	f = fopen(path, "w");
	if (!f)
		return err_set(-errno, "cannot write '%s': %s", path,
			       strerror(errno));
	json_array_foreach(arr, i, v)
	{
		if (jsonl_put(f, v) < 0)
			rc = -EIO;
	}
	if (fclose(f) != 0 || rc < 0)
		rc = err_set(-EIO, "cannot write '%s'", path);
	return rc;
}

static int run(struct export *x)
{
	char path[8300], *text = NULL;
	FILE *ev;
	int rc, owner = 0;

	rc = mkdir_p(x->out, 0755);
	if (rc < 0)
		return err_set(rc, "cannot make '%s'", x->out);
	/* One export into a directory at a time: two would write the same
	 * .part files. */
	if (join(path, sizeof(path), "%s/.export.lock", x->out) < 0)
		return -ENAMETOOLONG;
	x->lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (x->lock < 0)
		return err_set(-errno, "cannot open '%s': %s", path,
			       strerror(errno));
	if (flock(x->lock, LOCK_EX | LOCK_NB) < 0)
		return err_set(-EBUSY, "another export into '%s' is running",
			       x->out);
	if (join(path, sizeof(path), "%s/signatures.jsonl", x->out) < 0)
		return -ENAMETOOLONG;
	x->sigs = fopen(path, "w");
	if (!x->sigs)
		return err_set(-errno, "cannot write '%s'", path);
	x->versions = json_array();
	x->event_roots = json_array();
	rc = x->versions && x->event_roots ? walk(x, "/", 0, 0) : -ENOMEM;
	if (fclose(x->sigs) != 0 && rc == 0)
		rc = err_set(-EIO, "cannot write signatures.jsonl");
	x->sigs = NULL;
	if (rc == 0)
		rc = save_jsonl(x->out, "versions.jsonl", x->versions);
	if (rc == 0)
		rc = write_items(x);
	progress_end(&x->prog);
	if (rc == 0) {
		if (join(path, sizeof(path), "%s/events.jsonl", x->out) < 0)
			return -ENAMETOOLONG;
		ev = fopen(path, "w");
		if (!ev)
			return err_set(-errno, "cannot write '%s'", path);
		for (size_t i = 0;
		     rc == 0 && i < json_array_size(x->event_roots); i++)
			rc = save_events(x,
					 json_string_value(json_array_get(
						 x->event_roots, i)),
					 ev);
		if (fclose(ev) != 0 && rc == 0)
			rc = err_set(-EIO, "cannot write events.jsonl");
	}
	if (rc == 0) {
		rc = save_ledger(x);
		owner = rc == 0;
		if (rc == 1)
			rc = 0;
	}
	if (rc == 0)
		rc = save_sums(x);
	if (rc == 0 && asprintf(&text, verify_text, x->space,
				owner ? verify_ledger : verify_member) < 0)
		rc = -ENOMEM;
	if (rc == 0)
		rc = save_text(x->out, "VERIFY.txt", text, strlen(text));
	free(text);
	return rc;
}

int cmd_export(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "progress", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	enum progress_mode mode = PROGRESS_AUTO;
	struct export x = { .lock = -1 };
	struct session s;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'o' && !x.out)
			x.out = optarg;
		else if (c == 'p' && mode == PROGRESS_AUTO)
			mode = PROGRESS_ON;
		else if (c == 'q' && mode == PROGRESS_AUTO)
			mode = PROGRESS_QUIET;
		else
			goto usage;
	}
	if (argc - optind != 1 || !x.out || !x.out[0])
		goto usage;
	x.space = argv[optind];
	if (ident_validate(x.space) < 0) {
		fprintf(stderr, "coffre: bad space name '%s'\n", x.space);
		return 1;
	}
	progress_init(&x.prog, mode);
	rc = access_connect(config, &s, &x.t);
	if (rc == 0)
		rc = run(&x);
	if (rc < 0)
		fprintf(stderr, "coffre: export failed: %s\n", err_msg());
	else
		printf("exported %s into %s: %zu files, %llu fetched, %llu already there\n",
		       x.space, x.out, x.n, (unsigned long long)x.fetched,
		       (unsigned long long)x.kept);
	for (size_t i = 0; i < x.n; i++) {
		free(x.items[i].path);
		free(x.items[i].file);
		json_decref(x.items[i].chunks);
	}
	free(x.items);
	json_decref(x.versions);
	json_decref(x.event_roots);
	if (x.lock >= 0)
		close(x.lock);
	transport_free(x.t);
	session_release(&s);
	return rc < 0;
usage:
	fprintf(stderr, "usage: coffre [--config DIR] %s\n", use);
	return 2;
}
