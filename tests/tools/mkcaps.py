#!/usr/bin/env python3
"""mkcaps.py OUTDIR - write the generated test captures of tests/e2e_indirect.sh.

Each capture is built frame by frame here (Ethernet, IPv4, UDP/TCP with
valid checksums, DNS/TLS/HTTP/DHCP/NetBIOS payloads written out byte by
byte), so the tests need no network, no root and no binary files in git:

  cname-alias.pcap    a DNS question for a partner name whose CNAME chain
                      reaches dnl-09.geo.kaspersky.com
  shared-dnsip.pcap   one host resolves ksn-file-geo.kaspersky-labs.com;
                      other hosts then reach that address with a TLS hello
                      without SNI, an HTTP/1.0 request without Host, a TLS
                      hello with an unrelated SNI, and a bare TCP handshake
  whois.pcap          hosts that say who they are: a DHCP exchange (host
                      name, FQDN in wire format, vendor class, lease 3600 s),
                      a NetBIOS name registration, an mDNS announcement, an
                      LLMNR answer, and a routed host (TTL 63, router MAC);
                      each then asks for a Kaspersky name, the DHCP host
                      once more after its lease ran out
"""
import os
import struct
import sys

T0 = 1796000000  # 2026-11-30, capture time of the first frame


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def mac(m):
    return bytes(int(x, 16) for x in m.split(":"))


class Pcap:
    def __init__(self):
        self.frames = []
        self.t = float(T0)

    def add(self, frame, dt=0.01):
        self.t += dt
        self.frames.append((self.t, frame))

    def write(self, path):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for t, fr in self.frames:
                sec = int(t)
                us = int(round((t - sec) * 1e6))
                f.write(struct.pack("<IIII", sec, us, len(fr), len(fr)))
                f.write(fr)


def eth(src, dst, payload, etype=0x0800):
    return mac(dst) + mac(src) + struct.pack("!H", etype) + payload


def ipv4(src, dst, proto, payload, ident=1, ttl=64):
    ttl = ipv4.ttl if ipv4.ttl else ttl
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, ttl, proto, 0,
                    ip4(src), ip4(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


ipv4.ttl = None


def udp(src, dst, sport, dport, payload):
    u = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ph = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 17, len(u))
    c = csum(ph + u) or 0xFFFF
    return u[:6] + struct.pack("!H", c) + u[8:]


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b""):
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ph = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(t))
    return t[:16] + struct.pack("!H", csum(ph + t)) + t[18:]


CMAC = "02:00:00:00:00:%02x"
RMAC = "02:00:00:00:01:01"  # the router / servers' side


def cmac(addr):
    return CMAC % int(addr.split(".")[-1])


def udp_frame(src, dst, sport, dport, payload, smac=None, dmac=None):
    smac = smac or (cmac(src) if src.startswith("10.77.") else RMAC)
    dmac = dmac or (cmac(dst) if dst.startswith("10.77.") else RMAC)
    return eth(smac, dmac, ipv4(src, dst, 17, udp(src, dst, sport, dport, payload)))


def dns_name(n):
    out = b""
    for label in n.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_query(qid, name, qtype=1):
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack(
        "!HH", qtype, 1)


def dns_response(qid, name, answers):
    """answers: list of (owner, type, rdata-bytes, ttl)."""
    m = struct.pack("!HHHHHH", qid, 0x8180, 1, len(answers), 0, 0)
    m += dns_name(name) + struct.pack("!HH", 1, 1)
    for owner, typ, rdata, ttl in answers:
        m += dns_name(owner) + struct.pack("!HHIH", typ, 1, ttl, len(rdata)) + rdata
    return m


def tcp_session(cap, cli, srv, sport, dport, request, smac=None, dt=0.01):
    """Handshake, one client segment (if any), the server's ACK, FINs."""
    cm, sm = smac or cmac(cli), RMAC
    cs, ss = 1000, 5000

    def c2s(flags, data=b""):
        cap.add(eth(cm, sm, ipv4(cli, srv, 6, tcp(cli, srv, sport, dport, c2s.seq, c2s.ack,
                                                   flags, data))), dt)
        c2s.seq += len(data) + (1 if flags & 0x03 else 0)

    def s2c(flags, data=b""):
        cap.add(eth(sm, cm, ipv4(srv, cli, 6, tcp(srv, cli, dport, sport, s2c.seq, s2c.ack,
                                                   flags, data))), dt)
        s2c.seq += len(data) + (1 if flags & 0x03 else 0)

    c2s.seq, c2s.ack, s2c.seq, s2c.ack = cs, 0, ss, 0
    c2s(0x02)
    s2c.ack = c2s.seq
    s2c(0x12)
    c2s.ack = s2c.seq
    c2s(0x10)
    if request:
        c2s(0x18, request)
        s2c.ack = c2s.seq
        s2c(0x10)
    c2s(0x11)
    s2c.ack = c2s.seq
    s2c(0x11)
    c2s.ack = s2c.seq
    c2s(0x10)


def client_hello(sni=None):
    exts = b""
    if sni:
        n = sni.encode()
        sn = struct.pack("!BH", 0, len(n)) + n
        exts += struct.pack("!HHH", 0, len(sn) + 2, len(sn)) + sn
    groups = struct.pack("!HH", 0x001D, 0x0017)
    exts += struct.pack("!HHH", 10, len(groups) + 2, len(groups)) + groups
    body = struct.pack("!H", 0x0303) + bytes(range(32)) + b"\0"
    body += struct.pack("!HHH", 4, 0x1301, 0xC02F) + b"\x01\x00"
    body += struct.pack("!H", len(exts)) + exts
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


RESOLVER = "10.78.0.53"


def cname_alias(out):
    cap = Pcap()
    cli = "10.77.0.21"
    q = "av-updates.partner.example"
    cap.add(udp_frame(cli, RESOLVER, 40001, 53, dns_query(0x2101, q)))
    cap.add(udp_frame(RESOLVER, cli, 53, 40001, dns_response(0x2101, q, [
        (q, 5, dns_name("dnl-09.geo.kaspersky.com"), 300),
        ("dnl-09.geo.kaspersky.com", 1, ip4("10.78.1.40"), 300),
    ])))
    cap.write(os.path.join(out, "cname-alias.pcap"))


def shared_dnsip(out):
    cap = Pcap()
    srv = "10.78.2.1"
    name = "ksn-file-geo.kaspersky-labs.com"
    a = "10.77.0.22"
    cap.add(udp_frame(a, RESOLVER, 40002, 53, dns_query(0x2201, name)))
    cap.add(udp_frame(RESOLVER, a, 53, 40002, dns_response(0x2201, name, [
        (name, 1, ip4(srv), 300)])))
    # b: TLS without SNI; c: HTTP/1.0 without Host; d: TLS naming another
    # site (its own name wins); e: a handshake and nothing else (not TLS)
    tcp_session(cap, "10.77.0.23", srv, 50023, 443, client_hello(None), dt=0.5)
    tcp_session(cap, "10.77.0.24", srv, 50024, 80, b"GET /ksn HTTP/1.0\r\n\r\n")
    tcp_session(cap, "10.77.0.25", srv, 50025, 443, client_hello("www.example.org"))
    tcp_session(cap, "10.77.0.26", srv, 50026, 443, b"")
    # f: the same TLS without SNI long after the answer's TTL (300 s)
    cap.t += 1000
    tcp_session(cap, "10.77.0.27", srv, 50027, 443, client_hello(None))
    cap.write(os.path.join(out, "shared-dnsip.pcap"))


def dhcp(op, xid, chaddr, options, ciaddr="0.0.0.0", yiaddr="0.0.0.0"):
    m = struct.pack("!BBBBIHH4s4s4s4s", op, 1, 6, 0, xid, 0, 0x8000, ip4(ciaddr), ip4(yiaddr),
                    ip4("0.0.0.0"), ip4("0.0.0.0"))
    m += mac(chaddr) + bytes(10) + bytes(64 + 128) + struct.pack("!I", 0x63825363)
    for code, data in options:
        m += bytes([code, len(data)]) + data
    return m + b"\xff"


def nb_encode(name, suffix):
    raw = name.upper().ljust(15).encode()[:15] + bytes([suffix])
    return b"\x20" + bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 15))) + b"\0"


def nbns_registration(name, addr):
    m = struct.pack("!HHHHHH", 0x3301, (5 << 11) | 0x0110, 1, 0, 0, 1)
    m += nb_encode(name, 0) + struct.pack("!HH", 0x20, 1)
    m += b"\xc0\x0c" + struct.pack("!HHIHH", 0x20, 1, 300000, 6, 0) + ip4(addr)
    return m


def whois(out):
    cap = Pcap()
    name = "ksn-file-geo.kaspersky-labs.com"
    srv = "10.78.2.1"

    def ask(cli, qid, qname=name, smac=None):
        cap.add(udp_frame(cli, RESOLVER, 41000 + qid % 1000, 53, dns_query(qid, qname),
                          smac=smac))
        cap.add(udp_frame(RESOLVER, cli, 53, 41000 + qid % 1000,
                          dns_response(qid, qname, [(qname, 1, ip4(srv), 300)]), dmac=smac))

    a, amac = "10.77.0.31", cmac("10.77.0.31")
    fqdn = b"\x0bdesktop-a31\x04corp\x07example\x00"
    opts = [(53, b"\x01"), (12, b"DESKTOP-A31"), (60, b"MSFT 5.0")]
    bcast = "ff:ff:ff:ff:ff:ff"
    cap.add(udp_frame("0.0.0.0", "255.255.255.255", 68, 67, dhcp(1, 0x31, amac, opts),
                      smac=amac, dmac=bcast))
    cap.add(udp_frame("10.78.0.1", "255.255.255.255", 67, 68, dhcp(
        2, 0x31, amac, [(53, b"\x02"), (51, struct.pack("!I", 3600))], yiaddr=a), dmac=bcast))
    req = [(53, b"\x03"), (50, ip4(a)), (12, b"DESKTOP-A31"), (81, b"\x04\0\0" + fqdn),
           (60, b"MSFT 5.0")]
    cap.add(udp_frame("0.0.0.0", "255.255.255.255", 68, 67, dhcp(1, 0x31, amac, req),
                      smac=amac, dmac=bcast))
    cap.add(udp_frame("10.78.0.1", "255.255.255.255", 67, 68, dhcp(
        2, 0x31, amac, [(53, b"\x05"), (51, struct.pack("!I", 3600))], yiaddr=a), dmac=bcast))
    ask(a, 0x3101)

    b = "10.77.0.32"
    cap.add(udp_frame(b, "10.77.0.255", 137, 137, nbns_registration("wks-b32", b),
                      dmac=bcast))
    ask(b, 0x3201)

    c = "10.77.0.33"
    ann = struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + dns_name("mac-c33.local")
    ann += struct.pack("!HHIH", 1, 0x8001, 120, 4) + ip4(c)
    cap.add(udp_frame(c, "224.0.0.251", 5353, 5353, ann, dmac="01:00:5e:00:00:fb"))
    ask(c, 0x3301)

    d, q = "10.77.0.34", "10.77.0.35"
    cap.add(udp_frame(q, "224.0.0.252", 53535, 5355, dns_query(0x3401, "pc-d34"),
                      dmac="01:00:5e:00:00:fc"))
    llmnr = struct.pack("!HHHHHH", 0x3401, 0x8000, 1, 1, 0, 0) + dns_name("pc-d34")
    llmnr += struct.pack("!HH", 1, 1) + dns_name("pc-d34") + struct.pack("!HHIH", 1, 1, 30, 4)
    cap.add(udp_frame(d, q, 5355, 53535, llmnr + ip4(d)))
    ask(d, 0x3402)

    # a host behind a router: TTL 63 and the router's MAC, nothing is bound
    ipv4.ttl = 63
    ask("10.79.0.40", 0x4001, smac=RMAC)
    ipv4.ttl = None

    # the DHCP host again after its lease (3600 s) ran out: a MAC (its own
    # frame, TTL 64) but no name; the NetBIOS name lives --name-age
    cap.t += 4000
    ask(a, 0x3102, "dc1-file.ksn.kaspersky-labs.com")
    ask(b, 0x3202, "dc1-file.ksn.kaspersky-labs.com")
    cap.write(os.path.join(out, "whois.pcap"))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: mkcaps.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cname_alias(out)
    shared_dnsip(out)
    whois(out)


if __name__ == "__main__":
    main()
