/*
 * caseledger key install: put a new office key and certificate — what `caseledger ca
 * rekey` wrote at the city — into this ledger (DIR/office.key, DIR/office.pem), after
 * checking that the certificate is for this ledger's office, chains to its CA, is not
 * revoked and certifies the key. From then on the office signs with the new key and
 * continues its own branch.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "history.h"
#include "out.h"
#include "trust.h"
#include "util.h"

#define KEY_FILE_MAX (64 * 1024)
#define REFUSED_REFS "refs/caseledger/refused/"

/* Does any commit reachable from head but not from cut signed with c's key? */
static int signed_after(size_t *out, struct ledger *l, const struct trust_cert *c,
			const git_oid *head, const git_oid *cut)
{
	git_revwalk *walk = NULL;
	git_oid id;
	int rc = 0;

	*out = 0;
	if (git_revwalk_new(&walk, l->repo) < 0 || git_revwalk_push(walk, head) < 0 ||
	    git_revwalk_hide(walk, cut) < 0) {
		rc = err_git(ERR_IO, "cannot walk from %s", git_oid_tostr_s(head));
		goto out;
	}
	while (git_revwalk_next(&id, walk) == 0) {
		git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
		unsigned char pub[SIG_PUBKEY_LEN];

		if (git_commit_extract_signature(&sig, &data, l->repo, &id, "gpgsig") == 0 &&
		    sig_verify(pub, sig.ptr, sig.size, data.ptr, data.size) == 0 &&
		    memcmp(pub, c->pub, SIG_PUBKEY_LEN) == 0)
			(*out)++;
		err_clear();
		git_buf_dispose(&sig);
		git_buf_dispose(&data);
	}
out:
	git_revwalk_free(walk);
	return rc;
}

/*
 * Commits the revoked certificate c of this office signed after its cut-off on a branch
 * (made before the office learned of the revocation) are refused everywhere: keep them
 * at refs/caseledger/refused/<serial>/<branch> and move the branch back to the cut-off,
 * so that the new key continues the history the city accepted.
 */
static int set_aside(struct ledger *l, const struct trust_cert *c, bool json, json_t *list)
{
	struct buf ref = BUF_INIT, bref = BUF_INIT;
	git_reference *saved = NULL;
	git_odb *odb = NULL;
	git_oid head;
	size_t i, n;
	int rc = 0;

	if (git_repository_odb(&odb, l->repo) < 0)
		return err_git(ERR_IO, "cannot read the object database");
	for (i = 0; i < c->ncutoffs; i++) {
		const struct trust_cutoff *cut = &c->cutoffs[i];

		rc = ledger_head(&head, l, cut->branch);
		if (rc == ERR_NOTFOUND) {
			err_clear();
			rc = 0;
			continue;
		}
		if (rc < 0)
			goto out;
		if (git_oid_equal(&head, &cut->head) || !git_odb_exists(odb, &cut->head))
			continue; /* nothing after it, or nothing to go back to */
		if ((rc = signed_after(&n, l, c, &head, &cut->head)) < 0)
			goto out;
		if (n == 0)
			continue;
		buf_reset(&ref);
		buf_reset(&bref);
		if ((rc = buf_printf(&ref, REFUSED_REFS "%s/%s", c->serial, cut->branch)) < 0 ||
		    (rc = buf_printf(&bref, "refs/heads/%s", cut->branch)) < 0)
			goto out;
		if (git_reference_create(&saved, l->repo, ref.ptr, &head, 1,
					 "caseledger key install: refused after the cut-off") < 0) {
			rc = err_git(ERR_IO, "cannot keep the refused commits at '%s'", ref.ptr);
			goto out;
		}
		git_reference_free(saved);
		saved = NULL;
		if ((rc = ledger_ref_cas(l, bref.ptr, &head, &cut->head)) < 0)
			goto out;
		if (json)
			json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:s}", "branch",
							      cut->branch, "kept_at", ref.ptr,
							      "commits", (json_int_t)n, "head",
							      git_oid_tostr_s(&cut->head)));
		else
			printf("branch %s: %zu commit%s signed by revoked certificate %s after its "
			       "cut-off, refused everywhere, kept at %s; the branch is back at "
			       "%s\n",
			       cut->branch, n, n == 1 ? "" : "s", c->serial, ref.ptr,
			       git_oid_tostr_s(&cut->head));
	}
out:
	git_odb_free(odb);
	buf_release(&ref);
	buf_release(&bref);
	return rc;
}

/* Read FROM/name into out, naming the file in errors. */
static int read_in(struct buf *out, const char *dir, const char *name)
{
	struct buf p = BUF_INIT;
	int rc;

	if ((rc = util_join(&p, dir, name)) == 0)
		rc = util_read_file(out, p.ptr, KEY_FILE_MAX);
	buf_release(&p);
	return rc;
}

static int install(struct cmd_ctx *ctx, const char *from, bool json)
{
	struct ledger *l = ctx->ledger;
	struct trust *t = NULL;
	struct sig_key *key = NULL;
	struct trust_cert info = {0};
	X509 *cert = NULL, *ca = NULL;
	struct buf keytext = BUF_INIT, pem = BUF_INIT, capem = BUF_INIT, p = BUF_INIT;
	unsigned char pub[SIG_PUBKEY_LEN];
	char when[TRUST_TIME_MAX];
	json_t *doc = NULL, *aside = json_array();
	size_t i;
	int rc;

	if (!aside)
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = trust_get(&t, l)) < 0)
		goto out;
	if (!t) {
		rc = err_set(ERR_INVALID,
			     "ledger '%s' is standalone (no ca.pem): it has no certificate to "
			     "replace",
			     l->dir);
		goto out;
	}
	if ((rc = util_join(&p, from, "office.key")) < 0 || (rc = sig_key_load(&key, p.ptr)) < 0 ||
	    (rc = util_read_file(&keytext, p.ptr, KEY_FILE_MAX)) < 0)
		goto out;
	buf_reset(&p);
	if ((rc = util_join(&p, from, "office.pem")) < 0 ||
	    (rc = trust_cert_load(&cert, p.ptr)) < 0 ||
	    (rc = read_in(&pem, from, "office.pem")) < 0)
		goto out;
	rc = read_in(&capem, from, "ca.pem");
	if (rc == 0) {
		buf_reset(&p);
		if ((rc = util_join(&p, from, "ca.pem")) < 0 ||
		    (rc = trust_cert_load(&ca, p.ptr)) < 0)
			goto out;
		if (X509_cmp(ca, t->ca) != 0) {
			rc = err_set(ERR_VERIFY,
				     "'%s/ca.pem' is not this ledger's CA certificate: these "
				     "credentials are from another city",
				     from);
			goto out;
		}
	} else if (rc != ERR_NOTFOUND) {
		goto out;
	}
	err_clear();
	buf_reset(&p);
	if ((rc = buf_printf(&p, "'%s/office.pem'", from)) < 0 ||
	    (rc = trust_cert_info(&info, cert, t->ca, t->city, p.ptr)) < 0)
		goto out;
	if (strcmp(info.code, l->office) != 0) {
		rc = err_set(ERR_INVALID,
			     "'%s/office.pem' is a certificate of office %s; this ledger is "
			     "office %s",
			     from, info.code, l->office);
		goto out;
	}
	sig_key_public(key, pub);
	if (memcmp(pub, info.pub, SIG_PUBKEY_LEN) != 0) {
		rc = err_set(ERR_INVALID,
			     "'%s/office.pem' certifies another key than '%s/office.key'", from,
			     from);
		goto out;
	}
	for (i = 0; i < t->ncerts; i++) {
		if (strcmp(t->certs[i].serial, info.serial) == 0 && t->certs[i].revoked_at) {
			trust_time_format(when, t->certs[i].revoked_at);
			rc = err_set(ERR_DENIED,
				     "certificate %s in '%s' was revoked at %s: ask the city for "
				     "a new one (caseledger ca rekey %s)",
				     info.serial, from, when, l->office);
			goto out;
		}
	}
	if (memcmp(pub, l->pub, SIG_PUBKEY_LEN) == 0) {
		rc = err_set(ERR_EXISTS, "this ledger already signs with the key in '%s'", from);
		goto out;
	}
	/* what the revoked certificates of this office signed after their cut-offs */
	for (i = 0; i < t->ncerts; i++)
		if (strcmp(t->certs[i].code, l->office) == 0 && t->certs[i].revoked_at &&
		    (rc = set_aside(l, &t->certs[i], json, aside)) < 0)
			goto out;
	/* the certificate first: a crash between the two leaves the old key, still
	 * refused as revoked, and installing again finishes the job */
	buf_reset(&p);
	if ((rc = util_join(&p, l->dir, "office.pem")) < 0 ||
	    (rc = util_write_file(p.ptr, pem.ptr, pem.len, 0644)) < 0)
		goto out;
	buf_reset(&p);
	if ((rc = util_join(&p, l->dir, "office.key")) < 0 ||
	    (rc = util_write_file(p.ptr, keytext.ptr, keytext.len, 0600)) < 0)
		goto out;
	trust_time_format(when, info.not_after);
	if (json) {
		doc = json_pack("{s:s, s:s, s:s, s:s, s:O}", "office", l->office, "serial",
				info.serial, "not_after", when, "dir", l->dir, "set_aside", aside);
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
	} else {
		printf("installed certificate %s of office %s (valid to %s) and its key in '%s'\n",
		       info.serial, l->office, when, l->dir);
	}
out:
	json_decref(doc);
	json_decref(aside);
	if (keytext.len)
		OPENSSL_cleanse(keytext.ptr, keytext.len);
	trust_cert_release(&info);
	X509_free(cert);
	X509_free(ca);
	sig_key_free(key);
	buf_release(&keytext);
	buf_release(&pem);
	buf_release(&capem);
	buf_release(&p);
	return rc;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'f'}, {"json", no_argument, NULL, 'j'}, {0}};
	const char *from = NULL;
	bool json = false;
	int c;

	if (argc < 2 || strcmp(argv[1], "install") != 0)
		return cmd_usage_error(&cmd_key_entry, "give a subcommand: install");
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f')
			from = optarg;
		else if (c == 'j')
			json = true;
		else
			return cmd_usage_error(&cmd_key_entry, "unknown option");
	}
	if (!from)
		return cmd_usage_error(&cmd_key_entry, "--from DIR is required");
	if (optind != argc)
		return cmd_usage_error(&cmd_key_entry, "key install takes no arguments");
	return install(ctx, from, json);
}

const struct cmd_entry cmd_key_entry = {
    .name = "key",
    .usage = "key install --from DIR [--json]\n"
	     "\n"
	     "Install the key and certificate 'caseledger ca rekey' wrote in DIR\n"
	     "(office.key, office.pem, ca.pem) as this ledger's DIR/office.key and\n"
	     "office.pem, each replaced atomically, after checking that the certificate is\n"
	     "for this ledger's office, chains to its CA, is not revoked and certifies the\n"
	     "key. The office then signs with the new key and continues its branch.\n"
	     "Commits a revoked certificate of the office signed after its cut-off (before\n"
	     "the office learned of the revocation) are refused everywhere: they are kept at\n"
	     "refs/caseledger/refused/SERIAL/BRANCH and the branch goes back to the cut-off.",
    .summary = "install a new office key and certificate from the city (after ca rekey)",
    .flags = CMD_LEDGER,
    .run = run,
};
