/*
 * test_backoff: the scheduler's wait after failures. It is never 0 (to the scheduler, 0
 * is "no timer": one failure with backoff_min = 1 or backoff_max = 1 stopped syncing for
 * a year), it stays within [ceil(b/2), b] for b = min doubled per failure and capped at
 * max, and it reaches max.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dmn_backoff.h"

static void test_never_zero(void **state)
{
	unsigned long r;
	unsigned f;

	(void)state;
	for (f = 1; f < 40; f++)
		for (r = 0; r < 64; r++) {
			assert_int_equal(dmn_backoff(f, 1, 1, r), 1); /* min = max = 1 */
			assert_true(dmn_backoff(f, 1, 3600, r) >= 1); /* min = 1 */
			assert_int_equal(dmn_backoff(f, 5, 1, r), 1); /* max = 1 (below min) */
			assert_true(dmn_backoff(f, 0, 0, r) >= 1);    /* nonsense: still a timer */
			assert_true(dmn_backoff(f, 2, 2, r) >= 1);
		}
	assert_int_equal(dmn_backoff(1, 1, 3600, 0), 1);
}

static void test_range(void **state)
{
	unsigned long r;
	unsigned f, got, seen_max = 0;

	(void)state;
	for (f = 1; f < 40; f++)
		for (r = 0; r < 200; r++) {
			unsigned long b = f > 21 ? 3600 : (5ul << (f - 1));
			if (b > 3600)
				b = 3600;
			got = dmn_backoff(f, 5, 3600, r * 7919);
			assert_true(got >= b - b / 2 && got <= b);
		}
	/* the top of the range is reached: 1800 + 1800 for b = 3600 */
	seen_max = dmn_backoff(30, 5, 3600, 1800);
	assert_int_equal(seen_max, 3600);
	/* the first failure: between 3 and 5 seconds for min 5 */
	for (r = 0; r < 10; r++) {
		got = dmn_backoff(1, 5, 3600, r);
		assert_true(got >= 3 && got <= 5);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_never_zero),
	    cmocka_unit_test(test_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
