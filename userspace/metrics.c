/* userspace/metrics.c - the counters of the request path and the thread that
 * serves them in Prometheus text format (exposition format 0.0.4).
 *
 * Three parts: the registry of route counters (stable per route id, one
 * block per worker), the recording done by each worker when an exchange ends,
 * and a small thread with its own listening socket that answers
 * `GET <path>` with the sums and closes the connection. The thread keeps the
 * workers' loops untouched and a slow scraper away from requests; the price
 * is a thread that mostly sleeps, and one scrape at a time (each is a few
 * milliseconds; a scraper that stalls is cut off after two seconds).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <llhttp.h>

#include "metrics.h"
#include "cache.h"
#include "accesslog.h"
#include "sidesrv.h"
#include "core.h"
#include "server.h"
#include "snapshot.h"
#include "maps/weir_maps.h"

#define REG_BUCKETS 4096		/* hash chains of the route registry */
#define MAX_REQUEST 8192		/* bytes of a scrape request */

static const uint64_t bounds_us[WEIR_METRICS_BOUNDS] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};
static const char *const bounds_le[WEIR_METRICS_BUCKETS] = {
	"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
	"1", "2.5", "5", "10", "+Inf",
};

/* ---- the registry ------------------------------------------------------- */

struct weir_route_stats {
	struct weir_route_stats *next;	/* hash chain */
	char *id;			/* "" for requests that matched no route */
	struct weir_route_counters *w;	/* one block per worker */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct weir_route_stats *reg[REG_BUCKETS];
static uint32_t reg_n;
static uint32_t m_workers;		/* 0: metrics not initialised */
static struct weir_route_stats *unmatched;

static _Atomic uint64_t generation;
static _Atomic uint64_t reloads_ok, reloads_failed;
static _Atomic bool last_ok = true;
static _Atomic uint64_t last_ok_ms;	/* CLOCK_REALTIME */
static uint64_t start_ms;

static uint64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct weir_route_stats *stats_new(const char *id)
{
	struct weir_route_stats *rs = calloc(1, sizeof(*rs));
	size_t sz = m_workers * sizeof(struct weir_route_counters);

	if (!rs)
		return NULL;
	rs->id = strdup(id);
	rs->w = aligned_alloc(64, sz);
	if (!rs->id || !rs->w) {
		free(rs->id);
		free(rs->w);
		free(rs);
		return NULL;
	}
	memset(rs->w, 0, sz);
	return rs;
}

int weir_metrics_init(uint32_t n_workers)
{
	m_workers = n_workers;
	start_ms = realtime_ms();
	atomic_store(&last_ok_ms, start_ms);
	atomic_store(&generation, 1);
	if (!(unmatched = stats_new(""))) {
		m_workers = 0;
		return -ENOMEM;
	}
	return 0;
}

struct weir_route_stats *weir_metrics_route(const char *id)
{
	struct weir_route_stats *rs;
	uint32_t b;

	if (!m_workers || !id)
		return NULL;
	b = (uint32_t)(weir_hash64(id, strlen(id), 0) % REG_BUCKETS);
	pthread_mutex_lock(&reg_lock);
	for (rs = reg[b]; rs; rs = rs->next)
		if (!strcmp(rs->id, id))
			goto out;
	if (reg_n >= WEIR_METRICS_MAX_ROUTES)
		goto out;
	if ((rs = stats_new(id))) {
		rs->next = reg[b];
		reg[b] = rs;
		reg_n++;
	}
out:
	pthread_mutex_unlock(&reg_lock);
	return rs;
}

/* ---- recording (worker threads) ------------------------------------------ */

/* Only the owning worker writes a block: a relaxed load and store, which is a
 * plain add, and a scrape that reads it sees a whole value. */
static inline void add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

static inline unsigned bucket_of(uint64_t us)
{
	unsigned i = 0;

	while (i < WEIR_METRICS_BOUNDS && us > bounds_us[i])
		i++;
	return i;
}

void weir_metrics_request(struct weir_worker *w, const struct weir_req *r)
{
	struct weir_route_stats *rs = r->route ? r->route->stats : unmatched;
	struct weir_route_counters *c;
	uint64_t now, d;

	if (!rs || w->id >= m_workers || r->status < 100 || r->status > 599)
		return;
	c = &rs->w[w->id];
	now = weir_now_us();
	d = now > r->start_us ? now - r->start_us : 0;
	add(&c->code[r->status / 100 - 1], 1);
	add(&c->bytes_in, r->bytes_in);
	add(&c->bytes_out, r->bytes_out);
	add(&c->total[bucket_of(d)], 1);
	add(&c->total_sum_us, d);
	if (r->up_timed) {
		add(&c->up[bucket_of(r->up_us)], 1);
		add(&c->up_sum_us, r->up_us);
	}
}

void weir_metrics_reloaded(bool ok)
{
	atomic_store(&last_ok, ok);
	if (ok) {
		atomic_fetch_add(&reloads_ok, 1);
		atomic_fetch_add(&generation, 1);
		atomic_store(&last_ok_ms, realtime_ms());
	} else {
		atomic_fetch_add(&reloads_failed, 1);
	}
}

/* ---- the exposition -------------------------------------------------------- */

struct sums {
	uint64_t code[5], bytes_in, bytes_out;
	uint64_t total[WEIR_METRICS_BUCKETS], total_sum_us, total_n;
	uint64_t up[WEIR_METRICS_BUCKETS], up_sum_us, up_n;
};

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void sum(const struct weir_route_stats *rs, struct sums *s)
{
	memset(s, 0, sizeof(*s));
	for (uint32_t k = 0; k < m_workers; k++) {
		const struct weir_route_counters *c = &rs->w[k];
		for (int i = 0; i < 5; i++)
			s->code[i] += LOAD(c->code[i]);
		s->bytes_in += LOAD(c->bytes_in);
		s->bytes_out += LOAD(c->bytes_out);
		for (int i = 0; i < WEIR_METRICS_BUCKETS; i++) {
			s->total[i] += LOAD(c->total[i]);
			s->up[i] += LOAD(c->up[i]);
		}
		s->total_sum_us += LOAD(c->total_sum_us);
		s->up_sum_us += LOAD(c->up_sum_us);
	}
	for (int i = 0; i < WEIR_METRICS_BUCKETS; i++) {
		s->total_n += s->total[i];
		s->up_n += s->up[i];
	}
}

/* A label value with \, " and newline escaped. */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*v, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct routes {
	const char **ids;
	struct sums *s;
	size_t n;
};

static void histogram(FILE *f, const struct routes *rt, const char *name, bool upstream)
{
	for (size_t i = 0; i < rt->n; i++) {
		const struct sums *s = &rt->s[i];
		const uint64_t *b = upstream ? s->up : s->total;
		uint64_t n = upstream ? s->up_n : s->total_n, acc = 0;
		uint64_t us = upstream ? s->up_sum_us : s->total_sum_us;

		if (!n)
			continue;
		for (int k = 0; k < WEIR_METRICS_BUCKETS; k++) {
			acc += b[k];
			fprintf(f, "%s_bucket{route=\"", name);
			label(f, rt->ids[i]);
			fprintf(f, "\",le=\"%s\"} %llu\n", bounds_le[k], (unsigned long long)acc);
		}
		fprintf(f, "%s_sum{route=\"", name);
		label(f, rt->ids[i]);
		fprintf(f, "\"} %llu.%06llu\n", (unsigned long long)(us / 1000000),
			(unsigned long long)(us % 1000000));
		fprintf(f, "%s_count{route=\"", name);
		label(f, rt->ids[i]);
		fprintf(f, "\"} %llu\n", (unsigned long long)n);
	}
}

static void route_counter(FILE *f, const struct routes *rt, const char *name, bool in)
{
	for (size_t i = 0; i < rt->n; i++) {
		if (!rt->s[i].total_n)
			continue;
		fprintf(f, "%s{route=\"", name);
		label(f, rt->ids[i]);
		fprintf(f, "\"} %llu\n",
			(unsigned long long)(in ? rt->s[i].bytes_in : rt->s[i].bytes_out));
	}
}

static void render_routes(FILE *f, const struct weir_snapshot *s)
{
	struct routes rt = { calloc(s->n_routes + 1, sizeof(char *)),
			     calloc(s->n_routes + 1, sizeof(struct sums)), 0 };

	if (!rt.ids || !rt.s)
		goto out;
	for (size_t i = 0; i < s->n_routes; i++) {
		if (!s->routes[i]->stats)
			continue;
		rt.ids[rt.n] = s->routes[i]->id;
		sum(s->routes[i]->stats, &rt.s[rt.n++]);
	}
	rt.ids[rt.n] = "";
	sum(unmatched, &rt.s[rt.n++]);

	family(f, "weir_http_requests_total", "counter",
	       "Requests answered, by route (\"\": matched none) and status class.");
	for (size_t i = 0; i < rt.n; i++)
		for (int k = 0; k < 5; k++) {
			if (!rt.s[i].code[k])
				continue;
			fputs("weir_http_requests_total{route=\"", f);
			label(f, rt.ids[i]);
			fprintf(f, "\",code=\"%dxx\"} %llu\n", k + 1,
				(unsigned long long)rt.s[i].code[k]);
		}
	family(f, "weir_http_request_duration_seconds", "histogram",
	       "From the first byte of the request to the end of the answer.");
	histogram(f, &rt, "weir_http_request_duration_seconds", false);
	family(f, "weir_http_upstream_duration_seconds", "histogram",
	       "From choosing an upstream node to the end of its response.");
	histogram(f, &rt, "weir_http_upstream_duration_seconds", true);
	family(f, "weir_http_request_body_bytes_total", "counter",
	       "Request body bytes read from clients, by route.");
	route_counter(f, &rt, "weir_http_request_body_bytes_total", true);
	family(f, "weir_http_response_bytes_total", "counter",
	       "Bytes written to clients, by route.");
	route_counter(f, &rt, "weir_http_response_bytes_total", false);
out:
	free(rt.ids);
	free(rt.s);
}

enum node_sample {
	NODE_UP,		/* 1 unless ejected by a worker or down by active checks */
	NODE_EJECTED,		/* workers that have it ejected */
	NODE_HEALTHY,		/* the active checks' verdict; upstreams with checks only */
};

/* One sample per node of every upstream (of those with checks, for
 * NODE_HEALTHY). */
static void render_nodes(FILE *f, const struct weir_snapshot *s, const char *name,
			 enum node_sample what, uint64_t now)
{
	for (size_t i = 0; i < s->n_upstreams; i++) {
		const struct weir_upstream *u = &s->upstreams[i];

		if (what == NODE_HEALTHY && !u->conf->hc.enabled)
			continue;
		for (size_t n = 0; n < u->n_nodes; n++) {
			bool down = weir_lb_active_down(u->lb, (int)n);
			uint32_t ej = 0, v;

			for (uint32_t k = 0; k < s->n_workers; k++)
				ej += weir_lb_ejected_peek(u->states[k], (int)n, now);
			v = what == NODE_UP ? !ej && !down : what == NODE_EJECTED ? ej : !down;
			fprintf(f, "%s{upstream=\"", name);
			label(f, u->conf->name);
			fprintf(f, "\",node=\"%s\"} %u\n", u->nodes[n].addr.text, v);
		}
	}
}

static void render_upstreams(FILE *f, const struct weir_snapshot *s)
{
	uint64_t now = weir_now_ms();

	family(f, "weir_upstream_node_up", "gauge",
	       "1 unless a worker has ejected the node (passive health) or active health "
	       "checks have it down.");
	render_nodes(f, s, "weir_upstream_node_up", NODE_UP, now);
	family(f, "weir_upstream_node_ejected_workers", "gauge",
	       "Workers that have the node ejected now.");
	render_nodes(f, s, "weir_upstream_node_ejected_workers", NODE_EJECTED, now);
	family(f, "weir_upstream_node_healthy", "gauge",
	       "Active health checks: 1 while the node passes them, 0 while it is down "
	       "(upstreams with a health_check only).");
	render_nodes(f, s, "weir_upstream_node_healthy", NODE_HEALTHY, now);
}

static void render_process(FILE *f)
{
	uint64_t ok_ms = atomic_load(&last_ok_ms);

	family(f, "weir_connections_open", "gauge", "Client connections open, by worker.");
	for (uint32_t k = 0; k < weir_server.n_workers; k++)
		fprintf(f, "weir_connections_open{worker=\"%u\"} %u\n", k,
			LOAD(weir_server.workers[k].m_open));
	family(f, "weir_connections_accepted_total", "counter",
	       "Client connections accepted, by worker.");
	for (uint32_t k = 0; k < weir_server.n_workers; k++)
		fprintf(f, "weir_connections_accepted_total{worker=\"%u\"} %llu\n", k,
			(unsigned long long)LOAD(weir_server.workers[k].m_accepted));
	family(f, "weir_config_generation", "gauge",
	       "Configurations published since start (1: the first).");
	fprintf(f, "weir_config_generation %llu\n", (unsigned long long)atomic_load(&generation));
	family(f, "weir_config_reloads_total", "counter", "Reloads (SIGHUP), by result.");
	fprintf(f, "weir_config_reloads_total{result=\"success\"} %llu\n",
		(unsigned long long)atomic_load(&reloads_ok));
	fprintf(f, "weir_config_reloads_total{result=\"failure\"} %llu\n",
		(unsigned long long)atomic_load(&reloads_failed));
	family(f, "weir_config_last_reload_successful", "gauge",
	       "1 when the last reload (or the start) succeeded.");
	fprintf(f, "weir_config_last_reload_successful %d\n", atomic_load(&last_ok) ? 1 : 0);
	family(f, "weir_config_last_reload_success_timestamp_seconds", "gauge",
	       "When the running configuration was published (Unix time).");
	fprintf(f, "weir_config_last_reload_success_timestamp_seconds %llu.%03llu\n",
		(unsigned long long)(ok_ms / 1000), (unsigned long long)(ok_ms % 1000));
	family(f, "weir_process_start_time_seconds", "gauge", "When weir started (Unix time).");
	fprintf(f, "weir_process_start_time_seconds %llu.%03llu\n",
		(unsigned long long)(start_ms / 1000), (unsigned long long)(start_ms % 1000));
}

/* The access log's sinks (accesslog.h), one family at a time: each walk
 * writes one sample per sink. */
struct log_family {
	FILE *f;
	const char *name;
	int field;
};

static void log_sample(const struct weir_log_stats *st, void *arg)
{
	const struct log_family *lf = arg;
	const uint64_t v[] = { st->lines, st->dropped, st->batches, st->errors, st->buffered };

	if (lf->field != 1 && !st->type[0])	/* the hand-off has only drops */
		return;
	fprintf(lf->f, "%s{sink=\"", lf->name);
	label(lf->f, st->name);
	fprintf(lf->f, "\",type=\"%s\"} %llu\n", st->type, (unsigned long long)v[lf->field]);
}

static void render_access_log(FILE *f)
{
	static const struct { const char *name, *type, *help; } fams[] = {
		{ "weir_access_log_lines_total", "counter", "Lines delivered, by sink." },
		{ "weir_access_log_dropped_lines_total", "counter",
		  "Lines lost: the sink's buffer was full, the sink refused them, or (sink "
		  "\"\") the workers' hand-off queue was full." },
		{ "weir_access_log_batches_total", "counter", "Batches delivered, by sink." },
		{ "weir_access_log_send_errors_total", "counter",
		  "Failed deliveries of a batch (each retry counts), by sink." },
		{ "weir_access_log_buffer_bytes", "gauge", "Bytes of lines waiting, by sink." },
	};

	for (int i = 0; i < 5; i++) {
		struct log_family lf = { f, fams[i].name, i };
		family(f, fams[i].name, fams[i].type, fams[i].help);
		weir_log_stats(log_sample, &lf);
	}
}

/* The XDP layer's per-reason counters, when its stats map is pinned under
 * dir; nothing when it is not (or is not the map this weir knows). */
static void render_xdp(FILE *f, const char *dir)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	struct weir_stat st[WEIR_R_MAX];
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, WEIR_MAP_STATS);
	if ((fd = bpf_obj_get(path)) < 0)
		return;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_MAP_TYPE_PERCPU_ARRAY ||
	    info.key_size != 4 || info.value_size != sizeof(struct weir_stat) ||
	    info.max_entries < WEIR_R_MAX ||
	    weir_stats_read(&(struct weir_maps){ .stats = fd }, st) < 0) {
		close(fd);
		return;
	}
	close(fd);
	family(f, "weir_xdp_packets_total", "counter", "Packets seen by XDP, by verdict reason.");
	for (int r = 0; r < WEIR_R_MAX; r++)
		fprintf(f, "weir_xdp_packets_total{reason=\"%s\"} %llu\n", weir_reason_names[r],
			(unsigned long long)st[r].packets);
	family(f, "weir_xdp_bytes_total", "counter", "Bytes seen by XDP, by verdict reason.");
	for (int r = 0; r < WEIR_R_MAX; r++)
		fprintf(f, "weir_xdp_bytes_total{reason=\"%s\"} %llu\n", weir_reason_names[r],
			(unsigned long long)st[r].bytes);
}

/* ---- the listener ---------------------------------------------------------- */

static struct {
	struct weir_side side;
	struct weir_addr addr;
	char *path, *pin_dir;
} srv = { .side = WEIR_SIDE_INIT };

static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;

void weir_metrics_lock(void)
{
	pthread_mutex_lock(&snap_lock);
}

void weir_metrics_unlock(void)
{
	pthread_mutex_unlock(&snap_lock);
}

static char *render(size_t *len)
{
	struct weir_snapshot *s;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	weir_metrics_lock();
	s = atomic_load(&weir_server.snap);
	weir_snapshot_hold(s);
	weir_metrics_unlock();
	render_routes(f, s);
	render_upstreams(f, s);
	weir_cache_metrics(f);
	render_process(f);
	render_access_log(f);
	render_xdp(f, srv.pin_dir);
	weir_snapshot_put(s);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

struct scrape {
	char url[1024];
	size_t url_len;
	bool long_url, done;
};

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct scrape *q = p->data;

	if (len >= sizeof(q->url) - q->url_len) {
		q->long_url = true;
		return 0;
	}
	memcpy(q->url + q->url_len, at, len);
	q->url_len += len;
	return 0;
}

static int on_complete(llhttp_t *p)
{
	((struct scrape *)p->data)->done = true;
	return HPE_PAUSED;
}

static void answer(int fd, int status, const char *reason, const char *extra,
		   const char *body, size_t len, bool head_only)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, reason, extra, len);

	weir_side_send(fd, head, (size_t)n, head_only ? NULL : body, len);
}

/* One connection, one request: read it through llhttp, answer, close. */
static void serve(int fd)
{
	static const llhttp_settings_t settings = { .on_url = on_url,
						     .on_message_complete = on_complete };
	struct scrape q = { 0 };
	char buf[MAX_REQUEST];
	size_t got = 0;
	llhttp_t p;
	llhttp_errno_t e = HPE_OK;

	llhttp_init(&p, HTTP_REQUEST, &settings);
	p.data = &q;
	while (!q.done && got < sizeof(buf)) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);
		if (n <= 0)
			return;
		e = llhttp_execute(&p, buf + got, (size_t)n);
		got += (size_t)n;
		if (e != HPE_OK && e != HPE_PAUSED)
			break;
	}
	if (!q.done) {
		static const char bad[] = "bad request\n";
		answer(fd, 400, "Bad Request", "", bad, sizeof(bad) - 1, false);
		return;
	}
	uint8_t m = llhttp_get_method(&p);
	size_t plen;

	q.url[q.url_len] = 0;
	plen = strcspn(q.url, "?");
	if (m != HTTP_GET && m != HTTP_HEAD) {
		static const char no[] = "method not allowed\n";
		answer(fd, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", no, sizeof(no) - 1,
		       false);
	} else if (q.long_url || plen != strlen(srv.path) || memcmp(q.url, srv.path, plen)) {
		static const char nf[] = "not found\n";
		answer(fd, 404, "Not Found", "", nf, sizeof(nf) - 1, m == HTTP_HEAD);
	} else {
		size_t len = 0;
		char *body = render(&len);
		if (!body) {
			static const char oom[] = "out of memory\n";
			answer(fd, 500, "Internal Server Error", "", oom, sizeof(oom) - 1, false);
			return;
		}
		answer(fd, 200, "OK", "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n",
		       body, len, m == HTTP_HEAD);
		free(body);
	}
}

bool weir_metrics_changed(const struct weir_config *c)
{
	if (c->metrics != (srv.side.fd >= 0))
		return true;
	if (!c->metrics)
		return false;
	return c->metrics_listen.len != srv.addr.len ||
	       memcmp(&c->metrics_listen.sa, &srv.addr.sa, srv.addr.len) ||
	       strcmp(c->metrics_path, srv.path) ||
	       strcmp(c->metrics_pin_dir ? c->metrics_pin_dir : WEIR_PIN_DIR, srv.pin_dir);
}

int weir_metrics_start(const struct weir_config *c, char *err, size_t errlen)
{
	if (!c->metrics)
		return 0;
	srv.addr = c->metrics_listen;
	srv.path = strdup(c->metrics_path);
	srv.pin_dir = strdup(c->metrics_pin_dir ? c->metrics_pin_dir : WEIR_PIN_DIR);
	if (!srv.path || !srv.pin_dir) {
		snprintf(err, errlen, "metrics: %s", strerror(ENOMEM));
		weir_metrics_stop();
		return -1;
	}
	if (weir_side_listen(&srv.side, &srv.addr, "metrics.listen", err, errlen) < 0) {
		weir_metrics_stop();
		return -1;
	}
	return 0;
}

int weir_metrics_serve(void)
{
	return weir_side_start(&srv.side, serve, "weir-metrics");
}

void weir_metrics_stop(void)
{
	weir_side_stop(&srv.side);
	free(srv.path);
	free(srv.pin_dir);
	srv.path = srv.pin_dir = NULL;
}
