/* config.c - the config word, per-source limits and the counters: the
 * maps the XDP program reads as settings rather than as lists.
 */
#include "internal.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>

/* ---- config, limits, stats ---- */

int weir_xdp_config_read(const struct weir_maps *m, struct weir_xdp_config *cfg)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(m->config, &k, cfg) ? -errno : 0;
}

int weir_xdp_config_write(const struct weir_maps *m, const struct weir_xdp_config *cfg)
{
	__u32 k = 0;

	return bpf_map_update_elem(m->config, &k, cfg, BPF_ANY) ? -errno : 0;
}

int weir_features_update(const struct weir_maps *m, uint32_t set, uint32_t clear)
{
	struct weir_xdp_config cfg;
	int err = weir_xdp_config_read(m, &cfg);

	if (err)
		return err;
	cfg.features = (cfg.features | set) & ~clear;
	return weir_xdp_config_write(m, &cfg);
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
	struct weir_xdp_config cfg;
	int overrides = 0, err = weir_xdp_config_read(m, &cfg);

	if (err)
		return err;
	err = weir_limit_walk(m, count_limit, &overrides);
	if (err < 0)
		return err;
	return weir_features_update(m,
				    (limit_on(&cfg.limit) || overrides ? WEIR_F_LIMIT : 0) |
				    (overrides ? WEIR_F_LIMIT_CIDR : 0),
				    (limit_on(&cfg.limit) || overrides ? 0 : WEIR_F_LIMIT) |
				    (overrides ? 0 : WEIR_F_LIMIT_CIDR));
}

static void limit_parts(const struct weir_maps *m, struct list_part p[2])
{
	p[0] = (struct list_part){ m->limit4, 4, false, sizeof(struct weir_lpm4), 0, -1, -1 };
	p[1] = (struct list_part){ m->limit6, 6, false, sizeof(struct weir_lpm6), 0, -1, -1 };
}

/* Writes the default (c == NULL) or the override for c; lock held. */
static int limit_write(const struct weir_maps *m, const struct weir_cidr *c,
		       const struct weir_limit *lim)
{
	struct list_part p[2];
	char key[WEIR_KEY_MAX];
	int err;

	if (!c) {
		struct weir_xdp_config cfg;

		err = weir_xdp_config_read(m, &cfg);
		if (!err) {
			cfg.limit = *lim;
			err = weir_xdp_config_write(m, &cfg);
		}
	} else {
		limit_parts(m, p);
		weir__part_key(&p[c->family == 6], c, key);
		err = bpf_map_update_elem(p[c->family == 6].fd, key, lim, BPF_ANY)
			      ? -errno : 0;
	}
	return err ? err : limit_feature_sync(m);
}

int weir_limit_set(const struct weir_maps *m, const struct weir_cidr *c,
		   const struct weir_limit *lim)
{
	int err;

	weir__maps_lock(m, LOCK_EX);
	err = limit_write(m, c, lim);
	weir__maps_lock(m, LOCK_UN);
	return err;
}

struct limit_find {
	const struct weir_cidr *want;
	struct weir_limit *lim;
};

static int limit_find_exact(const struct weir_cidr *c, const struct weir_limit *lim,
			    void *ctx)
{
	struct limit_find *f = ctx;

	if (c->family != f->want->family || c->prefixlen != f->want->prefixlen ||
	    memcmp(c->addr, f->want->addr, 16))
		return 0;
	*f->lim = *lim;
	return 1;
}

int weir_limit_update(const struct weir_maps *m, const struct weir_cidr *c,
		      int (*change)(struct weir_limit *lim, void *ctx), void *ctx)
{
	struct weir_xdp_config cfg;
	struct weir_limit lim;
	struct limit_find f = { c, &lim };
	int err;

	weir__maps_lock(m, LOCK_EX);
	err = weir_xdp_config_read(m, &cfg);
	lim = cfg.limit; /* a new override starts from the defaults */
	if (!err && c) {
		err = weir_limit_walk(m, limit_find_exact, &f);
		err = err < 0 ? err : 0;
	}
	if (!err)
		err = change(&lim, ctx);
	if (!err)
		err = limit_write(m, c, &lim);
	weir__maps_lock(m, LOCK_UN);
	return err;
}

int weir_limit_del(const struct weir_maps *m, const struct weir_cidr *c)
{
	struct list_part p[2];
	char key[WEIR_KEY_MAX];
	int err = 0;

	limit_parts(m, p);
	weir__part_key(&p[c->family == 6], c, key);
	weir__maps_lock(m, LOCK_EX);
	if (bpf_map_delete_elem(p[c->family == 6].fd, key))
		err = -errno;
	else
		err = limit_feature_sync(m);
	weir__maps_lock(m, LOCK_UN);
	return err;
}

int weir_limit_walk(const struct weir_maps *m,
		    int (*fn)(const struct weir_cidr *c,
			      const struct weir_limit *lim, void *ctx),
		    void *ctx)
{
	struct list_part p[2];
	int n_all = 0;

	limit_parts(m, p);
	for (int f = 0; f < 2; f++) {
		void *keys;
		long n = weir__map_keys(p[f].fd, p[f].ksz, &keys);

		if (n < 0)
			return (int)n;
		for (long i = 0; i < n; i++) {
			char *key = (char *)keys + i * p[f].ksz;
			struct weir_limit lim;
			struct weir_cidr c;
			int ret;

			if (bpf_map_lookup_elem(p[f].fd, key, &lim))
				continue;
			weir__part_cidr(&p[f], key, &c);
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

int weir_maps_seed(const struct weir_maps *m)
{
	struct weir_xdp_config cfg;
	uint32_t seed = 0;
	int err;

	weir__maps_lock(m, LOCK_EX);
	err = weir_xdp_config_read(m, &cfg);
	/* Never re-seed tables that hold entries: they would become unreachable.
	 * (The tries do not hash.) */
	long b[WEIR_LIST_PARTS], a[WEIR_LIST_PARTS];

	if (!err && !cfg.seed && weir_list_count(m, WEIR_LIST_BLOCK, b) >= 0 &&
	    weir_list_count(m, WEIR_LIST_ALLOW, a) >= 0 &&
	    !b[WEIR_PART_HOST4] && !b[WEIR_PART_HOST6] && !a[WEIR_PART_HOST4] &&
	    !a[WEIR_PART_HOST6]) {
		while (!seed)
			if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
				err = -errno;
				break;
			}
		cfg.seed = seed;
		/* First attach: the settings that have a default get it. */
		cfg.flow_track_rate = WEIR_FLOW_TRACK_DEFAULT;
		if (!err)
			err = weir_xdp_config_write(m, &cfg);
	}
	weir__maps_lock(m, LOCK_UN);
	return err;
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
