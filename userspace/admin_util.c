/* userspace/admin_util.c - the admin API's pure helpers: JSON merge patch
 * (RFC 7396), the pagination query of collections, the split of a
 * configuration error into the field and reason an answer names, and the
 * check of what the configuration could not carry (NUL, long member names,
 * deep nesting). Nothing here
 * touches the server: tests/unit/test_admin_util.c drives each alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define MAX_KEY 128			/* bytes of a member name */

json_t *weir_json_merge_patch(const json_t *target, const json_t *patch)
{
	const char *k;
	json_t *v, *out;

	if (!json_is_object(patch))
		return json_deep_copy(patch);
	out = json_is_object(target) ? json_deep_copy(target) : json_object();
	if (!out)
		return NULL;
	json_object_foreach((json_t *)patch, k, v) {
		json_t *m;

		if (json_is_null(v)) {
			json_object_del(out, k);
			continue;
		}
		if (!(m = weir_json_merge_patch(json_object_get(out, k), v)) ||
		    json_object_set_new(out, k, m)) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* A decimal in [lo, hi], nothing else. */
static int number(const char *s, size_t len, unsigned long lo, unsigned long hi,
		  unsigned long *v)
{
	char buf[24], *end;

	if (!len || len >= sizeof(buf) || strspn(s, "0123456789") < len)
		return -1;
	memcpy(buf, s, len);
	buf[len] = 0;
	errno = 0;
	*v = strtoul(buf, &end, 10);
	return errno || *end || *v < lo || *v > hi ? -1 : 0;
}

int weir_admin_page(const char *query, size_t *off, size_t *lim, const char **field,
		    char *why, size_t whylen)
{
	static const char *const names[] = { "page", "page_size", "offset", "limit" };
	bool seen[4] = { false };
	unsigned long val[4] = { 1, PAGE_DEFAULT, 0, PAGE_DEFAULT };

	*off = 0;
	*lim = PAGE_DEFAULT;
	*field = "";
	while (query && *query) {
		size_t len = strcspn(query, "&"), nlen = strcspn(query, "=&");
		const char *v = query + nlen + 1;
		size_t vlen = nlen < len ? len - nlen - 1 : 0;
		int i;

		for (i = 0; i < 4; i++)
			if (strlen(names[i]) == nlen && !memcmp(query, names[i], nlen))
				break;
		if (!len) {
			query++;
			continue;
		}
		if (i == 4) {
			*field = "query";
			snprintf(why, whylen, "unknown parameter '%.*s' (page, page_size, "
				 "offset, limit)", (int)nlen, query);
			return -1;
		}
		*field = names[i];
		if (seen[i]) {
			snprintf(why, whylen, "given twice");
			return -1;
		}
		seen[i] = true;
		if (number(v, vlen, i == 2 ? 0 : 1, i == 2 ? 1ul << 40 : i == 0 ? 1ul << 30 :
			   PAGE_MAX, &val[i]) < 0) {
			snprintf(why, whylen, "expected %s", i == 2 ? "an integer from 0" :
				 i == 0 ? "an integer from 1" : "an integer from 1 to 1000");
			return -1;
		}
		query += len + (query[len] == '&');
	}
	if ((seen[0] || seen[1]) && (seen[2] || seen[3])) {
		*field = seen[2] ? "offset" : "limit";
		snprintf(why, whylen, "use page and page_size, or offset and limit, not both");
		return -1;
	}
	*field = "";
	if (seen[2] || seen[3]) {
		*off = val[2];
		*lim = val[3];
	} else {
		*off = (val[0] - 1) * val[1];
		*lim = val[1];
	}
	return 0;
}

/* The listed sections, whose errors name an index, and the member that
 * names each of their items. */
static const struct { const char *name, *idkey; } listed[] = {
	{ "routes", "id" }, { "consumers", "username" },
};

void weir_admin_field(const char *err, const json_t *doc, char *field, size_t flen,
		      char *reason, size_t rlen)
{
	const char *f = strstr(err, ": "), *r;
	unsigned long idx;
	char *end;

	if (!f || !(r = strstr(f + 2, ": "))) {
		snprintf(field, flen, "%s", "");
		snprintf(reason, rlen, "%s", f ? f + 2 : err);
		return;
	}
	f += 2;
	snprintf(reason, rlen, "%s", r + 2);
	for (size_t i = 0; i < sizeof(listed) / sizeof(listed[0]); i++) {
		size_t n = strlen(listed[i].name);
		const json_t *item;
		const char *id;

		if (strncmp(f, listed[i].name, n) || f[n] != '[')
			continue;
		idx = strtoul(f + n + 1, &end, 10);
		item = json_array_get(json_object_get(doc, listed[i].name), idx);
		if (*end != ']' || !(id = json_string_value(json_object_get(item, listed[i].idkey))))
			break;
		snprintf(field, flen, "%s.%s%.*s", listed[i].name, id, (int)(r - end - 1), end + 1);
		return;
	}
	snprintf(field, flen, "%.*s", (int)(r - f), f);
}

/* NUL: JSON may carry it (as \u0000; jansson's reader refuses it unless
 * asked), YAML too, but the configuration's C strings would end there and
 * change the value silently. Every other character goes through
 * (weir_config_from_resources escapes those YAML reads differently). */
static bool has_nul(const char *s, size_t len)
{
	return memchr(s, 0, len) != NULL;
}

static int check(const json_t *v, char *path, size_t plen, size_t used, int depth,
		 int max_depth, char *why, size_t whylen)
{
	const char *k;
	json_t *c;
	size_t i;

	if (depth > max_depth) {
		snprintf(why, whylen, "nested more than %d deep", max_depth);
		return -1;
	}
	if (json_is_string(v) && has_nul(json_string_value(v), json_string_length(v))) {
		snprintf(why, whylen, "character U+0000 is not allowed");
		return -1;
	}
	if (json_is_object(v))
		json_object_foreach((json_t *)v, k, c) {
			snprintf(path + used, plen - used, ".%s", k);
			/* YAML's keys end within 1024 characters of their start;
			 * escaped, 128 bytes are at most 768 */
			if (strlen(k) > MAX_KEY) {
				snprintf(why, whylen, "a name longer than %d bytes", MAX_KEY);
				return -1;
			}
			if (check(c, path, plen, strlen(path), depth + 1, max_depth, why, whylen))
				return -1;
			path[used] = 0;
		}
	if (json_is_array(v))
		json_array_foreach(v, i, c) {
			snprintf(path + used, plen - used, "[%zu]", i);
			if (check(c, path, plen, strlen(path), depth + 1, max_depth, why, whylen))
				return -1;
			path[used] = 0;
		}
	return 0;
}

int weir_admin_check_text(const json_t *v, const char *path, int max_depth, char *field,
			  size_t flen, char *why, size_t whylen)
{
	char start[256];

	snprintf(start, sizeof(start), "%s", path);	/* path may be field itself */
	snprintf(field, flen, "%s", start);
	return check(v, field, flen, strlen(field), 0, max_depth, why, whylen);
}

bool weir_admin_id_ok(const char *s)
{
	size_t len = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-");

	return len >= 1 && len <= 64 && !s[len];
}
