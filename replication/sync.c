/*
 * sync: fetch -> verify -> (fast-forward) -> push for one branch with the parent.
 * With https:// peers both directions speak git's smart HTTP protocol themselves, over
 * the TLS stream of tls_client_open: a fetch reads the upload-pack advertisement, asks
 * for the branch head with every head it has, and indexes the pack with pack_index; a
 * push sends pack_write's pack of the new commits to receive-pack and reads
 * report-status. (libgit2 1.5's client resolves each delta by walking its chain again,
 * and its push walks the peer's whole tree.) Other peers (file paths) go through
 * libgit2's remote API. Fetched objects are verified before any ref points at them;
 * refs move by compare-and-swap.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "merge.h"
#include "office.h"
#include "pack.h"
#include "slim.h"
#include "record.h"
#include "sync.h"
#include "tls.h"
#include "trust.h"
#include "bundle.h"
#include "verify.h"

/*
 * The peer could not even list its branches: every local branch in this office's scope
 * fails with that error, its pending commits counted (sync_branch_failed), and each is
 * told. Returns the error, message unchanged.
 */
static int sync_round_down(size_t *nfailed, struct ledger *l, const struct sync_peer *p,
			   sync_each_fn each, void *payload)
{
	char msg[512];
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	int rc = err_code(), k;

	snprintf(msg, sizeof(msg), "%s", err_msg());
	if (git_reference_iterator_glob_new(&it, l->repo, "refs/heads/*") == 0) {
		while ((k = git_reference_next(&ref, it)) == 0) {
			const char *b = git_reference_name(ref) + 11;
			struct sync_branch_result r;

			if (strcmp(b, "trust") != 0 && office_level(b) >= 0 &&
			    office_in_scope(l->office, b)) {
				if (each)
					each(b, NULL, 0, 1, payload);
				sync_branch_failed(&r, l, p, b, msg);
				(*nfailed)++;
				if (each)
					each(b, &r, 0, 1, payload);
			}
			git_reference_free(ref);
			ref = NULL;
		}
		git_reference_iterator_free(it);
	}
	git_error_clear();
	err_clear();
	return err_set(rc < 0 ? rc : ERR_NETWORK, "%s", msg);
}

int sync_round(size_t *nfailed, struct ledger *l, const struct sync_peer *p, sync_each_fn each,
	       void *payload)
{
	char **names = NULL;
	size_t n = 0, i;
	int rc;

	*nfailed = 0;
	if ((rc = sync_branches(&names, &n, l, p)) < 0) {
		rc = sync_round_down(nfailed, l, p, each, payload);
		sync_http_close();
		return rc;
	}
	for (i = 0; i < n; i++) {
		struct sync_branch_result r;

		if (each)
			each(names[i], NULL, i, n, payload);
		sync_branch(&r, l, p, names[i]);
		err_clear();
		*nfailed += r.outcome == SYNC_FAILED || r.outcome == SYNC_DIVERGED;
		if (each)
			each(names[i], &r, i, n, payload);
	}
	sync_branches_free(names, n);
	sync_http_close();
	return 0;
}

int sync_result_json(json_t *st, const struct sync_branch_result *r, const struct sync_peer *p,
		     const char *when)
{
	bool bad = r->outcome == SYNC_FAILED || r->outcome == SYNC_DIVERGED;
	int rc = 0;

	rc |= json_object_set_new(st, "branch", json_string(r->branch));
	rc |= json_object_set_new(st, "peer", json_string(p->name));
	rc |= json_object_set_new(st, "url", json_string(p->url));
	rc |= json_object_set_new(st, "outcome", json_string(sync_outcome_name(r->outcome)));
	rc |= json_object_set_new(st, "ahead", json_integer((json_int_t)r->ahead));
	rc |= json_object_set_new(st, "behind", json_integer((json_int_t)r->behind));
	rc |= json_object_set_new(st, "conflicts", json_integer((json_int_t)r->conflicts));
	if (bad) {
		rc |= json_object_set_new(st, "last_error", json_string(r->error));
		rc |= json_object_set_new(st, "last_error_time", json_string(when));
	} else {
		rc |= json_object_set_new(st, "last_success", json_string(when));
	}
	return rc ? err_set(ERR_NOMEM, "out of memory") : 0;
}

const char *sync_outcome_name(enum sync_outcome o)
{
	static const char *const names[] = {"up-to-date", "fetched",  "pushed",
					    "merged",	  "diverged", "failed"};
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

/* The fetched objects are all there: the walk reads every new tree and finds every blob. */
static int complete_cb(const git_oid *id, git_object_t type, const char *name, void *payload)
{
	git_odb *odb = payload;

	if (type == GIT_OBJECT_BLOB && !git_odb_exists(odb, id))
		return err_set(ERR_INVALID, "the fetched pack lacks object %s ('%s')",
			       git_oid_tostr_s(id), name ? name : "");
	return 0;
}

/*
 * Verify for branch every commit new to it: reachable from tip and from neither the
 * branch nor its tracking refs (a commit on another branch proves nothing for this one).
 */
static int verify_fetched(struct ledger *l, const struct sync_peer *p, const char *branch,
			  const git_oid *tip)
{
	git_revwalk *walk = NULL;
	git_oid *hide = NULL, id;
	size_t nhide = 0, i;
	int rc, k;

	if ((rc = xfer_branch_heads(&hide, &nhide, l->repo, branch)) < 0)
		return rc;
	if (git_revwalk_new(&walk, l->repo) < 0 || git_revwalk_push(walk, tip) < 0) {
		rc = err_git(ERR_IO, "cannot walk the fetched commits");
		goto out;
	}
	for (i = 0; i < nhide; i++)
		if (git_revwalk_hide(walk, &hide[i]) < 0) {
			rc = err_git(ERR_IO, "cannot walk the fetched commits");
			goto out;
		}
	while (rc == 0 && (k = git_revwalk_next(&id, walk)) == 0) {
		unsigned flags = git_oid_equal(&id, tip) ? XFER_VERIFY_TIP : 0;

		rc = p->verify ? p->verify(l->repo, branch, &id, flags, p->verify_payload)
			       : verify_received(l->repo, branch, &id, flags, l);
	}
	if (rc == 0 && k != GIT_ITEROVER)
		rc = err_git(ERR_IO, "cannot walk the fetched commits");
out:
	git_revwalk_free(walk);
	free(hide);
	return rc;
}

/* Fetch ref's objects with libgit2 (peers that are not https://): *out = its head there. */
static int fetch_git(git_oid *out, struct ledger *l, const struct sync_peer *p, const char *branch,
		     const char *ref, const char *track)
{
	git_fetch_options fo;
	const git_remote_head **heads;
	git_remote *remote = NULL;
	char spec[400];
	char *specs[] = {spec};
	git_strarray refspecs = {specs, 1};
	size_t nheads, i;
	int rc;

	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
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
	if (git_remote_download(remote, &refspecs, &fo) < 0)
		rc = err_git(ERR_NETWORK, "cannot fetch '%s' from '%s'", branch, p->url);
out:
	if (remote) {
		git_remote_disconnect(remote);
		git_remote_free(remote);
	}
	return rc;
}

/* --- push: our own pack over smart HTTP ------------------------------------------ */

/*
 * libgit2 1.5's git_remote_push builds its pack with git_packbuilder_insert_walk, which
 * marks every tree of the peer's head uninteresting by walking it whole: the cost grows
 * with the ledger. So https:// pushes speak receive-pack themselves, over the TLS stream
 * libgit2 uses (tls_client_open), with a pack from pack_write (tree diffs of the new
 * commits only, each changed object a delta against the one it replaces).
 */

#define PUSH_REPLY_MAX (16u << 20) /* largest advertisement or report-status we read */

struct http_url {
	char host[256], port[16], path[512];
};

/* Split https://HOST[:PORT]/PATH (no user info, no query); ERR_INVALID otherwise. */
static int url_split(struct http_url *u, const char *url)
{
	const char *h = url + 8, *slash, *colon, *end;

	if (strncmp(url, "https://", 8) != 0)
		return err_set(ERR_INVALID, "peer URL '%s' is not https://", url);
	slash = strchr(h, '/');
	end = slash ? slash : h + strlen(h);
	if (*h == '[') { /* [IPv6]:port */
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (!rb)
			return err_set(ERR_INVALID, "peer URL '%s': bad host", url);
		snprintf(u->host, sizeof(u->host), "%.*s", (int)(rb - h - 1), h + 1);
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		if ((size_t)((colon ? colon : end) - h) >= sizeof(u->host))
			return err_set(ERR_INVALID, "peer URL '%s': host too long", url);
		snprintf(u->host, sizeof(u->host), "%.*s", (int)((colon ? colon : end) - h), h);
	}
	if (colon && (size_t)(end - colon - 1) >= sizeof(u->port))
		return err_set(ERR_INVALID, "peer URL '%s': bad port", url);
	snprintf(u->port, sizeof(u->port), "%.*s", colon ? (int)(end - colon - 1) : 3,
		 colon ? colon + 1 : "443");
	if (!u->host[0] || strchr(u->host, '@') || (slash && strpbrk(slash, "?#")) ||
	    strlen(slash ? slash : "") >= sizeof(u->path))
		return err_set(ERR_INVALID, "peer URL '%s' is not https://HOST[:PORT]/PATH", url);
	snprintf(u->path, sizeof(u->path), "%s", slash ? slash : "");
	while (u->path[0] && u->path[strlen(u->path) - 1] == '/')
		u->path[strlen(u->path) - 1] = '\0';
	return 0;
}

/* Decode a chunked body in place (b holds only the body); ERR_NETWORK when malformed. */
static int unchunk(struct buf *b, const char *url)
{
	size_t in = 0, out = 0;

	for (;;) {
		char *end;
		unsigned long n;
		if (in >= b->len || !isxdigit((unsigned char)b->ptr[in]))
			goto bad;
		n = strtoul(b->ptr + in, &end, 16);
		if (!(end = strstr(end, "\r\n")) || n > b->len)
			goto bad;
		in = (size_t)(end - b->ptr) + 2;
		if (n == 0)
			break;
		if (in + n + 2 > b->len || memcmp(b->ptr + in + n, "\r\n", 2) != 0)
			goto bad;
		memmove(b->ptr + out, b->ptr + in, n);
		out += n;
		in += n + 2;
	}
	buf_truncate(b, out);
	return 0;
bad:
	return err_set(ERR_NETWORK, "'%s' sent a malformed chunked body", url);
}

/* Has resp a whole answer: headers, then Content-Length bytes or a last chunk? */
static bool response_complete(const struct buf *resp)
{
	const char *hend = strstr(resp->ptr, "\r\n\r\n"), *p;
	size_t body;

	if (!hend)
		return false;
	body = resp->len - (size_t)(hend + 4 - resp->ptr);
	for (p = strstr(resp->ptr, "\r\n") + 2; p < hend; p = strstr(p, "\r\n") + 2) {
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			return body >= strtoul(p + 15, NULL, 10);
		if (strncasecmp(p, "Transfer-Encoding:", 18) == 0)
			return body >= 5 && memcmp(resp->ptr + resp->len - 5, "0\r\n\r\n", 5) == 0;
	}
	return false; /* delimited by the end of the connection */
}

int sync_http_response(struct buf *body, const struct buf *resp, const char *url)
{
	const char *hend, *p, *line_end;
	size_t hlen, clen = (size_t)-1;
	bool chunked = false;
	long status;
	int rc;

	buf_init(body, 0);
	if (!(hend = strstr(resp->ptr, "\r\n\r\n")) || strncmp(resp->ptr, "HTTP/1.", 7) != 0 ||
	    resp->len < 12) {
		rc = err_set(ERR_NETWORK, "'%s' did not answer in HTTP", url);
		goto fail;
	}
	status = strtol(resp->ptr + 9, NULL, 10);
	hlen = (size_t)(hend - resp->ptr) + 4;
	for (p = strstr(resp->ptr, "\r\n") + 2; p < hend; p = line_end + 2) {
		line_end = strstr(p, "\r\n");
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			clen = strtoul(p + 15, NULL, 10);
		else if (strncasecmp(p, "Transfer-Encoding:", 18) == 0 && strstr(p, "chunked") &&
			 strstr(p, "chunked") < line_end)
			chunked = true;
	}
	if ((rc = buf_add(body, resp->ptr + hlen, resp->len - hlen)) < 0)
		goto fail;
	if (chunked && (rc = unchunk(body, url)) < 0)
		goto fail;
	if (!chunked && clen != (size_t)-1) {
		if (body->len < clen) {
			rc = err_set(ERR_NETWORK, "the answer of '%s' was cut short", url);
			goto fail;
		}
		buf_truncate(body, clen);
	}
	if (status != 200) {
		size_t k = body->len > 300 ? 300 : body->len;
		while (k && (body->ptr[k - 1] == '\n' || body->ptr[k - 1] == '\r'))
			k--;
		rc = err_set(status == 403 ? ERR_DENIED : ERR_NETWORK, "'%s' answered %ld: %.*s",
			     url, status, (int)k, body->ptr);
		goto fail;
	}
	return 0;
fail:
	buf_release(body);
	return rc;
}

/*
 * The connection kept open between the requests of a round (HTTP/1.1 keep-alive): a
 * round's requests (per branch an advertisement and a request per step, both ways)
 * share one TLS handshake instead of one each. One per thread; sync_round closes it when
 * it ends (sync_http_close), so no round inherits another's certificates or peer.
 */
static _Thread_local struct {
	git_stream *st;
	char host[256], port[16];
} kept;

static void stream_drop(git_stream **st)
{
	if (*st) {
		(*st)->close(*st);
		(*st)->free(*st);
		*st = NULL;
	}
}

void sync_http_close(void)
{
	stream_drop(&kept.st);
}

/* Whether a whole answer (response_complete) lets its connection carry another request. */
static bool response_keeps(const struct buf *resp)
{
	const char *hend = strstr(resp->ptr, "\r\n\r\n"), *p;

	if (!hend || strncmp(resp->ptr, "HTTP/1.1 ", 9) != 0)
		return false;
	for (p = strstr(resp->ptr, "\r\n") + 2; p < hend; p = strstr(p, "\r\n") + 2)
		if (strncasecmp(p, "Connection:", 11) == 0 &&
		    strncasecmp(p + 11 + strspn(p + 11, " \t"), "close", 5) == 0)
			return false;
	return true;
}

/* Send req (and data, len) on *st, and read the whole answer into resp. */
static int exchange(struct buf *resp, git_stream *st, const struct buf *req, const void *data,
		    size_t len, const char *url)
{
	char tmp[16384];
	ssize_t n = 0;
	int rc;

	if (st->write(st, req->ptr, req->len, 0) < 0 || (len && st->write(st, data, len, 0) < 0))
		return err_git(ERR_NETWORK, "cannot send to '%s'", url);
	/* read until the body is complete (the server may close without close_notify) */
	while (!response_complete(resp) && (n = st->read(st, tmp, sizeof(tmp))) > 0)
		if ((rc = buf_add(resp, tmp, (size_t)n)) < 0)
			return err_prefix("the answer of '%s'", url);
	if (n < 0)
		return err_git(ERR_NETWORK, "cannot read the answer of '%s'", url);
	return 0;
}

/*
 * One request to the peer at u (url names it in messages): the answer's body into body
 * (at most max bytes). On the round's kept connection when it goes to the same peer; a
 * kept connection the peer (or the link) closed meanwhile is replaced by a new one once,
 * when nothing of the answer came, for any request but a push.
 */
static int http_request(struct buf *body, size_t max, const struct http_url *u, const char *url,
			const char *method, const char *target, const char *ctype, const void *data,
			size_t len)
{
	git_stream *st = NULL;
	struct buf req, resp;
	/* a push may have landed when its answer was lost: not sent twice (the next round
	 * asks the peer where its branch is); a read is */
	bool reused, retry = strcmp(target, "/git-receive-pack") != 0;
	int rc;

	buf_init(&req, 0);
	buf_init(&resp, max);
	buf_init(body, 0);
	rc = buf_printf(&req,
			"%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: git/2.0 (%s)\r\n"
			"Accept: */*\r\nPragma: no-cache\r\n",
			method, u->path, target, u->host, u->port, XFER_AGENT);
	if (rc == 0 && ctype) /* application/x-git-<service>-request */
		rc = buf_printf(
		    &req, "Content-Type: %s\r\nAccept: %.*s-result\r\nContent-Length: %zu\r\n",
		    ctype, (int)(strlen(ctype) - strlen("-request")), ctype, len);
	if (rc < 0 || (rc = buf_adds(&req, "\r\n")) < 0)
		goto out;
	for (;;) {
		reused =
		    kept.st && strcmp(kept.host, u->host) == 0 && strcmp(kept.port, u->port) == 0;
		if (reused) {
			st = kept.st;
			kept.st = NULL;
		} else {
			sync_http_close();
			if ((rc = tls_client_open(&st, u->host, u->port)) < 0)
				goto out;
		}
		buf_reset(&resp);
		rc = exchange(&resp, st, &req, data, len, url);
		if (reused && retry && resp.len == 0 && (rc < 0 || !response_complete(&resp))) {
			stream_drop(&st); /* closed while kept: once more, on a new connection */
			err_clear();
			git_error_clear();
			continue;
		}
		break;
	}
	if (rc < 0 || (rc = sync_http_response(body, &resp, url)) < 0)
		goto out;
	if (response_complete(&resp) && response_keeps(&resp)) {
		snprintf(kept.host, sizeof(kept.host), "%s", u->host);
		snprintf(kept.port, sizeof(kept.port), "%s", u->port);
		kept.st = st;
		st = NULL;
	}
out:
	stream_drop(&st);
	if (rc < 0)
		buf_release(body);
	buf_release(&req);
	buf_release(&resp);
	return rc;
}

/* Next pkt-line of b from *pos: *line (NULL for a flush) and its length, all of it. */
static int pkt_next_raw(const struct buf *b, size_t *pos, const char **line, size_t *n,
			const char *url)
{
	size_t len = 0, i;

	/* exactly 4 hex digits: strtoul would take a sign, spaces or "0x" (a length of
	 * "-001" is ULONG_MAX, and *pos + len wraps) */
	if (*pos > b->len || b->len - *pos < 4)
		goto bad;
	for (i = 0; i < 4; i++) {
		int c = (unsigned char)b->ptr[*pos + i];
		if (!isxdigit(c))
			goto bad;
		len = len * 16 + (size_t)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
	}
	if ((len != 0 && len < 4) || len > 65520 || len > b->len - *pos)
		goto bad;
	*line = len ? b->ptr + *pos + 4 : NULL;
	*n = len ? len - 4 : 0;
	*pos += len ? len : 4;
	return 0;
bad:
	return err_set(ERR_NETWORK, "'%s' sent a malformed or truncated pkt-line", url);
}

/* pkt_next_raw, without the line's trailing LF. */
static int pkt_next(const struct buf *b, size_t *pos, const char **line, size_t *n, const char *url)
{
	int rc = pkt_next_raw(b, pos, line, n, url);

	if (rc == 0 && *n && (*line)[*n - 1] == '\n')
		(*n)--;
	return rc;
}

static int pkt_append(struct buf *b, const char *s, size_t n)
{
	char hex[5];

	snprintf(hex, sizeof(hex), "%04zx", n + 4);
	return buf_add(b, hex, 4) < 0 ? -1 : buf_add(b, s, n);
}

/* Called by advert_walk for each ref the advertisement names (name: nlen bytes). */
typedef int (*advert_fn)(const git_oid *id, const char *name, size_t nlen, void *payload);

/* Check an advertisement for service (b: the body) and call fn for each ref it names. */
static int advert_walk(const struct buf *b, const char *url, const char *service, char caps[512],
		       advert_fn fn, void *payload)
{
	char want[64];
	const char *line;
	size_t pos = 0, n;
	git_oid id;
	int rc;

	caps[0] = '\0';
	if ((rc = pkt_next(b, &pos, &line, &n, url)) < 0)
		return rc;
	snprintf(want, sizeof(want), "# service=%s", service);
	if (!line || n != strlen(want) || strncmp(line, want, n) != 0)
		return err_set(ERR_NETWORK, "'%s' does not serve %s", url, service);
	if ((rc = pkt_next(b, &pos, &line, &n, url)) < 0)
		return rc;
	while (pos < b->len && (rc = pkt_next(b, &pos, &line, &n, url)) == 0 && line) {
		const char *name = line + 41, *nul = memchr(line, '\0', n);

		if (n < 42 || line[40] != ' ' || git_oid_fromstrn(&id, line, 40) < 0 ||
		    (nul && nul < name)) {
			git_error_clear();
			return err_set(ERR_NETWORK, "'%s' sent a malformed ref line", url);
		}
		if (nul && !caps[0])
			snprintf(caps, 512, "%.*s", (int)(line + n - nul - 1), nul + 1);
		if (git_oid_is_zero(&id))
			continue; /* "capabilities^{}": no refs */
		if ((rc = fn(&id, name, (size_t)((nul ? nul : line + n) - name), payload)) < 0)
			return rc;
	}
	return rc;
}

struct advert_find {
	git_oid *old;
	git_oid **hide;
	size_t *nhide, cap;
	git_odb *odb;
	const char *ref;
};

static int advert_find_cb(const git_oid *id, const char *name, size_t nlen, void *payload)
{
	struct advert_find *f = payload;
	git_oid *g;

	if (nlen == strlen(f->ref) && memcmp(name, f->ref, nlen) == 0)
		git_oid_cpy(f->old, id);
	if (!f->hide || !f->odb || !git_odb_exists(f->odb, id))
		return 0;
	if (*f->nhide == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		if (!(g = realloc(*f->hide, f->cap * sizeof(*g))))
			return err_set(ERR_NOMEM, "out of memory");
		*f->hide = g;
	}
	git_oid_cpy(&(*f->hide)[(*f->nhide)++], id);
	return 0;
}

int sync_parse_advert(git_oid *old, git_oid **hide, size_t *nhide, char caps[512], git_odb *odb,
		      const struct buf *b, const char *url, const char *service, const char *ref)
{
	struct advert_find f = {old, hide, nhide, 0, odb, ref};
	int rc;

	if (hide) {
		*hide = NULL;
		*nhide = 0;
	}
	memset(old, 0, sizeof(*old));
	rc = advert_walk(b, url, service, caps, advert_find_cb, &f);
	git_error_clear();
	if (rc < 0 && hide) {
		free(*hide);
		*hide = NULL;
		*nhide = 0;
	}
	return rc;
}

/* Fetch and parse the peer's advertisement for service (see sync_parse_advert). */
static int read_advert(git_oid *old, git_oid **hide, size_t *nhide, char caps[512],
		       git_repository *repo, const struct http_url *u, const char *url,
		       const char *service, const char *ref)
{
	char target[64];
	git_odb *odb = NULL;
	struct buf b;
	int rc;

	snprintf(target, sizeof(target), "/info/refs?service=%s", service);
	if ((rc = http_request(&b, PUSH_REPLY_MAX, u, url, "GET", target, NULL, NULL, 0)) < 0)
		return rc;
	if (git_repository_odb(&odb, repo) < 0)
		rc = err_git(ERR_IO, "cannot open the object database");
	else
		rc = sync_parse_advert(old, hide, nhide, caps, odb, &b, url, service, ref);
	git_odb_free(odb);
	buf_release(&b);
	return rc;
}

int sync_push_report(const struct buf *b, const char *url, const char *branch, const char *ref)
{
	const char *line, *unpack = NULL;
	size_t pos = 0, n, un = 0, rl = strlen(ref);
	bool unpacked = false, ok = false;
	int rc;

	/* every line: a server that refuses a command leaves the pack unpacked ("unpack not
	 * unpacked"), and only the command's ng line says whether a race was lost */
	while (pos < b->len) {
		if ((rc = pkt_next(b, &pos, &line, &n, url)) < 0)
			return rc;
		if (!line)
			break;
		if (n >= 6 && strncmp(line, "unpack", 6) == 0) {
			if (n != 9 || strncmp(line, "unpack ok", 9) != 0) {
				unpack = line;
				un = n;
			} else {
				unpacked = true;
			}
		} else if (n == rl + 3 && strncmp(line, "ok ", 3) == 0 &&
			   memcmp(line + 3, ref, rl) == 0) {
			ok = true;
		} else if (n > rl + 3 && strncmp(line, "ng ", 3) == 0 &&
			   memcmp(line + 3, ref, rl) == 0 && line[3 + rl] == ' ') {
			const char *why = line + 4 + rl;
			int wn = (int)(n - 4 - rl);
			bool race = memmem(why, (size_t)wn, "fast-forward", 12) ||
				    memmem(why, (size_t)wn, "stale", 5) ||
				    memmem(why, (size_t)wn, "moved", 5);
			if (!race && unpack) /* "unpacker error": the unpack line says why */
				return err_set(ERR_DENIED, "'%s' refused branch '%s': %.*s", url,
					       branch, (int)un, unpack);
			return err_set(race ? ERR_CONFLICT : ERR_DENIED,
				       "'%s' refused branch '%s': %.*s", url, branch, wn, why);
		}
	}
	if (unpack)
		return err_set(ERR_DENIED, "'%s' refused branch '%s': %.*s", url, branch, (int)un,
			       unpack);
	if (!unpacked || !ok)
		return err_set(ERR_NETWORK, "'%s' did not report the push of '%s'", url, branch);
	return 0;
}

static int body_sink(const void *data, size_t n, void *payload)
{
	return buf_add(payload, data, n);
}

/* Move refs/remotes/<peer>/<branch> to id (compare-and-swap from where it is). */
static int track_set(struct ledger *l, const struct sync_peer *p, const char *branch,
		     const git_oid *id)
{
	char track[256];
	git_oid old;
	bool has_old;
	int rc;

	if ((rc = tracking_ref(track, sizeof(track), p, branch)) < 0)
		return rc;
	has_old = git_reference_name_to_id(&old, l->repo, track) == 0;
	git_error_clear();
	if (has_old && git_oid_equal(&old, id))
		return 0;
	return ledger_ref_cas(l, track, has_old ? &old : NULL, id);
}

/* After a push: the tracking ref is a cache of what the peer has, so a failure to move
 * it is not one (the next fetch sets it). */
static void track_move(struct ledger *l, const struct sync_peer *p, const char *branch,
		       const git_oid *id)
{
	if (track_set(l, p, branch, id) < 0)
		err_clear();
}

static int oids_add(git_oid **v, size_t *n, size_t *cap, const git_oid *id)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		git_oid *g = realloc(*v, c * sizeof(*g));

		if (!g)
			return err_set(ERR_NOMEM, "out of memory");
		*v = g;
		*cap = c;
	}
	git_oid_cpy(&(*v)[(*n)++], id);
	return 0;
}

/*
 * The tips of the steps a push of head takes, oldest first, head last: every step-th
 * commit of head's first-parent line that the peer lacks (hide: what it advertised) and
 * that is a fast-forward of old (zero: a new branch). A line that reaches old only through
 * a merge's second parent (a merge made on sync) starts at that merge: the commits before
 * it do not descend from old, so they go in its step.
 */
static int push_steps(git_oid **out, size_t *n, git_repository *repo, const git_oid *head,
		      const git_oid *old, const git_oid *hide, size_t nhide, size_t step)
{
	git_oid *line = NULL;
	size_t len = 0, ncap = 0, lo = 0, hi, i;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = xfer_first_parent_line(&line, &len, repo, head, hide, nhide)) < 0)
		return rc;
	/* descending from old is monotonic along the line: find where it starts */
	hi = len ? len - 1 : 0;
	if (!git_oid_is_zero(old))
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (git_graph_descendant_of(repo, &line[mid], old) == 1)
				hi = mid;
			else
				lo = mid + 1;
		}
	git_error_clear();
	for (i = lo + step - 1; i + 1 < len; i += step)
		if ((rc = oids_add(out, n, &ncap, &line[i])) < 0)
			goto out;
	rc = oids_add(out, n, &ncap, head);
out:
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	free(line);
	return rc;
}

/* The step size for this transfer (sync_peer.step, .step_now). */
static size_t step_size(const struct sync_peer *p, size_t *max)
{
	*max = p->step ? p->step : SYNC_STEP;
	return p->step_now && *p->step_now && *p->step_now < *max ? *p->step_now : *max;
}

/*
 * After a transfer in steps of step, nok of which went through: one completed doubles
 * it, one cut (rc ERR_NETWORK) before any step went through halves it; a cut after some
 * did leaves it (it fits the link).
 */
static void step_adapt(const struct sync_peer *p, size_t step, size_t max, int rc, size_t nok)
{
	if (!p->step_now)
		return;
	if (rc == ERR_NETWORK && nok == 0)
		*p->step_now = step / 2 > SYNC_STEP_MIN ? step / 2 : SYNC_STEP_MIN;
	else if (rc == 0)
		*p->step_now = step < max / 2 ? step * 2 : max;
	else
		*p->step_now = step;
}

/* Whether the peer advertised capability name. */
static bool has_cap(const char *caps, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	for (p = caps; (p = strstr(p, name)); p += n)
		if ((p == caps || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '='))
			return true;
	return false;
}

/* One receive-pack request: ref at the peer from old to tip, hide being what it has. */
static int push_one(struct ledger *l, const struct sync_peer *p, const struct http_url *u,
		    const char *branch, const char *ref, const git_oid *old, const git_oid *tip,
		    const git_oid *hide, size_t nhide, bool slim)
{
	struct buf body, reply;
	char line[400], ho[GIT_OID_HEXSZ + 1], hn[GIT_OID_HEXSZ + 1];
	int rc, k;

	buf_init(&body, 0);
	buf_init(&reply, 0);
	git_oid_tostr(ho, sizeof(ho), old);
	git_oid_tostr(hn, sizeof(hn), tip);
	k = snprintf(line, sizeof(line), "%s %s %s%creport-status ofs-delta%s agent=%s\n", ho, hn,
		     ref, '\0', slim ? " " SLIM_CAP : "", XFER_AGENT);
	if (pkt_append(&body, line, (size_t)k) < 0 || buf_add(&body, "0000", 4) < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	/* thin: receive-pack fixes thin packs (git's always has; ours reads bases from the
	 * ledger), and the bases are in the commits the peer advertised */
	if ((rc = pack_write(NULL, l->repo, tip, 1, hide, nhide, PACK_THIN | (slim ? PACK_SLIM : 0),
			     body_sink, &body)) < 0)
		goto out;
	if ((rc = http_request(&reply, PUSH_REPLY_MAX, u, p->url, "POST", "/git-receive-pack",
			       "application/x-git-receive-pack-request", body.ptr, body.len)) < 0)
		goto out;
	rc = sync_push_report(&reply, p->url, branch, ref);
out:
	buf_release(&body);
	buf_release(&reply);
	return rc;
}

/*
 * Push head to ref at an https:// peer (nothing to send when the peer has it), in steps
 * of at most p->step commits of the first-parent line (push_steps), each its own request:
 * the peer verifies each and moves its branch, so a link that drops mid-push loses only
 * the step in flight, and the next push starts from what the peer advertises.
 */
static int push_http(struct ledger *l, const struct sync_peer *p, const char *branch,
		     const char *ref, const git_oid *head)
{
	struct http_url u;
	git_oid old, *hide = NULL, *tips = NULL, *g;
	size_t nhide = 0, ntips = 0, i, nok = 0, max, step = step_size(p, &max);
	char caps[512];
	int rc;

	if ((rc = url_split(&u, p->url)) < 0 ||
	    (rc = read_advert(&old, &hide, &nhide, caps, l->repo, &u, p->url, "git-receive-pack",
			      ref)) < 0)
		goto out;
	if (git_oid_equal(&old, head))
		goto out; /* the peer has it */
	if ((rc = push_steps(&tips, &ntips, l->repo, head, &old, hide, nhide, step)) < 0)
		goto out;
	/* one more slot: the last step the peer took (the earlier ones are its ancestors) */
	if (!(g = realloc(hide, (nhide + 1) * sizeof(*g)))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	hide = g;
	for (i = 0; i < ntips; i++) {
		rc = push_one(l, p, &u, branch, ref, &old, &tips[i], hide, nhide + (nok > 0),
			      !p->plain && has_cap(caps, SLIM_CAP));
		if (rc == ERR_DENIED && i + 1 < ntips) {
			/* a step the head would not be refused for (its tip signed by a key
			 * expired since): the rest goes in one request, which the peer
			 * accepts or refuses with its reason */
			err_clear();
			i = ntips - 2;
			continue;
		}
		if (rc < 0)
			break;
		old = hide[nhide] = tips[i];
		nok++;
		track_move(l, p, branch, &old);
	}
	step_adapt(p, step, max, rc, nok);
out:
	free(tips);
	free(hide);
	return rc;
}

/* --- fetch: upload-pack over smart HTTP ------------------------------------------ */

#define FETCH_REPLY_MAX ((size_t)512 << 20) /* largest upload-pack answer read */

/* The upload-pack request: one want, every head we have, done; step > 0: asks for a
 * step of that many commits (XFER_STEP_CAP) when the peer offers it. */
static int fetch_request(struct buf *req, git_repository *repo, const git_oid *want,
			 const char *caps, size_t step, bool slim)
{
	git_oid *have = NULL;
	size_t nhave = 0, i;
	char line[300], hex[GIT_OID_HEXSZ + 1], st[64] = "";
	int rc, k;

	if ((rc = xfer_ref_heads(&have, &nhave, repo, true)) < 0)
		return rc;
	git_oid_tostr(hex, sizeof(hex), want);
	if (step)
		snprintf(st, sizeof(st), " %s=%zu", XFER_STEP_CAP, step);
	k = snprintf(line, sizeof(line), "want %s%s%s%s%s ofs-delta agent=%s\n", hex,
		     has_cap(caps, "side-band-64k") ? " side-band-64k no-progress" : "",
		     has_cap(caps, "thin-pack") ? " thin-pack" : "", st, slim ? " " SLIM_CAP : "",
		     XFER_AGENT);
	rc = pkt_append(req, line, (size_t)k) < 0 || buf_add(req, "0000", 4) < 0;
	for (i = 0; rc == 0 && i < nhave; i++) {
		git_oid_tostr(hex, sizeof(hex), &have[i]);
		k = snprintf(line, sizeof(line), "have %s\n", hex);
		rc = pkt_append(req, line, (size_t)k) < 0;
	}
	if (rc == 0)
		rc = pkt_append(req, "done\n", 5) < 0;
	free(have);
	return rc ? err_set(ERR_NOMEM, "out of memory") : 0;
}

int sync_upload_reply(struct buf *pack, const struct buf *b, const char *url, bool sideband,
		      git_oid *step)
{
	const char *line;
	size_t pos = 0, n;
	int rc;

	if ((rc = pkt_next(b, &pos, &line, &n, url)) < 0)
		return rc;
	/* "not our ref": the branch moved between the advertisement and the request (a race
	 * lost, ERR_CONFLICT: sync_branch fetches again) */
	if (line && n >= 4 && strncmp(line, "ERR ", 4) == 0)
		return err_set(memmem(line, n, "not our ref", 11) ? ERR_CONFLICT : ERR_DENIED,
			       "'%s' refused the fetch: %.*s", url, (int)(n - 4), line + 4);
	if (!line || !((n == 3 && strncmp(line, "NAK", 3) == 0) ||
		       (n >= 44 && strncmp(line, "ACK ", 4) == 0)))
		return err_set(ERR_NETWORK, "'%s' did not answer the fetch with ACK or NAK", url);
	if (step) {
		if ((rc = pkt_next(b, &pos, &line, &n, url)) < 0)
			return rc;
		if (!line || n < 45 || strncmp(line, "step ", 5) != 0 ||
		    (n > 45 && !(n == 46 && line[45] == '\n')) ||
		    git_oid_fromstrn(step, line + 5, 40) < 0) {
			git_error_clear();
			return err_set(ERR_NETWORK, "'%s' did not say which step it sent", url);
		}
	}
	if (!sideband)
		return buf_add(pack, b->ptr + pos, b->len - pos);
	while (pos < b->len) {
		if ((rc = pkt_next_raw(b, &pos, &line, &n, url)) < 0)
			return rc;
		if (!line)
			return 0;
		if (n == 0)
			continue;
		if (line[0] == 1 && (rc = buf_add(pack, line + 1, n - 1)) < 0)
			return rc;
		if (line[0] == 3)
			return err_set(ERR_DENIED, "'%s' failed the fetch: %.*s", url, (int)(n - 1),
				       line + 1);
	}
	return err_set(ERR_NETWORK, "the pack from '%s' was cut short", url);
}

/*
 * Fetch ref's objects from an https:// peer into this ledger's objects/pack: *head = its
 * head there, *tip = the commit the objects end at: head, or with step > 0 (and a peer
 * that offers steps) the step-th commit of head's first-parent line past what we have.
 * The pack is indexed with pack_index, which writes nothing unless the whole pack checks;
 * nothing refers to its objects until they are verified.
 */
static int fetch_http(git_oid *head, git_oid *tip, bool *asked, struct ledger *l,
		      const struct sync_peer *p, const char *branch, const char *ref, size_t step)
{
	struct http_url u;
	struct buf req = BUF_INIT, reply = BUF_INIT, pack = BUF_INIT, made = BUF_INIT;
	git_odb *odb = NULL;
	char caps[512], dir[4200];
	bool slim;
	int rc;

	memset(head, 0, sizeof(*head));
	memset(tip, 0, sizeof(*tip));
	if ((rc = url_split(&u, p->url)) < 0 ||
	    (rc = read_advert(head, NULL, NULL, caps, l->repo, &u, p->url, "git-upload-pack",
			      ref)) < 0)
		goto out;
	*tip = *head;
	if (git_oid_is_zero(head)) {
		rc = err_set(ERR_NOTFOUND, "'%s' has no branch '%s' for us", p->url, branch);
		goto out;
	}
	if (git_repository_odb(&odb, l->repo) < 0) {
		rc = err_git(ERR_IO, "cannot open the object database");
		goto out;
	}
	if (git_odb_exists(odb, head))
		goto out; /* nothing new: we pushed it, or fetched it before */
	if (!has_cap(caps, XFER_STEP_CAP))
		step = 0;
	slim = !p->plain && has_cap(caps, SLIM_CAP);
	*asked = true;
	if ((rc = fetch_request(&req, l->repo, head, caps, step, slim)) < 0 ||
	    (rc = http_request(&reply, FETCH_REPLY_MAX, &u, p->url, "POST", "/git-upload-pack",
			       "application/x-git-upload-pack-request", req.ptr, req.len)) < 0 ||
	    (rc = sync_upload_reply(&pack, &reply, p->url, has_cap(caps, "side-band-64k"),
				    step ? tip : NULL)) < 0)
		goto out;
	if (slim && slim_is(pack.ptr, pack.len)) {
		if ((rc = slim_to_pack(&made, NULL, pack.ptr, pack.len, odb, FETCH_REPLY_MAX)) <
		    0) {
			err_prefix("branch '%s' from '%s'", branch, p->url);
			goto out;
		}
		buf_release(&pack);
		pack = made;
		buf_init(&made, 0);
	}
	snprintf(dir, sizeof(dir), "%s/objects/pack", l->dir);
	if ((rc = pack_index(NULL, dir, pack.ptr, pack.len, odb)) < 0) {
		err_prefix("branch '%s' from '%s'", branch, p->url);
		goto out;
	}
	git_odb_refresh(odb);
	if (ledger_pack_maintain(l, NULL) < 0)
		err_clear(); /* only an optimisation: the pack is in place */
out:
	git_error_clear();
	git_odb_free(odb);
	buf_release(&req);
	buf_release(&reply);
	buf_release(&pack);
	buf_release(&made);
	return rc;
}

/*
 * Check what arrived up to tip and point refs/remotes/<peer>/<branch> at it: every new
 * object is there, every commit new to branch verifies. Nothing moves otherwise.
 */
static int fetched_accept(struct ledger *l, const struct sync_peer *p, const char *branch,
			  const git_oid *tip)
{
	git_oid *have = NULL;
	git_odb *odb = NULL;
	size_t nhave = 0;
	int rc;

	if (git_repository_odb(&odb, l->repo) < 0) {
		rc = err_git(ERR_IO, "cannot read the object database");
		goto out;
	}
	if ((rc = xfer_ref_heads(&have, &nhave, l->repo, true)) < 0 ||
	    (rc = xfer_walk(l->repo, tip, 1, have, nhave, complete_cb, odb)) < 0 ||
	    (rc = verify_fetched(l, p, branch, tip)) < 0) {
		if (rc != ERR_NOMEM && rc != ERR_IO)
			err_prefix("branch '%s' from '%s' refused", branch, p->url);
		goto out;
	}
	rc = track_set(l, p, branch, tip);
out:
	git_odb_free(odb);
	free(have);
	return rc;
}

/*
 * From an https:// peer, in steps (fetch_http): each step verified and the tracking ref
 * moved, so a cut loses only the step in flight. A step refused on its own (its tip
 * signed by a key expired since, which the head is not) is fetched again as one.
 */
static int fetch_steps(git_oid *head, struct ledger *l, const struct sync_peer *p,
		       const char *branch, const char *ref)
{
	size_t max, step = step_size(p, &max), nok = 0;
	git_oid tip, last = {{0}};
	bool whole = false, asked = false;
	int rc;

	for (;;) {
		rc = fetch_http(head, &tip, &asked, l, p, branch, ref, whole ? 0 : step);
		if (rc == 0 && git_oid_equal(&tip, &last))
			rc = err_set(ERR_NETWORK, "'%s' sent branch '%s' no further than %s",
				     p->url, branch, git_oid_tostr_s(&tip));
		if (rc == 0)
			rc = fetched_accept(l, p, branch, &tip);
		if (rc < 0 && rc != ERR_NETWORK && rc != ERR_NOTFOUND && !whole &&
		    !git_oid_equal(&tip, head)) {
			err_clear();
			whole = true;
			continue;
		}
		if (rc < 0 || git_oid_equal(&tip, head))
			break;
		last = tip;
		nok++;
	}
	if (asked) /* a branch with nothing to fetch says nothing of the link */
		step_adapt(p, step, max, rc, nok);
	return rc;
}

int sync_fetch(git_oid *out, struct ledger *l, const struct sync_peer *p, const char *branch)
{
	char ref[LEDGER_REF_MAX], track[256];
	int rc;

	if ((rc = ledger_ref_name(ref, branch)) < 0 ||
	    (rc = tracking_ref(track, sizeof(track), p, branch)) < 0)
		return rc;
	if (strncmp(p->url, "https://", 8) == 0 && !p->bundle)
		return fetch_steps(out, l, p, branch, ref);
	if (p->bundle)
		rc = bundle_head(out, p->bundle, ref);
	else
		rc = fetch_git(out, l, p, branch, ref, track);
	if (rc < 0)
		return rc;
	return fetched_accept(l, p, branch, out);
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
	char ref[LEDGER_REF_MAX], spec[200];
	char *specs[] = {spec};
	git_strarray refspecs = {specs, 1};
	git_oid head;
	int rc;

	if ((rc = ledger_ref_name(ref, branch)) < 0 || (rc = ledger_head(&head, l, branch)) < 0)
		return rc;
	if (strncmp(p->url, "https://", 8) == 0) {
		if ((rc = push_http(l, p, branch, ref, &head)) < 0)
			goto out;
		goto track;
	}
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
track:
	track_move(l, p, branch, &head);
out:
	git_remote_free(remote);
	return rc;
}

/* trust first (what every other branch is verified against), then by name */
static int str_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	int tx = strcmp(x, "trust") == 0, ty = strcmp(y, "trust") == 0;

	return tx != ty ? ty - tx : strcmp(x, y);
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

/* Add refs/heads/<b> (name: nlen bytes) to the list when b is a ledger branch. */
static int branch_add(const char *name, size_t nlen, char ***list, size_t *n, size_t *cap)
{
	char b[LEDGER_REF_MAX];

	if (nlen <= 11 || nlen - 11 >= sizeof(b) || strncmp(name, "refs/heads/", 11) != 0)
		return 0;
	memcpy(b, name + 11, nlen - 11);
	b[nlen - 11] = '\0';
	if (strcmp(b, "trust") != 0 && office_level(b) < 0) {
		err_clear();
		return 0;
	}
	return list_add(list, n, cap, b);
}

struct advert_list {
	char ***list;
	size_t *n, *cap;
};

static int advert_list_cb(const git_oid *id, const char *name, size_t nlen, void *payload)
{
	struct advert_list *al = payload;

	(void)id;
	return branch_add(name, nlen, al->list, al->n, al->cap);
}

/* The ledger branches an https:// peer advertises to us (upload-pack), into al. */
static int advert_branches(struct advert_list *al, const char *url)
{
	struct http_url u;
	struct buf b = BUF_INIT;
	char caps[512];
	int rc;

	if ((rc = url_split(&u, url)) < 0)
		return rc;
	if ((rc = http_request(&b, PUSH_REPLY_MAX, &u, url, "GET",
			       "/info/refs?service=git-upload-pack", NULL, NULL, 0)) < 0)
		return err_prefix("cannot reach '%s'", url);
	rc = advert_walk(&b, url, "git-upload-pack", caps, advert_list_cb, al);
	buf_release(&b);
	return rc;
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
	if (strncmp(p->url, "https://", 8) == 0 && !p->bundle) { /* on the kept connection */
		struct advert_list al = {&list, n, &cap};

		if ((rc = advert_branches(&al, p->url)) < 0)
			goto out;
	} else {
		if ((rc = remote_open(&remote, l, p, GIT_DIRECTION_FETCH)) < 0)
			goto out;
		if (git_remote_ls(&heads, &nheads, remote) < 0) {
			rc = err_git(ERR_NETWORK, "cannot list the branches of '%s'", p->url);
			goto out;
		}
		for (i = 0; i < nheads; i++)
			if ((rc = branch_add(heads[i]->name, strlen(heads[i]->name), &list, n,
					     &cap)) < 0)
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

/* Merge the fetched head into the local branch (fetch verified it), for sync_once. */
static int sync_merge(struct ledger *l, const struct sync_peer *p, const char *branch,
		      const git_oid *remote)
{
	struct merge_result mr = {0};
	struct merge_opts mo = {0};
	char reason[600];
	int rc;

	/* an automatic merge names itself: it decides nothing a person chose */
	snprintf(reason, sizeof(reason), "merge on sync with %s (%s)", p->name, p->url);
	mo.operator= "caseledgerd";
	mo.reason = reason;
	mo.verified = true;
	if ((rc = merge_branches_ext(&mr, l, branch, remote, &mo)) < 0 && rc != ERR_CONFLICT)
		err_prefix("cannot merge branch '%s' from '%s'", branch, p->url);
	merge_result_release(&mr);
	return rc;
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
	may_push =
	    !p->bundle && (strcmp(branch, "trust") != 0 || office_level(l->office) == LEVEL_CITY);
	if (has_local && has_remote &&
	    git_graph_ahead_behind(&ahead, &behind, l->repo, &local, &remote) < 0)
		return err_git(ERR_IO, "cannot compare branch '%s' with '%s'", branch, p->url);
	/* a revoked office may still fast-forward, but signs and pushes nothing */
	if (strcmp(branch, "trust") != 0 && has_local && (ahead > 0 || !has_remote)) {
		char why[400];
		bool revoked;

		if ((rc = trust_own_revoked(&revoked, l, why, sizeof(why))) < 0)
			return rc;
		if (revoked)
			return err_set(ERR_DENIED, "%s", why);
	}
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
	} else if (ahead > 0 && behind > 0 && strcmp(branch, "trust") != 0) {
		/* merge, then push the merge (a lost race: ERR_CONFLICT, the caller retries) */
		if ((rc = sync_merge(l, p, branch, &remote)) < 0)
			return rc;
		res->outcome = SYNC_MERGED;
		behind = 0;
		ahead = 1;
		if (may_push) {
			if ((rc = sync_push(l, p, branch)) < 0)
				return rc;
			ahead = 0;
		}
	} else if (ahead > 0 && behind > 0) {
		/* the trust branch is only ever fast-forwarded */
		res->outcome = SYNC_DIVERGED;
		snprintf(res->error, sizeof(res->error),
			 "branch '%s' has %zu local and %zu remote commits: it needs a merge",
			 branch, ahead, behind);
	}
	res->ahead = ahead;
	res->behind = behind;
	return 0;
}

/*
 * What this ledger alone knows of branch after a failed sync: the local commits the
 * peer did not have at the last exchange (local head against the tracking ref; every
 * local commit when there was none) and the fetched ones not yet merged, so a status
 * shows work pending while the parent is unreachable. Zero when it cannot tell.
 */
static void pending_counts(struct sync_branch_result *out, struct ledger *l,
			   const struct sync_peer *p, const char *branch)
{
	char track[256];
	git_oid local, remote;
	git_revwalk *w = NULL;
	bool has_local, has_remote;

	out->ahead = out->behind = 0;
	has_local = ledger_head(&local, l, branch) == 0;
	has_remote = tracking_ref(track, sizeof(track), p, branch) == 0 &&
		     git_reference_name_to_id(&remote, l->repo, track) == 0;
	if (has_local && has_remote) {
		if (git_graph_ahead_behind(&out->ahead, &out->behind, l->repo, &local, &remote) < 0)
			out->ahead = out->behind = 0;
	} else if (has_local && git_revwalk_new(&w, l->repo) == 0 &&
		   git_revwalk_push(w, &local) == 0) {
		git_oid id;
		while (git_revwalk_next(&id, w) == 0)
			out->ahead++;
	}
	git_revwalk_free(w);
	git_error_clear();
}

void sync_branch_failed(struct sync_branch_result *out, struct ledger *l, const struct sync_peer *p,
			const char *branch, const char *error)
{
	char msg[sizeof(out->error)];

	snprintf(msg, sizeof(msg), "%s", error); /* error may be err_msg(), cleared below */
	memset(out, 0, sizeof(*out));
	snprintf(out->branch, sizeof(out->branch), "%s", branch);
	out->outcome = SYNC_FAILED;
	snprintf(out->error, sizeof(out->error), "%s", msg);
	pending_counts(out, l, p, branch);
	if (strcmp(branch, "trust") != 0 && sync_conflicts_open(&out->conflicts, l, branch) < 0)
		out->conflicts = 0;
	err_clear();
	err_set(ERR_NETWORK, "%s", msg);
}

int sync_branch(struct sync_branch_result *out, struct ledger *l, const struct sync_peer *p,
		const char *branch)
{
	int rc, tries;

	memset(out, 0, sizeof(*out));
	snprintf(out->branch, sizeof(out->branch), "%s", branch);
	for (tries = 0; tries < SYNC_TRIES; tries++) {
		out->outcome = SYNC_UP_TO_DATE;
		out->error[0] = '\0';
		if ((rc = sync_once(out, l, p, branch)) != ERR_CONFLICT)
			break; /* retry the whole fetch-merge-push only when a race was lost */
		err_clear();
	}
	if (rc < 0) {
		sync_branch_failed(out, l, p, branch, err_msg());
		return rc;
	}
	if (strcmp(branch, "trust") != 0 &&
	    (rc = sync_conflicts_open(&out->conflicts, l, branch)) < 0) {
		out->outcome = SYNC_FAILED;
		snprintf(out->error, sizeof(out->error), "%s", err_msg());
	}
	return rc;
}

/* git_tree_walk callback: count conflict records whose status is "open". */
int sync_conflicts_open(size_t *out, struct ledger *l, const char *branch)
{
	json_t *list = NULL;
	int rc = merge_conflicts(&list, l, branch, false);

	*out = json_array_size(list);
	json_decref(list);
	if (rc == ERR_NOTFOUND) { /* no such branch here: nothing open */
		err_clear();
		rc = 0;
	}
	return rc;
}
