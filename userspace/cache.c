/* userspace/cache.c - the response cache's store: zones, shards, entries,
 * LRU eviction, purge, and the zones' metrics. See cache.h for the
 * contracts; the HTTP decisions live in cache_rules.c, the HTTP side in
 * plugin_cache.c.
 *
 * Locking: the registry's mutex guards the list of zones and their
 * reference counts; a shard's mutex guards its table, LRU list and byte
 * count. An entry's own fields are immutable once it is inserted, so a
 * holder reads them without a lock; only its reference count changes, and
 * atomically. No lock is held while anything is written to a socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "balance.h"
#include "cache.h"

#define MAX_SHARDS 16
#define SHARD_MIN_BYTES (4 * 1024 * 1024)	/* a zone has one shard per 4 MiB, up to 16 */
#define MIN_BUCKETS 64
#define MAX_VARIANTS 8			/* entries of one key (Vary); the oldest goes */

struct shard {
	pthread_mutex_t lock;
	struct weir_cache_entry **buckets;
	size_t n_buckets, n_entries;
	struct weir_cache_entry *lru_head, *lru_tail;
	size_t bytes, max_bytes;
	uint64_t clock;
	uint64_t hits, misses, expired, stored, evicted;	/* for metrics */
};

struct weir_cache_zone {
	struct weir_cache_zone *next;	/* registry */
	char *name;
	uint64_t max_size;
	uint32_t refs;			/* under the registry lock */
	unsigned n_shards;		/* a power of two */
	struct shard shards[];
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct weir_cache_zone *registry;

/* ---- entries ------------------------------------------------------------ */

struct weir_cache_entry *weir_cache_entry_new(const char *key, size_t key_len,
					      const char *vary, size_t vary_len,
					      const char *head, size_t head_len,
					      size_t body_cap)
{
	struct weir_cache_entry *e = malloc(sizeof(*e) + key_len + vary_len + head_len + 3);
	char *p;

	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->body = malloc(body_cap ? body_cap : 1);
	if (!e->body) {
		free(e);
		return NULL;
	}
	p = (char *)(e + 1);
	e->key = p;
	memcpy(p, key, key_len);
	p[key_len] = 0;
	p += key_len + 1;
	e->vary = p;
	if (vary_len)
		memcpy(p, vary, vary_len);
	p[vary_len] = 0;
	p += vary_len + 1;
	e->head = p;
	memcpy(p, head, head_len);
	p[head_len] = 0;
	e->key_len = (uint32_t)key_len;
	e->vary_len = (uint32_t)vary_len;
	e->answer.head = e->head;
	e->answer.head_len = head_len;
	e->answer.body = e->body;
	e->answer.framed = true;
	atomic_init(&e->refs, 1);
	return e;
}

void weir_cache_entry_free(struct weir_cache_entry *e)
{
	if (!e)
		return;
	free(e->body);
	free(e);
}

int weir_cache_entry_reserve(struct weir_cache_entry *e, size_t need, size_t *cap)
{
	size_t n = *cap ? *cap : 4096;
	char *b;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	b = realloc(e->body, n);
	if (!b)
		return -1;
	e->body = b;
	e->answer.body = b;
	*cap = n;
	return 0;
}

void weir_cache_release(struct weir_cache_entry *e)
{
	if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
		weir_cache_entry_free(e);
}

/* ---- zones ----------------------------------------------------------------- */

static void shard_unlink(struct shard *s, struct weir_cache_entry *e);

static unsigned zone_shards(uint64_t max_size)
{
	unsigned n = 1;

	while (n < MAX_SHARDS && max_size / (n * 2) >= SHARD_MIN_BYTES)
		n *= 2;
	return n;
}

uint64_t weir_cache_object_max(uint64_t max_size)
{
	return max_size / zone_shards(max_size) - sizeof(struct weir_cache_entry) - 3;
}

static struct weir_cache_zone *zone_new(const char *name, uint64_t max_size)
{
	unsigned n = zone_shards(max_size);
	struct weir_cache_zone *z;

	z = calloc(1, sizeof(*z) + n * sizeof(z->shards[0]));
	if (!z || !(z->name = strdup(name))) {
		free(z);
		return NULL;
	}
	z->max_size = max_size;
	z->n_shards = n;
	for (unsigned i = 0; i < n; i++) {
		struct shard *s = &z->shards[i];
		pthread_mutex_init(&s->lock, NULL);
		s->max_bytes = max_size / n;
		s->n_buckets = MIN_BUCKETS;
		s->buckets = calloc(s->n_buckets, sizeof(s->buckets[0]));
		if (!s->buckets) {
			for (unsigned j = 0; j <= i; j++)
				free(z->shards[j].buckets);
			free(z->name);
			free(z);
			return NULL;
		}
	}
	return z;
}

static void zone_free(struct weir_cache_zone *z)
{
	for (unsigned i = 0; i < z->n_shards; i++) {
		struct shard *s = &z->shards[i];
		while (s->lru_head)
			shard_unlink(s, s->lru_head);
		free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
	free(z->name);
	free(z);
}

struct weir_cache_zone *weir_cache_zone_get(const char *name, uint64_t max_size)
{
	struct weir_cache_zone *z;

	pthread_mutex_lock(&registry_lock);
	for (z = registry; z; z = z->next)
		if (!strcmp(z->name, name) && z->max_size == max_size)
			break;
	if (!z && (z = zone_new(name, max_size))) {
		z->next = registry;
		registry = z;
	}
	if (z)
		z->refs++;
	pthread_mutex_unlock(&registry_lock);
	return z;
}

void weir_cache_zone_put(struct weir_cache_zone *z)
{
	struct weir_cache_zone **pp;

	if (!z)
		return;
	pthread_mutex_lock(&registry_lock);
	if (--z->refs) {
		pthread_mutex_unlock(&registry_lock);
		return;
	}
	for (pp = &registry; *pp; pp = &(*pp)->next)
		if (*pp == z) {
			*pp = z->next;
			break;
		}
	pthread_mutex_unlock(&registry_lock);
	zone_free(z);
}

void weir_cache_zone_usage(struct weir_cache_zone *z, struct weir_cache_usage *u)
{
	memset(u, 0, sizeof(*u));
	u->max_bytes = z->max_size;
	for (unsigned i = 0; i < z->n_shards; i++) {
		struct shard *s = &z->shards[i];
		pthread_mutex_lock(&s->lock);
		u->bytes += s->bytes;
		u->entries += s->n_entries;
		pthread_mutex_unlock(&s->lock);
	}
}

/* ---- shards ------------------------------------------------------------------ */

static inline struct shard *shard_of(struct weir_cache_zone *z, uint64_t hash)
{
	return &z->shards[hash & (z->n_shards - 1)];
}

static inline size_t bucket_of(const struct shard *s, uint64_t hash)
{
	return (size_t)(hash >> 8) & (s->n_buckets - 1);
}

static void lru_remove(struct shard *s, struct weir_cache_entry *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		s->lru_head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		s->lru_tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void lru_push(struct shard *s, struct weir_cache_entry *e)
{
	e->lprev = NULL;
	e->lnext = s->lru_head;
	if (s->lru_head)
		s->lru_head->lprev = e;
	s->lru_head = e;
	if (!s->lru_tail)
		s->lru_tail = e;
	e->used = ++s->clock;
}

/* Takes e out of the table and drops the table's reference. */
static void shard_unlink(struct shard *s, struct weir_cache_entry *e)
{
	struct weir_cache_entry **pp = &s->buckets[bucket_of(s, e->hash)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hnext = NULL;
	lru_remove(s, e);
	s->bytes -= e->size;
	s->n_entries--;
	e->linked = false;
	weir_cache_release(e);
}

/* Doubles the table when it holds more entries than buckets; a failed
 * allocation leaves longer chains, nothing worse. */
static void shard_grow(struct shard *s)
{
	size_t n = s->n_buckets * 2;
	struct weir_cache_entry **b;

	if (s->n_entries <= s->n_buckets || !(b = calloc(n, sizeof(*b))))
		return;
	for (size_t i = 0; i < s->n_buckets; i++)
		while (s->buckets[i]) {
			struct weir_cache_entry *e = s->buckets[i];
			s->buckets[i] = e->hnext;
			size_t k = (size_t)(e->hash >> 8) & (n - 1);
			e->hnext = b[k];
			b[k] = e;
		}
	free(s->buckets);
	s->buckets = b;
	s->n_buckets = n;
}

static inline bool same_key(const struct weir_cache_entry *e, uint64_t hash, const char *key,
			    size_t len)
{
	return e->hash == hash && e->key_len == len && !memcmp(e->key, key, len);
}

struct weir_cache_entry *weir_cache_lookup(struct weir_cache_zone *z, const char *key,
					   size_t key_len, const struct weir_hdr *hdrs,
					   size_t n_hdrs, int64_t now,
					   enum weir_cache_found *found)
{
	uint64_t hash = weir_hash64(key, key_len, 0);
	struct shard *s = shard_of(z, hash);
	struct weir_cache_entry *e;

	*found = WEIR_CACHE_NONE;
	pthread_mutex_lock(&s->lock);
	for (e = s->buckets[bucket_of(s, hash)]; e; e = e->hnext) {
		if (!same_key(e, hash, key, key_len) ||
		    !weir_cache_vary_match(e->vary, e->vary_len, hdrs, n_hdrs))
			continue;
		if (e->expires_at <= now) {
			/* Never served stale (no revalidation): it makes room. */
			*found = WEIR_CACHE_STALE;
			s->expired++;
			shard_unlink(s, e);
			e = NULL;
			break;
		}
		*found = WEIR_CACHE_FRESH;
		s->hits++;
		atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
		lru_remove(s, e);
		lru_push(s, e);
		break;
	}
	if (*found == WEIR_CACHE_NONE)
		s->misses++;
	pthread_mutex_unlock(&s->lock);
	return e;
}

int weir_cache_insert(struct weir_cache_zone *z, struct weir_cache_entry *e)
{
	struct shard *s;
	struct weir_cache_entry *v, *next, *oldest = NULL;
	unsigned n_variants = 0;
	char *body;

	/* The body was grown by doubling: give the slack back. */
	if (e->answer.body_len && (body = realloc(e->body, e->answer.body_len))) {
		e->body = body;
		e->answer.body = body;
	}
	e->hash = weir_hash64(e->key, e->key_len, 0);
	e->size = sizeof(*e) + e->key_len + e->vary_len + e->answer.head_len +
		  e->answer.body_len + 3;
	s = shard_of(z, e->hash);
	if (e->size > s->max_bytes) {
		weir_cache_entry_free(e);
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	for (v = s->buckets[bucket_of(s, e->hash)]; v; v = next) {
		next = v->hnext;
		if (!same_key(v, e->hash, e->key, e->key_len))
			continue;
		if (v->vary_len == e->vary_len && !memcmp(v->vary, e->vary, e->vary_len)) {
			shard_unlink(s, v);
			continue;
		}
		n_variants++;
		if (!oldest || v->used < oldest->used)
			oldest = v;
	}
	if (n_variants >= MAX_VARIANTS)
		shard_unlink(s, oldest);
	while (s->bytes + e->size > s->max_bytes && s->lru_tail) {
		shard_unlink(s, s->lru_tail);
		s->evicted++;
	}
	s->stored++;
	size_t b = bucket_of(s, e->hash);
	e->hnext = s->buckets[b];
	s->buckets[b] = e;
	lru_push(s, e);
	e->linked = true;
	s->bytes += e->size;
	s->n_entries++;
	shard_grow(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static long shard_purge(struct shard *s, const char *key, size_t len, bool prefix)
{
	struct weir_cache_entry *e, *prev;
	long n = 0;

	pthread_mutex_lock(&s->lock);
	for (e = s->lru_tail; e; e = prev) {
		prev = e->lprev;
		if (!key || (prefix ? e->key_len >= len && !memcmp(e->key, key, len)
				    : e->key_len == len && !memcmp(e->key, key, len))) {
			shard_unlink(s, e);
			n++;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

long weir_cache_purge(const char *zone, const char *key, size_t key_len, bool prefix)
{
	struct weir_cache_zone *z;
	bool any = false;
	long n = 0;

	/* The registry lock keeps the zones alive; shard locks come after it,
	 * never before (weir_cache_zone_put frees outside them both). */
	pthread_mutex_lock(&registry_lock);
	for (z = registry; z; z = z->next) {
		if (zone && strcmp(z->name, zone))
			continue;
		any = true;
		if (key && !prefix) {
			n += shard_purge(shard_of(z, weir_hash64(key, key_len, 0)), key, key_len,
					 false);
			continue;
		}
		for (unsigned i = 0; i < z->n_shards; i++)
			n += shard_purge(&z->shards[i], key, key_len, prefix);
	}
	pthread_mutex_unlock(&registry_lock);
	return any || !zone ? n : -1;
}

/* ---- metrics ------------------------------------------------------------------- */

struct zone_sums {
	uint64_t v[8];
};

enum { SUM_HITS, SUM_MISSES, SUM_EXPIRED, SUM_STORED, SUM_EVICTED, SUM_BYTES, SUM_ENTRIES,
       SUM_MAX };

static void zone_sum(struct weir_cache_zone *z, struct zone_sums *t)
{
	memset(t, 0, sizeof(*t));
	t->v[SUM_MAX] = z->max_size;
	for (unsigned i = 0; i < z->n_shards; i++) {
		struct shard *s = &z->shards[i];
		pthread_mutex_lock(&s->lock);
		t->v[SUM_HITS] += s->hits;
		t->v[SUM_MISSES] += s->misses;
		t->v[SUM_EXPIRED] += s->expired;
		t->v[SUM_STORED] += s->stored;
		t->v[SUM_EVICTED] += s->evicted;
		t->v[SUM_BYTES] += s->bytes;
		t->v[SUM_ENTRIES] += s->n_entries;
		pthread_mutex_unlock(&s->lock);
	}
}

void weir_cache_metrics(FILE *f)
{
	static const struct {
		const char *name, *type, *help, *label;
		int sum;
	} fam[] = {
		{ "weir_cache_lookups_total", "counter", "Cache lookups by result.",
		  "result=\"hit\"", SUM_HITS },
		{ NULL, NULL, NULL, "result=\"miss\"", SUM_MISSES },
		{ NULL, NULL, NULL, "result=\"expired\"", SUM_EXPIRED },
		{ "weir_cache_stored_total", "counter", "Responses stored.", NULL, SUM_STORED },
		{ "weir_cache_evicted_total", "counter",
		  "Entries evicted to make room (least recently used).", NULL, SUM_EVICTED },
		{ "weir_cache_bytes", "gauge", "Bytes stored, bookkeeping included.", NULL,
		  SUM_BYTES },
		{ "weir_cache_max_bytes", "gauge", "The zone's max_size.", NULL, SUM_MAX },
		{ "weir_cache_entries", "gauge", "Entries stored.", NULL, SUM_ENTRIES },
	};
	struct zone_sums sums[64];
	const char *names[64];
	size_t n = 0;

	/* One series per zone name: during a reload that changes a zone's
	 * size, the newest zone of the name (the registry's first) speaks. */
	pthread_mutex_lock(&registry_lock);
	for (struct weir_cache_zone *z = registry; z && n < 64; z = z->next) {
		bool seen = false;
		for (size_t i = 0; i < n && !seen; i++)
			seen = !strcmp(names[i], z->name);
		if (seen)
			continue;
		names[n] = z->name;
		zone_sum(z, &sums[n++]);
	}
	for (size_t k = 0; n && k < sizeof(fam) / sizeof(fam[0]); k++) {
		const char *name = fam[k].name;
		for (size_t j = k; !name; j--)
			name = fam[j - 1].name;
		if (fam[k].name)
			fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, fam[k].help, name,
				fam[k].type);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s{zone=\"%s\"%s%s} %llu\n", name, names[i],
				fam[k].label ? "," : "", fam[k].label ? fam[k].label : "",
				(unsigned long long)sums[i].v[fam[k].sum]);
	}
	pthread_mutex_unlock(&registry_lock);
}
