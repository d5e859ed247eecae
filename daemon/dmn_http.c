/*
 * dmn_http: the TLS smart-HTTP server. libevent's evhttp parses HTTP over OpenSSL
 * bufferevents on the event loop (so a slow client only holds its own connection, under
 * the configured idle timeout, header cap and body cap); the git work of each complete
 * request runs on a small pool of worker threads, each with its own repository handle,
 * and the reply is sent back on the event loop.
 *
 * TLS: 1.3 only, client certificate required and verified against the configured CA
 * (and CRL). The client's office is its certificate's subject CN.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#include "dmn.h"
#include "err.h"
#include "ledger.h"
#include "sig.h"
#include "tls.h"
#include "trust.h"
#include "verify.h"

#define QUEUE_MAX 256 /* requests waiting for a worker; more get 503 */

enum job_kind { JOB_ADVERTISE, JOB_UPLOAD, JOB_RECEIVE };

struct job {
	struct evhttp_request *req;
	enum job_kind kind;
	enum xfer_service service;
	char client[OFFICE_CODE_MAX + 1];
	char *body; /* request body (owned) */
	size_t len;
	bool gzip;	   /* Content-Encoding: gzip */
	struct buf out;	   /* response body */
	int status;	   /* HTTP status */
	const char *ctype; /* response Content-Type */
	struct job *next;
};

struct dmn_http {
	struct dmn *d;
	struct evhttp *http;
	SSL_CTX *ctx;
	struct xfer_hooks hooks;
	pthread_t *threads;
	size_t nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *todo, **todo_tail; /* FIFO for the workers */
	struct job *done;	       /* replies for the event loop */
	size_t ntodo;
	bool stopping;
	struct event *done_ev;
	/* the trust branch's CRL, for handshakes (event loop only) */
	struct ledger *trust_l; /* the ledger, opened on the loop */
	git_oid crl_head;	/* trust head the CRL was read at (zero: none yet) */
	X509_CRL *crl;		/* or NULL: the trust branch has none */
	/* connection limits (event loop only) */
	struct conn *conns;	       /* open connections */
	size_t nconns;		       /* how many */
	struct conn *accepting;	       /* the one evhttp is setting up (bev_cb names its SSL) */
	struct evconnlistener *lev;    /* the listener */
	evconnlistener_cb http_accept; /* evhttp's accept callback */
	void *http_accept_arg;
	struct event *resume_ev; /* re-enables the listener after EMFILE */
	unsigned backoff_ms;	 /* the pause after the next EMFILE */
};

/* One open connection, from accept until its SSL is freed. */
struct conn {
	struct dmn_http *h;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	evutil_socket_t fd;
	SSL *ssl;		 /* set by bev_cb */
	struct event *handshake; /* fires when the handshake took too long */
	struct conn *prev, *next;
};

static int conn_idx = -1; /* SSL ex_data index of a connection's struct conn */

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return true;
}

static void addr_text(char out[INET6_ADDRSTRLEN], const struct sockaddr_storage *a)
{
	strcpy(out, "?");
	if (a->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, out,
			  INET6_ADDRSTRLEN);
	else if (a->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, out,
			  INET6_ADDRSTRLEN);
}

static void conn_unlink(struct conn *c)
{
	struct dmn_http *h = c->h;

	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nconns--;
	if (c->handshake)
		event_free(c->handshake);
	free(c);
}

/* SSL ex_data free: the connection's SSL is freed, so the connection is gone. */
static void conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	if (ptr)
		conn_unlink(ptr);
}

/* A connection still in its TLS handshake after handshake_timeout: hang up on it. */
static void handshake_late(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->ssl && SSL_is_init_finished(c->ssl))
		return;
	dmn_log(DMN_LOG_DEBUG, "dropped a connection idle in its TLS handshake");
	shutdown(c->fd, SHUT_RDWR); /* evhttp sees the end and frees it (conn_gone) */
}

static void resume_accept(evutil_socket_t fd, short what, void *arg)
{
	struct dmn_http *h = arg;

	evconnlistener_enable(h->lev);
}

/*
 * Every accepted connection passes here before evhttp sees it: over max_connections in
 * all or max_per_address from one address, it is closed at once; else it is counted
 * (until its SSL is freed) and must finish its TLS handshake within handshake_timeout.
 */
static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct dmn_http *h = arg;
	struct timeval tv = {(time_t)h->d->cfg.handshake_timeout, 0};
	struct conn *c, *o;
	size_t same = 0;
	char a[INET6_ADDRSTRLEN];

	h->backoff_ms = 0;
	if (!(c = calloc(1, sizeof(*c)))) {
		evutil_closesocket(fd);
		return;
	}
	c->h = h;
	c->fd = fd;
	c->addrlen = salen > 0 && (size_t)salen <= sizeof(c->addr) ? (socklen_t)salen : 0;
	memcpy(&c->addr, sa, c->addrlen);
	for (o = h->conns; o; o = o->next)
		same += same_addr(&o->addr, &c->addr);
	if (h->nconns >= h->d->cfg.max_connections || same >= h->d->cfg.max_per_address) {
		addr_text(a, &c->addr);
		dmn_log(DMN_LOG_WARN, "refused a connection from %s: %zu open from it, %zu in all",
			a, same, h->nconns);
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;
	addr_text(a, &c->addr);
	dmn_log(DMN_LOG_DEBUG, "connection from %s (%zu open)", a, h->nconns);
	if ((c->handshake = evtimer_new(h->d->base, handshake_late, c)))
		evtimer_add(c->handshake, &tv);
	h->accepting = c;
	h->http_accept(lev, fd, sa, salen, h->http_accept_arg);
	if (h->accepting == c) { /* evhttp did not take it (and closed it) */
		h->accepting = NULL;
		conn_unlink(c);
	}
}

/* accept() failed: on EMFILE and its kin, pause accepting (doubling, up to 2 s). */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct dmn_http *h = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv;

	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
		dmn_log(DMN_LOG_WARN, "accept(): %s", strerror(e));
		return;
	}
	h->backoff_ms = h->backoff_ms ? h->backoff_ms * 2 : 50;
	if (h->backoff_ms > 2000)
		h->backoff_ms = 2000;
	dmn_log(DMN_LOG_WARN, "accept(): %s: not accepting for %u ms (%zu connections open)",
		strerror(e), h->backoff_ms, h->nconns);
	evconnlistener_disable(lev);
	tv.tv_sec = h->backoff_ms / 1000;
	tv.tv_usec = (suseconds_t)(h->backoff_ms % 1000) * 1000;
	evtimer_add(h->resume_ev, &tv);
}

/*
 * The descriptors the caps need: raise RLIMIT_NOFILE's soft limit to max_connections
 * and a margin for the ledger, workers and the control socket; when the hard limit is
 * lower, lower max_connections to what fits.
 */
static void fit_fd_limit(struct dmn_config *c)
{
	struct rlimit rl;
	rlim_t margin = 64 + 16 * (rlim_t)c->workers, need = c->max_connections + margin;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < need) {
		rl.rlim_cur =
		    rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need) {
		unsigned fit = rl.rlim_cur > margin + 16 ? (unsigned)(rl.rlim_cur - margin) : 16;
		dmn_log(DMN_LOG_WARN, "open-file limit %llu: max_connections lowered from %u to %u",
			(unsigned long long)rl.rlim_cur, c->max_connections, fit);
		c->max_connections = fit;
	}
	if (c->max_per_address > c->max_connections)
		c->max_per_address = c->max_connections;
}

/*
 * The trust branch's CRL, read again whenever the branch moved (a push from the city,
 * a sync): a revocation applies to the next handshake, without SIGHUP or an export to
 * [daemon] crl. NULL when the ledger has no trust branch or no crl.pem on it.
 */
static X509_CRL *trust_crl(struct dmn_http *h)
{
	struct buf pem = BUF_INIT;
	git_oid head;
	BIO *bio;

	if (!h->trust_l && ledger_open(&h->trust_l, h->d->cfg.ledger) < 0) {
		dmn_log(DMN_LOG_ERROR, "revocation: %s", err_msg());
		err_clear();
		return h->crl;
	}
	if (git_reference_name_to_id(&head, h->trust_l->repo, "refs/heads/trust") < 0) {
		git_error_clear();
		return h->crl;
	}
	if (!git_oid_is_zero(&h->crl_head) && git_oid_equal(&head, &h->crl_head))
		return h->crl;
	if (trust_read_file(&pem, h->trust_l, "crl.pem") == 0 &&
	    (bio = BIO_new_mem_buf(pem.ptr, (int)pem.len))) {
		X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		BIO_free(bio);
		if (crl) {
			X509_CRL_free(h->crl);
			h->crl = crl;
		} else {
			dmn_log(DMN_LOG_ERROR,
				"revocation: the trust branch's crl.pem is not a CRL");
		}
	}
	err_clear();
	ERR_clear_error();
	buf_release(&pem);
	git_oid_cpy(&h->crl_head, &head);
	return h->crl;
}

/* Is the verified leaf revoked by the trust branch's CRL (signed by its issuer)? */
static bool trust_revoked(struct dmn_http *h, X509_STORE_CTX *x, X509 *leaf)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(x);
	X509 *issuer = chain && sk_X509_num(chain) > 1 ? sk_X509_value(chain, 1) : NULL;
	X509_CRL *crl = trust_crl(h);
	X509_REVOKED *rev = NULL;
	bool revoked;

	if (!crl || !issuer)
		return false;
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0 ||
	    X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1) {
		ERR_clear_error();
		return false; /* not this CA's list: trust_load refuses such a branch anyway */
	}
	revoked = X509_CRL_get0_by_cert(crl, &rev, leaf) == 1;
	ERR_clear_error();
	return revoked;
}

static int verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct dmn_http *h = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;

	if (ok && h && X509_STORE_CTX_get_error_depth(x) == 0 &&
	    trust_revoked(h, x, X509_STORE_CTX_get_current_cert(x))) {
		X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REVOKED);
		ok = 0;
	}
	if (!ok) {
		char cn[256] = "?";
		X509 *cert = X509_STORE_CTX_get_current_cert(x);
		if (cert)
			X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
						  sizeof(cn));
		dmn_log(DMN_LOG_WARN, "refused client certificate '%s': %s", cn,
			X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
		ERR_clear_error();
	}
	return ok;
}

static int load_crl(X509_STORE *store, const char *path)
{
	FILE *f = fopen(path, "r");
	X509_CRL *crl;
	int n = 0;

	if (!f)
		return err_errno(ERR_NOTFOUND, "cannot open CRL '%s'", path);
	while ((crl = PEM_read_X509_CRL(f, NULL, NULL, NULL))) {
		X509_STORE_add_crl(store, crl);
		X509_CRL_free(crl);
		n++;
	}
	fclose(f);
	ERR_clear_error();
	if (n == 0)
		return err_set(ERR_INVALID, "CRL '%s' holds no PEM revocation list", path);
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return 0;
}

/* A server context from the configuration: TLS 1.3, our cert and key, the CA, the CRL. */
static int make_ctx(SSL_CTX **out, const struct dmn_config *c)
{
	SSL_CTX *ctx = NULL;
	STACK_OF(X509_NAME) *names = NULL;
	int rc;

	if ((rc = tls_ctx_new(&ctx, true, c->cert, c->key, c->ca)) < 0)
		return rc;
	if ((names = SSL_load_client_CA_file(c->ca)))
		SSL_CTX_set_client_CA_list(ctx, names);
	if (c->crl && (rc = load_crl(SSL_CTX_get_cert_store(ctx), c->crl)) < 0)
		goto out;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	SSL_CTX_set_num_tickets(ctx, 0);
	*out = ctx;
	ctx = NULL;
out:
	SSL_CTX_free(ctx);
	return rc;
}

static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
	struct dmn_http *h = arg;
	SSL *ssl = SSL_new(h->ctx);

	if (!ssl)
		return NULL;
	if (h->accepting) { /* counted until this SSL is freed */
		h->accepting->ssl = ssl;
		SSL_set_ex_data(ssl, conn_idx, h->accepting);
		h->accepting = NULL;
	}
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

/* --- workers --------------------------------------------------------------------- */

/*
 * Inflate a gzip request body into out, at most max bytes (a zlib bomb inflates by 1000
 * times: 130 KB to a 128 MiB pack of millions of tiny objects).
 */
static int gunzip(struct buf *out, const char *in, size_t len, size_t max)
{
	z_stream zs;
	char chunk[65536];
	int z, rc = 0;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return err_set(ERR_NOMEM, "cannot start gzip decoding");
	zs.next_in = (unsigned char *)in;
	zs.avail_in = (unsigned)len;
	do {
		zs.next_out = (unsigned char *)chunk;
		zs.avail_out = sizeof(chunk);
		z = inflate(&zs, Z_NO_FLUSH);
		if (z != Z_OK && z != Z_STREAM_END) {
			rc = err_set(ERR_INVALID, "bad gzip request body");
			break;
		}
		if (out->len + (sizeof(chunk) - zs.avail_out) > max) {
			rc = err_set(ERR_INVALID,
				     "gzip request body of %zu bytes inflates past %zu bytes", len,
				     max);
			break;
		}
		if ((rc = buf_add(out, chunk, sizeof(chunk) - zs.avail_out)) < 0)
			break;
	} while (z != Z_STREAM_END && (zs.avail_in > 0 || zs.avail_out == 0));
	if (rc == 0 && z != Z_STREAM_END)
		rc = err_set(ERR_INVALID, "truncated gzip request body");
	inflateEnd(&zs);
	return rc;
}

/* Log an upload-pack answer: its size, and the step it ends at when it is one (its
 * "step <oid>" line follows the one ACK or NAK line: doc/protocol.md). */
static void log_upload(const char *client, const struct buf *out)
{
	const char *s =
	    out->len > 60 ? memmem(out->ptr, out->len < 80 ? out->len : 80, "step ", 5) : NULL;

	if (s && (size_t)(s - out->ptr) + 45 <= out->len)
		dmn_log(DMN_LOG_INFO, "upload-pack for '%s': step %.40s, %zu bytes", client, s + 5,
			out->len);
	else
		dmn_log(DMN_LOG_INFO, "upload-pack for '%s': %zu bytes", client, out->len);
}

static void job_run(struct dmn_http *h, struct job *j)
{
	struct ledger *l = NULL;
	struct buf plain = BUF_INIT;
	const char *body = j->body;
	size_t len = j->len;
	int rc;

	buf_init(&plain, h->d->cfg.max_body);
	if ((rc = ledger_open(&l, h->d->cfg.ledger)) < 0)
		goto out;
	if (j->gzip) {
		size_t max = j->len * h->d->cfg.max_inflate_ratio;

		if (max / h->d->cfg.max_inflate_ratio != j->len || max > h->d->cfg.max_body)
			max = h->d->cfg.max_body;
		if (max < ((size_t)1 << 20))
			max = (size_t)1 << 20 < h->d->cfg.max_body ? (size_t)1 << 20
								   : h->d->cfg.max_body;
		if ((rc = gunzip(&plain, j->body, j->len, max)) < 0)
			goto out;
		free(j->body); /* one copy of the request at a time */
		j->body = NULL;
		body = plain.ptr;
		len = plain.len;
	}
	switch (j->kind) {
	case JOB_ADVERTISE:
		rc = xfer_advertise(&j->out, l, j->service, j->client);
		j->ctype = j->service == XFER_UPLOAD_PACK
			       ? "application/x-git-upload-pack-advertisement"
			       : "application/x-git-receive-pack-advertisement";
		break;
	case JOB_UPLOAD:
		rc = xfer_upload_pack(&j->out, l, j->client, body, len);
		j->ctype = "application/x-git-upload-pack-result";
		log_upload(j->client, &j->out);
		break;
	case JOB_RECEIVE: {
		/* every new commit is checked by verify_commit against this ledger's trust */
		struct xfer_hooks hooks = h->hooks;
		hooks.verify = verify_received;
		hooks.verify_payload = l;
		rc = xfer_receive_pack(&j->out, l, &hooks, j->client, body, len);
		j->ctype = "application/x-git-receive-pack-result";
		dmn_log(DMN_LOG_INFO, "receive-pack from '%s': %zu bytes", j->client, len);
		break;
	}
	}
out:
	if (rc < 0) {
		dmn_log(DMN_LOG_ERROR, "request from '%s': %s", j->client, err_msg());
		buf_reset(&j->out);
		buf_printf(&j->out, "%s\n", err_msg());
		j->status = rc == ERR_INVALID ? 400 : 500;
		j->ctype = "text/plain";
	} else {
		j->status = 200;
	}
	free(j->body);
	j->body = NULL;
	buf_release(&plain);
	ledger_free(l);
	err_clear();
}

static void *worker(void *arg)
{
	struct dmn_http *h = arg;
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&h->mu);
		while (!h->todo && !h->stopping)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->stopping) {
			pthread_mutex_unlock(&h->mu);
			return NULL;
		}
		j = h->todo;
		h->todo = j->next;
		if (!h->todo)
			h->todo_tail = &h->todo;
		h->ntodo--;
		pthread_mutex_unlock(&h->mu);

		job_run(h, j);

		pthread_mutex_lock(&h->mu);
		j->next = h->done;
		h->done = j;
		pthread_mutex_unlock(&h->mu);
		event_active(h->done_ev, EV_READ, 0);
	}
}

static void free_chunk(const void *data, size_t len, void *extra)
{
	free((void *)data);
}

/*
 * Send the response's TLS records (headers, body) at once: with Nagle's algorithm the
 * second small record waits for the client's delayed ACK, ~40 ms per request.
 */
static void set_nodelay(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	int one = 1;

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void reply(struct evhttp_request *req, int status, const char *ctype, struct buf *body)
{
	struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
	struct evbuffer *evb = evbuffer_new();
	size_t len;
	char *data;

	evhttp_add_header(hd, "Content-Type", ctype);
	evhttp_add_header(hd, "Cache-Control", "no-cache, max-age=0, must-revalidate");
	evhttp_add_header(hd, "Expires", "Fri, 01 Jan 1980 00:00:00 GMT");
	evhttp_add_header(hd, "Pragma", "no-cache");
	if (evb && body->len && (data = buf_detach(body, &len)))
		evbuffer_add_reference(evb, data, len, free_chunk, NULL);
	set_nodelay(req);
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", evb);
	evbuffer_free(evb);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dmn_http *h = arg;
	struct job *list, *j;

	pthread_mutex_lock(&h->mu);
	list = h->done;
	h->done = NULL;
	pthread_mutex_unlock(&h->mu);
	while ((j = list)) {
		list = j->next;
		reply(j->req, j->status, j->ctype, &j->out);
		buf_release(&j->out);
		free(j);
	}
}

/* --- requests ------------------------------------------------------------------- */

static void fail(struct evhttp_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct evhttp_request *req, int status, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	dmn_log(DMN_LOG_INFO, "%d %s: %s", status, evhttp_request_get_uri(req), b.ptr);
	buf_addch(&b, '\n');
	reply(req, status, "text/plain", &b);
	buf_release(&b);
}

/* The client's office: its certificate's subject CN. */
static int client_office(char out[OFFICE_CODE_MAX + 1], struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509 *peer = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	char cn[64] = "";

	if (!peer)
		return err_set(ERR_DENIED, "no client certificate");
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn,
				      sizeof(cn)) <= 0 ||
	    strlen(cn) > OFFICE_CODE_MAX || office_level(cn) < 0) {
		err_clear();
		return err_set(ERR_DENIED, "client certificate CN '%s' is not an office code", cn);
	}
	snprintf(out, OFFICE_CODE_MAX + 1, "%s", cn);
	return 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct dmn_http *h = arg;
	const char *uri = evhttp_request_get_uri(req), *path, *rest, *svc = NULL, *enc, *ctype;
	struct evhttp_uri *u = evhttp_uri_parse(uri);
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	struct evkeyvalq query = {0};
	struct evbuffer *in;
	size_t nlen = strlen(h->d->cfg.name);
	struct job *j = NULL;

	if (!u || !(path = evhttp_uri_get_path(u)) || path[0] != '/' ||
	    strncmp(path + 1, h->d->cfg.name, nlen) != 0 || path[1 + nlen] != '/') {
		fail(req, 404, "no repository at '%s'", uri);
		goto out;
	}
	rest = path + 2 + nlen;
	if (!(j = calloc(1, sizeof(*j)))) {
		fail(req, 503, "out of memory");
		goto out;
	}
	j->req = req;
	if (client_office(j->client, req) < 0) {
		fail(req, 403, "%s", err_msg());
		goto out;
	}
	if (strcmp(rest, "info/refs") == 0 && method == EVHTTP_REQ_GET) {
		if (evhttp_uri_get_query(u))
			evhttp_parse_query_str(evhttp_uri_get_query(u), &query);
		svc = evhttp_find_header(&query, "service");
		if (!svc) {
			fail(req, 403, "dumb HTTP is not served: ask for ?service=git-upload-pack");
			goto out;
		}
		if (xfer_service_parse(&j->service, svc) < 0) {
			fail(req, 403, "%s", err_msg());
			goto out;
		}
		j->kind = JOB_ADVERTISE;
	} else if (strcmp(rest, "git-upload-pack") == 0 && method == EVHTTP_REQ_POST) {
		j->kind = JOB_UPLOAD;
		ctype = "application/x-git-upload-pack-request";
	} else if (strcmp(rest, "git-receive-pack") == 0 && method == EVHTTP_REQ_POST) {
		j->kind = JOB_RECEIVE;
		ctype = "application/x-git-receive-pack-request";
	} else {
		fail(req, 404, "no such endpoint '%s'", uri);
		goto out;
	}
	if (j->kind != JOB_ADVERTISE) {
		const char *got =
		    evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
		if (!got || strcmp(got, ctype) != 0) {
			fail(req, 415, "expected Content-Type %s", ctype);
			goto out;
		}
		enc = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Encoding");
		if (enc && strcmp(enc, "gzip") != 0 && strcmp(enc, "x-gzip") != 0) {
			fail(req, 415, "unsupported Content-Encoding '%s'", enc);
			goto out;
		}
		j->gzip = enc != NULL;
		in = evhttp_request_get_input_buffer(req);
		j->len = evbuffer_get_length(in);
		if (!(j->body = malloc(j->len + 1))) {
			fail(req, 503, "out of memory");
			goto out;
		}
		evbuffer_remove(in, j->body, j->len);
	}
	pthread_mutex_lock(&h->mu);
	if (h->ntodo >= QUEUE_MAX || h->stopping) {
		pthread_mutex_unlock(&h->mu);
		fail(req, 503, "busy: try again later");
		goto out;
	}
	buf_init(&j->out, 0);
	*h->todo_tail = j;
	h->todo_tail = &j->next;
	h->ntodo++;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	dmn_log(DMN_LOG_DEBUG, "%s %s from '%s'", method == EVHTTP_REQ_GET ? "GET" : "POST", uri,
		j->client);
	j = NULL;
out:
	if (j)
		free(j->body);
	free(j);
	evhttp_clear_headers(&query);
	if (u)
		evhttp_uri_free(u);
}

static void pushed(const char *branch, const git_oid *old, const git_oid *new, const char *client,
		   void *payload)
{
	struct dmn_http *h = payload;
	char o[GIT_OID_HEXSZ + 1], n[GIT_OID_HEXSZ + 1];

	git_oid_tostr(o, sizeof(o), old);
	git_oid_tostr(n, sizeof(n), new);
	dmn_log(DMN_LOG_INFO, "push from '%s': %s %.12s -> %.12s", client, branch, o, n);
	/* push-through: a receiving office passes the news upstream right away */
	if (h->d->sync && h->d->cfg.parent)
		dmn_sync_request(h->d->sync, NULL, NULL);
}

/*
 * libevent 2.1's evhttp has no connection cap and no hook at accept: put on_accept in
 * front of evhttp's accept callback. The listener is opaque, so its callback is read
 * from libevent 2.1's layout (ops, lock, cb, errorcb, user_data), checked by its
 * user_data being our evhttp; a libevent laid out otherwise is refused at start.
 */
struct lev_21 {
	const void *ops;
	void *lock;
	evconnlistener_cb cb;
	evconnlistener_errorcb errorcb;
	void *user_data;
};

/* libevent's own messages, through dmn_log (escaped, rate-limited) */
static void libevent_log(int severity, const char *msg)
{
	dmn_log(severity >= EVENT_LOG_ERR    ? DMN_LOG_ERROR
		: severity >= EVENT_LOG_WARN ? DMN_LOG_WARN
					     : DMN_LOG_DEBUG,
		"libevent: %s", msg);
}

static int limit_connections(struct dmn_http *h, struct evconnlistener *lev)
{
	const struct lev_21 *l = (const struct lev_21 *)lev;

	if (conn_idx < 0 && (conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_gone)) < 0)
		return err_ssl(ERR_GENERIC, "cannot set up connection accounting");
	if (!lev || l->user_data != h->http || !l->cb)
		return err_set(ERR_GENERIC, "this libevent's listener is not the 2.1 layout "
					    "the connection limits need");
	if (!(h->resume_ev = evtimer_new(h->d->base, resume_accept, h)))
		return err_set(ERR_NOMEM, "out of memory");
	event_set_log_callback(libevent_log);
	h->lev = lev;
	h->http_accept = l->cb;
	h->http_accept_arg = l->user_data;
	evconnlistener_set_cb(lev, on_accept, h);
	evconnlistener_set_error_cb(lev, on_accept_error);
	return 0;
}

int dmn_http_start(struct dmn_http **out, struct dmn *d)
{
	struct dmn_http *h = calloc(1, sizeof(*h));
	struct evhttp_bound_socket *bound;
	char host[128];
	const char *colon;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	unsigned port;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (!h)
		return err_set(ERR_NOMEM, "out of memory");
	h->d = d;
	h->todo_tail = &h->todo;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->hooks.max_pack = d->cfg.max_body;
	h->hooks.max_objects = d->cfg.max_objects;
	h->hooks.pushed = pushed;
	h->hooks.pushed_payload = h;
	if ((rc = make_ctx(&h->ctx, &d->cfg)) < 0)
		goto out;
	SSL_CTX_set_app_data(h->ctx, h);
	fit_fd_limit(&d->cfg);
	colon = strrchr(d->cfg.listen, ':');
	if (!colon || colon == d->cfg.listen || (size_t)(colon - d->cfg.listen) >= sizeof(host) ||
	    sscanf(colon + 1, "%u", &port) != 1 || port > 65535) {
		rc = err_set(ERR_INVALID, "listen address '%s' is not host:port", d->cfg.listen);
		goto out;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - d->cfg.listen), d->cfg.listen);
	if (!(h->http = evhttp_new(d->base)) ||
	    !(h->done_ev = event_new(d->base, -1, 0, done_cb, h))) {
		rc = err_set(ERR_NOMEM, "cannot start the HTTP server");
		goto out;
	}
	evhttp_set_bevcb(h->http, bev_cb, h);
	evhttp_set_gencb(h->http, on_request, h);
	evhttp_set_timeout(h->http, (int)d->cfg.timeout);
	evhttp_set_max_headers_size(h->http, (ev_ssize_t)d->cfg.max_headers);
	evhttp_set_max_body_size(h->http, (ev_ssize_t)d->cfg.max_body);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	if (!(bound = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port))) {
		rc = err_errno(ERR_NETWORK, "cannot listen on '%s'", d->cfg.listen);
		goto out;
	}
	if ((rc = limit_connections(h, evhttp_bound_socket_get_listener(bound))) < 0)
		goto out;
	if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sl) == 0) {
		char a[INET6_ADDRSTRLEN] = "?";
		unsigned p = 0;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
			p = ntohs(s4->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
			p = ntohs(s6->sin6_port);
		}
		snprintf(d->listen_addr, sizeof(d->listen_addr), "%s:%u", a, p);
	}
	if (!(h->threads = calloc(d->cfg.workers, sizeof(*h->threads)))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < d->cfg.workers; i++) {
		if (pthread_create(&h->threads[i], NULL, worker, h) != 0) {
			rc = err_set(ERR_GENERIC, "cannot start worker threads");
			goto out;
		}
		h->nthreads++;
	}
	dmn_log(DMN_LOG_INFO, "listening on %s (repository '/%s/', %u workers)", d->listen_addr,
		d->cfg.name, d->cfg.workers);
	*out = h;
	h = NULL;
out:
	dmn_http_free(h);
	return rc;
}

int dmn_http_reload(struct dmn_http *h)
{
	SSL_CTX *ctx = NULL;
	int rc;

	if ((rc = make_ctx(&ctx, &h->d->cfg)) < 0)
		return rc;
	SSL_CTX_set_app_data(ctx, h);
	SSL_CTX_free(h->ctx); /* connections hold their own reference */
	h->ctx = ctx;
	return 0;
}

void dmn_http_free(struct dmn_http *h)
{
	struct job *j;
	size_t i;

	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	for (i = 0; i < h->nthreads; i++)
		pthread_join(h->threads[i], NULL);
	free(h->threads);
	while ((j = h->todo)) {
		h->todo = j->next;
		free(j->body);
		free(j);
	}
	while ((j = h->done)) {
		h->done = j->next;
		buf_release(&j->out);
		free(j);
	}
	if (h->http)
		evhttp_free(h->http); /* frees every connection: conn_gone unlinks each */
	if (h->resume_ev)
		event_free(h->resume_ev);
	/* connections libevent frees later (deferred, in event_base_free) forget us */
	while (h->conns) {
		if (h->conns->ssl)
			SSL_set_ex_data(h->conns->ssl, conn_idx, NULL);
		conn_unlink(h->conns);
	}
	if (h->done_ev)
		event_free(h->done_ev);
	SSL_CTX_free(h->ctx);
	X509_CRL_free(h->crl);
	ledger_free(h->trust_l);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}
