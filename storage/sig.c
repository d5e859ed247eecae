/*
 * sig: office keys and git's SSH signature format (SSHSIG).
 *
 * An office key is an Ed25519 OpenSSL EVP_PKEY kept in a PEM PKCS#8 file of mode 0600;
 * this file owns loading, saving and generating it. Commits are signed with it in the
 * SSHSIG format that `git verify-commit` (gpg.format=ssh) hands to `ssh-keygen -Y verify`:
 * an SSH wire-encoded blob, base64 in 70-column lines between BEGIN/END armor lines.
 * Verification parses hostile input: every length is checked against what is left, the
 * armor and blob are parsed strictly, and the message names the part that is wrong.
 * The public key text format ("ssh-ed25519 AAAA…") and its SHA256 fingerprint live here
 * too, since they share the wire encoding.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "buf.h"
#include "err.h"
#include "sig.h"

#define SIG_KEY_TYPE	 "ssh-ed25519"
#define SIG_NAMESPACE	 "git"
#define SIG_HASH	 "sha512"
#define SIG_MAGIC	 "SSHSIG"
#define SIG_MAGIC_LEN	 6
#define SIG_VERSION	 1
#define SIG_ED25519_LEN	 64
#define SIG_ARMOR_BEGIN	 "-----BEGIN SSH SIGNATURE-----"
#define SIG_ARMOR_END	 "-----END SSH SIGNATURE-----"
#define SIG_ARMOR_COLS	 70
#define SIG_KEY_FILE_MAX (64 * 1024) /* a PEM Ed25519 key is ~120 bytes */

struct sig_key {
	EVP_PKEY *pkey;			   /* the Ed25519 private key (owned) */
	unsigned char pub[SIG_PUBKEY_LEN]; /* its raw public half */
};

/* A cursor over SSH wire-encoded bytes; never reads past p + len. */
struct reader {
	const unsigned char *p; /* next unread byte */
	size_t len;		/* bytes left */
};

/* ---- base64 ---- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Append base64 of in to out; with pad, '='-padded to a multiple of 4. */
static int b64_encode(struct buf *out, const unsigned char *in, size_t n, int pad)
{
	char q[4];
	size_t i;
	int rc;

	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t k = n - i < 3 ? n - i : 3;

		if (k > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (k > 2)
			v |= in[i + 2];
		q[0] = b64_chars[(v >> 18) & 63];
		q[1] = b64_chars[(v >> 12) & 63];
		q[2] = k > 1 ? b64_chars[(v >> 6) & 63] : '=';
		q[3] = k > 2 ? b64_chars[v & 63] : '=';
		if ((rc = buf_add(out, q, pad ? 4 : k + 1)) < 0)
			return rc;
	}
	return 0;
}

/* The 6-bit value of a base64 character, or -1. */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode canonical padded base64 (no whitespace) and append it to out. Returns 0, 1 when
 * the text is not canonical base64 (bad character, length, padding or trailing bits), or
 * a negative code from buf (message set).
 */
static int b64_decode(struct buf *out, const char *in, size_t n)
{
	unsigned char b[3];
	size_t i, npad = 0;
	int rc, j;

	if (n == 0 || n % 4 != 0)
		return 1;
	if (in[n - 1] == '=')
		npad = in[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int last = i + 4 == n;

		for (j = 0; j < 4; j++) {
			int d;

			if (last && j >= 4 - (int)npad) {
				v <<= 6;
				continue;
			}
			if ((d = b64_value((unsigned char)in[i + (size_t)j])) < 0)
				return 1;
			v = (v << 6) | (uint32_t)d;
		}
		b[0] = (unsigned char)(v >> 16);
		b[1] = (unsigned char)(v >> 8);
		b[2] = (unsigned char)v;
		if (last && npad && (v & (npad == 2 ? 0xffffu : 0xffu)) != 0)
			return 1; /* non-zero bits under the padding */
		if ((rc = buf_add(out, b, last ? 3 - npad : 3)) < 0)
			return rc;
	}
	return 0;
}

/* ---- SSH wire encoding ---- */

static int put_u32(struct buf *b, uint32_t v)
{
	unsigned char be[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v};

	return buf_add(b, be, sizeof(be));
}

static int put_string(struct buf *b, const void *data, size_t len)
{
	int rc;

	assert(len <= UINT32_MAX);
	if ((rc = put_u32(b, (uint32_t)len)) < 0)
		return rc;
	return buf_add(b, data, len);
}

/* string "ssh-ed25519" + string key: the public key blob of ssh-keygen and authorized_keys. */
static int put_pubkey_blob(struct buf *b, const unsigned char pub[SIG_PUBKEY_LEN])
{
	int rc;

	if ((rc = put_string(b, SIG_KEY_TYPE, strlen(SIG_KEY_TYPE))) < 0)
		return rc;
	return put_string(b, pub, SIG_PUBKEY_LEN);
}

/* Copy at most 40 bytes of untrusted text into out for a message; odd bytes become '?'. */
static const char *printable(char out[48], const unsigned char *p, size_t n)
{
	size_t i, max = 40;

	for (i = 0; i < n && i < max; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'' ? (char)p[i] : '?';
	if (n > max) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static int rd_u32(struct reader *r, uint32_t *v, const char *what)
{
	if (r->len < 4)
		return err_set(ERR_INVALID, "%s: truncated", what);
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->len -= 4;
	return 0;
}

/* Read a string; *data points into the reader's bytes. */
static int rd_string(struct reader *r, const unsigned char **data, size_t *len, const char *what)
{
	uint32_t n;

	if (r->len < 4)
		return err_set(ERR_INVALID, "%s: truncated string", what);
	n = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	if (n > r->len - 4)
		return err_set(ERR_INVALID, "%s: truncated string (length %lu, %zu bytes left)",
			       what, (unsigned long)n, r->len - 4);
	*data = r->p + 4;
	*len = n;
	r->p += 4 + (size_t)n;
	r->len -= 4 + (size_t)n;
	return 0;
}

static int rd_end(const struct reader *r, const char *what)
{
	if (r->len)
		return err_set(ERR_INVALID, "%s: %zu trailing bytes", what, r->len);
	return 0;
}

static int bytes_eq(const unsigned char *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* Parse an ssh-ed25519 public key blob; what ("signature key", "public key") prefixes errors. */
static int parse_pubkey_blob(unsigned char out[SIG_PUBKEY_LEN], const unsigned char *blob,
			     size_t blob_len, const char *what)
{
	struct reader r = {blob, blob_len};
	const unsigned char *type, *key;
	size_t type_len, key_len;
	char show[48];
	int rc;

	if ((rc = rd_string(&r, &type, &type_len, what)) < 0)
		return rc;
	if (!bytes_eq(type, type_len, SIG_KEY_TYPE))
		return err_set(ERR_INVALID, "%s type '%s' is not " SIG_KEY_TYPE, what,
			       printable(show, type, type_len));
	if ((rc = rd_string(&r, &key, &key_len, what)) < 0)
		return rc;
	if (key_len != SIG_PUBKEY_LEN)
		return err_set(ERR_INVALID, "%s length %zu is not %d", what, key_len,
			       SIG_PUBKEY_LEN);
	if ((rc = rd_end(&r, what)) < 0)
		return rc;
	memcpy(out, key, SIG_PUBKEY_LEN);
	return 0;
}

/* ---- keys ---- */

static int key_from_pkey(struct sig_key **out, EVP_PKEY *pkey, const char *what)
{
	struct sig_key *key = NULL;
	size_t publen = SIG_PUBKEY_LEN;
	int rc = 0;

	if (!EVP_PKEY_is_a(pkey, "ED25519")) {
		rc = err_set(ERR_INVALID, "%s is not an ed25519 private key", what);
		goto out;
	}
	if (!(key = calloc(1, sizeof(*key)))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (EVP_PKEY_get_raw_public_key(pkey, key->pub, &publen) != 1 || publen != SIG_PUBKEY_LEN) {
		rc = err_ssl(ERR_INVALID, "%s: cannot read the public key", what);
		goto out;
	}
	key->pkey = pkey;
	pkey = NULL;
	*out = key;
	key = NULL;
out:
	EVP_PKEY_free(pkey);
	sig_key_free(key);
	return rc;
}

int sig_key_generate(struct sig_key **out)
{
	EVP_PKEY *pkey;

	*out = NULL;
	if (!(pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")))
		return err_ssl(ERR_GENERIC, "cannot generate an ed25519 key");
	return key_from_pkey(out, pkey, "generated key");
}

/* PEM password callback that refuses: an encrypted key must not prompt on the terminal. */
static int no_password(char *pw, int size, int rwflag, void *u)
{
	(void)pw;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Read the whole file (at most SIG_KEY_FILE_MAX bytes) into b. */
static int read_fd(struct buf *b, int fd, const char *path)
{
	char chunk[4096];
	ssize_t n;
	int rc = 0;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_errno(ERR_IO, "cannot read key file '%s'", path);
			break;
		}
		if (n == 0)
			break;
		if (b->len + (size_t)n > SIG_KEY_FILE_MAX) {
			rc = err_set(ERR_INVALID, "key file '%s' is too large for a key", path);
			break;
		}
		if ((rc = buf_add(b, chunk, (size_t)n)) < 0)
			break;
	}
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return rc;
}

int sig_key_load(struct sig_key **out, const char *path)
{
	struct buf pem = BUF_INIT;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	struct stat st;
	char what[1024];
	int fd = -1, rc = 0;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		rc = err_errno(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "cannot open key file '%s'",
			       path);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = err_errno(ERR_IO, "cannot stat key file '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(ERR_INVALID, "key file '%s' is not a regular file", path);
		goto out;
	}
	if (st.st_uid != geteuid()) {
		rc = err_set(ERR_DENIED,
			     "key file '%s' belongs to uid %u, not to this user (uid %u): "
			     "another user could have replaced it",
			     path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto out;
	}
	if (st.st_mode & 077) {
		rc = err_set(ERR_DENIED,
			     "key file '%s' has mode %04o: it must be readable by its owner only "
			     "(chmod 600)",
			     path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((rc = read_fd(&pem, fd, path)) < 0)
		goto out;
	if (!(bio = BIO_new_mem_buf(pem.ptr, (int)pem.len))) {
		rc = err_ssl(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!(pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL))) {
		rc = err_ssl(ERR_INVALID, "key file '%s' is not a PEM ed25519 private key", path);
		goto out;
	}
	snprintf(what, sizeof(what), "key file '%s'", path);
	rc = key_from_pkey(out, pkey, what);
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	buf_release_secret(&pem);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int write_all(int fd, const char *p, size_t n, const char *path)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return err_errno(ERR_IO, "cannot write '%s'", path);
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Create a fresh temp file next to path (O_EXCL, mode 0600); its name goes to tmp. */
static int open_temp(struct buf *tmp, const char *path)
{
	unsigned char rnd[6];
	int tries, fd = -1, rc;

	for (tries = 0; tries < 16; tries++) {
		buf_reset(tmp);
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return err_ssl(ERR_GENERIC, "cannot get random bytes");
		if ((rc = buf_printf(tmp, "%s.tmp-%02x%02x%02x%02x%02x%02x", path, rnd[0], rnd[1],
				     rnd[2], rnd[3], rnd[4], rnd[5])) < 0)
			return rc;
		fd = open(tmp->ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		rc = err_errno(ERR_IO, "cannot create '%s'", tmp->ptr);
		buf_reset(tmp); /* not ours: the caller must not unlink it */
		return rc;
	}
	return fd;
}

static int fsync_parent(const char *path)
{
	struct buf dir = BUF_INIT;
	const char *slash = strrchr(path, '/');
	int fd = -1, rc = 0;

	if (!slash)
		rc = buf_adds(&dir, ".");
	else if (slash == path)
		rc = buf_adds(&dir, "/");
	else
		rc = buf_add(&dir, path, (size_t)(slash - path));
	if (rc < 0)
		goto out;
	if ((fd = open(dir.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = err_errno(ERR_IO, "cannot open directory '%s'", dir.ptr);
		goto out;
	}
	if (fsync(fd) < 0) {
		rc = err_errno(ERR_IO, "cannot sync directory '%s'", dir.ptr);
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	buf_release(&dir);
	return rc;
}

int sig_key_save(const struct sig_key *key, const char *path)
{
	struct buf tmp = BUF_INIT;
	BIO *bio = NULL;
	char *pem;
	long pem_len;
	int fd = -1, rc = 0;

	if (!(bio = BIO_new(BIO_s_secmem()))) {
		rc = err_ssl(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		rc = err_ssl(ERR_GENERIC, "cannot encode the private key for '%s'", path);
		goto out;
	}
	pem_len = BIO_get_mem_data(bio, &pem);
	if (pem_len <= 0) {
		rc = err_set(ERR_GENERIC, "cannot encode the private key for '%s'", path);
		goto out;
	}
	if ((fd = open_temp(&tmp, path)) < 0) {
		rc = fd;
		goto out;
	}
	if (fchmod(fd, 0600) < 0) { /* in case the umask took owner bits */
		rc = err_errno(ERR_IO, "cannot chmod '%s'", tmp.ptr);
		goto out;
	}
	if ((rc = write_all(fd, pem, (size_t)pem_len, tmp.ptr)) < 0)
		goto out;
	if (fsync(fd) < 0) {
		rc = err_errno(ERR_IO, "cannot sync '%s'", tmp.ptr);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = err_errno(ERR_IO, "cannot close '%s'", tmp.ptr);
		goto out;
	}
	fd = -1;
	if (link(tmp.ptr, path) < 0) {
		if (errno == EEXIST)
			rc =
			    err_set(ERR_EXISTS,
				    "key file '%s' already exists: refusing to overwrite it", path);
		else
			rc = err_errno(ERR_IO, "cannot create key file '%s'", path);
		goto out;
	}
	if (unlink(tmp.ptr) < 0) {
		rc = err_errno(ERR_IO, "cannot remove '%s'", tmp.ptr);
		goto out;
	}
	buf_reset(&tmp);
	rc = fsync_parent(path);
out:
	if (fd >= 0)
		close(fd);
	if (tmp.len)
		unlink(tmp.ptr);
	buf_release(&tmp);
	BIO_free(bio); /* a secmem BIO wipes its memory */
	return rc;
}

void sig_key_public(const struct sig_key *key, unsigned char out[SIG_PUBKEY_LEN])
{
	memcpy(out, key->pub, SIG_PUBKEY_LEN);
}

EVP_PKEY *sig_key_pkey(const struct sig_key *key)
{
	return key->pkey;
}

void sig_key_free(struct sig_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey); /* OpenSSL wipes the private key */
	OPENSSL_cleanse(key, sizeof(*key));
	free(key);
}

/* ---- public key text and fingerprint ---- */

int sig_pubkey_format(struct buf *out, const unsigned char pub[SIG_PUBKEY_LEN])
{
	struct buf blob = BUF_INIT;
	size_t start = out->len;
	int rc;

	if ((rc = put_pubkey_blob(&blob, pub)) < 0)
		goto out;
	if ((rc = buf_adds(out, SIG_KEY_TYPE " ")) < 0)
		goto out;
	rc = b64_encode(out, (const unsigned char *)blob.ptr, blob.len, 1);
out:
	if (rc < 0)
		buf_truncate(out, start);
	buf_release(&blob);
	return rc;
}

int sig_pubkey_parse(unsigned char out[SIG_PUBKEY_LEN], const char *line)
{
	struct buf blob = BUF_INIT;
	const char *p = line, *b64;
	size_t type_len = strlen(SIG_KEY_TYPE), n;
	char show[48];
	int rc;

	n = strcspn(p, " \t\r\n");
	if (n != type_len || memcmp(p, SIG_KEY_TYPE, type_len) != 0) {
		rc = err_set(ERR_INVALID, "public key type '%s' is not " SIG_KEY_TYPE,
			     printable(show, (const unsigned char *)p, n));
		goto out;
	}
	p += n;
	p += strspn(p, " \t");
	b64 = p;
	n = strcspn(p, " \t\r\n");
	if (n == 0) {
		rc = err_set(ERR_INVALID, "public key: missing base64 key data");
		goto out;
	}
	if ((rc = b64_decode(&blob, b64, n)) != 0) {
		if (rc > 0)
			rc = err_set(ERR_INVALID, "public key: bad base64");
		goto out;
	}
	rc = parse_pubkey_blob(out, (const unsigned char *)blob.ptr, blob.len, "public key");
out:
	buf_release(&blob);
	return rc;
}

void sig_fingerprint(char out[SIG_FINGERPRINT_LEN], const unsigned char pub[SIG_PUBKEY_LEN])
{
	/* The 51-byte blob, encoded by hand: this function cannot fail. */
	unsigned char blob[4 + 11 + 4 + SIG_PUBKEY_LEN], md[32];
	const char *b64 = b64_chars;
	size_t i, o = 0;
	uint32_t v;

	memcpy(blob, "\0\0\0\013" SIG_KEY_TYPE "\0\0\0\040", 4 + 11 + 4);
	memcpy(blob + 19, pub, SIG_PUBKEY_LEN);
	EVP_Digest(blob, sizeof(blob), md, NULL, EVP_sha256(), NULL);
	memcpy(out, "SHA256:", 7);
	o = 7;
	for (i = 0; i + 3 <= sizeof(md); i += 3) {
		v = (uint32_t)md[i] << 16 | (uint32_t)md[i + 1] << 8 | md[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	/* 32 = 10 * 3 + 2: two bytes left, three characters, no padding */
	v = (uint32_t)md[30] << 16 | (uint32_t)md[31] << 8;
	out[o++] = b64[(v >> 18) & 63];
	out[o++] = b64[(v >> 12) & 63];
	out[o++] = b64[(v >> 6) & 63];
	out[o] = '\0';
	assert(o == SIG_FINGERPRINT_LEN - 1);
}

/* ---- SSHSIG ---- */

/* The bytes Ed25519 signs: magic, namespace, reserved, hash name, string(hash(payload)). */
static int signed_data(struct buf *out, const char *hash, const void *payload, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	const EVP_MD *alg = strcmp(hash, "sha256") == 0 ? EVP_sha256() : EVP_sha512();
	int rc;

	if (EVP_Digest(payload ? payload : "", len, md, &md_len, alg, NULL) != 1)
		return err_ssl(ERR_GENERIC, "cannot hash the signed data");
	if ((rc = buf_add(out, SIG_MAGIC, SIG_MAGIC_LEN)) < 0 ||
	    (rc = put_string(out, SIG_NAMESPACE, strlen(SIG_NAMESPACE))) < 0 ||
	    (rc = put_string(out, "", 0)) < 0 || (rc = put_string(out, hash, strlen(hash))) < 0 ||
	    (rc = put_string(out, md, md_len)) < 0)
		return rc;
	return 0;
}

/* Append the armor around blob to out. */
static int armor(struct buf *out, const struct buf *blob)
{
	struct buf b64 = BUF_INIT;
	size_t i, n;
	int rc;

	if ((rc = b64_encode(&b64, (const unsigned char *)blob->ptr, blob->len, 1)) < 0)
		goto out;
	if ((rc = buf_adds(out, SIG_ARMOR_BEGIN "\n")) < 0)
		goto out;
	for (i = 0; i < b64.len; i += n) {
		n = b64.len - i < SIG_ARMOR_COLS ? b64.len - i : SIG_ARMOR_COLS;
		if ((rc = buf_add(out, b64.ptr + i, n)) < 0 || (rc = buf_addch(out, '\n')) < 0)
			goto out;
	}
	rc = buf_adds(out, SIG_ARMOR_END);
out:
	buf_release(&b64);
	return rc;
}

int sig_sign(struct buf *out, const struct sig_key *key, const void *payload, size_t len)
{
	struct buf tbs = BUF_INIT, blob = BUF_INIT, pubfield = BUF_INIT, sigfield = BUF_INIT;
	unsigned char sig[SIG_ED25519_LEN];
	size_t sig_len = sizeof(sig), start = out->len;
	EVP_MD_CTX *ctx = NULL;
	int rc;

	if ((rc = signed_data(&tbs, SIG_HASH, payload, len)) < 0)
		goto out;
	if (!(ctx = EVP_MD_CTX_new())) {
		rc = err_ssl(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)tbs.ptr, tbs.len) != 1 ||
	    sig_len != SIG_ED25519_LEN) {
		rc = err_ssl(ERR_GENERIC, "cannot sign with the office key");
		goto out;
	}
	if ((rc = put_pubkey_blob(&pubfield, key->pub)) < 0 ||
	    (rc = put_string(&sigfield, SIG_KEY_TYPE, strlen(SIG_KEY_TYPE))) < 0 ||
	    (rc = put_string(&sigfield, sig, sig_len)) < 0)
		goto out;
	if ((rc = buf_add(&blob, SIG_MAGIC, SIG_MAGIC_LEN)) < 0 ||
	    (rc = put_u32(&blob, SIG_VERSION)) < 0 ||
	    (rc = put_string(&blob, pubfield.ptr, pubfield.len)) < 0 ||
	    (rc = put_string(&blob, SIG_NAMESPACE, strlen(SIG_NAMESPACE))) < 0 ||
	    (rc = put_string(&blob, "", 0)) < 0 ||
	    (rc = put_string(&blob, SIG_HASH, strlen(SIG_HASH))) < 0 ||
	    (rc = put_string(&blob, sigfield.ptr, sigfield.len)) < 0)
		goto out;
	rc = armor(out, &blob);
out:
	if (rc < 0)
		buf_truncate(out, start);
	EVP_MD_CTX_free(ctx);
	buf_release(&tbs);
	buf_release(&blob);
	buf_release(&pubfield);
	buf_release(&sigfield);
	return rc;
}

/*
 * The next line of a[0..n) from *pos, without its "\n" or "\r\n"; *nl says whether a
 * newline ended it. Returns 0 at the end of the input.
 */
static int next_line(const char *a, size_t n, size_t *pos, const char **line, size_t *line_len,
		     int *nl)
{
	const char *start = a + *pos, *eol;
	size_t left = n - *pos;

	if (*pos >= n)
		return 0;
	eol = memchr(start, '\n', left);
	*line = start;
	if (!eol) {
		*line_len = left;
		*nl = 0;
		*pos = n;
		return 1;
	}
	*line_len = (size_t)(eol - start);
	*nl = 1;
	*pos += *line_len + 1;
	if (*line_len && start[*line_len - 1] == '\r')
		(*line_len)--;
	return 1;
}

static int line_is(const char *line, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(line, s, len) == 0;
}

/* Strip the armor from a[0..n) and decode the base64 between the lines into blob. */
static int dearmor(struct buf *blob, const char *a, size_t n)
{
	struct buf b64 = BUF_INIT;
	const char *line;
	size_t pos = 0, len, i, lineno = 1;
	int nl, rc = 0;

	if (!next_line(a, n, &pos, &line, &len, &nl) || !nl ||
	    !line_is(line, len, SIG_ARMOR_BEGIN)) {
		rc = err_set(ERR_INVALID, "signature armor: missing begin line");
		goto out;
	}
	for (;;) {
		lineno++;
		if (!next_line(a, n, &pos, &line, &len, &nl)) {
			rc = err_set(ERR_INVALID, "signature armor: missing end line");
			goto out;
		}
		if (line_is(line, len, SIG_ARMOR_END))
			break;
		if (!nl) {
			rc = err_set(ERR_INVALID, "signature armor: missing end line");
			goto out;
		}
		if (len == 0) {
			rc = err_set(ERR_INVALID, "signature armor: empty line %zu", lineno);
			goto out;
		}
		for (i = 0; i < len; i++)
			if (b64_value((unsigned char)line[i]) < 0 && line[i] != '=') {
				rc = err_set(ERR_INVALID,
					     "signature armor: bad character on line %zu", lineno);
				goto out;
			}
		if ((rc = buf_add(&b64, line, len)) < 0)
			goto out;
	}
	if (pos != n) {
		rc = err_set(ERR_INVALID, "signature armor: data after the end line");
		goto out;
	}
	if (b64.len == 0) {
		rc = err_set(ERR_INVALID, "signature armor: no signature between the lines");
		goto out;
	}
	if ((rc = b64_decode(blob, b64.ptr, b64.len)) > 0)
		rc = err_set(ERR_INVALID, "signature armor: bad base64");
out:
	buf_release(&b64);
	return rc;
}

/* The fields of an SSHSIG blob; pointers into the decoded blob. */
struct sshsig {
	unsigned char pub[SIG_PUBKEY_LEN]; /* the signer's key */
	const unsigned char *hash;	   /* hash algorithm name */
	size_t hash_len;
	const unsigned char *sig; /* the 64-byte Ed25519 signature */
};

/* Parse and check an SSHSIG blob: version, key type, namespace, hash, signature type. */
static int parse_sshsig(struct sshsig *s, const unsigned char *blob, size_t blob_len)
{
	struct reader r = {blob, blob_len}, sr;
	const unsigned char *field, *sigtype;
	size_t field_len, sigtype_len;
	uint32_t version = 0;
	char show[48];
	int rc;

	if (r.len < SIG_MAGIC_LEN || memcmp(r.p, SIG_MAGIC, SIG_MAGIC_LEN) != 0)
		return err_set(ERR_INVALID, "signature magic: not an SSHSIG blob");
	r.p += SIG_MAGIC_LEN;
	r.len -= SIG_MAGIC_LEN;
	if ((rc = rd_u32(&r, &version, "signature version")) < 0)
		return rc;
	if (version != SIG_VERSION)
		return err_set(ERR_INVALID, "signature version %lu is not %d",
			       (unsigned long)version, SIG_VERSION);
	if ((rc = rd_string(&r, &field, &field_len, "signature key")) < 0 ||
	    (rc = parse_pubkey_blob(s->pub, field, field_len, "signature key")) < 0)
		return rc;
	if ((rc = rd_string(&r, &field, &field_len, "signature namespace")) < 0)
		return rc;
	if (!bytes_eq(field, field_len, SIG_NAMESPACE))
		return err_set(ERR_INVALID, "signature namespace '%s' is not '" SIG_NAMESPACE "'",
			       printable(show, field, field_len));
	if ((rc = rd_string(&r, &field, &field_len, "signature reserved field")) < 0)
		return rc;
	if (field_len)
		return err_set(ERR_INVALID, "signature reserved field is not empty");
	if ((rc = rd_string(&r, &s->hash, &s->hash_len, "signature hash algorithm")) < 0)
		return rc;
	if (!bytes_eq(s->hash, s->hash_len, "sha512") && !bytes_eq(s->hash, s->hash_len, "sha256"))
		return err_set(ERR_INVALID, "signature hash algorithm '%s' is not sha512 or sha256",
			       printable(show, s->hash, s->hash_len));
	if ((rc = rd_string(&r, &field, &field_len, "signature")) < 0 ||
	    (rc = rd_end(&r, "signature blob")) < 0)
		return rc;
	sr.p = field;
	sr.len = field_len;
	if ((rc = rd_string(&sr, &sigtype, &sigtype_len, "signature algorithm")) < 0)
		return rc;
	if (!bytes_eq(sigtype, sigtype_len, SIG_KEY_TYPE))
		return err_set(ERR_INVALID,
			       "signature algorithm '%s' does not match the key type " SIG_KEY_TYPE,
			       printable(show, sigtype, sigtype_len));
	if ((rc = rd_string(&sr, &s->sig, &field_len, "signature")) < 0)
		return rc;
	if (field_len != SIG_ED25519_LEN)
		return err_set(ERR_INVALID, "signature length %zu is not %d", field_len,
			       SIG_ED25519_LEN);
	return rd_end(&sr, "signature");
}

int sig_verify(unsigned char signer[SIG_PUBKEY_LEN], const char *armored, size_t armored_len,
	       const void *payload, size_t len)
{
	struct buf blob = BUF_INIT, tbs = BUF_INIT;
	struct sshsig s;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *ctx = NULL;
	int rc;

	if ((rc = dearmor(&blob, armored, armored_len)) < 0)
		goto out;
	if ((rc = parse_sshsig(&s, (const unsigned char *)blob.ptr, blob.len)) < 0)
		goto out;
	if ((rc = signed_data(&tbs, bytes_eq(s.hash, s.hash_len, "sha256") ? "sha256" : "sha512",
			      payload, len)) < 0)
		goto out;
	if (!(pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, s.pub, SIG_PUBKEY_LEN))) {
		rc = err_ssl(ERR_INVALID, "signature key is not a valid ed25519 key");
		goto out;
	}
	if (!(ctx = EVP_MD_CTX_new())) {
		rc = err_ssl(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1) {
		rc = err_ssl(ERR_GENERIC, "cannot set up signature verification");
		goto out;
	}
	if (EVP_DigestVerify(ctx, s.sig, SIG_ED25519_LEN, (const unsigned char *)tbs.ptr,
			     tbs.len) != 1) {
		ERR_clear_error();
		rc = err_set(ERR_VERIFY, "signature does not match the signed data");
		goto out;
	}
	memcpy(signer, s.pub, SIG_PUBKEY_LEN);
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	buf_release(&blob);
	buf_release(&tbs);
	return rc;
}
