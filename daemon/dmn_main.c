/*
 * caseledgerd: an office's replication daemon.
 *
 * main reads the configuration, writes the pid file, starts the TLS smart-HTTP server,
 * the control socket and the sync scheduler on one libevent loop, and handles signals:
 * SIGHUP reloads the configuration (certificates, CA, CRL, log level, sync settings; the
 * listen address and ledger need a restart), SIGTERM and SIGINT stop cleanly — workers
 * finish the request in hand (a push either moves its refs or leaves nothing reachable),
 * then the pid file and control socket are removed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/thread.h>

#include "dmn.h"
#include "err.h"
#include "ledger.h"
#include "util.h"

static const char usage[] =
    "usage: caseledgerd -c FILE [--check]\n"
    "       caseledgerd --help | --version\n\n"
    "Serve an office's ledger over TLS (git smart HTTP) and sync it with the parent\n"
    "office. FILE is an INI file; caseledgerd reads its [daemon] section.\n\n"
    "  -c, --config FILE   the configuration file\n"
    "  --check             check the configuration, certificates and ledger, then exit\n"
    "  --help              this text\n"
    "  --version           print the version\n\n"
    "Signals: SIGHUP reloads the configuration, SIGTERM stops cleanly.\n";

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct dmn *d = arg;
	struct dmn_config fresh;

	if (sig != SIGHUP) {
		dmn_log(DMN_LOG_INFO, "signal %d: stopping", (int)sig);
		event_base_loopbreak(d->base);
		return;
	}
	if (dmn_config_load(&fresh, d->config_path) < 0) {
		dmn_log(DMN_LOG_ERROR, "reload: %s; keeping the running configuration", err_msg());
		dmn_config_release(&fresh);
		return;
	}
	/* what a reload may change; the rest needs a restart */
	pthread_mutex_lock(&d->cfg_mu);
	free(d->cfg.cert);
	free(d->cfg.key);
	free(d->cfg.ca);
	free(d->cfg.crl);
	free(d->cfg.parent);
	d->cfg.cert = fresh.cert;
	d->cfg.key = fresh.key;
	d->cfg.ca = fresh.ca;
	d->cfg.crl = fresh.crl;
	d->cfg.parent = fresh.parent;
	fresh.cert = fresh.key = fresh.ca = fresh.crl = fresh.parent = NULL;
	d->cfg.sync_interval = fresh.sync_interval;
	d->cfg.backoff_min = fresh.backoff_min;
	d->cfg.backoff_max = fresh.backoff_max;
	d->cfg.log_level = fresh.log_level;
	pthread_mutex_unlock(&d->cfg_mu);
	dmn_log_setup(d->cfg.log_level, d->cfg.syslog);
	dmn_config_release(&fresh);
	if (d->http && dmn_http_reload(d->http) < 0)
		dmn_log(DMN_LOG_ERROR, "reload: %s; keeping the old certificates", err_msg());
	else
		dmn_log(DMN_LOG_INFO, "configuration reloaded");
	if (d->sync)
		dmn_sync_request(d->sync, NULL, NULL);
}

/* Create the pid file exclusively (a live daemon's file is never overwritten). */
static int pid_file_write(const char *path)
{
	char text[32];
	struct buf old = BUF_INIT;
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST && util_read_file(&old, path, 64) == 0) {
		long pid = strtol(old.ptr, NULL, 10);
		buf_release(&old);
		if (pid > 0 && kill((pid_t)pid, 0) == 0)
			return err_set(ERR_EXISTS, "pid file '%s': caseledgerd %ld is running",
				       path, pid);
		unlink(path); /* left by a daemon that died */
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	}
	buf_release(&old);
	if (fd < 0)
		return err_errno(ERR_IO, "cannot create pid file '%s'", path);
	n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (write(fd, text, (size_t)n) != n) {
		close(fd);
		unlink(path);
		return err_errno(ERR_IO, "cannot write pid file '%s'", path);
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"check", no_argument, NULL, 'k'},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, 'V'},
					     {0}};
	struct dmn d = {0};
	struct event *sigs[3] = {0};
	const int signums[3] = {SIGHUP, SIGTERM, SIGINT};
	struct ledger *l = NULL;
	bool check = false, pid_written = false;
	int c, rc = 0;
	size_t i;

	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("caseledgerd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!d.config_path || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&d.cfg_mu, NULL);
	if ((rc = dmn_config_load(&d.cfg, d.config_path)) < 0)
		goto out;
	dmn_log_setup(d.cfg.log_level, d.cfg.syslog);
	if ((rc = ledger_open(&l, d.cfg.ledger)) < 0)
		goto out;
	snprintf(d.office, sizeof(d.office), "%s", l->office);
	/* l stays open until exit: it holds libgit2 initialised while worker threads open
	 * and free ledgers, so no job's ledger_free shuts libgit2 down under another's feet */
	if (evthread_use_pthreads() < 0 || !(d.base = event_base_new())) {
		rc = err_set(ERR_GENERIC, "cannot start the event loop");
		goto out;
	}
	if (d.cfg.listen && (rc = dmn_http_start(&d.http, &d)) < 0)
		goto out;
	if (check) {
		printf("configuration '%s' is good (office %s)\n", d.config_path, d.office);
		goto out;
	}
	if (d.cfg.pid_file) {
		if ((rc = pid_file_write(d.cfg.pid_file)) < 0)
			goto out;
		pid_written = true;
	}
	{
		size_t stale = 0;
		if ((rc = xfer_quarantine_clean(&stale, d.cfg.ledger)) < 0)
			goto out;
		if (stale)
			dmn_log(DMN_LOG_WARN,
				"removed %zu stale quarantine(s) of interrupted pushes", stale);
	}
	if ((rc = dmn_ctl_start(&d.ctl, &d)) < 0 || (rc = dmn_sync_start(&d.sync, &d)) < 0)
		goto out;
	dmn_sync_note_trust(d.sync, l); /* a revoked office says so at start */
	for (i = 0; i < 3; i++) {
		if (!(sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d)) ||
		    evsignal_add(sigs[i], NULL) < 0) {
			rc = err_set(ERR_GENERIC, "cannot handle signals");
			goto out;
		}
	}
	dmn_log(DMN_LOG_INFO, "office %s ready (ledger '%s')", d.office, d.cfg.ledger);
	event_base_dispatch(d.base);
out:
	if (rc < 0)
		fprintf(stderr, "caseledgerd: %s\n", err_msg());
	dmn_sync_free(d.sync);
	dmn_ctl_free(d.ctl);
	dmn_http_free(d.http);
	for (i = 0; i < 3; i++)
		if (sigs[i])
			event_free(sigs[i]);
	if (pid_written)
		unlink(d.cfg.pid_file);
	if (d.base)
		event_base_free(d.base);
	if (rc == 0 && !check)
		dmn_log(DMN_LOG_INFO, "stopped");
	dmn_config_release(&d.cfg);
	ledger_free(l);
	return rc == 0 ? 0 : rc == ERR_USAGE ? 2 : 1;
}
