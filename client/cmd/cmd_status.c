/*
 * coffre status: what a person asks of a drive before trusting it with
 * more work, and what a monitoring script checks.  The mount process
 * answers through user.coffre.status (client/drive/status.c); without a
 * MOUNTPOINT every coffre drive of /proc/self/mountinfo is shown.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "client/cmd/cmd_status.h"

#define STATUS_MAX 65536

static int usage(void)
{
	fputs("usage: coffre [--config DIR] status [MOUNTPOINT] [--json]\n",
	      stderr);
	return 2;
}

/* "1.5 MiB" */
static void human(char *out, size_t cap, double v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static const char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static long long num(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);

	if (path2)
		v = json_object_get(v, path2);
	return json_integer_value(v);
}

/*
 * Why the drive needs attention, or NULL: offline with changes waiting,
 * or an error met after the last successful sync.
 */
static const char *attention(json_t *o)
{
	const char *err_at = str(o, "last_error_at"),
		   *sync_at = str(o, "last_sync");

	if (!json_is_true(json_object_get(o, "online")) &&
	    num(o, "queued", "changes") > 0)
		return "offline with changes queued";
	if (str(json_object_get(o, "quota"), "held_since")[0])
		return "deposits held: the space's quota is exceeded";
	/* RFC 3339 UTC times of one format compare as strings */
	if (str(o, "last_error")[0] && err_at[0] &&
	    strcmp(err_at, sync_at) >= 0)
		return "an error since the last successful sync";
	return NULL;
}

static void print_human(const char *mnt, json_t *o)
{
	char a[32], b[32];
	const char *why = attention(o);

	printf("%s: space %s at %s as %s\n", mnt, str(o, "space"),
	       str(o, "server"), str(o, "login"));
	if (json_is_true(json_object_get(o, "online")))
		printf("  online\n");
	else if (str(o, "offline_since")[0])
		printf("  offline since %s\n", str(o, "offline_since"));
	else
		printf("  offline\n");
	human(a, sizeof(a), (double)num(o, "queued", "bytes"));
	printf("  queued: %lld changes, %s\n", num(o, "queued", "changes"), a);
	printf("  last sync: %s\n",
	       str(o, "last_sync")[0] ? str(o, "last_sync") : "none yet");
	human(a, sizeof(a), (double)num(o, "cache", "used"));
	if (num(o, "cache", "max") > 0) {
		human(b, sizeof(b), (double)num(o, "cache", "max"));
		printf("  cache: %s of %s\n", a, b);
	} else {
		printf("  cache: %s (unbounded)\n", a);
	}
	if (num(o, "quota", "limit") > 0) {
		human(a, sizeof(a), (double)num(o, "quota", "bytes"));
		human(b, sizeof(b), (double)num(o, "quota", "limit"));
		printf("  quota: %s stored of %s\n", a, b);
	}
	if (str(json_object_get(o, "quota"), "held_since")[0])
		printf("  held since %s: over the space's quota, kept queued until it is raised\n",
		       str(json_object_get(o, "quota"), "held_since"));
	if (str(o, "last_error")[0])
		printf("  last error: %s (at %s)\n", str(o, "last_error"),
		       str(o, "last_error_at"));
	if (why)
		printf("  needs attention: %s\n", why);
}

/* One drive: 0 fine, 1 needs attention or unreadable. */
static int show(const char *mnt, int json, int quiet_unreadable)
{
	char *buf = malloc(STATUS_MAX + 1);
	ssize_t n;
	json_t *o;
	int rc;

	if (!buf) {
		fprintf(stderr, "coffre: out of memory\n");
		return 1;
	}
	n = getxattr(mnt, "user.coffre.status", buf, STATUS_MAX);
	if (n < 0) {
		int e = errno;

		free(buf);
		if (quiet_unreadable && e == EACCES)
			return 0; /* another user's drive */
		fprintf(stderr, "coffre: %s: %s\n", mnt,
			e == ENODATA || e == ENOTSUP ?
				"not a coffre drive (or one too old to tell its status)" :
				strerror(e));
		return 1;
	}
	buf[n] = '\0';
	o = json_loads(buf, 0, NULL);
	if (!json_is_object(o)) {
		fprintf(stderr, "coffre: %s: unreadable status\n", mnt);
		free(buf);
		json_decref(o);
		return 1;
	}
	if (json) {
		json_object_set_new(o, "mountpoint", json_string(mnt));
		json_object_set_new(o, "needs_attention",
				    attention(o) ? json_string(attention(o)) :
						   json_null());
		char *line = json_dumps(o, JSON_COMPACT);

		if (line)
			puts(line);
		free(line);
	} else {
		print_human(mnt, o);
	}
	rc = attention(o) ? 1 : 0;
	json_decref(o);
	free(buf);
	return rc;
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

static int show_all(int json)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192];
	int rc = 0, found = 0;

	if (!f) {
		fprintf(stderr,
			"coffre: cannot read /proc/self/mountinfo: %s\n",
			strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *mnt, *sep, *save = NULL, *fstype;
		int field = 0;

		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		fstype = strtok_r(sep + 3, " ", &save);
		if (!fstype || strcmp(fstype, "fuse.coffre"))
			continue;
		mnt = NULL;
		save = NULL;
		for (char *t = strtok_r(line, " ", &save); t;
		     t = strtok_r(NULL, " ", &save))
			if (++field == 5)
				mnt = t;
		if (!mnt)
			continue;
		unescape(mnt);
		if (found++ && !json)
			putchar('\n');
		rc |= show(mnt, json, 1);
	}
	fclose(f);
	if (!found && !json)
		printf("no coffre drive is mounted\n");
	return rc;
}

int cmd_status(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int c, json = 0;

	(void)config; /* the drive answers for its own session */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return usage();
		json = 1;
	}
	if (argc - optind > 1)
		return usage();
	if (argc - optind == 1)
		return show(argv[optind], json, 0);
	return show_all(json);
}
