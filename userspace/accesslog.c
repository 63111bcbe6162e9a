/* userspace/accesslog.c - see accesslog.h.
 *
 * Each worker appends lines to its own batch buffer. A batch is handed to the
 * writer thread when it passes BATCH_HIGH bytes or is a second old; the
 * handoff takes the writer's lock once per batch, never per request. If the
 * sink falls behind by more than MAX_QUEUED batches, new batches are dropped
 * and counted rather than letting memory or latency grow.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "core.h"
#include "accesslog.h"
#include "snapshot.h"

#define BATCH_CAP (64 * 1024)
#define BATCH_HIGH (48 * 1024)
#define MAX_QUEUED 64
#define LINE_MAX_BYTES 4096

struct batch {
	struct batch *next;
	size_t len;
	char data[BATCH_CAP];
};

struct weir_log {
	struct batch *cur;
	uint64_t since;			/* ms the batch got its first line */
	time_t sec;			/* cached time strings for this second */
	char iso[40], clf[40];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	int fd;
	char *path;
	struct batch *head, *tail;
	unsigned queued;
	uint64_t dropped;
} L = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .fd = -1 };

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		p += k;
		n -= (size_t)k;
	}
}

static void *writer(void *arg)
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
		int fd = L.fd;
		pthread_mutex_unlock(&L.lock);
		if (fd >= 0)
			write_all(fd, b->data, b->len);
		free(b);
		pthread_mutex_lock(&L.lock);
	}
	pthread_mutex_unlock(&L.lock);
	return NULL;
}

static int open_sink(const char *path, char *err, size_t errlen)
{
	if (!strcmp(path, "-"))
		return dup(STDOUT_FILENO);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0 && err)
		snprintf(err, errlen, "access_log.path: %s: %s", path, strerror(errno));
	return fd;
}

int weir_log_configure(const struct weir_config *c, char *err, size_t errlen)
{
	int fd = -1;

	if (c->log_format != WEIR_LOG_OFF && c->log_path) {
		pthread_mutex_lock(&L.lock);
		bool same = L.path && !strcmp(L.path, c->log_path);
		pthread_mutex_unlock(&L.lock);
		if (same)
			return 0;
		fd = open_sink(c->log_path, err, errlen);
		if (fd < 0)
			return -1;
	}
	pthread_mutex_lock(&L.lock);
	if (L.fd >= 0)
		close(L.fd);
	L.fd = fd;
	free(L.path);
	L.path = fd >= 0 ? strdup(c->log_path) : NULL;
	if (!L.running && fd >= 0 && !pthread_create(&L.thread, NULL, writer, NULL))
		L.running = true;
	pthread_mutex_unlock(&L.lock);
	return 0;
}

int weir_log_reopen(void)
{
	int rc = 0;

	pthread_mutex_lock(&L.lock);
	if (L.path && strcmp(L.path, "-")) {
		int fd = open_sink(L.path, NULL, 0);
		if (fd >= 0) {
			close(L.fd);
			L.fd = fd;
		} else {
			rc = -1;
		}
	}
	pthread_mutex_unlock(&L.lock);
	return rc;
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
	if (L.fd >= 0)
		close(L.fd);
	L.fd = -1;
	free(L.path);
	L.path = NULL;
	L.running = false;
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
	if (!force && b->len < BATCH_HIGH && w->now - l->since < 1000)
		return;
	l->cur = NULL;
	pthread_mutex_lock(&L.lock);
	if (L.queued >= MAX_QUEUED || !L.running) {
		L.dropped++;
		pthread_mutex_unlock(&L.lock);
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
		k += json_str(line + k, sizeof(line) - k - 512, url, url_n);
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
		k += (size_t)snprintf(line + k, sizeof(line) - k, "\"}\n");
	}
	if (k >= sizeof(line))
		k = sizeof(line) - 1;
	if (l->cur->len + k > BATCH_CAP) {
		weir_log_flush(w, true);
		if (!(l->cur = malloc(sizeof(*l->cur))))
			return;
		l->cur->len = 0;
		l->since = w->now;
	}
	memcpy(l->cur->data + l->cur->len, line, k);
	l->cur->len += k;
	if (l->cur->len >= BATCH_HIGH)
		weir_log_flush(w, true);
}
