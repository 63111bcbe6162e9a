/* fuzz_request.c - libFuzzer target over weir's request path: the bytes a
 * client sends go through a real socket into http.c (llhttp glue, the head
 * checks, the router, the upstream head rebuild) exactly as a worker runs
 * them. The only upstream is a closed port, so every request that passes
 * the checks is answered 502 and nothing leaves the process.
 *
 * Properties, besides the sanitizers' (no crash, leak, overflow, UB):
 *   - whatever weir writes back starts with a well-formed status line;
 *   - a first request whose head carries both Content-Length and
 *     Transfer-Encoding is refused (400/501), never proxied (502).
 * The input is written in two pieces, split where its first byte says, so
 * that incremental parsing across reads is covered too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "userspace/core.h"
#include "userspace/snapshot.h"
#include "tests/fuzz/fuzz.h"

static const char config_yaml[] =
	"listeners: [{listen: 127.0.0.1:1}]\n"
	"limits: {max_header_size: 4k, max_headers: 32, max_uri: 1k, max_body: 64k}\n"
	"access_log: {format: off}\n"
	"upstreams:\n"
	"  closed: {nodes: [127.0.0.1:1], retries: 1}\n"
	"routes:\n"
	"  - {id: users, paths: [\"/users/:id\", \"/users/:id/files/*\"], upstream: closed,\n"
	"     rewrite: {template: \"/v2/u/:id\"}}\n"
	"  - {id: api, hosts: [\"*.example.com\", api.test], paths: [\"/api/*\"],\n"
	"     methods: [GET, POST], headers: {x-api-version: [\"1\", \"2\"]}, upstream: closed,\n"
	"     rewrite: {strip_prefix: /api}}\n"
	"  - {id: signed, paths: [\"/signed/*\"], upstream: closed,\n"
	"     plugins: {hmac-auth: {keys: {k1: {secret: 0123456789abcdef}}, validate_body: true,\n"
	"               max_body: 8k, clock_skew: 1h}}}\n"
	"  - {id: enc, paths: [\"/enc/*\"], upstream: closed,\n"
	"     plugins: {body-crypto: {keys: {k: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=},\n"
	"               max_body: 8k}}}\n"
	"  - {id: all, paths: [\"/*\"], upstream: closed,\n"
	"     plugins: {headers: {request: {x-a: b}, response: {x-c: d}}}}\n";

static struct weir_worker W;

static void setup(void)
{
	struct weir_config *conf;
	struct weir_snapshot *s;
	char err[512];

	if (weir_config_parse("fuzz.yaml", config_yaml, sizeof(config_yaml) - 1, &conf, err,
			      sizeof(err)) < 0 ||
	    weir_snapshot_build(conf, 1, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_request: %s\n", err);
		abort();
	}
	W.epfd = epoll_create1(EPOLL_CLOEXEC);
	W.buf_size = 4096 + 4096;
	W.snap = s;
	weir_worker_snap_hold(&W, s);
}

static bool has_field(const char *head, size_t n, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i + 2 + nl <= n; i++)
		if (head[i] == '\n' && !strncasecmp(head + i + 1, name, nl))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	int sv[2];
	char out[65536];
	size_t got = 0;

	if (!ready) {
		setup();
		ready = true;
	}
	if (size > 32768 || size < 1)
		return 0;
	size_t split = 1 + (data[0] * (size - 1)) / 255;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return 0;
	int bufsz = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	W.now = weir_now_ms();

	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(40000) };
	peer.sin_addr.s_addr = htonl(0xc0000201);
	FUZZ_CHECK(write(sv[0], data + 1, split - 1) == (ssize_t)(split - 1), "write");
	weir_client_accept(&W, sv[1], (struct sockaddr *)&peer, 0);
	struct weir_client *c = W.clients;
	if (size > split) {
		FUZZ_CHECK(write(sv[0], data + split, size - split) == (ssize_t)(size - split),
			   "write");
		if (c && c->io.fd >= 0) {
			c->io.readable = 1;
			c->io.writable = 1;
			weir_client_event(c, EPOLLIN);
		}
	}
	for (;;) {
		ssize_t n = read(sv[0], out + got, sizeof(out) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out[got] = 0;
	if (got) {
		FUZZ_CHECK(got >= 12 && !memcmp(out, "HTTP/1.", 7) && out[8] == ' ' &&
			   out[9] >= '1' && out[9] <= '5', "bad status line: %.40s", out);
		const char *end = memmem(data + 1, size - 1, "\r\n\r\n", 4);
		size_t hn = end ? (size_t)(end - (const char *)data) : 0;
		if (hn && has_field((const char *)data + 1, hn, "content-length:") &&
		    has_field((const char *)data + 1, hn, "transfer-encoding:"))
			FUZZ_CHECK(memcmp(out + 9, "502", 3), "CL+TE request was forwarded");
	}
	close(sv[0]);
	while (W.clients)
		weir_client_close(W.clients);
	weir_pools_close(&W);
	weir_worker_reap(&W);
	return 0;
}
