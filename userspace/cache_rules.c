/* userspace/cache_rules.c - the response cache's decisions, pure functions
 * of their inputs (RFC 9111 for a shared cache): Cache-Control directives,
 * HTTP dates, the freshness lifetime and initial age of a response, cache
 * keys, and Vary records and their matching. See cache.h for the contracts;
 * tests/unit/test_cache.c holds them to it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cache.h"

/* ---- Cache-Control ------------------------------------------------------------ */

void weir_cc_init(struct weir_cc *cc)
{
	memset(cc, 0, sizeof(*cc));
	cc->max_age = cc->s_maxage = -1;
}

/* delta-seconds; a bad or repeated-and-different value counts as 0
 * (stale), as RFC 9111 1.2.2 and 4.2.1 advise. */
static void cc_seconds(int64_t *slot, const char *v, size_t len)
{
	int64_t n = 0;

	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v++;
		len -= 2;
	}
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9') {
			n = 0;
			len = 0;
			break;
		}
		n = n < INT32_MAX ? n * 10 + (v[i] - '0') : INT32_MAX;
	}
	if (!len)
		n = 0;
	*slot = *slot >= 0 && *slot != n ? 0 : n;
}

void weir_cc_parse(struct weir_cc *cc, const char *v, size_t len)
{
	size_t i = 0;

	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t ns = i;
		while (i < len && v[i] != '=' && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		size_t nl = i - ns;
		const char *val = NULL;
		size_t vl = 0;
		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i < len && v[i] == '=') {
			i++;
			while (i < len && (v[i] == ' ' || v[i] == '\t'))
				i++;
			val = v + i;
			if (i < len && v[i] == '"') {
				i++;
				while (i < len && v[i] != '"')
					i += v[i] == '\\' ? 2 : 1;
				i = i < len ? i + 1 : len;
			} else {
				while (i < len && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
					i++;
			}
			vl = (size_t)(v + i - val);
		}
		while (i < len && v[i] != ',')
			i++;	/* junk after a directive */
		const char *n = v + ns;
#define IS(s) (nl == sizeof(s) - 1 && !strncasecmp(n, s, nl))
		if (IS("no-store"))
			cc->no_store = true;
		else if (IS("no-cache"))
			cc->no_cache = true;
		else if (IS("private"))
			cc->private_ = true;
		else if (IS("public"))
			cc->public_ = true;
		else if (IS("max-age") && val)
			cc_seconds(&cc->max_age, val, vl);
		else if (IS("s-maxage") && val)
			cc_seconds(&cc->s_maxage, val, vl);
#undef IS
	}
}

/* ---- dates and freshness ---------------------------------------------------------- */

int weir_http_date(const char *s, size_t len, int64_t *t)
{
	static const char *const formats[] = {
		"%a, %d %b %Y %H:%M:%S GMT",	/* IMF-fixdate */
		"%A, %d-%b-%y %H:%M:%S GMT",	/* RFC 850 (obsolete) */
		"%a %b %e %H:%M:%S %Y",		/* asctime (obsolete) */
	};
	char buf[64];

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = 0;
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		const char *end = strptime(buf, formats[i], &tm);
		if (!end || *end)
			continue;
		*t = (int64_t)timegm(&tm);
		return 0;
	}
	return -1;
}

int64_t weir_cache_lifetime(const struct weir_cc *cc, const struct weir_cache_times *t,
			    int64_t default_ttl)
{
	if (cc->s_maxage >= 0)
		return cc->s_maxage;
	if (cc->max_age >= 0)
		return cc->max_age;
	if (t->has_expires) {
		if (!t->expires_ok)
			return 0;
		return t->expires - (t->has_date ? t->date : t->now);
	}
	return default_ttl;
}

int64_t weir_cache_initial_age(const struct weir_cache_times *t)
{
	int64_t apparent = t->has_date && t->now > t->date ? t->now - t->date : 0;

	return apparent > t->age ? apparent : t->age;
}

/* ---- keys and Vary ----------------------------------------------------------------- */

/* The value of a request's field `name` (all its fields joined by ", ")
 * into out. Returns its length, -1 when absent, -2 when longer than cap. */
static ssize_t field_value(const struct weir_hdr *hdrs, size_t n, const char *name,
			   size_t name_len, char *out, size_t cap)
{
	ssize_t len = -1;

	for (size_t i = 0; i < n; i++) {
		if (hdrs[i].name_len != name_len || memcmp(hdrs[i].name, name, name_len))
			continue;
		size_t at = len < 0 ? 0 : (size_t)len + 2;
		if (at + hdrs[i].value_len > cap)
			return -2;
		if (len >= 0)
			memcpy(out + len, ", ", 2);
		memcpy(out + at, hdrs[i].value, hdrs[i].value_len);
		len = (ssize_t)(at + hdrs[i].value_len);
	}
	return len;
}

struct kout {
	char *p;
	size_t len, cap;
	bool over;
};

static void kput(struct kout *o, const char *s, size_t n)
{
	if (o->len + n > o->cap) {
		o->over = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* A value from the request's fields: spaces, controls and '%' encoded. */
static void kput_enc(struct kout *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c > ' ' && c < 127 && c != '%') {
			kput(o, s + i, 1);
			continue;
		}
		char e[3] = { '%', hex[c >> 4], hex[c & 15] };
		kput(o, e, 3);
	}
}

/* The value of `name` in a list of name=value pairs split by `sep`. */
static bool pair_find(const char *s, size_t len, char sep, const char *name, size_t nl,
		      const char **val, size_t *vl)
{
	const char *e = s + len;

	while (s < e) {
		while (s < e && (*s == ' ' || *s == sep))
			s++;
		const char *end = memchr(s, sep, (size_t)(e - s));
		if (!end)
			end = e;
		if ((size_t)(end - s) > nl && s[nl] == '=' && !memcmp(s, name, nl)) {
			*val = s + nl + 1;
			*vl = (size_t)(end - s) - nl - 1;
			return true;
		}
		if ((size_t)(end - s) == nl && !memcmp(s, name, nl)) {
			*val = end;
			*vl = 0;
			return true;
		}
		s = end;
	}
	return false;
}

ssize_t weir_cache_key(const struct weir_cache_key_part *parts, size_t n,
		       const struct weir_cache_key_req *rq, char *out, size_t cap)
{
	struct kout o = { out, 0, cap, false };

	for (size_t i = 0; i < n; i++) {
		const struct weir_cache_key_part *k = &parts[i];
		if (i)
			kput(&o, " ", 1);
		switch (k->kind) {
		case WEIR_CKEY_METHOD:
			kput(&o, rq->method, strlen(rq->method));
			break;
		case WEIR_CKEY_HOST:
			kput(&o, rq->host, rq->host_len);
			break;
		case WEIR_CKEY_URI:
			kput(&o, rq->uri, rq->uri_len);
			break;
		case WEIR_CKEY_PATH:
			kput(&o, rq->uri, rq->path_len);
			break;
		case WEIR_CKEY_HEADER: {
			char v[1024];
			ssize_t vl = field_value(rq->hdrs, rq->n_hdrs, k->name, k->name_len, v,
						 sizeof(v));
			if (vl == -2)
				return -1;
			if (vl > 0)
				kput_enc(&o, v, (size_t)vl);
			break;
		}
		case WEIR_CKEY_COOKIE:
			for (size_t h = 0; h < rq->n_hdrs; h++) {
				const char *val;
				size_t vl;
				if (rq->hdrs[h].name_len == 6 && !memcmp(rq->hdrs[h].name, "cookie", 6) &&
				    pair_find(rq->hdrs[h].value, rq->hdrs[h].value_len, ';', k->name,
					      k->name_len, &val, &vl)) {
					kput_enc(&o, val, vl);
					break;
				}
			}
			break;
		case WEIR_CKEY_ARG: {
			const char *val;
			size_t vl;
			if (rq->uri_len > rq->path_len &&
			    pair_find(rq->uri + rq->path_len + 1, rq->uri_len - rq->path_len - 1, '&',
				      k->name, k->name_len, &val, &vl))
				kput_enc(&o, val, vl);
			break;
		}
		}
	}
	return o.over ? -1 : (ssize_t)o.len;
}

ssize_t weir_cache_vary_record(const char *vary, size_t vary_len,
			       const struct weir_hdr *hdrs, size_t n_hdrs,
			       char *out, size_t cap)
{
	struct kout o = { out, 0, cap, false };
	size_t i = 0;

	while (i < vary_len) {
		while (i < vary_len && (vary[i] == ' ' || vary[i] == '\t' || vary[i] == ','))
			i++;
		size_t s = i;
		while (i < vary_len && vary[i] != ',' && vary[i] != ' ' && vary[i] != '\t')
			i++;
		size_t nl = i - s;
		if (!nl)
			continue;
		if (nl == 1 && vary[s] == '*')
			return -1;
		char name[128], v[1024];
		if (nl >= sizeof(name))
			return -2;
		for (size_t k = 0; k < nl; k++) {
			char c = vary[s + k];
			name[k] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
		}
		ssize_t vl = field_value(hdrs, n_hdrs, name, nl, v, sizeof(v));
		if (vl == -2)
			return -2;
		kput(&o, name, nl);
		kput(&o, "", 1);
		if (vl < 0)
			kput(&o, "\1", 1);
		else
			kput(&o, v, (size_t)vl);
		kput(&o, "", 1);
	}
	return o.over ? -2 : (ssize_t)o.len;
}

bool weir_cache_vary_match(const char *rec, size_t rec_len, const struct weir_hdr *hdrs,
			   size_t n_hdrs)
{
	const char *p = rec, *e = rec + rec_len;

	while (p < e) {
		size_t nl = strlen(p);
		const char *want = p + nl + 1;
		size_t wl = strlen(want);
		char v[1024];
		ssize_t vl = field_value(hdrs, n_hdrs, p, nl, v, sizeof(v));

		if (vl == -2)
			return false;
		if (vl < 0 ? !(wl == 1 && want[0] == '\1')
			   : (size_t)vl != wl || memcmp(v, want, wl))
			return false;
		p = want + wl + 1;
	}
	return true;
}
