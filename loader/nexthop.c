/* nexthop.c - where frames to an l4 backend leave, resolved over rtnetlink
 * (libmnl): the route to the backend gives the interface, the gateway (if
 * any) and the preferred source address; the neighbour table gives the next
 * hop's MAC address. An unresolved neighbour is resolved by sending one
 * datagram towards it and asking again, for a bounded time.
 */
#include "weirctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NEIGH_TRIES 40 /* x 50 ms */

struct route_reply {
	uint8_t family;
	uint8_t type;
	uint32_t oif;
	bool has_gw, has_src;
	uint8_t gw[16], src[16];
};

struct neigh_reply {
	bool found;
	uint16_t state;
	uint8_t mac[6];
};

static int alen(uint8_t family)
{
	return family == 4 ? 4 : 16;
}

static int route_attr(const struct nlattr *a, void *data)
{
	struct route_reply *r = data;
	uint16_t len = mnl_attr_get_payload_len(a);

	switch (mnl_attr_get_type(a)) {
	case RTA_OIF:
		if (len == 4)
			r->oif = mnl_attr_get_u32(a);
		break;
	case RTA_GATEWAY:
		if (len == alen(r->family)) {
			memcpy(r->gw, mnl_attr_get_payload(a), len);
			r->has_gw = true;
		}
		break;
	case RTA_PREFSRC:
		if (len == alen(r->family)) {
			memcpy(r->src, mnl_attr_get_payload(a), len);
			r->has_src = true;
		}
		break;
	}
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_reply *r = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return MNL_CB_OK;
	r->type = rtm->rtm_type;
	return mnl_attr_parse(nlh, sizeof(*rtm), route_attr, r);
}

static int neigh_attr(const struct nlattr *a, void *data)
{
	struct neigh_reply *n = data;

	if (mnl_attr_get_type(a) == NDA_LLADDR && mnl_attr_get_payload_len(a) == 6) {
		memcpy(n->mac, mnl_attr_get_payload(a), 6);
		n->found = true;
	}
	return MNL_CB_OK;
}

static int neigh_cb(const struct nlmsghdr *nlh, void *data)
{
	struct neigh_reply *n = data;
	const struct ndmsg *nd = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWNEIGH)
		return MNL_CB_OK;
	n->state = nd->ndm_state;
	return mnl_attr_parse(nlh, sizeof(*nd), neigh_attr, n);
}

/* Sends the request in buf and runs cb over the answer. 0, or -errno
 * (the kernel's, for an error reply). */
static int rtnl_ask(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned int portid = mnl_socket_get_portid(nl);
	uint32_t seq = (uint32_t)time(NULL);
	ssize_t n;
	int ret;

	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
	} while (ret > 0);
	return ret < 0 ? -errno : 0;
}

static int route_get(struct mnl_socket *nl, uint8_t family, const uint8_t *addr,
		     struct route_reply *r)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;

	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = family == 4 ? AF_INET : AF_INET6;
	rtm->rtm_dst_len = (uint8_t)(alen(family) * 8);
	mnl_attr_put(nlh, RTA_DST, (size_t)alen(family), addr);
	memset(r, 0, sizeof(*r));
	r->family = family;
	return rtnl_ask(nl, nlh, route_cb, r);
}

static int neigh_get(struct mnl_socket *nl, uint8_t family, uint32_t ifindex,
		     const uint8_t *addr, struct neigh_reply *n)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ndmsg *nd;
	int err;

	nlh->nlmsg_type = RTM_GETNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = family == 4 ? AF_INET : AF_INET6;
	nd->ndm_ifindex = (int)ifindex;
	mnl_attr_put(nlh, NDA_DST, (size_t)alen(family), addr);
	memset(n, 0, sizeof(*n));
	err = rtnl_ask(nl, nlh, neigh_cb, n);
	return err == -ENOENT ? 0 : err;
}

static bool neigh_usable(const struct neigh_reply *n)
{
	return n->found && (n->state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY |
					NUD_PROBE | NUD_PERMANENT | NUD_NOARP));
}

/* Makes the kernel resolve addr: one datagram to the discard port. */
static void neigh_provoke(uint8_t family, const uint8_t *addr)
{
	struct sockaddr_storage ss = {};
	socklen_t len;
	int fd;

	if (family == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(9);
		memcpy(&s4->sin_addr, addr, 4);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(9);
		memcpy(&s6->sin6_addr, addr, 16);
		len = sizeof(*s6);
	}
	fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, "", 1, MSG_DONTWAIT, (struct sockaddr *)&ss, len) < 0) {
		/* unreachable now: the lookup below says so */
	}
	close(fd);
}

/* The kind of a link (IFLA_INFO_KIND: "vlan", "veth", ...); "" for none. */
struct link_reply {
	char kind[16];
};

static int link_info_attr(const struct nlattr *a, void *data)
{
	struct link_reply *l = data;

	if (mnl_attr_get_type(a) == IFLA_INFO_KIND && !mnl_attr_validate(a, MNL_TYPE_STRING))
		snprintf(l->kind, sizeof(l->kind), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

static int link_attr(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == IFLA_LINKINFO && !mnl_attr_validate(a, MNL_TYPE_NESTED))
		return mnl_attr_parse_nested(a, link_info_attr, data);
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	return mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_attr, data);
}

static int link_kind(struct mnl_socket *nl, uint32_t ifindex, struct link_reply *l)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	memset(l, 0, sizeof(*l));
	return rtnl_ask(nl, nlh, link_cb, l);
}

static int link_mac(uint32_t ifindex, uint8_t mac[6])
{
	struct ifreq ifr = {};
	int fd, err = 0;

	if (!if_indextoname(ifindex, ifr.ifr_name))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return err;
}

int weirctl_nexthop(struct weirctl_ctx *ctx, uint8_t family, const uint8_t addr[16],
		    const uint8_t *mac, struct weirctl_nexthop *nh)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	char a[INET6_ADDRSTRLEN], dev[IF_NAMESIZE] = "?";
	struct route_reply r;
	struct neigh_reply n;
	struct link_reply lk;
	const uint8_t *hop;
	int err, ret = 1;

	weir_ip_format(family, addr, a, sizeof(a));
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		if (nl)
			mnl_socket_close(nl);
		return weirctl_err(ctx, "netlink: %s", strerror(-err));
	}
	err = route_get(nl, family, addr, &r);
	if (err) {
		weirctl_err(ctx, "backend %s: no route (%s)", a, strerror(-err));
		goto out;
	}
	if (r.type != RTN_UNICAST || !r.oif) {
		weirctl_err(ctx, "backend %s: %s", a, r.type == RTN_LOCAL
			    ? "is an address of this host" : "has no unicast route");
		goto out;
	}
	if_indextoname(r.oif, dev);
	if (!r.has_src) {
		weirctl_err(ctx, "backend %s: the route through %s has no source "
			    "address to encapsulate from", a, dev);
		goto out;
	}
	/* XDP sends frames out of a device that has a driver of its own: a
	 * VLAN device has none (and the frame keeps the tags it came with). */
	err = link_kind(nl, r.oif, &lk);
	if (err) {
		weirctl_err(ctx, "%s: %s", dev, strerror(-err));
		goto out;
	}
	if (!strcmp(lk.kind, "vlan")) {
		weirctl_err(ctx, "backend %s is reached through VLAN device %s: XDP "
			    "cannot send there; reach it through the interface itself",
			    a, dev);
		goto out;
	}
	memset(nh, 0, sizeof(*nh));
	nh->ifindex = r.oif;
	nh->onlink = !r.has_gw;
	memcpy(nh->src, r.src, (size_t)alen(family));
	err = link_mac(r.oif, nh->smac);
	if (err) {
		weirctl_err(ctx, "%s: no MAC address (%s)", dev, strerror(-err));
		goto out;
	}
	if (mac) {
		memcpy(nh->dmac, mac, 6);
		ret = 0;
		goto out;
	}
	hop = r.has_gw ? r.gw : addr;
	for (int i = 0; i < NEIGH_TRIES; i++) {
		err = neigh_get(nl, family, r.oif, hop, &n);
		if (err) {
			weirctl_err(ctx, "backend %s: neighbour lookup on %s: %s", a,
				    dev, strerror(-err));
			goto out;
		}
		if (neigh_usable(&n)) {
			memcpy(nh->dmac, n.mac, 6);
			ret = 0;
			goto out;
		}
		if (i == 0)
			neigh_provoke(family, addr);
		usleep(50 * 1000);
	}
	weir_ip_format(family, hop, a, sizeof(a));
	weirctl_err(ctx, "next hop %s on %s does not answer: no MAC address "
		    "(give one with --mac)", a, dev);
out:
	mnl_socket_close(nl);
	return ret;
}
