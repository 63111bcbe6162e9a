/* weir_maps.c - the userspace side of weir's map ABI: open pinned maps,
 * parse prefixes, and read or change allowlist, blocklist, limit, config
 * and stats entries. See weir_maps.h for the contracts.
 */
#include "weir_maps.h"
#include "internal.h"
#include "table.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define DESC(field, name) { name, offsetof(struct weir_maps, field) }
const struct weir_map_desc weir_map_descs[] = {
	DESC(config, WEIR_MAP_CONFIG), DESC(stats, WEIR_MAP_STATS),
	DESC(block4, WEIR_MAP_BLOCK4), DESC(block6, WEIR_MAP_BLOCK6),
	DESC(allow4, WEIR_MAP_ALLOW4), DESC(allow6, WEIR_MAP_ALLOW6),
	DESC(limit4, WEIR_MAP_LIMIT4), DESC(limit6, WEIR_MAP_LIMIT6),
	DESC(src, WEIR_MAP_SRC),       DESC(note, WEIR_MAP_NOTE),
	DESC(block4h, WEIR_MAP_BLOCK4H), DESC(block6h, WEIR_MAP_BLOCK6H),
	DESC(allow4h, WEIR_MAP_ALLOW4H), DESC(allow6h, WEIR_MAP_ALLOW6H),
	DESC(block4e, WEIR_MAP_BLOCK4E), DESC(block6e, WEIR_MAP_BLOCK6E),
	DESC(allow4e, WEIR_MAP_ALLOW4E), DESC(allow6e, WEIR_MAP_ALLOW6E),
	DESC(block4s, WEIR_MAP_BLOCK4S), DESC(block6s, WEIR_MAP_BLOCK6S),
	DESC(allow4s, WEIR_MAP_ALLOW4S), DESC(allow6s, WEIR_MAP_ALLOW6S),
	DESC(svc, WEIR_MAP_SVC), DESC(svc_state, WEIR_MAP_SVC_STATE),
	DESC(ring, WEIR_MAP_RING), DESC(backend, WEIR_MAP_BACKEND),
	DESC(flow, WEIR_MAP_FLOW), DESC(flow_rate, WEIR_MAP_FLOW_RATE),
};
#undef DESC
const size_t weir_map_count = sizeof(weir_map_descs) / sizeof(weir_map_descs[0]);

const char *const weir_reason_names[WEIR_R_MAX] = WEIR_REASON_NAMES;

static void weir_maps_reset(struct weir_maps *m)
{
	m->dir = -1;
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
	m->dir = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->dir < 0) {
		err = -errno;
		weir_maps_close(m);
		return err;
	}
	return 0;
}

int weir_maps_from_obj(struct weir_maps *m, struct bpf_object *obj)
{
	weir_maps_reset(m);
	for (size_t i = 0; i < weir_map_count; i++) {
		int fd = bpf_object__find_map_fd_by_name(obj,
							 weir_map_descs[i].name);
		if (fd < 0 || (fd = dup(fd)) < 0) {
			int err = fd < 0 && errno ? -errno : -ENOENT;

			weir_maps_close(m);
			return err;
		}
		*weir_map_fd(m, &weir_map_descs[i]) = fd;
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
	if (m->dir >= 0)
		close(m->dir);
	m->dir = -1;
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
		/* Digits only: strtoul would skip any leading whitespace
		 * and take a sign after it. */
		if (slash[1] < '0' || slash[1] > '9' || *end || errno ||
		    plen > (unsigned long)bits) {
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

int weir_list_line(char *line, const char **cidr)
{
	char *s = line, *end;

	if ((end = strchr(s, '#')))
		*end = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == '\n' || end[-1] == '\r' ||
			   end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (!*s)
		return 0;
	*cidr = s;
	return 1;
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

void weir__list_parts(const struct weir_maps *m, enum weir_list l,
		       struct list_part p[N_PARTS])
{
	bool b = l == WEIR_LIST_BLOCK;
	uint32_t net = b ? WEIR_F_BLOCK_NET : WEIR_F_ALLOW_NET;
	uint32_t host = b ? WEIR_F_BLOCK_HOST : WEIR_F_ALLOW_HOST;

	p[WEIR_PART_NET4] = (struct list_part){ b ? m->block4 : m->allow4, 4, false,
					   sizeof(struct weir_lpm4), net,
					   b ? m->block4s : m->allow4s, -1 };
	p[WEIR_PART_HOST4] = (struct list_part){ b ? m->block4h : m->allow4h, 4, true,
					    4, host, -1, b ? m->block4e : m->allow4e };
	p[WEIR_PART_NET6] = (struct list_part){ b ? m->block6 : m->allow6, 6, false,
					   sizeof(struct weir_lpm6), net,
					   b ? m->block6s : m->allow6s, -1 };
	p[WEIR_PART_HOST6] = (struct list_part){ b ? m->block6h : m->allow6h, 6, true,
					    16, host, -1, b ? m->block6e : m->allow6e };
}

int weir__part_of(const struct weir_cidr *c)
{
	if (c->family == 4)
		return c->prefixlen == 32 ? WEIR_PART_HOST4 : WEIR_PART_NET4;
	return c->prefixlen == 128 ? WEIR_PART_HOST6 : WEIR_PART_NET6;
}

void weir__part_key(const struct list_part *p, const struct weir_cidr *c,
		     void *key)
{
	size_t alen = p->family == 4 ? 4 : 16;

	memset(key, 0, p->ksz);
	if (p->host) {
		memcpy(key, c->addr, alen);
	} else {
		__u32 plen = c->prefixlen;

		memcpy(key, &plen, sizeof(plen));
		memcpy((char *)key + sizeof(plen), c->addr, alen);
	}
}

void weir__part_cidr(const struct list_part *p, const void *key,
		      struct weir_cidr *c)
{
	size_t alen = p->family == 4 ? 4 : 16;

	memset(c, 0, sizeof(*c));
	c->family = p->family;
	if (p->host) {
		c->prefixlen = (uint8_t)(alen * 8);
		memcpy(c->addr, key, alen);
	} else {
		__u32 plen;

		memcpy(&plen, key, sizeof(plen));
		c->prefixlen = (uint8_t)plen;
		memcpy(c->addr, (const char *)key + sizeof(plen), alen);
	}
}

static void note_key(const struct weir_cidr *c, struct weir_note_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = c->family;
	k->prefixlen = c->prefixlen;
	memcpy(k->addr, c->addr, 16);
}

int weir__trie_get(int fd, const void *key, struct weir_entry *e)
{
	if (bpf_map_lookup_elem(fd, key, e))
		return -errno;
	return e->prefixlen == *(const __u32 *)key ? 0 : -ENOENT;
}

/* ---- trie summaries ---- */

#define SUMMARY_BYTES ((size_t)WEIR_SUMMARY_WORDS * sizeof(uint64_t))

/* Sets the summary bits of every /24 (first 24 address bits) that prefix c
 * may cover. Host bits past the prefix are zero, so the range is aligned. */
static void summary_mark(uint64_t *w, const struct weir_cidr *c)
{
	uint32_t top = (uint32_t)c->addr[0] << 16 | (uint32_t)c->addr[1] << 8 |
		       c->addr[2];
	uint32_t n = c->prefixlen >= WEIR_SUMMARY_BITS
			     ? 1 : 1u << (WEIR_SUMMARY_BITS - c->prefixlen);

	for (uint32_t b = top; b < top + n;) {
		if ((b & 63) == 0 && top + n - b >= 64) {
			__atomic_store_n(&w[b >> 6], ~0ull, __ATOMIC_RELAXED);
			b += 64;
		} else {
			__atomic_fetch_or(&w[b >> 6], 1ull << (b & 63),
					  __ATOMIC_RELAXED);
			b++;
		}
	}
}

static uint64_t *summary_map(int fd)
{
	void *p = mmap(NULL, SUMMARY_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Marks n prefixes (keys of part) before they are inserted, so that the
 * program never skips a trie that holds a prefix for the source. */
int weir__summary_add(const struct list_part *part, const char *keys, size_t n)
{
	uint64_t *w;
	struct weir_cidr c;

	if (!n)
		return 0;
	w = summary_map(part->sum);
	if (!w)
		return -errno;
	for (size_t i = 0; i < n; i++) {
		weir__part_cidr(part, keys + i * part->ksz, &c);
		summary_mark(w, &c);
	}
	munmap(w, SUMMARY_BYTES);
	return 0;
}

/* Recomputes the summary from the prefixes in the trie, after deletes. Words
 * are replaced one by one; a bit that stays set is never cleared on the way. */
int weir__summary_rebuild(const struct list_part *part)
{
	uint64_t *fresh = calloc(WEIR_SUMMARY_WORDS, sizeof(uint64_t)), *w;
	struct weir_cidr c;
	void *keys = NULL;
	long n;

	if (!fresh)
		return -ENOMEM;
	n = weir__map_keys(part->fd, part->ksz, &keys);
	if (n < 0) {
		free(fresh);
		return (int)n;
	}
	for (long i = 0; i < n; i++) {
		weir__part_cidr(part, (char *)keys + i * part->ksz, &c);
		summary_mark(fresh, &c);
	}
	free(keys);
	w = summary_map(part->sum);
	if (!w) {
		free(fresh);
		return -errno;
	}
	for (size_t i = 0; i < WEIR_SUMMARY_WORDS; i++)
		if (__atomic_load_n(&w[i], __ATOMIC_RELAXED) != fresh[i])
			__atomic_store_n(&w[i], fresh[i], __ATOMIC_RELAXED);
	munmap(w, SUMMARY_BYTES);
	free(fresh);
	return 0;
}

/* Serializes the changes of concurrent writers (weirctl, weir) that touch
 * the feature bits, with flock on the pin directory. Maps taken from an
 * object (tests) have no directory and need no lock. */
void weir__maps_lock(const struct weir_maps *m, int op)
{
	if (m->dir >= 0)
		while (flock(m->dir, op) && errno == EINTR)
			;
}

/* Maps a part's table; the seed is the config's (weir_abi.h). */
int weir__part_tab(const struct weir_maps *m, const struct list_part *part,
		    struct weir_tab *t)
{
	struct weir_xdp_config cfg;
	int err = weir_xdp_config_read(m, &cfg);

	if (err)
		return err;
	return weir_tab_open(t, part->fd, part->ents, part->family, cfg.seed);
}

static bool part_empty(const struct weir_maps *m, const struct list_part *part)
{
	char key[WEIR_KEY_MAX];
	struct weir_tab t;
	bool empty = true;

	if (!part->host)
		return bpf_map_get_next_key(part->fd, NULL, key) && errno == ENOENT;
	if (weir__part_tab(m, part, &t))
		return false; /* unknown: keep the bit, a lookup is harmless */
	for (uint32_t i = 0; i < weir_tab_size(&t) && empty; i++)
		empty = weir_tab_state(&t, i) != WEIR_SLOT_LIVE;
	weir_tab_close(&t);
	return empty;
}

/* Sets each part's feature bit exactly when its map has entries. */
int weir__list_bits_sync(const struct weir_maps *m, enum weir_list l)
{
	struct list_part p[N_PARTS];
	uint32_t set = 0, clear = 0;

	weir__list_parts(m, l, p);
	for (int i = 0; i < N_PARTS; i++)
		if (!part_empty(m, &p[i]))
			set |= p[i].bit;
	for (int i = 0; i < N_PARTS; i++)
		if (!(set & p[i].bit))
			clear |= p[i].bit;
	return weir_features_update(m, set, clear);
}

/* ---- allowlist and blocklist ---- */

/* Deletes the comments whose blocklist entry is gone (retired by the
 * program, or reaped); returns how many, or a negative errno. Maps each
 * table once, however many comments there are. */
static int notes_sweep(const struct weir_maps *m)
{
	struct list_part p[N_PARTS];
	struct weir_tab tab[N_PARTS] = {};
	struct weir_note_key *keys = NULL;
	int swept = 0, err = 0;
	long n;

	n = weir__map_keys(m->note, sizeof(*keys), (void **)&keys);
	if (n <= 0) {
		if (!n)
			free(keys);
		return (int)n;
	}
	weir__list_parts(m, WEIR_LIST_BLOCK, p);
	for (int i = 0; i < N_PARTS && !err; i++)
		if (p[i].host)
			err = weir__part_tab(m, &p[i], &tab[i]);
	for (long k = 0; k < n && !err; k++) {
		struct weir_cidr c = { .family = keys[k].family,
				       .prefixlen = keys[k].prefixlen };
		int pi;
		char key[WEIR_KEY_MAX];
		struct weir_entry e;
		bool present;

		memcpy(c.addr, keys[k].addr, 16);
		pi = weir__part_of(&c);
		weir__part_key(&p[pi], &c, key);
		if (p[pi].host)
			present = weir_tab_find(&tab[pi], key) >= 0;
		else
			present = !weir__trie_get(p[pi].fd, key, &e);
		if (!present && !bpf_map_delete_elem(m->note, &keys[k]))
			swept++;
	}
	for (int i = 0; i < N_PARTS; i++)
		if (p[i].host && tab[i].slots)
			weir_tab_close(&tab[i]);
	free(keys);
	return err ? err : swept;
}

/* Adds or replaces one entry of a part. */
static int part_put(const struct weir_maps *m, const struct list_part *part,
		    const void *key, const struct weir_entry *e)
{
	struct weir_tab t;
	int err;

	if (!part->host)
		return bpf_map_update_elem(part->fd, key, e, BPF_ANY) ? -errno : 0;
	err = weir__part_tab(m, part, &t);
	if (err)
		return err;
	err = weir_tab_put(&t, key, e, false, NULL);
	weir_tab_close(&t);
	return err < 0 ? err : 0;
}

int weir__part_del(const struct weir_maps *m, const struct list_part *part,
		    const void *key)
{
	struct weir_tab t;
	long i;
	int err;

	if (!part->host)
		return bpf_map_delete_elem(part->fd, key) ? -errno : 0;
	err = weir__part_tab(m, part, &t);
	if (err)
		return err;
	i = weir_tab_find(&t, key);
	err = i >= 0 && weir_tab_retire(&t, (uint32_t)i) ? 0 : -ENOENT;
	weir_tab_close(&t);
	return err;
}

int weir_list_add(const struct weir_maps *m, enum weir_list l,
		  const struct weir_cidr *c, uint64_t ttl_ns, const char *note)
{
	struct weir_entry e = {
		.expires_ns = ttl_ns ? weir_mono_ns() + ttl_ns : 0,
		.added_ns = weir_real_ns(),
		.prefixlen = c->prefixlen,
	};
	struct list_part p[N_PARTS], *part;
	struct weir_note_key nk;
	struct weir_note n = {};
	char key[WEIR_KEY_MAX];
	int err = 0;

	weir__list_parts(m, l, p);
	part = &p[weir__part_of(c)];
	weir__part_key(part, c, key);
	note_key(c, &nk);
	weir__maps_lock(m, LOCK_EX);
	if (!part->host && (err = weir__summary_add(part, key, 1)))
		goto out;
	if (l == WEIR_LIST_BLOCK && note && *note) {
		snprintf(n.text, sizeof(n.text), "%s", note);
		if (bpf_map_update_elem(m->note, &nk, &n, BPF_ANY)) {
			err = -errno;
			if (err == -E2BIG)
				err = notes_sweep(m) > 0 &&
				      !bpf_map_update_elem(m->note, &nk, &n, BPF_ANY)
					      ? 0 : -EMLINK;
			if (err)
				goto out;
		}
	} else if (l == WEIR_LIST_BLOCK) {
		bpf_map_delete_elem(m->note, &nk);
	}
	err = part_put(m, part, key, &e);
	if (err) {
		if (l == WEIR_LIST_BLOCK)
			bpf_map_delete_elem(m->note, &nk);
		goto out;
	}
	err = weir_features_update(m, part->bit, 0);
out:
	weir__maps_lock(m, LOCK_UN);
	return err;
}

int weir_list_del(const struct weir_maps *m, enum weir_list l,
		  const struct weir_cidr *c)
{
	struct list_part p[N_PARTS], *part;
	struct weir_note_key nk;
	char key[WEIR_KEY_MAX];
	int err;

	weir__list_parts(m, l, p);
	part = &p[weir__part_of(c)];
	weir__part_key(part, c, key);
	weir__maps_lock(m, LOCK_EX);
	if ((err = weir__part_del(m, part, key)))
		goto out;
	if (l == WEIR_LIST_BLOCK) {
		note_key(c, &nk);
		bpf_map_delete_elem(m->note, &nk);
	}
	if (!part->host && (err = weir__summary_rebuild(part)))
		goto out;
	err = weir__list_bits_sync(m, l);
out:
	weir__maps_lock(m, LOCK_UN);
	return err;
}

/* Collects every key of a map; the caller frees *keys. */
long weir__map_keys(int fd, size_t ksz, void **keys)
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

/* Collects the keys and entries of a part; the caller frees both. */
static long part_items(const struct weir_maps *m, const struct list_part *part,
		       char **keys_out, struct weir_entry **ents_out)
{
	struct weir_entry *ents;
	struct weir_tab t;
	char *keys = NULL;
	long n = 0;
	int err;

	if (!part->host) {
		n = weir__map_keys(part->fd, part->ksz, (void **)&keys);
		if (n < 0)
			return n;
		ents = calloc(n ? (size_t)n : 1, sizeof(*ents));
		if (!ents) {
			free(keys);
			return -ENOMEM;
		}
		for (long i = 0; i < n; i++)
			if (weir__trie_get(part->fd, keys + i * part->ksz, &ents[i]))
				ents[i].prefixlen = UINT32_MAX; /* deleted meanwhile */
		*keys_out = keys;
		*ents_out = ents;
		return n;
	}
	err = weir__part_tab(m, part, &t);
	if (err)
		return err;
	keys = malloc((size_t)weir_tab_size(&t) / 4 * part->ksz + part->ksz);
	ents = malloc((size_t)weir_tab_size(&t) / 4 * sizeof(*ents) + sizeof(*ents));
	for (uint32_t i = 0; keys && ents && i < weir_tab_size(&t); i++) {
		if (weir_tab_state(&t, i) != WEIR_SLOT_LIVE)
			continue;
		if ((size_t)n == weir_tab_size(&t) / 4 + 1) {
			/* a fuller table than tables get: grow to its size */
			char *nk = realloc(keys, (size_t)weir_tab_size(&t) * part->ksz);
			struct weir_entry *ne;

			if (nk)
				keys = nk;
			ne = nk ? realloc(ents, (size_t)weir_tab_size(&t) * sizeof(*ents))
				: NULL;
			if (!ne) {
				free(keys);
				free(ents);
				keys = NULL;
				ents = NULL;
				break;
			}
			ents = ne;
		}
		memcpy(keys + n * part->ksz, weir_tab_addr(&t, i), part->ksz);
		ents[n++] = t.ents[i];
	}
	weir_tab_close(&t);
	if (!keys || !ents) {
		free(keys);
		free(ents);
		return -ENOMEM;
	}
	*keys_out = keys;
	*ents_out = ents;
	return n;
}

/* Removes keys[0..n) of a part whose entries are still expired at `now`
 * (each may have been re-added since it was read), under one lock and one
 * mapping of the table; deletes their comments. Returns how many went. */
static int part_reap(const struct weir_maps *m, const struct list_part *part,
		     enum weir_list l, const char *keys, size_t n, uint64_t now)
{
	struct weir_entry e;
	struct weir_tab t;
	int reaped = 0;

	if (!n)
		return 0;
	weir__maps_lock(m, LOCK_EX);
	if (part->host && weir__part_tab(m, part, &t)) {
		weir__maps_lock(m, LOCK_UN);
		return 0;
	}
	for (size_t k = 0; k < n; k++) {
		const char *key = keys + k * part->ksz;
		struct weir_note_key nk;
		struct weir_cidr c;
		bool gone;

		if (part->host) {
			long i = weir_tab_find(&t, key);

			gone = i >= 0 && t.ents[i].expires_ns &&
			       t.ents[i].expires_ns <= now &&
			       weir_tab_retire(&t, (uint32_t)i);
		} else {
			gone = !weir__trie_get(part->fd, key, &e) && e.expires_ns &&
			       e.expires_ns <= now && !bpf_map_delete_elem(part->fd, key);
		}
		if (!gone)
			continue;
		reaped++;
		if (l == WEIR_LIST_BLOCK) {
			weir__part_cidr(part, key, &c);
			note_key(&c, &nk);
			bpf_map_delete_elem(m->note, &nk);
		}
	}
	if (part->host)
		weir_tab_close(&t);
	if (reaped && !part->host)
		weir__summary_rebuild(part);
	weir__maps_lock(m, LOCK_UN);
	return reaped;
}

static int list_walk(const struct weir_maps *m, enum weir_list l,
		     int (*fn)(const struct weir_list_item *it, void *ctx),
		     void *ctx, int *reaped_out)
{
	static const int order[N_PARTS] = { WEIR_PART_NET4, WEIR_PART_HOST4, WEIR_PART_NET6,
					    WEIR_PART_HOST6 };
	struct list_part p[N_PARTS];
	uint64_t now = weir_mono_ns();
	int live = 0, reaped = 0, ret = 0;

	weir__list_parts(m, l, p);
	for (int i = 0; i < N_PARTS && !ret; i++) {
		const struct list_part *part = &p[order[i]];
		struct weir_entry *ents = NULL;
		char *keys = NULL;
		long n = part_items(m, part, &keys, &ents);
		size_t n_expired = 0;

		if (n < 0)
			return (int)n;
		for (long k = 0; k < n && !ret; k++) {
			void *key = keys + k * part->ksz;
			struct weir_list_item it = { .entry = ents[k] };
			struct weir_note_key nk;
			struct weir_note note;

			if (it.entry.prefixlen == UINT32_MAX)
				continue; /* deleted meanwhile */
			weir__part_cidr(part, key, &it.cidr);
			note_key(&it.cidr, &nk);
			if (it.entry.expires_ns && it.entry.expires_ns <= now) {
				/* gather in place: keys[0..n_expired), k >= n_expired */
				memmove(keys + n_expired++ * part->ksz, key, part->ksz);
				continue;
			}
			if (l == WEIR_LIST_BLOCK &&
			    !bpf_map_lookup_elem(m->note, &nk, &note))
				memcpy(it.note, note.text, sizeof(it.note));
			it.note[sizeof(it.note) - 1] = '\0';
			live++;
			if (fn)
				ret = fn(&it, ctx);
		}
		reaped += part_reap(m, part, l, keys, n_expired, now);
		free(keys);
		free(ents);
	}
	if (reaped) {
		weir__maps_lock(m, LOCK_EX);
		weir__list_bits_sync(m, l);
		weir__maps_lock(m, LOCK_UN);
	}
	/* Comments of entries the program retired on its own go too (under the
	 * lock: an add writes its comment just before its entry). */
	if (l == WEIR_LIST_BLOCK) {
		weir__maps_lock(m, LOCK_EX);
		notes_sweep(m);
		weir__maps_lock(m, LOCK_UN);
	}
	if (reaped_out)
		*reaped_out = reaped;
	if (ret)
		return ret < 0 ? ret : live;
	return live;
}

int weir_list_walk(const struct weir_maps *m, enum weir_list l,
		   int (*fn)(const struct weir_list_item *it, void *ctx),
		   void *ctx)
{
	return list_walk(m, l, fn, ctx, NULL);
}

int weir_list_reap(const struct weir_maps *m, enum weir_list l)
{
	int reaped = 0, live = list_walk(m, l, NULL, NULL, &reaped);

	return live < 0 ? live : reaped;
}

int weir_list_flush(const struct weir_maps *m, enum weir_list l)
{
	struct list_part p[N_PARTS];
	int deleted = 0, err;

	weir__list_parts(m, l, p);
	weir__maps_lock(m, LOCK_EX);
	for (int i = 0; i < N_PARTS; i++) {
		struct weir_tab t;
		void *keys;
		long n;

		if (p[i].host) {
			if ((err = weir__part_tab(m, &p[i], &t))) {
				deleted = err;
				goto out;
			}
			deleted += (int)weir_tab_count(&t);
			weir_tab_clear(&t);
			weir_tab_close(&t);
			continue;
		}
		n = weir__map_keys(p[i].fd, p[i].ksz, &keys);
		if (n < 0) {
			deleted = (int)n;
			goto out;
		}
		for (long k = 0; k < n; k++)
			if (!bpf_map_delete_elem(p[i].fd, (char *)keys + k * p[i].ksz))
				deleted++;
		free(keys);
	}
	if (l == WEIR_LIST_BLOCK) {
		struct weir_note_key nk;

		while (!bpf_map_get_next_key(m->note, NULL, &nk))
			bpf_map_delete_elem(m->note, &nk);
	}
	for (int i = 0; i < N_PARTS; i++)
		if (!p[i].host && (err = weir__summary_rebuild(&p[i]))) {
			deleted = err;
			goto out;
		}
	err = weir__list_bits_sync(m, l);
	if (err)
		deleted = err;
out:
	weir__maps_lock(m, LOCK_UN);
	return deleted;
}

long weir_list_count(const struct weir_maps *m, enum weir_list l,
		     long parts[WEIR_LIST_PARTS])
{
	struct list_part p[N_PARTS];
	long total = 0;

	weir__list_parts(m, l, p);
	for (int i = 0; i < N_PARTS; i++) {
		struct weir_tab t;
		long n;

		if (p[i].host) {
			if ((n = weir__part_tab(m, &p[i], &t)))
				return n;
			n = (long)weir_tab_count(&t);
			weir_tab_close(&t);
		} else {
			n = weir_map_fill(p[i].fd);
		}
		if (n < 0)
			return n;
		if (parts)
			parts[i] = n;
		total += n;
	}
	return total;
}

int weir_list_get(const struct weir_maps *m, enum weir_list l,
		  const struct weir_cidr *c, struct weir_entry *e)
{
	struct list_part p[N_PARTS], *part;
	char key[WEIR_KEY_MAX];
	struct weir_tab t;
	long i;
	int err;

	weir__list_parts(m, l, p);
	part = &p[weir__part_of(c)];
	weir__part_key(part, c, key);
	if (!part->host)
		return weir__trie_get(part->fd, key, e);
	if ((err = weir__part_tab(m, part, &t)))
		return err;
	i = weir_tab_find(&t, key);
	if (i >= 0)
		*e = t.ents[i];
	weir_tab_close(&t);
	return i >= 0 ? 0 : -ENOENT;
}

