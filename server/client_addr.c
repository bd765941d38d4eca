/*
 * The client's address and the trusted proxies (see client_addr.h).
 * X-Forwarded-For is walked from its right end, one entry at a time, and
 * only as far as the client's entry: whatever lies to the left of it was
 * written by the client, is never parsed, and so cannot make the walk
 * fail or cost more than CLIENT_ADDR_HOPS_MAX + 1 entries.
 */
#include "server/client_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/err.h"

static const uint8_t v4_mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* An IPv4-mapped IPv6 address is its IPv4 address: one client, one key. */
static void set_v6(struct client_addr *out, const uint8_t b[16])
{
	memset(out, 0, sizeof(*out));
	if (!memcmp(b, v4_mapped, sizeof(v4_mapped))) {
		out->family = 4;
		memcpy(out->bytes, b + 12, 4);
	} else {
		out->family = 6;
		memcpy(out->bytes, b, 16);
	}
}

/* A numeric address, no brackets, no port, no zone: 0 or -EINVAL. */
static int parse_numeric(struct client_addr *out, const char *s)
{
	uint8_t b[16];

	if (inet_pton(AF_INET, s, b) == 1) {
		memset(out, 0, sizeof(*out));
		out->family = 4;
		memcpy(out->bytes, b, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, b) == 1) {
		set_v6(out, b);
		return 0;
	}
	return -EINVAL;
}

/* ":PORT" after an address: 1 to 5 digits, at most 65535. */
static int port_ok(const char *s)
{
	unsigned long v = 0;
	size_t n;

	if (*s++ != ':')
		return 0;
	for (n = 0; s[n]; n++) {
		if (s[n] < '0' || s[n] > '9' || n == 5)
			return 0;
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	return n > 0 && v <= 65535;
}

int client_addr_parse_entry(struct client_addr *out, const char *s, size_t len)
{
	char text[CLIENT_ADDR_ENTRY_MAX + 1];
	char *colon;

	while (len && is_blank(*s)) {
		s++;
		len--;
	}
	while (len && is_blank(s[len - 1]))
		len--;
	if (len == 0 || len > CLIENT_ADDR_ENTRY_MAX || memchr(s, '\0', len))
		return -EINVAL;
	memcpy(text, s, len);
	text[len] = '\0';
	if (text[0] == '[') {
		/* [IPv6] or [IPv6]:PORT */
		char *close = strchr(text, ']');
		struct client_addr a;

		if (!close || (close[1] && !port_ok(close + 1)))
			return -EINVAL;
		*close = '\0';
		if (!strchr(text + 1, ':') || parse_numeric(&a, text + 1) < 0)
			return -EINVAL;
		*out = a;
		return 0;
	}
	colon = strchr(text, ':');
	if (colon && !strchr(colon + 1, ':')) {
		/* IPv4:PORT; a bare IPv6 address has two colons at least,
		 * and its last group cannot be told from a port. */
		uint8_t b[4];

		if (!port_ok(colon))
			return -EINVAL;
		*colon = '\0';
		if (inet_pton(AF_INET, text, b) != 1)
			return -EINVAL;
		memset(out, 0, sizeof(*out));
		out->family = 4;
		memcpy(out->bytes, b, 4);
		return 0;
	}
	return parse_numeric(out, text);
}

void client_addr_from_sockaddr(struct client_addr *out,
			       const struct sockaddr *sa)
{
	memset(out, 0, sizeof(*out));
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		out->family = 4;
		memcpy(out->bytes, &in->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		set_v6(out, in6->sin6_addr.s6_addr);
	}
}

static unsigned full_prefix(const struct client_addr *a)
{
	return a->family == 4 ? 32 : 128;
}

/* Whether the first bits of a and b agree. */
static int same_prefix(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	uint8_t mask;

	if (memcmp(a, b, whole))
		return 0;
	if (!rest)
		return 1;
	mask = (uint8_t)(0xff00u >> rest);
	return (a[whole] & mask) == (b[whole] & mask);
}

int client_nets_contains(const struct client_nets *nets,
			 const struct client_addr *a)
{
	for (unsigned i = 0; i < nets->n; i++)
		if (a->family && nets->v[i].net.family == a->family &&
		    same_prefix(nets->v[i].net.bytes, a->bytes,
				nets->v[i].prefix))
			return 1;
	return 0;
}

/* One entry of trusted_proxies: ADDR or ADDR/PREFIX. */
static int net_parse(struct client_net *out, const char *tok, size_t len)
{
	char text[CLIENT_ADDR_ENTRY_MAX + 1];
	char *slash;
	unsigned long prefix;
	struct client_net n = { 0 };
	int mapped;

	if (len > CLIENT_ADDR_ENTRY_MAX)
		return err_set(-EINVAL,
			       "trusted_proxies: '%.*s...' is too long", 32,
			       tok);
	memcpy(text, tok, len);
	text[len] = '\0';
	slash = strchr(text, '/');
	if (slash)
		*slash = '\0';
	/* ::ffff:a.b.c.d/N becomes a.b.c.d/(N - 96), as the addresses
	 * it is matched against do. */
	mapped = strchr(text, ':') && strchr(text, '.');
	if (parse_numeric(&n.net, text) < 0)
		return err_set(
			-EINVAL,
			"trusted_proxies: '%s' is not a numeric IPv4 or IPv6 address",
			text);
	mapped = mapped && n.net.family == 4;
	prefix = full_prefix(&n.net) + (mapped ? 96 : 0);
	if (slash) {
		char *end;

		if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
			return err_set(-EINVAL,
				       "trusted_proxies: bad prefix in '%s/%s'",
				       text, slash + 1);
		prefix = strtoul(slash + 1, &end, 10);
		if (*end ||
		    prefix > full_prefix(&n.net) + (mapped ? 96u : 0u) ||
		    (mapped && prefix < 96))
			return err_set(-EINVAL,
				       "trusted_proxies: bad prefix in '%s/%s'",
				       text, slash + 1);
	}
	n.prefix = (uint8_t)(prefix - (mapped ? 96 : 0));
	/* 10.0.0.1/8 is a typo for 10.0.0.0/8 or for 10.0.0.1: say so. */
	for (unsigned bit = n.prefix; bit < full_prefix(&n.net); bit++)
		if (n.net.bytes[bit / 8] & (0x80u >> (bit % 8)))
			return err_set(
				-EINVAL,
				"trusted_proxies: '%s/%lu' has bits set past its prefix",
				text, prefix);
	*out = n;
	return 0;
}

int client_nets_parse(struct client_nets *out, const char *text)
{
	struct client_nets nets = { .n = 0 };
	const char *p = text;

	for (;;) {
		size_t len;
		int rc;

		while (*p == ',' || is_blank(*p))
			p++;
		if (!*p)
			break;
		len = strcspn(p, ", \t");
		if (nets.n == CLIENT_ADDR_PROXIES_MAX)
			return err_set(-E2BIG,
				       "trusted_proxies: more than %d entries",
				       CLIENT_ADDR_PROXIES_MAX);
		rc = net_parse(&nets.v[nets.n], p, len);
		if (rc < 0)
			return rc;
		nets.n++;
		p += len;
	}
	*out = nets;
	return 0;
}

static void addr_text(const struct client_addr *a, char *out, size_t outlen)
{
	char text[INET6_ADDRSTRLEN];

	if (!a->family || !inet_ntop(a->family == 4 ? AF_INET : AF_INET6,
				     a->bytes, text, sizeof(text)))
		text[0] = '\0';
	snprintf(out, outlen, "%s", text);
}

void client_nets_format(const struct client_nets *nets, char *out,
			size_t outlen)
{
	size_t used = 0;

	if (outlen)
		out[0] = '\0';
	for (unsigned i = 0; i < nets->n && used < outlen; i++) {
		const struct client_net *n = &nets->v[i];
		char a[INET6_ADDRSTRLEN];
		int w;

		addr_text(&n->net, a, sizeof(a));
		if (n->prefix == full_prefix(&n->net))
			w = snprintf(out + used, outlen - used, "%s%s",
				     i ? ", " : "", a);
		else
			w = snprintf(out + used, outlen - used, "%s%s/%u",
				     i ? ", " : "", a, (unsigned)n->prefix);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

int client_addr_resolve(const struct client_nets *trusted,
			const struct client_addr *peer, const char *const *xff,
			size_t n, struct client_addr *out)
{
	struct client_addr a = *peer;
	unsigned hops = 0;

	*out = *peer;
	if (!client_nets_contains(trusted, peer))
		return 0; /* its X-Forwarded-For, if any, is the client's word */
	/* From the right end of the last line to the left end of the first:
	 * the lines are one comma separated list. */
	for (size_t i = n; i-- > 0;) {
		const char *line = xff[i];
		size_t end = strlen(line), start;

		for (;;) {
			start = end;
			while (start > 0 && line[start - 1] != ',')
				start--;
			if (client_addr_parse_entry(&a, line + start,
						    end - start) < 0)
				return err_set(
					-EPROTO,
					"malformed X-Forwarded-For from the trusted proxy: entry %u from the right is not an IP address",
					hops + 1);
			if (!client_nets_contains(trusted, &a)) {
				*out = a;
				return 0;
			}
			if (++hops > CLIENT_ADDR_HOPS_MAX)
				return err_set(
					-EPROTO,
					"malformed X-Forwarded-For from the trusted proxy: over %d trusted proxies in a row",
					CLIENT_ADDR_HOPS_MAX);
			if (start == 0)
				break;
			end = start - 1;
		}
	}
	*out = a; /* every entry trusted (or none): the left-most */
	return 0;
}

void client_addr_format(const struct client_addr *a, char *out, size_t outlen)
{
	addr_text(a, out, outlen);
}

void client_addr_key(const struct client_addr *a, char *out, size_t outlen)
{
	struct client_addr net = *a;
	char text[INET6_ADDRSTRLEN];

	if (a->family != 6) {
		addr_text(a, out, outlen);
		return;
	}
	memset(net.bytes + 8, 0, 8);
	addr_text(&net, text, sizeof(text));
	snprintf(out, outlen, "%s/64", text);
}
