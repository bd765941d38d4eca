/*
 * `coffre verify PATH [--version N]`: check one version of a document
 * from its bytes up, printing each step with OK or the reason:
 *
 *   content -> manifest    the bytes the drive serves hash to the manifest
 *   statement              the server's deposit statement of the version is
 *                          signed by the ledger key (ssh-keygen), has a valid
 *                          timestamp (openssl) and names this version, its
 *                          manifest and its content
 *   and, for owners, whose proof carries the ledger's history:
 *   manifest -> commit     the ledger commit files exactly this manifest
 *   commit signatures      every commit from the root is signed (git)
 *   timestamps             every commit has a valid RFC 3161 token (openssl)
 *   document signatures    each e-signature verifies over the bytes (openssl
 *                          cms), names this version and role, and has a
 *                          valid timestamp
 *
 * The ledger checks run stock git and openssl on the proof the server
 * sends (the same files `coffre proof` writes), in a private temporary
 * directory.  The server's keys are pinned on first use: the first verify
 * saves them under CONFIG/trust/, and later ones refuse other keys.
 */
#include "client/cmd/cmd_proofs.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/cmd/docref.h"
#include "client/cmd/progress.h"
#include "client/cmd/proof_fetch.h"
#include "client/store/session.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"

#define OUT_MAX	 (16u * 1024u)
#define ARGV_MAX 16

extern char **environ;

struct verify {
	char tmp[512]; /* TMPDIR/coffre-verify.XXXXXX */
	int failed;
};

static void step(struct verify *v, const char *what, int rc, const char *why)
{
	if (rc == 0) {
		printf("%-28s OK\n", what);
	} else {
		printf("%-28s FAILED: %s\n", what, why && *why ? why : "error");
		v->failed = 1;
	}
	fflush(stdout);
}

/* Run argv (stdout and stderr captured into out); 0 when it exits 0. */
static int run(char *const argv[], struct buf *out)
{
	posix_spawn_file_actions_t fa;
	char piece[4096];
	int pfd[2], status = 0;
	ssize_t n;
	pid_t pid;

	buf_reset(out);
	if (pipe(pfd) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(pfd[0]);
		close(pfd[1]);
		buf_appendf(out, "cannot run %s", argv[0]);
		return -ENOENT;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	while ((n = read(pfd[0], piece, sizeof(piece))) > 0 ||
	       (n < 0 && errno == EINTR))
		if (n > 0 && out->len + (size_t)n < OUT_MAX)
			buf_append(out, piece, (size_t)n);
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EBADMSG;
}

/* The last non-empty line of out, for a one-line reason. */
static const char *last_line(struct buf *out)
{
	char *p;

	if (!out->data)
		return "";
	while (out->len && (out->data[out->len - 1] == '\n'))
		out->data[--out->len] = '\0';
	p = strrchr(out->data, '\n');
	return p ? p + 1 : out->data;
}

/*
 * The key of an allowed-signers line: its principal and its last two
 * fields (key type, base64 key), without the options between them, so a
 * pin made before the server named one more namespace of the same key
 * still matches.  Into out (empty when the line has fewer fields).
 */
static void signers_key(const char *text, size_t len, char *out, size_t cap)
{
	const char *f[8];
	size_t n = 0, flen[8];
	const char *p = text, *end = text + len;

	out[0] = '\0';
	while (p < end && *p != '\n') {
		const char *q = p;

		while (q < end && *q != ' ' && *q != '\n')
			q++;
		if (q > p) {
			if (n == 8)
				return;
			f[n] = p;
			flen[n++] = (size_t)(q - p);
		}
		p = q < end && *q == ' ' ? q + 1 : q;
	}
	if (n >= 3)
		snprintf(out, cap, "%.*s %.*s %.*s", (int)flen[0], f[0],
			 (int)flen[n - 2], f[n - 2], (int)flen[n - 1],
			 f[n - 1]);
}

static int pin_differs(int i, const char *have, size_t len, const char *text)
{
	char a[1024], b[1024];

	if (i != 0)
		return len != strlen(text) || memcmp(have, text, len);
	signers_key(have, len, a, sizeof(a));
	signers_key(text, strlen(text), b, sizeof(b));
	return !a[0] || strcmp(a, b);
}

/* Pin the server's keys in CONFIG/trust (first use), or compare. */
static int pin_keys(const char *config, const struct proof *p, int *pinned)
{
	const char *leaf[2] = { "allowed_signers", "tsa-ca.pem" };
	const char *text[2] = { p->allowed_signers, p->tsa_ca };
	char *dir = NULL, path[PATH_MAX], *have;
	size_t len;
	int rc;

	*pinned = 0;
	rc = session_config_dir(config, &dir);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/trust", dir);
	rc = mkdir_p(path, 0700);
	for (int i = 0; rc == 0 && i < 2; i++) {
		snprintf(path, sizeof(path), "%s/trust/%s", dir, leaf[i]);
		rc = file_read_all(path, OUT_MAX, &have, &len);
		if (rc == -ENOENT) {
			rc = file_write_atomic(path, text[i], strlen(text[i]),
					       0600);
			*pinned = 1;
			continue;
		}
		if (rc == 0 && pin_differs(i, have, len, text[i]))
			rc = err_set(
				-EBADMSG,
				"the server's %s differs from the one pinned in %s",
				leaf[i], path);
		free(have);
	}
	free(dir);
	return rc;
}

/* Each e-signature: CMS over the content, binding, timestamp. */
static void sig_steps(struct verify *v, const struct proof *p, struct buf *out)
{
	char a_sh[] = "sh", a_dashc[] = "-c", a_u[] = "_";
	char cmd[] =
		"cd \"$1\" && "
		"openssl cms -verify -binary -inform DER -in \"$2.p7s\" -content content -CAfile tsa-ca.pem -purpose smimesign -out /dev/null && "
		"{ openssl cms -cmsout -print -inform DER -in \"$2.p7s\" | grep -qF \"$3\" || { echo \"the signature does not name this version as $4\"; exit 1; }; } && "
		"openssl ts -verify -data \"$2.p7s\" -in \"$2.tsr\" -CAfile tsa-ca.pem";
	char title[128], stem[160], binding[256], sha[80] = "";
	const char *l;

	if (p->nsigs == 0) {
		printf("%-28s none\n", "document signatures");
		return;
	}
	l = strstr(p->manifest, "\nsha256 ");
	if (l)
		snprintf(sha, sizeof(sha), "%.64s", l + 8);
	for (size_t i = 0; i < p->nsigs; i++) {
		const struct proof_sig *g = &p->sigs[i];
		char *argv[] = { a_sh,	  a_dashc,	   cmd,
				 a_u,	  v->tmp,	   stem,
				 binding, (char *)g->role, NULL };
		int rc;

		snprintf(stem, sizeof(stem), "signatures/%s.%s", g->login,
			 g->role);
		snprintf(binding, sizeof(binding),
			 "coffre-doc %s version %llu sha256 %s as %s",
			 p->doc_id, (unsigned long long)p->version, sha,
			 g->role);
		snprintf(title, sizeof(title), "signature %s (%s)", g->login,
			 g->role);
		rc = run(argv, out);
		step(v, title, rc, last_line(out));
	}
}

/* The deposit statement: signature, timestamp, what it names. */
static void statement_steps(struct verify *v, const struct proof *p)
{
	char a_sh[] = "sh", a_dashc[] = "-c", a_u[] = "_";
	char sig_cmd[] =
		"cd \"$1\" && ssh-keygen -Y verify -f allowed_signers -I \"$(cut -d' ' -f1 allowed_signers)\" -n coffre-statement -s statement.sig <statement.txt";
	char tsr_cmd[] =
		"cd \"$1\" && openssl ts -verify -data statement.txt -in statement.tsr -CAfile tsa-ca.pem";
	char *argv[] = { a_sh, a_dashc, sig_cmd, a_u, v->tmp, NULL };
	struct buf out;
	int rc;

	buf_init(&out, OUT_MAX);
	rc = run(argv, &out);
	step(v, "statement signature", rc, last_line(&out));
	argv[2] = tsr_cmd;
	rc = run(argv, &out);
	step(v, "statement timestamp", rc, last_line(&out));
	rc = proof_check_statement(p);
	step(v, "statement -> manifest", rc,
	     rc	      ? err_msg() :
	     !p->path ? "where it was deposited is not disclosed to you" :
			"");
	buf_release(&out);
}

static void ledger_steps(struct verify *v, const struct proof *p)
{
	char gitdir[PATH_MAX + 16], bundle[PATH_MAX], signers[PATH_MAX + 40],
		spec[PATH_MAX], data[PATH_MAX], tsr[PATH_MAX], ca[PATH_MAX],
		repo[PATH_MAX];
	char a_git[] = "git", a_clone[] = "clone", a_q[] = "-q",
	     a_bare[] = "--bare", a_c[] = "-c", a_fmt[] = "gpg.format=ssh",
	     a_vc[] = "verify-commit", a_openssl[] = "openssl", a_ts[] = "ts",
	     a_verify[] = "-verify", a_data[] = "-data", a_in[] = "-in",
	     a_ca[] = "-CAfile", a_sh[] = "sh", a_dashc[] = "-c";
	struct buf out;
	int rc = 0;

	buf_init(&out, OUT_MAX);
	if (!p->bundle) {
		/* Not given to a reader of part of the space: the statement
		 * stands for it. */
		printf("%-28s not in this proof (owners only)\n",
		       "ledger history");
		goto sigs;
	}
	snprintf(repo, sizeof(repo), "%s/ledger.git", v->tmp);
	snprintf(gitdir, sizeof(gitdir), "--git-dir=%s", repo);
	snprintf(bundle, sizeof(bundle), "%s/ledger.bundle", v->tmp);
	snprintf(signers, sizeof(signers),
		 "gpg.ssh.allowedSignersFile=%s/allowed_signers", v->tmp);
	snprintf(ca, sizeof(ca), "%s/tsa-ca.pem", v->tmp);
	{
		char *argv[] = {
			a_git, a_clone, a_q, a_bare, bundle, repo, NULL
		};

		rc = run(argv, &out);
	}
	step(v, "ledger bundle", rc, last_line(&out));
	if (rc < 0)
		goto out;
	/* manifest -> commit: the blob at path in the commit is the manifest */
	snprintf(spec, sizeof(spec), "%s:%s", p->commit, p->path + 1);
	{
		char cmd[] =
			"git --git-dir=\"$1\" cat-file blob \"$2\" | cmp - \"$3\"";
		char mpath[PATH_MAX], a_u[] = "_";
		char *argv[] = { a_sh, a_dashc, cmd,   a_u,
				 repo, spec,	mpath, NULL };

		snprintf(mpath, sizeof(mpath), "%s/manifest.txt", v->tmp);
		rc = run(argv, &out);
	}
	step(v, "manifest -> ledger commit", rc,
	     rc ? "the commit does not file this manifest at the path" : "");
	for (size_t i = 0; i < p->nchain && rc == 0; i++) {
		char *argv[] = { a_git, gitdir,
				 a_c,	a_fmt,
				 a_c,	signers,
				 a_vc,	(char *)p->chain[i].commit,
				 NULL };

		rc = run(argv, &out);
		if (rc < 0)
			buf_appendf(&out, "\ncommit %s", p->chain[i].commit);
	}
	step(v, "commit signatures", rc, last_line(&out));
	rc = 0;
	for (size_t i = 0; i < p->nchain && rc == 0; i++) {
		const char *c = p->chain[i].commit;

		snprintf(data, sizeof(data), "%s/commits/%s", v->tmp, c);
		snprintf(tsr, sizeof(tsr), "%s/timestamps/%s.tsr", v->tmp, c);
		if (!p->chain[i].token) {
			rc = -ENOENT;
			buf_reset(&out);
			buf_appendf(&out, "commit %s has no timestamp", c);
			break;
		}
		{
			char cmd[] =
				"git \"$1\" cat-file commit \"$2\" >\"$3\"";
			char a_u[] = "_";
			char *argv[] = { a_sh,	 a_dashc,   cmd,  a_u,
					 gitdir, (char *)c, data, NULL };

			snprintf(spec, sizeof(spec), "%s/commits", v->tmp);
			mkdir(spec, 0700);
			rc = run(argv, &out);
		}
		if (rc == 0) {
			char *argv[] = { a_openssl, a_ts, a_verify, a_data,
					 data,	    a_in, tsr,	    a_ca,
					 ca,	    NULL };

			rc = run(argv, &out);
		}
		if (rc < 0)
			buf_appendf(&out, "\ncommit %s", c);
	}
	step(v, "timestamps", rc, last_line(&out));
sigs:
	sig_steps(v, p, &out);
out:
	buf_release(&out);
}

int cmd_verify(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "progress", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	static const char use[] =
		"coffre: usage: coffre verify PATH [--version N] [--progress|--quiet]\n";
	enum progress_mode mode = PROGRESS_AUTO;
	struct progress prog;
	struct verify v = { .failed = 0 };
	unsigned long long version = 0;
	struct docref r;
	struct proof p;
	char *end;
	int c, rc, pinned;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		errno = 0;
		if ((c == 'p' || c == 'q') && mode == PROGRESS_AUTO) {
			mode = c == 'p' ? PROGRESS_ON : PROGRESS_QUIET;
			continue;
		}
		if (c == 'v')
			version = strtoull(optarg, &end, 10);
		if (c != 'v' || errno || *end || !version) {
			fputs(use, stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(use, stderr);
		return 2;
	}
	progress_init(&prog, mode);
	rc = docref_resolve(argv[optind], version, &r);
	if (rc == 0)
		rc = proof_fetch(config, &r, &p);
	if (rc < 0) {
		fprintf(stderr, "coffre: %s\n", err_msg());
		return 1;
	}
	printf("%s v%llu (document %s, space %s, commit %s)\n", argv[optind],
	       (unsigned long long)r.version, r.doc_id, r.space, p.commit);
	/* A large document takes a while to hash: the progress line says. */
	rc = proof_check_content(&p, r.content, &prog);
	step(&v, "content -> manifest", rc, rc ? err_msg() : "");
	rc = pin_keys(config, &p, &pinned);
	step(&v, pinned ? "server keys (pinned now)" : "server keys (pinned)",
	     rc, rc ? err_msg() : "");
	if ((size_t)snprintf(v.tmp, sizeof(v.tmp), "%s/coffre-verify.XXXXXX",
			     getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") >=
	    sizeof(v.tmp))
		snprintf(v.tmp, sizeof(v.tmp), "/tmp/coffre-verify.XXXXXX");
	if (rc == 0 && !mkdtemp(v.tmp)) {
		v.tmp[0] = '\0';
		step(&v, "temporary directory", -errno, strerror(errno));
	} else if (rc == 0) {
		char content[sizeof(v.tmp) + 16];

		/* The drive's bytes, for the document signatures' checks. */
		snprintf(content, sizeof(content), "%s/content", v.tmp);
		rc = proof_write(&p, v.tmp);
		if (rc == 0 && symlink(r.content, content) < 0)
			rc = err_set(-errno, "cannot link '%s': %s", content,
				     strerror(errno));
		if (rc < 0) {
			step(&v, "write the proof", rc, err_msg());
		} else {
			statement_steps(&v, &p);
			ledger_steps(&v, &p);
		}
	}
	if (v.tmp[0] && strstr(v.tmp, "coffre-verify."))
		rm_rf(v.tmp);
	proof_release(&p);
	printf("%s\n", v.failed ? "verification FAILED" : "verified");
	return v.failed ? 1 : 0;
}
