/* table.c - single-address tables in userspace: mmap, probe, insert,
 * retire. The layout, hash and publication order are in weir_table.h. */
#include "table.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

static size_t map_len(int fd, size_t *value_size, uint32_t *entries)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	*value_size = info.value_size;
	*entries = info.max_entries;
	return (size_t)info.value_size * info.max_entries;
}

int weir_tab_open(struct weir_tab *t, int slots_fd, int ents_fd, int family,
		  uint32_t seed)
{
	size_t ssz = 0, esz = 0, slen, elen;
	uint32_t sn = 0, en = 0;
	void *s, *e;

	memset(t, 0, sizeof(*t));
	slen = map_len(slots_fd, &ssz, &sn);
	elen = map_len(ents_fd, &esz, &en);
	if (!slen || !elen)
		return -errno ? -errno : -EINVAL;
	if (sn != en || (sn & (sn - 1)) || esz != sizeof(struct weir_entry) ||
	    ssz != (family == 4 ? sizeof(struct weir_slot4) : sizeof(struct weir_slot6)))
		return -EINVAL;
	s = mmap(NULL, slen, PROT_READ | PROT_WRITE, MAP_SHARED, slots_fd, 0);
	if (s == MAP_FAILED)
		return -errno;
	e = mmap(NULL, elen, PROT_READ | PROT_WRITE, MAP_SHARED, ents_fd, 0);
	if (e == MAP_FAILED) {
		int err = -errno;

		munmap(s, slen);
		return err;
	}
	*t = (struct weir_tab){
		.family = (uint8_t)family, .mask = sn - 1, .seed = seed,
		.slot_sz = ssz, .alen = family == 4 ? 4 : 16,
		.slots = s, .ents = e,
	};
	return 0;
}

void weir_tab_close(struct weir_tab *t)
{
	if (t->slots)
		munmap(t->slots, t->slot_sz * weir_tab_size(t));
	if (t->ents)
		munmap(t->ents, sizeof(struct weir_entry) * weir_tab_size(t));
	memset(t, 0, sizeof(*t));
}

/* Both slot layouts start with the state word. */
static uint32_t *slot_state(const struct weir_tab *t, uint32_t i)
{
	return (uint32_t *)(t->slots + (size_t)i * t->slot_sz);
}

static uint8_t *slot_addr(const struct weir_tab *t, uint32_t i)
{
	return (uint8_t *)(t->slots + (size_t)i * t->slot_sz +
			   (t->family == 4 ? offsetof(struct weir_slot4, addr)
					   : offsetof(struct weir_slot6, addr)));
}

static uint32_t slot_word(const struct weir_tab *t, uint32_t i)
{
	return __atomic_load_n(slot_state(t, i), __ATOMIC_ACQUIRE);
}

uint32_t weir_tab_state(const struct weir_tab *t, uint32_t i)
{
	return slot_word(t, i) & WEIR_SLOT_STATE;
}

/* Publishes slot i as LIVE with the next generation (weir_table.h). */
static void slot_publish(struct weir_tab *t, uint32_t i)
{
	uint32_t w = slot_word(t, i);

	__atomic_store_n(slot_state(t, i),
			 ((w & ~WEIR_SLOT_STATE) + WEIR_SLOT_GEN1) | WEIR_SLOT_LIVE,
			 __ATOMIC_RELEASE);
}

const uint8_t *weir_tab_addr(const struct weir_tab *t, uint32_t i)
{
	return slot_addr(t, i);
}

static uint32_t home(const struct weir_tab *t, const void *addr)
{
	return (t->family == 4 ? weir_hash4(addr, t->seed)
			       : weir_hash6(addr, t->seed)) & t->mask;
}

long weir_tab_find(const struct weir_tab *t, const void *addr)
{
	uint32_t h = home(t, addr);

	for (uint32_t p = 0; p < WEIR_PROBE_MAX; p++) {
		uint32_t i = weir_probe(h, p, t->mask), st = weir_tab_state(t, i);

		if (st == WEIR_SLOT_EMPTY)
			return -1;
		if (st == WEIR_SLOT_LIVE && !memcmp(slot_addr(t, i), addr, t->alen))
			return i;
	}
	return -1;
}

int weir_tab_put(struct weir_tab *t, const void *addr,
		 const struct weir_entry *e, bool keep, uint32_t *idx)
{
	uint32_t h = home(t, addr), i, free_i = UINT32_MAX;

	for (uint32_t p = 0; p < WEIR_PROBE_MAX; p++) {
		uint32_t st;

		i = weir_probe(h, p, t->mask);
		st = weir_tab_state(t, i);
		if (st == WEIR_SLOT_EMPTY) {
			if (free_i == UINT32_MAX)
				free_i = i;
			break; /* the address cannot be further along */
		}
		if (st == WEIR_SLOT_DEAD) {
			if (free_i == UINT32_MAX)
				free_i = i;
			continue;
		}
		if (memcmp(slot_addr(t, i), addr, t->alen))
			continue;
		if (idx)
			*idx = i;
		if (keep)
			return 0;
		/* Rewrite in place, then move the generation, so that the
		 * program's retirement of the old entry, if it races, fails. */
		uint32_t w = slot_word(t, i);

		t->ents[i].expires_ns = e->expires_ns;
		t->ents[i].added_ns = e->added_ns;
		t->ents[i].hits = e->hits;
		t->ents[i].prefixlen = e->prefixlen;
		if (__atomic_compare_exchange_n(slot_state(t, i), &w,
						((w & ~WEIR_SLOT_STATE) + WEIR_SLOT_GEN1) |
							WEIR_SLOT_LIVE,
						false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return 0;
		/* Retired by the program meanwhile: insert it afresh. */
		if (free_i == UINT32_MAX)
			free_i = i;
	}
	if (free_i == UINT32_MAX)
		return -ENOSPC;
	t->ents[free_i] = *e;
	memcpy(slot_addr(t, free_i), addr, t->alen);
	slot_publish(t, free_i);
	if (idx)
		*idx = free_i;
	return 1;
}

bool weir_tab_retire(struct weir_tab *t, uint32_t i)
{
	uint32_t w = slot_word(t, i);

	if ((w & WEIR_SLOT_STATE) != WEIR_SLOT_LIVE)
		return false;
	return __atomic_compare_exchange_n(slot_state(t, i), &w,
					   (w & ~WEIR_SLOT_STATE) | WEIR_SLOT_DEAD,
					   false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/* Empties every slot; the generations stay, so that a retirement the
 * program started before the clear cannot hit a slot refilled after it. */
void weir_tab_clear(struct weir_tab *t)
{
	for (uint32_t i = 0; i <= t->mask; i++) {
		uint32_t w = slot_word(t, i);

		if ((w & WEIR_SLOT_STATE) != WEIR_SLOT_EMPTY)
			__atomic_store_n(slot_state(t, i), w & ~WEIR_SLOT_STATE,
					 __ATOMIC_RELEASE);
	}
}

size_t weir_tab_count(const struct weir_tab *t)
{
	size_t n = 0;

	for (uint32_t i = 0; i <= t->mask; i++)
		n += weir_tab_state(t, i) == WEIR_SLOT_LIVE;
	return n;
}
