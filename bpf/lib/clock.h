/* clock.h - the time the XDP program judges by: bpf_ktime_get_ns(), or,
 * for the BPF tests, the weir_clock map when they set weir_test_clock
 * before load (the loader never does, so the verifier prunes the test
 * branch in production).
 */
#ifndef WEIR_BPF_CLOCK_H
#define WEIR_BPF_CLOCK_H

#include "maps.h"

const volatile __u8 weir_test_clock = 0;

static __always_inline __u64 weir_now(void)
{
	if (weir_test_clock) {
		__u32 k = 0;
		__u64 *t = bpf_map_lookup_elem(&weir_clock, &k);

		return t ? *t : 0;
	}
	return bpf_ktime_get_ns();
}

#endif /* WEIR_BPF_CLOCK_H */
