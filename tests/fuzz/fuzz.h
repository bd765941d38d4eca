/*
 * What the fuzz targets share: the libFuzzer entry points, and a scratch
 * directory (under TMPDIR) removed when the fuzzer exits.
 */
#ifndef COFFRE_TESTS_FUZZ_H
#define COFFRE_TESTS_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/fsutil.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir[512];

static inline void fuzz_dir_remove(void)
{
	if (fuzz_dir[0])
		rm_rf(fuzz_dir);
}

/* Make the scratch directory once; exits on failure (nothing to fuzz). */
static inline const char *fuzz_scratch(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/coffre-fuzz.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fuzz_dir)) {
		perror("mkdtemp");
		exit(1);
	}
	atexit(fuzz_dir_remove);
	return fuzz_dir;
}

#endif /* COFFRE_TESTS_FUZZ_H */
