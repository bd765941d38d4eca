/*
 * X-Forwarded-For as a trusted proxy forwards it (server/client_addr.c):
 * the input, cut at each newline, is the request's header lines, from a
 * peer that is a trusted proxy.  The answer is a client address or a
 * refusal (-EPROTO), never anything else.  The first line is also read
 * as a trusted_proxies list: one that parses reads back to itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/client_addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LINES_MAX (CLIENT_ADDR_HOPS_MAX + 2)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *p, text[CLIENT_ADDR_TEXT_MAX];
	char list[CLIENT_ADDR_PROXIES_MAX * (CLIENT_ADDR_TEXT_MAX + 6)];
	const char *lines[LINES_MAX];
	struct client_nets trusted, nets, again;
	struct client_addr peer, out;
	size_t n = 0;
	int rc;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (client_nets_parse(&trusted, "127.0.0.1, 10.0.0.0/8, fd00::/8") ||
	    client_addr_parse_entry(&peer, "127.0.0.1", 9))
		abort();
	for (p = s; p && n < LINES_MAX; n++) {
		lines[n] = p;
		p = strchr(p, '\n');
		if (p)
			*p++ = '\0';
	}
	rc = client_addr_resolve(&trusted, &peer, lines, n, &out);
	if (rc != 0 && rc != -EPROTO)
		abort();
	if (rc == 0 && out.family != 4 && out.family != 6)
		abort();
	client_addr_format(&out, text, sizeof(text));
	client_addr_key(&out, text, sizeof(text));

	if (n && client_nets_parse(&nets, lines[0]) == 0) {
		client_nets_format(&nets, list, sizeof(list));
		if (client_nets_parse(&again, list) || again.n != nets.n ||
		    memcmp(again.v, nets.v, nets.n * sizeof(nets.v[0])))
			abort();
	}
	free(s);
	return 0;
}
