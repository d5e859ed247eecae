/*
 * ctlsend: a raw client for caseledgerd's control socket, for the bad-input tests. It
 * connects to SOCKET, sends stdin as it is (any bytes, no newline added) and shuts down
 * its sending side — or, with --silent, sends nothing and keeps it open — and prints whatever the
 * daemon answers until it closes the connection. Exits 1 when it cannot connect.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {0};
	char buf[65536];
	ssize_t n;
	int fd, silent = argc == 3 && strcmp(argv[2], "--silent") == 0;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: ctlsend SOCKET [--silent] <request\n");
		return 2;
	}
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, argv[1]);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("ctlsend: connect");
		return 1;
	}
	while (!silent && (n = read(0, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			break; /* the daemon may close on an oversize line */
	if (!silent)
		shutdown(fd, SHUT_WR); /* all sent: the daemon sees the end after the request */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	return 0;
}
