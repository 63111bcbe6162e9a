/* service.c - weirctl service ...: the service table (l7, l4, drop) and the
 * backends of l4 services. Each command checks all of its input before it
 * changes anything, then makes one change through maps/service.c; a backend's
 * next hop is resolved (nexthop.c) before the backend is added.
 */
#include "weirctl.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEIGHT_MAX 65535u
#define SYN_RATE_MAX 100000000u

static const char *const mode_names[] = { [WEIR_SVC_L7] = "l7",
					  [WEIR_SVC_L4] = "l4",
					  [WEIR_SVC_DROP] = "drop" };

static int parse_svc(struct weirctl_ctx *ctx, const char *s, struct weir_svc_key *k)
{
	char err[160];

	if (weir_svc_key_parse(s, k, err, sizeof(err)))
		return weirctl_err(ctx, "%s", err);
	return 0;
}

static int parse_backend(struct weirctl_ctx *ctx, const struct weir_svc_key *k,
			 const char *s, uint8_t addr[16])
{
	uint8_t family;

	if (weir_ip_parse(s, &family, addr))
		return weirctl_err(ctx, "backend '%s': not an IPv4 or IPv6 address", s);
	if (family != k->family)
		return weirctl_err(ctx, "backend %s: an IPv%u service needs IPv%u "
				   "backends", s, k->family, k->family);
	return 0;
}

/* Says why a change to service `svc` failed, in the caller's words. */
static int svc_fail(struct weirctl_ctx *ctx, const char *svc, int err)
{
	switch (err) {
	case -ENOENT:
		return weirctl_err(ctx, "no service %s", svc);
	case -EEXIST:
		return weirctl_err(ctx, "service %s exists (delete it first to "
				   "change its mode)", svc);
	case -ENOSPC:
		return weirctl_err(ctx, "no room: at most %u services, %u of them "
				   "l4, and %u backends", WEIR_SVC_MAX, WEIR_RING_MAX,
				   WEIR_BACKEND_MAX);
	case -ESTALE:
		return weirctl_err(ctx, "service %s: the service table under %s was "
				   "laid out by an older weir (another hash); 'weirctl "
				   "attach IFACE' with this build converts it", svc,
				   ctx->pin_dir);
	default:
		return weirctl_err(ctx, "service %s: %s", svc, strerror(-err));
	}
}

/* "RATE" or "RATE/BURST" of --syn-cookies. */
static int parse_syn(struct weirctl_ctx *ctx, const char *s, struct weir_rate *r)
{
	char rate[24];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (n >= sizeof(rate))
		return weirctl_err(ctx, "--syn-cookies '%s': expected RATE[/BURST]", s);
	memcpy(rate, s, n);
	rate[n] = '\0';
	if (weirctl_u32(ctx, "--syn-cookies rate", rate, SYN_RATE_MAX, &r->rate))
		return 1;
	if (!r->rate)
		return weirctl_err(ctx, "--syn-cookies: the rate must be at least 1 "
				   "SYN per second");
	r->burst = r->rate;
	if (slash && weirctl_u32(ctx, "--syn-cookies burst", slash + 1, SYN_RATE_MAX,
				 &r->burst))
		return 1;
	if (!r->burst)
		return weirctl_err(ctx, "--syn-cookies: the burst must be at least 1");
	return 0;
}

int weirctl_service_add(struct weirctl_ctx *ctx)
{
	const char *mode = weirctl_opt(ctx, "mode"), *syn = weirctl_opt(ctx, "syn-cookies");
	struct weir_svc v = {};
	struct weir_svc_key k;
	struct weir_maps m;
	int err, ret;

	if (parse_svc(ctx, ctx->argv[0], &k))
		return 1;
	if (!mode)
		return weirctl_err(ctx, "--mode is required: l7, l4 or drop");
	for (uint8_t i = WEIR_SVC_L7; i <= WEIR_SVC_DROP; i++)
		if (!strcmp(mode, mode_names[i]))
			v.mode = i;
	if (!v.mode)
		return weirctl_err(ctx, "--mode '%s': expected l7, l4 or drop", mode);
	if (weirctl_flag(ctx, "dsr")) {
		if (v.mode != WEIR_SVC_L4)
			return weirctl_err(ctx, "--dsr: only for --mode l4");
		v.flags |= WEIR_SVC_F_DSR;
	}
	if (syn) {
		if (v.mode != WEIR_SVC_L7 || k.proto != IPPROTO_TCP)
			return weirctl_err(ctx, "--syn-cookies: only for --mode l7 "
					   "TCP services");
		if (parse_syn(ctx, syn, &v.syn))
			return 1;
		v.flags |= WEIR_SVC_F_SYNCOOKIE;
	}
	if (weirctl_open_maps(ctx, &m))
		return 1;
	err = weir_svc_add(&m, &k, &v);
	if (err) {
		ret = svc_fail(ctx, ctx->argv[0], err);
	} else {
		ret = 0;
		/* Cookies that nothing in the kernel completes would turn
		 * every client away: without the kernel's side, no service. */
		if ((v.flags & WEIR_SVC_F_SYNCOOKIE) && (ret = weirctl_synproxy_sync(ctx, &m)) &&
		    weir_svc_del(&m, &k) == 0)
			weirctl_synproxy_sync(ctx, &m);
		if (!ret)
			printf("service %s added (%s)\n", ctx->argv[0], mode);
	}
	weir_maps_close(&m);
	return ret;
}

int weirctl_service_del(struct weirctl_ctx *ctx)
{
	struct weir_svc v = {};
	struct weir_svc_key k;
	struct weir_maps m;
	int err, ret;

	if (parse_svc(ctx, ctx->argv[0], &k) || weirctl_open_maps(ctx, &m))
		return 1;
	err = weir_svc_get(&m, &k, &v);
	if (!err)
		err = weir_svc_del(&m, &k);
	if (err) {
		ret = svc_fail(ctx, ctx->argv[0], err);
	} else {
		ret = v.flags & WEIR_SVC_F_SYNCOOKIE ? weirctl_synproxy_sync(ctx, &m) : 0;
		if (!ret)
			printf("service %s deleted\n", ctx->argv[0]);
	}
	weir_maps_close(&m);
	return ret;
}

int weirctl_service_track(struct weirctl_ctx *ctx)
{
	struct weir_maps m;
	uint32_t rate;
	int err;

	if (weirctl_u32(ctx, "RATE", ctx->argv[0], UINT32_MAX, &rate) ||
	    weirctl_open_maps(ctx, &m))
		return 1;
	err = weir_flow_track_set(&m, rate);
	weir_maps_close(&m);
	if (err)
		return weirctl_err(ctx, "%s", strerror(-err));
	if (rate)
		printf("l4 flows tracked up to %u new flows per second per CPU\n", rate);
	else
		printf("every l4 flow is tracked\n");
	return 0;
}

/* ---- backends ---- */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int parse_mac(struct weirctl_ctx *ctx, const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		const char *b = s + 3 * i;
		int hi = hexval(b[0]), lo = hi < 0 ? -1 : hexval(b[1]);

		if (lo < 0 || b[2] != (i < 5 ? ':' : '\0'))
			return weirctl_err(ctx, "--mac '%s': expected six hex bytes "
					   "(02:00:00:00:00:01)", s);
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* The service named on the command line, which must exist and be l4. */
static int backend_svc(struct weirctl_ctx *ctx, struct weir_maps *m,
		       const struct weir_svc_key *k, struct weir_svc *v)
{
	int err = weir_svc_get(m, k, v);

	if (err)
		return svc_fail(ctx, ctx->argv[0], err);
	if (v->mode != WEIR_SVC_L4)
		return weirctl_err(ctx, "service %s is %s: only l4 services have "
				   "backends", ctx->argv[0], mode_names[v->mode]);
	return 0;
}

static int backend_fail(struct weirctl_ctx *ctx, int err)
{
	if (err == -ENOENT)
		return weirctl_err(ctx, "%s is not a backend of %s", ctx->argv[1],
				   ctx->argv[0]);
	if (err == -EEXIST)
		return weirctl_err(ctx, "%s is already a backend of %s (set-weight "
				   "changes its weight)", ctx->argv[1], ctx->argv[0]);
	return svc_fail(ctx, ctx->argv[0], err);
}

int weirctl_backend_add(struct weirctl_ctx *ctx)
{
	const char *w = weirctl_opt(ctx, "weight"), *mac_s = weirctl_opt(ctx, "mac");
	struct weir_backend b = { .weight = 1 };
	struct weirctl_nexthop nh;
	uint8_t mac[6];
	struct weir_svc_key k;
	struct weir_svc v;
	struct weir_maps m;
	int err, ret = 1;

	if (parse_svc(ctx, ctx->argv[0], &k) ||
	    parse_backend(ctx, &k, ctx->argv[1], b.addr) ||
	    (w && weirctl_u32(ctx, "--weight", w, WEIGHT_MAX, &b.weight)) ||
	    (mac_s && parse_mac(ctx, mac_s, mac)))
		return 1;
	b.family = k.family;
	if (weirctl_open_maps(ctx, &m))
		return 1;
	if (backend_svc(ctx, &m, &k, &v) ||
	    weirctl_nexthop(ctx, b.family, b.addr, mac_s ? mac : NULL, &nh))
		goto out;
	if ((v.flags & WEIR_SVC_F_DSR) && !nh.onlink) {
		weirctl_err(ctx, "backend %s is reached through a gateway: direct "
			    "server return needs it on a link of this host",
			    ctx->argv[1]);
		goto out;
	}
	b.ifindex = nh.ifindex;
	memcpy(b.dmac, nh.dmac, 6);
	memcpy(b.smac, nh.smac, 6);
	memcpy(b.src, nh.src, 16);
	err = weir_backend_add(&m, &k, &b);
	if (err < 0) {
		backend_fail(ctx, err);
		goto out;
	}
	printf("backend %s added to %s (weight %u)\n", ctx->argv[1], ctx->argv[0],
	       b.weight);
	ret = 0;
out:
	weir_maps_close(&m);
	return ret;
}

/* set-weight SERVICE ADDR WEIGHT, or del SERVICE ADDR (remove). */
static int backend_change(struct weirctl_ctx *ctx, bool remove)
{
	uint8_t addr[16];
	struct weir_svc_key k;
	struct weir_svc v;
	struct weir_maps m;
	uint32_t weight = 0;
	int err, ret = 1;

	if (parse_svc(ctx, ctx->argv[0], &k) ||
	    parse_backend(ctx, &k, ctx->argv[1], addr) ||
	    (!remove && weirctl_u32(ctx, "WEIGHT", ctx->argv[2], WEIGHT_MAX, &weight)) ||
	    weirctl_open_maps(ctx, &m))
		return 1;
	if (backend_svc(ctx, &m, &k, &v))
		goto out;
	err = remove ? weir_backend_del(&m, &k, k.family, addr)
		     : weir_backend_weight(&m, &k, k.family, addr, weight);
	if (err) {
		backend_fail(ctx, err);
		goto out;
	}
	if (remove)
		printf("backend %s removed from %s\n", ctx->argv[1], ctx->argv[0]);
	else
		printf("backend %s of %s: weight %u%s\n", ctx->argv[1], ctx->argv[0],
		       weight, weight ? "" : " (draining: no new flows)");
	ret = 0;
out:
	weir_maps_close(&m);
	return ret;
}

int weirctl_backend_del(struct weirctl_ctx *ctx)
{
	return backend_change(ctx, true);
}

int weirctl_backend_weight(struct weirctl_ctx *ctx)
{
	return backend_change(ctx, false);
}

/* ---- list ---- */

struct list_ctx {
	struct weir_maps *m;
	json_t *arr; /* NULL: text */
	uint32_t *flows; /* per backend index */
	uint32_t *ring;	 /* scratch: one ring */
	uint32_t *slots; /* per backend index, of the ring being listed */
};

static json_t *backend_json(const struct list_ctx *l, uint32_t idx,
			    const struct weir_backend *b)
{
	char a[INET6_ADDRSTRLEN], dev[IF_NAMESIZE] = "?", mac[18];

	weir_ip_format(b->family, b->addr, a, sizeof(a));
	if_indextoname(b->ifindex, dev);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", b->dmac[0],
		 b->dmac[1], b->dmac[2], b->dmac[3], b->dmac[4], b->dmac[5]);
	return json_pack("{s:s, s:I, s:I, s:I, s:s, s:s}", "address", a, "weight",
			 (json_int_t)b->weight, "slots", (json_int_t)l->slots[idx],
			 "flows", (json_int_t)l->flows[idx], "dev", dev, "mac", mac);
}

static int backend_show(uint32_t idx, const struct weir_backend *b, void *data)
{
	json_t *arr = data;

	json_array_append_new(arr, json_integer(idx));
	return 0;
}

static int svc_show(const struct weir_svc_key *k, const struct weir_svc *v, void *data)
{
	struct list_ctx *l = data;
	char name[WEIR_SVC_STRLEN];
	json_t *o, *idxs = json_array(), *bes = json_array();
	size_t i;
	json_t *it;
	int n;

	weir_svc_key_format(k, name, sizeof(name));
	memset(l->slots, 0, WEIR_BACKEND_MAX * sizeof(uint32_t));
	if (v->mode == WEIR_SVC_L4 && !weir_ring_read(l->m, v->ring, l->ring))
		for (uint32_t s = 0; s < WEIR_RING_SIZE; s++)
			if (l->ring[s] < WEIR_BACKEND_MAX)
				l->slots[l->ring[s]]++;
	n = v->mode == WEIR_SVC_L4 ? weir_backend_walk(l->m, v->id, backend_show, idxs) : 0;
	json_array_foreach(idxs, i, it) {
		uint32_t idx = (uint32_t)json_integer_value(it);
		struct weir_backend b;

		if (!bpf_map_lookup_elem(l->m->backend, &idx, &b))
			json_array_append_new(bes, backend_json(l, idx, &b));
	}
	json_decref(idxs);
	o = json_pack("{s:s, s:s, s:b, s:o}", "service", name, "mode",
		      mode_names[v->mode], "dsr", !!(v->flags & WEIR_SVC_F_DSR),
		      "backends", bes);
	if (v->flags & WEIR_SVC_F_SYNCOOKIE)
		json_object_set_new(o, "syn_cookies",
				    json_pack("{s:I, s:I}", "rate", (json_int_t)v->syn.rate,
					      "burst", (json_int_t)v->syn.burst));
	if (l->arr) {
		json_array_append_new(l->arr, o);
		return n < 0 ? n : 0;
	}
	printf("%s %s%s", name, mode_names[v->mode],
	       v->flags & WEIR_SVC_F_DSR ? " dsr" : "");
	if (v->flags & WEIR_SVC_F_SYNCOOKIE)
		printf(" syn-cookies above %u/s (burst %u)", v->syn.rate, v->syn.burst);
	printf("\n");
	json_array_foreach(bes, i, it)
		printf("  backend %-39s weight %-5" JSON_INTEGER_FORMAT " slots %-6"
		       JSON_INTEGER_FORMAT " flows %-7" JSON_INTEGER_FORMAT " via %s %s\n",
		       json_string_value(json_object_get(it, "address")),
		       json_integer_value(json_object_get(it, "weight")),
		       json_integer_value(json_object_get(it, "slots")),
		       json_integer_value(json_object_get(it, "flows")),
		       json_string_value(json_object_get(it, "dev")),
		       json_string_value(json_object_get(it, "mac")));
	json_decref(o);
	return n < 0 ? n : 0;
}

int weirctl_service_list(struct weirctl_ctx *ctx)
{
	bool json = weirctl_flag(ctx, "json");
	struct list_ctx l = { .m = NULL };
	struct weir_xdp_config cfg = {};
	struct weir_maps m;
	int n, ret = 1;

	if (weirctl_open_maps(ctx, &m))
		return 1;
	l.m = &m;
	l.flows = calloc(WEIR_BACKEND_MAX, sizeof(uint32_t));
	l.slots = calloc(WEIR_BACKEND_MAX, sizeof(uint32_t));
	l.ring = calloc(WEIR_RING_SIZE, sizeof(uint32_t));
	l.arr = json ? json_array() : NULL;
	if (!l.flows || !l.slots || !l.ring) {
		weirctl_err(ctx, "%s", strerror(ENOMEM));
		goto out;
	}
	n = (int)weir_flow_counts(&m, l.flows);
	if (n >= 0)
		n = weir_xdp_config_read(&m, &cfg);
	if (n < 0) {
		weirctl_err(ctx, "reading the maps: %s", strerror(-n));
		goto out;
	}
	n = weir_svc_walk(&m, svc_show, &l);
	if (n < 0) {
		weirctl_err(ctx, "%s", strerror(-n));
		goto out;
	}
	if (json) {
		ret = weirctl_print_json(json_pack("{s:o, s:I}", "services", l.arr,
						   "flow_track_rate",
						   (json_int_t)cfg.flow_track_rate));
		l.arr = NULL;
		goto out;
	}
	if (!n)
		printf("no services\n");
	ret = 0;
out:
	json_decref(l.arr);
	free(l.flows);
	free(l.slots);
	free(l.ring);
	weir_maps_close(&m);
	return ret;
}
