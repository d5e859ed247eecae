/*
 * bundle: git bundle v2 files for offline transfer (see bundle.h). Format: the line
 * "# v2 git bundle", one "-<oid> <comment>" line per prerequisite, one "<oid> <refname>"
 * line per ref, an empty line, then a pack.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "err.h"
#include "office.h"
#include "pack.h"
#include "util.h"

#define BUNDLE_SIGNATURE "# v2 git bundle\n"

void bundle_release(struct bundle *b)
{
	free(b->path);
	buf_release(&b->data);
	free(b->prereq);
	free(b->refs);
	memset(b, 0, sizeof(*b));
}

static int bad(const struct bundle *b, const char *what)
{
	return err_set(ERR_INVALID, "'%s' is not a caseledger bundle: %s", b->path, what);
}

/* One header line (without its LF) at *pos; NULL at the end of the data. */
static const char *header_line(const struct bundle *b, size_t *pos, size_t *len)
{
	const char *start = b->data.ptr + *pos, *nl;

	if (*pos >= b->data.len || !(nl = memchr(start, '\n', b->data.len - *pos)))
		return NULL;
	*len = (size_t)(nl - start);
	*pos += *len + 1;
	return start;
}

static int add_ref(struct bundle *b, const char *line, size_t len)
{
	struct bundle_ref *r;
	const char *name = line + GIT_OID_HEXSZ + 1;
	size_t nlen = len - GIT_OID_HEXSZ - 1;
	char branch[LEDGER_REF_MAX];

	if (nlen <= 11 || nlen >= sizeof(r->name) || strncmp(name, "refs/heads/", 11) != 0)
		return bad(b, "a ref that is not a branch");
	snprintf(branch, sizeof(branch), "%.*s", (int)(nlen - 11), name + 11);
	if (strcmp(branch, "trust") != 0 && office_level(branch) < 0) {
		err_clear();
		return bad(b, "a branch that is neither 'trust' nor an office code");
	}
	if (!(r = realloc(b->refs, (b->nrefs + 1) * sizeof(*r))))
		return err_set(ERR_NOMEM, "out of memory");
	b->refs = r;
	r += b->nrefs++;
	snprintf(r->name, sizeof(r->name), "%.*s", (int)nlen, name);
	return git_oid_fromstrn(&r->oid, line, GIT_OID_HEXSZ) < 0 ? bad(b, "a malformed ref line")
								  : 0;
}

static int add_prereq(struct bundle *b, const char *line, size_t len)
{
	git_oid *p;

	if (len < 1 + GIT_OID_HEXSZ || (len > 1 + GIT_OID_HEXSZ && line[1 + GIT_OID_HEXSZ] != ' '))
		return bad(b, "a malformed prerequisite line");
	if (!(p = realloc(b->prereq, (b->nprereq + 1) * sizeof(*p))))
		return err_set(ERR_NOMEM, "out of memory");
	b->prereq = p;
	return git_oid_fromstrn(&p[b->nprereq++], line + 1, GIT_OID_HEXSZ) < 0
		   ? bad(b, "a malformed prerequisite line")
		   : 0;
}

int bundle_read(struct bundle *b, const char *path)
{
	size_t pos = sizeof(BUNDLE_SIGNATURE) - 1, len;
	const char *line;
	int rc;

	memset(b, 0, sizeof(*b));
	buf_init(&b->data, 0);
	if (!(b->path = strdup(path)))
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = util_read_file(&b->data, path, BUNDLE_MAX_BYTES)) < 0)
		return rc;
	if (b->data.len < pos || memcmp(b->data.ptr, BUNDLE_SIGNATURE, pos) != 0)
		return bad(b, "it does not start with '# v2 git bundle'");
	for (;;) {
		if (!(line = header_line(b, &pos, &len)))
			return bad(b, "its header is cut short");
		if (len == 0)
			break;
		if (line[0] == '-')
			rc = add_prereq(b, line, len);
		else if (len > GIT_OID_HEXSZ + 1 && line[GIT_OID_HEXSZ] == ' ')
			rc = add_ref(b, line, len);
		else
			rc = bad(b, "a malformed header line");
		if (rc < 0)
			return rc;
	}
	if (b->nrefs == 0)
		return bad(b, "it carries no branch");
	if (b->data.len - pos < 32 || memcmp(b->data.ptr + pos, "PACK", 4) != 0)
		return bad(b, "no pack after the header (truncated?)");
	b->pack = pos;
	return 0;
}

int bundle_head(git_oid *out, const struct bundle *b, const char *ref)
{
	size_t i;

	for (i = 0; i < b->nrefs; i++)
		if (strcmp(b->refs[i].name, ref) == 0) {
			git_oid_cpy(out, &b->refs[i].oid);
			return 0;
		}
	return err_set(ERR_NOTFOUND, "bundle '%s' does not carry '%s'", b->path, ref);
}

static int sink(const void *data, size_t n, void *payload)
{
	return buf_add(payload, data, n);
}

int bundle_write(struct ledger *l, const char *path, char *const *branches, size_t nbranches,
		 const git_oid *hide, size_t nhide, size_t *nobjects)
{
	struct buf out = BUF_INIT;
	struct pack_stats st = {0};
	git_oid *tips = NULL;
	char ref[LEDGER_REF_MAX];
	size_t i;
	int rc = 0;

	if (!(tips = calloc(nbranches ? nbranches : 1, sizeof(*tips))))
		return err_set(ERR_NOMEM, "out of memory");
	rc = buf_adds(&out, BUNDLE_SIGNATURE);
	for (i = 0; rc == 0 && i < nhide; i++)
		rc = buf_printf(&out, "-%s prerequisite\n", git_oid_tostr_s(&hide[i]));
	for (i = 0; rc == 0 && i < nbranches; i++)
		if ((rc = ledger_ref_name(ref, branches[i])) == 0 &&
		    (rc = ledger_head(&tips[i], l, branches[i])) == 0)
			rc = buf_printf(&out, "%s %s\n", git_oid_tostr_s(&tips[i]), ref);
	if (rc == 0 && (rc = buf_adds(&out, "\n")) == 0)
		rc = pack_write(&st, l->repo, tips, nbranches, hide, nhide, 0, sink, &out);
	if (rc == 0)
		rc = util_write_file(path, out.ptr, out.len, 0644);
	if (rc == 0 && nobjects)
		*nobjects = st.objects;
	free(tips);
	buf_release(&out);
	return rc;
}

int bundle_unpack(struct ledger *l, struct bundle *b)
{
	const unsigned char *sum = (const unsigned char *)b->data.ptr + b->data.len - GIT_OID_RAWSZ;
	git_odb *odb = NULL;
	char dir[4096], path[4300];
	struct stat st;
	git_oid id;
	size_t i;
	int rc = 0;

	if (git_repository_odb(&odb, l->repo) < 0)
		return err_git(ERR_IO, "cannot open the object database");
	for (i = 0; i < b->nprereq; i++)
		if (!git_odb_exists(odb, &b->prereq[i])) {
			rc = err_set(ERR_NOTFOUND,
				     "bundle '%s' builds on commit %s, which this ledger does not "
				     "hold: apply the bundle made before it first",
				     b->path, git_oid_tostr_s(&b->prereq[i]));
			goto out;
		}
	snprintf(dir, sizeof(dir), "%s/objects/pack", l->dir);
	/* the pack is named by its trailing checksum: was it here before? */
	git_oid_fromraw(&id, sum);
	snprintf(b->packfile, sizeof(b->packfile), "%s/pack-%s", dir, git_oid_tostr_s(&id));
	snprintf(path, sizeof(path), "%s.idx", b->packfile);
	b->pack_new = stat(path, &st) < 0;
	if ((rc = pack_index(NULL, dir, b->data.ptr + b->pack, b->data.len - b->pack, odb)) < 0) {
		err_prefix("bundle '%s'", b->path);
		goto out;
	}
	git_odb_refresh(odb);
out:
	git_error_clear();
	git_odb_free(odb);
	return rc;
}

void bundle_discard(struct ledger *l, struct bundle *b)
{
	static const char *const suffixes[] = {".idx", ".rev", ".pack"}; /* the index first */
	char path[4300];
	git_odb *odb = NULL;
	size_t i;

	if (!b->pack_new || !b->packfile[0])
		return;
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", b->packfile, suffixes[i]);
		unlink(path);
	}
	b->pack_new = false;
	if (git_repository_odb(&odb, l->repo) == 0)
		git_odb_refresh(odb);
	git_odb_free(odb);
	git_error_clear();
}
