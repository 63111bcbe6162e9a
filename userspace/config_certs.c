/* userspace/config_certs.c - the top-level certificates: section of the
 * configuration (README: TLS, Certificates as a resource): a mapping of ids
 * to {cert, key, snis}, APISIX's ssl objects in weir's shape, which every
 * TLS listener serves beside its own certificates and which the admin API
 * changes at runtime. config.c hooks it into the file's top-level table.
 *
 * Here the section is read for its shape alone: cert and key are strings,
 * PEM text or file names, and snis are host names. Whether the PEM parses,
 * whether the key belongs to the certificate, is tls.c's question when the
 * snapshot is built, so that the same check covers a file, a SIGHUP and an
 * API change (and names the field the same way in each).
 */
#include <ctype.h>
#include <string.h>

#include "userspace/config-int.h"

#define HOSTCHARS "abcdefghijklmnopqrstuvwxyz0123456789.-"

/* A name a certificate serves: a host name, or "*." and one, in lower
 * case; no port, no IP literal's brackets. */
static int check_sni(struct pctx *x, yaml_node_t *n, char *s, const char *path)
{
	const char *h = s;

	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!strncmp(h, "*.", 2))
		h += 2;
	if (!*h || h[strspn(h, HOSTCHARS)] || h[0] == '.' || h[0] == '-' ||
	    h[strlen(h) - 1] == '.' || strstr(h, ".."))
		return weir__config_fail(x, n, path, "'%s' is not a host name (or *.NAME)", s);
	return 0;
}

static int cert_snis(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		     const char *path)
{
	struct weir_cert_conf *cc = base;

	return weir__config_strlist(x, v, path, ONE | LIST, &cc->snis, &cc->n_snis, check_sni);
}

#define CC struct weir_cert_conf
static const struct ckey cert_keys[] = {
	STR("cert", CC, cert, true),
	STR("key", CC, key, true),
	FN("snis", cert_snis, 0, false),
	END
};
#undef CC

static int cert_pair(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		     size_t i, const char *path, void *arg)
{
	struct weir_config *c = arg;
	struct weir_cert_conf *cc = &c->certificates[c->n_certificates++];

	cc->line = weir__config_line_of(k);
	if (weir__config_check_name(x, k, path, name) ||
	    !(cc->id = weir__config_dup(x, k, path, name)))
		return -1;
	if (v->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, v, path, "expected a mapping: {cert: PEM or FILE, "
					 "key: PEM or FILE, snis: [NAME, ...]}");
	return weir__config_parse_map(x, v, cert_keys, cc, path);
}

int weir__config_certificates(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			      const char *path)
{
	struct weir_config *c = base;

	if (weir__config_is_null(v))
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, v, path, "expected a mapping of ids to certificates");
	if (!weir__config_n_pairs(v))
		return 0;
	if (!(c->certificates = weir__config_alloc(x, v, path, weir__config_n_pairs(v),
						   sizeof(*c->certificates))))
		return -1;
	return weir__config_each_pair(x, v, path, cert_pair, c);
}

void weir__config_free_certs(struct weir_config *c)
{
	for (size_t i = 0; i < c->n_certificates; i++) {
		struct weir_cert_conf *cc = &c->certificates[i];

		free(cc->id);
		free(cc->cert);
		free(cc->key);
		for (size_t j = 0; j < cc->n_snis; j++)
			free(cc->snis[j]);
		free(cc->snis);
	}
	free(c->certificates);
	c->certificates = NULL;
	c->n_certificates = 0;
}
