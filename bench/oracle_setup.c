/*
 * The space oracle_bench times: three callers and what each may read.
 *
 *   /Public          public: the intervenant reads it (and has a deposit
 *                    grant on it), the assistant reads it
 *     note.txt
 *   /Secret          confidential: only the owner reads it
 *     plan.txt       three versions (the hidden document)
 *     budget.txt
 *     Sub/memo.txt
 *
 * Users are made by the coffred CLI before serve; everything else goes
 * through the HTTP API as a client would (docs/protocol.md): commits,
 * chunk uploads, invitations accepted by the invitee, a grant.
 */
#include "oracle.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#define SPACE_PATH "/v1/spaces/" LOAD_SPACE

static const char *const logins[WHO_N] = { ORACLE_ASSIST, ORACLE_INTER,
					   LOAD_LOGIN };

int oracle_users(struct load_srv *s)
{
	struct oracle_space *o = s->arg;
	int rc;

	if ((rc = srv_user_add(s, ORACLE_ASSIST, o->password[WHO_ASSIST])) <
		    0 ||
	    (rc = srv_user_add(s, ORACLE_INTER, o->password[WHO_INTER])) < 0)
		return rc;
	return 0;
}

/* One request as who; -EPROTO unless it answers want. */
static int call(struct oracle_space *o, enum oracle_who who, const char *method,
		const char *path, const char *body, long want, char *out,
		size_t outlen)
{
	char answer[8192];
	long st = http_req(NULL, &o->as[who], method, path, true, body,
			   body ? strlen(body) : 0, 60, NULL, NULL, answer,
			   sizeof(answer));

	if (st != want)
		return bench_err(-EPROTO, "%s %s as %s: %ld, not %ld: %s",
				 method ? method :
				 body	? "POST" :
					  "GET",
				 path, logins[who], st, want, answer);
	if (out)
		snprintf(out, outlen, "%s", answer);
	return 0;
}

static void sha256_hex(const void *p, size_t n, char hex[65])
{
	unsigned char md[32];

	EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Upload text as one chunk and deposit it at path; its doc id to doc. */
static int deposit(struct oracle_space *o, const char *path, const char *text,
		   char doc[33], char chunk[65])
{
	char hex[65], url[256], body[1024], answer[8192];
	json_t *j, *r;
	int rc;

	sha256_hex(text, strlen(text), hex);
	snprintf(url, sizeof(url), SPACE_PATH "/chunks/%s", hex);
	if (http_req(NULL, &o->as[WHO_OWNER], "PUT", url, true, text,
		     strlen(text), 60, NULL, NULL, answer, sizeof(answer)) /
		    100 !=
	    2)
		return bench_err(-EPROTO, "cannot upload a chunk: %s", answer);
	snprintf(
		body, sizeof(body),
		"{\"client\": \"oracle\", \"ops\": [{\"op\": \"deposit\", \"path\": \"%s\", \"size\": %zu, \"sha256\": \"%s\", \"chunks\": [[\"%s\", %zu]]}]}",
		path, strlen(text), hex, hex, strlen(text));
	rc = call(o, WHO_OWNER, NULL, SPACE_PATH "/commits", body, 200, answer,
		  sizeof(answer));
	if (rc < 0)
		return rc;
	j = json_loads(answer, 0, NULL);
	r = json_object_get(json_array_get(json_object_get(j, "results"), 0),
			    "doc_id");
	if (!json_is_string(r)) {
		json_decref(j);
		return bench_err(-EPROTO, "no doc_id in the commit answer: %s",
				 answer);
	}
	if (doc)
		snprintf(doc, 33, "%s", json_string_value(r));
	if (chunk)
		snprintf(chunk, 65, "%s", hex);
	json_decref(j);
	return 0;
}

int oracle_populate(struct oracle_space *o)
{
	static const char *const plan[] = {
		"plan, first draft: nothing decided yet\n",
		"plan, second draft: the merger in March\n",
		"plan, final: the merger on 3 March, 40 M EUR\n",
	};
	const char *note = "a note anyone in the space may read\n";
	char body[512];
	int rc;

	for (int w = 0; w < WHO_N; w++)
		o->as[w] = o->srv;
	rc = call(
		o, WHO_OWNER, NULL, SPACE_PATH "/commits",
		"{\"client\": \"oracle\", \"ops\": ["
		"{\"op\": \"mkdir\", \"path\": \"/Public\", \"class\": \"public\"},"
		"{\"op\": \"mkdir\", \"path\": \"/Secret\", \"class\": \"confidential\"},"
		"{\"op\": \"mkdir\", \"path\": \"/Secret/Sub\"}]}",
		200, NULL, 0);
	if (rc < 0)
		return rc;
	if ((rc = deposit(o, "/Public/note.txt", note, NULL, o->public_chunk)) <
	    0)
		return rc;
	snprintf(o->public_sha, sizeof(o->public_sha), "%s", o->public_chunk);
	o->public_size = strlen(note);
	for (size_t i = 0; i < BENCH_ARRAY_SIZE(plan); i++)
		if ((rc = deposit(o, "/Secret/plan.txt", plan[i], o->hidden_doc,
				  i ? NULL : o->hidden_chunk)) < 0)
			return rc;
	if ((rc = deposit(o, "/Secret/budget.txt", "budget 2027: 12 M EUR\n",
			  NULL, NULL)) < 0 ||
	    (rc = deposit(o, "/Secret/Sub/memo.txt", "memo: do not forward\n",
			  NULL, NULL)) < 0)
		return rc;
	/* Members are invited, and join by accepting. */
	for (int w = WHO_ASSIST; w <= WHO_INTER; w++) {
		snprintf(body, sizeof(body),
			 "{\"login\": \"%s\", \"role\": \"%s\"}", logins[w],
			 w == WHO_ASSIST ? "assistant" : "intervenant");
		if ((rc = call(o, WHO_OWNER, NULL, SPACE_PATH "/members", body,
			       202, NULL, 0)) < 0)
			return rc;
		if ((rc = srv_login(&o->srv, logins[w], o->password[w],
				    o->as[w].token, sizeof(o->as[w].token))) <
		    0)
			return rc;
		if ((rc = call(o, w, "POST", "/v1/invitations/" LOAD_SPACE,
			       NULL, 200, NULL, 0)) < 0)
			return rc;
	}
	snprintf(
		body, sizeof(body),
		"{\"path\": \"/Public\", \"login\": \"%s\", \"right\": \"deposit\"}",
		ORACLE_INTER);
	return call(o, WHO_OWNER, NULL, SPACE_PATH "/grants", body, 200, NULL,
		    0);
}
