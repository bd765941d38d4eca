/*
 * coffred fsck: the whole chain of proof of a data directory, checked
 * from the bytes up (see fsck.h for the list).  Everything is read-only:
 * the ledger is opened directly with libgit2 (not through struct ledger,
 * which may create), the chunk store only reads, the index is queried.
 *
 * Each problem is one line on stdout naming the space and the object, so
 * an operator (or the sync tests) can see at once what disagrees; the
 * checks go on after a problem, so one run lists them all.
 */
#include "server/fsck.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/path.h"
#include "server/chunkstore.h"
#include "server/esig.h"
#include "server/config.h"
#include "server/events.h"
#include "server/index.h"
#include "server/keys.h"
#include "server/ledger.h"
#include "server/spaces.h"
#include "server/sshsig.h"
#include "server/statement.h"
#include "server/tsa.h"

#define GIT_OUT_MAX (64u * 1024u)
#define TOKEN_MAX   (128u * 1024u)

extern char **environ;

/* A growable set of object ids (open addressing). */
struct oidset {
	git_oid *v;
	unsigned char *used;
	size_t cap, n;
};

static size_t oid_slot(const git_oid *id, size_t cap)
{
	size_t h;

	memcpy(&h, id->id, sizeof(h));
	return h & (cap - 1);
}

/* 1 if added, 0 if already there, -ENOMEM. */
static int oidset_add(struct oidset *s, const git_oid *id)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		struct oidset t = { .cap = s->cap ? s->cap * 2 : 1024 };

		t.v = malloc(t.cap * sizeof(*t.v));
		t.used = calloc(t.cap, 1);
		if (!t.v || !t.used) {
			free(t.v);
			free(t.used);
			return -ENOMEM;
		}
		for (i = 0; i < s->cap; i++)
			if (s->used[i])
				oidset_add(&t, &s->v[i]);
		free(s->v);
		free(s->used);
		*s = t;
	}
	for (i = oid_slot(id, s->cap); s->used[i]; i = (i + 1) & (s->cap - 1))
		if (git_oid_equal(&s->v[i], id))
			return 0;
	s->used[i] = 1;
	s->v[i] = *id;
	s->n++;
	return 1;
}

static int oidset_has(const struct oidset *s, const git_oid *id)
{
	size_t i;

	if (!s->cap)
		return 0;
	for (i = oid_slot(id, s->cap); s->used[i]; i = (i + 1) & (s->cap - 1))
		if (git_oid_equal(&s->v[i], id))
			return 1;
	return 0;
}

static void oidset_release(struct oidset *s)
{
	free(s->v);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

struct fsck {
	const char *datadir;
	const char *space;
	struct keys *keys;
	struct index *ix;
	struct crypto_key master;
	struct chunkstore *cs;
	git_repository *repo;
	struct oidset commits, trees, manifests;
	unsigned problems;
	unsigned long nchunks, nmanifests, ncommits, nversions, nanchors, nsigs;
	struct hash_ctx *hash;
	/* for the usage check: every chunk the ledger's manifests name (with
	 * repeats), and every indexed version's document */
	struct fsck_ref *refs;
	size_t nrefs, crefs;
	char **docs;
	size_t ndocs, cdocs;
	int refs_failed; /* out of memory: the usage is not checked */
};

struct fsck_ref {
	struct obj_id id;
	uint64_t size;
};

static void problem(struct fsck *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", f->space);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	f->problems++;
}

/* --- chunks --- */

/*
 * Chunks are stored under keyed names, from which no id can be had: the
 * walk counts them, and every chunk a manifest names is read, decrypted
 * and hashed by check_manifest().
 */
static int chunk_cb(const char *name, void *arg)
{
	struct fsck *f = arg;

	f->nchunks++;
	return 0;
}

/* --- manifests --- */

struct feed {
	struct hash_ctx *h;
	uint64_t n;
};

static int feed_cb(const void *p, size_t n, void *arg)
{
	struct feed *fd = arg;

	hash_update(fd->h, p, n);
	fd->n += n;
	return 0;
}

static void ref_add(struct fsck *f, const struct obj_id *id, uint64_t size)
{
	if (f->nrefs == f->crefs) {
		size_t c = f->crefs ? 2 * f->crefs : 1024;
		struct fsck_ref *r = realloc(f->refs, c * sizeof(*r));

		if (!r) {
			f->refs_failed = 1;
			return;
		}
		f->refs = r;
		f->crefs = c;
	}
	f->refs[f->nrefs].id = *id;
	f->refs[f->nrefs++].size = size;
}

static void check_manifest(struct fsck *f, const git_oid *blob_id,
			   const char *path)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	struct feed fd = { .h = f->hash };
	struct manifest m;
	struct obj_id got;
	git_blob *blob;
	uint64_t sum = 0;
	size_t i;
	int rc;

	f->nmanifests++;
	if (git_blob_lookup(&blob, f->repo, blob_id) < 0) {
		problem(f, "manifest of '%s' is missing", path);
		return;
	}
	manifest_init(&m);
	rc = manifest_parse(&m, git_blob_rawcontent(blob),
			    (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	if (rc < 0) {
		problem(f, "manifest of '%s' does not parse: %s", path,
			err_msg());
		return;
	}
	hash_reset(f->hash);
	for (i = 0; i < m.nchunks; i++)
		ref_add(f, &m.chunks[i].id, m.chunks[i].size);
	for (i = 0; i < m.nchunks; i++) {
		obj_id_to_hex(&m.chunks[i].id, hex);
		fd.n = 0;
		rc = chunkstore_read(f->cs, &m.chunks[i].id, feed_cb, &fd);
		if (rc < 0) {
			problem(f, "'%s' v%llu: chunk %s: %s", path,
				(unsigned long long)m.version, hex,
				rc == -ENOENT ? "missing" : err_msg());
			goto out;
		}
		if (fd.n != m.chunks[i].size) {
			problem(f,
				"'%s' v%llu: chunk %s holds %llu bytes, not %u",
				path, (unsigned long long)m.version, hex,
				(unsigned long long)fd.n, m.chunks[i].size);
			goto out;
		}
		sum += fd.n;
	}
	hash_final(f->hash, &got);
	if (sum != m.size)
		problem(f, "'%s' v%llu: chunks add up to %llu bytes, not %llu",
			path, (unsigned long long)m.version,
			(unsigned long long)sum, (unsigned long long)m.size);
	else if (obj_id_cmp(&got, &m.sha256) != 0)
		problem(f, "'%s' v%llu: content does not match its sha256",
			path, (unsigned long long)m.version);
out:
	manifest_release(&m);
}

static int tree_cb(const char *root, const git_tree_entry *te, void *arg)
{
	struct fsck *f = arg;
	char path[PATH_MAX];
	int rc;

	if (git_tree_entry_type(te) == GIT_OBJECT_TREE) {
		rc = oidset_add(&f->trees, git_tree_entry_id(te));
		return rc < 0 ? rc : rc == 0 ? 1 : 0; /* 1: seen, skip */
	}
	/* Folder metadata, and the root's access state (server/access.h). */
	if (git_tree_entry_type(te) != GIT_OBJECT_BLOB ||
	    !strcmp(git_tree_entry_name(te), FOLDER_META_NAME) ||
	    (!*root && !strcmp(git_tree_entry_name(te), ".coffre-access")))
		return 0;
	rc = oidset_add(&f->manifests, git_tree_entry_id(te));
	if (rc <= 0)
		return rc;
	snprintf(path, sizeof(path), "/%s%s", root, git_tree_entry_name(te));
	check_manifest(f, git_tree_entry_id(te), path);
	return 0;
}

/* --- commits: signature and timestamp --- */

static void check_timestamp(struct fsck *f, const git_oid *id, const char *hex)
{
	git_odb_object *obj = NULL;
	git_note *note = NULL;
	git_odb *odb = NULL;
	unsigned char *der = NULL;
	const char *msg;
	struct buf b64;
	int n, rc;

	buf_init(&b64, TOKEN_MAX);
	if (git_note_read(&note, f->repo, LEDGER_NOTES_TIMESTAMPS, id) < 0) {
		problem(f, "commit %s has no timestamp note", hex);
		goto out;
	}
	for (msg = git_note_message(note); *msg; msg++)
		if (*msg != '\n' && *msg != '\r' && *msg != ' ')
			buf_append(&b64, msg, 1);
	der = malloc(b64.len + 1);
	n = der && b64.len % 4 == 0 && b64.len ?
		    EVP_DecodeBlock(der, (unsigned char *)b64.data,
				    (int)b64.len) :
		    -1;
	if (n < 0) {
		problem(f, "commit %s: timestamp note is not base64", hex);
		goto out;
	}
	while (b64.len && b64.data[--b64.len] == '=')
		n--;
	if (git_repository_odb(&odb, f->repo) < 0 ||
	    git_odb_read(&obj, odb, id) < 0) {
		problem(f, "commit %s cannot be read", hex);
		goto out;
	}
	rc = tsa_verify(f->keys, der, (size_t)n, git_odb_object_data(obj),
			git_odb_object_size(obj));
	if (rc < 0)
		problem(f, "commit %s: %s", hex, err_msg());
out:
	free(der);
	buf_release(&b64);
	git_odb_object_free(obj);
	git_odb_free(odb);
	git_note_free(note);
}

/* The commit's SSH signature by the ledger key and its timestamp. */
static void check_proved(struct fsck *f, const git_oid *id, const char *hex)
{
	git_buf sig = { 0 }, data = { 0 };
	int rc;

	rc = git_commit_extract_signature(&sig, &data, f->repo, (git_oid *)id,
					  NULL);
	if (rc == GIT_ENOTFOUND)
		problem(f, "commit %s is not signed", hex);
	else if (rc < 0)
		problem(f, "commit %s cannot be read", hex);
	else if (sshsig_verify(keys_ledger_key(f->keys), "git", sig.ptr,
			       sig.size, data.ptr, data.size) < 0)
		problem(f, "commit %s: signature: %s", hex, err_msg());
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	check_timestamp(f, id, hex);
}

static void check_commit(struct fsck *f, const git_oid *id)
{
	char hex[GIT_OID_HEX_LEN + 1];
	git_commit *c = NULL;
	git_tree *tree = NULL;

	git_oid_tostr(hex, sizeof(hex), id);
	f->ncommits++;
	check_proved(f, id, hex);
	if (git_commit_lookup(&c, f->repo, id) < 0 ||
	    git_commit_tree(&tree, c) < 0) {
		problem(f, "commit %s: tree cannot be read", hex);
	} else if (oidset_add(&f->trees, git_tree_id(tree)) == 1) {
		git_tree_walk(tree, GIT_TREEWALK_PRE, tree_cb, f);
	}
	git_tree_free(tree);
	git_commit_free(c);
}

static void check_history(struct fsck *f)
{
	git_revwalk *w = NULL;
	git_oid id;

	if (git_revwalk_new(&w, f->repo) < 0 ||
	    git_revwalk_push_ref(w, "refs/heads/main") < 0) {
		problem(f, "the ledger has no main branch");
		git_revwalk_free(w);
		return;
	}
	git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	while (git_revwalk_next(&id, w) == 0) {
		if (oidset_add(&f->commits, &id) < 0)
			break;
		check_commit(f, &id);
	}
	git_revwalk_free(w);
}

/* --- event anchors --- */

/* The stored hash of event seq of chain (space "" for the server's). */
static int event_hash(struct fsck *f, const char *chain, uint64_t seq,
		      char out[OBJ_ID_HEX_LEN + 1])
{
	int rc = index_event_hash(f->ix, chain, seq, out);

	if (rc < 0 && rc != -ENOENT) {
		err_clear();
		rc = -EIO;
	}
	return rc;
}

/* "key value" line of an anchor text. */
static int anchor_field(const char *text, const char *key, char *out,
			size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = text, *e;

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == ' ') {
			p += klen + 1;
			e = strchr(p, '\n');
			if (!e || (size_t)(e - p) >= outlen)
				return -EBADMSG;
			memcpy(out, p, (size_t)(e - p));
			out[e - p] = '\0';
			return 0;
		}
	}
	return -EBADMSG;
}

static void check_anchored(struct fsck *f, const char *hex, const char *text,
			   const char *chain, const char *seq_key,
			   const char *hash_key)
{
	char seq_s[32], want[OBJ_ID_HEX_LEN + 2], got[OBJ_ID_HEX_LEN + 1];
	const char *what = *chain ? "event" : "server event";
	unsigned long long seq;
	char *end;
	int rc;

	if (anchor_field(text, seq_key, seq_s, sizeof(seq_s)) < 0 ||
	    anchor_field(text, hash_key, want, sizeof(want)) < 0) {
		problem(f, "event anchor %s does not parse", hex);
		return;
	}
	seq = strtoull(seq_s, &end, 10);
	if (*end) {
		problem(f, "event anchor %s does not parse", hex);
		return;
	}
	if (seq == 0)
		return;
	rc = event_hash(f, chain, seq, got);
	if (rc == -ENOENT)
		problem(f,
			"%s %llu, anchored by commit %s, is missing from the journal",
			what, seq, hex);
	else if (rc < 0)
		problem(f, "cannot read %s %llu", what, seq);
	else if (strcmp(got, want))
		problem(f, "%s %llu differs from its anchor in commit %s", what,
			seq, hex);
}

static void check_anchors(struct fsck *f)
{
	char hex[GIT_OID_HEX_LEN + 1];
	git_revwalk *w = NULL;
	git_commit *c;
	git_tree *tree;
	git_blob *blob;
	const git_tree_entry *te;
	git_oid id;
	int n = 0;

	if (git_revwalk_new(&w, f->repo) < 0)
		return;
	if (git_revwalk_push_ref(w, LEDGER_ANCHOR_REF) < 0) {
		git_revwalk_free(w);
		return; /* no event anchored yet */
	}
	while (git_revwalk_next(&id, w) == 0) {
		char *text;

		git_oid_tostr(hex, sizeof(hex), &id);
		check_proved(f, &id, hex);
		c = NULL;
		tree = NULL;
		blob = NULL;
		if (git_commit_lookup(&c, f->repo, &id) < 0 ||
		    git_commit_tree(&tree, c) < 0 ||
		    !(te = git_tree_entry_byname(tree, "events")) ||
		    git_blob_lookup(&blob, f->repo, git_tree_entry_id(te)) <
			    0) {
			problem(f, "event anchor %s cannot be read", hex);
		} else {
			text = strndup(git_blob_rawcontent(blob),
				       (size_t)git_blob_rawsize(blob));
			if (text) {
				check_anchored(f, hex, text, f->space, "seq",
					       "hash");
				check_anchored(f, hex, text, "", "server-seq",
					       "server-hash");
			}
			free(text);
		}
		git_blob_free(blob);
		git_tree_free(tree);
		git_commit_free(c);
		n++;
	}
	f->nanchors = (unsigned long)n;
	git_revwalk_free(w);
}

/* --- e-signatures --- */

/* The manifest text of doc_id version from the index (malloc'd). */
static int manifest_cb(const struct index_version *v, void *arg)
{
	char **text = arg;

	if (v->manifest && !*text)
		*text = strdup(v->manifest);
	return 0;
}

static char *index_manifest(struct fsck *f, const char *doc_id,
			    unsigned long long version)
{
	char *text = NULL;

	if (version == 0 || index_versions(f->ix, f->space, doc_id, version,
					   manifest_cb, &text) < 0)
		err_clear();
	return text;
}

static git_blob *blob_at(struct fsck *f, git_tree *root, const char *path)
{
	git_tree_entry *te = NULL;
	git_blob *b = NULL;

	if (git_tree_entry_bypath(&te, root, path) == 0)
		git_blob_lookup(&b, f->repo, git_tree_entry_id(te));
	git_tree_entry_free(te);
	return b;
}

struct sigwalk {
	struct fsck *f;
	git_tree *root;
};

/* One DOC/N/LOGIN.ROLE.txt of the signatures tree. */
static int sig_cb(const char *dir, const git_tree_entry *te, void *arg)
{
	struct sigwalk *w = arg;
	struct fsck *f = w->f;
	const char *name = git_tree_entry_name(te);
	char doc[64], login[80], role[32], path[512];
	unsigned long long version;
	git_blob *cms = NULL, *tsr = NULL;
	struct manifest m;
	size_t len = strlen(name);
	char *text = NULL;
	const char *dot;

	if (git_tree_entry_type(te) != GIT_OBJECT_BLOB || len < 5 ||
	    strcmp(name + len - 4, ".txt"))
		return 0;
	if (sscanf(dir, "%63[0-9a-f]/%llu/", doc, &version) != 2 ||
	    !(dot = strchr(name, '.')) ||
	    (size_t)(dot - name) >= sizeof(login)) {
		problem(f, "signature '%s%s' is misfiled", dir, name);
		return 0;
	}
	snprintf(login, sizeof(login), "%.*s", (int)(dot - name), name);
	snprintf(role, sizeof(role), "%.*s",
		 (int)(len - 4 - (size_t)(dot + 1 - name)), dot + 1);
	snprintf(path, sizeof(path), "%s%s.%s.p7s", dir, login, role);
	cms = blob_at(f, w->root, path);
	snprintf(path, sizeof(path), "%s%s.%s.tsr", dir, login, role);
	tsr = blob_at(f, w->root, path);
	manifest_init(&m);
	text = index_manifest(f, doc, version);
	f->nsigs++;
	if (!cms || !tsr)
		problem(f, "signature %s v%llu by %s as %s is incomplete", doc,
			version, login, role);
	else if (!text || manifest_parse(&m, text, strlen(text)) < 0)
		problem(f,
			"signature %s v%llu by %s: no such version in the index",
			doc, version, login);
	else if (esig_verify(f->keys, f->cs, &m, login, role,
			     git_blob_rawcontent(cms),
			     (size_t)git_blob_rawsize(cms)) < 0)
		problem(f, "signature %s v%llu by %s as %s: %s", doc, version,
			login, role, err_msg());
	else if (tsa_verify(f->keys, git_blob_rawcontent(tsr),
			    (size_t)git_blob_rawsize(tsr),
			    git_blob_rawcontent(cms),
			    (size_t)git_blob_rawsize(cms)) < 0)
		problem(f, "signature %s v%llu by %s as %s: %s", doc, version,
			login, role, err_msg());
	manifest_release(&m);
	free(text);
	git_blob_free(cms);
	git_blob_free(tsr);
	return 0;
}

/*
 * The signatures and the deposit statements are kept alike, each on a ref
 * of its own: every commit of the ref is signed and stamped, and cb checks
 * each entry of the head's tree.  Without the ref nothing was kept yet.
 */
static void check_proved_tree(struct fsck *f, const char *ref, const char *what,
			      git_treewalk_cb cb)
{
	struct sigwalk w = { .f = f, .root = NULL };
	char hex[GIT_OID_HEX_LEN + 1];
	git_revwalk *rw = NULL;
	git_commit *c = NULL;
	git_oid id, head;

	if (git_reference_name_to_id(&head, f->repo, ref) < 0)
		return;
	if (git_revwalk_new(&rw, f->repo) == 0 &&
	    git_revwalk_push(rw, &head) == 0) {
		while (git_revwalk_next(&id, rw) == 0) {
			git_oid_tostr(hex, sizeof(hex), &id);
			check_proved(f, &id, hex);
		}
	}
	git_revwalk_free(rw);
	if (git_commit_lookup(&c, f->repo, &head) < 0 ||
	    git_commit_tree(&w.root, c) < 0)
		problem(f, "the %s cannot be read", what);
	else
		git_tree_walk(w.root, GIT_TREEWALK_PRE, cb, &w);
	git_tree_free(w.root);
	git_commit_free(c);
}

static void check_signatures(struct fsck *f)
{
	check_proved_tree(f, LEDGER_SIGNATURES_REF, "signatures", sig_cb);
}

/* One DOC/N.txt of the deposit statements' tree, with its .sig and .tsr. */
static int stmt_cb(const char *dir, const git_tree_entry *te, void *arg)
{
	struct sigwalk *w = arg;
	struct fsck *f = w->f;
	const char *name = git_tree_entry_name(te);
	char doc[64], path[512], want[128];
	unsigned long long version;
	git_blob *txt = NULL, *sig = NULL, *tsr = NULL;
	const char *t;
	size_t tl;

	if (git_tree_entry_type(te) != GIT_OBJECT_BLOB ||
	    !strstr(name, ".txt") || strcmp(strstr(name, ".txt"), ".txt"))
		return 0;
	if (sscanf(dir, "%63[0-9a-f]/", doc) != 1 ||
	    sscanf(name, "%llu.txt", &version) != 1) {
		problem(f, "statement '%s%s' is misfiled", dir, name);
		return 0;
	}
	snprintf(path, sizeof(path), "%s%llu.sig", dir, version);
	sig = blob_at(f, w->root, path);
	snprintf(path, sizeof(path), "%s%llu.tsr", dir, version);
	tsr = blob_at(f, w->root, path);
	if (git_blob_lookup(&txt, f->repo, git_tree_entry_id(te)) < 0 || !sig ||
	    !tsr) {
		problem(f, "statement of %s v%llu is incomplete", doc, version);
		goto out;
	}
	t = git_blob_rawcontent(txt);
	tl = (size_t)git_blob_rawsize(txt);
	snprintf(want, sizeof(want), "\ndoc %s\nversion %llu\n", doc, version);
	if (!memmem(t, tl, want, strlen(want)))
		problem(f, "statement %s%s names another version", dir, name);
	else if (sshsig_verify(keys_ledger_key(f->keys), STATEMENT_NAMESPACE,
			       git_blob_rawcontent(sig),
			       (size_t)git_blob_rawsize(sig), t, tl) < 0)
		problem(f, "statement of %s v%llu: signature: %s", doc, version,
			err_msg());
	else if (tsa_verify(f->keys, git_blob_rawcontent(tsr),
			    (size_t)git_blob_rawsize(tsr), t, tl) < 0)
		problem(f, "statement of %s v%llu: timestamp: %s", doc, version,
			err_msg());
out:
	git_blob_free(txt);
	git_blob_free(sig);
	git_blob_free(tsr);
	return 0;
}

/* Every commit of the statements' ref is signed and stamped, and every
 * statement it holds is signed by the ledger key and timestamped. */
static void check_statements(struct fsck *f)
{
	check_proved_tree(f, LEDGER_STATEMENTS_REF, "deposit statements",
			  stmt_cb);
}

/* --- stock git fsck --- */

/*
 * A ledger in the index has no folder for stock git to check: every
 * object it holds is read back through libgit2, which hashes what it
 * reads against the object's id (strict hash verification), and each
 * must parse as its type says.
 */
static int store_object_cb(const git_oid *id, void *arg)
{
	struct fsck *f = arg;
	git_odb_object *obj = NULL;
	git_object *parsed = NULL;
	git_odb *odb = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	int rc;

	git_oid_tostr(hex, sizeof(hex), id);
	rc = git_repository_odb(&odb, f->repo);
	if (rc == 0)
		rc = git_odb_read(&obj, odb, id);
	if (rc < 0)
		problem(f, "ledger object %s does not read back: %s", hex,
			git_error_last() ? git_error_last()->message : "?");
	else if (git_object_lookup(&parsed, f->repo, id, GIT_OBJECT_ANY) < 0)
		problem(f, "ledger object %s does not parse: %s", hex,
			git_error_last() ? git_error_last()->message : "?");
	git_object_free(parsed);
	git_odb_object_free(obj);
	git_odb_free(odb);
	return 0;
}

static void check_store_objects(struct fsck *f)
{
	git_odb *odb = NULL;

	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
	if (git_repository_odb(&odb, f->repo) < 0 ||
	    git_odb_foreach(odb, store_object_cb, f) < 0)
		problem(f, "cannot list the ledger's objects: %s",
			git_error_last() ? git_error_last()->message : "?");
	git_odb_free(odb);
}

static void check_git_fsck(struct fsck *f, const char *repo_path)
{
	char gitdir[PATH_MAX + 16];
	char a_git[] = "git", a_fsck[] = "fsck", a_strict[] = "--strict",
	     a_np[] = "--no-progress", a_nd[] = "--no-dangling";
	char *argv[] = { a_git, gitdir, a_fsck, a_strict, a_np, a_nd, NULL };
	posix_spawn_file_actions_t fa;
	struct buf out;
	char piece[4096];
	int pipefd[2], status = 0;
	ssize_t n;
	pid_t pid;

	snprintf(gitdir, sizeof(gitdir), "--git-dir=%s", repo_path);
	if (pipe(pipefd) < 0) {
		problem(f, "cannot run git fsck: %s", strerror(errno));
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawn_file_actions_addclose(&fa, pipefd[0]);
	if (posix_spawnp(&pid, "git", &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(pipefd[0]);
		close(pipefd[1]);
		problem(f, "cannot run git fsck (is git installed?)");
		return;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	buf_init(&out, GIT_OUT_MAX);
	while ((n = read(pipefd[0], piece, sizeof(piece))) > 0 ||
	       (n < 0 && errno == EINTR))
		if (n > 0)
			buf_append(&out, piece, (size_t)n); /* capped */
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		problem(f, "git fsck --strict failed:\n%s",
			out.data ? out.data : "");
	buf_release(&out);
}

/* --- index --- */

static int check_version_cb(const struct index_version *v, void *arg)
{
	struct fsck *f = arg;
	const char *doc = v->doc_id, *c = v->commit, *m = v->manifest;
	long long ver = (long long)v->version;
	git_oid commit, blob;

	f->nversions++;
	if (f->ndocs == f->cdocs) {
		size_t cap = f->cdocs ? 2 * f->cdocs : 256;
		char **d = realloc(f->docs, cap * sizeof(*d));

		if (d) {
			f->docs = d;
			f->cdocs = cap;
		}
	}
	if (f->ndocs < f->cdocs && doc && (f->docs[f->ndocs] = strdup(doc)))
		f->ndocs++;
	else
		f->refs_failed = 1;
	if (!c || git_oid_fromstr(&commit, c) < 0 ||
	    !oidset_has(&f->commits, &commit))
		problem(f, "index: %s v%lld names commit %s, not in the ledger",
			doc ? doc : "?", ver, c ? c : "?");
	if (git_odb_hash(&blob, m ? m : "", m ? strlen(m) : 0,
			 GIT_OBJECT_BLOB) < 0 ||
	    !oidset_has(&f->manifests, &blob))
		problem(f,
			"index: %s v%lld has a manifest the ledger does not hold",
			doc ? doc : "?", ver);
	return 0;
}

static void check_index_versions(struct fsck *f)
{
	if (index_versions_all(f->ix, f->space, check_version_cb, f) < 0)
		problem(f, "cannot read the index's versions: %s", err_msg());
}

static int ref_cmp(const void *a, const void *b)
{
	return obj_id_cmp(&((const struct fsck_ref *)a)->id,
			  &((const struct fsck_ref *)b)->id);
}

static int doc_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The index's usage counters (index.h), kept commit by commit, against a
 * walk: the distinct chunks every manifest of the ledger names, with their
 * sizes, and the indexed versions and their documents.  The chunks the
 * store holds that no manifest names (uploaded for a commit that never
 * came) are counted apart: they are in no figure.
 */
static void check_usage(struct fsck *f)
{
	struct index_usage u;
	uint64_t bytes = 0;
	size_t distinct = 0, docs = 0;

	if (f->refs_failed) {
		problem(f, "out of memory: usage not checked");
		return;
	}
	if (index_usage_get(f->ix, f->space, &u) < 0) {
		problem(f, "cannot read the usage: %s", err_msg());
		return;
	}
	if (f->nrefs)
		qsort(f->refs, f->nrefs, sizeof(*f->refs), ref_cmp);
	for (size_t i = 0; i < f->nrefs; i++)
		if (i == 0 || obj_id_cmp(&f->refs[i - 1].id, &f->refs[i].id)) {
			bytes += f->refs[i].size;
			distinct++;
		}
	if (f->ndocs)
		qsort(f->docs, f->ndocs, sizeof(*f->docs), doc_cmp);
	for (size_t i = 0; i < f->ndocs; i++)
		docs += i == 0 || strcmp(f->docs[i - 1], f->docs[i]);
	if (u.bytes != bytes)
		problem(f,
			"usage: the index counts %llu bytes, the ledger's %zu distinct chunks hold %llu",
			(unsigned long long)u.bytes, distinct,
			(unsigned long long)bytes);
	if (u.versions != f->nversions)
		problem(f,
			"usage: the index counts %llu versions, it holds %lu",
			(unsigned long long)u.versions, f->nversions);
	if (u.documents != docs)
		problem(f,
			"usage: the index counts %llu documents, its versions name %zu",
			(unsigned long long)u.documents, docs);
	printf("%s: usage %llu bytes in %zu chunks, %zu documents, %lu versions; %lu chunks stored that no version names\n",
	       f->space, (unsigned long long)bytes, distinct, docs,
	       f->nversions,
	       f->nchunks > distinct ? f->nchunks - (unsigned long)distinct :
				       0ul);
}

static void usage_release(struct fsck *f)
{
	for (size_t i = 0; i < f->ndocs; i++)
		free(f->docs[i]);
	free(f->docs);
	free(f->refs);
	f->docs = NULL;
	f->refs = NULL;
	f->ndocs = f->cdocs = f->nrefs = f->crefs = 0;
	f->refs_failed = 0;
}

static void check_events(struct fsck *f, const char *chain)
{
	uint64_t bad = 0;
	int rc = events_verify_chain(f->ix, chain, &bad);

	if (rc == -EBADMSG)
		problem(f, "event chain%s breaks at event %llu: %s",
			*chain ? "" : " of the server", (unsigned long long)bad,
			err_msg());
	else if (rc < 0)
		problem(f, "cannot check the event chain: %s", err_msg());
}

/* --- one space --- */

static int fsck_space(struct fsck *f, const char *space)
{
	struct ledger_where where;
	char path[PATH_MAX];
	unsigned before = f->problems;
	int rc;

	f->space = space;
	f->nchunks = f->nmanifests = f->ncommits = f->nversions = 0;
	f->nanchors = f->nsigs = 0;
	rc = space_chunks_open(&f->cs, f->datadir, f->ix, space, &f->master);
	if (rc < 0) {
		problem(f, "cannot open the chunk store: %s", err_msg());
		return 0;
	}
	rc = space_ledger_where(&where, path, sizeof(path), f->datadir, f->ix,
				space);
	if (rc == 0)
		rc = ledger_repo_open_at(&f->repo, &where);
	if (rc < 0) {
		problem(f, "cannot open the ledger");
		goto out;
	}
	chunkstore_foreach(f->cs, chunk_cb, f);
	if (where.path)
		check_git_fsck(f, where.path);
	else
		check_store_objects(f);
	check_history(f);
	check_index_versions(f);
	check_usage(f);
	check_events(f, space);
	check_anchors(f);
	check_signatures(f);
	check_statements(f);
	printf("%s: %lu chunks, %lu commits, %lu manifests, %lu indexed versions, %lu event anchors, %lu signatures: %s\n",
	       space, f->nchunks, f->ncommits, f->nmanifests, f->nversions,
	       f->nanchors, f->nsigs,
	       f->problems == before ? "ok" : "PROBLEMS");
out:
	git_repository_free(f->repo);
	f->repo = NULL;
	chunkstore_free(f->cs);
	f->cs = NULL;
	oidset_release(&f->commits);
	oidset_release(&f->trees);
	oidset_release(&f->manifests);
	usage_release(f);
	return 0;
}

/* Every space is checked; what each finds is counted in f, not returned. */
static int fsck_each(const char *name, void *arg)
{
	fsck_space(arg, name);
	return 0;
}

static int fsck_all(struct fsck *f)
{
	return spaces_each(f->datadir, f->ix, fsck_each, f);
}

int fsck_main(const char *datadir, const char *space)
{
	struct fsck f = { .datadir = datadir };
	struct config cfg;
	char path[PATH_MAX];
	int rc;

	rc = crypto_init();
	if (rc == 0 && space && ident_validate(space) < 0)
		rc = err_set(-EINVAL, "bad space name '%s'", space);
	if (rc == 0)
		rc = master_key_load(&f.master, datadir);
	if (rc == 0)
		rc = keys_load(&f.keys, datadir);
	if (rc == 0)
		rc = config_load(&cfg, datadir);
	if (rc == 0)
		rc = index_open_datadir(&f.ix, datadir, cfg.index, 0);
	if (rc == 0)
		rc = hash_new(&f.hash);
	if (rc == 0) {
		git_libgit2_init();
		if (space) {
			rc = space_dir_path(path, sizeof(path), datadir, space,
					    NULL);
			if (rc == 0 && access(path, F_OK) != 0)
				rc = err_set(-ENOENT, "no such space '%s'",
					     space);
			if (rc == 0)
				rc = fsck_space(&f, space);
		} else {
			rc = fsck_all(&f);
		}
		if (rc == 0) {
			f.space = "(server)";
			check_events(&f, "");
		}
		git_libgit2_shutdown();
	}
	if (rc < 0)
		fprintf(stderr, "coffred: %s\n", err_msg());
	else if (f.problems)
		fprintf(stderr, "coffred: fsck found %u problem%s\n",
			f.problems, f.problems == 1 ? "" : "s");
	hash_free(f.hash);
	index_free(f.ix);
	keys_free(f.keys);
	crypto_key_release(&f.master);
	fflush(stdout);
	return rc < 0 || f.problems ? 1 : 0;
}
