/* userspace/logsink.c - see logsink.h.
 *
 * Each sink is a thread of its own with plain, bounded I/O: sockets are
 * non-blocking and every wait is a poll() with a deadline and the sink's
 * stop eventfd beside it, so a reload that removes a sink never waits for a
 * collector. The buffer is one block of buffer_size bytes: the shipper
 * (accesslog.c) appends at its end under the sink's lock, the thread sends
 * the batch at its front without the lock (nothing moves it meanwhile) and,
 * once the batch is done with, shifts the rest to the front under the lock.
 *
 * What a batch is, per type:
 *   file    everything buffered, one write().
 *   syslog  everything buffered; each line becomes one RFC 5424 message
 *           "<PRI>1 TIMESTAMP HOST TAG PID access - LINE" stamped when the
 *           batch is sent; UDP and unix sockets send a datagram per message
 *           (sendmmsg), TCP frames each as "LEN SP MSG" (RFC 6587 octet
 *           counting). UDP and unix datagrams are not retried: a failed
 *           send drops the batch (counted).
 *   http    up to batch_size lines, as soon as there are that many or the
 *           oldest has waited flush_interval: one POST whose body is the
 *           lines as they are (application/x-ndjson), on a keepalive
 *           connection. 2xx delivers; 408, 429, 5xx and any I/O failure or
 *           timeout retry the batch; other statuses refuse it for good
 *           (dropped, counted). An https:// collector gets the same over
 *           TLS: its client context and handshake are tls.c's, as an
 *           upstream's are, and its reads and writes go through
 *           weir_io_read/weir_io_writev (tls_io.c), as the workers' do; a
 *           handshake that fails (a certificate that does not verify) is a
 *           failed attempt, retried like a refused connect.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <llhttp.h>

#include "core.h"
#include "logsink.h"
#include "tls.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define SYSLOG_TIMEOUT_MS 5000		/* connect and send, syslog over TCP */
#define HDR_MAX 192			/* an RFC 5424 header, without the line */
#define MMSG 64
#define REPLY_BUF 4096			/* a collector's reply, read in pieces this large */

enum { SENT, REFUSED, FAILED };		/* what became of a batch */

struct weir_logsink {
	char *key;			/* every setting, to compare at reload */
	enum weir_log_sink_type type;
	enum weir_syslog_proto proto;
	char *name, *path;
	struct weir_addr addr;
	char unix_path[108];
	char hdr_pre[16], hdr_post[HDR_MAX - 48];	/* around the timestamp */
	char *http_head;		/* the POST head up to Content-Length's value */
	uint32_t batch_size, flush_ms, timeout_ms;

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stopfd;			/* eventfd: interrupts I/O waits */
	bool stop, drain, reopen;

	/* guarded by lock, but for the batch at the front, which the thread
	 * reads unlocked while it sends (pushes only append behind it) */
	char *buf;
	size_t len, cap;
	uint32_t lines;
	uint64_t first_ms;		/* when the oldest buffered line came */

	/* the thread's own: the socket or file (io.fd), with its TLS (io.ssl)
	 * on an https collector */
	struct weir_io io;
	struct ssl_ctx_st *tls_ctx;	/* https: the client context; else NULL */
	struct weir_upstream_tls_conf tls;	/* https: verify and sni */
	const char *tls_why;		/* the last handshake failure reported */
	struct weir_buf *in;		/* http: the reply, read through io */
	char *scratch;
	size_t scratch_cap;

	/* read by the metrics thread */
	_Atomic uint64_t m_lines, m_dropped, m_batches, m_errors;
};

#define ADD(x, v) atomic_fetch_add_explicit(&(x), (v), memory_order_relaxed)
#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* ---- waiting and plain I/O ----------------------------------------------- */

/* fd ready for `events` (fd -1: only the stop): 1; deadline passed: 0;
 * stopped or poll failed: -1. */
static int io_wait(struct weir_logsink *s, int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = weir_now_ms();
		struct pollfd pf[2] = { { fd, events, 0 }, { s->stopfd, POLLIN, 0 } };
		int n;

		if (now >= deadline)
			return 0;
		n = poll(pf, 2, (int)(deadline - now));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || pf[1].revents)
			return -1;
		if (n > 0)
			return 1;
	}
}

static int net_connect(struct weir_logsink *s, int type, const struct sockaddr *sa,
		       socklen_t len, uint64_t deadline)
{
	int fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e = 0;
	socklen_t el = sizeof(e);

	if (fd < 0)
		return -1;
	if (connect(fd, sa, len) == 0)
		return fd;
	if (errno != EINPROGRESS || io_wait(s, fd, POLLOUT, deadline) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) || e) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits until s->io can go on with a read (`reading`) or a write: TLS may
 * need the other direction first (tls_io.c's tls_rw). As io_wait. */
static int io_ready(struct weir_logsink *s, bool reading, uint64_t deadline)
{
	bool in = reading;
	int rc;

	if (s->io.tls_rw & (reading ? WEIR_TLS_READ_ON_WRITE : WEIR_TLS_WRITE_ON_READ))
		in = !reading;
	rc = io_wait(s, s->io.fd, in ? POLLIN : POLLOUT, deadline);
	if (rc == 1 && s->io.ssl)
		weir_tls_cross(&s->io, in, !in);
	return rc;
}

/* Writes all of iov (which it consumes) to s->io, in plaintext or TLS. 0,
 * or -1. */
static int send_all(struct weir_logsink *s, struct iovec *iov, int n, uint64_t deadline)
{
	while (n) {
		size_t total = 0;
		for (int i = 0; i < n; i++)
			total += iov[i].iov_len;
		ssize_t k = weir_io_writev(&s->io, iov, n, total);
		if (k < 0)
			return -1;
		if (k == 0) {
			if (io_ready(s, false, deadline) != 1)
				return -1;
			continue;
		}
		while (n && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return 0;
}

static void net_close(struct weir_logsink *s)
{
	weir_tls_close(&s->io, true);	/* close_notify, best effort */
	if (s->io.fd >= 0)
		close(s->io.fd);
	s->io.fd = -1;
}

/* A kept connection the peer has closed (or written to: no collector
 * speaks first) would swallow the next batch. Over TLS, records without
 * data (a TLS 1.3 session ticket) are no reason. */
static void drop_stale(struct weir_logsink *s)
{
	struct pollfd pf = { s->io.fd, POLLIN | POLLRDHUP, 0 };

	if (s->io.fd < 0 || poll(&pf, 1, 0) == 0)
		return;
	if (s->io.ssl && !(pf.revents & (POLLRDHUP | POLLHUP | POLLERR)) &&
	    weir_tls_idle_ok(&s->io))
		return;
	net_close(s);
}

static char *scratch(struct weir_logsink *s, size_t need)
{
	if (need > s->scratch_cap) {
		char *p = realloc(s->scratch, need);
		if (!p)
			return NULL;
		s->scratch = p;
		s->scratch_cap = need;
	}
	return s->scratch;
}

/* ---- file ------------------------------------------------------------------ */

static int file_open(const char *path, char *err, size_t errlen)
{
	int fd;

	if (!strcmp(path, "-"))
		return fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0 && err)
		snprintf(err, errlen, "access_log: %s: %s", path, strerror(errno));
	return fd;
}

static int file_send(struct weir_logsink *s, const char *p, size_t n, uint32_t lines)
{
	while (n) {
		ssize_t k = write(s->io.fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return REFUSED;		/* a disk error: retrying would not help */
		p += k;
		n -= (size_t)k;
	}
	return SENT;
}

/* ---- syslog ---------------------------------------------------------------- */

/* The header of every message of a batch, stamped now; returns its length. */
static size_t syslog_header(const struct weir_logsink *s, char *o)
{
	struct timespec ts;
	struct tm tm;
	char t[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	int n = snprintf(o, HDR_MAX, "%s%s.%03ldZ%s", s->hdr_pre, t, ts.tv_nsec / 1000000,
			 s->hdr_post);
	return n < HDR_MAX ? (size_t)n : HDR_MAX - 1;
}

static int syslog_connect(struct weir_logsink *s, uint64_t deadline)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	if (s->io.fd >= 0)
		return 0;
	if (s->proto == WEIR_SYSLOG_UNIX) {
		memcpy(un.sun_path, s->unix_path, sizeof(un.sun_path));
		s->io.fd = net_connect(s, SOCK_DGRAM, (struct sockaddr *)&un, sizeof(un), deadline);
	} else {
		s->io.fd = net_connect(s, s->proto == WEIR_SYSLOG_TCP ? SOCK_STREAM : SOCK_DGRAM,
				    (struct sockaddr *)&s->addr.sa, s->addr.len, deadline);
	}
	return s->io.fd >= 0 ? 0 : -1;
}

/* One datagram per line, 64 to a sendmmsg. */
static int syslog_send_dgram(struct weir_logsink *s, const char *p, size_t n, uint64_t deadline)
{
	char hdr[HDR_MAX];
	size_t hl = syslog_header(s, hdr);
	struct mmsghdr mm[MMSG];
	struct iovec iov[MMSG][2];
	const char *end = p + n;

	while (p < end) {
		int k = 0;
		while (k < MMSG && p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
			iov[k][0] = (struct iovec){ hdr, hl };
			iov[k][1] = (struct iovec){ (char *)p, ll };
			mm[k] = (struct mmsghdr){ .msg_hdr = { .msg_iov = iov[k], .msg_iovlen = 2 } };
			p += ll + 1;
			k++;
		}
		for (int done = 0; done < k;) {
			int r = sendmmsg(s->io.fd, mm + done, (unsigned)(k - done), 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno == EAGAIN && io_wait(s, s->io.fd, POLLOUT, deadline) == 1)
				continue;
			if (r <= 0)
				return -1;
			done += r;
		}
	}
	return 0;
}

/* "LEN SP MSG" per line (RFC 6587 octet counting), the batch in one write. */
static int syslog_send_tcp(struct weir_logsink *s, const char *p, size_t n, uint32_t lines,
			   uint64_t deadline)
{
	char hdr[HDR_MAX], *o = scratch(s, n + (size_t)lines * (HDR_MAX + 12));
	size_t hl = syslog_header(s, hdr), k = 0;
	const char *end = p + n;
	struct iovec iov;

	if (!o)
		return -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		k += (size_t)sprintf(o + k, "%zu ", hl + ll);
		memcpy(o + k, hdr, hl);
		memcpy(o + k + hl, p, ll);
		k += hl + ll;
		p += ll + 1;
	}
	iov = (struct iovec){ o, k };
	return send_all(s, &iov, 1, deadline);
}

static int syslog_send(struct weir_logsink *s, const char *p, size_t n, uint32_t lines)
{
	uint64_t deadline = weir_now_ms() + SYSLOG_TIMEOUT_MS;
	int rc;

	if (s->proto == WEIR_SYSLOG_TCP)
		drop_stale(s);
	if (syslog_connect(s, deadline) < 0)
		return s->proto == WEIR_SYSLOG_TCP ? FAILED : REFUSED;
	rc = s->proto == WEIR_SYSLOG_TCP ? syslog_send_tcp(s, p, n, lines, deadline)
					 : syslog_send_dgram(s, p, n, deadline);
	if (rc == 0)
		return SENT;
	net_close(s);
	return s->proto == WEIR_SYSLOG_TCP ? FAILED : REFUSED;
}

/* ---- http ------------------------------------------------------------------ */

struct http_reply {
	bool done;
};

static int on_reply_complete(llhttp_t *p)
{
	((struct http_reply *)p->data)->done = true;
	return HPE_PAUSED;
}

/* The TLS handshake with the collector, within the deadline. A failure
 * (a certificate that does not verify) is said once on stderr, not at
 * every retry; it is a failed attempt like a refused connect. 0, or -1. */
static int tls_handshake(struct weir_logsink *s, uint64_t deadline)
{
	const char *why = NULL;
	int rc;

	if (weir_tls_client_start(&s->io, s->tls_ctx, &s->tls, &s->addr) < 0)
		return -1;
	for (;;) {
		s->io.readable = s->io.writable = 1;
		rc = weir_tls_handshake(&s->io, &why);
		if (rc == 1) {
			s->tls_why = NULL;
			return 0;
		}
		if (rc < 0)
			break;
		rc = io_wait(s, s->io.fd, s->io.readable ? POLLOUT : POLLIN, deadline);
		if (rc < 0)
			return -1;	/* stopped: nothing to say */
		if (rc == 0) {
			why = "handshake timed out";
			break;
		}
	}
	if (why != s->tls_why)
		fprintf(stderr, "weir: access_log: %s: TLS handshake failed: %s (the batch is "
			"kept and retried)\n", s->name, why);
	s->tls_why = why;
	return -1;
}

/* One POST of p[0..n) and its reply on the kept connection. SENT, REFUSED
 * (a status that retrying will not change) or FAILED; *replied: a status
 * came back. */
static int http_post(struct weir_logsink *s, const char *p, size_t n, uint64_t deadline,
		     bool *replied)
{
	static const llhttp_settings_t settings = { .on_message_complete = on_reply_complete };
	struct http_reply rep = { false };
	struct weir_buf *in = s->in;
	char cl[32];
	struct iovec iov[3] = { { s->http_head, strlen(s->http_head) }, { cl, 0 },
				{ (char *)p, n } };
	llhttp_t parser;

	if (s->io.fd < 0) {
		s->io.fd = net_connect(s, SOCK_STREAM, (struct sockaddr *)&s->addr.sa, s->addr.len,
				       deadline);
		if (s->io.fd < 0 || (s->tls_ctx && tls_handshake(s, deadline) < 0))
			return FAILED;
	}
	iov[1].iov_len = (size_t)snprintf(cl, sizeof(cl), "%zu\r\n\r\n", n);
	if (send_all(s, iov, 3, deadline) < 0)
		return FAILED;
	llhttp_init(&parser, HTTP_RESPONSE, &settings);
	parser.data = &rep;
	while (!rep.done) {
		in->start = in->end = 0;
		ssize_t k = weir_io_read(&s->io, in);
		if (k == -1) {
			if (io_ready(s, true, deadline) != 1)
				return FAILED;
			continue;
		}
		if (k <= 0)
			return FAILED;
		llhttp_errno_t e = llhttp_execute(&parser, in->data, (size_t)k);
		if (e != HPE_OK && e != HPE_PAUSED)
			return FAILED;
	}
	*replied = true;
	if (!llhttp_should_keep_alive(&parser))
		net_close(s);
	unsigned st = parser.status_code;
	if (st >= 200 && st < 300)
		return SENT;
	return st == 408 || st == 429 || st >= 500 ? FAILED : REFUSED;
}

static int http_send(struct weir_logsink *s, const char *p, size_t n)
{
	uint64_t deadline = weir_now_ms() + s->timeout_ms;
	int rc;

	bool replied = false, reused;

	drop_stale(s);
	reused = s->io.fd >= 0;
	rc = http_post(s, p, n, deadline, &replied);
	if (rc == FAILED) {
		net_close(s);
		/* A kept connection the collector closed just now (no answer on
		 * it): once more on a new one before counting it a failure. */
		if (reused && !replied && weir_now_ms() < deadline)
			rc = http_post(s, p, n, deadline, &replied);
		if (rc == FAILED)
			net_close(s);
	}
	return rc;
}

/* ---- the thread ------------------------------------------------------------ */

static void add_ms(struct timespec *t, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += (time_t)(ms / 1000);
	t->tv_nsec += (long)(ms % 1000) * 1000000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
}

/* The next batch, under the lock: its length (0: nothing due yet) and
 * lines; *wait_ms how long until one is due (http's flush_interval). */
static size_t next_batch(struct weir_logsink *s, uint32_t *lines, uint64_t *wait_ms)
{
	*wait_ms = UINT64_MAX;
	if (!s->len)
		return 0;
	if (s->type != WEIR_SINK_HTTP) {
		*lines = s->lines;
		return s->len;
	}
	uint64_t age = weir_now_ms() - s->first_ms;
	if (s->lines < s->batch_size && age < s->flush_ms && !s->drain) {
		*wait_ms = s->flush_ms - age;
		return 0;
	}
	const char *p = s->buf, *end = s->buf + s->len;
	uint32_t k = 0;
	while (k < s->batch_size && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		p = nl ? nl + 1 : end;
		k++;
	}
	*lines = k;
	return (size_t)(p - s->buf);
}

static int deliver(struct weir_logsink *s, const char *p, size_t n, uint32_t lines, bool reopen)
{
	switch (s->type) {
	case WEIR_SINK_FILE:
		if (reopen) {
			int fd = file_open(s->path, NULL, 0);
			if (fd >= 0) {
				close(s->io.fd);
				s->io.fd = fd;
			}
		}
		return n ? file_send(s, p, n, lines) : SENT;
	case WEIR_SINK_SYSLOG:
		return syslog_send(s, p, n, lines);
	case WEIR_SINK_HTTP:
		return http_send(s, p, n);
	}
	return REFUSED;
}

static void *sink_main(void *arg)
{
	struct weir_logsink *s = arg;
	uint64_t backoff = 0;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		uint32_t lines = 0;
		uint64_t wait_ms;
		size_t n = next_batch(s, &lines, &wait_ms);

		if (s->stop || (s->drain && !s->len))
			break;
		if (!n && !s->reopen) {
			struct timespec t;
			add_ms(&t, wait_ms == UINT64_MAX ? 3600000 : wait_ms);
			pthread_cond_timedwait(&s->cond, &s->lock, &t);
			continue;
		}
		bool drain = s->drain, reopen = s->reopen;
		s->reopen = false;
		pthread_mutex_unlock(&s->lock);
		int rc = deliver(s, s->buf, n, lines, reopen);
		pthread_mutex_lock(&s->lock);
		if (rc == FAILED && !drain && !s->stop) {
			struct timespec t;
			ADD(s->m_errors, 1);
			backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
			if (backoff > BACKOFF_MAX_MS)
				backoff = BACKOFF_MAX_MS;
			add_ms(&t, backoff);
			while (!s->stop && !s->drain &&
			       pthread_cond_timedwait(&s->cond, &s->lock, &t) != ETIMEDOUT)
				;
			continue;
		}
		backoff = 0;
		if (rc == FAILED)
			break;			/* draining: no second chance */
		if (rc == SENT && n) {
			ADD(s->m_lines, lines);
			ADD(s->m_batches, 1);
		} else if (n) {
			ADD(s->m_errors, 1);
			ADD(s->m_dropped, lines);
		}
		memmove(s->buf, s->buf + n, s->len - n);
		s->len -= n;
		s->lines -= lines;
	}
	ADD(s->m_dropped, s->lines);
	s->len = 0;
	s->lines = 0;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- life, and the shipper's side ----------------------------------------------- */

static char *sink_key(const struct weir_log_sink_conf *c)
{
	char *k = NULL;
	size_t kl = 0;
	FILE *f = open_memstream(&k, &kl);

	if (!f)
		return NULL;
	fprintf(f, "%d|%u|%s|%d|%d|%s|%u|%u|%u", c->type, c->buffer_size, c->name, c->protocol,
		c->facility, c->tag ? c->tag : "", c->batch_size, c->flush_interval_ms,
		c->timeout_ms);
	for (size_t i = 0; i < c->n_headers; i++)
		fprintf(f, "|%s: %s", c->headers[i].name, c->headers[i].value);
	if (c->tls.enabled)
		fprintf(f, "|tls %d %s %s", c->tls.verify, c->tls.ca ? c->tls.ca : "",
			c->tls.sni ? c->tls.sni : "");
	if (fclose(f)) {
		free(k);
		return NULL;
	}
	return k;
}

static char *http_head(const struct weir_log_sink_conf *c)
{
	char *h = NULL;
	size_t hl = 0;
	FILE *f = open_memstream(&h, &hl);

	if (!f)
		return NULL;
	fprintf(f, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weir\r\n"
		"Content-Type: application/x-ndjson\r\n", c->url_path, c->url_host);
	for (size_t i = 0; i < c->n_headers; i++)
		fprintf(f, "%s: %s\r\n", c->headers[i].name, c->headers[i].value);
	fputs("Content-Length: ", f);
	if (fclose(f)) {
		free(h);
		return NULL;
	}
	return h;
}

static void sink_free(struct weir_logsink *s)
{
	net_close(s);
	weir_tls_client_free(s->tls_ctx);
	free(s->tls.sni);
	free(s->in);
	if (s->stopfd >= 0)
		close(s->stopfd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s->key);
	free(s->name);
	free(s->path);
	free(s->http_head);
	free(s->buf);
	free(s->scratch);
	free(s);
}

struct weir_logsink *weir_logsink_new(const struct weir_log_sink_conf *c, const char *file,
				      size_t index, char *err, size_t errlen)
{
	struct weir_logsink *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	char host[65] = "-";

	if (!s)
		goto oom;
	s->io.fd = -1;
	s->stopfd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->type = c->type;
	s->proto = c->protocol;
	s->addr = c->addr;
	s->batch_size = c->batch_size;
	s->flush_ms = c->flush_interval_ms;
	s->timeout_ms = c->timeout_ms;
	s->cap = c->buffer_size;
	if (!(s->key = sink_key(c)) || !(s->name = strdup(c->name)) ||
	    !(s->buf = malloc(s->cap)) || (s->stopfd = eventfd(0, EFD_CLOEXEC)) < 0)
		goto oom;
	switch (c->type) {
	case WEIR_SINK_FILE:
		if (!(s->path = strdup(c->path)))
			goto oom;
		if ((s->io.fd = file_open(c->path, err, errlen)) < 0) {
			sink_free(s);
			return NULL;
		}
		break;
	case WEIR_SINK_SYSLOG:
		if (c->protocol == WEIR_SYSLOG_UNIX)
			snprintf(s->unix_path, sizeof(s->unix_path), "%s", c->address);
		gethostname(host, sizeof(host) - 1);
		host[strcspn(host, " ")] = 0;
		snprintf(s->hdr_pre, sizeof(s->hdr_pre), "<%u>1 ", (unsigned)(c->facility & 31) * 8 + 6);	/* info */
		snprintf(s->hdr_post, sizeof(s->hdr_post), " %s %s %d access - ", host[0] ? host : "-",
			 c->tag, (int)getpid());
		break;
	case WEIR_SINK_HTTP:
		if (!(s->http_head = http_head(c)) ||
		    !(s->in = malloc(sizeof(*s->in) + REPLY_BUF)))
			goto oom;
		s->in->cap = REPLY_BUF;
		if (!c->tls.enabled)
			break;
		s->tls.enabled = true;
		s->tls.verify = c->tls.verify;
		if (c->tls.sni && !(s->tls.sni = strdup(c->tls.sni)))
			goto oom;
		char why[300];
		if (!(s->tls_ctx = weir_tls_client_ctx(&c->tls, why, sizeof(why)))) {
			snprintf(err, errlen, "%s:%u: access_log.sinks[%zu].tls.ca: %s",
				 file ? file : "config", c->tls.line ? c->tls.line : c->line, index,
				 why);
			sink_free(s);
			return NULL;
		}
		break;
	}
	if (pthread_create(&s->thread, NULL, sink_main, s)) {
		snprintf(err, errlen, "access_log: %s: cannot start its thread", c->name);
		sink_free(s);
		return NULL;
	}
	pthread_setname_np(s->thread, "weir-logsink");
	return s;
oom:
	snprintf(err, errlen, "access_log: %s: out of memory", c->name);
	if (s)
		sink_free(s);
	return NULL;
}

bool weir_logsink_same(const struct weir_logsink *s, const struct weir_log_sink_conf *c)
{
	char *k = sink_key(c);
	bool same = k && !strcmp(k, s->key);

	free(k);
	return same;
}

void weir_logsink_push(struct weir_logsink *s, const char *data, size_t len, uint32_t lines)
{
	uint32_t dropped = 0;

	pthread_mutex_lock(&s->lock);
	if (!s->len)
		s->first_ms = weir_now_ms();
	if (s->len + len <= s->cap) {
		memcpy(s->buf + s->len, data, len);
		s->len += len;
		s->lines += lines;
	} else {
		/* Whole lines while they fit, in order; the rest are lost. */
		const char *p = data, *end = data + len;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t ll = (nl ? (size_t)(nl - p) + 1 : (size_t)(end - p));
			if (s->len + ll > s->cap)
				break;
			memcpy(s->buf + s->len, p, ll);
			s->len += ll;
			s->lines++;
			p += ll;
			lines--;
		}
		dropped = lines;
	}
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (dropped)
		ADD(s->m_dropped, dropped);
}

void weir_logsink_reopen(struct weir_logsink *s)
{
	pthread_mutex_lock(&s->lock);
	s->reopen = s->type == WEIR_SINK_FILE && strcmp(s->path, "-");
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void weir_logsink_close_all(struct weir_logsink **s, size_t n, bool drain)
{
	uint64_t one = 1;

	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&s[i]->lock);
		if (drain) {
			s[i]->drain = true;
		} else {
			s[i]->stop = true;
			if (write(s[i]->stopfd, &one, sizeof(one)) < 0)
				(void)0;	/* an eventfd write only fails on overflow */
		}
		pthread_cond_signal(&s[i]->cond);
		pthread_mutex_unlock(&s[i]->lock);
	}
	for (size_t i = 0; i < n; i++) {
		pthread_join(s[i]->thread, NULL);
		sink_free(s[i]);
	}
}

void weir_logsink_close(struct weir_logsink *s, bool drain)
{
	weir_logsink_close_all(&s, 1, drain);
}

void weir_logsink_stats(struct weir_logsink *s, struct weir_log_stats *st)
{
	static const char *const types[] = { "file", "syslog", "http" };

	st->name = s->name;
	st->type = types[s->type];
	st->lines = LOAD(s->m_lines);
	st->dropped = LOAD(s->m_dropped);
	st->batches = LOAD(s->m_batches);
	st->errors = LOAD(s->m_errors);
	pthread_mutex_lock(&s->lock);
	st->buffered = s->len;
	pthread_mutex_unlock(&s->lock);
}
