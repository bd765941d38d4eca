/*
 * AWS SigV4 (see s3_sigv4.h): the canonical request, the string to sign,
 * the signing key chain and the signature, through OpenSSL's HMAC and
 * SHA-256, on bounded buffers.
 */
#include "server/s3_sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/buf.h"
#include "common/err.h"

#define MAX_HEADERS 16
#define MAX_PARAMS  16
#define FIELD_MAX   2048

int s3_uri_encode(const char *s, int keep_slash, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' ||
		    c == '~' || (keep_slash && c == '/')) {
			if (o + 1 >= outlen)
				return -E2BIG;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= outlen)
				return -E2BIG;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= outlen)
		return -E2BIG;
	out[o] = '\0';
	return 0;
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	to_hex(md, 32, out);
}

static void hmac(const void *key, size_t klen, const char *msg,
		 unsigned char out[32])
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
	     strlen(msg), out, &len);
}

struct hdr {
	char name[128];
	const char *value;
};

static int hdr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct hdr *)a)->name,
		      ((const struct hdr *)b)->name);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Header values: leading and trailing blanks dropped, inner runs of
 * blanks squeezed to one. */
static int append_trimmed(struct buf *b, const char *v)
{
	int space = 0, rc = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v && rc == 0; v++) {
		if (*v == ' ' || *v == '\t') {
			space = 1;
			continue;
		}
		if (space)
			rc = buf_append(b, " ", 1);
		space = 0;
		if (rc == 0)
			rc = buf_append(b, v, 1);
	}
	return rc;
}

/* The canonical request into b, the signed header list into signed_out. */
static int canonical(const struct s3_sigv4_req *r, struct buf *b,
		     char *signed_out, size_t signed_len)
{
	struct hdr h[MAX_HEADERS];
	char *params[MAX_PARAMS], qcopy[FIELD_MAX], *save = NULL, *tok;
	size_t np = 0, so = 0;
	int rc;

	if (r->nheaders > MAX_HEADERS || strlen(r->query) >= sizeof(qcopy))
		return -E2BIG;
	for (size_t i = 0; i < r->nheaders; i++) {
		size_t n = strlen(r->headers[i].name);

		if (n >= sizeof(h[i].name))
			return -E2BIG;
		for (size_t j = 0; j <= n; j++)
			h[i].name[j] = (char)tolower(
				(unsigned char)r->headers[i].name[j]);
		h[i].value = r->headers[i].value;
	}
	qsort(h, r->nheaders, sizeof(h[0]), hdr_cmp);
	memcpy(qcopy, r->query, strlen(r->query) + 1);
	for (tok = strtok_r(qcopy, "&", &save); tok;
	     tok = strtok_r(NULL, "&", &save)) {
		if (np == MAX_PARAMS)
			return -E2BIG;
		params[np++] = tok;
	}
	/* Sorting "name=value" strings sorts by name, then value: '=' sorts
	 * below every character an encoded name holds but '-' and '.',
	 * which our names never end with. */
	qsort(params, np, sizeof(params[0]), str_cmp);

	rc = buf_appendf(b, "%s\n%s\n", r->method, r->path);
	for (size_t i = 0; rc == 0 && i < np; i++)
		rc = buf_appendf(b, "%s%s%s", i ? "&" : "", params[i],
				 strchr(params[i], '=') ? "" : "=");
	if (rc == 0)
		rc = buf_append(b, "\n", 1);
	for (size_t i = 0; rc == 0 && i < r->nheaders; i++) {
		rc = buf_appendf(b, "%s:", h[i].name);
		if (rc == 0)
			rc = append_trimmed(b, h[i].value);
		if (rc == 0)
			rc = buf_append(b, "\n", 1);
	}
	if (rc == 0)
		rc = buf_append(b, "\n", 1);
	for (size_t i = 0; rc == 0 && i < r->nheaders; i++) {
		size_t n = strlen(h[i].name);

		if (so + n + 2 > signed_len)
			return -E2BIG;
		if (i)
			signed_out[so++] = ';';
		memcpy(signed_out + so, h[i].name, n);
		so += n;
	}
	signed_out[so] = '\0';
	if (rc == 0)
		rc = buf_appendf(b, "%s\n%s", signed_out, r->payload_hash);
	return rc;
}

static int sign(const struct s3_sigv4_req *r, char sig[65], char *signed_out,
		size_t signed_len)
{
	char date[9], hash[65], *k0 = NULL, *sts = NULL;
	unsigned char k[32];
	struct buf b;
	int rc;

	if (strlen(r->amz_date) != 16 || strlen(r->payload_hash) != 64)
		return err_set(-EINVAL, "bad SigV4 date or payload hash");
	memcpy(date, r->amz_date, 8);
	date[8] = '\0';
	buf_init(&b, 64 * 1024);
	rc = canonical(r, &b, signed_out, signed_len);
	if (rc < 0)
		goto out;
	sha256_hex(b.data, b.len, hash);
	rc = -ENOMEM;
	if (asprintf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
		     r->amz_date, date, r->region, r->service, hash) < 0) {
		sts = NULL;
		goto out;
	}
	if (asprintf(&k0, "AWS4%s", r->secret) < 0) {
		k0 = NULL;
		goto out;
	}
	hmac(k0, strlen(k0), date, k);
	hmac(k, 32, r->region, k);
	hmac(k, 32, r->service, k);
	hmac(k, 32, "aws4_request", k);
	hmac(k, 32, sts, k);
	to_hex(k, 32, sig);
	rc = 0;
out:
	if (k0) {
		explicit_bzero(k0, strlen(k0));
		free(k0);
	}
	explicit_bzero(k, sizeof(k));
	free(sts);
	buf_release(&b);
	return rc;
}

int s3_sigv4_signature(const struct s3_sigv4_req *r, char out[65])
{
	char signed_headers[MAX_HEADERS * 130];

	return sign(r, out, signed_headers, sizeof(signed_headers));
}

int s3_sigv4_authorization(const struct s3_sigv4_req *r, char *out,
			   size_t outlen)
{
	char signed_headers[MAX_HEADERS * 130], sig[65], date[9];
	int rc, n;

	rc = sign(r, sig, signed_headers, sizeof(signed_headers));
	if (rc < 0)
		return rc;
	memcpy(date, r->amz_date, 8);
	date[8] = '\0';
	n = snprintf(
		out, outlen,
		"AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
		r->access_key, date, r->region, r->service, signed_headers,
		sig);
	return n < 0 || (size_t)n >= outlen ? -E2BIG : 0;
}
