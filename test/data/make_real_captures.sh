#!/bin/sh
# Capture the real-traffic golden captures of epcap_decode_golden_SUITE:
# three network namespaces made here (A -- R -- B, R routing), traffic only
# between their addresses, tcpdump on A's interface.
#   tun_vxlan.pcap      a VXLAN tunnel (VNI 42, UDP 4789) between A and R,
#                       with ARP, IPv6 ND, ping and ping6 inside
#   icmp_err_real.pcap  ICMP/ICMPv6 errors made by the kernel: port
#                       unreachable (UDP to a closed port of B), time
#                       exceeded (TTL/hop limit 1, from R), fragmentation
#                       needed / packet too big (R-B link MTU 1280)
#   tun_rawsock.pcap    GRE (key, seq, checksum), IPv4-in-IPv4 and 6in4
#                       written through raw IP sockets (this kernel has no
#                       GRE/IPIP/SIT modules), answered by B's kernel with
#                       ICMP protocol unreachable quoting them
# Run as root from the repository root: sh test/data/make_real_captures.sh
# then regenerate the golden files (see test/data/README.md).
set -eu
K=${EPCAP_TEST_NET:-0}
O=$((215 + K))
P4=10.$O; P6=fd00:$O
A=epdec${K}a; R=epdec${K}r; B=epdec${K}b
OUT=$(pwd)/test/data

cleanup() {
    for ns in $A $R $B; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
cleanup

for ns in $A $R $B; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add a0 netns $A type veth peer name r0 netns $R
ip link add r1 netns $R type veth peer name b0 netns $B
ip -n $A link set a0 address 02:00:00:00:f0:0a
ip -n $R link set r0 address 02:00:00:00:f0:0b
ip -n $A addr add $P4.240.1/24 dev a0; ip -n $A addr add $P6:240::1/64 dev a0 nodad
ip -n $R addr add $P4.240.2/24 dev r0; ip -n $R addr add $P6:240::2/64 dev r0 nodad
ip -n $R addr add $P4.241.1/24 dev r1; ip -n $R addr add $P6:241::1/64 dev r1 nodad
ip -n $B addr add $P4.241.2/24 dev b0; ip -n $B addr add $P6:241::2/64 dev b0 nodad
ip -n $R link set r1 mtu 1280; ip -n $B link set b0 mtu 1280
for l in "$A a0" "$R r0" "$R r1" "$B b0"; do set -- $l; ip -n "$1" link set "$2" up; done
ip -n $A route add $P4.241.0/24 via $P4.240.2; ip -n $A -6 route add $P6:241::/64 via $P6:240::2
ip -n $B route add $P4.240.0/24 via $P4.241.1; ip -n $B -6 route add $P6:240::/64 via $P6:241::1
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
# the kernel rate-limits ICMP errors; these few must all go out
for ns in $R $B; do
    ip netns exec "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
done
sleep 1

capture() { # FILE FILTER: start tcpdump on A's a0, remember its pid
    ip netns exec $A tcpdump -Z root -U -i a0 -w "$OUT/$1" "$2" 2>/dev/null &
    TCPDUMP=$!
    sleep 1
}
stop() {
    sleep 1
    kill "$TCPDUMP"; wait "$TCPDUMP" || true
}

# VXLAN between A and R
ip -n $A link add vx0 type vxlan id 42 local $P4.240.1 remote $P4.240.2 dstport 4789 dev a0
ip -n $R link add vx0 type vxlan id 42 local $P4.240.2 remote $P4.240.1 dstport 4789 dev r0
ip -n $A link set vx0 address 02:00:00:00:f2:0a; ip -n $R link set vx0 address 02:00:00:00:f2:0b
ip -n $A addr add $P4.242.1/24 dev vx0; ip -n $A addr add $P6:242::1/64 dev vx0 nodad
ip -n $R addr add $P4.242.2/24 dev vx0; ip -n $R addr add $P6:242::2/64 dev vx0 nodad
ip -n $A link set vx0 up; ip -n $R link set vx0 up
capture tun_vxlan.pcap "udp port 4789"
ip netns exec $A ping -c 2 -i 0.2 -W 1 $P4.242.2 >/dev/null
ip netns exec $A ping -6 -c 2 -i 0.2 -W 1 $P6:242::2 >/dev/null
stop
ip -n $A link del vx0; ip -n $R link del vx0

# ICMP errors made by the kernels of R and B
capture icmp_err_real.pcap "icmp or icmp6 or udp or ip[6:2] & 0x1fff != 0"
ip netns exec $A python3 - "$P4" "$P6" <<'PY'
import socket, sys
p4, p6 = sys.argv[1], sys.argv[2]
def udp(fam, dst, port, ttl=None, size=20, df=False):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind(("", 45000))
    if ttl is not None:
        if fam == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    if df:
        if fam == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, 10, 2)       # IP_MTU_DISCOVER = DO
        else:
            s.setsockopt(socket.IPPROTO_IPV6, 23, 2)     # IPV6_MTU_DISCOVER = DO
    try:
        s.sendto(b"x" * size, (dst, port))
    except OSError:
        pass
    s.close()
udp(socket.AF_INET, p4 + ".241.2", 6000)                       # port unreachable
udp(socket.AF_INET6, p6 + ":241::2", 6000)                     # port unreachable (v6)
udp(socket.AF_INET, p4 + ".241.2", 6001, ttl=1)                # time exceeded at R
udp(socket.AF_INET6, p6 + ":241::2", 6001, ttl=1)              # hop limit exceeded at R
udp(socket.AF_INET, p4 + ".241.2", 6002, size=1400, df=True)   # fragmentation needed
udp(socket.AF_INET6, p6 + ":241::2", 6002, size=1400, df=True) # packet too big
PY
ip netns exec $A ping -c 1 -t 1 -W 1 $P4.241.2 >/dev/null || true
ip netns exec $A ping -6 -c 1 -t 1 -W 1 $P6:241::2 >/dev/null || true
stop

# GRE, IPv4-in-IPv4 and 6in4 through raw sockets, to B
capture tun_rawsock.pcap "ip proto 47 or ip proto 4 or ip proto 41 or icmp"
ip netns exec $A python3 - "$P4" "$P6" <<'PY'
import socket, struct, sys
p4, p6 = sys.argv[1], sys.argv[2]
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def ip4(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0x4242, 0x4000, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload
def echo(payload=b"inner ping"):
    m = struct.pack("!BBHHH", 8, 0, 0, 7, 1) + payload
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]
def ip6(src, dst, nxt, payload):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nxt, 64,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload
def echo6(src, dst):
    m = struct.pack("!BBHHH", 128, 0, 0, 7, 1) + b"ping6"
    pseudo = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
              + struct.pack("!IxxxB", len(m), 58))
    return m[:2] + struct.pack("!H", csum(pseudo + m)) + m[4:]
inner = ip4(p4 + ".243.1", p4 + ".243.2", 1, echo())
inner6 = ip6(p6 + ":243::1", p6 + ":243::2", 58, echo6(p6 + ":243::1", p6 + ":243::2"))
def gre(flags, proto, payload, key=None, seq=None):
    C = flags & 0x8000
    h = struct.pack("!HH", flags, proto)
    if C: h += b"\0\0\0\0"
    if key is not None: h += struct.pack("!I", key)
    if seq is not None: h += struct.pack("!I", seq)
    m = h + payload
    if C: m = m[:4] + struct.pack("!H", csum(m)) + m[6:]
    return m
dst = p4 + ".241.2"
def send(proto, data):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)
    s.sendto(data, (dst, 0))
    s.close()
send(47, gre(0x0000, 0x0800, inner))
send(47, gre(0xB000, 0x0800, inner, key=42, seq=1))
send(47, gre(0x2000, 0x86DD, inner6, key=7))
send(4, inner)
send(41, inner6)
PY
stop
echo "captured: tun_vxlan.pcap icmp_err_real.pcap tun_rawsock.pcap"
