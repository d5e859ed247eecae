/* fuzz_util.c: helpers every fuzz target links (see fuzz.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <git2.h>

#include "fuzz.h"

/* libgit2 before any input: the parsers under test clear its error state, which needs it
 * (a release build crashed in git_error_clear without it; ASan's layout hid it). */
__attribute__((constructor)) static void fuzz_init(void)
{
	git_libgit2_init();
}

char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

_Noreturn void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
	abort();
}
