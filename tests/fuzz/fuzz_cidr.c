/* fuzz_cidr.c - libFuzzer target: weir_cidr_parse (with weir_cidr_format's
 * round trip, see fuzz.h) and weir_duration_parse on one string. */
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <stdint.h>

/* weir_duration_parse as a reference: decimal digits, then at most one unit
 * of s, m, h or d; computed in 128 bits. Returns 1 when it must be accepted,
 * with the value in *ns. */
static int duration_ref(const char *s, uint64_t *ns)
{
	static const char units[] = "smhd";
	static const unsigned mult[] = { 1, 60, 3600, 86400 };
	unsigned __int128 v = 0, max = UINT64_MAX;
	const char *p = s, *u;
	int big = 0;

	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > max) {
			big = 1;
			v = max + 1; /* stays above max, never wraps */
		}
	}
	if (*p) {
		if (!(u = strchr(units, *p)) || p[1])
			return 0;
		v *= mult[u - units];
	}
	v *= 1000000000u;
	if (big || v == 0 || v > max)
		return 0;
	*ns = (uint64_t)v;
	return 1;
}

static void check_duration(const char *s)
{
	uint64_t ns = 0, want = 0;
	int rc = weir_duration_parse(s, &ns);
	int ok = duration_ref(s, &want);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE, "'%s': rc %d", s, rc);
	FUZZ_CHECK((rc == 0) == ok, "'%s': rc %d, reference says %s", s, rc,
		   ok ? "accept" : "reject");
	if (!rc) {
		FUZZ_CHECK(ns > 0, "'%s': accepted as 0 ns", s);
		FUZZ_CHECK(ns == want, "'%s': %llu ns, want %llu", s,
			   (unsigned long long)ns, (unsigned long long)want);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_check_cidr(s);
	check_duration(s);
	free(s);
	return 0;
}
