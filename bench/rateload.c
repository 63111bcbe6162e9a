/* rateload.c - HTTP/1.1 requests at a fixed rate, and their latency.
 *
 * wrk keeps every connection busy: the load is whatever the server can take,
 * and its p99 is the length of the queue the server builds. That says little
 * about what a user sees at the rates a gateway is run at, and a small
 * disturbance (another thread taking the CPU for 100 us) drowns in the
 * queue's own noise. This generator is open-loop, as wrk2 is: request i is
 * due at start + i / RATE whatever happened before it, and its latency is
 * counted from when it was due, not from when it could be sent, so a stall
 * of the server is charged to every request it delayed (no coordinated
 * omission).
 *
 *   rateload --addr IP:PORT [--path PATH] [--host HOST] [--header 'K: V']...
 *            [--rate N] [--conns N] [--duration SEC] [--warmup SEC]
 *            [--hist FILE]
 *
 * Each of --conns keepalive connections carries one request at a time; a
 * request due while every connection is busy waits for the first free one
 * (and its wait is part of its latency). Responses are read with llhttp. The
 * first --warmup seconds are sent but not counted. It prints one JSON object:
 * responses in all (the warm-up's too) and requests counted, errors (a
 * connection closed or refused, a status other than 2xx), requests
 * unanswered or never sent by the end, the rate achieved, and latency
 * percentiles in microseconds
 * (exact to the microsecond up to 1 s, above that the maximum is kept).
 * With --hist it also writes the histogram, a line "US COUNT" per non-empty
 * microsecond and "over COUNT MAX_US" last, so that the runs of a benchmark
 * can be pooled into one distribution.
 * Bounded: it stops issuing after --duration and waits at most 2 s more.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_US 1000000u	/* one bucket per microsecond up to 1 s */

struct conn {
	int fd;
	bool busy;
	uint64_t due;		/* when the request in flight was due, ns */
	llhttp_t parser;
	llhttp_settings_t settings;
	bool done;		/* the response in flight is complete */
};

static struct {
	struct sockaddr_in addr;
	char req[2048];
	size_t req_len;
	uint32_t *hist;
	uint64_t over, max_us, counted, errors;
	uint64_t answered;	/* every response, the warm-up's too */
	uint64_t count_from;	/* ns: responses to requests due before are not counted */
} L;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int on_complete(llhttp_t *p)
{
	struct conn *c = p->data;

	c->done = true;
	if ((p->status_code < 200 || p->status_code > 299) && c->due >= L.count_from)
		L.errors++;
	return HPE_PAUSED;	/* one response per request: stop at its end */
}

static int conn_open(struct conn *c, int ep)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&L.addr, sizeof(L.addr)) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		perror("rateload: connect");
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	llhttp_settings_init(&c->settings);
	c->settings.on_message_complete = on_complete;
	llhttp_init(&c->parser, HTTP_RESPONSE, &c->settings);
	c->parser.data = c;
	c->busy = false;
	return 0;
}

static void record(uint64_t due, uint64_t at)
{
	uint64_t us = at > due ? (at - due) / 1000u : 0;

	L.answered++;
	if (due < L.count_from)
		return;
	L.counted++;
	if (us > L.max_us)
		L.max_us = us;
	if (us < HIST_US)
		L.hist[us]++;
	else
		L.over++;
}

/* The response to c's request is complete, or c failed: free c for the next
 * request (reopening it if it failed). */
static void conn_finish(struct conn *c, int ep, bool failed)
{
	if (failed) {
		if (c->busy && c->due >= L.count_from)
			L.errors++;
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		conn_open(c, ep);
	} else {
		record(c->due, now_ns());
		llhttp_resume(&c->parser);
	}
	c->busy = false;
	c->done = false;
}

static void conn_read(struct conn *c, int ep)
{
	char buf[16384];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0 || !c->busy) {
			conn_finish(c, ep, true);
			return;
		}
		llhttp_errno_t e = llhttp_execute(&c->parser, buf, (size_t)n);
		if (e != HPE_OK && e != HPE_PAUSED) {
			fprintf(stderr, "rateload: bad response: %s\n", llhttp_get_error_reason(&c->parser));
			conn_finish(c, ep, true);
			return;
		}
		if (c->done) {
			/* anything after the response is not ours: the server
			 * answered what was not asked */
			if (llhttp_get_error_pos(&c->parser) &&
			    llhttp_get_error_pos(&c->parser) != buf + n) {
				conn_finish(c, ep, true);
				return;
			}
			conn_finish(c, ep, false);
			return;
		}
	}
}

static int conn_send(struct conn *c, int ep, uint64_t due)
{
	c->busy = true;
	c->due = due;
	c->done = false;
	if (send(c->fd, L.req, L.req_len, MSG_NOSIGNAL) != (ssize_t)L.req_len) {
		conn_finish(c, ep, true);
		return -1;
	}
	return 0;
}

static uint64_t pct(double q)
{
	uint64_t want = (uint64_t)(q * (double)L.counted + 0.5), seen = 0;

	if (!want)
		want = 1;
	for (uint32_t us = 0; us < HIST_US; us++) {
		seen += L.hist[us];
		if (seen >= want)
			return us;
	}
	return L.max_us;
}

static int write_hist(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	for (uint32_t us = 0; us < HIST_US; us++)
		if (L.hist[us])
			fprintf(f, "%u %u\n", us, L.hist[us]);
	fprintf(f, "over %llu %llu\n", (unsigned long long)L.over, (unsigned long long)L.max_us);
	return fclose(f);
}

static void usage(void)
{
	fprintf(stderr, "usage: rateload --addr IP:PORT [--path PATH] [--host HOST] [--header 'K: V']...\n"
			"                [--rate N] [--conns N] [--duration SEC] [--warmup SEC] [--hist FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", required_argument, NULL, 'a' }, { "path", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' }, { "rate", required_argument, NULL, 'r' },
		{ "conns", required_argument, NULL, 'c' }, { "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' }, { "hist", required_argument, NULL, 'h' },
		{ "header", required_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	const char *addr = NULL, *path = "/", *host = NULL, *hist = NULL;
	double rate = 10000, duration = 10, warmup = 1;
	int n_conns = 32, o;
	char headers[1024] = "";
	size_t headers_len = 0;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'a': addr = optarg; break;
		case 'p': path = optarg; break;
		case 'H': host = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'c': n_conns = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 'h': hist = optarg; break;
		case 'x': {
			int k = snprintf(headers + headers_len, sizeof(headers) - headers_len, "%s\r\n",
					 optarg);
			if (k < 0 || (size_t)k >= sizeof(headers) - headers_len || strpbrk(optarg, "\r\n"))
				usage();
			headers_len += (size_t)k;
			break;
		}
		default: usage();
		}
	}
	char ip[64];
	const char *colon = addr ? strrchr(addr, ':') : NULL;
	if (!colon || (size_t)(colon - addr) >= sizeof(ip) || rate <= 0 || rate > 1e7 ||
	    n_conns < 1 || n_conns > 4096 || duration <= 0 || duration > 600 || warmup < 0 ||
	    warmup > 60)
		usage();
	memcpy(ip, addr, (size_t)(colon - addr));
	ip[colon - addr] = '\0';
	L.addr.sin_family = AF_INET;
	L.addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, ip, &L.addr.sin_addr) != 1)
		usage();
	int len = snprintf(L.req, sizeof(L.req), "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path,
			   host ? host : addr, headers);
	if (len < 0 || (size_t)len >= sizeof(L.req))
		usage();
	L.req_len = (size_t)len;
	L.hist = calloc(HIST_US, sizeof(*L.hist));
	struct conn *conns = calloc((size_t)n_conns, sizeof(*conns));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!L.hist || !conns || ep < 0)
		return perror("rateload"), 1;
	for (int i = 0; i < n_conns; i++)
		if (conn_open(&conns[i], ep) < 0)
			return 1;

	const uint64_t start = now_ns() + 1000000;
	const double gap = 1e9 / rate;
	const uint64_t total = (uint64_t)((warmup + duration) * rate);
	L.count_from = start + (uint64_t)(warmup * 1e9);
	uint64_t next = 0;	/* the next request to send */
	uint64_t deadline = start + (uint64_t)((warmup + duration) * 1e9) + 2000000000u;
	int free_hint = 0;

	for (;;) {
		uint64_t t = now_ns();
		/* send whatever is due on free connections */
		while (next < total) {
			uint64_t due = start + (uint64_t)((double)next * gap);
			if (due > t)
				break;
			struct conn *c = NULL;
			for (int k = 0; k < n_conns; k++) {
				struct conn *x = &conns[(free_hint + k) % n_conns];
				if (!x->busy && x->fd >= 0) {
					c = x;
					free_hint = (int)(x - conns) + 1;
					break;
				}
			}
			if (!c)
				break;	/* all busy: it waits, and the wait counts */
			conn_send(c, ep, due);
			next++;
		}
		int n_busy = 0, n_free = 0;
		for (int k = 0; k < n_conns; k++) {
			n_busy += conns[k].busy;
			n_free += !conns[k].busy && conns[k].fd >= 0;
		}
		if ((next >= total && !n_busy) || t >= deadline)
			break;
		/* sleep until the next request is due, or, when no connection
		 * is free, until a response comes (never spinning on an
		 * overdue request: that would take a core from the server
		 * under test just as it stalls) */
		uint64_t wait = deadline - t;
		if (next < total && n_free) {
			uint64_t due = start + (uint64_t)((double)next * gap);
			wait = due > t ? due - t : 0;
		}
		struct timespec to = { (time_t)(wait / 1000000000u), (long)(wait % 1000000000u) };
		struct epoll_event evs[64];
		int n = epoll_pwait2(ep, evs, 64, &to, NULL);
		for (int i = 0; i < n; i++)
			conn_read(evs[i].data.ptr, ep);
	}
	uint64_t lost = total - next;	/* never sent: a stall past the deadline */
	for (int k = 0; k < n_conns; k++)
		if (conns[k].busy && conns[k].due >= L.count_from)
			lost++;
	printf("{\"rate\": %.0f, \"duration_s\": %.1f, \"conns\": %d, \"answered\": %llu, \"counted\": %llu, "
	       "\"errors\": %llu, \"unanswered\": %llu, \"achieved_rate\": %.0f, "
	       "\"p50_us\": %llu, \"p90_us\": %llu, \"p99_us\": %llu, \"p999_us\": %llu, "
	       "\"max_us\": %llu, \"over_1s\": %llu}\n",
	       rate, duration, n_conns, (unsigned long long)L.answered, (unsigned long long)L.counted,
	       (unsigned long long)L.errors, (unsigned long long)lost,
	       (double)L.counted / duration, (unsigned long long)pct(0.5),
	       (unsigned long long)pct(0.9), (unsigned long long)pct(0.99),
	       (unsigned long long)pct(0.999), (unsigned long long)L.max_us,
	       (unsigned long long)L.over);
	if (hist && write_hist(hist) < 0) {
		perror(hist);
		return 1;
	}
	return L.errors || lost ? 1 : 0;
}
