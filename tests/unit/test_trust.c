/*
 * test_trust: the city CA, office certificates and revocation lists (storage/trust.c),
 * in memory: what an issued certificate holds, what trust_cert_info refuses (another
 * CA, a CA certificate, an office outside the city, a non-Ed25519 key), CRL round trips
 * and their signature, and trust_signer's verdicts at the edges of validity and
 * revocation.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "sig.h"
#include "trust.h"

#define T0 1767225600 /* 2026-01-01T00:00:00Z */

struct fixture {
	struct sig_key *ca_key, *office_key;
	X509 *ca;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(sig_key_generate(&f->ca_key), 0);
	assert_int_equal(sig_key_generate(&f->office_key), 0);
	assert_int_equal(trust_ca_create(&f->ca, sig_key_pkey(f->ca_key), "1201", 0, T0), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	X509_free(f->ca);
	sig_key_free(f->ca_key);
	sig_key_free(f->office_key);
	free(f);
	return 0;
}

static X509 *issue(struct fixture *f, const char *code, int days, int64_t nb)
{
	struct trust_issue_opts o = {.code = code, .days = days, .not_before = nb};
	X509 *x = NULL;

	assert_int_equal(
	    trust_cert_issue(&x, f->ca, sig_key_pkey(f->ca_key), sig_key_pkey(f->office_key), &o),
	    0);
	return x;
}

static void test_ca(void **state)
{
	struct fixture *f = *state;
	char city[OFFICE_CODE_MAX + 1];
	X509 *x = NULL;

	assert_int_equal(trust_ca_check(city, f->ca, "ca"), 0);
	assert_string_equal(city, "1201");
	assert_int_equal(trust_ca_create(&x, sig_key_pkey(f->ca_key), "120112", 0, 0), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "needs a city code"));
	assert_null(x);
}

static void test_issue(void **state)
{
	struct fixture *f = *state;
	struct trust_issue_opts o = {.code = "120112",
				     .name = "Jinnan",
				     .days = 10,
				     .not_before = T0,
				     .hosts = {"hub.example", "10.0.0.1"},
				     .nhosts = 2};
	unsigned char pub[SIG_PUBKEY_LEN];
	struct trust_cert c;
	struct buf pem = BUF_INIT;
	X509 *x = NULL, *y = NULL;

	assert_int_equal(
	    trust_cert_issue(&x, f->ca, sig_key_pkey(f->ca_key), sig_key_pkey(f->office_key), &o),
	    0);
	assert_int_equal(trust_pem(&pem, x), 0);
	assert_int_equal(trust_cert_parse(&y, pem.ptr, pem.len, "pem"), 0);
	assert_int_equal(trust_cert_info(&c, y, f->ca, "1201", "cert"), 0);
	assert_string_equal(c.code, "120112");
	assert_string_equal(c.name, "Jinnan");
	assert_int_equal(c.level, LEVEL_DISTRICT);
	assert_int_equal(strlen(c.serial), 32);
	assert_int_equal(c.not_before, T0);
	assert_int_equal(c.not_after, T0 + 10 * 86400 - 1);
	sig_key_public(f->office_key, pub);
	assert_memory_equal(c.pub, pub, SIG_PUBKEY_LEN);
	assert_int_equal(X509_check_host(y, "hub.example", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(y, "10.0.0.1", 0), 1);
	trust_cert_release(&c);
	X509_free(x);
	X509_free(y);
	buf_release(&pem);

	o.code = "130112";
	assert_int_equal(
	    trust_cert_issue(&x, f->ca, sig_key_pkey(f->ca_key), sig_key_pkey(f->office_key), &o),
	    ERR_INVALID);
	assert_non_null(strstr(err_msg(), "not within city '1201'"));
	o.code = "120112";
	o.hosts[0] = "bad host";
	assert_int_equal(
	    trust_cert_issue(&x, f->ca, sig_key_pkey(f->ca_key), sig_key_pkey(f->office_key), &o),
	    ERR_INVALID);
	o.nhosts = 0;
	o.days = 0;
	o.not_before = 0;
	o.name = "two\nlines";
	assert_int_equal(
	    trust_cert_issue(&x, f->ca, sig_key_pkey(f->ca_key), sig_key_pkey(f->office_key), &o),
	    ERR_INVALID);
}

static void test_refused(void **state)
{
	struct fixture *f = *state;
	struct sig_key *other_key = NULL;
	X509 *other = NULL, *x = issue(f, "120112001001", 0, 0);
	struct trust_cert c;
	EVP_PKEY *rsa = NULL;
	char city[OFFICE_CODE_MAX + 1];

	/* another CA of the same city did not issue it */
	assert_int_equal(sig_key_generate(&other_key), 0);
	assert_int_equal(trust_ca_create(&other, sig_key_pkey(other_key), "1201", 0, 0), 0);
	assert_int_equal(trust_cert_info(&c, x, other, "1201", "cert"), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "was not issued by the CA"));
	/* the CA is no office */
	assert_int_equal(trust_cert_info(&c, f->ca, f->ca, "1201", "ca"), ERR_INVALID);
	/* an office certificate is no CA */
	assert_int_equal(trust_ca_check(city, x, "cert"), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "is not a caseledger city CA"));
	/* garbage */
	X509_free(other);
	other = NULL;
	assert_int_equal(trust_cert_parse(&other, "junk", 4, "f"), ERR_INVALID);
	assert_int_equal(trust_cert_parse(&other, "-----BEGIN CERTIFICATE-----\nAAAA\n", 33, "f"),
			 ERR_INVALID);
	/* a certificate for a key that is not Ed25519 is no office's */
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(rsa);
	{
		struct trust_issue_opts o = {.code = "120112001001"};
		X509 *r = NULL;

		assert_int_equal(trust_cert_issue(&r, f->ca, sig_key_pkey(f->ca_key), rsa, &o), 0);
		assert_int_equal(trust_cert_info(&c, r, f->ca, "1201", "rsa cert"), ERR_INVALID);
		assert_non_null(strstr(err_msg(), "does not hold an Ed25519 key"));
		X509_free(r);
	}
	EVP_PKEY_free(rsa);
	X509_free(x);
	sig_key_free(other_key);
}

static void test_crl(void **state)
{
	struct fixture *f = *state;
	struct trust_revocation r[2] = {{"4abc", T0 + 100}, {"5def", T0 + 200}};
	struct trust_revocation r3 = {"6f", T0 + 300};
	struct buf one = BUF_INIT, two = BUF_INIT, other = BUF_INIT;
	struct sig_key *k = NULL;
	X509 *oca = NULL;

	assert_int_equal(trust_crl_build(&one, f->ca, sig_key_pkey(f->ca_key), NULL, 0, r, 2, T0),
			 0);
	assert_int_equal(
	    trust_crl_build(&two, f->ca, sig_key_pkey(f->ca_key), one.ptr, one.len, &r3, 1, T0), 0);
	assert_non_null(strstr(two.ptr, "-----BEGIN X509 CRL-----"));
	/* a CRL signed by another CA is refused as the old list */
	assert_int_equal(sig_key_generate(&k), 0);
	assert_int_equal(trust_ca_create(&oca, sig_key_pkey(k), "1201", 0, 0), 0);
	assert_int_equal(
	    trust_crl_build(&other, oca, sig_key_pkey(k), two.ptr, two.len, NULL, 0, T0),
	    ERR_VERIFY);
	r3.serial = "XYZ";
	assert_int_equal(
	    trust_crl_build(&other, f->ca, sig_key_pkey(f->ca_key), NULL, 0, &r3, 1, T0),
	    ERR_INVALID);
	X509_free(oca);
	sig_key_free(k);
	buf_release(&one);
	buf_release(&two);
	buf_release(&other);
}

static void test_signer(void **state)
{
	struct fixture *f = *state;
	struct trust t = {.ca = f->ca, .city = "1201"};
	const struct trust_cert *got;
	unsigned char pub[SIG_PUBKEY_LEN], stranger[SIG_PUBKEY_LEN] = {1};
	X509 *x = issue(f, "120112001001", 1, T0);
	struct trust_cert c;
	char why[256];

	assert_int_equal(trust_cert_info(&c, x, f->ca, "1201", "cert"), 0);
	t.certs = &c;
	t.ncerts = 1;
	sig_key_public(f->office_key, pub);
	assert_int_equal(trust_signer(&got, &t, pub, T0, why, sizeof(why)), TRUST_OK);
	assert_ptr_equal(got, &c);
	assert_int_equal(trust_signer(&got, &t, pub, T0 + 86399, why, sizeof(why)), TRUST_OK);
	assert_int_equal(trust_signer(&got, &t, pub, T0 + 86400, why, sizeof(why)),
			 TRUST_NOT_VALID);
	assert_non_null(strstr(why, "not at the commit time"));
	assert_int_equal(trust_signer(&got, &t, pub, T0 - 1, why, sizeof(why)), TRUST_NOT_VALID);
	assert_int_equal(trust_signer(&got, &t, stranger, T0, why, sizeof(why)), TRUST_UNKNOWN_KEY);
	assert_null(got);
	/* revoked: whatever the time, the caller decides by the cut-offs */
	c.revoked_at = T0 + 100;
	assert_int_equal(trust_signer(&got, &t, pub, T0 + 99, why, sizeof(why)), TRUST_REVOKED);
	assert_ptr_equal(got, &c);
	assert_int_equal(trust_signer(&got, &t, pub, T0 + 100, why, sizeof(why)), TRUST_REVOKED);
	assert_non_null(strstr(why, "was revoked at"));
	/* still outside its validity: that verdict first */
	assert_int_equal(trust_signer(&got, &t, pub, T0 + 86400, why, sizeof(why)),
			 TRUST_NOT_VALID);
	trust_cert_release(&c);
	X509_free(x);
}

static void test_revoked_entry(void **state)
{
	struct trust_cutoff cut[2];
	struct trust_revoked_entry e = {.serial = "0abc", .office = "120112001", .reason = "lost"},
				   got;
	struct buf text = BUF_INIT;
	const char *bad[] = {
	    /* not canonical */
	    "{\"cutoffs\": {}, \"office\": \"120112001\", \"reason\": \"x\", \"revoked_at\": "
	    "\"2026-01-01T00:00:00Z\", \"serial\": \"0abc\"}\n",
	    /* a branch outside the office's scope */
	    "{\n  \"cutoffs\": {\n    \"120112002\": "
	    "\"0123456789012345678901234567890123456789\"\n  },\n  \"office\": \"120112001\",\n  "
	    "\"reason\": \"x\",\n  \"revoked_at\": \"2026-01-01T00:00:00Z\",\n  \"serial\": "
	    "\"0abc\"\n}\n",
	    /* a short commit id */
	    "{\n  \"cutoffs\": {\n    \"120112001\": \"0123\"\n  },\n  \"office\": "
	    "\"120112001\",\n  \"reason\": \"x\",\n  \"revoked_at\": "
	    "\"2026-01-01T00:00:00Z\",\n  \"serial\": \"0abc\"\n}\n",
	    /* a key too many */
	    "{\n  \"cutoffs\": {},\n  \"extra\": 1,\n  \"office\": \"120112001\",\n  "
	    "\"reason\": \"x\",\n  \"revoked_at\": \"2026-01-01T00:00:00Z\",\n  \"serial\": "
	    "\"0abc\"\n}\n",
	};
	size_t i;

	(void)state;
	memset(cut, 0, sizeof(cut));
	snprintf(cut[0].branch, sizeof(cut[0].branch), "120112001002");
	snprintf(cut[1].branch, sizeof(cut[1].branch), "120112001");
	cut[0].head.id[0] = 0xaa;
	cut[1].head.id[19] = 0x01;
	e.cutoffs = cut;
	e.ncutoffs = 2;
	e.revoked_at = T0;
	assert_int_equal(trust_revoked_encode(&text, &e), 0);
	assert_non_null(strstr(text.ptr, "\"revoked_at\": \"2026-01-01T00:00:00Z\""));
	assert_int_equal(trust_revoked_parse(&got, text.ptr, text.len, "entry"), 0);
	assert_string_equal(got.serial, "0abc");
	assert_string_equal(got.office, "120112001");
	assert_string_equal(got.reason, "lost");
	assert_int_equal(got.revoked_at, T0);
	assert_int_equal(got.ncutoffs, 2);
	assert_string_equal(got.cutoffs[0].branch, "120112001"); /* sorted */
	assert_true(git_oid_equal(&got.cutoffs[0].head, &cut[1].head));
	assert_true(git_oid_equal(&got.cutoffs[1].head, &cut[0].head));
	trust_revoked_release(&got);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(trust_revoked_parse(&got, bad[i], strlen(bad[i]), "entry"),
				 ERR_INVALID);
	buf_release(&text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ca, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_issue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crl, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_signer, setup, teardown),
	    cmocka_unit_test(test_revoked_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
