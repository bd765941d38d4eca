/*
 * The HTTP leg of an external RFC 3161 TSA (RFC 3161 section 3.4): one
 * POST of the DER request, the DER response back.  libcurl, bounded in
 * time and size, http and https only, no redirects; nothing here trusts
 * the answer (tsa.c checks it against tsa_ca).
 */
#include "server/tsa.h"

#include <errno.h>
#include <string.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/err.h"

#define TSA_TIMEOUT_S 10L
#define TSA_CONNECT_S 5L

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	/* A short count makes curl stop with CURLE_WRITE_ERROR. */
	return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

int tsa_http_post(const char *url, const void *req, size_t len,
		  struct buf *resp)
{
	struct curl_slist *hdr = NULL, *h2;
	CURL *c = curl_easy_init();
	long status = 0;
	CURLcode cc;
	int rc = 0;

	if (!c)
		return err_set(-ENOMEM, "cannot start an HTTP request");
	hdr = curl_slist_append(NULL,
				"Content-Type: application/timestamp-query");
	h2 = hdr ? curl_slist_append(hdr,
				     "Accept: application/timestamp-reply") :
		   NULL;
	if (!h2) {
		curl_slist_free_all(hdr);
		curl_easy_cleanup(c);
		return -ENOMEM;
	}
	hdr = h2;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, TSA_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, TSA_CONNECT_S);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK)
		rc = err_set(cc == CURLE_WRITE_ERROR ? -EPROTO : -ENOTCONN,
			     "cannot reach the TSA at '%s': %s", url,
			     curl_easy_strerror(cc));
	else if (status != 200)
		rc = err_set(-EPROTO, "the TSA at '%s' answered HTTP %ld", url,
			     status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc;
}
