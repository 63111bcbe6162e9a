/* fuzz_line.c - libFuzzer target: a prefix list file as weirctl block/allow
 * import reads it, getline by getline through weir_list_line and then
 * weir_cidr_parse (checked as in fuzz.h). */
#include "tests/fuzz/fuzz.h"

#include <stdint.h>

#define WS " \t\r\n"

/* weir_list_line's contract, on a copy of one line. */
static void check_line(const char *data, size_t len)
{
	char *line = malloc(len + 1), *text;
	const char *cidr = NULL;
	size_t n, lead;
	int rc;

	FUZZ_CHECK(line, "out of memory");
	memcpy(line, data, len);
	line[len] = '\0'; /* as getline leaves it; a NUL inside ends the text */
	/* What the line should come to: up to a '#', without the whitespace
	 * of the contract around it. */
	n = strcspn(line, "#");
	lead = strspn(line, " \t");
	if (lead > n)
		lead = n;
	while (n > lead && strchr(WS, line[n - 1]))
		n--;
	text = strndup(line + lead, n - lead);
	FUZZ_CHECK(text, "out of memory");

	rc = weir_list_line(line, &cidr);
	FUZZ_CHECK(rc == 0 || rc == 1, "rc %d", rc);
	if (rc == 0) {
		FUZZ_CHECK(!*text, "'%s' taken for a blank line", text);
		FUZZ_CHECK(!cidr, "*cidr set for a blank line");
	} else {
		FUZZ_CHECK(*text, "blank line returned as '%s'", cidr);
		FUZZ_CHECK(cidr >= line && cidr < line + len + 1, "*cidr outside the line");
		FUZZ_CHECK(!strcmp(cidr, text), "'%s' returned as '%s'", text, cidr);
		FUZZ_CHECK(!strchr(cidr, '#') && !strchr(" \t", cidr[0]) &&
				   !strchr(WS, cidr[strlen(cidr) - 1]),
			   "'%s' not trimmed", cidr);
		fuzz_check_cidr(cidr);
	}
	free(text);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	/* Lines as getline returns them: up to and with each '\n'. */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);

		check_line(p, len);
		p += len;
	}
	return 0;
}
