/*
 * tls: the TLS stream libgit2's smart HTTP client runs over (git_stream_register).
 *
 * Debian's libgit2 uses mbedTLS and cannot present our certificate, so https:// goes
 * through this OpenSSL stream instead: TLS 1.3 only, our office certificate and key, the
 * peer checked against the configured CA file only (never the system store) and against
 * the host name or IP address in the URL, with connect and read/write timeouts.
 */
#ifndef CASELEDGER_TLS_H
#define CASELEDGER_TLS_H

#include <stdbool.h>

#include <git2.h>
#include <openssl/ssl.h>
#include <git2/sys/stream.h>

struct tls_client_config {
	const char *cert;	  /* our certificate (PEM) */
	const char *key;	  /* our private key (PEM PKCS#8, mode 0600) */
	const char *ca;		  /* CA certificates the server must chain to */
	unsigned connect_timeout; /* seconds; 0: 10 */
	unsigned io_timeout;	  /* seconds a read or write may block; 0: 30 */
	const char *peer_office;  /* the server must be this office (its certificate's CN) */
	const char *office;	  /* ours: without peer_office, the server must be an office
				     whose scope holds it; both NULL: any office of the CA */
};

/*
 * Build the client context from c (files are read now) and register the stream for
 * every https:// connection libgit2 makes in this process from now on. Calling it again
 * replaces the context (connections already open keep theirs).
 */
int tls_client_register(const struct tls_client_config *c);

/*
 * A TLS 1.3-only context (server or client method) presenting cert with the Ed25519 key
 * in key_path, trusting only the CA certificates in ca (never the system store). The
 * caller sets the verify mode and owns *out (SSL_CTX_free). ERR_INVALID naming the file
 * that is wrong; the key file's permissions are checked as sig_key_load does.
 */
int tls_ctx_new(SSL_CTX **out, bool server, const char *cert, const char *key_path, const char *ca);

/*
 * Open a TLS connection to host:port (NULL: 443) with the registered context, the same
 * stream libgit2 gets: *out is connected and verified; free it with git_stream's close
 * and free (out-param owned by the caller). ERR_NETWORK when it cannot be reached.
 */
int tls_client_open(git_stream **out, const char *host, const char *port);

/* Unregister and free the context. */
void tls_client_unregister(void);

#endif
