/* userspace/sign.c - the pieces the anti-tampering plugins share and the
 * unit tests reach directly (sign.h): base64 through OpenSSL, and the replay
 * table of (key id, nonce) pairs that hmac-auth consults, one per process,
 * shared by every worker thread and every configuration snapshot.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "sign.h"

/* ---- base64 -------------------------------------------------------------- */

long weir_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	size_t pad = 0;
	int n;

	if (len % 4 || len / 4 * 3 > cap || len > INT32_MAX)
		return -1;
	if (len && in[len - 1] == '=')
		pad++;
	if (len > 1 && in[len - 2] == '=')
		pad++;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	return (long)n - (long)pad;
}

size_t weir_b64_encode(const unsigned char *in, size_t len, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* ---- the replay table ---------------------------------------------------- */

#define NONCE_SHARDS 64

struct nonce_slot {
	uint64_t h1, h2;
	int64_t expires;		/* 0: never used */
};

struct nonce_shard {
	pthread_mutex_t lock;
	uint32_t used;			/* slots not empty (live or expired) */
	uint32_t mask;
	int64_t next_sweep;		/* a full shard is swept once a second at most */
	struct nonce_slot *slots;
} __attribute__((aligned(64)));

struct weir_nonces {
	struct nonce_shard shard[NONCE_SHARDS];
	EVP_MD *sha256;			/* fetched once */
};

struct weir_nonces *weir_nonces_new(size_t slots)
{
	struct weir_nonces *t = calloc(1, sizeof(*t));
	uint32_t per = 16;

	if (!t)
		return NULL;
	if (!(t->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL))) {
		free(t);
		return NULL;
	}
	while ((size_t)per * NONCE_SHARDS < slots && per < (1u << 30))
		per *= 2;
	for (int i = 0; i < NONCE_SHARDS; i++) {
		struct nonce_shard *s = &t->shard[i];
		pthread_mutex_init(&s->lock, NULL);
		s->mask = per - 1;
		/* calloc of a large block maps zero pages: memory is spent as
		 * slots are used. */
		if (!(s->slots = calloc(per, sizeof(*s->slots)))) {
			weir_nonces_free(t);
			return NULL;
		}
	}
	return t;
}

void weir_nonces_free(struct weir_nonces *t)
{
	if (!t)
		return;
	for (int i = 0; i < NONCE_SHARDS; i++) {
		free(t->shard[i].slots);
		pthread_mutex_destroy(&t->shard[i].lock);
	}
	EVP_MD_free(t->sha256);
	free(t);
}

struct weir_nonces *weir_nonces_shared(size_t slots)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct weir_nonces *shared;
	struct weir_nonces *t;

	pthread_mutex_lock(&lock);
	if (!shared)
		shared = weir_nonces_new(slots);
	t = shared;
	pthread_mutex_unlock(&lock);
	return t;
}

static void slot_place(struct nonce_shard *s, const struct nonce_slot *e)
{
	uint32_t i = (uint32_t)(e->h1 >> 6) & s->mask;

	while (s->slots[i].expires)
		i = (i + 1) & s->mask;
	s->slots[i] = *e;
}

/* Drops the shard's expired entries: the live ones are placed again from
 * scratch, so probe chains stay unbroken. Keeps the shard as it is when no
 * memory is to be had (its probes then only reuse expired slots). */
static void shard_sweep(struct nonce_shard *s, int64_t now)
{
	uint32_t n = s->mask + 1, live = 0;
	struct nonce_slot *keep = malloc(n * sizeof(*keep));

	if (!keep)
		return;
	for (uint32_t i = 0; i < n; i++)
		if (s->slots[i].expires > now)
			keep[live++] = s->slots[i];
	memset(s->slots, 0, n * sizeof(*s->slots));
	for (uint32_t i = 0; i < live; i++)
		slot_place(s, &keep[i]);
	s->used = live;
	free(keep);
}

int weir_nonces_check(struct weir_nonces *t, const char *key, size_t key_len,
		      const char *nonce, size_t nonce_len, int64_t now, int64_t expires)
{
	unsigned char md[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct nonce_slot e;
	int rc = -1;

	/* SHA-256 of key, NUL, nonce: no pair collides with another's. */
	if (!ctx || !EVP_DigestInit_ex2(ctx, t->sha256, NULL) ||
	    !EVP_DigestUpdate(ctx, key, key_len) || !EVP_DigestUpdate(ctx, "", 1) ||
	    !EVP_DigestUpdate(ctx, nonce, nonce_len) || !EVP_DigestFinal_ex(ctx, md, NULL)) {
		EVP_MD_CTX_free(ctx);
		return -1;
	}
	EVP_MD_CTX_free(ctx);
	memcpy(&e.h1, md, 8);
	memcpy(&e.h2, md + 8, 8);
	e.expires = expires > now ? expires : now + 1;

	struct nonce_shard *s = &t->shard[e.h1 % NONCE_SHARDS];
	pthread_mutex_lock(&s->lock);
	if (s->used >= (s->mask + 1) / 4 * 3 && now >= s->next_sweep) {
		shard_sweep(s, now);
		s->next_sweep = now + 1;
	}
	uint32_t i = (uint32_t)(e.h1 >> 6) & s->mask, free_at = UINT32_MAX;
	for (uint32_t probes = 0; probes <= s->mask; probes++, i = (i + 1) & s->mask) {
		struct nonce_slot *x = &s->slots[i];
		if (!x->expires) {
			if (free_at == UINT32_MAX) {
				free_at = i;
				s->used++;
			}
			break;
		}
		if (x->expires <= now) {
			if (free_at == UINT32_MAX)
				free_at = i;
			continue;
		}
		if (x->h1 == e.h1 && x->h2 == e.h2) {
			rc = 1;
			goto out;
		}
	}
	if (free_at != UINT32_MAX) {
		s->slots[free_at] = e;
		rc = 0;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}
