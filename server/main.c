/*
 * coffred: the coffre server.  This file only parses the command line and
 * dispatches to the commands (admin.c, serve.c); every error ends here as
 * one line "coffred: MESSAGE" on stderr and exit status 1, usage errors
 * with status 2.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "server/admin.h"
#include "server/expire.h"
#include "server/fsck.h"
#include "server/json_budget.h"
#include "server/keys.h"
#include "server/serve.h"
#include "server/space_rekey.h"

#define EXIT_USAGE 2

static const char usage_text[] =
	"usage: coffred init DATADIR [--listen ADDR:PORT] [--index postgresql://USER@HOST:PORT/DB] [--chunks dir|s3://HOST:PORT/BUCKET --s3-key-file FILE] [--ledger dir|index|postgresql]\n"
	"       coffred init DATADIR --join DATADIR [--listen ADDR:PORT]\n"
	"       coffred serve DATADIR [--port-file FILE]\n"
	"       coffred user add DATADIR LOGIN --phone +E164 --password-file FILE\n"
	"       coffred space create DATADIR SPACE --owner LOGIN [--kind private|company|association] [--plan default|none|FILE]\n"
	"       coffred space path DATADIR SPACE\n"
	"       coffred space clone DATADIR SPACE DIR\n"
	"       coffred space quota DATADIR SPACE SIZE|none|default\n"
	"       coffred space rekey DATADIR SPACE\n"
	"       coffred invite DATADIR [--days N]\n"
	"       coffred expire DATADIR [--now DATE]\n"
	"       coffred legacy open DATADIR LOGIN --mandate REF --notary LOGIN\n"
	"       coffred key export DATADIR --allowed-signers|--tsa-ca\n"
	"       coffred fsck DATADIR [SPACE]\n"
	"       coffred help [COMMAND] | COMMAND --help\n";

/* What each command does, for `coffred help CMD` and `coffred CMD --help`. */
static const struct {
	const char *cmd, *what;
} summaries[] = {
	{ "init",
	  "create a data directory: keys, TLS CA and certificate, index, coffred.conf" },
	{ "serve",
	  "serve the data directory over HTTPS; SIGTERM stops cleanly" },
	{ "user add", "add a login (password from the file's first line)" },
	{ "space create",
	  "create a space with its owner, its ledger and the filing plan of its kind (--plan none: no folders; --plan FILE: a plan of your own, docs/plans.md)" },
	{ "space path", "print the space's bare git ledger" },
	{ "space clone",
	  "copy the space's ledger as it is now to a new bare git repository DIR, for stock git (a ledger kept in the index included)" },
	{ "space quota",
	  "set the bytes a space may hold (K, M, G, T; none: unlimited; default: quota_default)" },
	{ "invite",
	  "print a one-use sign-up invitation code (signup = invite), valid 7 days or N" },
	{ "expire",
	  "destroy the spaces terminated longer ago than termination_grace, each with a signed, timestamped certificate" },
	{ "legacy open",
	  "after a death: freeze LOGIN's account and give the spaces it owned alone to the notary (coffred stopped)" },
	{ "space rekey",
	  "give a space from before keys of their own one, its chunks re-encrypted (coffred stopped)" },
	{ "key export", "print the public keys that verify the history" },
	{ "fsck",
	  "check that chunks, ledger, index, signatures and timestamps agree" },
};

/*
 * The usage lines of cmd ("user" or "user add"), and what it does; 0 when
 * cmd names no command.
 */
static int help_for(FILE *f, const char *cmd)
{
	const char *line = usage_text;
	int found = 0;
	size_t n = strlen(cmd);

	while (*line) {
		const char *start = strstr(line, "coffred ");
		size_t len = strcspn(line, "\n");

		if (start && start < line + len &&
		    !strncmp(start + 8, cmd, n) &&
		    (start[8 + n] == ' ' || start[8 + n] == '\n')) {
			fprintf(f, "%s %.*s\n", found ? "      " : "usage:",
				(int)(line + len - start), start);
			found = 1;
		}
		line += len + (line[len] == '\n');
	}
	for (size_t i = 0; found && i < ARRAY_SIZE(summaries); i++)
		if (!strncmp(summaries[i].cmd, cmd, n))
			fprintf(f, "  %-13s %s\n", summaries[i].cmd,
				summaries[i].what);
	if (found)
		fputs("exit status: 0 success, 1 failure, 2 usage error; see coffred(8)\n",
		      f);
	return found;
}

/* --help or -h among the arguments, before any "--". */
static int help_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return 0;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	}
	return 0;
}

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "coffred: %s\n", why);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

enum opt_id {
	OPT_LISTEN = 1,
	OPT_PORT_FILE,
	OPT_PHONE,
	OPT_PASSWORD_FILE,
	OPT_OWNER,
	OPT_KIND,
	OPT_INDEX,
	OPT_CHUNKS,
	OPT_S3_KEY_FILE,
	OPT_PLAN,
	OPT_DAYS,
	OPT_NOW,
	OPT_MANDATE,
	OPT_NOTARY,
	OPT_LEDGER,
	OPT_JOIN,
	OPT_LAST = OPT_JOIN
};

struct opts {
	const char *val[OPT_LAST + 1];
	char *pos[4];
	int npos;
};

/*
 * Parse argv (after the command words): allowed options and exactly npos
 * positional arguments.  Returns 0 or a usage exit status.
 */
static int parse(int argc, char **argv, const struct option *allowed, int npos,
		 struct opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", allowed, NULL)) != -1) {
		if (c <= 0 || c > OPT_LAST)
			return usage(c == ':' ? "missing option value" :
						"unknown option");
		if (o->val[c])
			return usage("option given twice");
		o->val[c] = optarg;
	}
	if (argc - optind != npos)
		return usage("wrong number of arguments");
	for (int i = 0; i < npos; i++)
		o->pos[i] = argv[optind + i];
	o->npos = npos;
	return 0;
}

static int done(int rc)
{
	if (rc < 0) {
		fprintf(stderr, "coffred: %s\n", err_msg());
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	static const struct option o_init[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "index", required_argument, NULL, OPT_INDEX },
		{ "chunks", required_argument, NULL, OPT_CHUNKS },
		{ "s3-key-file", required_argument, NULL, OPT_S3_KEY_FILE },
		{ "ledger", required_argument, NULL, OPT_LEDGER },
		{ "join", required_argument, NULL, OPT_JOIN },
		{ NULL, 0, NULL, 0 }
	};
	static const struct option o_serve[] = {
		{ "port-file", required_argument, NULL, OPT_PORT_FILE },
		{ NULL, 0, NULL, 0 }
	};
	static const struct option o_user[] = {
		{ "phone", required_argument, NULL, OPT_PHONE },
		{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
		{ NULL, 0, NULL, 0 }
	};
	static const struct option o_space[] = {
		{ "owner", required_argument, NULL, OPT_OWNER },
		{ "kind", required_argument, NULL, OPT_KIND },
		{ "plan", required_argument, NULL, OPT_PLAN },
		{ NULL, 0, NULL, 0 }
	};
	static const struct option o_invite[] = { { "days", required_argument,
						    NULL, OPT_DAYS },
						  { NULL, 0, NULL, 0 } };
	static const struct option o_expire[] = { { "now", required_argument,
						    NULL, OPT_NOW },
						  { NULL, 0, NULL, 0 } };
	static const struct option o_legacy[] = {
		{ "mandate", required_argument, NULL, OPT_MANDATE },
		{ "notary", required_argument, NULL, OPT_NOTARY },
		{ NULL, 0, NULL, 0 }
	};
	static const struct option o_none[] = { { NULL, 0, NULL, 0 } };
	struct opts o;
	int rc;

	/* Before any json_t exists (json_budget.h). */
	json_budget_install();
	if (argc < 2)
		return usage(NULL);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, stdout);
		return EXIT_SUCCESS;
	}
	if (!strcmp(argv[1], "help")) {
		char cmd[64];

		if (argc == 2) {
			fputs(usage_text, stdout);
			return EXIT_SUCCESS;
		}
		snprintf(cmd, sizeof(cmd), "%s%s%s", argv[2],
			 argc > 3 ? " " : "", argc > 3 ? argv[3] : "");
		if (argc > 4 || !help_for(stdout, cmd))
			return usage("help: no such command");
		return EXIT_SUCCESS;
	}
	if (help_wanted(argc, argv)) {
		char cmd[64];
		int sub = argc > 2 && argv[2][0] != '-';

		/* "user add --help", or "user --help": the command words */
		snprintf(cmd, sizeof(cmd), "%s%s%s", argv[1], sub ? " " : "",
			 sub ? argv[2] : "");
		if (help_for(stdout, cmd) || help_for(stdout, argv[1]))
			return EXIT_SUCCESS;
		return usage("unknown command");
	}
	if (!strcmp(argv[1], "init")) {
		struct admin_init_args a;

		rc = parse(argc - 1, argv + 1, o_init, 1, &o);
		if (rc)
			return rc;
		a = (struct admin_init_args){
			.listen = o.val[OPT_LISTEN],
			.index = o.val[OPT_INDEX],
			.chunks = o.val[OPT_CHUNKS],
			.s3_key_file = o.val[OPT_S3_KEY_FILE],
			.ledger = o.val[OPT_LEDGER],
			.join = o.val[OPT_JOIN],
		};
		return done(admin_init(o.pos[0], &a));
	}
	if (!strcmp(argv[1], "serve")) {
		rc = parse(argc - 1, argv + 1, o_serve, 1, &o);
		return rc ? rc :
			    done(serve_run(o.pos[0], o.val[OPT_PORT_FILE]));
	}
	if (argc >= 3 && !strcmp(argv[1], "user") && !strcmp(argv[2], "add")) {
		rc = parse(argc - 2, argv + 2, o_user, 2, &o);
		if (rc)
			return rc;
		if (!o.val[OPT_PHONE] || !o.val[OPT_PASSWORD_FILE])
			return usage(
				"user add needs --phone and --password-file");
		return done(admin_user_add(o.pos[0], o.pos[1], o.val[OPT_PHONE],
					   o.val[OPT_PASSWORD_FILE]));
	}
	if (argc >= 3 && !strcmp(argv[1], "space") &&
	    !strcmp(argv[2], "create")) {
		rc = parse(argc - 2, argv + 2, o_space, 2, &o);
		if (rc)
			return rc;
		if (!o.val[OPT_OWNER])
			return usage("space create needs --owner");
		return done(
			admin_space_create(o.pos[0], o.pos[1], o.val[OPT_OWNER],
					   o.val[OPT_KIND], o.val[OPT_PLAN]));
	}
	if (argc >= 3 && !strcmp(argv[1], "space") &&
	    !strcmp(argv[2], "path")) {
		rc = parse(argc - 2, argv + 2, o_none, 2, &o);
		return rc ? rc : done(admin_space_path(o.pos[0], o.pos[1]));
	}
	if (argc >= 3 && !strcmp(argv[1], "space") &&
	    !strcmp(argv[2], "clone")) {
		rc = parse(argc - 2, argv + 2, o_none, 3, &o);
		return rc ? rc :
			    done(admin_space_clone(o.pos[0], o.pos[1],
						   o.pos[2]));
	}
	if (argc >= 3 && !strcmp(argv[1], "space") &&
	    !strcmp(argv[2], "quota")) {
		rc = parse(argc - 2, argv + 2, o_none, 3, &o);
		return rc ? rc :
			    done(admin_space_quota(o.pos[0], o.pos[1],
						   o.pos[2]));
	}
	if (argc >= 3 && !strcmp(argv[1], "legacy") &&
	    !strcmp(argv[2], "open")) {
		rc = parse(argc - 2, argv + 2, o_legacy, 2, &o);
		if (rc)
			return rc;
		if (!o.val[OPT_MANDATE] || !o.val[OPT_NOTARY])
			return usage(
				"legacy open needs --mandate and --notary");
		return done(admin_legacy_open(o.pos[0], o.pos[1],
					      o.val[OPT_MANDATE],
					      o.val[OPT_NOTARY]));
	}
	if (!strcmp(argv[1], "expire")) {
		rc = parse(argc - 1, argv + 1, o_expire, 1, &o);
		return rc ? rc : done(expire_main(o.pos[0], o.val[OPT_NOW]));
	}
	if (!strcmp(argv[1], "invite")) {
		rc = parse(argc - 1, argv + 1, o_invite, 1, &o);
		return rc ? rc : done(admin_invite(o.pos[0], o.val[OPT_DAYS]));
	}
	if (argc >= 3 && !strcmp(argv[1], "space") &&
	    !strcmp(argv[2], "rekey")) {
		rc = parse(argc - 2, argv + 2, o_none, 2, &o);
		return rc ? rc : done(space_rekey_main(o.pos[0], o.pos[1]));
	}
	if (argc == 5 && !strcmp(argv[1], "key") &&
	    !strcmp(argv[2], "export")) {
		if (!strcmp(argv[4], "--allowed-signers"))
			return done(keys_export(argv[3], "allowed-signers"));
		if (!strcmp(argv[4], "--tsa-ca"))
			return done(keys_export(argv[3], "tsa-ca"));
		return usage("key export needs --allowed-signers or --tsa-ca");
	}
	if (!strcmp(argv[1], "fsck")) {
		if (argc != 3 && argc != 4)
			return usage("wrong number of arguments");
		return fsck_main(argv[2], argc == 4 ? argv[3] : NULL);
	}
	return usage("unknown command");
}
