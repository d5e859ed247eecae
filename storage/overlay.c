/*
 * overlay: an object database of two backends — a mempack that takes every write, and
 * a read-only backend that forwards reads to the base repository's object database —
 * wrapped as a repository of its own. See overlay.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>

#include "err.h"
#include "overlay.h"

/* The read-only backend: every call goes to the base's object database. */
struct through {
	git_odb_backend parent;
	git_odb *odb; /* the base's; one reference owned */
};

static int through_read(void **data, size_t *len, git_object_t *type, git_odb_backend *b,
			const git_oid *id)
{
	struct through *t = (struct through *)b;
	git_odb_object *o = NULL;
	int rc = git_odb_read(&o, t->odb, id);

	if (rc < 0)
		return rc;
	*len = git_odb_object_size(o);
	*type = git_odb_object_type(o);
	if (!(*data = git_odb_backend_data_alloc(b, *len + 1))) {
		git_odb_object_free(o);
		return -1;
	}
	memcpy(*data, git_odb_object_data(o), *len);
	((char *)*data)[*len] = '\0';
	git_odb_object_free(o);
	return 0;
}

static int through_read_header(size_t *len, git_object_t *type, git_odb_backend *b,
			       const git_oid *id)
{
	return git_odb_read_header(len, type, ((struct through *)b)->odb, id);
}

static int through_exists(git_odb_backend *b, const git_oid *id)
{
	return git_odb_exists(((struct through *)b)->odb, id);
}

static void through_free(git_odb_backend *b)
{
	git_odb_free(((struct through *)b)->odb);
	free(b);
}

static int through_new(git_odb_backend **out, git_repository *base)
{
	struct through *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return err_set(ERR_NOMEM, "out of memory");
	if (git_odb_init_backend(&t->parent, GIT_ODB_BACKEND_VERSION) < 0 ||
	    git_repository_odb(&t->odb, base) < 0) {
		free(t);
		return err_git(ERR_IO, "cannot read the object database");
	}
	t->parent.read = through_read;
	t->parent.read_header = through_read_header;
	t->parent.exists = through_exists;
	t->parent.free = through_free;
	*out = &t->parent;
	return 0;
}

int overlay_open(struct overlay *out, git_repository *base)
{
	git_odb_backend *through = NULL, *mem = NULL;
	git_odb *odb = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if ((rc = through_new(&through, base)) < 0)
		goto out;
	if (git_odb_new(&odb) < 0 || git_mempack_new(&mem) < 0) {
		rc = err_git(ERR_IO, "cannot prepare an object store in memory");
		goto out;
	}
	if (git_odb_add_backend(odb, through, 1) < 0) {
		rc = err_git(ERR_IO, "cannot prepare an object store in memory");
		goto out;
	}
	through = NULL; /* odb owns it */
	if (git_odb_add_backend(odb, mem, 1000) < 0) {
		rc = err_git(ERR_IO, "cannot prepare an object store in memory");
		goto out;
	}
	out->mem = mem;
	mem = NULL;
	if (git_repository_wrap_odb(&out->repo, odb) < 0)
		rc = err_git(ERR_IO, "cannot prepare an object store in memory");
out:
	if (through)
		through->free(through);
	if (mem)
		mem->free(mem);
	git_odb_free(odb); /* the repository holds its own reference */
	if (rc < 0)
		overlay_release(out);
	return rc;
}

void overlay_reset(struct overlay *o)
{
	if (o->mem)
		git_mempack_reset(o->mem);
}

void overlay_release(struct overlay *o)
{
	overlay_reset(o);
	git_repository_free(o->repo);
	memset(o, 0, sizeof(*o));
}
