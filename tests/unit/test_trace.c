/* tests/unit/test_trace.c - the W3C traceparent reader (request.c): one row
 * per rule of the Trace Context format, valid or not, each a TAP test of its
 * own; a valid value yields "00-TRACEID-" and the flags, ready for weir's
 * own span id.
 */
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

int main(void)
{
	struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0])];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		tests[i] = (struct CMUnitTest){ .name = cases[i].name, .test_func = test_case,
						.initial_state = (void *)&cases[i] };
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
