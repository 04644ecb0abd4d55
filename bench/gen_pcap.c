/*
 * gen_pcap - write N synthetic Ethernet/IPv4/UDP frames to a pcap file.
 *
 * Usage: gen_pcap -n COUNT -o FILE [-m fixed|mixed] [-l LEN] [-s SEED]
 *                 [-d DSTMAC] [-e SRCMAC] [-a SRCIP] [-b DSTIP] [-i USEC]
 *
 *   -n COUNT   number of frames (default 1000000)
 *   -o FILE    output pcap file ("-" for stdout)
 *   -m MODE    "fixed": every frame LEN bytes (default);
 *              "mixed": lengths uniform in 64..1514, from SEED
 *   -l LEN     frame length for fixed mode, 42..1514 (default 64)
 *   -s SEED    seed of the length generator (default 1)
 *   -d MAC     destination MAC (default ff:ff:ff:ff:ff:ff, broadcast)
 *   -e MAC     source MAC (default 02:00:00:00:d6:01, locally administered)
 *   -a IP      source IPv4 address (default 10.214.0.1)
 *   -b IP      destination IPv4 address (default 10.214.0.2)
 *   -i USEC    time stamp step between frames in microseconds (default 1)
 *
 * Frames are the captured bytes without FCS: a 64-byte frame is 14 bytes of
 * Ethernet header, 20 of IPv4 header (valid checksum), 8 of UDP header
 * (checksum 0, allowed for IPv4) and 22 bytes of payload. The file is a
 * classic microsecond pcap in host byte order, link type 1, snaplen 65535.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_LEN 42
#define MAX_LEN 1514

struct file_header {
	uint32_t magic;
	uint16_t major;
	uint16_t minor;
	int32_t zone;
	uint32_t sigfigs;
	uint32_t snaplen;
	uint32_t linktype;
};

struct record_header {
	uint32_t sec;
	uint32_t usec;
	uint32_t caplen;
	uint32_t len;
};

static uint64_t rng_state;

/* splitmix64: small, fast, seedable */
static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "gen_pcap: %s\n", msg);
	fprintf(stderr,
		"usage: gen_pcap -n COUNT -o FILE [-m fixed|mixed] [-l LEN] [-s SEED]\n"
		"                [-d DSTMAC] [-e SRCMAC] [-a SRCIP] [-b DSTIP] [-i USEC]\n");
	exit(2);
}

static void parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4],
		   &b[5]) != 6)
		usage("bad MAC address");
	for (i = 0; i < 6; i++) {
		if (b[i] > 255)
			usage("bad MAC address");
		mac[i] = (uint8_t)b[i];
	}
}

static uint16_t ip_checksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static unsigned long parse_ulong(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s)
		usage(what);
	return v;
}

int main(int argc, char **argv)
{
	unsigned long count = 1000000, len = 64, step = 1, i;
	int mixed = 0, opt;
	const char *out = NULL;
	uint8_t dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t src[6] = {0x02, 0x00, 0x00, 0x00, 0xd6, 0x01};
	struct in_addr saddr, daddr;
	uint8_t frame[MAX_LEN];
	struct file_header fh;
	struct record_header rh;
	uint64_t usec = 1700000000ULL * 1000000ULL;
	FILE *f;
	static char buf[1 << 20];

	rng_state = 1;
	inet_pton(AF_INET, "10.214.0.1", &saddr);
	inet_pton(AF_INET, "10.214.0.2", &daddr);

	while ((opt = getopt(argc, argv, "n:o:m:l:s:d:e:a:b:i:h")) != -1) {
		switch (opt) {
		case 'n': count = parse_ulong(optarg, "bad count"); break;
		case 'o': out = optarg; break;
		case 'm':
			if (strcmp(optarg, "mixed") == 0)
				mixed = 1;
			else if (strcmp(optarg, "fixed") == 0)
				mixed = 0;
			else
				usage("mode is fixed or mixed");
			break;
		case 'l': len = parse_ulong(optarg, "bad length"); break;
		case 's': rng_state = parse_ulong(optarg, "bad seed"); break;
		case 'd': parse_mac(optarg, dst); break;
		case 'e': parse_mac(optarg, src); break;
		case 'a':
			if (inet_pton(AF_INET, optarg, &saddr) != 1)
				usage("bad source address");
			break;
		case 'b':
			if (inet_pton(AF_INET, optarg, &daddr) != 1)
				usage("bad destination address");
			break;
		case 'i': step = parse_ulong(optarg, "bad interval"); break;
		default: usage(NULL);
		}
	}
	if (!out)
		usage("-o FILE is required");
	if (len < MIN_LEN || len > MAX_LEN)
		usage("length must be 42..1514");

	f = strcmp(out, "-") == 0 ? stdout : fopen(out, "wb");
	if (!f) {
		fprintf(stderr, "gen_pcap: %s: %s\n", out, strerror(errno));
		return 1;
	}
	setvbuf(f, buf, _IOFBF, sizeof(buf));

	fh.magic = 0xa1b2c3d4;
	fh.major = 2;
	fh.minor = 4;
	fh.zone = 0;
	fh.sigfigs = 0;
	fh.snaplen = 65535;
	fh.linktype = 1;
	if (fwrite(&fh, sizeof(fh), 1, f) != 1)
		goto write_error;

	/* constant parts of the frame */
	memset(frame, 0, sizeof(frame));
	memcpy(frame, dst, 6);
	memcpy(frame + 6, src, 6);
	frame[12] = 0x08;	/* IPv4 */
	frame[13] = 0x00;
	frame[14] = 0x45;	/* version 4, IHL 5 */
	frame[22] = 64;		/* TTL */
	frame[23] = 17;		/* UDP */
	memcpy(frame + 26, &saddr, 4);
	memcpy(frame + 30, &daddr, 4);
	for (i = 42; i < MAX_LEN; i++)
		frame[i] = (uint8_t)i;

	for (i = 0; i < count; i++) {
		unsigned long n = mixed ? 64 + rng_next() % (MAX_LEN - 64 + 1) : len;
		uint16_t ip_len = (uint16_t)(n - 14), udp_len = (uint16_t)(n - 34);
		uint16_t sport = (uint16_t)(10000 + (i & 1023)), sum;

		frame[16] = (uint8_t)(ip_len >> 8);
		frame[17] = (uint8_t)ip_len;
		frame[18] = (uint8_t)(i >> 8);	/* IP id */
		frame[19] = (uint8_t)i;
		frame[24] = frame[25] = 0;
		sum = ip_checksum(frame + 14, 20);
		frame[24] = (uint8_t)(sum >> 8);
		frame[25] = (uint8_t)sum;
		frame[34] = (uint8_t)(sport >> 8);
		frame[35] = (uint8_t)sport;
		frame[36] = 0x27;	/* dport 10001 */
		frame[37] = 0x11;
		frame[38] = (uint8_t)(udp_len >> 8);
		frame[39] = (uint8_t)udp_len;
		memcpy(frame + 42, &i, sizeof(i) < n - 42 ? sizeof(i) : n - 42);

		rh.sec = (uint32_t)(usec / 1000000);
		rh.usec = (uint32_t)(usec % 1000000);
		rh.caplen = rh.len = (uint32_t)n;
		if (fwrite(&rh, sizeof(rh), 1, f) != 1 || fwrite(frame, n, 1, f) != 1)
			goto write_error;
		usec += step;
	}
	if (fflush(f) != 0 || (f != stdout && fclose(f) != 0))
		goto write_error;
	return 0;

write_error:
	fprintf(stderr, "gen_pcap: %s: %s\n", out, strerror(errno));
	return 1;
}
