/* userspace/tls_ticket.c - session ticket keys (see tls_ticket.h).
 *
 * Why a ring per address and not per snapshot: a reload builds new SSL
 * contexts, and tickets sealed by the old ones must still open; the
 * address is what a client resumes against. Why two keys: a ticket sealed
 * just before a rotation stays good for one more period, then is refused,
 * so a stolen key opens at most two periods of tickets (forward secrecy of
 * resumed sessions, as far as tickets allow). Rotation is lazy, done by the
 * first handshake after the period, under the ring's lock; the lock is held
 * for a copy of 80 bytes, once per handshake that uses tickets.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "tls_ticket.h"

struct weir_ticket_ring {
	struct weir_ticket_ring *next;	/* the process's list */
	char addr[64];			/* the listener's address */
	pthread_mutex_t lock;
	struct weir_ticket_key cur, prev;
	bool has_prev;
	bool started;			/* rotate_at is set (first use) */
	uint64_t rotate_at;		/* ms, CLOCK_MONOTONIC */
	uint32_t period_ms;
};

static struct weir_ticket_ring *rings;
static pthread_mutex_t rings_lock = PTHREAD_MUTEX_INITIALIZER;

static int key_new(struct weir_ticket_key *k)
{
	return RAND_bytes((unsigned char *)k, sizeof(*k)) == 1 ? 0 : -1;
}

struct weir_ticket_ring *weir_ticket_ring_get(const char *addr, uint32_t period_ms)
{
	struct weir_ticket_ring *r;

	pthread_mutex_lock(&rings_lock);
	for (r = rings; r && strcmp(r->addr, addr); r = r->next)
		;
	if (!r && (r = calloc(1, sizeof(*r)))) {
		snprintf(r->addr, sizeof(r->addr), "%s", addr);
		pthread_mutex_init(&r->lock, NULL);
		if (key_new(&r->cur) < 0) {
			pthread_mutex_destroy(&r->lock);
			free(r);
			r = NULL;
		} else {
			r->next = rings;
			rings = r;
		}
	}
	if (r) {
		pthread_mutex_lock(&r->lock);
		r->period_ms = period_ms;	/* from the next rotation on */
		pthread_mutex_unlock(&r->lock);
	}
	pthread_mutex_unlock(&rings_lock);
	return r;
}

int weir_ticket_key(struct weir_ticket_ring *r, uint64_t now_ms, const unsigned char *name,
		    struct weir_ticket_key *out)
{
	int rc = 1;

	pthread_mutex_lock(&r->lock);
	if (!r->started) {
		r->started = true;
		r->rotate_at = now_ms + r->period_ms;
	}
	if (now_ms >= r->rotate_at) {
		struct weir_ticket_key fresh;

		if (key_new(&fresh) == 0) {
			r->has_prev = now_ms < r->rotate_at + r->period_ms;
			r->prev = r->cur;
			r->cur = fresh;
			OPENSSL_cleanse(&fresh, sizeof(fresh));
		}
		r->rotate_at = now_ms + r->period_ms;
	}
	if (!name || !memcmp(name, r->cur.name, sizeof(r->cur.name))) {
		*out = r->cur;
	} else if (r->has_prev && !memcmp(name, r->prev.name, sizeof(r->prev.name))) {
		*out = r->prev;
		rc = 2;
	} else {
		rc = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void weir_ticket_rings_free(void)
{
	pthread_mutex_lock(&rings_lock);
	while (rings) {
		struct weir_ticket_ring *r = rings;

		rings = r->next;
		OPENSSL_cleanse(&r->cur, sizeof(r->cur));
		OPENSSL_cleanse(&r->prev, sizeof(r->prev));
		pthread_mutex_destroy(&r->lock);
		free(r);
	}
	pthread_mutex_unlock(&rings_lock);
}
