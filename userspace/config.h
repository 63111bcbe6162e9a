/* userspace/config.h - the parsed configuration of weir: plain data, read
 * from a YAML file (or built by quick mode, later by the admin API) and
 * validated whole before anything is built from it.
 *
 * A struct weir_config owns every string and array it points to; one
 * weir_config_free() releases it all. Durations are in milliseconds, sizes in
 * bytes. Nothing here is used on the request path: snapshot.c builds the
 * router, the upstreams and the plugin chains from it.
 */
#ifndef WEIR_CONFIG_H
#define WEIR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <jansson.h>

/* Methods as bits, for route matching. */
enum weir_method_bit {
	WEIR_M_GET = 1u << 0,
	WEIR_M_HEAD = 1u << 1,
	WEIR_M_POST = 1u << 2,
	WEIR_M_PUT = 1u << 3,
	WEIR_M_DELETE = 1u << 4,
	WEIR_M_PATCH = 1u << 5,
	WEIR_M_OPTIONS = 1u << 6,
	WEIR_M_CONNECT = 1u << 7,
	WEIR_M_TRACE = 1u << 8,
	WEIR_M_OTHER = 1u << 9,
};

enum weir_lb_kind {
	WEIR_LB_ROUNDROBIN,	/* smooth weighted round robin */
	WEIR_LB_LEASTCONN,	/* least active connections, weighted */
	WEIR_LB_CHASH,		/* consistent hash on a key */
};

enum weir_hash_on {
	WEIR_HASH_IP,		/* client address */
	WEIR_HASH_HEADER,	/* hash_key names a request header */
	WEIR_HASH_COOKIE,	/* hash_key names a cookie */
	WEIR_HASH_PARAM,	/* hash_key names a route parameter */
};

/* Who picks the worker of a new connection (README: Worker steering). */
enum weir_steering {
	WEIR_STEERING_BPF,	/* weir's SO_REUSEPORT program (bpf/weir_steer.bpf.c) */
	WEIR_STEERING_KERNEL,	/* the kernel's hash over the listening sockets */
};

enum weir_log_format {
	WEIR_LOG_OFF,
	WEIR_LOG_JSON,		/* one JSON object per line */
	WEIR_LOG_COMBINED,	/* Apache/nginx combined */
};

struct weir_addr {
	struct sockaddr_storage sa;
	socklen_t len;
	char text[64];		/* canonical: "127.0.0.1:8080", "[::1]:80" */
};

/* Where access log lines go (README: Access log). Every sink has a buffer of
 * buffer_size bytes of lines not yet delivered; lines that find it full are
 * dropped and counted, never waited for. */
enum weir_log_sink_type {
	WEIR_SINK_FILE,		/* append to path ("-": stdout) */
	WEIR_SINK_SYSLOG,	/* RFC 5424 messages, one per line */
	WEIR_SINK_HTTP,		/* POST of newline-delimited JSON batches */
};

enum weir_syslog_proto {
	WEIR_SYSLOG_UDP,	/* one datagram per message (RFC 5426) */
	WEIR_SYSLOG_TCP,	/* octet-counting framing (RFC 6587) */
	WEIR_SYSLOG_UNIX,	/* datagrams to a local socket such as /dev/log */
};

/* TLS as a client: towards an upstream's nodes, and an https log sink's
 * collector (README: TLS, Access log). */
struct weir_upstream_tls_conf {
	bool enabled;			/* a tls: section is present (or an https:// url) */
	bool verify;			/* default true */
	char *ca;			/* PEM CA certificates; NULL: the system's store */
	char *sni;			/* server name sent and verified; NULL: the peer's IP is verified */
	unsigned line;
};

struct weir_log_header {
	char *name, *value;
};

struct weir_log_sink_conf {
	enum weir_log_sink_type type;
	uint32_t buffer_size;		/* bytes of undelivered lines; default 4 MiB */
	char *name;			/* what metrics call it: path, udp://ADDR, the url */
	/* file */
	char *path;
	/* syslog */
	char *address;			/* udp, tcp: IP:PORT; unix: an absolute socket path */
	struct weir_addr addr;		/* udp, tcp, http: parsed */
	enum weir_syslog_proto protocol;	/* default udp */
	int facility;			/* 0..23; default 23 (local7) */
	char *tag;			/* APP-NAME; default "weir" */
	/* http */
	char *url;			/* http://IP:PORT/path or https:// */
	char *url_host;			/* the Host header: the url's authority */
	char *url_path;			/* default "/" */
	uint32_t batch_size;		/* lines per POST at most; default 1000 */
	uint32_t flush_interval_ms;	/* a partial batch waits this long; default 1000 */
	uint32_t timeout_ms;		/* connect to response; default 5000 */
	struct weir_log_header *headers;	/* extra request header fields */
	size_t n_headers;
	struct weir_upstream_tls_conf tls;	/* enabled exactly with an https:// url */
	unsigned line;
};

/* TLS termination on a listener (README: TLS). Files are read, and
 * certificates checked against their keys, when the snapshot is built
 * (tls.c); here they are names only. */
enum weir_tls_version {
	WEIR_TLS_1_2,
	WEIR_TLS_1_3,
};

enum weir_verify_client {
	WEIR_VERIFY_OFF,		/* no certificate asked for */
	WEIR_VERIFY_OPTIONAL,		/* asked for; one that is sent must verify */
	WEIR_VERIFY_REQUIRE,		/* a verified certificate or no handshake */
};

#define WEIR_TLS_MAX_ALPN 4

struct weir_tls_cert_conf {
	char *cert;			/* PEM: the certificate, then its chain */
	char *key;			/* PEM private key */
	unsigned line;
};

struct weir_tls_conf {
	bool enabled;			/* a tls: section is present */
	struct weir_tls_cert_conf *certs;	/* the first is the default; may be none when
						 * weir_config.certificates has some */
	size_t n_certs;
	enum weir_tls_version min_version;	/* default TLSv1.2 */
	enum weir_tls_version max_version;	/* default TLSv1.3 */
	char *ciphers;			/* TLS 1.2 cipher list; NULL: ECDHE + AEAD only */
	char *ciphersuites;		/* TLS 1.3 suites; NULL: OpenSSL's defaults */
	char *alpn[WEIR_TLS_MAX_ALPN];	/* in preference order; default http/1.1 */
	size_t n_alpn;
	uint32_t handshake_timeout_ms;	/* default 10000 */
	uint32_t session_cache;		/* sessions kept for resumption by id; default 20480 */
	uint32_t session_timeout_ms;	/* lifetime of sessions and tickets; default 1h */
	bool session_tickets;		/* default true */
	uint32_t ticket_key_rotate_ms;	/* a new ticket key this often; default 1h */
	char *client_ca;		/* PEM CA certificates for client certificates */
	enum weir_verify_client verify_client;	/* default off */
	uint32_t verify_depth;		/* default 4 */
	char *client_id_header;		/* lower case; NULL: the identity is not sent upstream */
	unsigned line;
};

/* A certificate of the top-level certificates: section, which every TLS
 * listener serves beside its own (README: TLS, Certificates as a
 * resource); the admin API's `certificates` resources, by id. cert and
 * key are PEM text (a value that holds "-----BEGIN" or a line break) or
 * file names,
 * read and checked when the snapshot is built (tls.c). */
struct weir_cert_conf {
	char *id;
	char *cert;			/* the certificate, then its chain */
	char *key;			/* its private key */
	char **snis;			/* names served, exact or "*.suffix" (lower case);
					 * none: the certificate's own names */
	size_t n_snis;
	unsigned line;
};

struct weir_listener_conf {
	struct weir_addr addr;
	int backlog;			/* default 4096 */
	struct weir_tls_conf tls;
};

struct weir_node_conf {
	struct weir_addr addr;
	uint32_t weight;		/* 1..1000000, default 1; 0 = drained */
};

/* Active health checks of an upstream's nodes (README: Active health
 * checks). Probes are TCP connects, or HTTP GETs whose status must be in
 * expect; a node goes down after unhealthy_threshold failures in a row and
 * up again after healthy_threshold successes in a row. */
enum weir_hc_type {
	WEIR_HC_HTTP,
	WEIR_HC_TCP,
};

#define WEIR_HC_STATUS_MAX 599

struct weir_health_check_conf {
	bool enabled;			/* a health_check: section is present */
	enum weir_hc_type type;		/* default http */
	uint32_t interval_ms;		/* between probes of a node; default 5000 */
	uint32_t timeout_ms;		/* connect to verdict; default 2000, <= interval */
	uint32_t healthy_threshold;	/* successes in a row that bring a node up; default 2 */
	uint32_t unhealthy_threshold;	/* failures in a row that take it down; default 3 */
	char *path;			/* http: request target; default "/" */
	char *host;			/* http: Host header; NULL: the node's address */
	uint64_t expect[(WEIR_HC_STATUS_MAX + 64) / 64];	/* http: status bits; default 200-399 */
};

static inline bool weir_hc_expects(const struct weir_health_check_conf *h, unsigned status)
{
	return status <= WEIR_HC_STATUS_MAX && (h->expect[status / 64] >> (status % 64)) & 1;
}

struct weir_upstream_conf {
	char *name;
	struct weir_node_conf *nodes;
	size_t n_nodes;
	enum weir_lb_kind lb;
	enum weir_hash_on hash_on;	/* WEIR_LB_CHASH only */
	char *hash_key;			/* header/cookie/param name, or NULL */
	/* keepalive pool, per worker */
	uint32_t keepalive;		/* idle connections kept per node and worker; default 256 */
	uint32_t keepalive_timeout_ms;	/* default 60000 */
	uint32_t keepalive_requests;	/* per connection; default 10000 */
	/* timeouts */
	uint32_t connect_timeout_ms;	/* default 5000 */
	uint32_t send_timeout_ms;	/* default 60000 */
	uint32_t read_timeout_ms;	/* default 60000 */
	/* passive health and retries */
	uint32_t max_fails;		/* failures in fail_window that eject; default 3; 0 = never */
	uint32_t fail_window_ms;	/* default 10000 */
	uint32_t eject_ms;		/* cooldown; default 10000 */
	uint32_t retries;		/* other nodes tried; default 1 */
	uint32_t retry_timeout_ms;	/* total time for tries; default 0 = no limit */
	struct weir_health_check_conf hc;	/* active health checks */
	struct weir_upstream_tls_conf tls;
	unsigned line;			/* where it was defined, 0 if not from a file */
};

struct weir_header_match_conf {
	char *name;			/* lower case */
	char **values;			/* any of: exact, case-sensitive */
	size_t n_values;
};

enum weir_rewrite_kind {
	WEIR_REWRITE_NONE,
	WEIR_REWRITE_STRIP,		/* strip `value` from the front of the path */
	WEIR_REWRITE_TEMPLATE,		/* `value` with :param substituted */
};

struct weir_plugin_conf {
	char *name;
	json_t *conf;			/* the plugin's own settings (owned) */
	unsigned line;
};

struct weir_route_conf {
	char *id;
	char **hosts;			/* exact or "*.suffix"; none = any host */
	size_t n_hosts;
	char **paths;			/* "/exact", "/prefix*", "/users/:id" */
	size_t n_paths;
	uint32_t methods;		/* WEIR_M_* bits; 0 = any */
	struct weir_header_match_conf *headers;
	size_t n_headers;
	int32_t priority;		/* higher wins among equals; default 0 */
	char *upstream;			/* name of an upstream */
	enum weir_rewrite_kind rewrite;
	char *rewrite_value;
	/* per-route overrides of the upstream's timeouts, 0 = inherit */
	uint32_t connect_timeout_ms;
	uint32_t send_timeout_ms;
	uint32_t read_timeout_ms;
	struct weir_plugin_conf *plugins;
	size_t n_plugins;
	unsigned line;
};

/* A consumer (README: Authentication and consumers): a name that the
 * authentication plugins admit requests as, and its credentials, one
 * mapping per authentication plugin, as APISIX shapes them:
 *   consumers: [{username: alice, plugins: {key-auth: {key: ...}}}]
 * The credentials of key-auth, basic-auth and jwt-auth are checked here
 * (shape, duplicates across consumers, hash formats, keys); each plugin
 * receives its consumers' credentials at configure time (plugin.h). */
struct weir_consumer_conf {
	char *username;
	struct weir_plugin_conf *plugins;	/* credentials by plugin name; JSON */
	size_t n_plugins;
	unsigned line;
};

struct weir_config {
	char *file;			/* path it was read from, or NULL */
	struct weir_listener_conf *listeners;
	size_t n_listeners;
	struct weir_upstream_conf *upstreams;
	size_t n_upstreams;
	struct weir_route_conf *routes;
	size_t n_routes;
	/* server */
	uint32_t workers;		/* 0 = one per online CPU */
	uint32_t max_header_size;	/* request line + headers; default 16384 -> 431 */
	uint32_t max_headers;		/* count; default 100 -> 431 */
	uint32_t max_uri;		/* default 8192 -> 414 */
	uint64_t max_body;		/* default 16 MiB -> 413; 0 = unlimited */
	uint32_t client_header_timeout_ms;	/* default 10000 -> 408 */
	uint32_t client_body_timeout_ms;	/* between body reads; default 60000 -> 408 */
	uint32_t keepalive_timeout_ms;		/* idle client connection; default 75000 */
	uint32_t send_timeout_ms;		/* to the client; default 60000 */
	uint32_t shutdown_timeout_ms;		/* graceful stop deadline; default 10000 */
	uint32_t max_connections;		/* per worker; default 65536 */
	/* CPU affinity (README: CPUs), read at start: worker i on
	 * cpus_workers[i % n], every other thread on the cpus_control set;
	 * none given: the scheduler's choice */
	uint16_t *cpus_workers;
	size_t n_cpus_workers;
	uint16_t *cpus_control;
	size_t n_cpus_control;
	enum weir_steering steering;		/* default WEIR_STEERING_BPF; read at start */
	/* access log */
	enum weir_log_format log_format;
	char *log_path;			/* file, or "-" for stdout; NULL with sinks */
	struct weir_log_sink_conf *log_sinks;	/* none: one file sink at log_path */
	size_t n_log_sinks;
	/* W3C trace context (README: Tracing) */
	int trace;			/* 1 (default): weir is a hop of the trace; 0: untouched */
	uint32_t trace_sample_percent;	/* traces weir starts marked sampled; default 100 */
	/* metrics in Prometheus text format (README: Metrics); read at start */
	bool metrics;			/* a metrics: section is present */
	struct weir_addr metrics_listen;
	char *metrics_path;		/* default "/metrics" */
	char *metrics_pin_dir;		/* the XDP layer's pins; NULL: /sys/fs/bpf/weir */
	/* L7 abuse -> XDP blocklist (ban.h; README: Limits and access control) */
	bool ban;			/* a ban: section is present */
	uint32_t ban_threshold;		/* refusals in ban_window_ms that ban; default 10 */
	uint32_t ban_window_ms;		/* default 60000 */
	uint32_t ban_ttl_ms;		/* how long a ban lasts; default 600000 */
	uint32_t ban_on;		/* enum weir_ban_kind bits; default auth and limit */
	char *ban_pin_dir;		/* the XDP layer's pins; NULL: /sys/fs/bpf/weir */
	struct weir_consumer_conf *consumers;
	size_t n_consumers;
	struct weir_cert_conf *certificates;	/* top-level, in file order */
	size_t n_certificates;
	/* global plugin settings, by plugin name */
	struct weir_plugin_conf *plugins;
	size_t n_plugins;
	/* the admin API (README: Admin API); read at start */
	bool admin;			/* an admin: section is present */
	struct weir_addr admin_listen;	/* default 127.0.0.1:9180 */
	char *admin_token;		/* exactly one of token and token_file */
	char *admin_token_file;
	char *admin_state;		/* the state file */
	/* With admin: the file's routes, upstreams, plugins, consumers and
	 * certificates as JSON, in the admin API's shape: {"routes": [...],
	 * "upstreams": {...}, "plugins": {...}, "consumers": [...],
	 * "certificates": {...}}, every route with its id. NULL without
	 * admin:. */
	json_t *resources;
};

/* Reads and validates FILE. On success returns 0 and a config in *out. On
 * failure returns -1 with one line in err: "FILE:LINE: FIELD: REASON", e.g.
 * "weir.yaml:12: routes[2].upstream: no upstream named 'api'". */
int weir_config_load(const char *file, struct weir_config **out, char *err, size_t errlen);

/* The same from YAML text in memory; `name` is used in messages. */
int weir_config_parse(const char *name, const char *text, size_t len,
		      struct weir_config **out, char *err, size_t errlen);

/* Reads FILE whole into *text (malloc'd, NUL-terminated, *len bytes).
 * Returns 0, or -1 with "FILE: REASON" in err. */
int weir_config_read(const char *file, char **text, size_t *len, char *err, size_t errlen);

/* A configuration of the resources alone (routes, upstreams, plugins,
 * consumers, certificates) from their JSON document (the shape of
 * weir_config.resources), validated as a file holding them would be, with a
 * stand-in listener: a caller moves them into a whole configuration with
 * weir_config_swap_resources(). Errors read "admin:1: FIELD: REASON". */
int weir_config_from_resources(const json_t *res, struct weir_config **out, char *err,
			       size_t errlen);

/* Routes of one path pattern, by the router's rule (router.h, 3.):
 * negative when a goes first, positive when b does, 0 when only their
 * places in the list tell them apart. */
int weir_route_conf_rank(const struct weir_route_conf *a, const struct weir_route_conf *b);

/* Exchanges the resources of a and b: routes, upstreams, global plugin
 * settings, consumers, certificates. */
void weir_config_swap_resources(struct weir_config *a, struct weir_config *b);

/* Quick mode: one listener, one upstream of one node, one catch-all route. */
int weir_config_quick(const char *from, const char *to, uint32_t workers,
		      struct weir_config **out, char *err, size_t errlen);

/* Parses "ADDR:PORT", "[V6]:PORT", "*:PORT" or "PORT" (listen only; both
 * mean 0.0.0.0:PORT). IP literals only, never DNS names; an upstream may not
 * be the unspecified address. Returns 0, or -1 with "'TEXT': REASON" in err. */
int weir_addr_parse(const char *text, bool listen, struct weir_addr *out,
		    char *err, size_t errlen);

/* A size ("64m": bytes, or k, m, g) or a duration ("10s": ms, s, m, h) as
 * the config file writes them, for plugins whose settings come as JSON:
 * bytes or milliseconds in *v. Returns 0, or -1 when s is not one. */
int weir_config_scaled(const char *s, bool duration, int64_t *v);

/* Fills the defaults documented above into a zeroed struct. */
void weir_config_defaults(struct weir_config *c);
void weir_upstream_defaults(struct weir_upstream_conf *u);
void weir_log_sink_defaults(struct weir_log_sink_conf *s);

void weir_config_free(struct weir_config *c);

#endif
