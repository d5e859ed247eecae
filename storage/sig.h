/*
 * sig: office keys (Ed25519, OpenSSL) and git's SSH signature format (SSHSIG).
 *
 * The same key later authenticates TLS and is certified by the city CA, so it is kept
 * as an OpenSSL key: a PEM PKCS#8 private key file, mode 0600. Commits are signed in
 * the format `git verify-commit` checks with gpg.format=ssh (see "Signatures" in
 * ARCHITECTURE.md): namespace "git", hash "sha512", armored in 70-column base64.
 */
#ifndef CASELEDGER_SIG_H
#define CASELEDGER_SIG_H

#include <stddef.h>

#include <openssl/evp.h>

#include "buf.h"

#define SIG_PUBKEY_LEN 32
/* "SHA256:" + 43 base64 characters + NUL, as ssh-keygen -l prints it */
#define SIG_FINGERPRINT_LEN 51

struct sig_key; /* opaque: an Ed25519 private key and its public half */

/* Generate a new key. *out is owned by the caller (sig_key_free). */
int sig_key_generate(struct sig_key **out);

/*
 * Load a private key from a PEM PKCS#8 file. Fails with ERR_DENIED, naming the file and
 * its mode, when group or others may read or write it; ERR_INVALID when the file is not
 * an Ed25519 private key; ERR_NOTFOUND when it does not exist.
 */
int sig_key_load(struct sig_key **out, const char *path);

/*
 * Write the private key to path as PEM PKCS#8, mode 0600, durably (temp file, fsync,
 * link into place, fsync of the directory). ERR_EXISTS when path exists: never
 * overwrites a key.
 */
int sig_key_save(const struct sig_key *key, const char *path);

/* The raw 32-byte public key. */
void sig_key_public(const struct sig_key *key, unsigned char out[SIG_PUBKEY_LEN]);

/* The OpenSSL key (borrowed; valid as long as key): for X.509 and TLS. */
EVP_PKEY *sig_key_pkey(const struct sig_key *key);

/* Wipes and frees; NULL is fine. */
void sig_key_free(struct sig_key *key);

/* Append "ssh-ed25519 AAAA…" (no comment, no newline) for pub to out. */
int sig_pubkey_format(struct buf *out, const unsigned char pub[SIG_PUBKEY_LEN]);

/* Parse "ssh-ed25519 AAAA… [comment]"; ERR_INVALID for any other key type or bad base64. */
int sig_pubkey_parse(unsigned char out[SIG_PUBKEY_LEN], const char *line);

/* "SHA256:…" fingerprint of pub, as ssh-keygen -l shows it, into out. */
void sig_fingerprint(char out[SIG_FINGERPRINT_LEN], const unsigned char pub[SIG_PUBKEY_LEN]);

/*
 * Sign payload with key in SSHSIG format, namespace "git", hash sha512. Appends the
 * armored signature ("-----BEGIN SSH SIGNATURE-----\n" … "-----END SSH SIGNATURE-----",
 * no trailing newline: libgit2 adds it to the gpgsig header) to out.
 */
int sig_sign(struct buf *out, const struct sig_key *key, const void *payload, size_t len);

/*
 * Verify an armored SSHSIG over payload. Accepts only version 1, an ssh-ed25519 key,
 * namespace "git", hash sha512 or sha256, a matching ssh-ed25519 signature. On success
 * writes the signing public key to signer (the caller decides whether it is trusted)
 * and returns 0. ERR_INVALID for malformed armor or blob (message says which part),
 * ERR_VERIFY when the signature does not match the payload.
 */
int sig_verify(unsigned char signer[SIG_PUBKEY_LEN], const char *armored, size_t armored_len,
	       const void *payload, size_t len);

#endif
