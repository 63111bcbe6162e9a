/* userspace/config_log.c - the access_log: and tracing: sections of the
 * configuration: their key tables (defaults and bounds) and the rules a
 * table cannot say. config.c hooks them into the file's top-level table.
 *
 * One table covers every sink type; sink_only[] says which keys belong to
 * which type, so a key given to the wrong type is an error that names the
 * type it belongs to. A sink's `name` (its path, "udp://ADDR", its url) is
 * what the metrics label it with; two sinks with the same name are refused.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "userspace/config-int.h"

#define TOKEN "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
#define APP_NAME_MAX 48			/* RFC 5424 APP-NAME */

static const char *const log_formats[] = { "off", "json", "combined", NULL };
static const char *const sink_types[] = { "file", "syslog", "http", NULL };
static const char *const syslog_protos[] = { "udp", "tcp", "unix", NULL };
/* RFC 5424 facility codes, by index. */
static const char *const facilities[] = {
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
	"authpriv", "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2",
	"local3", "local4", "local5", "local6", "local7", NULL
};
static const char *const on_off[] = { "off", "on", NULL };

/* Header fields of a POST that weir writes itself. */
static const char *const managed_headers[] = {
	"host", "content-length", "content-type", "transfer-encoding", "connection",
	"keep-alive", "te", "upgrade", "expect", NULL
};

static int sink_headers(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			const char *path);

static int sink_tls(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		    const char *path)
{
	return weir__config_client_tls(x, v, &((struct weir_log_sink_conf *)base)->tls, path);
}

#define SK struct weir_log_sink_conf
static const struct ckey sink_keys[] = {
	{ "type", CK_ENUM, FIELD(SK, type, sizeof(int)), 0, 0, WEIR_SINK_FILE, sink_types, NULL,
	  NULL, true },
	SZ32("buffer_size", SK, buffer_size, 1 * KiB, 1 * GiB, 4 * MiB),
	STR("path", SK, path, false),
	STR("address", SK, address, false),
	ENUM("protocol", SK, protocol, syslog_protos, WEIR_SYSLOG_UDP),
	ENUM("facility", SK, facility, facilities, 23),
	STR("tag", SK, tag, false),
	STR("url", SK, url, false),
	U32("batch_size", SK, batch_size, 1, 100000, 1000),
	MS("flush_interval", SK, flush_interval_ms, 10, 3600000, 1000),
	MS("timeout", SK, timeout_ms, 10, 600000, 5000),
	FN("headers", sink_headers, 0, false),
	FN("tls", sink_tls, 0, false),
	END
};
#undef SK

#define T(t) (1u << (t))
static const struct {
	const char *key;
	unsigned types;
} sink_only[] = {
	{ "path", T(WEIR_SINK_FILE) },
	{ "address", T(WEIR_SINK_SYSLOG) },
	{ "protocol", T(WEIR_SINK_SYSLOG) },
	{ "facility", T(WEIR_SINK_SYSLOG) },
	{ "tag", T(WEIR_SINK_SYSLOG) },
	{ "url", T(WEIR_SINK_HTTP) },
	{ "batch_size", T(WEIR_SINK_HTTP) },
	{ "flush_interval", T(WEIR_SINK_HTTP) },
	{ "timeout", T(WEIR_SINK_HTTP) },
	{ "headers", T(WEIR_SINK_HTTP) },
	{ "tls", T(WEIR_SINK_HTTP) },
};
/* The key each type cannot do without. */
static const char *const sink_needs[] = { "path", "address", "url" };

void weir_log_sink_defaults(struct weir_log_sink_conf *s)
{
	weir__config_set_defaults(sink_keys, s);
}

static int header_pair(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		       size_t i, const char *path, void *arg)
{
	struct weir_log_sink_conf *s = arg;
	struct weir_log_header *h = &s->headers[s->n_headers++];
	const char *val;

	if (!*name || strspn(name, TOKEN) != strlen(name))
		return weir__config_fail(x, k, path, "'%s' is not a header name", name);
	for (size_t j = 0; managed_headers[j]; j++)
		if (!strcasecmp(name, managed_headers[j]))
			return weir__config_fail(x, k, path, "written by weir, not settable");
	if (v->type != YAML_SCALAR_NODE)
		return weir__config_fail(x, v, path, "expected a string value");
	val = (const char *)v->data.scalar.value;
	for (const char *c = val; *c; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f)
			return weir__config_fail(x, v, path, "a header value may not hold control "
						 "characters");
	if (!(h->name = weir__config_dup(x, k, path, name)) ||
	    !(h->value = weir__config_dup(x, v, path, val)))
		return -1;
	return 0;
}

static int sink_headers(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			const char *path)
{
	struct weir_log_sink_conf *s = base;

	if (v->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, v, path, "expected a mapping of header names to values");
	if (!(s->headers = weir__config_alloc(x, v, path, weir__config_n_pairs(v),
					      sizeof(*s->headers))))
		return -1;
	return weir__config_each_pair(x, v, path, header_pair, s);
}

/* "http://IP[:PORT][/path]" or "https://...": an IP literal (names are
 * never resolved), port 80 or 443 by default, no query or fragment. https
 * verifies the collector as tls: says, by default against the system's CAs
 * and for the IP (tls.sni names another name to send and verify). */
static int parse_url(struct pctx *x, yaml_node_t *v, yaml_node_t *n,
		     struct weir_log_sink_conf *s, const char *spath, const char *path)
{
	const char *u = s->url, *auth, *slash;
	char hostport[80], why[160], fp[PATHLEN];
	bool https = !strncasecmp(u, "https://", 8);

	if (!https && strncasecmp(u, "http://", 7))
		return weir__config_fail(x, n, path, "'%s': expected http://IP:PORT/path (or "
					 "https://)", u);
	if (!https && s->tls.enabled)
		return weir__config_fail(x, weir__config_map_get(x, v, "tls"),
					 weir__config_pjoin(fp, spath, "tls"),
					 "only used with an https:// url");
	if (https && !s->tls.enabled &&
	    weir__config_client_tls(x, NULL, &s->tls, weir__config_pjoin(fp, spath, "tls")))
		return -1;
	auth = u + (https ? 8 : 7);
	slash = auth + strcspn(auth, "/");
	for (const char *c = auth; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '?' || *c == '#')
			return weir__config_fail(x, n, path, "'%s': no spaces, control characters, "
						 "query or fragment", u);
	if (slash == auth || (size_t)(slash - auth) >= sizeof(hostport) - 5)
		return weir__config_fail(x, n, path, "'%s': expected http://IP:PORT/path", u);
	memcpy(hostport, auth, (size_t)(slash - auth));
	hostport[slash - auth] = 0;
	if (!(s->url_host = weir__config_dup(x, n, path, hostport)))
		return -1;
	/* No port after the host (or after "]" of an IPv6 literal): 80, 443. */
	const char *close = strrchr(hostport, ']');
	if (!strchr(close ? close : hostport, ':') || (!close && strchr(hostport, ':') !=
						       strrchr(hostport, ':')))
		strcat(hostport, https ? ":443" : ":80");
	if (weir_addr_parse(hostport, false, &s->addr, why, sizeof(why)))
		return weir__config_fail(x, n, path, "%s", why);
	return (s->url_path = weir__config_dup(x, n, path, *slash ? slash : "/")) ? 0 : -1;
}

static int sink_check(struct pctx *x, yaml_node_t *v, struct weir_log_sink_conf *s,
		      const char *path)
{
	const char *need = sink_needs[s->type];
	yaml_node_t *n;
	char fp[PATHLEN];

	for (size_t j = 0; j < sizeof(sink_only) / sizeof(sink_only[0]); j++)
		if (!(sink_only[j].types & T(s->type)) &&
		    (n = weir__config_map_get(x, v, sink_only[j].key))) {
			int t = 0;
			while (!(sink_only[j].types & T(t)))
				t++;
			return weir__config_fail(x, n, weir__config_pjoin(fp, path, sink_only[j].key),
						 "only used with type: %s", sink_types[t]);
		}
	if (!(n = weir__config_map_get(x, v, need)))
		return weir__config_fail(x, v, weir__config_pjoin(fp, path, need),
					 "required with type: %s", sink_types[s->type]);
	weir__config_pjoin(fp, path, need);
	switch (s->type) {
	case WEIR_SINK_FILE:
		return (s->name = weir__config_dup(x, n, fp, s->path)) ? 0 : -1;
	case WEIR_SINK_SYSLOG:
		if (s->protocol == WEIR_SYSLOG_UNIX) {
			if (s->address[0] != '/' || strlen(s->address) >= 108)
				return weir__config_fail(x, n, fp, "'%s': protocol unix needs an "
							 "absolute socket path (< 108 bytes)",
							 s->address);
		} else if (s->address[0] == '/') {
			return weir__config_fail(x, n, fp, "'%s': a socket path needs protocol: unix",
						 s->address);
		} else if (weir__config_parse_addr(x, n, false, &s->addr, fp)) {
			return -1;
		}
		if (!s->tag && !(s->tag = weir__config_dup(x, v, path, "weir")))
			return -1;
		if (strlen(s->tag) > APP_NAME_MAX ||
		    s->tag[strspn(s->tag, TOKEN "\"(),/:;<=>?@[\\]{}")])
			return weir__config_fail(x, weir__config_map_get(x, v, "tag"),
						 weir__config_pjoin(fp, path, "tag"),
						 "'%s': 1 to %d printable characters without spaces",
						 s->tag, APP_NAME_MAX);
		if (asprintf(&s->name, "%s://%s", syslog_protos[s->protocol],
			     s->protocol == WEIR_SYSLOG_UNIX ? s->address : s->addr.text) < 0) {
			s->name = NULL;
			return weir__config_fail(x, v, path, "out of memory");
		}
		return 0;
	case WEIR_SINK_HTTP:
		if (parse_url(x, v, n, s, path, fp))
			return -1;
		return (s->name = weir__config_dup(x, n, fp, s->url)) ? 0 : -1;
	}
	return 0;
}

static int sink_item(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		     size_t i, const char *path, void *arg)
{
	struct weir_config *c = arg;
	struct weir_log_sink_conf *s = &c->log_sinks[c->n_log_sinks++];

	weir_log_sink_defaults(s);
	s->line = weir__config_line_of(v);
	if (weir__config_parse_map(x, v, sink_keys, s, path) || sink_check(x, v, s, path))
		return -1;
	for (size_t j = 0; j < i; j++)
		if (!strcmp(c->log_sinks[j].name, s->name))
			return weir__config_fail(x, v, path, "the same sink as sinks[%zu] (%s)", j,
						 s->name);
	return 0;
}

static int log_sinks(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		     const char *path)
{
	struct weir_config *c = base;

	if (v->type != YAML_SEQUENCE_NODE)
		return weir__config_fail(x, v, path, "expected a list of sinks");
	if (!weir__config_n_items(v))
		return weir__config_fail(x, v, path, "at least one sink (or no sinks: key)");
	if (!(c->log_sinks = weir__config_alloc(x, v, path, weir__config_n_items(v),
						sizeof(*c->log_sinks))))
		return -1;
	return weir__config_each_item(x, v, path, sink_item, c);
}

#define CF struct weir_config
static const struct ckey access_log_keys[] = {
	STR("path", CF, log_path, false),
	ENUM("format", CF, log_format, log_formats, WEIR_LOG_JSON),
	FN("sinks", log_sinks, 0, false),
	END
};

const struct ckey weir__config_tracing_keys[] = {
	ENUM("mode", CF, trace, on_off, 1),
	U32("sample_percent", CF, trace_sample_percent, 0, 100, 100),
	END
};
#undef CF

/* No access_log: no log. An access_log mapping: JSON to stdout unless it
 * says otherwise; `path: FILE` is short for `sinks: [{type: file, path:
 * FILE}]`. An http sink ships JSON lines, so it needs format: json. */
int weir__config_access_log(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			    const char *path)
{
	struct weir_config *c = base;
	yaml_node_t *sinks;
	char fp[PATHLEN];

	weir__config_set_defaults(access_log_keys, c);
	if (weir__config_parse_map(x, v, access_log_keys, c, path))
		return -1;
	sinks = weir__config_map_get(x, v, "sinks");
	if (sinks && c->log_path)
		return weir__config_fail(x, weir__config_map_get(x, v, "path"),
					 weir__config_pjoin(fp, path, "path"),
					 "give path or sinks, not both");
	for (size_t i = 0; i < c->n_log_sinks; i++)
		if (c->log_sinks[i].type == WEIR_SINK_HTTP && c->log_format == WEIR_LOG_COMBINED) {
			snprintf(fp, sizeof(fp), "%s.sinks[%zu].type", path, i);
			return weir__config_fail(x, weir__config_map_get(x, v, "format"), fp,
						 "an http sink ships JSON lines: needs format: json");
		}
	if (!sinks && !c->log_path && c->log_format != WEIR_LOG_OFF &&
	    !(c->log_path = weir__config_dup(x, v, path, "-")))
		return -1;
	return 0;
}

void weir__config_free_log(struct weir_config *c)
{
	for (size_t i = 0; i < c->n_log_sinks; i++) {
		struct weir_log_sink_conf *s = &c->log_sinks[i];

		free(s->name);
		free(s->path);
		free(s->address);
		free(s->tag);
		free(s->url);
		free(s->url_host);
		free(s->url_path);
		free(s->tls.ca);
		free(s->tls.sni);
		for (size_t j = 0; j < s->n_headers; j++) {
			free(s->headers[j].name);
			free(s->headers[j].value);
		}
		free(s->headers);
	}
	free(c->log_sinks);
	free(c->log_path);
}
