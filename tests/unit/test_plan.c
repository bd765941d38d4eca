/* plan_parse: the filing plan's grammar, its bounds and its errors. */
#include "common/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/tap.h"

#include "common/err.h"
#include "common/fsutil.h"

static int parse(struct plan *p, const char *text)
{
	return plan_parse(p, text, strlen(text));
}

int main(void)
{
	static const struct {
		const char *text, *why;
		int rc;
		size_t n;
	} rows[] = {
		{ "coffre-plan 1\n", "an empty plan", 0, 0 },
		{ "# c\n\ncoffre-plan 1\n# c\nrestricted /A\n",
		  "comments and blank lines", 0, 1 },
		{ "coffre-plan 1\nrestricted /A\nconfidential /A/B\npublic /C",
		  "no final newline", 0, 3 },
		{ "coffre-plan 1\nrestricted /Santé et bien-être\n",
		  "UTF-8 and spaces in names", 0, 1 },
		{ "", "nothing", -EBADMSG, 0 },
		{ "# only\n", "no magic line", -EBADMSG, 0 },
		{ "coffre-plan 2\n", "another format", -EBADMSG, 0 },
		{ "restricted /A\ncoffre-plan 1\n", "magic not first", -EBADMSG,
		  0 },
		{ "coffre-plan 1\nsecret /A\n", "unknown class", -EBADMSG, 0 },
		{ "coffre-plan 1\nrestricted\n", "no path", -EBADMSG, 0 },
		{ "coffre-plan 1\nrestricted A\n", "relative path", -EBADMSG,
		  0 },
		{ "coffre-plan 1\nrestricted /\n", "the root", -EBADMSG, 0 },
		{ "coffre-plan 1\nrestricted /A/\n", "trailing slash", -EBADMSG,
		  0 },
		{ "coffre-plan 1\nrestricted /A/../B\n", "dot-dot", -EBADMSG,
		  0 },
		{ "coffre-plan 1\nrestricted  /A\n", "two spaces", -EBADMSG,
		  0 },
		{ "coffre-plan 1\nrestricted /A\r\n", "CRLF", -EBADMSG, 0 },
		{ "coffre-plan 1\nrestricted /A/B\n", "orphan", -EBADMSG, 0 },
		{ "coffre-plan 1\nrestricted /A\npublic /A\n", "twice",
		  -EBADMSG, 0 },
		{ "coffre-plan 1\nrestricted /.coffre-folder\n",
		  "a reserved name", -EBADMSG, 0 },
	};
	struct plan p = { 0 };
	char *big;
	size_t len;
	int rc;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		rc = parse(&p, rows[i].text);
		is_int(rc, rows[i].rc, "%s: rc", rows[i].why);
		is_int((long long)p.n, (long long)rows[i].n, "%s: folders",
		       rows[i].why);
	}

	rc = parse(&p, "coffre-plan 1\nrestricted /A\nconfidential /A/B\n");
	is_int(rc, 0, "two folders");
	ok(p.n == 2 && !strcmp(p.folders[0].path, "/A") &&
		   p.folders[0].class == FOLDER_CLASS_RESTRICTED &&
		   !strcmp(p.folders[1].path, "/A/B") &&
		   p.folders[1].class == FOLDER_CLASS_CONFIDENTIAL,
	   "in order, with their classes");

	rc = parse(&p, "coffre-plan 1\nrestricted /A\nsecret /B\n");
	ok(rc == -EBADMSG && strstr(err_msg(), "line 3"),
	   "the error names the line (%s)", err_msg());
	is_int((long long)p.n, 0, "and leaves the plan empty");

	rc = plan_parse(&p, "coffre-plan 1\nrestricted /A\0B\n", 29);
	ok(rc == -EBADMSG && strstr(err_msg(), "NUL"), "a NUL byte is refused");

	/* PLAN_MAX_FOLDERS, then one more */
	big = malloc(32u * (PLAN_MAX_FOLDERS + 2));
	if (!big)
		return 1;
	len = (size_t)sprintf(big, "coffre-plan 1\n");
	for (int i = 0; i < PLAN_MAX_FOLDERS; i++)
		len += (size_t)sprintf(big + len, "public /F%d\n", i);
	is_int(plan_parse(&p, big, len), 0, "%d folders", PLAN_MAX_FOLDERS);
	len += (size_t)sprintf(big + len, "public /G\n");
	is_int(plan_parse(&p, big, len), -E2BIG, "one more is refused");
	free(big);

	big = calloc(1, PLAN_MAX_BYTES + 2);
	if (!big)
		return 1;
	memcpy(big, "coffre-plan 1\n", 14);
	memset(big + 14, '#', PLAN_MAX_BYTES + 1 - 14);
	is_int(plan_parse(&p, big, PLAN_MAX_BYTES + 1), -E2BIG,
	       "a text over PLAN_MAX_BYTES is refused");
	free(big);

	/* the plans shipped with coffred parse */
	{
		static const char *const shipped[] = { "private", "company",
						       "association" };
		for (size_t i = 0; i < 3; i++) {
			char path[512], *text = NULL;
			size_t n = 0;

			snprintf(path, sizeof(path), "%s/%s.plan", PLAN_SRC_DIR,
				 shipped[i]);
			rc = file_read_all(path, PLAN_MAX_BYTES, &text, &n);
			if (rc == 0)
				rc = plan_parse(&p, text, n);
			ok(rc == 0 && p.n > 5, "plans/%s.plan parses (%s)",
			   shipped[i], rc ? err_msg() : "ok");
			free(text);
		}
	}
	plan_release(&p);
	return tap_done();
}
