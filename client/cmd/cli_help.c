/*
 * The help table of the coffre command line (cli_help.h).  The synopses
 * follow man/coffre.1; exit statuses are the same for every command:
 * 0 success, 1 failure (a message "coffre: ..." on standard error),
 * 2 usage error; `coffre status` also exits 1 when the drive needs
 * attention.
 */
#include <string.h>

#include "client/cmd/cli_help.h"
#include "common/err.h"

static const struct cli_help commands[] = {
	{ "login", "login URL LOGIN --password-file FILE [--cacert FILE]",
	  "log in to a coffred server and keep the session",
	  "  --password-file FILE  the password is the file's first line\n"
	  "  --cacert FILE         trust the CA certificates in FILE (copied into the config)\n" },
	{ "signup",
	  "signup URL LOGIN --phone +E164 [--email ADDR] --password-file FILE [--invite CODE] [--cacert FILE]\n"
	  "signup URL LOGIN --code CODE [--password-file FILE] [--cacert FILE]",
	  "make an account of your own, proven by a code sent by SMS",
	  "  --phone +E164         your mobile number, where the code goes\n"
	  "  --email ADDR          an e-mail address, kept with the account\n"
	  "  --password-file FILE  the password is the file's first line; with\n"
	  "                        --code it also makes your signing key\n"
	  "  --invite CODE         the invitation a server with signup = invite wants\n"
	  "  --code CODE           the 6 digits received: makes the account, logs in\n"
	  "  --cacert FILE         trust the CA certificates in FILE\n" },
	{ "password-reset",
	  "password-reset URL LOGIN [--cacert FILE]\n"
	  "password-reset URL LOGIN --code CODE --password-file FILE [--cacert FILE]",
	  "set a new password, proven by a code sent by SMS to the account's number",
	  "  --code CODE           the 6 digits received\n"
	  "  --password-file FILE  the new password is the file's first line\n"
	  "  Every session of the account ends; log in again with coffre login.\n" },
	{ "export", "export SPACE --out DIR [--progress|--quiet]",
	  "write everything you may read of a space into DIR, in open formats",
	  "  --out DIR   where (made if need be); a second run fetches only\n"
	  "              what is missing or not whole\n"
	  "  --progress  show documents and bytes done, the rate and the time\n"
	  "              left (default: when stderr is a terminal)\n"
	  "  --quiet     show no progress\n"
	  "  DIR/VERIFY.txt says how to check it with sha256sum, git, openssl.\n" },
	{ "mount",
	  "mount SPACE MOUNTPOINT [--cache DIR] [--cache-size SIZE] [--foreground] [--debug]",
	  "mount a space as a drive",
	  "  --cache DIR        the encrypted cache, staging and queue (default ~/.cache/coffre/SPACE)\n"
	  "  --cache-size SIZE  bound of the chunk cache (K, M, G, T suffixes)\n"
	  "  -f, --foreground   stay in the foreground\n"
	  "  -d, --debug        FUSE debug output\n" },
	{ "sync",
	  "sync --wait MOUNTPOINT [--timeout SECONDS] [--progress|--quiet]",
	  "send pending changes now and wait until the server has them",
	  "  --wait             wait until no change is pending (required)\n"
	  "  --timeout SECONDS  give up after SECONDS (default 600), exit 1\n"
	  "  --progress         show changes and bytes left, the rate and the\n"
	  "                     file being sent (default: when stderr is a terminal)\n"
	  "  --quiet            show no progress\n" },
	{ "status", "status [MOUNTPOINT] [--json]",
	  "the state of a drive, or of every mounted drive",
	  "  Server and user, online or offline since when, queued changes\n"
	  "  (count and bytes), last successful sync, cache use against its\n"
	  "  bound, the last error.\n"
	  "  --json  one JSON object per drive, one a line\n"
	  "  Exit status 1 when a drive needs attention: offline with changes\n"
	  "  queued, deposits held for the space's quota, or an error since\n"
	  "  the last successful sync.\n" },
	{ "versions", "versions PATH [--json]",
	  "list the versions of a document: N, deposited at, by, size, SHA-256",
	  "  --json  one JSON array of records on standard output\n" },
	{ "umount", "umount MOUNTPOINT",
	  "unmount a drive once its pending changes are kept", NULL },
	{ "verify", "verify PATH [--version N] [--progress|--quiet]",
	  "check a version against the signed, timestamped ledger",
	  "  --version N  version N (default: the current one)\n"
	  "  --progress   show the bytes hashed of a large document (default:\n"
	  "               when stderr is a terminal)\n"
	  "  --quiet      show no progress\n" },
	{ "proof", "proof PATH --out DIR [--version N] [--progress|--quiet]",
	  "write a proof bundle that stock git, ssh-keygen and openssl check",
	  "  --out DIR    where the proof goes\n"
	  "  --version N  version N (default: the current one)\n"
	  "  --progress   show the bytes copied and hashed (default: when stderr\n"
	  "               is a terminal)\n"
	  "  --quiet      show no progress\n" },
	{ "sign",
	  "sign PATH --as author|recipient [--version N] [--password-file FILE]",
	  "sign a version with your key", NULL },
	{ "signatures", "signatures PATH [--version N] [--json]",
	  "list the signatures of a version",
	  "  --version N  version N (default: the current one)\n"
	  "  --json       one JSON array of records on standard output\n" },
	{ "declassify", "declassify PATH --version N",
	  "open an older sealed version to those who may read the document (owners)",
	  NULL },
	{ "member",
	  "member add SPACE LOGIN --role owner|assistant|intervenant|trusted\n"
	  "member remove SPACE LOGIN\n"
	  "member list SPACE [--json]",
	  "invite, remove or list the members of a space",
	  "  --role ROLE  the role to give (member add)\n"
	  "  --json       member list: one JSON object (members, grants, invited)\n" },
	{ "grant", "grant PATH LOGIN read|deposit",
	  "give a member a right on a folder", NULL },
	{ "revoke", "revoke PATH LOGIN",
	  "take back a member's grant on a folder", NULL },
	{ "delegate-admin", "delegate-admin SPACE LOGIN [--revoke]",
	  "let an assistant administer members and grants",
	  "  --revoke  take the delegation back\n" },
	{ "log", "log PATH [--reads] [--by LOGIN] [--json]",
	  "the event journal of a document or folder",
	  "  --reads     list reads instead\n"
	  "  --by LOGIN  only the events of LOGIN\n"
	  "  --json      one JSON array of events on standard output\n" },
	{ "spaces", "spaces [--json]",
	  "the spaces you are a member of, their kind and your role",
	  "  --json  one JSON array of records on standard output\n" },
	{ "space",
	  "space create NAME [--kind private|company|association] [--plan default|none] [--json]\n"
	  "space terminate|reactivate NAME",
	  "make a space of your own, or end one you own (with a grace)",
	  "  --kind KIND   private (the default), company or association\n"
	  "  --plan PLAN   default: the kind's folders (docs/plans.md); none: no folder\n"
	  "  --json        one JSON object on standard output\n"
	  "  terminate     the space becomes read-only for everyone and is destroyed\n"
	  "                once the server's grace is over (coffred expire)\n"
	  "  reactivate    an owner takes it back before that\n" },
	{ "usage", "usage SPACE [--json]",
	  "what a space holds (bytes after dedup, documents, versions) and its quota",
	  "  --json  one JSON object on standard output\n" },
	{ "logout", "logout", "end this device's session", NULL },
	{ "sessions",
	  "sessions [--revoke ID | --revoke-others | --revoke-all | --json]",
	  "list or revoke your sessions",
	  "  --revoke ID      end the session ID\n"
	  "  --revoke-others  end every session but this device's\n"
	  "  --revoke-all     end every session, this device's too\n"
	  "  --json           list as one JSON array on standard output\n" },
	{ "passwd", "passwd --password-file OLD --new-password-file NEW",
	  "change your password", NULL },
	{ "invitations", "invitations [--json]",
	  "the invitations waiting for you",
	  "  --json  one JSON array of records on standard output\n" },
	{ "accept", "accept SPACE", "join a space you are invited to", NULL },
	{ "decline", "decline SPACE", "refuse an invitation", NULL },
	{ "help", "help [COMMAND]", "this help, or a command's", NULL },
};

const struct cli_help *cli_help_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* Each synopsis line of h, prefixed. */
static void synopsis(FILE *f, const char *first, const struct cli_help *h)
{
	const char *s = h->synopsis;

	while (*s) {
		size_t n = strcspn(s, "\n");

		fprintf(f, "%s coffre [--config DIR] %.*s\n", first, (int)n, s);
		first = "      ";
		s += n + (s[n] == '\n');
	}
}

void cli_help_usage(FILE *f)
{
	const char *first = "usage:";

	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		synopsis(f, first, &commands[i]);
		first = "      ";
	}
	fprintf(f, "%s coffre --help | --version\n", first);
}

void cli_help_list(FILE *f)
{
	fputs("usage: coffre [--config DIR] COMMAND [ARGS...]\n\ncommands:\n",
	      f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-15s %s\n", commands[i].name,
			commands[i].summary);
	fputs("\n`coffre help COMMAND` or `coffre COMMAND --help` shows one; "
	      "man coffre-COMMAND or coffre(1) tell more.\n",
	      f);
}

void cli_help_print(FILE *f, const struct cli_help *h)
{
	synopsis(f, "usage:", h);
	fprintf(f, "\n%s\n", h->summary);
	if (h->details)
		fprintf(f, "\n%s", h->details);
	fputs("\nexit status: 0 success, 1 failure, 2 usage error\n", f);
}

int cli_help_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return 0;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	}
	return 0;
}
