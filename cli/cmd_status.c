/*
 * caseledger status / sync: talk to the office's caseledgerd over its control socket
 * (a line of JSON each way; doc/protocol.md, "Control socket"). The socket is
 * <ledger>/caseledgerd.sock unless --socket names another.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cmd.h"
#include "err.h"
#include "out.h"

#define CTL_VERSION   1
#define CTL_REPLY_MAX ((size_t)1 << 24)

int cmd_ctl_request(json_t **out, struct cmd_ctx *ctx, const char *socket_path, json_t *req)
{
	struct sockaddr_un sa = {0};
	struct buf path = BUF_INIT, reply = BUF_INIT;
	char *text = NULL, chunk[4096];
	json_error_t je;
	int fd = -1, rc = 0;
	ssize_t n;

	*out = NULL;
	if (socket_path)
		rc = buf_adds(&path, socket_path);
	else
		rc = buf_printf(&path, "%s/caseledgerd.sock", ctx->dir);
	if (rc < 0)
		goto out;
	if (path.len >= sizeof(sa.sun_path)) {
		rc = err_set(ERR_INVALID, "control socket path '%s' is too long", path.ptr);
		goto out;
	}
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path.ptr, path.len);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = err_errno(ERR_NOTFOUND, "no caseledgerd answers on '%s'", path.ptr);
		goto out;
	}
	json_object_set_new(req, "v", json_integer(CTL_VERSION));
	if (!(text = json_dumps(req, JSON_COMPACT))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (write(fd, text, strlen(text)) < 0 || write(fd, "\n", 1) < 0) {
		rc = err_errno(ERR_NETWORK, "cannot write to '%s'", path.ptr);
		goto out;
	}
	buf_init(&reply, CTL_REPLY_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if ((rc = buf_add(&reply, chunk, (size_t)n)) < 0)
			goto out;
	if (n < 0) {
		rc = err_errno(ERR_NETWORK, "cannot read from '%s'", path.ptr);
		goto out;
	}
	if (!(*out = json_loadb(reply.ptr, reply.len, 0, &je)) || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = err_set(ERR_NETWORK, "caseledgerd sent a malformed reply: %s", je.text);
		goto out;
	}
	if (json_integer_value(json_object_get(*out, "v")) != CTL_VERSION) {
		rc =
		    err_set(ERR_NETWORK, "caseledgerd speaks control protocol version %lld, not %d",
			    (long long)json_integer_value(json_object_get(*out, "v")), CTL_VERSION);
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	free(text);
	buf_release(&path);
	buf_release(&reply);
	return rc;
}

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : dflt;
}

/* s for one line of a table: control characters (a peer's or a record's text may hold
 * any) as '?', cut at n - 1 bytes. */
static const char *printable(char *out, size_t n, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < n; i++)
		out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	out[i] = '\0';
	return out;
}

/* One line per branch: branch, peer, outcome, ahead/behind, open conflicts, last
 * success, last error. */
void cmd_print_branches(const json_t *branches)
{
	char name[64], peer[64];
	size_t i;
	json_t *b;

	printf("%-14s %-8s %-11s %6s %6s %9s  %-20s %s\n", "BRANCH", "PEER", "STATE", "AHEAD",
	       "BEHIND", "CONFLICTS", "LAST SUCCESS", "LAST ERROR");
	json_array_foreach (branches, i, b) {
		printf("%-14s %-8s %-11s %6lld %6lld %9lld  %-20s %s\n",
		       printable(name, sizeof(name), str_or(b, "branch", "?")),
		       printable(peer, sizeof(peer), str_or(b, "peer", "-")),
		       str_or(b, "outcome", "-"),
		       (long long)json_integer_value(json_object_get(b, "ahead")),
		       (long long)json_integer_value(json_object_get(b, "behind")),
		       (long long)json_integer_value(json_object_get(b, "conflicts")),
		       str_or(b, "last_success", "never"), out_esc(str_or(b, "last_error", "-")));
	}
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"csv", no_argument, NULL, 'c'},
					     {"socket", required_argument, NULL, 's'},
					     {0}};
	static const char *const cols[] = {"branch",	   "peer",	 "outcome",
					   "ahead",	   "behind",	 "conflicts",
					   "last_success", "last_error", NULL};
	const char *sock = NULL;
	json_t *req = NULL, *rep = NULL, *last;
	char err[600];
	bool json = false, csv = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'c')
			csv = true;
		else if (c == 's')
			sock = optarg;
		else
			return cmd_usage_error(&cmd_status_entry, "unknown option");
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_status_entry, "status takes no arguments");
	if (json && csv)
		return cmd_usage_error(&cmd_status_entry, "give --json or --csv, not both");
	if (!(req = json_pack("{s:s}", "cmd", "status")))
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = cmd_ctl_request(&rep, ctx, sock, req)) < 0)
		goto out;
	if (json) {
		rc = out_json(rep);
	} else if (csv) {
		rc = out_csv(json_object_get(rep, "branches"), cols);
	} else {
		printf("office %s, caseledgerd pid %lld, listening on %s, parent %s\n",
		       str_or(rep, "office", "?"),
		       (long long)json_integer_value(json_object_get(rep, "pid")),
		       str_or(rep, "listen", "-"), str_or(rep, "parent", "-"));
		if (json_string_value(json_object_get(rep, "revoked")))
			printf("REVOKED: %s\n", str_or(rep, "revoked", ""));
		cmd_print_branches(json_object_get(rep, "branches"));
		last = json_object_get(rep, "last_round");
		if (last && !json_is_true(json_object_get(last, "ok")))
			printf("last round, %s: failed: %s\n", str_or(last, "time", "?"),
			       printable(err, sizeof(err), str_or(last, "error", "unknown error")));
	}
out:
	json_decref(req);
	json_decref(rep);
	return rc;
}

const struct cmd_entry cmd_status_entry = {
    .name = "status",
    .usage = "status [--json|--csv] [--socket PATH]\n"
	     "\n"
	     "  --csv  print CSV (RFC 4180, header row), a row per branch: branch, peer,\n"
	     "         outcome, ahead, behind, conflicts, last_success, last_error\n"
	     "\n"
	     "Ask the office's caseledgerd (control socket PATH, default\n"
	     "<ledger>/caseledgerd.sock) for the state of every branch with its parent:\n"
	     "last success, last error, commits ahead and behind.",
    .summary = "show the replication state of each branch",
    .flags = 0,
    .run = run,
};
