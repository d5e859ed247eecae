/*
 * fuzz_schema: a fuzz target for the schema parser (storage/schema.c). A schema that
 * parses is usable: its version is known and its source text parses again to a schema of
 * the same version. A refusal says what was wrong.
 */
#include "config.h"

#include "err.h"
#include "fuzz.h"
#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct schema *s = NULL;

	if (schema_parse(&s, (const char *)data, size, "fuzz.ini") == 0) {
		FUZZ_ASSERT(s && schema_version(s) >= 0, "a parsed schema has a version");
		schema_free(s);
	} else {
		FUZZ_ASSERT(!s && err_msg()[0], "a refused schema says why");
	}
	err_clear();
	return 0;
}

void fuzz_cleanup(void)
{
}
