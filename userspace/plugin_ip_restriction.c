/* userspace/plugin_ip_restriction.c - the `ip-restriction` plugin: a route
 * admits only the clients in an allowlist, or refuses those in a denylist,
 * with 403 and a short body:
 *
 *   plugins:
 *     ip-restriction:
 *       allowlist: [10.0.0.0/8, 192.168.1.7, "2001:db8::/32"]
 *       message: "not from here"        # optional body text
 *
 * `whitelist` is another name for `allowlist`, `blacklist` for `denylist`;
 * a route gives one of the two. Addresses without a length are hosts (/32,
 * /128); host bits set past the length are an error, as in weirctl. IPv4
 * prefixes match IPv4 clients (also when they reach an IPv6 listener as
 * ::ffff:a.b.c.d), IPv6 prefixes IPv6 clients.
 *
 * The list becomes, when the snapshot is built, two sorted arrays of
 * disjoint ranges (overlapping and adjacent prefixes merged): a request
 * pays a binary search, log2 of the list, whatever its length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "plugin.h"
#include "maps/weir_maps.h"

/* An address as a 128-bit number: IPv4 in lo, hi = 0. */
struct ip128 {
	uint64_t hi, lo;
};

struct ip_range {
	struct ip128 first, last;
};

struct ip_set {
	struct ip_range *v;
	size_t n;
};

struct iprestrict_inst {
	bool deny;			/* the list is a denylist */
	struct ip_set set[2];		/* IPv4, IPv6 */
	char *message;
};

static int ip_cmp(struct ip128 a, struct ip128 b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	return a.lo < b.lo ? -1 : a.lo > b.lo;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t x = 0;

	for (int i = 0; i < 8; i++)
		x = x << 8 | p[i];
	return x;
}

static struct ip128 ip_of(const uint8_t *addr, int family)
{
	if (family == 4)
		return (struct ip128){ 0, (uint64_t)addr[0] << 24 | addr[1] << 16 |
					  addr[2] << 8 | addr[3] };
	return (struct ip128){ be64(addr), be64(addr + 8) };
}

/* The range a prefix covers (bits = 32 or 128). */
static struct ip_range range_of(const struct weir_cidr *c)
{
	struct ip128 a = ip_of(c->addr, c->family);
	int bits = c->family == 4 ? 32 : 128, host = bits - c->prefixlen;
	struct ip128 m;		/* the host bits */

	if (host >= 64) {
		m.lo = ~0ULL;
		m.hi = host == 128 ? ~0ULL : (1ULL << (host - 64)) - 1;
	} else {
		m.hi = 0;
		m.lo = host ? (1ULL << host) - 1 : 0;
	}
	if (c->family == 4)
		m.hi = 0;
	return (struct ip_range){ a, { a.hi | m.hi, a.lo | m.lo } };
}

static int range_cmp(const void *x, const void *y)
{
	return ip_cmp(((const struct ip_range *)x)->first, ((const struct ip_range *)y)->first);
}

/* Sorts and merges overlapping or adjacent ranges in place. */
static void set_merge(struct ip_set *s)
{
	size_t k = 0;

	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof(s->v[0]), range_cmp);
	for (size_t i = 1; i < s->n; i++) {
		struct ip128 next = s->v[k].last;
		bool wraps = next.hi == ~0ULL && next.lo == ~0ULL;

		if (!wraps && ++next.lo == 0)
			next.hi++;
		if (wraps || ip_cmp(s->v[i].first, next) <= 0) {
			if (ip_cmp(s->v[i].last, s->v[k].last) > 0)
				s->v[k].last = s->v[i].last;
		} else {
			s->v[++k] = s->v[i];
		}
	}
	s->n = k + 1;
}

static bool set_has(const struct ip_set *s, struct ip128 a)
{
	size_t lo = 0, hi = s->n;

	/* the last range whose first <= a */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ip_cmp(s->v[mid].first, a) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && ip_cmp(a, s->v[lo - 1].last) <= 0;
}

/* Whether the client address (IPv4 as mapped) is in the instance's list. */
static bool iprestrict_listed(const struct iprestrict_inst *ip, const struct in6_addr *a)
{
	if (IN6_IS_ADDR_V4MAPPED(a))
		return set_has(&ip->set[0], ip_of(&a->s6_addr[12], 4));
	return set_has(&ip->set[1], ip_of(a->s6_addr, 6));
}

static void iprestrict_destroy(void *p)
{
	struct iprestrict_inst *ip = p;

	if (!ip)
		return;
	free(ip->set[0].v);
	free(ip->set[1].v);
	free(ip->message);
	free(ip);
}

static const char *const list_names[] = { "allowlist", "whitelist", "denylist", "blacklist" };

static int iprestrict_configure(const json_t *conf, const json_t *global, void **inst,
				char *err, size_t errlen)
{
	struct iprestrict_inst *ip;
	const json_t *list = NULL, *msg, *val;
	const char *key, *which = NULL;
	size_t i, n;

	if (!json_is_object(conf)) {
		snprintf(err, errlen, "settings must be a map with `allowlist` or `denylist`");
		return -1;
	}
	ip = calloc(1, sizeof(*ip));
	if (!ip) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_object_foreach((json_t *)conf, key, val) {
		bool known = !strcmp(key, "message");
		for (i = 0; i < 4; i++) {
			if (strcmp(key, list_names[i]))
				continue;
			known = true;
			if (which) {
				snprintf(err, errlen, "%s: give one list (%s is given)", key,
					 which);
				goto fail;
			}
			which = key;
			list = val;
			ip->deny = i >= 2;
		}
		if (!known) {
			snprintf(err, errlen, "%s: unknown field", key);
			goto fail;
		}
	}
	if (!which) {
		snprintf(err, errlen, "allowlist or denylist: required");
		goto fail;
	}
	if (!json_is_array(list) || !(n = json_array_size(list))) {
		snprintf(err, errlen, "%s: expected a non-empty list of addresses and CIDRs",
			 which);
		goto fail;
	}
	msg = json_object_get(conf, "message");
	if (msg && (!json_is_string(msg) || json_string_length(msg) > 200 ||
		    strpbrk(json_string_value(msg), "\r\n"))) {
		snprintf(err, errlen, "message: expected one line of text, at most 200 bytes");
		goto fail;
	}
	ip->message = strdup(msg ? json_string_value(msg) : "your address is not allowed");
	ip->set[0].v = calloc(n, sizeof(struct ip_range));
	ip->set[1].v = calloc(n, sizeof(struct ip_range));
	if (!ip->message || !ip->set[0].v || !ip->set[1].v) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_array_foreach(list, i, val) {
		struct weir_cidr c;
		char why[160];
		const char *s = json_string_value(val);

		if (!s) {
			snprintf(err, errlen, "%s[%zu]: expected an address or CIDR string",
				 which, i);
			goto fail;
		}
		if (weir_cidr_parse(s, &c, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s[%zu]: %s", which, i, why);
			goto fail;
		}
		struct ip_set *set = &ip->set[c.family == 6];
		set->v[set->n++] = range_of(&c);
	}
	set_merge(&ip->set[0]);
	set_merge(&ip->set[1]);
	*inst = ip;
	return 0;
fail:
	iprestrict_destroy(ip);
	return -1;
}

static int iprestrict_access(struct weir_req *r, void *inst)
{
	const struct iprestrict_inst *ip = inst;

	if (iprestrict_listed(ip, &r->client->peer.sin6_addr) == ip->deny) {
		r->local_why = ip->message;
		return 403;
	}
	return 0;
}

const struct weir_plugin weir_plugin_ip_restriction = {
	.name = "ip-restriction",
	.priority = 3000,
	.configure = iprestrict_configure,
	.destroy = iprestrict_destroy,
	.access = iprestrict_access,
};
