/* userspace/core.h - the types of weir's event loop: buffers, timers,
 * connections, requests and workers, shared by worker.c, http.c and proxy.c.
 *
 * Ownership, in short: a worker owns everything reachable from it and is
 * the only thread that touches it. A client connection owns at most one
 * request at a time (HTTP/1.1 answers in order, so pipelined requests wait in
 * the connection's input buffer, unparsed); a request owns at most one
 * upstream connection while it is in flight, which goes back to the worker's
 * keepalive pool when the response ends cleanly. Buffers, requests and
 * connections come from per-worker free lists, so the request path does not
 * allocate once the lists are warm, and an idle client connection holds no
 * buffer at all.
 */
#ifndef WEIR_CORE_H
#define WEIR_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <llhttp.h>

#include "config.h"
#include "router.h"

struct weir_snapshot;
struct weir_route;
struct weir_upstream;
struct weir_worker;
struct weir_job;
struct weir_tls_server;
struct ssl_st;

/* ---- buffers ---------------------------------------------------------- */

/* A fixed-size byte buffer: data in [start, end), free space [end, cap). */
struct weir_buf {
	struct weir_buf *next;		/* free list */
	uint32_t start, end, cap;
	char data[];
};

struct weir_buf *weir_buf_get(struct weir_worker *w);
void weir_buf_put(struct weir_worker *w, struct weir_buf *b);
/* Moves the data to the front; returns the distance moved. */
uint32_t weir_buf_compact(struct weir_buf *b);
/* The appends return 0, or -1 when the data does not fit: the buffer is
 * then poisoned (full), so a caller that appends several pieces checks the
 * last. Inline: a request head is built of dozens of small constant-size
 * appends, each a few moves once inlined. */
static inline int weir_buf_append(struct weir_buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->end) {
		b->end = b->cap;
		return -1;
	}
	memcpy(b->data + b->end, p, n);
	b->end += (uint32_t)n;
	return 0;
}
int weir_buf_printf(struct weir_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends "NAME: V\r\n" (name_len bytes of name), V in decimal: for the
 * header fields with a number that are written per request, without the
 * cost of a printf. */
int weir_buf_field_u64(struct weir_buf *b, const char *name, size_t name_len, uint64_t v);
/* Appends "HTTP/1.1 STATUS REASON\r\n" (status 100..999). */
int weir_buf_status_line(struct weir_buf *b, unsigned status, const char *reason,
			 size_t reason_len);

/* A body held whole (plugin.h, "Holding bodies"): data[0, len) of cap
 * bytes, malloc'd for one exchange. A plugin may rewrite it in place or make
 * room with weir_body_reserve. */
struct weir_body {
	char *data;
	size_t len, cap;
};

/* Makes room for `need` bytes in all; 0, or -1 when out of memory. */
int weir_body_reserve(struct weir_body *b, size_t need);
void weir_body_free(struct weir_body *b);
/* Appends len bytes unless the body would pass max bytes: 0, -1 too large,
 * -2 out of memory. */
int weir_body_append(struct weir_body *b, const char *p, size_t len, uint64_t max);

/* ---- timers ----------------------------------------------------------- */

/* One deadline per object, kept in the worker's binary heap. Moving a
 * deadline later only stores it (the heap entry is re-filed lazily when it
 * comes due), which is what the request path does most. */
struct weir_timer {
	uint64_t due;			/* ms; 0 = not armed */
	uint64_t key;			/* the key the heap holds */
	uint32_t slot;			/* index in the heap + 1; 0 = not in it */
	void (*fire)(struct weir_worker *w, struct weir_timer *t);
};

void weir_timer_set(struct weir_worker *w, struct weir_timer *t, uint64_t due);
void weir_timer_stop(struct weir_worker *w, struct weir_timer *t);
/* Fires what is due; returns ms to the next deadline, or -1. */
int weir_timers_run(struct weir_worker *w);

/* ---- connections ------------------------------------------------------ */

enum weir_io_kind { WEIR_IO_LISTENER, WEIR_IO_CLIENT, WEIR_IO_UPSTREAM, WEIR_IO_EVENT,
		   WEIR_IO_PROBE, WEIR_IO_HANDLER };

/* io->tls_rw: a TLS read that waits for the socket to be writable, or a
 * write that waits for it to be readable (tls.c, weir_tls_cross). */
#define WEIR_TLS_READ_ON_WRITE 1
#define WEIR_TLS_WRITE_ON_READ 2

/* What epoll's data pointer points at: the first member of every kind.
 * A TLS connection has its SSL here: weir_io_read and weir_io_writev go
 * through it, and everything above them sees plaintext (tls.h). */
struct weir_io {
	uint8_t kind;
	uint8_t readable;		/* edge seen, not yet drained to EAGAIN */
	uint8_t writable;
	uint8_t eof;			/* read returned 0 */
	uint8_t rdhup;			/* the peer's FIN was reported */
	uint8_t tls_rw;			/* WEIR_TLS_* */
	uint8_t tls_drained;		/* TLS: a read in this SSL call found the socket empty */
	int fd;
	struct ssl_st *ssl;		/* NULL: plaintext */
};

/* Reads from io into b's free space. Returns bytes, 0 at EOF, -1 when
 * drained (io->readable cleared), -2 on an error. */
ssize_t weir_io_read(struct weir_io *io, struct weir_buf *b);
/* writev of `total` bytes. Returns bytes written (maybe 0 when full, and
 * then io->writable is cleared), -2 on an error. */
ssize_t weir_io_writev(struct weir_io *io, const struct iovec *iov, int n_iov, size_t total);
/* Writes [p, p+len); as weir_io_writev. */
ssize_t weir_io_write(struct weir_io *io, const char *p, size_t len);
/* Ends our direction of the stream (close_notify first on TLS). */
void weir_io_shutdown_write(struct weir_io *io);
/* A socket a plugin owns (forward-auth's connections to its service):
 * the worker calls `event` for each of its epoll events. Like every object
 * of the loop, it must stay readable (io.fd -1 once closed) until the batch
 * of events ends: free it from the plugin's worker_reap (plugin.h). */
struct weir_io_handler {
	struct weir_io io;		/* WEIR_IO_HANDLER */
	void (*event)(struct weir_io_handler *h, uint32_t events);
};

/* Header spans are offsets into the input buffer of the side that parsed
 * them, so compacting the buffer moves them by one subtraction. */
struct weir_span {
	uint32_t off, len;
};

struct weir_field {
	struct weir_span name, value;
};

/* A message head being parsed (a request from a client, a response from an
 * upstream). */
struct weir_head {
	struct weir_span url;		/* request target, or reason phrase */
	struct weir_field *fields;
	uint32_t n_fields, cap_fields;
	uint32_t size;			/* bytes of the head so far */
	uint8_t in_field;		/* a name or value span is open */
	uint8_t too_many;		/* more fields than cap_fields */
};

/* The field a name piece belongs to: the current one while its name is
 * open, else a new one. Past cap_fields it marks the head too_many and
 * reuses slot 0, so parsing goes on to the end of the head (431 then). */
static inline struct weir_field *weir_head_field(struct weir_head *h)
{
	if (h->in_field != 1) {
		h->in_field = 1;
		if (h->n_fields == h->cap_fields) {
			h->too_many = 1;
			h->n_fields = 0;
		}
		h->fields[h->n_fields].name = (struct weir_span){ UINT32_MAX, 0 };
		h->fields[h->n_fields].value = (struct weir_span){ UINT32_MAX, 0 };
		h->n_fields++;
	}
	return &h->fields[h->n_fields - 1];
}

enum weir_client_state {
	WEIR_CLIENT_IDLE,		/* between requests (keepalive) */
	WEIR_CLIENT_HEAD,		/* reading a request head */
	WEIR_CLIENT_BUSY,		/* a request is in flight */
	WEIR_CLIENT_TUNNEL,		/* upgraded: bytes both ways */
	WEIR_CLIENT_CLOSING,		/* flushing a final answer, then close */
	WEIR_CLIENT_ANSWER,		/* writing a local answer's large body */
	WEIR_CLIENT_HANDSHAKE,		/* TLS handshake, before any request */
};

struct weir_client {
	struct weir_io io;
	uint8_t state;
	uint8_t keepalive;		/* may read another request after this one */
	uint8_t draining;		/* worker is stopping: close when idle */
	uint8_t listener;		/* index of the listener it came from */
	uint8_t linger;			/* close with a lingering close */
	uint8_t lingering;		/* half-closed, draining the client's bytes */
	uint8_t reading;		/* inside client_read_head */
	uint8_t again;			/* on the worker's again list */
	uint8_t fresh;			/* accepted, no request answered yet */
	struct weir_client *again_next;
	struct weir_worker *w;
	struct weir_client *prev, *next;	/* worker's list */
	struct weir_buf *in;		/* request bytes; NULL while idle */
	struct weir_buf *out;		/* our own bytes for the client: heads, errors */
	uint32_t parsed;		/* offset in `in` up to which llhttp has run */
	struct weir_req *req;
	struct weir_timer timer;
	struct sockaddr_in6 peer;	/* IPv4 as mapped */
	/* TLS (NULL on a plaintext listener): the listener's contexts, held
	 * while the connection lives, and the identity of the client's
	 * verified certificate (subject CN, else first SAN DNS name or email;
	 * NULL when none was asked for or sent). Plugins and routes read it
	 * as r->client->tls_client_id; it lives as long as the connection. */
	struct weir_tls_server *tls;
	char *tls_client_id;
	llhttp_t parser;
};

enum weir_up_state {
	WEIR_UP_CONNECTING,
	WEIR_UP_HANDSHAKE,		/* TLS towards the node */
	WEIR_UP_ACTIVE,			/* carrying a request */
	WEIR_UP_IDLE,			/* in the keepalive pool */
};

struct weir_upconn {
	struct weir_io io;
	uint8_t state;
	uint8_t reused;			/* came from the pool */
	uint8_t done;			/* its last exchange ended cleanly (TLS: close_notify) */
	uint16_t node;			/* index of the node in its upstream */
	uint32_t pool;			/* the worker's pool it returns to */
	uint32_t nreq;
	struct weir_worker *w;
	struct weir_upconn *prev, *next;	/* pool's idle list */
	struct weir_req *req;
	struct weir_buf *in;		/* response bytes */
	uint32_t parsed;
	struct weir_timer timer;
	llhttp_t parser;
};

/* ---- requests --------------------------------------------------------- */

enum weir_req_phase {
	WEIR_REQ_UPSTREAM,		/* choosing / connecting to a node */
	WEIR_REQ_SENDING,		/* request head and body to the upstream */
	WEIR_REQ_WAITING,		/* all sent, response not yet in */
	WEIR_REQ_RESPONSE,		/* response head sent on, body streaming */
};

/* A whole response of our own, prepared by a plugin and immutable while a
 * request uses it: `head` holds its header lines, "name: value\r\n" each,
 * without Content-Length or Connection (weir writes those), unless `framed`:
 * then the head carries the framing (Content-Length or Transfer-Encoding:
 * chunked) and the body is the message body as framed (a stored response,
 * plugin_cache.c). It must stay alive until the request is finished (the
 * log phase): a body larger than a buffer is written from where it lies. */
struct weir_answer {
	uint16_t status;
	bool framed;
	const char *head;
	size_t head_len;
	const char *body;
	size_t body_len;
};

#define WEIR_MAX_TRIES 17
#define WEIR_MAX_CONN_NAMES 8
#define WEIR_MAX_PLUGINS 16

/* One request/response exchange. Offsets named fwd/parsed/msg_end are into
 * client->in; ufwd/umsg_end into up->in. */
struct weir_req {
	struct weir_req *next;		/* free list */
	struct weir_client *client;
	struct weir_snapshot *snap;	/* held until the exchange ends */
	const struct weir_route *route;
	struct weir_route_match match;

	/* the request, as parsed */
	struct weir_head head;		/* spans in client->in */
	struct weir_hdr *hdrs;		/* the same fields as pointers, names lower case */
	uint32_t head_start;		/* offset of the request line */
	struct weir_span path;		/* origin-form target, query included */
	uint32_t path_len;		/* ... without the query */
	char host[256];			/* lower case, no port */
	uint8_t host_len;
	int16_t host_field;
	uint8_t method;			/* llhttp_method_t */
	uint8_t method_bit;		/* WEIR_M_* */
	uint8_t http_minor;
	uint8_t stop;			/* why a callback stopped llhttp */
	uint8_t chunked, upgrade, conn_upgrade, conn_close, conn_keepalive;
	uint8_t idempotent, head_only, has_request_id;
	uint8_t n_conn_names;
	struct weir_span conn_names[WEIR_MAX_CONN_NAMES];	/* listed in Connection */
	uint64_t content_length;
	uint64_t body_len;		/* decoded body bytes so far */
	uint32_t body_start, msg_end, fwd;
	uint8_t req_done;		/* the whole request has been parsed */
	uint8_t sent_all;		/* ... and written to the upstream */
	uint8_t body_rewound;		/* body bytes were dropped after sending */
	uint8_t expect_continue;	/* Expect: 100-continue */
	uint8_t has_length;		/* Content-Length or chunked: a body is framed */
	/* Bodies held whole for plugins (plugin.h): the request's is read into
	 * `hold` while `holding`, then sent from it (`held`, hold_sent bytes
	 * so far); the response's is read into `rhold` while `resp_holding`,
	 * then sent from it (`resp_held`). */
	uint8_t holding, held, resp_holding, resp_held;
	struct weir_body hold, rhold;
	size_t hold_sent, rhold_sent;

	/* the upstream exchange */
	uint8_t phase;
	uint8_t n_tried, stale_retries;
	uint16_t tried[WEIR_MAX_TRIES];
	int16_t node;
	uint32_t t_connect, t_send, t_read;
	struct weir_buf *up_head;	/* the rebuilt request head */
	uint32_t up_head_sent;
	struct weir_upconn *up;
	struct weir_head rhead;		/* the response head, spans in up->in */
	uint32_t ufwd, umsg_end;
	/* The request went up as HTTP/1.1, so its connection may be kept:
	 * every request but an HTTP/1.0 one without Host (or asking for an
	 * upgrade), which goes as it came, with connection: close. */
	uint8_t up_v11;
	/* A chunked response to an HTTP/1.0 client, which knows no chunks: its
	 * body is de-chunked in place in up->in, the data moved down to end at
	 * udc, and sent from ufwd to there; the client's connection closes
	 * after it, which delimits it. */
	uint8_t dechunk;
	uint32_t udc;
	uint8_t resp_seen;		/* a response head arrived */
	uint8_t interim;		/* the current response is a 1xx */
	uint8_t body_phase;		/* response body bytes are being forwarded */
	uint8_t resp_done;
	uint8_t resp_started;		/* a response byte went to the client */
	uint8_t tunnel;
	uint8_t close_after;		/* close the client once answered */
	uint8_t close_upstream;
	uint8_t cprog, uprog;		/* progress on each side in this pump */
	uint8_t logged;
	/* The authenticated consumer's name (consumers: in the config), set
	 * by the authentication plugin that admitted the request; NULL when
	 * none did. Lives as long as r->snap. Later plugins key on it. */
	const char *consumer;
	/* Set by an access plugin that admits the request late (limit-req
	 * within its burst): the upstream work starts this many ms after the
	 * access phase, on r->delay, without holding the worker: the request
	 * is suspended (below) until that timer resumes it (http.c). */
	uint32_t delay_ms;
	struct weir_timer delay;
	/* The access phase suspended (WEIR_ACCESS_PENDING, plugin.h): the
	 * index in the chain of the next plugin whose access phase runs when
	 * the request is resumed (weir_req_resume). */
	uint8_t access_next;
	/* ... and while it waits: client events only look for a hang-up
	 * (http.c, req_suspended_event), and arm no timer of the client's. */
	uint8_t suspended;
	const char *local_why;		/* set by a plugin that answers */
	const struct weir_answer *answer;	/* ... or its whole response */
	const char *abody;		/* the answer's body still to write */
	size_t abody_left;
	uint16_t status;		/* sent to the client */
	uint16_t up_status;		/* the upstream's final one (passive health) */

	uint64_t start_ms;
	uint64_t start_us;		/* the loop turn it began in (metrics) */
	uint64_t up_start_us, up_us;	/* upstream: node chosen, time to the response's end */
	uint8_t up_timed;		/* up_us is set */
	uint64_t bytes_in, bytes_out;
	char id[33];			/* X-Request-Id we generated, or "" */
	/* W3C trace context (README: Tracing): the traceparent weir sends
	 * upstream, "00-TRACEID-SPANID-FLAGS" with weir's own span id, or ""
	 * when tracing is off. trace_in: the client's traceparent was valid
	 * (its trace goes on, and its tracestate with it). */
	char traceparent[56];
	uint8_t trace_in;
	uint8_t n_traceparent;		/* traceparent fields in the request */
	int16_t traceparent_field;	/* the last one's index in hdrs */
	char addr[INET6_ADDRSTRLEN];	/* the client's address as text, once asked */
	void *plugin_ctx[WEIR_MAX_PLUGINS];
};

/* ---- workers ---------------------------------------------------------- */

/* Idle keepalive connections to one node address, in one worker. */
struct weir_pool {
	struct weir_upconn *idle;	/* most recently used first */
	uint32_t n_idle;
	/* TLS: the last session a node gave a connection of this pool, which
	 * the next new connection resumes (tls.c); NULL: none, or plaintext */
	struct ssl_session_st *tls_session;
};

struct weir_snap_ref {
	struct weir_snapshot *snap;
	uint32_t inflight;
};

struct weir_listen_fd {
	struct weir_io io;
	uint32_t index;
};

struct weir_worker {
	uint32_t id;
	int epfd;
	struct weir_io event;		/* eventfd: reload and stop */
	pthread_t thread;
	uint64_t now;			/* ms, CLOCK_MONOTONIC, per loop turn */
	uint64_t now_us;		/* the same in microseconds */
	uint64_t next_shrink;		/* when the free lists shrink next */
	uint64_t seen_version;
	_Atomic uint64_t acked_version;	/* read by the main thread */
	struct weir_snapshot *snap;	/* current */
	struct weir_snap_ref refs[8];	/* snapshots still used by requests */
	uint32_t n_refs;
	struct weir_listen_fd *listen;	/* registered listener fds */
	struct weir_listen_fd *old_listen;	/* replaced in this batch of events */
	uint32_t n_listen;
	struct weir_client *clients;	/* all client connections */
	uint32_t n_clients;
	struct weir_pool *pools;
	uint32_t n_pools;
	struct weir_buf *free_bufs;
	uint32_t n_free_bufs;
	uint32_t buf_size;
	struct weir_req *free_reqs;
	uint32_t n_free_reqs;
	struct weir_client *free_clients;
	struct weir_client *dead_clients;	/* closed in this batch of events */
	struct weir_client *again;		/* to run again before waiting */
	struct weir_upconn *dead_ups;
	_Atomic bool accept_stopped;
	struct weir_timer **heap;
	uint32_t heap_len, heap_cap;
	uint64_t rng;
	bool stopping;
	uint8_t steer;			/* enum weir_steer_state last written */
	uint64_t stop_deadline;
	struct weir_log *log;
	struct weir_health *health;	/* worker 0: the probes of its snapshot (health.c) */
	struct weir_health *dead_health;	/* probes stopped in this batch of events */
	/* Its jobs the offload pool returned, pushed by the pool's threads,
	 * and how many of its jobs the pool holds (offload.h). */
	struct weir_job *_Atomic jobs_done;
	_Atomic uint32_t jobs_out;
	/* read by the metrics thread; written by this worker alone */
	_Atomic uint32_t m_open;		/* client connections open */
	_Atomic uint64_t m_accepted;		/* client connections accepted */
};

uint64_t weir_now_ms(void);
uint64_t weir_now_us(void);

/* worker.c */
void weir_worker_reap(struct weir_worker *w);
int weir_io_add(struct weir_worker *w, struct weir_io *io, uint32_t events);
void weir_worker_snap_hold(struct weir_worker *w, struct weir_snapshot *s);
void weir_worker_snap_release(struct weir_worker *w, struct weir_snapshot *s);

/* request.c */
struct weir_req *weir_req_new(struct weir_client *c);
void weir_req_finish(struct weir_worker *w, struct weir_req *r, struct weir_client *c);
void weir_request_id(struct weir_worker *w, char out[33]);
/* Sets r->traceparent from the request's traceparent field (valid: the same
 * trace and flags, weir's span as the parent) or a new trace. */
void weir_req_trace(struct weir_worker *w, struct weir_req *r);
/* A traceparent value as the W3C Trace Context defines it (version 00, or a
 * later one read as 00; lower-case hex; ids not all zero): true, with
 * "00-TRACEID-" written at out[0..36) and the flags at out[52..55). */
bool weir_traceparent_parse(const char *v, size_t n, char out[56]);
/* The client's address as text (IPv4 without its mapping), formatted once
 * per request, for X-Forwarded-For, plugins and the access log. */
const char *weir_req_client_addr(struct weir_req *r);
/* Frees recycled request objects past `keep`; returns bytes freed. */
size_t weir_req_pool_shrink(struct weir_worker *w, uint32_t keep);

/* http.c: the client side */
void weir_client_accept(struct weir_worker *w, int fd, const struct sockaddr *sa,
			uint32_t listener);
void weir_client_event(struct weir_client *c, uint32_t events);
void weir_client_again(struct weir_client *c);
void weir_client_close(struct weir_client *c);
void weir_client_error(struct weir_client *c, int status, const char *why);
/* Answers with a short text body; `keep` lets the connection carry another
 * request, which is safe only when this one was read whole. */
void weir_client_answer(struct weir_client *c, int status, const char *why, bool keep);
/* Answers with a whole response of our own (a plugin's: mock, a cache
 * hit): the status line, a's header lines, those of the response_headers
 * phase, X-Request-Id, Content-Length (none for 1xx, 204, 304, nor for a
 * framed answer, whose head has its own), Connection as `keep` decides (as
 * for weir_client_answer), then the body unless the request is HEAD. The
 * head must fit in one buffer, else the connection is closed; a body that
 * fits in the room left is copied behind it, a larger one is written from
 * a->body with writev as the socket drains (WEIR_CLIENT_ANSWER). */
void weir_client_answer_with(struct weir_client *c, const struct weir_answer *a, bool keep);
/* Runs llhttp over unparsed input: 1 paused (head or message end), 0 needs
 * bytes, -1 error (answered). */
int weir_client_parse(struct weir_client *c);
/* Writes c->out: 1 empty, 0 socket full, -1 error. */
int weir_client_flush(struct weir_client *c);
/* The request's response is complete: log, release, read the next. */
void weir_client_req_done(struct weir_client *c);
const char *weir_status_text(int status);
/* Resumes a request whose access phase a plugin suspended
 * (WEIR_ACCESS_PENDING): status 0 runs the rest of the chain and goes on
 * as an access phase that passed does; a status answers it (r->answer or
 * r->local_why, as an access result would). A client that closed its side
 * meanwhile ends the request unanswered (499). Call it from the worker's
 * loop (an event or a timer), never from inside the access phase. */
void weir_req_resume(struct weir_req *r, int status);

/* proxy.c: the upstream side */
void weir_proxy_start(struct weir_req *r);
void weir_upconn_event(struct weir_upconn *u, uint32_t events);
void weir_proxy_pump(struct weir_req *r);
void weir_proxy_abort(struct weir_req *r);
void weir_proxy_finish(struct weir_req *r);
void weir_pools_close(struct weir_worker *w);

#endif
