/*
 * The drive's state for `coffre status`: read on the mount root as
 * user.coffre.status, a JSON object (docs/protocol.md, "The drive's
 * control attributes"), so the command needs no other channel to the
 * mount process and any script can read it with getfattr.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "client/store/cache.h"
#include "client/drive/fs_i.h"

/* An RFC 3339 UTC time of a wall-clock ms, or JSON null for 0. */
static json_t *time_json(int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char out[32];

	if (ms <= 0 || !gmtime_r(&s, &tm) ||
	    !strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return json_null();
	return json_string(out);
}

char *fs_status_json(struct fs *fs)
{
	uint64_t queued = 0, bytes = 0, used = 0, max = 0;
	const char *sending = NULL;
	int64_t offline_since, last_sync, last_error_ms;
	int feed_ok = __atomic_load_n(&fs->feed_ok, __ATOMIC_RELAXED);
	json_t *o;
	char *out;
	struct pend *p, *tmp;

	if (fs->cache)
		cache_usage(fs->cache, &used, &max);
	pthread_mutex_lock(&fs->lock);
	HASH_ITER(hh, fs->pends, p, tmp)
	{
		queued++;
		bytes += p->lsize;
		if (!sending && p->inflight && p->op.kind == QUEUE_DEPOSIT)
			sending = p->op.path; /* the first deposit on its way */
	}
	offline_since = fs->offline_since_ms;
	last_sync = fs->last_sync_ms;
	last_error_ms = fs->last_error_ms;
	o = json_pack(
		"{s:s, s:s, s:s, s:b, s:o, s:{s:I, s:I, s:s?}, s:o, s:{s:I, s:I}, s:s, s:o, s:I}",
		"space", fs->space, "server", fs->url ? fs->url : "", "login",
		fs->login ? fs->login : "", "online", feed_ok && !offline_since,
		"offline_since", time_json(offline_since), "queued", "changes",
		(json_int_t)queued, "bytes", (json_int_t)bytes, "sending",
		sending, "last_sync", time_json(last_sync), "cache", "used",
		(json_int_t)used, "max", (json_int_t)max, "last_error",
		fs->last_error, "last_error_at", time_json(last_error_ms),
		"errors", (json_int_t)fs->errors);
	if (o)
		json_object_set_new(
			o, "quota",
			json_pack("{s:b, s:I, s:o, s:o}", "known",
				  fs->quota.known, "bytes",
				  (json_int_t)fs->quota.bytes, "limit",
				  fs->quota.limit ?
					  json_integer(
						  (json_int_t)fs->quota.limit) :
					  json_null(),
				  "held_since",
				  time_json(fs->quota.held_since_ms)));
	pthread_mutex_unlock(&fs->lock);
	if (!o)
		return NULL;
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}
