/*
 * caseledger signers: an allowed-signers file for stock git, so that
 *   git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile=FILE verify-commit C
 * agrees with `caseledger verify`: one line per office certificate with its validity
 * period. Git knows nothing of cut-offs, only times, so a revoked certificate's line ends
 * at the latest committer time among the commits it signed in the history the city
 * accepted (its cut-offs and their ancestors, in this ledger), and a revoked certificate
 * with no such commit gets no line. The residual difference: a commit the revoked key
 * signed outside that history but dated at or before that time (a forged or skewed
 * clock) is refused by caseledger and accepted by git.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "cmd.h"
#include "history.h"
#include "err.h"
#include "trust.h"
#include "util.h"

/* "YYYYMMDDHHMMSSZ", as ssh-keygen reads valid-after / valid-before (UTC). */
static void ssh_time(char out[24], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm))
		memset(&tm, 0, sizeof(tm));
	strftime(out, 24, "%Y%m%d%H%M%SZ", &tm);
}

/*
 * The latest committer time among the commits signed by c's key in the history its
 * cut-offs accept (those this ledger holds), within its validity; 0 when none.
 */
static int accepted_until(int64_t *out, struct ledger *l, const struct trust_cert *c)
{
	git_revwalk *walk = NULL;
	git_odb *odb = NULL;
	git_oid id;
	size_t i, npushed = 0;
	int rc = 0;

	*out = 0;
	if (git_repository_odb(&odb, l->repo) < 0 || git_revwalk_new(&walk, l->repo) < 0) {
		rc = err_git(ERR_IO, "cannot walk the history of '%s'", l->dir);
		goto out;
	}
	for (i = 0; i < c->ncutoffs; i++) {
		if (!git_odb_exists(odb, &c->cutoffs[i].head))
			continue; /* not held here: nothing of it to vouch for */
		if (git_revwalk_push(walk, &c->cutoffs[i].head) < 0) {
			rc = err_git(ERR_IO, "cannot walk from cut-off %s",
				     git_oid_tostr_s(&c->cutoffs[i].head));
			goto out;
		}
		npushed++;
	}
	while (npushed && git_revwalk_next(&id, walk) == 0) {
		git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
		git_commit *commit = NULL;
		unsigned char pub[SIG_PUBKEY_LEN];
		int64_t when;

		if (git_commit_extract_signature(&sig, &data, l->repo, &id, "gpgsig") == 0 &&
		    sig_verify(pub, sig.ptr, sig.size, data.ptr, data.size) == 0 &&
		    memcmp(pub, c->pub, SIG_PUBKEY_LEN) == 0 &&
		    git_commit_lookup(&commit, l->repo, &id) == 0) {
			when = (int64_t)git_commit_committer(commit)->when.time;
			if (when >= c->not_before && when <= c->not_after && when > *out)
				*out = when;
		}
		err_clear();
		git_commit_free(commit);
		git_buf_dispose(&sig);
		git_buf_dispose(&data);
	}
out:
	git_revwalk_free(walk);
	git_odb_free(odb);
	return rc;
}

/* The line of c; for a revoked certificate, with --revoked, a comment naming its
 * cut-offs first. Nothing for a revoked certificate without accepted commits. */
static int cert_line(struct buf *out, struct ledger *l, const struct trust_cert *c, bool explain)
{
	char a[24], b[24], r[TRUST_TIME_MAX], u[TRUST_TIME_MAX];
	int64_t until = c->not_after, last = 0;
	size_t i;
	int rc;

	if (c->revoked_at) {
		if ((rc = accepted_until(&last, l, c)) < 0)
			return rc;
		trust_time_format(r, c->revoked_at);
		trust_time_format(u, last);
		if (explain &&
		    (rc = buf_printf(out, "# office %s: certificate %s revoked at %s; %s%s\n",
				     c->code, c->serial, r,
				     last ? "valid until its latest accepted commit, "
					  : "no accepted commit here: no line",
				     last ? u : "")) < 0)
			return rc;
		for (i = 0; explain && i < c->ncutoffs; i++)
			if ((rc = buf_printf(out, "#   cut-off %s on branch %s\n",
					     git_oid_tostr_s(&c->cutoffs[i].head),
					     c->cutoffs[i].branch)) < 0)
				return rc;
		if (!last)
			return 0;
		until = last;
	}
	ssh_time(a, c->not_before);
	ssh_time(b, until);
	if ((rc = buf_printf(out, "%s namespaces=\"git\",valid-after=\"%s\",valid-before=\"%s\" ",
			     c->code, a, b)) < 0 ||
	    (rc = sig_pubkey_format(out, c->pub)) < 0)
		return rc;
	return buf_addch(out, '\n');
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'}, {"revoked", no_argument, NULL, 'r'}, {0}};
	struct buf line = BUF_INIT;
	const char *output = NULL;
	struct trust *t = NULL;
	bool explain = false;
	size_t i;
	int c, rc;

	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o')
			output = optarg;
		else if (c == 'r')
			explain = true;
		else
			return cmd_usage_error(&cmd_signers_entry, "unknown option");
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_signers_entry,
				       explain
					   ? "--revoked takes no file: commits before a "
					     "revoked key's cut-offs stay valid, so git needs no "
					     "revocation file"
					   : "signers takes no arguments");
	if ((rc = trust_get(&t, ctx->ledger)) < 0)
		goto out;
	if (!t) {
		if ((rc = buf_printf(&line, "%s namespaces=\"git\" ", ctx->ledger->office)) < 0 ||
		    (rc = sig_pubkey_format(&line, ctx->ledger->pub)) < 0 ||
		    (rc = buf_addch(&line, '\n')) < 0)
			goto out;
	}
	for (i = 0; t && i < t->ncerts; i++)
		if ((rc = cert_line(&line, ctx->ledger, &t->certs[i], explain)) < 0)
			goto out;
	if (output)
		rc = util_write_file(output, line.ptr, line.len, 0644);
	else
		fputs(line.ptr, stdout);
out:
	buf_release(&line);
	return rc;
}

const struct cmd_entry cmd_signers_entry = {
    .name = "signers",
    .usage = "signers [-o|--output FILE] [--revoked]\n"
	     "\n"
	     "Prints lines 'OFFICE namespaces=\"git\",valid-after=\"T\",valid-before=\"T\"\n"
	     "ssh-ed25519 KEY', one per office certificate (a standalone ledger: its own key,\n"
	     "no validity), for\n"
	     "  git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile=FILE verify-commit COMMIT\n"
	     "A revoked certificate's line ends at the latest commit time in the history the\n"
	     "city accepted from it (its cut-offs); without such a commit it has no line.\n"
	     "\n"
	     "  --revoked  also write, before each revoked certificate's line, a comment with\n"
	     "             its revocation time and cut-offs",
    .summary = "print an allowed-signers file for git verify-commit",
    .flags = CMD_LEDGER,
    .run = run,
};
