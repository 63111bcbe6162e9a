/* userspace/proxy.c - the upstream side of a request: choosing a node,
 * connecting or reusing a keepalive connection, streaming the request out
 * and the response back, retries, passive health, and upgrade tunnels.
 *
 * One function, weir_proxy_pump(), moves a request forward whenever either of
 * its sockets reports readiness. It loops until nothing more can move, so it
 * is idempotent and safe to call from any event. Bodies are streamed raw: the
 * bytes llhttp has accepted as part of the message are written on unchanged
 * (Content-Length or chunked framing included), so nothing is copied or
 * re-encoded, and each side reads only as far as the other side drains
 * (backpressure). When every byte of the current body window has been
 * forwarded, the window is rewound to reuse the same buffer.
 *
 * A response head is rebuilt for the client inside llhttp's
 * on_headers_complete, where all its fields are known; the parser then pauses
 * so the body is forwarded in step with the client.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core.h"
#include "snapshot.h"
#include "plugin.h"
#include "balance.h"
#include "tls.h"

#include <openssl/ssl.h>

enum fail_kind { FAIL_CONNECT, FAIL_CONNECT_TIMEOUT, FAIL_RESET, FAIL_TIMEOUT, FAIL_PROTOCOL };

static int on_resp_begin(llhttp_t *p);
static int on_resp_status(llhttp_t *p, const char *at, size_t len);
static int on_resp_field(llhttp_t *p, const char *at, size_t len);
static int on_resp_value(llhttp_t *p, const char *at, size_t len);
static int on_resp_headers_complete(llhttp_t *p);
static int on_resp_body(llhttp_t *p, const char *at, size_t len);
static int on_resp_message_complete(llhttp_t *p);

static llhttp_settings_t resp_settings = {
	.on_message_begin = on_resp_begin,
	.on_status = on_resp_status,
	.on_header_field = on_resp_field,
	.on_header_value = on_resp_value,
	.on_headers_complete = on_resp_headers_complete,
	.on_message_complete = on_resp_message_complete,
};

/* The same, with the decoded body passed to on_resp_body: for routes that
 * hold responses whole (plugin.h), and switched to for a body de-chunked
 * for an HTTP/1.0 client; streaming routes never pay for on_body. */
static llhttp_settings_t resp_body_settings = {
	.on_message_begin = on_resp_begin,
	.on_status = on_resp_status,
	.on_header_field = on_resp_field,
	.on_header_value = on_resp_value,
	.on_headers_complete = on_resp_headers_complete,
	.on_body = on_resp_body,
	.on_message_complete = on_resp_message_complete,
};

/* Why a response callback stopped llhttp (in r->stop, free once the request is
 * read). */
enum { STOP_RESP_TOO_LARGE = 32, STOP_RESP_NO_MEMORY, STOP_RESP_CODING };

static void upstream_fail(struct weir_req *r, enum fail_kind kind, const char *why);
static void upconn_close(struct weir_worker *w, struct weir_upconn *u);

static const struct weir_upstream *req_upstream(const struct weir_req *r)
{
	return r->route->upstream;
}

/* ---- the request head for the upstream ---------------------------------- */

static bool is_hop_by_hop(const struct weir_req *r, const char *name, uint32_t len,
			  const struct weir_buf *b)
{
	switch (len) {
	case 2:
		return !memcmp(name, "te", 2);
	case 7:
		return !memcmp(name, "upgrade", 7) && !r->upgrade;
	case 10:
		return !memcmp(name, "connection", 10) || !memcmp(name, "keep-alive", 10);
	case 15:
		return !memcmp(name, "x-forwarded-for", 15);
	case 16:
		return !memcmp(name, "proxy-connection", 16) ||
		       !memcmp(name, "x-forwarded-host", 16);
	case 17:
		return !memcmp(name, "x-forwarded-proto", 17);
	}
	for (uint32_t i = 0; i < r->n_conn_names; i++)
		if (r->conn_names[i].len == len &&
		    !strncasecmp(b->data + r->conn_names[i].off, name, len))
			return true;
	return false;
}

/* Writes the query (from its '?') without the parameters the route's
 * plugins take out (struct weir_route's drop_query: names compared exactly,
 * the query being case-sensitive); a query left empty loses its '?'. */
static int append_query(struct weir_buf *o, const struct weir_req *r, const char *q,
			uint32_t qlen)
{
	const struct weir_hdr_names *drop = r->route->drop_query;
	const char *p = q + 1, *end = q + qlen;
	bool first = true;
	int rc = 0;

	if (!drop || !qlen)
		return weir_buf_append(o, q, qlen);
	while (p <= end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)) ?: end;
		const char *eq = memchr(p, '=', (size_t)(amp - p)) ?: amp;
		bool keep = true;

		for (size_t i = 0; keep && i < drop->n; i++)
			keep = drop->v[i].len != (size_t)(eq - p) ||
			       memcmp(drop->v[i].name, p, drop->v[i].len);
		if (keep && amp > p) {
			weir_buf_append(o, first ? "?" : "&", 1);
			rc = weir_buf_append(o, p, (size_t)(amp - p));
			first = false;
		}
		p = amp + 1;
	}
	return rc;
}

static bool is_transfer_encoding(const char *name, uint32_t len)
{
	return len == 17 && !strncasecmp(name, "transfer-encoding", 17);
}

/* The fields that frame a body, which a held body is sent without. */
static bool is_framing(const char *name, uint32_t len)
{
	return (len == 14 && !strncasecmp(name, "content-length", 14)) ||
	       is_transfer_encoding(name, len) ||
	       (len == 6 && !strncasecmp(name, "expect", 6));
}

/* Writes the path the upstream sees: the route's rewrite applied, the query
 * kept (but for the parameters the route's plugins remove). */
static int head_target(struct weir_buf *o, const struct weir_req *r, const char *path)
{
	const struct weir_route *rt = r->route;
	const char *query = path + r->path_len;
	uint32_t qlen = r->path.len - r->path_len;

	switch (rt->rewrite) {
	case WEIR_REWRITE_STRIP: {
		size_t n = rt->rewrite_len;
		if (r->path_len >= n && !memcmp(path, rt->rewrite_value, n)) {
			path += n;
			uint32_t rest = r->path_len - (uint32_t)n;
			if (rest == 0 || path[0] != '/')
				weir_buf_append(o, "/", 1);
			weir_buf_append(o, path, rest);
			return append_query(o, r, query, qlen);
		}
		break;
	}
	case WEIR_REWRITE_TEMPLATE: {
		const char *t = rt->rewrite_value, *end = t + rt->rewrite_len;
		while (t < end) {
			const char *colon = memchr(t, ':', (size_t)(end - t));
			if (!colon) {
				weir_buf_append(o, t, (size_t)(end - t));
				break;
			}
			weir_buf_append(o, t, (size_t)(colon - t));
			/* a name is letters, digits and '_', as the router has them */
			const char *ne = colon + 1;
			while (ne < end && (isalnum((unsigned char)*ne) || *ne == '_'))
				ne++;
			if (ne == colon + 1)
				weir_buf_append(o, ":", 1);	/* no name: a literal colon */
			for (unsigned i = 0; i < r->match.n_params; i++) {
				const struct weir_route_param *pa = &r->match.params[i];
				if (strlen(pa->name) == (size_t)(ne - colon - 1) &&
				    !memcmp(pa->name, colon + 1, (size_t)(ne - colon - 1)))
					weir_buf_append(o, pa->value, pa->len);
			}
			t = ne;
		}
		return append_query(o, r, query, qlen);
	}
	default:
		break;
	}
	if (!rt->drop_query)
		return weir_buf_append(o, path, r->path.len);
	weir_buf_append(o, path, r->path_len);
	return append_query(o, r, query, qlen);
}

static int build_upstream_head(struct weir_req *r)
{
	struct weir_client *c = r->client;
	struct weir_buf *b = c->in, *o;
	const struct weir_hdr_names *drop = r->route->drop_request;
	const char *xfh = NULL;
	uint32_t n_xff = 0, first_xff = 0, xfh_len = 0;
	/* The header that carries the client certificate's identity: never
	 * the client's own, only ours. */
	size_t idh_len = 0;
	const char *idh = c->tls ? weir_tls_server_id_header(c->tls, &idh_len) : NULL;

	if (!r->up_head && !(r->up_head = weir_buf_get(c->w)))
		return -1;
	o = r->up_head;
	o->start = o->end = 0;
	weir_buf_append(o, llhttp_method_name(r->method), strlen(llhttp_method_name(r->method)));
	weir_buf_append(o, " ", 1);
	head_target(o, r, b->data + r->path.off);
	/* HTTP/1.1 upstream even for an HTTP/1.0 client, as HAProxy and
	 * nginx's keepalive pools do: its connection goes back to the pool.
	 * It needs a Host to send; an upgrade is for HTTP/1.1 clients. */
	r->up_v11 = r->http_minor || (r->host_field >= 0 && !r->upgrade);
	weir_buf_append(o, r->up_v11 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
	for (uint32_t i = 0; i < r->head.n_fields; i++) {
		const struct weir_hdr *h = &r->hdrs[i];
		if (h->name_len == 15 && !memcmp(h->name, "x-forwarded-for", 15) && !n_xff++)
			first_xff = i;
		if (h->name_len == 4 && !memcmp(h->name, "host", 4)) {
			xfh = h->value;
			xfh_len = h->value_len;
		}
		if (is_hop_by_hop(r, h->name, h->name_len, b) ||
		    (drop && weir_hdr_names_has(drop, h->name, h->name_len)) ||
		    (r->held && is_framing(h->name, h->name_len)) ||
		    (idh && h->name_len == idh_len && !memcmp(h->name, idh, idh_len)) ||
		    /* HTTP/1.0 has no 100-continue (RFC 9110 10.1.1): not
		     * to be asked of the upstream in its name */
		    (!r->http_minor && h->name_len == 6 && !memcmp(h->name, "expect", 6)))
			continue;
		/* Tracing replaces traceparent, and keeps tracestate only with
		 * the trace it belongs to. */
		if (r->traceparent[0] &&
		    ((h->name_len == 11 && !memcmp(h->name, "traceparent", 11)) ||
		     (!r->trace_in && h->name_len == 10 && !memcmp(h->name, "tracestate", 10))))
			continue;
		weir_buf_append(o, h->name, h->name_len);
		weir_buf_append(o, ": ", 2);
		weir_buf_append(o, h->value, h->value_len);
		weir_buf_append(o, "\r\n", 2);
	}
	const char *addr = weir_req_client_addr(r);
	/* Plain appends, not printf: this runs for every request. */
	weir_buf_append(o, "x-forwarded-for: ", 17);
	/* Every x-forwarded-for field the client sent, in order (one list may
	 * come in several fields), then the client. */
	for (uint32_t i = first_xff; n_xff && i < r->head.n_fields; i++) {
		const struct weir_hdr *h = &r->hdrs[i];
		if (h->name_len != 15 || memcmp(h->name, "x-forwarded-for", 15))
			continue;
		n_xff--;
		if (h->value_len) {
			weir_buf_append(o, h->value, h->value_len);
			weir_buf_append(o, ", ", 2);
		}
	}
	weir_buf_append(o, addr, strlen(addr));
	if (c->io.ssl)
		weir_buf_append(o, "\r\nx-forwarded-proto: https\r\n", 28);
	else
		weir_buf_append(o, "\r\nx-forwarded-proto: http\r\n", 27);
	if (idh && c->tls_client_id) {
		weir_buf_append(o, idh, idh_len);
		weir_buf_append(o, ": ", 2);
		weir_buf_append(o, c->tls_client_id, strlen(c->tls_client_id));
		weir_buf_append(o, "\r\n", 2);
	}
	if (xfh) {
		weir_buf_append(o, "x-forwarded-host: ", 18);
		weir_buf_append(o, xfh, xfh_len);
		weir_buf_append(o, "\r\n", 2);
	}
	if (r->id[0]) {
		weir_buf_append(o, "x-request-id: ", 14);
		weir_buf_append(o, r->id, 32);
		weir_buf_append(o, "\r\n", 2);
	}
	/* A held body goes with a length of its own (a plugin may have changed
	 * it), and whole: nothing to expect. */
	if (r->held && r->has_length)
		weir_buf_field_u64(o, "content-length", 14, r->hold.len);
	if (r->traceparent[0]) {
		weir_buf_append(o, "traceparent: ", 13);
		weir_buf_append(o, r->traceparent, 55);
		weir_buf_append(o, "\r\n", 2);
	}
	if (r->upgrade)
		weir_buf_append(o, "connection: upgrade\r\n", 21);
	else if (!r->up_v11)
		weir_buf_append(o, "connection: close\r\n", 19);
	weir_plugins_before_upstream(r, o);
	if (weir_buf_append(o, "\r\n", 2) < 0)
		return -1;
	r->up_head_sent = 0;
	return 0;
}

/* ---- choosing and connecting --------------------------------------------- */

static uint64_t hash_key(const struct weir_req *r)
{
	const struct weir_upstream *up = req_upstream(r);
	const struct weir_upstream_conf *uc = up->conf;
	const struct weir_client *c = r->client;

	if (uc->lb != WEIR_LB_CHASH)
		return 0;
	switch (uc->hash_on) {
	case WEIR_HASH_IP:
		return weir_hash64(&c->peer.sin6_addr, 16, 0);
	case WEIR_HASH_PARAM:
		for (unsigned i = 0; i < r->match.n_params; i++)
			if (!strcmp(r->match.params[i].name, uc->hash_key))
				return weir_hash64(r->match.params[i].value, r->match.params[i].len, 0);
		return 0;
	case WEIR_HASH_HEADER:
	case WEIR_HASH_COOKIE: {
		bool cookie = uc->hash_on == WEIR_HASH_COOKIE;
		const char *want = cookie ? "cookie" : uc->hash_key;
		size_t wl = strlen(want), kl = strlen(uc->hash_key);
		for (uint32_t i = 0; i < r->head.n_fields; i++) {
			const struct weir_hdr *h = &r->hdrs[i];
			if (h->name_len != wl || memcmp(h->name, want, wl))
				continue;
			if (!cookie)
				return weir_hash64(h->value, h->value_len, 0);
			/* name=value pairs separated by "; " */
			const char *v = h->value, *e = v + h->value_len;
			while (v < e) {
				while (v < e && (*v == ' ' || *v == ';'))
					v++;
				const char *sc = memchr(v, ';', (size_t)(e - v));
				const char *pe = sc ? sc : e;
				if ((size_t)(pe - v) > kl && v[kl] == '=' && !memcmp(v, uc->hash_key, kl))
					return weir_hash64(v + kl + 1, (size_t)(pe - v - kl - 1), 0);
				v = pe;
			}
		}
		return 0;
	}
	}
	return 0;
}

static struct weir_pool *worker_pool(struct weir_worker *w, uint32_t id)
{
	if (id >= w->n_pools) {
		uint32_t n = id + 16;
		struct weir_pool *p = realloc(w->pools, n * sizeof(*p));
		if (!p)
			return NULL;
		memset(p + w->n_pools, 0, (n - w->n_pools) * sizeof(*p));
		w->pools = p;
		w->n_pools = n;
	}
	return &w->pools[id];
}

static void pool_unlink(struct weir_pool *p, struct weir_upconn *u)
{
	if (u->prev)
		u->prev->next = u->next;
	else
		p->idle = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->prev = u->next = NULL;
	p->n_idle--;
}

static void upconn_timer_fire(struct weir_worker *w, struct weir_timer *t);

static struct weir_upconn *upconn_new(struct weir_worker *w, const struct weir_upstream *up,
				      const struct weir_node *n)
{
	struct weir_upconn *u = calloc(1, sizeof(*u));
	int one = 1;

	if (!u)
		return NULL;
	u->io.kind = WEIR_IO_UPSTREAM;
	u->pool = n->pool;
	u->w = w;
	u->timer.fire = upconn_timer_fire;
	u->io.fd = socket(n->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->io.fd < 0) {
		free(u);
		return NULL;
	}
	setsockopt(u->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(u->io.fd, (const struct sockaddr *)&n->addr.sa, n->addr.len) < 0 &&
	    errno != EINPROGRESS) {
		close(u->io.fd);
		free(u);
		return NULL;
	}
	u->state = WEIR_UP_CONNECTING;
	if ((up->tls && weir_tls_connect(&u->io, up->tls, &up->conf->tls, &n->addr,
					 worker_pool(w, n->pool)) < 0) ||
	    weir_io_add(w, &u->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
		weir_tls_close(&u->io, false);
		close(u->io.fd);
		free(u);
		return NULL;
	}
	return u;
}

/* Picks a node and gives the request a connection to it: an idle one from
 * the pool, or a new one. When no node is left, answers `status` with
 * `why`: what made the last try fail (504 for a connect timeout), or 502
 * "no upstream node available" on the first pick. */
static bool upstream_connect(struct weir_req *r, int status, const char *why)
{
	struct weir_client *c = r->client;
	struct weir_worker *w = c->w;
	const struct weir_upstream *up = req_upstream(r);
	struct weir_lb_state *st = up->states[w->id];
	int node;

	for (;;) {
		node = weir_lb_pick(up->lb, st, hash_key(r), w->now, r->tried, r->n_tried);
		if (node < 0) {
			weir_client_answer(c, status, why, r->req_done);
			return false;
		}
		r->tried[r->n_tried++] = (uint16_t)node;
		r->node = (int16_t)node;

		const struct weir_node *n = &up->nodes[node];
		struct weir_pool *p = worker_pool(w, n->pool);
		struct weir_upconn *u = p ? p->idle : NULL;
		if (u) {
			pool_unlink(p, u);
			u->reused = 1;
			u->done = 0;
			u->state = WEIR_UP_ACTIVE;
			weir_timer_stop(w, &u->timer);
		} else {
			u = upconn_new(w, up, n);
			if (!u) {
				weir_lb_report(st, node, true, w->now, up->conf->max_fails,
					       up->conf->fail_window_ms, up->conf->eject_ms);
				status = 502;
				why = "upstream connect failed";
				if (r->n_tried <= up->conf->retries && r->n_tried < WEIR_MAX_TRIES)
					continue;
				weir_client_answer(c, 502, "upstream connect failed", r->req_done);
				return false;
			}
			u->pool = n->pool;
			weir_timer_set(w, &u->timer, w->now + r->t_connect);
		}
		u->node = (uint16_t)node;
		u->req = r;
		u->w = w;
		u->parsed = 0;
		r->ufwd = r->umsg_end = 0;
		r->resp_done = r->resp_seen = r->body_phase = r->interim = 0;
		llhttp_init(&u->parser, HTTP_RESPONSE,
			    r->route->hold_response ? &resp_body_settings : &resp_settings);
		u->parser.data = u;
		r->up = u;
		weir_lb_conn_start(st, node);
		r->phase = WEIR_REQ_SENDING;
		return true;
	}
}

void weir_proxy_start(struct weir_req *r)
{
	const struct weir_route *rt = r->route;
	const struct weir_upstream_conf *uc = req_upstream(r)->conf;

	r->t_connect = rt->connect_timeout_ms ? rt->connect_timeout_ms : uc->connect_timeout_ms;
	r->t_send = rt->send_timeout_ms ? rt->send_timeout_ms : uc->send_timeout_ms;
	r->t_read = rt->read_timeout_ms ? rt->read_timeout_ms : uc->read_timeout_ms;
	r->node = -1;
	r->up_start_us = r->client->w->now_us;
	if (build_upstream_head(r) < 0) {
		weir_client_answer(r->client, 500, "request head too large to rebuild", false);
		return;
	}
	if (upstream_connect(r, 502, "no upstream node available"))
		weir_proxy_pump(r);
}

/* ---- the response head for the client ------------------------------------- */

static inline struct weir_upconn *upconn_of(llhttp_t *p)
{
	return p->data;
}

static inline void uspan_add(struct weir_span *s, const struct weir_buf *b, const char *at,
			     size_t len)
{
	if (s->off == UINT32_MAX) {
		s->off = (uint32_t)(at - b->data);
		s->len = 0;
	}
	s->len += (uint32_t)len;
}

static int on_resp_begin(llhttp_t *p)
{
	struct weir_req *r = upconn_of(p)->req;

	r->rhead.url = (struct weir_span){ UINT32_MAX, 0 };
	r->rhead.n_fields = 0;
	r->rhead.in_field = 0;
	r->rhead.too_many = 0;
	return 0;
}

static int on_resp_status(llhttp_t *p, const char *at, size_t len)
{
	struct weir_upconn *u = upconn_of(p);

	uspan_add(&u->req->rhead.url, u->in, at, len);
	return 0;
}

static int on_resp_field(llhttp_t *p, const char *at, size_t len)
{
	struct weir_upconn *u = upconn_of(p);

	uspan_add(&weir_head_field(&u->req->rhead)->name, u->in, at, len);
	return 0;
}

static int on_resp_value(llhttp_t *p, const char *at, size_t len)
{
	struct weir_upconn *u = upconn_of(p);
	struct weir_head *h = &u->req->rhead;

	h->in_field = 2;
	uspan_add(&h->fields[h->n_fields - 1].value, u->in, at, len);
	return 0;
}

static bool resp_hop_by_hop(const char *n, uint32_t len, bool upgrade)
{
	switch (len) {
	case 2:
		return !strncasecmp(n, "te", 2);
	case 7:
		return !upgrade && !strncasecmp(n, "upgrade", 7);
	case 10:
		return !strncasecmp(n, "connection", 10) || !strncasecmp(n, "keep-alive", 10);
	case 16:
		return !strncasecmp(n, "proxy-connection", 16);
	}
	return false;
}

/* Whether a chunked response's coding is chunked alone: in one field, as
 * no TE field asked the upstream for more (a "gzip, chunked" body cannot
 * be given to a client that knows no codings). */
static bool only_chunked(const struct weir_head *h, const struct weir_buf *b)
{
	uint32_t n = 0;
	bool ok = true;

	for (uint32_t i = 0; i < h->n_fields; i++) {
		const struct weir_field *f = &h->fields[i];
		if (f->name.off == UINT32_MAX || !is_transfer_encoding(b->data + f->name.off, f->name.len))
			continue;
		n++;
		ok &= f->value.off != UINT32_MAX && f->value.len == 7 &&
		      !strncasecmp(b->data + f->value.off, "chunked", 7);
	}
	return ok && n == 1;
}

/* Ends a response head in o: Connection as the exchange allows, then the
 * blank line. 0, or -1 when the buffer is full. */
static int resp_head_end(struct weir_req *r, struct weir_buf *o, bool upgrade, bool must_close)
{
	struct weir_client *c = r->client;

	/* An answer before the whole request went up leaves the rest of the
	 * request body unread: the connection cannot carry another request. */
	if (!r->sent_all || must_close)
		r->close_after = 1;
	if (upgrade)
		weir_buf_append(o, "Connection: upgrade\r\n", 21);
	else if (r->close_after || !c->keepalive || c->draining || c->w->stopping) {
		r->close_after = 1;
		weir_buf_append(o, "Connection: close\r\n", 19);
	} else if (!r->http_minor) {
		weir_buf_append(o, "Connection: keep-alive\r\n", 24);
	}
	return weir_buf_append(o, "\r\n", 2);
}

/* Rebuilds the response head into client->out. Returns what llhttp expects
 * of on_headers_complete: pause to stream the body in step, or 1 for "no
 * body" (HEAD). */
static int on_resp_headers_complete(llhttp_t *p)
{
	struct weir_upconn *u = upconn_of(p);
	struct weir_req *r = u->req;
	struct weir_client *c = r->client;
	struct weir_buf *b = u->in, *o;
	int status = p->status_code;
	bool interim = status >= 100 && status < 200 && status != 101;
	bool upgrade = status == 101;

	r->resp_seen = 1;
	if (r->rhead.too_many)
		return HPE_USER;
	if (upgrade && !r->upgrade)
		return HPE_USER;
	if (interim) {
		/* 1xx: passed on as they are (HTTP/1.0 clients know none), then
		 * the final response follows. */
		r->interim = 1;
		if (!r->http_minor)
			return HPE_PAUSED;
	}
	if (!c->out && !(c->out = weir_buf_get(c->w)))
		return HPE_USER;
	o = c->out;
	if (interim) {
		const char *reason = weir_status_text(status);
		weir_buf_status_line(o, (unsigned)status, reason, strlen(reason));
		weir_buf_append(o, "\r\n", 2);
		return HPE_PAUSED;
	}
	/* What the client is sent; `status` stays the upstream's, which the
	 * framing below follows. */
	r->status = r->up_status = (uint16_t)status;
	if (r->route->rewrites_status)
		r->status = weir_plugins_response_status(r, r->status);
	/* The upstream's reason phrase, unless a plugin changed the status. */
	const char *reason = "";
	size_t reason_len = 0;
	if (r->status != status) {
		reason = weir_status_text(r->status);
		reason_len = strlen(reason);
	} else if (r->rhead.url.off != UINT32_MAX) {
		reason = b->data + r->rhead.url.off;
		reason_len = r->rhead.url.len;
	}
	weir_buf_status_line(o, r->status, reason, reason_len);

	bool chunked = (p->flags & F_CHUNKED) != 0, has_len = (p->flags & F_CONTENT_LENGTH) != 0;
	bool bodyless = r->head_only || status == 204 || status == 304;
	/* A held response gets its framing when its body is complete. */
	bool hold = r->route->hold_response && !upgrade && !bodyless;
	const struct weir_hdr_names *drop = r->route->drop_response;
	/* An HTTP/1.0 client knows no transfer coding (RFC 9112 6.1): a chunked
	 * body goes to it de-chunked, delimited by the close (held, a body gets
	 * its framing anew), and Transfer-Encoding never, bodyless or not. */
	bool no_te = chunked && !r->http_minor && !upgrade;
	if (no_te && !only_chunked(&r->rhead, b)) {
		r->stop = STOP_RESP_CODING;
		return HPE_USER;
	}
	r->dechunk = no_te && !bodyless && !hold;
	if (r->dechunk)
		p->settings = (void *)&resp_body_settings;	/* read at each callback */
	for (uint32_t i = 0; i < r->rhead.n_fields; i++) {
		const struct weir_field *f = &r->rhead.fields[i];
		const char *n = b->data + f->name.off;
		if (f->name.off == UINT32_MAX || resp_hop_by_hop(n, f->name.len, upgrade) ||
		    (drop && weir_hdr_names_has(drop, n, f->name.len)) ||
		    (hold && is_framing(n, f->name.len)) ||
		    (no_te && is_transfer_encoding(n, f->name.len)))
			continue;
		weir_buf_append(o, n, f->name.len);
		weir_buf_append(o, ": ", 2);
		if (f->value.off != UINT32_MAX)
			weir_buf_append(o, b->data + f->value.off, f->value.len);
		weir_buf_append(o, "\r\n", 2);
	}
	if (r->id[0])
	{
		weir_buf_append(o, "X-Request-Id: ", 14);
		weir_buf_append(o, r->id, 32);
		weir_buf_append(o, "\r\n", 2);
	}
	/* Set before the phase, which may add fields for a held body. */
	r->resp_holding = hold;
	weir_plugins_response_headers(r, o);

	if (hold) {
		/* The head waits in c->out (unwritten while resp_holding) for
		 * its Content-Length; the body is copied aside by on_resp_body. */
		r->phase = WEIR_REQ_RESPONSE;
		return HPE_PAUSED;
	}
	/* Delimited by the upstream closing: so is ours. And an HTTP/1.0
	 * request never gets chunked. */
	bool must_close = !upgrade && !bodyless &&
			  ((!chunked && !has_len) || llhttp_message_needs_eof(p) ||
			   (chunked && !r->http_minor));
	if (resp_head_end(r, o, upgrade, must_close) < 0)
		return HPE_USER;
	r->phase = WEIR_REQ_RESPONSE;
	r->tunnel = upgrade;
	r->body_phase = !upgrade && !r->head_only;
	return r->head_only ? 1 : HPE_PAUSED;
}

static int on_resp_body(llhttp_t *p, const char *at, size_t len)
{
	struct weir_upconn *u = upconn_of(p);
	struct weir_req *r = u->req;
	int rc;

	if (r->dechunk) {
		/* Down over the chunk framing already passed: udc <= at. */
		memmove(u->in->data + r->udc, at, len);
		r->udc += (uint32_t)len;
		return 0;
	}
	if (!r->resp_holding)
		return 0;
	rc = weir_body_append(&r->rhold, at, len, r->route->hold_response);
	if (rc < 0) {
		r->stop = rc == -1 ? STOP_RESP_TOO_LARGE : STOP_RESP_NO_MEMORY;
		return HPE_USER;
	}
	return 0;
}

static int on_resp_message_complete(llhttp_t *p)
{
	struct weir_req *r = upconn_of(p)->req;

	if (r->interim)
		r->interim = 0;
	else
		r->resp_done = 1;
	return HPE_PAUSED;
}

/* ---- moving bytes ---------------------------------------------------------- */

/* The socket calls under weir_io_*: one pointer test decides between the
 * plaintext path and TLS (tls.c). */
ssize_t weir_io_writev(struct weir_io *io, const struct iovec *iov, int n_iov, size_t total)
{
	if (io->ssl)
		return weir_tls_writev(io, iov, n_iov, total);
	for (;;) {
		ssize_t n = writev(io->fd, iov, n_iov);
		if (n >= 0) {
			if ((size_t)n < total)
				io->writable = 0;
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			io->writable = 0;
			return 0;
		}
		return -2;
	}
}

ssize_t weir_io_write(struct weir_io *io, const char *p, size_t len)
{
	struct iovec iov = { (void *)p, len };

	return weir_io_writev(io, &iov, 1, len);
}

ssize_t weir_io_read(struct weir_io *io, struct weir_buf *b)
{
	if (io->ssl)
		return weir_tls_read(io, b);
	for (;;) {
		ssize_t n = read(io->fd, b->data + b->end, b->cap - b->end);
		if (n > 0) {
			/* A short read drained the socket: the next byte brings a
			 * new edge. Not after a peer's FIN, whose 0 must be read. */
			if ((uint32_t)n < b->cap - b->end && !io->rdhup)
				io->readable = 0;
			b->end += (uint32_t)n;
			return n;
		}
		if (n == 0) {
			io->eof = 1;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			io->readable = 0;
			return -1;
		}
		return -2;
	}
}

/* The rebuilt head and a held body (plugin.h) to the upstream; as
 * send_request. */
static int send_held(struct weir_req *r)
{
	struct weir_upconn *u = r->up;
	int moved = 0;

	while (r->up_head_sent < r->up_head->end || r->hold_sent < r->hold.len) {
		size_t head_n = r->up_head->end - r->up_head_sent;
		size_t body_n = r->hold.len - r->hold_sent;
		struct iovec iov[2];
		int n_iov = 0;

		if (!u->io.writable)
			return moved;
		if (head_n)
			iov[n_iov++] = (struct iovec){ r->up_head->data + r->up_head_sent, head_n };
		if (body_n)
			iov[n_iov++] = (struct iovec){ r->hold.data + r->hold_sent, body_n };
		ssize_t n = weir_io_writev(&u->io, iov, n_iov, head_n + body_n);
		if (n < 0) {
			upstream_fail(r, FAIL_RESET, "upstream closed while sending");
			return -1;
		}
		size_t from_head = (size_t)n < head_n ? (size_t)n : head_n;
		r->up_head_sent += (uint32_t)from_head;
		r->hold_sent += (size_t)n - from_head;
		r->bytes_in += (uint64_t)n - from_head;
		r->uprog |= n > 0;
		moved |= n > 0;
	}
	r->fwd = r->msg_end;	/* what follows in c->in is the next request's */
	r->sent_all = 1;
	if (r->phase == WEIR_REQ_SENDING)
		r->phase = WEIR_REQ_WAITING;
	return moved;
}

void weir_io_shutdown_write(struct weir_io *io)
{
	if (io->ssl)
		SSL_shutdown(io->ssl);
	shutdown(io->fd, SHUT_WR);
}

/* Request bytes to the upstream: the rebuilt head, then the body as the
 * client's parser accepts it. Returns 1 if anything moved, 0 if blocked, -1
 * if the request is over (answered or failed). */
static int send_request(struct weir_req *r)
{
	struct weir_client *c = r->client;
	struct weir_upconn *u = r->up;
	struct weir_buf *b = c->in;
	int moved = 0;

	if (r->held)
		return send_held(r);
	while (r->up_head_sent < r->up_head->end) {
		if (!u->io.writable)
			return moved;
		/* The head and whatever body is already parsed, in one call. */
		uint32_t limit = r->req_done ? r->msg_end : c->parsed;
		size_t head_n = r->up_head->end - r->up_head_sent;
		size_t body_n = r->fwd < limit ? limit - r->fwd : 0;
		struct iovec iov[2] = {
			{ r->up_head->data + r->up_head_sent, head_n },
			{ b->data + r->fwd, body_n },
		};
		ssize_t n = weir_io_writev(&u->io, iov, body_n ? 2 : 1, head_n + body_n);
		if (n < 0) {
			upstream_fail(r, FAIL_RESET, "upstream closed while sending");
			return -1;
		}
		size_t from_head = (size_t)n < head_n ? (size_t)n : head_n;
		r->up_head_sent += (uint32_t)from_head;
		r->fwd += (uint32_t)((size_t)n - from_head);
		r->bytes_in += (uint64_t)n - from_head;
		r->uprog |= n > 0;
		moved |= n > 0;
	}
	for (;;) {
		uint32_t limit = r->req_done ? r->msg_end : c->parsed;
		if (r->fwd < limit) {
			if (!u->io.writable)
				return moved;
			ssize_t n = weir_io_write(&u->io, b->data + r->fwd, limit - r->fwd);
			if (n < 0) {
				upstream_fail(r, FAIL_RESET, "upstream closed while sending");
				return -1;
			}
			r->fwd += (uint32_t)n;
			r->bytes_in += (uint64_t)n;
			r->uprog |= n > 0;
			moved |= n > 0;
			continue;
		}
		if (r->req_done) {
			r->sent_all = 1;
			if (r->phase == WEIR_REQ_SENDING)
				r->phase = WEIR_REQ_WAITING;
			return moved;
		}
		/* Everything parsed is forwarded: rewind the body window. */
		if (c->parsed == b->end && r->fwd == b->end && b->end > r->body_start) {
			b->end = c->parsed = r->fwd = r->body_start;
			r->body_rewound = 1;
		}
		if (c->parsed < b->end) {
			if (weir_client_parse(c) < 0)
				return -1;
			moved = 1;
			continue;
		}
		if (!c->io.readable || b->end == b->cap)
			return moved;
		ssize_t n = weir_io_read(&c->io, b);
		if (n == 0 || n == -2) {
			/* The client went away half-way through its body. */
			weir_client_close(c);
			return -1;
		}
		if (n > 0) {
			r->cprog = 1;
			moved = 1;
		}
	}
}

/* Where the response bytes ready for the client end in up->in: the
 * de-chunked data, or what llhttp has parsed (of this message). */
static uint32_t resp_limit(const struct weir_req *r)
{
	return r->dechunk ? r->udc : r->resp_done ? r->umsg_end : r->up->parsed;
}

/* Whether response bytes wait for the client: our head (not while the
 * body is being held), body bytes parsed, or a held body. */
static bool resp_pending(const struct weir_req *r, uint32_t limit)
{
	return (r->client->out && !r->resp_holding) || (r->body_phase && r->ufwd < limit) ||
	       (r->resp_held && r->rhold_sent < r->rhold.len);
}

/* A held response is complete: the plugins rewrite it, its head gets a
 * Content-Length and its end, and it goes out from r->rhold. 0, or -1 when
 * the request is over (answered). */
static int resp_release(struct weir_req *r)
{
	struct weir_client *c = r->client;
	int status;

	r->resp_holding = 0;
	status = weir_plugins_response_held(r, &r->rhold);
	if (!status && c->out &&
	    (weir_buf_field_u64(c->out, "Content-Length", 14, r->rhold.len) < 0 ||
	     resp_head_end(r, c->out, false, false) < 0)) {
		status = 502;
		r->local_why = "response head too large";
	}
	if (status) {
		weir_proxy_abort(r);
		if (c->out) {
			weir_buf_put(c->w, c->out);
			c->out = NULL;
		}
		weir_client_answer(c, status, r->local_why, r->req_done);
		return -1;
	}
	r->resp_held = 1;
	return 0;
}

/* Writes our own head bytes (c->out) and the response body bytes parsed so
 * far in one writev. Returns bytes written, or -2 when the client is gone. */
static ssize_t write_client(struct weir_req *r, uint32_t limit)
{
	struct weir_client *c = r->client;
	struct weir_buf *o = c->out, *b = r->up->in;
	struct iovec iov[2];
	int n_iov = 0;
	size_t head_n = o ? o->end - o->start : 0;
	size_t body_n = r->body_phase && r->ufwd < limit ? limit - r->ufwd : 0;
	const char *body = b->data + r->ufwd;

	if (r->resp_held) {
		body = r->rhold.data + r->rhold_sent;
		body_n = r->rhold.len - r->rhold_sent;
	}
	if (head_n)
		iov[n_iov++] = (struct iovec){ o->data + o->start, head_n };
	if (body_n)
		iov[n_iov++] = (struct iovec){ (void *)body, body_n };
	ssize_t n = weir_io_writev(&c->io, iov, n_iov, head_n + body_n);
	if (n <= 0)
		return n;
	r->resp_started = 1;
	r->cprog = 1;
	r->bytes_out += (uint64_t)n;
	size_t from_head = (size_t)n < head_n ? (size_t)n : head_n;
	if (body_n && (size_t)n > head_n)
		weir_plugins_response_body(r, body, (size_t)n - head_n);
	if (o)
		o->start += (uint32_t)from_head;
	if (r->resp_held)
		r->rhold_sent += (size_t)n - from_head;
	else
		r->ufwd += (uint32_t)((size_t)n - from_head);
	if (o && o->start == o->end) {
		weir_buf_put(c->w, o);
		c->out = NULL;
	}
	return n;
}

/* Response bytes to the client: parse what the upstream sent, write heads
 * and body on, read more as the client drains. Returns 1 if anything
 * moved, 0 if blocked, -1 if the request is over. */
static int recv_response(struct weir_req *r)
{
	struct weir_client *c = r->client;
	struct weir_upconn *u = r->up;
	struct weir_worker *w = c->w;
	int moved = 0;

	if (!u->in && !(u->in = weir_buf_get(w))) {
		upstream_fail(r, FAIL_PROTOCOL, "out of buffers");
		return -1;
	}
	struct weir_buf *b = u->in;
	for (;;) {
		while (!r->resp_done && u->parsed < b->end) {
			bool was_body = r->body_phase;
			llhttp_errno_t e = llhttp_execute(&u->parser, b->data + u->parsed,
							  b->end - u->parsed);
			if (e == HPE_OK) {
				u->parsed = b->end;
			} else if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
				u->parsed = (uint32_t)(llhttp_get_error_pos(&u->parser) - b->data);
				if (e == HPE_PAUSED)
					llhttp_resume(&u->parser);
				/* A message without a body (1xx, 101, 204, 304,
				 * Content-Length: 0) ends only when llhttp runs
				 * again, and no byte may ever come: run it on none. */
				if (e == HPE_PAUSED && !was_body && !r->resp_done &&
				    u->parsed == b->end) {
					e = llhttp_execute(&u->parser, b->data + u->parsed, 0);
					if (e == HPE_PAUSED) {
						llhttp_resume(&u->parser);
					} else if (e != HPE_OK && e != HPE_PAUSED_UPGRADE) {
						upstream_fail(r, FAIL_PROTOCOL, "bad response from upstream");
						return -1;
					}
				}
				if (r->resp_done)
					r->umsg_end = u->parsed;
			} else {
				upstream_fail(r, FAIL_PROTOCOL, r->stop == STOP_RESP_TOO_LARGE ?
					      "response body larger than the limit" :
					      r->stop == STOP_RESP_NO_MEMORY ?
					      "out of memory for the response body" :
					      r->stop == STOP_RESP_CODING ?
					      "a transfer coding an HTTP/1.0 client cannot take" :
					      "bad response from upstream");
				return -1;
			}
			/* Head bytes are consumed (rebuilt into c->out), body bytes
			 * are forwarded from where the head ended. */
			if (!was_body)
				r->ufwd = r->udc = u->parsed;
			r->uprog = 1;
		}
		uint32_t limit = resp_limit(r);
		if (r->resp_holding && r->resp_done && resp_release(r) < 0)
			return -1;
		if (resp_pending(r, limit)) {
			if (!c->io.writable)
				return moved;
			ssize_t n = write_client(r, limit);
			if (n < 0) {
				weir_client_close(c);
				return -1;
			}
			moved |= n > 0;
			if (resp_pending(r, limit))
				return moved;
		}
		if (r->tunnel && r->resp_done) {
			/* The 101 head is out: every byte after the two heads is the
			 * tunnel's. */
			c->state = WEIR_CLIENT_TUNNEL;
			c->in->start = r->fwd;
			weir_buf_compact(c->in);
			r->fwd = 0;
			b->start = r->ufwd;
			weir_buf_compact(b);
			r->ufwd = 0;
			weir_timer_stop(w, &c->timer);
			return 1;
		}
		if (r->resp_done) {
			weir_proxy_finish(r);
			return -1;
		}
		/* Everything parsed went out (or aside): rewind the body window. */
		if ((r->body_phase || r->resp_holding) && u->parsed == b->end &&
		    r->ufwd == (r->dechunk ? r->udc : b->end))
			b->end = u->parsed = r->ufwd = r->udc = 0;
		if (b->end == b->cap) {
			if (!r->body_phase && !r->resp_holding) {
				upstream_fail(r, FAIL_PROTOCOL, "response head too large");
				return -1;
			}
			return moved;
		}
		if (!u->io.readable)
			return moved;
		ssize_t n = weir_io_read(&u->io, b);
		if (n > 0) {
			r->uprog = 1;
			moved = 1;
			continue;
		}
		if (n == -1)
			return moved;
		/* EOF or error */
		if (n == 0 && (r->body_phase || r->resp_holding) &&
		    llhttp_message_needs_eof(&u->parser)) {
			llhttp_finish(&u->parser);
			r->resp_done = 1;
			r->umsg_end = b->end;
			r->close_upstream = 1;
			continue;
		}
		upstream_fail(r, FAIL_RESET, r->resp_seen ? "upstream closed mid-response"
							  : "upstream closed before responding");
		return -1;
	}
}

/* ---- tunnels (Connection: upgrade) ------------------------------------------ */

/* One direction of a tunnel: bytes in src's buffer [*fwd, end) to dst. */
static int tunnel_dir(struct weir_io *src, struct weir_buf *b, uint32_t *fwd,
		      struct weir_io *dst, int *moved)
{
	for (;;) {
		if (*fwd < b->end) {
			if (!dst->writable)
				return 0;
			ssize_t n = weir_io_write(dst, b->data + *fwd, b->end - *fwd);
			if (n < 0)
				return -1;
			*fwd += (uint32_t)n;
			*moved |= n > 0;
			continue;
		}
		b->start = b->end = *fwd = 0;
		if (src->eof)
			return 1;
		if (!src->readable)
			return 0;
		ssize_t n = weir_io_read(src, b);
		if (n == -2)
			return -1;
		if (n == 0) {
			weir_io_shutdown_write(dst);
			return 1;
		}
		*moved |= n > 0;
	}
}

static void tunnel_pump(struct weir_req *r)
{
	struct weir_client *c = r->client;
	struct weir_upconn *u = r->up;
	int moved = 0;

	int a = tunnel_dir(&c->io, c->in, &r->fwd, &u->io, &moved);
	int z = tunnel_dir(&u->io, u->in, &r->ufwd, &c->io, &moved);
	if (a < 0 || z < 0 || (a == 1 && z == 1)) {
		r->status = 101;
		weir_proxy_abort(r);
		weir_client_close(c);
		return;
	}
	if (moved)
		weir_timer_set(c->w, &u->timer, c->w->now + r->t_read);
}

/* ---- the pump ------------------------------------------------------------------ */

static void set_timers(struct weir_req *r)
{
	struct weir_client *c = r->client;
	struct weir_upconn *u = r->up;
	struct weir_worker *w = c->w;
	const struct weir_config *conf = r->snap->conf;
	bool out_pending = u ? resp_pending(r, resp_limit(r)) : c->out != NULL;
	bool need_body = !r->req_done && !c->io.readable;

	if (out_pending && !c->io.writable) {
		if (r->cprog || !c->timer.due)
			weir_timer_set(w, &c->timer, w->now + conf->send_timeout_ms);
	} else if (need_body && r->phase <= WEIR_REQ_SENDING && u && u->io.writable) {
		if (r->cprog || !c->timer.due)
			weir_timer_set(w, &c->timer, w->now + conf->client_body_timeout_ms);
	} else {
		weir_timer_stop(w, &c->timer);
	}
	if (!u || u->state == WEIR_UP_CONNECTING || u->state == WEIR_UP_HANDSHAKE)
		goto check;
	if (out_pending && !c->io.writable) {
		weir_timer_stop(w, &u->timer);
	} else if (!r->sent_all && !u->io.writable) {
		if (r->uprog || !u->timer.due)
			weir_timer_set(w, &u->timer, w->now + r->t_send);
	} else if (r->sent_all || r->phase >= WEIR_REQ_WAITING) {
		if (r->uprog || !u->timer.due)
			weir_timer_set(w, &u->timer, w->now + r->t_read);
	} else {
		weir_timer_stop(w, &u->timer);
	}
check:
	/* Every wait above has a deadline; should a state have been missed,
	 * the exchange still ends rather than hold its connections forever. */
	if (!c->timer.due && (!u || !u->timer.due))
		weir_timer_set(w, &c->timer, w->now + conf->client_body_timeout_ms);
}

void weir_proxy_pump(struct weir_req *r)
{
	struct weir_client *c = r->client;

	if (c->state == WEIR_CLIENT_TUNNEL) {
		tunnel_pump(r);
		return;
	}
	r->cprog = r->uprog = 0;
	for (int turns = 0; turns < 64; turns++) {
		struct weir_upconn *u = r->up;
		int moved = 0, rc;

		if (!u || u->state != WEIR_UP_ACTIVE)
			break;
		if (!r->sent_all) {
			rc = send_request(r);
			if (rc < 0)
				return;
			moved |= rc;
		}
		rc = recv_response(r);
		if (rc < 0)
			return;
		moved |= rc;
		if (c->state == WEIR_CLIENT_TUNNEL) {
			tunnel_pump(r);
			return;
		}
		if (!moved)
			break;
	}
	set_timers(r);
}

/* ---- endings ------------------------------------------------------------------- */

static void upconn_close(struct weir_worker *w, struct weir_upconn *u)
{
	weir_timer_stop(w, &u->timer);
	/* A clean close keeps the TLS session resumable; one after an error
	 * does not (OpenSSL drops the session of a connection not shut down). */
	weir_tls_close(&u->io, u->state == WEIR_UP_IDLE || u->done);
	close(u->io.fd);		/* which also takes it out of epoll */
	u->io.fd = -1;
	if (u->in)
		weir_buf_put(w, u->in);
	u->in = NULL;
	u->next = w->dead_ups;
	w->dead_ups = u;
}

/* Detaches the upstream connection from its request: back to the pool when
 * it can carry another request, closed otherwise. */
static void upconn_release(struct weir_req *r, bool reusable)
{
	struct weir_worker *w = r->client->w;
	struct weir_upconn *u = r->up;
	const struct weir_upstream *up = req_upstream(r);
	struct weir_pool *p = worker_pool(w, u->pool);

	weir_lb_conn_end(up->states[w->id], u->node);
	r->up = NULL;
	u->req = NULL;
	if (!reusable || !p || p->n_idle >= up->conf->keepalive || w->stopping) {
		upconn_close(w, u);
		return;
	}
	if (u->in) {
		weir_buf_put(w, u->in);
		u->in = NULL;
	}
	u->state = WEIR_UP_IDLE;
	u->next = p->idle;
	u->prev = NULL;
	if (p->idle)
		p->idle->prev = u;
	p->idle = u;
	p->n_idle++;
	weir_timer_set(w, &u->timer, w->now + up->conf->keepalive_timeout_ms);
}

void weir_proxy_finish(struct weir_req *r)
{
	struct weir_upconn *u = r->up;
	const struct weir_upstream *up = req_upstream(r);
	struct weir_worker *w = r->client->w;
	bool reusable = !r->close_upstream && r->sent_all && u->in &&
			r->umsg_end == u->in->end && llhttp_should_keep_alive(&u->parser) &&
			++u->nreq < up->conf->keepalive_requests && r->up_v11;

	weir_lb_report(up->states[w->id], u->node, r->up_status >= 500, w->now,
		       up->conf->max_fails, up->conf->fail_window_ms, up->conf->eject_ms);
	if (r->route->stats) {		/* metrics are on */
		r->up_us = weir_now_us() - r->up_start_us;
		r->up_timed = 1;
	}
	if (!r->sent_all)
		r->close_after = 1;	/* answered early: the rest of the body is unread */
	u->done = r->sent_all && !r->close_upstream;
	upconn_release(r, reusable);
	weir_client_req_done(r->client);
}

void weir_proxy_abort(struct weir_req *r)
{
	if (r->up)
		upconn_release(r, false);
}

/* Something went wrong with the upstream. Retries on another node when it is
 * safe (nothing of the request can have been processed, and the body can be
 * sent again), else answers 502/504, or closes the client when part of the
 * response has gone out. */
static void upstream_fail(struct weir_req *r, enum fail_kind kind, const char *why)
{
	struct weir_client *c = r->client;
	struct weir_worker *w = c->w;
	struct weir_upconn *u = r->up;
	const struct weir_upstream *up = req_upstream(r);
	const struct weir_upstream_conf *uc = up->conf;
	bool reused = u && u->reused;
	bool timeout = kind == FAIL_TIMEOUT || kind == FAIL_CONNECT_TIMEOUT;
	bool nothing_reached = kind == FAIL_CONNECT || kind == FAIL_CONNECT_TIMEOUT;
	/* A pooled connection the upstream had just closed is not the node's
	 * fault, and an idempotent request can go again on a fresh one. */
	bool stale = reused && kind == FAIL_RESET && !r->resp_seen;

	if (u && !stale)
		weir_lb_report(up->states[w->id], u->node, true, w->now, uc->max_fails,
			       uc->fail_window_ms, uc->eject_ms);
	weir_proxy_abort(r);
	bool can_retry = !r->resp_seen && !r->resp_started && !r->body_rewound &&
			 (nothing_reached || (stale && r->idempotent)) &&
			 (!uc->retry_timeout_ms || w->now - r->start_ms < uc->retry_timeout_ms);
	if (can_retry && stale) {
		r->n_tried--;	/* the same node may serve it on a new connection */
		r->stale_retries++;
		can_retry = r->stale_retries <= 2;
	} else if (can_retry) {
		can_retry = r->n_tried <= uc->retries && r->n_tried < WEIR_MAX_TRIES;
	}
	if (can_retry) {
		r->up_head_sent = 0;
		r->hold_sent = 0;
		r->fwd = r->body_start;
		r->sent_all = 0;
		r->phase = WEIR_REQ_UPSTREAM;
		if (upstream_connect(r, timeout ? 504 : 502, why))
			weir_proxy_pump(r);
		return;
	}
	if (r->resp_started) {
		weir_client_close(c);
		return;
	}
	if (c->out) {
		weir_buf_put(w, c->out);
		c->out = NULL;
	}
	weir_client_answer(c, timeout ? 504 : 502, why, r->req_done);
}

static void upconn_timer_fire(struct weir_worker *w, struct weir_timer *t)
{
	struct weir_upconn *u = (struct weir_upconn *)((char *)t - offsetof(struct weir_upconn, timer));

	if (u->state == WEIR_UP_IDLE) {
		pool_unlink(&w->pools[u->pool], u);
		upconn_close(w, u);
		return;
	}
	if (u->req && u->req->client->state == WEIR_CLIENT_TUNNEL) {
		struct weir_client *c = u->req->client;
		weir_proxy_abort(u->req);
		weir_client_close(c);
		return;
	}
	if (u->state == WEIR_UP_CONNECTING)
		upstream_fail(u->req, FAIL_CONNECT_TIMEOUT, "upstream connect timed out");
	else if (u->state == WEIR_UP_HANDSHAKE)
		upstream_fail(u->req, FAIL_CONNECT_TIMEOUT, "upstream TLS handshake timed out");
	else
		upstream_fail(u->req, FAIL_TIMEOUT, u->req->sent_all ?
			      "upstream response timed out" : "upstream send timed out");
}

void weir_upconn_event(struct weir_upconn *u, uint32_t events)
{
	struct weir_worker *w;

	if (u->state == WEIR_UP_IDLE) {
		/* An idle connection has nothing to say: it closed, or is
		 * broken. But an edge queued while its last response was
		 * being read (the body's segment after the head's) can come
		 * after the response went back to the pool: nothing to read
		 * then, and the connection is good. */
		char ch;
		if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
		    (u->io.ssl ? weir_tls_idle_ok(&u->io) :
		     recv(u->io.fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN)) {
			u->io.readable = 0;
			return;
		}
		w = u->w;
		pool_unlink(&w->pools[u->pool], u);
		upconn_close(w, u);
		return;
	}
	if (u->state == WEIR_UP_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(u->io.fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			upstream_fail(u->req, FAIL_CONNECT, "upstream connect failed");
			return;
		}
		u->state = u->io.ssl ? WEIR_UP_HANDSHAKE : WEIR_UP_ACTIVE;
		if (!u->io.ssl)
			weir_timer_stop(u->req->client->w, &u->timer);
	}
	if (u->state == WEIR_UP_HANDSHAKE) {
		/* The connect timeout covers the handshake too. */
		const char *why;
		int rc = weir_tls_handshake(&u->io, &why);
		char msg[160];

		if (rc == 0)
			return;
		if (rc < 0) {
			snprintf(msg, sizeof(msg), "upstream TLS handshake failed: %s", why);
			upstream_fail(u->req, FAIL_CONNECT, msg);
			return;
		}
		u->state = WEIR_UP_ACTIVE;
		weir_timer_stop(u->req->client->w, &u->timer);
	}
	weir_proxy_pump(u->req);
}

void weir_pools_close(struct weir_worker *w)
{
	for (uint32_t i = 0; i < w->n_pools; i++) {
		while (w->pools[i].idle) {
			struct weir_upconn *u = w->pools[i].idle;
			pool_unlink(&w->pools[i], u);
			upconn_close(w, u);
		}
		weir_tls_session_drop(&w->pools[i]);
	}
}
