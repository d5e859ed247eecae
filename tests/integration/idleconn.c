/*
 * idleconn: the unauthenticated-exhaustion attacker. Opens N TCP connections from
 * source address SRC to 127.0.0.1:PORT, says nothing on them (no TLS), prints how many
 * connect() calls succeeded, and holds them until killed.
 *
 * usage: idleconn SRC PORT N
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in src = {0}, dst = {0};
	struct rlimit rl;
	int n, i, ok = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: idleconn SRC PORT N\n");
		return 2;
	}
	n = atoi(argv[3]);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 16) {
		rl.rlim_cur = rl.rlim_max; /* as many as this process may */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	src.sin_family = dst.sin_family = AF_INET;
	inet_pton(AF_INET, argv[1], &src.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	dst.sin_port = htons((unsigned short)atoi(argv[2]));
	for (i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			break;
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
		    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
			close(fd);
			continue;
		}
		ok++;
	}
	printf("%d\n", ok);
	fflush(stdout);
	for (;;)
		pause();
}
