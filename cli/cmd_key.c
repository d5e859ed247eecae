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
#include "out.h"
#include "trust.h"
#include "util.h"

#define KEY_FILE_MAX (64 * 1024)

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
	json_t *doc = NULL;
	size_t i;
	int rc;

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
		doc = json_pack("{s:s, s:s, s:s, s:s}", "office", l->office, "serial", info.serial,
				"not_after", when, "dir", l->dir);
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
	} else {
		printf("installed certificate %s of office %s (valid to %s) and its key in '%s'\n",
		       info.serial, l->office, when, l->dir);
	}
out:
	json_decref(doc);
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
	     "key. The office then signs with the new key and continues its branch.",
    .summary = "install a new office key and certificate from the city (after ca rekey)",
    .flags = CMD_LEDGER,
    .run = run,
};
