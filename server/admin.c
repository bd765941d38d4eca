/*
 * Data directory administration.  Each command checks all of its input
 * before it writes anything, and undoes what it created itself when a
 * later step fails, so a refused command changes nothing.
 *
 * Layout made by init (see coffred(8)):
 *   DATADIR/coffred.conf       configuration
 *   DATADIR/keys/master.key    32 random bytes, 0600
 *   DATADIR/tls/ca.pem         the server's TLS CA (clients trust it)
 *   DATADIR/tls/ca-key.pem     its key, 0600
 *   DATADIR/tls/cert.pem       TLS certificate issued by it (server/tls.h)
 *   DATADIR/tls/key.pem        TLS key, 0600
 *   DATADIR/index.db           SQLite index (WAL), unless coffred.conf
 *                              names a PostgreSQL index
 *   DATADIR/spaces/NAME/       ledger.git (bare git repo) and chunks/
 */
#include "server/admin.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/size.h"
#include "common/fsutil.h"
#include "common/namev.h"
#include "common/path.h"
#include "server/access.h"
#include "server/auth.h"
#include "server/chunk_backend.h"
#include "server/chunk_s3.h"
#include "server/config.h"
#include "server/index.h"
#include "server/keys.h"
#include "server/ledger.h"
#include "server/serve.h"
#include "server/signup.h"
#include "server/space_create.h"
#include "server/space_plan.h"
#include "server/spaces.h"
#include "server/tls.h"

#define PWHASH_MAX 256

static int join(char *out, size_t outlen, const char *dir, const char *leaf)
{
	int n = snprintf(out, outlen, "%s/%s", dir, leaf);

	if (n < 0 || (size_t)n >= outlen)
		return err_set(-ENAMETOOLONG, "data directory path too long");
	return 0;
}

static int exists(const char *dir, const char *leaf)
{
	char path[PATH_MAX];
	struct stat st;

	if (join(path, sizeof(path), dir, leaf) < 0)
		return 0;
	return lstat(path, &st) == 0;
}

static int make_dir(const char *dir, const char *leaf)
{
	char path[PATH_MAX];
	int rc = join(path, sizeof(path), dir, leaf);

	if (!rc)
		rc = mkdir_p(path, 0700);
	if (rc < 0)
		return err_set(rc, "cannot create '%s': %s", path,
			       strerror(-rc));
	return 0;
}

/* ident_validate with the value named in the message. */
static int check_ident(const char *what, const char *s)
{
	char why[256];
	int rc = ident_validate(s);

	if (rc < 0) {
		snprintf(why, sizeof(why), "%s", err_msg());
		return err_set(rc, "bad %s '%s': %s", what, s, why);
	}
	return 0;
}

/* DATADIR's index, where coffred.conf says (init: where cfg says). */
static int open_index(const char *datadir, const struct config *init,
		      struct index **ix)
{
	struct config cfg;
	int rc;

	if (init)
		return index_open_datadir(ix, datadir, init->index, 1);
	if (!exists(datadir, CONFIG_FILE_NAME))
		return err_set(
			-ENOENT,
			"'%s' is not an initialized data directory (run coffred init)",
			datadir);
	rc = config_load(&cfg, datadir);
	return rc < 0 ? rc : index_open_datadir(ix, datadir, cfg.index, 0);
}

static int stop_at_first(const char *name, void *arg)
{
	return 1;
}

/* chunks and s3_key_file into cfg, the key file read and the bucket
 * asked for one name, so a wrong store fails init, not the first upload. */
static int init_chunks(struct config *cfg, const char *datadir,
		       const char *chunks, const char *key_file)
{
	struct chunk_s3_config *s3;
	struct chunk_backend *be = NULL;
	char abs[PATH_MAX];
	int rc;

	if (!chunks || !strcmp(chunks, "dir")) {
		if (key_file)
			return err_set(
				-EINVAL,
				"--s3-key-file goes with --chunks s3://HOST:PORT/BUCKET");
		return 0;
	}
	if (!key_file)
		return err_set(-EINVAL, "--chunks %s needs --s3-key-file FILE",
			       chunks);
	if (!realpath(key_file, abs))
		return err_set(-errno, "cannot read S3 key file '%s': %s",
			       key_file, strerror(errno));
	if (strlen(chunks) >= sizeof(cfg->chunks) ||
	    strlen(abs) >= sizeof(cfg->s3_key_file))
		return err_set(-ENAMETOOLONG,
			       "--chunks or --s3-key-file too long");
	s3 = calloc(1, sizeof(*s3));
	if (!s3)
		return -ENOMEM;
	rc = chunk_s3_parse_url(s3, chunks);
	if (rc == 0)
		rc = chunk_s3_read_key_file(s3, abs);
	if (rc == 0 && (size_t)snprintf(s3->spool_dir, sizeof(s3->spool_dir),
					"%s/tmp/chunk-spool",
					datadir) >= sizeof(s3->spool_dir))
		rc = err_set(-ENAMETOOLONG, "data directory path too long");
	snprintf(s3->prefix, sizeof(s3->prefix), "-/");
	s3->max_keys = 1;
	if (rc == 0)
		rc = chunk_s3_new(&be, s3);
	if (rc == 0) {
		rc = be->list(be->state, stop_at_first, NULL);
		if (rc > 0)
			rc = 0;
	}
	chunk_backend_free(be);
	explicit_bzero(s3, sizeof(*s3));
	free(s3);
	if (rc < 0)
		return rc;
	snprintf(cfg->chunks, sizeof(cfg->chunks), "%s", chunks);
	snprintf(cfg->s3_key_file, sizeof(cfg->s3_key_file), "%s", abs);
	return 0;
}

/* The keys of the data directory from (its master, ledger, CA and TSA
 * keys) into datadir's keys folder, 0600: a further node signs and
 * decrypts as the first one does. */
static int copy_keys(const char *datadir, const char *from)
{
	char src[PATH_MAX], dst[PATH_MAX], *data;
	struct dirent *de;
	struct stat st;
	size_t len;
	DIR *d;
	int rc = 0, copied = 0;

	rc = join(src, sizeof(src), from, "keys");
	if (rc < 0)
		return rc;
	d = opendir(src);
	if (!d)
		return err_set(-errno, "cannot read '%s': %s", src,
			       strerror(errno));
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue; /* ".", "..", and the lock file */
		if ((size_t)snprintf(src, sizeof(src), "%s/keys/%s", from,
				     de->d_name) >= sizeof(src) ||
		    (size_t)snprintf(dst, sizeof(dst), "%s/keys/%s", datadir,
				     de->d_name) >= sizeof(dst)) {
			rc = err_set(-ENAMETOOLONG, "key path too long");
			break;
		}
		if (lstat(src, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		data = NULL;
		len = 0;
		rc = file_read_all(src, 1u << 20, &data, &len);
		if (rc < 0)
			rc = err_set(rc, "cannot read '%s': %s", src,
				     strerror(-rc));
		else
			rc = file_write_atomic(dst, data, len, 0600);
		if (data) {
			explicit_bzero(data, len);
			free(data);
		}
		if (rc < 0 && !err_msg()[0])
			rc = err_set(rc, "cannot write '%s': %s", dst,
				     strerror(-rc));
		copied += rc == 0;
	}
	closedir(d);
	if (rc == 0 && !copied)
		rc = err_set(-ENOENT, "'%s/keys' holds no key", from);
	return rc;
}

/*
 * The configuration of a node joining the data directory from: its
 * stores, keys and settings, which must all be shared (an index in
 * PostgreSQL, chunks in S3, the ledger in the index) or the two nodes
 * would each hold a safe of their own.
 */
static int join_config(struct config *cfg, const char *from)
{
	struct config first;
	int rc;

	if (!exists(from, CONFIG_FILE_NAME))
		return err_set(
			-ENOENT,
			"--join '%s': not an initialized data directory (run coffred init)",
			from);
	rc = config_load(&first, from);
	if (rc < 0)
		return rc;
	if (!first.index[0] || !first.chunks[0] || !first.ledger_shared)
		return err_set(
			-EINVAL,
			"--join '%s': its index, chunks and ledger must be shared (--index postgresql://..., --chunks s3://..., --ledger postgresql)",
			from);
	/* Everything but where this node listens. */
	memcpy(first.host, cfg->host, sizeof(first.host));
	first.ipv6 = cfg->ipv6;
	first.port = cfg->port;
	*cfg = first;
	return 0;
}

int admin_init(const char *datadir, const struct admin_init_args *a)
{
	static const char *const markers[] = {
		CONFIG_FILE_NAME,
		INDEX_FILE_NAME,
		MASTER_KEY_PATH,
		"tls/key.pem",
	};
	char path[PATH_MAX];
	uint8_t master[CRYPTO_KEY_LEN];
	struct config cfg;
	struct index *ix = NULL;
	int rc;

	config_defaults(&cfg);
	if (a->listen) {
		rc = config_parse_listen(&cfg, a->listen);
		if (rc < 0)
			return rc;
	}
	if (a->join && (a->index || a->chunks || a->s3_key_file || a->ledger))
		return err_set(
			-EINVAL,
			"--join takes the stores of the node it joins: no --index, --chunks, --s3-key-file or --ledger with it");
	if (a->index) {
		rc = config_parse_index(&cfg, a->index);
		if (rc < 0)
			return rc;
	}
	if (a->ledger) {
		rc = config_parse_ledger(&cfg, a->ledger);
		if (rc == 0 && cfg.ledger_pg && !cfg.index[0])
			rc = err_set(
				-EINVAL,
				"--ledger postgresql needs --index postgresql://...");
		if (rc < 0)
			return rc;
	}
	/* Never overwrite a key or an index: that would lose every space. */
	for (size_t i = 0; i < ARRAY_SIZE(markers); i++)
		if (exists(datadir, markers[i]))
			return err_set(
				-EEXIST,
				"'%s' is already initialized ('%s' exists)",
				datadir, markers[i]);
	rc = crypto_init();
	if (rc < 0)
		return err_set(rc, "cannot initialize libsodium");
	rc = a->join ? join_config(&cfg, a->join) :
		       init_chunks(&cfg, datadir, a->chunks, a->s3_key_file);
	if (rc < 0)
		return rc;
	rc = mkdir_p(datadir, 0700);
	if (rc < 0)
		return err_set(rc, "cannot create '%s': %s", datadir,
			       strerror(-rc));
	rc = make_dir(datadir, "keys");
	if (!rc)
		rc = make_dir(datadir, "tls");
	if (!rc)
		rc = make_dir(datadir, SPACES_DIR_NAME);
	if (rc < 0)
		return rc;

	if (a->join) {
		rc = copy_keys(datadir, a->join);
	} else {
		crypto_random(master, sizeof(master));
		rc = join(path, sizeof(path), datadir, MASTER_KEY_PATH);
		if (!rc) {
			rc = file_write_atomic(path, master, sizeof(master),
					       0600);
			if (rc < 0)
				rc = err_set(rc, "cannot write '%s': %s", path,
					     strerror(-rc));
		}
		explicit_bzero(master, sizeof(master));
	}
	if (rc < 0)
		return rc;
	rc = join(path, sizeof(path), datadir, "tls");
	if (!rc)
		rc = tls_generate(path, cfg.host);
	if (!rc) {
		struct keys *k = NULL;

		/* Ledger, CA and TSA keys (keys.h). */
		rc = keys_load(&k, datadir);
		keys_free(k);
	}
	if (rc < 0)
		return rc;
	/* A joining node finds the index made: it only checks it answers. */
	rc = a->join ? index_open_datadir(&ix, datadir, cfg.index, 0) :
		       open_index(datadir, &cfg, &ix);
	index_free(ix);
	if (rc < 0)
		return rc;
	/* Password hashes live there; the WAL files inherit this mode. */
	rc = join(path, sizeof(path), datadir, INDEX_FILE_NAME);
	if (!rc && !cfg.index[0] && chmod(path, 0600) < 0)
		rc = err_set(-errno, "cannot chmod '%s': %s", path,
			     strerror(errno));
	if (rc < 0)
		return rc;
	/* The configuration is written last: its presence means "initialized". */
	return config_save(&cfg, datadir);
}

int phone_validate(const char *phone)
{
	size_t n;

	if (phone[0] != '+')
		return err_set(
			-EINVAL,
			"phone number '%s' must start with '+' (E.164, e.g. +33612345678)",
			phone);
	n = strlen(phone + 1);
	if (n < 8 || n > 15 || phone[1] == '0' ||
	    strspn(phone + 1, "0123456789") != n)
		return err_set(
			-EINVAL,
			"phone number '%s' must be '+' then 8 to 15 digits (E.164)",
			phone);
	return 0;
}

/* Characters (not bytes) of a UTF-8 string: continuation bytes don't count. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* First line of path, without its line end, into a malloc'd string. */
static int read_password(const char *path, char **out)
{
	char *text = NULL;
	size_t len = 0, n;
	int rc;

	rc = file_read_all(path, 64u * 1024u, &text, &len);
	if (rc < 0)
		return err_set(rc, "cannot read password file '%s': %s", path,
			       strerror(-rc));
	n = strcspn(text, "\n");
	if (n > 0 && text[n - 1] == '\r')
		n--;
	text[n] = '\0';
	rc = 0;
	if (n == 0)
		rc = err_set(-EINVAL,
			     "password file '%s' has an empty first line",
			     path);
	else if (utf8_chars(text) < AUTH_PASSWORD_MIN)
		rc = err_set(-EINVAL,
			     "password too short: at least %d characters",
			     AUTH_PASSWORD_MIN);
	else if (strlen(text) > AUTH_PASSWORD_MAX)
		rc = err_set(-EINVAL,
			     "password too long: at most %d characters",
			     AUTH_PASSWORD_MAX);
	if (rc < 0) {
		explicit_bzero(text, len);
		free(text);
		return rc;
	}
	*out = text;
	return 0;
}

int admin_user_add(const char *datadir, const char *login, const char *phone,
		   const char *password_file)
{
	char pwhash[PWHASH_MAX];
	char *password = NULL;
	struct index *ix = NULL;
	int rc;

	rc = check_ident("login", login);
	if (rc < 0)
		return rc;
	rc = phone_validate(phone);
	if (rc < 0)
		return rc;
	rc = open_index(datadir, NULL, &ix);
	if (rc < 0)
		return rc;
	rc = index_user_exists(ix, login);
	if (rc > 0)
		rc = err_set(-EEXIST, "user '%s' already exists", login);
	if (rc < 0)
		goto out;
	rc = read_password(password_file, &password);
	if (rc < 0)
		goto out;
	rc = crypto_init();
	if (!rc)
		rc = crypto_password_hash(password, pwhash, sizeof(pwhash));
	explicit_bzero(password, strlen(password));
	free(password);
	if (rc < 0)
		goto out;
	rc = index_user_add(ix, login, phone, pwhash, (int64_t)time(NULL));
out:
	index_free(ix);
	return rc;
}

/* The ledger's first access state: the owner line (server/access.h). */
int admin_space_create(const char *datadir, const char *space,
		       const char *owner, const char *kind,
		       const char *plan_spec)
{
	struct crypto_key master = { 0 };
	struct plan plan = { 0 };
	struct index *ix = NULL;
	struct keys *keys = NULL;
	int rc;

	if (!kind)
		kind = "private";
	rc = check_ident("space name", space);
	if (rc == 0)
		rc = space_kind_check(kind);
	/* read and checked before anything exists: a bad plan changes nothing */
	if (rc == 0)
		rc = space_plan_load(plan_spec, kind, &plan);
	if (rc == 0)
		rc = open_index(datadir, NULL, &ix);
	/* the first commits are signed and stamped like every other */
	if (rc == 0)
		rc = keys_load(&keys, datadir);
	if (rc == 0)
		rc = crypto_init();
	if (rc == 0)
		rc = master_key_load(&master, datadir);
	if (rc == 0) {
		keys_install_prover(keys);
		rc = space_create(datadir, ix, space, owner, kind, &plan,
				  &master);
		keys_uninstall_prover();
	}
	if (rc == 0 && plan.n)
		printf("space '%s': filing plan of %zu folders\n", space,
		       plan.n);
	crypto_key_release(&master);
	keys_free(keys);
	index_free(ix);
	plan_release(&plan);
	return rc;
}

int admin_space_path(const char *datadir, const char *space)
{
	char path[PATH_MAX], real[PATH_MAX];
	struct ledger_where w;
	int rc;

	rc = check_ident("space name", space);
	if (rc < 0)
		return rc;
	/* A ledger in the index has no folder (ix NULL: that is refused). */
	rc = space_ledger_where(&w, path, sizeof(path), datadir, NULL, space);
	if (rc < 0)
		return rc;
	if (!realpath(path, real))
		return err_set(-ENOENT, "no such space '%s'", space);
	if (printf("%s\n", real) < 0 || fflush(stdout) != 0)
		return err_set(-EIO, "cannot write to stdout");
	return 0;
}

int admin_space_clone(const char *datadir, const char *space, const char *dir)
{
	char path[PATH_MAX];
	struct ledger_where w;
	struct index *ix = NULL;
	int rc;

	rc = check_ident("space name", space);
	if (rc == 0)
		rc = open_index(datadir, NULL, &ix);
	if (rc == 0)
		rc = space_ledger_where(&w, path, sizeof(path), datadir, ix,
					space);
	if (rc == 0 && w.path && access(w.path, F_OK) < 0)
		rc = err_set(-ENOENT, "no such space '%s'", space);
	if (rc == 0 && !w.path &&
	    index_ledger_ref_get(ix, space, "HEAD", path, sizeof(path)) < 0)
		rc = err_set(-ENOENT, "no such space '%s'", space);
	if (rc == 0)
		rc = ledger_clone(&w, dir);
	if (rc == 0 && (printf("%s\n", dir) < 0 || fflush(stdout) != 0))
		rc = err_set(-EIO, "cannot write to stdout");
	index_free(ix);
	return rc;
}

static int owned_cb(const char *name, const char *kind, const char *role,
		    void *arg)
{
	(void)kind;
	return strcmp(role, "owner") ? 0 : namev_push(arg, name);
}

int admin_legacy_open(const char *datadir, const char *login,
		      const char *mandate, const char *notary)
{
	struct crypto_key master = { 0 };
	struct keys *keys = NULL;
	struct index_event ev = { .kind = "account-frozen", .path = "/" };
	struct spaces *spaces = NULL;
	struct namev o = { 0 };
	struct index *ix = NULL;
	char detail[512];
	int64_t now = (int64_t)time(NULL);
	int rc, lock;

	rc = check_ident("login", login);
	if (rc == 0)
		rc = check_ident("notary login", notary);
	if (rc < 0)
		return rc;
	if (!strcmp(login, notary))
		return err_set(-EINVAL, "the notary cannot be the deceased");
	if (!mandate[0] || strlen(mandate) > 200 ||
	    strcspn(mandate, "\r\n\t") != strlen(mandate))
		return err_set(
			-EINVAL,
			"--mandate takes the mandate's reference: one line, 1 to 200 bytes");
	/* Its changes go to ledgers a serving coffred writes too. */
	lock = serve_lock_datadir(datadir);
	if (lock == -EBUSY)
		return err_set(
			-EBUSY,
			"coffred serves '%s': stop it first (systemctl stop coffred), then run this again",
			datadir);
	if (lock < 0)
		return lock;
	rc = open_index(datadir, NULL, &ix);
	if (rc == 0 && index_user_exists(ix, login) != 1)
		rc = err_set(-ENOENT, "no user '%s'", login);
	if (rc == 0 && index_user_exists(ix, notary) != 1)
		rc = err_set(-ENOENT, "no user '%s' (the notary's account)",
			     notary);
	if (rc == 0)
		rc = crypto_init();
	if (rc == 0)
		rc = master_key_load(&master, datadir);
	if (rc == 0)
		rc = spaces_new(&spaces, datadir, ix, &master);
	/* The access commits are signed and stamped like the server's. */
	if (rc == 0)
		rc = keys_load(&keys, datadir);
	if (rc == 0)
		keys_install_prover(keys);
	if (rc == 0)
		rc = index_spaces_of(ix, login, owned_cb, &o);
	/* First the account: nobody logs in as the deceased any more. */
	if (rc == 0)
		rc = index_user_freeze(ix, login, now, mandate, notary);
	if (rc == 0) {
		int ended = index_tokens_drop_all(ix, login, NULL);

		rc = ended < 0 ? ended : 0;
	}
	snprintf(detail, sizeof(detail), "mandate %s: notary %s", mandate,
		 notary);
	ev.detail = detail;
	if (rc == 0)
		rc = index_record(ix, NULL, login, now, NULL, 0, &ev, 1);
	if (rc == 0)
		printf("account %s frozen (mandate %s)\n", login, mandate);
	for (size_t i = 0; rc == 0 && i < o.n; i++) {
		struct space *sp;
		int owners = 0;

		rc = index_owners_count(ix, o.v[i], &owners);
		if (rc == 0 && owners > 1) {
			printf("space %s: %d owners, left as it is\n", o.v[i],
			       owners);
			continue;
		}
		if (rc == 0)
			rc = spaces_get(spaces, o.v[i], &sp);
		if (rc == 0)
			rc = access_legacy_open(sp, ix, "coffred", login,
						notary, mandate);
		if (rc == 0)
			printf("space %s: owned by %s alone, now by %s; every other access revoked but the trusted persons'\n",
			       o.v[i], login, notary);
	}
	namev_release(&o);
	spaces_free(spaces);
	if (keys)
		keys_uninstall_prover();
	keys_free(keys);
	index_free(ix);
	crypto_key_release(&master);
	close(lock);
	return rc;
}

int admin_invite(const char *datadir, const char *days_text)
{
	char code[SIGNUP_INVITE_LEN + 1];
	struct index *ix = NULL;
	unsigned long days = SIGNUP_INVITE_DAYS;
	char *end = NULL;
	int rc;

	if (days_text) {
		days = strtoul(days_text, &end, 10);
		if (!*days_text || *end || days < 1 || days > 365)
			return err_set(
				-EINVAL,
				"--days takes a number of days, 1 to 365");
	}
	rc = crypto_init();
	if (rc == 0)
		rc = open_index(datadir, NULL, &ix);
	if (rc == 0)
		rc = signup_invite_new(ix, (unsigned)days, code);
	if (rc == 0)
		printf("%s\n", code);
	index_free(ix);
	return rc;
}

int admin_space_quota(const char *datadir, const char *space, const char *size)
{
	char path[PATH_MAX];
	struct index *ix = NULL;
	uint64_t bytes = 0;
	int drop = 0, rc;

	rc = check_ident("space name", space);
	if (rc < 0)
		return rc;
	if (!strcmp(size, "default")) {
		drop = 1; /* the space follows quota_default again */
	} else if (strcmp(size, "none")) {
		rc = size_parse(size, &bytes);
		if (rc == 0 && bytes > INT64_MAX)
			rc = err_set(-ERANGE, "size '%s' is too large", size);
		if (rc < 0)
			return rc;
		if (bytes == 0)
			return err_set(
				-EINVAL,
				"a quota of 0 bytes: say none for unlimited");
	}
	rc = space_dir_path(path, sizeof(path), datadir, space, NULL);
	if (rc == 0 && access(path, F_OK) != 0)
		rc = err_set(-ENOENT, "no such space '%s'", space);
	if (rc == 0)
		rc = open_index(datadir, NULL, &ix);
	/* 0 in the index: unlimited, whatever the default */
	if (rc == 0)
		rc = index_quota_set(ix, space, drop ? -1 : (int64_t)bytes);
	index_free(ix);
	return rc;
}
