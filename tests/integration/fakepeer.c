/*
 * fakepeer: a hostile "parent" for the sync client's tests. It serves TLS 1.3 on
 * 127.0.0.1 (a kernel-chosen port, printed on stdout) with CERT and KEY, requires a
 * client certificate from CA, reads each request (headers, then Content-Length bytes)
 * and answers connection k with "HTTP/1.1 200 OK" and the bytes of file RESPk as the
 * body (the last file for every later connection), then closes. The bodies are what the
 * tests want the client to choke on: malformed pkt-lines, lies. Serves until killed.
 *
 * usage: fakepeer CERT KEY CA RESP1 [RESP2 …]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    !(p = malloc((size_t)n + 1)) || fread(p, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "fakepeer: cannot read '%s'\n", path);
		exit(2);
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* Read one request: headers up to a blank line, then its Content-Length bytes. */
static void read_request(SSL *ssl)
{
	char buf[65536];
	size_t have = 0, need = 0;
	char *end = NULL;
	int n;

	while (have < sizeof(buf) - 1) {
		if ((n = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 - have))) <= 0)
			return;
		have += (size_t)n;
		buf[have] = '\0';
		if (!end && (end = strstr(buf, "\r\n\r\n"))) {
			char *cl = strcasestr(buf, "\r\nContent-Length:");
			need = (size_t)(end + 4 - buf) +
			       (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
			fprintf(stderr, "fakepeer: %.*s\n", (int)strcspn(buf, "\r"), buf);
		}
		if (end && have >= need)
			return;
		if (end && have == sizeof(buf) - 1) /* a big body: drop what we read */
			have = 0, need -= sizeof(buf) - 1, end = buf;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {0};
	socklen_t sl = sizeof(sa);
	SSL_CTX *ctx;
	int lfd, one = 1, k = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: fakepeer CERT KEY CA RESP1 [RESP2 ...]\n");
		return 2;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, argv[3], NULL) != 1) {
		ERR_print_errors_fp(stderr);
		return 2;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("fakepeer: listen");
		return 2;
	}
	printf("%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		const char *file = argv[4 + (k < argc - 4 ? k : argc - 5)];
		char hdr[256];
		size_t len;
		char *body;
		SSL *ssl;

		if (fd < 0)
			continue;
		k++;
		ssl = SSL_new(ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1) {
			read_request(ssl);
			body = slurp(file, &len);
			snprintf(hdr, sizeof(hdr),
				 "HTTP/1.1 200 OK\r\nContent-Type: application/x-%s\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
				 len > 30 && memcmp(body + 4, "# service=git-upload-pack", 25) == 0
				     ? "git-upload-pack-advertisement"
				     : "git-upload-pack-result",
				 len);
			SSL_write(ssl, hdr, (int)strlen(hdr));
			if (len)
				SSL_write(ssl, body, (int)len);
			free(body);
			SSL_shutdown(ssl);
		} else {
			ERR_print_errors_fp(stderr);
		}
		SSL_free(ssl);
		close(fd);
	}
}
