/*
 * The index operations (server/index.h, index_backend.h) against every
 * backend: SQLite in a temporary directory, and PostgreSQL started by the
 * test itself (tests/lib/pg.sh: initdb in a temporary directory, on a
 * 127.0.0.1 port, stopped at the end; skipped with its reason when
 * PostgreSQL is not installed).  The same checks run on both: users and
 * duplicates, spaces and members, grants that follow a folder, a rolled
 * back transaction, a doomed nested one, and event appends from several
 * threads at once that never share a seq and keep one verifiable chain.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/err.h"
#include "server/events.h"
#include "server/index.h"
#include "server/invite.h"
#include "tests/lib/tap.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#define THREADS 4
#define APPENDS 50

struct worker {
	struct index *ix;
	int failed;
};

static void *appender(void *arg)
{
	struct worker *w = arg;
	struct index_event ev = { .kind = "deposit", .path = "/f" };

	for (int i = 0; i < APPENDS; i++)
		if (events_append(w->ix, "s1", "alice", 1000 + i, &ev, NULL) <
		    0)
			w->failed++;
	return NULL;
}

static int count_grant(const char *path, const char *login, const char *level,
		       void *arg)
{
	char *out = arg;

	snprintf(out + strlen(out), 256 - strlen(out), "%s:%s:%s;", login, path,
		 level);
	return 0;
}

/* "doc:version:sealed;" per version naming a chunk */
static int count_ref(const char *doc_id, uint64_t version, int sealed,
		     void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 256 - n, "%s:%llu:%d;", doc_id,
		 (unsigned long long)version, sealed);
	return 0;
}

static void check_versions(const char *name, struct index *ix)
{
	static const char c1[] =
		"1111111111111111111111111111111111111111111111111111111111111111";
	char m1[512], m2[512], refs[256] = "";
	struct index_version v = {
		.doc_id = "d1",
		.version = 1,
		.size = 3,
		.sha256 = c1,
		.deposited_by = "alice",
		.deposited_at = "2026-12-04T00:00:00Z",
		.commit = "0123456789012345678901234567890123456789",
		.sealed = 1,
	};

	snprintf(m1, sizeof(m1), "doc %s\nversion 1\nchunk %s 3\n", "d1", c1);
	snprintf(m2, sizeof(m2), "doc %s\nversion 2\nchunk %s 3\n", "d1", c1);
	is_int(index_sealed_any(ix, "s1"), 0, "%s: no sealed version yet",
	       name);
	v.manifest = m1;
	ok(index_record(ix, "s1", "alice", 1, &v, 1, NULL, 0) == 0,
	   "%s: a sealed version", name);
	v.version = 2;
	v.sealed = 0;
	v.manifest = m2;
	ok(index_record(ix, "s1", "alice", 1, &v, 1, NULL, 0) == 0,
	   "%s: an open one", name);
	is_int(index_sealed_any(ix, "s1"), 1, "%s: a sealed version is seen",
	       name);
	index_chunk_versions(ix, "s1", c1, count_ref, refs);
	is_str(refs, "d1:1:1;d1:2:0;",
	       "%s: the chunk's versions, by one lookup, with their seal",
	       name);
	v.version = 1;
	v.manifest = m1;
	ok(index_record(ix, "s1", "alice", 1, &v, 1, NULL, 0) == 0 &&
		   index_sealed_any(ix, "s1") == 1,
	   "%s: recorded again, a version keeps its seal", name);
	is_int(index_version_unseal(ix, "s1", "d1", 1), 1,
	       "%s: unsealing says it was sealed", name);
	is_int(index_version_unseal(ix, "s1", "d1", 1), 0,
	       "%s: and not a second time", name);
	is_int(index_sealed_any(ix, "s1"), 0, "%s: none sealed now", name);
}

/* After check_versions: d1 v1 and v2, both naming one chunk of 3 bytes. */
static void check_usage(const char *name, struct index *ix)
{
	static const char c1[] =
		"1111111111111111111111111111111111111111111111111111111111111111";
	static const char c2[] =
		"2222222222222222222222222222222222222222222222222222222222222222";
	char m[512];
	struct index_usage u;
	struct index_version v = {
		.doc_id = "d2",
		.version = 1,
		.size = 11,
		.sha256 = c1,
		.deposited_by = "alice",
		.deposited_at = "2026-12-04T00:00:00Z",
		.commit = "0123456789012345678901234567890123456789",
		.manifest = m,
	};

	ok(index_usage_get(ix, "s1", &u) == 0 && u.bytes == 3 &&
		   u.documents == 1 && u.versions == 2 && u.quota == -1,
	   "%s: usage: a chunk shared by two versions counts once", name);
	ok(index_usage_get(ix, "nospace", &u) == 0 && u.bytes == 0 &&
		   u.versions == 0 && u.quota == -1,
	   "%s: usage of a space that recorded nothing: zeros", name);
	is_int(index_chunk_known(ix, "s1", c1), 1, "%s: a chunk named is known",
	       name);
	is_int(index_chunk_known(ix, "s1", c2), 0,
	       "%s: a chunk never named is not", name);
	/* the shared chunk, a new one named twice in one manifest */
	snprintf(m, sizeof(m),
		 "doc d2\nversion 1\nchunk %s 3\nchunk %s 4\nchunk %s 4\n", c1,
		 c2, c2);
	ok(index_record(ix, "s1", "alice", 1, &v, 1, NULL, 0) == 0 &&
		   index_usage_get(ix, "s1", &u) == 0 && u.bytes == 7 &&
		   u.documents == 2 && u.versions == 3,
	   "%s: usage: a new document adds its new chunk once", name);
	ok(index_record(ix, "s1", "alice", 1, &v, 1, NULL, 0) == 0 &&
		   index_usage_get(ix, "s1", &u) == 0 && u.bytes == 7 &&
		   u.documents == 2 && u.versions == 3,
	   "%s: usage: a version recorded again adds nothing", name);
	ok(index_quota_set(ix, "s1", 1000) == 0 &&
		   index_usage_get(ix, "s1", &u) == 0 && u.quota == 1000 &&
		   u.bytes == 7,
	   "%s: a space's own quota", name);
	ok(index_quota_set(ix, "s1", 0) == 0 &&
		   index_usage_get(ix, "s1", &u) == 0 && u.quota == 0,
	   "%s: unlimited", name);
	ok(index_quota_set(ix, "s1", -1) == 0 &&
		   index_usage_get(ix, "s1", &u) == 0 && u.quota == -1 &&
		   u.versions == 3,
	   "%s: dropped, the default holds again", name);
}

/* One-time codes and sign-up invitations (signup.h). */
static void check_codes(const char *name, struct index *ix)
{
	struct index_code c = { .purpose = INDEX_CODE_SIGNUP,
				.login = "zoe",
				.phone = "+33612345678",
				.email = "",
				.pwhash = "$argon2id$x",
				.invite = "",
				.salt = "00",
				.code_hash = "ab",
				.expires_at = 2000 },
			  got;
	char phone[32];
	unsigned tries = 0;

	ok(index_code_put(ix, &c, 1000, 2) == 0, "%s: a code kept", name);
	ok(index_code_get(ix, INDEX_CODE_SIGNUP, "zoe", 1500, &got) == 0 &&
		   !strcmp(got.phone, "+33612345678") &&
		   !strcmp(got.pwhash, "$argon2id$x") && got.tries == 0 &&
		   got.expires_at == 2000,
	   "%s: read back", name);
	ok(index_code_get(ix, INDEX_CODE_RESET, "zoe", 1500, &got) == -ENOENT,
	   "%s: another purpose is another row", name);
	ok(index_code_get(ix, INDEX_CODE_SIGNUP, "zoe", 2000, &got) == -ENOENT,
	   "%s: expired at its time", name);
	ok(index_code_tried(ix, INDEX_CODE_SIGNUP, "zoe", &tries) == 0 &&
		   tries == 1 &&
		   index_code_tried(ix, INDEX_CODE_SIGNUP, "zoe", &tries) ==
			   0 &&
		   tries == 2,
	   "%s: wrong tries counted", name);
	ok(index_code_tried(ix, INDEX_CODE_SIGNUP, "nobody", &tries) == -ENOENT,
	   "%s: no row, no try", name);
	snprintf(c.code_hash, sizeof(c.code_hash), "cd");
	ok(index_code_put(ix, &c, 1000, 2) == 0 &&
		   index_code_get(ix, INDEX_CODE_SIGNUP, "zoe", 1500, &got) ==
			   0 &&
		   !strcmp(got.code_hash, "cd") && got.tries == 0,
	   "%s: a new code replaces the old, tries back to 0", name);
	snprintf(c.login, sizeof(c.login), "yann");
	ok(index_code_put(ix, &c, 1000, 2) == 0, "%s: a second login", name);
	snprintf(c.login, sizeof(c.login), "xavier");
	ok(index_code_put(ix, &c, 1000, 2) == -E2BIG,
	   "%s: the cap of 2 pending refuses a third", name);
	ok(index_code_put(ix, &c, 2500, 2) == 0,
	   "%s: once the others expired, it goes (expired rows dropped)", name);
	ok(index_code_drop(ix, INDEX_CODE_SIGNUP, "xavier") == 0 &&
		   index_code_get(ix, INDEX_CODE_SIGNUP, "xavier", 2500,
				  &got) == -ENOENT,
	   "%s: dropped", name);
	ok(index_user_phone(ix, "alice", phone, sizeof(phone)) == 0 &&
		   phone[0] == '+',
	   "%s: a user's phone", name);
	ok(index_user_phone(ix, "nobody", phone, sizeof(phone)) == -ENOENT,
	   "%s: none for no user", name);
	ok(index_signup_invite_put(ix, "ff", 3000) == 0 &&
		   index_signup_invite_valid(ix, "ff", 2999) == 1 &&
		   index_signup_invite_valid(ix, "ff", 3000) == 0 &&
		   index_signup_invite_valid(ix, "ee", 10) == 0,
	   "%s: an invitation valid until its time", name);
	ok(index_signup_invite_take(ix, "ff", 3000) == -ENOENT &&
		   index_signup_invite_take(ix, "ff", 2000) == 0 &&
		   index_signup_invite_take(ix, "ff", 2000) == -ENOENT,
	   "%s: taken once, not expired", name);
}

/* "NAME=VALUE;" per row listed */
static int collect_names(const char *name, const char *value, void *arg)
{
	char *out = arg;

	snprintf(out + strlen(out), 512 - strlen(out), "%s=%s;", name,
		 value ? value : "");
	return 0;
}

struct object_seen {
	int type;
	char data[64];
	size_t len;
};

static int copy_object(int type, const void *data, size_t len, void *arg)
{
	struct object_seen *o = arg;

	o->type = type;
	o->len = len;
	if (len < sizeof(o->data))
		memcpy(o->data, data, len);
	return 0;
}

/*
 * A space's ledger in the index: objects put twice stay one, bytes with
 * NULs come back whole, a ref moves only from what it names (the
 * compare-and-swap two nodes rely on), a rolled-back move leaves it, and
 * a space's destruction takes its rows.
 */
static void check_ledger_rows(const char *name, struct index *ix)
{
	static const char bin[] = { 't', 'r', 0, 'e', '\n', (char)0xff };
	const char *a = "1111111111111111111111111111111111111111";
	const char *b = "2222222222222222222222222222222222222222";
	const char *c = "3333333333333333333333333333333333333333";
	struct object_seen o = { 0 };
	struct index_txn *tx;
	char list[512] = "", target[64];

	ok(index_ledger_object_put(ix, "s1", a, 2, bin, sizeof(bin)) == 0 &&
		   index_ledger_object_put(ix, "s1", a, 2, bin, sizeof(bin)) ==
			   0 &&
		   index_ledger_object_put(ix, "s1", b, 3, "", 0) == 0,
	   "%s: ledger objects are put, one of them twice", name);
	ok(index_ledger_object_get(ix, "s1", a, copy_object, &o) == 0 &&
		   o.type == 2 && o.len == sizeof(bin) &&
		   !memcmp(o.data, bin, sizeof(bin)),
	   "%s: an object's bytes come back whole, NULs and all", name);
	ok(index_ledger_object_get(ix, "s1", b, copy_object, &o) == 0 &&
		   o.type == 3 && o.len == 0,
	   "%s: an empty object is an object", name);
	is_int(index_ledger_object_get(ix, "s2", a, copy_object, &o), -ENOENT,
	       "%s: another space does not hold it", name);
	ok(index_ledger_object_has(ix, "s1", a) == 1 &&
		   index_ledger_object_has(ix, "s1", c) == 0,
	   "%s: has tells held from absent", name);
	index_ledger_objects(ix, "s1", collect_names, list);
	is_str(list,
	       "1111111111111111111111111111111111111111=;"
	       "2222222222222222222222222222222222222222=;",
	       "%s: the objects listed once each, sorted", name);

	ok(index_ledger_ref_set(ix, "s1", "refs/heads/main", a,
				INDEX_REF_CREATE, NULL) == 0,
	   "%s: a ref is created", name);
	is_int(index_ledger_ref_set(ix, "s1", "refs/heads/main", b,
				    INDEX_REF_CREATE, NULL),
	       -EEXIST, "%s: created twice is refused", name);
	is_int(index_ledger_ref_set(ix, "s1", "refs/heads/main", c,
				    INDEX_REF_MATCH, b),
	       -ESTALE, "%s: a move from what it does not name is refused",
	       name);
	ok(index_ledger_ref_set(ix, "s1", "refs/heads/main", b, INDEX_REF_MATCH,
				a) == 0 &&
		   index_ledger_ref_get(ix, "s1", "refs/heads/main", target,
					sizeof(target)) == 0 &&
		   !strcmp(target, b),
	   "%s: a move from what it names is done", name);
	ok(index_begin(ix, &tx) == 0 &&
		   index_ledger_ref_set(ix, "s1", "refs/heads/main", c,
					INDEX_REF_MATCH, b) == 0,
	   "%s: a move inside a transaction", name);
	index_rollback(ix, tx);
	ok(index_ledger_ref_get(ix, "s1", "refs/heads/main", target,
				sizeof(target)) == 0 &&
		   !strcmp(target, b),
	   "%s: rolled back, the ref names what it did", name);
	ok(index_ledger_ref_set(ix, "s1", "HEAD", "ref: refs/heads/main",
				INDEX_REF_FORCE, NULL) == 0 &&
		   index_ledger_ref_set(ix, "s1", "HEAD",
					"ref: refs/heads/main", INDEX_REF_FORCE,
					NULL) == 0,
	   "%s: a forced write, twice", name);
	list[0] = '\0';
	index_ledger_refs(ix, "s1", collect_names, list);
	is_str(list,
	       "HEAD=ref: refs/heads/main;"
	       "refs/heads/main=2222222222222222222222222222222222222222;",
	       "%s: the refs listed with their targets", name);
	is_int(index_ledger_ref_drop(ix, "s1", "refs/heads/main", a), -ESTALE,
	       "%s: a drop from what it does not name is refused", name);
	ok(index_ledger_ref_drop(ix, "s1", "HEAD", NULL) == 0, "%s: a drop",
	   name);
	is_int(index_ledger_ref_get(ix, "s1", "HEAD", target, sizeof(target)),
	       -ENOENT, "%s: a dropped ref is gone", name);
	{
		char sealed[160];

		is_int(index_space_key_get(ix, "s1", sealed, sizeof(sealed)),
		       -ENOENT, "%s: a space with no key of its own", name);
		ok(index_space_key_set(ix, "s1", "00ff") == 0 &&
			   index_space_key_set(ix, "s1", "abcd") == 0 &&
			   index_space_key_get(ix, "s1", sealed,
					       sizeof(sealed)) == 0 &&
			   !strcmp(sealed, "abcd"),
		   "%s: a space's key, replaced", name);
		is_int(index_space_key_get(ix, "s2", sealed, sizeof(sealed)),
		       -ENOENT, "%s: another space does not see it", name);
	}
	list[0] = '\0';
	index_spaces_all(ix, collect_names, list);
	ok(strstr(list, "s1=company;") != NULL, "%s: every space listed (%s)",
	   name, list);
}

/*
 * Notifications between nodes: a listener hears a space told of outside
 * a transaction, and inside one only once it commits -- never from one
 * rolled back.  SQLite (one node) has no listener and says so.
 */
static int hear(struct index *ix, struct index_listener *l, int ms,
		char heard[512])
{
	int rc = 0;

	heard[0] = '\0';
	for (int waited = 0; rc == 0 && !heard[0] && waited < ms; waited += 100)
		rc = index_listen_wait(ix, l, -1, 100, collect_names, heard);
	return rc;
}

static void check_notify(const char *name, struct index *ix)
{
	struct index_listener *l = NULL;
	struct index_txn *tx;
	char heard[512];
	int rc = index_listen_open(ix, &l);

	if (!strcmp(name, "sqlite")) {
		is_int(rc, -ENOTSUP, "%s: no listener (one node)", name);
		ok(index_notify(ix, "s1") == 0, "%s: a notify does nothing",
		   name);
		return;
	}
	ok(rc == 0 && l, "%s: a listener", name);
	if (rc < 0)
		return;
	ok(index_notify(ix, "s1") == 0 && hear(ix, l, 5000, heard) == 0 &&
		   !strcmp(heard, "s1=;"),
	   "%s: hears a space told of (%s)", name, heard);
	ok(index_begin(ix, &tx) == 0 && index_notify(ix, "s2") == 0,
	   "%s: a "
	   "notify in a transaction",
	   name);
	ok(hear(ix, l, 300, heard) == 0 && !heard[0],
	   "%s: is not heard before it commits", name);
	index_rollback(ix, tx);
	ok(hear(ix, l, 300, heard) == 0 && !heard[0],
	   "%s: nor after a rollback", name);
	ok(index_begin(ix, &tx) == 0 && index_notify(ix, "s3") == 0 &&
		   index_commit(ix, tx) == 0 && hear(ix, l, 5000, heard) == 0 &&
		   !strcmp(heard, "s3=;"),
	   "%s: and is heard once committed (%s)", name, heard);
	index_listen_close(ix, l);
}

static void check_backend(const char *name, const char *where)
{
	struct worker w[THREADS];
	pthread_t t[THREADS];
	struct index_txn *tx, *inner;
	struct index *ix = NULL;
	char role[32], grants[256] = "";
	uint64_t seq = 0, bad = 0;
	struct obj_id head;
	int admin = 0, n = 0, rc;

	rc = index_open(&ix, where, 1);
	ok(rc == 0, "%s: a new index opens", name);
	if (rc < 0) {
		diag("%s", err_msg());
		return;
	}
	is_str(index_backend_name(ix), name, "%s: the backend asked for", name);
	ok(index_user_add(ix, "alice", "+33600000001", "h1", 1) == 0 &&
		   index_user_add(ix, "bob", "+33600000002", "h2", 1) == 0,
	   "%s: two users", name);
	is_int(index_user_add(ix, "alice", "+33600000003", "h3", 1), -EEXIST,
	       "%s: a duplicate login is refused", name);
	is_int(index_space_add(ix, "s1", "company", "nobody", 1), -ENOENT,
	       "%s: a space for an unknown owner is refused", name);
	ok(index_space_add(ix, "s1", "company", "alice", 1) == 0, "%s: a space",
	   name);
	ok(index_member_access(ix, "s1", "alice", role, sizeof(role), &admin) ==
			   0 &&
		   !strcmp(role, "owner") && !admin,
	   "%s: its owner is a member", name);

	/* A transaction rolled back leaves nothing. */
	ok(index_begin(ix, &tx) == 0 && index_lock_space(ix, tx, "s1") == 0 &&
		   index_member_put(ix, "s1", "bob", "assistant", 0) == 0,
	   "%s: a member added in a transaction", name);
	index_rollback(ix, tx);
	is_int(index_member_access(ix, "s1", "bob", role, sizeof(role), &admin),
	       -ENOENT, "%s: is gone with its rollback", name);

	/* An inner rollback dooms the outer transaction. */
	inner = NULL;
	ok(index_begin(ix, &tx) == 0 &&
		   index_member_put(ix, "s1", "bob", "assistant", 0) == 0 &&
		   index_begin(ix, &inner) == 0,
	   "%s: a nested transaction", name);
	index_rollback(ix, inner);
	ok(index_commit(ix, tx) < 0,
	   "%s: after an inner rollback the commit fails", name);
	is_int(index_member_access(ix, "s1", "bob", role, sizeof(role), &admin),
	       -ENOENT, "%s: and nothing of it stays", name);

	/*
	 * A statement that fails inside a transaction: PostgreSQL undoes the
	 * whole transaction (and would answer its COMMIT with ROLLBACK), so
	 * what follows is refused and the commit fails, never saying it
	 * held; SQLite undoes only the statement (a constraint), so the
	 * rest commits.
	 */
	ok(index_begin(ix, &tx) == 0 &&
		   index_member_put(ix, "s1", "bob", "assistant", 0) == 0 &&
		   index_user_add(ix, "alice", "+33600000009", "h9", 1) ==
			   -EEXIST,
	   "%s: a failing statement in a transaction", name);
	if (!strcmp(name, "postgresql")) {
		ok(index_member_put(ix, "s1", "bob", "intervenant", 0) < 0,
		   "%s: the next one is refused", name);
		ok(index_commit(ix, tx) < 0, "%s: and the commit fails", name);
		is_int(index_member_access(ix, "s1", "bob", role, sizeof(role),
					   &admin),
		       -ENOENT, "%s: nothing of it stays", name);
	} else {
		ok(index_commit(ix, tx) == 0 &&
			   index_member_access(ix, "s1", "bob", role,
					       sizeof(role), &admin) == 0,
		   "%s: the rest of it commits", name);
		ok(index_member_drop(ix, "s1", "bob") == 0, "%s: undone", name);
	}

	/* Members, delegation, grants that follow their folder. */
	ok(index_begin(ix, &tx) == 0 &&
		   index_member_put(ix, "s1", "bob", "assistant", 0) == 0 &&
		   index_delegation_set(ix, "s1", "bob", 1) == 0 &&
		   index_grant_put(ix, "s1", "/A/b", "bob", "deposit", 0) ==
			   0 &&
		   index_grant_put(ix, "s1", "/A_x", "bob", "read", 0) == 0 &&
		   index_commit(ix, tx) == 0,
	   "%s: a member with a delegation and two grants", name);
	ok(index_member_access(ix, "s1", "bob", role, sizeof(role), &admin) ==
			   0 &&
		   !strcmp(role, "assistant") && admin,
	   "%s: reads back with its delegation", name);
	ok(index_grants_move(ix, "s1", "/A", "/Z", &n) == 0 && n == 1,
	   "%s: a folder move carries the one grant below it (not /A_x)", name);
	index_grants(ix, "s1", NULL, 0, count_grant, grants);
	is_str(grants, "bob:/A_x:read;bob:/Z/b:deposit;",
	       "%s: grants listed by path", name);
	is_int(index_grant_drop(ix, "s1", "/nowhere", "bob"), -ENOENT,
	       "%s: revoking a grant that is not there", name);

	check_versions(name, ix);
	check_usage(name, ix);
	check_codes(name, ix);
	check_ledger_rows(name, ix);
	check_notify(name, ix);

	/* Invitations and their cap. */
	ok(invite_put(ix, "s1", "carol", "intervenant", "alice", 5) == 0 &&
		   invite_get(ix, "s1", "carol", role, sizeof(role), NULL, 0) ==
			   0 &&
		   !strcmp(role, "intervenant"),
	   "%s: an invitation", name);
	ok(invite_drop(ix, "s1", "carol") == 0 &&
		   invite_drop(ix, "s1", "carol") == -ENOENT,
	   "%s: declined once, then none", name);

	/* Appends from several threads: one chain, no seq taken twice. */
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .ix = ix };
		pthread_create(&t[i], NULL, appender, &w[i]);
	}
	rc = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		rc += w[i].failed;
	}
	is_int(rc, 0, "%s: %d threads append %d events each", name, THREADS,
	       APPENDS);
	ok(events_chain_head(ix, "s1", &seq, &head) == 0 &&
		   seq == THREADS * APPENDS,
	   "%s: the head is at seq %d", name, THREADS * APPENDS);
	is_int(events_verify_chain(ix, "s1", &bad), 0,
	       "%s: and the chain verifies", name);
	index_free(ix);

	/* Opened again: the schema is there, and kept. */
	ok(index_open(&ix, where, 0) == 0 &&
		   index_user_exists(ix, "alice") == 1,
	   "%s: opened again, the data is there", name);
	index_free(ix);
}

/*
 * The 4 -> 5 migration computes the usage of the spaces already there:
 * the index of check_backend taken back to version 4 by hand (its usage
 * table dropped) and opened again.
 */
static void check_sqlite_migration(const char *path)
{
	struct index_usage u;
	struct index *ix = NULL;
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(
			db,
			"DROP TABLE space_usage; DROP TABLE pending_codes; DROP TABLE signup_invites; DROP TABLE space_terminations; DROP TABLE user_freezes; DROP TABLE ledger_objects; DROP TABLE ledger_refs; DROP TABLE space_keys; PRAGMA user_version = 4;",
			NULL, NULL, NULL);
	sqlite3_close(db);
	ok(rc == SQLITE_OK, "sqlite: the index taken back to version 4");
	ok(index_open(&ix, path, 0) == 0 &&
		   index_usage_get(ix, "s1", &u) == 0 && u.bytes == 7 &&
		   u.documents == 2 && u.versions == 3 && u.quota == -1,
	   "sqlite: the migration computes the usage once from the versions");
	index_free(ix);
}

/* The same for PostgreSQL: version 2 taken back to 1, opened again. */
static void check_pg_migration(const char *url)
{
	struct index_usage u;
	struct index *ix = NULL;
	PGconn *db = PQconnectdb(url);
	PGresult *res = PQexec(
		db,
		"DROP TABLE space_usage; DROP TABLE pending_codes; DROP TABLE signup_invites; DROP TABLE space_terminations; DROP TABLE user_freezes; DROP TABLE ledger_objects; DROP TABLE ledger_refs; DROP TABLE space_keys; UPDATE coffre_schema SET version = 1");
	int done = PQresultStatus(res) == PGRES_COMMAND_OK;

	PQclear(res);
	PQfinish(db);
	ok(done, "postgresql: the index taken back to version 1");
	ok(index_open(&ix, url, 0) == 0 && index_usage_get(ix, "s1", &u) == 0 &&
		   u.bytes == 7 && u.documents == 2 && u.versions == 3 &&
		   u.quota == -1,
	   "postgresql: the migration computes the usage once from the versions");
	index_free(ix);
}

int main(void)
{
	char dir[] = "/tmp/coffre-test-index.XXXXXX", path[256], cmd[1024];
	const char *src = getenv("COFFRE_SRCDIR");
	char url[256] = "";
	FILE *p;
	int rc;

	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP cannot make a temporary directory\n");
		return 0;
	}
	snprintf(path, sizeof(path), "%s/index.db", dir);
	check_backend("sqlite", path);
	check_sqlite_migration(path);
	/* PostgreSQL runs as another user when we are root: let it in. */
	if (chmod(dir, 0755) < 0)
		diag("cannot open %s to PostgreSQL", dir);

	snprintf(cmd, sizeof(cmd),
		 "sh '%s/tests/lib/pg.sh' start '%s/pg' 2>'%s/pg.err'",
		 src ? src : ".", dir, dir);
	p = popen(cmd, "r");
	if (p && fgets(url, sizeof(url), p))
		url[strcspn(url, "\n")] = '\0';
	rc = p ? pclose(p) : -1;
	if (rc != 0 || !url[0]) {
		char why[512] = "PostgreSQL did not start";
		FILE *e;

		snprintf(path, sizeof(path), "%s/pg.err", dir);
		e = fopen(path, "r");
		if (e && fgets(why, sizeof(why), e))
			why[strcspn(why, "\n")] = '\0';
		if (e)
			fclose(e);
		printf("ok %d # SKIP postgresql: %s\n", ++tap_count, why);
	} else {
		check_backend("postgresql", url);
		check_pg_migration(url);
	}
	snprintf(
		cmd, sizeof(cmd),
		"sh '%s/tests/lib/pg.sh' stop '%s/pg' >/dev/null 2>&1; rm -rf '%s'",
		src ? src : ".", dir, dir);
	if (system(cmd) != 0)
		diag("cannot clean %s", dir);
	return tap_done();
}
