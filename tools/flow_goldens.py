#!/usr/bin/env python3
"""Golden files of the flow_*.pcap captures in test/data, from tcpflow and
tshark (run once, by hand, after make_flow_captures.sh and
flow_variants.py; the tests only read what this writes).

For each TCP capture X.pcap:
  X.tcpflow.sha256   what `tcpflow -r X.pcap` writes: one line per file,
                     "NAME SIZE SHA256", names as tcpflow gives them
  X.tshark.sha256    the same for `tshark -z follow,tcp,raw,N` of every
                     stream, named as tcpflow would name the direction
  X.tcpflow/         (flow_http4, flow_http6) tcpflow's files themselves
  X.truth.sha256     where tcpflow is wrong (it does not reassemble IP
                     fragments): the streams as sent, from the capture the
                     variant was made from
For each UDP fragment capture X.pcap:
  X.tshark.sha256    "FRAME LEN SHA256" of every UDP payload tshark shows,
                     reassembled
And flow_served.sha256: "NAME SIZE SHA256" of the files served.
"""
import hashlib
import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile

D = sys.argv[1] if len(sys.argv) > 1 else "test/data"
TCP = ["flow_http4", "flow_http6", "flow_reorder", "flow_dup", "flow_reseg", "flow_wrap",
       "flow_loss", "flow_frag4", "flow_frag6", "flow_qinq"]
TRUTH = {"flow_frag4": "flow_http4", "flow_frag6": "flow_http6"}
FRAG = ["flow_frag", "flow_frag_rev"]
KEEP = ["flow_http4", "flow_http6"]


def line(name, data):
    return "%s %d %s\n" % (name, len(data), hashlib.sha256(data).hexdigest())


def tcpflow(x):
    out = tempfile.mkdtemp()
    subprocess.run(["tcpflow", "-r", os.path.join(D, x + ".pcap"), "-o", out],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    names = sorted(n for n in os.listdir(out) if n != "report.xml")
    with open(os.path.join(D, x + ".tcpflow.sha256"), "w") as f:
        for n in names:
            with open(os.path.join(out, n), "rb") as g:
                f.write(line(n, g.read()))
    if x in KEEP:
        keep = os.path.join(D, x + ".tcpflow")
        shutil.rmtree(keep, ignore_errors=True)
        os.mkdir(keep)
        for n in names:
            shutil.copy(os.path.join(out, n), keep)
    shutil.rmtree(out)


def endpoint(s):
    host, port = s.rsplit(":", 1)
    a = ipaddress.ip_address(host.strip("[]"))
    if a.version == 4:
        h = ".".join("%03d" % int(o) for o in str(a).split("."))
    else:
        h = str(a)
    return "%s.%05d" % (h, int(port))


def tshark_follow(x):
    pcap = os.path.join(D, x + ".pcap")
    n = int(subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "tcp.stream"],
                           capture_output=True, text=True, check=True).stdout.split()[-1]) + 1
    lines = []
    for i in range(n):
        out = subprocess.run(["tshark", "-r", pcap, "-q", "-z", "follow,tcp,raw,%d" % i],
                             capture_output=True, text=True, check=True).stdout
        nodes, data = {}, {0: b"", 1: b""}
        for ln in out.splitlines():
            if ln.startswith("Node 0: ") or ln.startswith("Node 1: "):
                nodes[int(ln[5])] = endpoint(ln[8:])
            elif ln.startswith("\t"):
                data[1] += bytes.fromhex(ln.strip())
            elif ln and all(c in "0123456789abcdef" for c in ln):
                data[0] += bytes.fromhex(ln)
        lines.append(line(nodes[0] + "-" + nodes[1], data[0]))
        lines.append(line(nodes[1] + "-" + nodes[0], data[1]))
    with open(os.path.join(D, x + ".tshark.sha256"), "w") as f:
        f.writelines(sorted(l for l in lines if " 0 " not in l))


def tshark_frag(x):
    out = subprocess.run(["tshark", "-r", os.path.join(D, x + ".pcap"), "-T", "fields",
                          "-e", "frame.number", "-e", "udp.payload"],
                         capture_output=True, text=True, check=True).stdout
    with open(os.path.join(D, x + ".tshark.sha256"), "w") as f:
        for ln in out.splitlines():
            parts = ln.split("\t")
            if len(parts) == 2 and parts[1]:
                f.write(line(parts[0], bytes.fromhex(parts[1])))


def served():
    d = tempfile.mkdtemp()
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "flow_variants.py"),
                    "files", d], check=True)
    with open(os.path.join(D, "flow_served.sha256"), "w") as f:
        for n in sorted(os.listdir(d)):
            with open(os.path.join(d, n), "rb") as g:
                f.write(line(n, g.read()))
    shutil.rmtree(d)


for x in TCP:
    tcpflow(x)
    tshark_follow(x)
for x, base in TRUTH.items():
    shutil.copy(os.path.join(D, base + ".tcpflow.sha256"), os.path.join(D, x + ".truth.sha256"))
for x in FRAG:
    tshark_frag(x)
served()
