/*
 * trust: X.509 certificates and revocation lists for the city CA and its offices
 * (OpenSSL 3), and the trust branch that carries them. See trust.h for the layout.
 * This module owns every X509 / X509_CRL object caseledger makes or reads.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "record.h"
#include "trust.h"
#include "util.h"

#define CA_OU	      "city CA"
#define PEM_MAX	      (64 * 1024)
#define CRL_MAX	      (16 * 1024 * 1024)
#define DAYS_MAX      36500
#define CRL_NEXT_DAYS 3650

void trust_time_format(char out[TRUST_TIME_MAX], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm)) {
		snprintf(out, TRUST_TIME_MAX, "@%lld", (long long)t);
		return;
	}
	strftime(out, TRUST_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t now_seconds(void)
{
	return (int64_t)(util_now_ms() / 1000);
}

static int asn1_time_epoch(int64_t *out, const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

static int set_time(ASN1_TIME *slot, int64_t when)
{
	return ASN1_TIME_set(slot, (time_t)when) ? 0 : -1;
}

/* A random positive 128-bit serial. */
static int set_serial(X509 *x)
{
	unsigned char raw[16];
	BIGNUM *bn = NULL;
	int rc = 0;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return err_ssl(ERR_GENERIC, "cannot draw a random serial");
	raw[0] &= 0x7f;
	raw[0] |= 0x40; /* always 16 bytes long, always positive */
	if (!(bn = BN_bin2bn(raw, sizeof(raw), NULL)) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		rc = err_ssl(ERR_NOMEM, "cannot set the serial");
	BN_free(bn);
	return rc;
}

static int serial_hex(char out[TRUST_SERIAL_MAX], const ASN1_INTEGER *serial)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	size_t i;
	int rc = 0;

	if (!hex || strlen(hex) >= TRUST_SERIAL_MAX || hex[0] == '-') {
		rc = err_set(ERR_INVALID, "certificate serial is negative or too long");
		goto out;
	}
	for (i = 0; hex[i]; i++)
		out[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] - 'A' + 'a' : hex[i]);
	out[i] = '\0';
out:
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

static int serial_from_hex(ASN1_INTEGER **out, const char *hex)
{
	BIGNUM *bn = NULL;
	int rc = 0;

	*out = NULL;
	if (!*hex || strlen(hex) >= TRUST_SERIAL_MAX ||
	    strspn(hex, "0123456789abcdef") != strlen(hex))
		return err_set(ERR_INVALID, "serial '%s' is not lower-case hexadecimal", hex);
	if (!BN_hex2bn(&bn, hex) || !(*out = BN_to_ASN1_INTEGER(bn, NULL)))
		rc = err_ssl(ERR_NOMEM, "cannot convert serial '%s'", hex);
	BN_free(bn);
	return rc;
}

static int name_add(X509_NAME *n, const char *field, const char *value)
{
	if (!X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8, (const unsigned char *)value, -1,
					-1, 0))
		return err_ssl(ERR_INVALID, "cannot put %s '%s' in a certificate name", field,
			       value);
	return 0;
}

/* The UTF-8 text of the first entry nid in name into out (malloc'ed); NULL when absent. */
static char *name_get(const X509_NAME *name, int nid)
{
	int i = X509_NAME_get_index_by_NID(name, nid, -1);
	unsigned char *utf8 = NULL;
	char *s;
	int n;

	if (i < 0)
		return NULL;
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n < 0)
		return NULL;
	s = strndup((const char *)utf8, (size_t)n);
	OPENSSL_free(utf8);
	return s;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if (!(ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)))
		return err_ssl(ERR_INVALID, "cannot make certificate extension '%s'", value);
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : err_ssl(ERR_NOMEM, "cannot add certificate extension '%s'", value);
}

static int set_validity(X509 *x, int64_t not_before, int days)
{
	if (days <= 0 || days > DAYS_MAX)
		return err_set(ERR_INVALID, "validity must be 1 to %d days, got %d", DAYS_MAX,
			       days);
	if (set_time(X509_getm_notBefore(x), not_before) < 0 ||
	    set_time(X509_getm_notAfter(x), not_before + (int64_t)days * 86400 - 1) < 0)
		return err_ssl(ERR_INVALID, "cannot set the validity period");
	return 0;
}

int trust_ca_create(X509 **out, EVP_PKEY *key, const char *city, int days, int64_t not_before)
{
	X509 *x = NULL;
	X509_NAME *name;
	int rc;

	*out = NULL;
	if ((rc = office_level(city)) < 0)
		return rc;
	if (rc != LEVEL_CITY)
		return err_set(ERR_INVALID, "'%s' is a %s code; a CA needs a city code (4 digits)",
			       city, office_level_name((enum office_level)rc));
	if (!(x = X509_new()) || !X509_set_version(x, 2)) {
		rc = err_ssl(ERR_NOMEM, "cannot make a certificate");
		goto out;
	}
	name = X509_get_subject_name(x);
	if ((rc = set_serial(x)) < 0 || (rc = name_add(name, "OU", CA_OU)) < 0 ||
	    (rc = name_add(name, "CN", city)) < 0)
		goto out;
	if (!X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key)) {
		rc = err_ssl(ERR_GENERIC, "cannot fill in the CA certificate");
		goto out;
	}
	if ((rc = set_validity(x, not_before ? not_before : now_seconds(),
			       days ? days : TRUST_CA_DAYS)) < 0 ||
	    (rc = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE")) < 0 ||
	    (rc = add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign")) < 0 ||
	    (rc = add_ext(x, x, NID_subject_key_identifier, "hash")) < 0)
		goto out;
	if (X509_sign(x, key, NULL) <= 0) {
		rc = err_ssl(ERR_GENERIC, "cannot sign the CA certificate");
		goto out;
	}
	*out = x;
	x = NULL;
	rc = 0;
out:
	X509_free(x);
	return rc;
}

/* "DNS:name" or "IP:addr" for one --host value; ERR_INVALID when it is neither. */
static int san_entry(struct buf *out, const char *host)
{
	unsigned char addr[16];
	size_t i, n = strlen(host);

	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
		return buf_printf(out, "%sIP:%s", out->len ? "," : "", host);
	if (n == 0 || n > 253)
		goto bad;
	for (i = 0; i < n; i++) {
		char c = host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || (c == '*' && i == 0 && host[1] == '.')))
			goto bad;
	}
	if (host[0] == '.' || host[0] == '-' || host[n - 1] == '.' || strstr(host, ".."))
		goto bad;
	return buf_printf(out, "%sDNS:%s", out->len ? "," : "", host);
bad:
	return err_set(ERR_INVALID, "host '%s' is neither a DNS name nor an IP address", host);
}

int trust_cert_issue(X509 **out, X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *pub,
		     const struct trust_issue_opts *o)
{
	char city[OFFICE_CODE_MAX + 1];
	struct buf san = BUF_INIT;
	X509 *x = NULL;
	X509_NAME *name;
	size_t i;
	int rc, level;

	*out = NULL;
	if ((rc = trust_ca_check(city, ca, "the CA certificate")) < 0)
		return rc;
	if ((level = office_level(o->code)) < 0)
		return level;
	if (!office_in_scope(city, o->code))
		return err_set(ERR_INVALID, "office '%s' is not within city '%s' of this CA",
			       o->code, city);
	if (o->name && (strpbrk(o->name, "\n\r") || !*o->name))
		return err_set(ERR_INVALID, "office name must be one non-empty line");
	for (i = 0; i < o->nhosts; i++)
		if ((rc = san_entry(&san, o->hosts[i])) < 0)
			goto out;
	if (!(x = X509_new()) || !X509_set_version(x, 2)) {
		rc = err_ssl(ERR_NOMEM, "cannot make a certificate");
		goto out;
	}
	name = X509_get_subject_name(x);
	if ((rc = set_serial(x)) < 0 || (o->name && (rc = name_add(name, "O", o->name)) < 0) ||
	    (rc = name_add(name, "OU", office_level_name((enum office_level)level))) < 0 ||
	    (rc = name_add(name, "CN", o->code)) < 0)
		goto out;
	if (!X509_set_issuer_name(x, X509_get_subject_name(ca)) || !X509_set_pubkey(x, pub)) {
		rc = err_ssl(ERR_GENERIC, "cannot fill in the certificate");
		goto out;
	}
	if ((rc = set_validity(x, o->not_before ? o->not_before : now_seconds(),
			       o->days ? o->days : TRUST_CERT_DAYS)) < 0 ||
	    (rc = add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE")) < 0 ||
	    (rc = add_ext(x, ca, NID_key_usage, "critical,digitalSignature")) < 0 ||
	    (rc = add_ext(x, ca, NID_ext_key_usage, "serverAuth,clientAuth")) < 0 ||
	    (rc = add_ext(x, ca, NID_subject_key_identifier, "hash")) < 0 ||
	    (rc = add_ext(x, ca, NID_authority_key_identifier, "keyid:always")) < 0 ||
	    (san.len && (rc = add_ext(x, ca, NID_subject_alt_name, san.ptr)) < 0))
		goto out;
	if (X509_sign(x, ca_key, NULL) <= 0) {
		rc = err_ssl(ERR_GENERIC, "cannot sign the certificate of office '%s'", o->code);
		goto out;
	}
	*out = x;
	x = NULL;
	rc = 0;
out:
	X509_free(x);
	buf_release(&san);
	return rc;
}

int trust_pem(struct buf *out, X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc;

	if (!bio || !PEM_write_bio_X509(bio, x)) {
		rc = err_ssl(ERR_NOMEM, "cannot encode a certificate");
		goto out;
	}
	n = BIO_get_mem_data(bio, &data);
	rc = buf_add(out, data, (size_t)n);
out:
	BIO_free(bio);
	return rc;
}

int trust_cert_parse(X509 **out, const char *pem, size_t len, const char *what)
{
	BIO *bio = NULL;
	X509 *x = NULL;

	*out = NULL;
	if (len > PEM_MAX)
		return err_set(ERR_INVALID, "%s is larger than %d bytes", what, PEM_MAX);
	if (!memmem(pem, len, "-----BEGIN CERTIFICATE-----", 27))
		return err_set(ERR_INVALID, "%s is not a PEM certificate", what);
	if (!(bio = BIO_new_mem_buf(pem, (int)len)))
		return err_ssl(ERR_NOMEM, "out of memory");
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!x)
		return err_ssl(ERR_INVALID, "%s is not a valid certificate", what);
	*out = x;
	return 0;
}

int trust_cert_load(X509 **out, const char *path)
{
	struct buf data = BUF_INIT, what = BUF_INIT;
	int rc;

	*out = NULL;
	if ((rc = util_read_file(&data, path, PEM_MAX)) == 0 &&
	    (rc = buf_printf(&what, "certificate '%s'", path)) == 0)
		rc = trust_cert_parse(out, data.ptr, data.len, what.ptr);
	buf_release(&data);
	buf_release(&what);
	return rc;
}

int trust_cert_pubkey(unsigned char out[SIG_PUBKEY_LEN], X509 *cert, const char *what)
{
	EVP_PKEY *k = X509_get0_pubkey(cert);
	size_t n = SIG_PUBKEY_LEN;

	if (!k || EVP_PKEY_get_id(k) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(k, out, &n) != 1 || n != SIG_PUBKEY_LEN) {
		ERR_clear_error();
		return err_set(ERR_INVALID, "%s does not hold an Ed25519 key", what);
	}
	return 0;
}

int trust_ca_check(char city[OFFICE_CODE_MAX + 1], X509 *ca, const char *what)
{
	const X509_NAME *subj = X509_get_subject_name(ca);
	char *cn = name_get(subj, NID_commonName), *ou = name_get(subj, NID_organizationalUnitName);
	unsigned char pub[SIG_PUBKEY_LEN];
	int rc;

	if ((rc = trust_cert_pubkey(pub, ca, what)) < 0)
		goto out;
	if (!cn || !ou || strcmp(ou, CA_OU) != 0 || office_level(cn) != LEVEL_CITY) {
		err_clear();
		rc = err_set(ERR_INVALID,
			     "%s is not a caseledger city CA (subject must be "
			     "OU=" CA_OU ", CN=<city code>)",
			     what);
		goto out;
	}
	if (X509_check_ca(ca) < 1 || !(X509_get_extension_flags(ca) & EXFLAG_SS) ||
	    X509_verify(ca, X509_get0_pubkey(ca)) != 1) {
		ERR_clear_error();
		rc = err_set(ERR_INVALID, "%s is not a self-signed CA certificate", what);
		goto out;
	}
	snprintf(city, OFFICE_CODE_MAX + 1, "%s", cn);
	rc = 0;
out:
	free(cn);
	free(ou);
	return rc;
}

/* cert chains to ca alone (the CA is the only trust anchor); time not checked. */
static int chain_check(X509 *cert, X509 *ca, const char *what)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc = 0;

	if (!store || !ctx || !X509_STORE_add_cert(store, ca) ||
	    !X509_STORE_CTX_init(ctx, store, cert, NULL)) {
		rc = err_ssl(ERR_NOMEM, "cannot set up certificate verification");
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);

		ERR_clear_error();
		rc = err_set(ERR_VERIFY, "%s was not issued by the CA of this ledger (%s)", what,
			     X509_verify_cert_error_string(e));
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

void trust_cert_release(struct trust_cert *c)
{
	if (!c)
		return;
	X509_free(c->x509);
	free(c->name);
	for (size_t i = 0; c->accepted && i < c->ncutoffs; i++)
		free(c->accepted[i].ids);
	free(c->accepted);
	free(c->cutoffs);
	memset(c, 0, sizeof(*c));
}

int trust_cert_info(struct trust_cert *out, X509 *cert, X509 *ca, const char *city,
		    const char *what)
{
	const X509_NAME *subj = X509_get_subject_name(cert);
	char *cn = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = chain_check(cert, ca, what)) < 0)
		goto out;
	if (X509_check_ca(cert) != 0) {
		rc = err_set(ERR_INVALID, "%s is a CA certificate, not an office's", what);
		goto out;
	}
	cn = name_get(subj, NID_commonName);
	if (!cn || office_level(cn) < 0) {
		err_clear();
		rc = err_set(ERR_INVALID, "%s does not name an office code (subject CN)", what);
		goto out;
	}
	if (!office_in_scope(city, cn)) {
		rc = err_set(ERR_INVALID, "%s is for office '%s', outside city '%s'", what, cn,
			     city);
		goto out;
	}
	snprintf(out->code, sizeof(out->code), "%s", cn);
	out->level = (enum office_level)office_level(cn);
	out->name = name_get(subj, NID_organizationName);
	if (!out->name && !(out->name = strdup(""))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = trust_cert_pubkey(out->pub, cert, what)) < 0 ||
	    (rc = serial_hex(out->serial, X509_get0_serialNumber(cert))) < 0)
		goto out;
	if (asn1_time_epoch(&out->not_before, X509_get0_notBefore(cert)) < 0 ||
	    asn1_time_epoch(&out->not_after, X509_get0_notAfter(cert)) < 0) {
		rc = err_set(ERR_INVALID, "%s has an unreadable validity period", what);
		goto out;
	}
	X509_up_ref(cert);
	out->x509 = cert;
	rc = 0;
out:
	free(cn);
	if (rc < 0)
		trust_cert_release(out);
	return rc;
}

/* --- revocation lists ------------------------------------------------------------------- */

static int crl_parse(X509_CRL **out, const char *pem, size_t len, X509 *ca, const char *what)
{
	BIO *bio = NULL;
	X509_CRL *crl = NULL;
	int rc = 0;

	*out = NULL;
	if (len > CRL_MAX)
		return err_set(ERR_INVALID, "%s is larger than %d bytes", what, CRL_MAX);
	if (!(bio = BIO_new_mem_buf(pem, (int)len)))
		return err_ssl(ERR_NOMEM, "out of memory");
	if (!(crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL))) {
		rc = err_ssl(ERR_INVALID, "%s is not a valid revocation list", what);
		goto out;
	}
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) != 0 ||
	    X509_CRL_verify(crl, X509_get0_pubkey(ca)) != 1) {
		ERR_clear_error();
		rc = err_set(ERR_VERIFY, "%s is not signed by the CA of this ledger", what);
		goto out;
	}
	*out = crl;
	crl = NULL;
out:
	X509_CRL_free(crl);
	BIO_free(bio);
	return rc;
}

static int crl_add(X509_CRL *crl, const ASN1_INTEGER *serial, const ASN1_TIME *when_asn1,
		   int64_t when)
{
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_TIME *t = NULL;
	int ok;

	if (!r)
		return err_ssl(ERR_NOMEM, "out of memory");
	if (!when_asn1 && !(t = ASN1_TIME_set(NULL, (time_t)when))) {
		X509_REVOKED_free(r);
		return err_ssl(ERR_NOMEM, "out of memory");
	}
	ok = X509_REVOKED_set_serialNumber(r, (ASN1_INTEGER *)serial) &&
	     X509_REVOKED_set_revocationDate(r, when_asn1 ? (ASN1_TIME *)when_asn1 : t) &&
	     X509_CRL_add0_revoked(crl, r);
	ASN1_TIME_free(t);
	if (!ok) {
		X509_REVOKED_free(r);
		return err_ssl(ERR_NOMEM, "cannot add to the revocation list");
	}
	return 0;
}

int trust_crl_build(struct buf *out, X509 *ca, EVP_PKEY *ca_key, const char *old_pem,
		    size_t old_len, const struct trust_revocation *add, size_t nadd, int64_t now)
{
	X509_CRL *old = NULL, *crl = NULL;
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *serial = NULL;
	BIO *bio = NULL;
	char *data;
	long n;
	size_t i;
	int rc;

	if (old_pem && (rc = crl_parse(&old, old_pem, old_len, ca, "the current crl.pem")) < 0)
		return rc;
	if (!(crl = X509_CRL_new()) || !X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) ||
	    !(t = ASN1_TIME_set(NULL, (time_t)now)) || !X509_CRL_set1_lastUpdate(crl, t) ||
	    !ASN1_TIME_set(t, (time_t)(now + (int64_t)CRL_NEXT_DAYS * 86400)) ||
	    !X509_CRL_set1_nextUpdate(crl, t)) {
		rc = err_ssl(ERR_NOMEM, "cannot make a revocation list");
		goto out;
	}
	if (old) {
		STACK_OF(X509_REVOKED) *rs = X509_CRL_get_REVOKED(old);

		for (i = 0; rs && (int)i < sk_X509_REVOKED_num(rs); i++) {
			X509_REVOKED *r = sk_X509_REVOKED_value(rs, (int)i);

			if ((rc = crl_add(crl, X509_REVOKED_get0_serialNumber(r),
					  X509_REVOKED_get0_revocationDate(r), 0)) < 0)
				goto out;
		}
	}
	for (i = 0; i < nadd; i++) {
		if ((rc = serial_from_hex(&serial, add[i].serial)) < 0 ||
		    (rc = crl_add(crl, serial, NULL, add[i].when)) < 0)
			goto out;
		ASN1_INTEGER_free(serial);
		serial = NULL;
	}
	X509_CRL_sort(crl);
	if (X509_CRL_sign(crl, ca_key, NULL) <= 0) {
		rc = err_ssl(ERR_GENERIC, "cannot sign the revocation list");
		goto out;
	}
	if (!(bio = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509_CRL(bio, crl)) {
		rc = err_ssl(ERR_NOMEM, "cannot encode the revocation list");
		goto out;
	}
	n = BIO_get_mem_data(bio, &data);
	rc = buf_add(out, data, (size_t)n);
out:
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(t);
	BIO_free(bio);
	X509_CRL_free(old);
	X509_CRL_free(crl);
	return rc;
}

/* --- revocation entries (revoked/<serial>.json) --------------------------------------- */

static int parse_iso(int64_t *out, const char *s)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);

	if (!end || *end)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

static int cutoff_cmp(const void *a, const void *b)
{
	return strcmp(((const struct trust_cutoff *)a)->branch,
		      ((const struct trust_cutoff *)b)->branch);
}

int trust_revoked_encode(struct buf *out, const struct trust_revoked_entry *e)
{
	char when[TRUST_TIME_MAX], hex[GIT_OID_HEXSZ + 1];
	json_t *doc = NULL, *cut = json_object();
	size_t i;
	int rc = 0;

	for (i = 0; cut && i < e->ncutoffs; i++)
		if (json_object_set_new(
			cut, e->cutoffs[i].branch,
			json_string(git_oid_tostr(hex, sizeof(hex), &e->cutoffs[i].head))) < 0)
			break;
	trust_time_format(when, e->revoked_at);
	if (!cut || i < e->ncutoffs ||
	    !(doc = json_pack("{s:O, s:s, s:s, s:s, s:s}", "cutoffs", cut, "office", e->office,
			      "reason", e->reason ? e->reason : "", "revoked_at", when, "serial",
			      e->serial)))
		rc = err_set(ERR_NOMEM, "out of memory");
	else
		rc = record_encode(out, doc);
	json_decref(cut);
	json_decref(doc);
	return rc;
}

void trust_revoked_release(struct trust_revoked_entry *e)
{
	if (!e)
		return;
	free(e->reason);
	free(e->cutoffs);
	memset(e, 0, sizeof(*e));
}

static bool is_hex(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

int trust_revoked_parse(struct trust_revoked_entry *out, const char *data, size_t len,
			const char *what)
{
	static const char *const keys[] = {"cutoffs", "office", "reason", "revoked_at", "serial"};
	json_t *doc = NULL, *cut, *v;
	const char *serial, *office, *reason, *when, *branch;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = record_decode(&doc, data, len, true, what)) < 0)
		return rc;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!json_object_get(doc, keys[i])) {
			rc = err_set(ERR_INVALID, "%s: no '%s'", what, keys[i]);
			goto out;
		}
	if (json_object_size(doc) != sizeof(keys) / sizeof(keys[0])) {
		rc = err_set(ERR_INVALID,
			     "%s: unknown keys (only cutoffs, office, reason, revoked_at, serial)",
			     what);
		goto out;
	}
	serial = json_string_value(json_object_get(doc, "serial"));
	office = json_string_value(json_object_get(doc, "office"));
	reason = json_string_value(json_object_get(doc, "reason"));
	when = json_string_value(json_object_get(doc, "revoked_at"));
	cut = json_object_get(doc, "cutoffs");
	if (!serial || !*serial || strlen(serial) >= TRUST_SERIAL_MAX ||
	    strspn(serial, "0123456789abcdef") != strlen(serial)) {
		rc = err_set(ERR_INVALID, "%s: 'serial' must be a lower-case hex serial", what);
		goto out;
	}
	if (!office || office_level(office) < 0) {
		err_clear();
		rc = err_set(ERR_INVALID, "%s: 'office' must be an office code", what);
		goto out;
	}
	if (!reason || !when || parse_iso(&out->revoked_at, when) < 0) {
		rc = err_set(ERR_INVALID,
			     "%s: 'reason' must be text and 'revoked_at' a time "
			     "YYYY-MM-DDTHH:MM:SSZ",
			     what);
		goto out;
	}
	if (!json_is_object(cut)) {
		rc = err_set(ERR_INVALID, "%s: 'cutoffs' must map branches to commit ids", what);
		goto out;
	}
	snprintf(out->serial, sizeof(out->serial), "%s", serial);
	snprintf(out->office, sizeof(out->office), "%s", office);
	if (!(out->reason = strdup(reason)) ||
	    (json_object_size(cut) &&
	     !(out->cutoffs = calloc(json_object_size(cut), sizeof(*out->cutoffs))))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	json_object_foreach (cut, branch, v) {
		struct trust_cutoff *c = &out->cutoffs[out->ncutoffs];
		const char *id = json_string_value(v);

		if (office_level(branch) < 0 || !office_in_scope(office, branch)) {
			err_clear();
			rc = err_set(ERR_INVALID,
				     "%s: cut-off branch '%s' is not within the scope of office %s",
				     what, branch, office);
			goto out;
		}
		if (!id || !is_hex(id, GIT_OID_HEXSZ) || git_oid_fromstr(&c->head, id) < 0) {
			rc = err_set(ERR_INVALID,
				     "%s: the cut-off of branch '%s' must be a 40-hex commit id",
				     what, branch);
			goto out;
		}
		snprintf(c->branch, sizeof(c->branch), "%s", branch);
		out->ncutoffs++;
	}
	if (out->ncutoffs > 1)
		qsort(out->cutoffs, out->ncutoffs, sizeof(*out->cutoffs), cutoff_cmp);
out:
	json_decref(doc);
	if (rc < 0)
		trust_revoked_release(out);
	return rc;
}

/* --- what a ledger trusts ----------------------------------------------------------- */

void trust_free(struct trust *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->ncerts; i++)
		trust_cert_release(&t->certs[i]);
	free(t->certs);
	X509_free(t->ca);
	schema_free(t->schema);
	free(t);
}

/* Add cert (parsed from pem) unless a certificate with its serial is there already. */
static int add_cert(struct trust *t, const char *pem, size_t len, const char *what)
{
	struct trust_cert c, *grown;
	X509 *x = NULL;
	size_t i;
	int rc;

	if ((rc = trust_cert_parse(&x, pem, len, what)) < 0 ||
	    (rc = trust_cert_info(&c, x, t->ca, t->city, what)) < 0)
		goto out;
	for (i = 0; i < t->ncerts; i++) {
		if (strcmp(t->certs[i].serial, c.serial) == 0) {
			trust_cert_release(&c);
			goto out;
		}
	}
	if (!(grown = realloc(t->certs, (t->ncerts + 1) * sizeof(*grown)))) {
		trust_cert_release(&c);
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	t->certs = grown;
	t->certs[t->ncerts++] = c;
out:
	X509_free(x);
	return rc;
}

static int blob_text(struct buf *out, git_repository *repo, git_tree *tree, const char *path)
{
	git_tree_entry *e = NULL;
	git_blob *b = NULL;
	int rc = git_tree_entry_bypath(&e, tree, path);

	if (rc == GIT_ENOTFOUND)
		return err_set(ERR_NOTFOUND, "the trust branch has no '%s'", path);
	if (rc < 0 || git_blob_lookup(&b, repo, git_tree_entry_id(e)) < 0) {
		rc = err_git(ERR_IO, "cannot read '%s' on the trust branch", path);
		goto out;
	}
	rc = buf_add(out, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
out:
	git_blob_free(b);
	git_tree_entry_free(e);
	return rc;
}

static int apply_crl(struct trust *t, const char *pem, size_t len)
{
	STACK_OF(X509_REVOKED) * rs;
	X509_CRL *crl = NULL;
	char serial[TRUST_SERIAL_MAX];
	int64_t when;
	size_t i, j;
	int rc;

	if ((rc = crl_parse(&crl, pem, len, t->ca, "crl.pem on the trust branch")) < 0)
		return rc;
	rs = X509_CRL_get_REVOKED(crl);
	for (i = 0; rs && (int)i < sk_X509_REVOKED_num(rs); i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(rs, (int)i);

		if ((rc = serial_hex(serial, X509_REVOKED_get0_serialNumber(r))) < 0)
			goto out;
		if (asn1_time_epoch(&when, X509_REVOKED_get0_revocationDate(r)) < 0) {
			rc = err_set(ERR_INVALID, "crl.pem: unreadable revocation date");
			goto out;
		}
		for (j = 0; j < t->ncerts; j++)
			if (strcmp(t->certs[j].serial, serial) == 0 &&
			    (!t->certs[j].revoked_at || when < t->certs[j].revoked_at))
				t->certs[j].revoked_at = when;
	}
out:
	X509_CRL_free(crl);
	return rc;
}

/*
 * revoked/<serial>.json: the cut-offs of each revoked certificate. An entry for a
 * certificate the CRL does not revoke is ignored (the CRL decides what is revoked). A
 * malformed entry is skipped, which can only accept less: its certificate keeps no
 * history (verify_commit refuses the trust commit that wrote it, rule 'trust').
 */
static int load_cutoffs(struct trust *t, git_repository *repo, git_tree *tree)
{
	git_tree_entry *de = NULL;
	git_tree *dir = NULL;
	struct trust_revoked_entry e;
	char what[80];
	size_t i, j;
	int rc = git_tree_entry_bypath(&de, tree, "revoked");

	if (rc == GIT_ENOTFOUND)
		return 0;
	if (rc < 0 || git_tree_lookup(&dir, repo, git_tree_entry_id(de)) < 0) {
		rc = err_git(ERR_IO, "cannot read revoked/ on the trust branch");
		goto out;
	}
	for (i = 0; i < git_tree_entrycount(dir); i++) {
		const git_tree_entry *fe = git_tree_entry_byindex(dir, i);
		const char *name = git_tree_entry_name(fe);
		git_blob *b = NULL;
		size_t n = strlen(name);

		snprintf(what, sizeof(what), "revoked/%s on the trust branch", name);
		if (git_blob_lookup(&b, repo, git_tree_entry_id(fe)) < 0) {
			rc = err_git(ERR_INVALID, "cannot read %s", what);
			goto out;
		}
		rc = trust_revoked_parse(&e, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b),
					 what);
		git_blob_free(b);
		if (rc == ERR_NOMEM)
			goto out;
		rc = 0;
		err_clear();
		if (n != strlen(e.serial) + 5 || strncmp(name, e.serial, n - 5) != 0 ||
		    strcmp(name + n - 5, ".json") != 0) {
			trust_revoked_release(&e);
			continue;
		}
		for (j = 0; j < t->ncerts; j++) {
			struct trust_cert *c = &t->certs[j];

			if (strcmp(c->serial, e.serial) != 0 || strcmp(c->code, e.office) != 0 ||
			    !c->revoked_at || c->cutoffs)
				continue;
			c->cutoffs = e.cutoffs;
			c->ncutoffs = e.ncutoffs;
			e.cutoffs = NULL;
			e.ncutoffs = 0;
		}
		trust_revoked_release(&e);
	}
out:
	git_tree_free(dir);
	git_tree_entry_free(de);
	return rc;
}

static int load_branch(struct trust *t, struct ledger *l, const git_oid *head)
{
	git_commit *c = NULL;
	git_tree *tree = NULL, *certs = NULL;
	git_tree_entry *ce = NULL;
	struct buf text = BUF_INIT, what = BUF_INIT;
	X509 *branch_ca = NULL;
	size_t i;
	int rc;

	if (git_commit_lookup(&c, l->repo, head) < 0 || git_commit_tree(&tree, c) < 0) {
		rc = err_git(ERR_IO, "cannot read the trust branch");
		goto out;
	}
	if ((rc = blob_text(&text, l->repo, tree, "ca.pem")) < 0 ||
	    (rc = trust_cert_parse(&branch_ca, text.ptr, text.len, "ca.pem on the trust branch")) <
		0)
		goto out;
	if (X509_cmp(branch_ca, t->ca) != 0) {
		rc = err_set(ERR_VERIFY,
			     "the trust branch holds a different CA certificate than this "
			     "ledger's ca.pem");
		goto out;
	}
	rc = git_tree_entry_bypath(&ce, tree, "certs");
	if (rc == 0 && git_tree_lookup(&certs, l->repo, git_tree_entry_id(ce)) < 0) {
		rc = err_git(ERR_IO, "cannot read certs/ on the trust branch");
		goto out;
	}
	for (i = 0; certs && i < git_tree_entrycount(certs); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(certs, i);
		git_blob *b = NULL;

		buf_reset(&what);
		if ((rc = buf_printf(&what, "certs/%s on the trust branch",
				     git_tree_entry_name(e))) < 0)
			goto out;
		if (git_blob_lookup(&b, l->repo, git_tree_entry_id(e)) < 0) {
			rc = err_git(ERR_INVALID, "cannot read %s", what.ptr);
			goto out;
		}
		rc = add_cert(t, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b), what.ptr);
		git_blob_free(b);
		if (rc < 0)
			goto out;
	}
	buf_reset(&text);
	if ((rc = blob_text(&text, l->repo, tree, "schema.ini")) < 0 ||
	    (rc = schema_parse(&t->schema, text.ptr, text.len, "schema.ini on the trust branch")) <
		0)
		goto out;
	buf_reset(&text);
	rc = blob_text(&text, l->repo, tree, "crl.pem");
	if (rc == 0)
		rc = apply_crl(t, text.ptr, text.len);
	else if (rc == ERR_NOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = load_cutoffs(t, l->repo, tree);
out:
	X509_free(branch_ca);
	git_tree_entry_free(ce);
	git_tree_free(certs);
	git_tree_free(tree);
	git_commit_free(c);
	buf_release(&text);
	buf_release(&what);
	return rc;
}

int trust_load(struct trust **out, struct ledger *l)
{
	struct trust *t = NULL;
	struct buf path = BUF_INIT, text = BUF_INIT;
	int rc;

	*out = NULL;
	if ((rc = util_join(&path, l->dir, "ca.pem")) < 0)
		goto out;
	if ((rc = util_read_file(&text, path.ptr, PEM_MAX)) == ERR_NOTFOUND) {
		err_clear();
		rc = 0; /* standalone */
		goto out;
	}
	if (rc < 0)
		goto out;
	if (!(t = calloc(1, sizeof(*t)))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = trust_cert_parse(&t->ca, text.ptr, text.len, "the ledger's ca.pem")) < 0 ||
	    (rc = trust_ca_check(t->city, t->ca, "the ledger's ca.pem")) < 0)
		goto out;
	rc = git_reference_name_to_id(&t->head, l->repo, TRUST_REF);
	if (rc == 0) {
		t->has_branch = true;
		if ((rc = load_branch(t, l, &t->head)) < 0)
			goto out;
	} else if (rc != GIT_ENOTFOUND) {
		rc = err_git(ERR_IO, "cannot read the trust branch");
		goto out;
	}
	buf_reset(&path);
	buf_reset(&text);
	if ((rc = util_join(&path, l->dir, "office.pem")) < 0)
		goto out;
	rc = util_read_file(&text, path.ptr, PEM_MAX);
	if (rc == 0)
		rc = add_cert(t, text.ptr, text.len, "the ledger's office.pem");
	else if (rc == ERR_NOTFOUND)
		rc = 0;
	if (rc < 0)
		goto out;
	*out = t;
	t = NULL;
out:
	trust_free(t);
	buf_release(&path);
	buf_release(&text);
	return rc;
}

int trust_get(struct trust **out, struct ledger *l)
{
	git_oid head;
	int rc;

	*out = NULL;
	if (l->trust) {
		rc = git_reference_name_to_id(&head, l->repo, TRUST_REF);
		if ((rc == GIT_ENOTFOUND && !l->trust->has_branch) ||
		    (rc == 0 && l->trust->has_branch && git_oid_equal(&head, &l->trust->head))) {
			*out = l->trust;
			return 0;
		}
		trust_free(l->trust);
		l->trust = NULL;
	}
	if ((rc = trust_load(&l->trust, l)) < 0)
		return rc;
	*out = l->trust;
	return 0;
}

enum trust_verdict trust_signer(const struct trust_cert **out, const struct trust *t,
				const unsigned char pub[SIG_PUBKEY_LEN], int64_t when, char *why,
				size_t whylen)
{
	const struct trust_cert *c, *invalid = NULL, *revoked = NULL;
	char a[TRUST_TIME_MAX], b[TRUST_TIME_MAX];
	size_t i;

	*out = NULL;
	for (i = 0; i < t->ncerts; i++) {
		c = &t->certs[i];
		if (memcmp(c->pub, pub, SIG_PUBKEY_LEN) != 0)
			continue;
		if (when < c->not_before || when > c->not_after) {
			invalid = c;
			continue;
		}
		if (c->revoked_at) {
			revoked = c;
			continue;
		}
		*out = c;
		return TRUST_OK;
	}
	if (revoked) {
		trust_time_format(a, revoked->revoked_at);
		snprintf(why, whylen, "certificate %s of office %s was revoked at %s",
			 revoked->serial, revoked->code, a);
		*out = revoked;
		return TRUST_REVOKED;
	}
	if (invalid) {
		trust_time_format(a, invalid->not_before);
		trust_time_format(b, invalid->not_after);
		snprintf(why, whylen,
			 "certificate %s of office %s is valid from %s to %s, not at the commit "
			 "time",
			 invalid->serial, invalid->code, a, b);
		*out = invalid;
		return TRUST_NOT_VALID;
	}
	snprintf(why, whylen, "no certificate from the CA of city %s holds this key", t->city);
	return TRUST_UNKNOWN_KEY;
}

static int oid_cmp(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

/* Walk the history of head into acc once (sorted, for bsearch). */
static int accepted_walk(struct trust_accepted *acc, git_repository *repo, const git_oid *head)
{
	git_revwalk *walk = NULL;
	git_oid id, *grown;
	size_t cap = 0;
	int rc = 0;

	if (git_revwalk_new(&walk, repo) < 0 || git_revwalk_push(walk, head) < 0) {
		rc =
		    err_git(ERR_IO, "cannot walk the history of cut-off %s", git_oid_tostr_s(head));
		goto out;
	}
	while ((rc = git_revwalk_next(&id, walk)) == 0) {
		if (acc->n == cap) {
			cap = cap ? 2 * cap : 256;
			if (!(grown = realloc(acc->ids, cap * sizeof(*grown)))) {
				rc = err_set(ERR_NOMEM, "out of memory");
				goto out;
			}
			acc->ids = grown;
		}
		git_oid_cpy(&acc->ids[acc->n++], &id);
	}
	if (rc != GIT_ITEROVER) {
		rc =
		    err_git(ERR_IO, "cannot walk the history of cut-off %s", git_oid_tostr_s(head));
		goto out;
	}
	rc = 0;
	if (acc->n > 1)
		qsort(acc->ids, acc->n, sizeof(*acc->ids), oid_cmp);
	acc->done = true;
out:
	if (rc < 0) {
		free(acc->ids);
		acc->ids = NULL;
		acc->n = 0;
	}
	git_revwalk_free(walk);
	return rc;
}

/*
 * Is commit the cut-off or an ancestor of it, in repo? ERR_NOTFOUND when the cut-off is
 * not there. The history is walked once per cut-off and kept in acc: commits never
 * change, so the answer holds for any repository that has the cut-off.
 */
static int in_history(bool *out, struct trust_accepted *acc, git_repository *repo,
		      const git_oid *commit, const git_oid *head)
{
	git_odb *odb = NULL;
	int rc;

	*out = git_oid_equal(commit, head);
	if (*out)
		return 0;
	if (!acc->done) {
		if (git_repository_odb(&odb, repo) < 0)
			return err_git(ERR_IO, "cannot read the object database");
		rc = git_odb_exists(odb, head);
		git_odb_free(odb);
		if (!rc)
			return ERR_NOTFOUND;
		if ((rc = accepted_walk(acc, repo, head)) < 0)
			return rc;
	}
	*out = acc->n && bsearch(commit, acc->ids, acc->n, sizeof(*acc->ids), oid_cmp);
	return 0;
}

int trust_cutoff_accepts(bool *accepted, const struct trust_cert *c, git_repository *repo,
			 const git_oid *commit, const char *branch, char *why, size_t whylen)
{
	char when[TRUST_TIME_MAX], head[GIT_OID_HEXSZ + 1];
	struct trust_cert *cache = (struct trust_cert *)c; /* only its accepted cache */
	const struct trust_cutoff *cut = NULL;
	size_t i, nmissing = 0;
	int n, rc;

	*accepted = false;
	if (c->ncutoffs && !c->accepted &&
	    !(cache->accepted = calloc(c->ncutoffs, sizeof(*c->accepted))))
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; i < c->ncutoffs; i++) {
		if (branch && strcmp(c->cutoffs[i].branch, branch) != 0)
			continue;
		cut = &c->cutoffs[i];
		rc = in_history(accepted, &cache->accepted[i], repo, commit, &cut->head);
		if (rc == ERR_NOTFOUND) {
			nmissing++;
			continue;
		}
		if (rc < 0 || *accepted)
			return rc;
	}
	trust_time_format(when, c->revoked_at);
	n = snprintf(why, whylen,
		     "certificate %s of office %s was revoked at %s; this commit is not in the "
		     "history the city accepted ",
		     c->serial, c->code, when);
	if (n < 0 || (size_t)n >= whylen)
		return 0;
	why += n;
	whylen -= (size_t)n;
	if (branch && cut) {
		git_oid_tostr(head, sizeof(head), &cut->head);
		snprintf(why, whylen, "(cut-off %s on branch %s%s)", head, branch,
			 nmissing ? ", which this ledger does not hold: fetch it" : "");
	} else if (branch) {
		snprintf(why, whylen, "(no cut-off on branch %s: none of it is accepted)", branch);
	} else if (c->ncutoffs) {
		snprintf(why, whylen, "(cut-offs on %zu branch%s%s)", c->ncutoffs,
			 c->ncutoffs == 1 ? "" : "es",
			 nmissing ? ", some not held by this ledger" : "");
	} else {
		snprintf(why, whylen, "(no cut-offs: none of it is accepted)");
	}
	return 0;
}

int trust_own_revoked(bool *revoked, struct ledger *l, char *why, size_t whylen)
{
	const struct trust_cert *c, *gone = NULL;
	struct trust *t;
	char when[TRUST_TIME_MAX];
	size_t i;
	int rc;

	*revoked = false;
	if ((rc = trust_get(&t, l)) < 0 || !t)
		return rc;
	for (i = 0; i < t->ncerts; i++) {
		c = &t->certs[i];
		if (memcmp(c->pub, l->pub, SIG_PUBKEY_LEN) != 0)
			continue;
		if (!c->revoked_at)
			return 0;
		gone = c;
	}
	if (!gone)
		return 0;
	*revoked = true;
	trust_time_format(when, gone->revoked_at);
	snprintf(why, whylen,
		 "the certificate %s of office %s was revoked at %s by the city: nothing it "
		 "signs is accepted; ask the city for `caseledger ca rekey %s`",
		 gone->serial, gone->code, when, gone->code);
	return 0;
}

/* --- writing the trust branch ---------------------------------------------------------- */

/* Copy object id (and, for a tree, what it holds) from src into dst unless there. */
static int copy_object(git_odb *dst, git_repository *repo, git_odb *src, const git_oid *id)
{
	git_odb_object *o = NULL;
	git_oid written;
	int rc = 0;

	if (git_odb_exists(dst, id))
		return 0;
	if (git_odb_read(&o, src, id) < 0)
		return err_git(ERR_IO, "cannot read object %s", git_oid_tostr_s(id));
	if (git_odb_write(&written, dst, git_odb_object_data(o), git_odb_object_size(o),
			  git_odb_object_type(o)) < 0) {
		rc = err_git(ERR_IO, "cannot write object %s", git_oid_tostr_s(id));
		goto out;
	}
	if (git_odb_object_type(o) == GIT_OBJECT_TREE) {
		git_tree *t = NULL;
		size_t i, n;

		if (git_tree_lookup(&t, repo, id) < 0) {
			rc = err_git(ERR_IO, "cannot read tree %s", git_oid_tostr_s(id));
			goto out;
		}
		n = git_tree_entrycount(t);
		for (i = 0; i < n && rc == 0; i++)
			rc = copy_object(dst, repo, src,
					 git_tree_entry_id(git_tree_entry_byindex(t, i)));
		git_tree_free(t);
	}
out:
	git_odb_object_free(o);
	return rc;
}

/*
 * Copy the commits of src's trust branch and their trees into l, nothing else: a local
 * fetch (libgit2's local transport) copied every object of the source, so a new office
 * made from the city's ledger held every office's records, unreachable but readable.
 */
static int copy_trust(struct ledger *l, git_repository *src, const git_oid *head)
{
	git_odb *dst_odb = NULL, *src_odb = NULL;
	git_revwalk *w = NULL;
	git_oid id;
	int rc = 0, k;

	if (git_repository_odb(&dst_odb, l->repo) < 0 || git_repository_odb(&src_odb, src) < 0 ||
	    git_revwalk_new(&w, src) < 0 || git_revwalk_push(w, head) < 0) {
		rc = err_git(ERR_IO, "cannot walk the trust branch");
		goto out;
	}
	while (rc == 0 && (k = git_revwalk_next(&id, w)) == 0) {
		git_commit *c = NULL;

		if (git_commit_lookup(&c, src, &id) < 0) {
			rc = err_git(ERR_IO, "cannot read trust commit %s", git_oid_tostr_s(&id));
			break;
		}
		if ((rc = copy_object(dst_odb, src, src_odb, git_commit_tree_id(c))) == 0)
			rc = copy_object(dst_odb, src, src_odb, &id);
		git_commit_free(c);
	}
	if (rc == 0 && k != GIT_ITEROVER)
		rc = err_git(ERR_IO, "cannot walk the trust branch");
out:
	git_revwalk_free(w);
	git_odb_free(src_odb);
	git_odb_free(dst_odb);
	return rc;
}

int trust_fetch(struct ledger *l, const char *source)
{
	git_repository *src = NULL;
	git_reference *ref = NULL;
	git_oid id;
	int rc = 0;

	if (git_repository_open_ext(
		&src, source, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL) < 0) {
		rc = err_git(ERR_NOTFOUND, "'%s' is not a ledger directory", source);
		goto out;
	}
	if (git_reference_name_to_id(&id, src, TRUST_REF) < 0) {
		rc = err_set(ERR_NOTFOUND, "ledger '%s' has no trust branch", source);
		goto out;
	}
	if ((rc = copy_trust(l, src, &id)) < 0) {
		err_prefix("cannot copy the trust branch from '%s'", source);
		goto out;
	}
	if (git_reference_create(&ref, l->repo, TRUST_REF, &id, 0, "caseledger: trust branch") < 0)
		rc = err_git(ERR_IO, "cannot set the trust branch from '%s'", source);
out:
	git_reference_free(ref);
	git_repository_free(src);
	return rc;
}

int trust_read_file(struct buf *out, struct ledger *l, const char *path)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_oid head;
	int rc = git_reference_name_to_id(&head, l->repo, TRUST_REF);

	if (rc == GIT_ENOTFOUND)
		return err_set(ERR_NOTFOUND, "this ledger has no trust branch");
	if (rc < 0 || git_commit_lookup(&c, l->repo, &head) < 0 || git_commit_tree(&tree, c) < 0) {
		rc = err_git(ERR_IO, "cannot read the trust branch");
		goto out;
	}
	rc = blob_text(out, l->repo, tree, path);
out:
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

int trust_commit(git_oid *out, struct ledger *l, const char *city, const struct trust_file *files,
		 size_t nfiles, const char *subject, const char *reason, const char *operator)
{
	git_tree_update *up = NULL;
	git_commit *parent = NULL;
	git_tree *base = NULL;
	const git_commit *parents[1];
	struct buf msg = BUF_INIT;
	struct hlc stamp, last;
	char stamp_text[HLC_TEXT_MAX];
	const char *op;
	git_oid head, tree;
	bool has_head;
	size_t i;
	int rc;

	if (strcmp(l->office, city) != 0)
		return err_set(ERR_DENIED,
			       "only the city office %s may change the trust branch; this ledger "
			       "is office %s",
			       city, l->office);
	rc = git_reference_name_to_id(&head, l->repo, TRUST_REF);
	if (rc < 0 && rc != GIT_ENOTFOUND)
		return err_git(ERR_IO, "cannot read the trust branch");
	has_head = rc == 0;
	if (has_head && (git_commit_lookup(&parent, l->repo, &head) < 0 ||
			 git_commit_tree(&base, parent) < 0)) {
		rc = err_git(ERR_IO, "cannot read the trust branch");
		goto out;
	}
	if (!(up = calloc(nfiles, sizeof(*up)))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nfiles; i++) {
		if (git_blob_create_from_buffer(&up[i].id, l->repo, files[i].data, files[i].len) <
		    0) {
			rc = err_git(ERR_IO, "cannot write '%s'", files[i].path);
			goto out;
		}
		up[i].action = GIT_TREE_UPDATE_UPSERT;
		up[i].filemode = GIT_FILEMODE_BLOB;
		up[i].path = files[i].path;
	}
	if (git_tree_create_updated(&tree, l->repo, base, nfiles, up) < 0) {
		rc = err_git(ERR_IO, "cannot write the trust branch tree");
		goto out;
	}
	/* after the head's stamp: time never goes back along a branch (verify.h) */
	if (!parent || ledger_commit_stamp(&last, parent) < 0) {
		err_clear();
		memset(&last, 0, sizeof(last));
	}
	hlc_next(&stamp, &last, util_now_ms(), l->office);
	hlc_format(stamp_text, &stamp);
	if ((rc = ledger_operator(&op, l, operator)) < 0 ||
	    (rc = ledger_message(&msg, l, subject, reason, op, stamp_text)) < 0)
		goto out;
	parents[0] = parent;
	rc = ledger_commit_tree(out, l, TRUST_REF, has_head ? &head : NULL, &tree, parents,
				has_head ? 1 : 0, msg.ptr, op, stamp.ms);
out:
	free(up);
	git_tree_free(base);
	git_commit_free(parent);
	buf_release(&msg);
	return rc;
}
