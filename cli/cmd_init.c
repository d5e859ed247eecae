/*
 * caseledger init: create an office's ledger directory — standalone (its own key only),
 * or from the office key and certificate the city's CA issued, with a copy of the trust
 * branch.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "err.h"
#include "out.h"
#include "trust.h"
#include "util.h"
#include "verify.h"

/* Credentials an office ledger is created from, checked before anything is written. */
struct creds {
	const char *dir;       /* --credentials DIR, or NULL */
	const char *cert_path; /* --cert, else DIR/office.pem */
	const char *ca_path;   /* --ca, else DIR/ca.pem */
	const char *trust_src; /* --trust CITYDIR, or NULL */
	struct buf cert, ca;   /* their PEM text */
	struct buf key_path;   /* --key, else DIR/office.key */
	char name[256];	       /* the certificate's office name */
};

static int creds_path(struct buf *out, const char *given, const char *dir, const char *name)
{
	if (given)
		return buf_adds(out, given);
	if (!dir)
		return err_set(ERR_USAGE, "give --credentials DIR, or --cert, --key and --ca");
	return util_join(out, dir, name);
}

/* A ledger opened with a certificate outside its validity could sign nothing accepted. */
static int creds_valid_now(const struct trust_cert *info, const char *what)
{
	char from[TRUST_TIME_MAX], to[TRUST_TIME_MAX], now_s[TRUST_TIME_MAX];
	int64_t now = (int64_t)(util_now_ms() / 1000);

	if (now >= info->not_before && now <= info->not_after)
		return 0;
	trust_time_format(from, info->not_before);
	trust_time_format(to, info->not_after);
	trust_time_format(now_s, now);
	return err_set(ERR_INVALID, "%s is valid from %s to %s, and it is now %s", what, from, to,
		       now_s);
}

/*
 * The key opens (mode 0600), the certificate was issued by the CA, holds the key, names
 * the office and is valid now.
 */
static int creds_check(struct creds *c, const char *office, const char *key_given)
{
	struct buf cert_path = BUF_INIT, ca_path = BUF_INIT;
	struct sig_key *key = NULL;
	struct trust_cert info = {0};
	unsigned char pub[SIG_PUBKEY_LEN];
	char city[OFFICE_CODE_MAX + 1], what[600];
	X509 *ca = NULL, *cert = NULL;
	int rc;

	if ((rc = creds_path(&c->key_path, key_given, c->dir, "office.key")) < 0 ||
	    (rc = creds_path(&cert_path, c->cert_path, c->dir, "office.pem")) < 0 ||
	    (rc = creds_path(&ca_path, c->ca_path, c->dir, "ca.pem")) < 0)
		goto out;
	if ((rc = sig_key_load(&key, c->key_path.ptr)) < 0)
		goto out;
	if ((rc = util_read_file(&c->ca, ca_path.ptr, 1 << 16)) < 0 ||
	    (rc = util_read_file(&c->cert, cert_path.ptr, 1 << 16)) < 0)
		goto out;
	snprintf(what, sizeof(what), "CA certificate '%s'", ca_path.ptr);
	if ((rc = trust_cert_parse(&ca, c->ca.ptr, c->ca.len, what)) < 0 ||
	    (rc = trust_ca_check(city, ca, what)) < 0)
		goto out;
	snprintf(what, sizeof(what), "certificate '%s'", cert_path.ptr);
	if ((rc = trust_cert_parse(&cert, c->cert.ptr, c->cert.len, what)) < 0 ||
	    (rc = trust_cert_info(&info, cert, ca, city, what)) < 0)
		goto out;
	sig_key_public(key, pub);
	if (memcmp(pub, info.pub, SIG_PUBKEY_LEN) != 0) {
		rc = err_set(ERR_INVALID, "key '%s' does not match %s", c->key_path.ptr, what);
		goto out;
	}
	if (strcmp(info.code, office) != 0) {
		rc = err_set(ERR_INVALID, "%s is for office %s, not --office %s", what, info.code,
			     office);
		goto out;
	}
	if ((rc = creds_valid_now(&info, what)) < 0)
		goto out;
	snprintf(c->name, sizeof(c->name), "%s", info.name);
out:
	trust_cert_release(&info);
	X509_free(ca);
	X509_free(cert);
	sig_key_free(key);
	buf_release(&cert_path);
	buf_release(&ca_path);
	return rc;
}

static int write_in(const char *dir, const char *name, const struct buf *data)
{
	struct buf p = BUF_INIT;
	int rc;

	if ((rc = util_join(&p, dir, name)) == 0)
		rc = util_write_file(p.ptr, data->ptr, data->len, 0644);
	buf_release(&p);
	return rc;
}

/* Every commit on the fetched trust branch must be valid. */
static int check_trust_branch(struct ledger *l, const char *src)
{
	struct verify_result r;
	git_revwalk *walk = NULL;
	git_oid oid;
	int rc = 0;

	if (git_revwalk_new(&walk, l->repo) < 0 || git_revwalk_push_ref(walk, TRUST_REF) < 0) {
		rc = err_git(ERR_IO, "cannot walk the trust branch");
		goto out;
	}
	while (git_revwalk_next(&oid, walk) == 0) {
		if ((rc = verify_commit(&r, l, "trust", &oid, 0)) < 0)
			break;
		if (r.status != VERIFY_OK) {
			rc = err_set(ERR_VERIFY, "the trust branch of '%s': %s", src, r.why);
			break;
		}
	}
out:
	git_revwalk_free(walk);
	return rc;
}

/* In the new ledger's temporary directory: anchor, certificate, trust branch, schema. */
static int creds_setup(struct ledger *l, void *payload)
{
	struct creds *c = payload;
	struct trust *t = NULL;
	struct buf schema = BUF_INIT;
	int rc;

	if ((rc = write_in(l->dir, "ca.pem", &c->ca)) < 0 ||
	    (rc = write_in(l->dir, "office.pem", &c->cert)) < 0)
		goto out;
	if (!c->trust_src) {
		rc = trust_get(&t, l);
		goto out;
	}
	if ((rc = trust_fetch(l, c->trust_src)) < 0)
		goto out;
	if ((rc = trust_get(&t, l)) < 0) {
		err_prefix("the trust branch of '%s'", c->trust_src);
		goto out;
	}
	if ((rc = check_trust_branch(l, c->trust_src)) < 0)
		goto out;
	if ((rc = trust_read_file(&schema, l, "schema.ini")) < 0 ||
	    (rc = write_in(l->dir, "schema.ini", &schema)) < 0)
		goto out;
out:
	buf_release(&schema);
	return rc;
}

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
	    {"json", no_argument, NULL, 'j'},	      {"credentials", required_argument, NULL, 'c'},
	    {"cert", required_argument, NULL, 'e'},   {"ca", required_argument, NULL, 'a'},
	    {"trust", required_argument, NULL, 't'},  {0},
	};
	struct ledger_init_opts o = {0};
	struct creds cr = {.cert = BUF_INIT, .ca = BUF_INIT, .key_path = BUF_INIT};
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
		case 'c':
			cr.dir = optarg;
			break;
		case 'e':
			cr.cert_path = optarg;
			break;
		case 'a':
			cr.ca_path = optarg;
			break;
		case 't':
			cr.trust_src = optarg;
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
	if (cr.dir || cr.cert_path || cr.ca_path || cr.trust_src) {
		if (o.schema_path) {
			rc = cmd_usage_error(&cmd_init_entry,
					     "--schema cannot go with credentials: "
					     "the schema comes from the trust branch");
			goto out;
		}
		if ((rc = creds_check(&cr, o.office, o.key_path)) < 0)
			goto out;
		o.key_path = cr.key_path.ptr;
		if (!o.name && cr.name[0])
			o.name = cr.name;
		o.setup = creds_setup;
		o.setup_payload = &cr;
	}
	if ((rc = ledger_init(&o)) < 0)
		goto out;
	rc = init_report(&o, json);
out:
	buf_release(&cr.cert);
	buf_release(&cr.ca);
	buf_release(&cr.key_path);
	return rc;
}

const struct cmd_entry cmd_init_entry = {
    .name = "init",
    .usage = "init --office CODE [--name NAME] [--schema FILE] [--key FILE] [--json] DIR\n"
	     "       caseledger init --office CODE --credentials OUTDIR [--trust CITYDIR] DIR\n"
	     "       caseledger init --office CODE --key FILE --cert FILE --ca FILE\n"
	     "          [--trust CITYDIR] DIR\n"
	     "\n"
	     "  --office CODE   the office's division code: 2, 4, 6, 9 or 12 digits\n"
	     "                  (province, city, district, street, community)\n"
	     "  --name NAME     the office's name\n"
	     "  --schema FILE   the schema to check records against (default: built in)\n"
	     "  --key FILE      use this Ed25519 private key (PEM, mode 0600) instead of\n"
	     "                  generating one\n"
	     "  --credentials OUTDIR  office.key, office.pem and ca.pem as 'caseledger ca\n"
	     "                  issue --out OUTDIR' wrote them (--key, --cert, --ca override)\n"
	     "  --trust CITYDIR copy the trust branch (certificates, revocations, schema) from\n"
	     "                  the city's ledger directory\n"
	     "  --json          print the result as JSON",
    .summary = "create a ledger directory for an office",
    .run = run,
};
