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
 *           [--dst-mac MAC] [--duration SEC] [--max-frames N] [--batch N]
 *           [--rx-count FILE] [--sample-cpu N] [--restore]
 *
 * It sends for --duration seconds or --max-frames frames, whichever comes
 * first (both bounded: a timer signal interrupts the kernel's run loop),
 * pinned to --cpu, and prints one JSON object.
 *
 * The rate that counts is the receiver's: with --rx-count (a counter file
 * such as /sys/class/net/PEER/statistics/rx_packets, opened before entering
 * --netns) a sampler thread on --sample-cpu reads it every 10 ms, and the
 * receive rate is taken over the steady part of the run: from 150 ms after
 * the start (each BPF_PROG_TEST_RUN call with repeat > 1 first swaps the
 * kernel's XDP dispatcher, which sleeps for some ms) to the stop. Frames sent
 * are counted at the sender (tx_packets of IFACE in /proc/net/dev).
 *
 * The frame is Ethernet + IPv4/IPv6 + UDP, zero padded to --size bytes
 * (default 64, without FCS); the family follows the source address. With
 * --src-file the sources (one address per line, '#' comments, a "/len"
 * suffix ignored) are rotated frame by frame, up to --src-count of them.
 *
 * --restore writes the template's first 64 bytes into every frame before it
 * leaves: for receivers that forward frames in place (XDP_TX after
 * rewriting or prepending a header), whose changes would otherwise come
 * back with the page to the generator's pool and into later frames.
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
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
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
	const char *dev, *netns, *src_file, *rx_count;
	struct addr src, dst;
	uint8_t dst_mac[ETH_ALEN];
	int cpu, sample_cpu, size, batch, restore;
	long src_count;
	double duration;
	unsigned long long max_frames;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: livegen --dev IFACE [--netns NAME] [--cpu N] [--size BYTES]\n"
		"               [--src ADDR | --src-file FILE [--src-count N]] [--dst ADDR]\n"
		"               [--dst-mac MAC] [--duration SEC] [--max-frames N] [--batch N]\n"
		"               [--rx-count FILE] [--sample-cpu N] [--restore]\n");
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
		{ "rx-count", required_argument, NULL, 'r' },
		{ "sample-cpu", required_argument, NULL, 'C' },
		{ "batch", required_argument, NULL, 'b' },
		{ "restore", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *src = NULL, *dst = NULL;
	int c;

	*o = (struct opts){
		.cpu = 0, .sample_cpu = -1, .size = 64, .batch = 0,
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
		case 'r': o->rx_count = optarg; break;
		case 'C': o->sample_cpu = atoi(optarg); break;
		case 'b': o->batch = atoi(optarg); break;
		case 'R': o->restore = 1; break;
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
	if (o->max_frames < 1 || o->max_frames > 2000000000ull || o->src_count < 1 ||
	    o->src_count > LIVEGEN_SRC_MAX || o->batch < 0) {
		fprintf(stderr, "livegen: bad --max-frames (1..2e9), --src-count or --batch\n");
		return -1;
	}
	return 0;
}

/* ---- the receiver's counter, sampled from another CPU ---- */

#define SAMPLE_MAX 60100 /* 10 ms apart: up to 600 s */
#define SAMPLE_SKIP_NS 150000000ull

struct sampler {
	int fd, cpu;
	volatile int stop;
	long n;
	uint64_t t[SAMPLE_MAX], c[SAMPLE_MAX];
};

static int read_counter(int fd, uint64_t *v)
{
	char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	*v = strtoull(buf, NULL, 10);
	return 0;
}

static void *sampler_main(void *arg)
{
	struct sampler *s = arg;
	struct timespec d = { 0, 10000000 };
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(s->cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	while (!s->stop && s->n < SAMPLE_MAX) {
		uint64_t v;

		if (read_counter(s->fd, &v) == 0) {
			s->t[s->n] = now_ns();
			s->c[s->n] = v;
			s->n++;
		}
		nanosleep(&d, NULL);
	}
	return NULL;
}

/* tx_packets of dev in this netns's /proc/net/dev. */
static int dev_tx_packets(const char *dev, uint64_t *v)
{
	char line[512];
	size_t len = strlen(dev);
	FILE *f = fopen("/proc/self/net/dev", "r");
	int err = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " ");
		unsigned long long x[10];

		if (strncmp(p, dev, len) || p[len] != ':')
			continue;
		if (sscanf(p + len + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &x[0], &x[1], &x[2], &x[3], &x[4], &x[5], &x[6], &x[7],
			   &x[8], &x[9]) == 10) {
			*v = x[9];
			err = 0;
		}
		break;
	}
	fclose(f);
	return err;
}

static void on_alarm(int sig)
{
	(void)sig; /* only to interrupt BPF_PROG_TEST_RUN with EINTR */
}

int main(int argc, char **argv)
{
	uint8_t pkt[LIVEGEN_SIZE_MAX], src_mac[ETH_ALEN];
	struct livegen_bpf *skel = NULL;
	struct sampler *smp = NULL;
	struct addr *srcs = NULL;
	struct sigaction sa = {};
	struct itimerval it = {};
	uint64_t t0, t1, tx0 = 0, tx1 = 0;
	double rx_pps = 0, window_s = 0;
	unsigned long long rx_frames = 0;
	pthread_t th;
	sigset_t block;
	long nsrc = 1;
	unsigned int ifindex;
	int src_off, interrupted = 0, err, ncpu;
	cpu_set_t set;
	struct opts o;

	if (parse_args(argc, argv, &o))
		return 2;
	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (o.sample_cpu < 0)
		o.sample_cpu = ncpu > 1 ? (o.cpu + 1) % ncpu : o.cpu;
	if (o.rx_count) {
		/* Opened before --netns: the receiver is usually outside it. */
		smp = calloc(1, sizeof(*smp));
		if (!smp)
			return 1;
		smp->fd = open(o.rx_count, O_RDONLY | O_CLOEXEC);
		smp->cpu = o.sample_cpu;
		if (smp->fd < 0) {
			fprintf(stderr, "livegen: %s: %s\n", o.rx_count, strerror(errno));
			return 1;
		}
	}
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
	skel->rodata->livegen_restore = (uint32_t)o.restore;
	if ((err = livegen_bpf__load(skel))) {
		fprintf(stderr, "livegen: load: %s\n", strerror(-err));
		goto out;
	}
	memcpy(skel->bss->livegen_head, pkt, sizeof(skel->bss->livegen_head));
	for (long i = 0; i < nsrc; i++) {
		uint32_t k = (uint32_t)i;

		if (bpf_map_update_elem(bpf_map__fd(skel->maps.livegen_srcs), &k,
					srcs ? srcs[i].a : o.src.a, BPF_ANY)) {
			err = -errno;
			fprintf(stderr, "livegen: source table: %s\n", strerror(errno));
			goto out;
		}
	}

	/* The sampler must not take the timer signal: block it there. */
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	if (smp && (err = pthread_create(&th, NULL, sampler_main, smp))) {
		fprintf(stderr, "livegen: sampler: %s\n", strerror(err));
		err = -err;
		goto out;
	}
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);
	sa.sa_handler = on_alarm; /* no SA_RESTART: the syscall returns EINTR */
	sigaction(SIGALRM, &sa, NULL);

	dev_tx_packets(o.dev, &tx0);
	t0 = now_ns();
	it.it_value.tv_sec = (time_t)o.duration;
	it.it_value.tv_usec = (suseconds_t)((o.duration - (double)(time_t)o.duration) * 1e6);
	setitimer(ITIMER_REAL, &it, NULL);
	{
		LIBBPF_OPTS(bpf_test_run_opts, ro,
			    .data_in = pkt,
			    .data_size_in = (uint32_t)o.size,
			    .repeat = (int)o.max_frames,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
			    .batch_size = (uint32_t)o.batch);

		if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.livegen), &ro)) {
			if (errno == EINTR) {
				interrupted = 1;
			} else {
				err = -errno;
				fprintf(stderr, "livegen: BPF_PROG_TEST_RUN (live frames): %s\n",
					strerror(errno));
			}
		}
	}
	t1 = now_ns();
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	dev_tx_packets(o.dev, &tx1);
	if (smp) {
		smp->stop = 1;
		pthread_join(th, NULL);
	}
	if (err)
		goto out;

	if (smp) {
		/* Steady window: first sample >= t0 + skip, last sample <= t1. */
		long a = -1, b = -1;

		for (long i = 0; i < smp->n; i++) {
			if (a < 0 && smp->t[i] >= t0 + SAMPLE_SKIP_NS)
				a = i;
			if (smp->t[i] <= t1)
				b = i;
		}
		if (a >= 0 && b > a) {
			rx_frames = smp->c[b] - smp->c[a];
			window_s = (double)(smp->t[b] - smp->t[a]) / 1e9;
			rx_pps = (double)rx_frames / window_s;
		} else {
			fprintf(stderr, "livegen: run too short for the receive window "
					"(need --duration > 0.3)\n");
			err = -EINVAL;
			goto out;
		}
	}
	printf("{\"dev\": \"%s\", \"ifindex\": %u, \"cpu\": %d, \"size\": %d, "
	       "\"family\": %d, \"sources\": %ld, \"restore\": %s, \"interrupted\": %s, "
	       "\"elapsed_s\": %.4f, \"tx_frames\": %llu, \"tx_pps\": %.0f",
	       o.dev, ifindex, o.cpu, o.size, o.src.family == AF_INET ? 4 : 6,
	       nsrc, o.restore ? "true" : "false", interrupted ? "true" : "false",
	       (double)(t1 - t0) / 1e9,
	       (unsigned long long)(tx1 - tx0),
	       (double)(tx1 - tx0) * 1e9 / (double)(t1 - t0));
	if (smp)
		printf(", \"rx_counter\": \"%s\", \"rx_window_s\": %.4f, "
		       "\"rx_frames\": %llu, \"rx_pps\": %.0f, \"samples\": %ld",
		       o.rx_count, window_s, rx_frames, rx_pps, smp->n);
	printf("}\n");
	err = 0;
out:
	livegen_bpf__destroy(skel);
	free(srcs);
	if (smp) {
		close(smp->fd);
		free(smp);
	}
	return err ? 1 : 0;
}
