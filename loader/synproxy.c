/* synproxy.c - the kernel side of the SYN-cookie defence: an nftables table
 * of weir's own that hands netfilter's SYNPROXY the ACKs answering the
 * SYN-ACKs XDP sent (bpf/lib/syncookie.h).
 *
 * XDP answers a SYN over a service's rate itself, so the kernel never sees
 * that SYN, and a listener takes a cookie ACK only after its own SYN queue
 * overflowed. SYNPROXY takes it instead: it checks the cookie (the kernel's
 * secret, the one XDP used), opens the connection to the listener itself and
 * splices the two with sequence adjustment. For every service with
 * WEIR_SVC_F_SYNCOOKIE, in the table:
 *
 *   table inet weir_synproxy {
 *     set svc4 { type ipv4_addr . inet_service; elements = { ADDR . PORT } }
 *     set svc6 { type ipv6_addr . inet_service; ... }
 *     chain input {
 *       type filter hook input priority filter - 10; policy accept;
 *       tcp flags & (fin | syn | rst | ack) == ack ct state invalid,untracked
 *           ip daddr . tcp dport @svc4 synproxy
 *       (and the same for ip6)
 *     }
 *   }
 *
 * Unlike the kernel selftest (tools/testing/selftests/bpf, xdp_synproxy),
 * SYNs are not taken out of conntrack: a SYN within the rate reaches the
 * listener as it would without weir, and only an ACK that conntrack has no
 * connection for - which, with nf_conntrack_tcp_loose = 0, is what a cookie
 * ACK is - goes to SYNPROXY, which drops it when its cookie is bad. Its
 * priority puts the chain before the usual filter chains, which commonly
 * drop `ct state invalid`. The statement carries no options: they are those
 * of the SYN-ACKs SYNPROXY sends itself, and it sends none (it only ever
 * sees ACKs here); the client's options come back in the cookie.
 *
 * The table is replaced whole in one nftables transaction (add, delete,
 * define), so there is no instant without it; with no such service it is
 * removed. The sysctls the path needs are set when the table is made, and
 * said on stdout; they are left as they are when it is removed, as weirctl
 * keeps no state to restore them from. One table per pin directory, so
 * that two weir instances in one network namespace keep theirs apart:
 * weir_synproxy for the default one, weir_synproxy_<its basename> else.
 *
 * Caveat: with nf_conntrack_tcp_loose = 0, packets of connections that
 * conntrack did not see open (opened before conntrack was loaded) are
 * invalid, and SYNPROXY drops those to these services. Turn SYN cookies on
 * before such connections exist, or with conntrack already loaded.
 */
#include "weirctl.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#define SYNPROXY_TABLE "weir_synproxy"
#define SYNPROXY_TABLE_MAX 64

/* A sysctl the path needs, and the value it needs. */
struct synproxy_sysctl {
	const char *path;
	const char *name;
	int want;
	const char *why;
};

static const struct synproxy_sysctl synproxy_sysctls[] = {
	{ "/proc/sys/net/netfilter/nf_conntrack_tcp_loose",
	  "net.netfilter.nf_conntrack_tcp_loose", 0,
	  "conntrack no longer takes an ACK it did not see the SYN of as a "
	  "connection: cookie ACKs go to SYNPROXY" },
	{ "/proc/sys/net/ipv4/tcp_timestamps", "net.ipv4.tcp_timestamps", 1,
	  "cookies carry window scaling and SACK in the timestamp" },
};

/* FNV-1a of the pin directory's path, without trailing slashes. */
static uint32_t synproxy_path_hash(const char *p, const char *end)
{
	uint32_t h = 2166136261u;

	for (; p < end; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

/* The table's name for ctx's pin directory, into buf. */
static void synproxy_table(const struct weirctl_ctx *ctx, char *buf, size_t len)
{
	const char *dir = ctx->pin_dir, *base, *end = dir + strlen(dir);
	size_t n;

	while (end > dir + 1 && end[-1] == '/')
		end--;
	if ((size_t)(end - dir) == strlen(WEIR_PIN_DIR) &&
	    !strncmp(dir, WEIR_PIN_DIR, (size_t)(end - dir))) {
		snprintf(buf, len, "%s", SYNPROXY_TABLE);
		return;
	}
	for (base = end; base > dir && base[-1] != '/'; base--)
		;
	n = (size_t)snprintf(buf, len, "%s_", SYNPROXY_TABLE);
	/* nftables names: letters, digits and '_' are safe everywhere */
	for (; base < end && n + 1 < len; base++, n++)
		buf[n] = (char)(((*base >= 'a' && *base <= 'z') || (*base >= 'A' && *base <= 'Z') ||
				 (*base >= '0' && *base <= '9')) ? *base : '_');
	buf[n] = '\0';
	/* Two pin directories with one basename must not share a table. */
	if (n < len)
		snprintf(buf + n, len - n, "_%08x", synproxy_path_hash(dir, end));
}

/* Appends the services with SYN cookies of one family to the set elements
 * in f, "ADDR . PORT" separated by commas. Returns how many, or -errno. */
struct elements {
	uint8_t family;
	FILE *f;
	int n;
};

static int synproxy_element(const struct weir_svc_key *k, const struct weir_svc *v, void *ctx)
{
	struct elements *e = ctx;
	char addr[INET6_ADDRSTRLEN];

	if (k->family != e->family || k->proto != IPPROTO_TCP || v->mode != WEIR_SVC_L7 ||
	    !(v->flags & WEIR_SVC_F_SYNCOOKIE))
		return 0;
	if (!inet_ntop(e->family == 4 ? AF_INET : AF_INET6, k->addr, addr, sizeof(addr)))
		return -errno;
	fprintf(e->f, "%s%s . %u", e->n ? ", " : "", addr, ntohs(k->port));
	e->n++;
	return 0;
}

static int synproxy_elements(const struct weir_maps *m, uint8_t family, FILE *f)
{
	struct elements e = { .family = family, .f = f };
	int err = weir_svc_walk(m, synproxy_element, &e);

	return err < 0 ? err : e.n;
}

/* The ruleset replacing table `name` (the last line deletes it when n is
 * 0), into a malloc'ed string in *out. Returns the number of services, or
 * -errno. */
static int synproxy_script(const struct weir_maps *m, const char *name, char **out)
{
	static const char *const rule =
		"tcp flags & (fin | syn | rst | ack) == ack ct state invalid,untracked";
	char *e4 = NULL, *e6 = NULL;
	size_t l4 = 0, l6 = 0, len = 0;
	FILE *f4 = open_memstream(&e4, &l4), *f6 = open_memstream(&e6, &l6), *f = NULL;
	int n4 = f4 ? synproxy_elements(m, 4, f4) : -ENOMEM;
	int n6 = f6 ? synproxy_elements(m, 6, f6) : -ENOMEM;
	int ret = n4 < 0 ? n4 : n6 < 0 ? n6 : n4 + n6;

	if (f4 && fclose(f4) && ret >= 0)
		ret = -ENOMEM;
	if (f6 && fclose(f6) && ret >= 0)
		ret = -ENOMEM;
	if (ret < 0)
		goto out;
	f = open_memstream(out, &len);
	if (!f) {
		ret = -ENOMEM;
		goto out;
	}
	/* "add" first, so that "delete" finds a table whether or not one was
	 * there: the three are one transaction. */
	fprintf(f, "add table inet %s\ndelete table inet %s\n", name, name);
	if (ret) {
		fprintf(f, "table inet %s {\n", name);
		fprintf(f, "\tset svc4 { type ipv4_addr . inet_service; %s%s%s}\n",
			n4 ? "elements = { " : "", n4 ? e4 : "", n4 ? " }; " : "");
		fprintf(f, "\tset svc6 { type ipv6_addr . inet_service; %s%s%s}\n",
			n6 ? "elements = { " : "", n6 ? e6 : "", n6 ? " }; " : "");
		fprintf(f, "\tchain input {\n"
			   "\t\ttype filter hook input priority filter - 10; policy accept;\n"
			   "\t\t%s ip daddr . tcp dport @svc4 synproxy\n"
			   "\t\t%s ip6 daddr . tcp dport @svc6 synproxy\n"
			   "\t}\n}\n", rule, rule);
	}
	if (fclose(f)) {
		free(*out);
		*out = NULL;
		ret = -ENOMEM;
	}
out:
	free(e4);
	free(e6);
	return ret;
}

/* One line out of libnftables' error output: the first "Error: ..." text,
 * without the location before it. */
static void synproxy_nft_error(const char *buf, char *line, size_t len)
{
	const char *s = buf ? strstr(buf, "Error: ") : NULL, *e;

	if (!s) {
		snprintf(line, len, "%s", buf && *buf ? buf : "failed");
	} else {
		s += strlen("Error: ");
		snprintf(line, len, "%s", s);
	}
	e = strchr(line, '\n');
	if (e)
		line[e - line] = '\0';
}

/* Runs script in one transaction. 0, or 1 after saying why. */
static int synproxy_nft(struct weirctl_ctx *ctx, const char *script)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	char why[256];
	int ret = 0;

	if (!nft)
		return weirctl_err(ctx, "nftables: cannot create a context");
	if (nft_ctx_buffer_output(nft) || nft_ctx_buffer_error(nft)) {
		nft_ctx_free(nft);
		return weirctl_err(ctx, "nftables: cannot buffer its output");
	}
	if (nft_run_cmd_from_buffer(nft, script)) {
		synproxy_nft_error(nft_ctx_get_error_buffer(nft), why, sizeof(why));
		ret = weirctl_err(ctx, "nftables: %s", why);
	}
	nft_ctx_free(nft);
	return ret;
}

/* Is there a table `name` now? */
static int synproxy_table_exists(const char *name)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	char cmd[128];
	int ok;

	if (!nft)
		return 0;
	snprintf(cmd, sizeof(cmd), "list table inet %s", name);
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	ok = !nft_run_cmd_from_buffer(nft, cmd);
	nft_ctx_free(nft);
	return ok;
}

/* Sets the sysctl s needs, saying so when it changes. 0, or 1 after saying why. */
static int synproxy_sysctl(struct weirctl_ctx *ctx, const struct synproxy_sysctl *s)
{
	char buf[32];
	FILE *f = fopen(s->path, "r");
	int have, err;

	if (!f)
		return weirctl_err(ctx, "%s: %s", s->path, strerror(errno));
	if (!fgets(buf, sizeof(buf), f)) {
		err = ferror(f) ? errno : EIO;
		fclose(f);
		return weirctl_err(ctx, "%s: %s", s->path, strerror(err));
	}
	fclose(f);
	have = atoi(buf);
	if (have == s->want)
		return 0;
	f = fopen(s->path, "w");
	if (!f)
		return weirctl_err(ctx, "%s: %s", s->path, strerror(errno));
	if (fprintf(f, "%d\n", s->want) < 0 || fclose(f)) {
		err = errno;
		return weirctl_err(ctx, "%s: %s", s->path, strerror(err));
	}
	printf("synproxy: set %s = %d (was %d): %s\n", s->name, s->want, have, s->why);
	return 0;
}

int weirctl_synproxy_sync(struct weirctl_ctx *ctx, const struct weir_maps *m)
{
	char name[SYNPROXY_TABLE_MAX], *script = NULL;
	int n, ret = 0, had;

	synproxy_table(ctx, name, sizeof(name));
	/* The walk and the transaction under the writers' lock: the last of two
	 * concurrent syncs reads the map after both changes. */
	if (m->dir >= 0 && flock(m->dir, LOCK_EX))
		return weirctl_err(ctx, "locking %s: %s", ctx->pin_dir, strerror(errno));
	n = synproxy_script(m, name, &script);
	if (n < 0) {
		ret = weirctl_err(ctx, "reading the service table: %s", strerror(-n));
		goto out;
	}
	had = n ? 0 : synproxy_table_exists(name);
	if (!n && !had)
		goto out;
	ret = synproxy_nft(ctx, script);
	if (ret)
		goto out;
	if (!n) {
		printf("synproxy: no service has SYN cookies: nftables table inet %s removed "
		       "(sysctls left as they are)\n", name);
		goto out;
	}
	printf("synproxy: nftables table inet %s: SYNPROXY takes the cookie ACKs of %d "
	       "service%s\n", name, n, n == 1 ? "" : "s");
	/* After the table: its ct expression is what loads conntrack, and
	 * with it nf_conntrack_tcp_loose. */
	for (size_t i = 0; i < sizeof(synproxy_sysctls) / sizeof(synproxy_sysctls[0]); i++) {
		ret = synproxy_sysctl(ctx, &synproxy_sysctls[i]);
		if (ret)
			break;
	}
out:
	if (m->dir >= 0)
		flock(m->dir, LOCK_UN);
	free(script);
	return ret;
}
