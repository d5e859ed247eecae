/*
 * cutproxy: a TCP proxy on 127.0.0.1 for the cut-connection tests. It forwards every
 * connection to 127.0.0.1:TARGET, counting bytes per direction over all connections;
 * once UP bytes went client->server (or DOWN bytes server->client) it closes every
 * connection there and then, mid-stream, and closes each later one on accept. With
 * --stall it stops forwarding instead, leaving the connections open (for kill -9 tests).
 * A limit of -1 is no limit. Prints its port on stdout, then serves until killed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXPAIRS 64

struct pair {
	int fd[2]; /* 0: client, 1: server; -1 when unused */
};

static void pair_close(struct pair *p)
{
	if (p->fd[0] >= 0)
		close(p->fd[0]);
	if (p->fd[1] >= 0)
		close(p->fd[1]);
	p->fd[0] = p->fd[1] = -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {0};
	socklen_t sl = sizeof(sa);
	struct pair pairs[MAXPAIRS];
	long long limit[2], used[2] = {0, 0}; /* [0]: client->server, [1]: server->client */
	int lfd, target, stall = 0, i, one = 1, cut = 0;
	char buf[16384];

	if (argc == 5 && strcmp(argv[1], "--stall") == 0) {
		stall = 1;
		argv++;
		argc--;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: cutproxy [--stall] TARGET_PORT UP DOWN\n");
		return 2;
	}
	target = atoi(argv[1]);
	limit[0] = atoll(argv[2]);
	limit[1] = atoll(argv[3]);
	for (i = 0; i < MAXPAIRS; i++)
		pairs[i].fd[0] = pairs[i].fd[1] = -1;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("cutproxy: listen");
		return 1;
	}
	printf("%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		struct pollfd pf[1 + 2 * MAXPAIRS];
		int np = 1;

		pf[0].fd = lfd;
		pf[0].events = POLLIN;
		for (i = 0; i < MAXPAIRS; i++) {
			pf[np].fd = cut ? -1 : pairs[i].fd[0];
			pf[np++].events = POLLIN;
			pf[np].fd = cut ? -1 : pairs[i].fd[1];
			pf[np++].events = POLLIN;
		}
		if (poll(pf, (nfds_t)np, -1) < 0)
			continue;
		if (pf[0].revents & POLLIN) {
			int c = accept(lfd, NULL, NULL), s = -1;
			if (c >= 0 && !cut) {
				struct sockaddr_in ta = {0};
				ta.sin_family = AF_INET;
				ta.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
				ta.sin_port = htons((unsigned short)target);
				s = socket(AF_INET, SOCK_STREAM, 0);
				if (s >= 0 && connect(s, (struct sockaddr *)&ta, sizeof(ta)) < 0) {
					close(s);
					s = -1;
				}
			}
			for (i = 0; i < MAXPAIRS && pairs[i].fd[0] >= 0; i++)
				;
			if (c >= 0 && s >= 0 && i < MAXPAIRS) {
				pairs[i].fd[0] = c;
				pairs[i].fd[1] = s;
			} else if (!stall || !cut) {
				if (c >= 0)
					close(c);
				if (s >= 0)
					close(s);
			}
		}
		for (i = 0; i < MAXPAIRS && !cut; i++) {
			int dir;
			for (dir = 0; dir < 2 && pairs[i].fd[0] >= 0; dir++) {
				short ev = pf[1 + 2 * i + dir].revents;
				ssize_t n;
				size_t want = sizeof(buf);
				if (!(ev & (POLLIN | POLLHUP | POLLERR)))
					continue;
				if (limit[dir] >= 0 && (long long)want > limit[dir] - used[dir])
					want = (size_t)(limit[dir] - used[dir]);
				n = want ? read(pairs[i].fd[dir], buf, want) : 0;
				if (n <= 0 && want) {
					pair_close(&pairs[i]);
					break;
				}
				if (n > 0 && write(pairs[i].fd[1 - dir], buf, (size_t)n) != n) {
					pair_close(&pairs[i]);
					break;
				}
				used[dir] += n;
				if (limit[dir] >= 0 && used[dir] >= limit[dir])
					cut = 1;
			}
		}
		if (cut && !stall)
			for (i = 0; i < MAXPAIRS; i++)
				pair_close(&pairs[i]);
	}
}
