/* ratelimit.h - per-source rate limiting shared exactly across CPUs.
 *
 * The limiter is GCRA (the generic cell rate algorithm), which admits the
 * same traffic as a token bucket of the same rate and burst but keeps a
 * single 64-bit word of state: the theoretical arrival time (TAT) of the next
 * conforming event. An event at time `now` conforms when
 *     max(TAT, now) + T - now <= burst * T,    T = 1s / rate,
 * and then TAT becomes max(TAT, now) + T. The word is updated with
 * compare-and-swap, so packets of one source arriving on several CPUs draw on
 * one budget: the admitted rate is the configured one however RSS spreads a
 * source, with no per-CPU split of the burst. A CAS that loses a race is
 * retried a few times; a source that keeps losing is contending with itself
 * at line rate and is refused.
 */
#ifndef WEIR_BPF_RATELIMIT_H
#define WEIR_BPF_RATELIMIT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "../../maps/weir_abi.h"

#define WEIR_NSEC_PER_SEC 1000000000ull
#define WEIR_GCRA_TRIES 4

/* Returns 1 when the event conforms (and is charged), 0 when over the limit.
 * r->rate must be non-zero. */
static __always_inline int weir_gcra_admit(__u64 *tat, __u64 now,
					   const struct weir_rate *r)
{
	__u64 t = WEIR_NSEC_PER_SEC / r->rate;
	__u64 burst = r->burst ? r->burst : 1;
	__u64 tolerance = t * burst;

	for (int i = 0; i < WEIR_GCRA_TRIES; i++) {
		__u64 old = *(volatile __u64 *)tat;
		__u64 next = (old > now ? old : now) + t;

		if (next - now > tolerance)
			return 0;
		if (__sync_val_compare_and_swap(tat, old, next) == old)
			return 1;
	}
	return 0;
}

#endif /* WEIR_BPF_RATELIMIT_H */
