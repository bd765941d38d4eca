/*
 * The client's address, the one coffred keys everything on (the login
 * throttle, the address of a session, lock events and the per-address
 * connection limit), and the trusted proxies of coffred.conf.
 *
 * The client is the TCP peer, unless the peer is a trusted proxy
 * (trusted_proxies: addresses or CIDR prefixes, none by default).  Then
 * the client is the right-most X-Forwarded-For entry that is not itself a
 * trusted proxy: each proxy appends the address it saw, so the entries to
 * the left of the first untrusted one were written by the client and may be
 * forged.  Several X-Forwarded-For lines are one list, in order (RFC 9110
 * section 5.3).  The rule for a trusted peer (docs/protocol.md, Login):
 *   - no X-Forwarded-For line: the peer itself is the client (a request the
 *     proxy makes on its own, such as a health check);
 *   - every entry trusted: the left-most entry is the client;
 *   - an entry examined on the way (from the right up to and including the
 *     client's) that is not an address, or more than
 *     CLIENT_ADDR_HOPS_MAX trusted entries in a row: the request is
 *     refused (-EPROTO, 400), since falling back to the peer would pool
 *     every client of the proxy in one throttle bucket, and taking any
 *     other entry would trust what the client wrote.
 * A peer that is not a trusted proxy: its X-Forwarded-For is ignored.
 *
 * An entry is an IPv4 address or an IPv6 one, either bare or bracketed,
 * either with a port ("192.0.2.1:4711", "[2001:db8::1]:4711"); blanks
 * around it are allowed.  An IPv4-mapped IPv6 address (::ffff:192.0.2.1)
 * is that IPv4 address, wherever it is met.
 *
 * Pure functions: no I/O, no allocation, safe from any thread.
 */
#ifndef COFFRE_SERVER_CLIENT_ADDR_H
#define COFFRE_SERVER_CLIENT_ADDR_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

#define CLIENT_ADDR_PROXIES_MAX 32 /* entries of trusted_proxies */
#define CLIENT_ADDR_HOPS_MAX	16 /* trusted entries skipped at most */
#define CLIENT_ADDR_ENTRY_MAX	64 /* bytes of one entry, blanks aside */
#define CLIENT_ADDR_TEXT_MAX	64 /* formatted address, with the NUL */

/* An IPv4 (family 4) or IPv6 (family 6) address; family 0: unknown. */
struct client_addr {
	uint8_t family;
	uint8_t bytes[16]; /* IPv4 in the first 4 */
};

/* A CIDR prefix: the addresses whose first prefix bits are those of net. */
struct client_net {
	struct client_addr net;
	uint8_t prefix; /* 0..32 or 0..128 */
};

struct client_nets {
	struct client_net v[CLIENT_ADDR_PROXIES_MAX];
	unsigned n;
};

/*
 * Parse a comma or blank separated list of addresses and CIDR prefixes
 * ("127.0.0.1, 10.0.0.0/8 ::1 fd00::/8") into *out; "" is the empty list.
 * A prefix with host bits set (10.0.0.1/8) is refused, as a likely typo.
 * 0, or -EINVAL (err_set naming the entry) with *out unchanged;
 * -E2BIG over CLIENT_ADDR_PROXIES_MAX entries.
 */
int client_nets_parse(struct client_nets *out, const char *text);

/* The list as client_nets_parse() reads it, ", " between entries. */
void client_nets_format(const struct client_nets *nets, char *out,
			size_t outlen);

/* Whether a is in one of the prefixes (never for family 0). */
int client_nets_contains(const struct client_nets *nets,
			 const struct client_addr *a);

/* The address of an AF_INET or AF_INET6 socket address (NULL: unknown). */
void client_addr_from_sockaddr(struct client_addr *out,
			       const struct sockaddr *sa);

/*
 * Parse one X-Forwarded-For entry (len bytes at s, blanks around it
 * allowed).  0 or -EINVAL.
 */
int client_addr_parse_entry(struct client_addr *out, const char *s, size_t len);

/*
 * The client of a request from peer carrying the n X-Forwarded-For lines
 * xff[0..n-1] (in the order received; n may be 0), by the rule above.  0
 * with *out set, or -EPROTO with err_set() saying what is wrong.
 */
int client_addr_resolve(const struct client_nets *trusted,
			const struct client_addr *peer, const char *const *xff,
			size_t n, struct client_addr *out);

/* "192.0.2.1", "2001:db8::1"; "" when unknown. */
void client_addr_format(const struct client_addr *a, char *out, size_t outlen);

/*
 * The address as a throttle and session key: an IPv4 address, or the /64
 * of an IPv6 one ("2001:db8::/64": a host holds a whole /64, so one key per
 * address would slow nobody); "" when unknown.
 */
void client_addr_key(const struct client_addr *a, char *out, size_t outlen);

#endif /* COFFRE_SERVER_CLIENT_ADDR_H */
