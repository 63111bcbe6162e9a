/* tests/unit/test_config.c - the YAML configuration loader: a full file read
 * into exactly the expected structs, every default, the example file, the
 * scalar forms (addresses, durations, sizes, plugin JSON), quick mode, and
 * one case per validation error with its exact message (file, line, field).
 *
 * The error cases are a table (struct bad_case) run as one TAP test each, so
 * a new rule is a new row. A second table (snap_cases) holds files that parse
 * but fail when the snapshot is built: the built-in plugins' settings and the
 * rules that need them (a route without an upstream). Only the public APIs
 * of config.h and snapshot.h are used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "userspace/config.h"
#include "userspace/snapshot.h"
#include "userspace/plugin.h"
#include "certs.h"

static struct weir_config *parse_ok(const char *yaml)
{
	struct weir_config *c = NULL;
	char err[512] = "";
	int rc = weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err));

	if (rc)
		print_message("# unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(c);
	return c;
}

static const char full_yaml[] =
	"workers: 2\n"
	"limits: {max_header_size: 32k, max_headers: 50, max_uri: 4k, max_body: 1g}\n"
	"timeouts: {client_header: 5s, client_body: 30s, keepalive: 1m, send: 500ms, shutdown: 1h}\n"
	"max_connections: 1000\n"
	"steering: kernel\n"
	"access_log: {path: /var/log/weir/access.log, format: combined}\n"
	"listeners:\n"
	"  - listen: 0.0.0.0:8080\n"
	"    backlog: 128\n"
	"  - \"[::]:8443\"\n"
	"  - '*:9000'\n"
	"  - 9001\n"
	"upstreams:\n"
	"  api:\n"
	"    nodes:\n"
	"      - {addr: 127.0.0.1:9001, weight: 3}\n"
	"      - 127.0.0.1:9002\n"
	"      - {addr: \"[::1]:9003\", weight: 0}\n"
	"    balance: chash\n"
	"    hash_on: header\n"
	"    hash_key: X-User\n"
	"    keepalive: {size: 32, timeout: 30s, requests: 500}\n"
	"    timeouts: {connect: 2s, send: 20s, read: 40s}\n"
	"    health: {max_fails: 5, window: 20s, eject: 30s}\n"
	"    retries: 3\n"
	"    retry_timeout: 2s\n"
	"  static:\n"
	"    nodes: [10.0.0.1:80]\n"
	"    balance: leastconn\n"
	"routes:\n"
	"  - id: users\n"
	"    hosts: [API.example.com, \"*.example.com\"]\n"
	"    paths: [\"/users/:id\", \"/u/:id/x\"]\n"
	"    methods: [GET, post]\n"
	"    headers: {X-Api-Version: [\"2\", \"2.1\"], x-tenant: acme}\n"
	"    priority: -10\n"
	"    upstream: api\n"
	"    rewrite: {template: \"/v2/users/:id\"}\n"
	"    timeouts: {connect: 1s, read: 5s}\n"
	"    plugins:\n"
	"      limit: {count: 100, burst: 1.5, on: true, key: \"42\", tags: [a, 1, null]}\n"
	"      cors:\n"
	"  - host: static.example.com\n"
	"    path: /static/*\n"
	"    methods: HEAD\n"
	"    upstream: static\n"
	"    rewrite: {strip_prefix: /static}\n"
	"plugins:\n"
	"  limit: {count: 10, nested: {a: {b: [x, {c: ~}]}}}\n";

static void test_full(void **state)
{
	struct weir_config *c = parse_ok(full_yaml);
	struct weir_upstream_conf *u;
	struct weir_route_conf *r;
	char *s;

	assert_null(c->file);
	assert_int_equal(c->workers, 2);
	assert_int_equal(c->max_header_size, 32768);
	assert_int_equal(c->max_headers, 50);
	assert_int_equal(c->max_uri, 4096);
	assert_true(c->max_body == 1ull << 30);
	assert_int_equal(c->client_header_timeout_ms, 5000);
	assert_int_equal(c->client_body_timeout_ms, 30000);
	assert_int_equal(c->keepalive_timeout_ms, 60000);
	assert_int_equal(c->send_timeout_ms, 500);
	assert_int_equal(c->shutdown_timeout_ms, 3600000);
	assert_int_equal(c->max_connections, 1000);
	assert_int_equal(c->steering, WEIR_STEERING_KERNEL);
	assert_int_equal(c->log_format, WEIR_LOG_COMBINED);
	assert_string_equal(c->log_path, "/var/log/weir/access.log");

	assert_int_equal(c->n_listeners, 4);
	assert_string_equal(c->listeners[0].addr.text, "0.0.0.0:8080");
	assert_int_equal(c->listeners[0].backlog, 128);
	assert_int_equal(c->listeners[0].addr.sa.ss_family, AF_INET);
	assert_int_equal(c->listeners[0].addr.len, sizeof(struct sockaddr_in));
	assert_string_equal(c->listeners[1].addr.text, "[::]:8443");
	assert_int_equal(c->listeners[1].addr.sa.ss_family, AF_INET6);
	assert_int_equal(c->listeners[1].backlog, 4096);
	assert_string_equal(c->listeners[2].addr.text, "0.0.0.0:9000");
	assert_string_equal(c->listeners[3].addr.text, "0.0.0.0:9001");

	assert_int_equal(c->n_upstreams, 2);
	u = &c->upstreams[0];
	assert_string_equal(u->name, "api");
	assert_int_equal(u->line, 14);
	assert_int_equal(u->n_nodes, 3);
	assert_string_equal(u->nodes[0].addr.text, "127.0.0.1:9001");
	assert_int_equal(u->nodes[0].weight, 3);
	assert_string_equal(u->nodes[1].addr.text, "127.0.0.1:9002");
	assert_int_equal(u->nodes[1].weight, 1);
	assert_string_equal(u->nodes[2].addr.text, "[::1]:9003");
	assert_int_equal(u->nodes[2].weight, 0);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&u->nodes[2].addr.sa)->sin6_port), 9003);
	assert_int_equal(u->lb, WEIR_LB_CHASH);
	assert_int_equal(u->hash_on, WEIR_HASH_HEADER);
	assert_string_equal(u->hash_key, "x-user");	/* a header name: lower case */
	assert_int_equal(u->keepalive, 32);
	assert_int_equal(u->keepalive_timeout_ms, 30000);
	assert_int_equal(u->keepalive_requests, 500);
	assert_int_equal(u->connect_timeout_ms, 2000);
	assert_int_equal(u->send_timeout_ms, 20000);
	assert_int_equal(u->read_timeout_ms, 40000);
	assert_int_equal(u->max_fails, 5);
	assert_int_equal(u->fail_window_ms, 20000);
	assert_int_equal(u->eject_ms, 30000);
	assert_int_equal(u->retries, 3);
	assert_int_equal(u->retry_timeout_ms, 2000);
	u = &c->upstreams[1];
	assert_string_equal(u->name, "static");
	assert_int_equal(u->lb, WEIR_LB_LEASTCONN);
	assert_null(u->hash_key);
	assert_int_equal(u->keepalive, 256);
	assert_int_equal(u->retries, 1);

	assert_int_equal(c->n_routes, 2);
	r = &c->routes[0];
	assert_string_equal(r->id, "users");
	assert_int_equal(r->line, 31);
	assert_int_equal(r->n_hosts, 2);
	assert_string_equal(r->hosts[0], "api.example.com");
	assert_string_equal(r->hosts[1], "*.example.com");
	assert_int_equal(r->n_paths, 2);
	assert_string_equal(r->paths[0], "/users/:id");
	assert_string_equal(r->paths[1], "/u/:id/x");
	assert_int_equal(r->methods, WEIR_M_GET | WEIR_M_POST);
	assert_int_equal(r->n_headers, 2);
	assert_string_equal(r->headers[0].name, "x-api-version");
	assert_int_equal(r->headers[0].n_values, 2);
	assert_string_equal(r->headers[0].values[0], "2");
	assert_string_equal(r->headers[0].values[1], "2.1");
	assert_string_equal(r->headers[1].name, "x-tenant");
	assert_int_equal(r->headers[1].n_values, 1);
	assert_string_equal(r->headers[1].values[0], "acme");
	assert_int_equal(r->priority, -10);
	assert_string_equal(r->upstream, "api");
	assert_int_equal(r->rewrite, WEIR_REWRITE_TEMPLATE);
	assert_string_equal(r->rewrite_value, "/v2/users/:id");
	assert_int_equal(r->connect_timeout_ms, 1000);
	assert_int_equal(r->send_timeout_ms, 0);	/* inherits */
	assert_int_equal(r->read_timeout_ms, 5000);
	assert_int_equal(r->n_plugins, 2);
	assert_string_equal(r->plugins[0].name, "limit");
	assert_int_equal(r->plugins[0].line, 41);
	s = json_dumps(r->plugins[0].conf, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"burst\":1.5,\"count\":100,\"key\":\"42\",\"on\":true,"
			    "\"tags\":[\"a\",1,null]}");
	free(s);
	assert_string_equal(r->plugins[1].name, "cors");
	assert_true(json_is_object(r->plugins[1].conf));
	assert_int_equal(json_object_size(r->plugins[1].conf), 0);

	r = &c->routes[1];
	assert_string_equal(r->id, "route-1");
	assert_int_equal(r->n_hosts, 1);
	assert_string_equal(r->hosts[0], "static.example.com");
	assert_int_equal(r->n_paths, 1);
	assert_string_equal(r->paths[0], "/static/*");
	assert_int_equal(r->methods, WEIR_M_HEAD);
	assert_int_equal(r->n_headers, 0);
	assert_int_equal(r->priority, 0);
	assert_int_equal(r->rewrite, WEIR_REWRITE_STRIP);
	assert_string_equal(r->rewrite_value, "/static");
	assert_int_equal(r->n_plugins, 0);

	assert_int_equal(c->n_plugins, 1);
	assert_string_equal(c->plugins[0].name, "limit");
	s = json_dumps(c->plugins[0].conf, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"count\":10,\"nested\":{\"a\":{\"b\":[\"x\",{\"c\":null}]}}}");
	free(s);
	weir_config_free(c);
}

static void test_defaults(void **state)
{
	struct weir_config *c = parse_ok("listeners: [127.0.0.1:80]\n"
					 "upstreams: {u: {nodes: [127.0.0.1:81]}}\n"
					 "routes: [{path: /, upstream: u}]\n");
	struct weir_upstream_conf *u = &c->upstreams[0];
	struct weir_route_conf *r = &c->routes[0];

	assert_int_equal(c->workers, 0);
	assert_int_equal(c->max_header_size, 16384);
	assert_int_equal(c->max_headers, 100);
	assert_int_equal(c->max_uri, 8192);
	assert_true(c->max_body == 16ull << 20);
	assert_int_equal(c->client_header_timeout_ms, 10000);
	assert_int_equal(c->client_body_timeout_ms, 60000);
	assert_int_equal(c->keepalive_timeout_ms, 75000);
	assert_int_equal(c->send_timeout_ms, 60000);
	assert_int_equal(c->shutdown_timeout_ms, 10000);
	assert_int_equal(c->max_connections, 65536);
	assert_int_equal(c->steering, WEIR_STEERING_BPF);
	assert_int_equal(c->log_format, WEIR_LOG_OFF);
	assert_null(c->log_path);
	assert_int_equal(c->n_plugins, 0);
	assert_int_equal(c->listeners[0].backlog, 4096);

	assert_int_equal(u->lb, WEIR_LB_ROUNDROBIN);
	assert_int_equal(u->hash_on, WEIR_HASH_IP);
	assert_null(u->hash_key);
	assert_int_equal(u->nodes[0].weight, 1);
	assert_int_equal(u->keepalive, 256);
	assert_int_equal(u->keepalive_timeout_ms, 60000);
	assert_int_equal(u->keepalive_requests, 10000);
	assert_int_equal(u->connect_timeout_ms, 5000);
	assert_int_equal(u->send_timeout_ms, 60000);
	assert_int_equal(u->read_timeout_ms, 60000);
	assert_int_equal(u->max_fails, 3);
	assert_int_equal(u->fail_window_ms, 10000);
	assert_int_equal(u->eject_ms, 10000);
	assert_int_equal(u->retries, 1);
	assert_int_equal(u->retry_timeout_ms, 0);
	assert_false(u->hc.enabled);
	assert_int_equal(u->line, 2);

	assert_string_equal(r->id, "route-0");
	assert_int_equal(r->line, 3);
	assert_int_equal(r->n_hosts, 0);
	assert_null(r->hosts);
	assert_int_equal(r->methods, 0);
	assert_int_equal(r->n_headers, 0);
	assert_int_equal(r->priority, 0);
	assert_int_equal(r->rewrite, WEIR_REWRITE_NONE);
	assert_null(r->rewrite_value);
	assert_int_equal(r->connect_timeout_ms, 0);
	assert_int_equal(r->send_timeout_ms, 0);
	assert_int_equal(r->read_timeout_ms, 0);
	assert_int_equal(r->n_plugins, 0);
	weir_config_free(c);

	/* An access_log mapping alone means JSON to stdout. */
	c = parse_ok("listeners: [8080]\naccess_log: {}\n");
	assert_int_equal(c->log_format, WEIR_LOG_JSON);
	assert_string_equal(c->log_path, "-");
	assert_int_equal(c->n_upstreams, 0);
	assert_int_equal(c->n_routes, 0);
	weir_config_free(c);
	c = parse_ok("listeners: [8080]\naccess_log: {format: off}\n");
	assert_int_equal(c->log_format, WEIR_LOG_OFF);
	assert_null(c->log_path);
	assert_false(c->metrics);
	assert_null(c->metrics_path);
	weir_config_free(c);

	/* metrics: the path defaults to /metrics, the pin directory to weir's. */
	c = parse_ok("listeners: [8080]\nmetrics: {listen: 127.0.0.1:9145}\n");
	assert_true(c->metrics);
	assert_string_equal(c->metrics_listen.text, "127.0.0.1:9145");
	assert_string_equal(c->metrics_path, "/metrics");
	assert_null(c->metrics_pin_dir);
	weir_config_free(c);
	c = parse_ok("listeners: [8080]\nmetrics: {listen: 9145, path: /stats/prom, "
		     "xdp_pin_dir: /sys/fs/bpf/other}\n");
	assert_string_equal(c->metrics_listen.text, "0.0.0.0:9145");
	assert_string_equal(c->metrics_path, "/stats/prom");
	assert_string_equal(c->metrics_pin_dir, "/sys/fs/bpf/other");
	weir_config_free(c);
}

/* health_check: every field, the defaults of an empty block, tcp, and the
 * forms of expect_status. */
static void test_health_check(void **state)
{
	struct weir_config *c = parse_ok(
		"listeners: [8080]\n"
		"upstreams:\n"
		"  a:\n"
		"    nodes: [127.0.0.1:1, 127.0.0.1:2]\n"
		"    health_check:\n"
		"      type: http\n"
		"      interval: 2s\n"
		"      timeout: 500ms\n"
		"      path: /healthz?full=1\n"
		"      host: api.example.com\n"
		"      expect_status: [200, 204, 300-302]\n"
		"      healthy_threshold: 1\n"
		"      unhealthy_threshold: 5\n"
		"  b: {nodes: [127.0.0.1:3], health_check: {}}\n"
		"  c: {nodes: [127.0.0.1:4], health_check: {type: tcp, interval: 100ms, timeout: 100ms}}\n"
		"  d: {nodes: [127.0.0.1:5], health_check: {expect_status: 200-599}}\n"
		"  e: {nodes: [127.0.0.1:6], health_check: {expect_status: 503}}\n");
	const struct weir_health_check_conf *h = &c->upstreams[0].hc;

	assert_true(h->enabled);
	assert_int_equal(h->type, WEIR_HC_HTTP);
	assert_int_equal(h->interval_ms, 2000);
	assert_int_equal(h->timeout_ms, 500);
	assert_string_equal(h->path, "/healthz?full=1");
	assert_string_equal(h->host, "api.example.com");
	assert_int_equal(h->healthy_threshold, 1);
	assert_int_equal(h->unhealthy_threshold, 5);
	for (unsigned st = 100; st <= WEIR_HC_STATUS_MAX; st++)
		assert_int_equal(weir_hc_expects(h, st),
				 st == 200 || st == 204 || (st >= 300 && st <= 302));
	assert_false(weir_hc_expects(h, 600));
	assert_false(weir_hc_expects(h, 65535));

	h = &c->upstreams[1].hc;
	assert_true(h->enabled);
	assert_int_equal(h->type, WEIR_HC_HTTP);
	assert_int_equal(h->interval_ms, 5000);
	assert_int_equal(h->timeout_ms, 2000);
	assert_string_equal(h->path, "/");
	assert_null(h->host);
	assert_int_equal(h->healthy_threshold, 2);
	assert_int_equal(h->unhealthy_threshold, 3);
	for (unsigned st = 100; st <= WEIR_HC_STATUS_MAX; st++)
		assert_int_equal(weir_hc_expects(h, st), st >= 200 && st <= 399);

	h = &c->upstreams[2].hc;
	assert_true(h->enabled);
	assert_int_equal(h->type, WEIR_HC_TCP);
	assert_int_equal(h->interval_ms, 100);
	assert_null(h->path);

	assert_true(weir_hc_expects(&c->upstreams[3].hc, 599));
	assert_false(weir_hc_expects(&c->upstreams[3].hc, 199));
	assert_true(weir_hc_expects(&c->upstreams[4].hc, 503));
	assert_false(weir_hc_expects(&c->upstreams[4].hc, 200));
	weir_config_free(c);
}

/* The shipped example must load; `make run` is derived from it. */
static void test_example(void **state)
{
	const char *path = getenv("WEIR_EXAMPLE") ? getenv("WEIR_EXAMPLE") : "examples/weir.yaml";
	struct weir_config *c = NULL;
	char err[512] = "";
	int rc = weir_config_load(path, &c, err, sizeof(err));

	if (rc)
		print_message("# %s\n", err);
	assert_int_equal(rc, 0);
	assert_string_equal(c->file, path);
	assert_string_equal(c->listeners[0].addr.text, "127.0.0.1:8080");
	assert_true(c->n_upstreams >= 1 && c->n_routes >= 1 && c->n_plugins >= 1);
	weir_config_free(c);
}

static void test_load_errors(void **state)
{
	struct weir_config *c = (void *)1;
	char err[512], path[] = "/tmp/weir-test-config-XXXXXX";
	FILE *f;
	int fd;

	assert_int_equal(weir_config_load("/nonexistent/weir.yaml", &c, err, sizeof(err)), -1);
	assert_null(c);
	assert_string_equal(err, "/nonexistent/weir.yaml: No such file or directory");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("listeners: [8080]\n\nworkers: 300\n", f);
	fclose(f);
	assert_int_equal(weir_config_load(path, &c, err, sizeof(err)), -1);
	assert_null(c);
	assert_true(strstr(err, path) == err);
	assert_string_equal(err + strlen(path), ":3: workers: 300 is out of range: 0 to 256");
	unlink(path);

	/* A short buffer truncates the message but never overflows. */
	assert_int_equal(weir_config_parse("t.yaml", "workers: x", 10, &c, err, 12), -1);
	assert_string_equal(err, "t.yaml:1: w");
}

static void test_addr(void **state)
{
	static const struct {
		const char *in;
		bool listen;
		const char *out;	/* canonical text, or the error */
		int family;
	} cases[] = {
		{ "127.0.0.1:80", false, "127.0.0.1:80", AF_INET },
		{ "10.1.2.3:65535", false, "10.1.2.3:65535", AF_INET },
		{ "[::1]:9000", false, "[::1]:9000", AF_INET6 },
		{ "[2001:DB8:0:0::1]:443", false, "[2001:db8::1]:443", AF_INET6 },
		{ "[::]:8080", true, "[::]:8080", AF_INET6 },
		{ "*:8080", true, "0.0.0.0:8080", AF_INET },
		{ "8080", true, "0.0.0.0:8080", AF_INET },
		{ "0.0.0.0:80", true, "0.0.0.0:80", AF_INET },
		{ "8080", false, "'8080': expected IP:PORT or [IPv6]:PORT", 0 },
		{ "*:80", false, "'*:80': '*' is only for listeners", 0 },
		{ "0.0.0.0:80", false, "'0.0.0.0:80': an upstream needs a specific address", 0 },
		{ "[::]:80", false, "'[::]:80': an upstream needs a specific address", 0 },
		{ "localhost:80", false, "'localhost:80': not an IP address (DNS names are not resolved)", 0 },
		{ "1.2.3:80", false, "'1.2.3:80': not an IPv4 address", 0 },
		{ "1.2.3.4:0", false, "'1.2.3.4:0': the port must be 1 to 65535", 0 },
		{ "1.2.3.4:65536", false, "'1.2.3.4:65536': the port must be 1 to 65535", 0 },
		{ "1.2.3.4:", false, "'1.2.3.4:': the port must be 1 to 65535", 0 },
		{ "1.2.3.4:8o", false, "'1.2.3.4:8o': the port must be 1 to 65535", 0 },
		{ "1.2.3.4", true, "'1.2.3.4': expected IP:PORT, [IPv6]:PORT, *:PORT or PORT", 0 },
		{ "::1:80", false, "'::1:80': write an IPv6 address in brackets: [ADDR]:PORT", 0 },
		{ "[::1:80", false, "'[::1:80': missing ']'", 0 },
		{ "[::1]80", false, "'[::1]80': expected IP:PORT or [IPv6]:PORT", 0 },
		{ "[1.2.3.4]:80", false, "'[1.2.3.4]:80': not an IPv6 address", 0 },
		{ "[]:80", false, "'[]:80': not an IPv6 address", 0 },
		{ ":80", false, "':80': not an IPv4 address", 0 },
		{ "", true, "'': expected IP:PORT, [IPv6]:PORT, *:PORT or PORT", 0 },
	};
	struct weir_addr a;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = weir_addr_parse(cases[i].in, cases[i].listen, &a, err, sizeof(err));

		if (cases[i].family) {
			if (rc)
				print_message("# %s: %s\n", cases[i].in, err);
			assert_int_equal(rc, 0);
			assert_string_equal(a.text, cases[i].out);
			assert_int_equal(a.sa.ss_family, cases[i].family);
			assert_int_equal(a.len, cases[i].family == AF_INET ?
					 sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		} else {
			assert_int_equal(rc, -1);
			assert_string_equal(err, cases[i].out);
		}
	}
	assert_int_equal(weir_addr_parse("192.0.2.7:8080", false, &a, err, sizeof(err)), 0);
	assert_int_equal(((struct sockaddr_in *)&a.sa)->sin_addr.s_addr, htonl(0xc0000207));
	assert_int_equal(ntohs(((struct sockaddr_in *)&a.sa)->sin_port), 8080);
}

/* Durations and sizes, through the fields that accept 0. */
static void test_units(void **state)
{
	static const struct { const char *in; uint64_t ms; } durs[] = {
		{ "0", 0 }, { "0s", 0 }, { "1ms", 1 }, { "500ms", 500 }, { "10s", 10000 },
		{ "5m", 300000 }, { "1h", 3600000 }, { "24h", 86400000 }, { "1440m", 86400000 },
	};
	static const struct { const char *in; uint64_t bytes; } sizes[] = {
		{ "0", 0 }, { "1", 1 }, { "16k", 16384 }, { "16K", 16384 }, { "2m", 2 << 20 },
		{ "3M", 3 << 20 }, { "1g", 1ull << 30 }, { "1024g", 1ull << 40 },
	};
	struct weir_config *c;
	char yaml[128];

	for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		snprintf(yaml, sizeof(yaml), "listeners: [80]\ntimeouts: {keepalive: %s}\n",
			 durs[i].in);
		c = parse_ok(yaml);
		assert_int_equal(c->keepalive_timeout_ms, durs[i].ms);
		weir_config_free(c);
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(yaml, sizeof(yaml), "listeners: [80]\nlimits: {max_body: %s}\n",
			 sizes[i].in);
		c = parse_ok(yaml);
		assert_true(c->max_body == sizes[i].bytes);
		weir_config_free(c);
	}
	c = parse_ok("listeners: [80]\nlimits: {max_header_size: 1024, max_uri: 1m}\n");
	assert_int_equal(c->max_header_size, 1024);
	assert_int_equal(c->max_uri, 1 << 20);
	weir_config_free(c);
}

/* Anchors and aliases are resolved by libyaml; both uses are read. */
static void test_aliases(void **state)
{
	struct weir_config *c = parse_ok(
		"listeners: [80]\n"
		"upstreams:\n"
		"  a: &up {nodes: [127.0.0.1:1], retries: 5}\n"
		"  b: *up\n"
		"routes:\n"
		"  - {path: /a, upstream: a, timeouts: &t {read: 3s}, plugins: &p {x: {k: v}}}\n"
		"  - {path: /b, upstream: b, timeouts: *t, plugins: *p}\n");

	assert_int_equal(c->upstreams[1].retries, 5);
	assert_string_equal(c->upstreams[1].nodes[0].addr.text, "127.0.0.1:1");
	assert_int_equal(c->routes[1].read_timeout_ms, 3000);
	assert_string_equal(json_string_value(json_object_get(c->routes[1].plugins[0].conf, "k")),
			    "v");
	weir_config_free(c);
}

/* libyaml lets an alias name its own enclosing node; only plugin settings
 * are open-ended enough to follow it, and they stop at a depth. */
static void test_recursive_alias(void **state)
{
	static const char yaml[] = "listeners: [80]\nplugins:\n  p: &a {x: *a}\n";
	struct weir_config *c = (void *)1;
	char err[1024];

	assert_int_equal(weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), -1);
	assert_null(c);
	assert_true(!strncmp(err, "t.yaml:3: plugins.p.x.x.x.", 26));
	assert_non_null(strstr(err, ": nested more than 64 deep"));
}

static void test_quick(void **state)
{
	struct weir_config *c;
	char err[256];

	assert_int_equal(weir_config_quick("127.0.0.1:8080", "127.0.0.1:9080", 3, &c,
					   err, sizeof(err)), 0);
	assert_int_equal(c->workers, 3);
	assert_int_equal(c->n_listeners, 1);
	assert_string_equal(c->listeners[0].addr.text, "127.0.0.1:8080");
	assert_int_equal(c->listeners[0].backlog, 4096);
	assert_int_equal(c->n_upstreams, 1);
	assert_string_equal(c->upstreams[0].name, "default");
	assert_int_equal(c->upstreams[0].n_nodes, 1);
	assert_string_equal(c->upstreams[0].nodes[0].addr.text, "127.0.0.1:9080");
	assert_int_equal(c->upstreams[0].nodes[0].weight, 1);
	assert_int_equal(c->upstreams[0].connect_timeout_ms, 5000);
	assert_int_equal(c->n_routes, 1);
	assert_string_equal(c->routes[0].id, "default");
	assert_int_equal(c->routes[0].n_paths, 1);
	assert_string_equal(c->routes[0].paths[0], "/*");
	assert_string_equal(c->routes[0].upstream, "default");
	assert_int_equal(c->max_header_size, 16384);
	assert_int_equal(c->log_format, WEIR_LOG_OFF);
	weir_config_free(c);

	assert_int_equal(weir_config_quick("8080", "[::1]:80", 0, &c, err, sizeof(err)), 0);
	assert_string_equal(c->listeners[0].addr.text, "0.0.0.0:8080");
	assert_string_equal(c->upstreams[0].nodes[0].addr.text, "[::1]:80");
	weir_config_free(c);

	assert_int_equal(weir_config_quick("8080", "example.com:80", 0, &c, err, sizeof(err)), -1);
	assert_null(c);
	assert_string_equal(err, "upstream address: 'example.com:80': not an IP address "
			    "(DNS names are not resolved)");
	assert_int_equal(weir_config_quick("1.2.3.4", "1.2.3.4:80", 0, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "listen address: '1.2.3.4': expected IP:PORT, [IPv6]:PORT, "
			    "*:PORT or PORT");
	assert_int_equal(weir_config_quick("80", "1.2.3.4:80", 257, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "workers: 257 is out of range: 0 to 256");
}

/* Sinks: every type with its defaults and its own settings; tracing. */
static void test_log_sinks(void **state)
{
	struct weir_config *c = parse_ok(
		"listeners: [8080]\n"
		"access_log:\n"
		"  format: json\n"
		"  sinks:\n"
		"    - {type: file, path: /var/log/weir.log}\n"
		"    - {type: syslog, address: 127.0.0.1:514}\n"
		"    - {type: syslog, address: '[::1]:601', protocol: tcp, facility: local0,"
		" tag: edge-1, buffer_size: 64k}\n"
		"    - {type: syslog, address: /dev/log, protocol: unix, facility: daemon}\n"
		"    - {type: http, url: 'http://10.0.0.5:9200/logs/_bulk'}\n"
		"    - type: http\n"
		"      url: http://10.0.0.6\n"
		"      batch_size: 500\n"
		"      flush_interval: 250ms\n"
		"      timeout: 2s\n"
		"      headers: {Authorization: Bearer x, X-Scope: edge}\n"
		"    - {type: http, url: 'https://10.0.0.7/in'}\n"
		"    - {type: http, url: 'https://10.0.0.8:8443/', tls: {ca: /ca.pem, sni: Logs.Example}}\n"
		"tracing: {mode: off, sample_percent: 5}\n");
	const struct weir_log_sink_conf *k = c->log_sinks;

	assert_null(c->log_path);
	assert_int_equal(c->n_log_sinks, 8);
	assert_int_equal(k[0].type, WEIR_SINK_FILE);
	assert_string_equal(k[0].path, "/var/log/weir.log");
	assert_string_equal(k[0].name, "/var/log/weir.log");
	assert_int_equal(k[0].buffer_size, 4 << 20);
	assert_int_equal(k[1].type, WEIR_SINK_SYSLOG);
	assert_int_equal(k[1].protocol, WEIR_SYSLOG_UDP);
	assert_int_equal(k[1].facility, 23);		/* local7 */
	assert_string_equal(k[1].tag, "weir");
	assert_string_equal(k[1].name, "udp://127.0.0.1:514");
	assert_int_equal(k[2].protocol, WEIR_SYSLOG_TCP);
	assert_int_equal(k[2].facility, 16);		/* local0 */
	assert_string_equal(k[2].tag, "edge-1");
	assert_int_equal(k[2].buffer_size, 64 << 10);
	assert_string_equal(k[2].name, "tcp://[::1]:601");
	assert_int_equal(k[3].protocol, WEIR_SYSLOG_UNIX);
	assert_int_equal(k[3].facility, 3);
	assert_string_equal(k[3].name, "unix:///dev/log");
	assert_int_equal(k[4].type, WEIR_SINK_HTTP);
	assert_string_equal(k[4].addr.text, "10.0.0.5:9200");
	assert_string_equal(k[4].url_host, "10.0.0.5:9200");
	assert_string_equal(k[4].url_path, "/logs/_bulk");
	assert_int_equal(k[4].batch_size, 1000);
	assert_int_equal(k[4].flush_interval_ms, 1000);
	assert_int_equal(k[4].timeout_ms, 5000);
	assert_int_equal(k[4].n_headers, 0);
	assert_string_equal(k[5].addr.text, "10.0.0.6:80");
	assert_string_equal(k[5].url_host, "10.0.0.6");
	assert_string_equal(k[5].url_path, "/");
	assert_int_equal(k[5].batch_size, 500);
	assert_int_equal(k[5].flush_interval_ms, 250);
	assert_int_equal(k[5].timeout_ms, 2000);
	assert_int_equal(k[5].n_headers, 2);
	assert_string_equal(k[5].headers[0].name, "Authorization");
	assert_string_equal(k[5].headers[0].value, "Bearer x");
	assert_false(k[5].tls.enabled);
	assert_true(k[6].tls.enabled);		/* https: verified, system CAs, the IP */
	assert_true(k[6].tls.verify);
	assert_null(k[6].tls.ca);
	assert_null(k[6].tls.sni);
	assert_string_equal(k[6].addr.text, "10.0.0.7:443");
	assert_string_equal(k[6].url_host, "10.0.0.7");
	assert_true(k[7].tls.enabled && k[7].tls.verify);
	assert_string_equal(k[7].tls.ca, "/ca.pem");
	assert_string_equal(k[7].tls.sni, "logs.example");
	assert_string_equal(k[7].addr.text, "10.0.0.8:8443");
	assert_int_equal(c->trace, 0);
	assert_int_equal(c->trace_sample_percent, 5);
	weir_config_free(c);

	/* Tracing is on by default, every new trace sampled. */
	c = parse_ok("listeners: [8080]\n");
	assert_int_equal(c->trace, 1);
	assert_int_equal(c->trace_sample_percent, 100);
	assert_int_equal(c->n_log_sinks, 0);
	weir_config_free(c);
}

/* ---- one case per validation error ------------------------------------ */

struct bad_case {
	const char *name;
	const char *yaml;
	const char *err;
};

/* Most cases start with a valid listener (line 1) and upstream (line 2). */
#define L "listeners: [8080]\n"
#define U "upstreams: {u: {nodes: [127.0.0.1:9000]}}\n"
#define R(x) L U "routes:\n  - " x "\n"		/* the route is on line 4 */

static const struct bad_case bad_cases[] = {
	/* the document */
	{ "syntax_error", L "workers: [1\n",
	  "t.yaml:3: syntax: did not find expected ',' or ']' (while parsing a flow sequence at line 2)" },
	{ "syntax_tab", L "limits:\n\tmax_uri: 1k\n",
	  "t.yaml:3: syntax: found character that cannot start any token (while scanning for the next token at line 3)" },
	{ "bad_utf8", L "\nworkers: \xff\n", "t.yaml:3: syntax: invalid leading UTF-8 octet" },
	{ "undefined_alias", L "workers: *w\n",
	  "t.yaml:2: syntax: found undefined alias" },
	{ "two_documents", L "---\nworkers: 1\n",
	  "t.yaml:3: document: only one YAML document is allowed" },
	{ "empty_document", "# nothing\n", "t.yaml:1: document: the configuration is empty" },
	{ "root_not_mapping", "- listen: 80\n",
	  "t.yaml:1: document: expected a mapping at the top level" },
	{ "no_listeners", U, "t.yaml:1: listeners: at least one listener is required" },
	{ "empty_listeners", U "listeners: []\n",
	  "t.yaml:2: listeners: at least one listener is required" },
	{ "non_string_key", L "{a: 1}: 2\n", "t.yaml:2: : keys must be strings" },
	{ "nul_byte", L "access_log: {path: \"a\\0b\"}\n",
	  "t.yaml:2: access_log.path: contains a NUL byte" },
	{ "alias_bomb",
	  L "plugins:\n  p:\n"
	  "    a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	  "    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	  "    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	  "    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	  "    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	  "    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	  "    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
	  "t.yaml:4: plugins.p.f[7][8][9][1][1]: too many nodes once aliases are expanded" },

	/* keys */
	{ "unknown_top", L "wrkers: 2\n", "t.yaml:2: wrkers: unknown field (did you mean 'workers'?)" },
	{ "unknown_route", R("pth: /x"), "t.yaml:4: routes[0].pth: unknown field (did you mean 'path'?)" },
	{ "unknown_nested", L "limits: {max_uris: 1k}\n",
	  "t.yaml:2: limits.max_uris: unknown field (did you mean 'max_uri'?)" },
	{ "unknown_far", L "zzzzzz: 1\n", "t.yaml:2: zzzzzz: unknown field" },
	{ "unknown_rewrite", R("{path: /x, upstream: u, rewrite: {strip: /x}}"),
	  "t.yaml:4: routes[0].rewrite.strip: unknown field" },
	{ "duplicate_key", L "workers: 1\nworkers: 2\n",
	  "t.yaml:3: workers: duplicate key (first at line 2)" },
	{ "duplicate_upstream", L "upstreams:\n  a: {nodes: [127.0.0.1:1]}\n  a: {nodes: [127.0.0.1:2]}\n",
	  "t.yaml:4: upstreams.a: duplicate key (first at line 3)" },
	{ "duplicate_in_plugin", L "plugins:\n  p:\n    k: 1\n    k: 2\n",
	  "t.yaml:5: plugins.p.k: duplicate key (first at line 4)" },
	{ "merge_key", L "upstreams:\n  a: &a {nodes: [127.0.0.1:1]}\n  b:\n    <<: *a\n",
	  "t.yaml:5: upstreams.b.<<: merge keys are not supported; alias the whole value" },
	{ "duplicate_key_quoted", L "upstreams:\n  a: {nodes: [127.0.0.1:1]}\n  \"a\": {nodes: [127.0.0.1:2]}\n",
	  "t.yaml:4: upstreams.a: duplicate key (first at line 3)" },
	{ "required_listen", "listeners:\n  - backlog: 10\n",
	  "t.yaml:2: listeners[0].listen: required field missing" },

	/* types */
	{ "type_mapping", L "limits: 5\n", "t.yaml:2: limits: expected a mapping" },
	{ "type_integer_list", L "workers: [1]\n", "t.yaml:2: workers: expected an integer, not a list" },
	{ "type_integer_text", L "workers: two\n", "t.yaml:2: workers: expected an integer" },
	{ "type_integer_float", L "workers: 1.5\n", "t.yaml:2: workers: expected an integer" },
	{ "type_string", R("{path: {a: 1}, upstream: u}"),
	  "t.yaml:4: routes[0].path: expected a string" },
	{ "type_string_map", R("{path: /, upstream: {a: 1}}"),
	  "t.yaml:4: routes[0].upstream: expected a string, not a mapping" },
	{ "type_list", "listeners: 8080\n", "t.yaml:1: listeners: expected a list" },
	{ "type_routes", L "routes: {a: 1}\n", "t.yaml:2: routes: expected a list" },
	{ "type_route", L "routes: [x]\n", "t.yaml:2: routes[0]: expected a mapping" },
	{ "type_upstreams", L "upstreams: [a]\n",
	  "t.yaml:2: upstreams: expected a mapping of names to upstreams" },
	{ "type_nodes", L "upstreams: {a: {nodes: 127.0.0.1:1}}\n",
	  "t.yaml:2: upstreams.a.nodes: expected a list of nodes" },
	{ "type_weight", L "upstreams: {a: {nodes: [{addr: 127.0.0.1:1, weight: heavy}]}}\n",
	  "t.yaml:2: upstreams.a.nodes[0].weight: expected an integer" },
	{ "type_enum", L "upstreams: {a: {nodes: [127.0.0.1:1], balance: random}}\n",
	  "t.yaml:2: upstreams.a.balance: 'random' is not one of: roundrobin, leastconn, chash" },
	{ "type_log_format", L "access_log: {format: xml}\n",
	  "t.yaml:2: access_log.format: 'xml' is not one of: off, json, combined" },
	{ "steering_unknown", L "steering: ebpf\n",
	  "t.yaml:2: steering: 'ebpf' is not one of: bpf, kernel" },
	{ "steering_case", L "steering: BPF\n",
	  "t.yaml:2: steering: 'BPF' is not one of: bpf, kernel" },
	{ "steering_empty", L "steering:\n",
	  "t.yaml:2: steering: '' is not one of: bpf, kernel" },
	{ "steering_list", L "steering: [bpf, kernel]\n",
	  "t.yaml:2: steering: expected a string, not a list" },
	{ "type_plugins", L "plugins: [a]\n",
	  "t.yaml:2: plugins: expected a mapping of plugin names to settings" },
	{ "type_plugin_settings", L "plugins: {cors: 1}\n",
	  "t.yaml:2: plugins.cors: plugin settings must be a mapping" },
	{ "type_headers", R("{path: /, upstream: u, headers: [x-a]}"),
	  "t.yaml:4: routes[0].headers: expected a mapping of header names to values" },
	{ "type_hosts_scalar", R("{hosts: a.com, path: /, upstream: u}"),
	  "t.yaml:4: routes[0].hosts: expected a list" },
	{ "type_host_list", R("{host: [a.com], path: /, upstream: u}"),
	  "t.yaml:4: routes[0].host: expected a string" },
	{ "empty_string", R("{path: /, upstream: ''}"), "t.yaml:4: routes[0].upstream: must not be empty" },
	{ "null_string", R("{path: /, upstream: ~}"), "t.yaml:4: routes[0].upstream: must not be empty" },

	/* ranges */
	{ "workers_max", L "workers: 257\n", "t.yaml:2: workers: 257 is out of range: 0 to 256" },
	{ "workers_negative", L "workers: -1\n", "t.yaml:2: workers: -1 is out of range: 0 to 256" },
	{ "weight_max",
	  L "upstreams:\n  api:\n    nodes:\n      - 127.0.0.1:1\n      - {addr: 127.0.0.1:2, weight: 1000001}\n",
	  "t.yaml:6: upstreams.api.nodes[1].weight: 1000001 is out of range: 0 to 1000000" },
	{ "max_headers_min", L "limits: {max_headers: 0}\n",
	  "t.yaml:2: limits.max_headers: 0 is out of range: 1 to 1000" },
	{ "max_headers_max", L "limits: {max_headers: 1001}\n",
	  "t.yaml:2: limits.max_headers: 1001 is out of range: 1 to 1000" },
	{ "max_header_size_min", L "limits: {max_header_size: 1023}\n",
	  "t.yaml:2: limits.max_header_size: 1023 is out of range: 1k to 1m" },
	{ "max_header_size_max", L "limits: {max_header_size: 2m}\n",
	  "t.yaml:2: limits.max_header_size: 2m is out of range: 1k to 1m" },
	{ "max_uri_min", L "limits:\n  max_uri: 255\n",
	  "t.yaml:3: limits.max_uri: 255 is out of range: 256 to 1m" },
	{ "max_uri_max", L "limits: {max_uri: 1025k}\n",
	  "t.yaml:2: limits.max_uri: 1025k is out of range: 256 to 1m" },
	{ "max_body_overflow", L "limits: {max_body: 99999999999999999999g}\n",
	  "t.yaml:2: limits.max_body: 99999999999999999999g is out of range: 0 to 1024g" },
	{ "max_body_max", L "limits: {max_body: 1025g}\n",
	  "t.yaml:2: limits.max_body: 1025g is out of range: 0 to 1024g" },
	{ "backlog_min", "listeners: [{listen: 80, backlog: 0}]\n",
	  "t.yaml:1: listeners[0].backlog: 0 is out of range: 1 to 65535" },
	{ "backlog_max", "listeners: [{listen: 80, backlog: 65536}]\n",
	  "t.yaml:1: listeners[0].backlog: 65536 is out of range: 1 to 65535" },
	{ "keepalive_size", L "upstreams: {u: {nodes: [127.0.0.1:1], keepalive: {size: 10001}}}\n",
	  "t.yaml:2: upstreams.u.keepalive.size: 10001 is out of range: 0 to 10000" },
	{ "retries", L "upstreams: {u: {nodes: [127.0.0.1:1], retries: 17}}\n",
	  "t.yaml:2: upstreams.u.retries: 17 is out of range: 0 to 16" },
	{ "max_connections_min", L "max_connections: 0\n",
	  "t.yaml:2: max_connections: 0 is out of range: 1 to 1000000" },
	{ "max_connections_max", L "max_connections: 1000001\n",
	  "t.yaml:2: max_connections: 1000001 is out of range: 1 to 1000000" },
	{ "priority", R("{path: /, upstream: u, priority: 2147483648}"),
	  "t.yaml:4: routes[0].priority: 2147483648 is out of range: -2147483648 to 2147483647" },
	{ "duration_max", L "timeouts: {send: 25h}\n",
	  "t.yaml:2: timeouts.send: 25h is out of range: 1ms to 24h" },
	{ "duration_max_ms", L "upstreams: {u: {nodes: [127.0.0.1:1], retry_timeout: 86400001ms}}\n",
	  "t.yaml:2: upstreams.u.retry_timeout: 86400001ms is out of range: 0 to 24h" },
	{ "duration_zero", L "timeouts: {client_header: 0}\n",
	  "t.yaml:2: timeouts.client_header: 0 is out of range: 1ms to 24h" },
	{ "duration_no_unit", L "timeouts: {send: 10}\n",
	  "t.yaml:2: timeouts.send: a duration needs a unit: ms, s, m or h" },
	{ "duration_bad_unit", L "timeouts: {send: 10sec}\n",
	  "t.yaml:2: timeouts.send: expected a duration such as 500ms, 10s, 5m or 1h" },
	{ "duration_negative", L "timeouts: {send: -1s}\n",
	  "t.yaml:2: timeouts.send: expected a duration such as 500ms, 10s, 5m or 1h" },
	{ "duration_huge", L "timeouts: {send: 99999999999999999999h}\n",
	  "t.yaml:2: timeouts.send: 99999999999999999999h is out of range: 1ms to 24h" },
	{ "size_bad", L "limits: {max_body: 1t}\n",
	  "t.yaml:2: limits.max_body: expected a size: bytes, or a number with k, m or g" },
	{ "size_bad_suffix", L "limits: {max_body: 1kb}\n",
	  "t.yaml:2: limits.max_body: expected a size: bytes, or a number with k, m or g" },

	/* addresses */
	{ "listen_dns", "listeners: [{listen: example.com:80}]\n",
	  "t.yaml:1: listeners[0].listen: 'example.com:80': not an IP address (DNS names are not resolved)" },
	{ "listen_port", "listeners:\n  - 0.0.0.0:0\n",
	  "t.yaml:2: listeners[0]: '0.0.0.0:0': the port must be 1 to 65535" },
	{ "listen_ipv6_unquoted", "listeners:\n  - listen: [::1]:80\n",
	  "t.yaml:2: syntax: did not find expected node content (while parsing a flow node at line 2)" },
	{ "listen_ipv6_list", "listeners:\n  - listen: [\"::1\"]\n",
	  "t.yaml:2: listeners[0].listen: expected an address; quote IPv6 ones: \"[::1]:80\"" },
	{ "node_port", L "upstreams: {u: {nodes: [127.0.0.1:70000]}}\n",
	  "t.yaml:2: upstreams.u.nodes[0]: '127.0.0.1:70000': the port must be 1 to 65535" },
	{ "node_wildcard", L "upstreams: {u: {nodes: ['*:80']}}\n",
	  "t.yaml:2: upstreams.u.nodes[0]: '*:80': '*' is only for listeners" },
	{ "node_dns", L "upstreams: {u: {nodes: [{addr: backend.local:80}]}}\n",
	  "t.yaml:2: upstreams.u.nodes[0].addr: 'backend.local:80': not an IP address (DNS names are not resolved)" },
	{ "node_no_addr", L "upstreams: {u: {nodes: [{weight: 2}]}}\n",
	  "t.yaml:2: upstreams.u.nodes[0].addr: required field missing" },
	{ "duplicate_listener", "listeners: [{listen: 8080}, \"*:8080\"]\n",
	  "t.yaml:1: listeners[1]: duplicate listener address 0.0.0.0:8080 (listeners[0])" },
	{ "duplicate_listener_map", "listeners:\n  - \"[::1]:80\"\n  - listen: \"[0::1]:80\"\n",
	  "t.yaml:3: listeners[1].listen: duplicate listener address [::1]:80 (listeners[0])" },
	{ "duplicate_node",
	  L "upstreams:\n  a:\n    nodes:\n      - 127.0.0.1:1\n      - {addr: 127.0.0.1:1, weight: 2}\n",
	  "t.yaml:6: upstreams.a.nodes[1].addr: duplicate node address 127.0.0.1:1 (nodes[0])" },

	/* upstreams */
	{ "upstream_no_nodes", L "upstreams:\n  a: {balance: leastconn}\n",
	  "t.yaml:3: upstreams.a.nodes: required field missing" },
	{ "upstream_empty_nodes", L "upstreams:\n  a:\n    nodes: []\n",
	  "t.yaml:4: upstreams.a.nodes: an upstream needs at least one node" },
	{ "upstream_name", L "upstreams:\n  a b: {nodes: [127.0.0.1:1]}\n",
	  "t.yaml:3: upstreams.a b: 'a b': use 1 to 64 letters, digits, '.', '_' or '-'" },
	{ "hash_on_without_key", L "upstreams:\n  a:\n    nodes: [127.0.0.1:1]\n    balance: chash\n    hash_on: cookie\n",
	  "t.yaml:6: upstreams.a.hash_key: required with hash_on: cookie" },
	{ "hash_on_not_chash", L "upstreams:\n  a:\n    nodes: [127.0.0.1:1]\n    hash_on: header\n    hash_key: x\n",
	  "t.yaml:5: upstreams.a.hash_on: only used with balance: chash" },
	{ "hash_key_with_ip", L "upstreams:\n  a:\n    nodes: [127.0.0.1:1]\n    balance: chash\n    hash_key: x\n",
	  "t.yaml:6: upstreams.a.hash_key: only used with hash_on: header, cookie or param" },

	/* active health checks */
#define HC(x) L "upstreams: {u: {nodes: [127.0.0.1:1], health_check: " x "}}\n"
	{ "hc_not_map", HC("yes"),
	  "t.yaml:2: upstreams.u.health_check: expected a mapping" },
	{ "hc_type", HC("{type: udp}"),
	  "t.yaml:2: upstreams.u.health_check.type: 'udp' is not one of: http, tcp" },
	{ "hc_unknown", HC("{intervall: 1s}"),
	  "t.yaml:2: upstreams.u.health_check.intervall: unknown field (did you mean 'interval'?)" },
	{ "hc_interval_min", HC("{interval: 50ms}"),
	  "t.yaml:2: upstreams.u.health_check.interval: 50ms is out of range: 100ms to 24h" },
	{ "hc_interval_unit", HC("{interval: 2}"),
	  "t.yaml:2: upstreams.u.health_check.interval: a duration needs a unit: ms, s, m or h" },
	{ "hc_timeout_zero", HC("{timeout: 0}"),
	  "t.yaml:2: upstreams.u.health_check.timeout: 0 is out of range: 1ms to 24h" },
	{ "hc_timeout_above_interval", HC("{interval: 1s, timeout: 2s}"),
	  "t.yaml:2: upstreams.u.health_check.timeout: must not exceed interval (1000ms)" },
	{ "hc_timeout_above_default_interval", HC("{timeout: 6s}"),
	  "t.yaml:2: upstreams.u.health_check.timeout: must not exceed interval (5000ms)" },
	{ "hc_healthy_zero", HC("{healthy_threshold: 0}"),
	  "t.yaml:2: upstreams.u.health_check.healthy_threshold: 0 is out of range: 1 to 100" },
	{ "hc_unhealthy_max", HC("{unhealthy_threshold: 101}"),
	  "t.yaml:2: upstreams.u.health_check.unhealthy_threshold: 101 is out of range: 1 to 100" },
	{ "hc_threshold_text", HC("{unhealthy_threshold: three}"),
	  "t.yaml:2: upstreams.u.health_check.unhealthy_threshold: expected an integer" },
	{ "hc_path_slash", HC("{path: healthz}"),
	  "t.yaml:2: upstreams.u.health_check.path: 'healthz': expected a path starting with '/', without spaces or control characters" },
	{ "hc_path_space", HC("{path: '/a b'}"),
	  "t.yaml:2: upstreams.u.health_check.path: '/a b': expected a path starting with '/', without spaces or control characters" },
	{ "hc_path_empty", HC("{path: ''}"),
	  "t.yaml:2: upstreams.u.health_check.path: must not be empty" },
	{ "hc_host", HC("{host: 'a b'}"),
	  "t.yaml:2: upstreams.u.health_check.host: 'a b': expected a host name, without spaces, '/' or control characters" },
	{ "hc_tcp_path", HC("{type: tcp, path: /}"),
	  "t.yaml:2: upstreams.u.health_check.path: only used with type: http" },
	{ "hc_tcp_host", HC("{type: tcp, host: a}"),
	  "t.yaml:2: upstreams.u.health_check.host: only used with type: http" },
	{ "hc_tcp_expect", HC("{type: tcp, expect_status: 200}"),
	  "t.yaml:2: upstreams.u.health_check.expect_status: only used with type: http" },
	{ "hc_expect_empty", HC("{expect_status: []}"),
	  "t.yaml:2: upstreams.u.health_check.expect_status: must not be an empty list" },
	{ "hc_expect_word", HC("{expect_status: [200, ok]}"),
	  "t.yaml:2: upstreams.u.health_check.expect_status[1]: 'ok': expected a status such as 200 or a range such as 200-399" },
	{ "hc_expect_range_form", HC("{expect_status: 200..399}"),
	  "t.yaml:2: upstreams.u.health_check.expect_status: '200..399': expected a status such as 200 or a range such as 200-399" },
	{ "hc_expect_low", HC("{expect_status: 99}"),
	  "t.yaml:2: upstreams.u.health_check.expect_status: '99': statuses run from 100 to 599, a range low to high" },
	{ "hc_expect_high", HC("{expect_status: [200-600]}"),
	  "t.yaml:2: upstreams.u.health_check.expect_status[0]: '200-600': statuses run from 100 to 599, a range low to high" },
	{ "hc_expect_reversed", HC("{expect_status: 399-200}"),
	  "t.yaml:2: upstreams.u.health_check.expect_status: '399-200': statuses run from 100 to 599, a range low to high" },
	{ "hc_expect_sign", HC("{expect_status: +200}"),
	  "t.yaml:2: upstreams.u.health_check.expect_status: '+200': expected a status such as 200 or a range such as 200-399" },
	{ "hc_expect_spaces", HC("{expect_status: ' 200'}"),
	  "t.yaml:2: upstreams.u.health_check.expect_status: ' 200': expected a status such as 200 or a range such as 200-399" },
	{ "hc_expect_map", HC("{expect_status: {a: 1}}"),
	  "t.yaml:2: upstreams.u.health_check.expect_status: expected a string, not a mapping" },
	{ "hc_duplicate", L "upstreams:\n  u:\n    nodes: [127.0.0.1:1]\n    health_check: {}\n    health_check: {}\n",
	  "t.yaml:6: upstreams.u.health_check: duplicate key (first at line 5)" },
	{ "hc_line", L "upstreams:\n  u:\n    nodes: [127.0.0.1:1]\n    health_check:\n      type: tcp\n      interval: 1s\n      timeout: 1500ms\n",
	  "t.yaml:8: upstreams.u.health_check.timeout: must not exceed interval (1000ms)" },
#undef HC

	/* routes */
	{ "route_no_paths", R("{upstream: u}"),
	  "t.yaml:4: routes[0].paths: a route needs at least one path (path or paths)" },
	{ "route_empty_paths", R("{paths: [], upstream: u}"),
	  "t.yaml:4: routes[0].paths: must not be an empty list" },
	{ "route_path_slash", R("{path: users, upstream: u}"),
	  "t.yaml:4: routes[0].path: 'users' must start with '/'" },
	{ "route_paths_slash", L U "routes:\n  - upstream: u\n    paths:\n      - /a\n      - b\n",
	  "t.yaml:7: routes[0].paths[1]: 'b' must start with '/'" },
	{ "route_path_and_paths", R("{path: /a, paths: [/b], upstream: u}"),
	  "t.yaml:4: routes[0].paths: give path or paths, not both" },
	{ "route_unknown_upstream", L U "routes:\n  - path: /\n    upstream: api\n",
	  "t.yaml:5: routes[0].upstream: no upstream named 'api'" },
	{ "route_upstream_before", L "routes: [{path: /, upstream: v}]\n" U,
	  "t.yaml:2: routes[0].upstream: no upstream named 'v'" },
	{ "route_duplicate_id", L U "routes:\n  - {id: a, path: /a, upstream: u}\n  - {id: a, path: /b, upstream: u}\n",
	  "t.yaml:5: routes[1].id: duplicate route id 'a' (first at line 4)" },
	{ "route_duplicate_generated_id", L U "routes:\n  - {path: /a, upstream: u}\n  - {id: route-0, path: /b, upstream: u}\n",
	  "t.yaml:5: routes[1].id: duplicate route id 'route-0' (first at line 4)" },
	{ "route_bad_id", R("{id: a/b, path: /, upstream: u}"),
	  "t.yaml:4: routes[0].id: 'a/b': use 1 to 64 letters, digits, '.', '_' or '-'" },
	{ "route_empty_hosts", R("{hosts: [], path: /, upstream: u}"),
	  "t.yaml:4: routes[0].hosts: must not be an empty list" },
	{ "route_host_port", R("{hosts: [a.com, 'API.example.com:8080'], path: /, upstream: u}"),
	  "t.yaml:4: routes[0].hosts[1]: 'api.example.com:8080': a host is matched without its port" },
	{ "route_host_ipv6_port", R("{host: '[::1]:80', path: /, upstream: u}"),
	  "t.yaml:4: routes[0].host: '[::1]:80': a host is matched without its port" },
	{ "route_host_and_hosts", R("{host: a.com, hosts: [b.com], path: /, upstream: u}"),
	  "t.yaml:4: routes[0].hosts: give host or hosts, not both" },
	{ "route_unknown_method", L U "routes:\n  - path: /\n    upstream: u\n    methods: [get, FETCH]\n",
	  "t.yaml:6: routes[0].methods[1]: unknown method 'FETCH'" },
	{ "route_unknown_method_scalar", R("{path: /, upstream: u, methods: purge}"),
	  "t.yaml:4: routes[0].methods: unknown method 'PURGE'" },
	{ "route_empty_methods", R("{path: /, upstream: u, methods: []}"),
	  "t.yaml:4: routes[0].methods: must not be an empty list" },
	{ "route_header_name", R("{path: /, upstream: u, headers: {'x a': b}}"),
	  "t.yaml:4: routes[0].headers.x a: 'x a' is not a header name" },
	{ "route_header_twice", L U "routes:\n  - path: /\n    upstream: u\n    headers:\n      X-A: b\n      x-a: c\n",
	  "t.yaml:8: routes[0].headers.x-a: the same header as 'x-a'" },
	{ "route_header_empty_values", R("{path: /, upstream: u, headers: {x-a: []}}"),
	  "t.yaml:4: routes[0].headers.x-a: must not be an empty list" },
	{ "rewrite_both", L U "routes:\n  - path: /a\n    upstream: u\n    rewrite:\n      strip_prefix: /a\n      template: /b\n",
	  "t.yaml:8: routes[0].rewrite.template: give strip_prefix or template, not both" },
	{ "rewrite_empty_value", R("{path: /a, upstream: u, rewrite: {strip_prefix: ''}}"),
	  "t.yaml:4: routes[0].rewrite.strip_prefix: must not be empty" },
	{ "rewrite_empty_mapping", R("{path: /a, upstream: u, rewrite: {}}"),
	  "t.yaml:4: routes[0].rewrite: needs strip_prefix or template" },
	{ "rewrite_no_slash", R("{path: /a, upstream: u, rewrite: {template: v2/a}}"),
	  "t.yaml:4: routes[0].rewrite.template: 'v2/a' must start with '/'" },
	{ "template_unknown_param", L U "routes:\n  - paths: [/users/:id]\n    upstream: u\n    rewrite:\n      template: /v2/:user/x\n",
	  "t.yaml:7: routes[0].rewrite.template: :user is not a parameter of path '/users/:id'" },
	{ "template_param_one_path", L U "routes:\n  - paths: [/users/:id, /users/:idx/a, /me]\n    upstream: u\n    rewrite: {template: /v2/:id}\n",
	  "t.yaml:6: routes[0].rewrite.template: :id is not a parameter of path '/users/:idx/a'" },
	{ "route_plugin_name", R("{path: /, upstream: u, plugins: {'no way': {}}}"),
	  "t.yaml:4: routes[0].plugins.no way: 'no way': use 1 to 64 letters, digits, '.', '_' or '-'" },
	/* metrics */
	{ "metrics_not_mapping", L "metrics: 9145\n", "t.yaml:2: metrics: expected a mapping" },
	{ "metrics_no_listen", L "metrics: {path: /m}\n",
	  "t.yaml:2: metrics.listen: required field missing" },
	{ "metrics_bad_listen", L "metrics: {listen: localhost:9145}\n",
	  "t.yaml:2: metrics.listen: 'localhost:9145': not an IP address (DNS names are not resolved)" },
	{ "metrics_unknown_key", L "metrics: {listen: 9145, pth: /m}\n",
	  "t.yaml:2: metrics.pth: unknown field (did you mean 'path'?)" },
	{ "metrics_path_relative", L "metrics:\n  listen: 9145\n  path: metrics\n",
	  "t.yaml:4: metrics.path: expected a path starting with '/', without a query" },
	{ "metrics_path_query", L "metrics: {listen: 9145, path: '/m?x=1'}\n",
	  "t.yaml:2: metrics.path: expected a path starting with '/', without a query" },
	{ "metrics_pin_dir_relative", L "metrics:\n  listen: 9145\n  xdp_pin_dir: bpf/weir\n",
	  "t.yaml:4: metrics.xdp_pin_dir: expected an absolute path" },
	{ "metrics_is_listener", "listeners: [127.0.0.1:8080]\nmetrics:\n  listen: 127.0.0.1:8080\n",
	  "t.yaml:3: metrics.listen: 127.0.0.1:8080 is also listeners[0]" },
	{ "metrics_duplicate", L "metrics: {listen: 9145}\nmetrics: {listen: 9146}\n",
	  "t.yaml:3: metrics: duplicate key (first at line 2)" },
	/* access log sinks (the sink is on line 3) */
	{ "sinks_not_list", L "access_log:\n  sinks: {type: file}\n",
	  "t.yaml:3: access_log.sinks: expected a list of sinks" },
	{ "sinks_empty", L "access_log:\n  sinks: []\n",
	  "t.yaml:3: access_log.sinks: at least one sink (or no sinks: key)" },
	{ "sinks_and_path", L "access_log:\n  path: /tmp/a.log\n  sinks: [{type: file, path: /tmp/b}]\n",
	  "t.yaml:3: access_log.path: give path or sinks, not both" },
	{ "sink_no_type", L "access_log: {sinks: [{path: /tmp/a.log}]}\n",
	  "t.yaml:2: access_log.sinks[0].type: required field missing" },
	{ "sink_bad_type", L "access_log: {sinks: [{type: kafka}]}\n",
	  "t.yaml:2: access_log.sinks[0].type: 'kafka' is not one of: file, syslog, http" },
	{ "sink_unknown_key", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/', "
	  "bacth_size: 5}]}\n",
	  "t.yaml:2: access_log.sinks[0].bacth_size: unknown field (did you mean 'batch_size'?)" },
	{ "sink_file_no_path", L "access_log: {sinks: [{type: file}]}\n",
	  "t.yaml:2: access_log.sinks[0].path: required with type: file" },
	{ "sink_syslog_no_address", L "access_log: {sinks: [{type: syslog}]}\n",
	  "t.yaml:2: access_log.sinks[0].address: required with type: syslog" },
	{ "sink_http_no_url", L "access_log: {sinks: [{type: http}]}\n",
	  "t.yaml:2: access_log.sinks[0].url: required with type: http" },
	{ "sink_key_of_other_type", L "access_log: {sinks: [{type: file, path: /a, batch_size: 5}]}\n",
	  "t.yaml:2: access_log.sinks[0].batch_size: only used with type: http" },
	{ "sink_syslog_path", L "access_log: {sinks: [{type: syslog, address: 127.0.0.1:514, "
	  "path: /a}]}\n",
	  "t.yaml:2: access_log.sinks[0].path: only used with type: file" },
	{ "sink_http_tag", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/', tag: x}]}\n",
	  "t.yaml:2: access_log.sinks[0].tag: only used with type: syslog" },
	{ "sink_buffer_small", L "access_log: {sinks: [{type: file, path: /a, buffer_size: 512}]}\n",
	  "t.yaml:2: access_log.sinks[0].buffer_size: 512 is out of range: 1k to 1g" },
	{ "sink_buffer_large", L "access_log: {sinks: [{type: file, path: /a, buffer_size: 2g}]}\n",
	  "t.yaml:2: access_log.sinks[0].buffer_size: 2g is out of range: 1k to 1g" },
	{ "sink_syslog_dns", L "access_log: {sinks: [{type: syslog, address: 'logs.local:514'}]}\n",
	  "t.yaml:2: access_log.sinks[0].address: 'logs.local:514': not an IP address "
	  "(DNS names are not resolved)" },
	{ "sink_syslog_unix_relative", L "access_log: {sinks: [{type: syslog, address: dev/log, "
	  "protocol: unix}]}\n",
	  "t.yaml:2: access_log.sinks[0].address: 'dev/log': protocol unix needs an absolute socket "
	  "path (< 108 bytes)" },
	{ "sink_syslog_path_not_unix", L "access_log: {sinks: [{type: syslog, address: /dev/log}]}\n",
	  "t.yaml:2: access_log.sinks[0].address: '/dev/log': a socket path needs protocol: unix" },
	{ "sink_syslog_protocol", L "access_log: {sinks: [{type: syslog, address: 1.2.3.4:514, "
	  "protocol: tls}]}\n",
	  "t.yaml:2: access_log.sinks[0].protocol: 'tls' is not one of: udp, tcp, unix" },
	{ "sink_syslog_facility", L "access_log: {sinks: [{type: syslog, address: 1.2.3.4:514, "
	  "facility: local8}]}\n",
	  "t.yaml:2: access_log.sinks[0].facility: 'local8' is not one of: kern, user, mail, daemon, "
	  "auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, audit, alert, clock, local0, "
	  "local1, local2, local3, local4, local5, local6, local7" },
	{ "sink_syslog_tag_space", L "access_log: {sinks: [{type: syslog, address: 1.2.3.4:514, "
	  "tag: 'my app'}]}\n",
	  "t.yaml:2: access_log.sinks[0].tag: 'my app': 1 to 48 printable characters without spaces" },
	{ "sink_syslog_tag_long", L "access_log: {sinks: [{type: syslog, address: 1.2.3.4:514, "
	  "tag: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}]}\n",
	  "t.yaml:2: access_log.sinks[0].tag: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa': "
	  "1 to 48 printable characters without spaces" },
	{ "sink_http_tls_plain", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/x', "
	  "tls: {verify: false}}]}\n",
	  "t.yaml:2: access_log.sinks[0].tls: only used with an https:// url" },
	{ "sink_https_sni", L "access_log: {sinks: [{type: http, url: 'https://1.2.3.4/x', "
	  "tls: {sni: 'a b'}}]}\n",
	  "t.yaml:2: access_log.sinks[0].tls.sni: 'a b' is not a host name" },
	{ "sink_https_ca_no_verify", L "access_log: {sinks: [{type: http, url: 'https://1.2.3.4/x', "
	  "tls: {verify: false, ca: /x.pem}}]}\n",
	  "t.yaml:2: access_log.sinks[0].tls.ca: only used with verify: true" },
	{ "sink_https_key", L "access_log: {sinks: [{type: http, url: 'https://1.2.3.4/x', "
	  "tls: {cert: /x.pem}}]}\n",
	  "t.yaml:2: access_log.sinks[0].tls.cert: unknown field" },
	{ "sink_http_scheme", L "access_log: {sinks: [{type: http, url: '1.2.3.4:80/x'}]}\n",
	  "t.yaml:2: access_log.sinks[0].url: '1.2.3.4:80/x': expected http://IP:PORT/path (or https://)" },
	{ "sink_http_no_host", L "access_log: {sinks: [{type: http, url: 'http:///x'}]}\n",
	  "t.yaml:2: access_log.sinks[0].url: 'http:///x': expected http://IP:PORT/path" },
	{ "sink_http_dns", L "access_log: {sinks: [{type: http, url: 'http://collector:9200/'}]}\n",
	  "t.yaml:2: access_log.sinks[0].url: 'collector:9200': not an IP address "
	  "(DNS names are not resolved)" },
	{ "sink_http_query", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/x?a=1'}]}\n",
	  "t.yaml:2: access_log.sinks[0].url: 'http://1.2.3.4/x?a=1': no spaces, control characters, "
	  "query or fragment" },
	{ "sink_http_batch_zero", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/', "
	  "batch_size: 0}]}\n",
	  "t.yaml:2: access_log.sinks[0].batch_size: 0 is out of range: 1 to 100000" },
	{ "sink_http_flush_small", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/', "
	  "flush_interval: 1ms}]}\n",
	  "t.yaml:2: access_log.sinks[0].flush_interval: 1ms is out of range: 10ms to 1h" },
	{ "sink_http_flush_unit", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/', "
	  "flush_interval: 5}]}\n",
	  "t.yaml:2: access_log.sinks[0].flush_interval: a duration needs a unit: ms, s, m or h" },
	{ "sink_http_timeout_large", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/', "
	  "timeout: 1h}]}\n",
	  "t.yaml:2: access_log.sinks[0].timeout: 1h is out of range: 10ms to 10m" },
	{ "sink_http_headers_list", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/', "
	  "headers: [a]}]}\n",
	  "t.yaml:2: access_log.sinks[0].headers: expected a mapping of header names to values" },
	{ "sink_http_header_name", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/', "
	  "headers: {'a b': x}}]}\n",
	  "t.yaml:2: access_log.sinks[0].headers.a b: 'a b' is not a header name" },
	{ "sink_http_header_managed", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/', "
	  "headers: {Content-Type: text/plain}}]}\n",
	  "t.yaml:2: access_log.sinks[0].headers.Content-Type: written by weir, not settable" },
	{ "sink_http_header_value", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/', "
	  "headers: {x-a: [1]}}]}\n",
	  "t.yaml:2: access_log.sinks[0].headers.x-a: expected a string value" },
	{ "sink_http_header_ctl", L "access_log: {sinks: [{type: http, url: 'http://1.2.3.4/', "
	  "headers: {x-a: \"a\\nb\"}}]}\n",
	  "t.yaml:2: access_log.sinks[0].headers.x-a: a header value may not hold control characters" },
	{ "sink_http_combined", L "access_log:\n  format: combined\n  sinks: [{type: http, "
	  "url: 'http://1.2.3.4/'}]\n",
	  "t.yaml:3: access_log.sinks[0].type: an http sink ships JSON lines: needs format: json" },
	{ "sink_duplicate", L "access_log:\n  sinks:\n    - {type: syslog, address: 1.2.3.4:514}\n"
	  "    - {type: syslog, address: '1.2.3.4:514', facility: user}\n",
	  "t.yaml:5: access_log.sinks[1]: the same sink as sinks[0] (udp://1.2.3.4:514)" },
	{ "tracing_mode", L "tracing: {mode: yes}\n",
	  "t.yaml:2: tracing.mode: 'yes' is not one of: off, on" },
	{ "tracing_sample", L "tracing: {sample_percent: 101}\n",
	  "t.yaml:2: tracing.sample_percent: 101 is out of range: 0 to 100" },
	/* admin */
	{ "admin_no_token", L "admin: {state: /s}\n",
	  "t.yaml:2: admin: exactly one of token and token_file is required" },
	{ "admin_two_tokens", L "admin: {token: a, token_file: /t, state: /s}\n",
	  "t.yaml:2: admin: exactly one of token and token_file is required" },
	{ "admin_no_state", L "admin: {token: a}\n", "t.yaml:2: admin.state: required field missing" },
	{ "admin_unknown", L "admin: {token: a, state: /s, tokn: b}\n",
	  "t.yaml:2: admin.tokn: unknown field (did you mean 'token'?)" },
	{ "admin_bad_listen", L "admin: {listen: localhost:9180, token: a, state: /s}\n",
	  "t.yaml:2: admin.listen: 'localhost:9180': not an IP address (DNS names are not resolved)" },
	{ "admin_is_listener", "listeners: [127.0.0.1:8080]\nadmin: {listen: 127.0.0.1:8080, token: a, state: /s}\n",
	  "t.yaml:2: admin.listen: 127.0.0.1:8080 is also listeners[0]" },
	{ "admin_is_metrics", L "metrics: {listen: 127.0.0.1:9180}\nadmin: {token: a, state: /s}\n",
	  "t.yaml:3: admin.listen: 127.0.0.1:9180 is also metrics.listen" },

	/* TLS on a listener: the key rules (files are read by the snapshot) */
#define TL(x) "listeners:\n  - listen: 8443\n    tls: {certificates: [{cert: c.pem, key: c.key}]" x "}\n"
	{ "certs_list", L "certificates: [a]\n",
	  "t.yaml:2: certificates: expected a mapping of ids to certificates" },
	{ "certs_bad_id", L "certificates: {'a b': {cert: c.pem, key: c.key}}\n",
	  "t.yaml:2: certificates.a b: 'a b': use 1 to 64 letters, digits, '.', '_' or '-'" },
	{ "certs_not_mapping", L "certificates: {a: c.pem}\n",
	  "t.yaml:2: certificates.a: expected a mapping: {cert: PEM or FILE, key: PEM or FILE, "
	  "snis: [NAME, ...]}" },
	{ "certs_no_key", L "certificates: {a: {cert: c.pem}}\n",
	  "t.yaml:2: certificates.a.key: required field missing" },
	{ "certs_unknown", L "certificates: {a: {cert: c.pem, key: c.key, sni: [a.test]}}\n",
	  "t.yaml:2: certificates.a.sni: unknown field (did you mean 'snis'?)" },
	{ "certs_bad_sni", L "certificates: {a: {cert: c.pem, key: c.key, snis: ['a.test:443']}}\n",
	  "t.yaml:2: certificates.a.snis[0]: 'a.test:443' is not a host name (or *.NAME)" },
	{ "certs_bad_wildcard", L "certificates: {a: {cert: c.pem, key: c.key, snis: ['a.*.test']}}\n",
	  "t.yaml:2: certificates.a.snis[0]: 'a.*.test' is not a host name (or *.NAME)" },
	{ "tls_empty_certificates", "listeners:\n  - listen: 8443\n    tls: {certificates: []}\n",
	  "t.yaml:3: listeners[0].tls.certificates: expected a list of {cert: FILE, key: FILE}, "
	  "at least one" },
	{ "tls_certificate_not_mapping", "listeners:\n  - listen: 8443\n    tls: {certificates: [c.pem]}\n",
	  "t.yaml:3: listeners[0].tls.certificates[0]: expected a mapping: {cert: FILE, key: FILE}" },
	{ "tls_missing_key", "listeners:\n  - listen: 8443\n    tls:\n      certificates:\n"
	  "        - {cert: a.pem, key: a.key}\n        - {cert: b.pem}\n",
	  "t.yaml:6: listeners[0].tls.certificates[1].key: required field missing" },
	{ "tls_certificate_unknown_key", TL(", x: 1"),
	  "t.yaml:3: listeners[0].tls.x: unknown field" },
	{ "tls_bad_version", TL(", min_version: TLSv1.1"),
	  "t.yaml:3: listeners[0].tls.min_version: 'TLSv1.1' is not one of: TLSv1.2, TLSv1.3" },
	{ "tls_bad_max_version", TL(", max_version: SSLv3"),
	  "t.yaml:3: listeners[0].tls.max_version: 'SSLv3' is not one of: TLSv1.2, TLSv1.3" },
	{ "tls_versions_order", TL(", min_version: TLSv1.3, max_version: TLSv1.2"),
	  "t.yaml:3: listeners[0].tls.min_version: TLSv1.3 is above max_version TLSv1.2" },
	{ "tls_alpn_h2", TL(", alpn: [h2, http/1.1]"),
	  "t.yaml:3: listeners[0].tls.alpn[0]: 'h2': weir serves only http/1.1" },
	{ "tls_alpn_twice", TL(", alpn: [http/1.1, http/1.1]"),
	  "t.yaml:3: listeners[0].tls.alpn: 'http/1.1' is listed twice" },
	{ "tls_handshake_timeout_unit", TL(", handshake_timeout: 10"),
	  "t.yaml:3: listeners[0].tls.handshake_timeout: a duration needs a unit: ms, s, m or h" },
	{ "tls_tickets_not_bool", TL(", session_tickets: yes"),
	  "t.yaml:3: listeners[0].tls.session_tickets: 'yes': expected true or false" },
	{ "tls_rotate_too_short", TL(", ticket_key_rotate: 10ms"),
	  "t.yaml:3: listeners[0].tls.ticket_key_rotate: 10ms is out of range: 1s to 168h" },
	{ "tls_verify_client_unknown", TL(", verify_client: yes, client_ca: ca.pem"),
	  "t.yaml:3: listeners[0].tls.verify_client: 'yes' is not one of: off, optional, require" },
	{ "tls_verify_without_ca", TL(", verify_client: require"),
	  "t.yaml:3: listeners[0].tls.client_ca: required with verify_client: require" },
	{ "tls_ca_without_verify", TL(", client_ca: ca.pem"),
	  "t.yaml:3: listeners[0].tls.client_ca: only used with verify_client: optional or require" },
	{ "tls_id_header_without_verify", TL(", client_id_header: x-id"),
	  "t.yaml:3: listeners[0].tls.client_id_header: only used with verify_client: optional or "
	  "require" },
	{ "tls_id_header_not_token", TL(", verify_client: optional, client_ca: ca.pem, "
				       "client_id_header: 'x id'"),
	  "t.yaml:3: listeners[0].tls.client_id_header: 'x id' is not a header name" },
#undef TL
	/* TLS to an upstream */
	{ "upstream_tls_unknown", L "upstreams: {u: {nodes: [127.0.0.1:9000], tls: {verfy: true}}}\n",
	  "t.yaml:2: upstreams.u.tls.verfy: unknown field (did you mean 'verify'?)" },
	{ "upstream_tls_verify_not_bool", L "upstreams: {u: {nodes: [127.0.0.1:9000], tls: {verify: no}}}\n",
	  "t.yaml:2: upstreams.u.tls.verify: 'no': expected true or false" },
	{ "upstream_tls_ca_without_verify",
	  L "upstreams: {u: {nodes: [127.0.0.1:9000], tls: {verify: false, ca: ca.pem}}}\n",
	  "t.yaml:2: upstreams.u.tls.ca: only used with verify: true" },
	{ "upstream_tls_bad_sni", L "upstreams: {u: {nodes: [127.0.0.1:9000], tls: {sni: 'a b'}}}\n",
	  "t.yaml:2: upstreams.u.tls.sni: 'a b' is not a host name" },
};

static void test_bad(void **state)
{
	const struct bad_case *b = *state;
	struct weir_config *c = (void *)1;
	char err[1024] = "";

	assert_int_equal(weir_config_parse("t.yaml", b->yaml, strlen(b->yaml), &c, err,
					   sizeof(err)), -1);
	assert_null(c);
	assert_string_equal(err, b->err);
}

/* Files that parse, then fail to build: exact messages. */
#define MOCK(x) R("{path: /, plugins: {mock: " x "}}")
#define RW(x) R("{path: /, upstream: u, plugins: {rewrite: " x "}}")
/* Consumers: the credential checks of config.c. */
#define CONSUMERS(x) L U "consumers:\n  - " x "\n"	/* the consumer is on line 4 */
#define BCRYPT "'$2y$04$fEnkLkN.t1N1eT0bmyWHmOKw4F43TbPRrzVBAYTLiyMNImjFst8fK'"

static const struct bad_case consumer_cases[] = {
	{ "consumers_not_list", L U "consumers: {a: 1}\n",
	  "t.yaml:3: consumers: expected a list of consumers" },
	{ "consumer_not_map", CONSUMERS("alice"),
	  "t.yaml:4: consumers[0]: expected a mapping with username and plugins" },
	{ "consumer_no_username", CONSUMERS("{plugins: {key-auth: {key: k}}}"),
	  "t.yaml:4: consumers[0].username: required field missing" },
	{ "consumer_no_plugins", CONSUMERS("{username: a}"),
	  "t.yaml:4: consumers[0].plugins: required field missing" },
	{ "consumer_bad_name", CONSUMERS("{username: 'a/b', plugins: {key-auth: {key: k}}}"),
	  "t.yaml:4: consumers[0].username: 'a/b': use 1 to 64 letters, digits, '.', '_' or '-'" },
	{ "consumer_duplicate", CONSUMERS("{username: a, plugins: {key-auth: {key: k}}}\n"
					  "  - {username: a, plugins: {key-auth: {key: j}}}"),
	  "t.yaml:5: consumers[1].username: duplicate consumer 'a' (first at line 4)" },
	{ "consumer_unknown_field", CONSUMERS("{username: a, plugins: {}, group: x}"),
	  "t.yaml:4: consumers[0].group: unknown field" },
	{ "key_auth_dup_key", CONSUMERS("{username: a, plugins: {key-auth: {key: 12345}}}\n"
					"  - {username: b, plugins: {key-auth: {key: '12345'}}}"),
	  "t.yaml:5: consumers[1].plugins.key-auth.key: the same as consumer 'a' has" },
	{ "key_auth_empty_key", CONSUMERS("{username: a, plugins: {key-auth: {key: ''}}}"),
	  "t.yaml:4: consumers[0].plugins.key-auth.key: must not be empty" },
	{ "key_auth_key_list", CONSUMERS("{username: a, plugins: {key-auth: {key: [k]}}}"),
	  "t.yaml:4: consumers[0].plugins.key-auth.key: expected a string, not a list" },
	{ "basic_auth_plaintext", CONSUMERS("{username: a, plugins: {basic-auth: {username: a, "
					    "password_hash: secret}}}"),
	  "t.yaml:4: consumers[0].plugins.basic-auth.password_hash: not a password hash (weir "
	  "stores no plaintext): use $pbkdf2-sha256$, bcrypt ($2y$), yescrypt ($y$) or SHA-crypt ($6$)" },
	{ "basic_auth_no_hash", CONSUMERS("{username: a, plugins: {basic-auth: {username: a}}}"),
	  "t.yaml:4: consumers[0].plugins.basic-auth.password_hash: required field missing" },
	{ "basic_auth_dup_user", CONSUMERS("{username: a, plugins: {basic-auth: {username: u, "
					   "password_hash: " BCRYPT "}}}\n"
					   "  - {username: b, plugins: {basic-auth: {username: u, "
					   "password_hash: " BCRYPT "}}}"),
	  "t.yaml:5: consumers[1].plugins.basic-auth.username: the same as consumer 'a' has" },
	{ "jwt_auth_alg", CONSUMERS("{username: a, plugins: {jwt-auth: {key: a, algorithm: HS1}}}"),
	  "t.yaml:4: consumers[0].plugins.jwt-auth.algorithm: 'HS1' is not one of: HS256, HS384, "
	  "HS512, RS256, RS384, RS512, ES256, ES384, EdDSA" },
	{ "jwt_auth_no_secret", CONSUMERS("{username: a, plugins: {jwt-auth: {key: a}}}"),
	  "t.yaml:4: consumers[0].plugins.jwt-auth.secret: required with an HS* algorithm" },
	{ "jwt_auth_key_for_hs", CONSUMERS("{username: a, plugins: {jwt-auth: {key: a, secret: s, "
					   "public_key: x}}}"),
	  "t.yaml:4: consumers[0].plugins.jwt-auth.public_key: not used with an HS* algorithm (give secret)" },
	{ "jwt_auth_both_keys", CONSUMERS("{username: a, plugins: {jwt-auth: {key: a, algorithm: "
					  "EdDSA, public_key: x, jwks_file: y}}}"),
	  "t.yaml:4: consumers[0].plugins.jwt-auth.public_key: give one of public_key or jwks_file" },
	{ "jwt_auth_bad_pem", CONSUMERS("{username: a, plugins: {jwt-auth: {key: a, algorithm: "
					"EdDSA, public_key: x}}}"),
	  "t.yaml:4: consumers[0].plugins.jwt-auth.public_key: not a PEM public key (-----BEGIN "
	  "PUBLIC KEY-----)" },
	{ "jwt_auth_dup_key", CONSUMERS("{username: a, plugins: {jwt-auth: {key: k, secret: s}}}\n"
					"  - {username: b, plugins: {jwt-auth: {key: k, secret: s}}}"),
	  "t.yaml:5: consumers[1].plugins.jwt-auth.key: the same as consumer 'a' has" },
};

static void test_consumer_errors(void **state)
{
	for (size_t i = 0; i < sizeof(consumer_cases) / sizeof(consumer_cases[0]); i++) {
		const struct bad_case *b = &consumer_cases[i];
		struct weir_config *c = NULL;
		char err[512] = "";

		if (weir_config_parse("t.yaml", b->yaml, strlen(b->yaml), &c, err, sizeof(err)) == 0 ||
		    strcmp(err, b->err)) {
			print_message("# %s: got '%s'\n", b->name, err);
			weir_config_free(c);
			fail();
		}
	}
}

/* Credentials reach the config as strings, whatever YAML made of them. */
static void test_consumers(void **state)
{
	struct weir_config *c = parse_ok(CONSUMERS("{username: alice, plugins: {key-auth: {key: 12345}, "
						   "jwt-auth: {key: 7, secret: 99}}}"));

	assert_int_equal(c->n_consumers, 1);
	assert_string_equal(c->consumers[0].username, "alice");
	assert_int_equal(c->consumers[0].n_plugins, 2);
	assert_string_equal(c->consumers[0].plugins[0].name, "key-auth");
	assert_string_equal(json_string_value(json_object_get(c->consumers[0].plugins[0].conf, "key")),
			    "12345");
	assert_string_equal(json_string_value(json_object_get(c->consumers[0].plugins[1].conf,
							      "secret")), "99");
	assert_int_equal(c->consumers[0].line, 4);
	weir_config_free(c);
}

static const struct bad_case snap_cases[] = {
	{ "route_no_upstream", L U "routes:\n  - path: /\n    priority: 1\n",
	  "t.yaml:4: routes[0].upstream: required unless a plugin answers the route (mock)" },
	{ "route_no_upstream_headers_only", R("{path: /, plugins: {headers: {}}}"),
	  "t.yaml:4: routes[0].upstream: required unless a plugin answers the route (mock)" },
	{ "mock_unknown_field", MOCK("{stauts: 200}"),
	  "t.yaml:4: routes[0].plugins.mock: stauts: unknown field" },
	{ "mock_status_type", MOCK("{status: '200'}"),
	  "t.yaml:4: routes[0].plugins.mock: status: expected an integer from 200 to 599" },
	{ "mock_status_range", MOCK("{status: 99}"),
	  "t.yaml:4: routes[0].plugins.mock: status: expected an integer from 200 to 599" },
	{ "mock_headers_type", MOCK("{headers: [a]}"),
	  "t.yaml:4: routes[0].plugins.mock: headers: must be a map of header names to values" },
	{ "mock_header_value_type", MOCK("{headers: {x-a: 1}}"),
	  "t.yaml:4: routes[0].plugins.mock: headers.x-a: a header needs a token name and a "
	  "string value without control characters" },
	{ "mock_header_managed", MOCK("{headers: {Content-Length: '5'}}"),
	  "t.yaml:4: routes[0].plugins.mock: headers.Content-Length: written by weir, not settable" },
	{ "mock_body_type", MOCK("{body: {a: b}}"),
	  "t.yaml:4: routes[0].plugins.mock: body: must be a string" },
	{ "mock_body_and_file", MOCK("{body: x, body_file: /dev/null}"),
	  "t.yaml:4: routes[0].plugins.mock: body_file: give body or body_file, not both" },
	{ "mock_body_file_missing", MOCK("{body_file: /nonexistent/body.json}"),
	  "t.yaml:4: routes[0].plugins.mock: body_file: '/nonexistent/body.json': "
	  "No such file or directory" },
	{ "mock_body_on_204", MOCK("{status: 204, body: x}"),
	  "t.yaml:4: routes[0].plugins.mock: body: a 204 answer has no body" },
	{ "rewrite_unknown_field", RW("{request: {}}"),
	  "t.yaml:4: routes[0].plugins.rewrite: request: unknown field" },
	{ "rewrite_dir_type", RW("{request_headers: [x]}"),
	  "t.yaml:4: routes[0].plugins.rewrite: request_headers: must be a map with `set` "
	  "and/or `remove`" },
	{ "rewrite_dir_unknown", RW("{response_headers: {add: {x-a: b}}}"),
	  "t.yaml:4: routes[0].plugins.rewrite: response_headers.add: unknown field" },
	{ "rewrite_set_type", RW("{request_headers: {set: {x-a: 1}}}"),
	  "t.yaml:4: routes[0].plugins.rewrite: request_headers.set.x-a: a header needs a token "
	  "name and a string value without control characters" },
	{ "rewrite_remove_type", RW("{request_headers: {remove: x-a}}"),
	  "t.yaml:4: routes[0].plugins.rewrite: request_headers.remove: must be a list of header names" },
	{ "rewrite_remove_name", RW("{response_headers: {remove: [server, 'a b']}}"),
	  "t.yaml:4: routes[0].plugins.rewrite: response_headers.remove[1]: expected a header name" },
	{ "rewrite_remove_managed", RW("{request_headers: {remove: [Host]}}"),
	  "t.yaml:4: routes[0].plugins.rewrite: request_headers.remove[0]: 'Host' is managed by "
	  "weir, not rewritable" },
	{ "rewrite_set_traceparent", RW("{request_headers: {set: {traceparent: x}}}"),
	  "t.yaml:4: routes[0].plugins.rewrite: request_headers.set.traceparent: managed by weir, "
	  "not rewritable" },
	{ "rewrite_set_managed", RW("{response_headers: {set: {transfer-encoding: chunked}}}"),
	  "t.yaml:4: routes[0].plugins.rewrite: response_headers.set.transfer-encoding: managed "
	  "by weir, not rewritable" },
	{ "rewrite_set_and_remove", RW("{request_headers: {set: {X-A: b}, remove: [x-a]}}"),
	  "t.yaml:4: routes[0].plugins.rewrite: request_headers.remove[0]: 'x-a' is also set "
	  "(set replaces it already)" },
};

static void test_snap_bad(void **state)
{
	const struct bad_case *b = *state;
	struct weir_config *c = NULL;
	struct weir_snapshot *s = (void *)1;
	char err[1024] = "";

	assert_int_equal(weir_config_parse("t.yaml", b->yaml, strlen(b->yaml), &c, err,
					   sizeof(err)), 0);
	c->file = strdup("t.yaml");	/* as weir_config_load names it */
	assert_int_equal(weir_snapshot_build(c, 1, &s, err, sizeof(err)), -1);
	assert_null(s);
	assert_string_equal(err, b->err);
}

/* The good shapes build, and a mock route needs no upstream. */
static void test_snap_good(void **state)
{
	static const char yaml[] = L U "routes:\n"
		"  - {path: /m, plugins: {mock: {status: 201, headers: {content-type: text/plain}, "
		"body: hi}}}\n"
		"  - {path: /e, plugins: {mock: {}}}\n"
		"  - {path: /r, upstream: u, plugins: {rewrite: {request_headers: {set: {x-a: b}, "
		"remove: [x-b, X-C]}, response_headers: {remove: [server]}}}}\n"
		"  - {path: /n, upstream: u, plugins: {rewrite: {}}}\n";
	struct weir_config *c = NULL;
	struct weir_snapshot *s = NULL;
	char err[1024] = "";

	assert_int_equal(weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	assert_int_equal(weir_snapshot_build(c, 1, &s, err, sizeof(err)), 0);
	assert_null(s->routes[0]->upstream);
	assert_null(s->routes[0]->drop_request);
	assert_non_null(s->routes[2]->upstream);
	assert_non_null(s->routes[2]->drop_request);
	assert_int_equal(s->routes[2]->drop_request->n, 3);	/* set names too */
	assert_string_equal(s->routes[2]->drop_request->v[2].name, "x-c");
	assert_int_equal(s->routes[2]->drop_response->n, 1);
	assert_null(s->routes[3]->drop_request);
	assert_null(s->routes[3]->drop_response);
	weir_snapshot_put(s);
}

/* ---- TLS: keys into the structs, files read when the snapshot is built -- */

static void test_tls_conf(void **state)
{
	static const char yaml[] =
		"listeners:\n"
		"  - listen: 8443\n"
		"    tls:\n"
		"      certificates: [{cert: a.pem, key: a.key}, {cert: b.pem, key: b.key}]\n"
		"      min_version: TLSv1.3\n"
		"      ciphersuites: TLS_AES_128_GCM_SHA256\n"
		"      handshake_timeout: 3s\n"
		"      session_cache: 0\n"
		"      session_tickets: false\n"
		"      ticket_key_rotate: 30m\n"
		"      client_ca: ca.pem\n"
		"      verify_client: optional\n"
		"      client_id_header: X-Client-CN\n"
		"  - listen: 8444\n"
		"    tls: {certificates: [{cert: a.pem, key: a.key}]}\n"
		"  - 8080\n"
		"upstreams:\n"
		"  u: {nodes: [127.0.0.1:9000], tls: {ca: ca.pem, sni: API.Example.com}}\n"
		"  v: {nodes: [127.0.0.1:9001], tls: }\n"
		"  w: {nodes: [127.0.0.1:9002]}\n";
	struct weir_config *c = parse_ok(yaml);
	const struct weir_tls_conf *t = &c->listeners[0].tls, *d = &c->listeners[1].tls;

	assert_true(t->enabled);
	assert_int_equal(t->n_certs, 2);
	assert_string_equal(t->certs[1].cert, "b.pem");
	assert_string_equal(t->certs[1].key, "b.key");
	assert_int_equal(t->min_version, WEIR_TLS_1_3);
	assert_int_equal(t->max_version, WEIR_TLS_1_3);
	assert_string_equal(t->ciphersuites, "TLS_AES_128_GCM_SHA256");
	assert_int_equal(t->handshake_timeout_ms, 3000);
	assert_int_equal(t->session_cache, 0);
	assert_false(t->session_tickets);
	assert_int_equal(t->ticket_key_rotate_ms, 1800000);
	assert_int_equal(t->verify_client, WEIR_VERIFY_OPTIONAL);
	assert_string_equal(t->client_id_header, "x-client-cn");
	/* the defaults */
	assert_true(d->enabled);
	assert_int_equal(d->min_version, WEIR_TLS_1_2);
	assert_int_equal(d->max_version, WEIR_TLS_1_3);
	assert_null(d->ciphers);
	assert_null(d->ciphersuites);
	assert_int_equal(d->n_alpn, 1);
	assert_string_equal(d->alpn[0], "http/1.1");
	assert_int_equal(d->handshake_timeout_ms, 10000);
	assert_int_equal(d->session_cache, 20480);
	assert_int_equal(d->session_timeout_ms, 3600000);
	assert_true(d->session_tickets);
	assert_int_equal(d->ticket_key_rotate_ms, 3600000);
	assert_int_equal(d->verify_client, WEIR_VERIFY_OFF);
	assert_int_equal(d->verify_depth, 4);
	assert_null(d->client_id_header);
	assert_false(c->listeners[2].tls.enabled);
	assert_true(c->upstreams[0].tls.enabled);
	assert_true(c->upstreams[0].tls.verify);
	assert_string_equal(c->upstreams[0].tls.sni, "api.example.com");
	assert_true(c->upstreams[1].tls.enabled);
	assert_true(c->upstreams[1].tls.verify);
	assert_null(c->upstreams[1].tls.ca);
	assert_false(c->upstreams[2].tls.enabled);
	weir_config_free(c);
}

/* Each row: the tls keys after certificates (or, with upstream set, the
 * upstream's tls mapping), and the message; @ stands for the directory. */
struct tls_file_case {
	const char *cert, *key, *extra, *upstream, *err;
};

static const struct tls_file_case tls_file_cases[] = {
	{ "none.pem", "a.key", "", NULL,
	  "t.yaml:5: listeners[0].tls.certificates[0].cert: '@/none.pem': No such file or directory" },
	{ "junk.pem", "a.key", "", NULL,
	  "t.yaml:5: listeners[0].tls.certificates[0].cert: '@/junk.pem': not a PEM certificate" },
	{ "a.pem", "none.key", "", NULL,
	  "t.yaml:5: listeners[0].tls.certificates[0].key: '@/none.key': No such file or directory" },
	{ "a.pem", "junk.pem", "", NULL,
	  "t.yaml:5: listeners[0].tls.certificates[0].key: '@/junk.pem': not a PEM private key" },
	{ "a.pem", "b.key", "", NULL,
	  "t.yaml:5: listeners[0].tls.certificates[0].key: '@/b.key' does not match the "
	  "certificate '@/a.pem'" },
	{ "a.pem", "a.key", "      ciphers: NOPE\n", NULL,
	  "t.yaml:4: listeners[0].tls.ciphers: 'NOPE': no cipher OpenSSL knows" },
	{ "a.pem", "a.key", "      ciphersuites: TLS_NOPE\n", NULL,
	  "t.yaml:4: listeners[0].tls.ciphersuites: 'TLS_NOPE': no TLS 1.3 suite OpenSSL knows" },
	{ "a.pem", "a.key", "      verify_client: require\n      client_ca: @/none.pem\n", NULL,
	  "t.yaml:4: listeners[0].tls.client_ca: '@/none.pem': No such file or directory" },
	{ "a.pem", "a.key", "      verify_client: require\n      client_ca: @/junk.pem\n", NULL,
	  "t.yaml:4: listeners[0].tls.client_ca: '@/junk.pem': no CA certificate in it" },
	{ "a.pem", "a.key", "", "{ca: @/none.pem}",
	  "t.yaml:9: upstreams.u.tls.ca: '@/none.pem': No such file or directory" },
	{ "a.pem", "a.key", "", "{ca: @/junk.pem}",
	  "t.yaml:9: upstreams.u.tls.ca: '@/junk.pem': no CA certificate in it" },
};

/* s with every @ replaced by dir */
static void subst(char *out, size_t len, const char *s, const char *dir)
{
	size_t o = 0;

	for (; *s && o + strlen(dir) + 1 < len; s++)
		if (*s == '@')
			o += (size_t)snprintf(out + o, len - o, "%s", dir);
		else
			out[o++] = *s;
	out[o] = 0;
}

static void test_tls_files(void **state)
{
	char dir[] = "/tmp/weir-unit-tls.XXXXXX", path[600], yaml[4096], tmpl[2048], want[1024];
	struct weir_snapshot *s;
	struct weir_config *c;
	char err[1024];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(test_cert(dir, "a", "a.test", "DNS:a.test", 30), 0);
	assert_int_equal(test_cert(dir, "b", "b.test", "DNS:b.test", 30), 0);
	assert_int_equal(test_cert(dir, "old", "old.test", NULL, -1), 0);
	snprintf(path, sizeof(path), "%s/junk.pem", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("not a certificate\n", f);
	fclose(f);
	for (size_t i = 0; i < sizeof(tls_file_cases) / sizeof(tls_file_cases[0]); i++) {
		const struct tls_file_case *k = &tls_file_cases[i];

		snprintf(tmpl, sizeof(tmpl),
			 "listeners:\n  - listen: 8443\n    tls:\n      certificates:\n"
			 "        - {cert: @/%s, key: @/%s}\n%s"
			 "upstreams:\n  u:\n    nodes: [127.0.0.1:9000]\n%s%s%s",
			 k->cert, k->key, k->extra, k->upstream ? "    tls: " : "",
			 k->upstream ? k->upstream : "",
			 k->upstream ? "\n" : "");
		subst(yaml, sizeof(yaml), tmpl, dir);
		subst(want, sizeof(want), k->err, dir);
		c = NULL;
		s = (void *)1;
		err[0] = 0;
		assert_int_equal(weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err,
						   sizeof(err)), 0);
		c->file = strdup("t.yaml");
		assert_int_equal(weir_snapshot_build(c, 1, &s, err, sizeof(err)), -1);
		assert_null(s);
		if (strncmp(err, want, strlen(want)))
			fail_msg("case %zu:\n  got  %s\n  want %s", i, err, want);
	}
	/* An expired certificate is a warning, and builds; so does a good one
	 * with a verified upstream. */
	snprintf(yaml, sizeof(yaml),
		 "listeners:\n  - listen: 8443\n    tls:\n      certificates:\n"
		 "        - {cert: %s/a.pem, key: %s/a.key}\n        - {cert: %s/old.pem, key: %s/old.key}\n"
		 "upstreams: {u: {nodes: [127.0.0.1:9000], tls: {ca: %s/a.pem}}}\n",
		 dir, dir, dir, dir, dir);
	assert_int_equal(weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	assert_int_equal(weir_snapshot_build(c, 1, &s, err, sizeof(err)), 0);
	assert_non_null(s->listen_tls);
	assert_non_null(s->listen_tls[0]);
	assert_non_null(s->upstreams[0].tls);
	weir_snapshot_put(s);
	for (const char *n = "a.pem\0a.key\0b.pem\0b.key\0old.pem\0old.key\0junk.pem\0"; *n;
	     n += strlen(n) + 1) {
		snprintf(path, sizeof(path), "%s/%s", dir, n);
		unlink(path);
	}
	rmdir(dir);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_recursive_alias),
		cmocka_unit_test(test_quick),
		cmocka_unit_test(test_health_check),
		cmocka_unit_test(test_log_sinks),
		cmocka_unit_test(test_snap_good),
		cmocka_unit_test(test_consumers),
		cmocka_unit_test(test_consumer_errors),
		cmocka_unit_test(test_tls_conf),
		cmocka_unit_test(test_tls_files),
	};
	size_t nf = sizeof(fixed) / sizeof(fixed[0]);
	size_t nb = sizeof(bad_cases) / sizeof(bad_cases[0]);
	size_t ns = sizeof(snap_cases) / sizeof(snap_cases[0]);
	struct CMUnitTest tests[sizeof(fixed) / sizeof(fixed[0]) +
				sizeof(bad_cases) / sizeof(bad_cases[0]) +
				sizeof(snap_cases) / sizeof(snap_cases[0])];

	/* A row of a table is a test of its own, named after the row. */
	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < nb; i++)
		tests[nf + i] = (struct CMUnitTest){
			.name = bad_cases[i].name,
			.test_func = test_bad,
			.initial_state = (void *)&bad_cases[i],
		};
	for (size_t i = 0; i < ns; i++)
		tests[nf + nb + i] = (struct CMUnitTest){
			.name = snap_cases[i].name,
			.test_func = test_snap_bad,
			.initial_state = (void *)&snap_cases[i],
		};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return _cmocka_run_group_tests("config", tests, nf + nb + ns, NULL, NULL);
}
