/*
 * `coffre sign PATH --as author|recipient [--version N]
 *  [--password-file FILE]` and `coffre signatures PATH [--version N]`.
 *
 * sign makes a detached CMS signature (CAdES-BES: signed attributes with
 * signing-certificate-v2, content type, message digest, signing time) of
 * the version's bytes with the user's key (userkey.h), adding a signed
 * attribute that names the version and the role (see server/esig.h: the
 * text and its OID are part of the protocol), so the signature cannot be
 * moved to another version.  The bytes are read from the drive and must
 * hash to the version's manifest first.  coffred checks the signature,
 * timestamps it and records it in the ledger.
 */
#include "client/cmd/cmd_proofs.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "client/cmd/cmd_json.h"
#include "client/cmd/docref.h"
#include "client/store/session.h"
#include "client/store/transport.h"
#include "client/cmd/userkey.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/manifest.h"

/* As server/esig.h: the signed attribute naming the version. */
#define BINDING_OID  "2.25.230864823658473510468245981207735401963.2"
#define PASSWORD_MAX 4096

static int read_password(const char *file, char **out)
{
	struct termios old, quiet;
	char *pw = NULL;
	size_t len = 0;
	int rc, tty;

	*out = NULL;
	if (file) {
		rc = file_read_all(file, PASSWORD_MAX, &pw, &len);
		if (rc < 0)
			return err_set(rc, "cannot read password file '%s': %s",
				       file, strerror(-rc));
	} else {
		/* From the terminal, without echo. */
		tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
		if (tty < 0)
			return err_set(
				-ENOTTY,
				"no terminal to ask the password: use --password-file");
		pw = calloc(1, PASSWORD_MAX);
		if (!pw) {
			close(tty);
			return -ENOMEM;
		}
		if (write(tty, "Password: ", 10) < 0)
			(void)0;
		tcgetattr(tty, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(tty, TCSAFLUSH, &quiet);
		rc = (int)read(tty, pw, PASSWORD_MAX - 1);
		tcsetattr(tty, TCSAFLUSH, &old);
		if (write(tty, "\n", 1) < 0)
			(void)0;
		close(tty);
		if (rc < 0) {
			free(pw);
			return err_set(-EIO, "cannot read the password");
		}
		len = (size_t)rc;
	}
	pw[strcspn(pw, "\r\n")] = '\0';
	if (!*pw) {
		sodium_memzero(pw, len);
		free(pw);
		return err_set(-EINVAL, "empty password");
	}
	*out = pw;
	return 0;
}

struct client {
	struct session s;
	struct transport *t;
	char *dir;
};

static int client_open(struct client *c, const char *config)
{
	int rc;

	memset(c, 0, sizeof(*c));
	rc = session_config_dir(config, &c->dir);
	if (rc == 0)
		rc = session_load(&c->s, c->dir);
	if (rc == 0)
		rc = transport_new(&c->t, c->s.url, c->s.token, c->s.cacert);
	return rc;
}

static void client_close(struct client *c)
{
	transport_free(c->t);
	session_release(&c->s);
	free(c->dir);
}

/* The version's manifest from the server; its content hash checked. */
static int version_manifest(struct client *c, const struct docref *r,
			    struct manifest *m)
{
	unsigned char piece[65536];
	struct hash_ctx *h = NULL;
	struct obj_id got;
	char api[512];
	json_t *reply = NULL;
	const char *text;
	ssize_t n;
	uint64_t size = 0;
	int fd, rc;

	rc = docref_api_path(r, "", api, sizeof(api));
	if (rc == 0)
		rc = transport_json(c->t, "GET", api, NULL, &reply);
	if (rc < 0)
		return rc;
	text = json_string_value(json_object_get(reply, "manifest"));
	rc = text ? manifest_parse(m, text, strlen(text)) :
		    err_set(-EPROTO, "the server sent no manifest");
	json_decref(reply);
	if (rc < 0)
		return rc;
	fd = open(r->content, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(-errno, "cannot open '%s': %s", r->content,
			       strerror(errno));
	rc = hash_new(&h);
	while (rc == 0 && (n = read_full(fd, piece, sizeof(piece))) > 0) {
		hash_update(h, piece, (size_t)n);
		size += (uint64_t)n;
		if ((size_t)n < sizeof(piece))
			break;
	}
	if (rc == 0) {
		hash_final(h, &got);
		if (size != m->size || obj_id_cmp(&got, &m->sha256))
			rc = err_set(
				-EBADMSG,
				"'%s' does not hold version %llu's bytes (not synced yet?)",
				r->content, (unsigned long long)r->version);
	}
	hash_free(h);
	close(fd);
	return rc;
}

/* Detached CAdES-BES CMS of the file at path, DER into *der. */
static int make_cms(EVP_PKEY *key, X509 *cert, const char *path,
		    const char *binding, unsigned char **der, int *len)
{
	const unsigned flags = CMS_BINARY | CMS_DETACHED | CMS_PARTIAL;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	BIO *in = BIO_new_file(path, "rb");
	int rc = 0;

	*der = NULL;
	cms = in ? CMS_sign(NULL, NULL, NULL, NULL, flags) : NULL;
	si = cms ? CMS_add1_signer(cms, cert, key, EVP_sha256(),
				   flags | CMS_CADES) :
		   NULL;
	if (!si ||
	    !CMS_signed_add1_attr_by_txt(si, BINDING_OID, V_ASN1_UTF8STRING,
					 binding, (int)strlen(binding)) ||
	    !CMS_final(cms, in, NULL, flags) ||
	    (*len = i2d_CMS_ContentInfo(cms, der)) <= 0) {
		ERR_clear_error();
		rc = err_set(-EIO, "cannot make the CMS signature");
	}
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return rc;
}

static int usage_sign(void)
{
	fprintf(stderr,
		"coffre: usage: coffre sign PATH --as author|recipient [--version N] [--password-file FILE]\n");
	return 2;
}

int cmd_sign(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "as", required_argument, NULL, 'a' },
		{ "version", required_argument, NULL, 'v' },
		{ "password-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *role = NULL, *pwfile = NULL;
	unsigned long long version = 0;
	char binding[256], hex[OBJ_ID_HEX_LEN + 1], api[512], *pw = NULL, *end,
							      *b64 = NULL;
	unsigned char *der = NULL;
	struct client c = { .t = NULL };
	struct manifest m;
	struct docref r;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	json_t *body = NULL, *reply = NULL;
	int ch, rc, len = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'a') {
			role = optarg;
		} else if (ch == 'p') {
			pwfile = optarg;
		} else if (ch == 'v') {
			errno = 0;
			version = strtoull(optarg, &end, 10);
			if (errno || *end || !version)
				return usage_sign();
		} else {
			return usage_sign();
		}
	}
	if (argc - optind != 1 || !role)
		return usage_sign();
	if (strcmp(role, "author") && strcmp(role, "recipient"))
		return usage_sign();
	manifest_init(&m);
	rc = docref_resolve(argv[optind], version, &r);
	if (rc == 0)
		rc = client_open(&c, config);
	if (rc == 0)
		rc = version_manifest(&c, &r, &m);
	if (rc == 0)
		rc = read_password(pwfile, &pw);
	if (rc == 0)
		rc = userkey_load(c.dir, pw, &key, &cert);
	if (pw) {
		sodium_memzero(pw, strlen(pw));
		free(pw);
	}
	if (rc < 0)
		goto out;
	obj_id_to_hex(&m.sha256, hex);
	snprintf(binding, sizeof(binding),
		 "coffre-doc %s version %llu sha256 %s as %s", m.doc_id,
		 (unsigned long long)m.version, hex, role);
	rc = make_cms(key, cert, r.content, binding, &der, &len);
	if (rc < 0)
		goto out;
	b64 = malloc(sodium_base64_ENCODED_LEN((size_t)len,
					       sodium_base64_VARIANT_ORIGINAL));
	if (!b64) {
		rc = -ENOMEM;
		goto out;
	}
	sodium_bin2base64(b64,
			  sodium_base64_ENCODED_LEN(
				  (size_t)len, sodium_base64_VARIANT_ORIGINAL),
			  der, (size_t)len, sodium_base64_VARIANT_ORIGINAL);
	body = json_pack("{s:s, s:s}", "role", role, "cms", b64);
	rc = body ? docref_api_path(&r, "/signatures", api, sizeof(api)) :
		    -ENOMEM;
	if (rc == 0)
		rc = transport_json(c.t, "POST", api, body, &reply);
	if (rc == 0)
		printf("signed %s v%llu as %s (%s), timestamped %s\n",
		       argv[optind], (unsigned long long)m.version, role,
		       c.s.login,
		       json_string_value(json_object_get(reply, "signed_at")) ?
			       json_string_value(
				       json_object_get(reply, "signed_at")) :
			       "?");
out:
	json_decref(body);
	json_decref(reply);
	free(b64);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	X509_free(cert);
	manifest_release(&m);
	client_close(&c);
	if (rc < 0) {
		fprintf(stderr, "coffre: %s\n", err_msg());
		return 1;
	}
	return 0;
}

int cmd_signatures(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const keys[] = { "login", "role", "signed_at",
					    "commit", NULL };
	unsigned long long version = 0;
	struct client c = { .t = NULL };
	json_t *reply = NULL, *list, *s;
	char api[512], *end;
	struct docref r;
	size_t i;
	int ch, rc, as_json = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		errno = 0;
		if (ch == 'j') {
			as_json = 1;
			continue;
		}
		if (ch == 'v')
			version = strtoull(optarg, &end, 10);
		if (ch != 'v' || errno || *end || !version) {
			fprintf(stderr,
				"coffre: usage: coffre signatures PATH [--version N] [--json]\n");
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr,
			"coffre: usage: coffre signatures PATH [--version N] [--json]\n");
		return 2;
	}
	rc = docref_resolve(argv[optind], version, &r);
	if (rc == 0)
		rc = client_open(&c, config);
	if (rc == 0)
		rc = docref_api_path(&r, "/signatures", api, sizeof(api));
	if (rc == 0)
		rc = transport_json(c.t, "GET", api, NULL, &reply);
	if (rc == 0 && as_json) {
		/* [{version, login, role, signed_at, commit}] */
		json_t *out = json_array();

		json_array_foreach(json_object_get(reply, "signatures"), i, s)
		{
			json_t *o = cmd_json_pick(s, keys);

			if (o)
				json_object_set_new(
					o, "version",
					json_integer((json_int_t)r.version));
			if (!out || json_array_append_new(out, o) < 0) {
				json_decref(out);
				out = NULL;
				break;
			}
		}
		json_decref(reply);
		client_close(&c);
		return cmd_json_print(out);
	}
	if (rc == 0) {
		list = json_object_get(reply, "signatures");
		json_array_foreach(list, i, s) printf(
			"v%llu\t%s\t%s\t%s\n", (unsigned long long)r.version,
			json_string_value(json_object_get(s, "login")),
			json_string_value(json_object_get(s, "role")),
			json_string_value(json_object_get(s, "signed_at")));
		if (json_array_size(list) == 0)
			printf("no signatures of %s v%llu\n", argv[optind],
			       (unsigned long long)r.version);
	}
	json_decref(reply);
	client_close(&c);
	if (rc < 0) {
		fprintf(stderr, "coffre: %s\n", err_msg());
		return 1;
	}
	return 0;
}

/*
 * coffre declassify PATH --version N: an owner opens version N of the
 * document at PATH, deposited while it was confidential, to whoever reads
 * the document where it is filed now (POST .../declassify, traced in the
 * ledger and the journal).
 */
int cmd_declassify(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"coffre: usage: coffre declassify PATH --version N\n";
	unsigned long long version = 0;
	struct client c = { .t = NULL };
	json_t *reply = NULL;
	char api[512], *end;
	struct docref r;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		errno = 0;
		if (ch == 'v')
			version = strtoull(optarg, &end, 10);
		if (ch != 'v' || errno || *end || !version) {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 1 || !version) {
		fputs(usage, stderr);
		return 2;
	}
	/* The document and its space; the version is the one asked for. */
	rc = docref_resolve(argv[optind], 0, &r);
	if (rc == 0) {
		r.version = version;
		rc = client_open(&c, config);
	}
	if (rc == 0)
		rc = docref_api_path(&r, "/declassify", api, sizeof(api));
	if (rc == 0)
		rc = transport_json(c.t, "POST", api, NULL, &reply);
	if (rc == 0)
		printf("%s v%llu: %s\n", argv[optind], version,
		       json_is_true(json_object_get(reply, "declassified")) ?
			       "declassified" :
			       "was not sealed");
	json_decref(reply);
	client_close(&c);
	if (rc < 0) {
		fprintf(stderr, "coffre: %s\n", err_msg());
		return 1;
	}
	return 0;
}
