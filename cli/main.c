/*
 * caseledger: inspect and amend an office's signed case ledger.
 *
 * main parses the global options, finds the command in the table, opens the ledger for
 * commands that need one, runs it, and turns its result into one line on stderr and an
 * exit code. Output is checked for write errors before success is reported.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <ini.h>

#include "cmd.h"
#include "err.h"
#include "out.h"
#include "verify.h"

/* Defaults from the configuration file; the environment and options win over them. */
struct config {
	char *dir;
	char *operator;
};

static int config_entry(void *payload, const char *section, const char *name, const char *value)
{
	struct config *c = payload;
	char **slot = NULL;

	if (strcmp(section, "ledger") != 0)
		return 1; /* sections of other programs */
	if (strcmp(name, "dir") == 0)
		slot = &c->dir;
	else if (strcmp(name, "operator") == 0)
		slot = &c->operator;
	else
		return 0;
	free(*slot);
	*slot = strdup(value);
	return *slot != NULL;
}

static int config_load(struct config *c)
{
	const char *path = getenv("CASELEDGER_CONFIG");
	bool given = path && *path;
	FILE *f;
	int line;

	if (!given)
		path = CASELEDGER_SYSCONFDIR "/caseledger.ini";
	if (!(f = fopen(path, "r")))
		return given ? err_errno(ERR_NOTFOUND, "cannot open config '%s'", path) : 0;
	line = ini_parse_file(f, config_entry, c);
	fclose(f);
	if (line != 0)
		return err_set(ERR_INVALID, "config '%s': line %d: unknown key or bad syntax", path,
			       line);
	return 0;
}

static void print_help(FILE *f)
{
	size_t i;

	fprintf(f, "usage: caseledger [-C DIR] [--operator NAME] COMMAND [ARGS]\n"
		   "       caseledger help [COMMAND] | COMMAND --help\n\n"
		   "Inspect and amend an office's signed, versioned case ledger.\n\n"
		   "Global options:\n"
		   "  -C DIR            the ledger directory (default: $CASELEDGER_DIR, else .)\n"
		   "  --operator NAME   who is working (default: $CASELEDGER_OPERATOR, the\n"
		   "                    ledger's caseledger.operator, else $USER, with a warning)\n"
		   "  --version         print the version\n\n"
		   "Commands:\n");
	for (i = 0; cmd_table[i]; i++)
		fprintf(f, "  %-10s %s\n", cmd_table[i]->name, cmd_table[i]->summary);
	fprintf(f, "\nExit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 invalid input, "
		   "5 denied,\n6 conflict, 7 signature failure. See caseledger(1).\n");
}

static int exit_code(int rc)
{
	switch (rc) {
	case 0:
		return EXIT_OK;
	case ERR_USAGE:
		return EXIT_USAGE;
	case ERR_NOTFOUND:
		return EXIT_NOTFOUND;
	case ERR_INVALID:
	case ERR_EXISTS:
		return EXIT_INVALID;
	case ERR_DENIED:
		return EXIT_DENIED;
	case ERR_CONFLICT:
		return EXIT_CONFLICT;
	case ERR_VERIFY:
		return EXIT_VERIFY;
	default:
		return EXIT_ERROR;
	}
}

static bool wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

static int run_help(int argc, char **argv)
{
	const struct cmd_entry *e;

	if (argc < 2) {
		print_help(stdout);
		return 0;
	}
	if (!(e = cmd_find(argv[1])))
		return err_set(ERR_USAGE, "no command '%s' (see 'caseledger help')", argv[1]);
	printf("usage: caseledger %s\n\n%s\n", e->usage, e->summary);
	return 0;
}

/*
 * Open the ledger's index and catch it up (a damaged one is rebuilt). Commands that do not
 * need the index keep working when it cannot be brought up to date: they warn instead.
 */
static int index_ready(struct cmd_ctx *ctx, const struct cmd_entry *e)
{
	int rc;

	rc = index_open(&ctx->index, ctx->ledger);
	if (rc == 0)
		index_set_verifier(ctx->index, verify_for_index, NULL);
	if (rc == 0 && !(e->flags & CMD_NO_CATCH_UP)) {
		rc = index_catch_up(ctx->index, ctx->ledger, NULL);
		if (rc < 0 && index_is_corrupt(ctx->index))
			rc = index_recover(ctx->index, ctx->ledger);
	}
	if (rc == 0 || (e->flags & CMD_INDEX))
		return rc;
	fprintf(stderr, "caseledger: warning: the index is not up to date: %s\n", err_msg());
	err_clear();
	index_free(ctx->index);
	ctx->index = NULL;
	return 0;
}

/*
 * Read and print every time in the ledger's zone (caseledger.timezone) when it has one,
 * else in the process's (TZ): --at, --since and --until without an offset, and every
 * time shown, are then in one zone, whoever runs the command.
 */
static int use_timezone(const struct ledger *l)
{
	char path[600];
	struct stat st;
	const char *tz = l->timezone;

	if (!tz || !*tz)
		return 0;
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
	if (tz[strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/")] ||
	    strstr(tz, "..") || tz[0] == '/' || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return err_set(ERR_INVALID,
			       "caseledger.timezone '%s' of ledger '%s' is not a time zone (a name "
			       "under /usr/share/zoneinfo, such as Asia/Shanghai)",
			       tz, l->dir);
	if (setenv("TZ", tz, 1) < 0)
		return err_errno(ERR_NOMEM, "cannot set the time zone");
	tzset();
	return 0;
}

/*
 * A signed change records who made it: say so when nobody said who that is (no
 * --operator, CASELEDGER_OPERATOR or caseledger.operator), and what is recorded instead.
 */
static void warn_no_operator(const struct cmd_ctx *ctx)
{
	const char *env = getenv("CASELEDGER_OPERATOR"), *op = NULL;

	if ((ctx->operator&& * ctx->operator) || (env && *env) ||
	    (ctx->ledger->operator_default && *ctx->ledger->operator_default))
		return;
	if (ledger_operator(&op, ctx->ledger, NULL) < 0) {
		err_clear(); /* the commit will say what is wrong with it */
		return;
	}
	fprintf(stderr,
		"caseledger: warning: no operator given (--operator NAME, CASELEDGER_OPERATOR or "
		"caseledger.operator in the config); the change is recorded as made by '%s'\n",
		out_esc(op));
}

static int run(int argc, char **argv, struct cmd_ctx *ctx)
{
	const struct cmd_entry *e;
	int rc;

	if (strcmp(argv[0], "help") == 0)
		return run_help(argc, argv);
	if (!(e = cmd_find(argv[0])))
		return err_set(ERR_USAGE, "no command '%s' (see 'caseledger help')", argv[0]);
	if (wants_help(argc, argv)) {
		printf("usage: caseledger %s\n\n%s\n", e->usage, e->summary);
		return 0;
	}
	if ((e->flags & CMD_LEDGER) && (rc = ledger_open(&ctx->ledger, ctx->dir)) < 0)
		return rc;
	if ((e->flags & CMD_LEDGER) && (rc = use_timezone(ctx->ledger)) < 0)
		return rc;
	if ((e->flags & CMD_LEDGER) && (e->flags & CMD_WRITE) &&
	    (rc = cmd_check_can_sign(ctx->ledger)) < 0)
		return rc;
	if ((e->flags & CMD_LEDGER) && (e->flags & CMD_WRITE))
		warn_no_operator(ctx);
	if ((e->flags & CMD_LEDGER) && (rc = index_ready(ctx, e)) < 0)
		return rc;
	cmd_labels_use(ctx);
	optind = 0;
	rc = e->run(ctx, argc, argv);
	if (rc < 0 && index_is_corrupt(ctx->index)) {
		/* The index broke under the command: rebuild it and run the command again. */
		if ((rc = index_recover(ctx->index, ctx->ledger)) < 0)
			return rc;
		optind = 0;
		rc = e->run(ctx, argc, argv);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"operator", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	struct cmd_ctx ctx = {0};
	struct config cfg = {0};
	int c, rc;

	/* a peer that resets a connection, or a reader that closes a pipe, is an error to
	 * report (EPIPE), not a reason to die without a word (exit 141) */
	signal(SIGPIPE, SIG_IGN);
	if ((rc = config_load(&cfg)) < 0)
		goto out;
	ctx.dir = getenv("CASELEDGER_DIR");
	if (!ctx.dir || !*ctx.dir)
		ctx.dir = cfg.dir && *cfg.dir ? cfg.dir : ".";
	if (cfg.operator&& * cfg.operator&& !getenv("CASELEDGER_OPERATOR"))
		ctx.operator= cfg.operator;
	while ((c = getopt_long(argc, argv, "+C:h", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			ctx.dir = optarg;
			break;
		case 'o':
			ctx.operator= optarg;
			break;
		case 'h':
			print_help(stdout);
			goto out;
		case 'V':
			printf("caseledger %s\n", PACKAGE_VERSION);
			goto out;
		default:
			print_help(stderr);
			rc = err_set(ERR_USAGE, "unknown option");
			goto out;
		}
	}
	if (optind >= argc) {
		print_help(stderr);
		rc = err_set(ERR_USAGE, "give a command");
		goto out;
	}
	if (out_filter_stdout() < 0) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = run(argc - optind, argv + optind, &ctx);
	index_free(ctx.index);
	ledger_free(ctx.ledger);
out:
	free(cfg.dir);
	free(cfg.operator);
	if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout)))
		rc = err_errno(ERR_IO, "cannot write the output");
	if (fclose(stdout) != 0 && rc == 0)
		rc = err_errno(ERR_IO, "cannot write the output");
	if (rc < 0) /* a peer's message may hold anything */
		fprintf(stderr, "caseledger: %s\n", out_esc(*err_msg() ? err_msg() : "error"));
	return exit_code(rc);
}
