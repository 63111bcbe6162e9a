/* userspace/addr.c - socket addresses as configuration writes them:
 * "IP:PORT", "[IPv6]:PORT", and for listeners also "*:PORT" and "PORT".
 * Numeric only: a gateway resolves no names at load time.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/config.h"

int weir_addr_parse(const char *text, bool listen, struct weir_addr *out,
		    char *err, size_t errlen)
{
	char buf[64], *port, *end;
	const char *host = buf, *why = listen ? "expected IP:PORT, [IPv6]:PORT, *:PORT or PORT" :
						"expected IP:PORT or [IPv6]:PORT";
	int family = AF_INET;
	unsigned long p;
	bool any;

	memset(out, 0, sizeof(*out));
	if (strlen(text) >= sizeof(buf))
		goto bad;
	strcpy(buf, text);
	if (buf[0] == '[') {
		if (!(end = strchr(buf, ']')) || end[1] != ':') {
			why = end ? why : "missing ']'";
			goto bad;
		}
		*end = 0;
		host = buf + 1;
		port = end + 2;
		family = AF_INET6;
	} else if ((port = strrchr(buf, ':'))) {
		*port++ = 0;
		if (strchr(buf, ':')) {
			why = "write an IPv6 address in brackets: [ADDR]:PORT";
			goto bad;
		}
	} else if (listen && buf[0] && strspn(buf, "0123456789") == strlen(buf)) {
		host = "*";
		port = buf;
	} else {
		goto bad;
	}
	p = strtoul(port, NULL, 10);
	if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
	    p < 1 || p > 65535) {
		why = "the port must be 1 to 65535";
		goto bad;
	}
	if (family == AF_INET && !strcmp(host, "*")) {
		why = "'*' is only for listeners";
		if (!listen)
			goto bad;
		host = "0.0.0.0";
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->sa;

		why = "not an IPv6 address";
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			goto bad;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(p);
		out->len = sizeof(*s6);
		inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
		snprintf(out->text, sizeof(out->text), "[%.46s]:%lu", buf, p);
		any = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out->sa;

		why = strpbrk(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") ?
		      "not an IP address (DNS names are not resolved)" : "not an IPv4 address";
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto bad;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(p);
		out->len = sizeof(*s4);
		inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
		snprintf(out->text, sizeof(out->text), "%.15s:%lu", buf, p);
		any = s4->sin_addr.s_addr == htonl(INADDR_ANY);
	}
	if (!any || listen)
		return 0;
	why = "an upstream needs a specific address";
bad:
	memset(out, 0, sizeof(*out));
	snprintf(err, errlen, "'%s': %s", text, why);
	return -1;
}

