/*
 * The API endpoints of docs/protocol.md: the route table and one handler
 * per endpoint, split by subject (api_login.c, api_spaces.c, api_tree.c,
 * api_chunks.c, api_commits.c, api_docs.c).  A handler runs once the
 * request is routed, authenticated, authorized for its space and its body
 * received; it replies with http_reply_*() and returns 0, or returns a
 * negative errno for http.c to map through the error table.
 */
#ifndef COFFRE_SERVER_API_H
#define COFFRE_SERVER_API_H

#include "common/path.h"
#include "server/http.h"

/*
 * Find the route of method + url and fill req's route, space_name, arg and
 * num.  -ENOENT for an unknown path, -EOPNOTSUPP for a known path with
 * another method, both with err_set().
 */
int api_route(struct http_req *req, const char *url, const char *method);

/* Chunk PUT: called on the first call, before the body, to set up the
 * writer (or the verifying hash for a chunk already held). */
int api_chunk_put_begin(struct http_req *req);

int api_login(struct http_req *req);
/* A new session's answer {"token", "login", "expires_at"} with status;
 * the token is wiped after. */
int api_reply_token(struct http_req *req, unsigned status,
		    char token[AUTH_TOKEN_HEX_LEN + 1], const char *login,
		    int64_t expires_at);
/* api_proof.c: the whole ledger as a git bundle, for owners (an export) */
int api_ledger_bundle(struct http_req *req);
/* api_signup.c: accounts made by their owners, passwords reset, by SMS */
int api_signup(struct http_req *req);
int api_signup_confirm(struct http_req *req);
int api_password_reset(struct http_req *req);
int api_password_reset_confirm(struct http_req *req);
/*
 * For the handlers that check a password (api_login.c): the throttle's
 * view of req (address and limits from coffred.conf; addr holds the
 * address text), and the reply to a failed check: 429 too_many when
 * throttled, status (401 for a login) for a wrong password, recording a
 * lock that failure started.  Other rc are returned for http.c.
 */
void api_attempt_init(struct http_req *req, struct auth_attempt *at, char *addr,
		      size_t addrlen);
int api_reply_password_failure(struct http_req *req, const char *login, int rc,
			       const struct auth_attempt *at, unsigned status);
/* api_sessions.c: logout, sessions, password change. */
int api_logout(struct http_req *req);
int api_sessions(struct http_req *req); /* GET list, DELETE revoke all */
int api_session_revoke(struct http_req *req);
int api_password(struct http_req *req);
/* api_invite.c: invitations of the caller (accept, decline). */
int api_invitations(struct http_req *req);
int api_invitation_answer(struct http_req *req);
int api_spaces_list(struct http_req *req);
/* api_spaces.c: an owner ends a space, with a grace, or takes it back */
int api_space_terminate(struct http_req *req);
int api_space_reactivate(struct http_req *req);
int api_space_info(struct http_req *req);
int api_usage(struct http_req *req);	    /* api_usage.c */
int api_space_create(struct http_req *req); /* api_spaces.c */
int api_tree(struct http_req *req);
int api_stat(struct http_req *req);
int api_changes(struct http_req *req); /* api_changes.c: the change feed */
/* A batch moved space's head: answer its long polls (api_changes.c). */
void api_changes_notify(void);
/* Changes may have gone untold: every waiter re-reads its head now. */
void api_changes_recheck(void);
/* The server is stopping: resume every waiting long poll, refuse to wait
 * from now on (before MHD_stop_daemon, which needs none suspended). */
void api_changes_stop(void);
int api_chunks_missing(struct http_req *req);
int api_chunk_put(struct http_req *req);
int api_chunk_get(struct http_req *req);
int api_commits(struct http_req *req);
int api_batch_get(struct http_req *req);
int api_doc_versions(struct http_req *req);
int api_doc_version(struct http_req *req);
/* Access (api_access.c) and events (api_events.c). */
int api_members_list(struct http_req *req);
int api_member_add(struct http_req *req);
int api_member_remove(struct http_req *req);
int api_delegation(struct http_req *req);
int api_grant(struct http_req *req); /* POST grants, DELETE grants */
int api_class(struct http_req *req);
int api_events_list(struct http_req *req);
int api_events_reads(struct http_req *req);
int api_doc_proof(struct http_req *req); /* api_proof.c */
/* api_signatures.c: user certificates and e-signatures of versions. */
int api_cert_issue(struct http_req *req);
int api_signature_add(struct http_req *req);
int api_signatures_list(struct http_req *req);
/*
 * The version req->arg / req->num of req's space (index, else ledger
 * history), after authorize(AUTH_READ): its commit (41 bytes) and its
 * manifest text (malloc'd).  -ENOENT when there is none.  api_proof.c.
 */
int api_version_find(struct http_req *req, char *commit, char **manifest);

/*
 * May the caller read document req->arg?  Owners read every document;
 * anyone else one filed, at the head, in a folder they read.  0, or
 * -ENOENT "no such document" (never 403: what one cannot read does not
 * exist), or -errno.  api_docs.c.
 */
int api_doc_authorize(struct http_req *req);

/*
 * Where document doc_id stands for req's caller, after api_doc_standing():
 * their role, whether it is filed at the head (in path) and in a
 * confidential folder there.  0, or -ENOENT as api_doc_authorize().
 */
struct api_doc_standing {
	int role;	  /* enum policy_role */
	int filed;	  /* filed at the head (owners: maybe not) */
	int confidential; /* filed in a confidential folder */
	char path[PATH_MAX_LEN + 1];
};
int api_doc_standing(struct http_req *req, const char *doc_id,
		     struct api_doc_standing *out);
/* The one rule for versions (access_version_open): 1 readable, 0 not. */
int api_doc_version_open(const struct api_doc_standing *st, int sealed);
/* Is version sealed?  1, 0, -errno; unknown to the index: 1. */
int api_version_sealed(struct http_req *req, const char *doc_id,
		       uint64_t version);
/*
 * May req's caller read version of doc_id (the rule above, from where the
 * document is filed now)?  1, 0 (as absent), -errno.
 */
int api_version_open(struct http_req *req, const char *doc_id,
		     uint64_t version);
/* POST docs/ID/versions/N/declassify (owners): api_docs.c. */
int api_doc_declassify(struct http_req *req);

/* JSON field helpers: 0 or a 400 bad_request reply already queued (1). */
int api_json_string(struct http_req *req, json_t *obj, const char *key,
		    int required, size_t maxlen, const char **out, long op);

/* A JSON string holding p[0..n) in base64; NULL when out of memory. */
json_t *api_json_base64(const void *p, size_t n);

#endif /* COFFRE_SERVER_API_H */
