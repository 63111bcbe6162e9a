/* userspace/balance.h - choosing the upstream node for a request: smooth
 * weighted round robin, weighted least connections and consistent hashing,
 * with nginx-style passive health (max_fails in a window eject a node for a
 * while) and Envoy-style panic mode.
 *
 * Two halves. A struct weir_lb is immutable: the kind, the weights, the
 * nodes' identities and the hash ring, built once per configuration snapshot
 * and read by every worker at once. A struct weir_lb_state is one worker's
 * own mutable view: rotation weights, connections in flight and passive
 * health. A worker touches only its own state, so the pick path takes no
 * lock and no atomic; each state sits on cache lines of its own. The price
 * is that each worker learns a node's health by itself (see weir_lb_report).
 *
 * Node indexes are positions in the arrays given to weir_lb_new(); weights
 * run 0..WEIR_LB_WEIGHT_MAX and 0 means drained: never picked, not even in
 * panic mode.
 */
#ifndef WEIR_BALANCE_H
#define WEIR_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define WEIR_LB_MAX_NODES	1024u
#define WEIR_LB_WEIGHT_MAX	1000000u
/* Ring points per unit of weight (weight divided by the weights' gcd). A
 * node's share of keys strays from its weight by about 1/sqrt(points): 512
 * gives ±4.4% (one standard deviation), so ten equal nodes all stay within
 * ±15% in over 99% of configurations; nginx's 160 (±8%) does in only 60%.
 * The price is 10 bytes a point: 51 KB for ten nodes of weight 1. */
#define WEIR_LB_RING_POINTS	512u
/* Above this the points are scaled down together; a node keeps at least one. */
#define WEIR_LB_RING_MAX	(1u << 20)
/* The seed that places ring points: fixed, so that every gateway built from
 * the same nodes sends a key to the same node. */
#define WEIR_LB_RING_SEED	0x77656972u	/* "weir" */

struct weir_lb;
struct weir_lb_state;

/* Builds the immutable part. ids[i] is a stable identity of node i; the
 * convention is weir_hash64() of its "addr:port" text with seed 0. The ring
 * places a node's points from its id alone, so a node keeps its keys whatever
 * the other nodes are and whatever their order; ids also match nodes across
 * snapshots in weir_lb_state_carry(). Every kind needs ids, and they must be
 * distinct.
 *
 * Returns NULL with one line in err (when err is not NULL) on bad input:
 * n of 0 or above WEIR_LB_MAX_NODES, a weight above WEIR_LB_WEIGHT_MAX,
 * duplicate ids, a NULL array, an unknown kind, or no memory. Every node
 * drained is valid: picks then return -1. */
struct weir_lb *weir_lb_new(enum weir_lb_kind kind, const uint32_t *weights,
			    const uint64_t *ids, size_t n, char *err, size_t errlen);
void weir_lb_free(struct weir_lb *lb);

size_t weir_lb_nodes(const struct weir_lb *lb);
/* Points on the consistent-hash ring; 0 for the other kinds. */
size_t weir_lb_ring_points(const struct weir_lb *lb);

/* One worker's state for lb: all nodes healthy, no connection in flight.
 * NULL when out of memory. It is valid only with the lb it was made for. */
struct weir_lb_state *weir_lb_state_new(const struct weir_lb *lb);
void weir_lb_state_free(struct weir_lb_state *st);

/* On a configuration change, copies passive health (open failure windows,
 * ejections) from a worker's old state to its new one, matching nodes by id,
 * so a reload neither forgets a dead node nor forgives it. Connection counts
 * are not copied: connections started on the old snapshot end on it. Call it
 * from the worker that owns both states. */
void weir_lb_state_carry(const struct weir_lb *to_lb, struct weir_lb_state *to,
			 const struct weir_lb *from_lb, const struct weir_lb_state *from);

/* Picks a node for a request. Returns its index, or -1 when no node can
 * take the request: every node drained or in `avoid`.
 *
 * key: the hash of the request's key (WEIR_LB_CHASH only, ignored
 * otherwise); it is mixed again, so a weak hash still spreads.
 * avoid/n_avoid: nodes this request already tried, so a retry goes
 * elsewhere; indexes out of range are ignored.
 * Ejected nodes and nodes down by active checks are skipped, unless every
 * node left (weight > 0, not avoided) is one of them: then both are ignored and one of them is picked
 * (panic mode: a gateway that refuses all traffic helps nobody).
 *
 * Round robin and least connections cost O(n); consistent hashing costs
 * O(log points) plus, when the ring's node cannot be used, a walk to the next
 * node that can. */
int weir_lb_pick(const struct weir_lb *lb, struct weir_lb_state *st, uint64_t key,
		 uint64_t now_ms, const uint16_t *avoid, size_t n_avoid);

/* Least-connections bookkeeping: call start when a request begins using the
 * node (or a connection to it) and end exactly once when it stops. Other
 * kinds may call them too; only least connections reads the counts. */
void weir_lb_conn_start(struct weir_lb_state *st, int node);
void weir_lb_conn_end(struct weir_lb_state *st, int node);

/* Passive health, in the manner of nginx's max_fails/fail_timeout. A failure
 * (connect error, timeout, 5xx) at now_ms opens a window of window_ms unless
 * one is open; when max_fails failures fall in one window the node is
 * ejected until now_ms + eject_ms. A success does not erase the window's
 * failures; only the window's end does. max_fails 0: never eject.
 *
 * Once an ejection ends the node is on probation: its next reported outcome
 * decides, a success restores it and a failure ejects it again at once (as
 * nginx does), so a dead node costs one request per eject_ms, not max_fails.
 * Outcomes reported while the node is ejected (requests sent before the
 * ejection, or in panic mode) are ignored: they tell nothing new.
 *
 * now_ms must come from a monotonic clock and not go backwards for a state. */
void weir_lb_report(struct weir_lb_state *st, int node, bool failed, uint64_t now_ms,
		    uint32_t max_fails, uint32_t window_ms, uint32_t eject_ms);
bool weir_lb_ejected(const struct weir_lb_state *st, int node, uint64_t now_ms);
/* The same, from a thread other than the state's worker (the metrics
 * scrape): a relaxed atomic read of the ejection deadline, no lock. */
bool weir_lb_ejected_peek(const struct weir_lb_state *st, int node, uint64_t now_ms);

/* Active health: a verdict per node, shared by all workers. One thread (the
 * worker that runs the probes, see health.h) reports each probe's outcome;
 * every worker's pick reads the verdict with a relaxed atomic load. A node
 * goes down after `fall` failures in a row and comes back after `rise`
 * successes in a row; nodes start up. A node that is down is skipped like an
 * ejected one, and panic mode applies to both alike: when every usable node
 * is down or ejected, one of them is picked all the same.
 *
 * weir_lb_active_report returns true when the verdict changed. It and carry
 * are the only writers of the part of struct weir_lb they touch. */
bool weir_lb_active_report(struct weir_lb *lb, int node, bool ok, uint32_t rise, uint32_t fall);
bool weir_lb_active_down(const struct weir_lb *lb, int node);
/* Copies verdicts and runs from nodes of `from` to those of `to` with the
 * same id (as weir_lb_state_carry does for passive health), so a reload
 * neither forgets a node that fails its checks nor forgives it. */
void weir_lb_active_carry(struct weir_lb *to, const struct weir_lb *from);

/* A fast 64-bit hash with full avalanche; not a cryptographic one. The same
 * bytes and seed give the same value on every host (words are read little
 * endian). */
uint64_t weir_hash64(const void *data, size_t len, uint64_t seed);

#endif
