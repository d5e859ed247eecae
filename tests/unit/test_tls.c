/*
 * test_tls: the client stream when the server goes away. A server (in a thread, with
 * certificates the openssl CLI makes) takes the request and resets the connection
 * (SO_LINGER 0) instead of answering; the client's read fails with a network error, and
 * closing the stream afterwards must not write to the dead socket: that raised SIGPIPE
 * and killed the process (exit 141, no message) unless it ignored the signal. SIGPIPE
 * keeps its default disposition here, as in a program that never heard of it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "err.h"
#include "tls.h"

struct fixture {
	char dir[64];
	char ca[128], skey[128], scert[128], ckey[128], ccert[128];
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("'%s' failed", cmd);
}

/* An Ed25519 key and a certificate for CN from the CA in d (serverAuth and clientAuth). */
static void mkcert(const char *d, const char *name, const char *cn)
{
	sh("cd %s && openssl genpkey -algorithm ed25519 -out %s.key 2>/dev/null && "
	   "chmod 600 %s.key && "
	   "openssl req -new -key %s.key -subj /CN=%s -out %s.csr 2>/dev/null && "
	   "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n"
	   "extendedKeyUsage=serverAuth,clientAuth\\n' > %s.ext && "
	   "openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
	   "-extfile %s.ext -out %s.pem 2>/dev/null",
	   d, name, name, name, cn, name, name, name, name, name);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_tls.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	sh("cd %s && openssl genpkey -algorithm ed25519 -out ca.key 2>/dev/null && "
	   "openssl req -x509 -new -key ca.key -subj /CN=ca -days 2 -out ca.pem "
	   "-addext basicConstraints=critical,CA:TRUE 2>/dev/null",
	   f->dir);
	mkcert(f->dir, "server", "1201");
	mkcert(f->dir, "client", "120112");
	snprintf(f->ca, sizeof(f->ca), "%s/ca.pem", f->dir);
	snprintf(f->skey, sizeof(f->skey), "%s/server.key", f->dir);
	snprintf(f->scert, sizeof(f->scert), "%s/server.pem", f->dir);
	snprintf(f->ckey, sizeof(f->ckey), "%s/client.key", f->dir);
	snprintf(f->ccert, sizeof(f->ccert), "%s/client.pem", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

struct server {
	SSL_CTX *ctx;
	int lfd;
	int ok; /* the handshake and the request were read */
};

/* Accept one connection, read the request, then reset the connection (no answer). */
static void *serve_and_reset(void *arg)
{
	struct server *s = arg;
	struct linger lg = {1, 0};
	char buf[64];
	SSL *ssl = NULL;
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if ((ssl = SSL_new(s->ctx)) && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1 &&
	    SSL_read(ssl, buf, sizeof(buf)) > 0)
		s->ok = 1;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd); /* RST, not close_notify */
	SSL_free(ssl);
	return NULL;
}

static void test_reset_then_close(void **state)
{
	struct fixture *f = *state;
	struct tls_client_config cc = {f->ccert, f->ckey, f->ca, 5, 10, NULL, NULL};
	struct server s = {NULL, -1, 0};
	struct sockaddr_in sa = {0};
	socklen_t sl = sizeof(sa);
	git_stream *st = NULL;
	pthread_t th;
	char port[16], buf[64];
	ssize_t n;

	signal(SIGPIPE, SIG_DFL);
	if (tls_ctx_new(&s.ctx, true, f->scert, f->skey, f->ca) < 0)
		fail_msg("server context: %s", err_msg());
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((s.lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(s.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s.lfd, 4), 0);
	assert_int_equal(getsockname(s.lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(port, sizeof(port), "%d", ntohs(sa.sin_port));
	assert_int_equal(pthread_create(&th, NULL, serve_and_reset, &s), 0);
	if (tls_client_register(&cc) < 0)
		fail_msg("client context: %s", err_msg());
	if (tls_client_open(&st, "127.0.0.1", port) < 0)
		fail_msg("connect: %s", err_msg());
	assert_int_equal(st->write(st, "GET / HTTP/1.1\r\n\r\n", 18, 0), 18);
	/* the server resets instead of answering: the read fails (or sees the end) */
	n = st->read(st, buf, sizeof(buf));
	assert_true(n <= 0);
	pthread_join(th, NULL);
	assert_int_equal(s.ok, 1);
	/* closing must not write to the reset socket: SIGPIPE would end this test here */
	assert_int_equal(st->close(st), 0);
	st->free(st);
	tls_client_unregister();
	close(s.lfd);
	SSL_CTX_free(s.ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reset_then_close, setup, teardown),
	};
	int rc;

	git_libgit2_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	git_libgit2_shutdown();
	return rc;
}
