/* userspace/http.c - the client side of a connection: reading and judging
 * request heads with llhttp, answering locally (errors, no route, plugins),
 * and handing a good request to proxy.c.
 *
 * llhttp parses incrementally over the connection's input buffer. Its span
 * callbacks record offsets into that buffer (struct weir_span), which stay
 * valid while the head is parsed because the buffer is only compacted
 * between messages or with the spans moved along. The parser pauses itself
 * at the end of the head (so the request is judged before one body byte is
 * read) and at the end of the message (so a pipelined request stays unparsed
 * in the buffer until this one is answered).
 *
 * Strictness: llhttp rejects most malformed input itself; what it accepts
 * but a proxy must not forward is refused here — whitespace before a colon,
 * obs-fold, a transfer coding other than "chunked", a missing or repeated
 * Host, HTTP versions other than 1.x. A refused request is answered and the
 * connection closed; nothing of it reaches an upstream.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core.h"
#include "snapshot.h"
#include "plugin.h"
#include "accesslog.h"
#include "tls.h"

#define LINGER_MS 2000
#define REQS_PER_TURN 32		/* pipelined requests answered per event */
#define LINGER_READS 16			/* reads of a closing client per event */

static int on_message_begin(llhttp_t *p);
static int on_url(llhttp_t *p, const char *at, size_t len);
static int on_header_field(llhttp_t *p, const char *at, size_t len);
static int on_header_value(llhttp_t *p, const char *at, size_t len);
static int on_headers_complete(llhttp_t *p);
static int on_body(llhttp_t *p, const char *at, size_t len);
static int on_message_complete(llhttp_t *p);

static llhttp_settings_t req_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* Reasons for answering a request ourselves, set by a callback that stops
 * llhttp with HPE_USER. */
enum { STOP_URI_TOO_LONG = 1, STOP_OBS_FOLD, STOP_BODY_TOO_LARGE, STOP_NO_MEMORY };

const char *weir_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 418: return "I'm a teapot";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 451: return "Unavailable For Legal Reasons";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* ---- spans -------------------------------------------------------------- */

static inline struct weir_client *client_of(llhttp_t *p)
{
	return p->data;
}

/* Extends a span by a callback's piece. Pieces of one span arrive
 * contiguous (llhttp is called on consecutive bytes of one buffer); a piece
 * that does not continue the span is a folded line. */
static inline int span_add(struct weir_span *s, const struct weir_buf *b,
			   const char *at, size_t len)
{
	uint32_t off = (uint32_t)(at - b->data);

	if (s->off == UINT32_MAX) {
		s->off = off;
		s->len = (uint32_t)len;
		return 0;
	}
	if (off != s->off + s->len)
		return -1;
	s->len += (uint32_t)len;
	return 0;
}


static int on_message_begin(llhttp_t *p)
{
	struct weir_client *c = client_of(p);
	struct weir_req *r = weir_req_new(c);

	if (!r)
		return HPE_USER;
	c->req = r;
	c->state = WEIR_CLIENT_HEAD;
	r->head_start = c->parsed;
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct weir_client *c = client_of(p);
	struct weir_req *r = c->req;

	span_add(&r->head.url, c->in, at, len);
	if (r->head.url.len > r->snap->conf->max_uri) {
		r->stop = STOP_URI_TOO_LONG;
		return HPE_USER;
	}
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct weir_client *c = client_of(p);

	span_add(&weir_head_field(&c->req->head)->name, c->in, at, len);
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct weir_client *c = client_of(p);
	struct weir_req *r = c->req;
	struct weir_head *h = &r->head;

	h->in_field = 2;
	if (span_add(&h->fields[h->n_fields - 1].value, c->in, at, len) < 0) {
		r->stop = STOP_OBS_FOLD;
		return HPE_USER;
	}
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct weir_client *c = client_of(p);
	struct weir_req *r = c->req;
	uint64_t max = r->snap->conf->max_body;

	r->body_len += len;
	if (max && r->body_len > max) {
		r->stop = STOP_BODY_TOO_LARGE;
		return HPE_USER;
	}
	if (r->holding) {
		/* A declared length is allocated at once (within the limit),
		 * rather than grown into. */
		if (!r->hold.cap && r->content_length && r->content_length <= r->route->hold_request)
			weir_body_reserve(&r->hold, r->content_length);
		int rc = weir_body_append(&r->hold, at, len, r->route->hold_request);
		if (rc < 0) {
			r->stop = rc == -1 ? STOP_BODY_TOO_LARGE : STOP_NO_MEMORY;
			return HPE_USER;
		}
	}
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	client_of(p)->req->req_done = 1;
	return HPE_PAUSED;
}

/* ---- local answers ------------------------------------------------------ */

static int client_flush(struct weir_client *c);
static void answer_pump(struct weir_client *c);
static void client_hold_body(struct weir_client *c, struct weir_req *r);
static void req_go(struct weir_client *c, struct weir_req *r);
static void client_handshake(struct weir_client *c);
static void access_then(struct weir_client *c, struct weir_req *r, int status);

/* An answer of ours is in c->out, n bytes of it: count it, then either
 * go on to the next request or flush and close. */
static void answer_sent(struct weir_client *c, uint32_t n, bool keep)
{
	struct weir_req *r = c->req;

	if (r) {
		r->bytes_out += n;
		if (!keep)
			r->close_after = 1;
	}
	if (!keep) {
		c->keepalive = 0;
		c->linger = 1;
		c->state = WEIR_CLIENT_CLOSING;
	}
	if (r && keep) {
		if (client_flush(c) < 0) {
			weir_client_close(c);
			return;
		}
		weir_client_req_done(c);
		return;
	}
	if (r)
		weir_req_finish(c->w, r, c);
	c->req = NULL;
	weir_client_event(c, 0);
}

/* An output buffer for a local answer (false: none to be had, the client
 * is closed), and whether the connection may stay open after it. */
static bool answer_begin(struct weir_client *c, bool *keep)
{
	if (!c->out)
		c->out = weir_buf_get(c->w);
	if (!c->out) {
		weir_client_close(c);
		return false;
	}
	if (!c->keepalive || c->draining)
		*keep = false;
	return true;
}

void weir_client_answer(struct weir_client *c, int status, const char *why, bool keep)
{
	struct weir_req *r = c->req;
	const char *text = weir_status_text(status);
	int blen = (int)strlen(text) + 5 + (why ? (int)strlen(why) + 2 : 0);
	uint32_t before;

	if (!answer_begin(c, &keep))
		return;
	before = c->out->end;
	weir_buf_printf(c->out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
			"Content-Length: %d\r\n%s%s%s%s\r\n%d %s%s%s\n",
			status, text, blen, keep ? "" : "Connection: close\r\n",
			r && r->id[0] ? "X-Request-Id: " : "", r && r->id[0] ? r->id : "",
			r && r->id[0] ? "\r\n" : "",
			status, text, why ? ": " : "", why ? why : "");
	if (r)
		r->status = (uint16_t)status;
	answer_sent(c, c->out->end - before, keep);
}

void weir_client_answer_with(struct weir_client *c, const struct weir_answer *a, bool keep)
{
	struct weir_req *r = c->req;
	bool bodyless = a->status < 200 || a->status == 204 || a->status == 304;
	struct weir_buf *o;
	const char *reason;
	uint32_t before;
	int rc;

	if (!answer_begin(c, &keep))
		return;
	o = c->out;
	weir_buf_compact(o);
	before = o->end;
	reason = weir_status_text(a->status);
	weir_buf_status_line(o, a->status, reason, strlen(reason));
	weir_buf_append(o, a->head, a->head_len);
	if (r)
		weir_plugins_response_headers(r, o);
	if (r && r->id[0]) {
		weir_buf_append(o, "X-Request-Id: ", 14);
		weir_buf_append(o, r->id, 32);
		weir_buf_append(o, "\r\n", 2);
	}
	if (!bodyless && !a->framed)
		weir_buf_field_u64(o, "Content-Length", 14, a->body_len);
	if (!keep)
		weir_buf_append(o, "Connection: close\r\n", 19);
	else if (r && !r->http_minor)
		weir_buf_append(o, "Connection: keep-alive\r\n", 24);
	rc = weir_buf_append(o, "\r\n", 2);
	bool body = !bodyless && !(r && r->head_only) && a->body_len;
	if (!rc && body && (a->body_len <= o->cap - o->end || !r)) {
		rc = weir_buf_append(o, a->body, a->body_len);
		body = false;
	}
	if (rc < 0) {
		/* Too big for the buffer: nothing sensible can be sent. */
		weir_client_close(c);
		return;
	}
	if (r)
		r->status = a->status;
	if (body) {
		/* Written from where it lies: one writev with the head, then
		 * more as the socket drains. */
		r->bytes_out += o->end - before;
		r->abody = a->body;
		r->abody_left = a->body_len;
		if (!keep)
			r->close_after = 1;
		c->state = WEIR_CLIENT_ANSWER;
		answer_pump(c);
		return;
	}
	answer_sent(c, o->end - before, keep);
}

/* Writes the head in c->out and the rest of a large answer body, then ends
 * the exchange as answer_sent does. */
static void answer_pump(struct weir_client *c)
{
	struct weir_req *r = c->req;
	struct weir_buf *o = c->out;

	while ((o && o->start < o->end) || r->abody_left) {
		struct iovec iov[2];
		int n_iov = 0;
		size_t head_n = o ? o->end - o->start : 0;

		if (head_n)
			iov[n_iov++] = (struct iovec){ o->data + o->start, head_n };
		if (r->abody_left)
			iov[n_iov++] = (struct iovec){ (void *)r->abody, r->abody_left };
		/* Through weir_io, so that a TLS client gets it encrypted. */
		ssize_t n = weir_io_writev(&c->io, iov, n_iov, head_n + r->abody_left);
		if (n == 0) {
			weir_timer_set(c->w, &c->timer, c->w->now + c->w->snap->conf->send_timeout_ms);
			return;
		}
		if (n < 0) {
			weir_client_close(c);
			return;
		}
		size_t from_head = (size_t)n < head_n ? (size_t)n : head_n;
		if (o)
			o->start += (uint32_t)from_head;
		r->abody += (size_t)n - from_head;
		r->abody_left -= (size_t)n - from_head;
		r->bytes_out += (size_t)n - from_head;
	}
	if (o) {
		weir_buf_put(c->w, o);
		c->out = NULL;
	}
	r->abody = NULL;
	weir_timer_stop(c->w, &c->timer);
	answer_sent(c, 0, !r->close_after);
}

void weir_client_error(struct weir_client *c, int status, const char *why)
{
	if (c->req && c->req->up)
		weir_proxy_abort(c->req);
	if (c->req && c->req->resp_started) {
		/* The client has part of a response: all we can do is close. */
		weir_req_finish(c->w, c->req, c);
		c->req = NULL;
		weir_client_close(c);
		return;
	}
	weir_client_answer(c, status, why, false);
}

/* ---- judging a request head -------------------------------------------- */

/* A request an access plugin delayed (r->delay_ms) was suspended like one
 * waiting for a plugin's verdict (access_then), and its timer is what
 * resumes it: one mechanism, so a delayed request, too, reads nothing from
 * its client and arms no client timer while it waits, and a client that
 * hangs up meanwhile ends it at once (req_suspended_event, 499). Anything
 * that ends the request first stops this timer (weir_req_finish). */
static void req_delay_fire(struct weir_worker *w, struct weir_timer *t)
{
	struct weir_req *r = (struct weir_req *)((char *)t - offsetof(struct weir_req, delay));

	r->delay_ms = 0;
	weir_req_resume(r, 0);
}

/* Walks the comma-separated tokens of a Connection value. */
static void connection_tokens(struct weir_req *r, const char *v, uint32_t len)
{
	uint32_t i = 0;

	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		uint32_t s = i;
		while (i < len && v[i] != ',')
			i++;
		uint32_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == 5 && !strncasecmp(v + s, "close", 5))
			r->conn_close = 1;
		else if (e - s == 10 && !strncasecmp(v + s, "keep-alive", 10))
			r->conn_keepalive = 1;
		else if (e - s == 7 && !strncasecmp(v + s, "upgrade", 7))
			r->conn_upgrade = 1;
		else if (e > s && r->n_conn_names < WEIR_MAX_CONN_NAMES) {
			r->conn_names[r->n_conn_names].off = (uint32_t)(v + s - r->client->in->data);
			r->conn_names[r->n_conn_names].len = e - s;
			r->n_conn_names++;
		}
	}
}

/* Lower-cases the host, drops the port; 0 or -1 when it is not a host. */
static int host_set(struct weir_req *r, const char *v, size_t len)
{
	size_t end = len;

	if (len && v[0] == '[') {
		const char *rb = memchr(v, ']', len);
		if (!rb)
			return -1;
		end = (size_t)(rb - v) + 1;
	} else {
		const char *colon = memchr(v, ':', len);
		if (colon)
			end = (size_t)(colon - v);
	}
	if (end >= sizeof(r->host) || end == 0)
		return -1;
	for (size_t i = 0; i < end; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch <= ' ' || ch == '/' || ch == '?' || ch == '#' || ch == '@')
			return -1;
		r->host[i] = (char)((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
	}
	r->host[end] = 0;
	r->host_len = (uint8_t)end;
	return 0;
}

static uint32_t method_bit(uint8_t m)
{
	switch (m) {
	case HTTP_GET: return WEIR_M_GET;
	case HTTP_HEAD: return WEIR_M_HEAD;
	case HTTP_POST: return WEIR_M_POST;
	case HTTP_PUT: return WEIR_M_PUT;
	case HTTP_DELETE: return WEIR_M_DELETE;
	case HTTP_PATCH: return WEIR_M_PATCH;
	case HTTP_OPTIONS: return WEIR_M_OPTIONS;
	case HTTP_CONNECT: return WEIR_M_CONNECT;
	case HTTP_TRACE: return WEIR_M_TRACE;
	default: return WEIR_M_OTHER;
	}
}

/* Checks the head and fills the request's view of it. Returns 0, or the
 * status to answer with its reason in *why. */
static int head_judge(struct weir_client *c, struct weir_req *r, const char **why)
{
	struct weir_buf *b = c->in;
	struct weir_head *h = &r->head;
	unsigned n_host = 0, n_te = 0;
	llhttp_t *p = &c->parser;

	if (h->too_many) {
		*why = "too many header fields";
		return 431;
	}
	/* A head that arrived whole in one read was never measured while
	 * incomplete (client_read_head). */
	if (c->parsed - r->head_start > r->snap->conf->max_header_size) {
		*why = "request head larger than the limit";
		return 431;
	}
	if (p->http_major != 1) {
		*why = "only HTTP/1.x is served here";
		return 505;
	}
	r->http_minor = p->http_minor;
	r->method = p->method;
	r->method_bit = method_bit(p->method);
	if (p->method == HTTP_CONNECT) {
		*why = "CONNECT is not supported";
		return 501;
	}
	for (uint32_t i = 0; i < h->n_fields; i++) {
		struct weir_field *f = &h->fields[i];
		char *name = b->data + f->name.off;
		char *val = b->data + f->value.off;

		if (f->value.off == UINT32_MAX)
			f->value = (struct weir_span){ f->name.off + f->name.len, 0 };
		if (f->name.len == 0 || name[f->name.len - 1] == ' ' ||
		    name[f->name.len - 1] == '\t') {
			*why = "whitespace before a colon";
			return 400;
		}
		while (f->value.len && (val[f->value.len - 1] == ' ' ||
					val[f->value.len - 1] == '\t'))
			f->value.len--;
		for (uint32_t k = 0; k < f->name.len; k++)
			if (name[k] >= 'A' && name[k] <= 'Z')
				name[k] += 32;
		r->hdrs[i] = (struct weir_hdr){ name, f->name.len, val, f->value.len };

		switch (f->name.len) {
		case 4:
			if (!memcmp(name, "host", 4)) {
				n_host++;
				r->host_field = (int16_t)i;
			}
			break;
		case 6:
			/* 100-continue goes on to the upstream, whose 100 comes back
			 * (on a route that holds bodies, weir says it: head_done). */
			if (!memcmp(name, "expect", 6)) {
				if (f->value.len != 12 || strncasecmp(val, "100-continue", 12)) {
					*why = "unknown expectation";
					return 417;
				}
				r->expect_continue = 1;
			}
			break;
		case 10:
			if (!memcmp(name, "connection", 10))
				connection_tokens(r, val, f->value.len);
			break;
		case 11:
			if (!memcmp(name, "traceparent", 11)) {
				r->n_traceparent++;
				r->traceparent_field = (int16_t)i;
			}
			break;
		case 12:
			if (!memcmp(name, "x-request-id", 12))
				r->has_request_id = 1;
			break;
		case 17:
			if (!memcmp(name, "transfer-encoding", 17)) {
				n_te++;
				if (f->value.len != 7 || strncasecmp(val, "chunked", 7)) {
					*why = "only the chunked transfer coding is supported";
					return 501;
				}
			}
			break;
		}
	}
	if (n_te) {
		if (r->http_minor == 0) {
			*why = "Transfer-Encoding in an HTTP/1.0 request";
			return 400;
		}
		if (n_te > 1) {
			*why = "repeated Transfer-Encoding";
			return 400;
		}
		r->chunked = 1;
	}
	if (n_host > 1) {
		*why = "repeated Host";
		return 400;
	}
	if (n_host == 0 && r->http_minor >= 1) {
		*why = "missing Host";
		return 400;
	}
	if (n_host) {
		struct weir_field *f = &h->fields[r->host_field];
		if (host_set(r, b->data + f->value.off, f->value.len) < 0) {
			*why = "bad Host";
			return 400;
		}
	}

	/* The target: origin-form, or absolute-form whose authority wins. */
	const char *u = b->data + h->url.off;
	uint32_t ulen = h->url.len;
	if (ulen > 7 && (!strncasecmp(u, "http://", 7) || !strncasecmp(u, "https://", 8))) {
		uint32_t s = u[4] == ':' ? 7 : 8;
		uint32_t e = s;
		while (e < ulen && u[e] != '/' && u[e] != '?')
			e++;
		if (host_set(r, u + s, e - s) < 0) {
			*why = "bad authority in the request target";
			return 400;
		}
		r->path = (struct weir_span){ h->url.off + e, ulen - e };
		if (r->path.len == 0 || u[e] != '/') {
			*why = "absolute target without a path";
			return 400;
		}
	} else if (ulen && u[0] == '/') {
		r->path = h->url;
	} else {
		*why = "bad request target";
		return 400;
	}
	const char *q = memchr(b->data + r->path.off, '?', r->path.len);
	r->path_len = q ? (uint32_t)(q - (b->data + r->path.off)) : r->path.len;

	if (!r->chunked && (p->flags & F_CONTENT_LENGTH))
		r->content_length = p->content_length;
	r->has_length = r->chunked || (p->flags & F_CONTENT_LENGTH);
	if (r->snap->conf->max_body && r->content_length > r->snap->conf->max_body) {
		*why = "body larger than the limit";
		return 413;
	}
	r->upgrade = r->conn_upgrade && p->upgrade;
	r->head_only = p->method == HTTP_HEAD;
	r->idempotent = p->method == HTTP_GET || p->method == HTTP_HEAD ||
			p->method == HTTP_PUT || p->method == HTTP_DELETE ||
			p->method == HTTP_OPTIONS || p->method == HTTP_TRACE;
	/* timeouts.keepalive 0 means one request per connection: say so in
	 * the answer rather than reset the client's next request. */
	if (r->conn_close || (r->http_minor == 0 && !r->conn_keepalive) ||
	    !r->snap->conf->keepalive_timeout_ms)
		c->keepalive = 0;
	return 0;
}

/* Maps an llhttp error (or our own stop) to a status. */
static int parse_error_status(struct weir_req *r, llhttp_errno_t e, const char **why)
{
	if (r && r->stop == STOP_URI_TOO_LONG) {
		*why = "request target longer than the limit";
		return 414;
	}
	if (r && r->stop == STOP_OBS_FOLD) {
		*why = "obs-fold in a header field";
		return 400;
	}
	if (r && r->stop == STOP_BODY_TOO_LARGE) {
		*why = "body larger than the limit";
		return 413;
	}
	if (r && r->stop == STOP_NO_MEMORY) {
		*why = "out of memory for the body";
		return 503;
	}
	switch (e) {
	case HPE_INVALID_VERSION:
		*why = "bad HTTP version";
		return 505;
	case HPE_INVALID_TRANSFER_ENCODING:
		*why = "bad Transfer-Encoding";
		return 501;
	case HPE_INVALID_METHOD:
		*why = "unknown method";
		return 400;
	default:
		*why = llhttp_errno_name(e);
		return 400;
	}
}

/* The head is complete and good: route it and start the proxying. */
static void head_done(struct weir_client *c, struct weir_req *r)
{
	const char *why = NULL;
	int status = head_judge(c, r, &why);

	if (status) {
		weir_client_answer(c, status, why, false);
		return;
	}
	weir_timer_stop(c->w, &c->timer);
	c->state = WEIR_CLIENT_BUSY;
	r->body_start = c->parsed;
	r->fwd = c->parsed;
	if (!r->has_request_id)
		weir_request_id(c->w, r->id);
	weir_req_trace(c->w, r);

	struct weir_route_req rq = {
		.host = r->host, .host_len = r->host_len,
		.path = c->in->data + r->path.off, .path_len = r->path_len,
		.method = r->method_bit,
		.headers = r->hdrs, .n_headers = r->head.n_fields,
	};
	bool found = weir_snapshot_match(r->snap, &rq, &r->match);
	if (found) {
		r->route = r->match.route;
		/* From the first body byte on, a holding route copies the
		 * decoded body aside (on_body); a request without a body is
		 * held too, empty, so request_body sees every request (an
		 * upgrade, which has none, excepted). */
		r->holding = r->route->hold_request != 0 && !r->upgrade;
	}
	/* Parse on into the body as far as it is buffered: a body-less request
	 * completes here, so an answer of our own can keep the connection. */
	llhttp_resume(&c->parser);
	if (weir_client_parse(c) < 0)
		return;
	if (!found) {
		weir_client_answer(c, 404, "no route", r->req_done);
		return;
	}
	access_then(c, r, weir_plugins_access(r));
}

/* The request after its access phase (status as weir_plugins_access
 * returns it): answered, suspended, delayed, or on its way. */
static void access_then(struct weir_client *c, struct weir_req *r, int status)
{
	if (status == WEIR_ACCESS_PENDING) {
		r->suspended = 1;	/* the plugin calls weir_req_resume */
		return;
	}
	if (status) {
		if (r->answer)
			weir_client_answer_with(c, r->answer, r->req_done);
		else
			weir_client_answer(c, status, r->local_why, r->req_done);
		return;
	}
	if (!r->route->upstream) {	/* only a route whose plugin always answers */
		weir_client_answer(c, 502, "the route has no upstream", r->req_done);
		return;
	}
	if (r->delay_ms) {
		/* A suspension that a timer resumes (req_delay_fire). */
		r->suspended = 1;
		r->delay.fire = req_delay_fire;
		weir_timer_set(c->w, &r->delay, c->w->now + r->delay_ms);
		return;
	}
	req_go(c, r);
}

/* A suspended request (WEIR_ACCESS_PENDING, or a delay: req_delay_fire)
 * meets its verdict. A client that has closed its side is not served: the
 * request ends there (499). */
void weir_req_resume(struct weir_req *r, int status)
{
	struct weir_client *c = r->client;

	r->suspended = 0;
	if (c->io.rdhup) {
		r->status = 499;
		weir_client_close(c);
		return;
	}
	access_then(c, r, weir_plugins_access_resume(r, status));
}

/* A client event while its request is suspended: nothing is read (the
 * bytes wait in the socket; io.readable remembers them) and no timer is
 * armed (the plugin's own deadline bounds the wait), but a client that has
 * hung up ends the request at once (499), which cancels what the plugin
 * waits for (its log phase runs). */
static void req_suspended_event(struct weir_client *c, struct weir_req *r)
{
	if (c->io.rdhup) {
		r->status = 499;
		weir_client_close(c);
	}
}

/* The request goes on after its access phase (and a delay a limit put on
 * it): on a route that holds bodies, its body is read whole first, else
 * it goes upstream at once. */
static void req_go(struct weir_client *c, struct weir_req *r)
{
	if (r->holding) {
		if (r->content_length > r->route->hold_request) {
			/* Declared too large: refused before it is read. */
			weir_client_answer(c, 413, "body larger than the limit", false);
			return;
		}
		if (r->expect_continue && !r->req_done && r->http_minor) {
			/* The client waits for a go before sending its body, and
			 * no upstream will give one before the body is read. */
			if (!c->out && !(c->out = weir_buf_get(c->w))) {
				weir_client_close(c);
				return;
			}
			weir_buf_append(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			if (client_flush(c) < 0) {
				weir_client_close(c);
				return;
			}
		}
		client_hold_body(c, r);
		return;
	}
	weir_proxy_start(r);
}

/* Reads the rest of a held request body (on_body copies it into r->hold),
 * dropping the framed bytes from c->in as they are parsed, then runs the
 * request_body phase and proxies the request, or answers the plugin's
 * status. Called again on every client event while the body comes in. */
static void client_hold_body(struct weir_client *c, struct weir_req *r)
{
	struct weir_worker *w = c->w;
	struct weir_buf *b = c->in;

	/* What is left of our 100 Continue, should the socket have been full. */
	if (c->out && client_flush(c) < 0) {
		weir_client_close(c);
		return;
	}
	for (;;) {
		if (r->req_done) {
			int status;

			r->holding = 0;
			r->held = 1;
			weir_timer_stop(w, &c->timer);
			status = weir_plugins_request_body(r, &r->hold);
			if (status) {
				/* Read whole: the connection can carry the next one. */
				weir_client_answer(c, status, r->local_why, true);
				return;
			}
			weir_proxy_start(r);
			return;
		}
		if (c->parsed < b->end) {
			if (weir_client_parse(c) < 0)
				return;
			continue;
		}
		/* Everything buffered is copied aside: reuse the window. */
		if (b->end > r->body_start)
			b->end = c->parsed = r->body_start;
		if (b->end == b->cap) {
			weir_client_answer(c, 431, "request head leaves no room for the body", false);
			return;
		}
		if (!c->io.readable) {
			weir_timer_set(w, &c->timer, w->now + r->snap->conf->client_body_timeout_ms);
			return;
		}
		ssize_t n = weir_io_read(&c->io, b);
		if (n == 0 || n == -2) {
			/* The client went away half-way through its body. */
			weir_client_close(c);
			return;
		}
	}
}

/* Runs llhttp over the unparsed bytes of the input buffer. Returns 1 when it
 * paused (end of head or of message), 0 when it needs more bytes, -1 on an
 * error (already answered). */
int weir_client_parse(struct weir_client *c)
{
	struct weir_buf *b = c->in;
	llhttp_errno_t e;

	/* A body-less request completes on an empty run after its head. */
	if (c->parsed == b->end && c->state != WEIR_CLIENT_BUSY)
		return 0;
	e = llhttp_execute(&c->parser, b->data + c->parsed, b->end - c->parsed);
	if (e == HPE_PAUSED_UPGRADE && !c->req) {
		/* The last request asked for an upgrade and the upstream
		 * answered without a 101 (a 101 makes a tunnel, which parses
		 * nothing): what follows is HTTP again. */
		llhttp_resume_after_upgrade(&c->parser);
		e = llhttp_execute(&c->parser, b->data + c->parsed, b->end - c->parsed);
	}
	if (e == HPE_OK) {
		c->parsed = b->end;
		return 0;
	}
	if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
		c->parsed = (uint32_t)(llhttp_get_error_pos(&c->parser) - b->data);
		if (c->req && c->req->req_done && c->state == WEIR_CLIENT_BUSY)
			c->req->msg_end = c->parsed;
		return 1;
	}
	const char *why;
	int status = parse_error_status(c->req, e, &why);
	weir_client_error(c, status, why);
	return -1;
}

/* Moves the buffer's data to the front, and the spans with it. */
static void client_compact(struct weir_client *c)
{
	struct weir_req *r = c->req;
	uint32_t d = weir_buf_compact(c->in);

	if (!d)
		return;
	c->parsed -= d;
	if (!r)
		return;
	r->head_start -= d;
	if (r->head.url.off != UINT32_MAX)
		r->head.url.off -= d;
	for (uint32_t i = 0; i < r->head.n_fields; i++) {
		if (r->head.fields[i].name.off != UINT32_MAX)
			r->head.fields[i].name.off -= d;
		if (r->head.fields[i].value.off != UINT32_MAX)
			r->head.fields[i].value.off -= d;
	}
}

/* Reads and parses heads until one goes to an upstream, the socket is
 * drained, or the connection ends. Requests answered at once (errors, no
 * route, a plugin's answer, a response that was quick) are followed by the
 * next pipelined one in this same loop, never by recursion, and at most
 * REQS_PER_TURN of them before the worker serves others (weir_client_again).
 * A new head is read only once the answers before it are written
 * (backpressure). */
static void client_read_head(struct weir_client *c)
{
	struct weir_worker *w = c->w;
	unsigned budget = REQS_PER_TURN;

	if (c->reading)
		return;		/* the loop below goes on */
	c->reading = 1;
	for (;;) {
		if (c->io.fd < 0)
			return;
		if (c->state != WEIR_CLIENT_IDLE && c->state != WEIR_CLIENT_HEAD)
			break;
		if (c->out) {
			int rc = client_flush(c);
			if (rc < 0) {
				weir_client_close(c);
				return;
			}
			if (rc == 0) {
				weir_timer_set(w, &c->timer, w->now + w->snap->conf->send_timeout_ms);
				break;
			}
		}
		if (!c->in) {
			c->in = weir_buf_get(w);
			if (!c->in) {
				weir_client_close(c);
				return;
			}
			c->parsed = 0;
		}
		if (c->parsed < c->in->end) {
			if (c->state == WEIR_CLIENT_IDLE)
				weir_timer_set(w, &c->timer, w->now + w->snap->conf->client_header_timeout_ms);
			int rc = weir_client_parse(c);
			if (rc < 0)
				continue;
			if (rc > 0) {
				head_done(c, c->req);
				if (c->io.fd >= 0 && c->state == WEIR_CLIENT_IDLE && !--budget) {
					weir_client_again(c);
					break;
				}
				continue;
			}
			if (c->req && c->in->end - c->req->head_start >
				      c->req->snap->conf->max_header_size) {
				weir_client_answer(c, 431, "request head larger than the limit", false);
				continue;
			}
		}
		if (c->in->end == c->in->cap) {
			if (c->in->start == 0 && (!c->req || c->req->head_start == 0)) {
				weir_client_answer(c, 431, "request head larger than the buffer", false);
				continue;
			}
			c->in->start = c->req ? c->req->head_start : c->parsed;
			client_compact(c);
		}
		if (!c->io.readable)
			break;
		ssize_t n = weir_io_read(&c->io, c->in);
		if (n == 0 || n == -2) {
			weir_client_close(c);
			return;
		}
	}
	c->reading = 0;
	/* Waiting for bytes: an idle connection gives its buffer back. */
	if (c->state == WEIR_CLIENT_IDLE && c->in && c->in->end == c->in->start) {
		weir_buf_put(w, c->in);
		c->in = NULL;
		c->parsed = 0;
	}
}

/* Writes c->out. Returns 1 when empty, 0 when the socket is full, -1 on an
 * error. */
static int client_flush(struct weir_client *c)
{
	struct weir_buf *o = c->out;

	while (o && o->start < o->end) {
		ssize_t n = weir_io_write(&c->io, o->data + o->start, o->end - o->start);
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		o->start += (uint32_t)n;
	}
	if (o) {
		weir_buf_put(c->w, o);
		c->out = NULL;
	}
	return 1;
}

static void client_linger_fire(struct weir_worker *w, struct weir_timer *t)
{
	weir_client_close((struct weir_client *)((char *)t - offsetof(struct weir_client, timer)));
}

/* A final answer is on its way: flush it, half-close, read and drop what the
 * client still sends (so our answer is not destroyed by a reset), close. */
static void client_closing(struct weir_client *c)
{
	int rc = client_flush(c);

	if (rc < 0) {
		weir_client_close(c);
		return;
	}
	if (rc == 0) {
		weir_timer_set(c->w, &c->timer, c->w->now + c->w->snap->conf->send_timeout_ms);
		return;
	}
	/* A client whose request was read whole has nothing more to say: close
	 * now, as nginx does. Only one that may still be sending (an answer
	 * before its body was read) gets the lingering close. */
	if (!c->linger) {
		weir_client_close(c);
		return;
	}
	if (!c->lingering) {
		c->lingering = 1;
		weir_io_shutdown_write(&c->io);
		c->timer.fire = client_linger_fire;
		weir_timer_set(c->w, &c->timer, c->w->now + LINGER_MS);
	}
	char sink[4096];
	for (int reads = 0; c->io.readable; reads++) {
		if (reads == LINGER_READS) {
			weir_client_again(c);
			return;
		}
		ssize_t n = read(c->io.fd, sink, sizeof(sink));
		if (n > 0)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			weir_client_close(c);
			return;
		}
		if (errno == EAGAIN)
			c->io.readable = 0;
	}
}

/* Flushes our own bytes (a response head) ahead of body bytes; see proxy.c. */
int weir_client_flush(struct weir_client *c)
{
	return client_flush(c);
}

/* Moves a TLS handshake on; once done, the connection waits for its first
 * request like a plaintext one. A failed handshake is closed without a
 * word: there is no HTTP to answer in. */
static void client_handshake(struct weir_client *c)
{
	const char *why;
	int rc = weir_tls_handshake(&c->io, &why);

	if (rc == 0)
		return;
	if (rc < 0) {
		weir_client_close(c);
		return;
	}
	c->tls_client_id = weir_tls_peer_id(&c->io);
	c->state = WEIR_CLIENT_IDLE;
	weir_timer_set(c->w, &c->timer, c->w->now + c->w->snap->conf->client_header_timeout_ms);
	client_read_head(c);
}

/* Comes back to a client that still has work after its share of a turn:
 * the worker runs it again before it next waits for events. */
void weir_client_again(struct weir_client *c)
{
	struct weir_worker *w = c->w;

	if (c->again)
		return;
	c->again = 1;
	c->again_next = w->again;
	w->again = c;
}

void weir_client_event(struct weir_client *c, uint32_t events)
{
	if (c->out && (c->state == WEIR_CLIENT_IDLE || c->state == WEIR_CLIENT_HEAD) &&
	    client_flush(c) < 0) {
		weir_client_close(c);
		return;
	}
	switch (c->state) {
	case WEIR_CLIENT_IDLE:
	case WEIR_CLIENT_HEAD:
		client_read_head(c);
		break;
	case WEIR_CLIENT_BUSY:
	case WEIR_CLIENT_TUNNEL:
		if (c->req && c->req->suspended)
			req_suspended_event(c, c->req);
		else if (c->req && c->req->holding)
			client_hold_body(c, c->req);
		else if (c->req)
			weir_proxy_pump(c->req);
		break;
	case WEIR_CLIENT_CLOSING:
		client_closing(c);
		break;
	case WEIR_CLIENT_ANSWER:
		answer_pump(c);
		break;
	case WEIR_CLIENT_HANDSHAKE:
		client_handshake(c);
		break;
	}
}

static void client_timer_fire(struct weir_worker *w, struct weir_timer *t)
{
	struct weir_client *c = (struct weir_client *)((char *)t - offsetof(struct weir_client, timer));

	switch (c->state) {
	case WEIR_CLIENT_HEAD:
		weir_client_answer(c, 408, "request head not received in time", false);
		break;
	case WEIR_CLIENT_BUSY:
		if (c->req && !c->req->req_done && !c->req->resp_started) {
			weir_client_error(c, 408, "request body not received in time");
			break;
		}
		/* the client does not read its response */
		__attribute__((fallthrough));
	default:
		if (c->req) {
			if (c->req->up)
				weir_proxy_abort(c->req);
			weir_req_finish(w, c->req, c);
			c->req = NULL;
		}
		weir_client_close(c);
	}
}

void weir_client_accept(struct weir_worker *w, int fd, const struct sockaddr *sa,
			uint32_t listener)
{
	struct weir_client *c = w->free_clients;
	struct weir_tls_server *tls = w->snap->listen_tls ? w->snap->listen_tls[listener] : NULL;
	int one = 1;

	if (c)
		w->free_clients = c->next;
	else if (!(c = malloc(sizeof(*c)))) {
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->io.kind = WEIR_IO_CLIENT;
	c->io.fd = fd;
	c->w = w;
	c->keepalive = 1;
	c->fresh = 1;
	c->listener = (uint8_t)listener;
	c->timer.fire = client_timer_fire;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		c->peer.sin6_family = AF_INET6;
		c->peer.sin6_port = s4->sin_port;
		c->peer.sin6_addr.s6_addr[10] = 0xff;
		c->peer.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&c->peer.sin6_addr.s6_addr[12], &s4->sin_addr, 4);
	} else {
		memcpy(&c->peer, sa, sizeof(c->peer));
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	llhttp_init(&c->parser, HTTP_REQUEST, &req_settings);
	c->parser.data = c;
	c->next = w->clients;
	if (w->clients)
		w->clients->prev = c;
	w->clients = c;
	w->n_clients++;
	atomic_store_explicit(&w->m_open, w->n_clients, memory_order_relaxed);
	atomic_store_explicit(&w->m_accepted,
			      atomic_load_explicit(&w->m_accepted, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	if (weir_io_add(w, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
		weir_client_close(c);
		return;
	}
	/* Data often arrives with the handshake's last ACK: try at once. */
	c->io.readable = 1;
	c->io.writable = 1;
	if (tls) {
		if (weir_tls_accept(&c->io, tls) < 0) {
			weir_client_close(c);
			return;
		}
		weir_tls_server_hold(tls);
		c->tls = tls;
		c->state = WEIR_CLIENT_HANDSHAKE;
		weir_timer_set(w, &c->timer, w->now + weir_tls_server_handshake_ms(tls));
		client_handshake(c);
		return;
	}
	weir_timer_set(w, &c->timer, w->now + w->snap->conf->client_header_timeout_ms);
	client_read_head(c);
}

void weir_client_close(struct weir_client *c)
{
	struct weir_worker *w = c->w;

	if (c->io.fd < 0)
		return;
	if (c->req) {
		if (c->req->up)
			weir_proxy_abort(c->req);
		weir_req_finish(w, c->req, c);
		c->req = NULL;
	}
	weir_timer_stop(w, &c->timer);
	if (c->io.ssl) {
		/* close_notify after a whole exchange; not after an error */
		weir_tls_close(&c->io, c->state == WEIR_CLIENT_IDLE || c->state == WEIR_CLIENT_CLOSING);
		weir_tls_server_put(c->tls);
		free(c->tls_client_id);
		c->tls = NULL;
		c->tls_client_id = NULL;
	}
	close(c->io.fd);		/* which also takes it out of epoll */
	c->io.fd = -1;
	if (c->in)
		weir_buf_put(w, c->in);
	if (c->out)
		weir_buf_put(w, c->out);
	c->in = c->out = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_clients--;
	atomic_store_explicit(&w->m_open, w->n_clients, memory_order_relaxed);
	c->next = w->dead_clients;
	w->dead_clients = c;
}

/* The exchange is over: log it, and read the next request, which may be
 * waiting in the buffer already (pipelining). */
void weir_client_req_done(struct weir_client *c)
{
	struct weir_worker *w = c->w;
	struct weir_req *r = c->req;
	uint32_t next = r ? r->msg_end : c->parsed;

	c->fresh = 0;
	if (r) {
		if (r->close_after)
			c->keepalive = 0;
		if (!r->req_done || (c->in && next < c->in->end))
			c->linger = 1;	/* the client may still be sending */
		weir_req_finish(w, r, c);
		c->req = NULL;
	}
	if (!c->keepalive || c->draining || w->stopping) {
		c->state = WEIR_CLIENT_CLOSING;
		client_closing(c);
		return;
	}
	c->state = WEIR_CLIENT_IDLE;
	if (c->in) {
		c->in->start = next;
		c->parsed = next;
		client_compact(c);
	}
	llhttp_resume(&c->parser);
	weir_timer_set(w, &c->timer, w->now + w->snap->conf->keepalive_timeout_ms);
	client_read_head(c);
}
