/* weir_maps.h - open weir's pinned maps and read or change their entries.
 *
 * The small library behind weirctl, the tests and the benchmarks. It knows
 * the ABI of maps/weir_abi.h and nothing about the command line. Every
 * function returns 0 or a positive count on success and a negative errno on
 * failure; where the failure is the caller's input, a message naming the
 * input and the reason is written into the caller's `err` buffer.
 */
#ifndef WEIR_MAPS_H
#define WEIR_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "weir_abi.h"

struct bpf_object;

struct weir_maps {
	int config, stats;
	int block4, block6, allow4, allow6;	/* LPM tries: shorter prefixes */
	int limit4, limit6;
	int src, note;
	int block4h, block6h, allow4h, allow6h; /* tables: slots */
	int block4e, block6e, allow4e, allow6e; /* tables: entries */
	int block4s, block6s, allow4s, allow6s; /* summaries of the tries */
	int svc, svc_state, ring, backend, flow, flow_rate; /* services */
	int dir; /* the pin directory, for flock; -1 for maps from an object */
};

/* Changes that touch feature bits take an exclusive flock on the pin
 * directory, so that weirctl and weir can change the maps concurrently. */

/* Names and fds of every map, in one table, for opening, pinning and counting. */
struct weir_map_desc {
	const char *name;
	size_t offset; /* of the fd in struct weir_maps */
};
extern const struct weir_map_desc weir_map_descs[];
extern const size_t weir_map_count;

static inline int *weir_map_fd(struct weir_maps *m, const struct weir_map_desc *d)
{
	return (int *)((char *)m + d->offset);
}

int weir_maps_open(struct weir_maps *m, const char *pin_dir);
int weir_maps_from_obj(struct weir_maps *m, struct bpf_object *obj);
void weir_maps_close(struct weir_maps *m);

/* A source prefix. Host bits beyond prefixlen must be zero. */
struct weir_cidr {
	uint8_t family; /* 4 or 6 */
	uint8_t prefixlen;
	uint8_t addr[16];
};

#define WEIR_CIDR_STRLEN 50
int weir_cidr_parse(const char *s, struct weir_cidr *c, char *err, size_t errlen);
void weir_cidr_format(const struct weir_cidr *c, char *buf, size_t len);

/* Parses "90", "90s", "15m", "2h", "7d" into nanoseconds (> 0). */
int weir_duration_parse(const char *s, uint64_t *ns);

/* One line of a prefix list file (weirctl block/allow import), trimmed in
 * place: the line is cut at its first '#' (the rest is a comment), spaces
 * and tabs before the text and spaces, tabs, '\r' and '\n' after it are
 * dropped. Returns 1 with *cidr pointing at the text (inside line, non-empty,
 * not yet validated: give it to weir_cidr_parse), or 0 for a blank or
 * comment-only line (*cidr untouched). */
int weir_list_line(char *line, const char **cidr);

uint64_t weir_mono_ns(void);
uint64_t weir_real_ns(void);

enum weir_list { WEIR_LIST_BLOCK, WEIR_LIST_ALLOW };

struct weir_list_item {
	struct weir_cidr cidr;
	struct weir_entry entry;
	char note[WEIR_NOTE_LEN]; /* "" when none */
};

int weir_list_add(const struct weir_maps *m, enum weir_list l,
		  const struct weir_cidr *c, uint64_t ttl_ns, const char *note);
int weir_list_del(const struct weir_maps *m, enum weir_list l,
		  const struct weir_cidr *c);
/* Calls fn for every live entry; expired entries are deleted on the way
 * (reaped). Returns the number of live entries, or a negative errno. */
int weir_list_walk(const struct weir_maps *m, enum weir_list l,
		   int (*fn)(const struct weir_list_item *it, void *ctx),
		   void *ctx);
/* Removes the expired entries now; returns how many. */
int weir_list_reap(const struct weir_maps *m, enum weir_list l);
/* Deletes every entry; returns how many were deleted. */
int weir_list_flush(const struct weir_maps *m, enum weir_list l);
/* Adds n prefixes with batched updates; progress(done, n, ctx) is called
 * after each batch when non-NULL. Entries never expire. */
int weir_list_import(const struct weir_maps *m, enum weir_list l,
		     const struct weir_cidr *v, size_t n,
		     void (*progress)(size_t done, size_t total, void *ctx),
		     void *ctx);

int weir_xdp_config_read(const struct weir_maps *m, struct weir_xdp_config *cfg);
int weir_xdp_config_write(const struct weir_maps *m, const struct weir_xdp_config *cfg);
/* Sets or clears feature bits in one read-modify-write. */
int weir_features_update(const struct weir_maps *m, uint32_t set, uint32_t clear);

/* Per-CIDR limit overrides; c == NULL means the global default. */
int weir_limit_set(const struct weir_maps *m, const struct weir_cidr *c,
		   const struct weir_limit *lim);
/* Read-modify-write of the default (c == NULL) or of c's override, under
 * the writers' lock: change() gets the current values (a new override starts
 * from the defaults) and returns 0 to write them back, or an error to leave
 * everything as it was. */
int weir_limit_update(const struct weir_maps *m, const struct weir_cidr *c,
		      int (*change)(struct weir_limit *lim, void *ctx), void *ctx);
int weir_limit_del(const struct weir_maps *m, const struct weir_cidr *c);
int weir_limit_walk(const struct weir_maps *m,
		    int (*fn)(const struct weir_cidr *c,
			      const struct weir_limit *lim, void *ctx),
		    void *ctx);

/* Sums the per-CPU counters of every reason. */
int weir_stats_read(const struct weir_maps *m, struct weir_stat out[WEIR_R_MAX]);
extern const char *const weir_reason_names[WEIR_R_MAX];

/* Number of entries of a map (walks its keys; an array's size). */
long weir_map_fill(int fd);
/* Entries of one list (not yet reaped), all parts; per part into `parts`
 * when non-NULL, in the order of enum weir_list_part. */
enum weir_list_part { WEIR_PART_NET4, WEIR_PART_HOST4, WEIR_PART_NET6,
		      WEIR_PART_HOST6, WEIR_LIST_PARTS };
long weir_list_count(const struct weir_maps *m, enum weir_list l,
		     long parts[WEIR_LIST_PARTS]);
/* The entry for exactly c, if c is in the list (live or not yet reaped). */
int weir_list_get(const struct weir_maps *m, enum weir_list l,
		  const struct weir_cidr *c, struct weir_entry *e);
/* Creates the tables' hash seed if the config has none (first attach). */
int weir_maps_seed(const struct weir_maps *m);

/* ---- services (l7, l4, drop) and their backends: service.c ---- */

/* Parses "ADDR:PORT[/tcp|/udp]" ("[ADDR]:PORT" for IPv6; tcp when no
 * protocol is given) into a weir_svc key. */
#define WEIR_SVC_STRLEN 60
int weir_svc_key_parse(const char *s, struct weir_svc_key *k, char *err, size_t errlen);
void weir_svc_key_format(const struct weir_svc_key *k, char *buf, size_t len);
/* The address and protocol of a backend or service, as text. */
void weir_ip_format(uint8_t family, const uint8_t *addr, char *buf, size_t len);
int weir_ip_parse(const char *s, uint8_t *family, uint8_t addr[16]);

/* Adds a service. v->mode and v->flags (and v->syn) are the caller's; the
 * id and, for l4, the ring are allocated here. -EEXIST when the key is
 * taken, -ENOSPC when no id or ring is free. */
int weir_svc_add(const struct weir_maps *m, const struct weir_svc_key *k,
		 struct weir_svc *v);
/* Deletes a service and frees its backends. -ENOENT when absent. */
int weir_svc_del(const struct weir_maps *m, const struct weir_svc_key *k);
/* Deletes every service; returns how many there were. */
int weir_svc_flush(const struct weir_maps *m);
int weir_svc_get(const struct weir_maps *m, const struct weir_svc_key *k,
		 struct weir_svc *v);
int weir_svc_walk(const struct weir_maps *m,
		  int (*fn)(const struct weir_svc_key *k, const struct weir_svc *v,
			    void *ctx),
		  void *ctx);

/* Copies the live services of the service table at fd into a new map of
 * the same shape, each placed by this build's weir_svc_hash (layout
 * WEIR_SVC_LAYOUT, whatever placed them before; tombstones stay behind);
 * *new_fd gets the new map. Returns how many services it holds, or a
 * negative errno: -EINVAL when fd is not a service table of this build's
 * shape, -ENOSPC when one found no slot. The caller keeps writers out (the
 * pin directory's flock) until the copy has taken the table's place. */
int weir_svc_relayout(int fd, int *new_fd);

/* Adds b (addr, family, weight and the next hop: ifindex, dmac, smac, src)
 * to the l4 service k and rebuilds its ring. -ENOENT no such service,
 * -EINVAL not an l4 service or another family, -EEXIST the address is
 * already a backend of k, -ENOSPC no backend index is free. Returns the
 * backend's index. */
int weir_backend_add(const struct weir_maps *m, const struct weir_svc_key *k,
		     const struct weir_backend *b);
/* Removes a backend: its ring slots go to the others first, then its flows
 * are balanced again (its index's generation moves on). */
int weir_backend_del(const struct weir_maps *m, const struct weir_svc_key *k,
		     uint8_t family, const uint8_t addr[16]);
/* Weight 0 drains: no ring slot, tracked flows go on. */
int weir_backend_weight(const struct weir_maps *m, const struct weir_svc_key *k,
			uint8_t family, const uint8_t addr[16], uint32_t weight);
/* Calls fn for each live backend of service id svc_id, in index order. */
int weir_backend_walk(const struct weir_maps *m, uint16_t svc_id,
		      int (*fn)(uint32_t idx, const struct weir_backend *b, void *ctx),
		      void *ctx);
/* Copies ring number `ring` (WEIR_RING_SIZE slots) into out. */
int weir_ring_read(const struct weir_maps *m, uint16_t ring, uint32_t *out);
/* Tracked flows per backend index: counts[WEIR_BACKEND_MAX]. */
long weir_flow_counts(const struct weir_maps *m, uint32_t *counts);
/* New l4 flows per second per CPU above which flows are not tracked. */
int weir_flow_track_set(const struct weir_maps *m, uint32_t rate);

/* maglev.c: fills ring[size] (size prime) with the values of the nodes,
 * each taking slots in proportion to its weight; WEIR_RING_EMPTY
 * everywhere when no node has weight. */
struct weir_maglev_node {
	uint8_t key[17]; /* identity: family, then the address */
	uint32_t weight;
	uint32_t value;
};
int weir_maglev_build(const struct weir_maglev_node *nodes, size_t n,
		      uint32_t *ring, uint32_t size);

#endif /* WEIR_MAPS_H */
