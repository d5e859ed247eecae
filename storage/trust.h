/*
 * trust: the city CA, office certificates, the revocation list and the trust branch.
 *
 * The city runs a CA (Ed25519, X.509, OpenSSL 3). Each office has one certificate for
 * the same Ed25519 key that signs its commits: subject CN = office code, OU = level
 * name, O = office name; CA:FALSE; digitalSignature; serverAuth+clientAuth (mutual TLS);
 * a random 128-bit serial. The CA certificate names the city: CN = city code,
 * OU = "city CA".
 *
 * The trust branch refs/heads/trust, written only by the city office, holds
 *   ca.pem                    the CA certificate
 *   certs/<code>-<serial>.pem every office certificate ever issued
 *   crl.pem                   the CA-signed revocation list
 *   revoked/<serial>.json     for each revoked certificate, the history the city still
 *                             accepts from it: per branch, the last head (cut-off)
 *   schema.ini                the schema every ledger checks records against
 * A ledger that takes part in the trust has a pinned copy of the CA certificate in its
 * directory (DIR/ca.pem, the trust anchor) and its own certificate (DIR/office.pem);
 * the city ledger also keeps the CA key (DIR/ca.key, mode 0600). A ledger without
 * DIR/ca.pem is "standalone": it trusts only its own key.
 *
 * struct trust is what a ledger trusts, loaded from the anchor, the trust branch head
 * and DIR/office.pem; trust_get caches it on the ledger and reloads it when the trust
 * branch moves.
 */
#ifndef CASELEDGER_TRUST_H
#define CASELEDGER_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <git2.h>
#include <openssl/x509.h>

#include "buf.h"
#include "ledger.h"
#include "office.h"
#include "schema.h"
#include "sig.h"

#define TRUST_REF	 "refs/heads/trust"
#define TRUST_SERIAL_MAX 41 /* hex digits of a serial (at most 160 bits) + NUL */
#define TRUST_HOSTS_MAX	 16

/* Default validity periods, in days. */
#define TRUST_CA_DAYS	3650
#define TRUST_CERT_DAYS 730

/*
 * Revocation with a cut-off: when the city revokes a certificate it records, for every
 * branch the office could write (office_in_scope), the city ledger's head of that branch
 * then. A commit signed by the revoked key is valid on branch B iff it is B's cut-off or
 * an ancestor of it; anything else it signs is refused — the same answer incoming or at
 * rest, so the accepted history copies to any ledger forever.
 */
struct trust_cutoff {
	char branch[OFFICE_CODE_MAX + 1]; /* an office code */
	git_oid head;			  /* the last commit of it the city accepts */
};

/* The commits of one cut-off's history (the cut-off and its ancestors), sorted. */
struct trust_accepted {
	git_oid *ids;
	size_t n;
	bool done; /* walked */
};

/* One office certificate, parsed. */
struct trust_cert {
	X509 *x509;			   /* owned */
	char code[OFFICE_CODE_MAX + 1];	   /* subject CN: the office code */
	enum office_level level;	   /* from the code */
	char *name;			   /* subject O, "" when none; owned */
	unsigned char pub[SIG_PUBKEY_LEN]; /* the certified Ed25519 key */
	char serial[TRUST_SERIAL_MAX];	   /* lower-case hex */
	int64_t not_before, not_after;	   /* validity, seconds since the epoch, inclusive */
	int64_t revoked_at;		   /* revocation time from the CRL; 0 when not revoked */
	struct trust_cutoff *cutoffs;	   /* from revoked/<serial>.json; owned */
	size_t ncutoffs;		   /* 0: no history accepted (or no entry) */
	struct trust_accepted *accepted;   /* per cut-off, its history, sorted: a cache
					      trust_cutoff_accepts fills; owned */
};

/* What a ledger trusts. */
struct trust {
	X509 *ca;			/* the anchor (DIR/ca.pem); owned */
	char city[OFFICE_CODE_MAX + 1]; /* the CA's city code */
	struct trust_cert *certs;	/* every certificate known, checked against the CA */
	size_t ncerts;
	struct schema *schema; /* the trust branch's schema.ini; NULL without a branch */
	bool has_branch;       /* refs/heads/trust exists */
	git_oid head;	       /* the trust branch head loaded, when has_branch */
};

/* Options for trust_cert_issue. */
struct trust_issue_opts {
	const char *code;		    /* office code, within the CA's city */
	const char *name;		    /* office name, or NULL */
	const char *hosts[TRUST_HOSTS_MAX]; /* DNS names or IP addresses for subjectAltName */
	size_t nhosts;
	int days;	    /* validity in days; 0: TRUST_CERT_DAYS */
	int64_t not_before; /* epoch seconds; 0: now (util_now_ms) */
};

/*
 * A new self-signed CA certificate for city (a city-level code) with key. not_before 0
 * means now; days 0 means TRUST_CA_DAYS. *out is owned by the caller (X509_free).
 */
int trust_ca_create(X509 **out, EVP_PKEY *key, const char *city, int days, int64_t not_before);

/*
 * Issue an office certificate for pub (the office's key; only its public half is used),
 * signed by ca_key. ERR_INVALID when the code is not an office code within the CA's
 * city, a host is neither a DNS name nor an IP address, or days is out of range.
 * *out is owned by the caller (X509_free).
 */
int trust_cert_issue(X509 **out, X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *pub,
		     const struct trust_issue_opts *o);

/* Append the PEM encoding of x to out. */
int trust_pem(struct buf *out, X509 *x);

/* Parse one PEM certificate; what names it in messages. *out owned by the caller. */
int trust_cert_parse(X509 **out, const char *pem, size_t len, const char *what);

/* Read and parse a PEM certificate file. ERR_NOTFOUND, ERR_INVALID naming path. */
int trust_cert_load(X509 **out, const char *path);

/*
 * Check that ca is a CA certificate (self-signed, CA:TRUE, keyCertSign) of a city and put
 * the city code in city. ERR_INVALID naming what otherwise.
 */
int trust_ca_check(char city[OFFICE_CODE_MAX + 1], X509 *ca, const char *what);

/*
 * Check that cert was issued by ca (signature, chain, CA:FALSE, an office code within
 * the city) and fill out (which takes its own reference to cert; trust_cert_release).
 * Time is not checked here: validity is checked at each commit's time. ERR_VERIFY when
 * the CA did not issue it, ERR_INVALID when it is not an office certificate.
 */
int trust_cert_info(struct trust_cert *out, X509 *cert, X509 *ca, const char *city,
		    const char *what);

void trust_cert_release(struct trust_cert *c);

/* The raw Ed25519 public key in cert; ERR_INVALID when it holds another kind of key. */
int trust_cert_pubkey(unsigned char out[SIG_PUBKEY_LEN], X509 *cert, const char *what);

/* A revocation to add to the list. */
struct trust_revocation {
	const char *serial; /* lower-case hex */
	int64_t when;	    /* epoch seconds */
};

/*
 * A new CRL holding the entries of old_pem (NULL/0: none; its signature is checked) and
 * the new ones, signed by ca_key, as PEM appended to out.
 */
int trust_crl_build(struct buf *out, X509 *ca, EVP_PKEY *ca_key, const char *old_pem,
		    size_t old_len, const struct trust_revocation *add, size_t nadd, int64_t now);

/*
 * revoked/<serial>.json on the trust branch, in canonical JSON (sorted keys, one per
 * line, two-space indent, trailing newline):
 *   {"cutoffs": {"<branch>": "<40-hex commit>", ...}, "office": "<code>",
 *    "reason": "...", "revoked_at": "2026-11-29T12:00:00Z", "serial": "<hex>"}
 */
struct trust_revoked_entry {
	char serial[TRUST_SERIAL_MAX];
	char office[OFFICE_CODE_MAX + 1];
	int64_t revoked_at;
	char *reason;		      /* owned */
	struct trust_cutoff *cutoffs; /* owned, sorted by branch */
	size_t ncutoffs;
};

/* Encode e (its cut-offs in any order) into out, appending. */
int trust_revoked_encode(struct buf *out, const struct trust_revoked_entry *e);

/*
 * Parse one revoked/<serial>.json (what names it in messages); strict: canonical form,
 * exactly the keys above, 40-hex commit ids, office codes for branches within the
 * office's scope. ERR_INVALID naming what was wrong. Release with
 * trust_revoked_release.
 */
int trust_revoked_parse(struct trust_revoked_entry *out, const char *data, size_t len,
			const char *what);
void trust_revoked_release(struct trust_revoked_entry *e);

/*
 * Load what ledger l trusts: *out is NULL (and 0 returned) for a standalone ledger (no
 * DIR/ca.pem). Every certificate is checked against the anchor, the CRL's signature too,
 * and the trust branch's ca.pem must be the anchor. Owned by the caller (trust_free).
 */
int trust_load(struct trust **out, struct ledger *l);

void trust_free(struct trust *t);

/*
 * The ledger's trust (NULL when standalone), loaded on first use and reloaded when the
 * trust branch moved since. Borrowed: valid until the next trust_get or ledger_free.
 */
int trust_get(struct trust **out, struct ledger *l);

/* How trust_signer failed. */
enum trust_verdict {
	TRUST_OK = 0,
	TRUST_UNKNOWN_KEY, /* no certificate from the CA holds the key */
	TRUST_NOT_VALID,   /* certificates hold it, none valid at that time */
	TRUST_REVOKED,	   /* the certificate valid then was revoked */
};

/*
 * The certificate that makes pub a signer at time when (epoch seconds): it holds pub and
 * when lies within its validity. Sets *out (borrowed from t) and returns TRUST_OK for an
 * unrevoked one; TRUST_REVOKED with *out set when only revoked certificates hold it then
 * (the caller decides with trust_cutoff_accepts whether the commit is in the history the
 * city accepted); otherwise the verdict, with why ("certificate 1201… of office X is
 * valid from … to …").
 */
enum trust_verdict trust_signer(const struct trust_cert **out, const struct trust *t,
				const unsigned char pub[SIG_PUBKEY_LEN], int64_t when, char *why,
				size_t whylen);

/*
 * Is commit (signed by revoked certificate c) in the history the city accepted from it:
 * the cut-off of branch, or an ancestor of it, in repo? branch NULL: of any of its
 * cut-offs (for callers that do not know the branch: log, show). Sets *accepted; when
 * false, writes why: "certificate S of office X was revoked at T; this commit is not in
 * the history the city accepted (cut-off C on branch B)". Errors only for I/O.
 */
int trust_cutoff_accepts(bool *accepted, const struct trust_cert *c, git_repository *repo,
			 const git_oid *commit, const char *branch, char *why, size_t whylen);

/*
 * Is the ledger's own key (DIR/office.key) certified only by revoked certificates? Sets
 * *revoked and, when true, why: "the certificate S of office X was revoked at T by the
 * city: nothing it signs is accepted; ask the city for `caseledger ca rekey`". A
 * standalone ledger, or a key no certificate holds, is not revoked.
 */
int trust_own_revoked(bool *revoked, struct ledger *l, char *why, size_t whylen);

/* One file to write on the trust branch. */
struct trust_file {
	const char *path; /* "crl.pem", "certs/X-Y.pem", ... */
	const char *data;
	size_t len;
};

/*
 * Commit files to the trust branch (creating it when absent) as one commit signed by the
 * ledger's key, moving the branch by compare-and-swap from the head it read. The ledger
 * must be the city's (its office is the CA's city): ERR_DENIED otherwise.
 */
int trust_commit(git_oid *out, struct ledger *l, const char *city, const struct trust_file *files,
		 size_t nfiles, const char *subject, const char *reason, const char *operator);

/*
 * Fetch refs/heads/trust from the ledger directory source (a local path) into l,
 * fast-forward only (libgit2). ERR_NOTFOUND when source has no trust branch.
 */
int trust_fetch(struct ledger *l, const char *source);

/* Read path from the trust branch head into out (appending). ERR_NOTFOUND when absent. */
int trust_read_file(struct buf *out, struct ledger *l, const char *path);

/* Format epoch seconds as "2026-11-29T12:00:00Z". */
#define TRUST_TIME_MAX 32
void trust_time_format(char out[TRUST_TIME_MAX], int64_t t);

#endif
