/*
 * test_sig: office keys and SSHSIG signatures (storage/sig.c).
 *
 * Round trips, tampering, hostile armor and blobs (every prefix, every flipped character,
 * hand-crafted blobs with one field wrong), key files and their modes, and interop with
 * the real ssh-keygen (OpenSSH) in both directions. Files live in a mkdtemp directory
 * under /tmp that each test removes.
 */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "buf.h"
#include "err.h"
#include "sig.h"

#define PAYLOAD "tree 4b825dc642cb6eb9a060e54bf8d69288fbbad904\nauthor a <a@b> 0 +0000\n\nmsg\n"

/* ---- helpers ---- */

static char *tmpdir_new(void)
{
	char tmpl[] = "/tmp/test_sig.XXXXXX";
	char *dir = mkdtemp(tmpl);

	assert_non_null(dir);
	return strdup(dir);
}

static void tmpdir_free(char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = calloc(1, 65536);
	size_t n;

	assert_non_null(f);
	assert_non_null(data);
	n = fread(data, 1, 65535, f);
	fclose(f);
	if (len)
		*len = n;
	return data;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static struct sig_key *new_key(void)
{
	struct sig_key *k = NULL;

	assert_int_equal(sig_key_generate(&k), 0);
	assert_non_null(k);
	return k;
}

static void sign(struct buf *out, struct sig_key *k, const char *payload)
{
	assert_int_equal(sig_sign(out, k, payload, strlen(payload)), 0);
}

static int verify(unsigned char signer[SIG_PUBKEY_LEN], const char *armored, size_t len,
		  const char *payload)
{
	return sig_verify(signer, armored, len, payload, strlen(payload));
}

/* ---- a test-side SSHSIG builder, so each field can be made wrong on purpose ---- */

struct craft {
	const char *magic;   /* "SSHSIG" */
	uint32_t version;    /* 1 */
	const char *keytype; /* "ssh-ed25519" */
	size_t keylen;	     /* 32 */
	const char *ns;	     /* "git" */
	const char *reserved;
	const char *hash;    /* name in the blob */
	const char *md;	     /* digest used; NULL: raw payload (no hash) */
	const char *sigtype; /* "ssh-ed25519" */
	const char *trailer; /* bytes appended to the blob */
};

static const struct craft good = {"SSHSIG", 1,	      "ssh-ed25519", 32, "git", "",
				  "sha512", "SHA512", "ssh-ed25519", ""};

static void put_u32(struct buf *b, uint32_t v)
{
	unsigned char be[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v};

	assert_int_equal(buf_add(b, be, 4), 0);
}

static void put_str(struct buf *b, const void *p, size_t n)
{
	put_u32(b, (uint32_t)n);
	assert_int_equal(buf_add(b, p, n), 0);
}

static void armor(struct buf *out, const unsigned char *blob, size_t n)
{
	char *b64 = calloc(1, 4 * (n / 3 + 2));
	int len = EVP_EncodeBlock((unsigned char *)b64, blob, (int)n);
	int i;

	assert_int_equal(buf_adds(out, "-----BEGIN SSH SIGNATURE-----\n"), 0);
	for (i = 0; i < len; i += 70) {
		assert_int_equal(buf_add(out, b64 + i, (size_t)(len - i < 70 ? len - i : 70)), 0);
		assert_int_equal(buf_addch(out, '\n'), 0);
	}
	assert_int_equal(buf_adds(out, "-----END SSH SIGNATURE-----"), 0);
	free(b64);
}

/* Decode our armor back into the blob (test inputs only: well-formed). */
static size_t dearmor(unsigned char *blob, const char *armored)
{
	char b64[4096];
	size_t n = 0, pad = 0;
	const char *p = strchr(armored, '\n') + 1, *end = strstr(armored, "-----END");
	int len;

	for (; p < end; p++)
		if (*p != '\n')
			b64[n++] = *p;
	b64[n] = '\0';
	if (n && b64[n - 1] == '=')
		pad = b64[n - 2] == '=' ? 2 : 1;
	len = EVP_DecodeBlock(blob, (unsigned char *)b64, (int)n);
	assert_true(len >= 0);
	return (size_t)len - pad;
}

static void craft(struct buf *out, struct sig_key *k, const struct craft *c, const char *payload)
{
	struct buf blob = BUF_INIT, tbs = BUF_INIT, field = BUF_INIT;
	unsigned char pub[SIG_PUBKEY_LEN + 8] = {0}, md[64], sig[64];
	unsigned int md_len = 0;
	size_t sig_len = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	sig_key_public(k, pub);
	assert_int_equal(buf_adds(&tbs, "SSHSIG"), 0);
	put_str(&tbs, c->ns, strlen(c->ns));
	put_str(&tbs, "", 0);
	put_str(&tbs, c->hash, strlen(c->hash));
	if (c->md) {
		assert_int_equal(EVP_Digest(payload, strlen(payload), md, &md_len,
					    EVP_get_digestbyname(c->md), NULL),
				 1);
		put_str(&tbs, md, md_len);
	} else {
		assert_int_equal(buf_adds(&tbs, payload), 0);
	}
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, sig_key_pkey(k)), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)tbs.ptr, tbs.len), 1);

	assert_int_equal(buf_adds(&blob, c->magic), 0);
	put_u32(&blob, c->version);
	put_str(&field, c->keytype, strlen(c->keytype));
	put_str(&field, pub, c->keylen);
	put_str(&blob, field.ptr, field.len);
	put_str(&blob, c->ns, strlen(c->ns));
	put_str(&blob, c->reserved, strlen(c->reserved));
	put_str(&blob, c->hash, strlen(c->hash));
	buf_reset(&field);
	put_str(&field, c->sigtype, strlen(c->sigtype));
	put_str(&field, sig, sig_len);
	put_str(&blob, field.ptr, field.len);
	assert_int_equal(buf_adds(&blob, c->trailer), 0);
	armor(out, (unsigned char *)blob.ptr, blob.len);

	EVP_MD_CTX_free(ctx);
	buf_release(&blob);
	buf_release(&tbs);
	buf_release(&field);
}

/* ---- signatures ---- */

static void test_sign_verify_roundtrip(void **state)
{
	struct sig_key *k = new_key();
	struct buf s = BUF_INIT;
	unsigned char pub[SIG_PUBKEY_LEN], signer[SIG_PUBKEY_LEN];

	sig_key_public(k, pub);
	sign(&s, k, PAYLOAD);
	assert_int_equal(verify(signer, s.ptr, s.len, PAYLOAD), 0);
	assert_memory_equal(signer, pub, SIG_PUBKEY_LEN);

	/* empty payload, and a NULL payload of length 0 */
	buf_reset(&s);
	assert_int_equal(sig_sign(&s, k, NULL, 0), 0);
	assert_int_equal(sig_verify(signer, s.ptr, s.len, "", 0), 0);
	assert_memory_equal(signer, pub, SIG_PUBKEY_LEN);

	buf_release(&s);
	sig_key_free(k);
}

static void test_sign_appends_and_armor_shape(void **state)
{
	struct sig_key *k = new_key();
	struct buf s = BUF_INIT;
	unsigned char signer[SIG_PUBKEY_LEN];
	const char *p, *nl;

	assert_int_equal(buf_adds(&s, "prefix"), 0);
	sign(&s, k, PAYLOAD);
	assert_memory_equal(s.ptr, "prefix-----BEGIN SSH SIGNATURE-----\n", 36);
	p = s.ptr + 36;
	/* blob is 6+4+55+7+4+10+87 = 173 bytes -> 232 base64 chars: 70, 70, 70, 22 */
	while ((nl = strchr(p, '\n'))) {
		assert_true(nl - p == 70 || strncmp(nl + 1, "-----END", 8) == 0);
		assert_true(nl - p <= 70);
		p = nl + 1;
	}
	assert_string_equal(p, "-----END SSH SIGNATURE-----");
	assert_int_equal(verify(signer, s.ptr + 6, s.len - 6, PAYLOAD), 0);
	buf_release(&s);
	sig_key_free(k);
}

static void test_tampered_payload(void **state)
{
	struct sig_key *k = new_key();
	struct buf s = BUF_INIT;
	unsigned char signer[SIG_PUBKEY_LEN];

	sign(&s, k, PAYLOAD);
	assert_int_equal(verify(signer, s.ptr, s.len, PAYLOAD "x"), ERR_VERIFY);
	assert_string_equal(err_msg(), "signature does not match the signed data");
	assert_int_equal(verify(signer, s.ptr, s.len, ""), ERR_VERIFY);
	buf_release(&s);
	sig_key_free(k);
}

static void test_wrong_signer_detected(void **state)
{
	struct sig_key *a = new_key(), *b = new_key();
	struct buf s = BUF_INIT;
	unsigned char pub_a[SIG_PUBKEY_LEN], pub_b[SIG_PUBKEY_LEN], signer[SIG_PUBKEY_LEN];

	sig_key_public(a, pub_a);
	sig_key_public(b, pub_b);
	sign(&s, a, PAYLOAD);
	assert_int_equal(verify(signer, s.ptr, s.len, PAYLOAD), 0);
	assert_memory_equal(signer, pub_a, SIG_PUBKEY_LEN);
	assert_memory_not_equal(signer, pub_b, SIG_PUBKEY_LEN);
	buf_release(&s);
	sig_key_free(a);
	sig_key_free(b);
}

/* Every base64 character replaced by another, one at a time: never accepted. */
static void test_flipped_base64(void **state)
{
	struct sig_key *k = new_key();
	struct buf s = BUF_INIT;
	unsigned char signer[SIG_PUBKEY_LEN];
	size_t i, start, end, flips = 0;
	char *copy;
	int rc;

	sign(&s, k, PAYLOAD);
	start = strlen("-----BEGIN SSH SIGNATURE-----\n");
	end = (size_t)(strstr(s.ptr, "-----END") - s.ptr);
	copy = malloc(s.len);
	for (i = start; i < end; i++) {
		if (s.ptr[i] == '\n' || s.ptr[i] == '=')
			continue;
		memcpy(copy, s.ptr, s.len);
		copy[i] = copy[i] == 'A' ? 'B' : 'A';
		err_clear();
		rc = verify(signer, copy, s.len, PAYLOAD);
		assert_true(rc == ERR_INVALID || rc == ERR_VERIFY);
		assert_string_not_equal(err_msg(), "");
		flips++;
	}
	assert_true(flips > 200);
	free(copy);
	buf_release(&s);
	sig_key_free(k);
}

/* Every proper prefix of a signature is malformed armor (ERR_INVALID), never a crash. */
static void test_truncated_armor(void **state)
{
	struct sig_key *k = new_key();
	struct buf s = BUF_INIT;
	unsigned char signer[SIG_PUBKEY_LEN];
	size_t n;
	char *copy;

	sign(&s, k, PAYLOAD);
	for (n = 0; n < s.len; n++) {
		copy = malloc(n ? n : 1); /* exact size: ASan catches any overread */
		memcpy(copy, s.ptr, n);
		assert_int_equal(verify(signer, copy, n, PAYLOAD), ERR_INVALID);
		free(copy);
	}
	buf_release(&s);
	sig_key_free(k);
}

static void expect_invalid(const char *armored, size_t len, const char *msg_part)
{
	unsigned char signer[SIG_PUBKEY_LEN];
	char *copy = malloc(len ? len : 1);

	memcpy(copy, armored, len);
	assert_int_equal(sig_verify(signer, copy, len, PAYLOAD, strlen(PAYLOAD)), ERR_INVALID);
	if (!strstr(err_msg(), msg_part))
		fail_msg("message '%s' does not mention '%s'", err_msg(), msg_part);
	free(copy);
}

static void expect_str(const char *armored, const char *msg_part)
{
	expect_invalid(armored, strlen(armored), msg_part);
}

static void test_malformed_armor(void **state)
{
	struct sig_key *k = new_key();
	struct buf s = BUF_INIT, t = BUF_INIT;
	unsigned char signer[SIG_PUBKEY_LEN];
	const char *end;
	size_t i;

	sign(&s, k, PAYLOAD);
	end = strstr(s.ptr, "-----END");

	/* a trailing newline, and CRLF line ends, are fine */
	assert_int_equal(buf_printf(&t, "%s\n", s.ptr), 0);
	assert_int_equal(verify(signer, t.ptr, t.len, PAYLOAD), 0);
	buf_reset(&t);
	for (i = 0; i < s.len; i++) {
		if (s.ptr[i] == '\n')
			assert_int_equal(buf_addch(&t, '\r'), 0);
		assert_int_equal(buf_addch(&t, s.ptr[i]), 0);
	}
	assert_int_equal(buf_adds(&t, "\r\n"), 0);
	assert_int_equal(verify(signer, t.ptr, t.len, PAYLOAD), 0);

	/* missing END line */
	expect_invalid(s.ptr, (size_t)(end - s.ptr), "missing end line");
	/* something after END */
	buf_reset(&t);
	assert_int_equal(buf_printf(&t, "%s\n\n", s.ptr), 0);
	expect_invalid(t.ptr, t.len, "after the end line");
	buf_reset(&t);
	assert_int_equal(buf_printf(&t, "%sX", s.ptr), 0);
	expect_invalid(t.ptr, t.len, "armor");
	/* text before BEGIN, a wrong BEGIN */
	buf_reset(&t);
	assert_int_equal(buf_printf(&t, " %s", s.ptr), 0);
	expect_invalid(t.ptr, t.len, "missing begin line");
	expect_str("-----BEGIN PGP SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----",
		   "missing begin line");
	/* an empty line, a bad character, bad base64 inside */
	buf_reset(&t);
	assert_int_equal(buf_add(&t, s.ptr, 30), 0);
	assert_int_equal(buf_adds(&t, "\n"), 0);
	assert_int_equal(buf_adds(&t, s.ptr + 30), 0);
	expect_invalid(t.ptr, t.len, "empty line");
	buf_reset(&t);
	assert_int_equal(buf_adds(&t, s.ptr), 0);
	t.ptr[40] = '*';
	expect_invalid(t.ptr, t.len, "bad character");
	t.ptr[40] = '=';
	expect_invalid(t.ptr, t.len, "bad base64");
	expect_str("-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----", "no signature");
	expect_str("-----BEGIN SSH SIGNATURE-----\nAAA\n-----END SSH SIGNATURE-----", "bad base64");
	expect_str("-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----",
		   "signature magic");
	/* garbage */
	expect_invalid("", 0, "begin line");
	expect_invalid("\0\0\0\0\0", 5, "begin line");
	expect_str("hello world", "begin line");
	buf_release(&s);
	buf_release(&t);
	sig_key_free(k);
}

/* A blob with one field wrong, built and validly signed by the test. */
static void expect_craft(struct sig_key *k, const struct craft *c, int code, const char *msg_part)
{
	struct buf s = BUF_INIT;
	unsigned char signer[SIG_PUBKEY_LEN];

	craft(&s, k, c, PAYLOAD);
	assert_int_equal(verify(signer, s.ptr, s.len, PAYLOAD), code);
	if (msg_part && !strstr(err_msg(), msg_part))
		fail_msg("message '%s' does not mention '%s'", err_msg(), msg_part);
	buf_release(&s);
}

static void test_crafted_blobs(void **state)
{
	struct sig_key *k = new_key();
	struct craft c;

	expect_craft(k, &good, 0, NULL);
	c = good, c.hash = "sha256", c.md = "SHA256";
	expect_craft(k, &c, 0, NULL);
	c = good, c.ns = "file";
	expect_craft(k, &c, ERR_INVALID, "signature namespace 'file' is not 'git'");
	c = good, c.ns = "";
	expect_craft(k, &c, ERR_INVALID, "namespace '' is not 'git'");
	c = good, c.magic = "SSHSIH";
	expect_craft(k, &c, ERR_INVALID, "signature magic");
	c = good, c.version = 2;
	expect_craft(k, &c, ERR_INVALID, "signature version 2 is not 1");
	c = good, c.version = 0;
	expect_craft(k, &c, ERR_INVALID, "signature version");
	c = good, c.keytype = "ssh-rsa";
	expect_craft(k, &c, ERR_INVALID, "signature key type 'ssh-rsa' is not ssh-ed25519");
	c = good, c.keytype = "ssh-ed25519-cert-v01@openssh.com";
	expect_craft(k, &c, ERR_INVALID, "signature key type");
	c = good, c.keylen = 31;
	expect_craft(k, &c, ERR_INVALID, "signature key length 31 is not 32");
	c = good, c.keylen = 33;
	expect_craft(k, &c, ERR_INVALID, "signature key length 33 is not 32");
	c = good, c.reserved = "x";
	expect_craft(k, &c, ERR_INVALID, "reserved");
	c = good, c.hash = "sha1", c.md = "SHA1";
	expect_craft(k, &c, ERR_INVALID, "hash algorithm 'sha1' is not sha512 or sha256");
	c = good, c.md = NULL; /* raw payload instead of its hash */
	expect_craft(k, &c, ERR_VERIFY, "does not match");
	c = good, c.hash = "sha256", c.md = "SHA512"; /* name and hash disagree */
	expect_craft(k, &c, ERR_VERIFY, NULL);
	c = good, c.sigtype = "ssh-rsa";
	expect_craft(k, &c, ERR_INVALID, "signature algorithm 'ssh-rsa'");
	c = good, c.sigtype = "rsa-sha2-512";
	expect_craft(k, &c, ERR_INVALID, "signature algorithm");
	c = good, c.trailer = "junk";
	expect_craft(k, &c, ERR_INVALID, "4 trailing bytes");
	c = good, c.ns = "git\x01'\xff";
	expect_craft(k, &c, ERR_INVALID,
		     "namespace 'git?"
		     "?"
		     "?' is not 'git'");
	sig_key_free(k);
}

/* Signature field internals and huge lengths, patched into a good blob. */
static void test_patched_lengths(void **state)
{
	struct sig_key *k = new_key();
	struct buf s = BUF_INIT, t = BUF_INIT;
	unsigned char blob[1024], copy[1024], signer[SIG_PUBKEY_LEN];
	size_t n, off;

	sign(&s, k, PAYLOAD);
	n = dearmor(blob, s.ptr);
	assert_int_equal(n, 173);
	/* every 4-byte length field (and everything else) set to 0xffffffff or cut short */
	for (off = 0; off + 4 <= n; off++) {
		memcpy(copy, blob, n);
		memset(copy + off, 0xff, 4);
		buf_reset(&t);
		armor(&t, copy, n);
		assert_true(verify(signer, t.ptr, t.len, PAYLOAD) < 0);
	}
	for (off = 0; off < n; off++) {
		buf_reset(&t);
		armor(&t, blob, off);
		assert_int_equal(verify(signer, t.ptr, t.len, PAYLOAD), ERR_INVALID);
	}
	/* signature field with trailing bytes: outer length +1, inner blob + 1 byte */
	memcpy(copy, blob, n);
	copy[n] = 0;
	copy[n - 4 - 11 - 4 - 64 - 1] += 1; /* low byte of the outer signature string length */
	buf_reset(&t);
	armor(&t, copy, n + 1);
	assert_int_equal(verify(signer, t.ptr, t.len, PAYLOAD), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "signature: 1 trailing bytes"));
	buf_release(&s);
	buf_release(&t);
	sig_key_free(k);
}

/* Random garbage between valid armor lines, and random armor: no crash, no success. */
static void test_garbage(void **state)
{
	unsigned char blob[512], signer[SIG_PUBKEY_LEN];
	struct buf t = BUF_INIT;
	char raw[300];
	int i, j;

	srand(1);
	for (i = 0; i < 2000; i++) {
		size_t n = (size_t)(rand() % (int)sizeof(blob));

		for (j = 0; j < (int)n; j++)
			blob[j] = (unsigned char)rand();
		if (n >= 10 && i % 2)
			memcpy(blob, "SSHSIG\0\0\0\1", 10);
		buf_reset(&t);
		armor(&t, blob, n);
		assert_true(verify(signer, t.ptr, t.len, PAYLOAD) < 0);
		n = (size_t)(rand() % (int)sizeof(raw));
		for (j = 0; j < (int)n; j++)
			raw[j] = (char)rand();
		assert_int_equal(sig_verify(signer, raw, n, PAYLOAD, 5), ERR_INVALID);
	}
	buf_release(&t);
}

/* ---- key files ---- */

static void test_key_save_load(void **state)
{
	char *dir = tmpdir_new(), path[512];
	struct sig_key *k = new_key(), *l = NULL;
	unsigned char a[SIG_PUBKEY_LEN], b[SIG_PUBKEY_LEN];
	struct buf s = BUF_INIT;
	struct stat st;
	char *pem, cwd[4096];

	snprintf(path, sizeof(path), "%s/office.key", dir);
	assert_int_equal(sig_key_save(k, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	pem = read_file(path, NULL);
	assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----\n"));
	free(pem);
	assert_int_equal(run("ls -A '%s' | grep -q tmp", dir), 1); /* no temp file left */

	assert_int_equal(sig_key_load(&l, path), 0);
	sig_key_public(k, a);
	sig_key_public(l, b);
	assert_memory_equal(a, b, SIG_PUBKEY_LEN);
	assert_non_null(sig_key_pkey(l));
	assert_true(EVP_PKEY_is_a(sig_key_pkey(l), "ED25519"));

	/* the loaded key signs, and the original key's public half verifies it */
	sign(&s, l, PAYLOAD);
	assert_int_equal(verify(b, s.ptr, s.len, PAYLOAD), 0);
	assert_memory_equal(a, b, SIG_PUBKEY_LEN);

	/* a key file in the current directory (no slash in the path) */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(sig_key_save(k, "second.key"), 0);
	assert_int_equal(chdir(cwd), 0);

	buf_release(&s);
	sig_key_free(k);
	sig_key_free(l);
	sig_key_free(NULL);
	tmpdir_free(dir);
}

static void test_key_save_never_overwrites(void **state)
{
	char *dir = tmpdir_new(), path[512];
	struct sig_key *k = new_key(), *k2 = new_key(), *l = NULL;
	unsigned char a[SIG_PUBKEY_LEN], b[SIG_PUBKEY_LEN];

	snprintf(path, sizeof(path), "%s/office.key", dir);
	assert_int_equal(sig_key_save(k, path), 0);
	assert_int_equal(sig_key_save(k2, path), ERR_EXISTS);
	assert_non_null(strstr(err_msg(), "already exists"));
	assert_int_equal(sig_key_load(&l, path), 0);
	sig_key_public(k, a);
	sig_key_public(l, b);
	assert_memory_equal(a, b, SIG_PUBKEY_LEN);
	assert_int_equal(run("test $(ls -A '%s' | wc -l) -eq 1", dir), 0);
	/* a directory that does not exist */
	snprintf(path, sizeof(path), "%s/nope/office.key", dir);
	assert_int_equal(sig_key_save(k, path), ERR_IO);
	sig_key_free(k);
	sig_key_free(k2);
	sig_key_free(l);
	tmpdir_free(dir);
}

static void test_key_load_errors(void **state)
{
	char *dir = tmpdir_new(), path[512], want[700];
	struct sig_key *k = new_key(), *l = NULL;
	EVP_PKEY *ec;
	FILE *f;

	/* readable by the group: refused, naming the file and its mode */
	snprintf(path, sizeof(path), "%s/office.key", dir);
	assert_int_equal(sig_key_save(k, path), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(sig_key_load(&l, path), ERR_DENIED);
	assert_null(l);
	snprintf(want, sizeof(want),
		 "key file '%s' has mode 0644: it must be readable by its owner only (chmod 600)",
		 path);
	assert_string_equal(err_msg(), want);
	assert_int_equal(chmod(path, 0602), 0);
	assert_int_equal(sig_key_load(&l, path), ERR_DENIED);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(sig_key_load(&l, path), 0);
	sig_key_free(l);
	l = NULL;

	/* missing */
	snprintf(path, sizeof(path), "%s/missing.key", dir);
	assert_int_equal(sig_key_load(&l, path), ERR_NOTFOUND);
	assert_null(l);

	/* not a key, empty, an SSH public key, a directory */
	snprintf(path, sizeof(path), "%s/text.key", dir);
	write_file(path, "hello\n", 6, 0600);
	assert_int_equal(sig_key_load(&l, path), ERR_INVALID);
	snprintf(path, sizeof(path), "%s/empty.key", dir);
	write_file(path, "", 0, 0600);
	assert_int_equal(sig_key_load(&l, path), ERR_INVALID);
	snprintf(path, sizeof(path), "%s/truncated.key", dir);
	write_file(path, "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n", 51, 0600);
	assert_int_equal(sig_key_load(&l, path), ERR_INVALID);
	assert_int_equal(sig_key_load(&l, dir), ERR_INVALID);
	assert_null(l);

	/* a PEM private key of another type */
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(ec);
	snprintf(path, sizeof(path), "%s/ec.key", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	EVP_PKEY_free(ec);
	assert_int_equal(sig_key_load(&l, path), ERR_INVALID);
	assert_non_null(strstr(err_msg(), "ed25519"));

	/* an encrypted key: refused without prompting */
	snprintf(path, sizeof(path), "%s/enc.key", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(PEM_write_PrivateKey(f, sig_key_pkey(k), EVP_aes_256_cbc(), NULL, 0, NULL,
					      (void *)"secret"),
			 1);
	fclose(f);
	assert_int_equal(sig_key_load(&l, path), ERR_INVALID);
	assert_null(l);

	sig_key_free(k);
	tmpdir_free(dir);
}

/* ---- public keys ---- */

static void test_pubkey_format_parse(void **state)
{
	struct sig_key *k = new_key();
	unsigned char pub[SIG_PUBKEY_LEN], back[SIG_PUBKEY_LEN];
	struct buf s = BUF_INIT, t = BUF_INIT;

	sig_key_public(k, pub);
	assert_int_equal(buf_adds(&s, "x:"), 0);
	assert_int_equal(sig_pubkey_format(&s, pub), 0);
	assert_memory_equal(s.ptr, "x:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 39);
	assert_int_equal(s.len, 2 + 12 + 68);
	assert_int_equal(sig_pubkey_parse(back, s.ptr + 2), 0);
	assert_memory_equal(back, pub, SIG_PUBKEY_LEN);

	assert_int_equal(buf_printf(&t, "%s office 1101\n", s.ptr + 2), 0);
	assert_int_equal(sig_pubkey_parse(back, t.ptr), 0);
	assert_memory_equal(back, pub, SIG_PUBKEY_LEN);
	buf_reset(&t);
	assert_int_equal(buf_printf(&t, "%s\r\n", s.ptr + 2), 0);
	assert_int_equal(sig_pubkey_parse(back, t.ptr), 0);

	assert_int_equal(sig_pubkey_parse(back, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ"),
			 ERR_INVALID);
	assert_string_equal(err_msg(), "public key type 'ssh-rsa' is not ssh-ed25519");
	assert_int_equal(sig_pubkey_parse(back, ""), ERR_INVALID);
	assert_int_equal(sig_pubkey_parse(back, "ssh-ed25519"), ERR_INVALID);
	assert_int_equal(sig_pubkey_parse(back, "ssh-ed25519 "), ERR_INVALID);
	assert_int_equal(sig_pubkey_parse(back, "ssh-ed25519x AAAA"), ERR_INVALID);
	assert_int_equal(sig_pubkey_parse(back, "ssh-ed25519 !!!!"), ERR_INVALID);
	assert_int_equal(sig_pubkey_parse(back, "ssh-ed25519 AAAA"), ERR_INVALID);
	/* outer type says ed25519, inner blob is an RSA key */
	assert_int_equal(
	    sig_pubkey_parse(
		back, "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAAAFAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
	    ERR_INVALID);
	assert_string_equal(err_msg(), "public key type 'ssh-rsa' is not ssh-ed25519");
	/* a 31-byte key, and a 32-byte key with a trailing byte */
	assert_int_equal(
	    sig_pubkey_parse(
		back,
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAHwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
	    ERR_INVALID);
	assert_string_equal(err_msg(), "public key length 31 is not 32");
	assert_int_equal(
	    sig_pubkey_parse(
		back, "ssh-ed25519 "
		      "AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAeA=="),
	    ERR_INVALID);
	assert_string_equal(err_msg(), "public key: 1 trailing bytes");
	/* one base64 character short */
	buf_reset(&t);
	assert_int_equal(buf_add(&t, s.ptr + 2, s.len - 3), 0);
	assert_int_equal(sig_pubkey_parse(back, t.ptr), ERR_INVALID);

	buf_release(&s);
	buf_release(&t);
	sig_key_free(k);
}

/* ---- interop with OpenSSH's ssh-keygen ---- */

static void test_fingerprint_matches_ssh_keygen(void **state)
{
	char *dir = tmpdir_new(), path[512], cmd[700], line[256];
	struct sig_key *k = new_key();
	unsigned char pub[SIG_PUBKEY_LEN];
	char fp[SIG_FINGERPRINT_LEN];
	struct buf s = BUF_INIT;
	FILE *p;
	int i;

	for (i = 0; i < 5; i++) {
		sig_key_public(k, pub);
		sig_fingerprint(fp, pub);
		assert_int_equal(strlen(fp), SIG_FINGERPRINT_LEN - 1);
		assert_memory_equal(fp, "SHA256:", 7);
		buf_reset(&s);
		assert_int_equal(sig_pubkey_format(&s, pub), 0);
		assert_int_equal(buf_adds(&s, " test\n"), 0);
		snprintf(path, sizeof(path), "%s/key%d.pub", dir, i);
		write_file(path, s.ptr, s.len, 0644);
		snprintf(cmd, sizeof(cmd), "ssh-keygen -lf '%s'", path);
		p = popen(cmd, "r");
		assert_non_null(p);
		assert_non_null(fgets(line, sizeof(line), p));
		assert_int_equal(pclose(p), 0);
		/* "256 SHA256:… test (ED25519)" */
		assert_memory_equal(line, "256 ", 4);
		assert_memory_equal(line + 4, fp, SIG_FINGERPRINT_LEN - 1);
		assert_int_equal(line[4 + SIG_FINGERPRINT_LEN - 1], ' ');
		sig_key_free(k);
		k = new_key();
	}
	buf_release(&s);
	sig_key_free(k);
	tmpdir_free(dir);
}

/* Our signature verifies with ssh-keygen -Y verify (what git verify-commit runs). */
static void test_interop_ssh_keygen_verifies_ours(void **state)
{
	char *dir = tmpdir_new(), path[512];
	struct sig_key *k = new_key();
	unsigned char pub[SIG_PUBKEY_LEN];
	struct buf s = BUF_INIT, t = BUF_INIT;
	const char *payloads[] = {PAYLOAD, "", "x"};
	size_t i;

	sig_key_public(k, pub);
	assert_int_equal(buf_adds(&t, "office "), 0);
	assert_int_equal(sig_pubkey_format(&t, pub), 0);
	assert_int_equal(buf_addch(&t, '\n'), 0);
	snprintf(path, sizeof(path), "%s/allowed_signers", dir);
	write_file(path, t.ptr, t.len, 0644);

	for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		snprintf(path, sizeof(path), "%s/payload", dir);
		write_file(path, payloads[i], strlen(payloads[i]), 0644);
		buf_reset(&s);
		sign(&s, k, payloads[i]);
		assert_int_equal(buf_addch(&s, '\n'), 0);
		snprintf(path, sizeof(path), "%s/sigfile", dir);
		write_file(path, s.ptr, s.len, 0644);
		assert_int_equal(run("cd '%s' && ssh-keygen -Y verify -f allowed_signers -I office "
				     "-n git -s sigfile < payload >/dev/null 2>&1",
				     dir),
				 0);
		/* and it fails for another payload or another namespace */
		assert_int_equal(run("cd '%s' && echo tampered | ssh-keygen -Y verify -f "
				     "allowed_signers -I office -n git -s sigfile >/dev/null 2>&1",
				     dir) != 0,
				 1);
		assert_int_equal(run("cd '%s' && ssh-keygen -Y verify -f allowed_signers -I office "
				     "-n file -s sigfile < payload >/dev/null 2>&1",
				     dir) != 0,
				 1);
	}
	buf_release(&s);
	buf_release(&t);
	sig_key_free(k);
	tmpdir_free(dir);
}

/* A signature made by ssh-keygen -Y sign verifies here and names the key in key.pub. */
static void test_interop_we_verify_ssh_keygen(void **state)
{
	char *dir = tmpdir_new(), path[512];
	unsigned char pub[SIG_PUBKEY_LEN], signer[SIG_PUBKEY_LEN];
	char *publine, *sig;
	size_t sig_len;

	assert_int_equal(run("cd '%s' && ssh-keygen -q -t ed25519 -N '' -C office -f key "
			     ">/dev/null 2>&1",
			     dir),
			 0);
	snprintf(path, sizeof(path), "%s/payload", dir);
	write_file(path, PAYLOAD, strlen(PAYLOAD), 0644);
	assert_int_equal(
	    run("cd '%s' && ssh-keygen -Y sign -n git -f key payload >/dev/null 2>&1", dir), 0);

	snprintf(path, sizeof(path), "%s/key.pub", dir);
	publine = read_file(path, NULL);
	assert_int_equal(sig_pubkey_parse(pub, publine), 0);
	snprintf(path, sizeof(path), "%s/payload.sig", dir);
	sig = read_file(path, &sig_len);
	assert_int_equal(sig_verify(signer, sig, sig_len, PAYLOAD, strlen(PAYLOAD)), 0);
	assert_memory_equal(signer, pub, SIG_PUBKEY_LEN);
	assert_int_equal(verify(signer, sig, sig_len, PAYLOAD "x"), ERR_VERIFY);
	free(sig);

	/* namespace "file": well-formed, but not a git signature */
	assert_int_equal(run("cd '%s' && rm payload.sig && ssh-keygen -Y sign -n file -f key "
			     "payload >/dev/null 2>&1",
			     dir),
			 0);
	sig = read_file(path, &sig_len);
	assert_int_equal(sig_verify(signer, sig, sig_len, PAYLOAD, strlen(PAYLOAD)), ERR_INVALID);
	assert_string_equal(err_msg(), "signature namespace 'file' is not 'git'");
	free(sig);

	/* an RSA key's signature: wrong key type */
	assert_int_equal(run("cd '%s' && rm payload.sig && ssh-keygen -q -t rsa -b 1024 -N '' "
			     "-f rsa >/dev/null 2>&1 && ssh-keygen -Y sign -n git -f rsa payload "
			     ">/dev/null 2>&1",
			     dir),
			 0);
	sig = read_file(path, &sig_len);
	assert_int_equal(sig_verify(signer, sig, sig_len, PAYLOAD, strlen(PAYLOAD)), ERR_INVALID);
	assert_string_equal(err_msg(), "signature key type 'ssh-rsa' is not ssh-ed25519");
	free(sig);

	free(publine);
	tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_verify_roundtrip),
	    cmocka_unit_test(test_sign_appends_and_armor_shape),
	    cmocka_unit_test(test_tampered_payload),
	    cmocka_unit_test(test_wrong_signer_detected),
	    cmocka_unit_test(test_flipped_base64),
	    cmocka_unit_test(test_truncated_armor),
	    cmocka_unit_test(test_malformed_armor),
	    cmocka_unit_test(test_crafted_blobs),
	    cmocka_unit_test(test_patched_lengths),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_key_save_load),
	    cmocka_unit_test(test_key_save_never_overwrites),
	    cmocka_unit_test(test_key_load_errors),
	    cmocka_unit_test(test_pubkey_format_parse),
	    cmocka_unit_test(test_fingerprint_matches_ssh_keygen),
	    cmocka_unit_test(test_interop_ssh_keygen_verifies_ours),
	    cmocka_unit_test(test_interop_we_verify_ssh_keygen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
