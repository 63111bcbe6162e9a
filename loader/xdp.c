/* xdp.c - attaching weir's XDP program through libxdp, and reading link
 * state over netlink (libmnl).
 *
 * weir runs as one program in libxdp's multiprog dispatcher, so it coexists
 * with other XDP programs. Its maps are pinned under the pin directory; a new
 * attach reuses them, so entries survive detach, re-attach and upgrades.
 *
 * Upgrades without a gap: the new program is added to the dispatcher first
 * (libxdp builds a new dispatcher holding both and swaps it in atomically
 * with XDP_FLAGS_REPLACE), then the old one is removed the same way. Every
 * packet meets at least one weir program; for the instant both run, a packet
 * passed by the first is also judged by the second, against the same maps.
 */
#include "weirctl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "weir_xdp.skel.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

static int silent_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBBPF_WARN && getenv("WEIR_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static int xdp_silent_print(enum libxdp_print_level level, const char *fmt,
			    va_list ap)
{
	if (getenv("WEIR_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static void quiet_libs(void)
{
	libbpf_set_print(silent_print);
	libxdp_set_print(xdp_silent_print);
}

#define WEIR_BPFFS "/sys/fs/bpf"

/* Creates pin_dir, readable by root only, on a bpffs: the usual one is
 * mounted when it is not (as on a fresh boot); any other parent directory
 * must be a bpffs already, since mounting over it would hide what it holds. */
static int ensure_pin_dir(struct weirctl_ctx *ctx)
{
	char parent[512], *slash;
	struct statfs fs;

	snprintf(parent, sizeof(parent), "%s", ctx->pin_dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (statfs(parent, &fs))
		return weirctl_err(ctx, "%s: %s", parent, strerror(errno));
	if (fs.f_type != BPF_FS_MAGIC && strcmp(parent, WEIR_BPFFS))
		return weirctl_err(ctx, "--pin-dir %s: %s is not a bpffs (mount one "
					"there, or pin under %s)", ctx->pin_dir, parent,
				   WEIR_BPFFS);
	if (fs.f_type != BPF_FS_MAGIC &&
	    mount("bpf", parent, "bpf", 0, "mode=0700"))
		return weirctl_err(ctx, "mounting bpffs on %s: %s", parent,
				   strerror(errno));
	if (mkdir(ctx->pin_dir, 0700) && errno != EEXIST)
		return weirctl_err(ctx, "%s: %s", ctx->pin_dir, strerror(errno));
	return 0;
}

static const char *mode_name(enum xdp_attach_mode m)
{
	switch (m) {
	case XDP_MODE_NATIVE: return "native";
	case XDP_MODE_SKB: return "generic";
	case XDP_MODE_HW: return "hw";
	default: return "none";
	}
}

/* Collects the weir programs running on ifindex (at most `max`). */
static int find_weir_progs(int ifindex, struct xdp_multiprog **mpp,
			   struct xdp_program **out, int max,
			   enum xdp_attach_mode *mode)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p = NULL;
	int n = 0;

	*mpp = NULL;
	if (libxdp_get_error(mp))
		return 0;
	*mode = xdp_multiprog__attach_mode(mp);
	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		if (p && !strcmp(xdp_program__name(p), WEIR_XDP_PROG_NAME))
			out[n++] = p;
	} else {
		while ((p = xdp_multiprog__next_prog(p, mp)) && n < max)
			if (!strcmp(xdp_program__name(p), WEIR_XDP_PROG_NAME))
				out[n++] = p;
	}
	*mpp = mp;
	return n;
}

/* Is the pinned map at fd what the object defines for map? */
static bool pin_matches(int fd, const struct bpf_map *map)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return false;
	return info.type == bpf_map__type(map) && info.key_size == bpf_map__key_size(map) &&
	       info.value_size == bpf_map__value_size(map) &&
	       info.max_entries == bpf_map__max_entries(map) &&
	       info.map_flags == bpf_map__map_flags(map);
}

/* A build whose settings or counters changed shape upgrades in place: the
 * pinned config (whose seed the tables' entries depend on) is copied into a
 * map of the new shape, field for field as far as both go (the ABI only
 * appends), and pinned in its place; the per-CPU counters start again.
 * Lists and the rest must match: their entries cannot be converted here,
 * and attach then refuses as before. 0, or 1 after saying why. */
static int upgrade_pins(struct weirctl_ctx *ctx, struct bpf_object *obj)
{
	struct bpf_map *map;
	char path[512];

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		bool config = !strcmp(name, WEIR_MAP_CONFIG);
		int fd, nfd, err = 0;

		if (!config && strcmp(name, WEIR_MAP_STATS))
			continue;
		snprintf(path, sizeof(path), "%s/%s", ctx->pin_dir, name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (pin_matches(fd, map)) {
			close(fd);
			continue;
		}
		if (!config) {
			close(fd);
			if (unlink(path))
				return weirctl_err(ctx, "%s: %s", path, strerror(errno));
			printf("the counters changed shape in this build: they start "
			       "again from 0\n");
			continue;
		}
		{
			struct bpf_map_info info = {};
			__u32 len = sizeof(info), k = 0;
			char oldv[256] = "", newv[256] = "";

			if (bpf_obj_get_info_by_fd(fd, &info, &len) ||
			    info.value_size > sizeof(oldv) || bpf_map__value_size(map) > sizeof(newv) ||
			    info.type != BPF_MAP_TYPE_ARRAY || bpf_map_lookup_elem(fd, &k, oldv)) {
				close(fd);
				return weirctl_err(ctx, "%s: cannot read the old settings to "
						   "upgrade them", path);
			}
			close(fd);
			/* fields the old build did not have get their defaults */
			_Static_assert(sizeof(struct weir_xdp_config) <= sizeof(newv),
				       "config fits the buffer");
			memcpy(newv, &(struct weir_xdp_config){
					     .flow_track_rate = WEIR_FLOW_TRACK_DEFAULT },
			       sizeof(struct weir_xdp_config));
			memcpy(newv, oldv, info.value_size < bpf_map__value_size(map)
						   ? info.value_size : bpf_map__value_size(map));
			nfd = bpf_map_create(BPF_MAP_TYPE_ARRAY, name, 4, bpf_map__value_size(map),
					     1, NULL);
			if (nfd < 0 || bpf_map_update_elem(nfd, &k, newv, BPF_ANY))
				err = -errno;
			/* From here on the new map is the one pinned; a crash in
			 * between leaves no config, and the next attach seeds anew. */
			if (!err && unlink(path))
				err = -errno;
			if (!err && bpf_obj_pin(nfd, path))
				err = -errno;
			if (nfd >= 0)
				close(nfd);
			if (err)
				return weirctl_err(ctx, "upgrading %s: %s", path, strerror(-err));
			printf("settings carried over to this build's layout\n");
		}
	}
	return 0;
}

/* ---- the service table's layout ----
 *
 * Where a service lives in weir_svc_tab depends on weir_svc_hash; a build
 * whose hash differs from the one that filled a pinned table
 * (weir_xdp_config.svc_layout against WEIR_SVC_LAYOUT) would find none of
 * its services there. Attach rebuilds such a table without a moment where
 * a packet finds no service: under the writers' lock, the live entries are
 * copied into a new map, each where the new hash puts it, and the new
 * program is loaded with that map while the old program keeps the old one;
 * both hold the same services, and nothing changes them while the lock is
 * held. Once the new program runs, the new map is pinned in the old one's
 * place (rename(2) on the bpffs: the path never goes missing), then the
 * layout is recorded and the lock let go. A failure before that leaves the
 * old program, its table and the pin as they were. A crash between the
 * rename and the record leaves a new-layout table marked old: the next
 * attach rebuilds it again, which moves nothing that is already in place.
 */
struct svc_relayout {
	int lock; /* the pin directory, flock'ed: weirctl's writers wait */
	int fd;   /* the rebuilt table; -1 when the pinned one is kept */
	int n;    /* the services it holds */
	char tmp[520]; /* where it is pinned until it takes the table's place */
};

#define SVC_RELAYOUT_NONE ((struct svc_relayout){ .lock = -1, .fd = -1 })

/* The layout the pinned config records; 0 when there is none. */
static __u32 pinned_svc_layout(struct weirctl_ctx *ctx)
{
	struct weir_xdp_config cfg = {};
	char path[512];
	__u32 k = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", ctx->pin_dir, WEIR_MAP_CONFIG);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_map_lookup_elem(fd, &k, &cfg))
		cfg.svc_layout = 0;
	close(fd);
	return cfg.svc_layout;
}

/* Lets go of a rebuilt table that did not take the pinned one's place (or
 * did: then only the lock and the fd go). */
static void svc_relayout_abort(struct svc_relayout *r)
{
	if (r->tmp[0])
		unlink(r->tmp);
	if (r->fd >= 0)
		close(r->fd);
	if (r->lock >= 0)
		close(r->lock); /* and with it the flock */
	*r = SVC_RELAYOUT_NONE;
}

/* When the pinned service table is of another layout: takes the writers'
 * lock, builds the table anew for this build and gives it to `map` (the
 * object's weir_svc_tab, which must then not be pinned by libbpf). 0, or 1
 * after saying why. */
static int svc_relayout_prepare(struct weirctl_ctx *ctx, struct bpf_map *map,
				struct svc_relayout *r)
{
	char path[512];
	int fd, n;

	*r = SVC_RELAYOUT_NONE;
	snprintf(path, sizeof(path), "%s/%s", ctx->pin_dir, WEIR_MAP_SVC);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0; /* none pinned: this build creates it */
	/* Of this layout: nothing to do; of another shape: attach refuses
	 * it later, as before. */
	if (!pin_matches(fd, map) || pinned_svc_layout(ctx) == WEIR_SVC_LAYOUT) {
		close(fd);
		return 0;
	}
	r->lock = open(ctx->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->lock < 0) {
		close(fd);
		return weirctl_err(ctx, "%s: %s", ctx->pin_dir, strerror(errno));
	}
	while (flock(r->lock, LOCK_EX) && errno == EINTR)
		;
	/* another attach may have done it while we waited */
	if (pinned_svc_layout(ctx) == WEIR_SVC_LAYOUT) {
		close(fd);
		svc_relayout_abort(r);
		return 0;
	}
	n = weir_svc_relayout(fd, &r->fd);
	close(fd);
	if (n < 0) {
		svc_relayout_abort(r);
		return weirctl_err(ctx, "%s: rebuilding the service table for this "
				   "build's hash: %s", path, strerror(-n));
	}
	/* Pinned beside the old one now, so that taking its place later is a
	 * rename alone. */
	snprintf(r->tmp, sizeof(r->tmp), "%s_new", path); /* bpffs: no dots */
	if (unlink(r->tmp) && errno != ENOENT) {
		n = -errno;
		r->tmp[0] = '\0';
		svc_relayout_abort(r);
		return weirctl_err(ctx, "%s_new: %s", path, strerror(-n));
	}
	if (bpf_obj_pin(r->fd, r->tmp) || bpf_map__reuse_fd(map, r->fd)) {
		n = -errno;
		svc_relayout_abort(r);
		return weirctl_err(ctx, "%s: %s", path, strerror(-n));
	}
	r->n = n;
	return 0;
}

/* The new program runs with the rebuilt table: it takes the pinned one's
 * place, the layout is recorded in the config (cfg_fd: the object's
 * weir_config, the pinned one), and the lock goes. 0 once the table is in
 * place (a config that cannot be written is only warned about: the next
 * attach rebuilds again); 1, after saying why, when it is not, and the old
 * table is still the pinned one. */
static int svc_relayout_commit(struct weirctl_ctx *ctx, struct svc_relayout *r,
			       int cfg_fd)
{
	struct weir_xdp_config cfg;
	char path[512];
	__u32 k = 0;
	int err;

	if (r->fd < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", ctx->pin_dir, WEIR_MAP_SVC);
	if (rename(r->tmp, path)) {
		err = -errno;
		svc_relayout_abort(r);
		return weirctl_err(ctx, "%s: putting the rebuilt service table in "
				   "place: %s", path, strerror(-err));
	}
	r->tmp[0] = '\0';
	if (r->n)
		printf("service table: %d service%s placed by this build's hash "
		       "(layout %u)\n", r->n, r->n == 1 ? "" : "s", WEIR_SVC_LAYOUT);
	err = bpf_map_lookup_elem(cfg_fd, &k, &cfg);
	if (!err) {
		cfg.svc_layout = WEIR_SVC_LAYOUT;
		err = bpf_map_update_elem(cfg_fd, &k, &cfg, BPF_ANY);
	}
	if (err)
		fprintf(stderr, "weirctl: warning: recording the service table's "
			"layout: %s; 'weirctl service add' refuses until the next "
			"attach\n", strerror(errno));
	svc_relayout_abort(r);
	return 0;
}

/* weir runs alone on the interface (libxdp fell back to a single program,
 * e.g. where the kernel refuses the dispatcher's freplace programs): load the
 * new build against the pinned maps and swap it in with one
 * XDP_FLAGS_REPLACE call, which fails rather than clobbering a program that
 * changed under us. */
static int replace_legacy(struct weirctl_ctx *ctx, struct weir_xdp_bpf *skel,
			  int ifindex, enum xdp_attach_mode mode,
			  struct xdp_program *old, struct svc_relayout *rl)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = xdp_program__fd(old));
	__u32 flags = XDP_FLAGS_REPLACE |
		      (mode == XDP_MODE_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int err, fd;

	err = weir_xdp_bpf__load(skel);
	if (err)
		return weirctl_err(ctx, "loading the program against the maps "
					"pinned under %s: %s (a build with another map "
					"layout needs 'weirctl detach IFACE --purge')",
				   ctx->pin_dir, strerror(-err));
	fd = bpf_program__fd(skel->progs.weir_xdp);
	if (bpf_xdp_attach(ifindex, fd, flags, &opts))
		return weirctl_err(ctx, "replacing program id %u on %s: %s",
				   xdp_program__id(old), ctx->argv[0],
				   strerror(errno));
	if (svc_relayout_commit(ctx, rl, bpf_map__fd(skel->maps.weir_config))) {
		/* the old program back, with the table that is still pinned */
		LIBBPF_OPTS(bpf_xdp_attach_opts, back, .old_prog_fd = fd);

		if (bpf_xdp_attach(ifindex, xdp_program__fd(old), flags, &back))
			weirctl_err(ctx, "putting program id %u back on %s failed "
				    "too: %s", xdp_program__id(old), ctx->argv[0],
				    strerror(errno));
		return 1;
	}
	bpf_obj_get_info_by_fd(fd, &info, &len);
	printf("weir attached to %s (%s mode, program id %u, replacing id %u "
	       "atomically); maps pinned under %s\n", ctx->argv[0],
	       mode_name(mode), info.id, xdp_program__id(old), ctx->pin_dir);
	return 0;
}

/* Gives a new set of maps its tables' hash seed (weir_abi.h). */
static int seed_maps(struct weirctl_ctx *ctx)
{
	struct weir_maps m;
	int err;

	if (weirctl_open_maps(ctx, &m))
		return 1;
	err = weir_maps_seed(&m);
	weir_maps_close(&m);
	if (err)
		return weirctl_err(ctx, "seeding the tables: %s", strerror(-err));
	return 0;
}

int weirctl_attach(struct weirctl_ctx *ctx)
{
	const char *mode_s = weirctl_opt(ctx, "mode");
	enum xdp_attach_mode mode = XDP_MODE_NATIVE, old_mode;
	struct xdp_program *old[8], *prog = NULL;
	struct xdp_multiprog *mp = NULL;
	struct svc_relayout rl = SVC_RELAYOUT_NONE;
	struct weir_xdp_bpf *skel;
	struct bpf_map *map;
	char path[512], errbuf[256];
	int ifindex, n_old, err, ret = 1, late = 0;
	bool moved;

	if (mode_s && !strcmp(mode_s, "generic"))
		mode = XDP_MODE_SKB;
	else if (mode_s && strcmp(mode_s, "native"))
		return weirctl_err(ctx, "--mode '%s': expected native or generic",
				   mode_s);
	ifindex = weirctl_ifindex(ctx, ctx->argv[0]);
	if (!ifindex)
		return 1;
	quiet_libs();
	n_old = find_weir_progs(ifindex, &mp, old, 8, &old_mode);
	if (n_old && old_mode != mode) {
		ret = weirctl_err(ctx, "weir runs on %s in %s mode; detach it "
				       "before attaching in %s mode",
				  ctx->argv[0], mode_name(old_mode), mode_name(mode));
		goto out_mp;
	}
	if (ensure_pin_dir(ctx))
		goto out_mp;

	skel = weir_xdp_bpf__open();
	if (!skel) {
		ret = weirctl_err(ctx, "opening the BPF object: %s", strerror(errno));
		goto out_mp;
	}
	if (upgrade_pins(ctx, skel->obj) ||
	    svc_relayout_prepare(ctx, skel->maps.weir_svc_tab, &rl))
		goto out_skel;
	bpf_object__for_each_map(map, skel->obj) {
		for (size_t i = 0; i < weir_map_count; i++) {
			if (strcmp(bpf_map__name(map), weir_map_descs[i].name) ||
			    (map == skel->maps.weir_svc_tab && rl.fd >= 0))
				continue;
			snprintf(path, sizeof(path), "%s/%s", ctx->pin_dir,
				 weir_map_descs[i].name);
			bpf_map__set_pin_path(map, path);
		}
	}
	if (n_old && xdp_multiprog__is_legacy(mp)) {
		ret = replace_legacy(ctx, skel, ifindex, mode, old[0], &rl);
		goto out_skel;
	}
	DECLARE_LIBXDP_OPTS(xdp_program_opts, opts, .obj = skel->obj,
			    .prog_name = WEIR_XDP_PROG_NAME);
	prog = xdp_program__create(&opts);
	err = libxdp_get_error(prog);
	if (err) {
		prog = NULL;
		libxdp_strerror(err, errbuf, sizeof(errbuf));
		ret = weirctl_err(ctx, "%s", errbuf);
		goto out_skel;
	}
	err = xdp_program__attach(prog, ifindex, mode, 0);
	if (err) {
		libxdp_strerror(err, errbuf, sizeof(errbuf));
		if (err == -EEXIST || err == -EBUSY)
			ret = weirctl_err(ctx, "%s: another XDP program is attached "
					       "outside libxdp's dispatcher", ctx->argv[0]);
		else if (bpf_map__fd(skel->maps.weir_config) < 0)
			ret = weirctl_err(ctx, "pinned maps under %s do not match "
					       "this build; 'weirctl detach IFACE "
					       "--purge' resets them (entries are lost)",
					  ctx->pin_dir);
		else
			ret = weirctl_err(ctx, "attaching to %s in %s mode: %s",
					  ctx->argv[0], mode_name(mode), errbuf);
		goto out_prog;
	}
	/* From here on a failure takes the new program off again, so that the
	 * interface is left as it was: the old program alone, or none. */
	/* Except once a rebuilt service table is in place: the old program's
	 * table is no longer the pinned one, so the new program stays. */
	moved = rl.fd >= 0;
	if (svc_relayout_commit(ctx, &rl, bpf_map__fd(skel->maps.weir_config)))
		goto out_undo;
	if (seed_maps(ctx)) {
		if (!moved)
			goto out_undo;
		late = 1;
	}
	for (int i = 0; i < n_old; i++) {
		err = xdp_program__detach(old[i], ifindex, mode, 0);
		if (err) {
			libxdp_strerror(err, errbuf, sizeof(errbuf));
			ret = weirctl_err(ctx, "removing the previous program (id %u): "
					       "%s; %s", xdp_program__id(old[i]), errbuf,
					  moved ? "both run (the new one with the rebuilt "
						  "service table)"
						: "the new one was taken off again");
			if (moved)
				goto out_prog;
			goto out_undo;
		}
	}
	printf("weir attached to %s (%s mode, program id %u%s); maps pinned "
	       "under %s\n", ctx->argv[0], mode_name(mode), xdp_program__id(prog),
	       n_old ? ", replacing the previous one" : "", ctx->pin_dir);
	ret = late;
	goto out_prog;
out_undo:
	err = xdp_program__detach(prog, ifindex, mode, 0);
	if (err) {
		libxdp_strerror(err, errbuf, sizeof(errbuf));
		weirctl_err(ctx, "taking the new program (id %u) off failed too: %s",
			    xdp_program__id(prog), errbuf);
	}
out_prog:
	xdp_program__close(prog);
out_skel:
	svc_relayout_abort(&rl);
	weir_xdp_bpf__destroy(skel);
out_mp:
	xdp_multiprog__close(mp);
	return ret;
}

/* ---- netlink link dump ---- */

struct link_info {
	int ifindex;
	char name[IF_NAMESIZE];
	uint8_t xdp_attached;
	uint32_t prog_id;
};

struct link_list {
	struct link_info *v;
	size_t n, cap;
};

static int xdp_attr_cb(const struct nlattr *a, void *data)
{
	struct link_info *li = data;

	switch (mnl_attr_get_type(a)) {
	case IFLA_XDP_ATTACHED:
		if (mnl_attr_validate(a, MNL_TYPE_U8) >= 0)
			li->xdp_attached = mnl_attr_get_u8(a);
		break;
	case IFLA_XDP_PROG_ID:
		if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
			li->prog_id = mnl_attr_get_u32(a);
		break;
	}
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	struct link_info *li = data;

	switch (mnl_attr_get_type(a)) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(a, MNL_TYPE_STRING) >= 0)
			snprintf(li->name, sizeof(li->name), "%s",
				 mnl_attr_get_str(a));
		break;
	case IFLA_XDP:
		mnl_attr_parse_nested(a, xdp_attr_cb, li);
		break;
	}
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	struct link_list *l = data;
	struct link_info li = { .ifindex = ifm->ifi_index };

	mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, &li);
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct link_info *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return MNL_CB_ERROR;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = li;
	return MNL_CB_OK;
}

/* Dumps every link of this network namespace with its XDP attachment. */
static int link_dump(struct link_list *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	unsigned int seq = (unsigned int)time(NULL), portid;
	ssize_t n;
	int ret = 0;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;

	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	while ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, link_cb, out);
		if (ret <= MNL_CB_STOP)
			break;
	}
	ret = ret < 0 ? -errno : 0;
out:
	mnl_socket_close(nl);
	return ret;
}

/* Does program prog use the map with id map_id? */
static bool prog_uses_map(struct xdp_program *prog, __u32 map_id)
{
	struct bpf_prog_info info = {};
	__u32 ids[64], len = sizeof(info);

	info.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(xdp_program__fd(prog), &info, &len))
		return true; /* unknown: assume it does, refuse rather than break it */
	for (__u32 i = 0; i < info.nr_map_ids && i < sizeof(ids) / sizeof(ids[0]); i++)
		if (ids[i] == map_id)
			return true;
	return false;
}

/* Names of other interfaces whose weir program uses the maps pinned under
 * the pin directory, for refusing --purge. */
static int weir_users(struct weirctl_ctx *ctx, int except_ifindex, char *names,
		      size_t len)
{
	struct bpf_map_info minfo = {};
	__u32 mlen = sizeof(minfo);
	struct link_list l = {};
	char path[512];
	int users = 0, fd;

	names[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", ctx->pin_dir, WEIR_MAP_CONFIG);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0; /* nothing pinned: nothing to protect */
	if (bpf_obj_get_info_by_fd(fd, &minfo, &mlen) || link_dump(&l)) {
		close(fd);
		return 0;
	}
	close(fd);
	for (size_t i = 0; i < l.n; i++) {
		struct xdp_program *progs[8];
		struct xdp_multiprog *mp;
		enum xdp_attach_mode m;
		int n;

		if (!l.v[i].xdp_attached || l.v[i].ifindex == except_ifindex)
			continue;
		n = find_weir_progs(l.v[i].ifindex, &mp, progs, 8, &m);
		for (int k = 0; k < n; k++) {
			if (!prog_uses_map(progs[k], minfo.id))
				continue;
			size_t used = strlen(names);

			snprintf(names + used, len - used, "%s%s", users ? ", " : "",
				 l.v[i].name);
			users++;
			break;
		}
		xdp_multiprog__close(mp);
	}
	free(l.v);
	return users;
}

static int purge_pins(struct weirctl_ctx *ctx)
{
	char path[512];
	struct weir_maps m;

	/* The services go first, so that what they set up outside the maps
	 * (the SYN-cookie nftables table) goes with them. */
	if (!weir_maps_open(&m, ctx->pin_dir)) {
		int err = weir_svc_flush(&m);

		if (err < 0) {
			weir_maps_close(&m);
			return weirctl_err(ctx, "removing the services: %s", strerror(-err));
		}
		err = weirctl_synproxy_sync(ctx, &m);
		weir_maps_close(&m);
		if (err)
			return 1;
	}

	for (size_t i = 0; i < weir_map_count; i++) {
		snprintf(path, sizeof(path), "%s/%s", ctx->pin_dir,
			 weir_map_descs[i].name);
		if (unlink(path) && errno != ENOENT)
			return weirctl_err(ctx, "%s: %s", path, strerror(errno));
	}
	if (rmdir(ctx->pin_dir) && errno != ENOENT)
		return weirctl_err(ctx, "%s: %s", ctx->pin_dir, strerror(errno));
	return 0;
}

int weirctl_detach(struct weirctl_ctx *ctx)
{
	struct xdp_program *progs[8];
	struct xdp_multiprog *mp;
	enum xdp_attach_mode mode = XDP_MODE_UNSPEC;
	char others[256], errbuf[256];
	int ifindex, n, err, ret = 1;

	ifindex = weirctl_ifindex(ctx, ctx->argv[0]);
	if (!ifindex)
		return 1;
	quiet_libs();
	n = find_weir_progs(ifindex, &mp, progs, 8, &mode);
	if (!n && !weirctl_flag(ctx, "purge")) {
		ret = weirctl_err(ctx, "weir is not attached to %s", ctx->argv[0]);
		goto out;
	}
	if (weirctl_flag(ctx, "purge") && weir_users(ctx, ifindex, others, sizeof(others))) {
		ret = weirctl_err(ctx, "--purge: weir still runs on %s and uses "
				       "the maps; detach it there first", others);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		err = xdp_program__detach(progs[i], ifindex, mode, 0);
		if (err) {
			libxdp_strerror(err, errbuf, sizeof(errbuf));
			ret = weirctl_err(ctx, "%s: %s", ctx->argv[0], errbuf);
			goto out;
		}
	}
	if (weirctl_flag(ctx, "purge") && purge_pins(ctx))
		goto out;
	printf("weir %s %s%s\n", n ? "detached from" : "was not attached to",
	       ctx->argv[0], weirctl_flag(ctx, "purge") ? "; pinned maps removed"
						      : "; maps and entries kept");
	ret = 0;
out:
	xdp_multiprog__close(mp);
	return ret;
}

static const char *attached_name(uint8_t a)
{
	switch (a) {
	case XDP_ATTACHED_DRV: return "native";
	case XDP_ATTACHED_SKB: return "generic";
	case XDP_ATTACHED_HW: return "hw";
	case XDP_ATTACHED_MULTI: return "multi";
	default: return "none";
	}
}

static const char *const part_names[WEIR_LIST_PARTS] = {
	"prefixes4", "hosts4", "prefixes6", "hosts6" };

static int status_svc(const struct weir_svc_key *k, const struct weir_svc *v, void *ctx)
{
	return 0;
}

/* The pinned lists' sizes, as JSON (NULL when nothing is pinned). */
static json_t *status_maps(struct weirctl_ctx *ctx, int *err)
{
	struct weir_maps m;
	json_t *o;

	*err = weir_maps_open(&m, ctx->pin_dir);
	if (*err)
		return NULL;
	o = json_object();
	for (int li = 0; li < 2; li++) {
		long parts[WEIR_LIST_PARTS] = {};
		long n = weir_list_count(&m, li ? WEIR_LIST_ALLOW : WEIR_LIST_BLOCK,
					 parts);
		json_t *l = json_pack("{s:I}", "entries", (json_int_t)n);

		for (int i = 0; i < WEIR_LIST_PARTS; i++)
			json_object_set_new(l, part_names[i], json_integer(parts[i]));
		json_object_set_new(o, li ? "allowlist" : "blocklist", l);
	}
	json_object_set_new(o, "limit_overrides",
			    json_integer(weir_map_fill(m.limit4) + weir_map_fill(m.limit6)));
	json_object_set_new(o, "sources", json_integer(weir_map_fill(m.src)));
	json_object_set_new(o, "notes", json_integer(weir_map_fill(m.note)));
	json_object_set_new(o, "services", json_integer(weir_svc_walk(&m, status_svc, NULL)));
	json_object_set_new(o, "flows", json_integer(weir_map_fill(m.flow)));
	weir_maps_close(&m);
	return o;
}

/* Interfaces with an XDP program, and the programs in their dispatcher. */
static json_t *status_links(struct weirctl_ctx *ctx, int *err)
{
	struct link_list l = {};
	json_t *arr = json_array();

	*err = link_dump(&l);
	for (size_t i = 0; !*err && i < l.n; i++) {
		struct link_info *li = &l.v[i];
		struct xdp_multiprog *mp;
		struct xdp_program *p = NULL;
		json_t *progs = json_array();

		if (li->xdp_attached == XDP_ATTACHED_NONE) {
			json_decref(progs);
			continue;
		}
		mp = xdp_multiprog__get_from_ifindex(li->ifindex);
		if (!libxdp_get_error(mp)) {
			bool legacy = xdp_multiprog__is_legacy(mp);

			for (p = legacy ? xdp_multiprog__main_prog(mp)
					: xdp_multiprog__next_prog(NULL, mp);
			     p; p = legacy ? NULL : xdp_multiprog__next_prog(p, mp))
				json_array_append_new(progs, json_pack("{s:s, s:I}", "name",
								       xdp_program__name(p), "id",
								       (json_int_t)xdp_program__id(p)));
			xdp_multiprog__close(mp);
		}
		json_array_append_new(arr, json_pack("{s:s, s:i, s:s, s:I, s:o}", "name",
						     li->name, "ifindex", li->ifindex,
						     "mode", attached_name(li->xdp_attached),
						     "prog_id", (json_int_t)li->prog_id,
						     "programs", progs));
	}
	free(l.v);
	return arr;
}

int weirctl_status(struct weirctl_ctx *ctx)
{
	json_t *links, *maps, *v;
	size_t i, k;
	int err, merr;

	quiet_libs();
	links = status_links(ctx, &err);
	if (err) {
		json_decref(links);
		return weirctl_err(ctx, "netlink link dump: %s", strerror(-err));
	}
	maps = status_maps(ctx, &merr);
	if (merr == -EPERM || merr == -EACCES) {
		json_decref(links);
		return weirctl_err(ctx, "%s: permission denied (weirctl needs root)",
				   ctx->pin_dir);
	}
	if (weirctl_flag(ctx, "json")) {
		json_t *o = json_pack("{s:o, s:s, s:o}", "interfaces", links, "pin_dir",
				      ctx->pin_dir, "maps", maps ? maps : json_null());
		char *out = json_dumps(o, JSON_COMPACT);

		json_decref(o);
		if (!out)
			return weirctl_err(ctx, "out of memory");
		puts(out);
		free(out);
		return 0;
	}
	printf("%-16s %-8s %-8s %s\n", "INTERFACE", "MODE", "PROG",
	       "PROGRAMS (dispatcher order)");
	json_array_foreach(links, i, v) {
		json_t *p;

		printf("%-16s %-8s %-8" JSON_INTEGER_FORMAT,
		       json_string_value(json_object_get(v, "name")),
		       json_string_value(json_object_get(v, "mode")),
		       json_integer_value(json_object_get(v, "prog_id")));
		json_array_foreach(json_object_get(v, "programs"), k, p)
			printf(" %s(%" JSON_INTEGER_FORMAT ")",
			       json_string_value(json_object_get(p, "name")),
			       json_integer_value(json_object_get(p, "id")));
		printf("\n");
	}
	if (!json_array_size(links))
		printf("(no interface has an XDP program)\n");
	json_decref(links);
	if (!maps) {
		printf("\nno weir maps pinned under %s\n", ctx->pin_dir);
		return 0;
	}
	printf("\nmaps under %s:\n", ctx->pin_dir);
	for (int li = 0; li < 2; li++) {
		json_t *l = json_object_get(maps, li ? "allowlist" : "blocklist");

		printf("  %-10s %9" JSON_INTEGER_FORMAT " entries:", li ? "allowlist" : "blocklist",
		       json_integer_value(json_object_get(l, "entries")));
		for (int n = 0; n < WEIR_LIST_PARTS; n++)
			printf(" %s %" JSON_INTEGER_FORMAT, part_names[n],
			       json_integer_value(json_object_get(l, part_names[n])));
		printf("\n");
	}
	printf("  overrides  %9" JSON_INTEGER_FORMAT "\n  sources    %9" JSON_INTEGER_FORMAT
	       " (rate-limit state, LRU)\n  notes      %9" JSON_INTEGER_FORMAT
	       "\n  services   %9" JSON_INTEGER_FORMAT "\n  flows      %9" JSON_INTEGER_FORMAT
	       " (l4 flows tracked, LRU)\n",
	       json_integer_value(json_object_get(maps, "limit_overrides")),
	       json_integer_value(json_object_get(maps, "sources")),
	       json_integer_value(json_object_get(maps, "notes")),
	       json_integer_value(json_object_get(maps, "services")),
	       json_integer_value(json_object_get(maps, "flows")));
	json_decref(maps);
	return 0;
}
