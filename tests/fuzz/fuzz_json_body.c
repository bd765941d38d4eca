/*
 * The JSON body of every JSON route (server/http.c): the capped
 * accumulator (req_body, fed in two pieces as MHD feeds it), the parse
 * with its object and depth checks (req_parse_json), then the string field
 * checks (api_json_string) with the fields and limits the routes use.  The
 * handlers read their fields with these alone, mixed with index and
 * ledger work, so this is the part of each route that takes the bytes;
 * the commit batch has its own target (fuzz_commit_ops).  The corpus holds
 * one body of each route of docs/protocol.md.
 *
 * A request with no connection: replies are built, and refused by MHD.
 */
#include "server/http.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	const char *key;
	size_t max;
} fields[] = {
	{ "login", LOGIN_MAX_LEN },
	{ "password", AUTH_PASSWORD_MAX },
	{ "client", 128 },
	{ "path", PATH_MAX_LEN },
	{ "role", 16 },
	{ "right", 16 },
	{ "class", 16 },
	{ "csr", 16384 },
	{ "cms", 1u << 20 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_route route = { .method = "POST",
						 .name = "fuzz",
						 .body = HTTP_BODY_JSON };
	struct http_req req = { .route = &route };
	size_t cut = size ? data[0] % (size + 1) : 0;
	const char *s;

	snprintf(req.method, sizeof(req.method), "POST");
	buf_init(&req.body, HTTP_JSON_MAX);
	req_body(&req, (const char *)data, cut);
	req_body(&req, (const char *)data + cut, size - cut);
	if (req.fail_status)
		abort(); /* far below the cap */
	if (req_parse_json(&req) == 0) {
		if (!json_is_object(req.json))
			abort();
		for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
			if (api_json_string(&req, req.json, fields[i].key, 0,
					    fields[i].max, &s, -1) == 0 &&
			    s && strlen(s) > fields[i].max)
				abort();
	}
	json_decref(req.json);
	buf_release(&req.body);
	return 0;
}
