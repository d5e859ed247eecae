/*
 * dmn_sync: the scheduler thread. It syncs every branch with the parent every
 * sync_interval seconds, at once when asked (control socket, SIGHUP, a push received:
 * push-through), and after a failure backs off exponentially with jitter between
 * backoff_min and backoff_max. It keeps the per-branch status `caseledger status` shows
 * and hands each round's result to the callers waiting on it, on the event loop.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dmn.h"
#include "dmn_backoff.h"
#include "err.h"
#include "ledger.h"
#include "sync.h"
#include "tls.h"
#include "trust.h"
#include "util.h"

struct waiter {
	void (*done)(json_t *result, void *payload);
	void *payload;
	json_t *result;
	struct waiter *next;
};

struct dmn_sync {
	struct dmn *d;
	pthread_t thread;
	bool started, stop, requested;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned failures;
	struct waiter *waiting;	 /* for the next round */
	struct waiter *finished; /* to call on the event loop */
	json_t *branches;	 /* branch -> status object */
	json_t *last;		 /* the last round's summary */
	struct event *done_ev;
	bool trust_seen; /* trust_head is the trust branch last looked at */
	bool trust_had_branch;
	git_oid trust_head;
	unsigned char pub[SIG_PUBKEY_LEN]; /* the office key last looked at */
	char revoked[400];		   /* trust_own_revoked's message, "" when not revoked */
	size_t step_now;		   /* sync_peer.step_now: only the sync thread uses it */
};

static void iso_now(char out[UTIL_ISO_MAX])
{
	util_iso_time(out, (int64_t)time(NULL), 0);
}

/* Copy what a round needs from the configuration, under cfg_mu (SIGHUP swaps it). */
struct round_cfg {
	char *ledger, *parent, *parent_name, *cert, *key, *ca;
	char *parent_office; /* or NULL: any office above ours */
	unsigned timeout;
	unsigned step; /* commits per push request */
	bool plain;    /* sync_packs = plain */
};

static void round_cfg_release(struct round_cfg *c)
{
	free(c->ledger);
	free(c->parent);
	free(c->parent_name);
	free(c->cert);
	free(c->key);
	free(c->ca);
	free(c->parent_office);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct round {
	struct dmn_sync *s;
	const struct sync_peer *peer;
	const char *when;
	json_t *list;
};

/* After each branch: log it, and update its entry in the status caseledger status shows. */
static void round_each(const char *branch, const struct sync_branch_result *r, size_t i, size_t n,
		       void *payload)
{
	struct round *rd = payload;
	json_t *st;

	(void)branch;
	(void)i;
	(void)n;
	if (!r)
		return;
	dmn_log(r->outcome == SYNC_FAILED ? DMN_LOG_WARN : DMN_LOG_INFO, "sync %s with %s: %s%s%s",
		r->branch, rd->peer->url, sync_outcome_name(r->outcome), r->error[0] ? ": " : "",
		r->error);
	pthread_mutex_lock(&rd->s->mu);
	if (!(st = json_object_get(rd->s->branches, r->branch))) {
		st = json_object();
		json_object_set_new(rd->s->branches, r->branch, st);
	}
	if (st && sync_result_json(st, r, rd->peer, rd->when) == 0)
		json_array_append(rd->list, st);
	err_clear();
	pthread_mutex_unlock(&rd->s->mu);
}

void dmn_sync_note_trust(struct dmn_sync *s, struct ledger *l)
{
	char why[sizeof(s->revoked)] = "";
	bool has, revoked = false;
	git_oid head;
	int rc;

	rc = git_reference_name_to_id(&head, l->repo, TRUST_REF);
	has = rc == 0;
	pthread_mutex_lock(&s->mu);
	if (s->trust_seen && has == s->trust_had_branch &&
	    (!has || git_oid_equal(&head, &s->trust_head)) &&
	    memcmp(s->pub, l->pub, SIG_PUBKEY_LEN) == 0) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	pthread_mutex_unlock(&s->mu);
	if (trust_own_revoked(&revoked, l, why, sizeof(why)) < 0) {
		dmn_log(DMN_LOG_WARN, "cannot read the trust of office %s: %s", l->office,
			err_msg());
		err_clear();
		return;
	}
	pthread_mutex_lock(&s->mu);
	s->trust_seen = true;
	s->trust_had_branch = has;
	memcpy(s->pub, l->pub, SIG_PUBKEY_LEN);
	if (has)
		git_oid_cpy(&s->trust_head, &head);
	if (revoked)
		dmn_log(DMN_LOG_ERROR,
			"%s; caseledgerd pushes and merges nothing until a new key "
			"is installed (caseledger key install)",
			why);
	else if (s->revoked[0])
		dmn_log(DMN_LOG_INFO,
			"office %s signs with a new key whose certificate is not "
			"revoked: syncing as usual",
			l->office);
	snprintf(s->revoked, sizeof(s->revoked), "%s", revoked ? why : "");
	pthread_mutex_unlock(&s->mu);
}

/* One round: every branch. Returns the summary (new reference). */
static json_t *run_round(struct dmn_sync *s)
{
	struct round_cfg c = {0};
	struct ledger *l = NULL;
	size_t nfailed = 0;
	json_t *list = json_array(), *sum;
	char when[UTIL_ISO_MAX];
	int rc = 0;

	pthread_mutex_lock(&s->d->cfg_mu);
	c.ledger = dup_or_null(s->d->cfg.ledger);
	c.parent = dup_or_null(s->d->cfg.parent);
	c.parent_name = dup_or_null(s->d->cfg.parent_name);
	c.cert = dup_or_null(s->d->cfg.cert);
	c.key = dup_or_null(s->d->cfg.key);
	c.ca = dup_or_null(s->d->cfg.ca);
	c.parent_office = dup_or_null(s->d->cfg.parent_office);
	c.timeout = s->d->cfg.timeout;
	c.step = s->d->cfg.sync_step;
	c.plain = s->d->cfg.sync_plain;
	pthread_mutex_unlock(&s->d->cfg_mu);
	iso_now(when);
	if (!c.parent) {
		rc = err_set(ERR_NOTFOUND, "no parent configured");
		goto out;
	}
	{
		struct tls_client_config tc = {c.cert,	  c.key,	   c.ca,	c.timeout,
					       c.timeout, c.parent_office, s->d->office};
		struct sync_peer peer = {c.parent, c.parent_name, NULL,		NULL,
					 NULL,	   c.step,	  &s->step_now, c.plain};
		struct round rd = {s, &peer, when, list};

		if ((rc = tls_client_register(&tc)) < 0 || (rc = ledger_open(&l, c.ledger)) < 0)
			goto out;
		rc = sync_round(&nfailed, l, &peer, round_each, &rd);
		dmn_sync_note_trust(s, l);
	}
out:
	sum = json_pack("{s:b, s:s, s:o}", "ok", rc == 0 && nfailed == 0, "time", when, "branches",
			list ? list : json_array());
	if (rc < 0) {
		dmn_log(DMN_LOG_WARN, "sync with %s: %s", c.parent ? c.parent : "(none)",
			err_msg());
		json_object_set_new(sum, "error", json_string(err_msg()));
	} else if (nfailed) {
		json_object_set_new(
		    sum, "error",
		    json_sprintf("%zu branch%s did not sync", nfailed, nfailed == 1 ? "" : "es"));
	}
	err_clear();
	ledger_free(l);
	round_cfg_release(&c);
	return sum;
}

static void *thread_main(void *arg)
{
	struct dmn_sync *s = arg;
	struct waiter *round, *w;
	struct timespec deadline;
	json_t *sum;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		unsigned wait = s->d->cfg.sync_interval;
		int r = 0;
		if (s->failures && s->d->cfg.parent) /* never 0: 0 is "no timer" below */
			wait = dmn_backoff(s->failures, s->d->cfg.backoff_min,
					   s->d->cfg.backoff_max, (unsigned long)rand());
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += wait ? wait : 86400 * 365;
		while (!s->stop && !s->requested && r != ETIMEDOUT)
			r = pthread_cond_timedwait(&s->cv, &s->mu, &deadline);
		if (s->stop)
			break;
		if (!s->requested && !s->d->cfg.parent)
			continue; /* nothing to do on a timer without a parent */
		s->requested = false;
		round = s->waiting;
		s->waiting = NULL;
		pthread_mutex_unlock(&s->mu);

		sum = run_round(s);

		pthread_mutex_lock(&s->mu);
		s->failures = json_is_true(json_object_get(sum, "ok")) ? 0 : s->failures + 1;
		json_decref(s->last);
		s->last = json_incref(sum);
		while ((w = round)) {
			round = w->next;
			w->result = json_incref(sum);
			w->next = s->finished;
			s->finished = w;
		}
		json_decref(sum);
		if (s->finished)
			event_active(s->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dmn_sync *s = arg;
	struct waiter *list, *w;

	pthread_mutex_lock(&s->mu);
	list = s->finished;
	s->finished = NULL;
	pthread_mutex_unlock(&s->mu);
	while ((w = list)) {
		list = w->next;
		w->done(w->result, w->payload);
		json_decref(w->result);
		free(w);
	}
}

int dmn_sync_start(struct dmn_sync **out, struct dmn *d)
{
	struct dmn_sync *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s || !(s->branches = json_object()))
		goto nomem;
	s->d = d;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	srand((unsigned)(time(NULL) ^ getpid()));
	if (!(s->done_ev = event_new(d->base, -1, 0, done_cb, s)))
		goto nomem;
	s->requested = d->cfg.parent != NULL; /* a first sync at start */
	if (pthread_create(&s->thread, NULL, thread_main, s) != 0) {
		dmn_sync_free(s);
		return err_set(ERR_GENERIC, "cannot start the sync thread");
	}
	s->started = true;
	*out = s;
	return 0;
nomem:
	dmn_sync_free(s);
	return err_set(ERR_NOMEM, "out of memory");
}

void dmn_sync_request(struct dmn_sync *s, void (*done)(json_t *result, void *payload),
		      void *payload)
{
	struct waiter *w = NULL;

	if (done && !(w = calloc(1, sizeof(*w)))) {
		done(NULL, payload);
		return;
	}
	pthread_mutex_lock(&s->mu);
	if (w) {
		w->done = done;
		w->payload = payload;
		w->next = s->waiting;
		s->waiting = w;
	}
	s->requested = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

json_t *dmn_sync_status(struct dmn_sync *s)
{
	json_t *list = json_array(), *v, *o;
	const char *k;

	pthread_mutex_lock(&s->mu);
	json_object_foreach (s->branches, k, v) {
		json_array_append_new(list, json_deep_copy(v));
	}
	o = json_pack("{s:o, s:I, s:O?, s:s?}", "branches", list, "failures",
		      (json_int_t)s->failures, "last_round", s->last, "revoked",
		      s->revoked[0] ? s->revoked : NULL);
	pthread_mutex_unlock(&s->mu);
	return o;
}

void dmn_sync_free(struct dmn_sync *s)
{
	struct waiter *w;

	if (!s)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
	}
	/* waiters are told the daemon is stopping */
	while ((w = s->waiting)) {
		s->waiting = w->next;
		w->next = s->finished;
		s->finished = w;
	}
	while ((w = s->finished)) {
		json_t *r = w->result ? w->result
				      : json_pack("{s:b, s:s}", "ok", 0, "error",
						  "caseledgerd is stopping");
		s->finished = w->next;
		w->done(r, w->payload);
		json_decref(r);
		free(w);
	}
	if (s->done_ev)
		event_free(s->done_ev);
	json_decref(s->branches);
	json_decref(s->last);
	free(s);
}
