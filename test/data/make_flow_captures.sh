#!/bin/sh
# Record the real sessions of epcap_tcp_SUITE / epcap_flow_cli_SUITE: two
# network namespaces made here, joined by a veth pair with offloads off (so
# frames are MTU-sized), HTTP from `python3 -m http.server` in B to `curl`
# in A, and large UDP datagrams the kernel fragments; traffic only between
# their addresses, tcpdump on A's interface.
#   flow_http4.pcap   4 HTTP/1.0 connections over IPv4 (1 KB .. 100 KB)
#   flow_http6.pcap   3 HTTP/1.0 connections over IPv6
#   flow_frag.pcap    UDP datagrams of 1.4 .. 9 KB, fragmented by the
#                     kernel, over IPv4 and IPv6
# The served files are written from a fixed seed (tools/flow_variants.py
# files) and kept as flow_served/*; the variants and goldens are made by
# tools/flow_variants.py (see test/data/README.md).
# Run as root from the repository root: sh test/data/make_flow_captures.sh
set -eu
K=${EPCAP_TEST_NET:-0}
O=$((215 + K))
P4=10.$O.27; P6=fd00:$O:27
A=epflow${K}a; B=epflow${K}b
OUT=$(pwd)/test/data
SRV=

cleanup() {
    [ -n "${HTTPD:-}" ] && kill "$HTTPD" 2>/dev/null || true
    for ns in $A $B; do ip netns del "$ns" 2>/dev/null || true; done
    [ -n "$SRV" ] && rm -rf "$SRV"
}
trap cleanup EXIT
cleanup || true
SRV=$(mktemp -d)

python3 tools/flow_variants.py files "$SRV"
mkdir -p "$OUT/flow_served"
cp "$SRV"/* "$OUT/flow_served/"

for ns in $A $B; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add a0 netns $A type veth peer name b0 netns $B
ip -n $A link set a0 address 02:00:00:00:27:0a
ip -n $B link set b0 address 02:00:00:00:27:0b
ip -n $A addr add $P4.1/24 dev a0; ip -n $A addr add $P6::1/64 dev a0 nodad
ip -n $B addr add $P4.2/24 dev b0; ip -n $B addr add $P6::2/64 dev b0 nodad
for l in "$A a0" "$B b0"; do
    set -- $l
    ip -n "$1" link set "$2" up
    ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
done
sleep 1

(cd "$SRV" && exec ip netns exec $B python3 -m http.server --bind :: 8080 >/dev/null 2>&1) &
HTTPD=$!
sleep 2

capture() { # FILE FILTER
    ip netns exec $A tcpdump -Z root -U -i a0 -w "$OUT/$1" "$2" 2>/dev/null &
    TCPDUMP=$!
    sleep 1
}
stop() {
    sleep 1
    kill "$TCPDUMP"; wait "$TCPDUMP" || true
}
get() { # URL
    ip netns exec $A curl -s -o /dev/null "$1"
}

capture flow_http4.pcap "tcp port 8080"
for f in small.txt medium.bin large.bin small.txt; do get "http://$P4.2:8080/$f"; done
stop

capture flow_http6.pcap "tcp port 8080"
for f in small.txt medium.bin large6.bin; do get "http://[$P6::2]:8080/$f"; done
stop

capture flow_frag.pcap "udp port 9999 or (ip[6:2] & 0x1fff != 0) or ip6[6] == 44"
ip netns exec $A python3 tools/flow_variants.py udp "$P4.2" 9999
ip netns exec $A python3 tools/flow_variants.py udp "$P6::2" 9999
stop
