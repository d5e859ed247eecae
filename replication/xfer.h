/*
 * xfer: the server side of git's smart protocol (v0/v1, stateless RPC as used over HTTP),
 * which libgit2 does not have: ref advertisement, upload-pack (want/have negotiation and a
 * pack of only the objects new since the client's heads) and receive-pack (commands, the
 * pack indexed into a quarantine directory, verification of every new commit, then
 * fast-forward-only compare-and-swap ref updates and report-status).
 *
 * Everything here works on whole request bodies in memory and appends the whole response
 * to a struct buf; the HTTP layer (daemon/) caps both. Scope: a client whose certificate
 * names office C sees and may write only refs/heads/<code> where code starts with C, and
 * may read refs/heads/trust (write it only when C is a city). Wire format: doc/protocol.md.
 */
#ifndef CASELEDGER_XFER_H
#define CASELEDGER_XFER_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "buf.h"
#include "ledger.h"

#define XFER_AGENT "caseledger/" PACKAGE_VERSION

/* pkt-line: largest packet, and the largest side-band-64k payload. */
#define XFER_PKT_MAX	  65520
#define XFER_SIDEBAND_MAX (XFER_PKT_MAX - 5)

/* A pkt-line reader over a whole request body (not owned). */
struct xfer_pkt_reader {
	const char *p; /* the body */
	size_t len;    /* its length */
	size_t off;    /* the next packet starts here */
};

enum { XFER_PKT_FLUSH = 0, XFER_PKT_DATA = 1, XFER_PKT_EOF = 2 };

/*
 * Next packet: XFER_PKT_DATA (*line points into the body, *n excludes a trailing LF),
 * XFER_PKT_FLUSH, XFER_PKT_EOF at the end of the body, or ERR_INVALID naming the byte
 * offset of a malformed, oversize (over XFER_PKT_MAX) or truncated packet.
 */
int xfer_pkt_read(struct xfer_pkt_reader *r, const char **line, size_t *n);

/* One ref update of a push. */
struct xfer_command {
	git_oid old, new;
	char ref[LEDGER_REF_MAX];
	const char *branch; /* into ref after "refs/heads/", or NULL */
	char *error;	    /* NULL: ok so far; owned */
};

/*
 * Read a receive-pack command list ("<old> <new> <ref>", capabilities after a NUL on the
 * first line only) from r up to its flush. At most max commands; only the capabilities
 * the server advertises. *out (malloc'ed, caller frees it and each error) gets the
 * commands, caps (capsz bytes) the capability list. On error (ERR_INVALID, naming what
 * was wrong) *out is NULL.
 */
int xfer_commands_parse(struct xfer_command **out, size_t *nout, char *caps, size_t capsz,
			struct xfer_pkt_reader *r, size_t max);

enum xfer_service {
	XFER_UPLOAD_PACK,  /* git-upload-pack: the client fetches */
	XFER_RECEIVE_PACK, /* git-receive-pack: the client pushes */
};

/*
 * Called for every commit a push brings to a branch and that branch did not hold (a
 * commit on another branch proves nothing for this one), before any ref moves. repo sees
 * the pushed objects (quarantined) and the ledger's; branch is the branch the commit
 * arrives on; flags has XFER_VERIFY_TIP for the pushed head itself. Return 0 to accept,
 * or a negative ERR_* with a message (err_set) that is sent to the client. The default,
 * xfer_verify_default, is replaced by the trust module's verify_commit.
 */
#define XFER_VERIFY_TIP 1u
typedef int (*xfer_verify_fn)(git_repository *repo, const char *branch, const git_oid *commit,
			      unsigned flags, void *payload);

/* Called after a push moved branch from old (zero: created) to new. */
typedef void (*xfer_pushed_fn)(const char *branch, const git_oid *old, const git_oid *new,
			       const char *client, void *payload);

struct xfer_hooks {
	xfer_verify_fn verify; /* NULL: xfer_verify_default */
	void *verify_payload;
	xfer_pushed_fn pushed; /* NULL: none */
	void *pushed_payload;
	size_t max_pack;     /* largest pack accepted, bytes (0: 256 MiB) */
	size_t max_commands; /* most ref updates in one push (0: 1024) */
	size_t max_objects;  /* most objects in one push's pack (0: XFER_MAX_OBJECTS) */
};

#define XFER_MAX_OBJECTS 250000 /* default bound on the objects of one push */

/* The commit is signed (gpgsig, SSHSIG) and the signature verifies over its payload. */
int xfer_verify_default(git_repository *repo, const char *branch, const git_oid *commit,
			unsigned flags, void *payload);

/* May client (an office code) read (write false) or write branch? */
bool xfer_scope_allows(const char *client, const char *branch, bool write);

/* Parse a service name ("git-upload-pack", "git-receive-pack"); ERR_INVALID otherwise. */
int xfer_service_parse(enum xfer_service *out, const char *name);

/* Append the smart-HTTP advertisement for service (with the "# service=" line) to out. */
int xfer_advertise(struct buf *out, struct ledger *l, enum xfer_service service,
		   const char *client);

/*
 * Answer one stateless upload-pack request (body: wants, haves, flush or done). Protocol
 * errors are answered in the protocol ("ERR …" packet) and return 0; only failures of our
 * own (I/O, memory) return an error.
 */
int xfer_upload_pack(struct buf *out, struct ledger *l, const char *client, const char *body,
		     size_t len);

/*
 * Answer one receive-pack request (body: commands, flush, pack). Nothing becomes
 * reachable unless every command is in scope, a fast-forward, and every new commit is
 * complete and passes hooks->verify; then the pack is moved out of quarantine and each ref
 * is updated by compare-and-swap. The verdicts go to the client in report-status.
 */
int xfer_receive_pack(struct buf *out, struct ledger *l, const struct xfer_hooks *hooks,
		      const char *client, const char *body, size_t len);

/*
 * Remove every quarantine (objects/incoming-*) in ledger_dir: those a server killed
 * mid-push left behind. Only for the process that owns the ledger's serving (caseledgerd
 * holding its pid file): a live push's quarantine would go too. *removed: how many.
 */
int xfer_quarantine_clean(size_t *removed, const char *ledger_dir);

/* One object xfer_walk_objects finds. */
struct xfer_object {
	const git_oid *id;
	git_object_t type;
	const char *name;    /* the tree entry's name; NULL for commits and root trees */
	const git_oid *base; /* what it replaces at its path in the first parent, same type;
				NULL for commits and new paths */
	git_odb_object *raw; /* with XFER_WALK_RAW, its data for commits and trees (the
				walker reads them anyway); NULL otherwise. Borrowed: dup it */
};

#define XFER_WALK_RAW 1u

typedef int (*xfer_object_fn)(const struct xfer_object *o, void *payload);

/*
 * The objects new in the commits reachable from tips and not from hide (commits we have),
 * found from the new commits' tree diffs against their first parents, never by walking
 * whole trees: cb once per object, parents before children, each commit before its
 * objects. A non-zero cb return stops the walk and is returned. Every object whose id
 * differs from its base is read (trees) or reported (blobs), so a walk that completes on
 * a repository holding hide's objects proves the new commits complete.
 */
int xfer_walk_objects(git_repository *repo, const git_oid *tips, size_t ntips, const git_oid *hide,
		      size_t nhide, unsigned flags, xfer_object_fn cb, void *payload);

/*
 * A walk of the commits reachable from tips and not from hide, parents before children
 * (topological, reversed): *out, freed with git_revwalk_free. ERR_INVALID names a tip
 * that is missing or not a commit.
 */
int xfer_revwalk(git_revwalk **out, git_repository *repo, const git_oid *tips, size_t ntips,
		 const git_oid *hide, size_t nhide);

/* xfer_walk_objects, with the object's id, type and name passed to cb. */
int xfer_walk(git_repository *repo, const git_oid *tips, size_t ntips, const git_oid *hide,
	      size_t nhide,
	      int (*cb)(const git_oid *id, git_object_t type, const char *name, void *payload),
	      void *payload);

/*
 * The head of every branch (refs/heads/ *, any scope) and, with remotes, of every
 * tracking ref (refs/remotes/ *): what a pack need not send again. Not what needs no
 * verification again: that is xfer_branch_heads. *out is malloc'ed (free), *n its length.
 */
int xfer_ref_heads(git_oid **out, size_t *n, git_repository *repo, bool remotes);

/*
 * The commits already verified for branch: refs/heads/<branch> and every
 * refs/remotes/<peer>/<branch>. *out is malloc'ed (free), *n its length (may be 0).
 */
int xfer_branch_heads(git_oid **out, size_t *n, git_repository *repo, const char *branch);

/*
 * The commits of tip's first-parent line that hide (commits the other side has) does not
 * reach, oldest first, tip last: where a transfer in steps may stop (a step's tip is a
 * state the branch was in). *out is malloc'ed (free), *n its length (0: tip is hidden).
 */
int xfer_first_parent_line(git_oid **out, size_t *n, git_repository *repo, const git_oid *tip,
			   const git_oid *hide, size_t nhide);

#define XFER_STEP_CAP "caseledger-step" /* upload-pack: "caseledger-step=N" (doc/protocol.md) */
#define XFER_STEP_MAX 10000000

#endif
