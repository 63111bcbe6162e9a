/* fuzz.h - the properties the libFuzzer targets of tests/fuzz check. A
 * violated property aborts with a message, which libFuzzer reports as a
 * crash and saves the input for. */
#ifndef WEIR_FUZZ_H
#define WEIR_FUZZ_H

#include "maps/weir_maps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                 \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: property failed: %s: ",        \
				__FILE__, __LINE__, #cond);                   \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
			abort();                                              \
		}                                                             \
	} while (0)

/* weir_cidr_parse into an error buffer of exactly errlen bytes (on the heap,
 * so ASan sees a write past it), prefilled with a non-zero byte so that a
 * missing terminator shows. */
static inline int fuzz_cidr_parse(const char *s, struct weir_cidr *c,
				  size_t errlen)
{
	char *err = malloc(errlen);
	int rc;

	FUZZ_CHECK(err, "out of memory");
	memset(err, 'X', errlen);
	rc = weir_cidr_parse(s, c, err, errlen);
	if (rc) {
		FUZZ_CHECK(rc < 0, "'%s': rc %d", s, rc);
		FUZZ_CHECK(memchr(err, '\0', errlen), "'%s': error not terminated", s);
		FUZZ_CHECK(err[0] != '\0', "'%s': rejected with an empty error", s);
	}
	free(err);
	return rc;
}

/* Every property of weir_cidr_parse on one NUL-terminated string: returns
 * whether s was accepted. */
static inline int fuzz_check_cidr(const char *s)
{
	struct weir_cidr c, c2, small;
	char buf[WEIR_CIDR_STRLEN];
	int rc = fuzz_cidr_parse(s, &c, 160), bits, i;

	/* A short buffer truncates the message, never the verdict. */
	FUZZ_CHECK((fuzz_cidr_parse(s, &small, 12) == 0) == (rc == 0), "'%s': verdict depends on errlen", s);
	if (rc)
		return 0;
	FUZZ_CHECK(!memcmp(&c, &small, sizeof(c)), "'%s': result depends on errlen", s);

	/* Only address and prefix length characters: no whitespace, signs or
	 * other junk slips through (inet_pton and strtoul skip or allow some). */
	FUZZ_CHECK(strspn(s, "0123456789abcdefABCDEF.:/") == strlen(s),
		   "'%s': accepted with a character outside [0-9a-fA-F.:/]", s);
	FUZZ_CHECK(c.family == 4 || c.family == 6, "'%s': family %u", s, c.family);
	bits = c.family == 4 ? 32 : 128;
	FUZZ_CHECK(c.prefixlen <= bits, "'%s': /%u for IPv%u", s, c.prefixlen, c.family);
	for (i = 0; i < 128; i++) {
		int set = c.addr[i / 8] >> (7 - i % 8) & 1;

		FUZZ_CHECK(!set || i < c.prefixlen, "'%s': bit %d set past /%u",
			   s, i, c.prefixlen);
	}

	/* The canonical text parses back to the same prefix. */
	memset(buf, 'X', sizeof(buf));
	weir_cidr_format(&c, buf, sizeof(buf));
	FUZZ_CHECK(memchr(buf, '\0', sizeof(buf)), "'%s': formatted text not terminated", s);
	FUZZ_CHECK(strlen(buf) < sizeof(buf) - 1, "'%s': '%s' may be truncated", s, buf);
	FUZZ_CHECK(!fuzz_cidr_parse(buf, &c2, 160), "'%s': its format '%s' is rejected", s, buf);
	FUZZ_CHECK(!memcmp(&c, &c2, sizeof(c)), "'%s': round trip through '%s' differs", s, buf);
	return 1;
}

#endif /* WEIR_FUZZ_H */
