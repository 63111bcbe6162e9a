/* userspace/request.c - request objects: taken from the worker's free list
 * when a request begins, returned when its exchange ends, so the request path
 * allocates only while the list warms up (or when a reload raises
 * max_headers above what a recycled object can hold).
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core.h"
#include "snapshot.h"
#include "plugin.h"
#include "accesslog.h"
#include "metrics.h"

#define FREE_REQS_KEPT 256

static void req_free(struct weir_req *r)
{
	free(r->head.fields);
	free(r->rhead.fields);
	free(r->hdrs);
	free(r);
}

static int ensure_fields(struct weir_req *r, uint32_t need)
{
	struct weir_field *f, *rf;
	struct weir_hdr *h;

	if (r->head.cap_fields >= need)
		return 0;
	f = realloc(r->head.fields, need * sizeof(*f));
	if (f)
		r->head.fields = f;
	h = realloc(r->hdrs, need * sizeof(*h));
	if (h)
		r->hdrs = h;
	rf = realloc(r->rhead.fields, need * sizeof(*rf));
	if (rf)
		r->rhead.fields = rf;
	if (!f || !h || !rf)
		return -1;
	r->head.cap_fields = r->rhead.cap_fields = need;
	return 0;
}

struct weir_req *weir_req_new(struct weir_client *c)
{
	struct weir_worker *w = c->w;
	struct weir_req *r = w->free_reqs;
	struct weir_field *f = NULL, *rf = NULL;
	struct weir_hdr *h = NULL;
	uint32_t cap = 0;

	if (r) {
		w->free_reqs = r->next;
		w->n_free_reqs--;
		f = r->head.fields;
		rf = r->rhead.fields;
		h = r->hdrs;
		cap = r->head.cap_fields;
	} else if (!(r = malloc(sizeof(*r)))) {
		return NULL;
	}
	/* Everything up to the plugin slots starts from zero. */
	memset(r, 0, offsetof(struct weir_req, plugin_ctx));
	r->head.fields = f;
	r->rhead.fields = rf;
	r->hdrs = h;
	r->head.cap_fields = r->rhead.cap_fields = cap;
	if (ensure_fields(r, w->snap->conf->max_headers) < 0) {
		free(r->head.fields);
		free(r->rhead.fields);
		free(r->hdrs);
		free(r);
		return NULL;
	}
	memset(r->plugin_ctx, 0, sizeof(r->plugin_ctx));
	r->client = c;
	r->snap = w->snap;
	weir_worker_snap_hold(w, r->snap);
	r->head.url = (struct weir_span){ UINT32_MAX, 0 };
	r->node = -1;
	r->host_field = -1;
	r->start_ms = w->now;
	r->start_us = w->now_us;
	return r;
}

void weir_req_finish(struct weir_worker *w, struct weir_req *r, struct weir_client *c)
{
	weir_timer_stop(w, &r->delay);
	if (!r->logged)
		weir_log_request(w, r, c);
	if (r->route)
		weir_plugins_log(r);
	weir_metrics_request(w, r);
	if (r->up_head) {
		weir_buf_put(w, r->up_head);
		r->up_head = NULL;
	}
	if (r->hold.data)
		weir_body_free(&r->hold);
	if (r->rhold.data)
		weir_body_free(&r->rhold);
	weir_worker_snap_release(w, r->snap);
	r->snap = NULL;
	if (w->n_free_reqs >= FREE_REQS_KEPT) {
		req_free(r);
		return;
	}
	r->next = w->free_reqs;
	w->free_reqs = r;
	w->n_free_reqs++;
}

size_t weir_req_pool_shrink(struct weir_worker *w, uint32_t keep)
{
	size_t freed = 0;

	while (w->n_free_reqs > keep) {
		struct weir_req *r = w->free_reqs;
		w->free_reqs = r->next;
		w->n_free_reqs--;
		freed += sizeof(*r) + r->head.cap_fields * (2 * sizeof(struct weir_field) +
							    sizeof(struct weir_hdr));
		req_free(r);
	}
	return freed;
}

/* An IPv4 address as dotted decimal, NUL-terminated (at most 16 bytes):
 * what inet_ntop writes, without the sprintf it writes it with, which cost
 * more than the rest of a request's head. */
static void ipv4_text(const uint8_t b[4], char *out)
{
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];
		if (v >= 100)
			*out++ = (char)('0' + v / 100);
		if (v >= 10)
			*out++ = (char)('0' + v / 10 % 10);
		*out++ = (char)('0' + v % 10);
		*out++ = i < 3 ? '.' : 0;
	}
}

const char *weir_req_client_addr(struct weir_req *r)
{
	const struct in6_addr *a = &r->client->peer.sin6_addr;

	if (!r->addr[0]) {
		if (IN6_IS_ADDR_V4MAPPED(a))
			ipv4_text(&a->s6_addr[12], r->addr);
		else
			inet_ntop(AF_INET6, a, r->addr, sizeof(r->addr));
	}
	return r->addr;
}

/* The worker's xorshift64 generator, seeded from getrandom on first use:
 * never 0, so ids made from it are never all zero. Cheap enough per request
 * (OpenSSL's RAND_bytes costs ~10x more here); not for secrets. */
static uint64_t rand64(struct weir_worker *w)
{
	uint64_t x = w->rng;

	if (!x && getrandom(&x, sizeof(x), 0) != sizeof(x))
		x = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)w;
	if (!x)
		x = 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return w->rng = x;
}

/* 32 bits as 8 lower-case hex digits, nibble i (from the low end) as
 * out[i]: each nibble spread into a byte of its own, then all eight turned
 * into digits at once ('a'..'f' where a byte + 6 carries into bit 4). */
static void hex32(uint32_t v, char *out)
{
	uint64_t t = v;

	t = ((t & 0xffff0000ull) << 16) | (t & 0xffffull);
	t = ((t & 0x0000ff000000ff00ull) << 8) | (t & 0x000000ff000000ffull);
	t = ((t & 0x00f000f000f000f0ull) << 4) | (t & 0x000f000f000f000full);
	t += 0x3030303030303030ull +
	     (((t + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull) * ('a' - '0' - 10);
	t = htole64(t);
	memcpy(out, &t, 8);
}

static void hex64(uint64_t x, char *out)
{
	hex32((uint32_t)x, out);
	hex32((uint32_t)(x >> 32), out + 8);
}

/* 128 random bits as 32 hex digits: unique enough to trace. */
void weir_request_id(struct weir_worker *w, char out[33])
{
	hex64(rand64(w), out);
	hex64(rand64(w), out + 16);
	out[32] = 0;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* n lower-case hex digits, not all of them '0'. */
static bool hex_id(const char *p, size_t n)
{
	bool nonzero = false;

	for (size_t i = 0; i < n; i++) {
		if (!is_hex(p[i]))
			return false;
		nonzero |= p[i] != '0';
	}
	return nonzero;
}

bool weir_traceparent_parse(const char *v, size_t n, char out[56])
{
	/* "vv-" 32 "-" 16 "-" "ff": 55 bytes. Version ff is invalid; a later
	 * version than 00 may add fields after a '-', and is read as 00. */
	if (n < 55 || !is_hex(v[0]) || !is_hex(v[1]) || (v[0] == 'f' && v[1] == 'f') ||
	    v[2] != '-' || v[35] != '-' || v[52] != '-' || !is_hex(v[53]) || !is_hex(v[54]))
		return false;
	if (v[0] == '0' && v[1] == '0' ? n != 55 : n > 55 && v[55] != '-')
		return false;
	if (!hex_id(v + 3, 32) || !hex_id(v + 36, 16))
		return false;
	memcpy(out, "00-", 3);
	memcpy(out + 3, v + 3, 33);
	memcpy(out + 52, v + 52, 3);
	out[55] = 0;
	return true;
}

void weir_req_trace(struct weir_worker *w, struct weir_req *r)
{
	const struct weir_config *conf = r->snap->conf;
	char *tp = r->traceparent;

	if (!conf->trace)
		return;
	if (r->n_traceparent == 1) {
		const struct weir_hdr *h = &r->hdrs[r->traceparent_field];
		r->trace_in = weir_traceparent_parse(h->value, h->value_len, tp);
	}
	if (!r->trace_in) {
		uint32_t pct = conf->trace_sample_percent;
		memcpy(tp, "00-", 3);
		hex64(rand64(w), tp + 3);
		hex64(rand64(w), tp + 19);
		tp[35] = '-';
		memcpy(tp + 52, pct == 100 || rand64(w) % 100 < pct ? "-01" : "-00", 3);
	}
	hex64(rand64(w), tp + 36);
	tp[55] = 0;
}
