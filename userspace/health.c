/* userspace/health.c - the probes of active health checks (see health.h).
 *
 * A probe is one object per node, alive as long as its snapshot is worker
 * 0's: a timer that fires at the next probe, or at the deadline of the one
 * running, and a socket between the two. A probe runs
 *
 *	connect ─▶ (tcp: success) ─▶ write the request ─▶ read until llhttp
 *	has the status line and headers ─▶ status in expect_status: success
 *
 * and anything else (refused, reset, timeout, closed before the headers, a
 * malformed response) is a failure. Each probe uses a new connection with
 * "Connection: close", as nginx and HAProxy do: a check tells about a
 * node's ability to take connections too, and keeps nothing open.
 *
 * Probes of a snapshot left behind are closed at once but freed only when
 * the batch of events ends (weir_health_reap), like every other object of
 * the loop, so an event of the same batch never touches freed memory.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "core.h"
#include "health.h"
#include "snapshot.h"

enum probe_phase {
	PROBE_IDLE,		/* waiting for the next probe */
	PROBE_CONNECTING,
	PROBE_SENDING,
	PROBE_READING,
};

struct weir_probe {
	struct weir_io io;		/* WEIR_IO_PROBE; fd -1 while idle */
	struct weir_timer timer;	/* the next probe, or the running one's deadline */
	struct weir_worker *w;
	struct weir_upstream *up;
	uint32_t node;
	uint8_t phase;
	uint8_t status_seen;		/* llhttp paused on the response head */
	uint32_t sent;
	uint64_t started;		/* ms, when the running probe began */
	char *req;			/* http: the whole request; NULL for tcp */
	uint32_t req_len;
	llhttp_t parser;
};

struct weir_health {
	struct weir_health *next;	/* the worker's list of stopped sets */
	size_t n;
	struct weir_probe probes[];
};

static llhttp_settings_t probe_settings;

/* The head is all a check reads: stop there. */
static int probe_on_headers_complete(llhttp_t *p)
{
	struct weir_probe *pr = p->data;

	pr->status_seen = 1;
	return HPE_PAUSED;
}

static struct weir_probe *probe_of(struct weir_timer *t)
{
	return (struct weir_probe *)((char *)t - offsetof(struct weir_probe, timer));
}

static void probe_close(struct weir_probe *p)
{
	if (p->io.fd >= 0)
		close(p->io.fd);	/* leaves epoll with it */
	p->io.fd = -1;
	p->phase = PROBE_IDLE;
}

/* The outcome of a probe: the verdict may change, the next one is due one
 * interval after this one began. */
static void probe_done(struct weir_worker *w, struct weir_probe *p, bool ok, const char *why)
{
	const struct weir_health_check_conf *hc = &p->up->conf->hc;
	uint64_t next = p->started + hc->interval_ms;

	probe_close(p);
	if (weir_lb_active_report(p->up->lb, (int)p->node, ok, hc->healthy_threshold,
				  hc->unhealthy_threshold))
		fprintf(stderr, "weir: health check: upstream %s node %s is %s%s%s\n",
			p->up->conf->name, p->up->nodes[p->node].addr.text,
			ok ? "healthy" : "down", ok ? "" : ": ", ok ? "" : why);
	weir_timer_set(w, &p->timer, next > w->now ? next : w->now + 1);
}

static void probe_start(struct weir_worker *w, struct weir_probe *p)
{
	const struct weir_node *n = &p->up->nodes[p->node];
	int one = 1;

	p->started = w->now;
	p->sent = 0;
	p->status_seen = 0;
	p->io.readable = p->io.writable = p->io.eof = p->io.rdhup = 0;
	p->io.fd = socket(n->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->io.fd < 0) {
		probe_done(w, p, false, "no socket");
		return;
	}
	setsockopt(p->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(p->io.fd, (const struct sockaddr *)&n->addr.sa, n->addr.len) < 0 &&
	    errno != EINPROGRESS) {
		probe_done(w, p, false, strerror(errno));
		return;
	}
	if (weir_io_add(w, &p->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
		probe_done(w, p, false, strerror(errno));
		return;
	}
	p->phase = PROBE_CONNECTING;
	weir_timer_set(w, &p->timer, w->now + p->up->conf->hc.timeout_ms);
	if (p->req)
		llhttp_init(&p->parser, HTTP_RESPONSE, &probe_settings);
	p->parser.data = p;
}

static void probe_fire(struct weir_worker *w, struct weir_timer *t)
{
	struct weir_probe *p = probe_of(t);

	if (p->phase == PROBE_IDLE)
		probe_start(w, p);
	else
		probe_done(w, p, false, "timed out");
}

/* Reads what is there and runs llhttp over it: 1 verdict given, 0 waiting
 * for more bytes. */
static int probe_read(struct weir_worker *w, struct weir_probe *p)
{
	const struct weir_health_check_conf *hc = &p->up->conf->hc;
	char buf[2048];

	for (;;) {
		ssize_t r = recv(p->io.fd, buf, sizeof(buf), 0);
		llhttp_errno_t e;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r < 0) {
			probe_done(w, p, false, strerror(errno));
			return 1;
		}
		if (r == 0) {
			probe_done(w, p, false, "closed before a response head");
			return 1;
		}
		e = llhttp_execute(&p->parser, buf, (size_t)r);
		if (e == HPE_PAUSED && p->status_seen) {
			unsigned status = p->parser.status_code;
			char why[64];

			snprintf(why, sizeof(why), "status %u", status);
			probe_done(w, p, weir_hc_expects(hc, status), why);
			return 1;
		}
		if (e != HPE_OK) {
			probe_done(w, p, false, "malformed response");
			return 1;
		}
	}
}

void weir_probe_event(struct weir_probe *p, uint32_t events)
{
	struct weir_worker *w = p->w;
	int err = 0;
	socklen_t len = sizeof(err);

	if (p->phase == PROBE_CONNECTING) {
		if (!p->io.writable && !(events & (EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(p->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			probe_done(w, p, false, err ? strerror(err) : "connection failed");
			return;
		}
		if (!p->req) {
			probe_done(w, p, true, "");
			return;
		}
		p->phase = PROBE_SENDING;
	}
	if (p->phase == PROBE_SENDING) {
		while (p->sent < p->req_len) {
			ssize_t s = send(p->io.fd, p->req + p->sent, p->req_len - p->sent,
					 MSG_NOSIGNAL);

			if (s < 0 && errno == EINTR)
				continue;
			if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (s < 0) {
				probe_done(w, p, false, strerror(errno));
				return;
			}
			p->sent += (uint32_t)s;
		}
		p->phase = PROBE_READING;
	}
	if (p->phase == PROBE_READING)
		probe_read(w, p);
}

/* ---- sets of probes, one per snapshot ------------------------------------ */

static void set_stop(struct weir_worker *w, struct weir_health *h)
{
	for (size_t i = 0; i < h->n; i++) {
		probe_close(&h->probes[i]);
		weir_timer_stop(w, &h->probes[i].timer);
	}
	h->next = w->dead_health;
	w->dead_health = h;
}

static void set_free(struct weir_health *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->probes[i].req);
	free(h);
}

static struct weir_upstream *same_upstream(const struct weir_snapshot *s, const char *name)
{
	for (size_t i = 0; s && i < s->n_upstreams; i++)
		if (!strcmp(s->upstreams[i].conf->name, name))
			return &s->upstreams[i];
	return NULL;
}

void weir_health_carry(struct weir_snapshot *to, const struct weir_snapshot *from)
{
	for (size_t i = 0; from && i < to->n_upstreams; i++) {
		struct weir_upstream *u = &to->upstreams[i];
		const struct weir_upstream *o = same_upstream(from, u->conf->name);

		/* an upstream that stops checking forgets the verdicts: none
		 * would ever bring a node back */
		if (u->conf->hc.enabled && o && o->conf->hc.enabled)
			weir_lb_active_carry(u->lb, o->lb);
	}
}

/* "GET PATH HTTP/1.1" with Host and Connection: close, built once. */
static char *probe_request(const struct weir_upstream *u, uint32_t node, uint32_t *len)
{
	const struct weir_health_check_conf *hc = &u->conf->hc;
	const char *host = hc->host ? hc->host : u->nodes[node].addr.text;
	char *req = NULL;
	int n = asprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weir-health-check\r\n"
			 "Accept: */*\r\nConnection: close\r\n\r\n", hc->path, host);

	if (n < 0)
		return NULL;
	*len = (uint32_t)n;
	return req;
}

int weir_health_switch(struct weir_worker *w, struct weir_snapshot *to,
		       struct weir_snapshot *from)
{
	struct weir_health *h;
	size_t n = 0, k = 0;

	if (w->health) {
		set_stop(w, w->health);
		w->health = NULL;
	}
	weir_health_carry(to, from);
	for (size_t i = 0; i < to->n_upstreams; i++)
		if (to->upstreams[i].conf->hc.enabled)
			n += to->upstreams[i].n_nodes;
	if (!n)
		return 0;
	if (!probe_settings.on_headers_complete) {
		llhttp_settings_init(&probe_settings);
		probe_settings.on_headers_complete = probe_on_headers_complete;
	}
	h = calloc(1, sizeof(*h) + n * sizeof(h->probes[0]));
	if (!h)
		return -1;
	h->n = n;
	for (size_t i = 0; i < to->n_upstreams; i++) {
		struct weir_upstream *u = &to->upstreams[i];

		if (!u->conf->hc.enabled)
			continue;
		for (uint32_t node = 0; node < u->n_nodes; node++, k++) {
			struct weir_probe *p = &h->probes[k];

			p->io.kind = WEIR_IO_PROBE;
			p->io.fd = -1;
			p->w = w;
			p->up = u;
			p->node = node;
			p->timer.fire = probe_fire;
			if (u->conf->hc.type == WEIR_HC_HTTP &&
			    !(p->req = probe_request(u, node, &p->req_len))) {
				set_free(h);
				return -1;
			}
		}
	}
	/* the first probes spread over the first interval, a second at most */
	for (k = 0; k < n; k++) {
		uint32_t iv = h->probes[k].up->conf->hc.interval_ms;

		weir_timer_set(w, &h->probes[k].timer, w->now + 1 + (iv < 1000 ? iv : 1000) * k / n);
	}
	w->health = h;
	return 0;
}

void weir_health_stop(struct weir_worker *w)
{
	if (w->health) {
		set_stop(w, w->health);
		w->health = NULL;
	}
}

void weir_health_reap(struct weir_worker *w)
{
	while (w->dead_health) {
		struct weir_health *h = w->dead_health;

		w->dead_health = h->next;
		set_free(h);
	}
}
