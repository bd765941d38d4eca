/*
 * Fetching a version's proof from coffred and checking its content
 * against the manifest.  The answer is bounded by the transport's reply
 * cap; each field is checked for type and length before use, so a broken
 * server answer is an error, never a crash.
 */
#include "client/cmd/proof_fetch.h"

#include "client/cmd/file_hash.h"
#include "client/cmd/progress.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "client/cmd/docref.h"
#include "client/store/session.h"
#include "client/store/transport.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/manifest.h"

static int b64_decode(const char *s, unsigned char **out, size_t *len)
{
	size_t n = strlen(s), got = 0;
	unsigned char *p = malloc(n / 4 * 3 + 3);

	if (!p)
		return -ENOMEM;
	if (sodium_base642bin(p, n / 4 * 3 + 3, s, n, "\n\r ", &got, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(p);
		return err_set(-EPROTO, "bad base64 in the server's proof");
	}
	*out = p;
	*len = got;
	return 0;
}

static int str_field(json_t *j, const char *key, char **out)
{
	json_t *v = json_object_get(j, key);

	if (!json_is_string(v))
		return err_set(-EPROTO, "the server's proof has no '%s'", key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

static int hex_field(json_t *j, const char *key, char *out, size_t len)
{
	json_t *v = json_object_get(j, key);

	if (!json_is_string(v) || strlen(json_string_value(v)) != len - 1 ||
	    strspn(json_string_value(v), "0123456789abcdef") != len - 1)
		return err_set(-EPROTO, "the server's proof has a bad '%s'",
			       key);
	memcpy(out, json_string_value(v), len);
	return 0;
}

/* Copy a short name field that is safe in a file name. */
static int name_field(json_t *j, const char *key, char *out, size_t len)
{
	const char *v = json_string_value(json_object_get(j, key));

	if (!v || !*v || strlen(v) >= len || v[0] == '.' ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789._:+-") != strlen(v))
		return err_set(-EPROTO, "the server's proof has a bad '%s'",
			       key);
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

static int parse_sigs(json_t *list, struct proof *p)
{
	json_t *s;
	size_t i;
	int rc;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return err_set(-EPROTO,
			       "the server's proof has bad signatures");
	if (json_array_size(list) == 0)
		return 0;
	p->sigs = calloc(json_array_size(list), sizeof(*p->sigs));
	if (!p->sigs)
		return -ENOMEM;
	json_array_foreach(list, i, s)
	{
		struct proof_sig *g = &p->sigs[i];
		const char *cms = json_string_value(json_object_get(s, "cms"));
		const char *tok =
			json_string_value(json_object_get(s, "timestamp"));

		p->nsigs = i + 1;
		rc = name_field(s, "login", g->login, sizeof(g->login));
		if (rc == 0)
			rc = name_field(s, "role", g->role, sizeof(g->role));
		if (rc == 0)
			rc = name_field(s, "signed_at", g->signed_at,
					sizeof(g->signed_at));
		if (rc == 0 && (!cms || !tok))
			rc = err_set(-EPROTO,
				     "the server's proof has a bad signature");
		if (rc == 0)
			rc = b64_decode(cms, &g->cms, &g->cms_len);
		if (rc == 0)
			rc = b64_decode(tok, &g->token, &g->token_len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_statement(json_t *st, struct proof *p)
{
	const char *tok = json_string_value(json_object_get(st, "timestamp"));
	int rc;

	if (!json_is_object(st) || !tok)
		return err_set(-EPROTO,
			       "the server's proof has no deposit statement");
	rc = str_field(st, "text", &p->statement.text);
	if (rc == 0)
		rc = str_field(st, "signature", &p->statement.sig);
	if (rc == 0)
		rc = b64_decode(tok, &p->statement.token,
				&p->statement.token_len);
	return rc;
}

static int parse(json_t *j, struct proof *p)
{
	json_t *chain = json_object_get(j, "chain"), *c;
	json_t *jb = json_object_get(j, "bundle");
	size_t i;
	int rc;

	rc = hex_field(j, "commit", p->commit, sizeof(p->commit));
	/* The path comes only to a reader who sees it, with its salt. */
	if (rc == 0 && json_object_get(j, "path"))
		rc = str_field(j, "path", &p->path);
	if (rc == 0 && p->path && p->path[0] != '/')
		rc = err_set(-EPROTO, "the server's proof has a bad path");
	if (rc == 0 && p->path && json_object_get(j, "path_salt"))
		rc = hex_field(j, "path_salt", p->path_salt,
			       sizeof(p->path_salt));
	if (rc == 0 && !p->path && (jb || chain))
		rc = err_set(-EPROTO,
			     "the server's proof has a history but no path");
	if (rc == 0)
		rc = str_field(j, "manifest", &p->manifest);
	if (rc == 0)
		rc = str_field(j, "allowed_signers", &p->allowed_signers);
	if (rc == 0)
		rc = str_field(j, "tsa_ca", &p->tsa_ca);
	if (rc == 0)
		rc = parse_statement(json_object_get(j, "statement"), p);
	if (rc < 0)
		return rc;
	/* The history comes whole (bundle and chain) or not at all. */
	if (!jb && !chain)
		return parse_sigs(json_object_get(j, "signatures"), p);
	if (!json_is_string(jb))
		return err_set(-EPROTO, "the server's proof has a bad bundle");
	rc = b64_decode(json_string_value(jb), &p->bundle, &p->bundle_len);
	if (rc < 0)
		return rc;
	if (!json_is_array(chain) || json_array_size(chain) == 0)
		return err_set(-EPROTO, "the server's proof has no chain");
	p->chain = calloc(json_array_size(chain), sizeof(*p->chain));
	if (!p->chain)
		return -ENOMEM;
	json_array_foreach(chain, i, c)
	{
		json_t *tok = json_object_get(c, "timestamp");

		rc = hex_field(c, "commit", p->chain[i].commit,
			       sizeof(p->chain[i].commit));
		if (rc == 0 && json_is_string(tok))
			rc = b64_decode(json_string_value(tok),
					&p->chain[i].token,
					&p->chain[i].token_len);
		if (rc < 0)
			return rc;
		p->nchain = i + 1;
	}
	if (strcmp(p->chain[p->nchain - 1].commit, p->commit))
		return err_set(
			-EPROTO,
			"the server's proof chain does not end at the version's commit");
	return parse_sigs(json_object_get(j, "signatures"), p);
}

int proof_fetch(const char *config, const struct docref *r, struct proof *p)
{
	struct session s = { 0 };
	struct transport *t = NULL;
	char *dir = NULL, api[512];
	json_t *reply = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	snprintf(p->space, sizeof(p->space), "%s", r->space);
	snprintf(p->doc_id, sizeof(p->doc_id), "%s", r->doc_id);
	p->version = r->version;
	rc = session_config_dir(config, &dir);
	if (rc == 0)
		rc = session_load(&s, dir);
	if (rc == 0)
		rc = transport_new(&t, s.url, s.token, s.cacert);
	if (rc == 0)
		rc = docref_api_path(r, "/proof", api, sizeof(api));
	if (rc == 0)
		rc = transport_json(t, "GET", api, NULL, &reply);
	if (rc == 0)
		rc = parse(reply, p);
	json_decref(reply);
	transport_free(t);
	session_release(&s);
	free(dir);
	if (rc < 0)
		proof_release(p);
	return rc;
}

void proof_release(struct proof *p)
{
	for (size_t i = 0; i < p->nchain; i++)
		free(p->chain[i].token);
	free(p->chain);
	for (size_t i = 0; i < p->nsigs; i++) {
		free(p->sigs[i].cms);
		free(p->sigs[i].token);
	}
	free(p->sigs);
	free(p->path);
	free(p->manifest);
	free(p->allowed_signers);
	free(p->tsa_ca);
	free(p->bundle);
	free(p->statement.text);
	free(p->statement.sig);
	free(p->statement.token);
	memset(p, 0, sizeof(*p));
}

/* The value of the line "key value" of text, or NULL; into out. */
static const char *line_value(const char *text, const char *key, char *out,
			      size_t len)
{
	size_t klen = strlen(key);

	const char *l = text;

	while (*l) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) : strlen(l);

		if (n > klen && !strncmp(l, key, klen) && l[klen] == ' ' &&
		    n - klen - 1 < len) {
			memcpy(out, l + klen + 1, n - klen - 1);
			out[n - klen - 1] = '\0';
			return out;
		}
		l += n + (e ? 1 : 0);
	}
	return NULL;
}

/* SHA-256 of "SALT PATH" in hex: a format 2 statement's path-sha256. */
static int path_commitment(const char *salt, const char *path,
			   char out[OBJ_ID_HEX_LEN + 1])
{
	struct hash_ctx *h = NULL;
	struct obj_id id;
	int rc = hash_new(&h);

	if (rc < 0)
		return rc;
	hash_update(h, salt, strlen(salt));
	hash_update(h, " ", 1);
	hash_update(h, path, strlen(path));
	hash_final(h, &id);
	hash_free(h);
	obj_id_to_hex(&id, out);
	return 0;
}

int proof_check_statement(const struct proof *p)
{
	char want[8][4200], got[4200], hex[OBJ_ID_HEX_LEN + 1];
	const char *keys[8] = {
		"doc",	  "version",	     "path-sha256",  "commit",
		"sha256", "manifest-sha256", "deposited-by", "space",
	};
	const char *text = p->statement.text;
	struct manifest m;
	struct obj_id id;
	int rc = 0, format;

	format = !text					    ? 0 :
		 !strncmp(text, "coffre-statement 1\n", 19) ? 1 :
		 !strncmp(text, "coffre-statement 2\n", 19) ? 2 :
							      0;
	if (!format)
		return err_set(-EBADMSG, "the statement is not a "
					 "coffre-statement 1 or 2");
	if (format == 1 && !p->path)
		return err_set(-EBADMSG,
			       "a coffre-statement 1 without its path");
	if (format == 2 && p->path && !p->path_salt[0])
		return err_set(
			-EPROTO,
			"the server's proof gives a path without its salt");
	manifest_init(&m);
	if (manifest_parse(&m, p->manifest, strlen(p->manifest)) < 0) {
		manifest_release(&m);
		return err_set(-EPROTO, "the server's manifest does not parse");
	}
	snprintf(want[0], sizeof(want[0]), "%s", p->doc_id);
	snprintf(want[1], sizeof(want[1]), "%llu",
		 (unsigned long long)p->version);
	/* Format 1 states the path; format 2 commits to it, and the path
	 * is checked only by a reader given it. */
	if (format == 1) {
		keys[2] = "path";
		snprintf(want[2], sizeof(want[2]), "%s", p->path);
	} else if (p->path) {
		rc = path_commitment(p->path_salt, p->path, want[2]);
	} else {
		keys[2] = NULL;
	}
	snprintf(want[3], sizeof(want[3]), "%s", p->commit);
	obj_id_to_hex(&m.sha256, want[4]);
	hash_buf(&id, p->manifest, strlen(p->manifest));
	obj_id_to_hex(&id, hex);
	snprintf(want[5], sizeof(want[5]), "%s", hex);
	snprintf(want[6], sizeof(want[6]), "%s", m.deposited_by);
	snprintf(want[7], sizeof(want[7]), "%s", p->space);
	manifest_release(&m);
	for (int i = 0; rc == 0 && i < 8; i++)
		if (keys[i] && (!line_value(text, keys[i], got, sizeof(got)) ||
				strcmp(got, want[i])))
			rc = err_set(-EBADMSG,
				     "the statement's %s is not this version's",
				     keys[i]);
	return rc;
}

/* Stream src through SHA-256 (and into fd when >= 0). */

static int compare(const struct proof *p, const struct obj_id *got,
		   uint64_t size)
{
	struct manifest m;
	int rc;

	manifest_init(&m);
	rc = manifest_parse(&m, p->manifest, strlen(p->manifest));
	if (rc < 0) {
		manifest_release(&m);
		return err_set(-EPROTO, "the server's manifest does not parse");
	}
	if (strcmp(m.doc_id, p->doc_id) || m.version != p->version)
		rc = err_set(-EPROTO,
			     "the server's manifest names another version");
	else if (m.size != size)
		rc = err_set(-EBADMSG,
			     "content is %llu bytes, the manifest says %llu",
			     (unsigned long long)size,
			     (unsigned long long)m.size);
	else if (obj_id_cmp(got, &m.sha256) != 0)
		rc = err_set(-EBADMSG,
			     "content does not hash to the manifest's sha256");
	manifest_release(&m);
	return rc;
}

/* The version's size as its manifest says, for the progress line. */
static uint64_t manifest_size(const struct proof *p)
{
	struct manifest m;
	uint64_t size = 0;

	manifest_init(&m);
	if (manifest_parse(&m, p->manifest, strlen(p->manifest)) == 0)
		size = m.size;
	manifest_release(&m);
	return size;
}

int proof_check_content(const struct proof *p, const char *src,
			struct progress *prog)
{
	struct obj_id got;
	uint64_t size;
	int rc = file_hash(src, -1, &got, &size, prog, "verify",
			   prog ? manifest_size(p) : 0);

	return rc < 0 ? rc : compare(p, &got, size);
}

int proof_copy_content(const struct proof *p, const char *src, const char *dst,
		       struct progress *prog)
{
	struct tmpfile tf = tmpfile_init();
	char dir[PATH_MAX], *slash;
	struct obj_id got;
	uint64_t size;
	int rc;

	snprintf(dir, sizeof(dir), "%s", dst);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	rc = tmpfile_open(&tf, slash ? dir : ".");
	if (rc < 0)
		return err_set(rc, "cannot create a file in '%s': %s", dir,
			       strerror(-rc));
	rc = file_hash(src, tf.fd, &got, &size, prog, "proof",
		       prog ? manifest_size(p) : 0);
	if (rc == 0)
		rc = compare(p, &got, size);
	if (rc == 0 && fchmod(tf.fd, 0644) < 0)
		rc = -errno;
	if (rc == 0)
		rc = tmpfile_commit(&tf, dst);
	tmpfile_release(&tf);
	return rc;
}
