/*
 * oidmap: a set of object ids, each with a small integer value (open addressing, linear
 * probing, grown to stay at most half full). For the walkers of xfer and pack, which meet
 * each object of a change once and must not follow a tree twice.
 */
#ifndef CASELEDGER_OIDMAP_H
#define CASELEDGER_OIDMAP_H

#include <stddef.h>

#include <git2.h>

struct oidmap {
	git_oid *ids;
	int *values;
	unsigned char *used;
	size_t cap, n; /* cap: a power of two, or 0 */
};

#define OIDMAP_INIT                                                                                \
	{                                                                                          \
		NULL, NULL, NULL, 0, 0                                                             \
	}

/* Add id with value: 1 added, 0 already there (value left as it was), or ERR_NOMEM. */
int oidmap_add(struct oidmap *m, const git_oid *id, int value);

/* The value of id, or NULL when id is not in m (valid until the next oidmap_add). */
int *oidmap_get(const struct oidmap *m, const git_oid *id);

void oidmap_release(struct oidmap *m);

#endif
