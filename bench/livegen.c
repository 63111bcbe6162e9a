/* livegen.c - weir's live packet generator.
 *
 * Sends real frames out of a veth with the technique of xdp-trafficgen: a
 * tiny XDP program (bench/livegen.bpf.c) whose verdict is bpf_redirect() to
 * the veth is run through BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES
 * and a large repeat. Every repetition is a real xdp_frame handed to the
 * veth's ndo_xdp_xmit, so it arrives at the peer like a received frame.
 *
 *   livegen --dev IFACE [--netns NAME] [--cpu N] [--size BYTES]
 *           [--src ADDR | --src-file FILE [--src-count N]] [--dst ADDR]
 *           [--dst-mac MAC] [--duration SEC] [--max-frames N]
 *           [--chunk N] [--batch N]
 *
 * It runs for --duration seconds or --max-frames frames, whichever comes
 * first (both bounded), in chunks of --chunk repetitions, pinned to --cpu,
 * and prints one JSON object: frames handed to the kernel, the elapsed time
 * and the offered rate. What arrived is for the caller to count at the
 * receiver (the veth peer's counters), over the elapsed time printed here.
 *
 * The frame is Ethernet + IPv4/IPv6 + UDP, zero padded to --size bytes
 * (default 64, without FCS); the family follows the source address. With
 * --src-file the sources (one address per line, '#' comments, a "/len"
 * suffix ignored) are rotated frame by frame, up to --src-count of them.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "livegen.skel.h"

#define LIVEGEN_SRC_MAX 65536
#define LIVEGEN_SIZE_MAX 1500

struct addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t a[16];
};

struct opts {
	const char *dev, *netns, *src_file;
	struct addr src, dst;
	uint8_t dst_mac[ETH_ALEN];
	int cpu, size, chunk, batch;
	long src_count;
	double duration;
	unsigned long long max_frames;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: livegen --dev IFACE [--netns NAME] [--cpu N] [--size BYTES]\n"
		"               [--src ADDR | --src-file FILE [--src-count N]] [--dst ADDR]\n"
		"               [--dst-mac MAC] [--duration SEC] [--max-frames N]\n"
		"               [--chunk N] [--batch N]\n");
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse_addr(const char *s, struct addr *a)
{
	char buf[INET6_ADDRSTRLEN];
	size_t n = strcspn(s, "/ \t\r\n");

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, a->a) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, a->a) == 1)
		a->family = AF_INET6;
	else
		return -1;
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[ETH_ALEN])
{
	unsigned int b[ETH_ALEN];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4],
		   &b[5]) != ETH_ALEN)
		return -1;
	for (int i = 0; i < ETH_ALEN; i++) {
		if (b[i] > 0xff)
			return -1;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static uint16_t csum16(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* Builds the template frame; returns the offset of the source address. */
static int build_frame(const struct opts *o, const uint8_t src_mac[ETH_ALEN],
		       uint8_t *pkt)
{
	struct ethhdr *eth = (struct ethhdr *)pkt;
	struct udphdr *udp;
	int l3 = sizeof(*eth), off;

	memset(pkt, 0, (size_t)o->size);
	memcpy(eth->h_dest, o->dst_mac, ETH_ALEN);
	memcpy(eth->h_source, src_mac, ETH_ALEN);
	if (o->src.family == AF_INET) {
		struct iphdr *ip = (struct iphdr *)(pkt + l3);

		eth->h_proto = htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->tot_len = htons((uint16_t)(o->size - l3));
		memcpy(&ip->saddr, o->src.a, 4);
		memcpy(&ip->daddr, o->dst.a, 4);
		ip->check = csum16(ip, sizeof(*ip));
		udp = (struct udphdr *)(ip + 1);
		off = l3 + (int)offsetof(struct iphdr, saddr);
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(pkt + l3);

		eth->h_proto = htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->hop_limit = 64;
		ip6->nexthdr = IPPROTO_UDP;
		ip6->payload_len = htons((uint16_t)(o->size - l3 - (int)sizeof(*ip6)));
		memcpy(&ip6->saddr, o->src.a, 16);
		memcpy(&ip6->daddr, o->dst.a, 16);
		udp = (struct udphdr *)(ip6 + 1);
		off = l3 + (int)offsetof(struct ipv6hdr, saddr);
	}
	udp->source = htons(9);
	udp->dest = htons(9);
	udp->len = htons((uint16_t)(o->size - ((uint8_t *)udp - pkt)));
	return off;
}

/* Reads up to max addresses of the given family from a file. */
static long read_srcs(const char *path, int family, struct addr *v, long max)
{
	char line[256];
	long n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	while (n < max && fgets(line, sizeof(line), f)) {
		char *s = line + strspn(line, " \t");

		if (*s == '#' || *s == '\n' || *s == '\0')
			continue;
		if (parse_addr(s, &v[n]) || v[n].family != family)
			continue;
		n++;
	}
	fclose(f);
	return n;
}

static int enter_netns(const char *name)
{
	char path[256];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/var/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET))
		err = -errno;
	close(fd);
	return err;
}

static int dev_mac(const char *dev, uint8_t mac[ETH_ALEN])
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	close(fd);
	return err;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "netns", required_argument, NULL, 'n' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "src", required_argument, NULL, 'S' },
		{ "src-file", required_argument, NULL, 'F' },
		{ "src-count", required_argument, NULL, 'N' },
		{ "dst", required_argument, NULL, 'D' },
		{ "dst-mac", required_argument, NULL, 'M' },
		{ "duration", required_argument, NULL, 't' },
		{ "max-frames", required_argument, NULL, 'm' },
		{ "chunk", required_argument, NULL, 'k' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *src = NULL, *dst = NULL;
	int c;

	*o = (struct opts){
		.cpu = 0, .size = 64, .chunk = 1 << 20, .batch = 0,
		.src_count = 4096, .duration = 2.0,
		.max_frames = 100000000ull,
		.dst_mac = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 },
	};
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->dev = optarg; break;
		case 'n': o->netns = optarg; break;
		case 'c': o->cpu = atoi(optarg); break;
		case 's': o->size = atoi(optarg); break;
		case 'S': src = optarg; break;
		case 'F': o->src_file = optarg; break;
		case 'N': o->src_count = atol(optarg); break;
		case 'D': dst = optarg; break;
		case 'M':
			if (parse_mac(optarg, o->dst_mac)) {
				fprintf(stderr, "livegen: bad MAC '%s'\n", optarg);
				return -1;
			}
			break;
		case 't': o->duration = atof(optarg); break;
		case 'm': o->max_frames = strtoull(optarg, NULL, 10); break;
		case 'k': o->chunk = atoi(optarg); break;
		case 'b': o->batch = atoi(optarg); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (!o->dev || optind != argc) {
		usage(stderr);
		return -1;
	}
	if (!src)
		src = "198.18.0.1";
	if (parse_addr(src, &o->src)) {
		fprintf(stderr, "livegen: bad source address '%s'\n", src);
		return -1;
	}
	if (!dst)
		dst = o->src.family == AF_INET ? "198.19.0.1" : "2001:2::1";
	if (parse_addr(dst, &o->dst) || o->dst.family != o->src.family) {
		fprintf(stderr, "livegen: bad destination address '%s'\n", dst);
		return -1;
	}
	if (o->duration <= 0 || o->duration > 600) {
		fprintf(stderr, "livegen: --duration must be in (0, 600] seconds\n");
		return -1;
	}
	if (o->size < 64 || o->size > LIVEGEN_SIZE_MAX) {
		fprintf(stderr, "livegen: --size must be 64..%d\n", LIVEGEN_SIZE_MAX);
		return -1;
	}
	if (o->chunk < 1 || o->max_frames < 1 || o->src_count < 1 ||
	    o->src_count > LIVEGEN_SRC_MAX || o->batch < 0) {
		fprintf(stderr, "livegen: bad --chunk, --max-frames, --src-count or --batch\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t pkt[LIVEGEN_SIZE_MAX], src_mac[ETH_ALEN];
	struct livegen_bpf *skel = NULL;
	struct addr *srcs = NULL;
	unsigned long long sent = 0;
	long nsrc = 1;
	uint64_t t0, t1, deadline;
	unsigned int ifindex;
	int src_off, calls = 0, err;
	cpu_set_t set;
	struct opts o;

	if (parse_args(argc, argv, &o))
		return 2;
	if (o.netns && (err = enter_netns(o.netns))) {
		fprintf(stderr, "livegen: netns %s: %s\n", o.netns, strerror(-err));
		return 1;
	}
	ifindex = if_nametoindex(o.dev);
	if (!ifindex) {
		fprintf(stderr, "livegen: %s: %s\n", o.dev, strerror(errno));
		return 1;
	}
	if ((err = dev_mac(o.dev, src_mac))) {
		fprintf(stderr, "livegen: %s: MAC: %s\n", o.dev, strerror(-err));
		return 1;
	}
	CPU_ZERO(&set);
	CPU_SET(o.cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "livegen: pin to CPU %d: %s\n", o.cpu, strerror(errno));
		return 1;
	}
	if (o.src_file) {
		srcs = calloc((size_t)o.src_count, sizeof(*srcs));
		if (!srcs)
			return 1;
		nsrc = read_srcs(o.src_file, o.src.family, srcs, o.src_count);
		if (nsrc < 1) {
			fprintf(stderr, "livegen: %s: no %s addresses\n", o.src_file,
				o.src.family == AF_INET ? "IPv4" : "IPv6");
			free(srcs);
			return 1;
		}
		o.src = srcs[0];
	}
	src_off = build_frame(&o, src_mac, pkt);

	skel = livegen_bpf__open();
	if (!skel) {
		fprintf(stderr, "livegen: open: %s\n", strerror(errno));
		free(srcs);
		return 1;
	}
	skel->rodata->livegen_ifindex = ifindex;
	skel->rodata->livegen_nsrc = (uint32_t)nsrc;
	skel->rodata->livegen_src_off = (uint32_t)src_off;
	skel->rodata->livegen_src_len = o.src.family == AF_INET ? 4 : 16;
	if ((err = livegen_bpf__load(skel))) {
		fprintf(stderr, "livegen: load: %s\n", strerror(-err));
		goto out;
	}
	for (long i = 0; i < nsrc; i++) {
		uint32_t k = (uint32_t)i;

		if (bpf_map_update_elem(bpf_map__fd(skel->maps.livegen_srcs), &k,
					srcs ? srcs[i].a : o.src.a, BPF_ANY)) {
			err = -errno;
			fprintf(stderr, "livegen: source table: %s\n", strerror(errno));
			goto out;
		}
	}

	t0 = now_ns();
	deadline = t0 + (uint64_t)(o.duration * 1e9);
	do {
		unsigned long long left = o.max_frames - sent;
		LIBBPF_OPTS(bpf_test_run_opts, ro,
			    .data_in = pkt,
			    .data_size_in = (uint32_t)o.size,
			    .repeat = (int)(left < (unsigned long long)o.chunk
						    ? left : (unsigned long long)o.chunk),
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
			    .batch_size = (uint32_t)o.batch);

		if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.livegen), &ro)) {
			err = -errno;
			fprintf(stderr, "livegen: BPF_PROG_TEST_RUN (live frames): %s\n",
				strerror(errno));
			goto out;
		}
		sent += (unsigned long long)ro.repeat;
		calls++;
	} while (sent < o.max_frames && now_ns() < deadline);
	t1 = now_ns();

	printf("{\"dev\": \"%s\", \"ifindex\": %u, \"cpu\": %d, \"size\": %d, "
	       "\"family\": %d, \"sources\": %ld, \"frames\": %llu, \"calls\": %d, "
	       "\"elapsed_ns\": %llu, \"offered_pps\": %.0f}\n",
	       o.dev, ifindex, o.cpu, o.size, o.src.family == AF_INET ? 4 : 6,
	       nsrc, sent, calls, (unsigned long long)(t1 - t0),
	       (double)sent * 1e9 / (double)(t1 - t0));
	err = 0;
out:
	livegen_bpf__destroy(skel);
	free(srcs);
	return err ? 1 : 0;
}
