/*
 * sync: fetch -> verify -> (fast-forward) -> push for one branch with the parent, using
 * libgit2's smart HTTP client. The download goes into the object database only
 * (git_remote_download, no ref updates); our own code verifies the new commits and moves
 * refs by compare-and-swap afterwards.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "office.h"
#include "sync.h"

const char *sync_outcome_name(enum sync_outcome o)
{
	static const char *const names[] = {"up-to-date", "fetched", "pushed", "diverged",
					    "failed"};
	return o <= SYNC_FAILED ? names[o] : "?";
}

static int remote_open(git_remote **out, struct ledger *l, const struct sync_peer *p,
		       git_direction dir)
{
	git_remote_callbacks cb;

	git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
	if (git_remote_create_anonymous(out, l->repo, p->url) < 0)
		return err_git(ERR_INVALID, "peer URL '%s'", p->url);
	if (git_remote_connect(*out, dir, &cb, NULL, NULL) < 0) {
		int rc = err_git(ERR_NETWORK, "cannot reach '%s'", p->url);
		git_remote_free(*out);
		*out = NULL;
		return rc;
	}
	return 0;
}

static int tracking_ref(char *out, size_t n, const struct sync_peer *p, const char *branch)
{
	if ((size_t)snprintf(out, n, "refs/remotes/%s/%s", p->name, branch) >= n)
		return err_set(ERR_INVALID, "peer name '%s' is too long", p->name);
	return 0;
}

struct verify_walk {
	struct ledger *l;
	const struct sync_peer *p;
	const char *branch;
};

static int verify_cb(const git_oid *id, git_object_t type, const char *name, void *payload)
{
	struct verify_walk *v = payload;
	xfer_verify_fn f = v->p->verify ? v->p->verify : xfer_verify_default;

	if (type != GIT_OBJECT_COMMIT)
		return 0;
	return f(v->l->repo, v->branch, id, NULL, v->p->verify_payload);
}

/* Every local ref head (heads and remotes): what needs no verification again. */
static int local_heads(git_oid **out, size_t *n, git_repository *repo)
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
		if (git_reference_target(ref) &&
		    (strncmp(git_reference_name(ref), "refs/heads/", 11) == 0 ||
		     strncmp(git_reference_name(ref), "refs/remotes/", 13) == 0)) {
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
	}
	*out = ids;
	return rc;
}

int sync_fetch(git_oid *out, struct ledger *l, const struct sync_peer *p, const char *branch)
{
	git_fetch_options fo;
	const git_remote_head **heads;
	git_remote *remote = NULL;
	char ref[LEDGER_REF_MAX], track[256], spec[400];
	char *specs[] = {spec};
	git_strarray refspecs = {specs, 1};
	struct verify_walk vw = {l, p, branch};
	git_oid *have = NULL, old;
	size_t nheads, nhave = 0, i;
	bool has_old;
	int rc;

	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	if ((rc = ledger_ref_name(ref, branch)) < 0 ||
	    (rc = tracking_ref(track, sizeof(track), p, branch)) < 0)
		return rc;
	snprintf(spec, sizeof(spec), "%s:%s", ref, track);
	if ((rc = remote_open(&remote, l, p, GIT_DIRECTION_FETCH)) < 0)
		goto out;
	if (git_remote_ls(&heads, &nheads, remote) < 0) {
		rc = err_git(ERR_NETWORK, "cannot list the branches of '%s'", p->url);
		goto out;
	}
	for (i = 0; i < nheads && strcmp(heads[i]->name, ref) != 0; i++)
		;
	if (i == nheads) {
		rc = err_set(ERR_NOTFOUND, "'%s' has no branch '%s' for us", p->url, branch);
		goto out;
	}
	git_oid_cpy(out, &heads[i]->oid);
	fo.update_fetchhead = 0;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	if (git_remote_download(remote, &refspecs, &fo) < 0) {
		rc = err_git(ERR_NETWORK, "cannot fetch '%s' from '%s'", branch, p->url);
		goto out;
	}
	/* verify what is new to this ledger before anything points at it */
	if ((rc = local_heads(&have, &nhave, l->repo)) < 0 ||
	    (rc = xfer_walk(l->repo, out, 1, have, nhave, verify_cb, &vw)) < 0) {
		if (rc != ERR_NOMEM && rc != ERR_IO)
			err_prefix("branch '%s' from '%s' refused", branch, p->url);
		goto out;
	}
	has_old = git_reference_name_to_id(&old, l->repo, track) == 0;
	git_error_clear();
	if (!(has_old && git_oid_equal(&old, out)))
		rc = ledger_ref_cas(l, track, has_old ? &old : NULL, out);
out:
	free(have);
	if (remote) {
		git_remote_disconnect(remote);
		git_remote_free(remote);
	}
	return rc;
}

struct push_state {
	char error[512];
	bool rejected;
};

static int push_status(const char *refname, const char *status, void *payload)
{
	struct push_state *s = payload;

	if (status) {
		s->rejected = true;
		snprintf(s->error, sizeof(s->error), "%s", status);
	}
	return 0;
}

int sync_push(struct ledger *l, const struct sync_peer *p, const char *branch)
{
	git_push_options po;
	struct push_state st = {"", false};
	git_remote *remote = NULL;
	char ref[LEDGER_REF_MAX], spec[200], track[256];
	char *specs[] = {spec};
	git_strarray refspecs = {specs, 1};
	git_oid head, old;
	bool has_old;
	int rc;

	if ((rc = ledger_ref_name(ref, branch)) < 0 ||
	    (rc = tracking_ref(track, sizeof(track), p, branch)) < 0 ||
	    (rc = ledger_head(&head, l, branch)) < 0)
		return rc;
	snprintf(spec, sizeof(spec), "%s:%s", ref, ref);
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks.push_update_reference = push_status;
	po.callbacks.payload = &st;
	po.pb_parallelism = 1;
	if (git_remote_create_anonymous(&remote, l->repo, p->url) < 0) {
		rc = err_git(ERR_INVALID, "peer URL '%s'", p->url);
		goto out;
	}
	if (git_remote_push(remote, &refspecs, &po) < 0) {
		rc = err_git(ERR_NETWORK, "cannot push '%s' to '%s'", branch, p->url);
		goto out;
	}
	if (st.rejected) {
		rc = err_set(strstr(st.error, "fast-forward") || strstr(st.error, "stale") ||
				     strstr(st.error, "moved")
				 ? ERR_CONFLICT
				 : ERR_DENIED,
			     "'%s' refused branch '%s': %s", p->url, branch, st.error);
		goto out;
	}
	has_old = git_reference_name_to_id(&old, l->repo, track) == 0;
	git_error_clear();
	if (!(has_old && git_oid_equal(&old, &head)) &&
	    ledger_ref_cas(l, track, has_old ? &old : NULL, &head) < 0)
		err_clear(); /* the tracking ref is a cache; the next fetch sets it */
out:
	git_remote_free(remote);
	return rc;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_add(char ***list, size_t *n, size_t *cap, const char *s)
{
	char **g;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		if (!(g = realloc(*list, *cap * sizeof(*g))))
			return err_set(ERR_NOMEM, "out of memory");
		*list = g;
	}
	if (!((*list)[*n] = strdup(s)))
		return err_set(ERR_NOMEM, "out of memory");
	(*n)++;
	return 0;
}

int sync_branches(char ***out, size_t *n, struct ledger *l, const struct sync_peer *p)
{
	const git_remote_head **heads;
	git_remote *remote = NULL;
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	char **list = NULL;
	size_t nheads, i, j, cap = 0;
	int rc = 0, k;

	*n = 0;
	if ((rc = remote_open(&remote, l, p, GIT_DIRECTION_FETCH)) < 0)
		goto out;
	if (git_remote_ls(&heads, &nheads, remote) < 0) {
		rc = err_git(ERR_NETWORK, "cannot list the branches of '%s'", p->url);
		goto out;
	}
	for (i = 0; i < nheads; i++) {
		const char *b = heads[i]->name + 11;
		if (strncmp(heads[i]->name, "refs/heads/", 11) != 0 ||
		    (strcmp(b, "trust") != 0 && office_level(b) < 0)) {
			err_clear();
			continue;
		}
		if ((rc = list_add(&list, n, &cap, b)) < 0)
			goto out;
	}
	if (git_reference_iterator_glob_new(&it, l->repo, "refs/heads/*") < 0) {
		rc = err_git(ERR_IO, "cannot list branches");
		goto out;
	}
	while ((k = git_reference_next(&ref, it)) == 0) {
		const char *b = git_reference_name(ref) + 11;
		if (strcmp(b, "trust") != 0 && office_level(b) >= 0 &&
		    office_in_scope(l->office, b) && (rc = list_add(&list, n, &cap, b)) < 0)
			goto out;
		err_clear();
		git_reference_free(ref);
		ref = NULL;
	}
	if (*n > 1)
		qsort(list, *n, sizeof(*list), str_cmp);
	for (i = 0, j = 0; i < *n; i++) {
		if (j > 0 && strcmp(list[j - 1], list[i]) == 0)
			free(list[i]);
		else
			list[j++] = list[i];
	}
	*n = j;
out:
	git_reference_free(ref);
	git_reference_iterator_free(it);
	if (remote) {
		git_remote_disconnect(remote);
		git_remote_free(remote);
	}
	if (rc < 0) {
		sync_branches_free(list, *n);
		list = NULL;
		*n = 0;
	}
	*out = list;
	return rc;
}

void sync_branches_free(char **list, size_t n)
{
	size_t i;

	for (i = 0; list && i < n; i++)
		free(list[i]);
	free(list);
}

static int sync_once(struct sync_branch_result *res, struct ledger *l, const struct sync_peer *p,
		     const char *branch)
{
	char ref[LEDGER_REF_MAX];
	git_oid remote, local;
	bool has_remote, has_local, may_push;
	size_t ahead = 0, behind = 0;
	int rc;

	if ((rc = ledger_ref_name(ref, branch)) < 0)
		return rc;
	rc = sync_fetch(&remote, l, p, branch);
	if (rc < 0 && rc != ERR_NOTFOUND)
		return rc;
	has_remote = rc == 0;
	err_clear();
	rc = ledger_head(&local, l, branch);
	if (rc < 0 && rc != ERR_NOTFOUND)
		return rc;
	has_local = rc == 0;
	err_clear();
	may_push = strcmp(branch, "trust") != 0 || office_level(l->office) == LEVEL_CITY;
	if (has_local && has_remote &&
	    git_graph_ahead_behind(&ahead, &behind, l->repo, &local, &remote) < 0)
		return err_git(ERR_IO, "cannot compare branch '%s' with '%s'", branch, p->url);
	if (!has_local && has_remote) {
		if ((rc = ledger_ref_cas(l, ref, NULL, &remote)) < 0)
			return rc;
		res->outcome = SYNC_FETCHED;
	} else if (has_local && has_remote && behind > 0 && ahead == 0) {
		if ((rc = ledger_ref_cas(l, ref, &local, &remote)) < 0)
			return rc;
		res->outcome = SYNC_FETCHED;
		behind = 0;
	} else if (has_local && (!has_remote || (ahead > 0 && behind == 0)) && may_push) {
		if ((rc = sync_push(l, p, branch)) < 0)
			return rc;
		res->outcome = SYNC_PUSHED;
		ahead = 0;
	} else if (ahead > 0 && behind > 0) {
		res->outcome = SYNC_DIVERGED;
		snprintf(res->error, sizeof(res->error),
			 "branch '%s' has %zu local and %zu remote commits: it needs a merge",
			 branch, ahead, behind);
	}
	res->ahead = ahead;
	res->behind = behind;
	return 0;
}

int sync_branch(struct sync_branch_result *out, struct ledger *l, const struct sync_peer *p,
		const char *branch)
{
	int rc, tries;

	memset(out, 0, sizeof(*out));
	snprintf(out->branch, sizeof(out->branch), "%s", branch);
	for (tries = 0; tries < 3; tries++) {
		out->outcome = SYNC_UP_TO_DATE;
		if ((rc = sync_once(out, l, p, branch)) != ERR_CONFLICT)
			break; /* retry only when a push lost a race */
	}
	if (rc < 0) {
		out->outcome = SYNC_FAILED;
		snprintf(out->error, sizeof(out->error), "%s", err_msg());
	}
	return rc;
}
