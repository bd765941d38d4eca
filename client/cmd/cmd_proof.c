/*
 * `coffre proof PATH --out DIR [--version N]`: export one version of a
 * document with everything a third party needs to check it using stock
 * git, ssh-keygen and openssl only, and trusting nothing of coffre's but
 * the server's published keys:
 *
 *   content            the version's bytes (copied from the drive)
 *   manifest.txt       its manifest, as filed in the ledger
 *   statement.txt      the server's deposit statement of the version,
 *   statement.sig      its SSH signature by the ledger key and
 *   statement.tsr      its RFC 3161 timestamp
 *   ledger.bundle      (owners only) git bundle of the commits from the
 *                      space's root to the commit that made the version
 *   timestamps/C.tsr   (owners only) the RFC 3161 response of each of them
 *   allowed_signers    the server's ledger key (git/ssh-keygen format)
 *   tsa-ca.pem         the server's CA: it issued the TSA certificate and
 *                      the users' signing certificates
 *   signatures/L.R.p7s the e-signatures of the version (login L, role R)
 *                      and L.R.tsr their RFC 3161 tokens
 *   VERIFY.txt         a POSIX shell script: the exact commands, run with
 *                      `sh VERIFY.txt`
 *
 * The bundle shows every name, manifest and access line of the space at
 * that commit, so the server gives it only to those who may read the whole
 * space; the statement proves the version to anyone else, alone.
 *
 * DIR must not exist or be empty: a proof never mixes with other files.
 * Before anything is written, the content read from the drive must hash
 * to the manifest's sha256.
 */
#include "client/cmd/cmd_proofs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "client/cmd/docref.h"
#include "client/cmd/progress.h"
#include "client/cmd/proof_fetch.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"

#define VERIFY_MAX (64u * 1024u * 1024u)

/* Empty or missing: created 0755.  -EEXIST when it holds anything. */
static int out_dir(const char *dir)
{
	struct dirent *d;
	DIR *dp;
	int rc;

	rc = mkdir_p(dir, 0755);
	if (rc < 0)
		return err_set(rc, "cannot create '%s': %s", dir,
			       strerror(-rc));
	dp = opendir(dir);
	if (!dp)
		return err_set(-errno, "cannot read '%s': %s", dir,
			       strerror(errno));
	while ((d = readdir(dp)))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
			closedir(dp);
			return err_set(-EEXIST, "'%s' is not empty", dir);
		}
	closedir(dp);
	return 0;
}

static int put(const char *dir, const char *leaf, const void *p, size_t n)
{
	char path[PATH_MAX];
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, leaf) >=
	    sizeof(path))
		return err_set(-ENAMETOOLONG, "path too long");
	rc = file_write_atomic(path, p, n, 0644);
	if (rc < 0)
		return err_set(rc, "cannot write '%s': %s", path,
			       strerror(-rc));
	return 0;
}

/* Append s single-quoted for sh. */
static int sh_quote(struct buf *b, const char *s)
{
	int rc = buf_append(b, "'", 1);

	for (; rc == 0 && *s; s++)
		rc = *s == '\'' ? buf_append(b, "'\\''", 4) :
				  buf_append(b, s, 1);
	return rc ? rc : buf_append(b, "'", 1);
}

/* Which line of statement.txt says where the version was deposited. */
static int path_step(const struct proof *p, int format, struct buf *b)
{
	if (!p->path)
		return buf_appendf(
			b,
			"echo '   (where it was deposited is not disclosed to you: the statement commits to that path by its path-sha256)'\n");
	if (format == 1)
		return buf_appendf(b, "test \"$(st path)\" = \"/$P\"\n");
	return buf_appendf(
		b,
		"test \"$(st path-sha256)\" = \"$(printf '%%s %%s' \"$S\" \"/$P\" | sha256sum | cut -d' ' -f1)\"\n");
}

/* Steps 2-4: the deposit statement, which every proof carries. */
static int statement_steps(const struct proof *p, struct buf *b)
{
	int format =
		!strncmp(p->statement.text, "coffre-statement 1\n", 19) ? 1 : 2;
	int rc;

	rc = buf_appendf(
		b,
		"echo '2. the deposit statement is signed by the ledger key'\n"
		"ssh-keygen -Y verify -f allowed_signers -I \"$(cut -d' ' -f1 allowed_signers)\" -n coffre-statement -s statement.sig <statement.txt\n"
		"\n"
		"echo '3. the deposit statement has an RFC 3161 timestamp'\n"
		"openssl ts -verify -data statement.txt -in statement.tsr -CAfile tsa-ca.pem\n"
		"\n"
		"echo '4. the statement names this version, its manifest and its content'\n"
		"st() { sed -n \"s/^$1 //p\" statement.txt; }\n"
		"test \"$(head -n 1 statement.txt)\" = 'coffre-statement %d'\n"
		"test \"$(st doc)\" = %s\n"
		"test \"$(st version)\" = %llu\n",
		format, p->doc_id, (unsigned long long)p->version);
	if (rc == 0)
		rc = path_step(p, format, b);
	if (rc == 0)
		rc = buf_appendf(
			b,
			"test \"$(st commit)\" = \"$C\"\n"
			"test \"$(st doc)\" = \"$(sed -n 's/^doc //p' manifest.txt)\"\n"
			"test \"$(st version)\" = \"$(sed -n 's/^version //p' manifest.txt)\"\n"
			"test \"$(st manifest-sha256)\" = \"$(sha256sum <manifest.txt | cut -d' ' -f1)\"\n"
			"test \"$(st sha256)\" = \"$(sha256sum <content | cut -d' ' -f1)\"\n");
	return rc;
}

/* Steps 5-8: the ledger's history, in owners' proofs only. */
static int history_steps(const struct proof *p, struct buf *b)
{
	int rc;

	rc = buf_appendf(
		b,
		"\n"
		"echo '5. the ledger bundle is complete and clones'\n"
		"rm -rf ledger.git\n"
		"git clone -q --bare ledger.bundle ledger.git\n"
		"git --git-dir=ledger.git bundle verify ledger.bundle\n"
		"test \"$(git --git-dir=ledger.git rev-parse HEAD)\" = \"$C\"\n"
		"\n"
		"echo '6. commit C files this manifest at the path'\n"
		"git --git-dir=ledger.git cat-file blob \"$C:$P\" | cmp - manifest.txt\n"
		"\n"
		"echo '7. every commit from the root to C is signed by the ledger key'\n");
	for (size_t i = 0; rc == 0 && i < p->nchain; i++)
		rc = buf_appendf(
			b,
			"git --git-dir=ledger.git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile=\"$PWD/allowed_signers\" verify-commit %s\n",
			p->chain[i].commit);
	if (rc == 0)
		rc = buf_appendf(
			b,
			"test \"$(git --git-dir=ledger.git rev-list HEAD | wc -l)\" = %zu\n"
			"\n"
			"echo '8. every commit has an RFC 3161 timestamp over its raw bytes'\n"
			"mkdir -p commits\n",
			p->nchain);
	for (size_t i = 0; rc == 0 && i < p->nchain; i++)
		rc = buf_appendf(
			b,
			"git --git-dir=ledger.git cat-file commit %s >commits/%s\n"
			"openssl ts -verify -data commits/%s -in timestamps/%s.tsr -CAfile tsa-ca.pem\n",
			p->chain[i].commit, p->chain[i].commit,
			p->chain[i].commit, p->chain[i].commit);
	return rc;
}

static int verify_script(const struct proof *p, struct buf *b)
{
	int rc;

	rc = buf_appendf(
		b,
		"#!/bin/sh\n"
		"# Proof of version %llu of document %s (space %s), filed at\n"
		"# %s by ledger commit %s.\n"
		"#\n"
		"# Checks with stock git, ssh-keygen and openssl only.  Run: sh VERIFY.txt\n"
		"# Trust anchors: allowed_signers and tsa-ca.pem must be the keys the\n"
		"# server publishes (`coffred key export DATADIR --allowed-signers`,\n"
		"# `--tsa-ca`); compare them before trusting anything below.\n"
		"#\n"
		"# statement.txt is the server's deposit statement of this version,\n"
		"# signed with its ledger key and timestamped: it proves the version\n"
		"# without showing anything else of the space.%s\n"
		"set -eu\n"
		"cd \"$(dirname \"$0\")\"\n"
		"C=%s\n",
		(unsigned long long)p->version, p->doc_id, p->space,
		p->path ? p->path : "a path not disclosed to you", p->commit,
		p->bundle ?
			"  ledger.bundle adds\n"
			"# the ledger's history up to the commit, for readers of the whole space." :
			"",
		p->commit);
	if (rc == 0 && p->path) {
		rc = buf_appendf(b, "P=");
		if (rc == 0)
			rc = sh_quote(b, p->path + 1);
		if (rc == 0 && p->path_salt[0])
			rc = buf_appendf(b, "\nS=%s", p->path_salt);
		if (rc == 0)
			rc = buf_appendf(b, "\n");
	}
	if (rc == 0)
		rc = buf_appendf(
			b,
			"\n"
			"echo '1. the content hashes to the manifest'\"'\"'s sha256'\n"
			"test \"$(sha256sum <content | cut -d' ' -f1)\" = \"$(sed -n 's/^sha256 //p' manifest.txt)\"\n"
			"test \"$(wc -c <content | tr -d ' ')\" = \"$(sed -n 's/^size //p' manifest.txt)\"\n"
			"\n");
	if (rc == 0)
		rc = statement_steps(p, b);
	if (rc == 0 && p->bundle)
		rc = history_steps(p, b);
	if (rc == 0 && p->nsigs)
		rc = buf_appendf(
			b,
			"\necho '%d. document signatures: CMS over the content, naming this version and role, timestamped'\n"
			"H=$(sed -n 's/^sha256 //p' manifest.txt)\n",
			p->bundle ? 9 : 5);
	for (size_t i = 0; rc == 0 && i < p->nsigs; i++) {
		const struct proof_sig *g = &p->sigs[i];

		rc = buf_appendf(
			b,
			"openssl cms -verify -binary -inform DER -in signatures/%s.%s.p7s -content content -CAfile tsa-ca.pem -purpose smimesign -out /dev/null\n"
			"openssl cms -cmsout -print -inform DER -in signatures/%s.%s.p7s | grep -qF \"coffre-doc %s version %llu sha256 $H as %s\"\n"
			"openssl ts -verify -data signatures/%s.%s.p7s -in signatures/%s.%s.tsr -CAfile tsa-ca.pem\n",
			g->login, g->role, g->login, g->role, p->doc_id,
			(unsigned long long)p->version, g->role, g->login,
			g->role, g->login, g->role);
	}
	if (rc == 0)
		rc = buf_appendf(b, "\necho 'all checks passed'\n");
	return rc;
}

int proof_write(const struct proof *p, const char *dir)
{
	char leaf[64];
	struct buf script;
	int rc;

	rc = put(dir, "manifest.txt", p->manifest, strlen(p->manifest));
	if (rc == 0)
		rc = put(dir, "statement.txt", p->statement.text,
			 strlen(p->statement.text));
	if (rc == 0)
		rc = put(dir, "statement.sig", p->statement.sig,
			 strlen(p->statement.sig));
	if (rc == 0)
		rc = put(dir, "statement.tsr", p->statement.token,
			 p->statement.token_len);
	if (rc == 0 && p->bundle)
		rc = put(dir, "ledger.bundle", p->bundle, p->bundle_len);
	if (rc == 0)
		rc = put(dir, "allowed_signers", p->allowed_signers,
			 strlen(p->allowed_signers));
	if (rc == 0)
		rc = put(dir, "tsa-ca.pem", p->tsa_ca, strlen(p->tsa_ca));
	if (rc == 0 && p->nchain) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/timestamps", dir);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			rc = err_set(-errno, "cannot create '%s': %s", path,
				     strerror(errno));
	}
	for (size_t i = 0; rc == 0 && i < p->nchain; i++) {
		if (!p->chain[i].token)
			continue; /* VERIFY.txt will say it is missing */
		snprintf(leaf, sizeof(leaf), "timestamps/%s.tsr",
			 p->chain[i].commit);
		rc = put(dir, leaf, p->chain[i].token, p->chain[i].token_len);
	}
	if (rc == 0 && p->nsigs) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/signatures", dir);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			rc = err_set(-errno, "cannot create '%s': %s", path,
				     strerror(errno));
	}
	for (size_t i = 0; rc == 0 && i < p->nsigs; i++) {
		const struct proof_sig *g = &p->sigs[i];
		char name[160];

		snprintf(name, sizeof(name), "signatures/%s.%s.p7s", g->login,
			 g->role);
		rc = put(dir, name, g->cms, g->cms_len);
		snprintf(name, sizeof(name), "signatures/%s.%s.tsr", g->login,
			 g->role);
		if (rc == 0)
			rc = put(dir, name, g->token, g->token_len);
	}
	buf_init(&script, VERIFY_MAX);
	if (rc == 0)
		rc = verify_script(p, &script);
	if (rc == 0)
		rc = put(dir, "VERIFY.txt", script.data, script.len);
	buf_release(&script);
	return rc;
}

int cmd_proof(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "version", required_argument, NULL, 'v' },
		{ "progress", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	enum progress_mode mode = PROGRESS_AUTO;
	struct progress prog;
	const char *out = NULL;
	unsigned long long version = 0;
	struct proof p;
	struct docref r;
	char path[PATH_MAX], *end;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'o') {
			out = optarg;
		} else if ((c == 'p' || c == 'q') && mode == PROGRESS_AUTO) {
			mode = c == 'p' ? PROGRESS_ON : PROGRESS_QUIET;
		} else if (c == 'v') {
			errno = 0;
			version = strtoull(optarg, &end, 10);
			if (errno || *end || !version) {
				fprintf(stderr, "coffre: bad --version '%s'\n",
					optarg);
				return 2;
			}
		} else {
			fprintf(stderr,
				"coffre: usage: coffre proof PATH --out DIR [--version N] [--progress|--quiet]\n");
			return 2;
		}
	}
	if (argc - optind != 1 || !out) {
		fprintf(stderr,
			"coffre: usage: coffre proof PATH --out DIR [--version N] [--progress|--quiet]\n");
		return 2;
	}
	progress_init(&prog, mode);
	rc = docref_resolve(argv[optind], version, &r);
	if (rc == 0)
		rc = proof_fetch(config, &r, &p);
	if (rc < 0)
		goto fail;
	rc = out_dir(out);
	if (rc == 0) {
		snprintf(path, sizeof(path), "%s/content", out);
		/* Checked against the manifest while it is copied. */
		rc = proof_copy_content(&p, r.content, path, &prog);
	}
	if (rc == 0)
		rc = proof_write(&p, out);
	proof_release(&p);
	if (rc < 0)
		goto fail;
	printf("proof of %s v%llu written to %s (run: sh %s/VERIFY.txt)\n",
	       argv[optind], (unsigned long long)r.version, out, out);
	return 0;
fail:
	fprintf(stderr, "coffre: %s\n", err_msg());
	return 1;
}
