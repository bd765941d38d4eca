/*
 * The commit batch of POST /v1/spaces/SPACE/commits: the body as http.c
 * reads it (req_body, req_parse_json), then the batch checks of
 * api_commits() and the op parser (parse_op) over every op, which is all
 * the handler does with the bytes before it asks the policy.  What parses
 * names only valid paths, and a deposit only chunks of 1..CHUNK_MAX bytes.
 *
 * A request with no connection: replies are built, and refused by MHD.
 */
#include "server/http.c"
#include "server/api_commits.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_op(const struct ledger_op *op)
{
	if (op->kind == LEDGER_OP_MOVE) {
		if (!op->from || !op->to || path_validate(op->from) < 0 ||
		    path_validate(op->to) < 0)
			abort();
		return;
	}
	if (!op->path || path_validate(op->path) < 0)
		abort();
	for (size_t k = 0; k < op->content.nchunks; k++)
		if (op->content.chunks[k].size < 1 ||
		    op->content.chunks[k].size > CHUNK_MAX)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_route route = { .method = "POST",
						 .name = "commits",
						 .body = HTTP_BODY_JSON };
	struct http_req req = { .route = &route };
	struct batch b = { 0 };
	const char *client;
	json_t *ops, *o;
	size_t i;

	snprintf(req.method, sizeof(req.method), "POST");
	buf_init(&req.body, HTTP_JSON_MAX);
	req_body(&req, (const char *)data, size);
	if (req_parse_json(&req) ||
	    api_json_string(&req, req.json, "client", 0, COMMIT_CLIENT_MAX,
			    &client, -1))
		goto out;
	/* as api_commits(): a non-empty array of at most COMMIT_OPS_MAX */
	ops = json_object_get(req.json, "ops");
	if (!json_is_array(ops) || json_array_size(ops) == 0 ||
	    json_array_size(ops) > COMMIT_OPS_MAX)
		goto out;
	b.nops = json_array_size(ops);
	b.ops = calloc(b.nops, sizeof(*b.ops));
	b.results = calloc(b.nops, sizeof(*b.results));
	if (!b.ops || !b.results) {
		free(b.ops);
		free(b.results);
		goto out;
	}
	for (i = 0; i < b.nops; i++) {
		manifest_init(&b.ops[i].content);
		manifest_init(&b.results[i].manifest);
	}
	json_array_foreach(ops, i, o)
	{
		if (parse_op(&req, o, (long)i, &b.ops[i]))
			break;
		check_op(&b.ops[i]);
	}
	batch_release(&b);
out:
	json_decref(req.json);
	buf_release(&req.body);
	return 0;
}
