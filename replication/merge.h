/*
 * merge: record-level three-way merge of two histories of one branch.
 *
 * libgit2 finds the merge bases; the three trees are walked together and only subtrees
 * that differ are opened, so the cost follows the number of changed records, not the size
 * of the ledger. A record changed on one side only is taken from that side; a record
 * changed on both sides is merged field by field under the schema's rule for each field
 * (lww, authority, workflow, union, manual). The merged tree depends only on (base, ours,
 * theirs): every byte written is symmetric in the two sides, so merging A into B and B
 * into A give the same tree. Whatever a rule discards is listed in the merge commit's
 * message; what a person must settle becomes a `conflict` record in the branch.
 *
 * Outcomes, in detail (see also caseledger(1), MERGE):
 * - a field changed on one side only is taken; both sides set the same value: taken;
 * - both changed it differently: lww per field (the side that set this field to its
 *   value later wins; ties as below), authority (the side whose record stamp comes
 *   from the office of lower level number wins; equal levels: lww), workflow (the value
 *   of higher rank in the field's order wins; equal ranks: lww winner and a conflict
 *   record), union (three-way set merge: items removed on either side stay removed, items
 *   added on either side are kept; kept base items first, then added ones in the order of
 *   their JSON text), manual (lww winner and a conflict record);
 * - a void record against an edit: the void side is kept whole; the edit's values are
 *   listed in the message;
 * - add/add of one id: identical records are one record; otherwise field by field with
 *   an empty base;
 * - records are never deleted: a record missing on one side is taken from the other;
 * - a merged record that would break the schema (schema_check) is replaced by the lww
 *   winner's whole version, and each field the other side changed becomes a conflict;
 * - the merged record's "hlc" is the larger of the two sides' stamps;
 * - several merge bases (criss-cross): the bases are merged into a virtual base first,
 *   in the order of their commit ids, recursively, as git's recursive strategy does.
 *
 * lww is per field, from history: the time a side set a field is the "hlc" stamp of the
 * record in the newest of that side's own non-merge commits (reachable from its head,
 * not from the other's; topological order) whose record has the field's value and whose
 * parent's record does not — merges carry values, they never set them. So if A set f
 * at t1, B set f at t2 > t1, and A then edited g at t3, B's f wins although A's record
 * stamp is the later one. Equal times, no such commit (the value predates the fork) or
 * no commit at all (a virtual base): the record's lww winner — later record stamp, then
 * office code, then the canonical bytes of the record. The choice is derived, not
 * stored: records carry no per-field stamps, and the result depends only on the two
 * heads and the repository's objects (never on clock, index or config), so a verifier
 * recomputes it from the parents, and it is the same whichever side runs the merge. The
 * rules below that fall back to "the lww winner" use this field-level winner.
 *
 * Conflict records: id X-<office of the record's id>-<32 base32 digits of SHA-256 over
 * the record id, the field and the two values in sorted order>, so both directions write
 * the same record. "ours" holds the value the merge kept in the record, "theirs" the value
 * it set aside, "base" the common value; "ours_commit"/"theirs_commit" name the head
 * commits the kept and the set-aside values came from (the pair of heads is the same
 * whichever side runs the merge). When a conflict with that id is already in the merged
 * tree, the set-aside value goes to the message instead.
 */
#ifndef CASELEDGER_MERGE_H
#define CASELEDGER_MERGE_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>
#include <jansson.h>

#include "ledger.h"

enum merge_outcome {
	MERGE_UP_TO_DATE,   /* their commit is already in our history: nothing changes */
	MERGE_FAST_FORWARD, /* our head is in their history: the branch moves to theirs */
	MERGE_MERGED,	    /* a merge commit with parents ours, theirs */
};

struct merge_result {
	enum merge_outcome outcome;
	git_oid head;	   /* branch head after merge_branches; ours after merge_commits */
	git_oid tree;	   /* the resulting tree */
	size_t nbases;	   /* merge bases found (more than one: a virtual base was built) */
	size_t nrecords;   /* records changed on both sides and merged field by field */
	json_t *discarded; /* [{"record","field","value","kept","rule"}]: set aside by a rule,
			      listed in the merge message ("value"/"kept" null: absent) */
	json_t *conflicts; /* [{"id","record","field","rule"}]: conflict records written */
	json_t *notes;	   /* [text]: records whose merge would have been invalid */
	char *message;	   /* the merge commit's message (MERGE_MERGED), else NULL */
};

/* Free what the result holds; the struct is left zeroed. Accepts a zeroed struct. */
void merge_result_release(struct merge_result *r);

const char *merge_outcome_name(enum merge_outcome o);

struct merge_opts {
	const char *operator; /* who merges; NULL: ledger_operator's default */
	const char *reason;   /* extra paragraph for the message, or NULL */
	bool verified;	      /* the caller has checked every incoming commit with
				 verify_commit already (tests of merge rules on forged
				 histories); false: merge_branches_ext checks them */
};

/*
 * Merge their_commit into branch (an office code). First every commit it brings is checked
 * with verify_commit (VERIFY_INCOMING); any failure is ERR_VERIFY naming the commit, the
 * signer and the rule, and nothing is written. Then: up to date, fast-forward (the ref is
 * moved by compare-and-swap), or a merge commit signed with the office key whose parents
 * are our head and their_commit, moved into place by compare-and-swap from our head.
 * *out is filled (release it with merge_result_release, also on error). ERR_CONFLICT
 * when the branch moved meanwhile; ERR_INVALID naming the record or path when an input
 * record is malformed or invalid (nothing is written then).
 */
int merge_branches(struct merge_result *out, struct ledger *l, const char *branch,
		   const git_oid *their_commit);

/* merge_branches with an operator and a reason for the message. opts may be NULL. */
int merge_branches_ext(struct merge_result *out, struct ledger *l, const char *branch,
		       const git_oid *their_commit, const struct merge_opts *opts);

/*
 * The merge of two commits without moving any ref: out->outcome says whether one already
 * contains the other, out->tree is the tree a merge commit would hold. write: store the new
 * objects in the repository (one pack); otherwise they are dropped when this returns and
 * out->tree only names a tree (enough to compare results). No message is built.
 */
int merge_commits(struct merge_result *out, struct ledger *l, const git_oid *ours,
		  const git_oid *theirs, bool write);

/*
 * Is commit exactly the merge commit merge_branches_ext writes on branch? A merge carries
 * no discretion: its tree must be merge_commits(parent 1, parent 2), its subject
 * "merge <theirs> into <branch>" and its body the merge's own account of what it kept and
 * set aside (an optional reason paragraph before that is the merger's note). Returns 0
 * with why "" when it is, 0 with why saying what differs (naming the first differing
 * path) when not; a negative ERR_* only when the repository cannot be read. The
 * recomputed objects are dropped.
 */
int merge_check(char *why, size_t whylen, struct ledger *l, const char *branch, git_commit *commit);

/* The id of the conflict record for (record id, field, values a and b as compact JSON,
 * "" for absent), in either order. out must hold RECORD_ID_MAX bytes. */
int merge_conflict_id(char out[RECORD_ID_MAX], const char *record, const char *field, const char *a,
		      const char *b);

/*
 * The conflict records at the head of branch (a branch name or any revision
 * ledger_resolve takes): those still open, or all of them. *out is a new array, sorted
 * by id. ERR_NOTFOUND when branch does not resolve; ERR_INVALID for a file under
 * conflict/ that is not a record.
 */
int merge_conflicts(json_t **out, struct ledger *l, const char *branch, bool all);

#endif
