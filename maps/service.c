/* service.c - the service table and the l4 backends: services keyed by
 * (address, port, protocol), their ids and Maglev rings, backends with
 * their next hops, and the rings rebuilt from the backends on every change.
 *
 * Nothing here keeps state of its own: which ids, rings and backend indexes
 * are taken is read from the maps each time, so weirctl stays stateless.
 * Changes take the writers' flock on the pin directory. A ring is rebuilt
 * whole in memory and copied over the live one through a mapping of
 * weir_ring; the order of each change keeps every slot pointing at a live
 * backend of the service: a new backend is live before any slot names it,
 * and a removed one leaves the ring before its index is freed.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- keys as text ---- */

int weir_ip_parse(const char *s, uint8_t *family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = 6;
		return 0;
	}
	return -EINVAL;
}

void weir_ip_format(uint8_t family, const uint8_t *addr, char *buf, size_t len)
{
	if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

int weir_svc_key_parse(const char *s, struct weir_svc_key *k, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port, *proto, *colon;
	unsigned long p;
	size_t hlen;
	char *end;

	memset(k, 0, sizeof(*k));
	proto = strchr(s, '/');
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			goto bad;
		hlen = (size_t)(close - s - 1);
		s++;
		port = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (proto && colon > proto))
			goto bad;
		if (memchr(s, ':', (size_t)(colon - s))) {
			snprintf(err, errlen, "'%s': write an IPv6 service as "
				 "[ADDR]:PORT", s);
			return -EINVAL;
		}
		hlen = (size_t)(colon - s);
		port = colon + 1;
	}
	if (!hlen || hlen >= sizeof(host))
		goto bad;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (weir_ip_parse(host, &k->family, k->addr)) {
		snprintf(err, errlen, "'%s': not an IPv4 or IPv6 address", host);
		return -EINVAL;
	}
	if (*port < '0' || *port > '9')
		goto bad_port;
	errno = 0;
	p = strtoul(port, &end, 10);
	if (errno || p == 0 || p > 65535 || (end != proto && *end))
		goto bad_port;
	k->port = htons((uint16_t)p);
	if (!proto || !strcmp(proto, "/tcp"))
		k->proto = IPPROTO_TCP;
	else if (!strcmp(proto, "/udp"))
		k->proto = IPPROTO_UDP;
	else {
		snprintf(err, errlen, "'%s': protocol must be tcp or udp", proto + 1);
		return -EINVAL;
	}
	return 0;
bad_port:
	snprintf(err, errlen, "port '%.*s': expected 1..65535",
		 (int)(proto ? (size_t)(proto - port) : strlen(port)), port);
	return -EINVAL;
bad:
	snprintf(err, errlen, "'%s': expected ADDR:PORT[/tcp|/udp] "
		 "([ADDR]:PORT for IPv6)", s);
	return -EINVAL;
}

void weir_svc_key_format(const struct weir_svc_key *k, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	weir_ip_format(k->family, k->addr, a, sizeof(a));
	snprintf(buf, len, k->family == 6 ? "[%s]:%u/%s" : "%s:%u/%s", a,
		 ntohs(k->port), k->proto == IPPROTO_UDP ? "udp" : "tcp");
}

/* ---- services ---- */

/* The service table (weir_svc_tab), mapped. Readers copy a live slot;
 * writers hold the writers' lock and write a slot as a seqlock, so that
 * the XDP program never takes a half-written slot for a match. */
#define TAB_BYTES ((size_t)WEIR_SVC_SLOTS * sizeof(struct weir_svc_slot))

static struct weir_svc_slot *tab_map(const struct weir_maps *m, bool write)
{
	void *t = mmap(NULL, TAB_BYTES, PROT_READ | (write ? PROT_WRITE : 0), MAP_SHARED,
		       m->svc, 0);

	return t == MAP_FAILED ? NULL : t;
}

/* Is the table's layout (weir_xdp_config.svc_layout) this build's? 1 yes,
 * 0 no, or a negative errno. */
static int tab_current(const struct weir_maps *m)
{
	struct weir_xdp_config cfg;
	int err = weir_xdp_config_read(m, &cfg);

	return err ? err : cfg.svc_layout == WEIR_SVC_LAYOUT;
}

/* Index of the first free slot of k's chain in a table of this layout,
 * or -ENOSPC. */
static long tab_home(const struct weir_svc_slot *t, const struct weir_svc_key *k)
{
	uint32_t h = weir_svc_hash(k);

	for (uint32_t n = 0; n < WEIR_SVC_PROBES; n++) {
		uint32_t i = weir_probe(h, n, WEIR_SVC_SLOTS - 1);

		if (__atomic_load_n(&t[i].state, __ATOMIC_ACQUIRE) != WEIR_SVC_LIVE)
			return i;
	}
	return -ENOSPC;
}

/* The slot of the live service k, or -ENOENT; *reuse (when not NULL) gets
 * the first EMPTY or DEAD slot of k's chain, or -1. A table of an older
 * layout (stale) is searched whole after its chain: its keys are not where
 * this build's hash puts them. */
static long tab_find(const struct weir_svc_slot *t, const struct weir_svc_key *k,
		     bool stale, long *reuse)
{
	uint32_t h = weir_svc_hash(k);

	if (reuse)
		*reuse = -1;
	for (uint32_t n = 0; n < WEIR_SVC_PROBES; n++) {
		uint32_t i = weir_probe(h, n, WEIR_SVC_SLOTS - 1);
		uint32_t st = __atomic_load_n(&t[i].state, __ATOMIC_ACQUIRE);

		if (st != WEIR_SVC_LIVE && reuse && *reuse < 0)
			*reuse = i;
		if (st == WEIR_SVC_EMPTY)
			break;
		if (st == WEIR_SVC_LIVE && !memcmp(&t[i].key, k, sizeof(*k)))
			return i;
	}
	for (uint32_t i = 0; stale && i < WEIR_SVC_SLOTS; i++)
		if (__atomic_load_n(&t[i].state, __ATOMIC_ACQUIRE) == WEIR_SVC_LIVE &&
		    !memcmp(&t[i].key, k, sizeof(*k)))
			return i;
	return -ENOENT;
}

/* Writes slot s as the XDP program expects: seq odd, the fields, seq even. */
static void slot_write(struct weir_svc_slot *s, const struct weir_svc_key *k,
		       const struct weir_svc *v, uint32_t state)
{
	uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED) | 1;

	__atomic_store_n(&s->seq, seq, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (k)
		memcpy(&s->key, k, sizeof(*k));
	if (v)
		memcpy(&s->svc, v, sizeof(*v));
	__atomic_store_n(&s->state, state, __ATOMIC_RELAXED);
	__atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELEASE);
}

int weir_svc_get(const struct weir_maps *m, const struct weir_svc_key *k,
		 struct weir_svc *v)
{
	int cur = tab_current(m);
	struct weir_svc_slot *t;
	long i;

	if (cur < 0)
		return cur;
	t = tab_map(m, false);
	if (!t)
		return -errno;
	i = tab_find(t, k, !cur, NULL);
	if (i >= 0)
		memcpy(v, &t[i].svc, sizeof(*v));
	munmap(t, TAB_BYTES);
	return i < 0 ? (int)i : 0;
}

/* Adds k (absent: the caller checked, under the lock). A table of an
 * older layout takes no new service (the program attached with it would
 * not find it there) unless it is empty: an empty table is of every
 * layout, and the first service makes it this build's. */
static int tab_put(const struct weir_maps *m, const struct weir_svc_key *k,
		   const struct weir_svc *v)
{
	int cur = tab_current(m), err = 0;
	struct weir_svc_slot *t;
	long reuse;

	if (cur < 0)
		return cur;
	t = tab_map(m, true);
	if (!t)
		return -errno;
	if (tab_find(t, k, !cur, &reuse) >= 0) {
		err = -EEXIST;
		goto out;
	}
	if (!cur) {
		struct weir_xdp_config cfg;

		for (uint32_t i = 0; i < WEIR_SVC_SLOTS && !err; i++)
			if (__atomic_load_n(&t[i].state, __ATOMIC_ACQUIRE) == WEIR_SVC_LIVE)
				err = -ESTALE;
		if (!err)
			err = weir_xdp_config_read(m, &cfg);
		if (err)
			goto out;
		cfg.svc_layout = WEIR_SVC_LAYOUT;
		err = weir_xdp_config_write(m, &cfg);
		if (err)
			goto out;
	}
	if (reuse >= 0)
		slot_write(&t[reuse], k, v, WEIR_SVC_LIVE);
	else
		err = -ENOSPC;
out:
	munmap(t, TAB_BYTES);
	return err;
}

static int tab_del(const struct weir_maps *m, const struct weir_svc_key *k)
{
	int cur = tab_current(m);
	struct weir_svc_slot *t;
	long i;

	if (cur < 0)
		return cur;
	t = tab_map(m, true);
	if (!t)
		return -errno;
	i = tab_find(t, k, !cur, NULL);
	if (i >= 0)
		slot_write(&t[i], NULL, NULL, WEIR_SVC_DEAD);
	munmap(t, TAB_BYTES);
	return i < 0 ? (int)i : 0;
}

int weir_svc_walk(const struct weir_maps *m,
		  int (*fn)(const struct weir_svc_key *k, const struct weir_svc *v,
			    void *ctx),
		  void *ctx)
{
	struct weir_svc_slot *t = tab_map(m, false), *live;
	int err = 0, n = 0;

	if (!t)
		return -errno;
	/* Copied first: fn may change the table. */
	live = malloc(TAB_BYTES);
	if (live)
		for (uint32_t i = 0; i < WEIR_SVC_SLOTS; i++)
			if (__atomic_load_n(&t[i].state, __ATOMIC_ACQUIRE) == WEIR_SVC_LIVE)
				live[n++] = t[i];
	munmap(t, TAB_BYTES);
	if (!live)
		return -ENOMEM;
	for (int i = 0; i < n && !err; i++)
		err = fn(&live[i].key, &live[i].svc, ctx);
	free(live);
	return err ? err : n;
}

int weir_svc_relayout(int fd, int *new_fd)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_MMAPABLE);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct weir_svc_slot *from, *to;
	int nfd, err = 0, n = 0;

	*new_fd = -1;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != sizeof(*to) ||
	    info.max_entries != WEIR_SVC_SLOTS || !(info.map_flags & BPF_F_MMAPABLE))
		return -EINVAL;
	nfd = bpf_map_create(BPF_MAP_TYPE_ARRAY, WEIR_MAP_SVC, sizeof(__u32), sizeof(*to),
			     WEIR_SVC_SLOTS, &o);
	if (nfd < 0)
		return -errno;
	from = mmap(NULL, TAB_BYTES, PROT_READ, MAP_SHARED, fd, 0);
	to = mmap(NULL, TAB_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, nfd, 0);
	if (from == MAP_FAILED || to == MAP_FAILED)
		err = -errno;
	/* No program reads the new map yet: plain writes, seq 0 (even). */
	for (uint32_t j = 0; !err && j < WEIR_SVC_SLOTS; j++) {
		long i;

		if (__atomic_load_n(&from[j].state, __ATOMIC_ACQUIRE) != WEIR_SVC_LIVE)
			continue;
		i = tab_home(to, &from[j].key);
		if (i < 0) {
			err = (int)i;
			break;
		}
		to[i].key = from[j].key;
		to[i].svc = from[j].svc;
		to[i].state = WEIR_SVC_LIVE;
		n++;
	}
	if (from != MAP_FAILED)
		munmap(from, TAB_BYTES);
	if (to != MAP_FAILED)
		munmap(to, TAB_BYTES);
	if (err) {
		close(nfd);
		return err;
	}
	*new_fd = nfd;
	return n;
}

struct svc_used {
	uint8_t id[WEIR_SVC_MAX];
	uint8_t ring[WEIR_RING_MAX];
};

static int mark_used(const struct weir_svc_key *k, const struct weir_svc *v, void *ctx)
{
	struct svc_used *u = ctx;

	if (v->id < WEIR_SVC_MAX)
		u->id[v->id] = 1;
	if (v->mode == WEIR_SVC_L4 && v->ring < WEIR_RING_MAX)
		u->ring[v->ring] = 1;
	return 0;
}

/* The rings, mapped (weir_ring is BPF_F_MMAPABLE): __u64 slots. */
#define RING_BYTES ((size_t)WEIR_RING_MAX * WEIR_RING_SIZE * sizeof(uint64_t))

static int ring_write(const struct weir_maps *m, uint16_t ring, const uint32_t *slots)
{
	uint64_t *map = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
			     m->ring, 0), *r;

	if (map == MAP_FAILED)
		return -errno;
	r = map + (size_t)ring * WEIR_RING_SIZE;
	for (uint32_t s = 0; s < WEIR_RING_SIZE; s++)
		r[s] = slots[s];
	munmap(map, RING_BYTES);
	return 0;
}

int weir_ring_read(const struct weir_maps *m, uint16_t ring, uint32_t *out)
{
	const uint64_t *map, *r;

	if (ring >= WEIR_RING_MAX)
		return -EINVAL;
	map = mmap(NULL, RING_BYTES, PROT_READ, MAP_SHARED, m->ring, 0);
	if (map == MAP_FAILED)
		return -errno;
	r = map + (size_t)ring * WEIR_RING_SIZE;
	for (uint32_t s = 0; s < WEIR_RING_SIZE; s++)
		out[s] = (uint32_t)r[s];
	munmap((void *)map, RING_BYTES);
	return 0;
}

static int svc_count(const struct weir_svc_key *k, const struct weir_svc *v, void *ctx)
{
	return 0;
}

/* Keeps WEIR_F_SVC set exactly while the table has a service. */
static int svc_feature_sync(const struct weir_maps *m)
{
	int n = weir_svc_walk(m, svc_count, NULL);

	if (n < 0)
		return n;
	return weir_features_update(m, n ? WEIR_F_SVC : 0, n ? 0 : WEIR_F_SVC);
}

int weir_svc_add(const struct weir_maps *m, const struct weir_svc_key *k,
		 struct weir_svc *v)
{
	struct weir_svc_state zero = {};
	struct weir_svc old;
	struct svc_used *u;
	uint32_t *empty = NULL, id;
	int err;

	if (v->mode < WEIR_SVC_L7 || v->mode > WEIR_SVC_DROP)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	weir__maps_lock(m, LOCK_EX);
	if (!weir_svc_get(m, k, &old)) {
		err = -EEXIST;
		goto out;
	}
	err = weir_svc_walk(m, mark_used, u);
	if (err < 0)
		goto out;
	err = -ENOSPC;
	for (id = 0; id < WEIR_SVC_MAX && u->id[id]; id++)
		;
	if (id == WEIR_SVC_MAX)
		goto out;
	v->id = (uint16_t)id;
	v->ring = 0xffff;
	if (v->mode == WEIR_SVC_L4) {
		for (id = 0; id < WEIR_RING_MAX && u->ring[id]; id++)
			;
		if (id == WEIR_RING_MAX)
			goto out;
		v->ring = (uint16_t)id;
		/* A ring left by a deleted service must not route the new one. */
		err = -ENOMEM;
		empty = malloc(WEIR_RING_SIZE * sizeof(uint32_t));
		if (!empty)
			goto out;
		memset(empty, 0xff, WEIR_RING_SIZE * sizeof(uint32_t));
		err = ring_write(m, v->ring, empty);
		if (err)
			goto out;
	}
	id = v->id;
	if (bpf_map_update_elem(m->svc_state, &id, &zero, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	err = tab_put(m, k, v);
	if (err)
		goto out;
	err = weir_features_update(m, WEIR_F_SVC, 0);
out:
	weir__maps_lock(m, LOCK_UN);
	free(empty);
	free(u);
	return err;
}

/* Frees backend index idx: dead for the program, and flows that remember
 * it are balanced again even if the index is reused (gen moves on). */
static int backend_free(const struct weir_maps *m, uint32_t idx)
{
	struct weir_backend b;

	if (bpf_map_lookup_elem(m->backend, &idx, &b))
		return -errno;
	b.state = WEIR_BE_FREE;
	b.gen++;
	b.weight = 0;
	return bpf_map_update_elem(m->backend, &idx, &b, BPF_ANY) ? -errno : 0;
}

struct be_list {
	uint32_t n;
	uint32_t idx[WEIR_BACKEND_MAX];
	struct weir_backend b[WEIR_BACKEND_MAX];
};

static int be_collect(uint32_t idx, const struct weir_backend *b, void *ctx)
{
	struct be_list *l = ctx;

	l->idx[l->n] = idx;
	l->b[l->n++] = *b;
	return 0;
}

int weir_backend_walk(const struct weir_maps *m, uint16_t svc_id,
		      int (*fn)(uint32_t idx, const struct weir_backend *b, void *ctx),
		      void *ctx)
{
	struct weir_backend b;
	int n = 0, err;

	for (uint32_t i = 0; i < WEIR_BACKEND_MAX; i++) {
		if (bpf_map_lookup_elem(m->backend, &i, &b))
			return -errno;
		if (b.state != WEIR_BE_LIVE || b.svc != svc_id)
			continue;
		n++;
		err = fn(i, &b, ctx);
		if (err)
			return err;
	}
	return n;
}

/* Rebuilds the ring of service v from its live backends. */
static int ring_rebuild(const struct weir_maps *m, const struct weir_svc *v)
{
	struct weir_maglev_node *nodes = NULL;
	uint32_t *slots = NULL;
	struct be_list *l;
	int err;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	err = weir_backend_walk(m, v->id, be_collect, l);
	if (err < 0)
		goto out;
	err = -ENOMEM;
	nodes = calloc(l->n ? l->n : 1, sizeof(*nodes));
	slots = malloc(WEIR_RING_SIZE * sizeof(uint32_t));
	if (!nodes || !slots)
		goto out;
	for (uint32_t i = 0; i < l->n; i++) {
		nodes[i].key[0] = l->b[i].family;
		memcpy(nodes[i].key + 1, l->b[i].addr, 16);
		nodes[i].weight = l->b[i].weight;
		nodes[i].value = l->idx[i];
	}
	err = weir_maglev_build(nodes, l->n, slots, WEIR_RING_SIZE);
	if (!err)
		err = ring_write(m, v->ring, slots);
out:
	free(slots);
	free(nodes);
	free(l);
	return err;
}

int weir_svc_del(const struct weir_maps *m, const struct weir_svc_key *k)
{
	struct be_list *l = calloc(1, sizeof(*l));
	struct weir_svc v;
	int err;

	if (!l)
		return -ENOMEM;
	weir__maps_lock(m, LOCK_EX);
	err = weir_svc_get(m, k, &v);
	if (err)
		goto out;
	/* The service goes first: no packet finds it, then its backends. */
	err = tab_del(m, k);
	if (err)
		goto out;
	err = weir_backend_walk(m, v.id, be_collect, l);
	for (uint32_t i = 0; err >= 0 && i < l->n; i++)
		err = backend_free(m, l->idx[i]);
	if (err >= 0)
		err = svc_feature_sync(m);
out:
	weir__maps_lock(m, LOCK_UN);
	free(l);
	return err < 0 ? err : 0;
}

static int svc_del_cb(const struct weir_svc_key *k, const struct weir_svc *v, void *ctx)
{
	int err = weir_svc_del(ctx, k);

	return err == -ENOENT ? 0 : err;
}

int weir_svc_flush(const struct weir_maps *m)
{
	return weir_svc_walk(m, svc_del_cb, (void *)m);
}

/* The index of the live backend of service id with this address, or a
 * negative errno (-ENOENT). */
static long backend_find(const struct weir_maps *m, uint16_t svc_id, uint8_t family,
			 const uint8_t addr[16])
{
	struct weir_backend b;

	for (uint32_t i = 0; i < WEIR_BACKEND_MAX; i++) {
		if (bpf_map_lookup_elem(m->backend, &i, &b))
			return -errno;
		if (b.state == WEIR_BE_LIVE && b.svc == svc_id && b.family == family &&
		    !memcmp(b.addr, addr, 16))
			return i;
	}
	return -ENOENT;
}

/* The service k, which must be l4; -ENOENT or -EINVAL. */
static int l4_svc(const struct weir_maps *m, const struct weir_svc_key *k,
		  struct weir_svc *v)
{
	int err = weir_svc_get(m, k, v);

	if (err)
		return err;
	return v->mode == WEIR_SVC_L4 && v->ring < WEIR_RING_MAX ? 0 : -EINVAL;
}

int weir_backend_add(const struct weir_maps *m, const struct weir_svc_key *k,
		     const struct weir_backend *nb)
{
	struct weir_backend b;
	struct weir_svc v;
	uint32_t idx, gen;
	long found;
	int err;

	weir__maps_lock(m, LOCK_EX);
	err = l4_svc(m, k, &v);
	if (err)
		goto out;
	err = -EINVAL;
	if (nb->family != k->family)
		goto out;
	found = backend_find(m, v.id, nb->family, nb->addr);
	err = found >= 0 ? -EEXIST : (int)found;
	if (found != -ENOENT)
		goto out;
	for (idx = 0; idx < WEIR_BACKEND_MAX; idx++) {
		if (bpf_map_lookup_elem(m->backend, &idx, &b)) {
			err = -errno;
			goto out;
		}
		if (b.state == WEIR_BE_FREE)
			break;
	}
	err = -ENOSPC;
	if (idx == WEIR_BACKEND_MAX)
		goto out;
	gen = b.gen + 1;
	b = *nb;
	b.state = WEIR_BE_LIVE;
	b.svc = v.id;
	b.gen = gen;
	if (bpf_map_update_elem(m->backend, &idx, &b, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	err = ring_rebuild(m, &v);
	if (err)
		backend_free(m, idx);
out:
	weir__maps_lock(m, LOCK_UN);
	return err ? err : (int)idx;
}

/* Gives the backend of l4 service k at addr a new weight and rebuilds the
 * ring; the old weight is put back when the ring cannot be rebuilt. The
 * caller holds the writers' lock. Sets *idx to the backend's index. */
static int backend_reweigh(const struct weir_maps *m, const struct weir_svc_key *k,
			   uint8_t family, const uint8_t addr[16], uint32_t weight,
			   uint32_t *idx)
{
	struct weir_backend b;
	struct weir_svc v;
	uint32_t old;
	long found;
	int err;

	err = l4_svc(m, k, &v);
	if (err)
		return err;
	found = backend_find(m, v.id, family, addr);
	if (found < 0)
		return (int)found;
	*idx = (uint32_t)found;
	if (bpf_map_lookup_elem(m->backend, idx, &b))
		return -errno;
	old = b.weight;
	b.weight = weight;
	if (bpf_map_update_elem(m->backend, idx, &b, BPF_ANY))
		return -errno;
	err = ring_rebuild(m, &v);
	if (err) {
		b.weight = old;
		bpf_map_update_elem(m->backend, idx, &b, BPF_ANY);
	}
	return err;
}

int weir_backend_del(const struct weir_maps *m, const struct weir_svc_key *k,
		     uint8_t family, const uint8_t addr[16])
{
	uint32_t idx;
	int err;

	/* Out of the ring first (weight 0), then dead. */
	weir__maps_lock(m, LOCK_EX);
	err = backend_reweigh(m, k, family, addr, 0, &idx);
	if (!err)
		err = backend_free(m, idx);
	weir__maps_lock(m, LOCK_UN);
	return err;
}

int weir_backend_weight(const struct weir_maps *m, const struct weir_svc_key *k,
			uint8_t family, const uint8_t addr[16], uint32_t weight)
{
	uint32_t idx;
	int err;

	weir__maps_lock(m, LOCK_EX);
	err = backend_reweigh(m, k, family, addr, weight, &idx);
	weir__maps_lock(m, LOCK_UN);
	return err;
}

long weir_flow_counts(const struct weir_maps *m, uint32_t *counts)
{
	struct weir_flow_key *keys;
	struct weir_flow f;
	long n = weir__map_keys(m->flow, sizeof(*keys), (void **)&keys), live = 0;

	if (n < 0)
		return n;
	memset(counts, 0, WEIR_BACKEND_MAX * sizeof(*counts));
	for (long i = 0; i < n; i++) {
		struct weir_backend b;

		if (bpf_map_lookup_elem(m->flow, &keys[i], &f) ||
		    f.backend >= WEIR_BACKEND_MAX ||
		    bpf_map_lookup_elem(m->backend, &f.backend, &b) ||
		    b.state != WEIR_BE_LIVE || b.gen != f.gen)
			continue; /* gone, or a flow of an index's former backend */
		counts[f.backend]++;
		live++;
	}
	free(keys);
	return live;
}

int weir_flow_track_set(const struct weir_maps *m, uint32_t rate)
{
	struct weir_xdp_config cfg;
	int err;

	weir__maps_lock(m, LOCK_EX);
	err = weir_xdp_config_read(m, &cfg);
	if (!err) {
		cfg.flow_track_rate = rate;
		err = weir_xdp_config_write(m, &cfg);
	}
	weir__maps_lock(m, LOCK_UN);
	return err;
}
