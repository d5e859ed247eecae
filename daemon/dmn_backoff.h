/*
 * dmn_backoff: how long the scheduler waits before it tries again after failures — no
 * libevent, no threads, so the unit tests link it alone.
 */
#ifndef CASELEDGER_DMN_BACKOFF_H
#define CASELEDGER_DMN_BACKOFF_H

/*
 * Seconds to wait after `failures` (>= 1) failed rounds in a row: b = min doubled per
 * failure after the first, at most max (and at least 1), then jitter from rnd (any
 * random number): a wait in [ceil(b/2), b]. Never 0, which to the scheduler means "no
 * timer": with min or max 1 a failure must still be retried a second later.
 */
unsigned dmn_backoff(unsigned failures, unsigned min, unsigned max, unsigned long rnd);

#endif
