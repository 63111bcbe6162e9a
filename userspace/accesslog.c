/* userspace/accesslog.c - see accesslog.h.
 *
 * Each worker appends lines to its own batch buffer. A batch is handed to the
 * shipper thread when it passes BATCH_HIGH bytes or is a second old; the
 * handoff takes the queue's lock once per batch, never per request. If the
 * shipper falls behind by more than MAX_QUEUED batches, new batches are
 * dropped and counted rather than letting memory or latency grow.
 *
 * The shipper only copies: each batch goes into the bounded buffer of every
 * sink (logsink.c), whose own thread delivers it, so a sink that is slow or
 * down fills its own buffer and loses its own lines, and no other sink
 * waits for it. The sink list is swapped whole at reload under sinks_lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "core.h"
#include "accesslog.h"
#include "logsink.h"
#include "snapshot.h"

#define BATCH_CAP (64 * 1024)
#define BATCH_HIGH (48 * 1024)
#define BATCH_AGE_MS 1000
#define MAX_QUEUED 64
#define LINE_MAX_BYTES 4096

struct batch {
	struct batch *next;
	size_t len;
	uint32_t lines;
	char data[BATCH_CAP];
};

struct weir_log {
	struct batch *cur;
	uint64_t since;			/* ms the batch got its first line */
	time_t sec;			/* cached time strings for this second */
	char iso[40], clf[40];
};

static struct {
	pthread_mutex_t lock;		/* the queue from the workers */
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	struct batch *head, *tail;
	unsigned queued;
	_Atomic uint64_t dropped;	/* lines lost at the hand-off */
	pthread_mutex_t sinks_lock;	/* the sink list */
	struct weir_logsink **sinks;
	size_t n_sinks;
} L = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
	.sinks_lock = PTHREAD_MUTEX_INITIALIZER };

static void *shipper(void *arg)
{
	pthread_mutex_lock(&L.lock);
	for (;;) {
		while (!L.head && !L.stop)
			pthread_cond_wait(&L.cond, &L.lock);
		if (!L.head && L.stop)
			break;
		struct batch *b = L.head;
		L.head = b->next;
		if (!L.head)
			L.tail = NULL;
		L.queued--;
		pthread_mutex_unlock(&L.lock);
		pthread_mutex_lock(&L.sinks_lock);
		for (size_t i = 0; i < L.n_sinks; i++)
			weir_logsink_push(L.sinks[i], b->data, b->len, b->lines);
		if (!L.n_sinks)
			atomic_fetch_add(&L.dropped, b->lines);
		pthread_mutex_unlock(&L.sinks_lock);
		free(b);
		pthread_mutex_lock(&L.lock);
	}
	pthread_mutex_unlock(&L.lock);
	return NULL;
}

/* The sinks conf asks for: its list, or the one file of `path:` (and of
 * --access-log), with the defaults of a sink. */
static size_t wanted(const struct weir_config *c, struct weir_log_sink_conf *one,
		     const struct weir_log_sink_conf **out)
{
	if (c->log_format == WEIR_LOG_OFF)
		return 0;
	if (c->n_log_sinks) {
		*out = c->log_sinks;
		return c->n_log_sinks;
	}
	if (!c->log_path)
		return 0;
	memset(one, 0, sizeof(*one));
	weir_log_sink_defaults(one);
	one->type = WEIR_SINK_FILE;
	one->path = one->name = c->log_path;
	*out = one;
	return 1;
}

int weir_log_configure(const struct weir_config *c, char *err, size_t errlen)
{
	struct weir_log_sink_conf one;
	const struct weir_log_sink_conf *want = NULL;
	size_t n = wanted(c, &one, &want), n_old = L.n_sinks, n_gone = 0;
	struct weir_logsink **news = calloc(n + 1, sizeof(*news));
	struct weir_logsink **gone = calloc(n_old + 1, sizeof(*gone));
	bool *kept = calloc(n_old + 1, sizeof(*kept)), *reused = calloc(n + 1, sizeof(*reused));

	if (!news || !gone || !kept || !reused) {
		snprintf(err, errlen, "access_log: out of memory");
		goto fail;
	}
	/* Only this (the main) thread changes the list: reading it needs no lock. */
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n_old && !news[i]; j++)
			if (!kept[j] && weir_logsink_same(L.sinks[j], &want[i])) {
				news[i] = L.sinks[j];
				kept[j] = reused[i] = true;
			}
		if (!news[i] && !(news[i] = weir_logsink_new(&want[i], c->file, i, err, errlen)))
			goto fail;
	}
	for (size_t j = 0; j < n_old; j++)
		if (!kept[j])
			gone[n_gone++] = L.sinks[j];
	pthread_mutex_lock(&L.sinks_lock);
	free(L.sinks);
	L.sinks = news;
	L.n_sinks = n;
	pthread_mutex_unlock(&L.sinks_lock);
	weir_logsink_close_all(gone, n_gone, false);
	pthread_mutex_lock(&L.lock);
	if (!L.running && n && !pthread_create(&L.thread, NULL, shipper, NULL)) {
		pthread_setname_np(L.thread, "weir-log");
		L.running = true;
	}
	pthread_mutex_unlock(&L.lock);
	free(gone);
	free(kept);
	free(reused);
	return 0;
fail:
	for (size_t i = 0; news && i < n; i++)
		if (news[i] && !reused[i])
			weir_logsink_close(news[i], false);
	free(news);
	free(gone);
	free(kept);
	free(reused);
	return -1;
}

int weir_log_reopen(void)
{
	pthread_mutex_lock(&L.sinks_lock);
	for (size_t i = 0; i < L.n_sinks; i++)
		weir_logsink_reopen(L.sinks[i]);
	pthread_mutex_unlock(&L.sinks_lock);
	return 0;
}

void weir_log_shutdown(void)
{
	pthread_mutex_lock(&L.lock);
	L.stop = true;
	pthread_cond_signal(&L.cond);
	bool running = L.running;
	pthread_mutex_unlock(&L.lock);
	if (running)
		pthread_join(L.thread, NULL);
	L.running = false;
	weir_logsink_close_all(L.sinks, L.n_sinks, true);
	free(L.sinks);
	L.sinks = NULL;
	L.n_sinks = 0;
}

void weir_log_stats(void (*fn)(const struct weir_log_stats *st, void *arg), void *arg)
{
	struct weir_log_stats st = { .name = "", .type = "",
				     .dropped = atomic_load(&L.dropped) };

	fn(&st, arg);
	pthread_mutex_lock(&L.sinks_lock);
	for (size_t i = 0; i < L.n_sinks; i++) {
		weir_logsink_stats(L.sinks[i], &st);
		fn(&st, arg);
	}
	pthread_mutex_unlock(&L.sinks_lock);
}

struct weir_log *weir_log_worker_new(void)
{
	return calloc(1, sizeof(struct weir_log));
}

void weir_log_worker_free(struct weir_log *l)
{
	if (l)
		free(l->cur);
	free(l);
}

void weir_log_flush(struct weir_worker *w, bool force)
{
	struct weir_log *l = w->log;
	struct batch *b = l ? l->cur : NULL;

	if (!b || !b->len)
		return;
	if (!force && b->len < BATCH_HIGH && w->now - l->since < BATCH_AGE_MS)
		return;
	l->cur = NULL;
	pthread_mutex_lock(&L.lock);
	if (L.queued >= MAX_QUEUED || !L.running) {
		pthread_mutex_unlock(&L.lock);
		atomic_fetch_add_explicit(&L.dropped, b->lines, memory_order_relaxed);
		free(b);
		return;
	}
	b->next = NULL;
	if (L.tail)
		L.tail->next = b;
	else
		L.head = b;
	L.tail = b;
	L.queued++;
	pthread_cond_signal(&L.cond);
	pthread_mutex_unlock(&L.lock);
}

int weir_log_wait(struct weir_worker *w, int timeout)
{
	struct weir_log *l = w->log;
	int left;

	if (!l || !l->cur || !l->cur->len)
		return timeout;
	left = w->now - l->since >= BATCH_AGE_MS ? 0 : (int)(l->since + BATCH_AGE_MS - w->now);
	return timeout < 0 || left < timeout ? left : timeout;
}

/* Appends s[0..n) as the inside of a JSON string. */
static size_t json_str(char *o, size_t room, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t k = 0;

	for (size_t i = 0; i < n && k + 6 < room; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			o[k++] = '\\';
			o[k++] = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			o[k++] = '\\';
			o[k++] = 'u';
			o[k++] = '0';
			o[k++] = '0';
			o[k++] = hex[ch >> 4];
			o[k++] = hex[ch & 15];
		} else {
			o[k++] = (char)ch;
		}
	}
	return k;
}

static void span_text(const struct weir_client *c, struct weir_span s, const char **p,
		      size_t *n)
{
	if (!c->in || s.off == UINT32_MAX || s.off + s.len > c->in->end) {
		*p = "-";
		*n = 1;
	} else {
		*p = c->in->data + s.off;
		*n = s.len;
	}
}

static const char *header_value(const struct weir_req *r, const char *name, size_t *n)
{
	size_t nl = strlen(name);

	for (uint32_t i = 0; r->hdrs && r->route && i < r->head.n_fields; i++)
		if (r->hdrs[i].name_len == nl && !memcmp(r->hdrs[i].name, name, nl)) {
			*n = r->hdrs[i].value_len;
			return r->hdrs[i].value;
		}
	*n = 1;
	return "-";
}

void weir_log_request(struct weir_worker *w, struct weir_req *r, struct weir_client *c)
{
	const struct weir_config *conf = r->snap->conf;
	struct weir_log *l = w->log;
	char line[LINE_MAX_BYTES];
	const char *url, *ref, *ua;
	size_t url_n, ref_n, ua_n, k = 0;
	struct timespec ts;

	r->logged = 1;
	if (conf->log_format == WEIR_LOG_OFF || !l || (!r->status && !r->resp_started))
		return;
	if (!l->cur) {
		if (!(l->cur = malloc(sizeof(*l->cur))))
			return;
		l->cur->len = 0;
		l->cur->lines = 0;
		l->since = w->now;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != l->sec) {
		struct tm tm;
		l->sec = ts.tv_sec;
		gmtime_r(&l->sec, &tm);
		strftime(l->iso, sizeof(l->iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
		strftime(l->clf, sizeof(l->clf), "%d/%b/%Y:%H:%M:%S +0000", &tm);
	}
	const char *addr = weir_req_client_addr(r);
	span_text(c, r->head.url, &url, &url_n);
	const char *method = r->head.url.off == UINT32_MAX ? "-" : llhttp_method_name(r->method);

	if (conf->log_format == WEIR_LOG_COMBINED) {
		ref = header_value(r, "referer", &ref_n);
		ua = header_value(r, "user-agent", &ua_n);
		k = (size_t)snprintf(line, sizeof(line), "%s - - [%s] \"%s %.*s HTTP/1.%u\" %u %llu "
				     "\"%.*s\" \"%.*s\"\n", addr, l->clf, method,
				     (int)(url_n > 2048 ? 2048 : url_n), url, r->http_minor,
				     r->status, (unsigned long long)r->bytes_out,
				     (int)(ref_n > 512 ? 512 : ref_n), ref,
				     (int)(ua_n > 512 ? 512 : ua_n), ua);
	} else {
		char up[64] = "";
		if (r->route && r->node >= 0)
			snprintf(up, sizeof(up), "%s", r->route->upstream->nodes[r->node].addr.text);
		k = (size_t)snprintf(line, sizeof(line), "{\"time\":\"%s\",\"client\":\"%s\","
				     "\"method\":\"%s\",\"uri\":\"", l->iso, addr, method);
		k += json_str(line + k, sizeof(line) - k - 1024, url, url_n);
		k += (size_t)snprintf(line + k, sizeof(line) - k, "\",\"host\":\"%s\",\"status\":%u,"
				      "\"bytes_in\":%llu,\"bytes_out\":%llu,\"duration_ms\":%llu,"
				      "\"route\":\"%s\",\"upstream\":\"%s\",\"worker\":%u,"
				      "\"request_id\":\"",
				      r->host, r->status, (unsigned long long)r->bytes_in,
				      (unsigned long long)r->bytes_out,
				      (unsigned long long)(w->now - r->start_ms),
				      r->route ? r->route->id : "", up, w->id);
		if (r->id[0]) {
			k += (size_t)snprintf(line + k, sizeof(line) - k, "%s", r->id);
		} else {
			size_t n;
			const char *v = header_value(r, "x-request-id", &n);
			k += json_str(line + k, sizeof(line) - k - 8, v, n > 128 ? 128 : n);
		}
		if (r->traceparent[0])
			k += (size_t)snprintf(line + k, sizeof(line) - k, "\",\"trace_id\":\"%.32s\","
					      "\"span_id\":\"%.16s", r->traceparent + 3,
					      r->traceparent + 36);
		k += (size_t)snprintf(line + k, sizeof(line) - k, "\"}\n");
	}
	if (k >= sizeof(line)) {	/* cut, but still one line */
		k = sizeof(line) - 1;
		line[k - 1] = '\n';
	}
	if (l->cur->len + k > BATCH_CAP) {
		weir_log_flush(w, true);
		if (!(l->cur = malloc(sizeof(*l->cur))))
			return;
		l->cur->len = 0;
		l->cur->lines = 0;
		l->since = w->now;
	}
	memcpy(l->cur->data + l->cur->len, line, k);
	l->cur->len += k;
	l->cur->lines++;
	if (l->cur->len >= BATCH_HIGH)
		weir_log_flush(w, true);
}
