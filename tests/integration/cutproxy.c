/*
 * cutproxy: a TCP proxy on 127.0.0.1 for the cut-connection tests. It forwards every
 * connection to 127.0.0.1:TARGET, counting bytes per direction over all connections;
 * once UP bytes went client->server (or DOWN bytes server->client) it closes every
 * connection there and then, mid-stream, and closes each later one on accept. With
 * --stall it stops forwarding instead, leaving the connections open (for kill -9 tests).
 * A limit of -1 is no limit. Prints its port on stdout, then serves until killed.
 *
 * With --control FILE (the chaos test) the proxy does what FILE says, read again every
 * 100 ms: one line "TARGET_PORT MODE [N]", MODE one of
 *   pass       forward
 *   refuse     accept, then close at once
 *   stall      connect to the target, then forward nothing
 *   blackhole  take what the client sends, answer nothing, never connect
 *   cut N      forward; close a connection once N bytes went server->client on it
 *   reset N    the same, with a reset (RST) instead of a close
 *   hold N     forward, but hold the N-th connection since the line was written
 *   flap N     forward, but drop the link every N ms: every open connection is closed
 *              there and then (a link up for N ms at a time)
 * A new line applies to new connections; stalled, black-holed and held ones are reset.
 * A missing or unreadable FILE is "refuse".
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXPAIRS 64

struct pair {
	int fd[2];   /* 0: client, 1: server; -1 when unused */
	int mode;    /* --control: the mode at accept */
	long long n; /* cut/reset: bytes server->client still allowed */
	int frozen;  /* stall, blackhole, hold: nothing is forwarded */
};

enum { M_PASS, M_REFUSE, M_STALL, M_BLACKHOLE, M_CUT, M_RESET, M_HOLD, M_FLAP };

struct control {
	char line[128]; /* as last read */
	int target, mode;
	long long n;
	long long accepted; /* connections since the line changed */
	long long dropped;  /* flap: when the link last dropped (ms, monotonic) */
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read FILE into c; 1 when its line changed. */
static int control_read(struct control *c, const char *path)
{
	char line[128] = "", word[32] = "";
	FILE *f = fopen(path, "r");
	long long n = 0;
	int target = 0;

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	if (strcmp(line, c->line) == 0)
		return 0;
	snprintf(c->line, sizeof(c->line), "%s", line);
	c->accepted = 0;
	c->dropped = now_ms();
	c->mode = M_REFUSE;
	c->n = 0;
	if (sscanf(line, "%d %31s %lld", &target, word, &n) >= 2) {
		c->target = target;
		c->n = n;
		c->mode = !strcmp(word, "pass")	       ? M_PASS
			  : !strcmp(word, "stall")     ? M_STALL
			  : !strcmp(word, "blackhole") ? M_BLACKHOLE
			  : !strcmp(word, "cut")       ? M_CUT
			  : !strcmp(word, "reset")     ? M_RESET
			  : !strcmp(word, "hold")      ? M_HOLD
			  : !strcmp(word, "flap")      ? M_FLAP
						       : M_REFUSE;
	}
	return 1;
}

static void pair_reset(struct pair *p)
{
	struct linger lg = {1, 0};

	if (p->fd[0] >= 0)
		setsockopt(p->fd[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (p->fd[1] >= 0)
		setsockopt(p->fd[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static int connect_to(int port)
{
	struct sockaddr_in ta = {0};
	int s = socket(AF_INET, SOCK_STREAM, 0);

	ta.sin_family = AF_INET;
	ta.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ta.sin_port = htons((unsigned short)port);
	if (s >= 0 && connect(s, (struct sockaddr *)&ta, sizeof(ta)) < 0) {
		close(s);
		s = -1;
	}
	return s;
}

static void pair_close(struct pair *p)
{
	if (p->fd[0] >= 0)
		close(p->fd[0]);
	if (p->fd[1] >= 0)
		close(p->fd[1]);
	p->fd[0] = p->fd[1] = -1;
}

static void pair_close(struct pair *p);

/* --control FILE: the chaos test's proxy (see the top of the file). */
static int controlled(const char *path)
{
	struct sockaddr_in sa = {0};
	socklen_t sl = sizeof(sa);
	struct pair pairs[MAXPAIRS];
	struct control ctl = {"-", 0, M_REFUSE, 0, 0, 0};
	int lfd, i, one = 1;
	char buf[16384];

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

		if (control_read(&ctl, path))
			for (i = 0; i < MAXPAIRS; i++)
				if (pairs[i].fd[0] >= 0 && pairs[i].frozen) {
					pair_reset(&pairs[i]);
					pair_close(&pairs[i]);
				}
		if (ctl.mode == M_FLAP && now_ms() - ctl.dropped >= ctl.n) {
			for (i = 0; i < MAXPAIRS; i++)
				if (pairs[i].fd[0] >= 0) {
					pair_reset(&pairs[i]);
					pair_close(&pairs[i]);
				}
			ctl.dropped = now_ms();
		}
		pf[0].fd = lfd;
		pf[0].events = POLLIN;
		for (i = 0; i < MAXPAIRS; i++) {
			int fz = pairs[i].frozen;
			/* a black hole reads (and drops) what the client sends; a stall or hold
			 * reads nothing */
			pf[np].fd = pairs[i].fd[0];
			pf[np++].events = fz && pairs[i].mode != M_BLACKHOLE ? 0 : POLLIN;
			pf[np].fd = pairs[i].fd[1];
			pf[np++].events = fz ? 0 : POLLIN; /* hang-ups are still seen */
		}
		if (poll(pf, (nfds_t)np, 100) < 0)
			continue;
		if (pf[0].revents & POLLIN) {
			int c = accept(lfd, NULL, NULL), s = -1, m = ctl.mode;

			for (i = 0; i < MAXPAIRS && pairs[i].fd[0] >= 0; i++)
				;
			ctl.accepted++;
			if (c >= 0 && (m == M_REFUSE || i == MAXPAIRS)) {
				close(c);
			} else if (c >= 0) {
				if (m != M_BLACKHOLE && (s = connect_to(ctl.target)) < 0) {
					close(c); /* the target is down: as it would be */
				} else {
					pairs[i].fd[0] = c;
					pairs[i].fd[1] = s;
					pairs[i].mode = m;
					pairs[i].n = ctl.n;
					pairs[i].frozen = m == M_STALL || m == M_BLACKHOLE ||
							  (m == M_HOLD && ctl.accepted == ctl.n);
				}
			}
		}
		for (i = 0; i < MAXPAIRS; i++) {
			int dir;
			for (dir = 0; dir < 2 && pairs[i].fd[0] >= 0; dir++) {
				short ev = pf[1 + 2 * i + dir].revents;
				size_t want = sizeof(buf);
				ssize_t n;

				if (!(ev & (POLLIN | POLLHUP | POLLERR)))
					continue;
				if (dir == 1 &&
				    (pairs[i].mode == M_CUT || pairs[i].mode == M_RESET) &&
				    (long long)want > pairs[i].n)
					want = (size_t)(pairs[i].n > 0 ? pairs[i].n : 0);
				n = want ? read(pairs[i].fd[dir], buf, want) : 0;
				if (n <= 0) {
					if (!want && pairs[i].mode == M_RESET)
						pair_reset(&pairs[i]);
					pair_close(&pairs[i]);
					break;
				}
				if (pairs[i].frozen) /* a black hole: dropped */
					continue;
				if (write(pairs[i].fd[1 - dir], buf, (size_t)n) != n) {
					pair_close(&pairs[i]);
					break;
				}
				if (dir == 1 &&
				    (pairs[i].mode == M_CUT || pairs[i].mode == M_RESET)) {
					pairs[i].n -= n;
					if (pairs[i].n <= 0) {
						if (pairs[i].mode == M_RESET)
							pair_reset(&pairs[i]);
						pair_close(&pairs[i]);
						break;
					}
				}
			}
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {0};
	socklen_t sl = sizeof(sa);
	struct pair pairs[MAXPAIRS];
	long long limit[2], used[2] = {0, 0}; /* [0]: client->server, [1]: server->client */
	int lfd, target, stall = 0, i, one = 1, cut = 0;
	char buf[16384];

	if (argc == 3 && strcmp(argv[1], "--control") == 0)
		return controlled(argv[2]);
	if (argc == 5 && strcmp(argv[1], "--stall") == 0) {
		stall = 1;
		argv++;
		argc--;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: cutproxy [--stall] TARGET_PORT UP DOWN\n"
				"       cutproxy --control FILE\n");
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
