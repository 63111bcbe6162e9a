/* userspace/fwdauth.c - the verdict caches of the forward-auth plugin (see
 * fwdauth.h): a set-associative table of verdicts, compared on whole keys,
 * and the shared one, shards of such tables under their own locks.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fwdauth.h"

/* FNV-1a, 64 bits: spreads keys over the sets; equality is on the bytes. */
static uint64_t key_hash(const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 0x100000001b3ULL;
	}
	return h | 1;		/* never 0 */
}

struct weir_fa_cache *weir_fa_cache_new(uint32_t entries)
{
	uint32_t sets = 1;
	struct weir_fa_cache *c;

	while ((uint64_t)sets * WEIR_FA_WAYS < entries && sets < (1u << 24))
		sets <<= 1;
	c = calloc(1, sizeof(*c) + (size_t)sets * WEIR_FA_WAYS * sizeof(c->e[0]));
	if (c)
		c->n_sets = sets;
	return c;
}

void weir_fa_cache_free(struct weir_fa_cache *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->n_sets * WEIR_FA_WAYS; i++)
		free(c->e[i].mem);
	free(c);
}

static bool same_key(const struct weir_fa_entry *e, uint64_t h, const char *key, size_t n)
{
	return e->at && e->hash == h && e->key_len == n && !memcmp(e->mem, key, n);
}

const struct weir_fa_entry *weir_fa_cache_get(const struct weir_fa_cache *c, const char *key,
					      size_t key_len, uint64_t now, uint64_t max_age)
{
	uint64_t h = key_hash(key, key_len);
	const struct weir_fa_entry *set = &c->e[(h & (c->n_sets - 1)) * WEIR_FA_WAYS];

	for (int i = 0; i < WEIR_FA_WAYS; i++)
		if (same_key(&set[i], h, key, key_len))	/* stored by a worker a turn ahead: age 0 */
			return now <= set[i].at || now - set[i].at <= max_age ? &set[i] : NULL;
	return NULL;
}

int weir_fa_cache_put(struct weir_fa_cache *c, const char *key, size_t key_len, uint64_t now,
		      uint16_t status, const char *lines, size_t lines_len, const char *body,
		      size_t body_len)
{
	uint64_t h = key_hash(key, key_len);
	struct weir_fa_entry *set = &c->e[(h & (c->n_sets - 1)) * WEIR_FA_WAYS], *e = NULL;
	char *mem;

	for (int i = 0; i < WEIR_FA_WAYS && !e; i++)
		if (same_key(&set[i], h, key, key_len))
			e = &set[i];
	for (int i = 0; i < WEIR_FA_WAYS && !e; i++)
		if (!set[i].at)
			e = &set[i];
	if (!e) {
		e = &set[0];
		for (int i = 1; i < WEIR_FA_WAYS; i++)
			if (set[i].at < e->at)
				e = &set[i];
	}
	mem = malloc(key_len + lines_len + body_len + 1);
	if (!mem)
		return -1;
	memcpy(mem, key, key_len);
	if (lines_len)
		memcpy(mem + key_len, lines, lines_len);
	if (body_len)
		memcpy(mem + key_len + lines_len, body, body_len);
	free(e->mem);
	*e = (struct weir_fa_entry){
		.hash = h, .at = now ? now : 1, .status = status, .key_len = (uint32_t)key_len,
		.lines_len = (uint32_t)lines_len, .body_len = (uint32_t)body_len, .mem = mem,
	};
	return 0;
}

/* ---- the shared cache ------------------------------------------------------ */

struct weir_fa_shared {
	struct weir_fa_shared *next;	/* the registry's list */
	char *id;
	uint32_t refs;			/* under the registry's lock */
	struct {
		pthread_mutex_t lock;
		struct weir_fa_cache *c;
	} shard[WEIR_FA_SHARDS];
};

static struct {
	pthread_mutex_t lock;
	struct weir_fa_shared *list;
} reg = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void shared_free(struct weir_fa_shared *s)
{
	for (int i = 0; i < WEIR_FA_SHARDS; i++) {
		weir_fa_cache_free(s->shard[i].c);
		pthread_mutex_destroy(&s->shard[i].lock);
	}
	free(s->id);
	free(s);
}

static struct weir_fa_shared *shared_new(const char *id, uint32_t entries)
{
	struct weir_fa_shared *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	for (int i = 0; i < WEIR_FA_SHARDS; i++)
		pthread_mutex_init(&s->shard[i].lock, NULL);
	if (!(s->id = strdup(id))) {
		shared_free(s);
		return NULL;
	}
	for (int i = 0; i < WEIR_FA_SHARDS; i++)
		if (!(s->shard[i].c = weir_fa_cache_new((entries + WEIR_FA_SHARDS - 1) /
							 WEIR_FA_SHARDS))) {
			shared_free(s);
			return NULL;
		}
	return s;
}

struct weir_fa_shared *weir_fa_shared_acquire(const char *id, uint32_t entries)
{
	struct weir_fa_shared *s;

	pthread_mutex_lock(&reg.lock);
	for (s = reg.list; s && strcmp(s->id, id); s = s->next)
		;
	if (!s && (s = shared_new(id, entries))) {
		s->next = reg.list;
		reg.list = s;
	}
	if (s)
		s->refs++;
	pthread_mutex_unlock(&reg.lock);
	return s;
}

void weir_fa_shared_release(struct weir_fa_shared *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&reg.lock);
	if (--s->refs) {
		pthread_mutex_unlock(&reg.lock);
		return;
	}
	for (struct weir_fa_shared **p = &reg.list; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	pthread_mutex_unlock(&reg.lock);
	shared_free(s);
}

/* The shard of a key: bits of its hash the sets inside do not use. */
static uint32_t shard_of(const char *key, size_t key_len)
{
	return (uint32_t)(key_hash(key, key_len) >> 48) % WEIR_FA_SHARDS;
}

const struct weir_fa_entry *weir_fa_shared_get(struct weir_fa_shared *s, const char *key,
					       size_t key_len, uint64_t now, uint64_t max_age,
					       struct weir_fa_cache *into)
{
	uint32_t i = shard_of(key, key_len);
	const struct weir_fa_entry *e;
	int rc = -1;

	pthread_mutex_lock(&s->shard[i].lock);
	if ((e = weir_fa_cache_get(s->shard[i].c, key, key_len, now, max_age)))
		rc = weir_fa_cache_put(into, key, key_len, e->at, e->status,
				       weir_fa_entry_lines(e), e->lines_len,
				       weir_fa_entry_body(e), e->body_len);
	pthread_mutex_unlock(&s->shard[i].lock);
	/* The copy, found again in the worker's cache whatever its age. */
	return rc ? NULL : weir_fa_cache_get(into, key, key_len, now, UINT64_MAX);
}

int weir_fa_shared_put(struct weir_fa_shared *s, const char *key, size_t key_len, uint64_t now,
		       uint16_t status, const char *lines, size_t lines_len, const char *body,
		       size_t body_len)
{
	uint32_t i = shard_of(key, key_len);
	int rc;

	pthread_mutex_lock(&s->shard[i].lock);
	rc = weir_fa_cache_put(s->shard[i].c, key, key_len, now, status, lines, lines_len, body,
			       body_len);
	pthread_mutex_unlock(&s->shard[i].lock);
	return rc;
}
