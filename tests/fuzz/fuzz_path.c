/*
 * Names and space paths (common/path.c), as they come in request fields,
 * the access file and the ledger.  The input is cut at its first NUL, as a
 * C string is.  A valid path splits into a valid parent and a valid name
 * that join back to it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *parent = NULL, *name = NULL, *joined;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)name_validate(s);
	if (name_validate_user(s) == 0 && name_validate(s) < 0)
		abort(); /* the user rule is the stricter one */
	(void)ident_validate(s);
	if (path_validate(s) == 0 && strcmp(s, "/") != 0) {
		if (path_split(s, &parent, &name) < 0)
			abort();
		if (path_validate(parent) < 0 || name_validate(name) < 0)
			abort();
		joined = path_join(parent, name);
		if (!joined || strcmp(joined, s))
			abort();
		free(joined);
	}
	free(parent);
	free(name);
	free(s);
	return 0;
}
