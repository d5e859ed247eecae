/*
 * dmn: caseledgerd's parts — configuration, logging, the TLS smart-HTTP server, the
 * control socket and the sync scheduler — and the state they share.
 */
#ifndef CASELEDGER_DMN_H
#define CASELEDGER_DMN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "ledger.h"
#include "office.h"
#include "xfer.h"

/* Version of the control-socket protocol (doc/protocol.md, "Control socket"). */
#define DMN_CTL_VERSION	 1
#define DMN_CTL_LINE_MAX 4096

enum dmn_log_level { DMN_LOG_ERROR, DMN_LOG_WARN, DMN_LOG_INFO, DMN_LOG_DEBUG };

/* The [daemon] section of the configuration file. Strings are owned. */
struct dmn_config {
	char *ledger;		/* ledger directory */
	char *name;		/* repository name in URLs (default "ledger") */
	char *cert;		/* own certificate (PEM, chain allowed) */
	char *key;		/* own key (default <ledger>/office.key) */
	char *ca;		/* CA certificates clients and parents are checked against */
	char *crl;		/* revocation list (PEM), or NULL */
	char *listen;		/* host:port to serve on, or NULL for none */
	char *parent;		/* parent's URL (https://host:port/name), or NULL */
	char *parent_name;	/* refs/remotes/<parent_name>/… (default "parent") */
	char *parent_office;	/* the parent's office code (its certificate's CN), or NULL:
				   any office whose scope holds ours */
	char *pid_file;		/* or NULL */
	char *control;		/* control socket (default <ledger>/caseledgerd.sock) */
	unsigned sync_interval; /* seconds between syncs; 0: only when asked */
	unsigned backoff_min, backoff_max; /* seconds */
	unsigned timeout;		   /* seconds a connection may stay idle mid-request */
	unsigned workers;		   /* threads doing git work */
	size_t max_body, max_headers;	   /* bytes */
	unsigned max_inflate_ratio;	   /* a gzip body inflates to at most this times
					      its size (and at least 1 MiB) */
	unsigned max_objects;		   /* objects in one push's pack */
	unsigned sync_step;		   /* commits per push request (sync_peer.step) */
	bool sync_plain;		   /* sync_packs = plain (sync_peer.plain) */
	unsigned max_connections;	   /* open connections in all */
	unsigned max_per_address;	   /* open connections from one address */
	unsigned handshake_timeout;	   /* seconds to finish the TLS handshake */
	enum dmn_log_level log_level;
	bool syslog; /* log to syslog instead of stderr */
};

/* Read the [daemon] section of path into c (zeroed first). Errors name file and line. */
int dmn_config_load(struct dmn_config *c, const char *path);
void dmn_config_release(struct dmn_config *c);

void dmn_log_setup(enum dmn_log_level level, bool use_syslog);
void dmn_log(enum dmn_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct dmn_http; /* the TLS smart-HTTP server */
struct dmn_sync; /* the sync scheduler */
struct dmn_ctl;	 /* the control socket */

/* Everything the daemon runs; owned by main. */
struct dmn {
	struct event_base *base;
	struct dmn_config cfg;
	pthread_mutex_t cfg_mu; /* held while SIGHUP swaps cfg strings, and to copy them */
	const char *config_path;
	char office[OFFICE_CODE_MAX + 1];
	char listen_addr[128]; /* where the server listens, "" when not */
	struct dmn_http *http;
	struct dmn_sync *sync;
	struct dmn_ctl *ctl;
};

/* Start serving on cfg->listen. *out is freed with dmn_http_free (stops the workers). */
int dmn_http_start(struct dmn_http **out, struct dmn *d);
/* Reload certificates, CA and CRL for new connections (SIGHUP). */
int dmn_http_reload(struct dmn_http *h);
void dmn_http_free(struct dmn_http *h);

/* The scheduler thread: syncs with the parent every interval, on request, with backoff. */
int dmn_sync_start(struct dmn_sync **out, struct dmn *d);
/* Ask for a sync now; when done is given, it is called on the event loop afterwards with
 * the round's result (a JSON object, borrowed). */
void dmn_sync_request(struct dmn_sync *s, void (*done)(json_t *result, void *payload),
		      void *payload);
/*
 * Look at the ledger's trust branch and key: when either changed since the last look (or
 * at the first), note whether the office's own certificate is revoked (trust_own_revoked)
 * and log it at once; dmn_sync_status reports it as "revoked". Called at start and after
 * each round.
 */
void dmn_sync_note_trust(struct dmn_sync *s, struct ledger *l);
/* The status of every branch with the parent (new reference). */
json_t *dmn_sync_status(struct dmn_sync *s);
void dmn_sync_free(struct dmn_sync *s);

int dmn_ctl_start(struct dmn_ctl **out, struct dmn *d);
void dmn_ctl_free(struct dmn_ctl *c);

#endif
