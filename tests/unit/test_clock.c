/*
 * test_clock: a build without --enable-test-hooks ignores CASELEDGER_FAKE_TIME. This
 * program compiles storage/util.c itself, without CASELEDGER_TEST_HOOKS, whatever the
 * rest of the test build was configured with: a release build cannot be made to sign
 * commits dated in the future or the past by its environment.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "util.h"

static void test_fake_time_ignored(void **state)
{
	uint64_t before = (uint64_t)time(NULL) * 1000, now;

	(void)state;
#ifdef CASELEDGER_TEST_HOOKS
	fail_msg("test_clock must be built without CASELEDGER_TEST_HOOKS");
#endif
	setenv("CASELEDGER_FAKE_TIME", "9999999999", 1);
	now = util_now_ms();
	assert_true(now + 1000 >= before);
	assert_true(now < before + 60 * 1000);
	setenv("CASELEDGER_FAKE_TIME", "1", 1);
	assert_true(util_now_ms() + 1000 >= before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fake_time_ignored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
