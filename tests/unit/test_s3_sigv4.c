/*
 * SigV4 against AWS's published examples: the "get-vanilla",
 * "get-vanilla-query-order-key-case" and "post-vanilla" cases of the
 * Signature Version 4 test suite (AKIDEXAMPLE, 20150830T123600Z, service
 * "service") and the GET Object example of the S3 documentation
 * (AKIAIOSFODNN7EXAMPLE, examplebucket, 20130524T000000Z).
 *
 * Then what libcurl 7.88 sends with CURLOPT_AWS_SIGV4 and our
 * x-amz-content-sha256 header, caught on a socket that only records the
 * request and answers 200: its Authorization must equal the one computed
 * here over the same method, path, headers and body hash, which is what S3
 * (or RGW) computes to check it.
 */
#include "server/s3_sigv4.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tests/lib/tap.h"

static void vector(const char *title, const char *method, const char *path,
		   const char *query, const struct s3_header *h, size_t nh,
		   const char *payload, const char *want)
{
	struct s3_sigv4_req r = {
		.method = method,
		.path = path,
		.query = query,
		.headers = h,
		.nheaders = nh,
		.payload_hash = payload,
		.access_key = "AKIDEXAMPLE",
		.secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		.region = "us-east-1",
		.service = "service",
		.amz_date = "20150830T123600Z",
	};
	char sig[65];

	is_int(s3_sigv4_signature(&r, sig), 0, "%s: signs", title);
	is_str(sig, want, "%s: AWS's signature", title);
}

static void test_s3_sigv4_suite(void)
{
	static const struct s3_header h[] = {
		{ "Host", "example.amazonaws.com" },
		{ "X-Amz-Date", "20150830T123600Z" },
	};
	char auth[512];
	struct s3_sigv4_req r = {
		.method = "GET",
		.path = "/",
		.query = "",
		.headers = h,
		.nheaders = 2,
		.payload_hash = S3_SHA256_EMPTY,
		.access_key = "AKIDEXAMPLE",
		.secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		.region = "us-east-1",
		.service = "service",
		.amz_date = "20150830T123600Z",
	};

	vector("get-vanilla", "GET", "/", "", h, 2, S3_SHA256_EMPTY,
	       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	vector("get-vanilla-query-order-key-case", "GET", "/",
	       "Param2=value2&Param1=value1", h, 2, S3_SHA256_EMPTY,
	       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
	vector("post-vanilla", "POST", "/", "", h, 2, S3_SHA256_EMPTY,
	       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
	is_int(s3_sigv4_authorization(&r, auth, sizeof(auth)), 0,
	       "get-vanilla: the header");
	is_str(auth,
	       "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	       "get-vanilla: AWS's Authorization header");
	is_int(s3_sigv4_authorization(&r, auth, 40), -E2BIG,
	       "a header that does not fit is refused");
}

static void test_s3_sigv4_get_object(void)
{
	static const struct s3_header h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Range", "bytes=0-9" },
		{ "x-amz-content-sha256", S3_SHA256_EMPTY },
		{ "x-amz-date", "20130524T000000Z" },
	};
	struct s3_sigv4_req r = {
		.method = "GET",
		.path = "/test.txt",
		.query = "",
		.headers = h,
		.nheaders = 4,
		.payload_hash = S3_SHA256_EMPTY,
		.access_key = "AKIAIOSFODNN7EXAMPLE",
		.secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		.region = "us-east-1",
		.service = "s3",
		.amz_date = "20130524T000000Z",
	};
	char sig[65], enc[64];

	is_int(s3_sigv4_signature(&r, sig), 0, "S3 GET Object: signs");
	is_str(sig,
	       "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
	       "S3 GET Object: AWS's signature");
	is_int(s3_uri_encode("a b/c$d~", 1, enc, sizeof(enc)), 0, "encode");
	is_str(enc, "a%20b/c%24d~", "URI encoding keeps unreserved and '/'");
	is_int(s3_uri_encode("a/b", 0, enc, sizeof(enc)), 0, "encode");
	is_str(enc, "a%2Fb", "...and encodes '/' in a query value");
}

/* --- what libcurl sends --- */

struct catcher {
	int fd;
	char req[8192];
};

static void *catch_one(void *arg)
{
	static const char reply[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	struct catcher *c = arg;
	size_t got = 0;
	int s = accept(c->fd, NULL, NULL);

	if (s < 0)
		return NULL;
	/* Headers, then the 5-byte body (curl waits for 100-continue at
	 * most a second; small bodies go at once). */
	while (got < sizeof(c->req) - 1) {
		ssize_t n = read(s, c->req + got, sizeof(c->req) - 1 - got);
		char *end;

		if (n <= 0)
			break;
		got += (size_t)n;
		c->req[got] = '\0';
		end = strstr(c->req, "\r\n\r\n");
		if (end && strlen(end + 4) >= 5)
			break;
	}
	if (write(s, reply, sizeof(reply) - 1) < 0)
		got = 0;
	close(s);
	return NULL;
}

/* The value of header name (lower case in the request as curl sends). */
static int header(const char *req, const char *name, char *out, size_t len)
{
	const char *p = req;
	size_t n = strlen(name);

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (!strncasecmp(p, name, n) && p[n] == ':') {
			const char *v = p + n + 1, *e = strstr(v, "\r\n");

			while (*v == ' ')
				v++;
			if (!e || (size_t)(e - v) >= len)
				return -1;
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = '\0';
			return 0;
		}
	}
	return -1;
}

static void test_s3_sigv4_curl(void)
{
	/* sha256("hello") */
	static const char body_hash[] =
		"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct curl_slist *hl = NULL;
	struct catcher c = { 0 };
	socklen_t alen = sizeof(a);
	char url[128], host[64], date[32], auth[512], want[512], hh[128];
	pthread_t t;
	CURL *curl;
	CURLcode cc;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c.fd < 0 || bind(c.fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(c.fd, 1) < 0 ||
	    getsockname(c.fd, (struct sockaddr *)&a, &alen) < 0) {
		ok(0, "a socket on 127.0.0.1");
		return;
	}
	pthread_create(&t, NULL, catch_one, &c);
	snprintf(host, sizeof(host), "127.0.0.1:%u", ntohs(a.sin_port));
	snprintf(url, sizeof(url), "http://%s/bucket/space/ab%%24cd", host);
	snprintf(hh, sizeof(hh), "x-amz-content-sha256: %s", body_hash);
	hl = curl_slist_append(hl, hh);
	curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
	curl_easy_setopt(curl, CURLOPT_USERNAME, "AKIAIOSFODNN7EXAMPLE");
	curl_easy_setopt(curl, CURLOPT_PASSWORD,
			 "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "hello");
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 5L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
	cc = curl_easy_perform(curl);
	curl_easy_cleanup(curl);
	curl_slist_free_all(hl);
	pthread_join(t, NULL);
	close(c.fd);
	is_int(cc, CURLE_OK, "libcurl sent a signed PUT");
	if (header(c.req, "x-amz-date", date, sizeof(date)) < 0 ||
	    header(c.req, "authorization", auth, sizeof(auth)) < 0) {
		ok(0, "the PUT carries x-amz-date and Authorization");
		diag("%s", c.req);
		return;
	}
	{
		const struct s3_header h[] = {
			{ "host", host },
			{ "x-amz-content-sha256", body_hash },
			{ "x-amz-date", date },
		};
		struct s3_sigv4_req r = {
			.method = "PUT",
			.path = "/bucket/space/ab%24cd",
			.query = "",
			.headers = h,
			.nheaders = 3,
			.payload_hash = body_hash,
			.access_key = "AKIAIOSFODNN7EXAMPLE",
			.secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			.region = "us-east-1",
			.service = "s3",
			.amz_date = date,
		};

		is_int(s3_sigv4_authorization(&r, want, sizeof(want)), 0,
		       "sign the same request here");
	}
	is_str(auth, want,
	       "libcurl signs the body hash we send in x-amz-content-sha256, as S3 checks it");
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_s3_sigv4_suite();
	test_s3_sigv4_get_object();
	test_s3_sigv4_curl();
	curl_global_cleanup();
	return tap_done();
}
