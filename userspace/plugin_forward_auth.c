/* userspace/plugin_forward_auth.c - the `forward-auth` plugin: before a
 * request goes upstream, weir asks an external service whether it may, as
 * APISIX's forward-auth and nginx's auth_request do:
 *
 *   plugins:
 *     forward-auth:
 *       uri: http://127.0.0.1:9000/auth
 *       request_headers: [authorization]
 *       upstream_headers: [x-user-id]
 *       client_headers: [www-authenticate]
 *       cache: {ttl: 30s, key: [authorization], shared: {ttl: 60s, size: 16384}}
 *       stale_ttl: 5m
 *
 * The service's 2xx lets the request go on, with the upstream_headers of
 * its answer added to the request going upstream; any other status (below
 * 500) is answered to the client, with the client_headers of the service's
 * answer and its body (up to MAX_BODY bytes; a larger body is dropped),
 * and nothing goes upstream. Fields of the upstream_headers' names that
 * the client sent never go upstream. A failure of the service (no
 * connection, no answer within `timeout`, a malformed answer, a 5xx) is
 * answered with the last verdict for the same key if it is younger than
 * stale_ttl, else 503 (on_failure: deny, the default) or let through
 * (on_failure: allow).
 *
 * The call runs in the worker's loop: the access phase sends the request
 * and suspends (WEIR_ACCESS_PENDING, plugin.h), and the connection's events
 * resume it (weir_req_resume) with the verdict. The response is parsed by
 * llhttp. Connections to the service are kept per worker (up to `keepalive`
 * idle ones per address, for KEEPALIVE_IDLE_MS) in thread-local storage,
 * as the verdict cache is (fwdauth.h); behind it, with cache.shared, a
 * verdict cache all workers share (fwdauth.h), asked on the worker's miss
 * and filled with each answer of the service. A call on a kept connection
 * that the service had closed goes again once on a new one. A request whose client
 * goes away while it waits ends (its log phase runs) and its call is
 * dropped with its connection. The settings are read in fwdauth_conf.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "auth.h"
#include "core.h"
#include "fwdauth.h"
#include "plugin.h"

#define MAX_BODY 4096			/* of a refusal answered to the client */
#define MAX_LINES 8192			/* of the copied header lines */
#define KEEPALIVE_IDLE_MS 60000
#define CACHE_ENTRIES 4096		/* per worker */

enum fa_state { FA_CONNECTING, FA_SENDING, FA_READING, FA_IDLE };

/* A connection to the service, carrying one call at a time. */
struct fa_conn {
	struct weir_io_handler h;	/* first: epoll's pointer */
	struct weir_worker *w;
	struct fa_conn *next;		/* idle list, or dead list */
	struct sockaddr_storage addr;	/* for matching in the idle list */
	socklen_t addr_len;
	uint8_t state, reused, seen_bytes, done, head_seen;
	uint8_t too_big;		/* the body passed MAX_BODY */
	uint8_t keep;			/* the service keeps the connection */
	struct weir_timer timer;	/* the call's deadline, or the idle one */
	struct weir_req *r;		/* the waiting request; NULL when none */
	const struct weir_fa_conf *fa;
	struct weir_body out;		/* the request to the service */
	size_t sent;
	struct weir_body key;		/* the cache key of the call */
	struct weir_body name;		/* the header name being read */
	struct weir_body value;		/* ... and its value */
	struct weir_body lines;		/* the copied header lines */
	struct weir_body body;
	uint16_t status;
	llhttp_t parser;
};

/* Per request (r->plugin_ctx): the call while pending, then the verdict's
 * header lines for the upstream, or the answer to the client. */
struct fa_ctx {
	struct fa_ctx *next;		/* the worker's free list */
	struct fa_conn *call;
	struct weir_answer answer;
	struct weir_body data;		/* lines, then body */
	size_t lines_len;
};

/* The worker's own state (a worker is a thread). */
static _Thread_local struct {
	struct fa_conn *idle, *dead;
	struct weir_fa_cache *cache;
	struct weir_body scratch;	/* a cache key being built */
	struct fa_ctx *free_ctx;	/* recycled request contexts */
	uint32_t n_free_ctx;
} fw;

#define FREE_CTX_KEPT 64

/* A request's context, recycled with its buffer; NULL when out of memory. */
static struct fa_ctx *ctx_new(void)
{
	struct fa_ctx *x = fw.free_ctx;

	if (!x)
		return calloc(1, sizeof(*x));
	fw.free_ctx = x->next;
	fw.n_free_ctx--;
	x->data.len = x->lines_len = 0;
	return x;
}

static void ctx_free(struct fa_ctx *x)
{
	if (fw.n_free_ctx >= FREE_CTX_KEPT) {
		weir_body_free(&x->data);
		free(x);
		return;
	}
	x->call = NULL;
	x->next = fw.free_ctx;
	fw.free_ctx = x;
	fw.n_free_ctx++;
}

static int fa_configure(const json_t *conf, const json_t *global, void **inst,
			char *err, size_t errlen)
{
	return weir_fa_configure(conf, (struct weir_fa_conf **)inst, err, errlen);
}

static void fa_destroy(void *inst)
{
	weir_fa_conf_free(inst);
}

/* ---- connections --------------------------------------------------------- */

static void fa_event(struct weir_io_handler *h, uint32_t events);
static void fa_timer_fire(struct weir_worker *w, struct weir_timer *t);
static void fa_call_end(struct fa_conn *fc, int verdict);

/* Closes the socket; the object is freed after the batch of events. */
static void conn_close(struct fa_conn *fc)
{
	weir_timer_stop(fc->w, &fc->timer);
	if (fc->h.io.fd >= 0)
		close(fc->h.io.fd);	/* leaves epoll with it */
	fc->h.io.fd = -1;
	fc->next = fw.dead;
	fw.dead = fc;
}

static void conn_free(struct fa_conn *fc)
{
	weir_body_free(&fc->out);
	weir_body_free(&fc->key);
	weir_body_free(&fc->name);
	weir_body_free(&fc->value);
	weir_body_free(&fc->lines);
	weir_body_free(&fc->body);
	free(fc);
}

/* An idle connection to the instance's address, taken out of the list. */
static struct fa_conn *idle_take(const struct weir_fa_conf *fa)
{
	for (struct fa_conn **p = &fw.idle; *p; p = &(*p)->next) {
		struct fa_conn *fc = *p;
		if (fc->addr_len == fa->addr.len && !memcmp(&fc->addr, &fa->addr.sa, fc->addr_len)) {
			*p = fc->next;
			fc->next = NULL;
			return fc;
		}
	}
	return NULL;
}

static void idle_unlink(struct fa_conn *fc)
{
	for (struct fa_conn **p = &fw.idle; *p; p = &(*p)->next)
		if (*p == fc) {
			*p = fc->next;
			return;
		}
}

/* Back to the idle list when the service keeps it and there is room. */
static void conn_release(struct fa_conn *fc, bool reusable)
{
	uint32_t n = 0;

	fc->r = NULL;
	for (struct fa_conn *i = fw.idle; i; i = i->next)
		n += i->addr_len == fc->addr_len && !memcmp(&i->addr, &fc->addr, fc->addr_len);
	if (!reusable || n >= fc->fa->keepalive || fc->w->stopping) {
		conn_close(fc);
		return;
	}
	fc->state = FA_IDLE;
	fc->fa = NULL;
	fc->next = fw.idle;
	fw.idle = fc;
	weir_timer_set(fc->w, &fc->timer, fc->w->now + KEEPALIVE_IDLE_MS);
}

static struct fa_conn *conn_new(struct weir_worker *w, const struct weir_fa_conf *fa)
{
	struct fa_conn *fc = calloc(1, sizeof(*fc));
	int one = 1;

	if (!fc)
		return NULL;
	fc->w = w;
	fc->h.io.kind = WEIR_IO_HANDLER;
	fc->h.event = fa_event;
	fc->timer.fire = fa_timer_fire;
	memcpy(&fc->addr, &fa->addr.sa, fa->addr.len);
	fc->addr_len = fa->addr.len;
	fc->h.io.fd = socket(fa->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fc->h.io.fd < 0) {
		free(fc);
		return NULL;
	}
	setsockopt(fc->h.io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fc->state = FA_CONNECTING;
	if ((connect(fc->h.io.fd, (const struct sockaddr *)&fa->addr.sa, fa->addr.len) < 0 &&
	     errno != EINPROGRESS) ||
	    weir_io_add(w, &fc->h.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
		close(fc->h.io.fd);
		free(fc);
		return NULL;
	}
	return fc;
}

/* ---- the response ---------------------------------------------------------- */

static int on_field(llhttp_t *p, const char *at, size_t len)
{
	struct fa_conn *fc = p->data;

	return weir_body_append(&fc->name, at, len, 256) ? -1 : 0;
}

static int on_value(llhttp_t *p, const char *at, size_t len)
{
	struct fa_conn *fc = p->data;

	return weir_body_append(&fc->value, at, len, MAX_LINES) ? -1 : 0;
}

/* A whole field: kept when its name is one the verdict copies. */
static int on_value_complete(llhttp_t *p)
{
	struct fa_conn *fc = p->data;
	const struct weir_hdr_names *want = p->status_code >= 200 && p->status_code < 300 ?
					    fc->fa->up_hdrs : fc->fa->cli_hdrs;
	int rc = 0;

	if (want && weir_hdr_names_has(want, fc->name.data, (uint32_t)fc->name.len) &&
	    (weir_body_append(&fc->lines, fc->name.data, fc->name.len, MAX_LINES) ||
	     weir_body_append(&fc->lines, ": ", 2, MAX_LINES) ||
	     (fc->value.len &&
	      weir_body_append(&fc->lines, fc->value.data, fc->value.len, MAX_LINES)) ||
	     weir_body_append(&fc->lines, "\r\n", 2, MAX_LINES)))
		rc = -1;
	fc->name.len = fc->value.len = 0;
	return rc;
}

static int on_headers_complete(llhttp_t *p)
{
	struct fa_conn *fc = p->data;

	fc->head_seen = 1;
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct fa_conn *fc = p->data;

	if (!fc->too_big && weir_body_append(&fc->body, at, len, MAX_BODY) < 0)
		fc->too_big = 1;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct fa_conn *fc = p->data;

	fc->done = 1;
	fc->status = (uint16_t)p->status_code;
	return HPE_PAUSED;
}

/* Set once, read by every worker. */
static const llhttp_settings_t fa_settings = {
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_header_value_complete = on_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- the call -------------------------------------------------------------- */

static struct fa_ctx **ctx_of(struct weir_req *r, const struct weir_fa_conf *fa)
{
	return (struct fa_ctx **)weir_plugin_ctx(r, fa);
}

/* Appends n bytes (none: p may be NULL): 0, or -1 when out of memory. */
static int put(struct weir_body *o, const char *p, size_t n)
{
	return n ? weir_body_append(o, p, n, UINT64_MAX) : 0;
}

#define S(lit) lit, sizeof(lit) - 1
#define Z(str) str, strlen(str)

/* The request to the service, into fc->out (reusing its memory). */
static int build_request(struct fa_conn *fc, struct weir_req *r, const struct weir_fa_conf *fa)
{
	struct weir_body *o = &fc->out;
	const char *method = llhttp_method_name(r->method), *addr = weir_req_client_addr(r);
	const char *xff;
	size_t xff_len = 0;

	o->len = 0;
	if (put(o, Z(fa->post ? "POST " : "GET ")) || put(o, Z(fa->path)) ||
	    put(o, S(" HTTP/1.1\r\nHost: ")) || put(o, Z(fa->addr.text)) ||
	    put(o, S("\r\nX-Forwarded-Method: ")) || put(o, Z(method)) ||
	    put(o, S("\r\nX-Forwarded-Host: ")) || put(o, r->host, r->host_len) ||
	    put(o, S("\r\nX-Forwarded-Uri: ")) ||
	    put(o, r->client->in->data + r->path.off, r->path.len) ||
	    put(o, S("\r\nX-Forwarded-For: ")))
		return -1;
	if ((xff = weir_auth_header(r, "x-forwarded-for", &xff_len)) &&
	    (put(o, xff, xff_len) || put(o, S(", "))))
		return -1;
	if (put(o, Z(addr)) || put(o, S("\r\n")))
		return -1;
	for (uint32_t i = 0; fa->req_hdrs && i < r->head.n_fields; i++) {
		const struct weir_hdr *h = &r->hdrs[i];
		if (weir_hdr_names_has(fa->req_hdrs, h->name, h->name_len) &&
		    (put(o, h->name, h->name_len) || put(o, S(": ")) ||
		     put(o, h->value, h->value_len) || put(o, S("\r\n"))))
			return -1;
	}
	return put(o, Z(fa->post ? "Content-Length: 0\r\n\r\n" : "\r\n"));
}

#undef S
#undef Z

/* The cache key: the service's address, then each key header's value (or
 * a mark for an absent one), NUL-separated, in fw.scratch. */
static int build_key(struct weir_req *r, const struct weir_fa_conf *fa)
{
	struct weir_body *k = &fw.scratch;

	k->len = 0;
	if (weir_body_append(k, fa->addr.text, strlen(fa->addr.text) + 1, UINT64_MAX) ||
	    weir_body_append(k, fa->path, strlen(fa->path) + 1, UINT64_MAX))
		return -1;
	for (size_t i = 0; i < fa->key_hdrs->n; i++) {
		size_t len = 0;
		const char *v = weir_auth_header(r, fa->key_hdrs->v[i].name, &len);
		if (v ? weir_body_append(k, v, len, UINT64_MAX) ||
			weir_body_append(k, "", 1, UINT64_MAX)
		      : weir_body_append(k, "\1", 1, UINT64_MAX))
			return -1;
	}
	return 0;
}

/* Applies a verdict to the request (status, lines, body): 0 to go on, or
 * the status to answer with (the answer kept in the request's context). */
static int verdict_apply(struct weir_req *r, const struct weir_fa_conf *fa, uint16_t status,
			 const char *lines, size_t lines_len, const char *body, size_t body_len)
{
	struct fa_ctx **slot = ctx_of(r, fa), *x;

	if (status >= 200 && status < 300 && !lines_len)
		return 0;
	if (!slot)
		return 500;
	if (!(x = *slot) && !(x = *slot = ctx_new())) {
		r->local_why = "out of memory";
		return 500;
	}
	x->data.len = 0;
	if (put(&x->data, lines, lines_len) || put(&x->data, body, body_len)) {
		r->local_why = "out of memory";
		return 500;
	}
	x->lines_len = lines_len;
	if (status >= 200 && status < 300)
		return 0;
	x->answer = (struct weir_answer){
		.status = status, .head = x->data.data, .head_len = lines_len,
		.body = x->data.data + lines_len, .body_len = body_len,
	};
	r->answer = &x->answer;
	return status;
}

static int failure_verdict(struct weir_req *r, const struct weir_fa_conf *fa, const char *key,
			   size_t key_len)
{
	const struct weir_fa_entry *e = NULL;
	uint64_t now = r->client->w->now;

	/* The shared cache first: it has every worker's latest verdict. */
	if (fa->stale_ms && fw.cache &&
	    ((fa->shared &&
	      (e = weir_fa_shared_get(fa->shared, key, key_len, now, fa->stale_ms, fw.cache))) ||
	     (e = weir_fa_cache_get(fw.cache, key, key_len, now, fa->stale_ms))))
		return verdict_apply(r, fa, e->status, weir_fa_entry_lines(e), e->lines_len,
				     weir_fa_entry_body(e), e->body_len);
	if (fa->allow)
		return 0;
	r->local_why = "authorization service unavailable";
	return 503;
}

static int call_start(struct weir_req *r, const struct weir_fa_conf *fa, const char *key,
		      size_t key_len, bool may_reuse);
static int send_now(struct fa_conn *fc);

/* The call ended: ok 1 with fc->status etc., 0 on a failure. Gives the
 * verdict to the request, the connection back to the idle list or closed,
 * then resumes the request (after which fc must not be touched). */
static void fa_call_end(struct fa_conn *fc, int ok)
{
	struct weir_req *r = fc->r;
	const struct weir_fa_conf *fa = fc->fa;
	struct fa_ctx **slot = ctx_of(r, fa);
	int verdict;

	weir_timer_stop(fc->w, &fc->timer);
	if (slot && *slot)
		(*slot)->call = NULL;
	if (!ok && fc->reused && !fc->seen_bytes) {
		/* A kept connection the service had closed: once more, anew. */
		conn_close(fc);	/* its key stays readable until the reap */
		int rc = call_start(r, fa, fc->key.data, fc->key.len, false);
		if (rc != WEIR_ACCESS_PENDING)
			weir_req_resume(r, rc);
		return;
	}
	if (ok && fc->status >= 500)
		ok = 0;
	if (!ok) {
		conn_close(fc);
		verdict = failure_verdict(r, fa, fc->key.data, fc->key.len);
		weir_req_resume(r, verdict);
		return;
	}
	if (fc->too_big)
		fc->body.len = 0;
	if (fc->status >= 200 && fc->status < 300)
		fc->body.len = 0;
	if (fa->cache && fw.cache)
		weir_fa_cache_put(fw.cache, fc->key.data, fc->key.len, fc->w->now, fc->status,
				  fc->lines.data, fc->lines.len, fc->body.data, fc->body.len);
	if (fa->shared)
		weir_fa_shared_put(fa->shared, fc->key.data, fc->key.len, fc->w->now, fc->status,
				   fc->lines.data, fc->lines.len, fc->body.data, fc->body.len);
	verdict = verdict_apply(r, fa, fc->status, fc->lines.data, fc->lines.len,
				fc->body.data, fc->body.len);
	conn_release(fc, fc->keep);
	weir_req_resume(r, verdict);
}

/* Writes what is left of the request, then reads the response. */
static void fa_pump(struct fa_conn *fc)
{
	if (fc->state == FA_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!fc->h.io.writable)
			return;
		if (getsockopt(fc->h.io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			fa_call_end(fc, 0);
			return;
		}
		fc->state = FA_SENDING;
	}
	if (fc->state == FA_SENDING) {
		if (send_now(fc) < 0) {
			fa_call_end(fc, 0);
			return;
		}
		if (fc->state == FA_SENDING)
			return;
	}
	for (;;) {
		char buf[4096];
		ssize_t n = recv(fc->h.io.fd, buf, sizeof(buf), 0);
		llhttp_errno_t e;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			fc->h.io.readable = 0;
			return;
		}
		if (n <= 0) {
			/* A response that ends with the connection ends here. */
			if (n == 0 && fc->head_seen && llhttp_finish(&fc->parser) == HPE_OK &&
			    fc->done) {
				fa_call_end(fc, fc->status >= 200);
				return;
			}
			fa_call_end(fc, 0);
			return;
		}
		fc->seen_bytes = 1;
		e = llhttp_execute(&fc->parser, buf, (size_t)n);
		if (e == HPE_PAUSED && fc->done) {
			/* Bytes past the response: not a connection to keep. */
			fc->keep = llhttp_get_error_pos(&fc->parser) == buf + n &&
				   llhttp_should_keep_alive(&fc->parser);
			fa_call_end(fc, fc->status >= 200);
			return;
		}
		if (e != HPE_OK) {
			fa_call_end(fc, 0);
			return;
		}
	}
}

static void fa_event(struct weir_io_handler *h, uint32_t events)
{
	struct fa_conn *fc = (struct fa_conn *)h;

	if (fc->state == FA_IDLE) {
		/* An idle connection has nothing to say: the service closed it
		 * (or an edge from its last response came late). */
		char ch;
		if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
		    recv(h->io.fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN) {
			h->io.readable = 0;
			return;
		}
		idle_unlink(fc);
		conn_close(fc);
		return;
	}
	if (fc->r)
		fa_pump(fc);
}

static void fa_timer_fire(struct weir_worker *w, struct weir_timer *t)
{
	struct fa_conn *fc = (struct fa_conn *)((char *)t - offsetof(struct fa_conn, timer));

	if (fc->state == FA_IDLE) {
		idle_unlink(fc);
		conn_close(fc);
		return;
	}
	fc->reused = 0;		/* a timeout is the service's, not the pool's */
	fa_call_end(fc, 0);
}

/* Writes what it can of the request on a kept connection: 0, or -1 when
 * the connection is broken. */
static int send_now(struct fa_conn *fc)
{
	while (fc->sent < fc->out.len) {
		ssize_t s = send(fc->h.io.fd, fc->out.data + fc->sent, fc->out.len - fc->sent,
				 MSG_NOSIGNAL);
		if (s < 0 && errno == EINTR)
			continue;
		if (s < 0 && errno == EAGAIN) {
			fc->h.io.writable = 0;
			return 0;
		}
		if (s < 0)
			return -1;
		fc->sent += (size_t)s;
	}
	fc->state = FA_READING;
	return 0;
}

/* Starts the call on a kept connection (may_reuse), else a new one, for
 * the cache key `key`. Returns WEIR_ACCESS_PENDING, or the verdict when no
 * call could start. A kept connection is written at once (no edge would
 * come for it); a new one when its connect completes (fa_event). */
static int call_start(struct weir_req *r, const struct weir_fa_conf *fa, const char *key,
		      size_t key_len, bool may_reuse)
{
	struct weir_worker *w = r->client->w;
	struct fa_ctx **slot = ctx_of(r, fa);
	struct fa_conn *fc;

	if (!slot)
		return 500;
	if (!*slot && !(*slot = ctx_new())) {
		r->local_why = "out of memory";
		return 500;
	}
	for (;;) {
		bool reused = may_reuse && (fc = idle_take(fa));

		if (!reused && !(fc = conn_new(w, fa)))
			return failure_verdict(r, fa, key, key_len);
		weir_timer_stop(w, &fc->timer);
		fc->reused = reused;
		fc->seen_bytes = fc->done = fc->head_seen = fc->too_big = fc->keep = 0;
		fc->status = 0;
		fc->fa = fa;
		fc->sent = 0;
		fc->lines.len = fc->body.len = fc->name.len = fc->value.len = fc->key.len = 0;
		if (put(&fc->key, key, key_len) ||
		    build_request(fc, r, fa) < 0) {
			conn_close(fc);
			r->local_why = "out of memory";
			return 500;
		}
		llhttp_init(&fc->parser, HTTP_RESPONSE, &fa_settings);
		fc->parser.data = fc;
		if (reused) {
			fc->state = FA_SENDING;
			if (send_now(fc) < 0) {
				conn_close(fc);	/* closed by the service: the next */
				continue;
			}
		}
		break;
	}
	fc->r = r;
	(*slot)->call = fc;
	weir_timer_set(w, &fc->timer, w->now + fa->timeout_ms);
	return WEIR_ACCESS_PENDING;
}

static int fa_access(struct weir_req *r, void *inst)
{
	const struct weir_fa_conf *fa = inst;
	struct weir_worker *w = r->client->w;

	fw.scratch.len = 0;
	if (fa->cache) {
		const struct weir_fa_entry *e;

		if (!fw.cache && !(fw.cache = weir_fa_cache_new(CACHE_ENTRIES))) {
			r->local_why = "out of memory";
			return 500;
		}
		if (build_key(r, fa) < 0) {
			r->local_why = "out of memory";
			return 500;
		}
		/* The worker's cache, then the one all workers share. */
		if ((e = weir_fa_cache_get(fw.cache, fw.scratch.data, fw.scratch.len, w->now,
					   fa->ttl_ms)) ||
		    (fa->shared &&
		     (e = weir_fa_shared_get(fa->shared, fw.scratch.data, fw.scratch.len, w->now,
					     fa->shared_ttl_ms, fw.cache))))
			return verdict_apply(r, fa, e->status, weir_fa_entry_lines(e),
					     e->lines_len, weir_fa_entry_body(e), e->body_len);
	}
	return call_start(r, fa, fw.scratch.data, fw.scratch.len, true);
}

/* The upstream_headers are the service's to give: the client's own fields
 * of those names never reach the upstream. */
static const struct weir_hdr_names *fa_removes(void *inst, bool response)
{
	const struct weir_fa_conf *fa = inst;

	return response ? NULL : fa->up_hdrs;
}

static void fa_before_upstream(struct weir_req *r, void *inst, struct weir_buf *head)
{
	struct fa_ctx **slot = ctx_of(r, inst);

	if (slot && *slot && (*slot)->lines_len && !r->answer)
		weir_buf_append(head, (*slot)->data.data, (*slot)->lines_len);
}

/* The request ended: a call still running is dropped with its connection
 * (its answer would be for nobody); the context goes. */
static void fa_log(struct weir_req *r, void *inst)
{
	struct fa_ctx **slot = ctx_of(r, inst);
	struct fa_ctx *x = slot ? *slot : NULL;

	if (!x)
		return;
	if (x->call) {
		x->call->r = NULL;
		conn_close(x->call);
	}
	ctx_free(x);
	*slot = NULL;
}

static void fa_worker_reap(struct weir_worker *w)
{
	while (fw.dead) {
		struct fa_conn *fc = fw.dead;
		fw.dead = fc->next;
		conn_free(fc);
	}
}

static void fa_worker_end(struct weir_worker *w)
{
	while (fw.idle) {
		struct fa_conn *fc = fw.idle;
		fw.idle = fc->next;
		conn_close(fc);
	}
	fa_worker_reap(w);
	weir_fa_cache_free(fw.cache);
	fw.cache = NULL;
	while (fw.free_ctx) {
		struct fa_ctx *x = fw.free_ctx;
		fw.free_ctx = x->next;
		weir_body_free(&x->data);
		free(x);
	}
	fw.n_free_ctx = 0;
	weir_body_free(&fw.scratch);
}

const struct weir_plugin weir_plugin_forward_auth = {
	.name = "forward-auth",
	.priority = 2002,
	.configure = fa_configure,
	.destroy = fa_destroy,
	.access = fa_access,
	.before_upstream = fa_before_upstream,
	.removes = fa_removes,
	.log = fa_log,
	.worker_reap = fa_worker_reap,
	.worker_end = fa_worker_end,
};
