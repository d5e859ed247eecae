/*
 * caseledger signers: an allowed-signers file for stock git, so that
 *   git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile=FILE verify-commit C
 * accepts every commit this ledger's office signed.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "err.h"
#include "util.h"

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'}, {0}};
	struct buf line = BUF_INIT;
	const char *output = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c != 'o')
			return cmd_usage_error(&cmd_signers_entry, "unknown option");
		output = optarg;
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_signers_entry, "signers takes no arguments");
	if ((rc = buf_printf(&line, "%s namespaces=\"git\" ", ctx->ledger->office)) < 0 ||
	    (rc = sig_pubkey_format(&line, ctx->ledger->pub)) < 0 ||
	    (rc = buf_addch(&line, '\n')) < 0)
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
    .usage = "signers [-o|--output FILE]\n"
	     "\n"
	     "Prints lines 'PRINCIPAL namespaces=\"git\" ssh-ed25519 KEY' for\n"
	     "  git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile=FILE verify-commit COMMIT",
    .summary = "print an allowed-signers file for git verify-commit",
    .flags = CMD_LEDGER,
    .run = run,
};
