/*
 * dmn_ctl: the local control socket (unix, mode 0600, in the ledger directory by
 * default). One request per connection: a line of JSON in, a line of JSON out
 * (doc/protocol.md, "Control socket"):
 *   {"v":1,"cmd":"status"}             -> {"v":1,"ok":true,"office":…,"branches":[…],…}
 *   {"v":1,"cmd":"sync","wait":false}  -> {"v":1,"ok":true,"queued":true}
 *   {"v":1,"cmd":"sync","wait":true}   -> the round's result, when it is done
 * Anything else gets {"v":1,"ok":false,"error":"…"}.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "dmn.h"
#include "err.h"

struct dmn_ctl {
	struct dmn *d;
	struct evconnlistener *listener;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct conn {
	struct dmn_ctl *ctl;
	struct bufferevent *bev; /* NULL once the client went away */
	bool waiting;		 /* a sync --wait is pending: freed by its callback */
};

static void conn_free(struct conn *c)
{
	if (c->bev)
		bufferevent_free(c->bev);
	free(c);
}

static void on_drained(struct bufferevent *bev, void *arg)
{
	conn_free(arg);
}

/* The client went away (or stopped reading) before the reply was written. */
static void on_gone(struct bufferevent *bev, short what, void *arg)
{
	conn_free(arg);
}

/* Send obj (stolen) as one line, then close once it is written. */
static void send_reply(struct conn *c, json_t *obj)
{
	char *text;

	if (!obj)
		obj = json_pack("{s:i, s:b, s:s}", "v", DMN_CTL_VERSION, "ok", 0, "error",
				"out of memory");
	else
		json_object_set_new(obj, "v", json_integer(DMN_CTL_VERSION));
	text = obj ? json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(obj);
	if (!c->bev || !text) {
		free(text);
		conn_free(c);
		return;
	}
	evbuffer_add(bufferevent_get_output(c->bev), text, strlen(text));
	evbuffer_add(bufferevent_get_output(c->bev), "\n", 1);
	free(text);
	bufferevent_setcb(c->bev, NULL, on_drained, on_gone, c);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_set_timeouts(c->bev, NULL, &(struct timeval){10, 0});
}

static json_t *error_reply(const char *msg)
{
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static void sync_done(json_t *result, void *payload)
{
	struct conn *c = payload;

	c->waiting = false;
	send_reply(c, result ? json_deep_copy(result) : error_reply("sync failed"));
}

static void handle(struct conn *c, const char *line)
{
	struct dmn *d = c->ctl->d;
	json_error_t je;
	json_t *req = json_loads(line, 0, &je), *o;
	const char *cmd = NULL;
	int wait = 0, v = 0;

	if (!req || json_unpack(req, "{s:i, s:s, s?b}", "v", &v, "cmd", &cmd, "wait", &wait) < 0) {
		send_reply(c, error_reply("malformed request: expected "
					  "{\"v\":1,\"cmd\":\"status\"|\"sync\"}"));
	} else if (v != DMN_CTL_VERSION) {
		send_reply(c, json_pack("{s:b, s:s, s:i}", "ok", 0, "error",
					"unsupported control protocol version", "supported",
					DMN_CTL_VERSION));
	} else if (strcmp(cmd, "status") == 0) {
		o = d->sync ? dmn_sync_status(d->sync) : json_object();
		json_object_set_new(o, "ok", json_true());
		json_object_set_new(o, "office", json_string(d->office));
		json_object_set_new(o, "pid", json_integer(getpid()));
		json_object_set_new(o, "listen",
				    d->listen_addr[0] ? json_string(d->listen_addr) : json_null());
		pthread_mutex_lock(&d->cfg_mu);
		json_object_set_new(o, "parent",
				    d->cfg.parent ? json_string(d->cfg.parent) : json_null());
		pthread_mutex_unlock(&d->cfg_mu);
		send_reply(c, o);
	} else if (strcmp(cmd, "sync") == 0 && d->sync) {
		if (wait) {
			c->waiting = true;
			dmn_sync_request(d->sync, sync_done, c);
		} else {
			dmn_sync_request(d->sync, NULL, NULL);
			send_reply(c, json_pack("{s:b, s:b}", "ok", 1, "queued", 1));
		}
	} else {
		struct buf msg = BUF_INIT;
		buf_printf(&msg, "unknown command '%s'", cmd);
		send_reply(c, error_reply(msg.ptr));
		buf_release(&msg);
	}
	json_decref(req);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);

	if (!line) {
		if (evbuffer_get_length(in) > DMN_CTL_LINE_MAX)
			send_reply(c, error_reply("request line too long"));
		return;
	}
	bufferevent_disable(bev, EV_READ);
	if (n > DMN_CTL_LINE_MAX)
		send_reply(c, error_reply("request line too long"));
	else
		handle(c, line);
	free(line);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	if ((what & BEV_EVENT_TIMEOUT) && !c->waiting) {
		/* a client that says nothing is told so, then dropped */
		send_reply(c, error_reply("no request within 10 seconds"));
		return;
	}
	if (c->waiting) { /* the sync callback frees it */
		bufferevent_free(c->bev);
		c->bev = NULL;
		return;
	}
	conn_free(c);
}

static void on_accept(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	struct dmn_ctl *ctl = arg;
	struct conn *c = calloc(1, sizeof(*c));
	struct timeval tv = {10, 0};

	if (!c || !(c->bev = bufferevent_socket_new(evconnlistener_get_base(lst), fd,
						    BEV_OPT_CLOSE_ON_FREE))) {
		free(c);
		close(fd);
		return;
	}
	c->ctl = ctl;
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_set_timeouts(c->bev, &tv, NULL); /* a request must come quickly */
	bufferevent_enable(c->bev, EV_READ);
}

int dmn_ctl_start(struct dmn_ctl **out, struct dmn *d)
{
	struct dmn_ctl *ctl = calloc(1, sizeof(*ctl));
	struct sockaddr_un sa = {0};
	mode_t old;
	int rc = 0;

	*out = NULL;
	if (!ctl)
		return err_set(ERR_NOMEM, "out of memory");
	ctl->d = d;
	if (strlen(d->cfg.control) >= sizeof(sa.sun_path)) {
		rc = err_set(ERR_INVALID, "control socket path '%s' is too long", d->cfg.control);
		goto out;
	}
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->cfg.control);
	unlink(sa.sun_path); /* left by a daemon that died; the pid file guards a live one */
	old = umask(077);    /* the socket is created owner-only */
	ctl->listener = evconnlistener_new_bind(d->base, on_accept, ctl,
						LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
						(struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (!ctl->listener) {
		rc = err_errno(ERR_IO, "cannot listen on control socket '%s'", sa.sun_path);
		goto out;
	}
	chmod(sa.sun_path, 0600);
	snprintf(ctl->path, sizeof(ctl->path), "%s", sa.sun_path);
	*out = ctl;
	ctl = NULL;
out:
	dmn_ctl_free(ctl);
	return rc;
}

void dmn_ctl_free(struct dmn_ctl *ctl)
{
	if (!ctl)
		return;
	if (ctl->listener) {
		evconnlistener_free(ctl->listener);
		unlink(ctl->path);
	}
	free(ctl);
}
