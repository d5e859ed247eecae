/*
 * dmn_backoff: the scheduler's wait after failed rounds (exponential, capped, jittered).
 */
#include "config.h"

#include "dmn_backoff.h"

unsigned dmn_backoff(unsigned failures, unsigned min, unsigned max, unsigned long rnd)
{
	unsigned shift = failures > 21 ? 20 : failures ? failures - 1 : 0;
	unsigned long b = (unsigned long)min << shift, lo;

	if (b > max)
		b = max;
	if (b < 1)
		b = 1;
	lo = b - b / 2; /* ceil(b/2): 1 when b is 1, so never 0 */
	return (unsigned)(lo + rnd % (b - lo + 1));
}
