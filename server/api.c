/*
 * The route table of docs/protocol.md and the path parser that picks a
 * route.  Paths are split on '/' into at most a handful of bounded
 * segments; anything else is 404, a known path with another method 405.
 */
#include "server/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "server/health.h"

#define SEG_MAX	       8
/* A CMS signature of up to ESIG_MAX bytes, in base64, and its fields. */
#define HTTP_JSON_SIGN (1024u * 1024u)

/* Routes; the right is checked for the space before the body is read. */
static const struct http_route r_login = {
	.method = "POST",
	.name = "login",
	.body = HTTP_BODY_JSON,
	.in_space = 0,
	.open = 1,
	.right = AUTH_READ,
	.fn = api_login,
	.body_max = HTTP_JSON_LOGIN,
};
/* Without a token: sign-up and password reset, each by a code (signup.h). */
#define OPEN(var, nm, f)                                               \
	static const struct http_route var = { .method = "POST",       \
					       .name = nm,             \
					       .body = HTTP_BODY_JSON, \
					       .in_space = 0,          \
					       .open = 1,              \
					       .right = AUTH_READ,     \
					       .fn = f,                \
					       .body_max = HTTP_JSON_LOGIN }
OPEN(r_signup, "signup", api_signup);
OPEN(r_signup_confirm, "signup confirm", api_signup_confirm);
OPEN(r_reset, "password-reset", api_password_reset);
OPEN(r_reset_confirm, "password-reset confirm", api_password_reset_confirm);
/* For load balancers: no token, no space (health.c). */
static const struct http_route r_healthz = {
	.method = "GET",
	.name = "healthz",
	.body = HTTP_BODY_NONE,
	.in_space = 0,
	.open = 1,
	.right = AUTH_READ,
	.fn = api_healthz,
};
/* The caller's account: sessions, password, invitations. */
#define ACCOUNT(var, m, nm, b, f)                                  \
	static const struct http_route var = { .method = m,        \
					       .name = nm,         \
					       .body = b,          \
					       .in_space = 0,      \
					       .right = AUTH_READ, \
					       .fn = f }
ACCOUNT(r_logout, "POST", "logout", HTTP_BODY_NONE, api_logout);
ACCOUNT(r_sessions, "GET", "sessions", HTTP_BODY_NONE, api_sessions);
ACCOUNT(r_sessions_rm, "DELETE", "sessions revoke", HTTP_BODY_NONE,
	api_sessions);
ACCOUNT(r_session_rm, "DELETE", "session revoke", HTTP_BODY_NONE,
	api_session_revoke);
ACCOUNT(r_password, "POST", "password", HTTP_BODY_JSON, api_password);
ACCOUNT(r_invites, "GET", "invitations", HTTP_BODY_NONE, api_invitations);
ACCOUNT(r_invite_yes, "POST", "invitation accept", HTTP_BODY_NONE,
	api_invitation_answer);
ACCOUNT(r_invite_no, "DELETE", "invitation decline", HTTP_BODY_NONE,
	api_invitation_answer);

static const struct http_route r_spaces = {
	.method = "GET",
	.name = "spaces",
	.body = HTTP_BODY_NONE,
	.in_space = 0,
	.right = AUTH_READ,
	.fn = api_spaces_list,
};
static const struct http_route r_space_create = {
	.method = "POST",
	.name = "space create",
	.body = HTTP_BODY_JSON,
	.in_space = 0,
	.right = AUTH_READ,
	.fn = api_space_create,
};
static const struct http_route r_space = {
	.method = "GET",
	.name = "space",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_space_info,
};
static const struct http_route r_tree = {
	.method = "GET",
	.name = "tree",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_tree,
};
static const struct http_route r_changes = {
	.method = "GET",
	.name = "changes",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_changes,
};
static const struct http_route r_stat = {
	.method = "GET",
	.name = "stat",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_stat,
};
static const struct http_route r_missing = {
	.method = "POST",
	.name = "chunks/missing",
	.body = HTTP_BODY_JSON,
	.in_space = 1,
	.right = AUTH_DEPOSIT,
	.fn = api_chunks_missing,
	.body_max = HTTP_JSON_MAX,
};
static const struct http_route r_chunk_put = {
	.method = "PUT",
	.name = "chunk put",
	.body = HTTP_BODY_CHUNK,
	.in_space = 1,
	.right = AUTH_DEPOSIT,
	.fn = api_chunk_put,
};
static const struct http_route r_chunk_get = {
	.method = "GET",
	.name = "chunk get",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_chunk_get,
};
static const struct http_route r_commits = {
	.method = "POST",
	.name = "commits",
	.body = HTTP_BODY_JSON,
	.in_space = 1,
	.right = AUTH_READ, /* each operation is authorized on its paths */
	.fn = api_commits,
	.body_max = HTTP_JSON_MAX,
};
static const struct http_route r_batch = {
	.method = "GET",
	.name = "batch",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_batch_get,
};
static const struct http_route r_versions = {
	.method = "GET",
	.name = "versions",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_doc_versions,
};
static const struct http_route r_version = {
	.method = "GET",
	.name = "version",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_doc_version,
};

static const struct http_route r_proof = {
	.method = "GET",
	.name = "proof",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_doc_proof,
};
static const struct http_route r_terminate = {
	.method = "POST",
	.name = "space terminate",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_space_terminate,
	.while_terminated = 1, /* to say it is already */
};
static const struct http_route r_reactivate = {
	.method = "POST",
	.name = "space reactivate",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_space_reactivate,
	.while_terminated = 1,
};
static const struct http_route r_ledger = {
	.method = "GET",
	.name = "ledger",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_ledger_bundle,
};
static const struct http_route r_declassify = {
	.method = "POST",
	.name = "declassify",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ, /* the handler: owners only */
	.fn = api_doc_declassify,
};
static const struct http_route r_cert = {
	.method = "POST",
	.name = "certs",
	.body = HTTP_BODY_JSON,
	.in_space = 0,
	.right = AUTH_READ,
	.fn = api_cert_issue,
};
static const struct http_route r_sig_list = {
	.method = "GET",
	.name = "signatures",
	.body = HTTP_BODY_NONE,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_signatures_list,
};
static const struct http_route r_sig_add = {
	.method = "POST",
	.name = "sign",
	.body = HTTP_BODY_JSON,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_signature_add,
	.body_max = HTTP_JSON_SIGN,
};

/* Access and events: the handler asks authorize() on the folder. */
#define ROUTE(var, m, nm, b, r, f)                            \
	static const struct http_route var = { .method = m,   \
					       .name = nm,    \
					       .body = b,     \
					       .in_space = 1, \
					       .right = r,    \
					       .fn = f }
ROUTE(r_members, "GET", "members", HTTP_BODY_NONE, AUTH_ADMIN,
      api_members_list);
ROUTE(r_member_add, "POST", "member add", HTTP_BODY_JSON, AUTH_ADMIN,
      api_member_add);
ROUTE(r_member_rm, "DELETE", "member remove", HTTP_BODY_NONE, AUTH_ADMIN,
      api_member_remove);
ROUTE(r_delegation, "POST", "delegation", HTTP_BODY_JSON, AUTH_ADMIN,
      api_delegation);
ROUTE(r_grant, "POST", "grant", HTTP_BODY_JSON, AUTH_READ, api_grant);
ROUTE(r_revoke, "DELETE", "revoke", HTTP_BODY_NONE, AUTH_READ, api_grant);
ROUTE(r_class, "POST", "class", HTTP_BODY_JSON, AUTH_READ, api_class);
ROUTE(r_events, "GET", "events", HTTP_BODY_NONE, AUTH_READ, api_events_list);
ROUTE(r_usage, "GET", "usage", HTTP_BODY_NONE, AUTH_READ, api_usage);
/* READS_MAX reads of about 100 bytes each. */
static const struct http_route r_reads = {
	.method = "POST",
	.name = "reads",
	.body = HTTP_BODY_JSON,
	.in_space = 1,
	.right = AUTH_READ,
	.fn = api_events_reads,
	.body_max = 256u * 1024u,
};

static int pick(struct http_req *req, const char *method,
		const struct http_route *a, const struct http_route *b)
{
	if (a && !strcmp(method, a->method)) {
		req->route = a;
		return 0;
	}
	if (b && !strcmp(method, b->method)) {
		req->route = b;
		return 0;
	}
	return err_set(-EOPNOTSUPP, "method %s not allowed here", method);
}

static int copy_seg(char *out, size_t outlen, const char *seg)
{
	if (strlen(seg) >= outlen)
		return err_set(-ENOENT, "no such resource");
	memcpy(out, seg, strlen(seg) + 1);
	return 0;
}

static int parse_version(struct http_req *req, const char *s)
{
	char *end;
	unsigned long long v;

	if (*s < '1' || *s > '9' || strlen(s) > 19)
		return err_set(-ENOENT, "no such version '%s'", s);
	v = strtoull(s, &end, 10);
	if (*end)
		return err_set(-ENOENT, "no such version '%s'", s);
	req->num = v;
	return 0;
}

int api_route(struct http_req *req, const char *url, const char *method)
{
	char copy[HTTP_URL_MAX + 1];
	char *seg[SEG_MAX], *p, *save = NULL;
	size_t n = 0;

	if (!strcmp(url, "/healthz"))
		return pick(req, method, &r_healthz, NULL);
	if (strlen(url) > HTTP_URL_MAX || strncmp(url, "/v1/", 4))
		return err_set(-ENOENT, "no such resource");
	memcpy(copy, url + 4, strlen(url + 4) + 1);
	for (p = strtok_r(copy, "/", &save); p;
	     p = strtok_r(NULL, "/", &save)) {
		if (n == SEG_MAX)
			return err_set(-ENOENT, "no such resource");
		seg[n++] = p;
	}
	/* strtok_r folds "//" and a trailing '/': refuse them. */
	if (strstr(url, "//") || url[strlen(url) - 1] == '/' || n == 0)
		return err_set(-ENOENT, "no such resource");

	if (n == 1 && !strcmp(seg[0], "login"))
		return pick(req, method, &r_login, NULL);
	if (n == 1 && !strcmp(seg[0], "signup"))
		return pick(req, method, &r_signup, NULL);
	if (n == 2 && !strcmp(seg[0], "signup") && !strcmp(seg[1], "confirm"))
		return pick(req, method, &r_signup_confirm, NULL);
	if (n == 1 && !strcmp(seg[0], "password-reset"))
		return pick(req, method, &r_reset, NULL);
	if (n == 2 && !strcmp(seg[0], "password-reset") &&
	    !strcmp(seg[1], "confirm"))
		return pick(req, method, &r_reset_confirm, NULL);
	if (n == 1 && !strcmp(seg[0], "certs"))
		return pick(req, method, &r_cert, NULL);
	if (n == 1 && !strcmp(seg[0], "logout"))
		return pick(req, method, &r_logout, NULL);
	if (n == 1 && !strcmp(seg[0], "password"))
		return pick(req, method, &r_password, NULL);
	if (n == 1 && !strcmp(seg[0], "sessions"))
		return pick(req, method, &r_sessions, &r_sessions_rm);
	if (n == 2 && !strcmp(seg[0], "sessions")) {
		if (copy_seg(req->arg, sizeof(req->arg), seg[1]) < 0)
			return err_set(-ENOENT, "no such session");
		return pick(req, method, &r_session_rm, NULL);
	}
	if (n == 1 && !strcmp(seg[0], "invitations"))
		return pick(req, method, &r_invites, NULL);
	if (n == 2 && !strcmp(seg[0], "invitations")) {
		if (copy_seg(req->arg, sizeof(req->arg), seg[1]) < 0)
			return err_set(-ENOENT, "no such invitation");
		return pick(req, method, &r_invite_yes, &r_invite_no);
	}
	if (strcmp(seg[0], "spaces"))
		return err_set(-ENOENT, "no such resource");
	if (n == 1)
		return pick(req, method, &r_spaces, &r_space_create);
	if (copy_seg(req->space_name, sizeof(req->space_name), seg[1]) < 0)
		return err_set(-ENOENT, "no such space");
	if (n == 2)
		return pick(req, method, &r_space, NULL);
	if (n == 3 && !strcmp(seg[2], "tree"))
		return pick(req, method, &r_tree, NULL);
	if (n == 3 && !strcmp(seg[2], "stat"))
		return pick(req, method, &r_stat, NULL);
	if (n == 3 && !strcmp(seg[2], "changes"))
		return pick(req, method, &r_changes, NULL);
	if (n == 3 && !strcmp(seg[2], "commits"))
		return pick(req, method, &r_commits, NULL);
	if (n == 3 && !strcmp(seg[2], "usage"))
		return pick(req, method, &r_usage, NULL);
	if (n == 3 && !strcmp(seg[2], "ledger"))
		return pick(req, method, &r_ledger, NULL);
	if (n == 3 && !strcmp(seg[2], "terminate"))
		return pick(req, method, &r_terminate, NULL);
	if (n == 3 && !strcmp(seg[2], "reactivate"))
		return pick(req, method, &r_reactivate, NULL);
	if (n == 4 && !strcmp(seg[2], "batches")) {
		if (copy_seg(req->arg, sizeof(req->arg), seg[3]) < 0)
			return err_set(-ENOENT, "no such batch");
		return pick(req, method, &r_batch, NULL);
	}
	if (n == 3 && !strcmp(seg[2], "members"))
		return pick(req, method, &r_members, &r_member_add);
	if (n == 4 && !strcmp(seg[2], "members")) {
		if (copy_seg(req->arg, sizeof(req->arg), seg[3]) < 0)
			return err_set(-ENOENT, "no such member");
		return pick(req, method, &r_member_rm, NULL);
	}
	if (n == 3 && !strcmp(seg[2], "delegation"))
		return pick(req, method, &r_delegation, NULL);
	if (n == 3 && !strcmp(seg[2], "grants"))
		return pick(req, method, &r_grant, &r_revoke);
	if (n == 3 && !strcmp(seg[2], "class"))
		return pick(req, method, &r_class, NULL);
	if (n == 3 && !strcmp(seg[2], "events"))
		return pick(req, method, &r_events, NULL);
	if (n == 4 && !strcmp(seg[2], "events") && !strcmp(seg[3], "reads"))
		return pick(req, method, &r_reads, NULL);
	if (n == 4 && !strcmp(seg[2], "chunks")) {
		if (!strcmp(seg[3], "missing"))
			return pick(req, method, &r_missing, NULL);
		if (copy_seg(req->arg, sizeof(req->arg), seg[3]) < 0)
			return err_set(-ENOENT, "no such chunk");
		return pick(req, method, &r_chunk_get, &r_chunk_put);
	}
	if (n == 7 && !strcmp(seg[2], "docs") && !strcmp(seg[4], "versions") &&
	    (!strcmp(seg[6], "proof") || !strcmp(seg[6], "signatures") ||
	     !strcmp(seg[6], "declassify"))) {
		if (copy_seg(req->arg, sizeof(req->arg), seg[3]) < 0)
			return err_set(-ENOENT, "no such document");
		if (parse_version(req, seg[5]) < 0)
			return -ENOENT;
		if (!strcmp(seg[6], "signatures"))
			return pick(req, method, &r_sig_list, &r_sig_add);
		if (!strcmp(seg[6], "declassify"))
			return pick(req, method, &r_declassify, NULL);
		return pick(req, method, &r_proof, NULL);
	}
	if ((n == 5 || n == 6) && !strcmp(seg[2], "docs") &&
	    !strcmp(seg[4], "versions")) {
		if (copy_seg(req->arg, sizeof(req->arg), seg[3]) < 0)
			return err_set(-ENOENT, "no such document");
		if (n == 5)
			return pick(req, method, &r_versions, NULL);
		if (parse_version(req, seg[5]) < 0)
			return -ENOENT;
		return pick(req, method, &r_version, NULL);
	}
	return err_set(-ENOENT, "no such resource");
}

int api_json_string(struct http_req *req, json_t *obj, const char *key,
		    int required, size_t maxlen, const char **out, long op)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v) {
		if (!required)
			return 0;
		http_reply_error(req, 400, "bad_request", op,
				 "missing field '%s'", key);
		return 1;
	}
	if (!json_is_string(v)) {
		http_reply_error(req, 400, "bad_request", op,
				 "field '%s' must be a string", key);
		return 1;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		http_reply_error(req, 400, "bad_request", op,
				 "field '%s' holds a NUL byte", key);
		return 1;
	}
	if (json_string_length(v) > maxlen) {
		http_reply_error(req, 400, "bad_request", op,
				 "field '%s' is longer than %zu bytes", key,
				 maxlen);
		return 1;
	}
	*out = json_string_value(v);
	return 0;
}

json_t *api_json_base64(const void *p, size_t n)
{
	size_t elen = 4 * ((n + 2) / 3);
	unsigned char *enc = malloc(elen + 1);
	json_t *j;

	if (!enc)
		return NULL;
	EVP_EncodeBlock(enc, p, (int)n);
	j = json_stringn((const char *)enc, elen);
	free(enc);
	return j;
}
