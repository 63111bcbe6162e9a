/* tests/unit/test_trace.c - the W3C traceparent reader (request.c): one row
 * per rule of the Trace Context format, valid or not, each a TAP test of its
 * own; a valid value yields "00-TRACEID-" and the flags, ready for weir's
 * own span id. Then the request ids (and span ids) weir makes: the worker's
 * generator's numbers as hex, checked digit by digit against a plain
 * nibble-by-nibble rendering over many values; and the client's address as
 * text (X-Forwarded-For), against inet_ntop's, for every byte value.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "userspace/core.h"

#define TR "0af7651916cd43dd8448eb211c80319c"
#define SP "b7ad6b7169203331"

struct tp_case {
	const char *name;
	const char *value;
	const char *want;	/* out[0..36) + out[52..55), or NULL: invalid */
};

static const struct tp_case cases[] = {
	{ "valid_sampled", "00-" TR "-" SP "-01", "00-" TR "--01" },
	{ "valid_unsampled", "00-" TR "-" SP "-00", "00-" TR "--00" },
	{ "valid_other_flags", "00-" TR "-" SP "-ff", "00-" TR "--ff" },
	{ "later_version_more_fields", "01-" TR "-" SP "-01-what-comes", "00-" TR "--01" },
	{ "later_version_exact", "cc-" TR "-" SP "-01", "00-" TR "--01" },
	{ "later_version_no_dash", "01-" TR "-" SP "-01x", NULL },
	{ "version_ff", "ff-" TR "-" SP "-01", NULL },
	{ "version_upper", "0A-" TR "-" SP "-01", NULL },
	{ "v00_longer", "00-" TR "-" SP "-01-x", NULL },
	{ "short", "00-" TR "-" SP "-1", NULL },
	{ "empty", "", NULL },
	{ "trace_zero", "00-00000000000000000000000000000000-" SP "-01", NULL },
	{ "span_zero", "00-" TR "-0000000000000000-01", NULL },
	{ "trace_upper", "00-0AF7651916CD43DD8448EB211C80319C-" SP "-01", NULL },
	{ "span_upper", "00-" TR "-B7AD6B7169203331-01", NULL },
	{ "trace_not_hex", "00-0af7651916cd43dd8448eb211c80319g-" SP "-01", NULL },
	{ "flags_not_hex", "00-" TR "-" SP "-0x", NULL },
	{ "wrong_separator", "00_" TR "-" SP "-01", NULL },
	{ "trace_short", "00-0af7651916cd43dd8448eb211c8031-" SP "-0100", NULL },
};

static void test_case(void **state)
{
	const struct tp_case *t = *state;
	char out[56] = "", got[40];
	bool ok = weir_traceparent_parse(t->value, strlen(t->value), out);

	if (!t->want) {
		assert_false(ok);
		return;
	}
	assert_true(ok);
	memcpy(got, out, 36);
	memcpy(got + 36, out + 52, 4);	/* "-01" and the NUL */
	assert_string_equal(got, t->want);
}

/* The generator of request.c (xorshift64), to know which numbers an id
 * renders. */
static uint64_t next64(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void hex_ref(uint64_t x, char *out)
{
	for (int i = 0; i < 16; i++)
		out[i] = "0123456789abcdef"[(x >> (i * 4)) & 15];
}

static void test_request_id(void **state)
{
	static struct weir_worker w;
	/* digits 0-9 and a-f at every position, and the edges */
	static const uint64_t seeds[] = { 1, 0x0123456789abcdefull, 0xfedcba9876543210ull,
					  0xffffffffffffffffull, 0x9999999999999999ull,
					  0xaaaaaaaaaaaaaaaaull };
	char id[33], want[33];

	(void)state;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]) + 10000; i++) {
		uint64_t x = i < sizeof(seeds) / sizeof(seeds[0]) ? seeds[i] : w.rng;

		w.rng = x;
		weir_request_id(&w, id);
		hex_ref(next64(&x), want);
		hex_ref(next64(&x), want + 16);
		want[32] = 0;
		assert_string_equal(id, want);
	}
}

static void test_client_addr(void **state)
{
	static struct weir_client c;
	static struct weir_req r;
	char want[INET6_ADDRSTRLEN];

	(void)state;
	r.client = &c;
	c.peer.sin6_family = AF_INET6;
	for (unsigned v = 0; v < 256; v++) {
		/* each byte value in each position, beside others of each width */
		const uint8_t addrs[][4] = { { v, 0, 9, 255 }, { 10, v, 100, 1 },
					     { 255, 99, v, 0 }, { 1, 10, 200, v } };
		for (size_t k = 0; k < 4; k++) {
			inet_pton(AF_INET6, "::ffff:0.0.0.0", &c.peer.sin6_addr);
			memcpy(&c.peer.sin6_addr.s6_addr[12], addrs[k], 4);
			memset(r.addr, 0, sizeof(r.addr));
			inet_ntop(AF_INET, addrs[k], want, sizeof(want));
			assert_string_equal(weir_req_client_addr(&r), want);
		}
	}
	inet_pton(AF_INET6, "2001:db8::1:0:0:1", &c.peer.sin6_addr);
	memset(r.addr, 0, sizeof(r.addr));
	assert_string_equal(weir_req_client_addr(&r), "2001:db8::1:0:0:1");
}

int main(void)
{
	struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0]) + 2];
	size_t n = sizeof(cases) / sizeof(cases[0]);

	for (size_t i = 0; i < n; i++)
		tests[i] = (struct CMUnitTest){ .name = cases[i].name, .test_func = test_case,
						.initial_state = (void *)&cases[i] };
	tests[n] = (struct CMUnitTest){ .name = "request_id_hex", .test_func = test_request_id };
	tests[n + 1] = (struct CMUnitTest){ .name = "client_addr_text", .test_func = test_client_addr };
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
