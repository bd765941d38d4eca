/*
 * The event journal as a hash chain in the index (see events.h).  The hash of
 * a row covers its predecessor's hash, so a row changed, removed or
 * inserted later breaks every hash after it; events_verify_chain() finds
 * the first such row.  The chain head lives in the table itself: the last
 * row by seq, read inside the appending transaction under the chain's
 * lock.
 */
#include "server/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "server/index.h"

static const char *chain(const char *space)
{
	return space ? space : "";
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* hash = SHA-256(prev || canonical JSON of the row's other fields). */
static int row_hash(const char *space, uint64_t seq, int64_t at,
		    const char *login, const char *kind, const char *path,
		    const char *doc_id, uint64_t version, const char *detail,
		    const struct obj_id *prev, struct obj_id *out)
{
	struct hash_ctx *h = NULL;
	json_t *j;
	char *s;
	int rc;

	j = json_pack("{s:s, s:I, s:I, s:o, s:s, s:o, s:o, s:o, s:o}", "space",
		      chain(space), "seq", (json_int_t)seq, "at",
		      (json_int_t)at, "login", str_or_null(login), "kind", kind,
		      "path", str_or_null(path), "doc_id", str_or_null(doc_id),
		      "version",
		      version ? json_integer((json_int_t)version) : json_null(),
		      "detail", str_or_null(detail));
	if (!j)
		return err_set(-EINVAL, "events: cannot encode a row");
	s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(j);
	if (!s)
		return -ENOMEM;
	rc = hash_new(&h);
	if (rc == 0) {
		hash_update(h, prev->b, sizeof(prev->b));
		hash_update(h, s, strlen(s));
		hash_final(h, out);
		hash_free(h);
	}
	free(s);
	return rc;
}

static int head_of(struct index *ix, struct index_txn *tx, const char *space,
		   uint64_t *seq, struct obj_id *hash)
{
	char hex[OBJ_ID_HEX_LEN + 1];
	int rc;

	memset(hash, 0, sizeof(*hash));
	rc = index_event_head(ix, tx, chain(space), seq, hex);
	if (rc == 0 && *seq && obj_id_from_hex(hash, hex) < 0)
		rc = err_set(-EBADMSG, "events: bad hash at seq %llu",
			     (unsigned long long)*seq);
	return rc;
}

/* The chain's lock, its head, the row: two appends never share a seq. */
static int append_row(struct index *ix, struct index_txn *tx, const char *space,
		      const char *login, int64_t at,
		      const struct index_event *ev, uint64_t *out)
{
	struct obj_id prev, hash;
	char prev_hex[OBJ_ID_HEX_LEN + 1], hash_hex[OBJ_ID_HEX_LEN + 1];
	struct events_row r;
	uint64_t seq;
	int rc;

	rc = index_lock_space(ix, tx, chain(space));
	if (rc == 0)
		rc = head_of(ix, tx, space, &seq, &prev);
	if (rc < 0)
		return rc;
	seq++;
	rc = row_hash(space, seq, at, login, ev->kind, ev->path, ev->doc_id,
		      ev->version, ev->detail, &prev, &hash);
	if (rc < 0)
		return rc;
	obj_id_to_hex(&prev, prev_hex);
	obj_id_to_hex(&hash, hash_hex);
	r = (struct events_row){ .seq = seq,
				 .at = at,
				 .login = login,
				 .kind = ev->kind,
				 .path = ev->path,
				 .doc_id = ev->doc_id,
				 .detail = ev->detail,
				 .version = ev->version,
				 .prev_hash = prev_hex,
				 .hash = hash_hex };
	rc = index_event_insert(ix, tx, chain(space), &r);
	if (rc == 0 && out)
		*out = seq;
	return rc;
}

int events_append(struct index *ix, const char *space, const char *login,
		  int64_t at, const struct index_event *ev, uint64_t *seq)
{
	struct index_txn *tx;
	int rc;

	if (!ev || !ev->kind)
		return err_set(-EINVAL, "events: an event needs a kind");
	/* Joins the caller's transaction when one is open (index.h). */
	rc = index_begin(ix, &tx);
	if (rc < 0)
		return rc;
	rc = append_row(ix, tx, space, login, at, ev, seq);
	if (rc == 0)
		return index_commit(ix, tx);
	index_rollback(ix, tx);
	return rc;
}

int events_chain_head(struct index *ix, const char *space, uint64_t *seq,
		      struct obj_id *hash)
{
	return head_of(ix, NULL, space, seq, hash);
}

struct verify {
	const char *space;
	struct obj_id prev;
	uint64_t expect, *bad_seq;
};

static int verify_row(const struct events_row *r, void *arg)
{
	struct verify *v = arg;
	struct obj_id row_prev, want, got;
	int rc;

	/* A gap in seq is a removed row. */
	if (r->seq != v->expect || !r->prev_hash || !r->hash ||
	    obj_id_from_hex(&row_prev, r->prev_hash) < 0 ||
	    obj_id_cmp(&row_prev, &v->prev) ||
	    obj_id_from_hex(&got, r->hash) < 0) {
		*v->bad_seq = v->expect;
		return -EBADMSG;
	}
	rc = row_hash(v->space, r->seq, r->at, r->login, r->kind, r->path,
		      r->doc_id, r->version, r->detail, &v->prev, &want);
	if (rc < 0)
		return rc;
	if (obj_id_cmp(&want, &got)) {
		*v->bad_seq = r->seq;
		return -EBADMSG;
	}
	v->prev = got;
	v->expect++;
	return 0;
}

int events_verify_chain(struct index *ix, const char *space, uint64_t *bad_seq)
{
	struct verify v = { .space = space, .expect = 1, .bad_seq = bad_seq };
	int rc;

	*bad_seq = 0;
	rc = index_event_chain(ix, chain(space), verify_row, &v);
	if (rc == -EBADMSG)
		err_set(rc, "event chain of '%s' broken at seq %llu",
			chain(space), (unsigned long long)*bad_seq);
	return rc;
}

int events_list(struct index *ix, const char *space, const char *prefix,
		int reads, uint64_t after, size_t limit, events_cb cb,
		void *arg)
{
	return index_events_list(ix, chain(space), prefix, reads, after, limit,
				 cb, arg);
}
