/*
 * caseledger sync: ask the office's caseledgerd to sync with its parent now, and with
 * --wait report the outcome per branch. When no daemon answers (or --config / --parent
 * is given), sync in this process instead: the parent, certificate, key and CA come from
 * the [daemon] section of --config FILE or $CASELEDGER_CONFIG, or from --parent, --cert,
 * --key and --ca; each branch is fetched, verified, merged and pushed with sync_branch,
 * with a one-line progress display on a terminal.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>

#include "cmd.h"
#include "err.h"
#include "out.h"
#include "sync.h"
#include "tls.h"
#include "util.h"

/* What an in-process sync needs; strings owned. */
struct sync_conf {
	char *ledger, *parent, *parent_name, *cert, *key, *ca;
	char *parent_office; /* the parent's office code, or NULL: any office above ours */
	unsigned timeout;
	unsigned step; /* commits per push request; 0: SYNC_STEP */
	bool plain;    /* sync_packs = plain */
};

static void sync_conf_release(struct sync_conf *c)
{
	free(c->ledger);
	free(c->parent);
	free(c->parent_name);
	free(c->cert);
	free(c->key);
	free(c->ca);
	free(c->parent_office);
	memset(c, 0, sizeof(*c));
}

/* Set *slot to a copy of value unless an option already set it. */
static int conf_set(char **slot, const char *value)
{
	if (*slot)
		return 1;
	*slot = strdup(value);
	return *slot != NULL;
}

/* inih handler: the keys of [daemon] a sync needs; the others belong to caseledgerd. */
static int conf_entry(void *payload, const char *section, const char *name, const char *value)
{
	struct sync_conf *c = payload;

	if (strcmp(section, "daemon") != 0)
		return 1;
	if (strcmp(name, "ledger") == 0)
		return conf_set(&c->ledger, value);
	if (strcmp(name, "parent") == 0)
		return conf_set(&c->parent, value);
	if (strcmp(name, "parent_name") == 0)
		return conf_set(&c->parent_name, value);
	if (strcmp(name, "cert") == 0)
		return conf_set(&c->cert, value);
	if (strcmp(name, "key") == 0)
		return conf_set(&c->key, value);
	if (strcmp(name, "ca") == 0)
		return conf_set(&c->ca, value);
	if (strcmp(name, "parent_office") == 0)
		return conf_set(&c->parent_office, value);
	if (strcmp(name, "timeout") == 0 && !c->timeout)
		c->timeout = (unsigned)strtoul(value, NULL, 10);
	if (strcmp(name, "sync_step") == 0 && !c->step)
		c->step = (unsigned)strtoul(value, NULL, 10);
	if (strcmp(name, "sync_packs") == 0) {
		if (strcmp(value, "plain") != 0 && strcmp(value, "slim") != 0)
			return 0;
		c->plain = strcmp(value, "plain") == 0;
	}
	return 1;
}

/* Read the [daemon] section of path into c (options given first win). */
static int conf_load(struct sync_conf *c, const char *path)
{
	FILE *f = fopen(path, "r");
	int line;

	if (!f)
		return err_errno(ERR_NOTFOUND, "cannot open config '%s'", path);
	line = ini_parse_file(f, conf_entry, c);
	fclose(f);
	if (line < 0)
		return err_set(ERR_NOMEM, "out of memory");
	if (line > 0)
		return err_set(ERR_INVALID, "config '%s': line %d: bad syntax", path, line);
	return 0;
}

/* The progress line on stderr (a terminal only): "[ 3/12] branch: what". */
static void progress(bool tty, size_t i, size_t n, const char *branch, const char *what)
{
	if (!tty)
		return;
	if (!branch)
		fprintf(stderr, "\r\033[K");
	else
		fprintf(stderr, "\r\033[K[%*zu/%zu] %s: %s", n >= 10 ? 2 : 1, i, n, branch, what);
	fflush(stderr);
}

struct here {
	bool tty;
	const struct sync_peer *peer;
	const char *when;
	json_t *list;
	int rc;
};

static void here_each(const char *branch, const struct sync_branch_result *r, size_t i, size_t n,
		      void *payload)
{
	struct here *h = payload;
	json_t *st;

	if (!r) {
		progress(h->tty, i + 1, n, branch, "fetch, verify, merge, push");
		return;
	}
	if (!(st = json_object()) || sync_result_json(st, r, h->peer, h->when) < 0 ||
	    json_array_append(h->list, st) < 0)
		h->rc = err_set(ERR_NOMEM, "out of memory");
	json_decref(st);
}

/* Sync every branch with the parent in this process; *out gets the daemon's reply shape. */
static int sync_here(json_t **out, struct cmd_ctx *ctx, struct sync_conf *c, bool json)
{
	struct ledger *l = NULL;
	struct buf key = BUF_INIT;
	char when[UTIL_ISO_MAX];
	size_t nfailed = 0;
	struct here h = {.tty = !json && isatty(STDERR_FILENO), .when = when};
	bool registered = false;
	int rc;

	*out = NULL;
	util_iso_time(when, (int64_t)time(NULL), 0);
	if (!c->parent || !c->cert || !c->ca) {
		rc = err_set(ERR_USAGE, "no parent to sync with: give --config FILE (its [daemon] "
					"section), or --parent URL --cert FILE --ca FILE");
		goto out;
	}
	if (!c->ledger && !(c->ledger = strdup(ctx->dir))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!c->key && (rc = util_join(&key, c->ledger, "office.key")) < 0)
		goto out;
	if (!(h.list = json_array())) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	{
		struct tls_client_config tc = {
		    c->cert,	c->key ? c->key : key.ptr, c->ca, c->timeout,
		    c->timeout, c->parent_office,	   NULL};
		struct sync_peer peer = {c->parent, c->parent_name ? c->parent_name : "parent",
					 NULL,	    NULL,
					 NULL,	    c->step,
					 NULL,	    c->plain};

		h.peer = &peer;
		if ((rc = ledger_open(&l, c->ledger)) < 0)
			goto out;
		tc.office = l->office; /* without --parent-office: an office above ours */
		if ((rc = tls_client_register(&tc)) < 0)
			goto out;
		registered = true;
		progress(h.tty, 0, 0, "branches", "listing");
		if ((rc = sync_round(&nfailed, l, &peer, here_each, &h)) < 0 || (rc = h.rc) < 0)
			goto out;
		progress(h.tty, 0, 0, NULL, NULL);
	}
	*out = json_pack("{s:b, s:s, s:b, s:O}", "ok", nfailed == 0, "time", when, "in_process", 1,
			 "branches", h.list);
	if (*out && nfailed)
		json_object_set_new(
		    *out, "error",
		    json_sprintf("%zu branch%s did not sync", nfailed, nfailed == 1 ? "" : "es"));
	rc = *out ? 0 : err_set(ERR_NOMEM, "out of memory");
out:
	if (rc < 0)
		progress(h.tty, 0, 0, NULL, NULL);
	if (registered)
		tls_client_unregister();
	json_decref(h.list);
	ledger_free(l);
	buf_release(&key);
	return rc;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"wait", no_argument, NULL, 'w'},
					     {"socket", required_argument, NULL, 's'},
					     {"config", required_argument, NULL, 'c'},
					     {"parent", required_argument, NULL, 'p'},
					     {"parent-name", required_argument, NULL, 'n'},
					     {"cert", required_argument, NULL, 'C'},
					     {"key", required_argument, NULL, 'k'},
					     {"ca", required_argument, NULL, 'a'},
					     {"parent-office", required_argument, NULL, 'o'},
					     {0}};
	struct sync_conf conf = {0};
	const char *sock = NULL, *config = NULL, *env;
	json_t *req = NULL, *rep = NULL;
	bool json = false, wait = false, here = false;
	char **slot;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		slot = NULL;
		if (c == 'j')
			json = true;
		else if (c == 'w')
			wait = true;
		else if (c == 's')
			sock = optarg;
		else if (c == 'c')
			config = optarg;
		else if (c == 'p')
			slot = &conf.parent;
		else if (c == 'n')
			slot = &conf.parent_name;
		else if (c == 'C')
			slot = &conf.cert;
		else if (c == 'k')
			slot = &conf.key;
		else if (c == 'a')
			slot = &conf.ca;
		else if (c == 'o')
			slot = &conf.parent_office;
		else
			return cmd_usage_error(&cmd_sync_entry, "unknown option");
		if (slot) {
			free(*slot);
			if (!(*slot = strdup(optarg))) {
				rc = err_set(ERR_NOMEM, "out of memory");
				goto out;
			}
		}
	}
	if (optind != argc) {
		rc = cmd_usage_error(&cmd_sync_entry, "sync takes no arguments");
		goto out;
	}
	/* a revoked office says so at once, before asking anyone */
	{
		struct ledger *own = NULL;

		rc = ledger_open(&own, ctx->dir) == 0 ? cmd_check_not_revoked(own) : 0;
		if (rc == 0)
			err_clear(); /* no ledger here: the daemon's config names it */
		ledger_free(own);
		if (rc < 0)
			goto out;
	}
	here = config || conf.parent;
	if (!here) {
		if (!(req = json_pack("{s:s, s:b}", "cmd", "sync", "wait", wait))) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		if (wait && !json && isatty(STDERR_FILENO))
			fprintf(stderr, "syncing with the parent...\n");
		rc = cmd_ctl_request(&rep, ctx, sock, req);
		if (rc == ERR_NOTFOUND && !sock) {
			/* no daemon: sync here, with $CASELEDGER_CONFIG's [daemon] section */
			err_clear();
			here = true;
			wait = true;
			env = getenv("CASELEDGER_CONFIG");
			config = env && *env ? env : NULL;
		} else if (rc < 0) {
			goto out;
		}
	}
	if (here) {
		if (config && (rc = conf_load(&conf, config)) < 0)
			goto out;
		if ((rc = sync_here(&rep, ctx, &conf, json)) < 0)
			goto out;
		wait = true;
	}
	if (json)
		rc = out_json(rep);
	else if (!wait)
		printf("sync requested\n");
	else
		cmd_print_branches(json_object_get(rep, "branches"));
	if (rc == 0 && !json_is_true(json_object_get(rep, "ok")))
		rc = err_set(ERR_NETWORK, "sync failed: %s",
			     json_string_value(json_object_get(rep, "error"))
				 ? json_string_value(json_object_get(rep, "error"))
				 : "unknown error");
out:
	sync_conf_release(&conf);
	json_decref(req);
	json_decref(rep);
	return rc;
}

const struct cmd_entry cmd_sync_entry = {
    .name = "sync",
    .usage = "sync [--wait] [--json] [--socket PATH]\n"
	     "       caseledger sync [--config FILE] [--parent URL --cert FILE --ca FILE\n"
	     "          [--key FILE] [--parent-name NAME] [--parent-office CODE]] [--json]\n"
	     "\n"
	     "Ask the office's caseledgerd to sync every branch with its parent now.\n"
	     "--wait waits for the round to finish and shows each branch's outcome;\n"
	     "it exits 1 when any branch failed or needs a merge.\n"
	     "\n"
	     "When no caseledgerd answers (or --config or --parent is given), sync in this\n"
	     "process: fetch, verify, merge and push each branch, with a progress line on a\n"
	     "terminal. The parent, certificate, key and CA come from the options, else from\n"
	     "the [daemon] section of --config FILE or $CASELEDGER_CONFIG.\n"
	     "The server must be office CODE (--parent-office, or parent_office in the\n"
	     "config), or without one an office whose scope holds this office's.\n"
	     "  --config FILE       a caseledgerd configuration file\n"
	     "  --parent URL        the parent's https://HOST:PORT/NAME\n"
	     "  --parent-name NAME  refs/remotes/NAME/… (default parent)\n"
	     "  --cert FILE         this office's certificate\n"
	     "  --key FILE          its key (default: the ledger's office.key)\n"
	     "  --ca FILE           the CA the parent must chain to\n"
	     "  --parent-office CODE  the parent's office code (its certificate's CN)",
    .summary = "sync with the parent office now (through caseledgerd, or in-process)",
    .flags = 0,
    .run = run,
};
