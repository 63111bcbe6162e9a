/* weir_maps.c - the userspace side of weir's map ABI: open pinned maps,
 * parse prefixes, and read or change allowlist, blocklist, limit, config
 * and stats entries. See weir_maps.h for the contracts.
 */
#include "weir_maps.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DESC(field, name) { name, offsetof(struct weir_maps, field) }
const struct weir_map_desc weir_map_descs[] = {
	DESC(config, WEIR_MAP_CONFIG), DESC(stats, WEIR_MAP_STATS),
	DESC(block4, WEIR_MAP_BLOCK4), DESC(block6, WEIR_MAP_BLOCK6),
	DESC(allow4, WEIR_MAP_ALLOW4), DESC(allow6, WEIR_MAP_ALLOW6),
	DESC(limit4, WEIR_MAP_LIMIT4), DESC(limit6, WEIR_MAP_LIMIT6),
	DESC(src, WEIR_MAP_SRC),       DESC(note, WEIR_MAP_NOTE),
};
#undef DESC
const size_t weir_map_count = sizeof(weir_map_descs) / sizeof(weir_map_descs[0]);

const char *const weir_reason_names[WEIR_R_MAX] = WEIR_REASON_NAMES;

static void weir_maps_reset(struct weir_maps *m)
{
	for (size_t i = 0; i < weir_map_count; i++)
		*weir_map_fd(m, &weir_map_descs[i]) = -1;
}

int weir_maps_open(struct weir_maps *m, const char *pin_dir)
{
	char path[512];
	int err;

	weir_maps_reset(m);
	for (size_t i = 0; i < weir_map_count; i++) {
		int *fd = weir_map_fd(m, &weir_map_descs[i]);

		snprintf(path, sizeof(path), "%s/%s", pin_dir,
			 weir_map_descs[i].name);
		*fd = bpf_obj_get(path);
		if (*fd < 0) {
			err = -errno;
			weir_maps_close(m);
			return err;
		}
	}
	return 0;
}

int weir_maps_from_obj(struct weir_maps *m, struct bpf_object *obj)
{
	weir_maps_reset(m);
	for (size_t i = 0; i < weir_map_count; i++) {
		int fd = bpf_object__find_map_fd_by_name(obj,
							 weir_map_descs[i].name);
		if (fd < 0)
			return -ENOENT;
		*weir_map_fd(m, &weir_map_descs[i]) = dup(fd);
	}
	return 0;
}

void weir_maps_close(struct weir_maps *m)
{
	for (size_t i = 0; i < weir_map_count; i++) {
		int *fd = weir_map_fd(m, &weir_map_descs[i]);

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
}

/* ---- prefixes, durations, clocks ---- */

int weir_cidr_parse(const char *s, struct weir_cidr *c, char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long plen;
	int bits, i;
	char *end;

	memset(c, 0, sizeof(*c));
	if (alen == 0 || alen >= INET6_ADDRSTRLEN) {
		snprintf(err, errlen, "'%s': not an IPv4 or IPv6 prefix", s);
		return -EINVAL;
	}
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = 4;
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = 6;
		bits = 128;
	} else {
		snprintf(err, errlen, "'%s': not an IPv4 or IPv6 address", s);
		return -EINVAL;
	}
	plen = bits;
	if (slash) {
		errno = 0;
		plen = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || plen > (unsigned long)bits ||
		    slash[1] == '-' || slash[1] == '+' || slash[1] == ' ') {
			snprintf(err, errlen,
				 "'%s': prefix length must be 0..%d", s, bits);
			return -EINVAL;
		}
	}
	c->prefixlen = (uint8_t)plen;
	for (i = 0; i < bits / 8; i++) {
		int keep = (int)plen - i * 8;
		uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff00 >> keep);

		if (c->addr[i] & ~mask) {
			snprintf(err, errlen,
				 "'%s': address has bits set past /%lu", s, plen);
			return -EINVAL;
		}
	}
	return 0;
}

void weir_cidr_format(const struct weir_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefixlen);
}

int weir_duration_parse(const char *s, uint64_t *ns)
{
	static const struct { char unit; uint64_t sec; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v == 0)
		return -EINVAL;
	if (*end) {
		size_t i;

		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (*end == units[i].unit)
				break;
		if (i == sizeof(units) / sizeof(units[0]) || end[1])
			return -EINVAL;
		mult = units[i].sec;
	}
	if (v > UINT64_MAX / 1000000000ull / mult)
		return -ERANGE;
	*ns = v * mult * 1000000000ull;
	return 0;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t weir_mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t weir_real_ns(void) { return clock_ns(CLOCK_REALTIME); }

/* ---- keys ---- */

union weir_lpm_key {
	struct weir_lpm4 v4;
	struct weir_lpm6 v6;
};

static void lpm_key(const struct weir_cidr *c, union weir_lpm_key *k)
{
	memset(k, 0, sizeof(*k));
	if (c->family == 4) {
		k->v4.prefixlen = c->prefixlen;
		memcpy(k->v4.addr, c->addr, 4);
	} else {
		k->v6.prefixlen = c->prefixlen;
		memcpy(k->v6.addr, c->addr, 16);
	}
}

static void cidr_from_key(int family, const void *key, struct weir_cidr *c)
{
	memset(c, 0, sizeof(*c));
	c->family = (uint8_t)family;
	if (family == 4) {
		const struct weir_lpm4 *k = key;

		c->prefixlen = (uint8_t)k->prefixlen;
		memcpy(c->addr, k->addr, 4);
	} else {
		const struct weir_lpm6 *k = key;

		c->prefixlen = (uint8_t)k->prefixlen;
		memcpy(c->addr, k->addr, 16);
	}
}

static void note_key(const struct weir_cidr *c, struct weir_note_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = c->family;
	k->prefixlen = c->prefixlen;
	memcpy(k->addr, c->addr, 16);
}

static int list_fd(const struct weir_maps *m, enum weir_list l, int family)
{
	if (l == WEIR_LIST_BLOCK)
		return family == 4 ? m->block4 : m->block6;
	return family == 4 ? m->allow4 : m->allow6;
}

static uint32_t list_feature(enum weir_list l)
{
	return l == WEIR_LIST_BLOCK ? WEIR_F_BLOCK : WEIR_F_ALLOW;
}

/* ---- allowlist and blocklist ---- */

int weir_list_add(const struct weir_maps *m, enum weir_list l,
		  const struct weir_cidr *c, uint64_t ttl_ns, const char *note)
{
	struct weir_entry e = {
		.expires_ns = ttl_ns ? weir_mono_ns() + ttl_ns : 0,
		.added_ns = weir_real_ns(),
		.prefixlen = c->prefixlen,
	};
	union weir_lpm_key k;
	struct weir_note_key nk;
	struct weir_note n = {};
	int err;

	lpm_key(c, &k);
	note_key(c, &nk);
	if (l == WEIR_LIST_BLOCK && note && *note) {
		snprintf(n.text, sizeof(n.text), "%s", note);
		if (bpf_map_update_elem(m->note, &nk, &n, BPF_ANY))
			return -errno;
	} else if (l == WEIR_LIST_BLOCK) {
		bpf_map_delete_elem(m->note, &nk);
	}
	if (bpf_map_update_elem(list_fd(m, l, c->family), &k, &e, BPF_ANY)) {
		err = -errno;
		if (l == WEIR_LIST_BLOCK)
			bpf_map_delete_elem(m->note, &nk);
		return err;
	}
	return weir_features_update(m, list_feature(l), 0);
}

int weir_list_del(const struct weir_maps *m, enum weir_list l,
		  const struct weir_cidr *c)
{
	union weir_lpm_key k;
	struct weir_note_key nk;

	lpm_key(c, &k);
	if (bpf_map_delete_elem(list_fd(m, l, c->family), &k))
		return -errno;
	if (l == WEIR_LIST_BLOCK) {
		note_key(c, &nk);
		bpf_map_delete_elem(m->note, &nk);
	}
	return 0;
}

/* Collects every key of an LPM map; the caller frees *keys. */
static long lpm_keys(int fd, size_t ksz, void **keys)
{
	size_t cap = 1024, n = 0;
	char *buf = malloc(cap * ksz), *prev = NULL;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			char *nb = realloc(buf, 2 * cap * ksz);

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		prev = n ? buf + (n - 1) * ksz : NULL;
		if (bpf_map_get_next_key(fd, prev, buf + n * ksz)) {
			if (errno == ENOENT)
				break;
			free(buf);
			return -errno;
		}
		n++;
	}
	*keys = buf;
	return (long)n;
}

int weir_list_walk(const struct weir_maps *m, enum weir_list l,
		   int (*fn)(const struct weir_list_item *it, void *ctx),
		   void *ctx)
{
	static const int families[] = { 4, 6 };
	uint64_t now = weir_mono_ns();
	int live = 0;

	for (size_t f = 0; f < 2; f++) {
		int family = families[f], fd = list_fd(m, l, family);
		size_t ksz = family == 4 ? sizeof(struct weir_lpm4)
					 : sizeof(struct weir_lpm6);
		void *keys;
		long n = lpm_keys(fd, ksz, &keys);

		if (n < 0)
			return (int)n;
		for (long i = 0; i < n; i++) {
			void *key = (char *)keys + i * ksz;
			struct weir_list_item it = {};
			struct weir_note_key nk;
			struct weir_note note;
			int ret;

			if (bpf_map_lookup_elem(fd, key, &it.entry))
				continue; /* deleted meanwhile */
			cidr_from_key(family, key, &it.cidr);
			note_key(&it.cidr, &nk);
			if (it.entry.expires_ns && it.entry.expires_ns <= now) {
				bpf_map_delete_elem(fd, key);
				if (l == WEIR_LIST_BLOCK)
					bpf_map_delete_elem(m->note, &nk);
				continue;
			}
			if (l == WEIR_LIST_BLOCK &&
			    !bpf_map_lookup_elem(m->note, &nk, &note))
				memcpy(it.note, note.text, sizeof(it.note));
			it.note[sizeof(it.note) - 1] = '\0';
			live++;
			if (fn && (ret = fn(&it, ctx)) != 0) {
				free(keys);
				return ret < 0 ? ret : live;
			}
		}
		free(keys);
	}
	return live;
}

int weir_list_flush(const struct weir_maps *m, enum weir_list l)
{
	static const int families[] = { 4, 6 };
	int deleted = 0;

	for (size_t f = 0; f < 2; f++) {
		int fd = list_fd(m, l, families[f]);
		size_t ksz = families[f] == 4 ? sizeof(struct weir_lpm4)
					      : sizeof(struct weir_lpm6);
		void *keys;
		long n = lpm_keys(fd, ksz, &keys);

		if (n < 0)
			return (int)n;
		for (long i = 0; i < n; i++)
			if (!bpf_map_delete_elem(fd, (char *)keys + i * ksz))
				deleted++;
		free(keys);
	}
	if (l == WEIR_LIST_BLOCK) {
		struct weir_note_key nk;

		while (!bpf_map_get_next_key(m->note, NULL, &nk))
			bpf_map_delete_elem(m->note, &nk);
	}
	weir_features_update(m, 0, list_feature(l));
	return deleted;
}

#define WEIR_IMPORT_BATCH 65536u

static size_t cmp_ksz;
static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, cmp_ksz);
}

/* Adds the keys of one family that are not in the map yet, in batches.
 * Prefixes already present keep their entry (expiry, hits, comment); only
 * what this call created is deleted again if a batch fails, so a failed
 * import leaves the map as it found it. */
static int import_family(int fd, char *keys, size_t ksz, size_t n,
			 size_t *added, size_t *done, size_t total,
			 void (*progress)(size_t, size_t, void *), void *ctx)
{
	struct weir_entry *vals = NULL;
	uint64_t now = weir_real_ns();
	size_t n_new = 0, applied = 0;
	void *have = NULL;
	long n_have;
	int err = 0;

	n_have = lpm_keys(fd, ksz, &have);
	if (n_have < 0)
		return (int)n_have;
	if (n_have > 0) {
		cmp_ksz = ksz;
		qsort(have, (size_t)n_have, ksz, cmp_key);
	}
	for (size_t i = 0; i < n; i++) {
		char *k = keys + i * ksz;

		if (n_have > 0 && bsearch(k, have, (size_t)n_have, ksz, cmp_key))
			continue;
		if (n_new != i)
			memcpy(keys + n_new * ksz, k, ksz);
		n_new++;
	}
	free(have);
	*done += n - n_new;
	*added = n_new;

	vals = calloc(n_new ? n_new : 1, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (size_t i = 0; i < n_new; i++) {
		vals[i].added_ns = now;
		vals[i].prefixlen = *(const __u32 *)(keys + i * ksz);
	}
	while (applied < n_new) {
		__u32 count = (__u32)(n_new - applied < WEIR_IMPORT_BATCH
					      ? n_new - applied : WEIR_IMPORT_BATCH);

		if (bpf_map_update_batch(fd, keys + applied * ksz, vals + applied,
					 &count, NULL)) {
			err = -errno;
			applied += count;
			break;
		}
		applied += count;
		*done += count;
		if (progress)
			progress(*done, total, ctx);
	}
	if (err)
		for (size_t i = 0; i < applied; i++)
			bpf_map_delete_elem(fd, keys + i * ksz);
	free(vals);
	return err;
}

int weir_list_import(const struct weir_maps *m, enum weir_list l,
		     const struct weir_cidr *v, size_t n,
		     void (*progress)(size_t done, size_t total, void *ctx),
		     void *ctx)
{
	struct weir_lpm4 *k4 = calloc(n ? n : 1, sizeof(*k4));
	struct weir_lpm6 *k6 = calloc(n ? n : 1, sizeof(*k6));
	size_t n4 = 0, n6 = 0, done = 0, added4, added6;
	int err = -ENOMEM;

	if (!k4 || !k6)
		goto out;
	for (size_t i = 0; i < n; i++) {
		union weir_lpm_key k;

		lpm_key(&v[i], &k);
		if (v[i].family == 4)
			k4[n4++] = k.v4;
		else
			k6[n6++] = k.v6;
	}
	/* Each family undoes its own part on failure; a failure of the
	 * second also undoes the first. */
	err = import_family(list_fd(m, l, 6), (char *)k6, sizeof(*k6), n6,
			    &added6, &done, n, progress, ctx);
	if (err)
		goto out;
	err = import_family(list_fd(m, l, 4), (char *)k4, sizeof(*k4), n4,
			    &added4, &done, n, progress, ctx);
	if (err) {
		/* k6[0..added6) holds exactly the IPv6 prefixes added above. */
		for (size_t i = 0; i < added6; i++)
			bpf_map_delete_elem(list_fd(m, l, 6), &k6[i]);
		goto out;
	}
	err = n ? weir_features_update(m, list_feature(l), 0) : 0;
out:
	free(k4);
	free(k6);
	return err;
}

/* ---- config, limits, stats ---- */

int weir_config_read(const struct weir_maps *m, struct weir_config *cfg)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(m->config, &k, cfg) ? -errno : 0;
}

int weir_config_write(const struct weir_maps *m, const struct weir_config *cfg)
{
	__u32 k = 0;

	return bpf_map_update_elem(m->config, &k, cfg, BPF_ANY) ? -errno : 0;
}

int weir_features_update(const struct weir_maps *m, uint32_t set, uint32_t clear)
{
	struct weir_config cfg;
	int err = weir_config_read(m, &cfg);

	if (err)
		return err;
	cfg.features = (cfg.features | set) & ~clear;
	return weir_config_write(m, &cfg);
}

static bool limit_on(const struct weir_limit *l)
{
	return l->conn.rate || l->pkt.rate;
}

static int count_limit(const struct weir_cidr *c, const struct weir_limit *l,
		       void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

/* Keeps WEIR_F_LIMIT set exactly when some limit can apply. */
static int limit_feature_sync(const struct weir_maps *m)
{
	struct weir_config cfg;
	int overrides = 0, err = weir_config_read(m, &cfg);

	if (err)
		return err;
	err = weir_limit_walk(m, count_limit, &overrides);
	if (err < 0)
		return err;
	return weir_features_update(m,
				    limit_on(&cfg.limit) || overrides ? WEIR_F_LIMIT : 0,
				    limit_on(&cfg.limit) || overrides ? 0 : WEIR_F_LIMIT);
}

int weir_limit_set(const struct weir_maps *m, const struct weir_cidr *c,
		   const struct weir_limit *lim)
{
	union weir_lpm_key k;
	int err;

	if (!c) {
		struct weir_config cfg;

		err = weir_config_read(m, &cfg);
		if (err)
			return err;
		cfg.limit = *lim;
		err = weir_config_write(m, &cfg);
	} else {
		lpm_key(c, &k);
		err = bpf_map_update_elem(c->family == 4 ? m->limit4 : m->limit6,
					  &k, lim, BPF_ANY) ? -errno : 0;
	}
	return err ? err : limit_feature_sync(m);
}

int weir_limit_del(const struct weir_maps *m, const struct weir_cidr *c)
{
	union weir_lpm_key k;

	lpm_key(c, &k);
	if (bpf_map_delete_elem(c->family == 4 ? m->limit4 : m->limit6, &k))
		return -errno;
	return limit_feature_sync(m);
}

int weir_limit_walk(const struct weir_maps *m,
		    int (*fn)(const struct weir_cidr *c,
			      const struct weir_limit *lim, void *ctx),
		    void *ctx)
{
	static const int families[] = { 4, 6 };
	int n_all = 0;

	for (size_t f = 0; f < 2; f++) {
		int fd = families[f] == 4 ? m->limit4 : m->limit6;
		size_t ksz = families[f] == 4 ? sizeof(struct weir_lpm4)
					      : sizeof(struct weir_lpm6);
		void *keys;
		long n = lpm_keys(fd, ksz, &keys);

		if (n < 0)
			return (int)n;
		for (long i = 0; i < n; i++) {
			struct weir_limit lim;
			struct weir_cidr c;
			int ret;

			if (bpf_map_lookup_elem(fd, (char *)keys + i * ksz, &lim))
				continue;
			cidr_from_key(families[f], (char *)keys + i * ksz, &c);
			n_all++;
			if ((ret = fn(&c, &lim, ctx)) != 0) {
				free(keys);
				return ret;
			}
		}
		free(keys);
	}
	return n_all;
}

int weir_stats_read(const struct weir_maps *m, struct weir_stat out[WEIR_R_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	struct weir_stat *pc;

	if (ncpu < 0)
		return ncpu;
	pc = calloc((size_t)ncpu, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	for (__u32 r = 0; r < WEIR_R_MAX; r++) {
		out[r] = (struct weir_stat){};
		if (bpf_map_lookup_elem(m->stats, &r, pc)) {
			int err = -errno;

			free(pc);
			return err;
		}
		for (int c = 0; c < ncpu; c++) {
			out[r].packets += pc[c].packets;
			out[r].bytes += pc[c].bytes;
		}
	}
	free(pc);
	return 0;
}

long weir_map_fill(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char *a, *b;
	long n = 0;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.type == BPF_MAP_TYPE_ARRAY || info.type == BPF_MAP_TYPE_PERCPU_ARRAY)
		return info.max_entries;
	a = malloc(info.key_size);
	b = malloc(info.key_size);
	if (!a || !b) {
		free(a);
		free(b);
		return -ENOMEM;
	}
	if (!bpf_map_get_next_key(fd, NULL, a)) {
		n = 1;
		while (!bpf_map_get_next_key(fd, a, b)) {
			char *t = a;

			a = b;
			b = t;
			n++;
		}
	}
	free(a);
	free(b);
	return n;
}
