#include "config.h"

#include "oidmap.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* Object ids are hashes already: their first bytes are a good hash. */
static size_t oid_hash(const git_oid *id)
{
	size_t h;

	memcpy(&h, id->id, sizeof(h));
	return h;
}

static size_t slot_of(const struct oidmap *m, const git_oid *id)
{
	size_t i;

	for (i = oid_hash(id) & (m->cap - 1); m->used[i]; i = (i + 1) & (m->cap - 1))
		if (git_oid_equal(&m->ids[i], id))
			break;
	return i;
}

static int grow(struct oidmap *m)
{
	struct oidmap g = OIDMAP_INIT;
	size_t i;

	g.cap = m->cap ? m->cap * 2 : 1024;
	g.ids = malloc(g.cap * sizeof(*g.ids));
	g.values = malloc(g.cap * sizeof(*g.values));
	g.used = calloc(g.cap, 1);
	if (!g.ids || !g.values || !g.used) {
		oidmap_release(&g);
		return err_set(ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->used[i])
			continue;
		j = slot_of(&g, &m->ids[i]);
		g.used[j] = 1;
		git_oid_cpy(&g.ids[j], &m->ids[i]);
		g.values[j] = m->values[i];
	}
	g.n = m->n;
	oidmap_release(m);
	*m = g;
	return 0;
}

int oidmap_add(struct oidmap *m, const git_oid *id, int value)
{
	size_t i;
	int rc;

	if ((m->n + 1) * 2 > m->cap && (rc = grow(m)) < 0)
		return rc;
	i = slot_of(m, id);
	if (m->used[i])
		return 0;
	m->used[i] = 1;
	git_oid_cpy(&m->ids[i], id);
	m->values[i] = value;
	m->n++;
	return 1;
}

int *oidmap_get(const struct oidmap *m, const git_oid *id)
{
	size_t i;

	if (m->cap == 0)
		return NULL;
	i = slot_of(m, id);
	return m->used[i] ? &m->values[i] : NULL;
}

void oidmap_release(struct oidmap *m)
{
	free(m->ids);
	free(m->values);
	free(m->used);
	memset(m, 0, sizeof(*m));
}
