/*
 * sync: one office's exchange with its parent, per branch — fetch into
 * refs/remotes/<peer>/<branch>, verify every new commit with verify_commit, bring the
 * local branch up (fast-forward, or a record-level merge with merge_branches_ext; the
 * trust branch only ever fast-forwards), push, and retry the whole round when the push
 * loses a race. libgit2's smart HTTP client does the transfer, over tls.h's stream.
 *
 * A failed or cut sync never changes the local ledger: fetched objects stay unreachable
 * until every new commit has verified, and refs move only by compare-and-swap.
 */
#ifndef CASELEDGER_SYNC_H
#define CASELEDGER_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "ledger.h"
#include "xfer.h"

struct bundle;

struct sync_peer {
	const char *url;       /* https://host:port/<name>; a bundle's path */
	const char *name;      /* local name: refs/remotes/<name>/… */
	xfer_verify_fn verify; /* for fetched commits; NULL: verify_commit
				  (VERIFY_INCOMING) against the ledger's trust */
	void *verify_payload;
	const struct bundle *bundle; /* not NULL: the peer is this bundle, unpacked
					(bundle_unpack): fetch takes its heads, nothing
					is pushed */
	size_t step;	  /* commits of the first-parent line per request (https://), both ways;
			     0: SYNC_STEP */
	size_t *step_now; /* not NULL: the step in use, kept by the caller across syncs:
			     halved (to SYNC_STEP_MIN) when a transfer is cut before any
			     step went through, doubled back (to step) by one that completes */
	bool plain;	  /* plain git packs both ways, never slim ones (slim.h), even
			     when the peer offers them */
};

#define SYNC_STEP     1000 /* default step */
#define SYNC_STEP_MIN 64

/*
 * Fetch branch from the peer into refs/remotes/<peer>/<branch>, after checking every
 * commit new to this ledger with peer->verify (a failure refuses the whole batch: the
 * tracking ref does not move and nothing fetched is reachable from a ref). *out gets the peer's
 * head. ERR_NOTFOUND when the peer has no such branch (or does not show it to us).
 */
int sync_fetch(git_oid *out, struct ledger *l, const struct sync_peer *p, const char *branch);

/*
 * Push the local branch to the same branch at the peer (fast-forward only, the peer
 * decides); to an https:// peer in steps of p->step commits, each a request of its own
 * that moves the peer's branch and our tracking ref, so a cut loses only the step in
 * flight. ERR_CONFLICT when the peer's branch moved or is not an ancestor, ERR_DENIED
 * when the peer refuses it for another reason (message: the peer's).
 */
int sync_push(struct ledger *l, const struct sync_peer *p, const char *branch);

/* The branches to sync: those the peer shows us plus our own in our scope. Unique,
 * trust first (every other branch is verified against it), then sorted; free with
 * sync_branches_free. */
int sync_branches(char ***out, size_t *n, struct ledger *l, const struct sync_peer *p);
void sync_branches_free(char **list, size_t n);

enum sync_outcome {
	SYNC_UP_TO_DATE,
	SYNC_FETCHED,  /* the local branch moved forward */
	SYNC_PUSHED,   /* the peer's branch moved forward */
	SYNC_MERGED,   /* both moved: merged locally (and the merge pushed) */
	SYNC_DIVERGED, /* both moved and cannot be merged (the trust branch) */
	SYNC_FAILED,
};

struct sync_branch_result {
	char branch[OFFICE_CODE_MAX + 8];
	enum sync_outcome outcome;
	size_t ahead, behind; /* local commits the peer lacks, and the other way, after sync */
	size_t conflicts;     /* open conflict records on the local branch, after sync */
	char error[512];      /* when FAILED or DIVERGED */
};

#define SYNC_TRIES 5 /* rounds of fetch-merge-push when a push keeps losing races */

/*
 * Sync one branch: fetch (verified), then fast-forward the local branch, or merge the
 * peer's head into it (merge_branches_ext, opts.verified) — never for trust — and push;
 * the whole round again, up to SYNC_TRIES times, when a push or the merge's ref update
 * loses a race. out->conflicts counts the branch's open conflicts afterwards.
 */
int sync_branch(struct sync_branch_result *out, struct ledger *l, const struct sync_peer *p,
		const char *branch);

const char *sync_outcome_name(enum sync_outcome o);

/*
 * Fill out as a failed sync of branch with error (copied first: it may be err_msg()),
 * its ahead and behind from this ledger alone: local commits not in the tracking ref of
 * the last exchange with p (all of them when there was none), and fetched ones not
 * merged; conflicts: the branch's open conflict records. Leaves err_msg() = error.
 */
void sync_branch_failed(struct sync_branch_result *out, struct ledger *l, const struct sync_peer *p,
			const char *branch, const char *error);

/* Called by sync_round for the i-th of n branches: before its sync (r NULL), and after. */
typedef void (*sync_each_fn)(const char *branch, const struct sync_branch_result *r, size_t i,
			     size_t n, void *payload);

/*
 * One round: sync_branch on every branch sync_branches lists, each told before and
 * after (each may be NULL). *nfailed: how many failed or diverged. An error is returned only
 * when the branches cannot be listed (the peer is down): then every local branch in this
 * office's scope is told as failed with that error and its pending commits
 * (sync_branch_failed), and counted in *nfailed. A branch's failure is in its result.
 */
int sync_round(size_t *nfailed, struct ledger *l, const struct sync_peer *p, sync_each_fn each,
	       void *payload);

/*
 * Close the connection this thread keeps open to its peer between the requests of a
 * round (HTTP/1.1 keep-alive; sync_round calls it as it ends). Safe to call any time.
 */
void sync_http_close(void);

/*
 * Set a branch's status fields in st, the shape `caseledger status` shows: branch, peer,
 * url, outcome, ahead, behind, conflicts, and last_error with last_error_time (failed or
 * diverged) or last_success, at when (ISO time). Fields not set stay (an older
 * last_success stays next to a new error).
 */
int sync_result_json(json_t *st, const struct sync_branch_result *r, const struct sync_peer *p,
		     const char *when);

/* *out = the number of conflict records with status "open" on the local branch (0 when
 * the branch does not exist). */
int sync_conflicts_open(size_t *out, struct ledger *l, const char *branch);

/*
 * The pack in an upload-pack answer (body): after its ACK or NAK line (and, when step is
 * not NULL, the "step <oid>" line naming the commit the pack ends at: *step), on
 * side-band channel 1 up to a flush (sideband), or the rest of the body. Appended to
 * pack. Errors name url and what was wrong: a malformed or truncated pkt-line, no
 * ACK/NAK, no step line, an ERR line or a channel-3 message from the server (ERR_DENIED;
 * ERR_CONFLICT for "not our ref": the branch moved since the advertisement), a missing
 * flush.
 */
struct buf;
int sync_upload_reply(struct buf *pack, const struct buf *body, const char *url, bool sideband,
		      git_oid *step);

/*
 * Read a receive-pack report-status (body) for the push of ref (refs/heads/<branch>):
 * 0 when ref was updated; ERR_CONFLICT when the peer's branch moved (a stale old value or
 * a non-fast-forward: its ng line says so, even after "unpack not unpacked"), ERR_DENIED
 * for any other refusal (the ng line's reason, or the unpack line's), ERR_NETWORK when
 * the report is malformed or does not name ref. Messages name url and branch.
 */
int sync_push_report(const struct buf *body, const char *url, const char *branch, const char *ref);

/*
 * Parse a whole HTTP/1.x answer (resp: status line, headers, body) into *body (caller
 * releases it): the body de-chunked and cut to Content-Length. ERR_NETWORK when it is not
 * HTTP, is cut short or its chunks are malformed; any status but 200 is an error (403:
 * ERR_DENIED) carrying the start of the server's message. Messages name url.
 */
int sync_http_response(struct buf *body, const struct buf *resp, const char *url);

/*
 * Parse a smart-HTTP advertisement for service (git-receive-pack, git-upload-pack) in b:
 * *old = the peer's head of ref (zero when it has none), caps its capabilities, and with
 * hide and odb (either may be NULL) *hide = every advertised commit odb has (what a pack
 * to the peer may leave out; caller frees). ERR_NETWORK naming url when malformed.
 */
int sync_parse_advert(git_oid *old, git_oid **hide, size_t *nhide, char caps[512], git_odb *odb,
		      const struct buf *b, const char *url, const char *service, const char *ref);

#endif
