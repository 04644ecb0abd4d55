#!/usr/bin/env python3
"""Inputs and variants of the TCP reassembly / defragmentation test captures.

  flow_variants.py files DIR          write the served files (fixed seed)
  flow_variants.py udp HOST PORT      send large UDP datagrams (to fragment)
  flow_variants.py variants DATADIR   derive the variant captures from
                                      flow_http4.pcap and flow_http6.pcap

Variants (Ethernet, pcap, microsecond), each from a fixed seed:
  flow_reorder.pcap  data segments delayed past 1..4 later ones
  flow_dup.pcap      data segments duplicated, at once or later
  flow_reseg.pcap    data segments re-cut into 2..3 overlapping pieces
                     (same bytes), sent out of order
  flow_wrap.pcap     sequence numbers moved so each stream crosses 2^32
  flow_loss.pcap     one data segment of the 100 KB response removed
  flow_frag4.pcap    IPv4 datagrams cut into fragments, reordered, one
                     overlapping fragment with the same bytes added
  flow_frag6.pcap    IPv6 datagrams cut into fragments, reordered
  flow_qinq.pcap     flow_http6 with two VLAN tags (802.1ad + 802.1Q)
  flow_frag_rev.pcap flow_frag.pcap backwards, then some of it again
Only the standard library; checksums are computed again where bytes move.
"""
import os
import random
import socket
import struct
import sys


def served_files(d):
    rnd = random.Random(27)
    text = ("".join(rnd.choice("abcdefghijklmnopqrstuvwxyz \n") for _ in range(1000)))
    files = {"small.txt": text.encode(),
             "medium.bin": bytes(rnd.getrandbits(8) for _ in range(40000)),
             "large.bin": bytes(rnd.getrandbits(8) for _ in range(100000)),
             "large6.bin": bytes(rnd.getrandbits(8) for _ in range(60000))}
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def send_udp(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER: DONT
    rnd = random.Random(5722)
    for n in (1400, 3000, 5000, 9000):
        s.sendto(bytes(rnd.getrandbits(8) for _ in range(n)), (host, port))


# pcap --------------------------------------------------------------------

def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    assert magic == 0xa1b2c3d4, "little-endian microsecond pcap expected"
    hdr = data[:24]
    off, pkts = 24, []
    while off + 16 <= len(data):
        sec, usec, caplen, length = struct.unpack("<IIII", data[off:off + 16])
        pkts.append([sec, usec, data[off + 16:off + 16 + caplen]])
        off += 16 + caplen
    return hdr, pkts


def write_pcap(path, hdr, pkts):
    with open(path, "wb") as f:
        f.write(hdr)
        for sec, usec, frame in pkts:
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            f.write(frame)


# headers -------------------------------------------------------------------

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


class Seg:
    """An Ethernet/IP/TCP frame taken apart."""

    def __init__(self, frame):
        self.eth = frame[:14]
        ip = frame[14:]
        self.v = ip[0] >> 4
        if self.v == 4:
            ihl = (ip[0] & 15) * 4
            total = struct.unpack("!H", ip[2:4])[0]
            self.iphdr, rest = ip[:ihl], ip[ihl:total]
            self.src, self.dst = ip[12:16], ip[16:20]
        else:
            plen = struct.unpack("!H", ip[4:6])[0]
            self.iphdr, rest = ip[:40], ip[40:40 + plen]
            self.src, self.dst = ip[8:24], ip[24:40]
        doff = (rest[12] >> 4) * 4
        self.tcphdr = bytearray(rest[:doff])
        self.data = rest[doff:]

    @property
    def seq(self):
        return struct.unpack("!I", self.tcphdr[4:8])[0]

    @seq.setter
    def seq(self, v):
        self.tcphdr[4:8] = struct.pack("!I", v & 0xffffffff)

    @property
    def ack(self):
        return struct.unpack("!I", self.tcphdr[8:12])[0]

    @ack.setter
    def ack(self, v):
        self.tcphdr[8:12] = struct.pack("!I", v & 0xffffffff)

    @property
    def flags(self):
        return self.tcphdr[13]

    @property
    def key(self):
        return (self.src, bytes(self.tcphdr[0:2]), self.dst, bytes(self.tcphdr[2:4]))

    def frame(self, data=None, seq=None):
        data = self.data if data is None else data
        tcp = bytearray(self.tcphdr)
        if seq is not None:
            tcp[4:8] = struct.pack("!I", seq & 0xffffffff)
        tcp[16:18] = b"\0\0"
        tlen = len(tcp) + len(data)
        if self.v == 4:
            pseudo = self.src + self.dst + struct.pack("!BBH", 0, 6, tlen)
        else:
            pseudo = self.src + self.dst + struct.pack("!IxxxB", tlen, 6)
        tcp[16:18] = struct.pack("!H", csum(pseudo + bytes(tcp) + data))
        ip = bytearray(self.iphdr)
        if self.v == 4:
            ip[2:4] = struct.pack("!H", len(ip) + tlen)
            ip[10:12] = b"\0\0"
            ip[10:12] = struct.pack("!H", csum(bytes(ip)))
        else:
            ip[4:6] = struct.pack("!H", tlen)
        return self.eth + bytes(ip) + bytes(tcp) + data


def is_tcp(frame):
    if frame[12:14] == b"\x08\x00":
        return frame[23] == 6
    return frame[12:14] == b"\x86\xdd" and frame[20] == 6


# variants ----------------------------------------------------------------

def reorder(pkts, rnd):
    out = list(pkts)
    i = 0
    while i < len(out) - 5:
        if is_tcp(out[i][2]) and Seg(out[i][2]).data and rnd.random() < 0.25:
            k = rnd.randint(1, 4)
            p = out.pop(i)
            out.insert(i + k, p)
            i += k + 1
        else:
            i += 1
    return out


def dup(pkts, rnd):
    out, later = [], []
    for p in pkts:
        out.append(p)
        if is_tcp(p[2]) and Seg(p[2]).data and rnd.random() < 0.2:
            if rnd.random() < 0.5:
                out.append(list(p))
            else:
                later.append((len(out) + rnd.randint(2, 10), list(p)))
        for pos, q in [x for x in later if x[0] <= len(out)]:
            out.append(q)
            later.remove((pos, q))
    return out + [q for _, q in later]


def reseg(pkts, rnd):
    out = []
    for sec, usec, f in pkts:
        s = Seg(f) if is_tcp(f) else None
        if not s or len(s.data) < 200:
            out.append([sec, usec, f])
            continue
        n = len(s.data)
        cuts = sorted(rnd.sample(range(50, n - 50), rnd.randint(1, 2)))
        bounds = [0] + cuts + [n]
        pieces = []
        for a, b in zip(bounds, bounds[1:]):
            a2 = max(0, a - rnd.randint(0, 40))  # overlap the piece before
            pieces.append(s.frame(s.data[a2:b], s.seq + a2))
        rnd.shuffle(pieces)
        out.extend([sec, usec, p] for p in pieces)
    return out


def wrap(pkts):
    base = {}
    out = []
    for sec, usec, f in pkts:
        if not is_tcp(f):
            out.append([sec, usec, f])
            continue
        s = Seg(f)
        k = s.key
        rk = (k[2], k[3], k[0], k[1])
        if k not in base:
            # the stream starts 3000 bytes short of the wrap
            base[k] = (0x100000000 - 3000 - s.seq) & 0xffffffff
        s.seq = s.seq + base[k]
        if s.flags & 0x10 and rk in base:
            s.ack = s.ack + base[rk]
        elif s.flags & 0x10:
            base[rk] = (0x100000000 - 5000 - (s.ack - 1)) & 0xffffffff
            s.ack = s.ack + base[rk]
        out.append([sec, usec, s.frame()])
    return out


def loss(pkts):
    # the 40th data segment from B (well inside large.bin's response)
    n = 0
    for i, (_, _, f) in enumerate(pkts):
        if is_tcp(f) and Seg(f).data and Seg(f).tcphdr[0:2] == b"\x1f\x90":
            n += 1
            if n == 60:
                return pkts[:i] + pkts[i + 1:]
    raise SystemExit("no segment to remove")


def frag4(pkts, rnd):
    out = []
    ident = 1000
    for sec, usec, f in pkts:
        if not (is_tcp(f) and len(f) > 600):
            out.append([sec, usec, f])
            continue
        eth, ip = f[:14], f[14:]
        ihl = (ip[0] & 15) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        payload = ip[ihl:total]
        ident += 1
        cuts = sorted(rnd.sample(range(1, len(payload) // 8), 2))
        bounds = [0] + [c * 8 for c in cuts] + [len(payload)]
        pieces = [(a, payload[a:b]) for a, b in zip(bounds, bounds[1:])]
        # an overlapping fragment with the same bytes
        a = bounds[1] - 8 * rnd.randint(1, 4)
        pieces.append((max(0, a), payload[max(0, a):bounds[2]]))
        frags = []
        for off, data in pieces:
            mf = 1 if off + len(data) < len(payload) else 0
            h = bytearray(ip[:20])
            h[0] = 0x45
            h[2:4] = struct.pack("!H", 20 + len(data))
            h[4:6] = struct.pack("!H", ident & 0xffff)
            h[6:8] = struct.pack("!H", (mf << 13) | (off // 8))
            h[10:12] = b"\0\0"
            h[10:12] = struct.pack("!H", csum(bytes(h)))
            frags.append(eth + bytes(h) + data)
        rnd.shuffle(frags)
        out.extend([sec, usec, fr] for fr in frags)
    return out


def frag6(pkts, rnd):
    out = []
    ident = 7000
    for sec, usec, f in pkts:
        if not (is_tcp(f) and len(f) > 600):
            out.append([sec, usec, f])
            continue
        eth, ip = f[:14], f[14:]
        plen = struct.unpack("!H", ip[4:6])[0]
        payload = ip[40:40 + plen]
        ident += 1
        cuts = sorted(rnd.sample(range(1, len(payload) // 8), 2))
        bounds = [0] + [c * 8 for c in cuts] + [len(payload)]
        frags = []
        for a, b in zip(bounds, bounds[1:]):
            m = 1 if b < len(payload) else 0
            h = bytearray(ip[:40])
            h[4:6] = struct.pack("!H", 8 + b - a)
            h[6] = 44
            fh = struct.pack("!BBHI", 6, 0, (a // 8) << 3 | m, ident)
            frags.append(eth + bytes(h) + fh + payload[a:b])
        rnd.shuffle(frags)
        out.extend([sec, usec, fr] for fr in frags)
    return out


def qinq(pkts):
    tags = struct.pack("!HHHH", 0x88a8, 100, 0x8100, 200)
    return [[s, u, f[:12] + tags + f[12:]] for s, u, f in pkts]


def variants(d):
    hdr, p4 = read_pcap(os.path.join(d, "flow_http4.pcap"))
    _, p6 = read_pcap(os.path.join(d, "flow_http6.pcap"))
    made = {"flow_reorder.pcap": reorder(p4, random.Random(1)),
            "flow_dup.pcap": dup(p4, random.Random(2)),
            "flow_reseg.pcap": reseg(p4, random.Random(3)),
            "flow_wrap.pcap": wrap(p4),
            "flow_loss.pcap": loss(p4),
            "flow_frag4.pcap": frag4(p4, random.Random(4)),
            "flow_frag6.pcap": frag6(p6, random.Random(5)),
            "flow_qinq.pcap": qinq(p6)}
    hf, pf = read_pcap(os.path.join(d, "flow_frag.pcap"))
    write_pcap(os.path.join(d, "flow_frag_rev.pcap"), hf, list(reversed(pf)) + pf[1:4])
    for name, pkts in made.items():
        write_pcap(os.path.join(d, name), hdr, pkts)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "files":
        served_files(sys.argv[2])
    elif cmd == "udp":
        send_udp(sys.argv[2], int(sys.argv[3]))
    elif cmd == "variants":
        variants(sys.argv[2])
    else:
        raise SystemExit(__doc__)
