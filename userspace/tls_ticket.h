/* userspace/tls_ticket.h - session ticket keys of the TLS listeners: per
 * listener address, rotated on a period, the previous key still accepted.
 * tls.c's ticket callback asks for a key with the time it runs at; the
 * rotation is a pure function of that time, so it is tested without waiting
 * (tests/unit/test_tls.c).
 */
#ifndef WEIR_TLS_TICKET_H
#define WEIR_TLS_TICKET_H

#include <stdint.h>

struct weir_ticket_key {
	unsigned char name[16];		/* in every ticket, to find its key */
	unsigned char aes[32];		/* AES-256-CBC */
	unsigned char hmac[32];		/* HMAC-SHA256 */
};

struct weir_ticket_ring;

/* The ring of a listener address, made (with a fresh key from RAND_bytes)
 * on first use and kept for the life of the process; its period follows
 * the latest configuration. NULL when out of memory or entropy. */
struct weir_ticket_ring *weir_ticket_ring_get(const char *addr, uint32_t period_ms);

/* The key for a ticket at now_ms (CLOCK_MONOTONIC), first rotating the
 * ring if its period is over: the current key becomes the previous one,
 * unless the ring was idle for a whole period more, when no ticket sealed
 * under it should open any longer. With name NULL (sealing): the current
 * key, 1. With a ticket's name: 1 and the current key, 2 and the previous
 * one (the ticket is then renewed), 0 for no key (a full handshake). Safe
 * from any thread. */
int weir_ticket_key(struct weir_ticket_ring *r, uint64_t now_ms, const unsigned char *name,
		    struct weir_ticket_key *out);

/* Frees every ring; at exit. */
void weir_ticket_rings_free(void);

#endif
