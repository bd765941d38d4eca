/*
 * The client address behind trusted proxies (server/client_addr.c) and the
 * per-address connection limit that exempts them (server/conn_limit.c).
 * X-Forwarded-For is what a client behind a proxy controls, so the rows
 * are mostly hostile: forged entries on the left, garbage on the right,
 * a header of a thousand entries, a 100 KB entry, IPv6 with brackets,
 * ports and zones, blanks, too many trusted hops; then seeded random
 * headers that must only ever give the peer, an address they hold, or a
 * clear refusal.
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
#include "server/conn_limit.h"
#include "tests/lib/tap.h"

static struct client_addr addr(const char *text)
{
	struct client_addr a;

	if (client_addr_parse_entry(&a, text, strlen(text)) < 0) {
		printf("# bad test address '%s'\n", text);
		exit(1);
	}
	return a;
}

static struct client_nets nets(const char *text)
{
	struct client_nets n;

	if (client_nets_parse(&n, text) < 0) {
		printf("# bad test list '%s': %s\n", text, err_msg());
		exit(1);
	}
	return n;
}

/*
 * The client of a request from peer with the given X-Forwarded-For lines,
 * as text, or "EPROTO" when refused.
 */
static const char *resolve(const char *trusted, const char *peer,
			   const char *const *lines, size_t n)
{
	static char out[CLIENT_ADDR_TEXT_MAX];
	struct client_nets t = nets(trusted);
	struct client_addr p = addr(peer), c;

	if (client_addr_resolve(&t, &p, lines, n, &c) < 0)
		return "EPROTO";
	client_addr_format(&c, out, sizeof(out));
	return out;
}

static const char *resolve1(const char *trusted, const char *peer,
			    const char *line)
{
	return resolve(trusted, peer, &line, 1);
}

/* s with every byte outside printable ASCII as \xNN, into out. */
static void printable(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s && o + 5 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

static void test_client_addr_resolve(void)
{
	static const struct {
		const char *trusted, *peer, *xff, *want;
	} rows[] = {
		/* The rule. */
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7", "203.0.113.7" },
		{ "127.0.0.1", "127.0.0.1", "1.1.1.1, 203.0.113.7",
		  "203.0.113.7" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7, 127.0.0.1",
		  "203.0.113.7" },
		{ "127.0.0.1", "127.0.0.1", "9.9.9.9,203.0.113.7,127.0.0.1",
		  "203.0.113.7" },
		{ "127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1" },
		{ "127.0.0.1", "127.0.0.1", "127.0.0.1, 127.0.0.1",
		  "127.0.0.1" },
		/* Left of the client: never parsed, whatever it holds. */
		{ "127.0.0.1", "127.0.0.1", "garbage, 203.0.113.7",
		  "203.0.113.7" },
		{ "127.0.0.1", "127.0.0.1", ",,,[[[, 203.0.113.7",
		  "203.0.113.7" },
		/* An untrusted peer: its header is the client's word. */
		{ "127.0.0.1", "198.51.100.9", "203.0.113.7", "198.51.100.9" },
		{ "127.0.0.1", "198.51.100.9", "127.0.0.1", "198.51.100.9" },
		{ "127.0.0.1", "198.51.100.9", "garbage", "198.51.100.9" },
		{ "", "127.0.0.1", "203.0.113.7", "127.0.0.1" },
		{ "", "127.0.0.1", "", "127.0.0.1" },
		/* Prefixes, IPv6, mapped addresses. */
		{ "10.0.0.0/8, fd00::/8", "10.1.2.3", "203.0.113.7, 10.9.9.9",
		  "203.0.113.7" },
		{ "10.0.0.0/8, fd00::/8", "fd12::1", "2001:db8::5",
		  "2001:db8::5" },
		{ "10.0.0.0/8, fd00::/8", "10.1.2.3", "2001:db8::5, fd00::1",
		  "2001:db8::5" },
		{ "10.0.0.0/8", "::ffff:10.1.2.3", "203.0.113.7",
		  "203.0.113.7" },
		{ "::ffff:10.0.0.0/104", "10.1.2.3", "203.0.113.7",
		  "203.0.113.7" },
		{ "127.0.0.1", "127.0.0.1", "::ffff:203.0.113.7",
		  "203.0.113.7" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7, ::ffff:127.0.0.1",
		  "203.0.113.7" },
		{ "10.0.0.0/8", "11.0.0.1", "203.0.113.7", "11.0.0.1" },
		/* Entry forms and blanks. */
		{ "127.0.0.1", "127.0.0.1", "  203.0.113.7  ", "203.0.113.7" },
		{ "127.0.0.1", "127.0.0.1", "\t203.0.113.7\t", "203.0.113.7" },
		{ "127.0.0.1", "127.0.0.1", "1.1.1.1 ,  203.0.113.7 ",
		  "203.0.113.7" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7:4711", "203.0.113.7" },
		{ "127.0.0.1", "127.0.0.1", "[2001:db8::1]:4711",
		  "2001:db8::1" },
		{ "127.0.0.1", "127.0.0.1", "[2001:db8::1]", "2001:db8::1" },
		{ "127.0.0.1", "127.0.0.1", " [2001:DB8::1] ", "2001:db8::1" },
		{ "127.0.0.1", "127.0.0.1", "2001:db8::1", "2001:db8::1" },
		/* Bare IPv6 and a port cannot be told apart: an address. */
		{ "127.0.0.1", "127.0.0.1", "2001:db8::1:4711",
		  "2001:db8::1:4711" },
		/* Malformed from a trusted proxy: refused. */
		{ "127.0.0.1", "127.0.0.1", "", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "   ", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "unknown", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7,", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7, 127.0.0.1, ",
		  "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7 198.51.100.1",
		  "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7;198.51.100.1",
		  "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "1.2.3.4.5", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "0x7f.0.0.1", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "127.1", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7:", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7:99999", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7:123456", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7:80x", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "[2001:db8::1", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "[2001:db8::1]x", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "[2001:db8::1]:", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "[2001:db8::1]:65536", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "[203.0.113.7]", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "[]", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "fe80::1%eth0", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "2001:db8:::1", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "\"203.0.113.7\"", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "for=203.0.113.7", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7\r\n", "EPROTO" },
		{ "127.0.0.1", "127.0.0.1", "203.0.113.7\x80", "EPROTO" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char shown[128];

		/* A CR, LF or high byte in a test's name would break the
		 * TAP line it is printed on: shown as \xNN. */
		printable(rows[i].xff, shown, sizeof(shown));
		is_str(resolve1(rows[i].trusted, rows[i].peer, rows[i].xff),
		       rows[i].want,
		       "trusted '%s', peer %s, X-Forwarded-For '%s'",
		       rows[i].trusted, rows[i].peer, shown);
	}
}

static void test_client_addr_lines(void)
{
	const char *none[1] = { NULL };
	const char *two[] = { "1.1.1.1", "203.0.113.7" };
	const char *across[] = { "203.0.113.7", "127.0.0.1" };
	const char *forged_first[] = { "203.0.113.66, 127.0.0.1",
				       "198.51.100.4" };
	const char *empty_last[] = { "203.0.113.7", "" };
	struct client_nets t = nets("127.0.0.1");
	struct client_addr p = addr("127.0.0.1"), c;

	is_str(resolve("127.0.0.1", "127.0.0.1", none, 0), "127.0.0.1",
	       "no X-Forwarded-For from a trusted proxy: the proxy itself");
	is_str(resolve("127.0.0.1", "127.0.0.1", two, 2), "203.0.113.7",
	       "two lines are one list: the last line's entry");
	is_str(resolve("127.0.0.1", "127.0.0.1", across, 2), "203.0.113.7",
	       "the walk goes on into the line before");
	is_str(resolve("127.0.0.1", "127.0.0.1", forged_first, 2),
	       "198.51.100.4",
	       "a forged line before the proxy's is never reached");
	is_str(resolve("127.0.0.1", "127.0.0.1", empty_last, 2), "EPROTO",
	       "an empty last line is malformed");
	err_clear();
	is_int(client_addr_resolve(&t, &p, empty_last, 2, &c), -EPROTO,
	       "the refusal is -EPROTO");
	ok(strstr(err_msg(), "malformed X-Forwarded-For") != NULL,
	   "with a message that says why (%s)", err_msg());
}

/* Hostile sizes: bounded work, the right answers. */
static void test_client_addr_huge(void)
{
	size_t cap = 2000 * 16 + 64, len = 0;
	char *big = malloc(cap), *junk = malloc(100001);
	char line[CLIENT_ADDR_HOPS_MAX * 16 + 64];
	int n;

	if (!big || !junk) {
		ok(0, "allocate");
		return;
	}
	for (int i = 0; i < 2000; i++)
		len += (size_t)snprintf(big + len, cap - len, "10.%d.%d.1, ",
					i / 250, i % 250);
	snprintf(big + len, cap - len, "203.0.113.7");
	is_str(resolve1("127.0.0.1", "127.0.0.1", big), "203.0.113.7",
	       "2001 entries: the right-most untrusted one");
	memset(junk, 'A', 100000);
	junk[100000] = '\0';
	is_str(resolve1("127.0.0.1", "127.0.0.1", junk), "EPROTO",
	       "a 100 KB entry on the right is refused");
	memcpy(junk + 100000 - 13, ",203.0.113.7", 13);
	is_str(resolve1("127.0.0.1", "127.0.0.1", junk), "203.0.113.7",
	       "100 KB of junk on the left is never read");

	/* CLIENT_ADDR_HOPS_MAX trusted entries to skip, then one more. */
	n = snprintf(line, sizeof(line), "203.0.113.7");
	for (int i = 0; i < CLIENT_ADDR_HOPS_MAX - 1; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n,
			      ", 127.0.0.1");
	is_str(resolve1("127.0.0.1", "127.0.0.1", line), "203.0.113.7",
	       "%d trusted entries are skipped", CLIENT_ADDR_HOPS_MAX - 1);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ", 127.0.0.1");
	is_str(resolve1("127.0.0.1", "127.0.0.1", line), "203.0.113.7",
	       "%d trusted entries are skipped", CLIENT_ADDR_HOPS_MAX);
	snprintf(line + n, sizeof(line) - (size_t)n, ", 127.0.0.1");
	is_str(resolve1("127.0.0.1", "127.0.0.1", line), "EPROTO",
	       "%d are a loop or a lie: refused", CLIENT_ADDR_HOPS_MAX + 1);
	free(big);
	free(junk);
}

/*
 * A model of the walk, written apart: split the whole line at every comma,
 * then take the entries from the right.  -EPROTO or 0 with *out.
 */
static int model(const struct client_nets *t, const char *line,
		 struct client_addr *out)
{
	const char *ends[128];
	size_t n = 0, hops = 0;
	const char *p = line;

	for (;;) {
		const char *c = strchr(p, ',');

		if (n == 128)
			return -2; /* not met: lines are short */
		ends[n++] = p;
		if (!c)
			break;
		p = c + 1;
	}
	for (size_t i = n; i-- > 0;) {
		const char *e = strchr(ends[i], ',');
		size_t len = e ? (size_t)(e - ends[i]) : strlen(ends[i]);

		if (client_addr_parse_entry(out, ends[i], len) < 0)
			return -EPROTO;
		if (!client_nets_contains(t, out))
			return 0;
		if (++hops > CLIENT_ADDR_HOPS_MAX)
			return -EPROTO;
	}
	return 0;
}

/* Seeded random headers: the walk agrees with the model. */
static void test_client_addr_random(void)
{
	static const char alphabet[] = "0123456789abcdef.:,[] \t%x";
	struct client_nets t = nets("127.0.0.1, 10.0.0.0/8");
	struct client_addr p = addr("127.0.0.1"), c, m;
	unsigned seed = 20261204, bad = 0, refused = 0, found = 0;
	char line[80];

	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(rand_r(&seed) % (int)(sizeof(line) - 1));
		const char *l = line;
		int rc, want;

		for (size_t i = 0; i < len; i++)
			line[i] = alphabet[rand_r(&seed) %
					   (int)(sizeof(alphabet) - 1)];
		line[len] = '\0';
		/* Often a good tail, so the walk gets past the right end. */
		if (round % 3 == 0)
			snprintf(line + len / 2, sizeof(line) - len / 2,
				 ", 203.0.%d.7, 10.0.0.1", round % 256);
		rc = client_addr_resolve(&t, &p, &l, 1, &c);
		want = model(&t, line, &m);
		if (rc != want || (rc == 0 && memcmp(&c, &m, sizeof(c)))) {
			if (bad++ < 5)
				diag("seed 20261204 round %d: '%s' gives %d, the model %d",
				     round, line, rc, want);
		}
		if (rc == 0)
			found++;
		else
			refused++;
	}
	is_int(bad, 0,
	       "20000 seeded random headers: the walk agrees with a model (%u found, %u refused)",
	       found, refused);
	ok(found > 1000 && refused > 1000, "and both outcomes were met");
}

static void test_client_nets_parse(void)
{
	static const struct {
		const char *text, *want; /* want NULL: refused */
	} rows[] = {
		{ "", "" },
		{ "  ,, ", "" },
		{ "127.0.0.1", "127.0.0.1" },
		{ "127.0.0.1/32", "127.0.0.1" },
		{ "127.0.0.1, 10.0.0.0/8 ::1\tfd00::/8",
		  "127.0.0.1, 10.0.0.0/8, ::1, fd00::/8" },
		{ ",127.0.0.1,,192.168.0.0/16,", "127.0.0.1, 192.168.0.0/16" },
		{ "0.0.0.0/0", "0.0.0.0/0" },
		{ "::/0", "::/0" },
		{ "::ffff:10.0.0.0/104", "10.0.0.0/8" },
		{ "::ffff:127.0.0.1", "127.0.0.1" },
		{ "2001:DB8::/32", "2001:db8::/32" },
		{ "localhost", NULL },
		{ "10.0.0.1/8", NULL },
		{ "10.0.0.0/33", NULL },
		{ "10.0.0.0/", NULL },
		{ "10.0.0.0/-1", NULL },
		{ "10.0.0.0/8/8", NULL },
		{ "10.0.0.0/08x", NULL },
		{ "::1/129", NULL },
		{ "fd00::1/8", NULL },
		{ "::ffff:10.0.0.0/64", NULL },
		{ "[::1]", NULL },
		{ "1.2.3.4:80", NULL },
		{ "127.0.0.1; 10.0.0.1", NULL },
		{ "127.1", NULL },
		{ "fe80::1%lo", NULL },
	};
	struct client_nets n, keep = nets("192.0.2.1");
	char text[1024], many[33 * 12 + 1];
	size_t len = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		n = keep;
		if (!rows[i].want) {
			int rc;

			err_clear();
			rc = client_nets_parse(&n, rows[i].text);
			is_int(rc, -EINVAL,
			       "trusted_proxies '%s' is refused (%s)",
			       rows[i].text, err_msg());
			ok(n.n == 1 && !memcmp(&n, &keep, sizeof(n)),
			   "and the list is unchanged");
			continue;
		}
		is_int(client_nets_parse(&n, rows[i].text), 0,
		       "trusted_proxies '%s' parses", rows[i].text);
		client_nets_format(&n, text, sizeof(text));
		is_str(text, rows[i].want, "and reads back as written");
	}
	err_clear();
	client_nets_parse(&n, "127.0.0.1, localhost");
	ok(strstr(err_msg(), "'localhost'") != NULL,
	   "the message names the bad entry (%s)", err_msg());
	for (int i = 0; i < 33; i++)
		len += (size_t)snprintf(many + len, sizeof(many) - len,
					"10.0.0.%d ", i);
	is_int(client_nets_parse(&n, many), -E2BIG, "33 entries: too many");
	many[len - 10] = '\0'; /* 32 of them */
	is_int(client_nets_parse(&n, many), 0, "32 entries: fine");
	is_int(n.n, 32, "all 32 kept");
}

static void test_client_addr_key(void)
{
	struct client_addr a = addr("2001:db8:1:2:3:4:5:6"), none = { 0 };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	char out[CLIENT_ADDR_TEXT_MAX];

	client_addr_key(&a, out, sizeof(out));
	is_str(out, "2001:db8:1:2::/64", "an IPv6 key is its /64");
	a = addr("203.0.113.7");
	client_addr_key(&a, out, sizeof(out));
	is_str(out, "203.0.113.7", "an IPv4 key is the address");
	client_addr_key(&none, out, sizeof(out));
	is_str(out, "", "an unknown address has no key");

	inet_pton(AF_INET6, "::ffff:198.51.100.3", &s6.sin6_addr);
	client_addr_from_sockaddr(&a, (struct sockaddr *)&s6);
	client_addr_key(&a, out, sizeof(out));
	is_str(out, "198.51.100.3",
	       "an IPv4-mapped peer is its IPv4 address, not ::/64");
	inet_pton(AF_INET, "127.0.0.2", &s4.sin_addr);
	client_addr_from_sockaddr(&a, (struct sockaddr *)&s4);
	client_addr_format(&a, out, sizeof(out));
	is_str(out, "127.0.0.2", "an IPv4 peer");
	client_addr_from_sockaddr(&a, NULL);
	is_int(a.family, 0, "no peer: unknown");
}

static void test_conn_limit(void)
{
	struct client_nets t = nets("127.0.0.1");
	struct client_addr proxy = addr("127.0.0.1"), x = addr("198.51.100.1"),
			   y = addr("198.51.100.2"), z = addr("198.51.100.3");
	struct conn_limit *lim;
	int64_t now = 1000000;
	int all = 1;

	if (conn_limit_new(&lim, &t, 2, 2) < 0) { /* 4 slots */
		ok(0, "conn_limit_new");
		return;
	}
	ok(conn_limit_admit(lim, &x, now) && conn_limit_opened(lim, &x),
	   "a first connection from an address is let in and counted");
	ok(conn_limit_admit(lim, &x, now) && conn_limit_opened(lim, &x),
	   "a second one too");
	ok(!conn_limit_admit(lim, &x, now), "a third is refused (limit 2)");
	ok(conn_limit_admit(lim, &y, now), "another address is let in");
	conn_limit_closed(lim, &x);
	ok(conn_limit_admit(lim, &x, now),
	   "once one closes, the address may again");
	ok(conn_limit_opened(lim, &x), "(it starts)");
	for (int i = 0; i < 100; i++)
		all = all && conn_limit_admit(lim, &proxy, now) &&
		      !conn_limit_opened(lim, &proxy);
	ok(all, "a trusted proxy is let in 100 times and never counted");
	is_int(conn_limit_count(lim, &proxy), 0, "it holds no slot");

	/* A burst: admissions from several threads before any starts. */
	ok(conn_limit_admit(lim, &z, now) && conn_limit_admit(lim, &z, now),
	   "two admissions of a burst");
	ok(!conn_limit_admit(lim, &z, now),
	   "a third is refused before either started");
	ok(conn_limit_opened(lim, &z), "the first starts");
	/* The second failed before it started: its place comes back. */
	ok(!conn_limit_admit(lim, &z, now + CONN_LIMIT_PENDING_MS),
	   "a failed admission holds its place for a moment");
	ok(conn_limit_admit(lim, &z, now + CONN_LIMIT_PENDING_MS + 1),
	   "then gives it back");
	is_int(conn_limit_count(lim, &z), 2, "z: one open, one admitted");

	conn_limit_closed(lim, &x);
	conn_limit_closed(lim, &x);
	is_int(conn_limit_count(lim, &x), 0, "closed connections leave 0");
	conn_limit_closed(lim, &x);
	is_int(conn_limit_count(lim, &x), 0, "a stray close changes nothing");
	{
		struct client_addr v = addr("198.51.100.4"),
				   w = addr("198.51.100.5");

		/* y (admitted), z and v fill 3 of 4 slots, w the fourth. */
		ok(conn_limit_admit(lim, &v, now) &&
			   conn_limit_admit(lim, &w, now),
		   "the table fills");
		ok(conn_limit_admit(lim, &x, now),
		   "past the table a connection is let in uncounted");
		ok(conn_limit_admit(lim, &x, now) &&
			   conn_limit_admit(lim, &x, now),
		   "not refused: the total limit still holds");
		ok(conn_limit_admit(lim, &x,
				    now + 10 * CONN_LIMIT_PENDING_MS) &&
			   conn_limit_opened(lim, &x) &&
			   conn_limit_count(lim, &x) == 1,
		   "once admissions expire, the sweep frees their slots");
	}
	conn_limit_free(lim);
	conn_limit_free(NULL);
}

/* A reload changes the trusted proxies under open connections. */
static void test_conn_limit_reload(void)
{
	struct client_nets t = nets("127.0.0.1"), none = nets(""),
			   other = nets("198.51.100.0/24");
	struct client_addr proxy = addr("127.0.0.1"), x = addr("198.51.100.1");
	struct conn_limit *lim;
	int64_t now = 1000000;

	if (conn_limit_new(&lim, &t, 1, 8) < 0) {
		ok(0, "conn_limit_new");
		return;
	}
	ok(conn_limit_admit(lim, &proxy, now) &&
		   !conn_limit_opened(lim, &proxy),
	   "the trusted proxy is exempt");
	t = nets("10.0.0.0/8"); /* the caller's list is copied */
	ok(conn_limit_admit(lim, &proxy, now) &&
		   !conn_limit_opened(lim, &proxy),
	   "and stays so when the caller's list changes");
	conn_limit_set_trusted(lim, &none);
	ok(conn_limit_admit(lim, &proxy, now) && conn_limit_opened(lim, &proxy),
	   "no proxies trusted: its next connection is counted");
	ok(!conn_limit_admit(lim, &proxy, now), "and limited (1)");
	ok(conn_limit_admit(lim, &x, now) && conn_limit_opened(lim, &x),
	   "x is counted");
	conn_limit_set_trusted(lim, &other);
	ok(conn_limit_admit(lim, &x, now) && !conn_limit_opened(lim, &x),
	   "x trusted now: exempt past its limit");
	is_int(conn_limit_count(lim, &x), 1,
	       "its connection from before is still counted");
	conn_limit_closed(lim, &x);
	is_int(conn_limit_count(lim, &x), 0, "until it closes");
	ok(conn_limit_admit(lim, &proxy, now + 10 * CONN_LIMIT_PENDING_MS) == 0,
	   "127.0.0.1 is still limited under the new list");
	conn_limit_free(lim);
}

int main(void)
{
	test_client_addr_resolve();
	test_client_addr_lines();
	test_client_addr_huge();
	test_client_addr_random();
	test_client_nets_parse();
	test_client_addr_key();
	test_conn_limit();
	test_conn_limit_reload();
	return tap_done();
}
