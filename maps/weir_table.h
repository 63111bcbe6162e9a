/* weir_table.h - single-address tables: the layout and the hash, shared by
 * the XDP program and userspace (both compile these same lines).
 *
 * A table is open addressing over two BPF arrays of the same length, a power
 * of two: the slots (state and address; 8 of them share a cache line for
 * IPv4) and, at the same index, the entries (expiry, hits). The program finds
 * an address by probing at most WEIR_PROBE_MAX slots from its hash: an array
 * read the verifier inlines, where a kernel hash map costs a call, a jhash
 * and a list walk (measured here: 3.5 ns against 9.6 ns per lookup).
 *
 * Probing is triangular (offsets 0, 1, 3, 6, ...: all slots of a power-of-two
 * table are visited): the first probes stay within a cache line or two, and it
 * clusters far less than linear probing. Measured with random IPv4 addresses
 * and 64 probes, the first insert to fail came at 84% of the slots, against
 * 55% for linear probing; a table of 2M slots holds 1.5M addresses.
 * Userspace writes both arrays through mmap, with no syscall per entry.
 *
 * A slot's first word holds its state (low 2 bits) and a generation (the
 * rest). Publication: an entry is written first, then the slot's address,
 * then the word LIVE with the next generation (release); every rewrite of a
 * live entry also bumps the generation. A deleted slot becomes DEAD (a
 * tombstone) so that probe chains through it stay intact; an insert reuses
 * DEAD slots. The program reads the word before it reads the entry, and
 * retires an expired entry by swapping exactly that word for DEAD: if
 * userspace re-added or replaced the entry in between, the generation has
 * moved, the swap fails and the new entry stays.
 */
#ifndef WEIR_TABLE_H
#define WEIR_TABLE_H

#include <linux/types.h>
#include "weir_abi.h"

#define WEIR_SLOT_EMPTY 0
#define WEIR_SLOT_LIVE 1
#define WEIR_SLOT_DEAD 2
#define WEIR_SLOT_STATE 3u  /* mask of the state bits */
#define WEIR_SLOT_GEN1 4u   /* one generation */

#ifndef WEIR_PROBE_MAX
#define WEIR_PROBE_MAX 64
#endif
/* Slots per table (powers of two). At most ~75% of them are ever filled:
 * the blocklist tables hold 1.5M addresses per family. */
#ifndef WEIR_BLOCK_SLOTS
#define WEIR_BLOCK_SLOTS (1u << 21)
#endif
#ifndef WEIR_ALLOW_SLOTS
#define WEIR_ALLOW_SLOTS (1u << 17)
#endif

struct weir_slot4 {
	__u32 state;
	__u8 addr[4];
};
_Static_assert(sizeof(struct weir_slot4) == 8, "weir_slot4 ABI");

struct weir_slot6 {
	__u32 state;
	__u32 _pad;
	__u8 addr[16]; /* 8-byte aligned: compared as two words */
};
_Static_assert(sizeof(struct weir_slot6) == 24, "weir_slot6 ABI");

/* Slot of the p-th probe from hash h. */
static inline __attribute__((always_inline)) __u32 weir_probe(__u32 h, __u32 p,
							     __u32 mask)
{
	return (h + p * (p + 1) / 2) & mask;
}

/* murmur3's finalizer: every input bit moves every output bit, so the low
 * bits used as the index are as good as the high ones. */
static inline __attribute__((always_inline)) __u32 weir_mix32(__u32 x)
{
	x ^= x >> 16;
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	x *= 0xc2b2ae35u;
	x ^= x >> 16;
	return x;
}

/* The words are read in host order from network-order bytes: the same on
 * both sides of the map, which is all a hash needs. */
static inline __attribute__((always_inline)) __u32
weir_hash4(const __u8 *addr, __u32 seed)
{
	__u32 w;

	__builtin_memcpy(&w, addr, 4);
	return weir_mix32(w ^ seed);
}

static inline __attribute__((always_inline)) __u32
weir_hash6(const __u8 *addr, __u32 seed)
{
	__u32 w[4];

	__builtin_memcpy(w, addr, 16);
	return weir_mix32(weir_mix32(weir_mix32(weir_mix32(w[0] ^ seed) ^ w[1]) ^
				     w[2]) ^ w[3]);
}

/* A service key as weir_svc_hash reads it: three 64-bit words, the last
 * one's upper half zero (the key is 20 bytes). Zero it before the key is
 * copied in. The BPF side keeps its key in one of these, so that the words
 * are aligned loads; the slot's key (weir_svc_slot, at offset 8) is
 * compared the same way. */
union weir_svc_kw {
	struct weir_svc_key k;
	__u64 w[3];
};

/* The first slot probed for a service key (the key's layout in
 * weir_svc_tab is this function's: WEIR_SVC_LAYOUT in weir_abi.h names it,
 * and a change here must move that number; loader/xdp.c then re-places a
 * pinned table's entries at the next attach).
 *
 * Vector multiply-shift (Dietzfelbinger): each word times its own odd
 * 64-bit constant, summed, so the three products are independent of each
 * other and run in parallel; the sum is linear, and a multiply carries bits
 * upwards only, so its high half is folded onto the low and one more
 * multiply mixes them, whose high half is the hash. Where the chain of five
 * murmur3 finalizers it replaced cost ten dependent multiplies, this costs
 * two in series. Measured over the patterns an operator writes (consecutive
 * addresses, ports, both at once, /24s x ports, IPv6 prefixes, 1024
 * services in 2048 slots), its probe lengths are those of a random
 * function (tests/unit/test_svc_hash.c keeps them so). */
static inline __attribute__((always_inline)) __u32
weir_svc_hash_kw(const union weir_svc_kw *kw)
{
	__u64 s = kw->w[0] * 0x9e3779b97f4a7c15ull + kw->w[1] * 0xc2b2ae3d27d4eb4full +
		  kw->w[2] * 0x165667b19e3779f9ull;

	s ^= s >> 32;
	return (__u32)((s * 0xd6e8feb86659fd93ull) >> 32);
}

static inline __attribute__((always_inline)) __u32
weir_svc_hash(const struct weir_svc_key *k)
{
	union weir_svc_kw kw = { .w = { 0, 0, 0 } };

	__builtin_memcpy(&kw.k, k, sizeof(*k));
	return weir_svc_hash_kw(&kw);
}

#endif /* WEIR_TABLE_H */
