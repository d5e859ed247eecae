/*
 * tls: an OpenSSL git_stream for libgit2's https:// transport, with our client
 * certificate, the configured CA only, host checks and timeouts.
 *
 * The process-wide SSL_CTX is replaced under a mutex; each stream takes its own
 * reference (SSL_new), so a reload never pulls a context from under a connection.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/stream.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "office.h"
#include "sig.h"
#include "tls.h"

static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *client_ctx;
static unsigned connect_timeout = 10, io_timeout = 30;
/* who the server must be: exactly pin_office when set, else an office above own_office */
static char pin_office[OFFICE_CODE_MAX + 1], own_office[OFFICE_CODE_MAX + 1];

struct tls_stream {
	git_stream parent;
	char *host, *port;
	int fd;
	SSL *ssl;
	int broken; /* a read or write failed: no close_notify is sent (s_close) */
	git_cert_x509 cert;
	unsigned char *der;
};

static int stream_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int stream_error(const char *fmt, ...)
{
	char msg[512];
	unsigned long e = ERR_get_error();
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	if (e && n < sizeof(msg) - 3) {
		snprintf(msg + n, sizeof(msg) - n, ": ");
		ERR_error_string_n(e, msg + n + 2, sizeof(msg) - n - 2);
	}
	ERR_clear_error();
	git_error_set_str(GIT_ERROR_SSL, msg);
	return -1;
}

static int tcp_connect(struct tls_stream *s)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	struct timeval tv = {(time_t)io_timeout, 0};
	int fd = -1, g, err = 0, one = 1;
	socklen_t el = sizeof(err);

	hints.ai_socktype = SOCK_STREAM;
	if ((g = getaddrinfo(s->host, s->port, &hints, &res)) != 0) {
		git_error_set_str(GIT_ERROR_NET, gai_strerror(g));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd pfd;
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (errno == EINPROGRESS && poll(&pfd, 1, (int)connect_timeout * 1000) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "cannot connect to %s:%s: %s", s->host, s->port,
			 err ? strerror(err) : "timed out or refused");
		git_error_set_str(GIT_ERROR_NET, msg);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* the request follows the handshake's last flight: no Nagle wait for its ACK */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->fd = fd;
	return 0;
}

/*
 * The CA and the host name say the server is some office of this city, not which: any
 * office's certificate names 127.0.0.1 or a host it can answer for. So the server's
 * office (its certificate's CN) must be the configured parent office, or without one an
 * office whose scope holds ours (community B must not take community A for its parent).
 */
static int check_office(struct tls_stream *s)
{
	X509 *peer = SSL_get0_peer_certificate(s->ssl);
	char cn[OFFICE_CODE_MAX + 2] = "", pin[OFFICE_CODE_MAX + 1], own[OFFICE_CODE_MAX + 1];
	int n;

	pthread_mutex_lock(&ctx_mu);
	memcpy(pin, pin_office, sizeof(pin));
	memcpy(own, own_office, sizeof(own));
	pthread_mutex_unlock(&ctx_mu);
	if (!pin[0] && !own[0])
		return 0; /* neither configured: an embedder's own choice */
	n = peer ? X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn,
					     sizeof(cn))
		 : -1;
	ERR_clear_error();
	if (n <= 0 || (size_t)n > OFFICE_CODE_MAX || office_level(cn) < 0) {
		err_clear();
		git_error_set_str(GIT_ERROR_SSL, "the server's certificate names no office");
		return -1;
	}
	if (pin[0] ? strcmp(cn, pin) != 0 : strcmp(cn, own) == 0 || !office_in_scope(cn, own)) {
		char msg[300];
		snprintf(msg, sizeof(msg), "%s:%s is office %s, not %s%s", s->host, s->port, cn,
			 pin[0] ? "the parent office " : "an office above ", pin[0] ? pin : own);
		git_error_set_str(GIT_ERROR_SSL, msg);
		return -1;
	}
	return 0;
}

static int s_connect(git_stream *st)
{
	struct tls_stream *s = (struct tls_stream *)st;
	unsigned char ip[16];
	long vr;

	if (tcp_connect(s) < 0)
		return -1;
	pthread_mutex_lock(&ctx_mu);
	s->ssl = client_ctx ? SSL_new(client_ctx) : NULL;
	pthread_mutex_unlock(&ctx_mu);
	if (!s->ssl)
		return stream_error("no TLS client configuration");
	SSL_set_fd(s->ssl, s->fd);
	if (inet_pton(AF_INET, s->host, ip) == 1 || inet_pton(AF_INET6, s->host, ip) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), s->host);
	} else {
		SSL_set_tlsext_host_name(s->ssl, s->host);
		SSL_set1_host(s->ssl, s->host);
	}
	if (SSL_connect(s->ssl) != 1) {
		vr = SSL_get_verify_result(s->ssl);
		if (vr != X509_V_OK)
			return stream_error("TLS handshake with %s:%s: server certificate: %s",
					    s->host, s->port, X509_verify_cert_error_string(vr));
		return stream_error("TLS handshake with %s:%s failed", s->host, s->port);
	}
	return check_office(s);
}

static int s_certificate(git_cert **out, git_stream *st)
{
	struct tls_stream *s = (struct tls_stream *)st;
	X509 *peer = s->ssl ? SSL_get0_peer_certificate(s->ssl) : NULL;
	int n;

	if (!peer)
		return stream_error("no server certificate");
	free(s->der);
	s->der = NULL;
	if ((n = i2d_X509(peer, &s->der)) < 0)
		return stream_error("cannot encode the server certificate");
	s->cert.parent.cert_type = GIT_CERT_X509;
	s->cert.data = s->der;
	s->cert.len = (size_t)n;
	*out = &s->cert.parent;
	return 0;
}

static ssize_t s_read(git_stream *st, void *data, size_t len)
{
	struct tls_stream *s = (struct tls_stream *)st;
	int n = SSL_read(s->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);

	if (n > 0)
		return n;
	switch (SSL_get_error(s->ssl, n)) {
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		s->broken = 1;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			git_error_set_str(GIT_ERROR_NET, "timed out reading from the server");
			return -1;
		}
		return stream_error("read from %s:%s failed", s->host, s->port);
	default:
		s->broken = 1;
		return stream_error("read from %s:%s failed", s->host, s->port);
	}
}

static ssize_t s_write(git_stream *st, const char *data, size_t len, int flags)
{
	struct tls_stream *s = (struct tls_stream *)st;
	size_t done = 0;

	while (done < len) {
		size_t k = len - done > INT32_MAX ? INT32_MAX : len - done;
		int n = SSL_write(s->ssl, data + done, (int)k);
		if (n <= 0) {
			s->broken = 1;
			return stream_error("write to %s:%s failed", s->host, s->port);
		}
		done += (size_t)n;
	}
	return (ssize_t)len;
}

/*
 * Send close_notify, unless the connection already failed (OpenSSL must not shut down
 * after a fatal error, and the peer is gone). A peer may reset the connection at any
 * moment, and writing to a reset socket raises SIGPIPE, which kills a process that did
 * not ignore it (exit 141, no message): SIGPIPE is blocked in this thread around the
 * write, and one it raised is taken before the mask is restored.
 */
static int s_close(git_stream *st)
{
	struct tls_stream *s = (struct tls_stream *)st;
	sigset_t pipe, old, pending;

	if (s->ssl && !s->broken) {
		sigemptyset(&pipe);
		sigaddset(&pipe, SIGPIPE);
		if (pthread_sigmask(SIG_BLOCK, &pipe, &old) == 0) {
			SSL_shutdown(s->ssl);
			if (!sigismember(&old, SIGPIPE) && sigpending(&pending) == 0 &&
			    sigismember(&pending, SIGPIPE)) {
				struct timespec zero = {0, 0};
				while (sigtimedwait(&pipe, NULL, &zero) < 0 && errno == EINTR)
					;
			}
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
	}
	ERR_clear_error();
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	return 0;
}

static void s_free(git_stream *st)
{
	struct tls_stream *s = (struct tls_stream *)st;

	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	SSL_free(s->ssl);
	OPENSSL_free(s->der);
	free(s->host);
	free(s->port);
	free(s);
}

static int s_init(git_stream **out, const char *host, const char *port)
{
	struct tls_stream *s = calloc(1, sizeof(*s));

	if (!s || !(s->host = strdup(host)) || !(s->port = strdup(port ? port : "443"))) {
		if (s)
			free(s->host);
		free(s);
		git_error_set_oom();
		return -1;
	}
	s->fd = -1;
	s->parent.version = GIT_STREAM_VERSION;
	s->parent.encrypted = 1;
	s->parent.proxy_support = 0;
	s->parent.connect = s_connect;
	s->parent.certificate = s_certificate;
	s->parent.read = s_read;
	s->parent.write = s_write;
	s->parent.close = s_close;
	s->parent.free = s_free;
	*out = &s->parent;
	return 0;
}

static int s_wrap(git_stream **out, git_stream *in, const char *host)
{
	git_error_set_str(GIT_ERROR_SSL, "caseledger does not sync through HTTP proxies");
	return -1;
}

int tls_client_open(git_stream **out, const char *host, const char *port)
{
	git_stream *st = NULL;

	*out = NULL;
	if (s_init(&st, host, port) < 0)
		return err_git(ERR_NOMEM, "cannot connect to %s:%s", host, port ? port : "443");
	if (s_connect(st) < 0) {
		int rc = err_git(ERR_NETWORK, "cannot reach %s:%s", host, port ? port : "443");
		s_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

int tls_ctx_new(SSL_CTX **out, bool server, const char *cert, const char *key_path, const char *ca)
{
	struct sig_key *key = NULL;
	SSL_CTX *ctx = NULL;
	int rc = 0;

	*out = NULL;
	if (!(ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method())) ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		rc = err_ssl(ERR_GENERIC, "cannot set up TLS");
		goto out;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		rc = err_ssl(ERR_INVALID, "certificate '%s'", cert);
		goto out;
	}
	if ((rc = sig_key_load(&key, key_path)) < 0)
		goto out;
	if (SSL_CTX_use_PrivateKey(ctx, sig_key_pkey(key)) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		rc = err_ssl(ERR_INVALID, "key '%s' does not match certificate '%s'", key_path,
			     cert);
		goto out;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		rc = err_ssl(ERR_INVALID, "CA file '%s'", ca);
		goto out;
	}
	*out = ctx;
	ctx = NULL;
out:
	sig_key_free(key);
	SSL_CTX_free(ctx);
	return rc;
}

int tls_client_register(const struct tls_client_config *c)
{
	git_stream_registration reg = {GIT_STREAM_VERSION, s_init, s_wrap};
	SSL_CTX *ctx = NULL;
	int rc;

	if (c->peer_office &&
	    (strlen(c->peer_office) > OFFICE_CODE_MAX || office_level(c->peer_office) < 0))
		return err_set(ERR_INVALID, "parent office '%s' is not an office code",
			       c->peer_office);
	if (c->office && (strlen(c->office) > OFFICE_CODE_MAX || office_level(c->office) < 0))
		return err_set(ERR_INVALID, "office '%s' is not an office code", c->office);
	if ((rc = tls_ctx_new(&ctx, false, c->cert, c->key, c->ca)) < 0)
		return rc;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (git_libgit2_init() < 0 || git_stream_register(GIT_STREAM_TLS, &reg) < 0) {
		rc = err_git(ERR_GENERIC, "cannot register the TLS stream");
		goto out;
	}
	pthread_mutex_lock(&ctx_mu);
	SSL_CTX_free(client_ctx);
	client_ctx = ctx;
	connect_timeout = c->connect_timeout ? c->connect_timeout : 10;
	io_timeout = c->io_timeout ? c->io_timeout : 30;
	snprintf(pin_office, sizeof(pin_office), "%s", c->peer_office ? c->peer_office : "");
	snprintf(own_office, sizeof(own_office), "%s", c->office ? c->office : "");
	pthread_mutex_unlock(&ctx_mu);
	ctx = NULL;
out:
	SSL_CTX_free(ctx);
	return rc;
}

void tls_client_unregister(void)
{
	git_stream_register(GIT_STREAM_TLS, NULL);
	pthread_mutex_lock(&ctx_mu);
	SSL_CTX_free(client_ctx);
	client_ctx = NULL;
	pthread_mutex_unlock(&ctx_mu);
}
