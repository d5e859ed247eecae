/*
 * caseledger signers: an allowed-signers file for stock git, so that
 *   git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile=FILE verify-commit C
 * accepts exactly the commits whose signer this ledger trusts at the commit's time: one
 * line per office certificate with its validity period (cut at the revocation time for a
 * revoked certificate), and optionally a revocation file for gpg.ssh.revocationFile.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "cmd.h"
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

static int cert_line(struct buf *out, const struct trust_cert *c)
{
	char a[24], b[24];
	int64_t until = c->not_after;
	int rc;

	/* our rule: nothing signed at or after the revocation time */
	if (c->revoked_at && c->revoked_at - 1 < until)
		until = c->revoked_at - 1;
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
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
					     {"revoked", required_argument, NULL, 'r'},
					     {0}};
	struct buf line = BUF_INIT, revoked = BUF_INIT;
	const char *output = NULL, *revoked_path = NULL;
	struct trust *t = NULL;
	size_t i;
	int c, rc;

	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o')
			output = optarg;
		else if (c == 'r')
			revoked_path = optarg;
		else
			return cmd_usage_error(&cmd_signers_entry, "unknown option");
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_signers_entry, "signers takes no arguments");
	if ((rc = trust_get(&t, ctx->ledger)) < 0)
		goto out;
	if (!t) {
		if ((rc = buf_printf(&line, "%s namespaces=\"git\" ", ctx->ledger->office)) < 0 ||
		    (rc = sig_pubkey_format(&line, ctx->ledger->pub)) < 0 ||
		    (rc = buf_addch(&line, '\n')) < 0)
			goto out;
	}
	for (i = 0; t && i < t->ncerts; i++) {
		if ((rc = cert_line(&line, &t->certs[i])) < 0)
			goto out;
		if (t->certs[i].revoked_at &&
		    ((rc = sig_pubkey_format(&revoked, t->certs[i].pub)) < 0 ||
		     (rc = buf_addch(&revoked, '\n')) < 0))
			goto out;
	}
	if (revoked_path &&
	    (rc = util_write_file(revoked_path, revoked.ptr, revoked.len, 0644)) < 0)
		goto out;
	if (output)
		rc = util_write_file(output, line.ptr, line.len, 0644);
	else
		fputs(line.ptr, stdout);
out:
	buf_release(&line);
	buf_release(&revoked);
	return rc;
}

const struct cmd_entry cmd_signers_entry = {
    .name = "signers",
    .usage = "signers [-o|--output FILE] [--revoked FILE]\n"
	     "\n"
	     "Prints lines 'OFFICE namespaces=\"git\",valid-after=\"T\",valid-before=\"T\"\n"
	     "ssh-ed25519 KEY', one per office certificate (a standalone ledger: its own key,\n"
	     "no validity), for\n"
	     "  git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile=FILE verify-commit COMMIT\n"
	     "A revoked certificate's line ends at its revocation time.\n"
	     "\n"
	     "  --revoked FILE  also write the revoked keys, for -c gpg.ssh.revocationFile=FILE\n"
	     "                  (then git refuses every commit by them, as verify --incoming)",
    .summary = "print an allowed-signers file for git verify-commit",
    .flags = CMD_LEDGER,
    .run = run,
};
