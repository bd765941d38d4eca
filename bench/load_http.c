/*
 * HTTPS for load_check, with libcurl: the server's own certificate is the
 * trust anchor (--cacert of the client), a token in Authorization when
 * asked, and every answer counted by status.
 */
#include "load.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

struct sink {
	char *out;
	size_t len, cap;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *k = arg;
	size_t len = size * n;

	if (k->out && k->cap > k->len + 1) {
		size_t room = k->cap - k->len - 1;
		size_t c = len < room ? len : room;

		memcpy(k->out + k->len, p, c);
		k->len += c;
		k->out[k->len] = '\0';
	}
	return len;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
		       curl_off_t d)
{
	atomic_bool *stop = arg;

	return stop && atomic_load(stop) ? 1 : 0;
}

void *http_handle(void)
{
	return curl_easy_init();
}

void http_handle_free(void *h)
{
	curl_easy_cleanup(h);
}

long http_req(void *handle, const struct load_srv *s, const char *method,
	      const char *path, bool auth, const void *body, size_t len,
	      double timeout_s, atomic_bool *stop, struct tally *t, char *out,
	      size_t outlen)
{
	CURL *h = handle ? handle : curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct sink k = { .out = out, .cap = outlen };
	char url[BENCH_PATH_MAX], bearer[160];
	long status = 0;
	CURLcode rc;

	if (out && outlen)
		out[0] = '\0';
	if (!h)
		return 0;
	snprintf(url, sizeof(url), "%s%s", s->url, path);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, s->cacert);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, stop);
	if (auth) {
		snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s",
			 s->token);
		hdr = curl_slist_append(hdr, bearer);
	}
	if (body) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		/* no "Expect: 100-continue": the body goes at once, as a
		 * hostile client sends it */
		hdr = curl_slist_append(hdr, "Expect:");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)len);
	}
	if (method)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (!handle)
		curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 0 || status >= 600)
		status = 0;
	/* a transfer cut short by the end of the phase is no answer of the
	 * server's: not counted */
	if (t &&
	    !(rc == CURLE_ABORTED_BY_CALLBACK && stop && atomic_load(stop))) {
		atomic_fetch_add(&t->n[status], 1);
		atomic_fetch_add(&t->requests, 1);
	}
	curl_slist_free_all(hdr);
	if (!handle)
		curl_easy_cleanup(h);
	return status;
}

void tally_summary(const struct tally *t, char *out, size_t outlen)
{
	long best[2] = { 0, 0 };
	int code[2] = { -1, -1 };
	size_t o = 0;

	for (int i = 0; i < 600; i++) {
		long n = atomic_load(&t->n[i]);

		if (n > best[0]) {
			best[1] = best[0], code[1] = code[0];
			best[0] = n, code[0] = i;
		} else if (n > best[1]) {
			best[1] = n, code[1] = i;
		}
	}
	snprintf(out, outlen, "none within the phase");
	for (int j = 0; j < 2 && code[j] >= 0 && o < outlen; j++) {
		const char *sep = j ? ", " : "";

		if (j == 0)
			out[0] = '\0';

		if (code[j] == 0)
			o += (size_t)snprintf(out + o, outlen - o,
					      "%sno answer x%ld", sep, best[j]);
		else
			o += (size_t)snprintf(out + o, outlen - o, "%s%d x%ld",
					      sep, code[j], best[j]);
	}
}
