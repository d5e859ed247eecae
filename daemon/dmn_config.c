/*
 * dmn_config: the [daemon] section of caseledger.ini (inih), and logging.
 *
 * Other sections belong to other programs and are skipped; an unknown key in [daemon]
 * is an error naming the line, so a typo never silently falls back to a default.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>

#include "dmn.h"
#include "sync.h"
#include "err.h"
#include "util.h"

static int set_str(char **slot, const char *value)
{
	free(*slot);
	*slot = strdup(value);
	return *slot != NULL;
}

static int set_uint(unsigned *slot, const char *value, unsigned max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || end == value || *end || v > max)
		return 0;
	*slot = (unsigned)v;
	return 1;
}

static int entry(void *payload, const char *section, const char *name, const char *value)
{
	struct dmn_config *c = payload;
	unsigned v;

	if (strcmp(section, "daemon") != 0)
		return 1;
	if (strcmp(name, "ledger") == 0)
		return set_str(&c->ledger, value);
	if (strcmp(name, "name") == 0)
		return strchr(value, '/') == NULL && *value && set_str(&c->name, value);
	if (strcmp(name, "cert") == 0)
		return set_str(&c->cert, value);
	if (strcmp(name, "key") == 0)
		return set_str(&c->key, value);
	if (strcmp(name, "ca") == 0)
		return set_str(&c->ca, value);
	if (strcmp(name, "crl") == 0)
		return set_str(&c->crl, value);
	if (strcmp(name, "listen") == 0)
		return set_str(&c->listen, value);
	if (strcmp(name, "parent") == 0)
		return set_str(&c->parent, value);
	if (strcmp(name, "parent_name") == 0)
		return *value && !strpbrk(value, "/ ~^:?*[\\") && set_str(&c->parent_name, value);
	if (strcmp(name, "parent_office") == 0)
		return strlen(value) <= OFFICE_CODE_MAX && office_level(value) >= 0 &&
		       set_str(&c->parent_office, value);
	if (strcmp(name, "pid_file") == 0)
		return set_str(&c->pid_file, value);
	if (strcmp(name, "control") == 0)
		return set_str(&c->control, value);
	if (strcmp(name, "sync_interval") == 0)
		return set_uint(&c->sync_interval, value, 86400 * 7);
	if (strcmp(name, "backoff_min") == 0)
		return set_uint(&c->backoff_min, value, 86400) && c->backoff_min > 0;
	if (strcmp(name, "backoff_max") == 0)
		return set_uint(&c->backoff_max, value, 86400 * 7) && c->backoff_max > 0;
	if (strcmp(name, "timeout") == 0)
		return set_uint(&c->timeout, value, 3600) && c->timeout > 0;
	if (strcmp(name, "workers") == 0)
		return set_uint(&c->workers, value, 64) && c->workers > 0;
	if (strcmp(name, "max_body") == 0) {
		if (!set_uint(&v, value, 4095))
			return 0;
		c->max_body = (size_t)v << 20; /* MiB */
		return v > 0;
	}
	if (strcmp(name, "max_inflate_ratio") == 0)
		return set_uint(&c->max_inflate_ratio, value, 100000) && c->max_inflate_ratio > 0;
	if (strcmp(name, "sync_step") == 0)
		return set_uint(&c->sync_step, value, 10000000) && c->sync_step > 0;
	if (strcmp(name, "sync_packs") == 0) {
		c->sync_plain = strcmp(value, "plain") == 0;
		return c->sync_plain || strcmp(value, "slim") == 0;
	}
	if (strcmp(name, "max_objects") == 0)
		return set_uint(&c->max_objects, value, 100000000) && c->max_objects > 0;
	if (strcmp(name, "max_connections") == 0)
		return set_uint(&c->max_connections, value, 1000000) && c->max_connections > 0;
	if (strcmp(name, "max_per_address") == 0)
		return set_uint(&c->max_per_address, value, 1000000) && c->max_per_address > 0;
	if (strcmp(name, "handshake_timeout") == 0)
		return set_uint(&c->handshake_timeout, value, 3600) && c->handshake_timeout > 0;
	if (strcmp(name, "max_headers") == 0)
		return set_uint(&v, value, 1 << 20) && (c->max_headers = v) >= 1024;
	if (strcmp(name, "log_level") == 0) {
		if (strcmp(value, "error") == 0)
			c->log_level = DMN_LOG_ERROR;
		else if (strcmp(value, "warn") == 0)
			c->log_level = DMN_LOG_WARN;
		else if (strcmp(value, "info") == 0)
			c->log_level = DMN_LOG_INFO;
		else if (strcmp(value, "debug") == 0)
			c->log_level = DMN_LOG_DEBUG;
		else
			return 0;
		return 1;
	}
	if (strcmp(name, "log") == 0) {
		if (strcmp(value, "stderr") != 0 && strcmp(value, "syslog") != 0)
			return 0;
		c->syslog = strcmp(value, "syslog") == 0;
		return 1;
	}
	return 0;
}

int dmn_config_load(struct dmn_config *c, const char *path)
{
	FILE *f;
	int line;

	memset(c, 0, sizeof(*c));
	c->backoff_min = 5;
	c->backoff_max = 3600;
	c->sync_interval = 300;
	c->timeout = 30;
	c->workers = 4;
	c->max_body = (size_t)256 << 20;
	c->max_headers = 16384;
	c->max_inflate_ratio = 32;
	c->max_objects = XFER_MAX_OBJECTS;
	c->sync_step = SYNC_STEP;
	c->max_connections = 1024;
	c->max_per_address = 64;
	c->handshake_timeout = 10;
	c->log_level = DMN_LOG_INFO;
	if (!(f = fopen(path, "r")))
		return err_errno(ERR_NOTFOUND, "cannot open config '%s'", path);
	line = ini_parse_file(f, entry, c);
	fclose(f);
	if (line != 0)
		return err_set(ERR_INVALID,
			       "config '%s': line %d: unknown key, bad value or syntax", path,
			       line);
	if (!c->ledger)
		return err_set(ERR_INVALID, "config '%s': [daemon] needs 'ledger'", path);
	if ((c->listen || c->parent) && (!c->cert || !c->ca))
		return err_set(ERR_INVALID,
			       "config '%s': [daemon] needs 'cert' and 'ca' to listen "
			       "or to sync with a parent",
			       path);
	if (c->backoff_max < c->backoff_min)
		c->backoff_max = c->backoff_min;
	if ((!c->name && !set_str(&c->name, "ledger")) ||
	    (!c->parent_name && !set_str(&c->parent_name, "parent")))
		return err_set(ERR_NOMEM, "out of memory");
	if (!c->key) {
		size_t n = strlen(c->ledger) + sizeof("/office.key");
		if (!(c->key = malloc(n)))
			return err_set(ERR_NOMEM, "out of memory");
		snprintf(c->key, n, "%s/office.key", c->ledger);
	}
	if (!c->control) {
		size_t n = strlen(c->ledger) + sizeof("/caseledgerd.sock");
		if (!(c->control = malloc(n)))
			return err_set(ERR_NOMEM, "out of memory");
		snprintf(c->control, n, "%s/caseledgerd.sock", c->ledger);
	}
	return 0;
}

void dmn_config_release(struct dmn_config *c)
{
	if (!c)
		return;
	free(c->ledger);
	free(c->name);
	free(c->cert);
	free(c->key);
	free(c->ca);
	free(c->crl);
	free(c->listen);
	free(c->parent);
	free(c->parent_name);
	free(c->parent_office);
	free(c->pid_file);
	free(c->control);
	memset(c, 0, sizeof(*c));
}

static enum dmn_log_level log_level = DMN_LOG_INFO;
static bool log_syslog;

void dmn_log_setup(enum dmn_log_level level, bool use_syslog)
{
	if (use_syslog && !log_syslog)
		openlog("caseledgerd", LOG_PID, LOG_DAEMON);
	log_level = level;
	log_syslog = use_syslog;
}

/*
 * Repeated warnings and errors: at most LOG_BURST lines of one format in LOG_WINDOW seconds; the
 * rest are counted and reported once the window is over ("N similar lines
 * suppressed"), so an attack logging per connection cannot fill the disk.
 */
#define LOG_BURST  20
#define LOG_WINDOW 10
#define LOG_SLOTS  64

struct log_slot {
	const char *fmt; /* the format string: its address is the key */
	time_t start;	 /* the window's start */
	unsigned lines, suppressed;
};

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct log_slot log_slots[LOG_SLOTS];

static void log_write(enum dmn_log_level level, const char *text, time_t now);

/* May a line of fmt be written now? Reports a finished window's suppressed count. */
static bool log_allow(enum dmn_log_level level, const char *fmt, time_t now)
{
	struct log_slot *s = &log_slots[((uintptr_t)fmt >> 3) % LOG_SLOTS];
	char note[300];

	if (s->fmt != fmt || now - s->start >= LOG_WINDOW) {
		if (s->fmt && s->suppressed) {
			snprintf(note, sizeof(note), "%u similar lines suppressed: %.200s",
				 s->suppressed, s->fmt);
			log_write(level, note, now);
		}
		s->fmt = fmt;
		s->start = now;
		s->lines = 0;
		s->suppressed = 0;
	}
	if (s->lines >= LOG_BURST) {
		s->suppressed++;
		return false;
	}
	s->lines++;
	return true;
}

void dmn_log(enum dmn_log_level level, const char *fmt, ...)
{
	char msg[2048];
	struct buf safe = BUF_INIT;
	time_t now;
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* a certificate's CN, a URI or a peer's message may hold a newline or an escape:
	 * one log line stays one line, and no line is forged */
	if (util_escape(&safe, msg, strlen(msg), NULL) < 0) {
		buf_release(&safe);
		return;
	}
	now = time(NULL);
	pthread_mutex_lock(&log_mu);
	/* warnings and errors are what a peer without a certificate can cause */
	if (level > DMN_LOG_WARN || log_allow(level, fmt, now))
		log_write(level, safe.ptr, now);
	pthread_mutex_unlock(&log_mu);
	buf_release(&safe);
}

static void log_write(enum dmn_log_level level, const char *text, time_t now)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char when[32];
	struct tm tm;

	if (log_syslog) {
		syslog(prio[level], "%s", text);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s caseledgerd[%ld] %s: %s\n", when, (long)getpid(), names[level], text);
}
