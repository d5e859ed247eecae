/*
 * fuzz.h: what every fuzz target in tests/fuzz shares. A target defines
 * LLVMFuzzerTestOneInput (one input: nothing may crash, leak, hang or break an
 * invariant the target checks) and fuzz_cleanup (frees what the target kept between
 * inputs). Built with -fsanitize=fuzzer -DFUZZ_LIBFUZZER (tests/fuzz/run.sh) a target is
 * a libFuzzer program; otherwise fuzz_main.c gives it a main that replays its corpus,
 * tests/fuzz/corpus/<FUZZ_NAME>, in `make check`.
 */
#ifndef CASELEDGER_FUZZ_H
#define CASELEDGER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fuzz_cleanup(void);

/* A NUL-terminated copy of data (the parsers under test take C strings); aborts on OOM. */
char *fuzz_strndup(const uint8_t *data, size_t size);

/* Abort with a message: the invariant named by what does not hold. */
#define FUZZ_ASSERT(cond, what)                                                                    \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, what);                                       \
	} while (0)
_Noreturn void fuzz_fail(const char *file, int line, const char *what);

#endif
