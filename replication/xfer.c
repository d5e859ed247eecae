/*
 * xfer: git's smart protocol, server side — advertisement, upload-pack, receive-pack.
 *
 * Requests arrive whole (the HTTP layer has capped their size); pkt-lines are parsed with
 * a length-checked reader and every unknown line is an error. A push is all-or-nothing up
 * to the ref updates: its pack is indexed into objects/incoming-XXXXXX (the quarantine),
 * every new commit is checked there, and only then are the pack files moved into
 * objects/pack and the refs moved by compare-and-swap. See doc/protocol.md.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>

#include "err.h"
#include "office.h"
#include "oidmap.h"
#include "pack.h"
#include "slim.h"
#include "sig.h"
#include "util.h"
#include "xfer.h"

#define ZERO_HEX "0000000000000000000000000000000000000000"

/* --- pkt-lines ----------------------------------------------------------------------- */

int xfer_pkt_read(struct xfer_pkt_reader *r, const char **line, size_t *n)
{
	unsigned v = 0;
	size_t i;

	if (r->off == r->len)
		return XFER_PKT_EOF;
	if (r->len - r->off < 4)
		return err_set(ERR_INVALID, "truncated pkt-line length at byte %zu", r->off);
	for (i = 0; i < 4; i++) {
		char c = r->p[r->off + i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return err_set(ERR_INVALID, "malformed pkt-line length at byte %zu",
				       r->off);
		v = v * 16 + (unsigned)d;
	}
	if (v == 0) {
		r->off += 4;
		return XFER_PKT_FLUSH;
	}
	if (v < 4 || v > XFER_PKT_MAX)
		return err_set(ERR_INVALID, "bad pkt-line length %u at byte %zu", v, r->off);
	if (r->len - r->off < v)
		return err_set(ERR_INVALID, "truncated pkt-line at byte %zu", r->off);
	*line = r->p + r->off + 4;
	*n = v - 4;
	if (*n > 0 && (*line)[*n - 1] == '\n')
		(*n)--;
	r->off += v;
	return XFER_PKT_DATA;
}

static int pkt_add(struct buf *out, const void *data, size_t n)
{
	int rc;

	if (n + 4 > XFER_PKT_MAX)
		return err_set(ERR_INVALID, "pkt-line of %zu bytes is too long", n);
	if ((rc = buf_printf(out, "%04zx", n + 4)) < 0)
		return rc;
	return buf_add(out, data, n);
}

static int pkt_printf(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int pkt_printf(struct buf *out, const char *fmt, ...)
{
	struct buf line = BUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(&line, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = pkt_add(out, line.ptr, line.len);
	buf_release(&line);
	return rc;
}

static int pkt_flush(struct buf *out)
{
	return buf_add(out, "0000", 4);
}

/* Data on side-band channel band (1 data, 2 progress, 3 fatal error), split into packets. */
static int sideband_add(struct buf *out, int band, const void *data, size_t n)
{
	const char *p = data;
	char hdr[6];
	int rc;

	while (n > 0) {
		size_t k = n < XFER_SIDEBAND_MAX ? n : XFER_SIDEBAND_MAX;
		snprintf(hdr, sizeof(hdr), "%04zx", k + 5);
		hdr[4] = (char)band;
		if ((rc = buf_add(out, hdr, 5)) < 0 || (rc = buf_add(out, p, k)) < 0)
			return rc;
		p += k;
		n -= k;
	}
	return 0;
}

static bool cap_has(const char *caps, const char *name)
{
	size_t n = strlen(name);
	const char *p = caps;

	while (p && *p) {
		while (*p == ' ')
			p++;
		if (strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '\0' || p[n] == '='))
			return true;
		p = strchr(p, ' ');
	}
	return false;
}

static int parse_oid(git_oid *out, const char *hex, const char *what)
{
	size_t i;

	for (i = 0; i < GIT_OID_HEXSZ; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return err_set(ERR_INVALID, "%s: malformed object id", what);
	return git_oid_fromstrn(out, hex, GIT_OID_HEXSZ) < 0
		   ? err_set(ERR_INVALID, "%s: malformed object id", what)
		   : 0;
}

/* --- scope ----------------------------------------------------------------------------- */

bool xfer_scope_allows(const char *client, const char *branch, bool write)
{
	if (!client || office_level(client) < 0) {
		err_clear();
		return false;
	}
	if (strcmp(branch, "trust") == 0)
		return !write || office_level(client) == LEVEL_CITY;
	if (office_level(branch) < 0) {
		err_clear();
		return false;
	}
	return office_in_scope(client, branch);
}

int xfer_service_parse(enum xfer_service *out, const char *name)
{
	if (name && strcmp(name, "git-upload-pack") == 0)
		*out = XFER_UPLOAD_PACK;
	else if (name && strcmp(name, "git-receive-pack") == 0)
		*out = XFER_RECEIVE_PACK;
	else
		return err_set(ERR_INVALID, "unknown service '%s'", name ? name : "");
	return 0;
}

struct ref_tip {
	char name[LEDGER_REF_MAX];
	git_oid id;
};

static int tip_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ref_tip *)a)->name, ((const struct ref_tip *)b)->name);
}

/* The branches client may read, sorted by name. *out is malloc'ed. */
static int scope_tips(struct ref_tip **out, size_t *n, git_repository *repo, const char *client)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	struct ref_tip *tips = NULL, *grown;
	size_t cap = 0;
	int rc = 0, g;

	*n = 0;
	if (git_reference_iterator_glob_new(&it, repo, "refs/heads/*") < 0) {
		rc = err_git(ERR_IO, "cannot list branches");
		goto out;
	}
	while ((g = git_reference_next(&ref, it)) == 0) {
		const char *name = git_reference_name(ref);
		const git_oid *id = git_reference_target(ref);

		if (id && strlen(name) < LEDGER_REF_MAX &&
		    xfer_scope_allows(client, name + strlen("refs/heads/"), false)) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				if (!(grown = realloc(tips, cap * sizeof(*tips)))) {
					rc = err_set(ERR_NOMEM, "out of memory");
					goto out;
				}
				tips = grown;
			}
			snprintf(tips[*n].name, sizeof(tips[*n].name), "%s", name);
			git_oid_cpy(&tips[*n].id, id);
			(*n)++;
		}
		git_reference_free(ref);
		ref = NULL;
	}
	if (g != GIT_ITEROVER) {
		rc = err_git(ERR_IO, "cannot list branches");
		goto out;
	}
	if (*n > 1)
		qsort(tips, *n, sizeof(*tips), tip_cmp);
out:
	git_reference_free(ref);
	git_reference_iterator_free(it);
	if (rc < 0) {
		free(tips);
		tips = NULL;
		*n = 0;
	}
	*out = tips;
	return rc;
}

#define UPLOAD_CAPS                                                                                \
	"multi_ack_detailed side-band-64k thin-pack ofs-delta no-progress " XFER_STEP_CAP          \
	" " SLIM_CAP " agent=" XFER_AGENT
#define RECEIVE_CAPS "report-status side-band-64k ofs-delta " SLIM_CAP " agent=" XFER_AGENT

int xfer_advertise(struct buf *out, struct ledger *l, enum xfer_service service, const char *client)
{
	const char *name = service == XFER_UPLOAD_PACK ? "git-upload-pack" : "git-receive-pack";
	const char *caps = service == XFER_UPLOAD_PACK ? UPLOAD_CAPS : RECEIVE_CAPS;
	struct ref_tip *tips = NULL;
	size_t n = 0, i, shown = 0;
	int rc;

	if ((rc = pkt_printf(out, "# service=%s\n", name)) < 0 || (rc = pkt_flush(out)) < 0)
		goto out;
	if ((rc = scope_tips(&tips, &n, l->repo, client)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		/* a push may offer only branches it may write; others stay hidden */
		if (service == XFER_RECEIVE_PACK &&
		    !xfer_scope_allows(client, tips[i].name + strlen("refs/heads/"), true))
			continue;
		if (shown++ == 0) {
			struct buf line = BUF_INIT;
			if ((rc = buf_printf(&line, "%s %s", git_oid_tostr_s(&tips[i].id),
					     tips[i].name)) == 0 &&
			    (rc = buf_addch(&line, '\0')) == 0 &&
			    (rc = buf_printf(&line, "%s\n", caps)) == 0)
				rc = pkt_add(out, line.ptr, line.len);
			buf_release(&line);
		} else {
			rc = pkt_printf(out, "%s %s\n", git_oid_tostr_s(&tips[i].id), tips[i].name);
		}
		if (rc < 0)
			goto out;
	}
	if (shown == 0) {
		struct buf line = BUF_INIT;
		if ((rc = buf_adds(&line, ZERO_HEX " capabilities^{}")) == 0 &&
		    (rc = buf_addch(&line, '\0')) == 0 &&
		    (rc = buf_printf(&line, "%s\n", caps)) == 0)
			rc = pkt_add(out, line.ptr, line.len);
		buf_release(&line);
		if (rc < 0)
			goto out;
	}
	rc = pkt_flush(out);
out:
	free(tips);
	return rc;
}

/* --- the walker over new commits' tree diffs --------------------------------------- */

struct walk {
	git_repository *repo;
	git_odb *odb; /* with XFER_WALK_RAW; else NULL */
	struct oidmap seen;
	xfer_object_fn cb;
	void *payload;
};

static int visit(struct walk *w, const git_oid *id, git_object_t type, const char *name,
		 const git_oid *base, git_odb_object *raw)
{
	struct xfer_object o = {id, type, name, base, raw};

	return w->cb(&o, w->payload);
}

/*
 * Read object id (a tree or a commit) into *out, with XFER_WALK_RAW its data into *raw
 * first: the parse then takes it from the object cache instead of reading it again.
 */
static int walk_read(git_object **out, git_odb_object **raw, struct walk *w, const git_oid *id,
		     git_object_t type)
{
	*raw = NULL;
	if (w->odb && git_odb_read(raw, w->odb, id) < 0)
		return ERR_INVALID;
	if (git_object_lookup(out, w->repo, id, type) < 0) {
		git_odb_object_free(*raw);
		*raw = NULL;
		return ERR_INVALID;
	}
	return 0;
}

/*
 * Visit what tree has and none of olds (nold of them, each NULL or the tree at the same
 * path in one parent) has at the same path: what a parent has, the receiver has, or gets
 * with that parent (parents come first). A merge is so compared with every parent, not
 * only its first: what it takes from a line the receiver has is not sent again. Each
 * object's base is the first parent's object at its path that has one. A tree seen before
 * is skipped whole: its objects were visited then, or are in the trees it was compared
 * with.
 */
static int walk_tree(struct walk *w, git_tree *tree, git_odb_object *raw, git_tree *const *olds,
		     size_t nold, const char *name)
{
	const git_tree_entry **oes = NULL;
	git_tree **osubs = NULL;
	const git_oid *base = NULL;
	size_t i, k, n;
	int rc;

	for (k = 0; k < nold; k++)
		if (olds[k] && git_oid_equal(git_tree_id(tree), git_tree_id(olds[k])))
			return 0;
	if ((rc = oidmap_add(&w->seen, git_tree_id(tree), 0)) <= 0)
		return rc;
	for (k = 0; k < nold && !base; k++)
		base = olds[k] ? git_tree_id(olds[k]) : NULL;
	if ((rc = visit(w, git_tree_id(tree), GIT_OBJECT_TREE, name, base, raw)) != 0)
		return rc;
	if (nold &&
	    (!(oes = calloc(nold, sizeof(*oes))) || !(osubs = calloc(nold, sizeof(*osubs))))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	n = git_tree_entrycount(tree);
	for (i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *ename = git_tree_entry_name(e);
		git_object_t type = git_tree_entry_type(e);
		git_tree *sub = NULL;
		git_odb_object *subraw = NULL;
		bool same = false;

		base = NULL;
		for (k = 0; k < nold && !same; k++) {
			oes[k] = olds[k] ? git_tree_entry_byname(olds[k], ename) : NULL;
			if (oes[k] &&
			    git_oid_equal(git_tree_entry_id(oes[k]), git_tree_entry_id(e)))
				same = true;
			else if (oes[k] && git_tree_entry_type(oes[k]) != type)
				oes[k] = NULL; /* a blob became a tree, or the other way round */
			else if (oes[k] && !base)
				base = git_tree_entry_id(oes[k]);
		}
		if (same)
			continue;
		if (type == GIT_OBJECT_BLOB) {
			if ((rc = oidmap_add(&w->seen, git_tree_entry_id(e), 0)) < 0)
				break;
			rc = rc == 1 ? visit(w, git_tree_entry_id(e), GIT_OBJECT_BLOB, ename, base,
					     NULL)
				     : 0;
			continue;
		}
		if (type != GIT_OBJECT_TREE)
			continue; /* submodules: not in ledgers, nothing to send */
		if (oidmap_get(&w->seen, git_tree_entry_id(e)))
			continue; /* visited whole already: not read again */
		if (walk_read((git_object **)&sub, &subraw, w, git_tree_entry_id(e),
			      GIT_OBJECT_TREE) < 0) {
			rc = err_git(ERR_INVALID, "missing or bad tree %s",
				     git_oid_tostr_s(git_tree_entry_id(e)));
			break;
		}
		for (k = 0; k < nold && rc == 0; k++)
			if (oes[k] &&
			    git_tree_lookup(&osubs[k], w->repo, git_tree_entry_id(oes[k])) < 0)
				rc = err_git(ERR_IO, "cannot read tree %s",
					     git_oid_tostr_s(git_tree_entry_id(oes[k])));
		if (rc == 0)
			rc = walk_tree(w, sub, subraw, osubs, nold, ename);
		for (k = 0; k < nold; k++) {
			git_tree_free(osubs[k]);
			osubs[k] = NULL;
		}
		git_odb_object_free(subraw);
		git_tree_free(sub);
	}
out:
	free(osubs);
	free(oes);
	return rc;
}

int xfer_revwalk(git_revwalk **out, git_repository *repo, const git_oid *tips, size_t ntips,
		 const git_oid *hide, size_t nhide)
{
	git_revwalk *rw = NULL;
	size_t i;
	int rc = 0;

	if (git_revwalk_new(&rw, repo) < 0 ||
	    git_revwalk_sorting(rw, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0) {
		rc = err_git(ERR_IO, "cannot walk history");
		goto out;
	}
	for (i = 0; i < ntips && rc == 0; i++)
		if (git_revwalk_push(rw, &tips[i]) < 0)
			rc = err_git(ERR_INVALID, "missing or bad commit %s",
				     git_oid_tostr_s(&tips[i]));
	for (i = 0; i < nhide && rc == 0; i++)
		if (git_revwalk_hide(rw, &hide[i]) < 0)
			rc = err_git(ERR_IO, "cannot read commit %s", git_oid_tostr_s(&hide[i]));
out:
	if (rc < 0) {
		git_revwalk_free(rw);
		rw = NULL;
	}
	*out = rw;
	return rc;
}

int xfer_walk_objects(git_repository *repo, const git_oid *tips, size_t ntips, const git_oid *hide,
		      size_t nhide, unsigned flags, xfer_object_fn cb, void *payload)
{
	struct walk w = {repo, NULL, OIDMAP_INIT, cb, payload};
	git_revwalk *rw = NULL;
	git_commit *c = NULL, *parent = NULL;
	git_tree *tree = NULL, **ptrees = NULL;
	git_odb_object *craw = NULL, *traw = NULL;
	git_oid id;
	size_t k, np = 0;
	int rc = 0, g;

	if ((flags & XFER_WALK_RAW) && git_repository_odb(&w.odb, repo) < 0) {
		rc = err_git(ERR_IO, "cannot open the object database");
		goto out;
	}
	/* parents first: each object's base is then sent (or known) before it */
	if ((rc = xfer_revwalk(&rw, repo, tips, ntips, hide, nhide)) < 0)
		goto out;
	while ((g = git_revwalk_next(&id, rw)) == 0) {
		if (walk_read((git_object **)&c, &craw, &w, &id, GIT_OBJECT_COMMIT) < 0 ||
		    walk_read((git_object **)&tree, &traw, &w, git_commit_tree_id(c),
			      GIT_OBJECT_TREE) < 0) {
			rc = err_git(ERR_INVALID, "missing or bad commit %s", git_oid_tostr_s(&id));
			goto out;
		}
		/* every parent's tree: what the commit shares with any of them is not sent */
		np = git_commit_parentcount(c);
		if (np && !(ptrees = calloc(np, sizeof(*ptrees)))) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		for (k = 0; k < np; k++) {
			if (git_commit_parent(&parent, c, (unsigned)k) < 0 ||
			    git_commit_tree(&ptrees[k], parent) < 0) {
				rc = err_git(ERR_INVALID, "missing parent of commit %s",
					     git_oid_tostr_s(&id));
				goto out;
			}
			git_commit_free(parent);
			parent = NULL;
		}
		if ((rc = visit(&w, &id, GIT_OBJECT_COMMIT, NULL, NULL, craw)) != 0 ||
		    (rc = walk_tree(&w, tree, traw, ptrees, np, NULL)) != 0)
			goto out;
		git_odb_object_free(craw);
		git_odb_object_free(traw);
		craw = NULL;
		traw = NULL;
		for (k = 0; k < np; k++)
			git_tree_free(ptrees[k]);
		free(ptrees);
		ptrees = NULL;
		np = 0;
		git_tree_free(tree);
		git_commit_free(c);
		tree = NULL;
		c = NULL;
	}
	if (g != GIT_ITEROVER)
		rc = err_git(ERR_INVALID, "cannot walk history");
out:
	git_odb_object_free(craw);
	git_odb_object_free(traw);
	for (k = 0; ptrees && k < np; k++)
		git_tree_free(ptrees[k]);
	free(ptrees);
	git_commit_free(parent);
	git_tree_free(tree);
	git_commit_free(c);
	git_revwalk_free(rw);
	git_odb_free(w.odb);
	oidmap_release(&w.seen);
	return rc;
}

struct plain_walk {
	int (*cb)(const git_oid *id, git_object_t type, const char *name, void *payload);
	void *payload;
};

static int plain_cb(const struct xfer_object *o, void *payload)
{
	struct plain_walk *p = payload;

	return p->cb(o->id, o->type, o->name, p->payload);
}

int xfer_walk(git_repository *repo, const git_oid *tips, size_t ntips, const git_oid *hide,
	      size_t nhide,
	      int (*cb)(const git_oid *id, git_object_t type, const char *name, void *payload),
	      void *payload)
{
	struct plain_walk p = {cb, payload};

	return xfer_walk_objects(repo, tips, ntips, hide, nhide, 0, plain_cb, &p);
}

int xfer_first_parent_line(git_oid **out, size_t *n, git_repository *repo, const git_oid *tip,
			   const git_oid *hide, size_t nhide)
{
	git_revwalk *w = NULL;
	git_oid id, *g;
	size_t cap = 0, i;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (git_revwalk_new(&w, repo) < 0 || git_revwalk_push(w, tip) < 0)
		goto fail;
	git_revwalk_simplify_first_parent(w);
	for (i = 0; i < nhide; i++)
		if (git_revwalk_hide(w, &hide[i]) < 0)
			goto fail;
	while ((rc = git_revwalk_next(&id, w)) == 0) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if (!(g = realloc(*out, cap * sizeof(*g)))) {
				rc = err_set(ERR_NOMEM, "out of memory");
				goto out;
			}
			*out = g;
		}
		git_oid_cpy(&(*out)[(*n)++], &id);
	}
	if (rc != GIT_ITEROVER)
		goto fail;
	rc = 0;
	for (i = 0; i < *n / 2; i++) { /* oldest first */
		id = (*out)[i];
		(*out)[i] = (*out)[*n - 1 - i];
		(*out)[*n - 1 - i] = id;
	}
	goto out;
fail:
	rc = err_git(ERR_IO, "cannot walk the first-parent line of %s", git_oid_tostr_s(tip));
out:
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	git_revwalk_free(w);
	return rc;
}

/* --- upload-pack ------------------------------------------------------------------- */

/*
 * The first-parent lines upload-pack walked for steps, by want. A fetch in steps asks
 * for the same want again and again, each time one step further along: walking the
 * line anew each time made a step cost the whole remaining line (a second per step at
 * 20,000 commits). A commit's line is a property of the commit (ids are content), so
 * the cache holds for any repository. At most LINE_CACHE lines, least recently used out.
 */
#define LINE_CACHE 4

static struct line_entry {
	git_oid want;
	git_oid *line; /* oldest first, want last; NULL: empty slot */
	size_t n;
	git_oid *base; /* the common haves the line was walked from: in want's scope */
	size_t nbase;
	unsigned long used;
} line_cache[LINE_CACHE];
static unsigned long line_clock;
static pthread_mutex_t line_mu = PTHREAD_MUTEX_INITIALIZER;

/* Under line_mu: want's cached line, or NULL. */
static struct line_entry *line_find(const git_oid *want)
{
	size_t i;

	for (i = 0; i < LINE_CACHE; i++)
		if (line_cache[i].line && git_oid_equal(&line_cache[i].want, want)) {
			line_cache[i].used = ++line_clock;
			return &line_cache[i];
		}
	return NULL;
}

/* Under line_mu: keep line (taken over) for want, walked from base (copied), in place of
 * the least recently used. Nothing is kept when the copy fails. */
static void line_keep(const git_oid *want, git_oid *line, size_t n, const git_oid *base,
		      size_t nbase)
{
	git_oid *b = malloc((nbase ? nbase : 1) * sizeof(*b));
	size_t i, old = 0;

	if (!b) {
		free(line);
		return;
	}
	memcpy(b, base, nbase * sizeof(*b));
	for (i = 1; i < LINE_CACHE; i++)
		if (line_cache[i].used < line_cache[old].used)
			old = i;
	free(line_cache[old].line);
	free(line_cache[old].base);
	line_cache[old].want = *want;
	line_cache[old].line = line;
	line_cache[old].n = n;
	line_cache[old].base = b;
	line_cache[old].nbase = nbase;
	line_cache[old].used = ++line_clock;
}

/* 1 when id is on want's cached first-parent line or among the haves it was walked
 * from (both in the scope want is in), else 0. */
static int line_holds(const git_oid *want, const git_oid *id)
{
	struct line_entry *e;
	size_t i;
	int found = 0;

	pthread_mutex_lock(&line_mu);
	if ((e = line_find(want))) {
		for (i = 0; i < e->n && !found; i++)
			found = git_oid_equal(&e->line[i], id);
		for (i = 0; i < e->nbase && !found; i++)
			found = git_oid_equal(&e->base[i], id);
	}
	pthread_mutex_unlock(&line_mu);
	return found;
}

/*
 * The step a client that asked for "caseledger-step=N" gets: the N-th commit of want's
 * first-parent line past what the client has, or want itself when the line is shorter.
 * From the cached line when a common have is on it (everything before it on the line is
 * the client's too), else from a walk, which is cached.
 */
static int upload_step(git_oid *out, git_repository *repo, const git_oid *want,
		       const git_oid *common, size_t ncommon, size_t step)
{
	struct line_entry *e;
	git_oid *line = NULL;
	size_t n = 0, i, k, from = 0;
	bool hit = false;
	int rc;

	git_oid_cpy(out, want);
	pthread_mutex_lock(&line_mu);
	if ((e = line_find(want))) {
		/* the newest common have on the line: the step starts after it */
		for (i = e->n; i-- > 0 && !hit;)
			for (k = 0; k < ncommon && !hit; k++)
				if (git_oid_equal(&e->line[i], &common[k])) {
					hit = true;
					from = i + 1;
				}
		if (hit && e->n - from > step)
			git_oid_cpy(out, &e->line[from + step - 1]);
	}
	pthread_mutex_unlock(&line_mu);
	if (hit)
		return 0;
	if ((rc = xfer_first_parent_line(&line, &n, repo, want, common, ncommon)) < 0)
		return rc;
	if (n > step)
		git_oid_cpy(out, &line[step - 1]);
	if (n > step) {
		pthread_mutex_lock(&line_mu);
		line_keep(want, line, n, common, ncommon); /* more steps will come */
		pthread_mutex_unlock(&line_mu);
		line = NULL;
	}
	free(line);
	return 0;
}

/* N of "caseledger-step=N" in caps (1..XFER_STEP_MAX), or 0: not asked (or malformed). */
static size_t step_asked(const char *caps)
{
	const char *p = strstr(caps, XFER_STEP_CAP "=");
	unsigned long long v = 0;
	size_t k = 0;

	if (!p || (p != caps && p[-1] != ' '))
		return 0;
	for (p += strlen(XFER_STEP_CAP "="); p[k] >= '0' && p[k] <= '9' && k < 9; k++)
		v = v * 10 + (unsigned)(p[k] - '0');
	if (k == 0 || (p[k] != '\0' && p[k] != ' ') || v == 0 || v > XFER_STEP_MAX)
		return 0;
	return (size_t)v;
}

struct pack_out {
	struct buf *out;
	bool sideband;
};

static int pack_chunk(const void *data, size_t n, void *payload)
{
	struct pack_out *po = payload;
	return po->sideband ? sideband_add(po->out, 1, data, n) : buf_add(po->out, data, n);
}

/*
 * 1 when commit id is reachable from one of the client's branch tips, 0 when not.
 * *ids (the tips' ids, made on first use) is the caller's to free.
 */
static int have_in_scope(git_repository *repo, const git_oid *id, const struct ref_tip *tips,
			 size_t ntips, git_oid **ids)
{
	size_t i;
	int g;

	if (ntips == 0)
		return 0;
	for (i = 0; i < ntips; i++) /* a head itself: no walk (a have is often one) */
		if (git_oid_equal(&tips[i].id, id))
			return 1;
	if (!*ids) {
		if (!(*ids = malloc(ntips * sizeof(**ids))))
			return err_set(ERR_NOMEM, "out of memory");
		for (i = 0; i < ntips; i++)
			git_oid_cpy(&(*ids)[i], &tips[i].id);
	}
	if ((g = git_graph_reachable_from_any(repo, id, *ids, ntips)) < 0)
		return err_git(ERR_IO, "cannot walk the history of %s", git_oid_tostr_s(id));
	return g;
}

/* Answer with a protocol error the client shows ("remote error: …"). */
static int upload_error(struct buf *out, const char *msg)
{
	return pkt_printf(out, "ERR %s\n", msg);
}

int xfer_upload_pack(struct buf *out, struct ledger *l, const char *client, const char *body,
		     size_t len)
{
	struct xfer_pkt_reader r = {body, len, 0};
	struct ref_tip *tips = NULL;
	git_oid *wants = NULL, *common = NULL, *scope_ids = NULL;
	size_t nwants = 0, ntips = 0, ncommon = 0, cap_w = 0, cap_c = 0, i;
	char caps[1024] = "";
	bool done = false, flushed = false, detailed;
	const char *line;
	size_t n, step;
	int rc = 0, k;

	if ((rc = scope_tips(&tips, &ntips, l->repo, client)) < 0)
		goto out;
	/* wants, up to a flush */
	while ((k = xfer_pkt_read(&r, &line, &n)) == XFER_PKT_DATA) {
		git_oid id;
		if (n < 45 || strncmp(line, "want ", 5) != 0) {
			rc = err_set(ERR_INVALID, "expected 'want', got '%.*s'",
				     (int)(n < 40 ? n : 40), line);
			goto proto;
		}
		if ((rc = parse_oid(&id, line + 5, "want")) < 0)
			goto proto;
		if (nwants == 0 && n > 46 && line[45] == ' ')
			snprintf(caps, sizeof(caps), "%.*s", (int)(n - 46), line + 46);
		for (i = 0; i < ntips && !git_oid_equal(&tips[i].id, &id); i++)
			;
		if (i == ntips) {
			rc = err_set(ERR_DENIED,
				     "upload-pack: not our ref %s (not a branch head in the "
				     "scope of office '%s')",
				     git_oid_tostr_s(&id), client);
			goto proto;
		}
		if (nwants == cap_w) {
			git_oid *g;
			cap_w = cap_w ? cap_w * 2 : 16;
			if (!(g = realloc(wants, cap_w * sizeof(*g)))) {
				rc = err_set(ERR_NOMEM, "out of memory");
				goto out;
			}
			wants = g;
		}
		git_oid_cpy(&wants[nwants++], &id);
	}
	if (k < 0)
		goto proto;
	if (k != XFER_PKT_FLUSH || nwants == 0) {
		rc = err_set(ERR_INVALID,
			     "upload-pack: request has no 'want' list ended by a flush");
		goto proto;
	}
	/*
	 * haves, then done, a flush, or the end. multi_ack_detailed (what libgit2 needs over
	 * stateless HTTP): "ACK <id> common" for each common have, NAK at each flush, a plain
	 * "ACK <last common>" (or NAK) after done. Without it: one ACK for the first common
	 * have, NAK when there is none.
	 */
	detailed = cap_has(caps, "multi_ack_detailed");
	while (!done && !flushed) {
		git_oid id;
		git_commit *c = NULL;
		if ((k = xfer_pkt_read(&r, &line, &n)) < 0)
			goto proto;
		if (k == XFER_PKT_FLUSH || k == XFER_PKT_EOF) {
			flushed = true;
			continue;
		}
		if (n == 4 && strncmp(line, "done", 4) == 0) {
			done = true;
			continue;
		}
		if (n != 45 || strncmp(line, "have ", 5) != 0) {
			rc = err_set(ERR_INVALID,
				     "upload-pack: expected 'have' or 'done', got '%.*s'",
				     (int)(n < 40 ? n : 40), line);
			goto proto;
		}
		if ((rc = parse_oid(&id, line + 5, "have")) < 0)
			goto proto;
		if (git_commit_lookup(&c, l->repo, &id) < 0) {
			git_error_clear();
			continue; /* they have what we do not */
		}
		git_commit_free(c);
		/* answer only for commits of branches the client may read: an ACK for any
		 * commit would confirm another office's commit ids (a have on the cached line
		 * of the one want, a branch head in scope, is in scope) */
		if (nwants == 1 && line_holds(&wants[0], &id))
			k = 1;
		else if ((k = have_in_scope(l->repo, &id, tips, ntips, &scope_ids)) < 0) {
			rc = k;
			goto out;
		}
		if (k == 0)
			continue;
		if (ncommon == cap_c) {
			git_oid *g;
			cap_c = cap_c ? cap_c * 2 : 64;
			if (!(g = realloc(common, cap_c * sizeof(*g)))) {
				rc = err_set(ERR_NOMEM, "out of memory");
				goto out;
			}
			common = g;
		}
		git_oid_cpy(&common[ncommon++], &id);
		if (detailed)
			rc = pkt_printf(out, "ACK %s common\n", git_oid_tostr_s(&id));
		else if (ncommon == 1)
			rc = pkt_printf(out, "ACK %s\n", git_oid_tostr_s(&id));
		if (rc < 0)
			goto out;
	}
	if (detailed && done && ncommon > 0)
		rc = pkt_printf(out, "ACK %s\n", git_oid_tostr_s(&common[ncommon - 1]));
	else if (ncommon == 0 || (detailed && !done))
		rc = pkt_add(out, "NAK\n", 4);
	if (rc < 0)
		goto out;
	if (!done)
		goto out; /* the client sends more haves, or done, in its next request */
	if ((step = step_asked(caps)) > 0) {
		/* one step of the line: "step <tip>", then the pack of that tip alone */
		if (nwants != 1) {
			rc = err_set(ERR_INVALID, "upload-pack: %s takes one want, not %zu",
				     XFER_STEP_CAP, nwants);
			goto proto;
		}
		if ((rc = upload_step(&wants[0], l->repo, &wants[0], common, ncommon, step)) < 0 ||
		    (rc = pkt_printf(out, "step %s\n", git_oid_tostr_s(&wants[0]))) < 0)
			goto out;
	}
	{
		struct pack_out po = {out, cap_has(caps, "side-band-64k")};
		struct pack_stats ps;

		unsigned flags = (cap_has(caps, "thin-pack") ? PACK_THIN : 0) |
				 (cap_has(caps, SLIM_CAP) ? PACK_SLIM : 0);

		if ((rc = pack_write(&ps, l->repo, wants, nwants, common, ncommon, flags,
				     pack_chunk, &po)) < 0)
			goto out;
		if (po.sideband && !cap_has(caps, "no-progress")) {
			struct buf msg = BUF_INIT;
			if ((rc = buf_printf(&msg,
					     "caseledger: sent %zu objects (%zu as deltas), %zu "
					     "bytes\n",
					     ps.objects, ps.deltas, ps.bytes)) == 0)
				rc = sideband_add(out, 2, msg.ptr, msg.len);
			buf_release(&msg);
			if (rc < 0)
				goto out;
		}
		if (po.sideband)
			rc = pkt_flush(out);
	}
	goto out;
proto:
	rc = upload_error(out, err_msg());
out:
	free(scope_ids);
	free(common);
	free(wants);
	free(tips);
	return rc;
}

/* --- receive-pack ------------------------------------------------------------------ */

int xfer_verify_default(git_repository *repo, const char *branch, const git_oid *commit,
			unsigned flags, void *payload)
{
	git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
	unsigned char pub[SIG_PUBKEY_LEN];
	int rc, g;

	g = git_commit_extract_signature(&sig, &data, repo, (git_oid *)commit, "gpgsig");
	if (g == GIT_ENOTFOUND) {
		rc = err_set(ERR_VERIFY, "commit %s is not signed", git_oid_tostr_s(commit));
		goto out;
	}
	if (g < 0) {
		rc = err_git(ERR_INVALID, "cannot read commit %s", git_oid_tostr_s(commit));
		goto out;
	}
	if ((rc = sig_verify(pub, sig.ptr, sig.size, data.ptr, data.size)) < 0)
		rc = err_prefix("commit %s: bad signature", git_oid_tostr_s(commit));
out:
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	return rc;
}

struct push {
	struct ledger *l;
	const struct xfer_hooks *hooks;
	const char *client;
	struct xfer_command *cmds;
	size_t ncmds;
	char qdir[4096]; /* the quarantine, "" when none */
	git_repository *qrepo;
	const char *branch; /* the command being checked */
	struct oidmap seen; /* every object the checks walked: what the new heads reach */
};

static int cmd_fail(struct xfer_command *c, const char *msg)
{
	free(c->error);
	c->error = strdup(msg);
	return c->error ? 0 : err_set(ERR_NOMEM, "out of memory");
}

static int rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4200];

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d))) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rm_rf(path);
		else
			unlink(path);
	}
	closedir(d);
	return rmdir(dir);
}

int xfer_quarantine_clean(size_t *removed, const char *ledger_dir)
{
	char objects[4096], path[4400];
	struct dirent *e;
	DIR *d;
	int rc = 0;

	*removed = 0;
	snprintf(objects, sizeof(objects), "%s/objects", ledger_dir);
	if (!(d = opendir(objects)))
		return err_errno(ERR_IO, "cannot read '%s'", objects);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "incoming-", 9) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", objects, e->d_name);
		if (rm_rf(path) < 0) {
			rc = err_errno(ERR_IO, "cannot remove the stale quarantine '%s'", path);
			break;
		}
		(*removed)++;
	}
	closedir(d);
	return rc;
}

/*
 * What the indexer reads the bases of thin packs from (git push sends thin packs, and so
 * does pack_write): the ledger's object database, without the refresh libgit2 does on
 * every miss (a rescan of objects/pack). The database is refreshed once, before indexing.
 */
struct norefresh_backend {
	git_odb_backend parent;
	git_odb *odb; /* the ledger's; borrowed */
};

static int norefresh_exists(git_odb_backend *b, const git_oid *id)
{
	return git_odb_exists_ext(((struct norefresh_backend *)b)->odb, id,
				  GIT_ODB_LOOKUP_NO_REFRESH);
}

/* For the bases of thin packs (stock git sends them). */
static int norefresh_read(void **data, size_t *len, git_object_t *type, git_odb_backend *b,
			  const git_oid *id)
{
	git_odb_object *o = NULL;
	int rc;

	if ((rc = git_odb_read(&o, ((struct norefresh_backend *)b)->odb, id)) < 0)
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

static void norefresh_free(git_odb_backend *b)
{
	free(b);
}

/* *out: a new object database reading through repo's without refreshing; caller frees. */
static int norefresh_odb(git_odb **out, git_odb *odb)
{
	struct norefresh_backend *b = calloc(1, sizeof(*b));

	*out = NULL;
	if (!b)
		return err_set(ERR_NOMEM, "out of memory");
	if (git_odb_init_backend(&b->parent, GIT_ODB_BACKEND_VERSION) < 0) {
		free(b);
		return err_git(ERR_GENERIC, "cannot set up an object database");
	}
	b->odb = odb;
	b->parent.exists = norefresh_exists;
	b->parent.read = norefresh_read;
	b->parent.free = norefresh_free;
	if (git_odb_refresh(odb) < 0 || git_odb_new(out) < 0) {
		free(b);
		return err_git(ERR_IO, "cannot read the object database");
	}
	if (git_odb_add_backend(*out, &b->parent, 1) < 0) {
		free(b);
		git_odb_free(*out);
		*out = NULL;
		return err_git(ERR_IO, "cannot set up an object database");
	}
	return 0;
}

/*
 * Index the pack into a fresh quarantine; p->qrepo sees it and the ledger's objects. A
 * slim pack (the client asked with SLIM_CAP) is made a git pack first.
 */
static int push_unpack(struct push *p, const char *pack, size_t len, bool slim)
{
	size_t max = p->hooks && p->hooks->max_pack ? p->hooks->max_pack : (size_t)256 << 20;
	git_odb *odb = NULL, *qodb = NULL, *iodb = NULL;
	git_odb_backend *qpack = NULL;
	struct buf made = BUF_INIT;
	char packdir[4200];
	int rc = 0;

	size_t maxobj =
	    p->hooks && p->hooks->max_objects ? p->hooks->max_objects : XFER_MAX_OBJECTS;
	const unsigned char *h;
	uint32_t count;

	if (len > max)
		return err_set(ERR_INVALID, "pack of %zu bytes exceeds the %zu-byte limit", len,
			       max);
	if (git_repository_odb(&odb, p->l->repo) < 0)
		return err_git(ERR_IO, "cannot open the object database");
	if ((rc = norefresh_odb(&iodb, odb)) < 0)
		goto out;
	if (slim && slim_is(pack, len)) { /* from here on, the git pack it stands for */
		if ((rc = slim_to_pack(&made, NULL, pack, len, iodb, max)) < 0)
			goto out;
		pack = made.ptr;
		len = made.len;
	}
	/* before any work: pack_index's memory and time follow the object count */
	h = (const unsigned char *)pack;
	count = len >= 12 ? (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 |
				(uint32_t)h[11]
			  : 0;
	if (count > maxobj) {
		rc = err_set(ERR_INVALID, "pack of %u objects exceeds the %zu-object limit", count,
			     maxobj);
		goto out;
	}
	snprintf(p->qdir, sizeof(p->qdir), "%s/objects/incoming-XXXXXX", p->l->dir);
	if (!mkdtemp(p->qdir)) {
		rc = err_errno(ERR_IO, "cannot create a quarantine in '%s/objects'", p->l->dir);
		p->qdir[0] = '\0';
		goto out;
	}
	snprintf(packdir, sizeof(packdir), "%s/pack", p->qdir);
	if (mkdir(packdir, 0700) < 0) {
		rc = err_errno(ERR_IO, "cannot create '%s'", packdir);
		goto out;
	}
	/*
	 * pack_index, not git_indexer: libgit2's resolves each delta by walking its chain
	 * again, and with verify on asks the object database about every entry of every
	 * tree. No connectivity check is needed here: push_check's walk reads every new tree
	 * and checks every new blob, and everything else is in commits the ledger has.
	 */
	if ((rc = pack_index(NULL, packdir, pack, len, iodb)) < 0)
		goto out;
	/*
	 * The quarantine's pack first, then the ledger's objects: verification reads mostly
	 * new objects, and with the ledger first each read missed its loose store (an
	 * access() per object) before reaching the quarantine.
	 */
	snprintf(packdir, sizeof(packdir), "%s/objects", p->l->dir);
	if (git_repository_open_bare(&p->qrepo, p->l->dir) < 0 || git_odb_new(&qodb) < 0 ||
	    git_odb_backend_pack(&qpack, p->qdir) < 0) {
		rc = err_git(ERR_IO, "cannot open the quarantine");
		goto out;
	}
	if (git_odb_add_backend(qodb, qpack, 100) < 0) {
		qpack->free(qpack);
		rc = err_git(ERR_IO, "cannot open the quarantine");
		goto out;
	}
	if (git_odb_add_disk_alternate(qodb, packdir) < 0 ||
	    git_repository_set_odb(p->qrepo, qodb) < 0)
		rc = err_git(ERR_IO, "cannot open the quarantine");
out:
	buf_release(&made);
	git_odb_free(iodb);
	git_odb_free(qodb);
	git_odb_free(odb);
	return rc;
}

/* Move the quarantined pack files into objects/pack: .pack before .idx, then fsync. */
static int push_migrate(struct push *p)
{
	const char *order[] = {".pack", ".rev", ".idx"};
	char from[8500], to[8500], packdir[4200], dst[4200];
	struct dirent *e;
	git_odb *odb = NULL;
	size_t i;
	DIR *d;
	int rc = 0;

	snprintf(packdir, sizeof(packdir), "%s/pack", p->qdir);
	snprintf(dst, sizeof(dst), "%s/objects/pack", p->l->dir);
	for (i = 0; i < 3 && rc == 0; i++) {
		if (!(d = opendir(packdir)))
			return err_errno(ERR_IO, "cannot read '%s'", packdir);
		while ((e = readdir(d))) {
			size_t n = strlen(e->d_name), k = strlen(order[i]);
			if (n <= k || strcmp(e->d_name + n - k, order[i]) != 0)
				continue;
			snprintf(from, sizeof(from), "%s/%s", packdir, e->d_name);
			snprintf(to, sizeof(to), "%s/%s", dst, e->d_name);
			if (rename(from, to) < 0) {
				rc = err_errno(ERR_IO, "cannot move '%s' into '%s'", from, dst);
				break;
			}
		}
		closedir(d);
	}
	if (rc == 0)
		rc = util_fsync_dir(dst);
	if (rc == 0 && git_repository_odb(&odb, p->l->repo) == 0) {
		git_odb_refresh(odb);
		git_odb_free(odb);
	}
	if (rc == 0 && ledger_pack_maintain(p->l, NULL) < 0)
		err_clear(); /* only an optimisation: the pack is in place */
	return rc;
}

static int check_cb(const git_oid *id, git_object_t type, const char *name, void *payload)
{
	struct push *p = payload;
	git_odb *odb = NULL;
	int rc = 0;

	if ((rc = oidmap_add(&p->seen, id, 0)) < 0)
		return rc;
	rc = 0;
	if (type != GIT_OBJECT_BLOB)
		return 0; /* trees were read by the walker; commits: verify_new */
	if (git_repository_odb(&odb, p->qrepo) < 0)
		return err_git(ERR_IO, "cannot read objects");
	if (!git_odb_exists(odb, id))
		rc = err_set(ERR_INVALID, "the pack lacks object %s ('%s')", git_oid_tostr_s(id),
			     name ? name : "");
	git_odb_free(odb);
	return rc;
}

int xfer_ref_heads(git_oid **out, size_t *n, git_repository *repo, bool remotes)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	git_oid *ids = NULL, *g;
	size_t cap = 0;
	int rc = 0, k;

	*n = 0;
	if (git_reference_iterator_new(&it, repo) < 0) {
		rc = err_git(ERR_IO, "cannot list refs");
		goto out;
	}
	while ((k = git_reference_next(&ref, it)) == 0) {
		const char *name = git_reference_name(ref);

		if (git_reference_target(ref) &&
		    (strncmp(name, "refs/heads/", 11) == 0 ||
		     (remotes && strncmp(name, "refs/remotes/", 13) == 0))) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				if (!(g = realloc(ids, cap * sizeof(*ids)))) {
					rc = err_set(ERR_NOMEM, "out of memory");
					goto out;
				}
				ids = g;
			}
			git_oid_cpy(&ids[(*n)++], git_reference_target(ref));
		}
		git_reference_free(ref);
		ref = NULL;
	}
	if (k != GIT_ITEROVER)
		rc = err_git(ERR_IO, "cannot list refs");
out:
	git_reference_free(ref);
	git_reference_iterator_free(it);
	if (rc < 0) {
		free(ids);
		ids = NULL;
		*n = 0;
	}
	*out = ids;
	return rc;
}

/* A ref name's last part after refs/remotes/<peer>/, or NULL. */
static const char *tracked_branch(const char *name)
{
	const char *p;

	if (strncmp(name, "refs/remotes/", 13) != 0 || !(p = strchr(name + 13, '/')))
		return NULL;
	return p + 1;
}

int xfer_branch_heads(git_oid **out, size_t *n, git_repository *repo, const char *branch)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	git_oid *ids = NULL, *g;
	size_t cap = 0;
	int rc = 0, k;

	*n = 0;
	if (git_reference_iterator_new(&it, repo) < 0) {
		rc = err_git(ERR_IO, "cannot list refs");
		goto out;
	}
	while ((k = git_reference_next(&ref, it)) == 0) {
		const char *name = git_reference_name(ref), *tb = tracked_branch(name);

		if (git_reference_target(ref) &&
		    ((strncmp(name, "refs/heads/", 11) == 0 && strcmp(name + 11, branch) == 0) ||
		     (tb && strcmp(tb, branch) == 0))) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 4;
				if (!(g = realloc(ids, cap * sizeof(*ids)))) {
					rc = err_set(ERR_NOMEM, "out of memory");
					goto out;
				}
				ids = g;
			}
			git_oid_cpy(&ids[(*n)++], git_reference_target(ref));
		}
		git_reference_free(ref);
		ref = NULL;
	}
	if (k != GIT_ITEROVER)
		rc = err_git(ERR_IO, "cannot list refs");
out:
	git_reference_free(ref);
	git_reference_iterator_free(it);
	if (rc < 0) {
		free(ids);
		ids = NULL;
		*n = 0;
	}
	*out = ids;
	return rc;
}

/*
 * Verify every commit c brings to its branch: reachable from the new head and not from
 * what the ledger already holds *for that branch* — a commit already on another branch
 * (community B's head pushed as a new branch of A's) is checked for this one.
 */
static int verify_new(struct push *p, struct xfer_command *c)
{
	xfer_verify_fn verify =
	    p->hooks && p->hooks->verify ? p->hooks->verify : xfer_verify_default;
	git_revwalk *walk = NULL;
	git_oid *hide = NULL, id;
	size_t nhide = 0, i;
	int rc, k;

	if ((rc = xfer_branch_heads(&hide, &nhide, p->l->repo, c->branch)) < 0)
		return rc;
	if (git_revwalk_new(&walk, p->qrepo) < 0 || git_revwalk_push(walk, &c->new) < 0) {
		rc = err_git(ERR_IO, "cannot walk the pushed commits");
		goto out;
	}
	for (i = 0; i < nhide; i++)
		if (git_revwalk_hide(walk, &hide[i]) < 0) {
			rc = err_git(ERR_IO, "cannot walk the pushed commits");
			goto out;
		}
	while (rc == 0 && (k = git_revwalk_next(&id, walk)) == 0)
		rc = verify(p->qrepo, c->branch, &id,
			    git_oid_equal(&id, &c->new) ? XFER_VERIFY_TIP : 0,
			    p->hooks ? p->hooks->verify_payload : NULL);
	if (rc == 0 && k != GIT_ITEROVER)
		rc = err_git(ERR_IO, "cannot walk the pushed commits");
out:
	git_revwalk_free(walk);
	free(hide);
	return rc;
}

struct reach {
	struct push *p;
	git_odb *ledger; /* the ledger's objects, without the quarantine */
	git_oid stray;	 /* the first object nothing reaches */
	bool found;
};

static int reach_cb(const git_oid *id, void *payload)
{
	struct reach *r = payload;

	if (oidmap_get(&r->p->seen, id) || git_odb_exists(r->ledger, id))
		return 0;
	git_oid_cpy(&r->stray, id);
	r->found = true;
	return 1; /* stop */
}

/*
 * Every object of the quarantined pack is reached from a new head (push_check walked it)
 * or already in the ledger (a thin pack's bases, what the client could not know we
 * had): a pack must not bring objects nothing refers to, kept for good.
 */
static int push_reachable(struct push *p)
{
	struct reach r = {p, NULL, {{0}}, false};
	git_odb *q = NULL, *main = NULL;
	git_odb_backend *qpack = NULL;
	int rc = 0, g;

	if (git_odb_new(&q) < 0 || git_odb_backend_pack(&qpack, p->qdir) < 0) {
		rc = err_git(ERR_IO, "cannot open the quarantine");
		goto out;
	}
	if (git_odb_add_backend(q, qpack, 1) < 0) {
		qpack->free(qpack);
		rc = err_git(ERR_IO, "cannot open the quarantine");
		goto out;
	}
	if (git_repository_odb(&main, p->l->repo) < 0) {
		rc = err_git(ERR_IO, "cannot open the object database");
		goto out;
	}
	r.ledger = main;
	g = git_odb_foreach(q, reach_cb, &r);
	if (g < 0 && !r.found) {
		rc = err_git(ERR_IO, "cannot list the objects of the pack");
		goto out;
	}
	if (r.found)
		rc = err_set(ERR_INVALID,
			     "the pack holds object %s, which no updated branch reaches",
			     git_oid_tostr_s(&r.stray));
out:
	git_error_clear();
	git_odb_free(main);
	git_odb_free(q);
	return rc;
}

/* Check command c against the quarantine: a commit, a fast-forward, complete, verified. */
static int push_check(struct push *p, struct xfer_command *c, const git_oid *heads, size_t nheads)
{
	git_commit *commit = NULL;
	int rc = 0, g;

	if (git_commit_lookup(&commit, p->qrepo, &c->new) < 0) {
		git_error_clear();
		return cmd_fail(c, "the new value is not a commit the push brought");
	}
	git_commit_free(commit);
	if (!git_oid_is_zero(&c->old) && !git_oid_equal(&c->old, &c->new)) {
		g = git_graph_descendant_of(p->qrepo, &c->new, &c->old);
		if (g < 0)
			return err_git(ERR_IO, "cannot compare %s with %s", c->ref,
				       git_oid_tostr_s(&c->old));
		if (g == 0)
			return cmd_fail(c, "non-fast-forward: fetch and merge first");
	}
	p->branch = c->branch;
	err_clear();
	if ((rc = xfer_walk(p->qrepo, &c->new, 1, heads, nheads, check_cb, p)) == 0)
		rc = verify_new(p, c);
	if (rc != 0) {
		if (rc == ERR_NOMEM || rc == ERR_IO)
			return rc;
		return cmd_fail(c, err_msg()[0] ? err_msg() : "verification failed");
	}
	return 0;
}

/* The capabilities a push may ask for: those RECEIVE_CAPS advertises. */
static int caps_check(const char *caps)
{
	static const char *const known[] = {"report-status", "side-band-64k", "ofs-delta", SLIM_CAP,
					    "agent"};
	const char *p = caps;
	size_t i, n;

	while (*p) {
		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n == 0)
			break;
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			size_t k = strlen(known[i]);
			if (n >= k && strncmp(p, known[i], k) == 0 &&
			    (n == k || (p[k] == '=' && strcmp(known[i], "agent") == 0)))
				break;
		}
		if (i == sizeof(known) / sizeof(known[0]))
			return err_set(ERR_INVALID,
				       "receive-pack: capability '%.*s' was not advertised",
				       (int)(n < 64 ? n : 64), p);
		p += n;
	}
	return 0;
}

int xfer_commands_parse(struct xfer_command **out, size_t *nout, char *caps, size_t capsz,
			struct xfer_pkt_reader *r, size_t max)
{
	struct xfer_command *cmds = NULL, *c;
	size_t ncmds = 0, cap = 0, i;
	const char *line;
	size_t n;
	int rc = 0, k;

	*out = NULL;
	*nout = 0;
	if (capsz > 0)
		caps[0] = '\0';
	while ((k = xfer_pkt_read(r, &line, &n)) == XFER_PKT_DATA) {
		const char *nul = memchr(line, '\0', n);
		size_t cmdlen = nul ? (size_t)(nul - line) : n;

		if (ncmds == max) {
			rc = err_set(ERR_INVALID, "receive-pack: more than %zu commands", max);
			goto out;
		}
		if (ncmds == cap) {
			struct xfer_command *g;
			cap = cap ? cap * 2 : 8;
			if (!(g = realloc(cmds, cap * sizeof(*g)))) {
				rc = err_set(ERR_NOMEM, "out of memory");
				goto out;
			}
			cmds = g;
		}
		c = memset(&cmds[ncmds], 0, sizeof(*c));
		if (cmdlen < 83 || line[40] != ' ' || line[81] != ' ') {
			rc = err_set(ERR_INVALID, "receive-pack: malformed command '%.*s'",
				     (int)(cmdlen < 100 ? cmdlen : 100), line);
			goto out;
		}
		if (cmdlen - 82 >= sizeof(c->ref)) {
			rc = err_set(ERR_INVALID, "receive-pack: ref name of %zu bytes is too long",
				     cmdlen - 82);
			goto out;
		}
		ncmds++;
		if ((rc = parse_oid(&c->old, line, "old value")) < 0 ||
		    (rc = parse_oid(&c->new, line + 41, "new value")) < 0)
			goto out;
		snprintf(c->ref, sizeof(c->ref), "%.*s", (int)(cmdlen - 82), line + 82);
		c->branch = strncmp(c->ref, "refs/heads/", 11) == 0 ? c->ref + 11 : NULL;
		if (nul && ncmds > 1) {
			rc = err_set(ERR_INVALID,
				     "receive-pack: capabilities after the first command");
			goto out;
		}
		if (nul) {
			if (n - cmdlen - 1 >= capsz) {
				rc = err_set(ERR_INVALID, "receive-pack: capability list too long");
				goto out;
			}
			snprintf(caps, capsz, "%.*s", (int)(n - cmdlen - 1), nul + 1);
			if (memchr(nul + 1, '\0', n - cmdlen - 1)) {
				rc = err_set(ERR_INVALID, "receive-pack: NUL in the capabilities");
				goto out;
			}
			if ((rc = caps_check(caps)) < 0)
				goto out;
		}
	}
	if (k < 0) {
		rc = err_prefix("receive-pack");
		goto out;
	}
	if (k != XFER_PKT_FLUSH) {
		rc = err_set(ERR_INVALID, "receive-pack: command list not ended by a flush");
		goto out;
	}
	*out = cmds;
	*nout = ncmds;
	cmds = NULL;
out:
	for (i = 0; cmds && i < ncmds; i++)
		free(cmds[i].error);
	free(cmds);
	return rc;
}

int xfer_receive_pack(struct buf *out, struct ledger *l, const struct xfer_hooks *hooks,
		      const char *client, const char *body, size_t len)
{
	size_t maxc = hooks && hooks->max_commands ? hooks->max_commands : 1024;
	struct xfer_pkt_reader r = {body, len, 0};
	struct push p = {l, hooks, client, NULL, 0, "", NULL, NULL, OIDMAP_INIT};
	struct buf report = BUF_INIT, msgs = BUF_INIT;
	git_oid *heads = NULL;
	size_t nheads = 0, i;
	char caps[1024] = "", unpack[512] = "ok";
	bool sideband, failed = false, moves = false;
	int rc = 0;

	if ((rc = xfer_commands_parse(&p.cmds, &p.ncmds, caps, sizeof(caps), &r, maxc)) < 0)
		goto proto;
	sideband = cap_has(caps, "side-band-64k");

	/* the commands by themselves */
	if ((rc = xfer_ref_heads(&heads, &nheads, l->repo, false)) < 0)
		goto out;
	for (i = 0; i < p.ncmds; i++) {
		struct xfer_command *c = &p.cmds[i];
		git_oid cur;
		int g;

		if (!c->branch || ledger_ref_name((char[LEDGER_REF_MAX]){0}, c->branch) < 0) {
			err_clear();
			rc = cmd_fail(c, "not a ledger branch (refs/heads/<office-code> or trust)");
		} else if (!xfer_scope_allows(client, c->branch, true)) {
			char m[160];
			snprintf(m, sizeof(m), "branch '%s' is outside the scope of office '%s'",
				 c->branch, client);
			rc = cmd_fail(c, m);
		} else if (git_oid_is_zero(&c->new)) {
			rc = cmd_fail(c, "deleting a branch is not allowed");
		} else if ((g = git_reference_name_to_id(&cur, l->repo, c->ref)) < 0 &&
			   g != GIT_ENOTFOUND) {
			rc = err_git(ERR_IO, "cannot read '%s'", c->ref);
		} else if (g == GIT_ENOTFOUND ? !git_oid_is_zero(&c->old)
					      : !git_oid_equal(&cur, &c->old)) {
			git_error_clear();
			rc = cmd_fail(c, "stale old value: the branch moved, fetch first");
		}
		if (rc < 0)
			goto out;
		failed |= c->error != NULL;
	}
	/* the pack */
	if (r.off < len && !failed) {
		if (push_unpack(&p, body + r.off, len - r.off, cap_has(caps, SLIM_CAP)) < 0) {
			snprintf(unpack, sizeof(unpack), "%s", err_msg());
			failed = true;
			for (i = 0; i < p.ncmds; i++)
				if ((rc = cmd_fail(&p.cmds[i], "unpacker error")) < 0)
					goto out;
		}
	} else if (r.off < len) {
		snprintf(unpack, sizeof(unpack), "not unpacked: a command was refused");
	}
	if (!failed && !p.qrepo && git_repository_open_bare(&p.qrepo, l->dir) < 0) {
		rc = err_git(ERR_IO, "cannot open '%s'", l->dir);
		goto out;
	}
	/* every new commit */
	for (i = 0; i < p.ncmds && !failed; i++) {
		if ((rc = push_check(&p, &p.cmds[i], heads, nheads)) < 0)
			goto out;
		failed |= p.cmds[i].error != NULL;
	}
	/* store nothing unless a ref moves, and nothing no moving ref reaches */
	for (i = 0, moves = false; i < p.ncmds; i++)
		moves |= !git_oid_equal(&p.cmds[i].old, &p.cmds[i].new);
	if (!failed && p.qdir[0] && moves && push_reachable(&p) < 0) {
		if (err_code() == ERR_NOMEM || err_code() == ERR_IO) {
			rc = err_code();
			goto out;
		}
		snprintf(unpack, sizeof(unpack), "%s", err_msg());
		failed = true;
		for (i = 0; i < p.ncmds; i++)
			if ((rc = cmd_fail(&p.cmds[i], err_msg())) < 0)
				goto out;
	}
	if (failed) {
		for (i = 0; i < p.ncmds; i++)
			if (!p.cmds[i].error &&
			    (rc = cmd_fail(&p.cmds[i], "not updated: another branch of this push "
						       "was refused")) < 0)
				goto out;
	} else {
		if (p.qdir[0] && moves && (rc = push_migrate(&p)) < 0) {
			snprintf(unpack, sizeof(unpack), "%s", err_msg());
			for (i = 0; i < p.ncmds; i++)
				if ((rc = cmd_fail(&p.cmds[i], "unpacker error")) < 0)
					goto out;
		} else {
			for (i = 0; i < p.ncmds; i++) {
				struct xfer_command *c = &p.cmds[i];
				if (git_oid_equal(&c->old, &c->new))
					continue;
				if (ledger_ref_cas(l, c->ref,
						   git_oid_is_zero(&c->old) ? NULL : &c->old,
						   &c->new) < 0) {
					if ((rc = cmd_fail(c, err_msg())) < 0)
						goto out;
					continue;
				}
				if (hooks && hooks->pushed)
					hooks->pushed(c->branch, &c->old, &c->new, client,
						      hooks->pushed_payload);
			}
		}
	}
	/* report-status */
	rc = 0;
	for (i = 0; i < p.ncmds && rc == 0; i++)
		if (p.cmds[i].error)
			rc = buf_printf(&msgs, "caseledger: %s: %s\n", p.cmds[i].ref,
					p.cmds[i].error);
	if (rc == 0 && msgs.len && sideband)
		rc = sideband_add(out, 2, msgs.ptr, msgs.len);
	if (rc == 0 && cap_has(caps, "report-status")) {
		rc = pkt_printf(&report, "unpack %s\n", unpack);
		for (i = 0; i < p.ncmds && rc == 0; i++)
			rc = p.cmds[i].error
				 ? pkt_printf(&report, "ng %s %s\n", p.cmds[i].ref, p.cmds[i].error)
				 : pkt_printf(&report, "ok %s\n", p.cmds[i].ref);
		if (rc == 0)
			rc = pkt_flush(&report);
		if (rc == 0)
			rc = sideband ? sideband_add(out, 1, report.ptr, report.len)
				      : buf_add(out, report.ptr, report.len);
	}
	if (rc == 0 && sideband)
		rc = pkt_flush(out);
	goto out;
proto:
	rc = pkt_printf(out, "ERR %s\n", err_msg());
out:
	if (p.qdir[0])
		rm_rf(p.qdir);
	git_repository_free(p.qrepo);
	oidmap_release(&p.seen);
	for (i = 0; i < p.ncmds; i++)
		free(p.cmds[i].error);
	free(p.cmds);
	free(heads);
	buf_release(&report);
	buf_release(&msgs);
	return rc;
}
