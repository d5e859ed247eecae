/*
 * caseledger ca: the city's certificate authority — create it with the city's ledger,
 * issue office keys and certificates, revoke them, list them. Every change is a commit
 * on the trust branch signed by the city office.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "cmd.h"
#include "err.h"
#include "out.h"
#include "trust.h"
#include "util.h"

/* --- shared --------------------------------------------------------------------------- */

/* "EPOCH_SECONDS", "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" (UTC). */
static int parse_time(int64_t *out, const char *s)
{
	struct tm tm = {0};
	const char *end;
	char *e;
	long long v;

	if (*s && strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		v = strtoll(s, &e, 10);
		if (errno == 0 && v > 0) {
			*out = v;
			return 0;
		}
	} else if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) && !*end) {
		*out = (int64_t)timegm(&tm);
		return 0;
	} else {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, "%Y-%m-%d", &tm)) && !*end) {
			*out = (int64_t)timegm(&tm);
			return 0;
		}
	}
	return err_set(ERR_USAGE,
		       "time '%s' is not seconds since the epoch, YYYY-MM-DD or "
		       "YYYY-MM-DDTHH:MM:SSZ",
		       s);
}

static int parse_days(int *out, const char *s)
{
	char *e;
	long v;

	errno = 0;
	v = strtol(s, &e, 10);
	if (errno || *e || v < 1 || v > 36500)
		return err_set(ERR_USAGE, "--days wants a number of days from 1 to 36500, got '%s'",
			       s);
	*out = (int)v;
	return 0;
}

/* The CA of the city ledger l: its certificate, city code and key (DIR/ca.key). */
struct ca {
	X509 *cert;
	char city[OFFICE_CODE_MAX + 1];
	struct sig_key *key;
};

static void ca_release(struct ca *ca)
{
	X509_free(ca->cert);
	sig_key_free(ca->key);
	memset(ca, 0, sizeof(*ca));
}

static int ca_open(struct ca *ca, struct ledger *l)
{
	struct buf path = BUF_INIT;
	int rc;

	memset(ca, 0, sizeof(*ca));
	if ((rc = util_join(&path, l->dir, "ca.key")) < 0)
		goto out;
	if ((rc = sig_key_load(&ca->key, path.ptr)) < 0) {
		if (rc == ERR_NOTFOUND)
			rc = err_set(ERR_NOTFOUND,
				     "'%s' holds no CA key (ca.key): run 'caseledger ca' in the "
				     "city's ledger",
				     l->dir);
		goto out;
	}
	buf_reset(&path);
	if ((rc = util_join(&path, l->dir, "ca.pem")) < 0 ||
	    (rc = trust_cert_load(&ca->cert, path.ptr)) < 0 ||
	    (rc = trust_ca_check(ca->city, ca->cert, "the ledger's ca.pem")) < 0)
		goto out;
	if (strcmp(ca->city, l->office) != 0)
		rc = err_set(ERR_DENIED, "this ledger is office %s, not the CA's city %s",
			     l->office, ca->city);
out:
	buf_release(&path);
	if (rc < 0)
		ca_release(ca);
	return rc;
}

static json_t *cert_json(const struct trust_cert *c)
{
	char a[TRUST_TIME_MAX], b[TRUST_TIME_MAX], r[TRUST_TIME_MAX];

	trust_time_format(a, c->not_before);
	trust_time_format(b, c->not_after);
	trust_time_format(r, c->revoked_at);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?}", "serial", c->serial, "office",
			 c->code, "level", office_level_name(c->level), "name", c->name,
			 "not_before", a, "not_after", b, "revoked", c->revoked_at ? r : NULL);
}

/* --- ca init --------------------------------------------------------------------------- */

struct ca_init {
	int ca_days, days;
	const char *hosts[TRUST_HOSTS_MAX];
	size_t nhosts;
};

/* In the new city ledger: CA key and certificate, the city's own certificate, the
 * trust branch. */
static int ca_setup(struct ledger *l, void *payload)
{
	const struct ca_init *ci = payload;
	struct trust_issue_opts io = {0};
	struct sig_key *cakey = NULL;
	X509 *ca = NULL, *cert = NULL;
	struct buf path = BUF_INIT, ca_pem = BUF_INIT, cert_pem = BUF_INIT, crl = BUF_INIT;
	struct buf cert_path = BUF_INIT;
	struct trust_file files[5];
	const char *schema;
	size_t schema_len;
	struct trust_cert info;
	git_commit *first = NULL;
	int64_t since = 0;
	git_oid id;
	int rc;

	/* valid from the ledger's first commit on (it was made a moment before): a CA and a
	 * certificate dated a second later would leave that commit outside their validity */
	if (ledger_head(&id, l, l->office) == 0 && git_commit_lookup(&first, l->repo, &id) == 0)
		since = (int64_t)git_commit_time(first);
	git_commit_free(first);
	err_clear();
	if ((rc = sig_key_generate(&cakey)) < 0 || (rc = util_join(&path, l->dir, "ca.key")) < 0 ||
	    (rc = sig_key_save(cakey, path.ptr)) < 0)
		goto out;
	if ((rc = trust_ca_create(&ca, sig_key_pkey(cakey), l->office, ci->ca_days, since)) < 0 ||
	    (rc = trust_pem(&ca_pem, ca)) < 0)
		goto out;
	buf_reset(&path);
	if ((rc = util_join(&path, l->dir, "ca.pem")) < 0 ||
	    (rc = util_write_file(path.ptr, ca_pem.ptr, ca_pem.len, 0644)) < 0)
		goto out;
	io.code = l->office;
	io.name = *l->name ? l->name : NULL;
	io.days = ci->days;
	io.not_before = since;
	memcpy(io.hosts, ci->hosts, sizeof(io.hosts));
	io.nhosts = ci->nhosts;
	if ((rc = trust_cert_issue(&cert, ca, sig_key_pkey(cakey), sig_key_pkey(l->key), &io)) <
		0 ||
	    (rc = trust_pem(&cert_pem, cert)) < 0 ||
	    (rc = trust_cert_info(&info, cert, ca, l->office, "the city's certificate")) < 0)
		goto out;
	rc = buf_printf(&cert_path, "certs/%s-%s.pem", info.code, info.serial);
	trust_cert_release(&info);
	if (rc < 0)
		goto out;
	buf_reset(&path);
	if ((rc = util_join(&path, l->dir, "office.pem")) < 0 ||
	    (rc = util_write_file(path.ptr, cert_pem.ptr, cert_pem.len, 0644)) < 0)
		goto out;
	if ((rc = trust_crl_build(&crl, ca, sig_key_pkey(cakey), NULL, 0, NULL, 0,
				  (int64_t)(util_now_ms() / 1000))) < 0)
		goto out;
	schema = schema_text(l->schema, &schema_len);
	files[0] = (struct trust_file){"ca.pem", ca_pem.ptr, ca_pem.len};
	files[1] = (struct trust_file){cert_path.ptr, cert_pem.ptr, cert_pem.len};
	files[2] = (struct trust_file){"crl.pem", crl.ptr, crl.len};
	files[3] = (struct trust_file){"schema.ini", schema, schema_len};
	rc = trust_commit(&id, l, l->office, files, 4, "open the trust of city CA", NULL, NULL);
out:
	X509_free(ca);
	X509_free(cert);
	sig_key_free(cakey);
	buf_release(&path);
	buf_release(&ca_pem);
	buf_release(&cert_pem);
	buf_release(&cert_path);
	buf_release(&crl);
	return rc;
}

static int ca_init_report(const char *dir, bool json)
{
	struct ledger *l = NULL;
	struct trust *t = NULL;
	json_t *doc = NULL, *cert = NULL;
	int rc;

	if ((rc = ledger_open(&l, dir)) < 0 || (rc = trust_get(&t, l)) < 0)
		goto out;
	if (!t || t->ncerts != 1) {
		rc = err_set(ERR_GENERIC, "the new trust of '%s' is not as written", dir);
		goto out;
	}
	if (json) {
		cert = cert_json(&t->certs[0]);
		doc = json_pack("{s:s, s:s, s:s, s:o?}", "dir", dir, "office", l->office, "city",
				t->city, "certificate", cert);
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
	} else {
		printf("created the CA of city %s and its ledger in '%s'\n"
		       "branch refs/heads/%s, trust branch refs/heads/trust, city certificate %s\n",
		       t->city, dir, l->office, t->certs[0].serial);
	}
out:
	json_decref(doc);
	ledger_free(l);
	return rc;
}

static int run_init(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"office", required_argument, NULL, 'o'},  {"name", required_argument, NULL, 'n'},
	    {"schema", required_argument, NULL, 's'},  {"days", required_argument, NULL, 'd'},
	    {"ca-days", required_argument, NULL, 'D'}, {"host", required_argument, NULL, 'H'},
	    {"json", no_argument, NULL, 'j'},	       {0},
	};
	struct ledger_init_opts o = {0};
	struct ca_init ci = {0};
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
		case 'd':
			if ((rc = parse_days(&ci.days, optarg)) < 0)
				return rc;
			break;
		case 'D':
			if ((rc = parse_days(&ci.ca_days, optarg)) < 0)
				return rc;
			break;
		case 'H':
			if (ci.nhosts == TRUST_HOSTS_MAX)
				return cmd_usage_error(&cmd_ca_entry, "at most %d --host",
						       TRUST_HOSTS_MAX);
			ci.hosts[ci.nhosts++] = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cmd_usage_error(&cmd_ca_entry, "unknown option");
		}
	}
	if (!o.office)
		return cmd_usage_error(&cmd_ca_entry, "--office CITYCODE is required");
	if (optind + 1 != argc)
		return cmd_usage_error(&cmd_ca_entry, "give one directory");
	if ((rc = office_level(o.office)) < 0)
		return rc;
	if (rc != LEVEL_CITY)
		return err_set(ERR_INVALID,
			       "'%s' is a %s code; the CA belongs to a city (4 digits)", o.office,
			       office_level_name((enum office_level)rc));
	o.dir = argv[optind];
	o.operator= ctx->operator;
	o.setup = ca_setup;
	o.setup_payload = &ci;
	if ((rc = ledger_init(&o)) < 0)
		return rc;
	return ca_init_report(o.dir, json);
}

/* --- ca issue -------------------------------------------------------------------------- */

static void rm_dir(const char *dir)
{
	static const char *const names[] = {"office.key", "office.pem", "ca.pem"};
	struct buf p = BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		buf_reset(&p);
		if (util_join(&p, dir, names[i]) == 0)
			unlink(p.ptr);
	}
	buf_release(&p);
	rmdir(dir);
}

/* OUTDIR must not exist, or be an empty directory. */
static int out_dir_free(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return errno == ENOENT ? 0 : err_errno(ERR_IO, "cannot look at '%s'", dir);
	if (!S_ISDIR(st.st_mode) || rmdir(dir) < 0)
		return err_set(ERR_EXISTS, "'%s' exists and is not an empty directory", dir);
	return 0;
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

/*
 * Issue a new key and certificate per io into OUTDIR out (office.key, office.pem,
 * ca.pem) and commit the certificate to the trust branch with subject (NULL: "issue
 * certificate ..."). replaces: the serial of the certificate a rekey replaces, or NULL.
 */
static int issue(struct cmd_ctx *ctx, const struct trust_issue_opts *io, const char *out, bool json,
		 const char *replaces)
{
	struct ledger *l = NULL;
	struct ca ca = {0};
	struct sig_key *key = NULL;
	struct trust_cert info = {0};
	X509 *cert = NULL;
	struct buf tmp = BUF_INIT, cert_pem = BUF_INIT, ca_pem = BUF_INIT, p = BUF_INIT;
	struct trust_file file;
	bool committed = false;
	json_t *doc = NULL;
	git_oid id;
	int rc;

	if ((rc = ledger_open(&l, ctx->dir)) < 0 || (rc = ca_open(&ca, l)) < 0)
		goto out;
	if ((rc = out_dir_free(out)) < 0)
		goto out;
	if ((rc = buf_printf(&tmp, "%s.issue-XXXXXX", out)) < 0)
		goto out;
	if (!mkdtemp(tmp.ptr)) {
		rc = err_errno(ERR_IO, "cannot create a directory next to '%s'", out);
		buf_reset(&tmp);
		goto out;
	}
	if ((rc = sig_key_generate(&key)) < 0 ||
	    (rc = trust_cert_issue(&cert, ca.cert, sig_key_pkey(ca.key), sig_key_pkey(key), io)) <
		0 ||
	    (rc = trust_cert_info(&info, cert, ca.cert, ca.city, "the new certificate")) < 0 ||
	    (rc = trust_pem(&cert_pem, cert)) < 0 || (rc = trust_pem(&ca_pem, ca.cert)) < 0)
		goto out;
	if ((rc = util_join(&p, tmp.ptr, "office.key")) < 0 ||
	    (rc = sig_key_save(key, p.ptr)) < 0 ||
	    (rc = write_in(tmp.ptr, "office.pem", &cert_pem)) < 0 ||
	    (rc = write_in(tmp.ptr, "ca.pem", &ca_pem)) < 0 || (rc = util_fsync_dir(tmp.ptr)) < 0)
		goto out;
	buf_reset(&p);
	if ((rc = buf_printf(&p, "certs/%s-%s.pem", info.code, info.serial)) < 0)
		goto out;
	file = (struct trust_file){p.ptr, cert_pem.ptr, cert_pem.len};
	buf_reset(&ca_pem);
	if (replaces)
		rc = buf_printf(&ca_pem, "rekey %s office %s: certificate %s replaces %s",
				office_level_name(info.level), info.code, info.serial, replaces);
	else
		rc = buf_printf(&ca_pem, "issue certificate %s to %s office %s%s%s", info.serial,
				office_level_name(info.level), info.code, *info.name ? " " : "",
				info.name);
	if (rc < 0 ||
	    (rc = trust_commit(&id, l, ca.city, &file, 1, ca_pem.ptr, NULL, ctx->operator)) < 0)
		goto out;
	committed = true;
	if (rename(tmp.ptr, out) < 0) {
		rc = err_errno(ERR_IO,
			       "certificate %s is on the trust branch, but its files could "
			       "not be moved from '%s' to '%s'",
			       info.serial, tmp.ptr, out);
		goto out;
	}
	buf_reset(&tmp);
	if (json) {
		doc = json_pack("{s:s, s:o?, s:s?}", "out", out, "certificate", cert_json(&info),
				"replaces", replaces);
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
	} else {
		char a[TRUST_TIME_MAX], b[TRUST_TIME_MAX];

		trust_time_format(a, info.not_before);
		trust_time_format(b, info.not_after);
		printf("issued certificate %s to %s office %s, valid %s to %s%s%s\n"
		       "wrote %s/office.key, %s/office.pem, %s/ca.pem\n",
		       info.serial, office_level_name(info.level), info.code, a, b,
		       replaces ? ", replacing " : "", replaces ? replaces : "", out, out, out);
		if (replaces)
			printf("at the office: caseledger key install --from %s\n", out);
	}
out:
	if (tmp.len && !committed)
		rm_dir(tmp.ptr);
	json_decref(doc);
	trust_cert_release(&info);
	X509_free(cert);
	sig_key_free(key);
	ca_release(&ca);
	ledger_free(l);
	buf_release(&tmp);
	buf_release(&cert_pem);
	buf_release(&ca_pem);
	buf_release(&p);
	return rc;
}

static int run_issue(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"office", required_argument, NULL, 'o'},
	    {"name", required_argument, NULL, 'n'},
	    {"host", required_argument, NULL, 'H'},
	    {"days", required_argument, NULL, 'd'},
	    {"not-before", required_argument, NULL, 'b'},
	    {"out", required_argument, NULL, 'O'},
	    {"json", no_argument, NULL, 'j'},
	    {0},
	};
	struct trust_issue_opts io = {0};
	const char *out = NULL;
	bool json = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			io.code = optarg;
			break;
		case 'n':
			io.name = optarg;
			break;
		case 'H':
			if (io.nhosts == TRUST_HOSTS_MAX)
				return cmd_usage_error(&cmd_ca_entry, "at most %d --host",
						       TRUST_HOSTS_MAX);
			io.hosts[io.nhosts++] = optarg;
			break;
		case 'd':
			if ((rc = parse_days(&io.days, optarg)) < 0)
				return rc;
			break;
		case 'b':
			if ((rc = parse_time(&io.not_before, optarg)) < 0)
				return rc;
			break;
		case 'O':
			out = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cmd_usage_error(&cmd_ca_entry, "unknown option");
		}
	}
	if (!io.code || !out)
		return cmd_usage_error(&cmd_ca_entry, "--office CODE and --out DIR are required");
	if (optind != argc)
		return cmd_usage_error(&cmd_ca_entry, "ca issue takes no arguments");
	return issue(ctx, &io, out, json, NULL);
}

/* --- ca rekey -------------------------------------------------------------------------- */

/* The DNS names and IP addresses in x's subjectAltName, into io (strings in names). */
static int copy_hosts(struct trust_issue_opts *io, char names[TRUST_HOSTS_MAX][256], X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int i, rc = 0;

	for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char *slot = names[io->nhosts];

		if (io->nhosts == TRUST_HOSTS_MAX) {
			rc = err_set(ERR_INVALID, "the old certificate names more than %d hosts",
				     TRUST_HOSTS_MAX);
			break;
		}
		if (g->type == GEN_DNS) {
			int n = ASN1_STRING_length(g->d.dNSName);

			if (n <= 0 || n >= 256)
				continue;
			memcpy(slot, ASN1_STRING_get0_data(g->d.dNSName), (size_t)n);
			slot[n] = '\0';
		} else if (g->type == GEN_IPADD) {
			int n = ASN1_STRING_length(g->d.iPAddress);
			const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);

			if (!inet_ntop(n == 4 ? AF_INET : AF_INET6, a, slot, 256) ||
			    (n != 4 && n != 16))
				continue;
		} else {
			continue;
		}
		io->hosts[io->nhosts++] = slot;
	}
	GENERAL_NAMES_free(gens);
	return rc;
}

static int run_rekey(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'}, {"host", required_argument, NULL, 'H'},
	    {"days", required_argument, NULL, 'd'}, {"out", required_argument, NULL, 'O'},
	    {"json", no_argument, NULL, 'j'},	    {0},
	};
	static char names[TRUST_HOSTS_MAX][256];
	struct trust_issue_opts io = {0};
	struct ledger *l = NULL;
	struct trust *t = NULL;
	const struct trust_cert *last = NULL;
	char replaces[TRUST_SERIAL_MAX];
	char *name = NULL;
	const char *out = NULL;
	bool json = false, hosts_given = false;
	size_t i;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			io.name = optarg;
			break;
		case 'H':
			if (io.nhosts == TRUST_HOSTS_MAX)
				return cmd_usage_error(&cmd_ca_entry, "at most %d --host",
						       TRUST_HOSTS_MAX);
			io.hosts[io.nhosts++] = optarg;
			hosts_given = true;
			break;
		case 'd':
			if ((rc = parse_days(&io.days, optarg)) < 0)
				return rc;
			break;
		case 'O':
			out = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cmd_usage_error(&cmd_ca_entry, "unknown option");
		}
	}
	if (optind + 1 != argc || !out)
		return cmd_usage_error(&cmd_ca_entry, "give one office code and --out DIR");
	io.code = argv[optind];
	if ((rc = office_level(io.code)) < 0)
		return rc;
	if ((rc = ledger_open(&l, ctx->dir)) < 0 || (rc = trust_get(&t, l)) < 0)
		goto out;
	if (!t) {
		rc = err_set(ERR_NOTFOUND, "ledger '%s' is standalone: it has no CA (ca.pem)",
			     l->dir);
		goto out;
	}
	/* the office's latest certificate: its name and hosts carry over */
	for (i = 0; i < t->ncerts; i++)
		if (strcmp(t->certs[i].code, io.code) == 0 &&
		    (!last || t->certs[i].not_before >= last->not_before))
			last = &t->certs[i];
	if (!last) {
		rc = err_set(ERR_NOTFOUND,
			     "no certificate of office '%s' on the trust branch: use 'ca issue' "
			     "for a new office",
			     io.code);
		goto out;
	}
	if (memcmp(last->pub, l->pub, SIG_PUBKEY_LEN) == 0) {
		rc = err_set(ERR_DENIED,
			     "office %s is this city ledger, which signs the trust branch; it "
			     "cannot be rekeyed here",
			     io.code);
		goto out;
	}
	snprintf(replaces, sizeof(replaces), "%s", last->serial);
	if (!io.name && *last->name && !(io.name = name = strdup(last->name))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!hosts_given && (rc = copy_hosts(&io, names, last->x509)) < 0)
		goto out;
	ledger_free(l); /* issue opens the ledger itself */
	l = NULL;
	rc = issue(ctx, &io, out, json, replaces);
out:
	free(name);
	ledger_free(l);
	return rc;
}

/* --- ca revoke ------------------------------------------------------------------------- */

struct cutoff_walk {
	struct trust_revoked_entry *e;
	struct ledger *l;
	size_t cap;
};

static int cutoff_add(const char *refname, void *payload)
{
	struct cutoff_walk *w = payload;
	struct trust_revoked_entry *e = w->e;
	const char *branch = refname + strlen("refs/heads/");
	struct trust_cutoff *grown;

	if (strncmp(refname, "refs/heads/", 11) != 0 || strcmp(branch, "trust") == 0 ||
	    office_level(branch) < 0 || !office_in_scope(e->office, branch)) {
		err_clear();
		return 0;
	}
	if (e->ncutoffs == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 8;
		if (!(grown = realloc(e->cutoffs, w->cap * sizeof(*grown))))
			return err_set(ERR_NOMEM, "out of memory");
		e->cutoffs = grown;
	}
	if (git_reference_name_to_id(&e->cutoffs[e->ncutoffs].head, w->l->repo, refname) < 0)
		return err_git(ERR_IO, "cannot read branch '%s'", branch);
	snprintf(e->cutoffs[e->ncutoffs].branch, sizeof(e->cutoffs[0].branch), "%s", branch);
	e->ncutoffs++;
	return 0;
}

/*
 * The cut-offs of e: this (the city's) ledger's head of every branch within the revoked
 * office's scope — every branch its key could have written. A branch the city does not
 * hold gets none: nothing of it is accepted.
 */
static int take_cutoffs(struct trust_revoked_entry *e, struct ledger *l)
{
	struct cutoff_walk w = {e, l, 0};
	int rc = git_reference_foreach_name(l->repo, cutoff_add, &w);

	if (rc < 0 && !*err_msg())
		rc = err_git(ERR_IO, "cannot list the branches of '%s'", l->dir);
	return rc;
}

static int run_revoke(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"reason", required_argument, NULL, 'r'}, {"json", no_argument, NULL, 'j'}, {0}};
	struct trust_revocation add[64];
	struct trust_revoked_entry entry[64];
	struct buf text[64], paths[64];
	struct trust_file files[65];
	struct ledger *l = NULL;
	struct trust *t = NULL;
	struct ca ca = {0};
	struct buf old = BUF_INIT, crl = BUF_INIT, subject = BUF_INIT;
	const char *reason = NULL, *which;
	json_t *doc = NULL, *list = NULL;
	bool json = false, by_code;
	int64_t now = (int64_t)(util_now_ms() / 1000);
	size_t i, n = 0;
	git_oid id;
	int c, rc;

	memset(entry, 0, sizeof(entry));
	for (i = 0; i < 64; i++) {
		buf_init(&text[i], 0);
		buf_init(&paths[i], 0);
	}
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r')
			reason = optarg;
		else if (c == 'j')
			json = true;
		else
			return cmd_usage_error(&cmd_ca_entry, "unknown option");
	}
	if (optind + 1 != argc)
		return cmd_usage_error(&cmd_ca_entry, "give one office code or certificate serial");
	if (!reason || !*reason)
		return cmd_usage_error(&cmd_ca_entry, "--reason TEXT is required");
	which = argv[optind];
	by_code = office_level(which) > 0;
	err_clear();
	if ((rc = ledger_open(&l, ctx->dir)) < 0 || (rc = ca_open(&ca, l)) < 0 ||
	    (rc = trust_get(&t, l)) < 0)
		goto out;
	if (!(list = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < t->ncerts; i++) {
		const struct trust_cert *tc = &t->certs[i];

		if (tc->revoked_at || strcmp(by_code ? tc->code : tc->serial, which) != 0)
			continue;
		if (memcmp(tc->pub, l->pub, SIG_PUBKEY_LEN) == 0) {
			rc = err_set(ERR_DENIED,
				     "certificate %s certifies the key of this city ledger, which "
				     "signs the trust branch; it cannot revoke itself",
				     tc->serial);
			goto out;
		}
		if (n == sizeof(add) / sizeof(add[0])) {
			rc = err_set(ERR_INVALID, "too many certificates to revoke at once");
			goto out;
		}
		add[n].serial = tc->serial;
		add[n].when = now;
		snprintf(entry[n].serial, sizeof(entry[n].serial), "%s", tc->serial);
		snprintf(entry[n].office, sizeof(entry[n].office), "%s", tc->code);
		entry[n].revoked_at = now;
		entry[n].reason = (char *)reason;
		if ((rc = take_cutoffs(&entry[n], l)) < 0)
			goto out;
		n++;
	}
	if (n == 0) {
		rc = err_set(ERR_NOTFOUND, "no unrevoked certificate %s '%s' on the trust branch",
			     by_code ? "of office" : "with serial", which);
		goto out;
	}
	rc = trust_read_file(&old, l, "crl.pem");
	if (rc < 0 && rc != ERR_NOTFOUND)
		goto out;
	if ((rc = trust_crl_build(&crl, ca.cert, sig_key_pkey(ca.key), rc == 0 ? old.ptr : NULL,
				  old.len, add, n, now)) < 0)
		goto out;
	if ((rc = buf_printf(&subject, "revoke %zu certificate%s of %s", n, n == 1 ? "" : "s",
			     which)) < 0)
		goto out;
	files[0] = (struct trust_file){"crl.pem", crl.ptr, crl.len};
	for (i = 0; i < n; i++) {
		if ((rc = trust_revoked_encode(&text[i], &entry[i])) < 0 ||
		    (rc = buf_printf(&paths[i], "revoked/%s.json", entry[i].serial)) < 0)
			goto out;
		files[i + 1] = (struct trust_file){paths[i].ptr, text[i].ptr, text[i].len};
	}
	if ((rc = trust_commit(&id, l, ca.city, files, n + 1, subject.ptr, reason, ctx->operator)) <
	    0)
		goto out;
	for (i = 0; i < n; i++) {
		json_t *cut = json_object();
		size_t k;

		for (k = 0; cut && k < entry[i].ncutoffs; k++)
			json_object_set_new(
			    cut, entry[i].cutoffs[k].branch,
			    json_string(git_oid_tostr_s(&entry[i].cutoffs[k].head)));
		json_array_append_new(
		    list, json_pack("{s:s, s:o?}", "serial", entry[i].serial, "cutoffs", cut));
		if (json)
			continue;
		printf("revoked certificate %s of office %s\n", entry[i].serial, entry[i].office);
		for (k = 0; k < entry[i].ncutoffs; k++)
			printf("  cut-off %s on branch %s\n",
			       git_oid_tostr_s(&entry[i].cutoffs[k].head),
			       entry[i].cutoffs[k].branch);
		if (!entry[i].ncutoffs)
			printf("  no branch of it on this ledger: nothing it signed is accepted\n");
	}
	if (json) {
		doc = json_pack("{s:O, s:s}", "revoked", list, "commit", git_oid_tostr_s(&id));
		rc = doc ? out_json(doc) : err_set(ERR_NOMEM, "out of memory");
	}
out:
	for (i = 0; i < 64; i++) {
		free(entry[i].cutoffs);
		buf_release(&text[i]);
		buf_release(&paths[i]);
	}
	json_decref(doc);
	json_decref(list);
	ca_release(&ca);
	ledger_free(l);
	buf_release(&old);
	buf_release(&crl);
	buf_release(&subject);
	return rc;
}

/* --- ca list --------------------------------------------------------------------------- */

static int run_list(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'}, {"csv", no_argument, NULL, 'c'}, {0}};
	struct ledger *l = NULL;
	struct trust *t = NULL;
	json_t *arr = NULL;
	bool json = false, csv = false;
	size_t i;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'c')
			csv = true;
		else
			return cmd_usage_error(&cmd_ca_entry, "unknown option");
	}
	if (json && csv)
		return cmd_usage_error(&cmd_ca_entry, "give --json or --csv, not both");
	if (optind != argc)
		return cmd_usage_error(&cmd_ca_entry, "ca list takes no arguments");
	if ((rc = ledger_open(&l, ctx->dir)) < 0 || (rc = trust_get(&t, l)) < 0)
		goto out;
	if (!t) {
		rc = err_set(ERR_NOTFOUND, "ledger '%s' is standalone: it has no CA (ca.pem)",
			     l->dir);
		goto out;
	}
	if ((json || csv) && !(arr = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < t->ncerts; i++) {
		const struct trust_cert *tc = &t->certs[i];
		char a[TRUST_TIME_MAX], b[TRUST_TIME_MAX], r[TRUST_TIME_MAX];

		if (json || csv) {
			json_array_append_new(arr, cert_json(tc));
			continue;
		}
		trust_time_format(a, tc->not_before);
		trust_time_format(b, tc->not_after);
		trust_time_format(r, tc->revoked_at);
		printf("%-12s %-9s %s %s..%s%s%s%s%s\n", tc->code, office_level_name(tc->level),
		       tc->serial, a, b, tc->revoked_at ? " revoked " : "", tc->revoked_at ? r : "",
		       *tc->name ? " " : "", out_esc(tc->name));
	}
	if (json) {
		rc = out_json(arr);
	} else if (csv) {
		static const char *const cols[] = {"office",	 "level",     "name",	 "serial",
						   "not_before", "not_after", "revoked", NULL};
		rc = out_csv(arr, cols);
	}
out:
	json_decref(arr);
	ledger_free(l);
	return rc;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (argc < 2)
		return cmd_usage_error(&cmd_ca_entry,
				       "give a subcommand: init, issue, revoke, rekey, list");
	if (strcmp(argv[1], "init") == 0)
		return run_init(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "issue") == 0)
		return run_issue(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "revoke") == 0)
		return run_revoke(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "rekey") == 0)
		return run_rekey(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return run_list(ctx, argc - 1, argv + 1);
	return cmd_usage_error(&cmd_ca_entry, "no subcommand 'ca %s'", argv[1]);
}

const struct cmd_entry cmd_ca_entry = {
    .name = "ca",
    .usage = "ca init --office CITYCODE [--name NAME] [--schema FILE] [--days N]\n"
	     "          [--ca-days N] [--host H]... [--json] DIR\n"
	     "       caseledger ca issue --office CODE [--name NAME] [--host H]... [--days N]\n"
	     "          [--not-before TIME] --out OUTDIR [--json]\n"
	     "       caseledger ca revoke CODE|SERIAL --reason TEXT [--json]\n"
	     "       caseledger ca rekey CODE --out OUTDIR [--name NAME] [--host H]...\n"
	     "          [--days N] [--json]\n"
	     "       caseledger ca list [--json|--csv]\n"
	     "\n"
	     "  init     create the city's ledger in DIR with a new CA (DIR/ca.key, mode 0600,\n"
	     "           DIR/ca.pem), the city office's certificate and the trust branch\n"
	     "  issue    (in the city ledger) a new office key and certificate: writes\n"
	     "           OUTDIR/office.key (0600), office.pem, ca.pem for 'caseledger init\n"
	     "           --credentials OUTDIR' and adds the certificate to the trust branch\n"
	     "  revoke   put every certificate of office CODE, or the one with SERIAL, on the\n"
	     "           revocation list, with its cut-offs (revoked/SERIAL.json): this\n"
	     "           ledger's head of every branch in the office's scope. Commits in that\n"
	     "           history stay valid everywhere; anything else the key signs is refused\n"
	     "  rekey    (in the city ledger) a new key and certificate for office CODE, which\n"
	     "           continues its branch: name and hosts as its latest certificate unless\n"
	     "           given; the office installs it with 'caseledger key install --from\n"
	     "           OUTDIR'. Before or after revoking the old one (typical: revoke, rekey)\n"
	     "  list     the certificates this ledger knows, with validity and revocation\n"
	     "  --days N        certificate validity (default 730; CA: --ca-days, 3650)\n"
	     "  --not-before T  start of validity: epoch seconds, YYYY-MM-DD or\n"
	     "                  YYYY-MM-DDTHH:MM:SSZ (default now)\n"
	     "  --host H        a DNS name or IP address the office serves (subjectAltName)",
    .summary = "the city CA: issue and revoke office certificates",
    .run = run,
};
