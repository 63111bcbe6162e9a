/* weir_abi.h - the ABI between weir's BPF programs and userspace.
 *
 * Types only: the map names, pin paths, verdict reasons and the key/value
 * structs that cross the kernel/userspace line. Both bpf/weir_xdp.bpf.c and
 * everything under maps/ and loader/ include this one header; every struct has
 * a size check so that a change on one side cannot silently diverge from the
 * other. Fixed-width types only, no pointers, explicit padding.
 */
#ifndef WEIR_ABI_H
#define WEIR_ABI_H

#include <linux/types.h>

#define WEIR_PIN_DIR "/sys/fs/bpf/weir"
#define WEIR_XDP_PROG_NAME "weir_xdp"

/* Capacities; overridable at build time (-DWEIR_BLOCK_MAX=...). */
#ifndef WEIR_BLOCK_MAX
#define WEIR_BLOCK_MAX (2u << 20) /* per family: 2M prefixes */
#endif
#ifndef WEIR_ALLOW_MAX
#define WEIR_ALLOW_MAX 65536u
#endif
#ifndef WEIR_LIMIT_MAX
#define WEIR_LIMIT_MAX 65536u /* per-CIDR rate-limit overrides, per family */
#endif
#ifndef WEIR_SRC_MAX
#define WEIR_SRC_MAX (1u << 20) /* per-source rate-limit state (LRU) */
#endif
#ifndef WEIR_NOTE_MAX
#define WEIR_NOTE_MAX 65536u /* blocklist comments */
#endif
#define WEIR_NOTE_LEN 64
#ifndef WEIR_SVC_MAX
#define WEIR_SVC_MAX 1024u /* services: (address, port, protocol) */
#endif
#ifndef WEIR_RING_MAX
#define WEIR_RING_MAX 64u /* services in l4 mode: each owns a Maglev ring */
#endif
#ifndef WEIR_BACKEND_MAX
#define WEIR_BACKEND_MAX 4096u /* l4 backends, all services together */
#endif
#ifndef WEIR_FLOW_MAX
#define WEIR_FLOW_MAX (1u << 18) /* tracked l4 flows (LRU) */
#endif
#ifndef WEIR_FLOW_CACHE_SLOTS
#define WEIR_FLOW_CACHE_SLOTS (1u << 13) /* per CPU, a power of 2 */
#endif
/* Slots of one Maglev lookup table: a prime, so that every skip of the
 * permutations is coprime with it (Eisenbud et al., NSDI '16; Katran uses
 * the same size). */
#define WEIR_RING_SIZE 65537u

/* Map names, as they appear in the object and under WEIR_PIN_DIR. */
#define WEIR_MAP_CONFIG "weir_config"
#define WEIR_MAP_STATS "weir_stats"
#define WEIR_MAP_BLOCK4 "weir_block4"
#define WEIR_MAP_BLOCK6 "weir_block6"
#define WEIR_MAP_ALLOW4 "weir_allow4"
#define WEIR_MAP_ALLOW6 "weir_allow6"
/* Single-address tables (weir_table.h): slots and entries. */
#define WEIR_MAP_BLOCK4H "weir_block4h"
#define WEIR_MAP_BLOCK6H "weir_block6h"
#define WEIR_MAP_ALLOW4H "weir_allow4h"
#define WEIR_MAP_ALLOW6H "weir_allow6h"
#define WEIR_MAP_BLOCK4E "weir_block4e"
#define WEIR_MAP_BLOCK6E "weir_block6e"
#define WEIR_MAP_ALLOW4E "weir_allow4e"
#define WEIR_MAP_ALLOW6E "weir_allow6e"
#define WEIR_MAP_BLOCK4S "weir_block4s"
#define WEIR_MAP_BLOCK6S "weir_block6s"
#define WEIR_MAP_ALLOW4S "weir_allow4s"
#define WEIR_MAP_ALLOW6S "weir_allow6s"
#define WEIR_MAP_LIMIT4 "weir_limit4"
#define WEIR_MAP_LIMIT6 "weir_limit6"
#define WEIR_MAP_SRC "weir_src"
#define WEIR_MAP_NOTE "weir_note"
#define WEIR_MAP_SVC "weir_svc_tab"
#define WEIR_MAP_RING "weir_ring"
#define WEIR_MAP_BACKEND "weir_backend"
#define WEIR_MAP_FLOW "weir_flow"
#define WEIR_MAP_FLOW_RATE "weir_flow_rate"
#define WEIR_MAP_FLOW_CACHE "weir_flow_cache"
#define WEIR_MAP_SVC_STATE "weir_svc_state"

/* Why a packet got its verdict: the index into the per-CPU stats map.
 * Every path through the XDP program counts exactly one reason. */
enum weir_reason {
	WEIR_R_PASS = 0,	/* IP traffic that passed every check */
	WEIR_R_PASS_NONIP,	/* not IPv4/IPv6: passed unexamined */
	WEIR_R_ALLOW,		/* source allowlisted: checks skipped */
	WEIR_R_BLOCK,		/* source blocklisted: dropped */
	WEIR_R_CONN_LIMIT,	/* new TCP connection over the source's rate */
	WEIR_R_PKT_LIMIT,	/* packet over the source's rate */
	WEIR_R_MALFORMED,	/* truncated or invalid L3/L4 header: dropped */
	WEIR_R_SVC_L7,		/* to an l7 service: passed to the local proxy */
	WEIR_R_SVC_DROP,	/* to a service in drop mode */
	WEIR_R_L4_FWD,		/* to an l4 service: sent on to a backend */
	WEIR_R_L4_NO_BACKEND,	/* to an l4 service with no backend: dropped */
	WEIR_R_L4_ERROR,	/* could not be encapsulated or sent: dropped */
	WEIR_R_SYNCOOKIE_SENT,	/* SYN answered by XDP with a SYN cookie */
	WEIR_R_SYNCOOKIE_BAD,	/* ACK without a socket or a valid cookie: dropped */
	WEIR_R_MAX,
};

#define WEIR_REASON_NAMES                                                      \
	{ "passed", "passed_nonip", "allowlisted", "blocklisted",              \
	  "conn_limited", "pkt_limited", "malformed", "service_l7",           \
	  "service_dropped", "l4_forwarded", "l4_no_backend", "l4_error",      \
	  "syncookie_sent", "syncookie_bad_ack" }

struct weir_stat {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct weir_stat) == 16, "weir_stat ABI");

/* Feature bits in weir_config.features: a feature whose bit is clear costs
 * the XDP program one branch on an already-loaded word, never a map lookup.
 * The userspace library keeps each bit set exactly when its map has entries
 * (or, for WEIR_F_LIMIT, when some limit is non-zero).
 *
 * Each list is, per family, a table of single addresses (/32, /128; see
 * weir_table.h), looked up in O(1) whatever the list's size, and an LPM trie
 * of shorter prefixes with its summary. Feeds of abusive sources are mostly
 * single addresses, so the common drop costs one table probe, and the trie
 * is skipped while it is empty. */
#define WEIR_F_ALLOW_HOST (1u << 0)
#define WEIR_F_ALLOW_NET (1u << 1)
#define WEIR_F_BLOCK_HOST (1u << 2)
#define WEIR_F_BLOCK_NET (1u << 3)
#define WEIR_F_LIMIT (1u << 4)	    /* a default or an override is set */
#define WEIR_F_LIMIT_CIDR (1u << 5) /* per-CIDR overrides exist */
#define WEIR_F_SVC (1u << 6)	    /* the service table has entries */
#define WEIR_F_ALLOW (WEIR_F_ALLOW_HOST | WEIR_F_ALLOW_NET)
#define WEIR_F_BLOCK (WEIR_F_BLOCK_HOST | WEIR_F_BLOCK_NET)

/* A rate in events per second with a burst; rate 0 means unlimited. */
struct weir_rate {
	__u32 rate;
	__u32 burst;
};
_Static_assert(sizeof(struct weir_rate) == 8, "weir_rate ABI");

struct weir_limit {
	struct weir_rate conn; /* new TCP connections (SYN without ACK) */
	struct weir_rate pkt;  /* packets of any kind */
};
_Static_assert(sizeof(struct weir_limit) == 16, "weir_limit ABI");

/* Single entry (key 0) of the weir_config array. */
struct weir_xdp_config {
	__u32 features;
	__u32 seed; /* of the single-address tables' hash; set once, at creation */
	struct weir_limit limit; /* defaults for sources with no override */
	/* New l4 flows per second per CPU above which flows are no longer
	 * tracked (0: always tracked): a flood of new connections then costs
	 * ring lookups, and cannot evict the established flows from weir_flow
	 * (Katran's LRU bypass). */
	__u32 flow_track_rate;
	/* Which weir_svc_hash placed weir_svc_tab's entries (WEIR_SVC_LAYOUT;
	 * 0: the first builds'). Written when attach has placed them by this
	 * build's hash, or by the first service added to an empty table. */
	__u32 svc_layout;
};
/* Set at the first attach: a quarter of the flow table per CPU and second,
 * so that a flood cannot cycle the table in under a second per CPU. */
#define WEIR_FLOW_TRACK_DEFAULT (WEIR_FLOW_MAX / 4)
_Static_assert(sizeof(struct weir_xdp_config) == 32, "weir_xdp_config ABI");

/* LPM trie keys: prefixlen first, address in network byte order. */
struct weir_lpm4 {
	__u32 prefixlen;
	__u8 addr[4];
};
_Static_assert(sizeof(struct weir_lpm4) == 8, "weir_lpm4 ABI");

struct weir_lpm6 {
	__u32 prefixlen;
	__u8 addr[16];
};
_Static_assert(sizeof(struct weir_lpm6) == 20, "weir_lpm6 ABI");

/* Summary of a list's LPM trie: one bit for each value of an address's
 * first 24 bits (a /24 of IPv4; the same bits of IPv6), set when some
 * prefix of the trie may cover an address there. A clear bit lets the
 * program skip the trie walk, so traffic from sources that no prefix covers
 * costs one array read however large the list grows. Bits may stay set after
 * their prefix is gone (they are rebuilt on delete); a clear bit is never
 * wrong: userspace sets the bits before it inserts the prefix. */
#define WEIR_SUMMARY_BITS 24
#define WEIR_SUMMARY_WORDS ((1u << WEIR_SUMMARY_BITS) / 64)

/* Blocklist and allowlist entry. expires_ns is on CLOCK_MONOTONIC (the
 * clock of bpf_ktime_get_ns()); 0 means the entry never expires. An
 * expired entry no longer matches and is deleted by the first packet that
 * meets it, or by weirctl. hits counts the packets it matched. */
struct weir_entry {
	__u64 expires_ns;
	__u64 hits;
	__u64 added_ns; /* CLOCK_REALTIME, for display */
	__u32 prefixlen; /* the key's: past an expired prefix, BPF looks shorter */
	__u32 _pad;
};
_Static_assert(sizeof(struct weir_entry) == 32, "weir_entry ABI");

/* Per-source rate-limit state key: one map for both families. */
struct weir_src_key {
	__u8 family; /* 4 or 6 */
	__u8 _pad[3];
	__u8 addr[16]; /* IPv4 in the first 4 bytes, the rest zero */
};
_Static_assert(sizeof(struct weir_src_key) == 20, "weir_src_key ABI");

/* GCRA state: the theoretical arrival time of the next conforming event,
 * one per limit, updated with compare-and-swap so that every CPU shares it. */
struct weir_src_state {
	__u64 conn_tat;
	__u64 pkt_tat;
};
_Static_assert(sizeof(struct weir_src_state) == 16, "weir_src_state ABI");

/* weir_note: comment per blocklist entry, written and read by userspace only. */
struct weir_note_key {
	__u8 family;
	__u8 prefixlen;
	__u8 _pad[2];
	__u8 addr[16];
};
_Static_assert(sizeof(struct weir_note_key) == 20, "weir_note_key ABI");

struct weir_note {
	char text[WEIR_NOTE_LEN];
};
_Static_assert(sizeof(struct weir_note) == WEIR_NOTE_LEN, "weir_note ABI");

/* ---- services: steering by destination (l7, l4, drop) ---- */

/* weir_svc key: where a packet is going. IPv4 addresses in the first 4
 * bytes, the rest zero; the port in network byte order. */
struct weir_svc_key {
	__u8 family; /* 4 or 6 */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__be16 port;
	__u8 addr[16];
};
_Static_assert(sizeof(struct weir_svc_key) == 20, "weir_svc_key ABI");

enum weir_svc_mode {
	WEIR_SVC_L7 = 1,   /* pass to the local proxy */
	WEIR_SVC_L4 = 2,   /* balance to backends in XDP */
	WEIR_SVC_DROP = 3, /* drop */
};

/* l4: forward by rewriting the MAC addresses only (L2 direct server
 * return: every backend on the same link, the service address on its
 * loopback) instead of IP-in-IP / IPv6-in-IPv6 encapsulation. */
#define WEIR_SVC_F_DSR (1u << 0)
/* Answer SYNs with SYN cookies from XDP above syn.rate (l7 services). */
#define WEIR_SVC_F_SYNCOOKIE (1u << 1)

struct weir_svc {
	__u8 mode;   /* enum weir_svc_mode */
	__u8 flags;  /* WEIR_SVC_F_* */
	__u16 id;    /* index of the service's entry in weir_svc_state */
	__u16 ring;  /* l4: index of its Maglev table in weir_ring */
	__u16 _pad;
	/* WEIR_SVC_F_SYNCOOKIE: the SYNs per second the kernel sees; past
	 * them XDP answers. Unlike elsewhere, rate 0 is not "unlimited" but
	 * "none": every SYN gets a cookie (weirctl asks for at least 1). */
	struct weir_rate syn;
};
_Static_assert(sizeof(struct weir_svc) == 16, "weir_svc ABI");

/* weir_svc_tab: the service table, open addressing over a mappable array
 * (the blocklist tables' technique: an inlined array read where a hash map
 * lookup costs a call and a jhash, 20 ns of a 79 ns l4 packet here). The
 * slot of a key is probed from weir_svc_hash(key) triangularly, at most
 * WEIR_SVC_PROBES slots; an EMPTY slot ends a chain, a DEAD one does not.
 * weirctl writes a slot as a seqlock: seq odd while it changes, bumped to
 * the next even value when done; a reader that sees seq change (or odd)
 * takes the slot for a miss. */
#define WEIR_SVC_SLOTS (2 * WEIR_SVC_MAX) /* a power of two */
/* The table's layout: where weir_svc_hash (weir_table.h) puts a key. Moves
 * with every change of that hash. Layout 0 was five chained murmur3
 * finalizers over the key's words; 1 is one multiply-shift. A pinned table
 * of another layout is rebuilt by the next attach (loader/xdp.c), and until
 * then weirctl reads and deletes its services but adds none. */
#define WEIR_SVC_LAYOUT 1u
#define WEIR_SVC_PROBES 32
enum weir_svc_slot_state { WEIR_SVC_EMPTY = 0, WEIR_SVC_LIVE = 1, WEIR_SVC_DEAD = 2 };

struct weir_svc_slot {
	__u32 seq;
	__u32 state; /* enum weir_svc_slot_state */
	struct weir_svc_key key;
	__u32 _pad;
	struct weir_svc svc;
};
_Static_assert(sizeof(struct weir_svc_slot) == 48, "weir_svc_slot ABI");

/* weir_svc_state, indexed by weir_svc.id: what the XDP program keeps per
 * service. syn_tat is the GCRA state of the SYN-cookie threshold;
 * cookies_until is when the last SYN answered with a cookie stops counting
 * as a sign of a flood (ACKs are checked for cookies until then). */
struct weir_svc_state {
	__u64 syn_tat;
	__u64 cookies_until_ns;
};
_Static_assert(sizeof(struct weir_svc_state) == 16, "weir_svc_state ABI");

/* weir_ring: WEIR_RING_MAX Maglev tables of WEIR_RING_SIZE backend indexes
 * each, one after the other; weirctl builds them (maps/maglev.c) and writes
 * them through a mapping of the array. The slots are __u64: an array's
 * elements are 8-byte aligned whatever the value's size, so a wider value
 * costs nothing and makes the mapping a plain __u64[]. */
#define WEIR_RING_EMPTY 0xffffffffu /* no backend: the packet is dropped */

/* weir_backend, indexed by backend index. */
enum weir_backend_state { WEIR_BE_FREE = 0, WEIR_BE_LIVE = 1 };

struct weir_backend {
	__u8 addr[16];
	__u8 family;
	__u8 state;	/* enum weir_backend_state */
	__u16 svc;	/* the service's id */
	__u32 weight;	/* 0: draining, in no ring slot; tracked flows go on */
	__u32 gen;	/* bumped on every reuse of the index, see weir_flow */
	__u32 ifindex;	/* where frames to it leave: XDP_TX when it is the one
			 * they arrived on, else XDP_REDIRECT */
	__u8 dmac[6];	/* of the next hop towards it */
	__u8 smac[6];	/* of ifindex */
	__u8 src[16];	/* outer source address of the encapsulation */
	__u32 _pad;
};
_Static_assert(sizeof(struct weir_backend) == 64, "weir_backend ABI");

/* weir_flow: the backend each l4 flow was sent to, so that established
 * flows keep it when the backend set (and so the ring) changes. A flow whose
 * backend was deleted (gen differs) is balanced again. */
struct weir_flow_key {
	__u8 family;
	__u8 proto;
	__be16 sport;
	__be16 dport;
	__u16 _pad;
	__u8 saddr[16];
	__u8 daddr[16];
};
_Static_assert(sizeof(struct weir_flow_key) == 40, "weir_flow_key ABI");

struct weir_flow {
	__u32 backend;
	__u32 gen;
};
_Static_assert(sizeof(struct weir_flow) == 8, "weir_flow ABI");

/* weir_flow_cache, per CPU: the weir_flow entries this CPU used last,
 * direct-mapped by a hash of the flow, read inline before the LRU's hashed
 * lookup (a helper call, a jhash of the 40-byte key, a bucket walk). Soft
 * state that userspace never writes: an entry is filled only from a live
 * weir_flow entry or a tracked insert, and trusted only as one is (its
 * backend live, of the service, of the same gen). A flow whose LRU entry
 * was evicted keeps its backend while the copy lasts. Slots whose key has
 * family 0 are empty. */
struct weir_flow_cached {
	struct weir_flow_key key;
	struct weir_flow flow;
};
_Static_assert(sizeof(struct weir_flow_cached) == 48, "weir_flow_cached ABI");

/* weir_flow_rate, per CPU: new flows in the current one-second window. */
struct weir_flow_rate {
	__u64 window_ns;
	__u64 count;
};
_Static_assert(sizeof(struct weir_flow_rate) == 16, "weir_flow_rate ABI");

#endif /* WEIR_ABI_H */
