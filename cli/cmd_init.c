/*
 * caseledger init: create an office's ledger directory.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "err.h"
#include "out.h"

static int init_report(const struct ledger_init_opts *o, bool json)
{
	struct ledger *l = NULL;
	char fp[SIG_FINGERPRINT_LEN];
	json_t *doc = NULL;
	int rc;

	if ((rc = ledger_open(&l, o->dir)) < 0)
		return rc;
	sig_fingerprint(fp, l->pub);
	if (json) {
		doc =
		    json_pack("{s:s, s:s, s:s, s:s, s:s}", "dir", o->dir, "office", l->office,
			      "level", office_level_name(l->level), "branch", l->office, "key", fp);
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
	} else {
		printf("created ledger of %s office %s%s%s in '%s'\nbranch refs/heads/%s, key %s\n",
		       office_level_name(l->level), l->office, *l->name ? " " : "", l->name, o->dir,
		       l->office, fp);
	}
	json_decref(doc);
	ledger_free(l);
	return rc;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"office", required_argument, NULL, 'o'}, {"name", required_argument, NULL, 'n'},
	    {"schema", required_argument, NULL, 's'}, {"key", required_argument, NULL, 'k'},
	    {"json", no_argument, NULL, 'j'},	      {0},
	};
	struct ledger_init_opts o = {0};
	bool json = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o.office = optarg;
			break;
		case 'n':
			o.name = optarg;
			break;
		case 's':
			o.schema_path = optarg;
			break;
		case 'k':
			o.key_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cmd_usage_error(&cmd_init_entry, "unknown option");
		}
	}
	if (!o.office)
		return cmd_usage_error(&cmd_init_entry, "--office CODE is required");
	if (optind + 1 < argc)
		return cmd_usage_error(&cmd_init_entry, "give one directory");
	o.dir = optind < argc ? argv[optind] : ctx->dir;
	o.operator= ctx->operator;
	if ((rc = ledger_init(&o)) < 0)
		return rc;
	return init_report(&o, json);
}

const struct cmd_entry cmd_init_entry = {
    .name = "init",
    .usage = "init --office CODE [--name NAME] [--schema FILE] [--key FILE] [--json] DIR\n"
	     "\n"
	     "  --office CODE   the office's division code: 2, 4, 6, 9 or 12 digits\n"
	     "                  (province, city, district, street, community)\n"
	     "  --name NAME     the office's name\n"
	     "  --schema FILE   the schema to check records against (default: built in)\n"
	     "  --key FILE      use this Ed25519 private key (PEM, mode 0600) instead of\n"
	     "                  generating one\n"
	     "  --json          print the result as JSON",
    .summary = "create a ledger directory for an office",
    .run = run,
};
